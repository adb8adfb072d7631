//! Loading the server's certificate and key into a rustls acceptor, at
//! start-up and again at each reload (`reload.rs`).

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
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
///
/// With `client_ca` (`--tls-client-ca`), every client must present a
/// certificate issued by one of the certificates in that PEM file, or the
/// handshake fails: on every listener, since they share this acceptor.
pub(crate) fn acceptor(
    files: &TlsFiles,
    client_ca: Option<&Path>,
) -> Result<TlsAcceptor, TlsError> {
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
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("protocol versions", &e))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let roots = trusted(path)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| tls_error(&format!("client CA {}", path.display()), &e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| tls_error("certificate and key", &e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The certificates of a PEM file, as roots of trust; at least one.
fn trusted(path: &Path) -> Result<RootCertStore, TlsError> {
    let tls_error = |what: &str, e: &dyn std::fmt::Display| TlsError(format!("{what}: {e}"));
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(&format!("reading {}", path.display()), &e))?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| tls_error(&format!("a certificate in {}", path.display()), &e))?;
    }
    if roots.is_empty() {
        return Err(TlsError(format!("no certificate in {}", path.display())));
    }
    Ok(roots)
}

/// The client side of node-to-node TLS (`--raft-listen`): a node trusts
/// the certificates of its own `--tls-cert` file (the leaf and any chain
/// after it), so the members of a group share a certificate or a CA that
/// every member's file includes. Peers are verified against the host of
/// their `--peer` address (an IP address or a DNS name in the
/// certificate's subject alternative names). A node presents its own
/// certificate and key when a peer asks for a client certificate (a peer
/// with `--tls-client-ca`), so that CA must have issued the nodes'
/// certificates too.
pub(crate) fn peer_connector(files: &TlsFiles) -> Result<tokio_rustls::TlsConnector, TlsError> {
    let tls_error = |what: &str, e: &dyn std::fmt::Display| TlsError(format!("{what}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(&format!("reading {}", files.cert.display()), &e))?;
    for cert in certs.iter().cloned() {
        roots
            .add(cert)
            .map_err(|e| tls_error("a certificate peers are checked against", &e))?;
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_error(&format!("reading {}", files.key.display()), &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("protocol versions", &e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| tls_error("this node's certificate and key", &e))?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
