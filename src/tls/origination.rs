//! TLS to backend servers: the client-side configuration and the handshake after connect.

use arc_swap::ArcSwap;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ClientConfig;
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, verify_tls13_signature_with_raw_key,
    CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::certs::parse_chain;
use super::config::BackendTlsConfig;
use super::der::certificate_parts;
use super::provider;

/// A backend's TLS client configuration, loaded once per (re)load.
pub struct TlsOrigination {
    config: Arc<ClientConfig>,
    /// Overrides every server's own name (`tls.server_name`).
    server_name: Option<ServerName<'static>>,
    /// The same configuration offering one ALPN protocol: the one the client negotiated
    /// with the frontend, passed through (protocols come from frontend configs: few). Read
    /// without a lock on every connect, by every worker; a protocol seen for the first time
    /// swaps in a new map.
    with_alpn: ArcSwap<HashMap<Vec<u8>, Arc<ClientConfig>>>,
}

impl std::fmt::Debug for TlsOrigination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOrigination")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsOrigination {
    pub fn load(config: &BackendTlsConfig) -> Result<Self, String> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?;
        let client = if config.verify {
            builder
                .with_root_certificates(trusted_roots(config)?)
                .with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth()
        };
        let server_name = match &config.server_name {
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|_| format!("tls.server_name {name:?} is not a host name"))?,
            ),
            None => None,
        };
        Ok(TlsOrigination {
            config: Arc::new(client),
            server_name,
            with_alpn: ArcSwap::default(),
        })
    }

    /// The handshake on a freshly connected `tcp`, as `server_name` unless the backend
    /// sets its own, offering `alpn` when the client negotiated one.
    pub async fn connect<IO>(
        &self,
        tcp: IO,
        server_name: &ServerName<'static>,
        alpn: Option<&[u8]>,
    ) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let config = match alpn {
            Some(protocol) => self.config_offering(protocol),
            None => self.config.clone(),
        };
        let name = self.server_name.as_ref().unwrap_or(server_name).clone();
        TlsConnector::from(config).connect(name, tcp).await
    }

    fn config_offering(&self, protocol: &[u8]) -> Arc<ClientConfig> {
        if let Some(config) = self.with_alpn.load().get(protocol) {
            return config.clone();
        }
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![protocol.to_vec()];
        let config = Arc::new(config);
        self.with_alpn.rcu(|known| {
            let mut known = HashMap::clone(known);
            known.insert(protocol.to_vec(), config.clone());
            known
        });
        config
    }
}

/// The CAs of `tls.ca`, else the system's trust store.
fn trusted_roots(config: &BackendTlsConfig) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match &config.ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
            let certificates =
                parse_chain(&pem).map_err(|e| format!("CA file {}: {e}", path.display()))?;
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(
                    "tls.verify: no CA certificates found in the system trust store; set tls.ca"
                        .into(),
                );
            }
        }
    }
    Ok(roots)
}

/// `verify: false`: any certificate is accepted (the traffic is encrypted, the server not
/// authenticated), X.509 v1 ones included. The handshake signatures are still checked, so
/// the peer must at least hold the key of the certificate it shows.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        match raw_public_key(cert) {
            Some(key) => verify_with_raw_key(message, &key, dss, algorithms),
            None => verify_tls12_signature(message, cert, dss, algorithms),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        match raw_public_key(cert) {
            Some(key) => verify_tls13_signature_with_raw_key(message, &key, dss, algorithms),
            None => verify_tls13_signature(message, cert, dss, algorithms),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The public key of an X.509 v1 certificate, which webpki (v3 only) can't read; `None` for
/// anything else, which rustls checks as usual.
fn raw_public_key(cert: &CertificateDer<'_>) -> Option<SubjectPublicKeyInfoDer<'static>> {
    let parts = certificate_parts(cert).filter(|parts| parts.version < 3)?;
    Some(SubjectPublicKeyInfoDer::from(
        parts.public_key_info.to_vec(),
    ))
}

/// A TLS 1.2 handshake signature checked against a bare public key: each algorithm rustls
/// would try for the scheme, the first that fits the key decides (as rustls does).
fn verify_with_raw_key(
    message: &[u8],
    key: &SubjectPublicKeyInfoDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let entity = webpki::RawPublicKeyEntity::try_from(key)
        .map_err(|e| rustls::Error::General(format!("server public key: {e}")))?;
    let candidates = algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, candidates)| *candidates)
        .ok_or(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
    for algorithm in candidates {
        match entity.verify_signature(*algorithm, message, dss.signature()) {
            Ok(()) => return Ok(HandshakeSignatureValid::assertion()),
            Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => continue,
            Err(_) => break,
        }
    }
    Err(rustls::Error::InvalidCertificate(
        rustls::CertificateError::BadSignature,
    ))
}
