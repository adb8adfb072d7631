//! Loading the server's certificate and key into a rustls acceptor, at
//! start-up and again at each reload (`reload.rs`).

use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// Why the certificate and key could not be loaded: which file or step,
/// and rustls's or the PEM reader's reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// A TLS acceptor for these files, with the ring provider and rustls's
/// safe defaults (TLS 1.2 and 1.3). Fails unless the chain has a
/// certificate and the key is the leaf's (rustls checks that they match).
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let tls_error = |what: &str, e: &dyn std::fmt::Display| TlsError(format!("{what}: {e}"));
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(&format!("reading {}", files.cert.display()), &e))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "no certificate in {}",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_error(&format!("reading {}", files.key.display()), &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_error("certificate and key", &e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The client side of node-to-node TLS (`--raft-listen`): a node trusts
/// the certificates of its own `--tls-cert` file (the leaf and any chain
/// after it), so the members of a group share a certificate or a CA that
/// every member's file includes. Peers are verified against the host of
/// their `--peer` address (an IP address or a DNS name in the
/// certificate's subject alternative names).
pub(crate) fn peer_connector(files: &TlsFiles) -> Result<tokio_rustls::TlsConnector, TlsError> {
    let tls_error = |what: &str, e: &dyn std::fmt::Display| TlsError(format!("{what}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(&format!("reading {}", files.cert.display()), &e))?;
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| tls_error("a certificate peers are checked against", &e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("protocol versions", &e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
