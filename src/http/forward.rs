//! The protocol-neutral upstream path, for clients that don't speak HTTP/1.1 to fastlb
//! (HTTP/2, `src/http/h2/`): a request given as parts (method, path, authority, fields, a
//! body source) goes to a server of the route's backend over the same pool, connect path
//! and retry rule as HTTP/1.1 requests, and comes back as a status, fields and a decoded
//! body stream. The HTTP/1.1 session keeps its own byte-forwarding path (`exchange`): it
//! never decodes bodies and writes heads and bodies in one write.
//!
//! Use: route with `HttpFrontend::routes.decide(&request)` (the h2 request type implements
//! `routing::RequestHead`), then `send(&context, target, &request, &mut body)`; read
//! `UpstreamResponse::data` until it returns `false`; the server connection goes back to
//! the pool then (dropping the response earlier closes it).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

use super::buffer::InputBuffer;
use super::chunked::Dechunker;
use super::exchange::Failure;
use super::frontend::HttpFrontend;
use super::h1::{
    parse_response, BodyFraming, BodyReader, Forwarding, HeadScratch, Limits, ResponseHead,
};
use super::routing::Target;
use super::upstream::{acquire, release, Affinity};
use crate::balancer::{BackendSettings, Server};
use crate::proxy::session::Upstream;
use crate::proxy::{ClientOrigin, Frontend};
use crate::stats::bump;

/// A request as parts. Fields are regular ones (no pseudo-headers); hop-by-hop fields,
/// `Host`, `Content-Length` and `Transfer-Encoding` among them are ignored (fastlb writes
/// its own from `authority` and `body_length`).
pub struct UpstreamRequest<'a> {
    pub method: &'a [u8],
    /// Origin-form: path and query.
    pub path: &'a [u8],
    pub authority: Option<&'a [u8]>,
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// `Some(n)`: exactly `n` body bytes (0: none); `None`: unknown, sent chunked.
    pub body_length: Option<u64>,
}

/// Where a request body comes from (an h2 stream's DATA frames).
pub trait RequestBody: Send {
    /// Appends the next piece of the body to `out`; `Ok(false)` at its end.
    fn next(
        &mut self,
        out: &mut Vec<u8>,
    ) -> impl std::future::Future<Output = io::Result<bool>> + Send;
}

/// A body that is empty.
pub struct NoBody;

impl RequestBody for NoBody {
    async fn next(&mut self, _out: &mut Vec<u8>) -> io::Result<bool> {
        Ok(false)
    }
}

/// The client side of a request: its frontend and connection.
pub struct Context<'a> {
    pub frontend: &'a Frontend,
    pub http: &'a HttpFrontend,
    pub origin: ClientOrigin,
    /// The client connection is TLS (`X-Forwarded-Proto: https`).
    pub tls: bool,
}

/// Sends `request` to a server of `target` and returns its final response head (interim
/// 1xx responses are skipped). A request without a body is sent again, once, on a new
/// connection when the server closed before answering (as for HTTP/1.1).
pub async fn send<B: RequestBody>(
    context: &Context<'_>,
    target: &Target,
    request: &UpstreamRequest<'_>,
    body: &mut B,
) -> Result<UpstreamResponse, Failure> {
    let backend = &target.backend;
    let settings = backend.settings();
    let head = request_head(context, target, request);
    let chunked = request.body_length.is_none();
    let replayable = request.body_length == Some(0);
    // Private (`send_proxy`) connections are not kept across an h2 connection's streams.
    let mut affinity = Affinity {
        origin: context.origin,
        private: None,
    };
    let mut allow_reuse = settings.http.server_reuse;
    let mut retried = false;
    loop {
        let acquired = acquire(backend, allow_reuse, &mut affinity).await;
        let acquired = acquired.map_err(|e| match e {
            crate::error::Error::NoServer => Failure::NoServer,
            _ => Failure::BadGateway,
        })?;
        let (server, mut conn) = (acquired.server, acquired.conn);
        bump(&server.stats.http.requests);
        let sent_at = Instant::now();
        let written = write_request(&mut conn, &head, body, chunked).await;
        let mut input = InputBuffer::new();
        let answer = match written {
            Ok(()) => read_head(&mut conn, &mut input, request.method, &settings).await,
            Err(_) if !replayable => return Err(Failure::BadGateway),
            Err(_) => Err(HeadError::Closed),
        };
        match answer {
            Ok(head) => {
                server.stats.http.response_time.record(sent_at.elapsed());
                server.stats.http.responses.count(head.status);
                return Ok(UpstreamResponse::new(
                    server, conn, input, head, settings, affinity, context,
                ));
            }
            Err(HeadError::Closed) if replayable && !retried => {
                retried = true;
                allow_reuse = false;
                bump(&server.stats.http.retried_requests);
            }
            Err(HeadError::Timeout) => return Err(Failure::Timeout),
            Err(_) => return Err(Failure::BadGateway),
        }
    }
}

/// The HTTP/1.1 head for `request`: fields copied (minus hop-by-hop, framing, the edits'
/// drops and the forwarding headers fastlb writes), then the forwarding headers, the edits'
/// appends and the framing.
fn request_head(context: &Context<'_>, target: &Target, request: &UpstreamRequest<'_>) -> Vec<u8> {
    let forwarding = Forwarding {
        config: &context.http.config.forwarded,
        client: context.origin.client.ip(),
        trusted: context.http.trusts(context.origin.peer.ip()),
        tls: context.tls,
    };
    let edits = &target.request_edits;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(request.method);
    out.push(b' ');
    out.extend_from_slice(request.path);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(authority) = request.authority {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(authority);
        out.extend_from_slice(b"\r\n");
    }
    for &(name, value) in request.headers {
        if skipped(name) || edits.drops(name) || forwarding.drops(name) {
            continue;
        }
        for part in [name, b": ", value, b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    forwarding.write(&mut out, request.headers.iter().copied(), request.authority);
    for (name, value) in edits.appends() {
        for part in [name.as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    match request.body_length {
        None => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Some(0) if !matches!(request.method, b"POST" | b"PUT" | b"PATCH") => {}
        Some(n) => out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes()),
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Fields fastlb never copies from a request given as parts (RFC 9110 §7.6.1, RFC 9113
/// §8.2.2) or writes itself.
fn skipped(name: &[u8]) -> bool {
    [
        &b"connection"[..],
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name))
}

async fn write_request<B: RequestBody>(
    conn: &mut Upstream,
    head: &[u8],
    body: &mut B,
    chunked: bool,
) -> io::Result<()> {
    conn.write_all(head).await?;
    let mut piece = Vec::new();
    loop {
        piece.clear();
        let more = body.next(&mut piece).await?;
        if !piece.is_empty() {
            if chunked {
                conn.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .await?;
                piece.extend_from_slice(b"\r\n");
            }
            conn.write_all(&piece).await?;
        }
        if !more {
            break;
        }
    }
    if chunked {
        conn.write_all(b"0\r\n\r\n").await?;
    }
    Ok(())
}

enum HeadError {
    Closed,
    Bad,
    Timeout,
}

async fn read_head(
    conn: &mut Upstream,
    input: &mut InputBuffer,
    method: &[u8],
    settings: &BackendSettings,
) -> Result<ResponseHead, HeadError> {
    let deadline = tokio::time::Instant::now() + settings.http.response_timeout();
    let mut scratch = HeadScratch::new();
    loop {
        if !input.is_empty() {
            match parse_response(input.filled(), &Limits::default(), method, &mut scratch) {
                Ok(Some(head)) if head.is_interim() => {
                    input.consume(head.len);
                    continue;
                }
                // Nothing asked for an upgrade.
                Ok(Some(head)) if head.status == 101 => return Err(HeadError::Bad),
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(_) => return Err(HeadError::Bad),
            }
        }
        let was_empty = input.is_empty();
        match tokio::time::timeout_at(deadline, input.read_from(conn)).await {
            Err(_) => return Err(HeadError::Timeout),
            Ok(Ok(0)) | Ok(Err(_)) if was_empty => return Err(HeadError::Closed),
            Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadError::Bad),
            Ok(Ok(_)) => {}
        }
    }
}

/// A server's response: status and fields at once, the body as it arrives.
pub struct UpstreamResponse {
    server: Arc<Server>,
    conn: Option<Upstream>,
    input: InputBuffer,
    /// The head's bytes (the spans of `head` point into them).
    head_bytes: Vec<u8>,
    head: ResponseHead,
    body: BodyReader,
    dechunker: Option<Dechunker>,
    settings: Arc<BackendSettings>,
    affinity: Affinity,
    idle: Duration,
}

impl UpstreamResponse {
    fn new(
        server: Arc<Server>,
        conn: Upstream,
        mut input: InputBuffer,
        head: ResponseHead,
        settings: Arc<BackendSettings>,
        affinity: Affinity,
        context: &Context<'_>,
    ) -> Self {
        let head_bytes = input.filled()[..head.len].to_vec();
        input.consume(head.len);
        UpstreamResponse {
            body: BodyReader::new(head.framing),
            dechunker: (head.framing == BodyFraming::Chunked).then(Dechunker::default),
            server,
            conn: Some(conn),
            input,
            head_bytes,
            head,
            settings,
            affinity,
            idle: context.frontend.idle_timeout(),
        }
    }

    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The server that answered.
    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }

    /// The response's fields, minus hop-by-hop and framing ones (`Content-Length` is kept:
    /// the decoded body has that length).
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.head
            .headers
            .iter()
            .map(|h| (h.name.get(&self.head_bytes), h.value.get(&self.head_bytes)))
            .filter(|(name, _)| name.eq_ignore_ascii_case(b"content-length") || !skipped(name))
    }

    /// Appends the next decoded body bytes to `out`; `Ok(false)` once the body is complete
    /// (the server connection is back in the pool then, if it can carry another request).
    pub async fn data(&mut self, out: &mut Vec<u8>) -> Result<bool, Failure> {
        loop {
            let progress = self
                .body
                .feed(self.input.filled())
                .map_err(|_| Failure::BadGateway)?;
            let raw = &self.input.filled()[..progress.consumed];
            let before = out.len();
            match &mut self.dechunker {
                Some(dechunker) => dechunker.decode(raw, out),
                None => out.extend_from_slice(raw),
            }
            self.input.consume(progress.consumed);
            if progress.complete {
                self.finish();
                return Ok(false);
            }
            if out.len() > before {
                return Ok(true);
            }
            let Some(conn) = self.conn.as_mut() else {
                return Ok(false);
            };
            match timeout(self.idle, self.input.read_from(conn)).await {
                Ok(Ok(0)) => {
                    self.body.eof().map_err(|_| Failure::BadGateway)?;
                    self.conn = None;
                    return Ok(false);
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => return Err(Failure::BadGateway),
            }
        }
    }

    fn finish(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.head.keep_alive && self.input.is_empty() && self.settings.http.server_reuse {
            release(&self.settings, &self.server, conn, &mut self.affinity);
        }
    }
}
