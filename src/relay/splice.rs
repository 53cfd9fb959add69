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
    /// splice(2) can't serve these descriptors, or no pipe could be had (out of file
    /// descriptors). Returned only between chunks, with nothing in flight: the caller
    /// carries on by copying.
    CopyInstead,
}

fn flags() -> SpliceFlags {
    SpliceFlags::MOVE | SpliceFlags::NONBLOCK
}

/// Pumps until EOF. A pipe is held only while bytes keep coming: an idle connection (say
/// a keep-alive client between requests) owns no pipe, so its two descriptors don't count
/// against the open-files limit (with one pipe per direction kept for the connection's
/// life, 400 idle connections took 1600 descriptors for pipes alone).
pub(super) async fn pump(direction: &Direction<'_>) -> Result<Outcome, Error> {
    let src = direction.src;
    let mut lease: Option<LeasedPipe> = None;
    loop {
        let pipe = match &mut lease {
            Some(pipe) => pipe,
            None => {
                src.ready(Interest::READABLE)
                    .await
                    .map_err(|e| direction.read_error(e))?;
                match LeasedPipe::take() {
                    Some(pipe) => lease.insert(pipe),
                    None => return Ok(Outcome::CopyInstead),
                }
            }
        };
        // The pipe is empty here (every round drains it), so socket -> pipe can only stop
        // on the socket's readiness, never on a full pipe.
        let filled = src.try_io(Interest::READABLE, || {
            splice(
                src.as_fd(),
                None,
                &pipe.pipe().write,
                None,
                pipe.pipe().capacity,
                flags(),
            )
            .map_err(to_io)
        });
        let filled = match filled {
            Ok(0) => return Ok(Outcome::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                lease = None; // drained for now: give the pipe back while we wait
                continue;
            }
            Err(e) if is_unsupported(&e) => return Ok(Outcome::CopyInstead),
            Err(e) => return Err(direction.read_error(e)),
        };
        pipe.holds_data = true;
        drain(direction, pipe, filled).await?;
        pipe.holds_data = false;
        direction.forwarded(filled);
    }
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
