//! One HTTP/1.1 request forwarded to a server and its response brought back: the request
//! (head rewritten by the session, body streamed) to a pooled or new server connection,
//! interim 1xx responses relayed, the final response head and body streamed to the client,
//! and the server connection given back to the pool when it can carry another request.
//!
//! The retry rule (HAProxy `retry-on conn-failure empty-response` with `http-reuse safe`):
//! a request is sent again, once, on a new connection when the server closed or reset the
//! connection before any byte of a response, the whole request is still in hand, and the
//! request is idempotent (RFC 9110 §9.2.2) or went over a reused connection whose write
//! failed (the server never took it). Never after a response byte arrived.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout_at;

use super::buffer::InputBuffer;
use super::cookie;
use super::h1::{
    parse_response, write_response_head, BodyFraming, BodyReader, ConnectionHeader, HeadScratch,
    Limits, ResponseHead,
};
use super::routing::HeaderEdits;
use super::transfer::{stream_body, Meter};
use super::tunnel;
use super::upstream::{acquire, release, Acquired, Affinity};
use super::HttpBackendConfig;
use crate::balancer::{Backend, BackendSettings, Server};
use crate::error::Error;
use crate::proxy::session::ServerStream;
use crate::proxy::Frontend;
use crate::stats::bump;

/// Why no response came from a server; the session answers with the status (nothing was
/// sent to the client yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 503: no server to send it to.
    NoServer,
    /// 502: connect failed, the server closed early or sent a bad response.
    BadGateway,
    /// 504: the response head did not arrive within `response_timeout`.
    Timeout,
    /// The client went away (or stalled) while its body was being forwarded: no answer.
    ClientGone,
}

impl Failure {
    pub fn status(self) -> u16 {
        match self {
            Failure::NoServer => 503,
            Failure::BadGateway | Failure::ClientGone => 502,
            Failure::Timeout => 504,
        }
    }
}

/// The request, as the session hands it over.
pub(crate) struct Outgoing<'a> {
    /// The rewritten head and the request body bytes already received.
    pub bytes: &'a [u8],
    /// The request body, fed up to the end of `bytes`.
    pub body: BodyReader,
    pub idempotent: bool,
    /// The method, for the response framing (HEAD: no body).
    pub method: &'a [u8],
    /// The request asked for an `Upgrade` (a 101 may follow).
    pub upgrade: bool,
    /// The client keeps its connection open after this exchange (if it can).
    pub client_keep_alive: bool,
    /// HTTP/1.0 client: keep-alive must be announced explicitly.
    pub client_http10: bool,
    /// Response header edits (the frontend's, then the route's).
    pub response_edits: &'a HeaderEdits,
    /// The server the request's persistence cookie names, if it can take requests.
    pub sticky: Option<Arc<Server>>,
}

/// A client connection's side of an exchange.
pub(crate) struct ClientSide<'a, S> {
    pub stream: &'a mut S,
    pub input: &'a mut InputBuffer,
    pub frontend: &'a Frontend,
    pub tunnel_timeout: Duration,
}

/// What was sent to the client.
pub(crate) struct Sent {
    pub status: u16,
    pub server: Arc<Server>,
    /// The client connection can take another request.
    pub keep_alive: bool,
    pub retries: u32,
    /// Bytes of the response (head and body) sent to the client.
    pub bytes_out: u64,
    /// Tr: the request sent until the response head arrived.
    pub response_time: Duration,
    /// Tc in milliseconds: 0 for a reused connection.
    pub connect_ms: i64,
}

/// Scratch space reused across a connection's exchanges.
pub(crate) struct Scratch {
    pub server_input: InputBuffer,
    pub out: Vec<u8>,
    pub heads: HeadScratch,
    /// The client's origin and private server connection (`send_proxy`).
    pub affinity: Affinity,
}

/// Forwards one request to a server of `backend` and streams the response back. An `Err`
/// means nothing was sent to the client, with the server tried if there was one.
pub(crate) async fn forward<S>(
    client: &mut ClientSide<'_, S>,
    request: &Outgoing<'_>,
    backend: &Backend,
    settings: &BackendSettings,
    scratch: &mut Scratch,
) -> Result<Sent, (Failure, Option<Arc<Server>>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let http = &settings.http;
    let idle = client.frontend.idle_timeout();
    let mut retries = 0;
    let mut allow_pool = http.server_reuse;
    loop {
        let acquiring = Instant::now();
        let sticky = request.sticky.as_ref();
        let Acquired {
            server,
            mut conn,
            reused,
            stuck,
            in_flight: _in_flight,
        } = match acquire(backend, settings, allow_pool, &mut scratch.affinity, sticky).await {
            Ok(acquired) => acquired,
            Err(Error::NoServer) => return Err((Failure::NoServer, None)),
            Err(_) => return Err((Failure::BadGateway, None)),
        };
        let connect_ms = if reused {
            0
        } else {
            i64::try_from(acquiring.elapsed().as_millis()).unwrap_or(i64::MAX)
        };
        bump(&server.stats.http.requests);
        scratch.server_input.clear();
        let meter = Meter::new(client.frontend, &server);
        let sent_at = Instant::now();
        let mut body = request.body.clone();
        let head = match conn.write_all(request.bytes).await {
            Ok(()) => {
                meter.to_server(request.bytes.len());
                if body.is_complete() {
                    read_head(&mut conn, client, request, http, scratch, &meter).await
                } else {
                    // The rest of the body comes from the client now. The server may answer
                    // first (a 100 Continue, an early error): heads are read concurrently.
                    upload_and_read_head(
                        &mut conn, client, request, &mut body, http, idle, scratch, &meter,
                    )
                    .await
                }
            }
            Err(_) => Err(HeadFailure::WriteFailed),
        };
        let response = match head {
            Ok(response) => response,
            Err(error) => {
                let replay = !request.upgrade
                    && retries == 0
                    && error.before_response()
                    && request.body.is_complete()
                    && (request.idempotent || (reused && error == HeadFailure::WriteFailed));
                if replay {
                    retries += 1;
                    allow_pool = false;
                    bump(&server.stats.http.retried_requests);
                    continue;
                }
                return Err((error.failure(), Some(server)));
            }
        };
        let response_time = sent_at.elapsed();
        server.stats.http.response_time.record(response_time);
        server.stats.http.responses.count(response.status);
        let to_server = ToServer {
            conn,
            server: &server,
            stuck,
        };
        let delivered = deliver(
            client, request, &response, to_server, body, settings, idle, scratch, &meter,
        )
        .await;
        scratch.heads.recycle(response.into_spans());
        let bytes_out = meter.bytes_to_client();
        return Ok(Sent {
            status: delivered.status,
            keep_alive: delivered.keep_alive,
            server,
            retries,
            bytes_out,
            response_time,
            connect_ms,
        });
    }
}

/// How an exchange ended before a response head reached the client (HTTP/1.1 and h2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadFailure {
    /// Writing the request failed.
    WriteFailed,
    /// The server closed or reset the connection before any response byte.
    Closed,
    /// ... after some bytes of a head (a partial head, or interim responses).
    Truncated,
    /// An unparsable or refused head, or an unexpected 101.
    Bad,
    /// No head within the backend's `response_timeout`.
    Timeout,
    /// The client went away (its body could not be read, or it reset the h2 stream).
    Client,
}

impl HeadFailure {
    /// Nothing of a response came: the request may be retried on a fresh connection.
    pub(crate) fn before_response(self) -> bool {
        matches!(self, HeadFailure::WriteFailed | HeadFailure::Closed)
    }

    pub(crate) fn failure(self) -> Failure {
        match self {
            HeadFailure::Timeout => Failure::Timeout,
            HeadFailure::Client => Failure::ClientGone,
            _ => Failure::BadGateway,
        }
    }
}

/// Reads the server's final response head into `scratch.server_input`, relaying interim
/// 1xx responses (100 Continue, 103 Early Hints) to the client as they come.
async fn read_head<R, S>(
    server: &mut R,
    client: &mut ClientSide<'_, S>,
    request: &Outgoing<'_>,
    http: &HttpBackendConfig,
    scratch: &mut Scratch,
    meter: &Meter<'_>,
) -> Result<ResponseHead, HeadFailure>
where
    R: tokio::io::AsyncRead + Unpin,
    S: AsyncWrite + Unpin,
{
    read_head_parts(server, client.stream, request, http, scratch, meter).await
}

async fn read_head_parts<R, W>(
    server: &mut R,
    client: &mut W,
    request: &Outgoing<'_>,
    http: &HttpBackendConfig,
    scratch: &mut Scratch,
    meter: &Meter<'_>,
) -> Result<ResponseHead, HeadFailure>
where
    R: tokio::io::AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + http.response_timeout();
    let limits = Limits::default();
    let mut seen_any = false;
    loop {
        let input = &mut scratch.server_input;
        if !input.is_empty() {
            match parse_response(input.filled(), &limits, request.method, &mut scratch.heads) {
                Ok(Some(head)) if head.is_interim() => {
                    let len = head.len;
                    scratch.heads.recycle(head.into_spans());
                    client
                        .write_all(&input.filled()[..len])
                        .await
                        .map_err(|_| HeadFailure::Client)?;
                    meter.to_client(len);
                    input.consume(len);
                    continue;
                }
                Ok(Some(head)) if head.status == 101 && !request.upgrade => {
                    return Err(HeadFailure::Bad)
                }
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(_) => return Err(HeadFailure::Bad),
            }
        }
        match timeout_at(deadline, input.read_from(server)).await {
            Err(_) => return Err(HeadFailure::Timeout),
            Ok(Ok(0)) | Ok(Err(_)) if !seen_any && input.is_empty() => {
                return Err(HeadFailure::Closed)
            }
            Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadFailure::Truncated),
            Ok(Ok(_)) => seen_any = true,
        }
    }
}

/// The request body streams from the client while the response head is awaited.
#[allow(clippy::too_many_arguments)]
async fn upload_and_read_head<S>(
    conn: &mut ServerStream,
    client: &mut ClientSide<'_, S>,
    request: &Outgoing<'_>,
    body: &mut BodyReader,
    http: &HttpBackendConfig,
    idle: Duration,
    scratch: &mut Scratch,
    meter: &Meter<'_>,
) -> Result<ResponseHead, HeadFailure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut server_read, mut server_write) = tokio::io::split(conn);
    let (mut client_read, mut client_write) = tokio::io::split(&mut *client.stream);
    let upload = stream_body(
        body,
        &mut client_read,
        client.input,
        &mut server_write,
        None,
        idle,
        |n| meter.to_server(n),
    );
    let head = read_head_parts(
        &mut server_read,
        &mut client_write,
        request,
        http,
        scratch,
        meter,
    );
    tokio::pin!(upload, head);
    tokio::select! {
        uploaded = &mut upload => match uploaded {
            Ok(()) => head.await,
            Err(_) => Err(HeadFailure::Client),
        },
        // An answer before the whole body: the rest of the body is not forwarded, so neither
        // connection can carry another request (see `deliver`: `body` is incomplete).
        early = &mut head => early,
    }
}

struct Delivered {
    status: u16,
    keep_alive: bool,
}

/// The server side of a delivery: its connection, and whether the request's cookie named it.
struct ToServer<'a> {
    conn: ServerStream,
    server: &'a Arc<Server>,
    stuck: bool,
}

/// Sends the final response head and streams its body to the client; then the server
/// connection goes back to the pool if it can carry another request, or becomes a tunnel
/// after a 101.
#[allow(clippy::too_many_arguments)]
async fn deliver<S>(
    client: &mut ClientSide<'_, S>,
    request: &Outgoing<'_>,
    response: &ResponseHead,
    to_server: ToServer<'_>,
    request_body: BodyReader,
    settings: &BackendSettings,
    idle: Duration,
    scratch: &mut Scratch,
    meter: &Meter<'_>,
) -> Delivered
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ToServer {
        mut conn,
        server,
        stuck,
    } = to_server;
    let status = response.status;
    let upgraded = status == 101;
    let request_done = request_body.is_complete();
    let until_close = response.framing == BodyFraming::UntilClose;
    // A stopping process answers the exchange in progress as the connection's last (read
    // as the head is written: a stop during the exchange still closes it).
    let keep_client = request.client_keep_alive
        && request_done
        && !until_close
        && !upgraded
        && !client.frontend.soft_stop.is_stopping();
    let connection = if upgraded {
        ConnectionHeader::Upgrade
    } else if !keep_client {
        ConnectionHeader::Close
    } else if request.client_http10 {
        ConnectionHeader::KeepAlive
    } else {
        ConnectionHeader::Omit
    };
    let out = &mut scratch.out;
    out.clear();
    let input = &mut scratch.server_input;
    let edits = request.response_edits;
    let inserted = cookie::to_insert(settings.http.cookie.as_ref(), server, stuck);
    let cookie_fields = inserted.iter().flat_map(cookie::Inserted::fields);
    write_response_head(
        out,
        input.filled(),
        response,
        |name| edits.drops(name),
        edits.appends().chain(cookie_fields),
        connection,
    );
    input.consume(response.len);
    if upgraded {
        let sent = client.stream.write_all(out).await;
        meter.to_client(out.len());
        if sent.is_ok() {
            bump(&client.frontend.stats.http.websocket_upgrades);
            let _ = tunnel::run(
                client.stream,
                client.input,
                &mut conn,
                input,
                client.tunnel_timeout,
                client.frontend,
                server,
            )
            .await;
        }
        return Delivered {
            status,
            keep_alive: false,
        };
    }
    let mut body = BodyReader::new(response.framing);
    let streamed = stream_body(
        &mut body,
        &mut conn,
        input,
        client.stream,
        Some(out),
        idle,
        |n| meter.to_client(n),
    )
    .await;
    let complete = streamed.is_ok() && body.is_complete();
    let reusable = complete && request_done && response.keep_alive && input.is_empty();
    if reusable && settings.http.server_reuse {
        release(settings, server, conn, &mut scratch.affinity);
    }
    Delivered {
        status,
        keep_alive: keep_client && complete,
    }
}
