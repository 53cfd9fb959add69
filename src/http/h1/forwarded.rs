//! The forwarding headers fastlb adds to requests (`X-Forwarded-For`, `X-Forwarded-Proto`,
//! `X-Forwarded-Host`, RFC 7239 `Forwarded`), as HAProxy's `option forwardfor` does.
//! Independent of HTTP/1 framing so the HTTP/2 side can use it too.

use std::net::IpAddr;

use crate::http::config::ForwardedConfig;

/// Who the request came from and how, for the forwarding headers.
#[derive(Debug, Clone, Copy)]
pub struct Forwarding<'a> {
    pub config: &'a ForwardedConfig,
    /// The client address (after PROXY protocol).
    pub client: IpAddr,
    /// The peer is in `trusted_proxies`: its X-Forwarded-For is extended, its
    /// X-Forwarded-Proto / -Host / Forwarded are kept. Otherwise they are replaced.
    pub trusted: bool,
    /// The client connection is TLS (`proto=https`).
    pub tls: bool,
}

impl Forwarding<'_> {
    /// True when the incoming field `name` must not be copied to the forwarded head (this
    /// module writes its own version of it instead).
    pub fn drops(&self, name: &[u8]) -> bool {
        let _ = name;
        todo!()
    }

    /// Appends the forwarding header lines (`Name: value\r\n`) to `out`. `incoming` yields the
    /// (name, value) of every received field (to extend X-Forwarded-For / Forwarded from a
    /// trusted peer); `host` is the request's original host.
    pub fn write<'b>(
        &self,
        out: &mut Vec<u8>,
        incoming: impl Iterator<Item = (&'b [u8], &'b [u8])> + Clone,
        host: Option<&[u8]>,
    ) {
        let _ = (out, incoming, host);
        todo!()
    }
}
