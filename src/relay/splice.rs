//! The zero-copy pump: socket -> pipe -> socket with splice(2), bytes never enter userspace.

use rustix::io::Errno;
use rustix::pipe::{splice, SpliceFlags};
use std::io;
use std::os::fd::AsFd;
use tokio::io::Interest;

use super::pipe_pool::LeasedPipe;
use super::readiness::transfer;
use super::Direction;
use crate::error::Error;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The source reached EOF and everything was forwarded.
    Eof,
    /// splice(2) can't serve these descriptors (or no pipe could be made) and nothing was
    /// moved yet: the caller copies instead.
    Unsupported,
}

fn flags() -> SpliceFlags {
    SpliceFlags::MOVE | SpliceFlags::NONBLOCK
}

pub(super) async fn pump(direction: &Direction<'_>) -> Result<Outcome, Error> {
    let Some(mut lease) = LeasedPipe::take() else {
        return Ok(Outcome::Unsupported);
    };
    let mut first = true;
    loop {
        // The pipe is empty here (every loop drains it), so socket -> pipe can only stop on
        // the socket's readiness, never on a full pipe.
        let filled = match fill(direction, &lease).await {
            Err(e) if first && is_unsupported(&e) => return Ok(Outcome::Unsupported),
            Err(e) => return Err(direction.read_error(e)),
            Ok(0) => return Ok(Outcome::Eof),
            Ok(n) => n,
        };
        first = false;
        lease.holds_data = true;
        drain(direction, &lease, filled).await?;
        lease.holds_data = false;
        direction.forwarded(filled);
    }
}

/// Socket -> pipe: as much as the pipe holds. Ok(0) is EOF.
async fn fill(direction: &Direction<'_>, lease: &LeasedPipe) -> io::Result<usize> {
    let pipe = lease.pipe();
    let src = direction.src;
    transfer(src, Interest::READABLE, None, || {
        splice(src.as_fd(), None, &pipe.write, None, pipe.capacity, flags()).map_err(to_io)
    })
    .await
}

/// Pipe -> socket until the pipe is empty again.
async fn drain(
    direction: &Direction<'_>,
    lease: &LeasedPipe,
    mut left: usize,
) -> Result<(), Error> {
    let pipe = lease.pipe();
    let dst = direction.dst;
    while left > 0 {
        let moved = transfer(dst, Interest::WRITABLE, None, || {
            splice(&pipe.read, None, dst.as_fd(), None, left, flags()).map_err(to_io)
        })
        .await
        .map_err(|e| direction.write_error(e))?;
        if moved == 0 {
            let stuck = io::Error::new(io::ErrorKind::WriteZero, "splice moved nothing");
            return Err(direction.write_error(stuck));
        }
        left -= moved;
    }
    Ok(())
}

fn to_io(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno.raw_os_error())
}

fn is_unsupported(e: &io::Error) -> bool {
    let code = e.raw_os_error();
    code == Some(Errno::INVAL.raw_os_error()) || code == Some(Errno::NOSYS.raw_os_error())
}
