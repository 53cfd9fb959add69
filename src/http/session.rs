//! A client's HTTP/1.1 connection: request heads read within `request_timeout` (408),
//! idle keep-alive within `keepalive_timeout` (closed silently), malformed heads refused
//! with their status (400/431/501/505, then closed), each request routed and balanced on
//! its own, forwarded through `exchange`, pipelined requests served in order, and the
//! frontend's counters kept.

use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep_until, timeout_at};

use super::buffer::InputBuffer;
use super::exchange::{forward, ClientSide, Failure, Outgoing, Scratch};
use super::frontend::HttpFrontend;
use super::h1::{
    error_response, parse_request, redirect_response, write_request_head, BodyFraming, BodyReader,
    ConnectionHeader, Forwarding, HeadError, HeadScratch, Limits, RequestHead, RequestView,
};
use super::log::{self, Outcome};
use super::routing::{self, Decision};
use super::upstream::Affinity;
use crate::proxy::{ClientOrigin, Frontend, SoftStop};
use crate::stats::bump;

/// Serves requests on one client connection until either side closes it.
pub(crate) async fn serve<S>(
    mut stream: S,
    frontend: &Arc<Frontend>,
    origin: ClientOrigin,
    tls: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut input = InputBuffer::new();
    let mut scratch = Scratch {
        server_input: InputBuffer::new(),
        out: Vec::new(),
        heads: HeadScratch::new(),
        affinity: Affinity {
            origin,
            private: None,
        },
    };
    let mut request_out: Vec<u8> = Vec::new();
    let mut first = true;
    // The first request's head must be complete within `request_timeout` of the accept
    // (HAProxy `timeout http-request`); a later one's, of its first byte.
    let accepted = Instant::now();
    loop {
        let Some(http) = frontend.http() else {
            return;
        };
        let stopping = &frontend.soft_stop;
        let Some(started) = await_request(&mut stream, &mut input, &http, first, stopping).await
        else {
            return;
        };
        let head_since = if first { accepted } else { started };
        first = false;
        let head = match read_head(
            &mut stream,
            &mut input,
            &http,
            &mut scratch.heads,
            head_since,
        )
        .await
        {
            Ok(head) => head,
            Err(Stop::Close) => return,
            Err(Stop::Answer(status)) => {
                log::write(
                    &http,
                    &origin,
                    None,
                    None,
                    started,
                    Outcome::Refused(status),
                );
                return refuse(&mut stream, frontend, status, started).await;
            }
        };
        bump(&frontend.stats.http.requests);
        let mut logged = log::Request::capture(&http, &head, input.filled(), started);
        let target = match http.routes.decide(&head.view(input.filled())) {
            Decision::Forward(target) => target,
            Decision::Redirect(redirect) => {
                let location = redirect.location(&head.view(input.filled()), tls);
                // A body would have to be read past first: simpler to close after the answer.
                let keep_alive = head.keep_alive
                    && head.framing == BodyFraming::None
                    && !frontend.soft_stop.is_stopping();
                input.consume(head.len);
                scratch.heads.recycle(head.into_spans());
                let answer = redirect_response(redirect.status(), &location, keep_alive);
                bump(&frontend.stats.http.redirects);
                if stream.write_all(&answer).await.is_err() {
                    return;
                }
                frontend.stats.traffic.add_out(answer.len() as u64);
                let outcome = Outcome::Redirected(redirect.status());
                log::write(&http, &origin, None, logged, started, outcome);
                frontend
                    .stats
                    .http
                    .answered(redirect.status(), started.elapsed());
                if !keep_alive {
                    return;
                }
                continue;
            }
        };
        let backend = &target.backend;
        // Loaded once per request: the pool, the timeouts and the retries all read it.
        let settings = backend.settings();
        // The forwarded head and the body bytes already received, in one buffer: one write,
        // and the whole request is still in hand for a retry.
        let buf = input.filled();
        // Sticky sessions: looked up now, while the head's bytes are at hand.
        let sticky = settings.http.cookie.as_ref().and_then(|cookie| {
            let value = cookie.find_in(head.headers_named(buf, "cookie"))?;
            backend.server_by_cookie(value)
        });
        request_out.clear();
        let forwarding = Forwarding {
            config: &http.config.forwarded,
            client: origin.client.ip(),
            trusted: http.trusts(origin.peer.ip()),
            tls,
        };
        let upgrade = head.upgrade.is_some();
        let to_server = if upgrade {
            ConnectionHeader::Upgrade
        } else if settings.http.server_reuse {
            ConnectionHeader::Omit
        } else {
            ConnectionHeader::Close
        };
        let edits = &target.request_edits;
        write_request_head(
            &mut request_out,
            buf,
            &head,
            |name| edits.drops(name),
            Some(&forwarding),
            edits.appends(),
            to_server,
        );
        let mut body = BodyReader::new(head.framing);
        let Ok(progress) = body.feed(&buf[head.len..]) else {
            let name = Some(backend.name.as_str());
            log::write(&http, &origin, name, logged, started, Outcome::Refused(400));
            return refuse(&mut stream, frontend, 400, started).await;
        };
        if let Some(logged) = logged.as_mut() {
            logged.add_in(progress.consumed);
        }
        request_out.extend_from_slice(&buf[head.len..head.len + progress.consumed]);
        let method = Method::of(head.method(buf));
        let client_keep_alive = head.keep_alive;
        let client_http10 = head.minor_version == 0;
        input.consume(head.len + progress.consumed);
        scratch.heads.recycle(head.into_spans());

        let outgoing = Outgoing {
            bytes: &request_out,
            body,
            idempotent: method.idempotent(),
            method: method.token(),
            upgrade,
            client_keep_alive,
            client_http10,
            response_edits: &target.response_edits,
            sticky,
        };
        let mut client = ClientSide {
            stream: &mut stream,
            input: &mut input,
            frontend,
            tunnel_timeout: http.config.tunnel_timeout(),
        };
        let forwarded = forward(&mut client, &outgoing, backend, &settings, &mut scratch).await;
        let name = Some(backend.name.as_str());
        match forwarded {
            Ok(sent) => {
                frontend.stats.http.answered(sent.status, started.elapsed());
                log::write(&http, &origin, name, logged, started, Outcome::Sent(&sent));
                if !sent.keep_alive {
                    return;
                }
            }
            Err((failure, server)) => {
                let server_name = server.as_ref().map(|s| s.name.as_str());
                let outcome = Outcome::Failed(failure, server_name);
                log::write(&http, &origin, name, logged, started, outcome);
                if failure == Failure::ClientGone {
                    return;
                }
                if let Some(server) = server {
                    server.stats.http.responses.count(failure.status());
                }
                if failure == Failure::NoServer {
                    bump(&frontend.stats.no_server);
                }
                return refuse(&mut stream, frontend, failure.status(), started).await;
            }
        }
        input.shrink_if_idle();
    }
}

/// Waits for the first byte of the next request. `None`: the connection is over (closed,
/// or idle for the keep-alive timeout; the first request gets the request timeout).
///
/// When the process is stopping, an idle connection is not closed at once: a request the
/// client sends meanwhile would meet the close (RFC 9112 §9.6: the client can't tell
/// whether it was processed), so the wait goes on for [`STOP_GRACE`] more (never past the
/// keep-alive timeout) and the request that comes is answered, with `Connection: close`.
async fn await_request<S>(
    stream: &mut S,
    input: &mut InputBuffer,
    http: &HttpFrontend,
    first: bool,
    stopping: &SoftStop,
) -> Option<Instant>
where
    S: AsyncRead + Unpin,
{
    if !input.is_empty() {
        // Pipelined: the next request is already here.
        return Some(Instant::now());
    }
    let wait = if first {
        http.config.request_timeout()
    } else {
        http.config.keepalive_timeout()
    };
    let idle_until = tokio::time::Instant::now() + wait;
    let read = input.read_from(stream);
    tokio::pin!(read);
    // Closed silently, whether it timed out or not: a client that sent nothing (a browser's
    // preconnect, an idle keep-alive connection) gets no 408 (HAProxy `http-ignore-probes`).
    // Biased, the read first: a request already here costs no stop-signal registration.
    let read = tokio::select! {
        biased;
        read = &mut read => read,
        () = sleep_until(idle_until) => return None,
        () = stopping.stopped() => {
            let until = idle_until.min(tokio::time::Instant::now() + STOP_GRACE);
            timeout_at(until, read).await.ok()?
        }
    };
    match read {
        Ok(n) if n > 0 => Some(Instant::now()),
        _ => None,
    }
}

/// How long an idle connection of a stopping process still waits for a request. A client
/// that reuses a keep-alive connection does it right after its previous response, or after
/// its own think time; a request already on its way arrives within a round trip: a second
/// covers the race of RFC 9112 §9.6 on any real network and ends an HTTP drain within
/// about a second, where the keep-alive timeout (10 s by default) would hold it open long
/// for clients that are gone. Capped by the keep-alive timeout, which closes the
/// connection anyway.
pub(crate) const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// How a request head ended without a request.
enum Stop {
    /// Close without answering (the client left).
    Close,
    /// Answer with this status, then close.
    Answer(u16),
}

/// Reads until the request head is complete, within `request_timeout` of `since`.
async fn read_head<S>(
    stream: &mut S,
    input: &mut InputBuffer,
    http: &HttpFrontend,
    scratch: &mut HeadScratch,
    since: Instant,
) -> Result<RequestHead, Stop>
where
    S: AsyncRead + Unpin,
{
    let limits = Limits {
        max_header_size: http.config.max_header_size,
        max_headers: http.config.max_headers,
    };
    let deadline = tokio::time::Instant::from_std(since + http.config.request_timeout());
    loop {
        match parse_request(input.filled(), &limits, scratch) {
            Ok(Some(head)) => return Ok(head),
            Ok(None) => {}
            Err(error) => return Err(Stop::Answer(refused_status(error))),
        }
        match timeout_at(deadline, input.read_from(stream)).await {
            Err(_) => return Err(Stop::Answer(408)),
            Ok(Ok(0)) | Ok(Err(_)) => return Err(Stop::Close),
            Ok(Ok(_)) => {}
        }
    }
}

fn refused_status(error: HeadError) -> u16 {
    error.status()
}

/// Answers with fastlb's own error page and closes the connection: a lingering close
/// (HAProxy's, nginx's `lingering_close`): what the client still sends (a body nobody will
/// read) is read and dropped for a moment, so that closing with unread bytes doesn't reset
/// the connection before the client has read its answer.
#[cold]
async fn refuse<S>(stream: &mut S, frontend: &Frontend, status: u16, started: Instant)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let counters = &frontend.stats.http;
    match status {
        408 => bump(&counters.request_timeouts),
        400..=499 | 501 | 505 => bump(&counters.bad_requests),
        _ => {}
    }
    counters.answered(status, started.elapsed());
    let page = error_response(status, super::h1::reason_phrase(status));
    if stream.write_all(&page).await.is_err() {
        return;
    }
    frontend.stats.traffic.add_out(page.len() as u64);
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// How long, and how many bytes, a refused client's leftovers are read before closing.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;

/// The few methods whose handling differs (RFC 9110 §9.2.2 idempotency, HEAD framing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Head,
    Idempotent,
    Other,
}

impl Method {
    fn of(token: &[u8]) -> Method {
        match token {
            b"HEAD" => Method::Head,
            b"GET" | b"OPTIONS" | b"PUT" | b"DELETE" | b"TRACE" => Method::Idempotent,
            _ => Method::Other,
        }
    }

    fn idempotent(self) -> bool {
        self != Method::Other
    }

    /// A method token with the same response framing, for the response parser.
    fn token(self) -> &'static [u8] {
        match self {
            Method::Head => b"HEAD",
            _ => b"GET",
        }
    }
}

/// Routing reads HTTP/1 requests through the codec's view of a head and its buffer.
// NOTE: an adapter kept here until the codec implements the trait itself (docs/http.md).
impl routing::RequestHead for RequestView<'_> {
    fn method(&self) -> &[u8] {
        RequestView::method(self)
    }

    fn path(&self) -> &[u8] {
        RequestView::path(self)
    }

    fn host(&self) -> Option<&[u8]> {
        RequestView::host(self)
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        RequestView::header(self, name)
    }
}
