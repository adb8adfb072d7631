//! Reloading the token file and the TLS files while serving: new
//! connections get the new material, connections already made keep
//! working, and a reload that fails changes nothing. In process through
//! `Reloader`, and once through the binary with SIGHUP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use sessiond_protocol::wire::{Reply, Request, Response, ServerError};
use sessiond_server::{ReloadError, Secret, ServerConfig, TokenFileError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::binary::{BIN, free_port, send_signal, spawn_command, terminate};
use crate::resp::say;
use crate::tempdir::TempDir;
use crate::tls::{certificate, connector};
use crate::{Daemon, Raw};

const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

/// A server whose token is read from `path`, as the binary's settings
/// make it, with a RESP listener too.
async fn token_daemon(path: &Path, tls: Option<sessiond_server::TlsFiles>) -> Daemon {
    Daemon::start(ServerConfig {
        auth_token: Some(Secret::from_file(path).unwrap()),
        auth_token_file: Some(path.to_path_buf()),
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        tls,
        ..ServerConfig::default()
    })
    .await
}

fn auth(token: &str) -> Request {
    Request::Auth {
        token: token.as_bytes().to_vec(),
    }
}

/// A native connection's answer to AUTH with `token`.
async fn native_auth(addr: std::net::SocketAddr, token: &str) -> Response {
    Raw::connect(addr).await.call(&auth(token)).await
}

/// Asserts that the connection may run commands beyond PING and AUTH, by
/// writing and reading back a key of its own.
async fn assert_authenticated<S: AsyncRead + AsyncWrite + Unpin>(raw: &mut Raw<S>, key: &str) {
    let set = Request::KeySet {
        key: key.as_bytes().to_vec(),
        ttl: None,
        value: b"v".to_vec(),
    };
    assert_eq!(raw.call(&set).await, Ok(Reply::Done), "{key}");
    let get = Request::KeyGet {
        key: key.as_bytes().to_vec(),
    };
    assert_eq!(
        raw.call(&get).await,
        Ok(Reply::Value(Some(b"v".to_vec()))),
        "{key}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_is_required_of_new_connections_while_old_ones_keep_working() {
    let dir = TempDir::new("reload-token");
    let path = dir.path().join("token");
    std::fs::write(&path, "old-token-1-padded-to-the-32-byte-minimum\n").unwrap();
    let daemon = token_daemon(&path, None).await;
    let resp = daemon.resp_addr.unwrap();

    let mut native = Raw::connect(daemon.addr).await;
    assert_eq!(
        native
            .call(&auth("old-token-1-padded-to-the-32-byte-minimum"))
            .await,
        Ok(Reply::Done)
    );
    let mut redis = TcpStream::connect(resp).await.unwrap();
    say(
        &mut redis,
        "AUTH old-token-1-padded-to-the-32-byte-minimum\r\n",
        "+OK\r\n",
    )
    .await;
    // Connected, not yet authenticated: its AUTH comes after the reload.
    let mut waiting = Raw::connect(daemon.addr).await;

    std::fs::write(&path, "new-token-2-padded-to-the-32-byte-minimum\n").unwrap();
    let reloaded = daemon.reloader.reload().expect("the new token is valid");
    assert_eq!(reloaded.token_file.as_deref(), Some(path.as_path()));
    assert!(reloaded.tls.is_none());

    assert_eq!(
        native_auth(daemon.addr, "old-token-1-padded-to-the-32-byte-minimum").await,
        Err(ServerError::AuthFailed),
        "the old token no longer opens a new connection"
    );
    let mut fresh = Raw::connect(daemon.addr).await;
    assert!(fresh.hello.auth_required);
    assert_eq!(
        fresh
            .call(&auth("new-token-2-padded-to-the-32-byte-minimum"))
            .await,
        Ok(Reply::Done)
    );
    assert_authenticated(&mut fresh, "fresh").await;
    let mut fresh_redis = TcpStream::connect(resp).await.unwrap();
    say(
        &mut fresh_redis,
        "AUTH old-token-1-padded-to-the-32-byte-minimum\r\n",
        WRONGPASS,
    )
    .await;
    say(
        &mut fresh_redis,
        "AUTH new-token-2-padded-to-the-32-byte-minimum\r\n",
        "+OK\r\n",
    )
    .await;

    assert_eq!(
        waiting
            .call(&auth("old-token-1-padded-to-the-32-byte-minimum"))
            .await,
        Err(ServerError::AuthFailed),
        "a connection's next AUTH is checked against the token in force"
    );
    assert_eq!(
        waiting
            .call(&auth("new-token-2-padded-to-the-32-byte-minimum"))
            .await,
        Ok(Reply::Done)
    );

    // Authenticated before the reload, and still.
    assert_authenticated(&mut native, "native").await;
    say(
        &mut redis,
        "SET redis v\r\nGET redis\r\n",
        "+OK\r\n$1\r\nv\r\n",
    )
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reload_keeps_the_old_token_and_changes_nothing_else() {
    let dir = TempDir::new("reload-fail");
    let path = dir.path().join("token");
    std::fs::write(&path, "kept-token-padded-to-the-32-byte-minimum").unwrap();
    let daemon = token_daemon(&path, None).await;

    std::fs::write(&path, " \n").unwrap();
    let empty = daemon.reloader.reload().unwrap_err();
    assert!(
        matches!(
            &empty,
            ReloadError::Token(TokenFileError::Invalid { why, .. }) if why.contains("empty")
        ),
        "{empty}"
    );
    assert_eq!(
        empty.to_string(),
        format!("{}: the auth token is empty", path.display())
    );
    std::fs::remove_file(&path).unwrap();
    let missing = daemon.reloader.reload().unwrap_err();
    assert!(
        matches!(missing, ReloadError::Token(TokenFileError::Read { .. })),
        "{missing}"
    );
    assert!(
        missing.to_string().starts_with(&format!(
            "cannot read the auth token file {}",
            path.display()
        )),
        "{missing}"
    );

    assert_eq!(
        native_auth(daemon.addr, "kept-token-padded-to-the-32-byte-minimum").await,
        Ok(Reply::Done)
    );
    std::fs::write(&path, "next-token-padded-to-the-32-byte-minimum").unwrap();
    daemon.reloader.reload().expect("valid again");
    assert_eq!(
        native_auth(daemon.addr, "next-token-padded-to-the-32-byte-minimum").await,
        Ok(Reply::Done)
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_a_bad_certificate_keeps_the_old_token_too() {
    let dir = TempDir::new("reload-all-or-nothing");
    let path = dir.path().join("token");
    std::fs::write(&path, "first-token-padded-to-the-32-byte-minimum").unwrap();
    let cert = certificate("reload-all-or-nothing");
    let daemon = token_daemon(&path, Some(cert.files.clone())).await;

    // A valid new token, but a certificate file that is not PEM.
    std::fs::write(&path, "second-token-padded-to-the-32-byte-minimum").unwrap();
    std::fs::write(&cert.files.cert, "not a certificate\n").unwrap();
    let error = daemon.reloader.reload().unwrap_err();
    assert!(matches!(error, ReloadError::Tls(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains(&cert.files.cert.display().to_string()),
        "the error names the file: {error}"
    );

    let name = ServerName::try_from("localhost").unwrap();
    let tcp = TcpStream::connect(daemon.addr).await.unwrap();
    let tls = connector(&cert).connect(name, tcp).await.unwrap();
    let mut raw = Raw::over(tls).await;
    assert_eq!(
        raw.call(&auth("second-token-padded-to-the-32-byte-minimum"))
            .await,
        Err(ServerError::AuthFailed),
        "nothing of a failed reload is in force"
    );
    assert_eq!(
        raw.call(&auth("first-token-padded-to-the-32-byte-minimum"))
            .await,
        Ok(Reply::Done)
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_certificate_serves_new_handshakes_and_old_sessions_go_on() {
    let first = certificate("reload-first");
    let second = certificate("reload-second");
    let daemon = Daemon::start(ServerConfig {
        tls: Some(first.files.clone()),
        ..ServerConfig::default()
    })
    .await;
    let name = ServerName::try_from("localhost").unwrap();
    let handshake = |trusted| {
        let (name, addr) = (name.clone(), daemon.addr);
        async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            connector(trusted).connect(name, tcp).await
        }
    };
    let mut old = Raw::over(handshake(&first).await.unwrap()).await;
    assert_authenticated(&mut old, "before").await;
    assert!(
        handshake(&second).await.is_err(),
        "the second certificate is not served yet"
    );

    // A certificate and a key that do not belong together: refused, and
    // the first stays.
    std::fs::copy(&second.files.cert, &first.files.cert).unwrap();
    let mismatch = daemon.reloader.reload().unwrap_err();
    assert!(matches!(mismatch, ReloadError::Tls(_)), "{mismatch}");
    assert!(handshake(&first).await.is_ok(), "still the first");

    std::fs::copy(&second.files.key, &first.files.key).unwrap();
    let reloaded = daemon.reloader.reload().expect("the second pair is valid");
    assert_eq!(
        reloaded.tls.map(|files| files.cert),
        Some(first.files.cert.clone())
    );
    let mut new = Raw::over(handshake(&second).await.expect("the second is served")).await;
    assert_authenticated(&mut new, "after").await;
    assert!(
        handshake(&first).await.is_err(),
        "a client trusting only the first certificate is refused now"
    );
    assert_authenticated(&mut old, "old session").await;
    daemon.stop().await;
}

/// The binary's stderr, line by line, read on a thread of its own.
struct Log(mpsc::Receiver<String>);

impl Log {
    fn follow(child: &mut Child) -> Log {
        let stderr = child.stderr.take().expect("stderr is piped");
        let (lines, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        Log(log)
    }

    /// The next line containing `needle`, within 10 s.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.0.recv_timeout(left).unwrap_or_else(|e| {
                panic!("no log line with {needle:?} within 10 s ({e})");
            });
            if line.contains(needle) {
                return line;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reloads_its_token_file_on_sighup() {
    let dir = TempDir::new("reload-sighup");
    let token = dir.path().join("token");
    std::fs::write(&token, "before-hup-padded-to-the-32-byte-minimum\n").unwrap();
    let port = free_port();
    let mut command = Command::new(BIN);
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--auth-token-file")
        .arg(&token);
    let mut child = spawn_command(command, port);
    let log = Log::follow(&mut child);
    let addr = ([127, 0, 0, 1], port).into();
    let mut old = Raw::connect(addr).await;
    assert_eq!(
        old.call(&auth("before-hup-padded-to-the-32-byte-minimum"))
            .await,
        Ok(Reply::Done)
    );

    std::fs::write(&token, "after-hup-padded-to-the-32-byte-minimum\n").unwrap();
    send_signal(&child, "HUP");
    let line = log.wait_for("reloaded");
    assert!(
        line.contains(&format!("reloaded the auth token ({})", token.display())),
        "{line}"
    );
    assert_eq!(
        native_auth(addr, "after-hup-padded-to-the-32-byte-minimum").await,
        Ok(Reply::Done)
    );
    assert_eq!(
        native_auth(addr, "before-hup-padded-to-the-32-byte-minimum").await,
        Err(ServerError::AuthFailed)
    );

    std::fs::write(&token, "").unwrap();
    send_signal(&child, "HUP");
    let line = log.wait_for("reload failed");
    assert!(line.contains(" ERROR "), "{line}");
    assert!(
        line.contains(&format!("{}: the auth token is empty", token.display())),
        "{line}"
    );
    assert_eq!(
        native_auth(addr, "after-hup-padded-to-the-32-byte-minimum").await,
        Ok(Reply::Done)
    );

    assert_authenticated(&mut old, "through two reloads").await;
    assert!(terminate(&mut child).success(), "SIGHUP did not end it");
}
