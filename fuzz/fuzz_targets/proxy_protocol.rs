//! Any bytes as the start of an `accept_proxy` connection: `scan` and `parse` refuse or
//! accept without panicking and agree on the header's length; what parses re-encodes to a
//! header that parses to the same addresses (v4-mapped ones come back as IPv4 when both are).
#![no_main]

use fastlb::proxy_protocol::{encode, parse, scan, ProxyVersion, Scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scanned = scan(data);
    let Ok((addresses, length)) = parse(data) else {
        return;
    };
    assert_eq!(scanned.ok(), Some(Scan::Complete(length)));
    assert!(length <= data.len());
    let Some(addresses) = addresses else {
        return;
    };
    for version in [ProxyVersion::V1, ProxyVersion::V2] {
        let mut header = Vec::new();
        encode(version, addresses.client, addresses.local, &mut header);
        let (again, again_length) = parse(&header).expect("an encoded header parses");
        assert_eq!(again_length, header.len());
        let again = again.expect("an encoded header has addresses");
        assert_eq!(again.client.port(), addresses.client.port());
        assert_eq!(again.local.port(), addresses.local.port());
        assert_eq!(again.client.ip().to_canonical(), addresses.client.ip().to_canonical());
        assert_eq!(again.local.ip().to_canonical(), addresses.local.ip().to_canonical());
    }
});
