//! TLS (rustls, ring provider) for client connections and the raft
//! transport, configured as Redis configures it: `tls-cert-file`,
//! `tls-key-file`, `tls-ca-cert-file`, `tls-auth-clients`.
//!
//! [`Stream`] is what the RESP server and the peer transport read and write:
//! a plain TCP stream or a TLS session over one, behind one type, so the
//! code above does not care which.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How long a TLS handshake may take before the connection is dropped (a
/// client that connects and sends nothing must not hold a task forever).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Room made in the read buffer before a read (the connection's buffer
/// policy uses it too).
pub const READ_CHUNK: usize = 16 * 1024;

/// Whether clients must present a certificate (Redis's `tls-auth-clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client certificate signed by the CA is required (Redis's default).
    Required,
    /// A certificate is verified if presented, but not required.
    Optional,
    /// Client certificates are not asked for.
    No,
}

impl ClientAuth {
    /// Parses `yes | optional | no` (case-insensitive).
    pub fn parse(s: &str) -> Option<ClientAuth> {
        match s.to_ascii_lowercase().as_str() {
            "yes" => Some(ClientAuth::Required),
            "optional" => Some(ClientAuth::Optional),
            "no" => Some(ClientAuth::No),
            _ => None,
        }
    }

    /// The name used in the config file and `CONFIG GET`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Required => "yes",
            ClientAuth::Optional => "optional",
            ClientAuth::No => "no",
        }
    }
}

/// Certificate files of one TLS endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain of this node (leaf first).
    pub cert_file: PathBuf,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM CA bundle that peers' and clients' certificates must chain to.
    pub ca_cert_file: Option<PathBuf>,
    /// Whether clients must present a certificate.
    pub client_auth: ClientAuth,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("cannot read a private key from {}: {e}", path.display()))
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))?;
    }
    Ok(roots)
}

impl TlsFiles {
    /// The error of a certificate and key rustls will not use together.
    fn unusable(&self, e: rustls::Error) -> String {
        format!(
            "{} and {} do not make a usable certificate: {e}",
            self.cert_file.display(),
            self.key_file.display()
        )
    }

    /// The acceptor of a TLS listener: presents `cert_file`, verifies client
    /// certificates against `ca_cert_file` as `client_auth` says. Errors
    /// name the file at fault.
    pub fn acceptor(&self) -> Result<TlsAcceptor, String> {
        let certs = load_certs(&self.cert_file)?;
        let key = load_key(&self.key_file)?;
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match (self.client_auth, &self.ca_cert_file) {
            (ClientAuth::No, _) => builder.with_no_client_auth(),
            (auth, Some(ca)) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(load_roots(ca)?),
                    provider(),
                );
                let verifier = if auth == ClientAuth::Optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
            }
            (_, None) => {
                return Err(
                    "tls-ca-cert-file must be given when tls-auth-clients is yes or \
                            optional (or set tls-auth-clients no)"
                        .to_owned(),
                )
            }
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(|e| self.unusable(e))?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// The connector of a peer: verifies the server against `ca_cert_file`
    /// (required) and presents `cert_file` as its client certificate.
    pub fn connector(&self) -> Result<TlsConnector, String> {
        let ca = self
            .ca_cert_file
            .as_ref()
            .ok_or_else(|| "tls-ca-cert-file must be given to verify peers".to_owned())?;
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(load_roots(ca)?)
            .with_client_auth_cert(load_certs(&self.cert_file)?, load_key(&self.key_file)?)
            .map_err(|e| self.unusable(e))?;
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// Both ends of the peer transport's TLS (`tls-cluster yes`): every node
/// accepts and connects with the same files; peers must present a
/// certificate signed by the CA.
#[derive(Clone)]
pub struct PeerTls {
    /// Accepts peers (client certificate required).
    pub acceptor: TlsAcceptor,
    /// Connects to peers (verifies their certificate and host name).
    pub connector: TlsConnector,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTls")
    }
}

impl PeerTls {
    /// Builds both ends from `files` (a CA is required; clients always
    /// authenticate, whatever `files.client_auth` says).
    pub fn new(files: &TlsFiles) -> Result<PeerTls, String> {
        let mutual = TlsFiles {
            client_auth: ClientAuth::Required,
            ..files.clone()
        };
        Ok(PeerTls {
            acceptor: mutual.acceptor()?,
            connector: mutual.connector()?,
        })
    }
}

/// A connection: plain TCP or TLS over TCP.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (either side).
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl Stream {
    /// The server side of an accepted connection: plain without an
    /// acceptor, else after the TLS handshake.
    pub async fn server(tcp: TcpStream, tls: Option<&TlsAcceptor>) -> io::Result<Stream> {
        match tls {
            None => Ok(Stream::Plain(tcp)),
            Some(acceptor) => Stream::accept(acceptor, tcp).await,
        }
    }

    /// The TLS server side of `tcp` (handshake bounded by [`HANDSHAKE_TIMEOUT`]).
    pub async fn accept(acceptor: &TlsAcceptor, tcp: TcpStream) -> io::Result<Stream> {
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok(Stream::Tls(Box::new(tls.into())))
    }

    /// The TLS client side of `tcp`, verifying the server as `host` (a DNS
    /// name or an IP address, as in the peer's address).
    pub async fn connect(
        connector: &TlsConnector,
        host: &str,
        tcp: TcpStream,
    ) -> io::Result<Stream> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok(Stream::Tls(Box::new(tls.into())))
    }

    /// Waits until data arrives and reads what is there into `buf`:
    /// `Some(0)` at end of stream, `None` after a spurious wake-up (nothing
    /// read; call again). Cancel-safe: nothing read is lost if the future is
    /// dropped.
    pub async fn read_some(&mut self, buf: &mut BytesMut) -> io::Result<Option<usize>> {
        if buf.capacity() - buf.len() < READ_CHUNK / 2 {
            buf.reserve(READ_CHUNK);
        }
        match self {
            Stream::Plain(tcp) => {
                tcp.readable().await?;
                // One poll of `read_buf` (not `try_read_buf`): on a short
                // read tokio clears the readiness itself, which saves the
                // read syscall that would otherwise end in WouldBlock.
                let mut read = std::pin::pin!(tcp.read_buf(buf));
                match std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
                    Poll::Ready(r) => r.map(Some),
                    Poll::Pending => Ok(None),
                }
            }
            // rustls may hold decrypted bytes the socket's readiness does not
            // show, so TLS reads go straight to the session.
            Stream::Tls(tls) => tls.read_buf(buf).await.map(Some),
        }
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_auth_names_round_trip() {
        for a in [ClientAuth::Required, ClientAuth::Optional, ClientAuth::No] {
            assert_eq!(ClientAuth::parse(a.as_str()), Some(a));
        }
        assert_eq!(ClientAuth::parse("YES"), Some(ClientAuth::Required));
        assert_eq!(ClientAuth::parse("maybe"), None);
    }

    #[test]
    fn missing_files_are_named() {
        let files = TlsFiles {
            cert_file: "/nonexistent/cert.pem".into(),
            key_file: "/nonexistent/key.pem".into(),
            ca_cert_file: None,
            client_auth: ClientAuth::No,
        };
        let err = files.acceptor().err().expect("must fail");
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
        let err = files.connector().err().expect("must fail");
        assert!(err.contains("tls-ca-cert-file"), "{err}");
    }
}
