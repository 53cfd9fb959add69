//! CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`, a bare address) and matching a peer against them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block. Stored as the masked network address; IPv4 blocks only match IPv4
/// peers and IPv6 blocks IPv6 peers (IPv4-mapped IPv6 peers are turned into IPv4 first, see
/// [`canonical`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR block could not be parsed (shown in configuration errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `addr/prefix` or a bare address (a /32 or /128). Host bits below the prefix are
    /// ignored (`10.1.2.3/8` is `10.0.0.0/8`), as HAProxy and iptables do.
    fn from_str(text: &str) -> Result<Self, CidrError> {
        let bad = |why: &str| CidrError(format!("invalid CIDR block {text:?}: {why}"));
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| bad("not an IPv4 or IPv6 address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // Digits only: u8's parser would also take a leading '+'.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad("prefix out of range"))?
            }
            Some(_) => return Err(bad("the prefix length must be a number")),
        };
        if prefix > max {
            return Err(bad(&format!("prefix length must be at most {max}")));
        }
        Ok(Cidr {
            network: mask(address, prefix),
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    /// Whether `peer` (already [`canonical`]) lies in this block.
    #[inline]
    pub fn contains(&self, peer: IpAddr) -> bool {
        match (self.network, peer) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(peer, self.prefix) == self.network
            }
            _ => false,
        }
    }
}

/// The address a peer is judged by: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a
/// dual-stack socket reports for IPv4 clients) is the IPv4 address it carries, so that IPv4
/// rules apply to it and it cannot slip past them.
#[inline]
pub fn canonical(peer: IpAddr) -> IpAddr {
    peer.to_canonical()
}

fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & kept).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & kept).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        canonical(text.parse().unwrap())
    }

    #[test]
    fn matches_v4_and_v6_blocks() {
        assert!(cidr("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(cidr("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!cidr("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(cidr("2001:db8::/32").contains(ip("2001:db8:1::5")));
        assert!(!cidr("2001:db8::/32").contains(ip("2001:db9::5")));
        assert!(cidr("::/0").contains(ip("::1")));
        assert!(
            !cidr("::/0").contains(ip("10.0.0.1")),
            "v6 rules never match v4 peers"
        );
    }

    #[test]
    fn ipv4_mapped_peers_are_judged_as_ipv4() {
        assert!(cidr("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        assert!(!cidr("::ffff:0:0/96").contains(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn host_bits_are_masked_and_displayed_as_the_network() {
        assert_eq!(cidr("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(cidr("2001:db8::1/32").to_string(), "2001:db8::/32");
    }

    #[test]
    fn refuses_bad_blocks_with_the_reason() {
        for (text, why) in [
            ("10.0.0.0/33", "at most 32"),
            ("::/129", "at most 128"),
            ("10.0.0/8", "not an IPv4"),
            ("10.0.0.0/", "must be a number"),
            ("10.0.0.0/+8", "must be a number"),
            ("10.0.0.0/8/8", "must be a number"),
            ("", "not an IPv4"),
        ] {
            let error = text.parse::<Cidr>().unwrap_err().to_string();
            assert!(error.contains(why), "{text:?}: {error}");
        }
    }
}
