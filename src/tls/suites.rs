//! Which cipher suite a terminated connection gets: AES-128-GCM with SHA-256 first, unless
//! the client says it would rather have ChaCha20 (no AES hardware).
//!
//! Why AES-128 first: OpenSSL-based clients (curl, wrk, Python, most API clients) list
//! AES-256-GCM-SHA384 first, and a server that follows the client's order pays SHA-384 for
//! the whole TLS 1.3 key schedule (a dozen HMACs) and 14 AES rounds per block instead of 10.
//! x86_64 has SHA-NI for SHA-256, none for SHA-512. AES-128 matches the ~128-bit strength of
//! the X25519 / P-256 key exchange anyway; browsers already put it first (Chrome, Firefox),
//! so they see no change. NOTE: on the bench's ECDSA P-256 full handshake with wrk (OpenSSL
//! 3.0, AES-256 first) this took fastlb's CPU per handshake from 234 to 209 us with ring
//! and from 239 to 206 us with aws-lc-rs (1 worker; docs/tls-provider.md).
//!
//! Why ChaCha20 stays the client's call: a client that lists ChaCha20 before AES is telling
//! the server it has no AES instructions (BoringSSL and Go order their list that way), where
//! AES in software is slow and not constant-time. OpenSSL's `SSL_OP_PRIORITIZE_CHACHA` and
//! BoringSSL's equal-preference groups honour it the same way.

use rustls::crypto::CryptoProvider;
use rustls::server::ClientHello;
use rustls::CipherSuite;

/// `provider` with its cipher suites in the server's order of preference: AES-128-GCM,
/// then AES-256-GCM, then ChaCha20-Poly1305 (for each protocol version; the order between
/// versions doesn't matter, rustls filters by the negotiated one).
pub fn server_preferred(provider: &CryptoProvider) -> CryptoProvider {
    let mut preferred = provider.clone();
    preferred
        .cipher_suites
        .sort_by_key(|suite| preference(suite.suite()));
    preferred
}

/// Whether the first suite of the client's list that we support is a ChaCha20 one: then
/// the client's order decides (GREASE values and suites we lack are skipped).
pub fn client_prefers_chacha(hello: &ClientHello<'_>, provider: &CryptoProvider) -> bool {
    hello
        .cipher_suites()
        .iter()
        .find(|offered| {
            provider
                .cipher_suites
                .iter()
                .any(|ours| ours.suite() == **offered)
        })
        .is_some_and(|first| preference(*first) == CHACHA)
}

const CHACHA: u8 = 2;

fn preference(suite: CipherSuite) -> u8 {
    match suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 0,
        CipherSuite::TLS13_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => 1,
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => CHACHA,
        _ => 3,
    }
}
