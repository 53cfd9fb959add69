//! A MySQL connection's byte stream with a read buffer: whole packets for commands and
//! handshakes, and raw access to the buffer for forwarding results without copying them
//! into packets.

use rustls_pki_types::ServerName;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::packet::{parse_header, HEADER_LEN, MAX_PART};
use super::transport::{Rewound, Transport};
use crate::tls::{HandshakeError, TlsOrigination, TlsTermination};

/// Initial read buffer: a result of small rows streams through it; it grows only for a
/// small packet (OK, ERR, a command) that doesn't fit.
const BUFFER: usize = 16 * 1024;

/// A buffer grown past this by a large packet goes back to `BUFFER` between commands.
const KEEP_AT_MOST: usize = 4 * BUFFER;

/// One logical packet as it arrived: the raw parts (headers included, to forward as they
/// are) and the joined payload when it spans more than one part.
pub struct Packet {
    raw: Vec<u8>,
    joined: Option<Vec<u8>>,
    /// The first part's sequence id.
    pub seq: u8,
    /// The sequence id that follows the last part.
    pub next_seq: u8,
}

impl Packet {
    pub fn payload(&self) -> &[u8] {
        match &self.joined {
            Some(joined) => joined,
            None => &self.raw[HEADER_LEN..],
        }
    }

    /// The packet exactly as it arrived (for forwarding).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn into_raw(self) -> Vec<u8> {
        self.raw
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("packet of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

pub struct PacketStream {
    io: Transport,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl PacketStream {
    pub fn new(io: TcpStream) -> Self {
        PacketStream {
            io: Transport::Plain(io),
            buf: vec![0; BUFFER],
            start: 0,
            end: 0,
        }
    }

    /// Unconsumed bytes.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Whether a connection with no command outstanding was closed by its peer (a server's
    /// `wait_timeout`, a restart) or has something unsolicited to say (MariaDB and MySQL
    /// send an ERR before closing an idle connection): either way it can't take a command.
    /// Cheap: tokio's cached readiness answers without a syscall while nothing arrived;
    /// only a readable socket costs one non-blocking `MSG_PEEK`.
    pub fn closed_while_idle(&self) -> bool {
        if self.start != self.end {
            return true;
        }
        let Some(socket) = self.io.socket() else {
            return true;
        };
        !peek_would_block(socket)
    }

    /// Gives back the memory a large packet made the buffer grow to, once nothing is
    /// buffered (called between commands: within a result, rows as large keep coming).
    pub fn release_excess(&mut self) {
        if self.start == self.end && self.buf.len() > KEEP_AT_MOST {
            self.buf = vec![0; BUFFER];
            self.start = 0;
            self.end = 0;
        }
    }

    /// Frees the read buffer of an idle plaintext connection (nothing buffered): a client
    /// of a multiplexed session that went idle holds no server connection, and without
    /// this its 16 KiB buffer would be most of what it costs. The next read allocates it
    /// again once bytes are there. Over TLS rustls keeps buffers of its own, and may hold
    /// decrypted bytes the socket no longer shows: the buffer stays.
    pub fn free_buffer_while_idle(&mut self) {
        if self.start == self.end && matches!(self.io, Transport::Plain(_)) {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }

    /// The read buffer, allocated again after `free_buffer_while_idle` once the socket has
    /// something to read (an idle client costs no buffer while it waits).
    async fn ensure_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            if let Transport::Plain(socket) = &self.io {
                // Readiness may be stale (or spurious): a peek says whether bytes (or the
                // peer's close) are really there, and clears it when not.
                while peek_would_block(socket) {
                    socket.readable().await?;
                }
            }
            self.buf = vec![0; BUFFER];
        }
        Ok(())
    }

    /// Reads more bytes into the buffer (at least one); EOF is an error, since every
    /// caller is waiting for the rest of a packet.
    pub async fn fill(&mut self) -> io::Result<usize> {
        self.ensure_buffer().await?;
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self.io.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(n)
    }

    /// Waits until at least `n` unconsumed bytes are buffered.
    pub async fn need(&mut self, n: usize) -> io::Result<()> {
        self.ensure_buffer().await?;
        if self.start + n > self.buf.len() {
            // Make room once: compact, then grow to fit.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if n > self.buf.len() {
                self.buf.resize(n.next_power_of_two(), 0);
            }
        }
        while self.end - self.start < n {
            self.fill().await?;
        }
        Ok(())
    }

    /// Reads one logical packet of at most `limit` payload bytes.
    pub async fn read_packet(&mut self, limit: usize) -> Result<Packet, ReadError> {
        let mut raw = Vec::new();
        let mut joined: Option<Vec<u8>> = None;
        let mut first_seq = None;
        let mut total = 0usize;
        loop {
            self.need(HEADER_LEN).await?;
            let (len, seq) = parse_header(self.buffered());
            total += len;
            if total > limit {
                return Err(ReadError::TooLarge(total));
            }
            first_seq.get_or_insert(seq);
            self.need(HEADER_LEN + len).await?;
            let part = &self.buffered()[..HEADER_LEN + len];
            if len == MAX_PART || joined.is_some() {
                joined
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(&part[HEADER_LEN..]);
            }
            raw.extend_from_slice(part);
            self.consume(HEADER_LEN + len);
            if len < MAX_PART {
                return Ok(Packet {
                    raw,
                    joined,
                    seq: first_seq.unwrap_or(0),
                    next_seq: seq.wrapping_add(1),
                });
            }
        }
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        // TLS may hold back the last records when the socket was full; a plain socket's
        // flush does nothing.
        self.io.flush().await
    }

    /// The TLS protocol version and cipher suite of this connection (`TLSv1.3`,
    /// `TLS13_AES_256_GCM_SHA384`: rustls' IANA-style names), None in plaintext.
    pub fn tls_parameters(&self) -> Option<(String, String)> {
        let Transport::Tls(tls) = &self.io else {
            return None;
        };
        let state = tls.get_ref().1;
        let version = match state.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        };
        let suite = state.negotiated_cipher_suite()?.suite();
        let cipher = suite
            .as_str()
            .map_or_else(|| format!("{suite:?}"), str::to_owned);
        Some((version, cipher))
    }

    pub fn set_nodelay(&self) {
        if let Some(socket) = self.io.socket() {
            let _ = socket.set_nodelay(true);
        }
    }

    pub fn is_tls(&self) -> bool {
        self.io.is_tls()
    }

    /// A TLS handshake started and hasn't finished (or was abandoned): the socket is with
    /// it.
    pub fn in_tls_handshake(&self) -> bool {
        matches!(self.io, Transport::Detached)
    }

    /// Switches to TLS as the server (after a client's SSLRequest). The client sends its
    /// hello without waiting for an answer, so what is buffered past the request goes to
    /// the handshake first: to rustls, as TLS records, never as MySQL packets, so plaintext
    /// injected behind the request can't reach the session (the STARTTLS injection of
    /// CVE-2011-0411). On failure the connection is unusable.
    pub async fn accept_tls(&mut self, tls: &TlsTermination) -> Result<(), HandshakeError> {
        let Transport::Plain(socket) = std::mem::replace(&mut self.io, Transport::Detached) else {
            return Err(HandshakeError::Failed(io::ErrorKind::NotConnected.into()));
        };
        let already_read = self.buffered().to_vec();
        self.consume(already_read.len());
        let stream = tls.accept(Rewound::new(already_read, socket)).await?;
        self.io = Transport::Tls(Box::new(stream.into()));
        Ok(())
    }

    /// Switches to TLS as the client (after fastlb's SSLRequest to a server, which says
    /// nothing until the handshake starts). On failure the connection is unusable.
    pub async fn connect_tls(
        &mut self,
        tls: &TlsOrigination,
        server_name: &ServerName<'static>,
    ) -> io::Result<()> {
        let Transport::Plain(socket) = std::mem::replace(&mut self.io, Transport::Detached) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        if !self.buffered().is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the server sent data before the TLS handshake",
            ));
        }
        let stream = tls
            .connect(Rewound::new(Vec::new(), socket), server_name, None)
            .await?;
        self.io = Transport::Tls(Box::new(stream.into()));
        Ok(())
    }
}

/// Whether `socket` has nothing to read now (neither bytes nor the peer's close), by a
/// non-blocking one-byte `MSG_PEEK`. Cheap: tokio's cached readiness answers without a
/// syscall while nothing arrived, and `try_io` clears it when the peek says WouldBlock.
fn peek_would_block(socket: &TcpStream) -> bool {
    let peeked = socket.try_io(tokio::io::Interest::READABLE, || {
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
        socket2::SockRef::from(socket).peek(&mut byte)
    });
    matches!(peeked, Err(ref e) if e.kind() == io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_large_packet_grows_the_buffer_until_the_command_is_done() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut stream = PacketStream::new(listener.accept().await.unwrap().0);
        let mut large = Vec::new();
        super::super::packet::frame(&mut large, &[7; 200_000], 0);
        peer.write_all(&large).await.unwrap();
        let packet = stream.read_packet(1 << 20).await.unwrap();
        assert_eq!(packet.payload().len(), 200_000);
        assert!(stream.buf.len() >= 200_000);
        stream.release_excess();
        assert_eq!(stream.buf.len(), BUFFER);
        // Small packets don't make it grow again.
        let mut small = Vec::new();
        super::super::packet::frame(&mut small, b"\x03SELECT 1", 0);
        peer.write_all(&small).await.unwrap();
        assert_eq!(stream.read_packet(1 << 20).await.unwrap().payload()[0], 3);
        assert_eq!(stream.buf.len(), BUFFER);
    }

    #[tokio::test]
    async fn an_idle_client_holds_no_buffer_until_its_next_command_arrives() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut stream = PacketStream::new(listener.accept().await.unwrap().0);
        stream.free_buffer_while_idle();
        assert_eq!(stream.buf.capacity(), 0);
        // Waiting for the command allocates nothing...
        let waiting = tokio::time::timeout(Duration::from_millis(50), stream.need(1)).await;
        assert!(waiting.is_err());
        assert_eq!(stream.buf.capacity(), 0);
        // ... its bytes bring the buffer back, whole.
        let mut command = Vec::new();
        super::super::packet::frame(&mut command, b"\x03SELECT 1", 0);
        peer.write_all(&command).await.unwrap();
        assert_eq!(
            stream.read_packet(1024).await.unwrap().payload(),
            b"\x03SELECT 1"
        );
        assert_eq!(stream.buf.len(), BUFFER);
    }

    /// Waits (bounded) until the reactor has seen what the peer did.
    async fn settles(stream: &PacketStream, expected: bool) -> bool {
        for _ in 0..200 {
            if stream.closed_while_idle() == expected {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        false
    }

    #[tokio::test]
    async fn an_idle_connection_knows_when_its_peer_closed_or_spoke() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut peer = TcpStream::connect(address).await.unwrap();
        let mut stream = PacketStream::new(listener.accept().await.unwrap().0);
        // A reply read to its end leaves the connection idle and open.
        peer.write_all(&[1, 0, 0, 0, 9]).await.unwrap();
        stream.read_packet(1024).await.unwrap();
        assert!(settles(&stream, false).await);
        assert!(!stream.closed_while_idle(), "asked twice: still open");
        // Something unsolicited (a server's ERR before it closes).
        peer.write_all(&[1, 0, 0, 0, 0xff]).await.unwrap();
        assert!(settles(&stream, true).await);

        let mut peer = TcpStream::connect(address).await.unwrap();
        let stream = PacketStream::new(listener.accept().await.unwrap().0);
        peer.flush().await.unwrap();
        assert!(settles(&stream, false).await);
        drop(peer);
        assert!(settles(&stream, true).await);
    }
}
