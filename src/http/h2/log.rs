//! Access-log records of HTTP/2 streams: one per stream, protocol `HTTP/2.0`, with the
//! HAProxy timings and termination state the HTTP/1.1 side writes. Nothing is copied out
//! of a request unless its frontend has a log.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::body::BodyFailure;
use super::forward::Sent;
use super::request::H2Request;
use crate::balancer::Server;
use crate::http::access_log::{termination, AccessRecord, Timings};
use crate::http::exchange::Failure;
use crate::http::frontend::HttpFrontend;
use crate::http::routing::RequestHead;
use crate::proxy::ClientOrigin;

/// How a stream ended, for its log line.
pub(crate) enum Outcome<'a> {
    /// A server answered (maybe cut short).
    Sent(&'a Sent),
    /// No server answer: the failure's status was sent (or nothing, the client gone).
    Failed(Failure, Option<&'a Server>),
    /// fastlb refused the request (400, 431, 501).
    Refused(u16),
    /// A redirect answered by fastlb.
    Redirected(u16),
}

/// Hands the stream's record to the frontend's log (a no-op without one). `backend`: the
/// routed backend's name, if the request was routed to one.
pub(crate) fn write(
    http: &HttpFrontend,
    origin: &ClientOrigin,
    request: &H2Request<'_>,
    backend: Option<&str>,
    started: Instant,
    outcome: Outcome<'_>,
) {
    let Some(log) = &http.access_log else {
        return;
    };
    let mut timings = Timings {
        // HEADERS arrive whole: the request head took no time fastlb can see.
        tq: 0,
        ta: millis(started.elapsed()),
        ..Timings::NONE
    };
    let (status, server, bytes_out, retries, state) = match outcome {
        Outcome::Sent(sent) => {
            timings.tw = 0;
            timings.tr = millis(sent.response_time);
            let state = match sent.aborted {
                None => termination::NORMAL,
                Some(BodyFailure::Client) => termination::CLIENT_ABORT_DATA,
                Some(BodyFailure::Server) => termination::SERVER_ABORT_DATA,
            };
            let server: Arc<str> = sent.server.name.as_str().into();
            (
                sent.status,
                Some(server),
                sent.bytes_out,
                sent.retries,
                state,
            )
        }
        Outcome::Failed(failure, server) => {
            let state = match failure {
                Failure::NoServer => termination::SERVER_REFUSED_CONNECT,
                Failure::BadGateway if server.is_none() => termination::SERVER_REFUSED_CONNECT,
                Failure::BadGateway => termination::SERVER_ABORT_HEADERS,
                Failure::Timeout => termination::SERVER_TIMEOUT_HEADERS,
                Failure::ClientGone => termination::CLIENT_ABORT_DATA,
            };
            let status = match failure {
                Failure::ClientGone => 0,
                _ => failure.status(),
            };
            let server = server.map(|server| Arc::from(server.name.as_str()));
            (status, server, 0, 0, state)
        }
        Outcome::Refused(status) => (status, None, 0, 0, termination::PROXY_REFUSED_REQUEST),
        Outcome::Redirected(status) => (status, None, 0, 0, termination::LOCAL),
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let bytes_in = request
        .header("content-length")
        .and_then(|length| std::str::from_utf8(length).ok()?.parse().ok())
        .unwrap_or(0);
    log.log(AccessRecord {
        accepted_at: SystemTime::now() - started.elapsed(),
        client: origin.client,
        frontend: http.name.clone(),
        backend: backend.map_or_else(|| http.name.clone(), Arc::from),
        server,
        method: text(request.method()),
        host: request.host().map(text).unwrap_or_default(),
        path: text(request.path()),
        protocol: "HTTP/2.0",
        status,
        bytes_in,
        bytes_out,
        timings,
        retries,
        termination: state,
    });
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
