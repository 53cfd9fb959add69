//! Reload is all or nothing: a failure at any step of `plan` leaves the running engine as it
//! was (same servers, same listeners, still running, traffic served).

use std::net::TcpListener;

use super::runtime_tests::{config, fetch, started, switchable};
use super::Engine;
use crate::config::CoreConfig;

/// The fields of a `mode: http` frontend (every one: the core has no defaults for them).
const HTTP_SECTION: &str = r#""http": {"request_timeout_ms": 500, "keepalive_timeout_ms": 2000,
    "max_header_size": 16384, "max_headers": 100, "tunnel_timeout_ms": 5000, "h2c": false,
    "forwarded": {"x_forwarded_for": true, "x_forwarded_for_except": [],
                  "x_forwarded_proto": true, "x_forwarded_host": false, "forwarded": false},
    "routes": [], "request_headers": {"set": [], "add": [], "remove": []},
    "response_headers": {"set": [], "add": [], "remove": []}, "access_log": ACCESS_LOG}"#;

/// Reloads `engine` (serving server "a" of backend "b" at `address`) with the running
/// configuration broken by `breaks`, which also renames the server and adds a backend: a
/// reload that got anywhere before failing would show.
fn assert_refused_and_intact(
    engine: &Engine,
    running: &str,
    breaks: impl Fn(String) -> String,
    expect: &str,
) {
    let address = engine.listen_addresses()[0].1;
    let mut next = running.replace(r#""name": "a""#, r#""name": "renamed""#);
    next = next.replace(
        r#""backends": ["#,
        r#""backends": [{"name": "extra", "servers": []}, "#,
    );
    let next = breaks(next);
    let error = engine
        .reload(CoreConfig::from_json(&next).unwrap())
        .unwrap_err();
    assert!(error.to_string().contains(expect), "{error}");
    assert!(engine.is_running());
    assert_eq!(engine.listen_addresses(), vec![("f".to_string(), address)]);
    let snapshot = engine.snapshot();
    assert!(!snapshot.backends.contains_key("extra"));
    let servers = &snapshot.backends["b"].servers;
    assert!(servers.contains_key("a") && !servers.contains_key("renamed"));
    assert_eq!(fetch(address), "a");
}

fn add_frontend(config: String, frontend: &str) -> String {
    config.replace(
        r#""frontends": ["#,
        &format!(r#""frontends": [{frontend}, "#),
    )
}

#[test]
fn a_failure_at_each_step_of_the_plan_changes_nothing() {
    let a = switchable("a");
    let running = config(&[("a", a.address)], "");
    let (engine, _) = started(&running);
    // 1. What only a restart (or an upgrade) can change.
    assert_refused_and_intact(
        &engine,
        &running,
        |c| c.replace(r#""workers": 2"#, r#""workers": 3"#),
        "workers and splice",
    );
    // 2. A frontend certificate that can't be read.
    let tls = r#""tls": {"certificates": [{"cert": "/nonexistent/c.pem", "key": "/nonexistent/k.pem"}]}, "listen""#;
    assert_refused_and_intact(
        &engine,
        &running,
        |c| c.replacen(r#""listen""#, tls, 1),
        "tls",
    );
    // 3. A backend CA file that can't be read.
    assert_refused_and_intact(
        &engine,
        &running,
        |c| {
            c.replace(
                r#""name": "b","#,
                r#""name": "b", "tls": {"ca": "/nonexistent/ca.pem"},"#,
            )
        },
        "tls",
    );
    // 4. A frontend that changes its mode.
    let http = HTTP_SECTION.replace("ACCESS_LOG", "null");
    assert_refused_and_intact(
        &engine,
        &running,
        |c| {
            c.replacen(
                r#""backend": "b"}"#,
                &format!(r#""backend": "b", "mode": "http", {http}}}"#),
                1,
            )
        },
        "mode can't change",
    );
    // 5. A new address that is taken.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let moved = format!(r#""listen": "{}""#, taken.local_addr().unwrap());
    assert_refused_and_intact(
        &engine,
        &running,
        |c| c.replacen(r#""listen": "127.0.0.1:0""#, &moved, 1),
        "frontend \"f\"",
    );
    // 6. A new HTTP frontend whose access log can't be opened (built after the backends).
    let log = r#"{"path": "/nonexistent/dir/access.log", "format": "json"}"#;
    let frontend = format!(
        r#"{{"name": "web", "listen": "127.0.0.1:0", "backend": "b", "mode": "http", {}}}"#,
        HTTP_SECTION.replace("ACCESS_LOG", log)
    );
    assert_refused_and_intact(&engine, &running, |c| add_frontend(c, &frontend), "access");
    // And a good reload still applies afterwards.
    let renamed = running.replace(r#""name": "a""#, r#""name": "renamed""#);
    engine
        .reload(CoreConfig::from_json(&renamed).unwrap())
        .unwrap();
    assert!(engine.snapshot().backends["b"]
        .servers
        .contains_key("renamed"));
}
