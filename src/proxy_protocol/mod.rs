//! The PROXY protocol (HAProxy's spec "proxy-protocol.txt", v1 text and v2 binary): read from a
//! client behind another load balancer (`accept_proxy`), sent to servers (`send_proxy`) so they
//! see the client's address. Used by `mode: tcp` and `mode: http` alike.
//!
//! The parsing here is pure and synchronous (fuzzed by `fuzz/fuzz_targets/proxy_protocol.rs`);
//! `io` reads exactly one header off a socket and writes one onto a new server connection;
//! `accept` holds a frontend's `accept_proxy` settings.

mod accept;
mod io;
mod v1;
mod v2;

#[cfg(test)]
mod io_tests;
#[cfg(test)]
mod tests;

pub use accept::AcceptProxy;
pub use io::{read_header, write_header};

use serde::Deserialize;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// `backends[i].send_proxy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyVersion {
    V1,
    V2,
}

/// What a PROXY header reported: the client and the address it connected to (spec §2: the
/// getpeername()/getsockname() pair the first proxy saw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxiedAddresses {
    pub client: SocketAddr,
    pub local: SocketAddr,
}

/// Why a PROXY header was refused. Every case closes the connection: the spec (§2.1) says
/// anything that does not exactly match the protocol must abort it.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no complete PROXY header within {0:?}")]
    Timeout(Duration),
    #[error("not a PROXY protocol header (neither the v1 nor the v2 signature)")]
    BadSignature,
    #[error("malformed PROXY header: {0}")]
    Malformed(&'static str),
    #[error("the connection ended inside the PROXY header")]
    Truncated,
    #[error("PROXY header longer than {0} bytes")]
    Oversized(usize),
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
}

/// How much of a buffer's start is a PROXY header, as far as its bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Every byte so far belongs to a header that is not finished yet.
    Incomplete,
    /// The header is this many bytes long; what follows is the client's data.
    Complete(usize),
}

/// The longest v1 line including CRLF (spec §2.1: "PROXY UNKNOWN" with two IPv6 addresses
/// is the worst case, 107 bytes).
pub const V1_MAX_LEN: usize = 107;

/// The longest v2 header accepted, TLVs included. The spec allows 16 + 65535 bytes; HAProxy
/// caps it at its buffer size. What real senders add (AWS's VPC endpoint id, HAProxy's SSL
/// TLVs, a unique id of at most 128 bytes) fits well within 1 KiB, so 4 KiB leaves room
/// without letting one connection make us hold 64 KiB.
pub const V2_MAX_LEN: usize = 4096;

/// Tells how long the header at the start of `buf` is, without decoding it, by its
/// version's framing (the v1 line ends at the first LF; v2 says its length). Used to consume
/// exactly the header from a socket, so that TLS, HTTP or the relay starts at the next byte.
pub fn scan(buf: &[u8]) -> Result<Scan, ProxyError> {
    if starts_like(buf, v2::SIGNATURE) {
        v2::scan(buf)
    } else if starts_like(buf, v1::SIGNATURE) {
        v1::scan(buf)
    } else {
        // Spec §2.2: "otherwise the protocol is not covered by this specification and the
        // connection must be dropped" (the receiver must never guess that no header came).
        Err(ProxyError::BadSignature)
    }
}

/// Parses the header at the start of `buf` (v1 or v2, told apart by their signatures).
/// Returns the addresses, or None for a v2 LOCAL command or an UNKNOWN/unsupported family
/// (the receiver then keeps the connection's own addresses, spec §2.1 and §2.2), with the
/// header's length. A `buf` that ends inside the header is `Truncated`.
pub fn parse(buf: &[u8]) -> Result<(Option<ProxiedAddresses>, usize), ProxyError> {
    let length = match scan(buf)? {
        Scan::Complete(length) => length,
        Scan::Incomplete => return Err(ProxyError::Truncated),
    };
    let header = &buf[..length];
    let addresses = if header.starts_with(v2::SIGNATURE) {
        v2::parse(header)?
    } else {
        v1::parse(header)?
    };
    Ok((addresses, length))
}

/// Appends a PROXY header saying that `client` connected to `local` (spec §2.1 / §2.2, the
/// PROXY command). Two IPv4 addresses (v4-mapped ones count as IPv4) give `TCP4` / `AF_INET`;
/// otherwise both are written as IPv6, the IPv4 one v4-mapped, as HAProxy does when the
/// families differ (a header has one family for both addresses).
pub fn encode(version: ProxyVersion, client: SocketAddr, local: SocketAddr, out: &mut Vec<u8>) {
    let pair = AddressPair::of(client, local);
    match version {
        ProxyVersion::V1 => v1::encode(&pair, out),
        ProxyVersion::V2 => v2::encode(&pair, out),
    }
}

/// Appends a v2 LOCAL header: "the connection was established on purpose by the proxy
/// without being relayed" (spec §2.2), what HAProxy sends on its own health checks in v2.
pub fn encode_local(out: &mut Vec<u8>) {
    v2::encode_local(out);
}

/// The two addresses of a header in the one family they share.
#[derive(Debug, Clone, Copy)]
enum AddressPair {
    V4 {
        client: (std::net::Ipv4Addr, u16),
        local: (std::net::Ipv4Addr, u16),
    },
    V6 {
        client: (Ipv6Addr, u16),
        local: (Ipv6Addr, u16),
    },
}

impl AddressPair {
    fn of(client: SocketAddr, local: SocketAddr) -> Self {
        match (as_v4(client.ip()), as_v4(local.ip())) {
            (Some(c), Some(l)) => AddressPair::V4 {
                client: (c, client.port()),
                local: (l, local.port()),
            },
            _ => AddressPair::V6 {
                client: (as_v6(client.ip()), client.port()),
                local: (as_v6(local.ip()), local.port()),
            },
        }
    }
}

/// IPv4, or the IPv4 inside a v4-mapped IPv6 address (`::ffff:a.b.c.d`).
fn as_v4(ip: IpAddr) -> Option<std::net::Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// `buf` is a prefix of `signature` (the empty one included), or starts with all of it.
fn starts_like(buf: &[u8], signature: &[u8]) -> bool {
    let n = buf.len().min(signature.len());
    buf[..n] == signature[..n]
}
