//! Choosing the certificate for a handshake by the name the client asked for (SNI).

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

use super::certs::LoadedCertificate;

/// Exact names, then one-label wildcards (`*.example.com` serves `a.example.com`, not
/// `a.b.example.com` nor `example.com`, as browsers match them), then the default (the
/// first certificate) for clients without SNI or with a name no certificate covers.
#[derive(Debug)]
pub struct CertificateStore {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl CertificateStore {
    /// `certificates` in configuration order: the first is the default, and when two
    /// certificates carry the same name the first one serves it.
    pub fn new(certificates: &[LoadedCertificate]) -> Option<Self> {
        let default = certificates.first()?.key.clone();
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for certificate in certificates {
            for name in &certificate.names {
                let (table, key) = match name.strip_prefix("*.") {
                    Some(parent) => (&mut wildcard, parent),
                    None => (&mut exact, name.as_str()),
                };
                table
                    .entry(key.to_string())
                    .or_insert_with(|| certificate.key.clone());
            }
        }
        Some(CertificateStore {
            exact,
            wildcard,
            default,
        })
    }

    /// The certificate for `server_name` (already lowercase from rustls, checked again).
    pub fn choose(&self, server_name: Option<&str>) -> &Arc<CertifiedKey> {
        let Some(name) = server_name else {
            return &self.default;
        };
        let name = name.trim_end_matches('.');
        let lower;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = name.to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        if let Some(key) = self.exact.get(name) {
            return key;
        }
        name.split_once('.')
            .and_then(|(_, parent)| self.wildcard.get(parent))
            .unwrap_or(&self.default)
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.choose(client_hello.server_name()).clone())
    }
}
