//! Forwarding headers: X-Forwarded-For append / replace / except, proto, host, RFC 7239.

use std::net::IpAddr;

use super::*;
use crate::http::config::ForwardedConfig;

fn config(xff: bool, except: &[&str], xfp: bool, xfh: bool, forwarded: bool) -> ForwardedConfig {
    ForwardedConfig {
        x_forwarded_for: xff,
        x_forwarded_for_except: except.iter().map(|c| c.parse().unwrap()).collect(),
        x_forwarded_proto: xfp,
        x_forwarded_host: xfh,
        forwarded,
    }
}

/// The forwarded head's fields after the request line, for `raw` from `client`.
fn forward(raw: &[u8], config: &ForwardedConfig, client: &str, trusted: bool, tls: bool) -> String {
    let head = ok(raw);
    let forwarding = Forwarding {
        config,
        client: client.parse::<IpAddr>().unwrap(),
        trusted,
        tls,
    };
    let mut out = Vec::new();
    write_request_head(
        &mut out,
        raw,
        &head,
        |_| false,
        Some(&forwarding),
        [],
        ConnectionHeader::Omit,
    );
    let text = String::from_utf8(out).unwrap();
    text.split_once("\r\n").unwrap().1.to_string()
}

const SPOOFED: &[u8] =
    b"GET / HTTP/1.1\r\nHost: h:8080\r\nX-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7\r\n\
X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nForwarded: for=6.6.6.6\r\n\r\n";

#[test]
fn untrusted_client_replaces_everything() {
    let all = config(true, &[], true, true, true);
    assert_eq!(
        forward(SPOOFED, &all, "192.0.2.1", false, false),
        "Host: h:8080\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h:8080\r\n\
Forwarded: for=192.0.2.1;proto=http;host=\"h:8080\"\r\n\r\n"
    );
}

#[test]
fn trusted_peer_is_extended() {
    let all = config(true, &[], true, true, true);
    assert_eq!(
        forward(SPOOFED, &all, "192.0.2.1", true, true),
        "Host: h:8080\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\
X-Forwarded-For: 6.6.6.6, 7.7.7.7, 192.0.2.1\r\n\
Forwarded: for=6.6.6.6, for=192.0.2.1;proto=https;host=\"h:8080\"\r\n\r\n"
    );
    // A trusted peer that sent no X-Forwarded-Proto / -Host gets ours.
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(
        forward(raw, &all, "192.0.2.1", true, true),
        "Host: h\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\n\
Forwarded: for=192.0.2.1;proto=https;host=h\r\n\r\n"
    );
}

#[test]
fn except_blocks_get_no_xff_and_keep_theirs() {
    let cfg = config(true, &["127.0.0.0/8", "::1/128"], false, false, false);
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.1.1.1\r\n\r\n";
    assert_eq!(
        forward(raw, &cfg, "127.0.0.1", false, false),
        "Host: h\r\nX-Forwarded-For: 10.1.1.1\r\n\r\n"
    );
    assert_eq!(
        forward(raw, &cfg, "::1", false, false),
        "Host: h\r\nX-Forwarded-For: 10.1.1.1\r\n\r\n"
    );
    // An IPv4 client seen on a dual-stack socket is matched (and written) as IPv4.
    assert_eq!(
        forward(raw, &cfg, "::ffff:127.0.0.9", false, false),
        "Host: h\r\nX-Forwarded-For: 10.1.1.1\r\n\r\n"
    );
    assert_eq!(
        forward(raw, &cfg, "::ffff:192.0.2.9", false, false),
        "Host: h\r\nX-Forwarded-For: 192.0.2.9\r\n\r\n"
    );
}

#[test]
fn disabled_headers_are_left_alone() {
    let none = config(false, &[], false, false, false);
    assert_eq!(
        forward(SPOOFED, &none, "192.0.2.1", false, false),
        String::from_utf8_lossy(&SPOOFED[16..]).to_string()
    );
}

#[test]
fn forwarded_ipv6_is_bracketed_and_quoted() {
    let cfg = config(false, &[], false, false, true);
    let raw = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_eq!(
        forward(raw, &cfg, "2001:db8::1", false, true),
        "Host: example.com\r\nForwarded: for=\"[2001:db8::1]\";proto=https;host=example.com\r\n\r\n"
    );
    let cfg = config(true, &[], false, false, false);
    assert_eq!(
        forward(raw, &cfg, "2001:db8::1", false, false),
        "Host: example.com\r\nX-Forwarded-For: 2001:db8::1\r\n\r\n"
    );
}

#[test]
fn forwarded_host_quoting() {
    let mut out = Vec::new();
    crate::http::h1::forwarded::forwarded_element(
        &mut out,
        "192.0.2.1".parse().unwrap(),
        "http",
        Some(b"[::1]:80"),
    );
    assert_eq!(out, b"for=192.0.2.1;proto=http;host=\"[::1]:80\"");
    let mut out = Vec::new();
    crate::http::h1::forwarded::forwarded_element(
        &mut out,
        "192.0.2.1".parse().unwrap(),
        "http",
        Some(b""),
    );
    assert_eq!(out, b"for=192.0.2.1;proto=http;host=\"\"");
    let mut out = Vec::new();
    crate::http::h1::forwarded::forwarded_element(
        &mut out,
        "192.0.2.1".parse().unwrap(),
        "http",
        None,
    );
    assert_eq!(out, b"for=192.0.2.1;proto=http");
}

#[test]
fn http10_without_host_gets_no_forwarded_host() {
    let cfg = config(false, &[], false, true, false);
    assert_eq!(
        forward(b"GET / HTTP/1.0\r\n\r\n", &cfg, "192.0.2.1", false, false),
        "\r\n"
    );
}
