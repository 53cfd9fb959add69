//! Active health checks (tcp, http, mysql handshake) and the rise/fall state machine.
//!
//! One task per checked server runs on the engine's runtime; results change the server's
//! health flag and republish the backend's schedule. Nothing here is on the data path.

pub(crate) mod probe;
mod record;

pub use probe::probe;
pub use record::{CheckRecord, CheckStatus, Transition};

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::balancer::{Backend, Server};
use crate::config::HealthCheckConfig;
use crate::proxy_protocol::ProxyVersion;

/// Starts the check loop of `server` unless one runs already. The loop ends by itself when
/// the server is removed, the backend dropped, or its health check switched off.
pub fn ensure_checked(
    runtime: &tokio::runtime::Handle,
    backend: &Arc<Backend>,
    server: &Arc<Server>,
) {
    if backend.settings().health_check.is_none() || !server.claim_checker() {
        return;
    }
    runtime.spawn(check_loop(Arc::downgrade(backend), server.clone()));
}

async fn check_loop(backend: Weak<Backend>, server: Arc<Server>) {
    while let Some((check, proxy)) = current_check(&backend, &server) {
        let interval = if server.in_transition() {
            check.fast_interval_ms.min(check.interval_ms)
        } else {
            check.interval_ms
        };
        tokio::time::sleep(Duration::from_millis(interval)).await;
        let outcome = probe(&check, server.address, proxy).await;
        let Some(backend) = backend.upgrade().filter(|_| !server.is_retired()) else {
            break;
        };
        if server
            .record_check(outcome, check.rise, check.fall)
            .is_some()
        {
            backend.republish();
        }
    }
    server.release_checker();
}

/// The check to run next and the PROXY header it opens with, or None when the loop should
/// end: the server was removed, or the backend's check switched off (then the server counts
/// as healthy again).
fn current_check(
    backend: &Weak<Backend>,
    server: &Server,
) -> Option<(HealthCheckConfig, Option<ProxyVersion>)> {
    let backend = backend.upgrade().filter(|_| !server.is_retired())?;
    let settings = backend.settings();
    let Some(check) = settings.health_check.clone() else {
        server.forget_checks();
        backend.republish();
        return None;
    };
    Some((
        check,
        check_proxy(settings.send_proxy, settings.check_send_proxy),
    ))
}

/// `check_send_proxy` sends the backend's `send_proxy` version, or v1 when the backend sends
/// none to its traffic (HAProxy's `check-send-proxy` without `send-proxy-v2`).
fn check_proxy(send_proxy: Option<ProxyVersion>, check_send_proxy: bool) -> Option<ProxyVersion> {
    check_send_proxy.then(|| send_proxy.unwrap_or(ProxyVersion::V1))
}
