//! Any text as an ACL block: parsed or refused; a parsed block prints as a block that
//! parses to itself, and matching any address never panics.
#![no_main]

use fastlb::firewall::{canonical, Cidr};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    let Some((address, text)) = data.split_first_chunk::<16>() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(block) = text.parse::<Cidr>() else {
        return;
    };
    let again: Cidr = block.to_string().parse().expect("a printed block parses");
    assert_eq!(again, block);
    let v6 = Ipv6Addr::from(*address);
    let v4 = Ipv4Addr::new(address[0], address[1], address[2], address[3]);
    for peer in [IpAddr::V6(v6), IpAddr::V4(v4)] {
        let _ = block.contains(canonical(peer));
    }
});
