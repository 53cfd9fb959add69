//! PROXY protocol version 1: one US-ASCII line (spec §2.1),
//! `PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\r\n`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{AddressPair, ProxiedAddresses, ProxyError, Scan, V1_MAX_LEN};

/// "PROXY" and exactly one space.
pub(super) const SIGNATURE: &[u8] = b"PROXY ";

/// The line ends at its first LF, which must come within 107 bytes (spec §2.1: "If the CRLF
/// sequence is not found in the first 107 characters, the receiver should declare the line
/// invalid"). Whether a CR precedes it is `parse`'s to check.
pub(super) fn scan(buf: &[u8]) -> Result<Scan, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) => Ok(Scan::Complete(lf + 1)),
        None if buf.len() >= V1_MAX_LEN => Err(ProxyError::Oversized(V1_MAX_LEN)),
        None => Ok(Scan::Incomplete),
    }
}

/// Parses one whole line, CRLF included. Strict, as the spec asks ("Any sequence which does
/// not exactly match the protocol must be discarded"): single spaces, no leading zeros in
/// ports or IPv4 octets, the family's own address syntax, no lone CR.
pub(super) fn parse(line: &[u8]) -> Result<Option<ProxiedAddresses>, ProxyError> {
    let body = line
        .strip_prefix(SIGNATURE)
        .ok_or(ProxyError::BadSignature)?
        .strip_suffix(b"\r\n")
        .ok_or(ProxyError::Malformed("v1 line does not end with CRLF"))?;
    if body.contains(&b'\r') {
        return Err(ProxyError::Malformed("v1 line has a lone CR"));
    }
    // "UNKNOWN": the receiver "must ignore anything presented before the CRLF" and keep the
    // connection's own addresses.
    if let Some(rest) = body.strip_prefix(b"UNKNOWN") {
        if rest.is_empty() || rest[0] == b' ' {
            return Ok(None);
        }
    }
    let body =
        std::str::from_utf8(body).map_err(|_| ProxyError::Malformed("v1 line is not ASCII"))?;
    let mut fields = body.split(' ');
    let family = fields.next().unwrap_or_default();
    let ip: fn(&str) -> Result<IpAddr, ProxyError> = match family {
        "TCP4" => |text| ipv4(text).map(IpAddr::V4),
        "TCP6" => |text| ipv6(text).map(IpAddr::V6),
        _ => {
            return Err(ProxyError::Malformed(
                "v1 protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        }
    };
    let mut next = || {
        fields
            .next()
            .ok_or(ProxyError::Malformed("v1 line has too few fields"))
    };
    let (source, destination, source_port, destination_port) = (next()?, next()?, next()?, next()?);
    if fields.next().is_some() {
        return Err(ProxyError::Malformed("v1 line has too many fields"));
    }
    let (client, local) = (ip(source)?, ip(destination)?);
    Ok(Some(ProxiedAddresses {
        client: SocketAddr::new(client, port(source_port)?),
        local: SocketAddr::new(local, port(destination_port)?),
    }))
}

/// Four decimal octets; the standard library refuses leading zeros ("Heading zeroes are not
/// permitted ... to avoid any possible confusion with octal numbers").
fn ipv4(text: &str) -> Result<Ipv4Addr, ProxyError> {
    text.parse()
        .map_err(|_| ProxyError::Malformed("v1 TCP4 address is not a dotted quad"))
}

fn ipv6(text: &str) -> Result<Ipv6Addr, ProxyError> {
    text.parse()
        .map_err(|_| ProxyError::Malformed("v1 TCP6 address is not an IPv6 address"))
}

/// A decimal integer in [0..65535] without a sign or leading zeros (u16's own parser would
/// take "+80" and "080").
fn port(text: &str) -> Result<u16, ProxyError> {
    const BAD: ProxyError = ProxyError::Malformed("v1 port is not a decimal in 0..65535");
    let digits = text.as_bytes();
    if digits.is_empty()
        || digits.len() > 5
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits[0] == b'0' && digits.len() > 1)
    {
        return Err(BAD);
    }
    text.parse().map_err(|_| BAD)
}

/// Writes the line for `pair` (at most 104 bytes: two full IPv6 addresses).
pub(super) fn encode(pair: &AddressPair, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = match *pair {
        AddressPair::V4 { client, local } => write!(
            out,
            "PROXY TCP4 {} {} {} {}\r\n",
            client.0, local.0, client.1, local.1
        ),
        AddressPair::V6 { client, local } => {
            out.extend_from_slice(b"PROXY TCP6 ");
            write_ipv6(out, client.0);
            out.push(b' ');
            write_ipv6(out, local.0);
            write!(out, " {} {}\r\n", client.1, local.1)
        }
    };
}

/// IPv6 in the spec's syntax: hex groups with at most one "::". The standard library's
/// display is that, except for v4-mapped addresses which it writes `::ffff:1.2.3.4`: those
/// are written `::ffff:102:304`, which every parser of the spec's syntax reads.
fn write_ipv6(out: &mut Vec<u8>, ip: Ipv6Addr) {
    let _ = match ip.to_ipv4_mapped() {
        Some(v4) => {
            let [a, b, c, d] = v4.octets();
            write!(
                out,
                "::ffff:{:x}:{:x}",
                u16::from_be_bytes([a, b]),
                u16::from_be_bytes([c, d])
            )
        }
        None => write!(out, "{ip}"),
    };
}
