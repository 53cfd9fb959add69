//! One HTTP/2 stream's request sent to an HTTP/1.1 server of its backend and the response
//! brought back on the stream: the same upstream path as the HTTP/1.1 side (`acquire`: a
//! pooled connection of this worker or a new one, with connect retries; `pool::put` after a
//! clean exchange), so streams of every client share the worker's keep-alive connections.
//!
//! The retry rule is the HTTP/1.1 side's (HAProxy `retry-on conn-failure empty-response`,
//! `http-reuse safe`): a request without a body whose server connection closed before any
//! response byte is sent once more on a new connection when it is idempotent (RFC 9110
//! §9.2.2) or when writing it to a reused connection failed. A request with a body is
//! streamed, so it is never replayed.

use bytes::{Buf, Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use http::header::{HeaderName, HeaderValue, COOKIE};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout_at;

use super::body::{download, upload, BodyFailure};
use super::buffers::StreamBuffers;
use super::request::{idempotent, write_h1_head, Forward, H2Request, UploadFraming};
use super::response::from_h1;
use crate::balancer::Server;
use crate::error::Error;
use crate::http::buffer::CHUNK;
use crate::http::cookie;
use crate::http::exchange::Failure;
use crate::http::exchange::HeadFailure;
use crate::http::h1::{parse_response, BodyFraming, Forwarding, HeadScratch, Limits, ResponseHead};
use crate::http::routing::Target;
use crate::http::transfer::Meter;
use crate::http::upstream::{acquire, release, Acquired, Affinity};
use crate::http::HttpBackendConfig;
use crate::proxy::{ClientOrigin, Frontend};
use crate::stats::bump;

/// What a stream needs of its connection to forward a request.
pub(crate) struct StreamContext<'a> {
    pub frontend: &'a Frontend,
    pub origin: ClientOrigin,
    pub forwarding: Forwarding<'a>,
    /// The frontend's idle timeout: the longest wait for a body byte or window update.
    pub idle: Duration,
}

/// A response that was (at least partly) sent on the stream.
pub(crate) struct Sent {
    pub status: u16,
    pub server: Arc<Server>,
    pub retries: u32,
    /// Body bytes sent to the client.
    pub bytes_out: u64,
    /// `None`: the whole body was sent; else who cut it short (the stream was reset).
    pub aborted: Option<BodyFailure>,
    /// Tr: from the request sent to the response head received.
    pub response_time: Duration,
}

/// Forwards `request` to a server of `target`'s backend and answers on `respond`. An `Err`
/// means nothing was sent on the stream yet (the caller answers with the failure's status,
/// unless the client is gone), with the server that was tried if any.
pub(crate) async fn forward(
    ctx: &StreamContext<'_>,
    request: &H2Request<'_>,
    body: RecvStream,
    target: &Target,
    respond: &mut SendResponse<Bytes>,
) -> Result<Sent, (Failure, Option<Arc<Server>>)> {
    let backend = &target.backend;
    let settings = backend.settings();
    let http = &settings.http;
    let framing = UploadFraming::of(request.parts, body.is_end_stream());
    // The worker's free lists give both buffers back when `buffers` drops, at the end.
    let mut buffers = StreamBuffers::take();
    let StreamBuffers { input, head } = &mut buffers;
    let forward = Forward {
        edits: &target.request_edits,
        forwarding: &ctx.forwarding,
        framing,
        close: !http.server_reuse,
    };
    write_h1_head(head, request, &forward);
    let mut body = Some(body);
    let mut scratch = HeadScratch::new();
    let mut retries = 0;
    let mut allow_pool = http.server_reuse;
    // Under `send_proxy` a server connection names its client and is never pooled for
    // others; a stream keeps no private connection beyond itself (it is closed after).
    let mut affinity = Affinity {
        origin: ctx.origin,
        private: None,
    };
    let sticky = http.cookie.as_ref().and_then(|cookie| {
        let fields = request.parts.headers.get_all(COOKIE).iter();
        let value = cookie.find_in(fields.map(HeaderValue::as_bytes))?;
        backend.server_by_cookie(value)
    });
    loop {
        let Acquired {
            server,
            mut conn,
            reused,
            stuck,
            in_flight: _in_flight,
        } = match acquire(
            backend,
            &settings,
            allow_pool,
            &mut affinity,
            sticky.as_ref(),
        )
        .await
        {
            Ok(acquired) => acquired,
            Err(Error::NoServer) => return Err((Failure::NoServer, None)),
            Err(_) => return Err((Failure::BadGateway, None)),
        };
        bump(&server.stats.http.requests);
        let meter = Meter::new(ctx.frontend, &server);
        input.clear();
        let exchange = Exchange {
            respond: &mut *respond,
            input: &mut *input,
            scratch: &mut scratch,
            method: request.parts.method.as_str().as_bytes(),
            target,
            http,
            idle: ctx.idle,
            meter: &meter,
            server: &server,
            stuck,
            sent_at: Instant::now(),
        };
        let outcome = match conn.write_all(head).await {
            Err(_) => Err(HeadFailure::WriteFailed),
            Ok(()) => {
                meter.to_server(head.len());
                match body.take().filter(|_| framing != UploadFraming::None) {
                    None => exchange.run(&mut conn, std::future::ready(Ok(()))).await,
                    Some(recv) => {
                        let (mut read, mut write) = tokio::io::split(&mut conn);
                        let uploading = upload(recv, &mut write, framing, ctx.idle, &meter);
                        exchange.run(&mut read, uploading).await
                    }
                }
            }
        };
        let bytes_out = meter.bytes_to_client();
        match outcome {
            Ok(delivered) => {
                if delivered.reusable && http.server_reuse {
                    release(&settings, &server, conn, &mut affinity);
                }
                return Ok(Sent {
                    status: delivered.status,
                    server,
                    retries,
                    bytes_out,
                    aborted: delivered.aborted,
                    response_time: delivered.response_time,
                });
            }
            Err(failure) => {
                let replay = retries == 0
                    && framing == UploadFraming::None
                    && failure.before_response()
                    && (idempotent(&request.parts.method)
                        || (reused && failure == HeadFailure::WriteFailed));
                if replay {
                    retries += 1;
                    allow_pool = false;
                    bump(&server.stats.http.retried_requests);
                    continue;
                }
                return Err((failure.failure(), Some(server)));
            }
        }
    }
}

/// The response of one attempt, sent on the stream.
struct Delivered {
    status: u16,
    /// The server connection can carry another request.
    reusable: bool,
    aborted: Option<BodyFailure>,
    response_time: Duration,
}

/// One attempt on one server connection.
struct Exchange<'a, 'm> {
    respond: &'a mut SendResponse<Bytes>,
    input: &'a mut BytesMut,
    scratch: &'a mut HeadScratch,
    method: &'a [u8],
    target: &'a Target,
    http: &'a HttpBackendConfig,
    idle: Duration,
    meter: &'a Meter<'m>,
    server: &'a Server,
    /// The request's persistence cookie named this server (no `Set-Cookie` then).
    stuck: bool,
    sent_at: Instant,
}

/// Where the request body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upload {
    Running,
    Done,
    /// The server stopped taking it (it may still answer: an early 413, say).
    Stopped,
}

impl Exchange<'_, '_> {
    /// Reads the response head from `server` while `uploading` sends the request body,
    /// sends it on the stream, then streams the body.
    async fn run<R, U>(self, server: &mut R, uploading: U) -> Result<Delivered, HeadFailure>
    where
        R: AsyncRead + Unpin,
        U: Future<Output = Result<(), BodyFailure>>,
    {
        let mut uploading = pin!(uploading);
        let mut upload = Upload::Running;
        let deadline = tokio::time::Instant::now() + self.http.response_timeout();
        let mut interim_seen = false;
        let head = loop {
            let read = tokio::select! {
                done = &mut uploading, if upload == Upload::Running => {
                    upload = match done {
                        Ok(()) => Upload::Done,
                        Err(BodyFailure::Server) => Upload::Stopped,
                        Err(BodyFailure::Client) => return Err(HeadFailure::Client),
                    };
                    continue;
                }
                _ = poll_fn(|cx| self.respond.poll_reset(cx)) => return Err(HeadFailure::Client),
                read = timeout_at(deadline, read_head(server, self.input, self.method, self.scratch)) => read,
            };
            match read {
                Err(_) => return Err(HeadFailure::Timeout),
                Ok(Err(HeadFailure::Closed)) if interim_seen => return Err(HeadFailure::Truncated),
                Ok(Err(failure)) => return Err(failure),
                Ok(Ok(head)) if head.is_interim() => {
                    // 100 Continue, 103 Early Hints: relayed as informational HEADERS
                    // (RFC 9113 §8.1); a client that can't take one loses nothing.
                    interim_seen = true;
                    let interim = from_h1(self.input, &head, &Default::default());
                    let _ = self.respond.send_informational(interim);
                    self.input.advance(head.len);
                    self.scratch.recycle(head.into_spans());
                }
                Ok(Ok(head)) if head.status == 101 => return Err(HeadFailure::Bad),
                Ok(Ok(head)) => break head,
            }
        };
        let response_time = self.sent_at.elapsed();
        let server_stats = &self.server.stats.http;
        server_stats.response_time.record(response_time);
        server_stats.responses.count(head.status);
        let mut response = from_h1(self.input, &head, &self.target.response_edits);
        let inserted = cookie::to_insert(self.http.cookie.as_ref(), self.server, self.stuck);
        for (name, value) in inserted.iter().flat_map(cookie::Inserted::fields) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        let status = head.status;
        let framing = head.framing;
        let keep_alive = head.keep_alive;
        let no_body = matches!(framing, BodyFraming::None | BodyFraming::Length(0));
        self.meter.to_client(head.len);
        self.input.advance(head.len);
        self.scratch.recycle(head.into_spans());
        let Ok(mut send) = self.respond.send_response(response, no_body) else {
            return Ok(Delivered {
                status,
                reusable: false,
                aborted: Some(BodyFailure::Client),
                response_time,
            });
        };
        let body = {
            let downloading = async {
                if no_body {
                    Ok(true)
                } else {
                    download(
                        server, self.input, framing, &mut send, self.idle, self.meter,
                    )
                    .await
                }
            };
            let mut downloading = pin!(downloading);
            loop {
                tokio::select! {
                    done = &mut uploading, if upload == Upload::Running => {
                        upload = match done {
                            Ok(()) => Upload::Done,
                            Err(BodyFailure::Server) => Upload::Stopped,
                            Err(BodyFailure::Client) => break Err(BodyFailure::Client),
                        };
                    }
                    body = &mut downloading => break body,
                }
            }
        };
        let aborted = body.err();
        if aborted.is_some() {
            // RFC 9113 §8.1: a response cut short is reset, never ended as if whole.
            send.send_reset(Reason::INTERNAL_ERROR);
        }
        Ok(Delivered {
            status,
            reusable: body == Ok(true)
                && upload == Upload::Done
                && keep_alive
                && self.input.is_empty(),
            aborted,
            response_time,
        })
    }
}

/// Reads until `input` holds a complete response head (interim ones included).
async fn read_head<R>(
    server: &mut R,
    input: &mut BytesMut,
    method: &[u8],
    scratch: &mut HeadScratch,
) -> Result<ResponseHead, HeadFailure>
where
    R: AsyncRead + Unpin,
{
    // The HTTP/1.1 side's limits for server heads (HAProxy's `tune.bufsize`).
    let limits = Limits::default();
    loop {
        if !input.is_empty() {
            match parse_response(input, &limits, method, scratch) {
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(_) => return Err(HeadFailure::Bad),
            }
        }
        input.reserve(CHUNK);
        match server.read_buf(input).await {
            Ok(0) | Err(_) if input.is_empty() => return Err(HeadFailure::Closed),
            Ok(0) | Err(_) => return Err(HeadFailure::Truncated),
            Ok(_) => {}
        }
    }
}
