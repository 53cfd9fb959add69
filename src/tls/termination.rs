//! TLS termination: a frontend's server-side TLS configuration and the handshake.

use rustls::server::{
    Acceptor, NoServerSessionStorage, ProducesTickets, ServerConfig, ServerSessionMemoryCache,
    StoresServerSessions,
};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::certs;
use super::config::{FrontendTlsConfig, TlsVersion};
use super::provider;
use super::sni::CertificateStore;
use super::suites;

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
    /// The server's cipher-suite order (AES-128-GCM first, src/tls/suites.rs).
    config: Arc<ServerConfig>,
    /// The same with the client's order, for clients that put ChaCha20 first.
    client_order: Arc<ServerConfig>,
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
        let shared = Shared::new(config, store)?;
        let server_order = server_config(config, &shared, true)?;
        let client_order = server_config(config, &shared, false)?;
        Ok(TlsTermination {
            config: Arc::new(server_order),
            client_order: Arc::new(client_order),
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
        // The ClientHello first, to pick the cipher-suite order for this client; rustls
        // parses it once either way, and sends the alert itself if it is refused.
        let handshake = async {
            let start = LazyConfigAcceptor::new(Acceptor::default(), io).await?;
            let config = if suites::client_prefers_chacha(&start.client_hello(), &provider()) {
                &self.client_order
            } else {
                &self.config
            };
            start.into_stream(config.clone()).await
        };
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(error)) => Err(HandshakeError::Failed(error)),
            Err(_) => Err(HandshakeError::Timeout),
        }
    }

    /// Whether a `mode: mysql` client that doesn't ask for TLS is refused.
    pub fn required(&self) -> bool {
        self.required
    }

    /// The rustls configuration, with the server's cipher-suite order (tests and the fuzz
    /// target drive handshakes with it).
    pub fn server_config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

/// What both of a frontend's configurations hold together: the certificates, and the
/// resumption state, so that a session begun under one resumes under the other.
struct Shared {
    store: Arc<CertificateStore>,
    /// `None`: resumption off.
    resumption: Option<(Arc<dyn StoresServerSessions>, Arc<dyn ProducesTickets>)>,
}

impl Shared {
    fn new(config: &FrontendTlsConfig, store: CertificateStore) -> Result<Self, String> {
        let resumption = if config.session_resumption {
            // Stateless resumption, as HAProxy and nginx offer by default (keys rotate
            // every 6 h), besides rustls' in-memory session cache (its default size).
            let ticketer = super::crypto::Ticketer::new().map_err(|e| format!("tls: {e}"))?;
            Some((ServerSessionMemoryCache::new(256) as _, ticketer))
        } else {
            None
        };
        Ok(Shared {
            store: Arc::new(store),
            resumption,
        })
    }
}

/// One frontend's rustls configuration; `server_order`: our cipher-suite preference wins
/// over the client's.
fn server_config(
    config: &FrontendTlsConfig,
    shared: &Shared,
    server_order: bool,
) -> Result<ServerConfig, String> {
    let versions: &[&rustls::SupportedProtocolVersion] = match config.min_version {
        // TLS 1.3 first: preferred whenever the client has it.
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let provider = if server_order {
        Arc::new(suites::server_preferred(&provider()))
    } else {
        provider()
    };
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(shared.store.clone());
    server.ignore_client_order = server_order;
    server.alpn_protocols = config.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    match &shared.resumption {
        Some((cache, ticketer)) => {
            server.session_storage = cache.clone();
            server.ticketer = ticketer.clone();
        }
        None => {
            // Every handshake a full one; no NewSessionTicket either (TLS 1.3 sends
            // tickets after the handshake unless told not to).
            server.session_storage = Arc::new(NoServerSessionStorage {});
            server.send_tls13_tickets = 0;
        }
    }
    Ok(server)
}
