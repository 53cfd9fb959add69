//! Where a client connection comes from.

use std::net::SocketAddr;

/// The addresses of an accepted connection. Behind another load balancer that sends the
/// PROXY protocol (`accept_proxy`), `client` and `local` are the ones it reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOrigin {
    /// The TCP peer (the other load balancer, when proxied).
    pub peer: SocketAddr,
    /// The real client.
    pub client: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
}

impl ClientOrigin {
    /// A direct connection: the peer is the client.
    pub fn direct(peer: SocketAddr, local: SocketAddr) -> Self {
        ClientOrigin {
            peer,
            client: peer,
            local,
        }
    }
}
