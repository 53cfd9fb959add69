//! The firewall at accept: a frontend's source-address ACL and per-source limits, checked
//! on the accepting task before a session exists or any backend is contacted.
//!
//! A frontend without an ACL or per-source limits pays one arc-swap load and two relaxed
//! atomic loads per accepted connection, nothing else.

pub mod cidr;
mod sources;

use arc_swap::ArcSwapOption;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

pub use cidr::{canonical, Cidr, CidrError};
pub use sources::{SourceRefusal, SourceTable, SourceTicket};

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `acl: {allow: [CIDR...], deny: [CIDR...]}` of a frontend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclConfig {
    #[serde(default)]
    pub allow: Vec<Cidr>,
    #[serde(default)]
    pub deny: Vec<Cidr>,
}

impl AclConfig {
    /// A peer is refused when it is in a `deny` block, or when `allow` is not empty and
    /// it is in none of its blocks. Deny wins, so `allow: [10.0.0.0/8], deny: [10.6.6.6]`
    /// lets in all of 10/8 but one address.
    #[inline]
    pub fn permits(&self, peer: IpAddr) -> bool {
        let peer = canonical(peer);
        !self.deny.iter().any(|block| block.contains(peer))
            && (self.allow.is_empty() || self.allow.iter().any(|block| block.contains(peer)))
    }
}

/// `connection_rate_per_source`: at most `connections` new connections per `window_ms`
/// from one address (a sliding window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRateConfig {
    pub connections: u32,
    pub window_ms: u64,
}

/// Why a connection was refused at accept (each reason has its own counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The source address is not allowed by the ACL.
    Acl,
    Source(SourceRefusal),
}

/// A frontend's accept-time checks. Reloads change the rules in place; per-source counts
/// survive them.
#[derive(Default)]
pub struct Firewall {
    acl: ArcSwapOption<AclConfig>,
    sources: Arc<SourceTable>,
}

impl Firewall {
    /// Applies a frontend's (re)loaded settings.
    pub fn configure(
        &self,
        acl: Option<&AclConfig>,
        max_connections_per_source: Option<u32>,
        rate: Option<SourceRateConfig>,
    ) {
        self.acl.store(acl.cloned().map(Arc::new));
        self.sources.set_limits(
            max_connections_per_source,
            rate.map(|r| (r.connections, r.window_ms)),
        );
    }

    /// Checks a new connection from `peer`. `Ok(None)` when no per-source limit is set (no
    /// accounting needed); the ticket otherwise, to be held for the connection's life.
    #[inline]
    pub fn admit(&self, peer: IpAddr) -> Result<Option<SourceTicket>, Refusal> {
        let peer = canonical(peer);
        if let Some(acl) = self.acl.load().as_deref() {
            if !acl.permits(peer) {
                return Err(Refusal::Acl);
            }
        }
        if !self.sources.is_active() {
            return Ok(None);
        }
        self.sources.admit(peer).map(Some).map_err(Refusal::Source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(allow: &[&str], deny: &[&str]) -> AclConfig {
        let blocks = |list: &[&str]| list.iter().map(|b| b.parse().unwrap()).collect();
        AclConfig {
            allow: blocks(allow),
            deny: blocks(deny),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn deny_wins_over_allow_and_empty_allow_means_everyone() {
        let rules = acl(&["10.0.0.0/8"], &["10.6.6.6"]);
        assert!(rules.permits(ip("10.1.1.1")));
        assert!(!rules.permits(ip("10.6.6.6")));
        assert!(!rules.permits(ip("192.0.2.1")));
        assert!(
            !rules.permits(ip("::ffff:10.6.6.6")),
            "mapped v4 can't dodge a v4 deny"
        );
        assert!(rules.permits(ip("::ffff:10.1.1.1")));
        let deny_only = acl(&[], &["2001:db8::/32"]);
        assert!(deny_only.permits(ip("192.0.2.1")));
        assert!(!deny_only.permits(ip("2001:db8::1")));
    }

    #[test]
    fn firewall_counts_only_with_limits_and_applies_reloads() {
        let firewall = Firewall::default();
        assert!(matches!(firewall.admit(ip("127.0.0.2")), Ok(None)));
        firewall.configure(Some(&acl(&["127.0.0.1"], &[])), Some(1), None);
        assert_eq!(firewall.admit(ip("127.0.0.2")).err(), Some(Refusal::Acl));
        let ticket = firewall.admit(ip("127.0.0.1")).unwrap();
        assert!(ticket.is_some());
        assert_eq!(
            firewall.admit(ip("127.0.0.1")).err(),
            Some(Refusal::Source(SourceRefusal::TooManyConnections))
        );
        firewall.configure(None, None, None);
        assert!(matches!(firewall.admit(ip("127.0.0.2")), Ok(None)));
    }

    #[test]
    fn acl_json_names_the_bad_block() {
        let error = serde_json::from_str::<AclConfig>(r#"{"allow": ["10.0.0.0/40"]}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("10.0.0.0/40"), "{error}");
    }
}
