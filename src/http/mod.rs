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
pub mod cookie;
mod exchange;
mod frontend;
pub mod h1;
pub mod h2;
mod log;
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
pub use exchange::Failure;
pub use frontend::{check_route_backends, HttpFrontend};

use std::sync::Arc;
use tokio::net::TcpStream;

use crate::proxy::{ClientOrigin, ConnectionSlot, Frontend};
use crate::tls::TlsTermination;

/// Serves one client connection of a `mode: http` frontend: TLS termination first when
/// the frontend has it, then HTTP/1.1, or HTTP/2 when the client negotiated `h2`.
pub async fn serve(client: TcpStream, slot: ConnectionSlot, origin: ClientOrigin) {
    let frontend = slot.frontend();
    // TCP_NODELAY comes from the listening socket (proxy/listener.rs).
    match frontend.tls() {
        None => h2::serve_plain(client, frontend, origin).await,
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
        return h2::serve(client, frontend, origin, true).await;
    }
    session::serve(client, frontend, origin, true).await
}
