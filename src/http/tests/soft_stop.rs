//! Soft stop of HTTP/1.1 sessions (`Engine::stop`): the exchange in progress finishes and
//! closes, an idle connection answers its next request with `Connection: close` or is closed
//! after the grace, and the drain ends long before its deadline.

use super::*;
use std::sync::mpsc;

/// The drain deadline: these tests expect the stop to end by itself far sooner.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long a test waits for what should come at once (or after the 1 s grace).
const PATIENCE: Duration = Duration::from_secs(10);

/// An engine whose idle connections would stay open for 30 s, before their first request or
/// between two (longer than the tests wait): a connection closed sooner was closed by the
/// stop.
fn engine_long_keepalive(servers: &[(&str, SocketAddr, u32)]) -> (Engine, SocketAddr) {
    let http = HTTP_SECTION
        .replace(
            r#""keepalive_timeout_ms": 2000"#,
            r#""keepalive_timeout_ms": 30000"#,
        )
        .replace(
            r#""request_timeout_ms": 500"#,
            r#""request_timeout_ms": 30000"#,
        );
    assert_ne!(http, HTTP_SECTION);
    engine_with_http(servers, REUSE, "", &http)
}

/// A response: status, header lines (lower-cased), body.
struct Response {
    status: u16,
    headers: Vec<String>,
    body: String,
}

impl Response {
    fn says_close(&self) -> bool {
        self.headers.iter().any(|h| h == "connection: close")
    }
}

fn read_full_response(reader: &mut impl BufRead) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let (mut headers, mut length) = (Vec::new(), 0);
    loop {
        let mut field = String::new();
        reader.read_line(&mut field).unwrap();
        if field == "\r\n" {
            break;
        }
        let field = field.trim_end().to_ascii_lowercase();
        if let Some(value) = field.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        headers.push(field);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Response {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// Whether the server closed the connection (EOF) rather than leaving it open.
fn closed_by_server(reader: &mut impl Read) -> bool {
    let mut byte = [0u8; 1];
    matches!(reader.read(&mut byte), Ok(0))
}

/// Waits until the frontend refuses connections and `Engine::stop` has told the sessions
/// (it does so under the state lock, right after closing the listeners: taking the lock
/// once more waits for it).
fn wait_until_told(engine: &Engine, address: SocketAddr) {
    let since = std::time::Instant::now();
    while TcpStream::connect(address).is_ok() {
        assert!(since.elapsed() < PATIENCE, "the listener is still open");
        thread::sleep(Duration::from_millis(5));
    }
    let _ = engine.current_connections();
}

/// Whether `stop` returns within `PATIENCE` (its deadline is `DEADLINE`).
fn ended_early(stop: &thread::ScopedJoinHandle<'_, ()>) -> bool {
    let since = std::time::Instant::now();
    while !stop.is_finished() {
        if since.elapsed() > PATIENCE {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    true
}

/// An origin that holds its first request until `release` says so, then answers it (and
/// every later one) keep-alive, without `Connection: close`.
fn held_origin() -> (SocketAddr, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (arrived_tx, arrived) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        for held in [true].into_iter().chain(std::iter::repeat(false)) {
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
            }
            if held {
                arrived_tx.send(()).unwrap();
                released.recv().unwrap();
            }
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nheld";
            if writer.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    });
    (address, arrived, release)
}

#[test]
fn the_exchange_in_progress_finishes_with_connection_close() {
    let (server, arrived, release) = held_origin();
    let (engine, address) = engine_long_keepalive(&[("h", server, 1)]);
    let mut stream = client(address);
    stream.write_all(GET.as_bytes()).unwrap();
    arrived.recv_timeout(PATIENCE).unwrap();
    thread::scope(|scope| {
        let stop = scope.spawn(|| engine.stop(DEADLINE));
        wait_until_told(&engine, address);
        // The server answers after the stop: the answer still reaches the client, whole,
        // as the connection's last.
        release.send(()).unwrap();
        let mut reader = BufReader::new(&mut stream);
        let response = read_full_response(&mut reader);
        assert_eq!((response.status, response.body.as_str()), (200, "held"));
        assert!(response.says_close(), "{:?}", response.headers);
        assert!(closed_by_server(&mut reader));
        assert!(ended_early(&stop), "the drain ran on to its deadline");
    });
}

#[test]
fn an_idle_connection_answers_its_next_request_with_connection_close() {
    let a = origin("a", usize::MAX);
    let (engine, address) = engine_long_keepalive(&[("a", a.address, 1)]);
    let mut stream = client(address);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream.write_all(GET.as_bytes()).unwrap();
    let before = read_full_response(&mut reader);
    assert!(!before.says_close(), "{:?}", before.headers);
    thread::scope(|scope| {
        let stop = scope.spawn(|| engine.stop(DEADLINE));
        wait_until_told(&engine, address);
        // Idle when the stop came: a request sent now (within the grace) is not met by a
        // close (RFC 9112 §9.6) but answered, as the last one.
        stream.write_all(GET.as_bytes()).unwrap();
        let response = read_full_response(&mut reader);
        assert_eq!(response.status, 200);
        assert!(response.says_close(), "{:?}", response.headers);
        assert!(closed_by_server(&mut reader));
        assert!(ended_early(&stop), "the drain ran on to its deadline");
    });
    assert_eq!(a.requests.load(Ordering::SeqCst), 2);
}

#[test]
fn an_idle_connection_is_closed_after_the_grace() {
    let a = origin("a", usize::MAX);
    let (engine, address) = engine_long_keepalive(&[("a", a.address, 1)]);
    let mut stream = client(address);
    stream.set_read_timeout(Some(PATIENCE + PATIENCE)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream.write_all(GET.as_bytes()).unwrap();
    assert_eq!(read_full_response(&mut reader).status, 200);
    // A connection that never sent a request is closed the same way (no 408).
    let mut silent = client(address);
    silent.set_read_timeout(Some(PATIENCE + PATIENCE)).unwrap();
    // Accepted (not left in the listener's queue, which the stop resets).
    let since = std::time::Instant::now();
    while engine.current_connections() < 2 {
        assert!(since.elapsed() < PATIENCE, "not accepted");
        thread::sleep(Duration::from_millis(5));
    }
    thread::scope(|scope| {
        let stop = scope.spawn(|| engine.stop(DEADLINE));
        // Nothing more is sent: closed well before the 30 s keep-alive timeout.
        assert!(closed_by_server(&mut reader));
        let mut nothing = Vec::new();
        assert_eq!(silent.read_to_end(&mut nothing).unwrap(), 0);
        assert!(ended_early(&stop), "the drain ran on to its deadline");
    });
}

#[test]
fn an_engine_started_again_after_a_stop_keeps_connections_alive() {
    let a = origin("a", usize::MAX);
    let (engine, address) = engine(&[("a", a.address, 1)], REUSE);
    engine.stop(Duration::ZERO);
    wait_until_told(&engine, address);
    engine.start().unwrap();
    let address = engine.listen_addresses()[0].1;
    let mut stream = client(address);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..2 {
        stream.write_all(GET.as_bytes()).unwrap();
        let response = read_full_response(&mut reader);
        assert_eq!(response.status, 200);
        assert!(!response.says_close(), "{:?}", response.headers);
    }
}
