//! Streaming a message body from one connection to the other: raw bytes as framed (never
//! re-encoded), the framing followed by the codec's `BodyReader`, bounded by the
//! frontend's idle timeout between reads; and the byte counters of an exchange.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::buffer::InputBuffer;
use super::h1::BodyReader;
use crate::balancer::Server;
use crate::proxy::Frontend;

/// Why a body could not be passed on whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferError {
    /// Malformed chunked framing, or the source closed before the end.
    Framing,
    /// Reading the source failed, or it sent nothing for the idle timeout.
    Source,
    /// Writing to the destination failed.
    Destination,
}

/// Forwards the body that `body` follows: first what `input` already holds, then reads
/// from `src`, until the body is complete (the bytes after it stay in `input`: the next
/// pipelined message). `prefix` (a head not yet written) goes out in the same write as
/// the first body bytes. `sent` is told of every write.
pub(crate) async fn stream_body<R, W>(
    body: &mut BodyReader,
    src: &mut R,
    input: &mut InputBuffer,
    dst: &mut W,
    mut prefix: Option<&mut Vec<u8>>,
    idle: Duration,
    sent: impl Fn(usize),
) -> Result<(), TransferError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let progress = body
            .feed(input.filled())
            .map_err(|_| TransferError::Framing)?;
        let chunk = &input.filled()[..progress.consumed];
        match prefix.take() {
            Some(out) => {
                // Head and first body bytes in one write (one segment for small responses).
                out.extend_from_slice(chunk);
                write(dst, out, &sent).await?;
            }
            None if !chunk.is_empty() => write(dst, chunk, &sent).await?,
            None => {}
        }
        input.consume(progress.consumed);
        if progress.complete {
            return Ok(());
        }
        match tokio::time::timeout(idle, input.read_from(src)).await {
            Ok(Ok(0)) => {
                // A close-delimited body ends here; any other is truncated.
                return body.eof().map_err(|_| TransferError::Framing);
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return Err(TransferError::Source),
        }
    }
}

async fn write<W: AsyncWrite + Unpin>(
    dst: &mut W,
    bytes: &[u8],
    sent: &impl Fn(usize),
) -> Result<(), TransferError> {
    dst.write_all(bytes)
        .await
        .map_err(|_| TransferError::Destination)?;
    sent(bytes.len());
    Ok(())
}

/// Counts an exchange's bytes on the frontend and the server (HAProxy's `bin`/`bout`) and
/// remembers how many went to the client (for the access log).
pub(crate) struct Meter<'a> {
    frontend: &'a Frontend,
    server: &'a Server,
    /// Only this task touches it; atomic because session futures must be `Send`.
    to_client: AtomicU64,
}

impl<'a> Meter<'a> {
    pub fn new(frontend: &'a Frontend, server: &'a Server) -> Self {
        Meter {
            frontend,
            server,
            to_client: AtomicU64::new(0),
        }
    }

    #[inline]
    pub fn to_server(&self, bytes: usize) {
        self.frontend.stats.traffic.add_in(bytes as u64);
        self.server.stats.traffic.add_in(bytes as u64);
    }

    #[inline]
    pub fn to_client(&self, bytes: usize) {
        self.frontend.stats.traffic.add_out(bytes as u64);
        self.server.stats.traffic.add_out(bytes as u64);
        self.to_client.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn bytes_to_client(&self) -> u64 {
        self.to_client.load(Ordering::Relaxed)
    }
}
