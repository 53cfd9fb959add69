//! Binding listen sockets and the accept loop; a frontend with `accept_proxy` reads the
//! client's PROXY header before its session starts.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::frontend::{ConnectionSlot, Frontend};
use super::global_limit::{GlobalLimit, GlobalSlot};
use super::{session, ClientOrigin};
use crate::config::FrontendMode;
use crate::proxy_protocol::{self, AcceptProxy};
use crate::stats::bump;

/// Kernel accept queue length; the kernel caps it at net.core.somaxconn.
const BACKLOG: i32 = 4096;

// Every listening socket has TCP_NODELAY: Linux copies it to each connection accepted there,
// so the sessions don't set it (one setsockopt per connection less, which counts when each
// request is a new connection).

/// Binds synchronously (so the caller learns of a taken port before anything runs): one
/// listening socket per worker, all on the same address with SO_REUSEPORT, so that the
/// kernel spreads new connections over the workers and each worker serves what it accepts.
pub(super) fn bind(address: SocketAddr, workers: usize) -> io::Result<Vec<std::net::TcpListener>> {
    // SO_REUSEPORT would also let another process of the same user that uses it (a second
    // fastlb, say) share the port silently instead of failing to start: first take the
    // address without it, which fails if anything at all listens there.
    if address.port() != 0 {
        drop(bound_socket(address, false)?);
    }
    let first = bound_socket(address, true)?;
    // Port 0: the others join the port the first one got.
    let bound = first
        .local_addr()?
        .as_socket()
        .ok_or(io::ErrorKind::InvalidInput)?;
    let mut all = Vec::with_capacity(workers);
    all.push(listen(first)?);
    for _ in 1..workers {
        all.push(listen(bound_socket(bound, true)?)?);
    }
    Ok(all)
}

/// Adds `count` more listening sockets to the SO_REUSEPORT group already bound at `address`
/// (by this process or, after an upgrade, by the one it took over from).
pub(super) fn join(address: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    (0..count)
        .map(|_| listen(bound_socket(address, true)?))
        .collect()
}

/// A listening TCP socket handed over by the process this one upgrades (SCM_RIGHTS).
/// It is the same socket, with the same accept queue, as the old process's: connections
/// waiting there are served by whichever process accepts them first, none is reset.
pub(super) fn adopt(fd: std::os::fd::OwnedFd) -> io::Result<std::net::TcpListener> {
    let socket = Socket::from(fd);
    // Anything but a listening TCP socket (a stray descriptor) is refused here, before an
    // accept loop would spin on it.
    if socket.r#type()? != Type::STREAM || !socket.is_listener()? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the inherited descriptor is not a listening TCP socket",
        ));
    }
    socket
        .local_addr()?
        .as_socket()
        .ok_or(io::ErrorKind::InvalidInput)?;
    socket.set_nonblocking(true)?;
    // An older fastlb may not have set it on the sockets it hands over.
    socket.set_tcp_nodelay(true)?;
    Ok(socket.into())
}

fn bound_socket(address: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // Restarting fastlb must not wait for TIME_WAIT sockets of the previous run.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket)
}

fn listen(socket: Socket) -> io::Result<std::net::TcpListener> {
    socket.set_tcp_nodelay(true)?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Accepts until `stop` flips, then drops the listener (new connections are refused).
/// Sessions are spawned on the accepting worker's own runtime and stay there.
// NOTE: one loop per worker, each on its own SO_REUSEPORT socket (listener and engine:
// thread-per-core). Measured against the alternatives (bench, 2 x 5 rounds of 5 s, load
// 5-12): a single loop on a multi-thread runtime (the previous design) woke other workers
// through futexes (~14k futex calls per 5 s keep-alive run, none now) and was 0.73-0.92x
// HAProxy on keep-alive against 0.97-1.02x; one socket shared (dup'd) by every worker's loop
// varied more (0.90-1.04x: every loop wakes for a connection and the first takes a burst,
// so the split between workers is left to chance). With SO_REUSEPORT the kernel hashes
// each connection to one socket: no thundering herd, no EAGAIN. Closing the sockets together (reload, stop) resets what waited
// in their backlogs, as closing the one socket did before.
pub(super) async fn accept_loop(
    listener: TcpListener,
    frontend: Arc<Frontend>,
    global: Arc<GlobalLimit>,
    mut stop: watch::Receiver<bool>,
) {
    // A listener bound to one address is every accepted connection's local address: knowing
    // it saves a getsockname per connection (one of ~10 syscalls of a `Connection: close`
    // HTTP request). A wildcard listener still asks each connection.
    let bound = listener
        .local_addr()
        .ok()
        .filter(|address| !address.ip().is_unspecified());
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
                admit(client, peer, bound, &frontend, slot);
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

/// The firewall, `trusted_proxies` (with `accept_proxy`), then the frontend's
/// `max_connections`; a session only for what passes.
///
/// The ACL judges the TCP peer, not the address a PROXY header will claim: it is the
/// connection we accept, and the header is not read yet (HAProxy's `tcp-request connection`
/// rules run before `accept-proxy` too). Rules on the real client belong to the proxy in
/// front, or to `mode: http`'s routing once the header has been read.
#[inline]
fn admit(
    client: TcpStream,
    peer: SocketAddr,
    bound: Option<SocketAddr>,
    frontend: &Arc<Frontend>,
    global: GlobalSlot,
) {
    let source = match frontend.firewall.admit(peer.ip()) {
        Ok(source) => source,
        Err(refusal) => {
            frontend.count_refusal(refusal);
            return reset(client);
        }
    };
    let accept_proxy = frontend.accept_proxy.load();
    if let Some(accept) = accept_proxy.as_ref() {
        // Before a slot, like an ACL refusal: an untrusted peer never costs a session.
        if !accept.trusts(peer.ip()) {
            bump(&frontend.stats.proxy_refused);
            return reset(client);
        }
    }
    let Some(slot) = frontend.reserve_slot(global, source) else {
        return bump(&frontend.stats.rejected);
    };
    match accept_proxy.as_ref() {
        None => match frontend.mode {
            FrontendMode::Tcp => {
                tokio::spawn(session::serve(client, slot, None));
            }
            FrontendMode::Mysql => {
                tokio::spawn(crate::mysql::serve(client, slot));
            }
            FrontendMode::Http => {
                let local = bound.unwrap_or_else(|| client.local_addr().unwrap_or(peer));
                let origin = ClientOrigin::direct(peer, local);
                tokio::spawn(crate::http::serve(client, slot, origin));
            }
        },
        Some(accept) => {
            tokio::spawn(serve_proxied(client, peer, slot, accept.clone()));
        }
    }
}

/// `accept_proxy`: the PROXY header within `proxy_timeout`, then the frontend's session
/// with the addresses it reported. A bad, truncated or late header closes the connection
/// (spec §2.1: "abort the connection as soon as possible") and is counted.
async fn serve_proxied(
    mut client: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    accept: Arc<AcceptProxy>,
) {
    let frontend = slot.frontend();
    let proxied = match proxy_protocol::read_header(&mut client, accept.timeout).await {
        Ok(proxied) => proxied,
        Err(_) => return bump(&frontend.stats.proxy_refused),
    };
    drop(accept);
    let origin = match proxied {
        Some(proxied) => ClientOrigin {
            peer,
            client: proxied.client,
            local: proxied.local,
        },
        // LOCAL (the proxy's own health check) or UNKNOWN: the connection's own addresses.
        None => ClientOrigin::direct(peer, client.local_addr().unwrap_or(peer)),
    };
    match frontend.mode {
        FrontendMode::Tcp => session::serve(client, slot, Some(origin)).await,
        // The MySQL session does not use the client's address (yet): the header is consumed
        // so that the handshake starts at the right byte.
        FrontendMode::Mysql => crate::mysql::serve(client, slot).await,
        FrontendMode::Http => crate::http::serve(client, slot, origin).await,
    }
}

/// Closes a refused connection with a reset: the client learns at once, and no TIME_WAIT
/// is left on our side by a flood of refused connections.
#[cold]
fn reset(client: TcpStream) {
    let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
}
