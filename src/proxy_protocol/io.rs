//! Reading exactly one PROXY header off an accepted connection, writing one onto a new
//! server connection.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{encode, parse, scan, ProxiedAddresses, ProxyError, ProxyVersion, Scan};

/// Room for any v1 line and the common v2 headers (TCP6 with a few TLVs); a longer v2 header
/// grows the buffer to its announced length, up to `V2_MAX_LEN`.
const INITIAL_BUFFER: usize = 256;

/// Reads the PROXY header (v1 or v2, told apart by their signatures) that must open
/// `stream`, within `timeout`, and consumes exactly its bytes: whatever the client sent
/// after it (a TLS ClientHello, an HTTP request, a MySQL reply) stays in the socket for the
/// session, so splice, TLS and HTTP start at the next byte.
///
/// Each step peeks at what has arrived, works out how much of it is header (up to the v1
/// line's LF, up to v2's announced length, or all of it while the header is unfinished) and
/// reads exactly that much, so a header sent in pieces is read without ever taking a byte
/// past it, and a peek never spins on bytes already seen (they were consumed). The spec asks
/// receivers to "be tolerant" of headers split over segments (§2): this is.
///
/// `Ok(None)`: a v2 LOCAL command or an UNKNOWN family; the connection's own addresses stand.
pub async fn read_header(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Result<Option<ProxiedAddresses>, ProxyError> {
    match tokio::time::timeout(timeout, read_exact_header(stream)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(ProxyError::Timeout(timeout)),
    }
}

async fn read_exact_header(stream: &mut TcpStream) -> Result<Option<ProxiedAddresses>, ProxyError> {
    let mut buffer = vec![0u8; INITIAL_BUFFER];
    let mut consumed = 0;
    loop {
        // The peek sees the bytes after those already consumed.
        let peeked = stream.peek(&mut buffer[consumed..]).await?;
        if peeked == 0 {
            return Err(ProxyError::Truncated);
        }
        let seen = consumed + peeked;
        let (header_bytes, complete) = match scan(&buffer[..seen])? {
            Scan::Complete(length) => (length, true),
            Scan::Incomplete => (seen, false),
        };
        // The bytes wait in the socket already: this returns at once.
        stream
            .read_exact(&mut buffer[consumed..header_bytes])
            .await?;
        consumed = header_bytes;
        if complete {
            return parse(&buffer[..consumed]).map(|(addresses, _)| addresses);
        }
        if consumed == buffer.len() {
            // Only a v2 header gets here (a v1 line fits, or `scan` refused it): its length
            // is known by now, as the fixed part is shorter than the initial buffer.
            buffer.resize(announced_length(&buffer[..consumed]), 0);
        }
    }
}

/// The total length a v2 header announces (16 + its length field); `scan` has already
/// refused one beyond `V2_MAX_LEN`.
fn announced_length(v2: &[u8]) -> usize {
    16 + usize::from(u16::from_be_bytes([v2[14], v2[15]]))
}

/// Writes the PROXY header saying `client` connected to `local` on a new server connection,
/// before anything else (a TLS ClientHello included: the header precedes the handshake, as
/// HAProxy's `send-proxy` on an `ssl` server). One write on a fresh connection: the header
/// fits in any first segment, which is what the spec asks of senders (§2, "sent at once").
pub async fn write_header<S: AsyncWrite + Unpin>(
    stream: &mut S,
    version: ProxyVersion,
    client: SocketAddr,
    local: SocketAddr,
) -> std::io::Result<()> {
    let mut header = Vec::with_capacity(108);
    encode(version, client, local, &mut header);
    stream.write_all(&header).await
}
