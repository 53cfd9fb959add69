//! TLS termination: a frontend's server-side TLS configuration and the handshake.

use rustls::server::ServerConfig;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::certs;
use super::config::{FrontendTlsConfig, TlsVersion};
use super::provider;
use super::sni::CertificateStore;

/// How a client's handshake ended badly (each is counted on the frontend).
#[derive(Debug)]
pub enum HandshakeError {
    /// Not finished within the handshake timeout (a slow or silent client).
    Timeout,
    /// Refused by rustls (garbage, an old protocol version, no common cipher...) or the
    /// connection broke.
    Failed(io::Error),
}

/// A loaded, immutable TLS server configuration: certificates, versions, ALPN. A reload
/// builds a new one and swaps it in; handshakes in progress finish with the one they began
/// with, and established connections never look at it again.
pub struct TlsTermination {
    config: Arc<ServerConfig>,
    handshake_timeout: Duration,
    required: bool,
}

impl std::fmt::Debug for TlsTermination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTermination")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsTermination {
    /// Reads every certificate and key file of `config`. The error names the file and the
    /// problem.
    pub fn load(config: &FrontendTlsConfig) -> Result<Self, String> {
        let provider = provider();
        let loaded = config
            .certificates
            .iter()
            .map(|files| certs::load(files, &provider))
            .collect::<Result<Vec<_>, _>>()?;
        let store = CertificateStore::new(&loaded).ok_or("tls needs at least one certificate")?;
        Self::from_store(config, store)
    }

    /// The configuration around an already loaded certificate store (also what the fuzz
    /// target uses, without files).
    pub fn from_store(config: &FrontendTlsConfig, store: CertificateStore) -> Result<Self, String> {
        let versions: &[&rustls::SupportedProtocolVersion] = match config.min_version {
            // TLS 1.3 first: preferred whenever the client has it.
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| format!("tls: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(store));
        server.alpn_protocols = config.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        if config.session_resumption {
            // Stateless resumption, as HAProxy and nginx offer by default (keys rotate
            // every 6 h), besides rustls' in-memory session cache.
            server.ticketer =
                super::crypto::Ticketer::new().map_err(|e| format!("tls: {e}"))?;
        } else {
            server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            server.send_tls13_tickets = 0;
        }
        Ok(TlsTermination {
            config: Arc::new(server),
            handshake_timeout: config.handshake_timeout(),
            required: config.required,
        })
    }

    /// Runs the server side of the handshake on `io` within the handshake timeout.
    ///
    /// Generic over the transport so that a protocol that switches to TLS mid-stream (the
    /// MySQL `SSLRequest`) can hand over its socket after the plaintext exchange.
    pub async fn accept<IO>(&self, io: IO) -> Result<TlsStream<IO>, HandshakeError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = TlsAcceptor::from(self.config.clone());
        match tokio::time::timeout(self.handshake_timeout, acceptor.accept(io)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(error)) => Err(HandshakeError::Failed(error)),
            Err(_) => Err(HandshakeError::Timeout),
        }
    }

    /// Whether a `mode: mysql` client that doesn't ask for TLS is refused.
    pub fn required(&self) -> bool {
        self.required
    }

    /// The rustls configuration (tests and the fuzz target drive handshakes with it).
    pub fn server_config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}
