//! TLS with rustls: termination on frontends (SNI-selected certificates, ALPN, reload
//! without restart) and origination to backends (verified against a CA, or not).
//!
//! TLS connections are relayed by copying (`relay::relay_streams`): bytes must pass
//! through userspace to be encrypted or decrypted, so splice(2) can't serve them. Plain TCP
//! connections never touch this module.
//!
//! NOTE: the crypto provider is aws-lc-rs (rustls' default), not ring: with the AES-128
//! preference of `suites.rs`, the server side of a full TLS 1.3 ECDSA P-256 handshake costs
//! 59-69 us of CPU against ring's 82-88 us (in memory), and fastlb's whole process 206 us per
//! handshake against 209 us (1 worker; 241 vs 253 us with 2) while HAProxy 2.6 / OpenSSL 3.0
//! spends 426 / 499 us: 2.07x. Bulk TLS is a tie within the noise. aws-lc-sys builds with the
//! C compiler alone on x86_64 Linux, ~60 s more than ring per clean build on 2 cores;
//! `--no-default-features --features ring` builds with ring. docs/tls-provider.md has the
//! measurements and the profile.

mod certs;
pub mod config;
mod der;
mod origination;
mod sni;
pub mod subject;
mod suites;
mod termination;

use rustls::crypto::CryptoProvider;
use std::sync::{Arc, OnceLock};

pub use certs::{from_pem, parse_chain, parse_key, LoadedCertificate};
pub use config::{BackendTlsConfig, CertificateFiles, FrontendTlsConfig, TlsVersion};
pub use origination::TlsOrigination;
pub use sni::CertificateStore;
pub use termination::{HandshakeError, TlsTermination};

/// The process-wide crypto provider, built once.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(crypto::default_provider()))
        .clone()
}

#[cfg(feature = "aws-lc")]
pub(crate) use rustls::crypto::aws_lc_rs as crypto;
/// The provider's module (its `default_provider` and session-ticket `Ticketer`).
#[cfg(not(feature = "aws-lc"))]
pub(crate) use rustls::crypto::ring as crypto;

#[cfg(test)]
mod tests;
