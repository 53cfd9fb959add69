//! Getting a server connection for one request: a pooled one for the picked server, else
//! a new one through the TCP mode's connect path (connect timeout, PROXY header, TLS to the
//! server, passive health observation, retries on other servers); and giving it back.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::pool;
use crate::balancer::{Backend, BackendSettings, Pick, Server};
use crate::error::Error;
use crate::proxy::session::{connect_with_proxy_header, observe_failure, ServerStream};
use crate::proxy::ClientOrigin;
use crate::stats::bump;

/// ALPN offered to TLS servers: fastlb speaks HTTP/1.1 to them.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// A server connection ready for a request.
pub(crate) struct Acquired {
    pub server: Arc<Server>,
    pub conn: ServerStream,
    /// Taken from the pool: it may have been closed by the server meanwhile (the request
    /// can then be retried on a new connection, see `exchange`).
    pub reused: bool,
    /// The server is the one the request's persistence cookie named.
    pub stuck: bool,
    /// Counts the request on the server until the exchange ends.
    pub in_flight: InFlight,
}

/// One request picked for a server and not finished yet (`balance: leastconn` weighs
/// these): counted from the pick, so requests picked at the same moment see each other,
/// until dropped, however the exchange ends.
pub(crate) struct InFlight(Arc<Server>);

impl InFlight {
    fn new(server: &Arc<Server>) -> Self {
        server
            .stats
            .http
            .active
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        InFlight(server.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .stats
            .http
            .active
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The client's own server connection, for backends with `send_proxy`: a connection that
/// began with a PROXY header names one client and is never shared with another (HAProxy
/// marks such connections private). The session keeps its last one for its own next
/// requests to that server.
pub(crate) type Private = Option<(Arc<Server>, ServerStream)>;

/// Where the client connection comes from (for `send_proxy`) and its private connection.
pub(crate) struct Affinity {
    pub origin: ClientOrigin,
    pub private: Private,
}

/// Picks a server of `backend` (per request: `sticky`, the server the request's persistence
/// cookie named, while it can take requests; else the balance algorithm) and gives a
/// connection to it: an idle one when `allow_reuse` (from the worker's pool, or the
/// client's private one under `send_proxy`), else a new one. A failed connect is retried
/// on the next servers, `retries` times, as in TCP mode.
pub(crate) async fn acquire(
    backend: &Backend,
    settings: &BackendSettings,
    allow_reuse: bool,
    affinity: &mut Affinity,
    sticky: Option<&Arc<Server>>,
) -> Result<Acquired, Error> {
    let client = affinity.origin.client.ip();
    let mut pick = match sticky.filter(|s| s.accepts_new()) {
        // Slot 0: a failed connect to it redispatches from the start of the schedule.
        Some(server) => Pick {
            slot: 0,
            server: server.clone(),
        },
        None => backend.pick_for(|| Some(client)).ok_or(Error::NoServer)?,
    };
    let mut tried: Vec<u64> = Vec::new();
    loop {
        let server = &pick.server;
        let in_flight = InFlight::new(server);
        let stuck = sticky.is_some_and(|s| s.id == server.id);
        if allow_reuse {
            let idle = match settings.send_proxy {
                None => pool::take(server),
                Some(_) => take_private(&mut affinity.private, server),
            };
            if let Some(conn) = idle {
                bump(&server.stats.http.pool_hits);
                return Ok(Acquired {
                    server: pick.server,
                    conn,
                    reused: true,
                    stuck,
                    in_flight,
                });
            }
        }
        bump(&server.stats.http.pool_misses);
        match connect_new(backend, server, settings, affinity.origin).await {
            Ok(conn) => {
                return Ok(Acquired {
                    server: pick.server,
                    conn,
                    reused: false,
                    stuck,
                    in_flight,
                })
            }
            Err(error) if !error.retryable() => return Err(error),
            Err(error) => {
                if tried.len() >= settings.retries as usize {
                    return Err(error);
                }
                bump(&server.stats.retries);
                tried.push(server.id);
                pick = backend.repick(&pick, &tried).ok_or(Error::NoServer)?;
            }
        }
    }
}

/// The client's private connection, if it is to `server` and still usable.
fn take_private(private: &mut Private, server: &Server) -> Option<ServerStream> {
    match private.take() {
        Some((owner, conn)) if owner.id == server.id && pool::alive(&conn) => Some(conn),
        other => {
            *private = other.filter(|(owner, _)| owner.id != server.id);
            None
        }
    }
}

/// Keeps `conn`, idle after a complete exchange, for a next request: in the worker's pool,
/// or as the client's private connection under `send_proxy`.
pub(crate) fn release(
    backend_settings: &BackendSettings,
    server: &Arc<Server>,
    conn: ServerStream,
    affinity: &mut Affinity,
) {
    match backend_settings.send_proxy {
        None => pool::put(server, conn, &backend_settings.http),
        Some(_) => affinity.private = Some((server.clone(), conn)),
    }
}

/// A new connection to `server` (no retry), its failure counted and observed; with
/// `send_proxy`, the PROXY header naming the client goes first.
async fn connect_new(
    backend: &Backend,
    server: &Server,
    settings: &BackendSettings,
    origin: ClientOrigin,
) -> Result<ServerStream, Error> {
    let tls = backend.tls();
    let started = Instant::now();
    let mut header = Vec::new();
    if let Some(version) = settings.send_proxy {
        crate::proxy_protocol::encode(version, origin.client, origin.local, &mut header);
    }
    let connected = connect_with_proxy_header(
        server,
        settings.connect_timeout,
        tls.as_deref(),
        Some(ALPN_HTTP1),
        &header,
    )
    .await;
    match connected {
        Ok(conn) => {
            server.stats.connect_time.record(started.elapsed());
            bump(&server.stats.traffic.total);
            server.observe_connect_success();
            Ok(conn)
        }
        Err(error) => {
            if error.retryable() {
                bump(&server.stats.connect_errors);
                observe_failure(backend, settings, server);
            }
            Err(error)
        }
    }
}

impl ServerStream {
    /// The TCP socket under the connection.
    pub(crate) fn socket(&self) -> &TcpStream {
        match self {
            ServerStream::Plain(socket) => socket,
            ServerStream::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl AsyncRead for ServerStream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(socket) => Pin::new(socket).poll_read(cx, buf),
            ServerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerStream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(socket) => Pin::new(socket).poll_write(cx, buf),
            ServerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(socket) => Pin::new(socket).poll_write_vectored(cx, bufs),
            ServerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(socket) => Pin::new(socket).poll_flush(cx),
            ServerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(socket) => Pin::new(socket).poll_shutdown(cx),
            ServerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
