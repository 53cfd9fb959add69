//! One client connection: pick a server, connect (retrying others), relay, account.

use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;

use super::frontend::ConnectionSlot;
use crate::balancer::{Backend, Server};
use crate::error::Error;
use crate::relay::{relay, RelayCounters};
use crate::stats::bump;

pub(super) async fn serve(client: TcpStream, slot: ConnectionSlot) {
    let frontend = slot.frontend();
    let _ = client.set_nodelay(true);
    let (server, upstream) = match connect_with_retries(&frontend.backend).await {
        Ok(connected) => connected,
        Err(Error::Resources(_)) => return bump(&frontend.stats.resource_errors),
        Err(_) => return bump(&frontend.stats.no_server),
    };
    let _server_slot = server.stats.traffic.open();
    let started = Instant::now();
    let counters = RelayCounters {
        client_to_server: [
            &frontend.stats.traffic.bytes_in,
            &server.stats.traffic.bytes_in,
        ],
        server_to_client: [
            &frontend.stats.traffic.bytes_out,
            &server.stats.traffic.bytes_out,
        ],
    };
    // How a session ended is visible in the counters (bytes, durations); an error after
    // the connect can't be retried, the client's bytes are already with the server.
    let _ = relay(
        &client,
        &upstream,
        frontend.splice,
        frontend.idle_timeout,
        counters,
    )
    .await;
    server.stats.session_time.record(started.elapsed());
}

/// Connects to the picked server; on failure tries the next one in the schedule, up to
/// `retries` more attempts, preferring servers this connection has not tried yet. A local
/// shortage (out of descriptors) ends it at once and is not held against the server.
async fn connect_with_retries(backend: &Backend) -> Result<(Arc<Server>, TcpStream), Error> {
    let mut pick = backend.pick().ok_or(Error::NoServer)?;
    let mut tried: Vec<usize> = Vec::new();
    loop {
        let started = Instant::now();
        match connect(pick.server, backend).await {
            Ok(stream) => {
                pick.server.stats.connect_time.record(started.elapsed());
                return Ok((pick.server.clone(), stream));
            }
            Err(error) if !error.retryable() => return Err(error),
            Err(error) => {
                bump(&pick.server.stats.connect_errors);
                if tried.len() >= backend.retries as usize {
                    return Err(error);
                }
                bump(&pick.server.stats.retries);
                tried.push(pick.index);
                pick = backend.repick(&pick, &tried).ok_or(Error::NoServer)?;
            }
        }
    }
}

async fn connect(server: &Server, backend: &Backend) -> Result<TcpStream, Error> {
    let addr = server.address;
    let stream = tokio::time::timeout(backend.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::ConnectTimeout { addr })?
        .map_err(|source| Error::from_connect(addr, source))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
