//! One HTTP/2 stream, run as its own task on the connection's worker: the request routed
//! (`RouteTable::decide`), redirected or forwarded (`forward`), failures answered with a
//! 502/503/504 on the stream itself (never a connection error: the other streams go on),
//! and the frontend's counters kept as the HTTP/1.1 side keeps them.

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use http::{Method, Request};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::body::BodyFailure;
use super::forward::{forward, StreamContext};
use super::log;
use super::request::H2Request;
use super::response::{error_page, redirect};
use crate::http::exchange::Failure;
use crate::http::h1::Forwarding;
use crate::http::routing::{Decision, RequestHead};
use crate::proxy::{ClientOrigin, Frontend};
use crate::stats::bump;

/// What a connection's stream tasks share.
pub(crate) struct Shared {
    pub frontend: Arc<Frontend>,
    pub origin: ClientOrigin,
    pub tls: bool,
    /// Stream tasks still running (they may outlive a stream the client reset).
    pub running: AtomicUsize,
    /// Streams the client reset before their response was complete (rapid reset watch).
    pub client_resets: AtomicU32,
}

/// Decrements `running` when a stream task ends, however it ends.
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one request stream. `shared.running` was incremented by the caller.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let _running = Running(&shared.running);
    let started = Instant::now();
    let frontend = &*shared.frontend;
    let counters = &frontend.stats.http;
    bump(&counters.requests);
    let Some(http) = frontend.http() else {
        // The frontend was reloaded into another mode: nothing to route with.
        respond.send_reset(Reason::REFUSED_STREAM);
        return;
    };
    let (parts, body) = request.into_parts();
    let head = H2Request { parts: &parts };
    if let Some(status) = refusal(&head, http.config.max_headers) {
        bump(&counters.bad_requests);
        answer(&mut respond, frontend, status, started);
        let outcome = log::Outcome::Refused(status);
        return log::write(&http, &shared.origin, &head, None, started, outcome);
    }
    let target = match http.routes.decide(&head) {
        Decision::Forward(target) => target,
        Decision::Redirect(to) => {
            let location = to.location(&head, shared.tls);
            let response = redirect(to.status(), &location, to.response_edits());
            bump(&counters.redirects);
            if respond.send_response(response, true).is_ok() {
                counters.answered(to.status(), started.elapsed());
            }
            let outcome = log::Outcome::Redirected(to.status());
            return log::write(&http, &shared.origin, &head, None, started, outcome);
        }
    };
    let ctx = StreamContext {
        frontend,
        origin: shared.origin,
        forwarding: Forwarding {
            config: &http.config.forwarded,
            client: shared.origin.client.ip(),
            trusted: http.trusts(shared.origin.peer.ip()),
            tls: shared.tls,
        },
        idle: frontend.idle_timeout(),
    };
    let backend = Some(target.backend.name.as_str());
    // Boxed: the exchange's state is most of the stream's (~3 KiB), and a task's future is
    // copied whole when spawned and again when it completes (tokio's `set_stage`); keeping
    // it out of the task makes those copies small for one plain allocation.
    match Box::pin(forward(&ctx, &head, body, target, &mut respond)).await {
        Ok(sent) => {
            if sent.aborted == Some(BodyFailure::Client) {
                shared.client_resets.fetch_add(1, Ordering::Relaxed);
            }
            counters.answered(sent.status, started.elapsed());
            let outcome = log::Outcome::Sent(&sent);
            log::write(&http, &shared.origin, &head, backend, started, outcome);
        }
        Err((failure, server)) => {
            if failure == Failure::ClientGone {
                shared.client_resets.fetch_add(1, Ordering::Relaxed);
            } else {
                if let Some(server) = &server {
                    server.stats.http.responses.count(failure.status());
                }
                if failure == Failure::NoServer {
                    bump(&frontend.stats.no_server);
                }
                answer(&mut respond, frontend, failure.status(), started);
            }
            let outcome = log::Outcome::Failed(failure, server.as_deref());
            log::write(&http, &shared.origin, &head, backend, started, outcome);
        }
    }
}

/// The status fastlb refuses a request with before routing it, if it does.
fn refusal(head: &H2Request<'_>, max_headers: usize) -> Option<u16> {
    let parts = head.parts;
    if parts.method == Method::CONNECT || parts.uri.path_and_query().is_none() {
        // CONNECT tunnels (RFC 9113 §8.5) are not proxied, as on the HTTP/1.1 side.
        return Some(501);
    }
    if parts.headers.len() > max_headers {
        // `max_headers`, as on the HTTP/1.1 side (the list's size is bounded by
        // SETTINGS_MAX_HEADER_LIST_SIZE already).
        return Some(431);
    }
    if head.host().is_none() {
        // RFC 9113 §8.3.1: a request needs `:authority` or `Host` to be routed and sent on
        // as HTTP/1.1 (RFC 9112 §3.2 makes Host mandatory).
        return Some(400);
    }
    None
}

/// Answers the stream with fastlb's own error page.
#[cold]
fn answer(respond: &mut SendResponse<Bytes>, frontend: &Frontend, status: u16, started: Instant) {
    let (response, body) = error_page(status);
    let len = body.len();
    let Ok(mut send) = respond.send_response(response, false) else {
        return;
    };
    // A few bytes: within any flow-control window the client can have opened with.
    if send.send_data(body, true).is_ok() {
        frontend.stats.traffic.add_out(len as u64);
    }
    frontend.stats.http.answered(status, started.elapsed());
}
