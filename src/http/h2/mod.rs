//! HTTP/2 to clients (RFC 9113) for `mode: http`: over TLS when the client negotiated ALPN
//! `h2` (the frontend's `alpn` decides what is offered), and h2c with prior knowledge on
//! plaintext frontends with `http.h2c: true` ([`preface`]).
//!
//! The `h2` crate does the framing, HPACK, flow control and stream states. Each stream is a
//! request and runs as its own task on the connection's worker ([`stream`]), so streams
//! proceed concurrently; each is routed and balanced on its own and sent as HTTP/1.1 over
//! the worker's pooled server connections ([`forward`]), shared with the HTTP/1.1 clients:
//! a hundred streams of one client spread over the servers and reuse their connections.
//!
//! Layout: [`request`] (routing's view of a request, the HTTP/1.1 head for the server),
//! [`response`] (the server's head as HTTP/2, fastlb's own answers), [`body`] (bodies both
//! ways under flow control), [`chunked`] (chunked server bodies into DATA and trailers).
//!
//! Limits (what HAProxy enforces, and CVE-2023-44487 "rapid reset"):
//! * `max_header_size` is the `SETTINGS_MAX_HEADER_LIST_SIZE` (RFC 9113 §6.5.2) and bounds
//!   the decoded header list, so an HPACK bomb (small frames, huge decoded fields) is cut
//!   off while decoding; `max_headers` caps the field count (431).
//! * 100 concurrent streams per connection (HAProxy `tune.h2.max-concurrent-streams`).
//! * the first request must arrive within `request_timeout` of the connection, and a
//!   connection without requests for `keepalive_timeout` gets a GOAWAY and is closed;
//! * when the process stops (`SoftStop`), every connection gets the same graceful GOAWAY
//!   at once: the streams the client opened before it are served, then it closes;
//! * a client that resets streams faster than [`MAX_CLIENT_RESETS_PER_SECOND`], or whose
//!   reset streams leave more than [`MAX_RUNNING_STREAMS`] tasks behind, gets a GOAWAY
//!   `ENHANCE_YOUR_CALM` (the `h2` crate's own caps on pending-accept and locally caused
//!   resets are set too).

mod body;
mod buffers;
mod chunked;
mod forward;
mod log;
mod preface;
mod request;
mod response;
mod stream;
#[cfg(test)]
mod tests;

pub(crate) use preface::serve_plain;

use h2::Reason;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, timeout, Instant};

use crate::proxy::{ClientOrigin, Frontend};
use crate::stats::bump;
use stream::Shared;

/// Streams a client may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`, RFC 9113
/// §6.5.2), HAProxy's default.
pub const MAX_CONCURRENT_STREAMS: u32 = 100;
/// Stream tasks a connection may have running. A reset stream frees its slot for the client
/// at once while its task winds down (a connect in progress, say): beyond this many, the
/// client is opening and resetting streams faster than they can end (CVE-2023-44487).
pub const MAX_RUNNING_STREAMS: usize = 2 * MAX_CONCURRENT_STREAMS as usize;
/// Streams the client may reset before their response is complete, per second.
pub const MAX_CLIENT_RESETS_PER_SECOND: u32 = 200;
/// Streams reset by the client before fastlb accepted them (the `h2` crate's cap).
const MAX_PENDING_ACCEPT_RESETS: usize = 20;
/// Streams fastlb resets because the client broke the protocol, over the connection.
const MAX_LOCAL_ERROR_RESETS: usize = 256;
/// Receive windows: 256 KiB per stream, 1 MiB per connection (RFC 9113 §6.9.2's 64 KiB
/// default would hold an upload to one window per round trip). Released only as bytes
/// reach the server, so they bound memory too.
const STREAM_WINDOW: u32 = 256 * 1024;
const CONNECTION_WINDOW: u32 = 1024 * 1024;

/// Serves an HTTP/2 connection (after the TLS handshake, or the h2c preface seen) until
/// the client closes it, a protocol error, the keep-alive timeout or the process's stop.
pub(crate) async fn serve<S>(io: S, frontend: &Arc<Frontend>, origin: ClientOrigin, tls: bool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    bump(&frontend.stats.http.h2_connections);
    let Some(http) = frontend.http() else {
        return;
    };
    let request_timeout = http.config.request_timeout();
    let keepalive_timeout = http.config.keepalive_timeout();
    let max_header_list = u32::try_from(http.config.max_header_size).unwrap_or(u32::MAX);
    drop(http);
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(max_header_list)
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake(io);
    // The client preface and SETTINGS are part of the first request's time.
    let mut conn = match timeout(request_timeout, handshake).await {
        Ok(Ok(conn)) => conn,
        _ => return,
    };
    let shared = Arc::new(Shared {
        frontend: frontend.clone(),
        origin,
        tls,
        running: AtomicUsize::new(0),
        client_resets: AtomicU32::new(0),
    });
    let mut resets = ResetWatch::new();
    let mut deadline = Instant::now() + request_timeout;
    loop {
        let accepted = tokio::select! {
            biased;
            accepted = conn.accept() => accepted,
            // The process is stopping: GOAWAY below, the streams in flight finish.
            () = frontend.soft_stop.stopped() => break,
            () = sleep_until(deadline) => {
                if shared.running.load(Ordering::Relaxed) > 0 {
                    // Busy, not idle: the keep-alive clock starts when the streams end.
                    deadline = Instant::now() + keepalive_timeout;
                    continue;
                }
                break;
            }
        };
        let Some(Ok((request, respond))) = accepted else {
            // Closed by the client, or a connection error the crate already sent a GOAWAY for.
            return;
        };
        if resets.exceeded(&shared) || shared.running.load(Ordering::Relaxed) >= MAX_RUNNING_STREAMS
        {
            conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
            break;
        }
        shared.running.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(stream::serve(shared.clone(), request, respond));
        deadline = Instant::now() + keepalive_timeout;
    }
    // GOAWAY, then let the streams in flight finish (RFC 9113 §6.8): the connection is
    // driven until the client and the crate have closed it.
    conn.graceful_shutdown();
    while let Some(Ok((request, respond))) = conn.accept().await {
        shared.running.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(stream::serve(shared.clone(), request, respond));
    }
    let _ = timeout(Duration::from_secs(1), poll_fn(|cx| conn.poll_closed(cx))).await;
}

/// Counts client resets per one-second window.
struct ResetWatch {
    window_start: Instant,
    at_window_start: u32,
}

impl ResetWatch {
    fn new() -> Self {
        ResetWatch {
            window_start: Instant::now(),
            at_window_start: 0,
        }
    }

    /// Whether the client reset more than [`MAX_CLIENT_RESETS_PER_SECOND`] streams in the
    /// current window. Checked as streams are accepted: a flood shows up there.
    fn exceeded(&mut self, shared: &Shared) -> bool {
        let total = shared.client_resets.load(Ordering::Relaxed);
        let now = Instant::now();
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.at_window_start = total;
            return false;
        }
        total.wrapping_sub(self.at_window_start) > MAX_CLIENT_RESETS_PER_SECOND
    }
}
