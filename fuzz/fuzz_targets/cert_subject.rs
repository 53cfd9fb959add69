//! Any bytes as a certificate subject: a CN or none, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fastlb::tls::subject::common_name(data);
});
