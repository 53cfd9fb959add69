//! PROXY protocol version 2: a 16-byte binary header, then the address block and TLVs
//! (spec §2.2).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{AddressPair, ProxiedAddresses, ProxyError, Scan, V2_MAX_LEN};

/// `\r\n\r\n\0\r\nQUIT\n`: chosen to be refused by HTTP, TLS, SMTP... parsers (spec §2.2, §7).
pub(super) const SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version/command, family/transport, length.
const FIXED_LEN: usize = 16;
/// Version 2 in the high nibble of the 13th byte; the receiver "must only accept this value".
const VERSION: u8 = 0x20;
const COMMAND_LOCAL: u8 = 0x0;
const COMMAND_PROXY: u8 = 0x1;
const FAMILY_UNSPEC: u8 = 0x0;
const FAMILY_INET: u8 = 0x1;
const FAMILY_INET6: u8 = 0x2;
const FAMILY_UNIX: u8 = 0x3;
const TRANSPORT_STREAM: u8 = 0x1;
/// Address block lengths: 2*4 + 2*2, 2*16 + 2*2, 2*108.
const INET_LEN: usize = 12;
const INET6_LEN: usize = 36;
const UNIX_LEN: usize = 216;
/// A TLV's type and two length bytes.
const TLV_HEADER_LEN: usize = 3;

/// The header is 16 bytes plus its length field (spec: "the length of the protocol header in
/// bytes is always exactly 16 + this value").
pub(super) fn scan(buf: &[u8]) -> Result<Scan, ProxyError> {
    if buf.len() < FIXED_LEN {
        return Ok(Scan::Incomplete);
    }
    let total = FIXED_LEN + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if total > V2_MAX_LEN {
        return Err(ProxyError::Oversized(V2_MAX_LEN));
    }
    Ok(if buf.len() >= total {
        Scan::Complete(total)
    } else {
        Scan::Incomplete
    })
}

/// Parses one whole header (exactly the length `scan` found).
///
/// HAProxy's choices where the spec leaves one: only TCP over IPv4/IPv6 yields addresses;
/// the other valid combinations (UNSPEC, UDP, AF_UNIX) keep the connection's own addresses,
/// which the spec allows ("A receiver is not required to implement other ones, provided
/// that it automatically falls back to the UNSPEC mode"). A UNIX family is thus accepted as
/// UNKNOWN rather than refused: the sender is a PROXY speaker, only its client is local.
/// TLVs are skipped, but their framing is checked like HAProxy does (a TLV running past
/// the header is a bad header); PP2_TYPE_CRC32C is not verified (optional, §2.2.3).
pub(super) fn parse(header: &[u8]) -> Result<Option<ProxiedAddresses>, ProxyError> {
    if header.len() < FIXED_LEN || !header.starts_with(SIGNATURE) {
        return Err(ProxyError::BadSignature);
    }
    let (version_command, family_transport) = (header[12], header[13]);
    if version_command & 0xf0 != VERSION {
        return Err(ProxyError::Malformed("v2 version is not 2"));
    }
    let block = &header[FIXED_LEN..];
    match version_command & 0x0f {
        // LOCAL: "the receiver must ... use the real connection endpoints and discard the
        // protocol block including the family which is ignored".
        COMMAND_LOCAL => return Ok(None),
        COMMAND_PROXY => {}
        _ => {
            return Err(ProxyError::Malformed(
                "v2 command is neither LOCAL nor PROXY",
            ))
        }
    }
    let (family, transport) = (family_transport >> 4, family_transport & 0x0f);
    if transport > 2 {
        return Err(ProxyError::Malformed(
            "v2 transport is not UNSPEC, STREAM or DGRAM",
        ));
    }
    let address_len = match family {
        FAMILY_UNSPEC => return Ok(None),
        FAMILY_INET => INET_LEN,
        FAMILY_INET6 => INET6_LEN,
        FAMILY_UNIX => UNIX_LEN,
        _ => return Err(ProxyError::Malformed("v2 address family is unknown")),
    };
    if block.len() < address_len {
        return Err(ProxyError::Malformed(
            "v2 length is shorter than its address family needs",
        ));
    }
    check_tlvs(&block[address_len..])?;
    if transport != TRANSPORT_STREAM {
        return Ok(None);
    }
    Ok(match family {
        FAMILY_INET => {
            let ip = |at: usize| {
                IpAddr::V4(Ipv4Addr::new(
                    block[at],
                    block[at + 1],
                    block[at + 2],
                    block[at + 3],
                ))
            };
            Some(addresses(ip(0), ip(4), &block[8..12]))
        }
        FAMILY_INET6 => {
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&block[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            Some(addresses(ip(0), ip(16), &block[32..36]))
        }
        _ => None,
    })
}

fn addresses(client: IpAddr, local: IpAddr, ports: &[u8]) -> ProxiedAddresses {
    ProxiedAddresses {
        client: SocketAddr::new(client, u16::from_be_bytes([ports[0], ports[1]])),
        local: SocketAddr::new(local, u16::from_be_bytes([ports[2], ports[3]])),
    }
}

/// Walks the TLVs (type, 16-bit length, value) to the header's end: each must fit whole.
fn check_tlvs(mut tlvs: &[u8]) -> Result<(), ProxyError> {
    while !tlvs.is_empty() {
        if tlvs.len() < TLV_HEADER_LEN {
            return Err(ProxyError::Malformed("v2 TLV header is truncated"));
        }
        let value_len = usize::from(u16::from_be_bytes([tlvs[1], tlvs[2]]));
        tlvs = tlvs
            .get(TLV_HEADER_LEN + value_len..)
            .ok_or(ProxyError::Malformed("v2 TLV runs past the header"))?;
    }
    Ok(())
}

/// Writes a PROXY command for TCP over the pair's family, without TLVs.
pub(super) fn encode(pair: &AddressPair, out: &mut Vec<u8>) {
    out.extend_from_slice(SIGNATURE);
    out.push(VERSION | COMMAND_PROXY);
    match *pair {
        AddressPair::V4 { client, local } => {
            out.push(FAMILY_INET << 4 | TRANSPORT_STREAM);
            out.extend_from_slice(&(INET_LEN as u16).to_be_bytes());
            out.extend_from_slice(&client.0.octets());
            out.extend_from_slice(&local.0.octets());
            out.extend_from_slice(&client.1.to_be_bytes());
            out.extend_from_slice(&local.1.to_be_bytes());
        }
        AddressPair::V6 { client, local } => {
            out.push(FAMILY_INET6 << 4 | TRANSPORT_STREAM);
            out.extend_from_slice(&(INET6_LEN as u16).to_be_bytes());
            out.extend_from_slice(&client.0.octets());
            out.extend_from_slice(&local.0.octets());
            out.extend_from_slice(&client.1.to_be_bytes());
            out.extend_from_slice(&local.1.to_be_bytes());
        }
    }
}

/// LOCAL with AF_UNSPEC and no address block ("When a sender presents a LOCAL connection,
/// it should not present any address so it sets this field to zero").
pub(super) fn encode_local(out: &mut Vec<u8>) {
    out.extend_from_slice(SIGNATURE);
    out.push(VERSION | COMMAND_LOCAL);
    out.push(FAMILY_UNSPEC);
    out.extend_from_slice(&0u16.to_be_bytes());
}
