//! TLS with rustls: termination on frontends (SNI-selected certificates, ALPN, reload
//! without restart) and origination to backends (verified against a CA, or not).
//!
//! TLS connections are relayed by copying (`relay::relay_streams`): bytes must pass
//! through userspace to be encrypted or decrypted, so splice(2) can't serve them. Plain TCP
//! connections never touch this module.
//!
//! NOTE: the crypto provider is *ring*, not aws-lc-rs (rustls' default). ring builds from
//! crates.io with nothing but a C compiler, in ~30 s here; aws-lc-rs compiles AWS-LC's C
//! sources (CMake on some targets, several minutes on 2 cores) for every clean build, which
//! CI pays each run. Both are fast at handshakes; `make bench` measures ours against
//! HAProxy's OpenSSL.

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
