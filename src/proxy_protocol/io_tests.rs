//! `read_header` and `write_header` over real loopback TCP connections: headers in pieces,
//! exactly the header consumed, slow and broken senders.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A connected (sender, receiver) pair on loopback.
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sender = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (receiver, _) = listener.accept().await.unwrap();
    sender.set_nodelay(true).unwrap();
    (sender, receiver)
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

const SECOND: Duration = Duration::from_secs(1);

/// Reads what follows the header, to the end of the stream.
async fn rest(mut receiver: TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    receiver.read_to_end(&mut rest).await.unwrap();
    rest
}

#[tokio::test]
async fn consumes_exactly_the_header_of_either_version() {
    for version in [ProxyVersion::V1, ProxyVersion::V2] {
        let (mut sender, mut receiver) = pair().await;
        let (client, local) = (addr("[2001:db8::9]:40000"), addr("[2001:db8::1]:443"));
        // Header and data in one segment: the data must stay for the session.
        let mut bytes = Vec::new();
        encode(version, client, local, &mut bytes);
        bytes.extend_from_slice(b"\x16\x03\x01 ClientHello and more");
        sender.write_all(&bytes).await.unwrap();
        sender.shutdown().await.unwrap();
        let addresses = read_header(&mut receiver, SECOND).await.unwrap();
        assert_eq!(addresses, Some(ProxiedAddresses { client, local }));
        assert_eq!(rest(receiver).await, b"\x16\x03\x01 ClientHello and more");
    }
}

#[tokio::test]
async fn a_header_in_pieces_is_waited_for() {
    let mut header = Vec::new();
    encode(
        ProxyVersion::V2,
        addr("192.0.2.1:1000"),
        addr("192.0.2.2:80"),
        &mut header,
    );
    // A TLV past the addresses, so the header outgrows nothing but spans several pieces.
    header[15] += 5;
    header.extend_from_slice(&[0x04, 0x00, 0x02, 0xaa, 0xbb]);
    for (bytes, cuts) in [
        (
            b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\nGET /".to_vec(),
            vec![1, 5, 6, 20, 39, 40],
        ),
        (
            [header.clone(), b"GET /".to_vec()].concat(),
            vec![1, 12, 15, 16, 20, 30],
        ),
    ] {
        let (mut sender, mut receiver) = pair().await;
        let writer = tokio::spawn(async move {
            let mut from = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                sender.write_all(&bytes[from..cut]).await.unwrap();
                from = cut;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let addresses = read_header(&mut receiver, SECOND).await.unwrap().unwrap();
        assert_eq!(addresses.client, addr("192.0.2.1:1000"));
        writer.await.unwrap();
        assert_eq!(rest(receiver).await, b"GET /");
    }
}

#[tokio::test]
async fn a_long_v2_header_grows_the_buffer() {
    let mut header = Vec::new();
    encode(
        ProxyVersion::V2,
        addr("192.0.2.1:1000"),
        addr("192.0.2.2:80"),
        &mut header,
    );
    // A 1000-byte NOOP TLV: longer than the initial buffer.
    let tlv_len: u16 = 1000;
    let total = 12 + 3 + tlv_len;
    header[14..16].copy_from_slice(&total.to_be_bytes());
    header.extend_from_slice(&[0x04]);
    header.extend_from_slice(&tlv_len.to_be_bytes());
    header.resize(header.len() + usize::from(tlv_len), 0);
    let (mut sender, mut receiver) = pair().await;
    sender.write_all(&header[..300]).await.unwrap();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        sender.write_all(&header[300..]).await.unwrap();
        sender.write_all(b"after").await.unwrap();
    });
    let addresses = read_header(&mut receiver, SECOND).await.unwrap();
    assert_eq!(addresses.unwrap().local, addr("192.0.2.2:80"));
    writer.await.unwrap();
    assert_eq!(rest(receiver).await, b"after");
}

#[tokio::test]
async fn a_slow_header_times_out() {
    let (mut sender, mut receiver) = pair().await;
    sender.write_all(b"PROXY TCP4 192.0.2.1").await.unwrap();
    let error = read_header(&mut receiver, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(error, ProxyError::Timeout(_)), "{error}");
    drop(sender);
}

#[tokio::test]
async fn broken_senders_are_refused() {
    for (bytes, expected) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], "signature"),
        (b"PROXY TCP4 192.0.2.1", "ended inside"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nGET", "CRLF"),
        (
            &[b'P', b'R', b'O', b'X', b'Y', b' '].repeat(20),
            "longer than 107",
        ),
    ] {
        let (mut sender, mut receiver) = pair().await;
        sender.write_all(bytes).await.unwrap();
        sender.shutdown().await.unwrap();
        let error = read_header(&mut receiver, SECOND).await.unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[tokio::test]
async fn write_header_precedes_the_data() {
    let (mut sender, receiver) = pair().await;
    write_header(
        &mut sender,
        ProxyVersion::V1,
        addr("127.0.0.2:5555"),
        addr("127.0.0.1:80"),
    )
    .await
    .unwrap();
    sender.write_all(b"payload").await.unwrap();
    drop(sender);
    assert_eq!(
        rest(receiver).await,
        b"PROXY TCP4 127.0.0.2 127.0.0.1 5555 80\r\npayload"
    );
}
