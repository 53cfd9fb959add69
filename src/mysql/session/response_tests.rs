//! The response relay notes a write's GTID for `causal_reads: global` before the OK reaches
//! the client: a client that reads on another connection the moment it has its OK must find
//! the write counted (noted after the relay, a fast client raced it).

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::gtid::GlobalGtid;
use super::response::{forward, Rewrite, Shape};
use crate::mysql::protocol::packet::{frame, status};
use crate::mysql::protocol::stream::PacketStream;

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let near = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (far, _) = listener.accept().await.unwrap();
    (near, far)
}

/// An OK packet whose session-state changes carry `last_gtid` = `gtid`.
fn ok_with_gtid(gtid: &[u8]) -> Vec<u8> {
    let mut variable = vec![9];
    variable.extend_from_slice(b"last_gtid");
    variable.push(u8::try_from(gtid.len()).unwrap());
    variable.extend_from_slice(gtid);
    // One entry: SESSION_TRACK_SYSTEM_VARIABLES (0) and its length-encoded data.
    let mut state = vec![0, u8::try_from(variable.len()).unwrap()];
    state.extend_from_slice(&variable);
    let flags = status::AUTOCOMMIT | status::SESSION_STATE_CHANGED;
    let mut payload = vec![0, 1, 0];
    payload.extend_from_slice(&flags.to_le_bytes());
    payload.extend_from_slice(&[0, 0, 0]); // warnings, empty info
    payload.push(u8::try_from(state.len()).unwrap());
    payload.extend_from_slice(&state);
    payload
}

#[tokio::test(flavor = "current_thread")]
async fn a_writes_gtid_is_counted_before_its_ok_reaches_the_client() {
    let global: &'static GlobalGtid = GlobalGtid::for_backend("response-tests");
    let (server_side, mut server) = pair().await;
    let (client_side, mut client) = pair().await;
    let mut packet = Vec::new();
    frame(&mut packet, &ok_with_gtid(b"0-1-42"), 1);
    tokio::io::AsyncWriteExt::write_all(&mut server, &packet)
        .await
        .unwrap();
    let mut upstream = PacketStream::new(server_side);
    let mut downstream = PacketStream::new(client_side);
    let rewrite = Rewrite {
        global_gtid: Some(global),
        ..Rewrite::default()
    };
    let relay = forward(
        &mut upstream,
        Some(&mut downstream),
        Shape::Results,
        true,
        rewrite,
    );
    let client_reads = async {
        let mut first = [0u8; 1];
        client.read_exact(&mut first).await.unwrap();
        // The client has a byte of its OK: the write must be counted already.
        global.position()
    };
    let (outcome, seen) = tokio::join!(relay, client_reads);
    assert_eq!(outcome.unwrap().gtid.as_deref(), Some(&b"0-1-42"[..]));
    assert_eq!(seen.as_deref(), Some(&b"0-1-42"[..]));
}
