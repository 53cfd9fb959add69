//! h2c with prior knowledge (RFC 9113 §3.3) on a plaintext frontend with `http.h2c: true`:
//! a connection that starts with the client connection preface is HTTP/2, any other is
//! HTTP/1.1. The bytes read to tell are replayed to whichever side takes the connection.
//!
//! The HTTP/1.1 `Upgrade: h2c` dance (RFC 7540 §3.2) is not supported: RFC 9113 §3.1
//! deprecated it and clients (curl `--http2-prior-knowledge`, h2load, gRPC) use prior
//! knowledge; such a request is served as plain HTTP/1.1 (the `Upgrade` is not honoured).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::http::session;
use crate::proxy::{ClientOrigin, Frontend};

/// The client connection preface (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves a plaintext client of an http frontend: HTTP/1.1, or HTTP/2 when the frontend
/// takes h2c and the client opens with the preface.
pub(crate) async fn serve_plain(
    mut client: TcpStream,
    frontend: &Arc<Frontend>,
    origin: ClientOrigin,
) {
    let Some(http) = frontend.http().filter(|http| http.config.h2c) else {
        return session::serve(client, frontend, origin, false).await;
    };
    let mut start = Prefixed::new();
    // The preface is the first thing an h2c client sends; a request that differs from it
    // at any byte is HTTP/1.1 and goes on at once. Silence gets the request timeout.
    let wait = tokio::time::timeout(http.config.request_timeout(), async {
        while start.len < PREFACE.len() && PREFACE.starts_with(start.filled()) {
            match client.read(&mut start.bytes[start.len..]).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => start.len += n,
            }
        }
        true
    });
    drop(http);
    tokio::pin!(wait);
    // Stopping: a silent connection is closed after the grace, as between two HTTP/1.1
    // requests (`session::STOP_GRACE`); one that is sending its first request goes on.
    let started = tokio::select! {
        biased;
        started = &mut wait => started,
        () = frontend.soft_stop.stopped() => {
            tokio::time::timeout(session::STOP_GRACE, &mut wait).await.unwrap_or(Ok(false))
        }
    };
    if !matches!(started, Ok(true)) {
        return;
    }
    let h2 = start.filled() == PREFACE;
    let client = start.before(client);
    if h2 {
        super::serve(client, frontend, origin, false).await;
    } else {
        session::serve(client, frontend, origin, false).await;
    }
}

/// The first bytes of a connection, already read.
struct Prefixed {
    bytes: [u8; 24],
    len: usize,
}

impl Prefixed {
    fn new() -> Self {
        Prefixed {
            bytes: [0; 24],
            len: 0,
        }
    }

    fn filled(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// A stream that reads these bytes again, then `inner`'s.
    fn before<S>(self, inner: S) -> Replay<S> {
        Replay {
            start: self,
            read: 0,
            inner,
        }
    }
}

/// `inner` with the bytes already read from it put back in front.
pub(crate) struct Replay<S> {
    start: Prefixed,
    read: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let left = &this.start.filled()[this.read..];
        if left.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = left.len().min(buf.remaining());
        buf.put_slice(&left[..n]);
        this.read += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_bytes_read_are_replayed_first() {
        let mut start = Prefixed::new();
        start.bytes[..4].copy_from_slice(b"GET ");
        start.len = 4;
        let mut stream = start.before(&b"/ HTTP/1.1\r\n"[..]);
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"GET / HTTP/1.1\r\n");
    }
}
