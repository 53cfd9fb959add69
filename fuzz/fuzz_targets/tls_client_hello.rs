//! Any bytes as what a client sends a TLS frontend: rustls parses them and asks our SNI
//! certificate store to choose; the server either answers or fails the handshake, never
//! panics. The certificates are the core's test ones (src/tls/testdata).
#![no_main]

use fastlb::tls::{
    from_pem, provider, CertificateStore, FrontendTlsConfig, TlsTermination, TlsVersion,
};
use libfuzzer_sys::fuzz_target;
use rustls::ServerConnection;
use std::sync::{Arc, OnceLock};

fn server_config() -> Arc<rustls::ServerConfig> {
    static CONFIG: OnceLock<Arc<rustls::ServerConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let certificates = [
                from_pem(
                    include_bytes!("../../src/tls/testdata/a.pem"),
                    include_bytes!("../../src/tls/testdata/a.key"),
                    &provider(),
                )
                .unwrap(),
                from_pem(
                    include_bytes!("../../src/tls/testdata/cn.pem"),
                    include_bytes!("../../src/tls/testdata/cn.key"),
                    &provider(),
                )
                .unwrap(),
            ];
            let config = FrontendTlsConfig {
                certificates: Vec::new(),
                alpn: vec!["h2".into(), "http/1.1".into()],
                min_version: TlsVersion::Tls12,
                handshake_timeout_ms: 1_000,
                session_resumption: true,
                required: true,
            };
            let store = CertificateStore::new(&certificates).unwrap();
            TlsTermination::from_store(&config, store)
                .unwrap()
                .server_config()
                .clone()
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut server) = ServerConnection::new(server_config()) else {
        return;
    };
    let mut input = data;
    while !input.is_empty() {
        match server.read_tls(&mut input) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if server.process_new_packets().is_err() {
            break;
        }
    }
    let mut sink = Vec::new();
    let _ = server.write_tls(&mut sink);
});
