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
use super::der;
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
    check_keys_match(&certified)?;
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

/// The key must be the certificate's: each failure says what it really is (a key that
/// belongs to another certificate, or a certificate that can't be read).
fn check_keys_match(certified: &CertifiedKey) -> Result<(), String> {
    match certified.keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(MISMATCH.into())
        }
        // The key can't tell its public half: nothing to compare, as rustls itself allows.
        Err(rustls::Error::InconsistentKeys(_)) => Ok(()),
        // webpki reads X.509 v3 only: compare a v1 certificate's key ourselves.
        Err(error) => {
            let leaf = &certified.cert[0];
            let parts = der::certificate_parts(leaf)
                .ok_or_else(|| format!("the certificate can't be parsed: {error}"))?;
            let Some(key) = certified.key.public_key() else {
                return Ok(());
            };
            if parts.version == 3 {
                return Err(format!("the certificate can't be parsed: {error}"));
            }
            match key.as_ref() == parts.public_key_info {
                true => Ok(()),
                false => Err(MISMATCH.into()),
            }
        }
    }
}

const MISMATCH: &str = "the private key does not belong to the certificate";

/// The DNS names of the leaf's subjectAltName, else its subject CN (an X.509 v1
/// certificate has no extensions: its CN).
fn names_of(leaf: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let cert = match webpki::EndEntityCert::try_from(leaf) {
        Ok(cert) => cert,
        Err(webpki::Error::UnsupportedCertVersion) => {
            let parts = der::certificate_parts(leaf)
                .ok_or("the certificate can't be parsed: not DER X.509")?;
            return Ok(common_name(parts.subject).into_iter().collect());
        }
        Err(e) => return Err(format!("the certificate can't be parsed: {e}")),
    };
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
