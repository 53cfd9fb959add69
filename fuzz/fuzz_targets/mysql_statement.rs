//! Any statement text a client may send (COM_QUERY, COM_STMT_PREPARE) through the
//! classifier: it never panics, and only a lone side-effect-free read may go to a replica.
#![no_main]

use fastlb::mysql::{classify, Kind};
use fastlb::mysql::Role;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|sql: &[u8]| {
    let class = classify(sql);
    if class.route == Role::Replica {
        assert!(matches!(class.kind, Kind::Read | Kind::BeginReadOnly), "{class:?}");
        assert!(!class.pins_primary && !class.multi_statement, "{class:?}");
    }
});
