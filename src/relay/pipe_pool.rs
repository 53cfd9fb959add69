//! A process-wide pool of pipes for splice(2), so a connection doesn't pay pipe2 + close.

use crossbeam_queue::ArrayQueue;
use rustix::fd::OwnedFd;
use rustix::pipe::{fcntl_getpipe_size, fcntl_setpipe_size, pipe_with, PipeFlags};
use std::sync::OnceLock;

/// Pipes kept for reuse; more can be in use at once, the extra ones are just closed after.
const POOL_CAPACITY: usize = 256;
/// Requested pipe capacity.
// NOTE: 64 KiB (the Linux default, 16 pages) measured as fast as larger pipes for 16 MiB
// transfers on loopback; larger pipes only hold more pages per connection.
const PIPE_SIZE: usize = 64 * 1024;

/// Both ends of a pipe and how many bytes it can hold.
pub(super) struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
    pub capacity: usize,
}

impl Pipe {
    fn open() -> Option<Pipe> {
        let (read, write) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC).ok()?;
        let _ = fcntl_setpipe_size(&write, PIPE_SIZE);
        let capacity = fcntl_getpipe_size(&write).ok()?;
        Some(Pipe {
            read,
            write,
            capacity,
        })
    }
}

fn pool() -> &'static ArrayQueue<Pipe> {
    static POOL: OnceLock<ArrayQueue<Pipe>> = OnceLock::new();
    POOL.get_or_init(|| ArrayQueue::new(POOL_CAPACITY))
}

/// A pipe borrowed from the pool. It goes back only if it is known to be empty; a pipe
/// that may still hold bytes (an error cut a transfer short) is closed instead, so no
/// connection can ever read another connection's leftovers.
pub(super) struct LeasedPipe {
    pipe: Option<Pipe>,
    pub holds_data: bool,
}

impl LeasedPipe {
    /// None when no pipe can be made (out of file descriptors): the caller copies instead.
    pub fn take() -> Option<LeasedPipe> {
        let pipe = pool().pop().or_else(Pipe::open)?;
        Some(LeasedPipe {
            pipe: Some(pipe),
            holds_data: false,
        })
    }

    pub fn pipe(&self) -> &Pipe {
        self.pipe.as_ref().expect("present until drop")
    }
}

impl Drop for LeasedPipe {
    fn drop(&mut self) {
        if let Some(pipe) = self.pipe.take() {
            if !self.holds_data {
                let _ = pool().push(pipe);
            }
        }
    }
}
