//! Access-log records of HTTP/1.1 requests: what the session captures of a request (only
//! when its frontend has a log: the strings are copied then, never otherwise) and the
//! record it hands to `AccessLog::log` once the request is answered.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::access_log::{termination, AccessRecord, Timings};
use super::exchange::{Failure, Sent};
use super::frontend::HttpFrontend;
use super::h1::RequestHead;
use crate::proxy::ClientOrigin;

/// What a log line says of the request itself, captured before its head is consumed.
#[derive(Default)]
pub(crate) struct Request {
    method: String,
    host: String,
    path: String,
    protocol: &'static str,
    bytes_in: u64,
    /// Tq: first byte to complete head.
    tq: i64,
}

impl Request {
    /// The request's fields, if `http` logs; `body_in_hand` request body bytes came with it.
    pub fn capture(
        http: &HttpFrontend,
        head: &RequestHead,
        buf: &[u8],
        started: Instant,
    ) -> Option<Request> {
        http.access_log.as_ref()?;
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        Some(Request {
            method: text(head.method(buf)),
            host: head.host(buf).map(text).unwrap_or_default(),
            path: text(head.target.get(buf)),
            protocol: if head.minor_version == 0 {
                "HTTP/1.0"
            } else {
                "HTTP/1.1"
            },
            bytes_in: head.len as u64,
            tq: millis(started.elapsed()),
        })
    }

    /// Adds request body bytes received with the head.
    pub fn add_in(&mut self, bytes: usize) {
        self.bytes_in += bytes as u64;
    }
}

/// How a request ended, for its log line.
pub(crate) enum Outcome<'a> {
    /// A server answered.
    Sent(&'a Sent),
    /// No server answer: `Failure`'s status was sent.
    Failed(Failure, Option<&'a str>),
    /// fastlb refused the request (400, 408, 431, ...).
    Refused(u16),
    /// A redirect answered by fastlb.
    Redirected(u16),
}

/// Hands the request's record to the frontend's log (a no-op without one).
pub(crate) fn write(
    http: &HttpFrontend,
    origin: &ClientOrigin,
    backend: Option<&str>,
    request: Option<Request>,
    started: Instant,
    outcome: Outcome<'_>,
) {
    let Some(log) = &http.access_log else {
        return;
    };
    let request = request.unwrap_or_default();
    let ta = millis(started.elapsed());
    let mut timings = Timings {
        tq: request.tq,
        ..Timings::NONE
    };
    timings.ta = ta;
    let (status, server, bytes_out, retries, state) = match outcome {
        Outcome::Sent(sent) => {
            timings.tw = 0;
            timings.tc = sent.connect_ms;
            timings.tr = millis(sent.response_time);
            let server: Arc<str> = sent.server.name.as_str().into();
            (
                sent.status,
                Some(server),
                sent.bytes_out,
                sent.retries,
                termination::NORMAL,
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
            let status = if failure == Failure::ClientGone {
                0
            } else {
                failure.status()
            };
            (status, server.map(Arc::from), 0, 0, state)
        }
        Outcome::Refused(status) => {
            let state = if status == 408 {
                termination::CLIENT_TIMEOUT_REQUEST
            } else {
                termination::PROXY_REFUSED_REQUEST
            };
            (status, None, 0, 0, state)
        }
        Outcome::Redirected(status) => (status, None, 0, 0, termination::LOCAL),
    };
    log.log(AccessRecord {
        accepted_at: SystemTime::now() - started.elapsed(),
        client: origin.client,
        frontend: http.name.clone(),
        backend: backend.map_or_else(|| http.name.clone(), Arc::from),
        server,
        method: request.method,
        host: request.host,
        path: request.path,
        protocol: if request.protocol.is_empty() {
            "HTTP/1.1"
        } else {
            request.protocol
        },
        status,
        bytes_in: request.bytes_in,
        bytes_out,
        timings,
        retries,
        termination: state,
    });
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
