//! End-to-end tests of the HTTP/1.1 data path over loopback sockets: a real engine, small
//! real origin servers (threads speaking HTTP/1.1 keep-alive) and raw clients. This file is
//! the harness; `session` tests the client side, `upstream` the server side and the pool.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::config::CoreConfig;
use crate::proxy::Engine;

mod session;
mod soft_stop;
mod upstream;

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
    engine_with_http(servers, backend_http, backend_extra, &http_section)
}

/// `http_section`: the frontend's `"http": {...}` field (`HTTP_SECTION`, edited).
fn engine_with_http(
    servers: &[(&str, SocketAddr, u32)],
    backend_http: &str,
    backend_extra: &str,
    http_section: &str,
) -> (Engine, SocketAddr) {
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
