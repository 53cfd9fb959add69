//! End-to-end tests of the engine on loopback with real sockets (plain `cargo test`).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use super::Engine;
use crate::config::CoreConfig;

/// A backend that answers every connection with its name, then closes.
fn name_server(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let _ = stream.and_then(|mut s| s.write_all(name.as_bytes()));
        }
    });
    address
}

/// A backend that echoes everything back, half-closing after the client's EOF.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut reader = stream.try_clone().unwrap();
                let mut writer = stream;
                let _ = std::io::copy(&mut reader, &mut writer);
                let _ = writer.shutdown(Shutdown::Write);
            });
        }
    });
    address
}

/// An address nothing listens on (bound then closed).
fn refusing_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn engine(servers: &[(&str, SocketAddr, u32)], splice: &str, extra: &str) -> (Engine, SocketAddr) {
    let servers: Vec<String> = servers
        .iter()
        .map(|(n, a, w)| format!(r#"{{"name": "{n}", "address": "{a}", "weight": {w}}}"#))
        .collect();
    let json = format!(
        r#"{{"workers": 2, "splice": "{splice}",
            "frontends": [{{"name": "f", "listen": "127.0.0.1:0", "backend": "b" {extra}}}],
            "backends": [{{"name": "b", "connect_timeout_ms": 1000, "servers": [{}]}}]}}"#,
        servers.join(",")
    );
    let engine = Engine::new(CoreConfig::from_json(&json).unwrap()).unwrap();
    engine.start().unwrap();
    let address = engine.listen_addresses()[0].1;
    (engine, address)
}

fn fetch(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn sequential_connections_follow_the_weights_exactly() {
    let servers = [
        ("a", name_server("a"), 5),
        ("b", name_server("b"), 3),
        ("c", name_server("c"), 1),
    ];
    let (engine, address) = engine(&servers, "auto", "");
    let answers: Vec<String> = (0..18).map(|_| fetch(address)).collect();
    assert_eq!(answers[..9].join(""), "abacababa");
    assert_eq!(answers[9..].join(""), "abacababa");

    engine.set_weight("b", "a", 0).unwrap();
    engine.set_weight("b", "c", 3).unwrap();
    let after: String = (0..6).map(|_| fetch(address)).collect();
    assert_eq!(after.matches('a').count(), 0);
    assert_eq!(
        (after.matches('b').count(), after.matches('c').count()),
        (3, 3)
    );
}

#[test]
fn refused_server_is_retried_and_counted() {
    let servers = [
        ("dead", refusing_address(), 1),
        ("live", name_server("live"), 1),
    ];
    let (engine, address) = engine(&servers, "auto", "");
    for _ in 0..10 {
        assert_eq!(fetch(address), "live");
    }
    let stats = engine.snapshot();
    let dead = &stats.backends["b"].servers["dead"];
    assert_eq!(dead.connect_errors, 5);
    assert_eq!(dead.retries, 5);
    assert_eq!(
        stats.backends["b"].servers["live"]
            .traffic
            .total_connections,
        10
    );
    assert_eq!(stats.frontends["f"].no_server_errors, 0);
}

#[test]
fn no_reachable_server_closes_the_client_and_counts_it() {
    let (engine, address) = engine(&[("dead", refusing_address(), 1)], "auto", "");
    assert_eq!(fetch(address), "");
    let stats = engine.snapshot();
    assert_eq!(stats.frontends["f"].no_server_errors, 1);
    // 1 attempt + 3 retries, all on the only server.
    assert_eq!(stats.backends["b"].servers["dead"].connect_errors, 4);
}

/// 8 MiB each way at once through an echo server, byte-exact, in every relay mode.
#[test]
fn large_transfers_are_byte_exact_in_every_mode() {
    let payload: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for mode in ["never", "always", "auto"] {
        let (engine, address) = engine(&[("echo", echo_server(), 1)], mode, "");
        let mut stream = TcpStream::connect(address).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let sent = payload.clone();
        let sender = thread::spawn(move || {
            writer.write_all(&sent).unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
        });
        let mut echoed = Vec::new();
        stream.read_to_end(&mut echoed).unwrap();
        sender.join().unwrap();
        assert!(echoed == payload, "mode {mode}: echoed bytes differ");
        drop(stream);
        wait_for(|| engine.current_connections() == 0);
        let stats = engine.snapshot();
        let frontend = &stats.frontends["f"];
        assert_eq!(
            frontend.traffic.bytes_in,
            payload.len() as u64,
            "mode {mode}"
        );
        assert_eq!(
            frontend.traffic.bytes_out,
            payload.len() as u64,
            "mode {mode}"
        );
    }
}

/// A backend that sends `size` bytes from a file with sendfile(2), as nginx serves static
/// files: the socket queue then holds page-fragment skbs.
fn sendfile_server(size: usize) -> SocketAddr {
    let path = std::env::temp_dir().join(format!("fastlb-test-{}-{size}", std::process::id()));
    std::fs::write(&path, vec![7u8; size]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let file = std::fs::File::open(&path).unwrap();
            thread::spawn(move || {
                let mut offset = 0u64;
                while (offset as usize) < size {
                    let left = size - offset as usize;
                    match rustix::fs::sendfile(&stream, &file, Some(&mut offset), left) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    address
}

/// A client that reads slower than a sendfile(2) server sends, so every socket buffer fills
/// up. This once stalled splice for good: a splice into the pipe stopped short for lack of
/// pipe slots, readiness was cleared although the socket still held data, and no edge
/// followed (the server was blocked on our full receive window).
#[test]
fn slow_reader_gets_the_whole_transfer_in_every_mode() {
    const SIZE: usize = 16 * 1024 * 1024;
    for mode in ["never", "always", "auto"] {
        let (_engine, address) = engine(&[("bulk", sendfile_server(SIZE), 1)], mode, "");
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buffer = vec![0u8; 4096];
        let mut received = 0;
        let mut reads = 0u32;
        loop {
            let n = stream
                .read(&mut buffer)
                .unwrap_or_else(|e| panic!("mode {mode}: stalled after {received} bytes: {e}"));
            if n == 0 {
                break;
            }
            received += n;
            reads += 1;
            if reads.is_multiple_of(64) {
                thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(received, SIZE, "mode {mode}");
    }
}

#[test]
fn half_close_passes_through_both_ways() {
    let (engine, address) = engine(&[("echo", echo_server(), 1)], "auto", "");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(b"ping").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert_eq!(answer, b"ping");
    drop(engine);
}

#[test]
fn graceful_stop_refuses_new_connections_and_lets_established_ones_finish() {
    let (engine, address) = engine(&[("echo", echo_server(), 1)], "auto", "");
    let mut established = TcpStream::connect(address).unwrap();
    established.write_all(b"one").unwrap();
    let mut buffer = [0u8; 3];
    established.read_exact(&mut buffer).unwrap();

    let engine = std::sync::Arc::new(engine);
    let stopper = {
        let engine = engine.clone();
        thread::spawn(move || engine.stop(Duration::from_secs(10)))
    };
    wait_for(|| TcpStream::connect(address).is_err());
    established.write_all(b"two").unwrap();
    established.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"two");
    established.shutdown(Shutdown::Write).unwrap();
    assert_eq!(established.read(&mut buffer).unwrap(), 0);
    stopper.join().unwrap();
    assert!(!engine.is_running());
}

#[test]
fn drain_deadline_cuts_connections_that_never_close() {
    let (engine, address) = engine(&[("echo", echo_server(), 1)], "auto", "");
    let mut idle = TcpStream::connect(address).unwrap();
    wait_for(|| engine.current_connections() == 1);
    engine.stop(Duration::from_millis(200));
    let mut buffer = [0u8; 1];
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(idle.read(&mut buffer).unwrap_or(0), 0);
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let extra = r#", "idle_timeout_ms": 300"#;
    let (_engine, address) = engine(&[("echo", echo_server(), 1)], "auto", extra);
    let mut idle = TcpStream::connect(address).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buffer = [0u8; 1];
    assert_eq!(
        idle.read(&mut buffer).unwrap(),
        0,
        "expected EOF from the idle timeout"
    );
}

#[test]
fn max_connections_rejects_the_extra_connection() {
    let extra = r#", "max_connections": 1"#;
    let (engine, address) = engine(&[("echo", echo_server(), 1)], "auto", extra);
    let mut first = TcpStream::connect(address).unwrap();
    wait_for(|| engine.current_connections() == 1);
    let mut second = TcpStream::connect(address).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buffer = [0u8; 2];
    assert_eq!(second.read(&mut buffer).unwrap_or(0), 0);
    first.write_all(b"ok").unwrap();
    first.read_exact(&mut buffer).unwrap();
    assert_eq!(engine.snapshot().frontends["f"].rejected_connections, 1);
}

#[test]
fn binding_a_taken_port_names_the_frontend_and_leaves_nothing_listening() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let json = format!(
        r#"{{"workers": 1, "frontends": [{{"name": "web", "listen": "{}", "backend": "b"}}],
            "backends": [{{"name": "b", "servers": []}}]}}"#,
        taken.local_addr().unwrap()
    );
    let engine = Engine::new(CoreConfig::from_json(&json).unwrap()).unwrap();
    let error = engine.start().unwrap_err().to_string();
    assert!(error.contains("frontend \"web\""), "{error}");
    assert!(!engine.is_running());
}

#[test]
fn a_port_another_engine_listens_on_is_taken_too() {
    // Each worker binds its own SO_REUSEPORT socket; that must not let a second fastlb
    // share the first one's port.
    let (_first, address) = engine(&[("a", name_server("a"), 1)], "never", "");
    let json = format!(
        r#"{{"workers": 2, "frontends": [{{"name": "web", "listen": "{address}", "backend": "b"}}],
            "backends": [{{"name": "b", "servers": []}}]}}"#
    );
    let second = Engine::new(CoreConfig::from_json(&json).unwrap()).unwrap();
    let error = second.start().unwrap_err().to_string();
    assert!(error.contains("frontend \"web\""), "{error}");
    assert!(!second.is_running());
}

/// Polls `condition` for up to 5 s (a bounded wait, not a timing assertion).
fn wait_for(condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("condition not met within 5 s");
}
