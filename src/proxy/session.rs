//! One client connection: (TLS handshake,) pick a server, connect (retrying others),
//! relay, account.
//!
//! The plain TCP path is the one it always was (splice or copy between two sockets); TLS
//! on either side goes through the stream relay, in boxed futures so that plain sessions'
//! tasks stay as small as before.
//!
//! A backend with `send_proxy` gets a PROXY header (HAProxy's `send-proxy`) on every new
//! server connection, first thing after the TCP connect and before a TLS handshake.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::frontend::{ConnectionSlot, Frontend};
use super::ClientOrigin;
use crate::balancer::{Backend, BackendSettings, Server};
use crate::error::Error;
use crate::proxy_protocol::{self, ProxyVersion};
use crate::relay::{relay, relay_streams, RelayCounters};
use crate::stats::bump;
use crate::tls::{TlsOrigination, TlsTermination};

/// The connection to the server (plain or TLS-originated), as TCP and HTTP mode use it.
/// (The MySQL session's `mysql::session::Upstream` is a server connection *with its
/// protocol state*; this one is only the byte stream.)
pub(crate) enum ServerStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Serves one accepted connection. `origin`: the addresses a PROXY header reported
/// (`accept_proxy`); None for a direct connection, whose addresses are read from the socket
/// only if a server needs them (`send_proxy`), not on every accept.
pub(super) async fn serve(client: TcpStream, slot: ConnectionSlot, origin: Option<ClientOrigin>) {
    let frontend = slot.frontend();
    // TCP_NODELAY comes from the listening socket (listener.rs).
    match frontend.tls() {
        None => serve_plain(client, frontend, origin).await,
        Some(tls) => Box::pin(serve_tls(client, frontend, tls, origin)).await,
    }
}

async fn serve_plain(client: TcpStream, frontend: &Frontend, origin: Option<ClientOrigin>) {
    let backend = frontend.backend();
    let proxy = ProxySource {
        client: &client,
        origin,
    };
    let Some((server, upstream)) = connect_for(frontend, &backend, None, proxy).await else {
        return;
    };
    let _server_slot = server.stats.traffic.open();
    let started = Instant::now();
    let counters = counters(frontend, &server);
    // How a session ended is visible in the counters (bytes, durations); an error after
    // the connect can't be retried, the client's bytes are already with the server.
    let _ = match upstream {
        ServerStream::Plain(upstream) => {
            relay(
                &client,
                &upstream,
                frontend.splice,
                frontend.idle_timeout(),
                counters,
            )
            .await
        }
        ServerStream::Tls(upstream) => {
            Box::pin(relay_tls(client, upstream, frontend, &server)).await
        }
    };
    server.stats.session_time.record(started.elapsed());
}

/// TLS termination: the handshake first (a client that fails it never costs a backend
/// connection), then the same as a plain session over the decrypted stream.
async fn serve_tls(
    client: TcpStream,
    frontend: &Frontend,
    tls: Arc<TlsTermination>,
    origin: Option<ClientOrigin>,
) {
    let client = match tls.accept(client).await {
        Ok(client) => client,
        Err(error) => return frontend.count_tls_handshake_error(&error),
    };
    drop(tls);
    let alpn = client.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let backend = frontend.backend();
    let proxy = ProxySource {
        client: client.get_ref().0,
        origin,
    };
    let connected = connect_for(frontend, &backend, alpn.as_deref(), proxy).await;
    let Some((server, upstream)) = connected else {
        return;
    };
    let _server_slot = server.stats.traffic.open();
    let started = Instant::now();
    let _ = match upstream {
        ServerStream::Plain(upstream) => relay_tls(client, upstream, frontend, &server).await,
        ServerStream::Tls(upstream) => relay_tls(client, upstream, frontend, &server).await,
    };
    server.stats.session_time.record(started.elapsed());
}

async fn relay_tls<C, S>(
    client: C,
    upstream: S,
    frontend: &Frontend,
    server: &Server,
) -> Result<(), Error>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    relay_streams(
        client,
        upstream,
        frontend.idle_timeout(),
        counters(frontend, server),
    )
    .await
}

fn counters<'a>(frontend: &'a Frontend, server: &'a Server) -> RelayCounters<'a> {
    RelayCounters {
        client_to_server: [
            &frontend.stats.traffic.bytes_in,
            &server.stats.traffic.bytes_in,
        ],
        server_to_client: [
            &frontend.stats.traffic.bytes_out,
            &server.stats.traffic.bytes_out,
        ],
    }
}

/// The client's addresses for a PROXY header to the server.
#[derive(Clone, Copy)]
struct ProxySource<'a> {
    client: &'a TcpStream,
    /// What the client's own PROXY header said, if it sent one.
    origin: Option<ClientOrigin>,
}

impl ProxySource<'_> {
    /// The client's IP for `balance: maglev` / `source`: the PROXY header's, else the
    /// socket peer's (one `getpeername`, only for hashing backends).
    fn client_ip(self) -> Option<std::net::IpAddr> {
        match self.origin {
            Some(origin) => Some(origin.client.ip()),
            None => self.client.peer_addr().ok().map(|peer| peer.ip()),
        }
    }

    /// The header `version` sends: the client and the address it connected to (HAProxy's
    /// `send-proxy` sends the frontend connection's source and destination).
    fn header(self, version: ProxyVersion) -> Result<Vec<u8>, Error> {
        let origin = match self.origin {
            Some(origin) => origin,
            None => {
                let peer = self.client.peer_addr().map_err(Error::ClientIo)?;
                let local = self.client.local_addr().map_err(Error::ClientIo)?;
                ClientOrigin::direct(peer, local)
            }
        };
        let mut header = Vec::with_capacity(proxy_protocol::ENCODED_MAX_LEN);
        proxy_protocol::encode(version, origin.client, origin.local, &mut header);
        Ok(header)
    }
}

/// Connects to a server of `backend`, counting a failure on the frontend.
async fn connect_for(
    frontend: &Frontend,
    backend: &Backend,
    alpn: Option<&[u8]>,
    proxy: ProxySource<'_>,
) -> Option<(Arc<Server>, ServerStream)> {
    match connect_with_retries(backend, alpn, proxy).await {
        Ok(connected) => Some(connected),
        Err(Error::Resources(_)) => {
            bump(&frontend.stats.resource_errors);
            None
        }
        // The client went away before we could read its addresses: nobody to count.
        Err(Error::ClientIo(_)) => None,
        Err(_) => {
            bump(&frontend.stats.no_server);
            None
        }
    }
}

/// Connects to the picked server; on failure tries the next one in the schedule, up to
/// `retries` more attempts, preferring servers this connection has not tried yet. A local
/// shortage (out of descriptors) ends it at once and is not held against the server.
async fn connect_with_retries(
    backend: &Backend,
    alpn: Option<&[u8]>,
    proxy: ProxySource<'_>,
) -> Result<(Arc<Server>, ServerStream), Error> {
    let settings = backend.settings();
    let tls = backend.tls();
    // Built once: it names the client, whichever server takes the connection.
    let header = match settings.send_proxy {
        Some(version) => proxy.header(version)?,
        None => Vec::new(),
    };
    let mut pick = backend
        .pick_for(|| proxy.client_ip())
        .ok_or(Error::NoServer)?;
    let mut tried: Vec<u64> = Vec::new();
    loop {
        let started = Instant::now();
        let server = &pick.server;
        let timeout = settings.connect_timeout;
        match connect_with_proxy_header(server, timeout, tls.as_deref(), alpn, &header).await {
            Ok(stream) => {
                pick.server.stats.connect_time.record(started.elapsed());
                pick.server.observe_connect_success();
                return Ok((pick.server, stream));
            }
            Err(error) if !error.retryable() => return Err(error),
            Err(error) => {
                bump(&pick.server.stats.connect_errors);
                observe_failure(backend, &settings, &pick.server);
                if tried.len() >= settings.retries as usize {
                    return Err(error);
                }
                bump(&pick.server.stats.retries);
                tried.push(pick.server.id);
                pick = backend.repick(&pick, &tried).ok_or(Error::NoServer)?;
            }
        }
    }
}

/// With an observing health check, `fall` failed connects in a row take the server out
/// now rather than at its next check.
#[cold]
pub(crate) fn observe_failure(backend: &Backend, settings: &BackendSettings, server: &Server) {
    let Some(check) = settings.health_check.as_ref().filter(|c| c.observe) else {
        return;
    };
    if server.observe_connect_failure(check.fall) {
        backend.republish();
    }
}

/// `connect_with_proxy_header` without a header (for callers outside the TCP session, e.g.
/// an HTTP pool whose backend has no `send_proxy`).
#[allow(dead_code)]
async fn connect(
    server: &Server,
    timeout: Duration,
    tls: Option<&TlsOrigination>,
    alpn: Option<&[u8]>,
) -> Result<ServerStream, Error> {
    connect_with_proxy_header(server, timeout, tls, alpn, &[]).await
}

/// Connects (and handshakes TLS with) `server`, first writing `proxy_header` (a PROXY
/// header from `proxy_protocol::encode`, or nothing when empty) on the fresh TCP connection:
/// the PROXY protocol precedes TLS, like HAProxy's `send-proxy` on an `ssl` server. A
/// failed write is a failed connect (another server may be tried).
pub(crate) async fn connect_with_proxy_header(
    server: &Server,
    timeout: Duration,
    tls: Option<&TlsOrigination>,
    alpn: Option<&[u8]>,
    proxy_header: &[u8],
) -> Result<ServerStream, Error> {
    let addr = server.address;
    let mut stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::ConnectTimeout { addr })?
        .map_err(|source| Error::from_connect(addr, source))?;
    let _ = stream.set_nodelay(true);
    if !proxy_header.is_empty() {
        // A fresh socket's send buffer takes these ~100 bytes at once; the timeout is for form.
        tokio::time::timeout(timeout, stream.write_all(proxy_header))
            .await
            .map_err(|_| Error::ConnectTimeout { addr })?
            .map_err(|source| Error::Connect { addr, source })?;
    }
    match tls {
        None => Ok(ServerStream::Plain(stream)),
        Some(tls) => Box::pin(handshake(server, stream, timeout, tls, alpn)).await,
    }
}

/// The TLS handshake with a server, within the connect timeout. A failure is the server's
/// (a bad certificate, no common protocol): retried on another server like a failed connect.
async fn handshake(
    server: &Server,
    stream: TcpStream,
    timeout: Duration,
    tls: &TlsOrigination,
    alpn: Option<&[u8]>,
) -> Result<ServerStream, Error> {
    let addr = server.address;
    let connected = tokio::time::timeout(timeout, tls.connect(stream, &server.tls_name, alpn))
        .await
        .map_err(|_| Error::ConnectTimeout { addr })?
        .map_err(|source| Error::Connect { addr, source })?;
    Ok(ServerStream::Tls(Box::new(connected)))
}
