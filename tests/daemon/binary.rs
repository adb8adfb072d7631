//! The `sessiond` binary: configuration, protected mode and signals.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sessiond_protocol::wire::{Reply, Request, ServerError};

use crate::Raw;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_sessiond");

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary and waits until it accepts connections.
fn spawn(args: &[&str], env: &[(&str, &str)], port: u16) -> Child {
    let mut command = Command::new(BIN);
    command.args(args).envs(env.iter().copied());
    spawn_command(command, port)
}

/// Starts `command` (the binary, perhaps behind a wrapper) and waits until
/// it accepts connections on `port`.
pub(crate) fn spawn_command(mut command: Command, port: u16) -> Child {
    let mut child = command
        .env_remove("SESSIOND_AUTH_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sessiond binary starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("sessiond exited early: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "sessiond did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// A daemon child process, killed if a failing test drops it.
pub(crate) struct Running(pub(crate) Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary on a data directory with an fsync policy and `extra` flags,
/// on a free port, once it accepts connections; and its port.
pub(crate) fn start_on(dir: &std::path::Path, fsync: &str, extra: &[&str]) -> (Running, u16) {
    let port = free_port();
    let mut command = Command::new(BIN);
    command.args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
        &dir.display().to_string(),
        "--fsync",
        fsync,
        "--log-level",
        "warn",
    ]);
    command.args(extra);
    (Running(spawn_command(command, port)), port)
}

/// A client of `config`'s server. A daemon that has just started on a
/// loaded machine may take a moment to answer every handshake of the
/// pool: connecting is retried, within a bound (requests are not).
pub(crate) async fn connect_patiently(
    config: sessiond_client::ClientConfig,
) -> sessiond_client::Client {
    let started = Instant::now();
    loop {
        match sessiond_client::Client::connect(config.clone()).await {
            Ok(client) => return client,
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("connects: {e}"),
        }
    }
}

/// Sends the child a signal by name (`TERM`, `HUP`), with kill(1).
pub(crate) fn send_signal(child: &Child, name: &str) {
    let killed = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -{name}");
}

pub(crate) fn terminate(child: &mut Child) -> std::process::ExitStatus {
    send_signal(child, "TERM");
    child.wait().unwrap()
}

#[test]
fn refuses_a_public_address_without_a_token_in_one_readable_line() {
    let output = Command::new(BIN)
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("SESSIOND_AUTH_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("sessiond: error: refusing to listen on 0.0.0.0:0"),
        "{stderr}"
    );
}

#[test]
fn rejects_half_a_tls_configuration_and_unknown_config_keys() {
    let output = Command::new(BIN)
        .args(["--tls-cert", "x.pem"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("TLS needs both"));

    let dir = std::env::temp_dir().join(format!("sessiond-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "listne = \"127.0.0.1:1\"\n").unwrap();
    let output = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown field") && stderr.contains("listne"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_with_a_token_from_its_config_file_and_stops_on_sigterm() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("sessiond-test-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("token"),
        "from-a-file-padded-to-the-32-byte-minimum\n",
    )
    .unwrap();
    let config = dir.join("sessiond.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nauth_token_file = \"{}\"\nmax_sessions_per_owner = 1\n",
            dir.join("token").display()
        ),
    )
    .unwrap();
    let mut child = spawn(&["--config", config.to_str().unwrap()], &[], port);

    let mut raw = Raw::connect(([127, 0, 0, 1], port).into()).await;
    assert!(raw.hello.auth_required);
    let auth = Request::Auth {
        token: b"from-a-file-padded-to-the-32-byte-minimum".to_vec(),
    };
    assert_eq!(raw.call(&auth).await, Ok(Reply::Done));
    let create = Request::Create(sessiond_protocol::NewSession::new("u"));
    assert!(matches!(raw.call(&create).await, Ok(Reply::Id(_))));
    assert_eq!(
        raw.call(&create).await,
        Err(ServerError::Store(
            sessiond_protocol::StoreError::SessionLimit { limit: 1 }
        )),
        "the file's owner limit is in force"
    );

    let status = terminate(&mut child);
    assert!(status.success(), "a clean exit on SIGTERM: {status}");
    assert_eq!(raw.receive().await, None, "the connection was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_override_environment_which_overrides_the_file() {
    let (port, other) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("sessiond-test-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sessiond.toml");
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:{other}\"\nmax_frame = 1000\n"),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{port}");
    let mut child = spawn(
        &["--config", config.to_str().unwrap(), "--listen", &listen],
        &[("SESSIOND_MAX_FRAME", "4096")],
        port,
    );
    let raw = Raw::connect(([127, 0, 0, 1], port).into()).await;
    assert_eq!(raw.hello.max_frame, 4096, "the environment beat the file");
    assert!(!raw.hello.auth_required);
    assert!(terminate(&mut child).success());
}

/// The binary's error, which must be one line (the last; any before it
/// are log lines, as a failure after start-up follows the start-up line),
/// and whether it failed.
fn one_line_of_failure(args: &[&str], env: &[(&str, &str)]) -> (String, Option<i32>) {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("SESSIOND_AUTH_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!output.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let (error, logs) = stderr.lines().collect::<Vec<_>>().split_last().map_or_else(
        || panic!("an error line"),
        |(error, logs)| (error.to_string(), logs.to_vec()),
    );
    assert!(error.starts_with("sessiond: error: "), "{stderr}");
    let is_log_line = |line: &&str| line.starts_with("20") && line.contains(" INFO ");
    assert!(logs.iter().all(is_log_line), "one line: {stderr}");
    (error, output.status.code())
}

#[test]
fn reports_bad_settings_in_one_line() {
    let (missing, code) = one_line_of_failure(&["--auth-token-file", "/nonexistent/token"], &[]);
    assert!(
        missing
            .starts_with("sessiond: error: cannot read the auth token file /nonexistent/token: "),
        "{missing}"
    );
    assert_eq!(code, Some(1));

    // A token too short to be safe is refused, with how to make one.
    let (short, code) = one_line_of_failure(&[], &[("SESSIOND_AUTH_TOKEN", "s3cret")]);
    assert_eq!(
        short,
        "sessiond: error: SESSIOND_AUTH_TOKEN: the auth token is shorter than 32 bytes; \
         make one with `openssl rand -base64 32`"
    );
    assert_eq!(code, Some(1));

    let (usage, code) = one_line_of_failure(&["--threads", "many"], &[]);
    assert!(
        usage.starts_with("sessiond: error: invalid value 'many' for '--threads <N>'"),
        "{usage}"
    );
    assert_eq!(code, Some(2), "clap's code for usage errors");
}

#[test]
fn the_environment_switches_off_a_boolean_the_file_switched_on() {
    let dir = std::env::temp_dir().join(format!("sessiond-test-{}-bool", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sessiond.toml");
    let text = "listen = \"0.0.0.0:0\"\nallow_unauthenticated_remote = true\n";
    std::fs::write(&config, text).unwrap();
    let (refused, _) = one_line_of_failure(
        &["--config", config.to_str().unwrap()],
        &[("SESSIOND_ALLOW_UNAUTHENTICATED_REMOTE", "false")],
    );
    assert!(
        refused.starts_with("sessiond: error: refusing to listen on 0.0.0.0:0"),
        "protected mode is back on: {refused}"
    );
}

#[test]
fn takes_the_handshake_timeout_and_zero_threads_from_flags() {
    use std::io::Read;

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--listen",
        &listen,
        "--handshake-timeout",
        "1",
        "--threads",
        "0",
    ];
    let mut child = spawn(&[&args[..], &["--shutdown-grace", "1"]].concat(), &[], port);

    // A client that never says hello is dropped after the flag's second,
    // not the default's ten.
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let started = Instant::now();
    let read = silent.read(&mut [0u8; 16]);
    assert!(matches!(read, Ok(0)), "closed, not answered: {read:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(terminate(&mut child).success());
}

#[test]
fn logs_one_json_object_per_line_with_log_format_json() {
    use std::io::Read;

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = spawn(&["--listen", &listen, "--log-format", "json"], &[], port);
    assert!(terminate(&mut child).success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();

    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    assert!(events.len() >= 3, "start, listening, stopped: {stderr}");
    let start = &events[0];
    let fields = &start["fields"];
    assert!(
        fields["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("sessiond starting; in memory only")),
        "{start}"
    );
    assert_eq!(fields["version"], env!("CARGO_PKG_VERSION"), "{start}");
    assert_eq!(start["level"], "INFO", "{start}");
    assert_eq!(start["target"], "sessiond", "{start}");
    let timestamp = start["timestamp"].as_str().unwrap_or_default();
    assert!(
        timestamp.starts_with("20") && timestamp.ends_with('Z'),
        "{start}"
    );
    let listening = events
        .iter()
        .find(|e| e["fields"]["message"] == "listening (native protocol)")
        .unwrap_or_else(|| panic!("a listening line: {stderr}"));
    assert_eq!(listening["fields"]["addr"], listen.as_str(), "{listening}");
    assert_eq!(listening["fields"]["tls"], false, "{listening}");
}

/// User plus system time of a process so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn polling_threads_answer_every_request_and_go_to_sleep_when_it_is_quiet() {
    use std::io::{Read, Write};

    let (port, resp_port) = (free_port(), free_port());
    let listen = format!("127.0.0.1:{port}");
    let resp_listen = format!("127.0.0.1:{resp_port}");
    let args = [
        "--listen",
        &listen,
        "--resp-listen",
        &resp_listen,
        "--threads",
        "2",
        "--poll-us",
        "200",
    ];
    let mut child = spawn(&args, &[], port);

    // Four connections over both threads, taking turns, one request each
    // at a time: every answer comes, whichever thread holds the turn.
    let mut connections: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", resp_port)).unwrap())
        .collect();
    for connection in &connections {
        connection
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
    }
    for round in 0..200 {
        for connection in &mut connections {
            connection.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
            let mut answer = [0u8; 7];
            connection.read_exact(&mut answer).unwrap();
            assert_eq!(&answer, b"+PONG\r\n", "round {round}");
        }
    }

    // Quiet now: within a window every thread sleeps, so a second of
    // silence costs next to no CPU (a thread that kept polling would
    // spend the whole second).
    std::thread::sleep(Duration::from_millis(100));
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(child.id()) - before;
    let ticks_per_second = 100; // USER_HZ on Linux
    assert!(
        spent < ticks_per_second / 5,
        "{spent} ticks of CPU in a quiet second"
    );
    assert!(terminate(&mut child).success());
}
