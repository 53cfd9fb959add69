//! The client side: balancing, pipelining, routing and redirects, errors and timeouts,
//! the access log, reloads.

use super::*;

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

#[test]
fn a_route_to_an_unknown_backend_fails_the_reload_naming_the_field() {
    let a = origin("a", usize::MAX);
    let (engine, address) = engine(&[("a", a.address, 1)], REUSE);
    let json = format!(
        r#"{{"workers": 1, "frontends": [{{"name": "f", "listen": "{address}",
              "backend": "b", "mode": "http", {}}}],
            "backends": [{{"name": "b", "http": {REUSE},
                           "servers": [{{"name": "a", "address": "{}"}}]}}]}}"#,
        HTTP_SECTION.replace(
            r#""routes": []"#,
            r#""routes": [{"match": {"host": null, "path_prefix": "/api/", "path": null,
                "method": [], "header": {}}, "backend": "api", "redirect": null,
                "request_headers": {"set": [], "add": [], "remove": []},
                "response_headers": {"set": [], "add": [], "remove": []}}]"#
        ),
        a.address
    );
    let error = engine
        .reload(CoreConfig::from_json(&json).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(r#"frontend "f": http.routes[0].backend"#),
        "{error}"
    );
    // Nothing changed: still served.
    assert_eq!(exchange(&mut client(address), GET).0, 200);
}

#[test]
fn routes_pick_the_backend_and_redirects_are_answered_by_the_proxy() {
    let (a, b) = (origin("a", usize::MAX), origin("b", usize::MAX));
    let edits = r#""request_headers": {"set": [], "add": [], "remove": []},
                   "response_headers": {"set": [["X-Route", "api"]], "add": [], "remove": []}"#;
    let routes = format!(
        r#""routes": [
            {{"match": {{"host": null, "path_prefix": "/api/", "path": null, "method": [],
                        "header": {{}}}}, "backend": "api", "redirect": null, {edits}}},
            {{"match": {{"host": null, "path_prefix": "/old/", "path": null, "method": [],
                        "header": {{}}}}, "backend": null,
              "redirect": {{"scheme": "https", "host": null, "path_prefix": null, "code": 301}},
              "request_headers": {{"set": [], "add": [], "remove": []}},
              "response_headers": {{"set": [], "add": [], "remove": []}}}}]"#
    );
    let json = format!(
        r#"{{"workers": 1, "frontends": [{{"name": "f", "listen": "127.0.0.1:0",
              "backend": "b", "mode": "http", {}}}],
            "backends": [{{"name": "b", "servers": [{{"name": "a", "address": "{}"}}]}},
                         {{"name": "api", "servers": [{{"name": "b", "address": "{}"}}]}}]}}"#,
        HTTP_SECTION.replace(r#""routes": []"#, &routes),
        a.address,
        b.address
    );
    let engine = Engine::new(CoreConfig::from_json(&json).unwrap()).unwrap();
    engine.start().unwrap();
    let address = engine.listen_addresses()[0].1;
    let mut stream = client(address);
    let (_, body) = exchange(&mut stream, "GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(body.starts_with("b|"), "{body}");
    let (_, body) = exchange(&mut stream, GET);
    assert!(body.starts_with("a|"), "{body}");
    stream
        .write_all(b"GET /old/page?q=1 HTTP/1.1\r\nHost: site.test\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(&mut stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        reader.read_line(&mut head).unwrap();
    }
    assert!(head.starts_with("HTTP/1.1 301"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("location: https://site.test/old/page?q=1\r\n"),
        "{head}"
    );
    drop(reader);
    // The route's response edits: the api route's answers carry X-Route.
    stream
        .write_all(b"GET /api/y HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut raw = [0u8; 512];
    let n = stream.read(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw[..n]).to_string();
    assert!(text.contains("X-Route: api\r\n"), "{text}");
    let redirects = engine.snapshot().frontends["f"]
        .http
        .as_ref()
        .unwrap()
        .redirects;
    assert_eq!(redirects, 1);
}
