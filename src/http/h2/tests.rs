//! End-to-end tests of HTTP/2 to clients over loopback: a real engine with an h2c frontend,
//! small real HTTP/1.1 origin servers (threads), and the `h2` crate's client.

use bytes::Bytes;
use h2::client::SendRequest;
use http::{Method, Request};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use tokio::net::TcpStream as AsyncTcpStream;

use crate::config::CoreConfig;
use crate::proxy::Engine;

/// An HTTP/1.1 keep-alive origin answering `name|<body length>|<x-forwarded-proto>` after
/// `delay`; counts accepted connections.
fn origin(name: &'static str, delay: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            thread::spawn(move || serve_origin(stream, name, delay));
        }
    });
    (address, accepted)
}

fn serve_origin(stream: TcpStream, name: &str, delay: Duration) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let (mut length, mut chunked, mut proto) = (0usize, false, String::new());
        loop {
            let mut field = String::new();
            if reader.read_line(&mut field).unwrap_or(0) == 0 {
                return;
            }
            if field == "\r\n" {
                break;
            }
            let (key, value) = field.split_once(':').unwrap();
            match key.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "transfer-encoding" => chunked = true,
                "x-forwarded-proto" => proto = value.trim().to_string(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        }
        thread::sleep(delay);
        let text = format!("{name}|{}|{proto}", body.len());
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// An engine with one h2c frontend (`keepalive_ms` idle timeout) over `servers`.
fn engine(servers: &[(&str, SocketAddr, u32)], keepalive_ms: u64) -> (Engine, SocketAddr) {
    let servers: Vec<String> = servers
        .iter()
        .map(|(n, a, w)| format!(r#"{{"name": "{n}", "address": "{a}", "weight": {w}}}"#))
        .collect();
    let json = format!(
        r#"{{"workers": 1, "frontends": [{{"name": "f", "listen": "127.0.0.1:0",
              "backend": "b", "mode": "http", "http": {{"request_timeout_ms": 1000,
              "keepalive_timeout_ms": {keepalive_ms}, "max_header_size": 4096, "max_headers": 100,
              "tunnel_timeout_ms": 5000, "h2c": true,
              "forwarded": {{"x_forwarded_for": true, "x_forwarded_for_except": [],
                  "x_forwarded_proto": true, "x_forwarded_host": false, "forwarded": false}},
              "routes": [], "request_headers": {{"set": [], "add": [], "remove": []}},
              "response_headers": {{"set": [], "add": [], "remove": []}}, "access_log": null}}}}],
            "backends": [{{"name": "b", "connect_timeout_ms": 500,
                "http": {{"server_reuse": true, "max_idle": 64, "idle_timeout_ms": 5000,
                          "response_timeout_ms": 2000}},
                "servers": [{}]}}]}}"#,
        servers.join(",")
    );
    let engine = Engine::new(CoreConfig::from_json(&json).unwrap()).unwrap();
    engine.start().unwrap();
    let address = engine.listen_addresses()[0].1;
    (engine, address)
}

/// An h2c client connection (prior knowledge); its connection task runs in the background.
async fn connect(
    address: SocketAddr,
) -> (
    SendRequest<Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = AsyncTcpStream::connect(address).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    (client, tokio::spawn(connection))
}

/// Runs a client on its own runtime (the engine's workers have theirs).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn get(path: &str) -> Request<()> {
    Request::get(format!("http://test{path}")).body(()).unwrap()
}

/// Sends `request` (with `body`, if any) and returns the status and the body as text.
async fn fetch(
    client: &mut SendRequest<Bytes>,
    request: Request<()>,
    body: Option<Bytes>,
) -> (u16, String) {
    let mut client = client.clone().ready().await.unwrap();
    let (response, mut send) = client.send_request(request, body.is_none()).unwrap();
    if let Some(body) = body {
        send.send_data(body, true).unwrap();
    }
    let response = response.await.unwrap();
    let status = response.status().as_u16();
    let mut recv = response.into_body();
    let mut text = Vec::new();
    while let Some(data) = recv.data().await {
        let data = data.unwrap();
        let _ = recv.flow_control().release_capacity(data.len());
        text.extend_from_slice(&data);
    }
    (status, String::from_utf8(text).unwrap())
}

#[test]
fn concurrent_streams_are_balanced_one_by_one_over_pooled_connections() {
    let (a, a_accepted) = origin("a", Duration::from_millis(20));
    let (b, b_accepted) = origin("b", Duration::from_millis(20));
    let (engine, address) = engine(&[("a", a, 3), ("b", b, 1)], 5000);
    block_on(async {
        let (mut client, _connection) = connect(address).await;
        let mut streams = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let mut client = client.clone();
            streams.spawn(async move { fetch(&mut client, get("/x"), None).await });
        }
        let mut names = Vec::new();
        while let Some(answer) = streams.join_next().await {
            let (status, body) = answer.unwrap();
            assert_eq!(status, 200);
            names.push(body.split('|').next().unwrap().to_string());
        }
        assert_eq!(names.iter().filter(|n| *n == "a").count(), 30);
        assert_eq!(names.iter().filter(|n| *n == "b").count(), 10);
        // The 40 streams overlapped (each waits 20 ms at its server): they ran concurrently.
        assert!(a_accepted.load(Ordering::SeqCst) > 1);
        // A POST with a body, on a connection the pool kept.
        let (status, body) = fetch(
            &mut client,
            Request::post("http://test/up").body(()).unwrap(),
            Some(Bytes::from(vec![7u8; 100_000])),
        )
        .await;
        assert_eq!(status, 200);
        assert!(body.ends_with("|100000|http"), "{body}");
        let stats = engine.snapshot();
        let http = stats.frontends["f"].http.as_ref().unwrap();
        assert_eq!(
            (http.requests, http.responses.c2xx, http.h2_connections),
            (41, 41, 1)
        );
        let pooled = stats.backends["b"].http.as_ref().unwrap();
        assert_eq!(pooled.pool_hits + pooled.pool_misses, 41);
        assert!(pooled.pool_hits > 0);
        assert!(b_accepted.load(Ordering::SeqCst) <= 10);
    });
}

#[test]
fn an_idle_connection_gets_a_goaway_and_is_closed() {
    let (a, _) = origin("a", Duration::ZERO);
    let (_engine, address) = engine(&[("a", a, 1)], 200);
    block_on(async {
        let (mut client, connection) = connect(address).await;
        assert_eq!(fetch(&mut client, get("/"), None).await.0, 200);
        // The connection task ends once fastlb's GOAWAY closed it (NO_ERROR: graceful).
        let ended = tokio::time::timeout(Duration::from_secs(3), connection).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    });
}

#[test]
fn a_rapid_reset_flood_is_stopped_with_enhance_your_calm() {
    // A slow server: reset streams' tasks pile up whatever the flood's pace (a loaded
    // machine may send fewer than MAX_CLIENT_RESETS_PER_SECOND a second), so one of the two
    // limits trips without depending on the client's speed.
    let (a, _) = origin("a", Duration::from_secs(5));
    let (_engine, address) = engine(&[("a", a, 1)], 5000);
    block_on(async {
        let (client, connection) = connect(address).await;
        let flood = async {
            for sent in 0..5000 {
                let Ok(mut ready) = client.clone().ready().await else {
                    return sent;
                };
                let Ok((_, mut stream)) = ready.send_request(get("/"), false) else {
                    return sent;
                };
                stream.send_reset(h2::Reason::CANCEL);
                tokio::task::yield_now().await;
            }
            5000
        };
        let sent = tokio::time::timeout(Duration::from_secs(30), flood).await;
        assert!(
            matches!(sent, Ok(sent) if sent < 5000),
            "the flood was not cut off: {sent:?}"
        );
        let ended = tokio::time::timeout(Duration::from_secs(5), connection).await;
        let error = match ended {
            Ok(Ok(Err(error))) => error,
            other => panic!("the flood was not stopped: {other:?}"),
        };
        // GOAWAY ENHANCE_YOUR_CALM, then the close; a client still writing may meet the
        // closed socket (EPIPE, reset) before it reads the GOAWAY.
        assert!(
            error.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM) || error.is_io(),
            "{error:?}"
        );
    });
}

#[test]
fn a_header_list_over_max_header_size_is_refused_on_its_stream() {
    let (a, _) = origin("a", Duration::ZERO);
    let (_engine, address) = engine(&[("a", a, 1)], 5000);
    block_on(async {
        let (mut client, _connection) = connect(address).await;
        let mut request = get("/");
        request
            .headers_mut()
            .insert("x-big", "v".repeat(8000).parse().unwrap());
        let mut ready = client.clone().ready().await.unwrap();
        let (response, _) = ready.send_request(request, true).unwrap();
        // RFC 9113 §8.2.2 / §6.5.2: the crate answers 431 or resets the stream, never routes it.
        match response.await {
            Ok(response) => assert_eq!(response.status(), 431),
            Err(error) => assert!(error.is_reset(), "{error:?}"),
        }
        // The connection goes on.
        let mut request = Request::new(());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = "http://test/".parse().unwrap();
        assert_eq!(fetch(&mut client, request, None).await.0, 200);
    });
}

#[test]
fn a_stop_sends_goaway_and_the_stream_in_flight_completes() {
    let (a, _) = origin("a", Duration::from_millis(300));
    // Idle connections would stay for a minute: a connection that ends sooner was ended by
    // the stop.
    let (engine, address) = engine(&[("a", a, 1)], 60_000);
    std::thread::scope(|scope| {
        block_on(async {
            let (mut client, connection) = connect(address).await;
            assert_eq!(fetch(&mut client, get("/"), None).await.0, 200);
            let in_flight = {
                let mut client = client.clone();
                tokio::spawn(async move { fetch(&mut client, get("/slow"), None).await })
            };
            // Most likely at the server by then; if not, it was sent before the GOAWAY
            // reached the client, and is served all the same (RFC 9113 §6.8).
            tokio::time::sleep(Duration::from_millis(100)).await;
            let stop = scope.spawn(|| engine.stop(Duration::from_secs(60)));
            let (status, body) = in_flight.await.unwrap();
            assert_eq!((status, body.split('|').next()), (200, Some("a")));
            // GOAWAY NO_ERROR, then the close: the client's connection task ends cleanly.
            let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
            assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
            // New streams are refused on it: the client must open a new connection.
            assert!(client.clone().ready().await.is_err());
            for _ in 0..1000 {
                if stop.is_finished() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the drain ran on to its deadline");
        });
    });
}
