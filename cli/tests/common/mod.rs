//! A daemon inside the test process and a way to run the built
//! `sessiond-cli` against it.

#![allow(dead_code)] // each test file uses a part

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sessiond::{Store, StoreConfig};
use sessiond_server::{Server, ServerConfig};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// A server on an ephemeral loopback port, with its own runtime so that the
/// tests themselves stay plain blocking code around `Command`.
pub struct Daemon {
    pub addr: SocketAddr,
    /// The engine behind the server, to seed data and check effects.
    pub store: Store,
    stop: Option<oneshot::Sender<()>>,
    runtime: Runtime,
}

impl Daemon {
    pub fn start(config: ServerConfig) -> Daemon {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let store = Store::new(StoreConfig::default());
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        };
        let server = runtime
            .block_on(Server::bind(config, store.clone()))
            .expect("bind");
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel();
        runtime.spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        Daemon {
            addr,
            store,
            stop: Some(stop),
            runtime,
        }
    }

    pub fn plain() -> Daemon {
        Daemon::start(ServerConfig::default())
    }

    pub fn url(&self) -> String {
        format!("sessiond://{}", self.addr)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Then the runtime's own drop ends the server's tasks.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The binary under test, with a clean environment: no URL or token
/// inherited from whoever runs the tests.
pub fn cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sessiond-cli"));
    command
        .env_remove("SESSIOND_URL")
        .env_remove("SESSIOND_AUTH_TOKEN");
    command
}

/// Runs the CLI against `daemon` with `args`; panics unless it succeeds
/// and says nothing on stderr. Returns stdout.
pub fn run_ok(daemon: &Daemon, args: &[&str]) -> String {
    let output = cli()
        .arg("--url")
        .arg(daemon.url())
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{args:?}: {:?}, stderr {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Runs the CLI against `daemon` with `args` and `--json`, parsing stdout
/// as one JSON document.
pub fn run_json(daemon: &Daemon, args: &[&str]) -> serde_json::Value {
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(args);
    let out = run_ok(daemon, &with_json);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Checks that a run failed with exactly one line on stderr, starting
/// with the program's name, and nothing on stdout; returns the line.
pub fn one_line_failure(output: &Output) -> String {
    assert!(!output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr:?}");
    assert!(lines[0].starts_with("sessiond-cli: "), "{stderr:?}");
    lines[0].to_owned()
}

/// A directory of its own for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sessiond-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}
