//! Any text as the core configuration: parsed and validated, or refused with an error;
//! never a panic. Reads no file (certificates are loaded later, by the engine).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = fastlb::CoreConfig::from_json(text) {
            // What validation promised holds.
            assert!(config.workers >= 1);
        }
    }
});
