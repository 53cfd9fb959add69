//! The bytes under a MySQL connection: a TCP socket, or TLS over it once an SSLRequest
//! switched the connection (a client's to fastlb, fastlb's to a server).
//!
//! MySQL starts every connection in plaintext (the greeting and the SSLRequest) and
//! switches in the middle, so one connection's transport changes type once; an enum keeps
//! `PacketStream` and everything above it free of type parameters.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<Rewound>>),
    /// The socket is with a TLS handshake; a failed handshake leaves this behind and the
    /// connection is closed.
    Detached,
}

impl Transport {
    pub fn socket(&self) -> Option<&TcpStream> {
        match self {
            Transport::Plain(socket) => Some(socket),
            Transport::Tls(tls) => Some(&tls.get_ref().0.socket),
            Transport::Detached => None,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }
}

fn detached() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "connection lost in a TLS handshake",
    )
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(socket) => Pin::new(socket).poll_read(cx, buf),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Transport::Detached => Poll::Ready(Err(detached())),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(socket) => Pin::new(socket).poll_write(cx, buf),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Transport::Detached => Poll::Ready(Err(detached())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(socket) => Pin::new(socket).poll_flush(cx),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Transport::Detached => Poll::Ready(Err(detached())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(socket) => Pin::new(socket).poll_shutdown(cx),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
            Transport::Detached => Poll::Ready(Ok(())),
        }
    }
}

/// A socket with bytes already read from it put back in front: a client sends its TLS
/// ClientHello right after the SSLRequest without waiting, so the hello's first bytes may
/// already sit in the packet buffer when the handshake begins.
pub struct Rewound {
    already_read: Vec<u8>,
    position: usize,
    socket: TcpStream,
}

impl Rewound {
    pub fn new(already_read: Vec<u8>, socket: TcpStream) -> Self {
        Rewound {
            already_read,
            position: 0,
            socket,
        }
    }
}

impl AsyncRead for Rewound {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let rest = &this.already_read[this.position..];
        if rest.is_empty() {
            return Pin::new(&mut this.socket).poll_read(cx, buf);
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        this.position += n;
        if this.position == this.already_read.len() {
            this.already_read = Vec::new();
            this.position = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Rewound {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn rewound_reads_the_put_back_bytes_first() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut peer = TcpStream::connect(address).await.unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        peer.write_all(b" world").await.unwrap();
        let mut rewound = Rewound::new(b"hello".to_vec(), socket);
        let mut out = [0u8; 3];
        rewound.read_exact(&mut out).await.unwrap();
        assert_eq!(&out, b"hel");
        let mut out = [0u8; 8];
        rewound.read_exact(&mut out).await.unwrap();
        assert_eq!(&out, b"lo world");
    }
}
