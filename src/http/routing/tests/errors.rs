//! Every configuration the core refuses, and the field its error names.

use serde_json::{json, Value};

use super::try_table;

/// The error for one frontend with `routes` and `overrides`.
fn error(routes: Value, overrides: Value) -> String {
    match try_table(routes, overrides) {
        Ok(_) => panic!("compiled"),
        Err(error) => error,
    }
}

fn route_error(route: Value) -> String {
    error(json!([{"backend": "web"}, route]), json!({}))
}

fn starts(error: String, expected: &str) {
    assert!(
        error.starts_with(expected),
        "{error:?} should start with {expected:?}"
    );
}

#[test]
fn the_action_is_a_known_backend_or_a_redirect() {
    assert_eq!(
        error(
            json!([{"backend": "web"}, {"backend": "web"}, {"backend": "nope"}]),
            json!({})
        ),
        r#"http.routes[2].backend: no backend named "nope""#
    );
    assert_eq!(
        route_error(json!({"backend": "api", "redirect": {"scheme": "https"}})),
        "http.routes[1]: a route has either a backend or a redirect, not both"
    );
    assert_eq!(
        route_error(json!({"match": {"path": "/"}})),
        "http.routes[1]: a route needs a backend or a redirect"
    );
}

#[test]
fn redirects_must_be_buildable_and_go_somewhere() {
    assert_eq!(
        route_error(json!({"redirect": {"scheme": "https", "code": 300}})),
        "http.routes[1].redirect.code: 300 is not a redirect status (301, 302, 303, 307 or 308)"
    );
    assert_eq!(
        route_error(json!({"redirect": {"scheme": "ftp"}})),
        r#"http.routes[1].redirect.scheme: "ftp" is not http or https"#
    );
    starts(
        route_error(json!({"redirect": {"host": "a.com/x"}})),
        "http.routes[1].redirect.host: ",
    );
    starts(
        route_error(json!({"redirect": {"host": "a.com:http"}})),
        "http.routes[1].redirect.host: ",
    );
    starts(
        route_error(json!({"redirect": {"path_prefix": "new"}})),
        "http.routes[1].redirect.path_prefix: \"new\" must start with /",
    );
    starts(
        route_error(json!({"redirect": {"code": 301}})),
        "http.routes[1].redirect: it sends the client back",
    );
    starts(
        route_error(json!({"redirect": {"path_prefix": "/"}})),
        "http.routes[1].redirect: it sends the client back",
    );
    starts(
        route_error(json!({"redirect": {"scheme": "https"},
                           "request_headers": {"set": [], "add": [["X", "1"]], "remove": []}})),
        "http.routes[1].request_headers: a redirect forwards no request",
    );
}

#[test]
fn matches_must_be_able_to_match() {
    starts(
        route_error(json!({"match": {"host": "a.com:8080"}, "backend": "api"})),
        r#"http.routes[1].match.host: "a.com:8080" has a port"#,
    );
    starts(
        route_error(json!({"match": {"host": "a.*.com"}, "backend": "api"})),
        "http.routes[1].match.host: \"a.*.com\": a wildcard is only allowed as the first label",
    );
    starts(
        route_error(json!({"match": {"host": "*.[::1]"}, "backend": "api"})),
        "http.routes[1].match.host: ",
    );
    starts(
        route_error(json!({"match": {"host": "a b"}, "backend": "api"})),
        r#"http.routes[1].match.host: "a b" is not a host name"#,
    );
    starts(
        route_error(json!({"match": {"path_prefix": "api/"}, "backend": "api"})),
        r#"http.routes[1].match.path_prefix: "api/" must start with /"#,
    );
    starts(
        route_error(json!({"match": {"path": "/a?b=1"}, "backend": "api"})),
        r#"http.routes[1].match.path: "/a?b=1" has a ? or #"#,
    );
    starts(
        route_error(json!({"match": {"path": "/a b"}, "backend": "api"})),
        r#"http.routes[1].match.path: "/a b" has a space"#,
    );
    assert_eq!(
        route_error(json!({"match": {"method": ["GET", "GE T"]}, "backend": "api"})),
        r#"http.routes[1].match.method[1]: "GE T" is not a method (an RFC 9110 token)"#
    );
    assert_eq!(
        route_error(json!({"match": {"header": {"X:Y": "1"}}, "backend": "api"})),
        r#"http.routes[1].match.header: "X:Y" is not a header name (an RFC 9110 token)"#
    );
    starts(
        route_error(json!({"match": {"header": {"X-Y": "1\r\n2"}}, "backend": "api"})),
        r#"http.routes[1].match.header: the value of "X-Y" contains CR, LF or NUL"#,
    );
}

#[test]
fn edits_must_be_valid_fields_the_proxy_does_not_own() {
    let frontend = |key: &str, edits: Value| error(json!([]), json!({ key: edits }));
    assert_eq!(
        frontend(
            "request_headers",
            json!({"set": [["X Env", "prod"]], "add": [], "remove": []})
        ),
        r#"http.request_headers.set[0]: "X Env" is not a header name (an RFC 9110 token)"#
    );
    starts(
        frontend(
            "response_headers",
            json!({"set": [], "add": [["X-A", "1"], ["X-B", "a\nb"]], "remove": []}),
        ),
        r#"http.response_headers.add[1]: the value of "X-B" contains CR, LF or NUL"#,
    );
    starts(
        frontend(
            "request_headers",
            json!({"set": [["X-A", "\u{0}"]], "add": [], "remove": []}),
        ),
        r#"http.request_headers.set[0]: the value of "X-A" contains CR, LF or NUL"#,
    );
    starts(
        frontend(
            "request_headers",
            json!({"set": [["X-A", "v "]], "add": [], "remove": []}),
        ),
        r#"http.request_headers.set[0]: the value of "X-A" starts or ends with whitespace"#,
    );
    starts(
        frontend(
            "request_headers",
            json!({"set": [], "add": [], "remove": ["Ok", ""]}),
        ),
        r#"http.request_headers.remove[1]: "" is not a header name"#,
    );
    starts(
        frontend(
            "request_headers",
            json!({"set": [["Content-Length", "0"]], "add": [], "remove": []}),
        ),
        r#"http.request_headers.set[0]: "Content-Length" frames the message"#,
    );
    starts(
        route_error(json!({"backend": "api",
                           "request_headers": {"set": [], "add": [],
                                               "remove": ["transfer-encoding"]}})),
        r#"http.routes[1].request_headers.remove[0]: "transfer-encoding" frames the message"#,
    );
    starts(
        route_error(json!({"backend": "api",
                           "response_headers": {"set": [], "add": [["Connection", "close"]],
                                                "remove": []}})),
        r#"http.routes[1].response_headers.add[0]: "Connection" frames the message"#,
    );
}
