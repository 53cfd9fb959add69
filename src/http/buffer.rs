//! A connection's read buffer: bytes read but not yet consumed, reused for every request
//! of the connection (the request heads are parsed in place, as offsets into it).

use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// 16 KiB, HAProxy's `tune.bufsize`: a read that fills it means the peer is streaming.
pub(crate) const CHUNK: usize = 16 * 1024;

/// `data[start..]` is unconsumed input; a read appends after it.
pub(crate) struct InputBuffer {
    data: Vec<u8>,
    start: usize,
}

impl InputBuffer {
    pub fn new() -> Self {
        InputBuffer {
            data: Vec::new(),
            start: 0,
        }
    }

    /// The unconsumed bytes.
    #[inline]
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..]
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.start == self.data.len()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    /// Marks `n` bytes as used.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.data.len());
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    /// Reads once from `stream`, appending up to `CHUNK` bytes; `Ok(0)` at EOF. The
    /// consumed prefix is dropped first, so unconsumed bytes keep their place relative to
    /// each other but not their offsets.
    pub async fn read_from<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> io::Result<usize> {
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.reserve(CHUNK);
        // `read_buf` reads into the spare capacity: nothing is zeroed.
        let mut limited = (&mut *stream).take(CHUNK as u64);
        limited.read_buf(&mut self.data).await
    }

    /// Drops everything (a connection that can't continue).
    pub fn clear(&mut self) {
        self.data.clear();
        self.start = 0;
    }

    /// Gives the memory back when the connection goes idle with an empty buffer that grew
    /// large (a long head or a big pipelined burst): idle keep-alive clients cost little.
    pub fn shrink_if_idle(&mut self) {
        if self.is_empty() && self.data.capacity() > 4 * CHUNK {
            self.data = Vec::new();
        }
    }
}
