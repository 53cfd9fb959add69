//! Loading certificate chains and private keys from PEM, and the names each certificate
//! serves (for SNI).
//!
//! Error messages name the file and what is wrong with it, never the file's content: a
//! key file's bytes must not end up in a log line or an API response.

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

use super::config::CertificateFiles;
use super::subject::common_name;

/// A certificate ready to serve, and the host names it is valid for (lowercase; wildcards
/// as `*.example.com`).
#[derive(Debug, Clone)]
pub struct LoadedCertificate {
    pub key: Arc<CertifiedKey>,
    pub names: Vec<String>,
}

/// Reads `files` (PEM chain and key) and checks that the key belongs to the certificate.
pub fn load(
    files: &CertificateFiles,
    provider: &CryptoProvider,
) -> Result<LoadedCertificate, String> {
    let chain_pem = read(&files.cert, "certificate")?;
    let key_pem = read(&files.key, "key")?;
    from_pem(&chain_pem, &key_pem, provider).map_err(|why| {
        format!(
            "certificate {} / key {}: {why}",
            files.cert.display(),
            files.key.display()
        )
    })
}

/// The same as [`load`] from PEM bytes already in memory.
pub fn from_pem(
    chain_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<LoadedCertificate, String> {
    let chain = parse_chain(chain_pem)?;
    let key = parse_key(key_pem)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| "the private key is of an unsupported type".to_string())?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|_| "the private key does not belong to the certificate".to_string())?;
    let names = names_of(&certified.cert[0])?;
    Ok(LoadedCertificate {
        key: Arc::new(certified),
        names,
    })
}

/// Every certificate of a PEM bundle, in file order (leaf first for a chain).
pub fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| describe(&e, "certificate"))?;
    if chain.is_empty() {
        return Err("no certificate found (expected a PEM 'BEGIN CERTIFICATE' block)".into());
    }
    Ok(chain)
}

/// The first private key (PKCS#8, PKCS#1 RSA or SEC1 EC) of a PEM file.
pub fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| describe(&e, "private key"))
}

/// A PEM error in words that quote nothing from the file.
fn describe(error: &pem::Error, what: &str) -> String {
    match error {
        pem::Error::NoItemsFound => format!("no {what} found (expected a PEM block)"),
        pem::Error::MissingSectionEnd { .. } => format!("a {what} PEM block has no END line"),
        pem::Error::SectionTooLarge => format!("a {what} PEM block is too large"),
        _ => format!("the {what} file is not valid PEM"),
    }
}

/// The DNS names of the leaf's subjectAltName, else its subject CN.
fn names_of(leaf: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let cert = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("the certificate can't be parsed: {e}"))?;
    let mut names: Vec<String> = cert
        .valid_dns_names()
        .map(|name| name.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    if names.is_empty() {
        names.extend(common_name(cert.subject()));
    }
    Ok(names)
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} file {}: {e}", path.display()))
}
