//! After a server's `101 Switching Protocols` (WebSocket and other `Upgrade`s): the
//! connection stops being HTTP and both directions are relayed as bytes until either side
//! closes or nothing moves for `tunnel_timeout` (HAProxy `timeout tunnel`).
//!
//! Only the server's 101 switches: a request with `Upgrade` that gets any other status
//! stays HTTP (tunnelling on the request alone let a client smuggle requests past the
//! proxy, Pingora CVE-2026-2833).

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::buffer::InputBuffer;
use crate::balancer::Server;
use crate::error::Error;
use crate::proxy::session::ServerStream;
use crate::proxy::Frontend;
use crate::relay::{relay_streams, RelayCounters};

/// Relays `client` and `server` until both are done. Bytes either side sent after its head
/// (a client's first frames sent early, a server's first frames with its 101) are passed on
/// first.
pub(crate) async fn run<S>(
    client: &mut S,
    client_input: &mut InputBuffer,
    server: &mut ServerStream,
    server_input: &mut InputBuffer,
    timeout: Duration,
    frontend: &Frontend,
    target: &Server,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !client_input.is_empty() {
        server
            .write_all(client_input.filled())
            .await
            .map_err(Error::ServerIo)?;
        count(frontend, target, client_input.len() as u64, 0);
        client_input.clear();
    }
    if !server_input.is_empty() {
        client
            .write_all(server_input.filled())
            .await
            .map_err(Error::ClientIo)?;
        count(frontend, target, 0, server_input.len() as u64);
        server_input.clear();
    }
    let counters = RelayCounters {
        client_to_server: [
            &frontend.stats.traffic.bytes_in,
            &target.stats.traffic.bytes_in,
        ],
        server_to_client: [
            &frontend.stats.traffic.bytes_out,
            &target.stats.traffic.bytes_out,
        ],
    };
    relay_streams(client, server, timeout, counters).await
}

fn count(frontend: &Frontend, server: &Server, to_server: u64, to_client: u64) {
    frontend.stats.traffic.add_in(to_server);
    server.stats.traffic.add_in(to_server);
    frontend.stats.traffic.add_out(to_client);
    server.stats.traffic.add_out(to_client);
}
