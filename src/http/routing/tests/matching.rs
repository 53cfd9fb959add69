//! Which route a request takes: every kind of condition, their combination, order, the
//! default, and a property of `path_prefix`.

use proptest::prelude::*;
use serde_json::json;

use super::{get, outcome, table};

#[test]
fn no_route_matched_goes_to_the_frontends_backend() {
    let routes = table(json!([{"match": {"path_prefix": "/api/"}, "backend": "api"}]));
    assert_eq!(
        outcome(&routes, &get("/other").host("a.com")),
        "web (default)"
    );
    let none = table(json!([]));
    assert_eq!(outcome(&none, &get("/")), "web (default)");
    assert_eq!(none.default_target().route, None);
}

#[test]
fn an_empty_match_takes_everything() {
    let routes = table(json!([{"match": {}, "backend": "api"}, {"backend": "static"}]));
    assert_eq!(
        outcome(&routes, &get("/x").method("DELETE")),
        "api (route 0)"
    );
    assert_eq!(
        outcome(&routes, &get("*").method("OPTIONS")),
        "api (route 0)"
    );
}

#[test]
fn the_first_matching_route_wins() {
    let routes = table(json!([
        {"match": {"path_prefix": "/api/v2/"}, "backend": "static"},
        {"match": {"path_prefix": "/api/"}, "backend": "api"},
        {"match": {"path_prefix": "/api/v2/x"}, "backend": "web"},
    ]));
    assert_eq!(outcome(&routes, &get("/api/v2/x")), "static (route 0)");
    assert_eq!(outcome(&routes, &get("/api/v1/x")), "api (route 1)");
}

#[test]
fn path_prefix_is_compared_on_the_path_before_the_query() {
    let routes = table(json!([{"match": {"path_prefix": "/api/"}, "backend": "api"}]));
    assert_eq!(outcome(&routes, &get("/api/users?id=1")), "api (route 0)");
    assert_eq!(outcome(&routes, &get("/api/")), "api (route 0)");
    assert_eq!(outcome(&routes, &get("/api")), "web (default)");
    // The prefix in the query string is not the path.
    assert_eq!(outcome(&routes, &get("/?next=/api/")), "web (default)");
    assert_eq!(outcome(&routes, &get("/x?/api/")), "web (default)");
}

#[test]
fn paths_are_compared_as_sent() {
    let routes = table(json!([{"match": {"path_prefix": "/admin/"}, "backend": "api"}]));
    // Case-sensitive (RFC 3986 §6.2.2.1: only scheme and host are case-insensitive) and not
    // decoded: the decision is made on the bytes the server receives (see matcher.rs).
    assert_eq!(outcome(&routes, &get("/Admin/")), "web (default)");
    assert_eq!(outcome(&routes, &get("/%61dmin/")), "web (default)");
    assert_eq!(outcome(&routes, &get("/admin/%2e%2e/x")), "api (route 0)");
}

#[test]
fn path_is_exact_and_ignores_the_query() {
    let routes = table(json!([{"match": {"path": "/health"}, "backend": "static"}]));
    assert_eq!(outcome(&routes, &get("/health")), "static (route 0)");
    assert_eq!(outcome(&routes, &get("/health?full=1")), "static (route 0)");
    assert_eq!(outcome(&routes, &get("/health/")), "web (default)");
    assert_eq!(outcome(&routes, &get("/healthz")), "web (default)");
}

#[test]
fn methods_are_one_of_the_list_and_case_sensitive() {
    let routes = table(json!([{"match": {"method": ["POST", "PUT"]}, "backend": "api"}]));
    assert_eq!(outcome(&routes, &get("/").method("POST")), "api (route 0)");
    assert_eq!(outcome(&routes, &get("/").method("PUT")), "api (route 0)");
    assert_eq!(outcome(&routes, &get("/")), "web (default)");
    // RFC 9110 §9.1: "post" is another method.
    assert_eq!(outcome(&routes, &get("/").method("post")), "web (default)");
}

#[test]
fn headers_match_their_exact_value_under_any_name_case() {
    let routes = table(json!([
        {"match": {"header": {"X-Canary": "1", "accept": "text/html"}}, "backend": "api"},
    ]));
    let both = get("/")
        .header("x-canary", "1")
        .header("ACCEPT", "text/html");
    assert_eq!(outcome(&routes, &both), "api (route 0)");
    let one = get("/").header("X-Canary", "1");
    assert_eq!(outcome(&routes, &one), "web (default)");
    let other_value = get("/")
        .header("X-Canary", "10")
        .header("Accept", "text/html");
    assert_eq!(outcome(&routes, &other_value), "web (default)");
    let value_case = get("/")
        .header("X-Canary", "1")
        .header("Accept", "TEXT/HTML");
    assert_eq!(outcome(&routes, &value_case), "web (default)");
}

#[test]
fn hosts_match_without_case_port_or_trailing_dot() {
    let routes = table(json!([{"match": {"host": "API.example.com"}, "backend": "api"}]));
    for host in [
        "api.example.com",
        "Api.Example.COM",
        "api.example.com:8080",
        "api.example.com:80",
        "api.example.com.",
        "api.example.com.:443",
    ] {
        assert_eq!(
            outcome(&routes, &get("/").host(host)),
            "api (route 0)",
            "{host}"
        );
    }
    for host in [
        "example.com",
        "xapi.example.com",
        "api.example.co",
        "api.example.com.x",
        "",
    ] {
        assert_eq!(
            outcome(&routes, &get("/").host(host)),
            "web (default)",
            "{host}"
        );
    }
    // No Host: a route with a host condition does not match.
    assert_eq!(outcome(&routes, &get("/")), "web (default)");
}

#[test]
fn ipv6_hosts_keep_their_brackets_and_lose_their_port() {
    let routes = table(json!([
        {"match": {"host": "::1"}, "backend": "api"},
        {"match": {"host": "[2001:DB8::1]"}, "backend": "static"},
        {"match": {"host": "127.0.0.1"}, "backend": "web"},
    ]));
    assert_eq!(
        outcome(&routes, &get("/").host("[::1]:8080")),
        "api (route 0)"
    );
    assert_eq!(outcome(&routes, &get("/").host("[::1]")), "api (route 0)");
    assert_eq!(
        outcome(&routes, &get("/").host("[2001:db8::1]:443")),
        "static (route 1)"
    );
    assert_eq!(
        outcome(&routes, &get("/").host("127.0.0.1:8080")),
        "web (route 2)"
    );
    // Malformed: an unclosed bracket, a bare literal (invalid in Host), junk after "]".
    for host in ["[::1", "::1", "[::1]x"] {
        assert_eq!(
            outcome(&routes, &get("/").host(host)),
            "web (default)",
            "{host}"
        );
    }
}

#[test]
fn wildcard_hosts_take_every_name_below_but_not_the_name_itself() {
    let routes = table(json!([{"match": {"host": "*.Example.com"}, "backend": "api"}]));
    for host in ["a.example.com", "A.b.EXAMPLE.com:8443", "x.example.com."] {
        assert_eq!(
            outcome(&routes, &get("/").host(host)),
            "api (route 0)",
            "{host}"
        );
    }
    for host in [
        "example.com",
        ".example.com",
        "aexample.com",
        "a.example.com.evil",
    ] {
        assert_eq!(
            outcome(&routes, &get("/").host(host)),
            "web (default)",
            "{host}"
        );
    }
}

#[test]
fn every_condition_of_a_route_must_hold() {
    let routes = table(json!([{
        "match": {"host": "api.example.com", "path_prefix": "/v1/", "method": ["GET"],
                  "header": {"X-Team": "blue"}},
        "backend": "api",
    }]));
    let all = || {
        get("/v1/users")
            .host("api.example.com")
            .header("X-Team", "blue")
    };
    assert_eq!(outcome(&routes, &all()), "api (route 0)");
    assert_eq!(
        outcome(&routes, &all().host("www.example.com")),
        "web (default)"
    );
    assert_eq!(outcome(&routes, &all().method("POST")), "web (default)");
    assert_eq!(
        outcome(&routes, &get("/v1/users").host("api.example.com")),
        "web (default)"
    );
    let wrong_path = get("/v2/users")
        .host("api.example.com")
        .header("X-Team", "blue");
    assert_eq!(outcome(&routes, &wrong_path), "web (default)");
}

proptest! {
    /// A `path_prefix: p` route takes exactly the requests whose path (before `?`) starts with
    /// p, whatever the query.
    #[test]
    fn path_prefix_matches_exactly_the_paths_starting_with_it(
        prefix in "/[a-c/%.]{0,4}",
        path in "/[a-c/%.]{0,6}",
        query in proptest::option::of("[a-c/=&?]{0,5}"),
    ) {
        let routes = table(json!([{"match": {"path_prefix": prefix}, "backend": "api"}]));
        let target = match &query {
            Some(query) => format!("{path}?{query}"),
            None => path.clone(),
        };
        let expected = if path.starts_with(&prefix) { "api (route 0)" } else { "web (default)" };
        prop_assert_eq!(outcome(&routes, &get(&target)), expected);
    }
}
