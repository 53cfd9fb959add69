//! A frontend's `accept_proxy` settings: whose header to believe and how long to wait for it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::FrontendConfig;
use crate::firewall::{canonical, Cidr};

/// `accept_proxy: true` on a frontend, read at accept by every mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptProxy {
    /// The whole header must arrive within this (`proxy_timeout_ms`).
    pub timeout: Duration,
    /// `trusted_proxies`: only these peers may send a header. Empty trusts nobody (the spec
    /// §2: "The receiver SHOULD ensure proper access filtering so that only trusted proxies
    /// are allowed to use this protocol"; the Python config refuses that combination).
    pub trusted: Vec<Cidr>,
}

impl AcceptProxy {
    /// The frontend's settings, or None when it does not take PROXY headers.
    pub fn from_config(config: &FrontendConfig) -> Option<Arc<AcceptProxy>> {
        config.accept_proxy.then(|| {
            Arc::new(AcceptProxy {
                timeout: Duration::from_millis(config.proxy_timeout_ms),
                trusted: config.trusted_proxies.clone(),
            })
        })
    }

    /// Whether `peer` (the TCP peer, i.e. the load balancer in front) may send a header.
    /// A v4-mapped IPv6 peer is judged by its IPv4 address, like the firewall does.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = canonical(peer);
        self.trusted.iter().any(|block| block.contains(peer))
    }
}
