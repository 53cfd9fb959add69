//! Redirect statuses and the Location they build from the request.

use serde_json::json;

use super::{get, table, Req};
use crate::http::routing::{Decision, Redirect, RouteTable};

fn redirect<'t>(table: &'t RouteTable, request: &Req) -> &'t Redirect {
    match table.decide(request) {
        Decision::Redirect(redirect) => redirect,
        Decision::Forward(target) => panic!("forwarded to {target:?}"),
    }
}

/// The Location for `request` sent over plain HTTP (`tls: false`) or TLS.
fn location(redirect_config: serde_json::Value, request: &Req, tls: bool) -> String {
    let routes = table(json!([{"redirect": redirect_config}]));
    redirect(&routes, request).location(request, tls)
}

#[test]
fn https_redirect_keeps_host_path_and_query_and_drops_the_port() {
    let to_https = json!({"scheme": "https"});
    let cases = [
        (
            "example.com",
            "/a/b?x=1&y=2",
            "https://example.com/a/b?x=1&y=2",
        ),
        ("example.com:80", "/", "https://example.com/"),
        // The port of the plain listener means nothing for https: the default port it is.
        ("example.com:8080", "/x", "https://example.com/x"),
        ("[::1]:8080", "/x?q", "https://[::1]/x?q"),
        ("Example.COM", "/Case", "https://Example.COM/Case"),
    ];
    for (host, path, expected) in cases {
        assert_eq!(
            location(to_https.clone(), &get(path).host(host), false),
            expected
        );
    }
}

#[test]
fn the_same_scheme_keeps_the_port() {
    // Over TLS, `scheme: https` does not change the scheme: the host is kept as sent.
    let request = get("/x").host("example.com:8443");
    assert_eq!(
        location(
            json!({"scheme": "https", "path_prefix": "/new"}),
            &request,
            true
        ),
        "https://example.com:8443/new/x"
    );
    // And to plain http from TLS the port goes.
    assert_eq!(
        location(json!({"scheme": "HTTP"}), &request, true),
        "http://example.com/x"
    );
}

#[test]
fn the_status_defaults_and_can_be_set() {
    let routes = table(json!([
        {"match": {"path": "/a"}, "redirect": {"scheme": "https"}},
        {"match": {"path": "/b"}, "redirect": {"scheme": "https", "code": 301}},
        {"match": {"path": "/c"}, "redirect": {"scheme": "https", "code": 308}},
    ]));
    assert_eq!(redirect(&routes, &get("/a")).status(), 302);
    assert_eq!(redirect(&routes, &get("/b")).status(), 301);
    assert_eq!(redirect(&routes, &get("/c")).status(), 308);
    assert_eq!(redirect(&routes, &get("/c")).route(), 2);
}

#[test]
fn a_prefix_alone_gives_a_relative_location() {
    let request = get("/old/page?id=7").host("evil.example");
    assert_eq!(
        location(json!({"path_prefix": "/new"}), &request, false),
        "/new/old/page?id=7"
    );
    // A trailing slash on the prefix does not double the slash.
    assert_eq!(
        location(json!({"path_prefix": "/new/"}), &request, false),
        "/new/old/page?id=7"
    );
}

#[test]
fn a_host_override_is_used_with_its_port_and_the_requests_scheme() {
    let request = get("/x?y").host("old.example.com:8080");
    let moved = json!({"host": "New.example.com:8443"});
    assert_eq!(
        location(moved.clone(), &request, false),
        "http://new.example.com:8443/x?y"
    );
    assert_eq!(
        location(moved, &request, true),
        "https://new.example.com:8443/x?y"
    );
    let everything = json!({"scheme": "https", "host": "www.example.com", "path_prefix": "/v2"});
    assert_eq!(
        location(everything, &request, false),
        "https://www.example.com/v2/x?y"
    );
}

#[test]
fn without_a_usable_host_the_location_is_relative() {
    let to_https = json!({"scheme": "https", "path_prefix": "/p"});
    // HTTP/1.0 without Host.
    assert_eq!(location(to_https.clone(), &get("/x"), false), "/p/x");
    // A Host that would change the URL's meaning is not echoed.
    for host in [
        "evil.com/x",
        "a@evil.com",
        "[::1",
        "a b",
        "a.com:80:90",
        "a.com:x",
    ] {
        assert_eq!(
            location(to_https.clone(), &get("/x").host(host), false),
            "/p/x"
        );
    }
    // A host override needs no Host.
    assert_eq!(
        location(
            json!({"scheme": "https", "host": "a.com"}),
            &get("/x"),
            false
        ),
        "https://a.com/x"
    );
}

#[test]
fn the_location_cannot_split_the_response_head() {
    let request = get("/a b\r\nSet-Cookie: x\u{e9}").host("a.com");
    let built = location(json!({"scheme": "https"}), &request, false);
    assert_eq!(built, "https://a.com/a%20b%0D%0ASet-Cookie:%20x%C3%A9");
    // Asterisk-form has no path to keep.
    let options = get("*").method("OPTIONS").host("a.com");
    assert_eq!(
        location(json!({"scheme": "https"}), &options, false),
        "https://a.com/"
    );
}

#[test]
fn redirects_carry_the_frontend_and_route_response_edits() {
    let routes = super::try_table(
        json!([{"redirect": {"scheme": "https"},
                "response_headers": {"set": [["Cache-Control", "no-store"]], "add": [],
                                     "remove": []}}]),
        json!({"response_headers": {"set": [], "add": [], "remove": ["Server"]}}),
    )
    .unwrap();
    let edits = redirect(&routes, &get("/")).response_edits();
    assert!(edits.drops(b"server"));
    assert!(edits.drops(b"cache-control"));
    assert_eq!(
        edits.appends().collect::<Vec<_>>(),
        [("Cache-Control", "no-store")]
    );
}
