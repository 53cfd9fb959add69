//! Per-worker free lists of the buffers a stream needs: the HTTP/1.1 request head and the
//! server read buffer. A stream is short (one request), so allocating a 16 KiB read buffer
//! and a head `Vec` for each one was a visible share of the CPU under many small requests;
//! workers are current-thread runtimes and a stream stays on its worker, so a thread-local
//! list needs no lock (as HAProxy's per-thread buffer pools).
//!
//! A read buffer goes back only when nothing else shares its memory: a DATA frame sent as a
//! `Bytes` slice of it ([`bytes::BytesMut::split_to`]) may still sit in the `h2` crate's send
//! queue, and such a buffer is simply dropped (its memory is freed with the last slice).

use bytes::BytesMut;
use std::cell::RefCell;

use crate::http::buffer::CHUNK;

/// Buffers kept per worker: enough for every stream of a few busy connections (100 streams
/// each), at most 4 MiB of read buffers.
const KEPT: usize = 256;
/// A head buffer that grew beyond this (a huge cookie, say) is not kept.
const HEAD_KEPT_CAPACITY: usize = 8 * 1024;

#[derive(Default)]
struct FreeLists {
    reads: Vec<BytesMut>,
    heads: Vec<Vec<u8>>,
}

thread_local! {
    static FREE: RefCell<FreeLists> = RefCell::default();
}

/// A stream's buffers, given back to the worker's free lists when dropped.
pub(crate) struct StreamBuffers {
    /// The server's response bytes (head, then body), `CHUNK` bytes of room at least.
    pub input: BytesMut,
    /// The HTTP/1.1 request head written for the server.
    pub head: Vec<u8>,
}

impl StreamBuffers {
    /// Buffers from this worker's free lists, or new ones.
    pub fn take() -> Self {
        let (input, head) = FREE.with_borrow_mut(|free| (free.reads.pop(), free.heads.pop()));
        StreamBuffers {
            input: input.unwrap_or_else(|| BytesMut::with_capacity(CHUNK)),
            head: head.unwrap_or_else(|| Vec::with_capacity(512)),
        }
    }
}

impl Drop for StreamBuffers {
    fn drop(&mut self) {
        let mut input = std::mem::take(&mut self.input);
        let mut head = std::mem::take(&mut self.head);
        input.clear();
        head.clear();
        // `try_reclaim` succeeds only if no `Bytes` slice still shares the memory; it then
        // makes the whole allocation available again without copying or allocating.
        let reusable = input.try_reclaim(CHUNK);
        // `try_with`: a stream dropped while the thread is shutting down just frees.
        let _ = FREE.try_with(|free| {
            let mut free = free.borrow_mut();
            if reusable && free.reads.len() < KEPT {
                free.reads.push(input);
            }
            if head.capacity() <= HEAD_KEPT_CAPACITY && free.heads.len() < KEPT {
                free.heads.push(head);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_unless_shared() {
        let mut buffers = StreamBuffers::take();
        buffers.input.extend_from_slice(b"hello");
        let first = buffers.input.as_ptr();
        drop(buffers);
        let mut again = StreamBuffers::take();
        assert_eq!(again.input.as_ptr(), first, "the same memory is reused");
        assert!(again.input.is_empty() && again.input.capacity() >= CHUNK);
        again.input.extend_from_slice(b"body");
        let slice = again.input.split_to(4).freeze();
        drop(again);
        let third = StreamBuffers::take();
        assert_ne!(third.input.as_ptr(), first, "a shared buffer is not reused");
        assert_eq!(&slice[..], b"body");
    }
}
