//! TLS termination end to end in memory: SNI choice, ALPN, versions, timeouts, garbage.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const A_PEM: &[u8] = include_bytes!("testdata/a.pem");
const A_KEY: &[u8] = include_bytes!("testdata/a.key");
const CN_PEM: &[u8] = include_bytes!("testdata/cn.pem");
const CN_KEY: &[u8] = include_bytes!("testdata/cn.key");

fn loaded() -> Vec<LoadedCertificate> {
    vec![
        from_pem(A_PEM, A_KEY, &provider()).unwrap(),
        from_pem(CN_PEM, CN_KEY, &provider()).unwrap(),
    ]
}

fn termination(alpn: &[&str], min_version: TlsVersion, timeout_ms: u64) -> TlsTermination {
    let config = FrontendTlsConfig {
        certificates: Vec::new(),
        alpn: alpn.iter().map(|p| p.to_string()).collect(),
        min_version,
        handshake_timeout_ms: timeout_ms,
        session_resumption: true,
        required: true,
    };
    TlsTermination::from_store(&config, CertificateStore::new(&loaded()).unwrap()).unwrap()
}

#[test]
fn names_come_from_the_san_else_the_cn() {
    let [a, cn] = <[_; 2]>::try_from(loaded()).unwrap();
    assert_eq!(a.names, ["a.test", "*.wild.test"]);
    assert_eq!(cn.names, ["cn-only.test"]);
}

#[test]
fn sni_picks_exact_then_wildcard_then_the_first_certificate() {
    let certificates = loaded();
    let store = CertificateStore::new(&certificates).unwrap();
    let a = &certificates[0].key;
    let cn = &certificates[1].key;
    let chosen = |name: Option<&str>| store.choose(name).clone();
    assert!(Arc::ptr_eq(&chosen(Some("a.test")), a));
    assert!(Arc::ptr_eq(&chosen(Some("CN-ONLY.test.")), cn));
    assert!(Arc::ptr_eq(&chosen(Some("x.wild.test")), a));
    assert!(
        Arc::ptr_eq(&chosen(Some("wild.test")), a),
        "default, not the wildcard"
    );
    assert!(Arc::ptr_eq(&chosen(Some("y.x.wild.test")), a), "default");
    assert!(Arc::ptr_eq(&chosen(None), a));
    let reversed = [certificates[1].clone(), certificates[0].clone()];
    let store = CertificateStore::new(&reversed).unwrap();
    assert!(Arc::ptr_eq(store.choose(Some("unknown.test")), cn));
}

#[test]
fn refuses_a_key_of_another_certificate_and_names_nothing_secret() {
    let error = from_pem(A_PEM, CN_KEY, &provider()).unwrap_err();
    assert!(error.contains("does not belong"), "{error}");
    let error = from_pem(
        A_PEM,
        b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n",
        &provider(),
    )
    .unwrap_err();
    assert!(!error.contains("c2VjcmV0"), "{error}");
    assert!(parse_chain(b"").is_err());
}

/// A client that accepts any certificate: these tests look at which one was presented.
#[derive(Debug)]
struct AcceptAnything;

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client(versions: &[&'static rustls::SupportedProtocolVersion], alpn: &[&str]) -> ClientConfig {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config
}

#[tokio::test]
async fn handshake_serves_the_sni_certificate_negotiates_alpn_and_relays() {
    let server = termination(&["h2", "http/1.1"], TlsVersion::Tls12, 5_000);
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let accepting = tokio::spawn(async move {
        let mut stream = server.accept(server_io).await.unwrap();
        let mut hello = [0u8; 5];
        stream.read_exact(&mut hello).await.unwrap();
        stream.write_all(&hello).await.unwrap();
        stream.flush().await.unwrap();
        stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
    });
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client(
        &[&rustls::version::TLS13, &rustls::version::TLS12],
        &["http/1.1", "h2"],
    )));
    let name = ServerName::try_from("cn-only.test").unwrap();
    let mut stream = connector.connect(name, client_io).await.unwrap();
    let (_, session) = stream.get_ref();
    assert_eq!(
        session.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        session.peer_certificates().unwrap()[0].as_ref(),
        &*loaded()[1].key.cert[0]
    );
    stream.write_all(b"hello").await.unwrap();
    let mut echoed = [0u8; 5];
    stream.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"hello");
    // The server's preference wins: h2 although the client listed http/1.1 first.
    assert_eq!(accepting.await.unwrap().as_deref(), Some(&b"h2"[..]));
}

#[tokio::test]
async fn tls13_only_refuses_a_tls12_client() {
    let server = termination(&[], TlsVersion::Tls13, 5_000);
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let accepting = tokio::spawn(async move { server.accept(server_io).await.err() });
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(client(&[&rustls::version::TLS12], &[])));
    let name = ServerName::try_from("a.test").unwrap();
    assert!(connector.connect(name, client_io).await.is_err());
    assert!(matches!(
        accepting.await.unwrap(),
        Some(HandshakeError::Failed(_))
    ));
}

#[tokio::test]
async fn garbage_fails_and_silence_times_out() {
    let server = Arc::new(termination(&[], TlsVersion::Tls12, 200));
    let (mut client_io, server_io) = tokio::io::duplex(64 * 1024);
    let accepting = tokio::spawn({
        let server = server.clone();
        async move { server.accept(server_io).await.err() }
    });
    client_io
        .write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .await
        .unwrap();
    assert!(matches!(
        accepting.await.unwrap(),
        Some(HandshakeError::Failed(_))
    ));

    let (_silent, server_io) = tokio::io::duplex(64 * 1024);
    let outcome = tokio::time::timeout(Duration::from_secs(5), server.accept(server_io)).await;
    assert!(matches!(outcome, Ok(Err(HandshakeError::Timeout))));
}

const V1_PEM: &[u8] = include_bytes!("testdata/v1.pem");
const V1_KEY: &[u8] = include_bytes!("testdata/v1.key");
const V1_OTHER_KEY: &[u8] = include_bytes!("testdata/v1-other.key");

#[test]
fn an_x509_v1_certificate_loads_with_its_key_and_only_with_it() {
    let loaded = from_pem(V1_PEM, V1_KEY, &provider()).unwrap();
    assert_eq!(loaded.names, ["localhost"]);
    let error = from_pem(V1_PEM, V1_OTHER_KEY, &provider()).unwrap_err();
    assert_eq!(error, "the private key does not belong to the certificate");
    // A certificate that isn't one at all says so instead of blaming the key.
    let garbage = b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";
    let error = from_pem(garbage, V1_KEY, &provider()).unwrap_err();
    assert!(
        error.starts_with("the certificate can't be parsed"),
        "{error}"
    );
}

/// A server presenting the v1 certificate at one protocol version, signing its handshakes
/// with `key` (the certificate's own, or an impostor's).
fn v1_server(
    version: &'static rustls::SupportedProtocolVersion,
    key: &[u8],
) -> tokio_rustls::TlsAcceptor {
    #[derive(Debug)]
    struct Fixed(Arc<rustls::sign::CertifiedKey>);
    impl rustls::server::ResolvesServerCert for Fixed {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }
    let signing_key = provider()
        .key_provider
        .load_private_key(parse_key(key).unwrap())
        .unwrap();
    let key = Arc::new(rustls::sign::CertifiedKey::new(
        parse_chain(V1_PEM).unwrap(),
        signing_key,
    ));
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(key)));
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn verify_false_accepts_a_v1_server_certificate_and_still_checks_signatures() {
    let origination = TlsOrigination::load(&BackendTlsConfig {
        verify: false,
        ca: None,
        server_name: None,
    })
    .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let acceptor = v1_server(version, V1_KEY);
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let serving = tokio::spawn(async move {
            let mut stream = acceptor.accept(server_io).await.unwrap();
            stream.write_all(b"ok").await.unwrap();
            stream.flush().await.unwrap();
        });
        let mut stream = origination.connect(client_io, &name, None).await.unwrap();
        let mut answer = [0u8; 2];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"ok", "{version:?}");
        serving.await.unwrap();

        // Signed with a key that isn't the certificate's: refused.
        let acceptor = v1_server(version, V1_OTHER_KEY);
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move { acceptor.accept(server_io).await.map(drop) });
        let refused = origination.connect(client_io, &name, None).await;
        assert!(
            refused.is_err(),
            "{version:?}: an impostor's signature passed"
        );
    }
}

/// Handshakes (TLS 1.3 or 1.2) with a client listing `suites` in that order; the suite and
/// the kind of handshake the client got.
async fn negotiate(
    server: &Arc<TlsTermination>,
    client: &Arc<ClientConfig>,
) -> (rustls::CipherSuite, rustls::HandshakeKind) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let accepting = tokio::spawn({
        let server = server.clone();
        async move {
            let mut stream = server.accept(server_io).await.unwrap();
            // Lets the client read the session ticket (sent after the handshake).
            stream.write_all(b"ok").await.unwrap();
            stream.flush().await.unwrap();
        }
    });
    let name = ServerName::try_from("a.test").unwrap();
    let connector = tokio_rustls::TlsConnector::from(client.clone());
    let mut stream = connector.connect(name, client_io).await.unwrap();
    let mut ok = [0u8; 2];
    stream.read_exact(&mut ok).await.unwrap();
    accepting.await.unwrap();
    let session = stream.get_ref().1;
    let suite = session.negotiated_cipher_suite().unwrap().suite();
    (suite, session.handshake_kind().unwrap())
}

fn client_listing(
    version: &'static rustls::SupportedProtocolVersion,
    suites: &[rustls::CipherSuite],
) -> Arc<ClientConfig> {
    let mut ours = (*provider()).clone();
    ours.cipher_suites = suites
        .iter()
        .map(|wanted| {
            *ours
                .cipher_suites
                .iter()
                .find(|s| s.suite() == *wanted)
                .unwrap()
        })
        .collect();
    let config = ClientConfig::builder_with_provider(Arc::new(ours))
        .with_protocol_versions(&[version])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything))
        .with_no_client_auth();
    Arc::new(config)
}

#[tokio::test]
async fn aes_128_unless_the_client_puts_chacha20_first_and_resumption_still_works() {
    use rustls::CipherSuite::*;
    use rustls::HandshakeKind::{Full, Resumed};
    let server = Arc::new(termination(&[], TlsVersion::Tls12, 5_000));
    let tls13 = &rustls::version::TLS13;
    // OpenSSL's order (curl, wrk, Python): AES-256 first.
    let openssl = [
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
        TLS13_AES_128_GCM_SHA256,
    ];
    let openssl = client_listing(tls13, &openssl);
    assert_eq!(
        negotiate(&server, &openssl).await.0,
        TLS13_AES_128_GCM_SHA256
    );
    // A client without AES instructions: ChaCha20 first.
    let no_aes = [TLS13_CHACHA20_POLY1305_SHA256, TLS13_AES_128_GCM_SHA256];
    let no_aes = client_listing(tls13, &no_aes);
    assert_eq!(
        negotiate(&server, &no_aes).await,
        (TLS13_CHACHA20_POLY1305_SHA256, Full)
    );
    assert_eq!(
        negotiate(&server, &no_aes).await,
        (TLS13_CHACHA20_POLY1305_SHA256, Resumed)
    );
    let tls12 = [
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ];
    let tls12 = client_listing(&rustls::version::TLS12, &tls12);
    assert_eq!(
        negotiate(&server, &tls12).await.0,
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    );
}
