//! The forwarding headers fastlb adds to requests (`X-Forwarded-For`, `X-Forwarded-Proto`,
//! `X-Forwarded-Host`, RFC 7239 `Forwarded`), as HAProxy's `option forwardfor` does.
//! Independent of HTTP/1 framing so the HTTP/2 side can use it too: it only needs the
//! received fields as (name, value) pairs and writes `Name: value\r\n` lines.
//!
//! Trust decides what happens to the fields a client sent. From a peer in `trusted_proxies`
//! (another load balancer in front) X-Forwarded-For and Forwarded are extended with the
//! client, X-Forwarded-Proto / -Host are kept (they describe the original hop) and only added
//! when missing. From anyone else they are dropped and replaced, so a client cannot make a
//! server believe another address or scheme. A header whose option is off is left alone,
//! as HAProxy does. A client in `x_forwarded_for_except` gets no X-Forwarded-For of ours
//! and keeps its own (HAProxy `forwardfor except`: the source is a local proxy that set it).

use std::io::Write;
use std::net::IpAddr;

use crate::http::config::ForwardedConfig;

/// Who the request came from and how, for the forwarding headers.
#[derive(Debug, Clone, Copy)]
pub struct Forwarding<'a> {
    pub config: &'a ForwardedConfig,
    /// The client address (after PROXY protocol).
    pub client: IpAddr,
    /// The peer is in `trusted_proxies`.
    pub trusted: bool,
    /// The client connection is TLS (`proto=https`).
    pub tls: bool,
}

const XFF: &[u8] = b"x-forwarded-for";
const XFP: &[u8] = b"x-forwarded-proto";
const XFH: &[u8] = b"x-forwarded-host";
const FORWARDED: &[u8] = b"forwarded";

impl Forwarding<'_> {
    fn client(&self) -> IpAddr {
        // An IPv4 client on a dual-stack socket is written (and matched) as IPv4.
        self.client.to_canonical()
    }

    fn xff_enabled(&self) -> bool {
        let client = self.client();
        self.config.x_forwarded_for
            && !self
                .config
                .x_forwarded_for_except
                .iter()
                .any(|block| block.contains(client))
    }

    fn proto(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// True when the received field `name` must not be copied to the forwarded head: this
    /// module writes its own version of it in [`Forwarding::write`].
    pub fn drops(&self, name: &[u8]) -> bool {
        match name.len() {
            15 if name.eq_ignore_ascii_case(XFF) => self.xff_enabled(),
            17 if name.eq_ignore_ascii_case(XFP) => self.config.x_forwarded_proto && !self.trusted,
            16 if name.eq_ignore_ascii_case(XFH) => self.config.x_forwarded_host && !self.trusted,
            9 if name.eq_ignore_ascii_case(FORWARDED) => self.config.forwarded,
            _ => false,
        }
    }

    /// Appends the forwarding header lines to `out`. `incoming` yields the (name, value) of
    /// every received field; `host` is the request's original host (Host or authority).
    pub fn write<'b>(
        &self,
        out: &mut Vec<u8>,
        incoming: impl Iterator<Item = (&'b [u8], &'b [u8])> + Clone,
        host: Option<&[u8]>,
    ) {
        let client = self.client();
        let received = |name: &'static [u8]| {
            incoming
                .clone()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        if self.xff_enabled() {
            out.extend_from_slice(b"X-Forwarded-For: ");
            if self.trusted {
                append_list(out, received(XFF));
            }
            let _ = write!(out, "{client}\r\n");
        }
        if self.config.x_forwarded_proto && !(self.trusted && received(XFP).next().is_some()) {
            let _ = write!(out, "X-Forwarded-Proto: {}\r\n", self.proto());
        }
        if let Some(host) = host.filter(|_| self.config.x_forwarded_host) {
            if !(self.trusted && received(XFH).next().is_some()) {
                out.extend_from_slice(b"X-Forwarded-Host: ");
                out.extend_from_slice(host);
                out.extend_from_slice(b"\r\n");
            }
        }
        if self.config.forwarded {
            out.extend_from_slice(b"Forwarded: ");
            if self.trusted {
                append_list(out, received(FORWARDED));
            }
            forwarded_element(out, client, self.proto(), host);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Writes each non-empty received value followed by `, `: the list our element extends.
fn append_list<'b>(out: &mut Vec<u8>, values: impl Iterator<Item = &'b [u8]>) {
    for value in values.filter(|v| !v.is_empty()) {
        out.extend_from_slice(value);
        out.extend_from_slice(b", ");
    }
}

/// One RFC 7239 forwarded-element: `for=...;proto=...;host=...`. An IPv6 node is bracketed
/// and quoted (§6: `for="[2001:db8::1]"`, `:` and `[` are not token characters); a host with
/// a port is quoted for the same reason.
pub fn forwarded_element(out: &mut Vec<u8>, client: IpAddr, proto: &str, host: Option<&[u8]>) {
    let _ = match client {
        IpAddr::V4(v4) => write!(out, "for={v4}"),
        IpAddr::V6(v6) => write!(out, "for=\"[{v6}]\""),
    };
    let _ = write!(out, ";proto={proto}");
    if let Some(host) = host {
        out.extend_from_slice(b";host=");
        if !host.is_empty() && host.iter().all(|&b| super::fields::is_tchar(b)) {
            out.extend_from_slice(host);
        } else {
            out.push(b'"');
            for &b in host {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
        }
    }
}
