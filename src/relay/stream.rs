//! Relaying between byte streams that must pass through userspace (TLS on either side):
//! tokio's bidirectional copy, with the same counters, idle timeout and half-close as the
//! socket relay.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::activity::Activity;
use super::RelayCounters;
use crate::error::Error;

/// 16 KiB per direction, HAProxy's `tune.bufsize`: one full TLS record of plaintext.
// NOTE: 64 KiB buffers cut fastlb's CPU per GiB on TLS bulk transfers by ~14% (1617 -> 1392
// ms/GiB, `make bench --scenario tls-bulk`, rustls writing four records per writev), but
// cost 128 KiB per connection allocated for its whole life (2.5 GiB at 20,000 connections),
// against HAProxy's 32 KiB. Memory wins.
const BUFFER_SIZE: usize = 16 * 1024;

/// Relays until both directions reached EOF (each EOF is passed on as a shutdown: a
/// close_notify and FIN for TLS), an error, or the idle timeout.
pub async fn relay_streams<C, S>(
    client: C,
    server: S,
    idle_timeout: Duration,
    counters: RelayCounters<'_>,
) -> Result<(), Error>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let activity = Activity::new();
    let mut client = Metered {
        inner: client,
        counters: counters.client_to_server,
        activity: &activity,
    };
    let mut server = Metered {
        inner: server,
        counters: counters.server_to_client,
        activity: &activity,
    };
    tokio::select! {
        done = tokio::io::copy_bidirectional_with_sizes(
            &mut client, &mut server, BUFFER_SIZE, BUFFER_SIZE,
        ) => done.map(|_| ()).map_err(Error::ClientIo),
        () = activity.idle_for(idle_timeout) => Err(Error::IdleTimeout),
    }
}

/// A stream that counts the bytes read from it (the bytes the relay forwards from that
/// side) and notes the activity for the idle timeout.
struct Metered<'a, T> {
    inner: T,
    counters: [&'a AtomicU64; 2],
    activity: &'a Activity,
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.activity.touch();
            for counter in self.counters {
                counter.fetch_add(read as u64, Ordering::Relaxed);
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
