//! Any bytes as certificate and key files: loaded or refused with a message that quotes
//! nothing of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fastlb::tls::parse_chain(data);
    let _ = fastlb::tls::parse_key(data);
    let half = data.len() / 2;
    let _ = fastlb::tls::from_pem(&data[..half], &data[half..], &fastlb::tls::provider());
});
