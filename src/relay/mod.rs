//! Moving bytes between client and server: splice(2) through pooled pipes, or copying.
//!
//! Each direction is pumped until its source reaches EOF, then the write side of its
//! destination is shut down (half-close passes through); the relay ends when both
//! directions have, on the first error, or when neither direction moved a byte for the
//! idle timeout.

mod activity;
mod copy;
mod pipe_pool;
mod readiness;
mod splice;
mod stream;

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;

use crate::config::SpliceMode;
use crate::error::{Error, Side};
use activity::Activity;
pub use stream::relay_streams;

/// One direction of a relayed connection.
pub(crate) struct Direction<'a> {
    pub src: &'a TcpStream,
    pub dst: &'a TcpStream,
    /// Which side `src` is, to attribute read and write errors.
    pub src_side: Side,
    /// Counters bumped with every forwarded chunk (e.g. the frontend's and the server's).
    pub counters: [&'a AtomicU64; 2],
    activity: &'a Activity,
    /// Set by whichever direction reaches EOF first.
    finished: &'a AtomicBool,
}

impl Direction<'_> {
    fn read_error(&self, e: io::Error) -> Error {
        io_error(self.src_side, e)
    }

    fn write_error(&self, e: io::Error) -> Error {
        io_error(other(self.src_side), e)
    }

    #[inline]
    fn forwarded(&self, bytes: usize) {
        self.activity.touch();
        for counter in self.counters {
            counter.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        _ => Side::Client,
    }
}

fn io_error(side: Side, e: io::Error) -> Error {
    match side {
        Side::Client => Error::ClientIo(e),
        _ => Error::ServerIo(e),
    }
}

/// Counters of the two directions: `[frontend, server]` each.
pub struct RelayCounters<'a> {
    pub client_to_server: [&'a AtomicU64; 2],
    pub server_to_client: [&'a AtomicU64; 2],
}

/// Relays until both directions reached EOF (Ok), an error, or the idle timeout.
pub async fn relay(
    client: &TcpStream,
    server: &TcpStream,
    mode: SpliceMode,
    idle_timeout: Duration,
    counters: RelayCounters<'_>,
) -> Result<(), Error> {
    let activity = Activity::new();
    let finished = AtomicBool::new(false);
    let upstream = Direction {
        src: client,
        dst: server,
        src_side: Side::Client,
        counters: counters.client_to_server,
        activity: &activity,
        finished: &finished,
    };
    let downstream = Direction {
        src: server,
        dst: client,
        src_side: Side::Server,
        counters: counters.server_to_client,
        activity: &activity,
        finished: &finished,
    };
    tokio::select! {
        done = async { tokio::try_join!(pump(&upstream, mode), pump(&downstream, mode)) } => {
            done.map(|_| ())
        }
        () = activity.idle_for(idle_timeout) => Err(Error::IdleTimeout),
    }
}

/// Pumps one direction to EOF, then half-closes the destination.
async fn pump(direction: &Direction<'_>, mode: SpliceMode) -> Result<(), Error> {
    match mode {
        SpliceMode::Never => {
            copy::pump(direction, false).await?;
        }
        SpliceMode::Always => {
            if splice::pump(direction).await? == splice::Outcome::CopyInstead {
                copy::pump(direction, false).await?;
            }
        }
        SpliceMode::Auto => {
            // NOTE: measured with `make bench` (CPU of the load balancer itself): on 16 MiB
            // transfers copy took ~1020 ms/GiB, splice ~270 and auto ~277; on 64-byte
            // keep-alive requests splice cost ~20% more CPU per request than copy, auto the
            // same as copy. So: copy until a read fills the whole buffer (the peer is
            // streaming), then splice.
            if copy::pump(direction, true).await? == copy::Outcome::Streaming
                && splice::pump(direction).await? == splice::Outcome::CopyInstead
            {
                copy::pump(direction, false).await?;
            }
        }
    }
    // Pass the half-close on, unless the other direction is already over: then the relay
    // ends now and closing the socket sends the FIN anyway (one syscall less per
    // connection). The peer may already be gone (it reset): nothing left to tell it then.
    if direction.finished.swap(true, Ordering::Relaxed) {
        return Ok(());
    }
    let _ = socket2::SockRef::from(direction.dst).shutdown(Shutdown::Write);
    Ok(())
}
