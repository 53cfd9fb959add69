//! [`BodyReader`]: follows a message body as its bytes arrive and says where it ends.
//!
//! The proxy forwards the raw bytes it is fed; this only counts them and validates chunked
//! syntax as it streams (RFC 9112 §7.1), so nothing is buffered or re-encoded.

use super::BodyFraming;

/// Longest chunk-size line accepted (size, extensions, CRLF): HAProxy refuses absurd ones too.
pub const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section accepted after the last chunk.
pub const MAX_TRAILER_SIZE: usize = 16384;

/// Why a body is malformed; the connection cannot continue (400 to a client, 502 for a
/// server's response, or a reset when the head was already forwarded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// A chunk size that is not hex digits.
    BadChunkSize,
    /// A chunk size that does not fit in 64 bits.
    ChunkSizeOverflow,
    /// A chunk-size line longer than the limit.
    ChunkLineTooLong,
    /// Bad bytes in a chunk extension (controls, bare CR or LF).
    BadChunkExtension,
    /// The CRLF after a chunk's data is missing.
    MissingChunkCrlf,
    /// A malformed trailer field line.
    BadTrailer,
    /// A trailer section larger than the limit.
    TrailersTooLarge,
    /// The connection closed before the body was complete.
    Truncated,
}

/// What one [`BodyReader::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// How many of the bytes fed belong to this body (all of them unless it completed).
    pub consumed: usize,
    /// The body is complete; the bytes after `consumed` are the next message's.
    pub complete: bool,
}

/// Streaming body framer for one message.
#[derive(Debug, Clone)]
pub struct BodyReader {
    framing: BodyFraming,
    max_chunk_line: usize,
    max_trailer_size: usize,
}

impl BodyReader {
    /// A reader for a body framed as `framing`, with the default limits.
    pub fn new(framing: BodyFraming) -> Self {
        Self::with_limits(framing, MAX_CHUNK_LINE, MAX_TRAILER_SIZE)
    }

    /// Same, with explicit chunk-size-line and trailer-section limits.
    pub fn with_limits(
        framing: BodyFraming,
        max_chunk_line: usize,
        max_trailer_size: usize,
    ) -> Self {
        BodyReader {
            framing,
            max_chunk_line,
            max_trailer_size,
        }
    }

    /// Feeds the next bytes of the connection.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, BodyError> {
        let _ = input;
        todo!()
    }

    /// The body has been read whole.
    pub fn is_complete(&self) -> bool {
        todo!()
    }

    /// The peer closed the connection: fine for a close-delimited or complete body.
    pub fn eof(&mut self) -> Result<(), BodyError> {
        todo!()
    }

    /// Bytes still expected of a Content-Length body (`None` for other framings).
    pub fn remaining(&self) -> Option<u64> {
        todo!()
    }
}
