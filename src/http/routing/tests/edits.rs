//! Header edits: what is dropped and appended, case-insensitively, and how the frontend's
//! and a route's compose.

use serde_json::{json, Value};

use super::{get, try_table};
use crate::http::routing::{Decision, HeaderEdits, RouteTable, Target};

fn forwarded<'t>(table: &'t RouteTable, path: &str) -> &'t Target {
    match table.decide(&get(path)) {
        Decision::Forward(target) => target,
        Decision::Redirect(_) => panic!("redirected"),
    }
}

fn appended(edits: &HeaderEdits) -> Vec<(&str, &str)> {
    edits.appends().collect()
}

fn edits(set: Value, add: Value, remove: Value) -> Value {
    json!({"set": set, "add": add, "remove": remove})
}

#[test]
fn frontend_edits_apply_to_the_default_target() {
    let routes = try_table(
        json!([]),
        json!({
            "request_headers": edits(json!([["X-Env", "prod"]]), json!([["Via", "fastlb"]]),
                                     json!(["X-Debug"])),
            "response_headers": edits(json!([]), json!([]), json!(["Server"])),
        }),
    )
    .unwrap();
    let target = forwarded(&routes, "/");
    let request = &target.request_edits;
    for name in ["X-Debug", "x-debug", "X-DEBUG", "X-Env", "x-env"] {
        assert!(request.drops(name.as_bytes()), "{name}");
    }
    for name in ["Via", "X-Debugger", "X-En", "Host", ""] {
        assert!(!request.drops(name.as_bytes()), "{name}");
    }
    // Set before add; names as configured.
    assert_eq!(appended(request), [("X-Env", "prod"), ("Via", "fastlb")]);
    assert!(target.response_edits.drops(b"SERVER"));
    assert!(appended(&target.response_edits).is_empty());
    assert!(!request.is_empty() && !target.response_edits.is_empty());
}

#[test]
fn no_edits_are_empty() {
    let routes = try_table(json!([{"backend": "api"}]), json!({})).unwrap();
    let target = forwarded(&routes, "/");
    assert!(target.request_edits.is_empty() && target.response_edits.is_empty());
    assert!(!target.request_edits.drops(b"host"));
}

#[test]
fn route_edits_follow_the_frontends() {
    let routes = try_table(
        json!([
            {"match": {"path_prefix": "/api/"}, "backend": "api",
             "request_headers": edits(json!([["x-env", "staging"]]), json!([["X-Route", "api"]]),
                                      json!(["X-Team"])),
             "response_headers": edits(json!([]), json!([["X-Served-By", "api"]]),
                                       json!([]))},
            {"match": {"path_prefix": "/static/"}, "backend": "static",
             "request_headers": edits(json!([]), json!([]), json!(["Via"]))},
        ]),
        json!({
            "request_headers": edits(json!([["X-Env", "prod"]]),
                                     json!([["X-Team", "web"], ["Via", "fastlb"]]),
                                     json!(["X-Debug"])),
            "response_headers": edits(json!([]), json!([]), json!(["Server"])),
        }),
    )
    .unwrap();

    let api = forwarded(&routes, "/api/x");
    // The route's set replaces the frontend's (any case), its remove cancels the frontend's add.
    assert_eq!(
        appended(&api.request_edits),
        [("Via", "fastlb"), ("x-env", "staging"), ("X-Route", "api")]
    );
    for name in ["x-debug", "x-env", "x-team"] {
        assert!(api.request_edits.drops(name.as_bytes()), "{name}");
    }
    assert!(api.response_edits.drops(b"server"));
    assert_eq!(appended(&api.response_edits), [("X-Served-By", "api")]);

    let static_files = forwarded(&routes, "/static/x");
    assert_eq!(
        appended(&static_files.request_edits),
        [("X-Env", "prod"), ("X-Team", "web")]
    );
    assert!(static_files.request_edits.drops(b"VIA"));

    // The default target has the frontend's alone.
    let default = forwarded(&routes, "/");
    assert_eq!(
        appended(&default.request_edits),
        [("X-Env", "prod"), ("X-Team", "web"), ("Via", "fastlb")]
    );
    assert!(!default.request_edits.drops(b"via"));
}

#[test]
fn within_one_block_remove_then_set_then_add() {
    let routes = try_table(
        json!([]),
        json!({"request_headers": edits(
            json!([["X-A", "1"], ["x-a", "2"]]),
            json!([["X-A", "3"], ["X-B", "4"]]),
            json!(["X-A", "x-a"]),
        )}),
    )
    .unwrap();
    let request = &forwarded(&routes, "/").request_edits;
    // A second set of the same name replaces the first; add keeps both of its own.
    assert_eq!(
        appended(request),
        [("x-a", "2"), ("X-A", "3"), ("X-B", "4")]
    );
    assert!(request.drops(b"x-a"));
    assert!(!request.drops(b"x-b"));
}
