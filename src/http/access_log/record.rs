//! One request's access-log record, HAProxy's timers and termination states (docs/http.md).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

/// Everything one log line says about one request. All fields are owned: the session builds
/// a record only when its frontend has an access log, and hands it over whole
/// (`AccessLog::log`), so the writer thread never borrows from a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    /// When the connection carrying the request was accepted (HAProxy's "accept date"; for
    /// the second and later requests of a keep-alive connection, when that request began).
    pub accepted_at: SystemTime,
    /// The client as the frontend sees it (after PROXY protocol / trusted X-Forwarded-For).
    pub client: SocketAddr,
    pub frontend: Arc<str>,
    /// The backend that served (or would have served) the request; the frontend's name
    /// for a redirect or an error answered by the proxy itself, as HAProxy logs it.
    pub backend: Arc<str>,
    /// The server that answered; `None` when no server was reached (`<NOSRV>` in HAProxy).
    pub server: Option<Arc<str>>,
    /// Empty when the request line could not be parsed (`<BADREQ>` in the haproxy format).
    pub method: String,
    /// The Host header / `:authority` as sent (port included), empty when absent.
    pub host: String,
    /// The request target as sent, query included.
    pub path: String,
    /// `"HTTP/1.0"`, `"HTTP/1.1"` or `"HTTP/2.0"`.
    pub protocol: &'static str,
    /// The status sent to the client; 0 when none was sent (logged as -1, like HAProxy).
    pub status: u16,
    /// Bytes received from the client (head and body).
    pub bytes_in: u64,
    /// Bytes sent to the client (head and body): HAProxy's `bytes_read`.
    pub bytes_out: u64,
    pub timings: Timings,
    /// How many times the request was retried on another connection or server.
    pub retries: u32,
    /// HAProxy's two-letter termination state; see [`termination`].
    pub termination: [u8; 2],
}

/// HAProxy's timers in milliseconds (configuration manual §8.4), -1 for a step that did
/// not happen (e.g. `tw`, `tc` and `tr` of a request refused before reaching a server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Tq: from the first byte of the request to its complete head.
    pub tq: i64,
    /// Tw: time spent waiting for a server connection slot (queue).
    pub tw: i64,
    /// Tc: connecting to the server; 0 when a pooled keep-alive connection was reused.
    pub tc: i64,
    /// Tr: from the request sent to the server's complete response head.
    pub tr: i64,
    /// Ta: the request's whole active time, from its first byte to the last byte of the
    /// response.
    pub ta: i64,
}

impl Timings {
    /// No step happened: every timer -1.
    pub const NONE: Timings = Timings {
        tq: -1,
        tw: -1,
        tc: -1,
        tr: -1,
        ta: -1,
    };
}

/// HAProxy's termination states (configuration manual §8.5): the first letter says who or
/// what ended the session, the second in which phase. `--` is a normal end.
///
/// First letter: `C` client aborted, `S` server aborted or refused, `P` the proxy refused
/// (a bad request, a limit), `L` processed locally (a redirect), `R` a resource was exhausted, `I` internal error, `c` client
/// timeout, `s` server timeout, `-` normal. Second letter: `R` waiting for the complete
/// request head, `Q` queued, `C` connecting to the server, `H` waiting for the response
/// head, `D` transferring data, `L` last data sent (server closed first), `-` normal.
pub mod termination {
    /// Normal completion.
    pub const NORMAL: [u8; 2] = *b"--";
    /// The client closed before its request head was complete.
    pub const CLIENT_ABORT_REQUEST: [u8; 2] = *b"CR";
    /// The client's request head did not arrive in `request_timeout` (408).
    pub const CLIENT_TIMEOUT_REQUEST: [u8; 2] = *b"cR";
    /// The client closed while the response head was awaited from the server.
    pub const CLIENT_ABORT_HEADERS: [u8; 2] = *b"CH";
    /// The client closed during the body transfer (either way).
    pub const CLIENT_ABORT_DATA: [u8; 2] = *b"CD";
    /// The client stopped reading or sending during the body transfer for too long.
    pub const CLIENT_TIMEOUT_DATA: [u8; 2] = *b"cD";
    /// The proxy refused the request: malformed (400), head too large (431), smuggling.
    pub const PROXY_REFUSED_REQUEST: [u8; 2] = *b"PR";
    /// The proxy answered the request itself (a redirect) without passing it to a server.
    pub const LOCAL: [u8; 2] = *b"LR";
    /// No server could be connected to (refused, unreachable, none up): 503 or 502.
    pub const SERVER_REFUSED_CONNECT: [u8; 2] = *b"SC";
    /// Connecting to the server timed out (503).
    pub const SERVER_TIMEOUT_CONNECT: [u8; 2] = *b"sC";
    /// The server closed or sent an invalid response before a complete head (502).
    pub const SERVER_ABORT_HEADERS: [u8; 2] = *b"SH";
    /// The server's response head did not arrive in `response_timeout` (504).
    pub const SERVER_TIMEOUT_HEADERS: [u8; 2] = *b"sH";
    /// The server closed during the response body.
    pub const SERVER_ABORT_DATA: [u8; 2] = *b"SD";
    /// The server stopped sending the body for too long.
    pub const SERVER_TIMEOUT_DATA: [u8; 2] = *b"sD";
    /// A resource ran out (connection limits, memory) while setting up the server side.
    pub const RESOURCE_CONNECT: [u8; 2] = *b"RC";
    /// A bug or an unexpected internal error.
    pub const INTERNAL: [u8; 2] = *b"IR";
}
