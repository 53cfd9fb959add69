//! Parse/encode round trips and every malformed case of the spec, on bytes; reading a header
//! off a real socket pair (pieces, exact consumption, timeouts) is in `io_tests`.

use std::net::SocketAddr;

use super::*;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn encoded(version: ProxyVersion, client: &str, local: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode(version, addr(client), addr(local), &mut out);
    out
}

fn proxied(client: &str, local: &str) -> Option<ProxiedAddresses> {
    Some(ProxiedAddresses {
        client: addr(client),
        local: addr(local),
    })
}

fn malformed(buf: &[u8]) -> String {
    match parse(buf) {
        Err(error) => error.to_string(),
        Ok(parsed) => panic!("{:?} parsed as {parsed:?}", String::from_utf8_lossy(buf)),
    }
}

/// A v2 header with this command/family byte pair and block.
fn v2(command: u8, family: u8, block: &[u8]) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.push(command);
    out.push(family);
    out.extend_from_slice(&(block.len() as u16).to_be_bytes());
    out.extend_from_slice(block);
    out
}

const INET_BLOCK: [u8; 12] = [192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb];

#[test]
fn v1_the_specs_example() {
    let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
    let (addresses, length) = parse(line).unwrap();
    assert_eq!(addresses, proxied("192.168.0.1:56324", "192.168.0.11:443"));
    assert_eq!(&line[length..], b"GET / HTTP/1.1\r\n");
}

#[test]
fn round_trips_in_both_versions() {
    for version in [ProxyVersion::V1, ProxyVersion::V2] {
        for (client, local) in [
            ("203.0.113.7:51000", "10.0.0.1:443"),
            ("0.0.0.0:0", "255.255.255.255:65535"),
            ("[2001:db8::7]:51000", "[2001:db8::1]:80"),
            ("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", "[::]:0"),
        ] {
            let header = encoded(version, client, local);
            let (addresses, length) = parse(&header).unwrap();
            assert_eq!(addresses, proxied(client, local), "{version:?} {client}");
            assert_eq!(length, header.len());
            assert_eq!(scan(&header).unwrap(), Scan::Complete(header.len()));
        }
    }
}

#[test]
fn v1_lines_as_servers_expect_them() {
    assert_eq!(
        encoded(ProxyVersion::V1, "127.0.0.2:5000", "127.0.0.1:80"),
        b"PROXY TCP4 127.0.0.2 127.0.0.1 5000 80\r\n"
    );
    assert_eq!(
        encoded(ProxyVersion::V1, "[2001:db8::2]:5000", "[::1]:80"),
        b"PROXY TCP6 2001:db8::2 ::1 5000 80\r\n"
    );
    // The longest TCP6 line is the spec's 104 bytes.
    let widest = encoded(
        ProxyVersion::V1,
        "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
        "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
    );
    assert_eq!(widest.len(), 104);
}

#[test]
fn mixed_families_are_both_ipv6_and_mapped_ones_ipv4() {
    // One IPv4, one IPv6: both written as IPv6, the IPv4 one v4-mapped (in hex groups).
    let line = encoded(ProxyVersion::V1, "192.0.2.1:1000", "[2001:db8::1]:443");
    assert_eq!(line, b"PROXY TCP6 ::ffff:c000:201 2001:db8::1 1000 443\r\n");
    assert_eq!(
        parse(&line).unwrap().0,
        proxied("[::ffff:192.0.2.1]:1000", "[2001:db8::1]:443")
    );
    let binary = encoded(ProxyVersion::V2, "192.0.2.1:1000", "[2001:db8::1]:443");
    assert_eq!(binary[13], 0x21, "TCP over IPv6");
    let mapped: std::net::Ipv6Addr = "::ffff:192.0.2.1".parse().unwrap();
    assert_eq!(binary[16..32], mapped.octets());
    // Two v4-mapped addresses (a dual-stack socket's view of an IPv4 client) are IPv4.
    let line = encoded(
        ProxyVersion::V1,
        "[::ffff:192.0.2.1]:1000",
        "[::ffff:10.0.0.1]:80",
    );
    assert_eq!(line, b"PROXY TCP4 192.0.2.1 10.0.0.1 1000 80\r\n");
    assert_eq!(
        encoded(ProxyVersion::V2, "[::ffff:192.0.2.1]:1000", "10.0.0.1:80")[13],
        0x11
    );
}

#[test]
fn v1_unknown_keeps_the_connections_addresses() {
    assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap(), (None, 15));
    // "the receiver must ignore anything presented before the CRLF"
    let worst = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(worst.len(), V1_MAX_LEN);
    assert_eq!(parse(worst).unwrap(), (None, V1_MAX_LEN));
}

#[test]
fn v1_malformed_lines() {
    for (line, why) in [
        (&b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"[..], "CRLF"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "lone CR"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r 2\r\n", "lone CR"),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "too many"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "too many"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "too few"),
        (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "dotted quad"),
        (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "dotted quad"),
        (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "dotted quad"),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "IPv6"),
        (b"PROXY TCP6 ::1 ::g 1 2\r\n", "IPv6"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n", "port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", "port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 999999\r\n", "port"),
        (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "protocol"),
        (b"PROXY UNKNOWNX\r\n", "protocol"),
        (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "protocol"),
        (b"PROXY \r\n", "protocol"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \xff\r\n", "ASCII"),
    ] {
        let error = malformed(line);
        assert!(
            error.contains(why),
            "{:?}: {error}",
            String::from_utf8_lossy(line)
        );
    }
    assert!(malformed(b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n").contains("signature"));
    assert!(matches!(
        parse(b"GET / HTTP/1.1\r\n"),
        Err(ProxyError::BadSignature)
    ));
    assert!(matches!(
        parse(b"\x16\x03\x01"),
        Err(ProxyError::BadSignature)
    ));
}

#[test]
fn v1_without_crlf_in_107_bytes_is_oversized() {
    let mut long = b"PROXY TCP6 ".to_vec();
    long.resize(V1_MAX_LEN, b'f');
    assert!(matches!(scan(&long), Err(ProxyError::Oversized(107))));
    assert_eq!(scan(&long[..106]).unwrap(), Scan::Incomplete);
    // A CRLF at 108 is too late even with the rest there.
    long.extend_from_slice(b"\r\n");
    assert!(matches!(parse(&long), Err(ProxyError::Oversized(107))));
}

#[test]
fn scan_tells_incomplete_from_foreign() {
    assert_eq!(scan(b"").unwrap(), Scan::Incomplete);
    assert_eq!(scan(b"PRO").unwrap(), Scan::Incomplete);
    assert_eq!(scan(b"PROXY TCP4 1.2").unwrap(), Scan::Incomplete);
    assert_eq!(scan(b"\r\n\r\n\0").unwrap(), Scan::Incomplete);
    assert_eq!(
        scan(&v2(0x21, 0x11, &INET_BLOCK)[..20]).unwrap(),
        Scan::Incomplete
    );
    assert!(matches!(scan(b"PRX"), Err(ProxyError::BadSignature)));
    assert!(matches!(
        scan(b"\r\n\r\n\x01"),
        Err(ProxyError::BadSignature)
    ));
    assert!(matches!(
        parse(b"PROXY TCP4 1.2"),
        Err(ProxyError::Truncated)
    ));
}

#[test]
fn v2_commands_and_families() {
    let proxy = v2(0x21, 0x11, &INET_BLOCK);
    assert_eq!(
        parse(&proxy).unwrap(),
        (proxied("192.168.0.1:56324", "192.168.0.11:443"), 28)
    );
    // LOCAL: addresses ignored whatever the block says (health checks).
    assert_eq!(parse(&v2(0x20, 0x11, &INET_BLOCK)).unwrap(), (None, 28));
    assert_eq!(parse(&v2(0x20, 0x00, &[])).unwrap(), (None, 16));
    let mut local = Vec::new();
    encode_local(&mut local);
    assert_eq!(local, v2(0x20, 0x00, &[]));
    // PROXY with UNSPEC, UDP or UNIX: accepted, the connection's own addresses stand.
    assert_eq!(parse(&v2(0x21, 0x00, &[])).unwrap(), (None, 16));
    assert_eq!(parse(&v2(0x21, 0x12, &INET_BLOCK)).unwrap(), (None, 28));
    assert_eq!(parse(&v2(0x21, 0x31, &[0; 216])).unwrap(), (None, 232));
    // What the spec says receivers must reject.
    assert!(malformed(&v2(0x11, 0x11, &INET_BLOCK)).contains("version"));
    assert!(malformed(&v2(0x22, 0x11, &INET_BLOCK)).contains("command"));
    assert!(malformed(&v2(0x21, 0x41, &INET_BLOCK)).contains("family"));
    assert!(malformed(&v2(0x21, 0x13, &INET_BLOCK)).contains("transport"));
    assert!(malformed(&v2(0x21, 0x11, &INET_BLOCK[..11])).contains("shorter"));
    assert!(malformed(&v2(0x21, 0x21, &INET_BLOCK)).contains("shorter"));
    assert!(malformed(&v2(0x21, 0x31, &[0; 215])).contains("shorter"));
}

#[test]
fn v2_tlvs_are_skipped_within_bounds() {
    let mut block = INET_BLOCK.to_vec();
    block.extend_from_slice(&[0x04, 0x00, 0x02, 0, 0]); // NOOP, 2 bytes
    block.extend_from_slice(&[0x05, 0x00, 0x00]); // UNIQUE_ID, empty
    let header = v2(0x21, 0x11, &block);
    assert_eq!(parse(&header).unwrap().1, header.len());
    for truncated in [
        &[0x04][..],            // no room for the length
        &[0x04, 0x00],          // half a length
        &[0x04, 0x00, 0x03, 0], // value runs past the header
        &[0x04, 0xff, 0xff],    // length far past it
    ] {
        let mut block = INET_BLOCK.to_vec();
        block.extend_from_slice(truncated);
        assert!(
            malformed(&v2(0x21, 0x11, &block)).contains("TLV"),
            "{truncated:?}"
        );
    }
}

#[test]
fn v2_length_limits() {
    // The length field says more than ever arrives: incomplete, then truncated.
    let mut short = v2(0x21, 0x11, &INET_BLOCK);
    short[15] = 40;
    assert_eq!(scan(&short).unwrap(), Scan::Incomplete);
    assert!(matches!(parse(&short), Err(ProxyError::Truncated)));
    // 16 + 65535 is legal for the spec, beyond what we hold.
    let mut huge = v2(0x21, 0x11, &INET_BLOCK);
    huge[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
    assert!(matches!(
        scan(&huge),
        Err(ProxyError::Oversized(V2_MAX_LEN))
    ));
    let largest = v2(0x21, 0x00, &vec![0; V2_MAX_LEN - 16]);
    assert_eq!(parse(&largest).unwrap(), (None, V2_MAX_LEN));
}

#[test]
fn trusted_proxies_judge_mapped_peers_as_ipv4() {
    let accept = AcceptProxy {
        timeout: std::time::Duration::from_secs(1),
        trusted: vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
    };
    assert!(accept.trusts("10.1.2.3".parse().unwrap()));
    assert!(accept.trusts("::ffff:10.1.2.3".parse().unwrap()));
    assert!(accept.trusts("2001:db8::5".parse().unwrap()));
    assert!(!accept.trusts("11.0.0.1".parse().unwrap()));
    assert!(!accept.trusts("::ffff:11.0.0.1".parse().unwrap()));
    let nobody = AcceptProxy {
        trusted: Vec::new(),
        ..accept
    };
    assert!(!nobody.trusts("127.0.0.1".parse().unwrap()));
}

#[test]
fn the_fuzz_seeds_are_headers() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/proxy_protocol");
    let mut count = 0;
    for entry in std::fs::read_dir(seeds).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            parse(&bytes).is_ok(),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
        count += 1;
    }
    assert!(count >= 6);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
            any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
            any::<u32>().prop_map(|v| IpAddr::V6(Ipv4Addr::from(v).to_ipv6_mapped())),
        ]
    }

    /// Bytes after either signature (so the parsers' depths are reached, not just refusals).
    fn any_input() -> impl Strategy<Value = Vec<u8>> {
        let signatures = prop_oneof![
            Just(b"PROXY ".to_vec()),
            Just(b"PROXY TCP4 ".to_vec()),
            Just(b"\r\n\r\n\0\r\nQUIT\n\x21".to_vec()),
            Just(Vec::new()),
        ];
        (signatures, proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(signature, rest)| [signature, rest].concat())
    }

    proptest! {
        #[test]
        fn any_pair_of_addresses_round_trips(
            client in any_ip(), local in any_ip(), ports in any::<(u16, u16)>()
        ) {
            let (client, local) = (SocketAddr::new(client, ports.0), SocketAddr::new(local, ports.1));
            for version in [ProxyVersion::V1, ProxyVersion::V2] {
                let mut header = Vec::new();
                encode(version, client, local, &mut header);
                let (parsed, length) = parse(&header).unwrap();
                let parsed = parsed.unwrap();
                prop_assert_eq!(length, header.len());
                prop_assert_eq!(parsed.client.ip().to_canonical(), client.ip().to_canonical());
                prop_assert_eq!(parsed.local.ip().to_canonical(), local.ip().to_canonical());
                prop_assert_eq!((parsed.client.port(), parsed.local.port()), ports);
            }
        }

        #[test]
        fn any_bytes_are_refused_or_parsed_consistently(input in any_input()) {
            let scanned = scan(&input);
            if let Ok((_, length)) = parse(&input) {
                prop_assert_eq!(scanned.ok(), Some(Scan::Complete(length)));
                // Whatever follows the header is not part of it.
                prop_assert_eq!(parse(&input[..length]).unwrap().1, length);
            }
        }
    }
}
