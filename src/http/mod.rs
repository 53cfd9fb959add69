//! `mode: http`: an HTTP/1.1 (and HTTP/2 to clients) load balancer in the core. Requests are
//! parsed, routed and balanced one by one, sent over pooled keep-alive server connections,
//! and logged; no request byte touches Python (docs/http.md).
//!
//! Layout: `session` (a client connection: heads, limits, keep-alive, errors), `exchange`
//! (one request to a server and its response back, with the retry rule), `upstream` (a
//! server connection: pooled or new) and `pool`, `tunnel` (after a 101), `stats`,
//! `frontend` (the per-frontend state swapped on reload), `buffer`.

pub mod access_log;
mod buffer;
pub mod config;
mod exchange;
mod frontend;
pub mod h1;
pub(crate) mod pool;
pub mod routing;
mod session;
pub mod stats;
mod transfer;
mod tunnel;
pub(crate) mod upstream;

#[cfg(test)]
mod tests;

pub use config::{ForwardedConfig, HttpBackendConfig, HttpFrontendConfig};
pub use frontend::{check_route_backends, HttpFrontend};

use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::proxy::{ClientOrigin, ConnectionSlot, Frontend};
use crate::tls::TlsTermination;

/// Serves one client connection of a `mode: http` frontend: TLS termination first when
/// the frontend has it, then HTTP/1.1, or HTTP/2 when the client negotiated `h2`.
pub async fn serve(client: TcpStream, slot: ConnectionSlot, origin: ClientOrigin) {
    let frontend = slot.frontend();
    let _ = client.set_nodelay(true);
    match frontend.tls() {
        None => session::serve(client, frontend, origin, false).await,
        Some(tls) => Box::pin(serve_tls(client, frontend, origin, tls)).await,
    }
}

/// TLS termination as in TCP mode (a client that fails the handshake costs no backend
/// connection), then HTTP over the decrypted stream, `X-Forwarded-Proto: https`.
async fn serve_tls(
    client: TcpStream,
    frontend: &Arc<Frontend>,
    origin: ClientOrigin,
    tls: Arc<TlsTermination>,
) {
    let client = match tls.accept(client).await {
        Ok(client) => client,
        Err(error) => return frontend.count_tls_handshake_error(&error),
    };
    drop(tls);
    if client.get_ref().1.alpn_protocol() == Some(b"h2") {
        return serve_h2(client, frontend, origin).await;
    }
    session::serve(client, frontend, origin, true).await
}

/// HTTP/2 clients (ALPN `h2`).
// TODO(h2): `crate::http::h2::serve(...)` (helper "h2") takes over here, sending its
// requests through `exchange`. Until it exists such a client gets an HTTP/1.1 505 and is
// closed (a client that offered h2 also offers http/1.1 only if the frontend's `alpn`
// lists it; list `http/1.1` alone until then).
async fn serve_h2<S>(mut client: S, frontend: &Frontend, _origin: ClientOrigin)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    frontend.stats.http.h2_connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _ = client
        .write_all(b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .await;
    let _ = client.shutdown().await;
}
