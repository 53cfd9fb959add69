//! Moving bodies between an HTTP/2 stream and an HTTP/1.1 server connection.
//!
//! Upload: the client's DATA frames go to the server as they arrive (as they are under a
//! `Content-Length`, else in chunked coding), and the stream's receive window is released
//! only once a chunk was written, so a slow server slows the client down (RFC 9113 §5.2).
//! Download: the server's body (length-delimited, chunked, or until close) becomes DATA
//! frames sent as the client's window allows (`reserve_capacity` / `poll_capacity`), then
//! the end of the stream or the trailers.

use bytes::{Buf, Bytes, BytesMut};
use h2::{RecvStream, SendStream};
use std::future::poll_fn;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::chunked::{ChunkedDecoder, Piece};
use super::request::UploadFraming;
use crate::http::buffer::CHUNK;
use crate::http::h1::BodyFraming;
use crate::http::transfer::Meter;

/// Bodies up to this size are copied out of the read buffer rather than sliced from it.
const SMALL_COPY: usize = 4096;

/// Why a body stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// The client reset the stream, went away, or stalled for the idle timeout.
    Client,
    /// The server closed early, stalled, or framed its body badly.
    Server,
}

/// Forwards the request body of `recv` to `server` in `framing`, trailers included when
/// chunked (RFC 9112 §7.1.2). Each idle wait for the client is bounded by `idle`.
pub(crate) async fn upload<W>(
    mut recv: RecvStream,
    server: &mut W,
    framing: UploadFraming,
    idle: Duration,
    meter: &Meter<'_>,
) -> Result<(), BodyFailure>
where
    W: AsyncWrite + Unpin,
{
    let chunked = framing == UploadFraming::Chunked;
    // One buffer for the chunk framing of every DATA frame (one write per frame).
    let mut framed: Vec<u8> = Vec::new();
    loop {
        let data = match timeout(idle, recv.data()).await {
            Ok(Some(Ok(data))) => data,
            Ok(None) => break,
            Ok(Some(Err(_))) | Err(_) => return Err(BodyFailure::Client),
        };
        let len = data.len();
        if len == 0 {
            continue;
        }
        let written = if chunked {
            framed.clear();
            framed.extend_from_slice(format_args_hex(len).as_bytes());
            framed.extend_from_slice(&data);
            framed.extend_from_slice(b"\r\n");
            server.write_all(&framed).await.map(|()| framed.len())
        } else {
            server.write_all(&data).await.map(|()| len)
        };
        let written = written.map_err(|_| BodyFailure::Server)?;
        meter.to_server(written);
        // The server took it: the client may send that much more.
        let _ = recv.flow_control().release_capacity(len);
    }
    if chunked {
        framed.clear();
        framed.extend_from_slice(b"0\r\n");
        if let Ok(Ok(Some(trailers))) = timeout(idle, recv.trailers()).await {
            for (name, value) in &trailers {
                framed.extend_from_slice(name.as_str().as_bytes());
                framed.extend_from_slice(b": ");
                framed.extend_from_slice(value.as_bytes());
                framed.extend_from_slice(b"\r\n");
            }
        }
        framed.extend_from_slice(b"\r\n");
        server
            .write_all(&framed)
            .await
            .map_err(|_| BodyFailure::Server)?;
        meter.to_server(framed.len());
    }
    Ok(())
}

/// `{len:x}\r\n` without going through the formatter's allocation.
fn format_args_hex(len: usize) -> HexLine {
    let mut line = HexLine {
        bytes: [0; 18],
        start: 16,
    };
    line.bytes[16] = b'\r';
    line.bytes[17] = b'\n';
    let mut rest = len;
    loop {
        line.start -= 1;
        line.bytes[line.start] = b"0123456789abcdef"[rest & 0xf];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    line
}

struct HexLine {
    bytes: [u8; 18],
    start: usize,
}

impl HexLine {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// Streams the response body framed as `framing` from `server` (what `input` already holds
/// first) to the client's stream. `Ok(true)`: the body ended where its framing says, and
/// the server connection can carry another request (`input` holds nothing more).
pub(crate) async fn download<R>(
    server: &mut R,
    input: &mut BytesMut,
    framing: BodyFraming,
    send: &mut SendStream<Bytes>,
    idle: Duration,
    meter: &Meter<'_>,
) -> Result<bool, BodyFailure>
where
    R: AsyncRead + Unpin,
{
    match framing {
        BodyFraming::None | BodyFraming::Length(0) => {
            send_data(send, Bytes::new(), true, idle).await?;
            Ok(true)
        }
        BodyFraming::Length(mut left) => loop {
            if !input.is_empty() {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                left -= take as u64;
                meter.to_client(take);
                // A small body is copied, so the read buffer is not shared with the `h2`
                // send queue and goes back to the worker's free list (`buffers`); a large
                // one is sent as a slice of it, without a copy.
                let data = if take <= SMALL_COPY {
                    let data = Bytes::copy_from_slice(&input[..take]);
                    input.advance(take);
                    data
                } else {
                    input.split_to(take).freeze()
                };
                send_data(send, data, left == 0, idle).await?;
                if left == 0 {
                    return Ok(true);
                }
            }
            if read_more(server, input, send, idle).await? == 0 {
                return Err(BodyFailure::Server);
            }
        },
        BodyFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            loop {
                match decoder.next(input).map_err(|_| BodyFailure::Server)? {
                    Some(Piece::Data(data)) => {
                        meter.to_client(data.len());
                        send_data(send, data, false, idle).await?;
                    }
                    Some(Piece::End(trailers)) if trailers.is_empty() => {
                        send_data(send, Bytes::new(), true, idle).await?;
                        return Ok(true);
                    }
                    Some(Piece::End(trailers)) => {
                        send.send_trailers(trailers)
                            .map_err(|_| BodyFailure::Client)?;
                        return Ok(true);
                    }
                    None => {
                        if read_more(server, input, send, idle).await? == 0 {
                            return Err(BodyFailure::Server);
                        }
                    }
                }
            }
        }
        BodyFraming::UntilClose => loop {
            if !input.is_empty() {
                let data = input.split().freeze();
                meter.to_client(data.len());
                send_data(send, data, false, idle).await?;
            }
            if read_more(server, input, send, idle).await? == 0 {
                send_data(send, Bytes::new(), true, idle).await?;
                // The close ended the body: that connection is done.
                return Ok(false);
            }
        },
    }
}

/// Reads once from the server into `input` (`Ok(0)` at EOF), giving up when the client
/// resets the stream meanwhile or the server stays silent for `idle`.
async fn read_more<R>(
    server: &mut R,
    input: &mut BytesMut,
    send: &mut SendStream<Bytes>,
    idle: Duration,
) -> Result<usize, BodyFailure>
where
    R: AsyncRead + Unpin,
{
    input.reserve(CHUNK);
    tokio::select! {
        read = timeout(idle, server.read_buf(input)) => match read {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(_)) | Err(_) => Err(BodyFailure::Server),
        },
        _ = poll_fn(|cx| send.poll_reset(cx)) => Err(BodyFailure::Client),
    }
}

/// Sends `data` as the client's flow-control windows allow (RFC 9113 §6.9), the last frame
/// flagged END_STREAM when `end`. A client that grants no window for `idle` is given up.
pub(crate) async fn send_data(
    send: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
    idle: Duration,
) -> Result<(), BodyFailure> {
    if data.is_empty() {
        return send.send_data(data, end).map_err(|_| BodyFailure::Client);
    }
    while data.has_remaining() {
        send.reserve_capacity(data.len());
        let granted = match timeout(idle, poll_fn(|cx| send.poll_capacity(cx))).await {
            Ok(Some(Ok(granted))) => granted,
            _ => return Err(BodyFailure::Client),
        };
        let frame = data.split_to(granted.min(data.len()));
        send.send_data(frame, end && data.is_empty())
            .map_err(|_| BodyFailure::Client)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::format_args_hex;

    #[test]
    fn chunk_size_lines_are_lowercase_hex() {
        for len in [1usize, 9, 10, 255, 16384, 0x7fff_ffff, usize::MAX] {
            let expected = format!("{len:x}\r\n");
            assert_eq!(format_args_hex(len).as_bytes(), expected.as_bytes());
        }
    }
}
