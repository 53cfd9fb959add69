//! Bytes a MySQL server sends fastlb: its greeting, OK packets (with session-state
//! tracking, from which causal reads take the GTID), ERR and EOF packets. A misbehaving or
//! hostile server must not crash the proxy; stripping the session state never grows an OK.
#![no_main]

use fastlb::mysql::protocol::handshake::parse_greeting;
use fastlb::mysql::protocol::packet::{eof_status, parse_err, parse_ok, strip_session_state, tracked_gtid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let _ = parse_greeting(payload);
    let _ = parse_err(payload);
    let _ = eof_status(payload);
    for session_track in [false, true] {
        if let Some(ok) = parse_ok(payload, session_track) {
            assert!(ok.fixed_len <= payload.len());
            let stripped = strip_session_state(payload, &ok);
            assert!(stripped.len() <= payload.len() + 9);
            if let Some(state) = ok.session_state {
                let _ = tracked_gtid(state);
            }
        }
    }
});
