//! Binding listen sockets and the accept loop.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::frontend::Frontend;
use super::global_limit::{GlobalLimit, GlobalSlot};
use super::session;
use crate::config::FrontendMode;
use crate::stats::bump;

/// Kernel accept queue length; the kernel caps it at net.core.somaxconn.
const BACKLOG: i32 = 4096;

/// Binds synchronously (so the caller learns of a taken port before anything runs).
pub(super) fn bind(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // Restarting fastlb must not wait for TIME_WAIT sockets of the previous run.
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Accepts until `stop` flips, then drops the listener (new connections are refused).
// NOTE: one loop per listener. With one per worker on a shared socket, tokio woke every
// loop for each connection and ~8% of accept4 calls came back EAGAIN (strace -c, one
// connection per request); a single loop accepts in a burst until EAGAIN and spawns
// sessions that any worker can run.
pub(super) async fn accept_loop(
    listener: TcpListener,
    frontend: Arc<Frontend>,
    global: Arc<GlobalLimit>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if global.max().is_some() {
            // Back-pressure: at the process-wide limit, leave new clients in the kernel's
            // accept queue until a connection ends, rather than accepting and closing.
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => return,
                () = global.room() => {}
            }
        }
        let accepted = tokio::select! {
            biased;
            _ = stop.wait_for(|stopping| *stopping) => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((client, peer)) => {
                let slot = tokio::select! {
                    biased;
                    _ = stop.wait_for(|stopping| *stopping) => return,
                    slot = global.acquire() => slot,
                };
                admit(client, peer, &frontend, slot);
            }
            Err(error) => {
                bump(&frontend.stats.accept_errors);
                // Out of descriptors or memory: the error repeats until something closes,
                // so back off instead of spinning on it. Anything else (a client that reset
                // before we accepted it) concerns that client only.
                if matches!(
                    error.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                ) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}

/// The firewall, then the frontend's `max_connections`; a session only for what passes.
#[inline]
fn admit(client: TcpStream, peer: SocketAddr, frontend: &Arc<Frontend>, global: GlobalSlot) {
    let source = match frontend.firewall.admit(peer.ip()) {
        Ok(source) => source,
        Err(refusal) => {
            frontend.count_refusal(refusal);
            return reset(client);
        }
    };
    match frontend.reserve_slot(global, source) {
        Some(slot) => match frontend.mode {
            FrontendMode::Tcp => {
                tokio::spawn(session::serve(client, slot));
            }
            FrontendMode::Mysql => {
                tokio::spawn(crate::mysql::serve(client, slot));
            }
        },
        None => bump(&frontend.stats.rejected),
    }
}

/// Closes a refused connection with a reset: the client learns at once, and no TIME_WAIT
/// is left on our side by a flood of refused connections.
#[cold]
fn reset(client: TcpStream) {
    let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
}
