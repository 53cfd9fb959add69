//! The server side: the pool, reuse, retries, `send_proxy`, requests given as parts.

use super::*;

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
