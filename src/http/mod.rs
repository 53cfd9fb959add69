//! `mode: http`: an HTTP/1.1 (and HTTP/2 to clients) load balancer in the core. Requests are
//! parsed, routed and balanced one by one, sent over pooled keep-alive server connections,
//! and logged; no request byte touches Python (docs/http.md).

pub mod access_log;
pub mod config;
mod frontend;
pub(crate) mod pool;
pub mod routing;
pub mod stats;
pub(crate) mod upstream;

pub use config::{ForwardedConfig, HttpBackendConfig, HttpFrontendConfig};
pub use frontend::{check_route_backends, HttpFrontend};

use tokio::net::TcpStream;

use crate::proxy::{ClientOrigin, ConnectionSlot};

/// Serves one client connection of a `mode: http` frontend.
// TODO(http): the HTTP/1.1 session (helper "h1"); until then the connection is closed.
pub async fn serve(client: TcpStream, slot: ConnectionSlot, origin: ClientOrigin) {
    let _ = (client, slot, origin);
}
