//! Bytes a MySQL client sends fastlb before and after logging in: the handshake response
//! (and SSLRequest), COM_CHANGE_USER, and the prepared-statement commands whose payloads
//! fastlb rewrites (COM_STMT_EXECUTE with parameter types, COM_STMT_SEND_LONG_DATA). None
//! may panic; a rewritten execute carries the server's statement id.
#![no_main]

use fastlb::mysql::protocol::handshake::{parse_change_user, parse_handshake_response};
use fastlb::mysql::session::prepared::{statement_id, with_statement_id, OnServer, Prepared, Statements};
use fastlb::mysql::classify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&params, payload)) = data.split_first() else {
        return;
    };
    let _ = parse_handshake_response(payload);
    let _ = parse_change_user(payload);
    if let Some(id) = statement_id(payload) {
        let rewritten = with_statement_id(payload, id ^ 0x5a5a).expect("same length");
        assert_eq!(rewritten.len(), payload.len());
    }
    // The same execute on two server connections and back: every rewrite carries that
    // connection's statement id and never loses bytes.
    let mut prepared = Prepared::new(b"SELECT ?".to_vec(), classify(b"SELECT ?"), params.into());
    for serial in [1, 2] {
        prepared.on.push(OnServer {
            serial,
            id: 77,
            types_seen: 0,
        });
    }
    for serial in [1, 2, 1] {
        if let Some(out) = prepared.execute_payload(payload, serial) {
            assert_eq!(statement_id(&out), Some(77));
            assert!(out.len() >= payload.len());
        }
    }
    let mut statements = Statements::default();
    let id = statements.next_id();
    statements.insert(id, prepared);
    for chunk in payload.chunks(7) {
        let _ = statements.buffer_long_data(id, chunk, 64);
    }
    assert!(statements.take_long_data(id).iter().map(Vec::len).sum::<usize>() <= 64);
    // Taken, the session's budget is whole again.
    assert!(statements.buffer_long_data(id, &[0; 64], 64));
});
