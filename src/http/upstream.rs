//! Getting a server connection for one request: a pooled one for the picked server, else
//! a new one through the TCP mode's connect path (connect timeout, TLS to the server,
//! passive health observation, retries on other servers).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::pool;
use crate::balancer::{Backend, Server};
use crate::error::Error;
use crate::proxy::session::{connect, observe_failure, Upstream};
use crate::stats::bump;

/// ALPN offered to TLS servers: fastlb speaks HTTP/1.1 to them.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// A server connection ready for a request.
pub(crate) struct Acquired {
    pub server: Arc<Server>,
    pub conn: Upstream,
    /// Taken from the pool: it may have been closed by the server meanwhile (the request
    /// can then be retried on a new connection, see `exchange`).
    pub reused: bool,
}

/// Picks a server of `backend` (smooth weighted round robin, per request) and gives a
/// connection to it: a pooled one when `allow_pool`, else a new one. A failed connect is
/// retried on the next servers, `retries` times, as in TCP mode.
pub(crate) async fn acquire(backend: &Backend, allow_pool: bool) -> Result<Acquired, Error> {
    let settings = backend.settings();
    let mut pick = backend.pick().ok_or(Error::NoServer)?;
    let mut tried: Vec<u64> = Vec::new();
    loop {
        let server = &pick.server;
        if allow_pool {
            if let Some(conn) = pool::take(server) {
                bump(&server.stats.http.pool_hits);
                return Ok(Acquired {
                    server: pick.server,
                    conn,
                    reused: true,
                });
            }
        }
        bump(&server.stats.http.pool_misses);
        match connect_new(backend, server).await {
            Ok(conn) => {
                return Ok(Acquired {
                    server: pick.server,
                    conn,
                    reused: false,
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

/// A new connection to `server` (no retry), its failure counted and observed.
pub(crate) async fn connect_new(backend: &Backend, server: &Server) -> Result<Upstream, Error> {
    let settings = backend.settings();
    let tls = backend.tls();
    let started = Instant::now();
    match connect(
        server,
        settings.connect_timeout,
        tls.as_deref(),
        Some(ALPN_HTTP1),
    )
    .await
    {
        Ok(conn) => {
            server.stats.connect_time.record(started.elapsed());
            bump(&server.stats.traffic.total);
            server.observe_connect_success();
            Ok(conn)
        }
        Err(error) => {
            if error.retryable() {
                bump(&server.stats.connect_errors);
                observe_failure(backend, &settings, server);
            }
            Err(error)
        }
    }
}

impl Upstream {
    /// The TCP socket under the connection.
    pub(crate) fn socket(&self) -> &TcpStream {
        match self {
            Upstream::Plain(socket) => socket,
            Upstream::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl AsyncRead for Upstream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Upstream::Plain(socket) => Pin::new(socket).poll_read(cx, buf),
            Upstream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Upstream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Upstream::Plain(socket) => Pin::new(socket).poll_write(cx, buf),
            Upstream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Upstream::Plain(socket) => Pin::new(socket).poll_write_vectored(cx, bufs),
            Upstream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Upstream::Plain(socket) => Pin::new(socket).poll_flush(cx),
            Upstream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Upstream::Plain(socket) => Pin::new(socket).poll_shutdown(cx),
            Upstream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
