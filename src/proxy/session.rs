//! One client connection: pick a server, connect (retrying others), relay, account.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

use super::frontend::ConnectionSlot;
use crate::balancer::{Backend, BackendSettings, Server};
use crate::error::Error;
use crate::relay::{relay, RelayCounters};
use crate::stats::bump;

pub(super) async fn serve(client: TcpStream, slot: ConnectionSlot) {
    let frontend = slot.frontend();
    let _ = client.set_nodelay(true);
    let backend = frontend.backend();
    let (server, upstream) = match connect_with_retries(&backend).await {
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
        frontend.idle_timeout(),
        counters,
    )
    .await;
    server.stats.session_time.record(started.elapsed());
}

/// Connects to the picked server; on failure tries the next one in the schedule, up to
/// `retries` more attempts, preferring servers this connection has not tried yet. A local
/// shortage (out of descriptors) ends it at once and is not held against the server.
async fn connect_with_retries(backend: &Backend) -> Result<(Arc<Server>, TcpStream), Error> {
    let settings = backend.settings();
    let mut pick = backend.pick().ok_or(Error::NoServer)?;
    let mut tried: Vec<u64> = Vec::new();
    loop {
        let started = Instant::now();
        match connect(&pick.server, settings.connect_timeout).await {
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
fn observe_failure(backend: &Backend, settings: &BackendSettings, server: &Server) {
    let Some(check) = settings.health_check.as_ref().filter(|c| c.observe) else {
        return;
    };
    if server.observe_connect_failure(check.fall) {
        backend.republish();
    }
}

async fn connect(server: &Server, timeout: Duration) -> Result<TcpStream, Error> {
    let addr = server.address;
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::ConnectTimeout { addr })?
        .map_err(|source| Error::from_connect(addr, source))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
