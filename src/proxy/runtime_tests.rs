//! End-to-end tests of runtime changes: health checks, added/removed servers, reload.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::Engine;
use crate::config::{CoreConfig, ServerConfig};
use crate::health::CheckStatus;

/// A backend answering every connection with its name; `up` switches it between serving
/// and closing its listening socket (connections then get refused).
pub(super) struct Switchable {
    pub address: SocketAddr,
    up: Arc<AtomicBool>,
}

pub(super) fn switchable(name: &'static str) -> Switchable {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let up = Arc::new(AtomicBool::new(true));
    let flag = up.clone();
    thread::spawn(move || {
        let mut listener = Some(listener);
        loop {
            match (&listener, flag.load(Ordering::SeqCst)) {
                (Some(l), true) => {
                    l.set_nonblocking(true).unwrap();
                    if let Ok((mut s, _)) = l.accept() {
                        let _ = s.write_all(name.as_bytes());
                    } else {
                        thread::sleep(Duration::from_millis(2));
                    }
                }
                (Some(_), false) => listener = None,
                (None, true) => listener = TcpListener::bind(address).ok(),
                (None, false) => thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Switchable { address, up }
}

pub(super) fn config(servers: &[(&str, SocketAddr)], check: &str) -> String {
    let servers: Vec<String> = servers
        .iter()
        .map(|(n, a)| format!(r#"{{"name": "{n}", "address": "{a}"}}"#))
        .collect();
    format!(
        r#"{{"workers": 2, "frontends": [{{"name": "f", "listen": "127.0.0.1:0", "backend": "b"}}],
            "backends": [{{"name": "b", "connect_timeout_ms": 500 {check},
                           "servers": [{}]}}]}}"#,
        servers.join(",")
    )
}

const FAST_CHECK: &str = r#", "health_check": {"type": "tcp", "interval_ms": 50,
    "fast_interval_ms": 20, "timeout_ms": 200, "rise": 2, "fall": 2}"#;

pub(super) fn fetch(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn status(engine: &Engine, server: &str) -> &'static str {
    engine.snapshot().backends["b"].servers[server].status
}

/// Polls for up to 5 s (a bounded wait, not a timing assertion).
fn wait_for(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("{what}: not within 5 s");
}

pub(super) fn started(json: &str) -> (Engine, SocketAddr) {
    let engine = Engine::new(CoreConfig::from_json(json).unwrap()).unwrap();
    engine.start().unwrap();
    let address = engine.listen_addresses()[0].1;
    (engine, address)
}

#[test]
fn a_dead_server_goes_down_and_comes_back_and_clients_never_notice() {
    let (a, b) = (switchable("a"), switchable("b"));
    let (engine, address) = started(&config(&[("a", a.address), ("b", b.address)], FAST_CHECK));
    wait_for("first checks", || {
        engine.snapshot().backends["b"].servers["a"]
            .check
            .as_ref()
            .unwrap()
            .checked_at
            .is_some()
    });
    a.up.store(false, Ordering::SeqCst);
    wait_for("a refusing", || TcpStream::connect(a.address).is_err());
    // Every client is served while a is dead but not yet DOWN (retries), then only by b.
    for _ in 0..20 {
        assert_eq!(fetch(address).len(), 1);
    }
    wait_for("a DOWN", || status(&engine, "a") == "DOWN");
    let snapshot = engine.snapshot();
    let down = &snapshot.backends["b"].servers["a"];
    assert!(!down.active);
    assert_eq!(down.down_transitions, 1);
    // Live traffic may have taken it down first; the checks confirm it.
    wait_for("a failed check", || {
        let snapshot = engine.snapshot();
        let check = snapshot.backends["b"].servers["a"].check.clone().unwrap();
        check.status == CheckStatus::Failed && check.last_error.is_some()
    });
    assert!((0..6).all(|_| fetch(address) == "b"));

    a.up.store(true, Ordering::SeqCst);
    wait_for("a UP", || status(&engine, "a") == "UP");
    let answers: String = (0..6).map(|_| fetch(address)).collect();
    assert_eq!(answers.matches('a').count(), 3);
    assert_eq!(engine.snapshot().frontends["f"].no_server_errors, 0);
}

#[test]
fn passive_observation_marks_down_before_the_next_check() {
    let (a, b) = (switchable("a"), switchable("b"));
    // Checks every 60 s: only live traffic can notice the failure in time.
    let slow = FAST_CHECK.replace(r#""interval_ms": 50"#, r#""interval_ms": 60000"#);
    let (engine, address) = started(&config(&[("a", a.address), ("b", b.address)], &slow));
    a.up.store(false, Ordering::SeqCst);
    wait_for("a refusing", || TcpStream::connect(a.address).is_err());
    for _ in 0..6 {
        assert_eq!(fetch(address).len(), 1);
    }
    assert_eq!(status(&engine, "a"), "DOWN");
}

#[test]
fn servers_added_and_removed_at_runtime() {
    let (a, b) = (switchable("a"), switchable("b"));
    let (engine, address) = started(&config(&[("a", a.address)], ""));
    let b_config: ServerConfig =
        serde_json::from_str(&format!(r#"{{"name": "b", "address": "{}"}}"#, b.address)).unwrap();
    engine.add_server("b", &b_config).unwrap();
    assert!(engine.add_server("b", &b_config).is_err(), "duplicate name");
    let answers: String = (0..4).map(|_| fetch(address)).collect();
    assert_eq!(answers.matches('b').count(), 2);
    engine.remove_server("b", "a").unwrap();
    assert!((0..4).all(|_| fetch(address) == "b"));
    assert!(engine.remove_server("b", "a").is_err());
    assert!(!engine.snapshot().backends["b"].servers.contains_key("a"));
}

#[test]
fn reload_changes_servers_and_keeps_established_connections() {
    let (a, b) = (switchable("a"), switchable("b"));
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_address = echo.local_addr().unwrap();
    thread::spawn(move || {
        for mut s in echo.incoming().flatten() {
            thread::spawn(move || {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let (engine, address) = started(&config(&[("echo", echo_address)], ""));
    let mut established = TcpStream::connect(address).unwrap();
    established.write_all(b"1").unwrap();
    let mut buf = [0u8; 1];
    established.read_exact(&mut buf).unwrap();

    let mut next = config(&[("a", a.address), ("b", b.address)], FAST_CHECK);
    next = next.replace(
        r#""listen": "127.0.0.1:0""#,
        &format!(r#""listen": "{address}""#),
    );
    engine
        .reload(CoreConfig::from_json(&next).unwrap())
        .unwrap();
    let answers: String = (0..4).map(|_| fetch(address)).collect();
    assert_eq!(
        (answers.matches('a').count(), answers.matches('b').count()),
        (2, 2)
    );
    // The connection to the removed server carries on.
    established.write_all(b"2").unwrap();
    established.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"2");

    let restart = next.replace(r#""workers": 2"#, r#""workers": 3"#);
    assert!(engine
        .reload(CoreConfig::from_json(&restart).unwrap())
        .is_err());
}

/// A minimal HTTP server answering every request with `status`.
fn http_server(status: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            let _ = s.read(&mut request);
            let _ = write!(s, "HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n");
        }
    });
    address
}

#[test]
fn http_checks_want_the_expected_status() {
    let (ok, failing) = (
        http_server("200 OK"),
        http_server("503 Service Unavailable"),
    );
    let check = FAST_CHECK.replace(r#""type": "tcp""#, r#""type": "http", "path": "/health""#);
    let (engine, _) = started(&config(&[("ok", ok), ("failing", failing)], &check));
    wait_for("failing DOWN", || status(&engine, "failing") == "DOWN");
    let snapshot = engine.snapshot();
    let failing = snapshot.backends["b"].servers["failing"]
        .check
        .clone()
        .unwrap();
    assert_eq!(
        failing.last_error.as_deref(),
        Some("HTTP status 503, expected 200")
    );
    assert_eq!(status(&engine, "ok"), "UP");
}

#[test]
fn a_reload_that_cannot_bind_changes_nothing() {
    let a = switchable("a");
    let (engine, address) = started(&config(&[("a", a.address)], ""));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut next = config(&[("a", a.address)], "");
    let listen = format!(r#""listen": "{}""#, taken.local_addr().unwrap());
    next = next.replace(r#""listen": "127.0.0.1:0""#, &listen);
    next = next.replace(r#""name": "a""#, r#""name": "renamed""#);
    let error = engine
        .reload(CoreConfig::from_json(&next).unwrap())
        .unwrap_err();
    assert!(error.to_string().contains("frontend \"f\""), "{error}");
    assert_eq!(fetch(address), "a");
    assert!(engine.snapshot().backends["b"].servers.contains_key("a"));
}
