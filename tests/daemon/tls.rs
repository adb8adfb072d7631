//! TLS on the native listener, with certificates made here by rcgen.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use sessiond_protocol::wire::{Reply, Request};
use sessiond_server::{ServerConfig, TlsFiles};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::{Daemon, Raw};

/// A self-signed certificate for `localhost`, written as PEM files.
pub(crate) struct Certificate {
    pub(crate) files: TlsFiles,
    der: rustls::pki_types::CertificateDer<'static>,
}

pub(crate) fn certificate(name: &str) -> Certificate {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("sessiond-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    Certificate {
        files: TlsFiles { cert, key },
        der: made.cert.der().clone(),
    }
}

/// A client that trusts `trusted` and nothing else.
pub(crate) fn connector(trusted: &Certificate) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_a_client_that_trusts_the_certificate_and_refuses_one_that_does_not() {
    let server_cert = certificate("server");
    let config = ServerConfig {
        tls: Some(server_cert.files.clone()),
        ..ServerConfig::default()
    };
    let daemon = Daemon::start(config).await;
    let name = ServerName::try_from("localhost").unwrap();

    let tcp = TcpStream::connect(daemon.addr).await.unwrap();
    let tls = connector(&server_cert)
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    let mut raw = Raw::over(tls).await;
    assert_eq!(raw.call(&Request::Ping).await, Ok(Reply::Done));
    let set = Request::KeySet {
        key: b"k".to_vec(),
        ttl: None,
        value: b"over tls".to_vec(),
    };
    assert_eq!(raw.call(&set).await, Ok(Reply::Done));

    let stranger = certificate("stranger");
    let tcp = TcpStream::connect(daemon.addr).await.unwrap();
    let refused = connector(&stranger).connect(name, tcp).await;
    assert!(refused.is_err(), "a certificate nobody trusts is refused");

    // Plain TCP on a TLS port is not served either.
    let mut plain = TcpStream::connect(daemon.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    plain.write_all(b"SSND\x00\x01\x00\x00").await.unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"SSND"), "no handshake without TLS");

    assert_eq!(
        raw.call(&Request::KeyGet { key: b"k".to_vec() }).await,
        Ok(Reply::Value(Some(b"over tls".to_vec())))
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_certificate_is_a_clear_start_up_error() {
    let config = ServerConfig {
        tls: Some(TlsFiles {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        }),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let error = sessiond_server::Server::bind(config, sessiond::Store::new(Default::default()))
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("/nonexistent/cert.pem"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_protocol_listener_serves_tls_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server_cert = certificate("resp");
    let config = ServerConfig {
        tls: Some(server_cert.files.clone()),
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    };
    let daemon = Daemon::start(config).await;
    let resp = daemon.resp_addr.expect("a RESP listener");
    let name = ServerName::try_from("localhost").unwrap();
    let tcp = TcpStream::connect(resp).await.unwrap();
    let mut tls = connector(&server_cert)
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    tls.write_all(b"SET k over-tls\r\nGET k\r\n").await.unwrap();
    let expected = b"+OK\r\n$8\r\nover-tls\r\n";
    let mut got = vec![0u8; expected.len()];
    tls.read_exact(&mut got).await.unwrap();
    assert_eq!(got, expected);

    // Plain TCP on the TLS-only RESP port gets no Redis reply.
    let mut plain = TcpStream::connect(resp).await.unwrap();
    plain.write_all(b"PING\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut answer),
    )
    .await;
    assert!(
        !answer.starts_with(b"+PONG"),
        "no plaintext Redis on a TLS listener"
    );
    daemon.stop().await;
}

/// A client that trusts `trusted` and presents `mine` as its certificate.
fn connector_with_certificate(trusted: &Certificate, mine: &Certificate) -> TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    roots.add(trusted.der.clone()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&mine.files.key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![mine.der.clone()], key)
        .unwrap();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_ca_only_clients_with_its_certificates_are_served_on_every_listener() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server_cert = certificate("mtls-server");
    let client_cert = certificate("mtls-client");
    let stranger = certificate("mtls-stranger");
    let config = ServerConfig {
        tls: Some(server_cert.files.clone()),
        tls_client_ca: Some(client_cert.files.cert.clone()),
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    };
    let daemon = Daemon::start(config).await;
    let name = ServerName::try_from("localhost").unwrap();
    // The native listener: served with the certificate.
    let tcp = TcpStream::connect(daemon.addr).await.unwrap();
    let tls = connector_with_certificate(&server_cert, &client_cert)
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    let mut raw = Raw::over(tls).await;
    assert_eq!(raw.call(&Request::Ping).await, Ok(Reply::Done));
    // Every listener refuses a client without one, or with another's.
    let listeners = [
        daemon.addr,
        daemon.resp_addr.unwrap(),
        daemon.metrics_addr.unwrap(),
    ];
    for addr in listeners {
        for connector in [
            connector(&server_cert),
            connector_with_certificate(&server_cert, &stranger),
        ] {
            let tcp = TcpStream::connect(addr).await.unwrap();
            // Under TLS 1.3 the client finishes its side first; the
            // server's refusal comes with the first read.
            let refused = match connector.connect(name.clone(), tcp).await {
                Err(_) => true,
                Ok(mut tls) => {
                    let _ = tls.write_all(b"PING\r\n").await;
                    let mut buf = [0u8; 16];
                    matches!(tls.read(&mut buf).await, Ok(0) | Err(_))
                }
            };
            assert!(refused, "{addr}: refused without the CA's certificate");
        }
    }
    // The RESP listener serves a client with the certificate.
    let tcp = TcpStream::connect(daemon.resp_addr.unwrap()).await.unwrap();
    let mut tls = connector_with_certificate(&server_cert, &client_cert)
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(b"PING\r\n").await.unwrap();
    let mut pong = [0u8; 7];
    tls.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
    daemon.stop().await;
}

#[test]
fn listeners_beyond_loopback_without_tls_are_named_for_the_warning() {
    let config = ServerConfig {
        listen: "0.0.0.0:7878".parse().unwrap(),
        resp_listen: Some("127.0.0.1:6379".parse().unwrap()),
        metrics_listen: Some("10.0.0.1:9187".parse().unwrap()),
        ..ServerConfig::default()
    };
    assert_eq!(
        config.cleartext_remote(),
        [
            "0.0.0.0:7878".parse().unwrap(),
            "10.0.0.1:9187".parse().unwrap()
        ]
    );
    let with_tls = ServerConfig {
        tls: Some(certificate("warn").files),
        ..config
    };
    assert!(with_tls.cleartext_remote().is_empty());
    assert!(ServerConfig::default().cleartext_remote().is_empty());
}
