//! End-to-end tests of the HTTP/1.1 data path over loopback sockets: a real engine, small
//! real origin servers (threads speaking HTTP/1.1 keep-alive) and raw clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::config::CoreConfig;
use crate::proxy::Engine;

/// An origin server: answers every request with its name (and the request's
/// `X-Forwarded-For` after a `|`), keep-alive unless `close_after` requests were served
/// on a connection. Counts accepted connections and requests.
struct Origin {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

fn origin(name: &'static str, close_after: usize) -> Origin {
    origin_with(name, close_after, true)
}

/// `announce: false`: the server closes after `close_after` requests without saying so
/// (like a keep-alive timeout that strikes just after a response).
fn origin_with(name: &'static str, close_after: usize, announce: bool) -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (a, r) = (accepted.clone(), requests.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            a.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            thread::spawn(move || serve_origin(stream, name, close_after, announce, &r));
        }
    });
    Origin {
        address,
        accepted,
        requests,
    }
}

fn serve_origin(
    stream: TcpStream,
    name: &str,
    close_after: usize,
    announce: bool,
    requests: &AtomicUsize,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    for served in 1.. {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let (mut length, mut xff, mut chunked) = (0usize, String::new(), false);
        loop {
            let mut field = String::new();
            reader.read_line(&mut field).unwrap();
            if field == "\r\n" {
                break;
            }
            let (key, value) = field.split_once(':').unwrap();
            let value = value.trim();
            match key.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap(),
                "x-forwarded-for" => xff = value.to_string(),
                "transfer-encoding" => chunked = true,
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        if chunked {
            read_chunked(&mut reader, &mut body);
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let text = format!("{name}|{xff}|{}", body.len());
        let close = served >= close_after;
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n{text}",
            text.len(),
            if close && announce {
                "Connection: close\r\n"
            } else {
                ""
            }
        );
        if writer.write_all(answer.as_bytes()).is_err() || close {
            return;
        }
    }
}

fn read_chunked(reader: &mut impl BufRead, body: &mut Vec<u8>) {
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).unwrap();
        if size == 0 {
            return;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

const HTTP_SECTION: &str = r#""http": {"request_timeout_ms": 500, "keepalive_timeout_ms": 2000,
    "max_header_size": 16384, "max_headers": 100, "tunnel_timeout_ms": 5000, "h2c": false,
    "forwarded": {"x_forwarded_for": true, "x_forwarded_for_except": [],
                  "x_forwarded_proto": true, "x_forwarded_host": false, "forwarded": false},
    "routes": [], "request_headers": {"set": [], "add": [], "remove": []},
    "response_headers": {"set": [], "add": [], "remove": []}, "access_log": null}"#;

fn engine(servers: &[(&str, SocketAddr, u32)], backend_http: &str) -> (Engine, SocketAddr) {
    engine_with(servers, backend_http, "")
}

/// `backend_extra`: more fields of the backend (`"send_proxy": "v1", `).
fn engine_with(
    servers: &[(&str, SocketAddr, u32)],
    backend_http: &str,
    backend_extra: &str,
) -> (Engine, SocketAddr) {
    engine_logging(servers, backend_http, backend_extra, "null")
}

fn engine_logging(
    servers: &[(&str, SocketAddr, u32)],
    backend_http: &str,
    backend_extra: &str,
    access_log: &str,
) -> (Engine, SocketAddr) {
    let http_section = HTTP_SECTION.replace(
        r#""access_log": null"#,
        &format!(r#""access_log": {access_log}"#),
    );
    let servers: Vec<String> = servers
        .iter()
        .map(|(n, a, w)| format!(r#"{{"name": "{n}", "address": "{a}", "weight": {w}}}"#))
        .collect();
    let json = format!(
        r#"{{"workers": 1, "frontends": [{{"name": "f", "listen": "127.0.0.1:0",
              "backend": "b", "mode": "http", {http_section}}}],
            "backends": [{{"name": "b", "connect_timeout_ms": 500, {backend_extra}
                           "http": {backend_http},
                           "servers": [{}]}}]}}"#,
        servers.join(",")
    );
    let engine = Engine::new(CoreConfig::from_json(&json).unwrap()).unwrap();
    engine.start().unwrap();
    let address = engine.listen_addresses()[0].1;
    (engine, address)
}

const REUSE: &str = r#"{"server_reuse": true, "max_idle": 8, "idle_timeout_ms": 5000,
    "response_timeout_ms": 1000}"#;

/// Sends `request` and reads one response (head + Content-Length body).
fn exchange(stream: &mut TcpStream, request: &str) -> (u16, String) {
    stream.write_all(request.as_bytes()).unwrap();
    read_response(&mut BufReader::new(stream))
}

fn read_response(reader: &mut impl BufRead) -> (u16, String) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        let mut field = String::new();
        reader.read_line(&mut field).unwrap();
        if field == "\r\n" {
            break;
        }
        if let Some((k, v)) = field.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

fn client(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

const GET: &str = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const GET_CLOSE: &str = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

#[test]
fn keep_alive_requests_are_balanced_one_by_one_by_weight() {
    let (a, b) = (origin("a", usize::MAX), origin("b", usize::MAX));
    let (engine, address) = engine(&[("a", a.address, 3), ("b", b.address, 1)], REUSE);
    let mut stream = client(address);
    let mut names = Vec::new();
    for _ in 0..8 {
        let (status, body) = exchange(&mut stream, GET);
        assert_eq!(status, 200);
        names.push(body.split('|').next().unwrap().to_string());
    }
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 6, "{names:?}");
    assert_eq!(names.iter().filter(|n| *n == "b").count(), 2, "{names:?}");
    // One connection per server, reused: the pool at work.
    assert_eq!(a.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(b.accepted.load(Ordering::SeqCst), 1);
    // The last response is counted once it is written: the client may have read it first.
    for _ in 0..200 {
        let stats = engine.snapshot();
        if stats.frontends["f"].http.as_ref().unwrap().responses.c2xx == 8 {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let stats = engine.snapshot();
    let http = stats.frontends["f"].http.as_ref().unwrap();
    assert_eq!((http.requests, http.responses.c2xx), (8, 8));
    let backend = stats.backends["b"].http.as_ref().unwrap();
    assert_eq!((backend.pool_misses, backend.pool_hits), (2, 6));
}

#[test]
fn closing_clients_reuse_server_connections_and_see_their_address_forwarded() {
    let a = origin("a", usize::MAX);
    let (_engine, address) = engine(&[("a", a.address, 1)], REUSE);
    for _ in 0..5 {
        let mut stream = client(address);
        let (status, body) = exchange(&mut stream, GET_CLOSE);
        assert_eq!((status, body.as_str()), (200, "a|127.0.0.1|0"));
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "the proxy closes after Connection: close");
    }
    assert_eq!(a.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(a.requests.load(Ordering::SeqCst), 5);
}

#[test]
fn without_server_reuse_every_request_gets_its_own_server_connection() {
    let a = origin("a", usize::MAX);
    let no_reuse = REUSE.replace(r#""server_reuse": true"#, r#""server_reuse": false"#);
    let (_engine, address) = engine(&[("a", a.address, 1)], &no_reuse);
    let mut stream = client(address);
    for _ in 0..3 {
        assert_eq!(exchange(&mut stream, GET).0, 200);
    }
    assert_eq!(a.accepted.load(Ordering::SeqCst), 3);
}

#[test]
fn a_server_closing_its_connection_after_each_answer_costs_the_client_nothing() {
    // The server says `Connection: close` on every response: nothing is pooled, and the
    // client's keep-alive connection goes on.
    let a = origin("a", 1);
    let (_engine, address) = engine(&[("a", a.address, 1)], REUSE);
    let mut stream = client(address);
    for _ in 0..4 {
        assert_eq!(exchange(&mut stream, GET).0, 200);
    }
    assert_eq!(a.accepted.load(Ordering::SeqCst), 4);
}

#[test]
fn pipelined_requests_and_bodies_are_answered_in_order() {
    let a = origin("a", usize::MAX);
    let (_engine, address) = engine(&[("a", a.address, 1)], REUSE);
    let mut stream = client(address);
    let burst = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
                 POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
                 GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    stream.write_all(burst.as_bytes()).unwrap();
    let mut reader = BufReader::new(&mut stream);
    let bodies: Vec<String> = (0..3).map(|_| read_response(&mut reader).1).collect();
    assert_eq!(bodies, ["a|127.0.0.1|5", "a|127.0.0.1|3", "a|127.0.0.1|0"]);
}

#[test]
fn no_server_is_503_and_a_dead_one_502() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_address = dead.local_addr().unwrap();
    drop(dead);
    let (_engine, address) = engine(&[("dead", dead_address, 1)], REUSE);
    let (status, _) = exchange(&mut client(address), GET);
    assert_eq!(status, 502);
    let (engine, address) = engine(&[("a", dead_address, 1)], REUSE);
    engine.set_state("b", "a", "maint").unwrap();
    let (status, _) = exchange(&mut client(address), GET);
    assert_eq!(status, 503);
}

#[test]
fn a_silent_server_is_504_and_malformed_requests_are_refused() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let (_engine, address) = engine(&[("s", silent.local_addr().unwrap(), 1)], REUSE);
    let (status, _) = exchange(&mut client(address), GET);
    assert_eq!(status, 504);
    let smuggle = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\
                   Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n";
    let (status, _) = exchange(&mut client(address), smuggle);
    assert_eq!(status, 400);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "x".repeat(20000)
    );
    let mut stream = client(address);
    let _ = stream.write_all(big.as_bytes());
    assert_eq!(read_response(&mut BufReader::new(&mut stream)).0, 431);
}

#[test]
fn a_slow_request_head_gets_408() {
    let a = origin("a", usize::MAX);
    let (engine, address) = engine(&[("a", a.address, 1)], REUSE);
    let mut stream = client(address);
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    let (status, _) = read_response(&mut BufReader::new(&mut stream));
    assert_eq!(status, 408);
    assert_eq!(
        engine.snapshot().frontends["f"]
            .http
            .as_ref()
            .unwrap()
            .request_timeouts,
        1
    );
    assert_eq!(a.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn pooled_connections_the_server_closed_are_not_used_or_are_retried() {
    let a = origin_with("a", 1, false);
    let (engine, address) = engine(&[("a", a.address, 1)], REUSE);
    let mut stream = client(address);
    for round in 0..20 {
        assert_eq!(exchange(&mut stream, GET).0, 200, "request {round}");
        if round % 2 == 0 {
            // Sometimes the FIN is there before the next request, sometimes not.
            thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(a.requests.load(Ordering::SeqCst), 20);
    let stats = engine.snapshot();
    assert_eq!(
        stats.frontends["f"].http.as_ref().unwrap().responses.c5xx,
        0
    );
}

#[test]
fn an_idle_pooled_connection_is_counted_and_expires() {
    let a = origin("a", usize::MAX);
    let short = REUSE.replace(r#""idle_timeout_ms": 5000"#, r#""idle_timeout_ms": 200"#);
    let (engine, address) = engine(&[("a", a.address, 1)], &short);
    let mut stream = client(address);
    assert_eq!(exchange(&mut stream, GET_CLOSE).0, 200);
    // The server connection is pooled before the client's is closed.
    stream.read_to_end(&mut Vec::new()).unwrap();
    let idle = || {
        engine.snapshot().backends["b"].servers["a"]
            .http
            .as_ref()
            .unwrap()
            .idle_connections
    };
    assert_eq!(idle(), 1);
    for _ in 0..300 {
        if idle() == 0 {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("the idle connection was not closed after its idle timeout");
}

/// An origin behind `send_proxy: v1`: every connection starts with a PROXY line, reported
/// on `lines`; then it answers each request with that line.
fn proxy_protocol_origin() -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = lines.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let seen = seen.clone();
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                let mut proxy = String::new();
                reader.read_line(&mut proxy).unwrap();
                let proxy = proxy.trim_end().to_string();
                seen.lock().unwrap().push(proxy.clone());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    while line != "\r\n" {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{proxy}",
                        proxy.len()
                    );
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, lines)
}

#[test]
fn send_proxy_connections_are_private_to_their_client() {
    let (origin, lines) = proxy_protocol_origin();
    let (_engine, address) = engine_with(&[("a", origin, 1)], REUSE, r#""send_proxy": "v1","#);
    let (mut first, mut second) = (client(address), client(address));
    for _ in 0..3 {
        for stream in [&mut first, &mut second] {
            let port = stream.local_addr().unwrap().port();
            let (status, body) = exchange(stream, GET);
            assert_eq!(status, 200);
            // The connection that answered names this client, never the other one.
            assert!(
                body.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 ")
                    && body.split(' ').nth(4) == Some(&port.to_string()),
                "{body} for client port {port}"
            );
        }
    }
    // One connection per client, each reused for that client's requests.
    assert_eq!(lines.lock().unwrap().len(), 2);
}

#[test]
fn answered_requests_are_logged() {
    let a = origin("a", usize::MAX);
    let path = std::env::temp_dir().join(format!("fastlb-h1-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let log = format!(r#"{{"path": "{}", "format": "json"}}"#, path.display());
    let (engine, address) = engine_logging(&[("a", a.address, 1)], REUSE, "", &log);
    let mut stream = client(address);
    assert_eq!(
        exchange(&mut stream, "GET /x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n").0,
        200
    );
    let bad = "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    assert_eq!(exchange(&mut client(address), bad).0, 400);
    let mut text = String::new();
    for _ in 0..300 {
        text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= 2 {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    drop(engine);
    let _ = std::fs::remove_file(&path);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let ok = lines.iter().find(|l| l["status"] == 200).expect(&text);
    assert!(text.contains("/x?y=1") && text.contains(r#""a""#), "{text}");
    assert_eq!(ok["method"], "GET", "{text}");
    assert!(lines.iter().any(|l| l["status"] == 400), "{text}");
}

/// A chunked upload given as parts, as the h2 side hands requests over.
struct Pieces(Vec<&'static [u8]>);

impl crate::http::forward::RequestBody for Pieces {
    async fn next(&mut self, out: &mut Vec<u8>) -> std::io::Result<bool> {
        if let Some(piece) = self.0.pop() {
            out.extend_from_slice(piece);
        }
        Ok(!self.0.is_empty())
    }
}

#[test]
fn requests_given_as_parts_go_through_the_pool() {
    use crate::http::forward::{send, Context, NoBody, UpstreamRequest};
    use crate::http::routing::Decision;
    use crate::http::HttpFrontend;
    use std::collections::HashMap;

    let a = origin("a", usize::MAX);
    let json = format!(
        r#"{{"workers": 1, "frontends": [{{"name": "f", "listen": "127.0.0.1:0",
              "backend": "b", "mode": "http", {HTTP_SECTION}}}],
            "backends": [{{"name": "b", "http": {REUSE},
                           "servers": [{{"name": "a", "address": "{}"}}]}}]}}"#,
        a.address
    );
    let config = CoreConfig::from_json(&json).unwrap();
    let backend = Arc::new(crate::balancer::Backend::new(&config.backends[0]));
    let backends = HashMap::from([("b".to_string(), backend.clone())]);
    let http = HttpFrontend::build(&config.frontends[0], &backends, None)
        .unwrap()
        .unwrap();
    let frontend = crate::proxy::Frontend::new(
        &config.frontends[0],
        backend,
        crate::config::SpliceMode::Auto,
        None,
        Some(http.clone()),
    );
    let peer: SocketAddr = "10.1.2.3:5555".parse().unwrap();
    let context = Context {
        frontend: &frontend,
        http: &http,
        origin: crate::proxy::ClientOrigin::direct(peer, peer),
        tls: true,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for round in 0..3 {
            let headers: [(&[u8], &[u8]); 2] = [(b"accept", b"*/*"), (b"connection", b"x")];
            let Decision::Forward(target) = http.routes.decide(&Req) else {
                panic!("routed")
            };
            let (mut response, expected) = if round == 1 {
                let request = UpstreamRequest {
                    method: b"POST",
                    path: b"/up",
                    authority: Some(b"example.com"),
                    headers: &headers,
                    body_length: None,
                };
                let mut body = Pieces(vec![b"world", b"hello "]);
                let response = send(&context, target, &request, &mut body).await;
                (response.unwrap(), "a|10.1.2.3|11")
            } else {
                let request = UpstreamRequest {
                    method: b"GET",
                    path: b"/",
                    authority: Some(b"example.com"),
                    headers: &headers,
                    body_length: Some(0),
                };
                let response = send(&context, target, &request, &mut NoBody).await;
                (response.unwrap(), "a|10.1.2.3|0")
            };
            assert_eq!(response.status(), 200);
            assert!(response
                .headers()
                .any(|(n, _)| n.eq_ignore_ascii_case(b"content-length")));
            let mut body = Vec::new();
            while response.data(&mut body).await.unwrap() {}
            assert_eq!(String::from_utf8(body).unwrap(), expected);
        }
    });
    assert_eq!(
        a.accepted.load(Ordering::SeqCst),
        1,
        "one pooled connection"
    );
}

/// A request routing sees (no routes here: the default target).
struct Req;

impl crate::http::routing::RequestHead for Req {
    fn method(&self) -> &[u8] {
        b"GET"
    }
    fn path(&self) -> &[u8] {
        b"/"
    }
    fn host(&self) -> Option<&[u8]> {
        None
    }
    fn header(&self, _: &str) -> Option<&[u8]> {
        None
    }
}
