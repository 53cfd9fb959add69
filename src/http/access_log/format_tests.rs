//! Each format's exact line for fixed records, and what hostile client bytes become.

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use super::write_line;
use crate::http::access_log::record::{termination, AccessRecord, Timings};
use crate::http::access_log::AccessLogFormat;

/// 2000-10-10T13:55:36.655Z, a pooled request answered 200 by web/web-01.
fn record() -> AccessRecord {
    AccessRecord {
        accepted_at: UNIX_EPOCH + Duration::from_millis(971_186_136_655),
        client: "192.0.2.7:51234".parse().unwrap(),
        frontend: "web".into(),
        backend: "app".into(),
        server: Some("web-01".into()),
        method: "GET".into(),
        host: "example.com".into(),
        path: "/index.html?q=1".into(),
        protocol: "HTTP/1.1",
        status: 200,
        bytes_in: 78,
        bytes_out: 2326,
        timings: Timings {
            tq: 1,
            tw: 0,
            tc: 0,
            tr: 12,
            ta: 15,
        },
        retries: 0,
        termination: termination::NORMAL,
    }
}

fn line(format: AccessLogFormat, record: &AccessRecord) -> String {
    let mut out = Vec::new();
    write_line(format, record, &mut out);
    String::from_utf8(out).expect("every format writes UTF-8")
}

#[test]
fn json_line() {
    assert_eq!(
        line(AccessLogFormat::Json, &record()),
        concat!(
            r#"{"time":"2000-10-10T13:55:36.655Z","client":"192.0.2.7","client_port":51234,"#,
            r#""frontend":"web","backend":"app","server":"web-01","method":"GET","#,
            r#""host":"example.com","path":"/index.html?q=1","protocol":"HTTP/1.1","#,
            r#""status":200,"bytes_in":78,"bytes_out":2326,"tq":1,"tw":0,"tc":0,"tr":12,"#,
            r#""ta":15,"retries":0,"termination":"--"}"#,
            "\n"
        )
    );
}

#[test]
fn clf_line() {
    assert_eq!(
        line(AccessLogFormat::Clf, &record()),
        "192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] \"GET /index.html?q=1 HTTP/1.1\" 200 2326\n"
    );
}

#[test]
fn haproxy_line() {
    assert_eq!(
        line(AccessLogFormat::Haproxy, &record()),
        "192.0.2.7:51234 [10/Oct/2000:13:55:36.655] web app/web-01 1/0/0/12/15 200 2326 \
         - - ---- 0/0/0/0/0 0/0 \"GET /index.html?q=1 HTTP/1.1\"\n"
    );
}

/// A request refused by the proxy (431) from an IPv6 client that reached no server.
fn refused() -> AccessRecord {
    AccessRecord {
        client: "[2001:db8::1]:443".parse::<SocketAddr>().unwrap(),
        server: None,
        backend: "web".into(),
        status: 431,
        bytes_out: 0,
        timings: Timings {
            tq: 3,
            ..Timings::NONE
        },
        retries: 0,
        termination: termination::PROXY_REFUSED_REQUEST,
        ..record()
    }
}

#[test]
fn no_server_and_missing_steps() {
    let refused = refused();
    assert_eq!(
        line(AccessLogFormat::Haproxy, &refused),
        "2001:db8::1:443 [10/Oct/2000:13:55:36.655] web web/<NOSRV> 3/-1/-1/-1/-1 431 0 \
         - - PR-- 0/0/0/0/0 0/0 \"GET /index.html?q=1 HTTP/1.1\"\n"
    );
    let json = line(AccessLogFormat::Json, &refused);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["server"], serde_json::Value::Null);
    assert_eq!(value["client"], "2001:db8::1");
    assert_eq!(
        (value["tq"].as_i64(), value["ta"].as_i64()),
        (Some(3), Some(-1))
    );
    assert_eq!(value["termination"], "PR");
    assert_eq!(
        line(AccessLogFormat::Clf, &refused),
        "2001:db8::1 - - [10/Oct/2000:13:55:36 +0000] \"GET /index.html?q=1 HTTP/1.1\" 431 -\n"
    );
}

#[test]
fn no_response_and_unparsed_request() {
    let aborted = AccessRecord {
        method: String::new(),
        path: String::new(),
        status: 0,
        termination: termination::CLIENT_ABORT_REQUEST,
        // An IPv4 client accepted on a dual-stack socket.
        client: "[::ffff:192.0.2.7]:1000".parse().unwrap(),
        ..refused()
    };
    assert_eq!(
        line(AccessLogFormat::Haproxy, &aborted),
        "192.0.2.7:1000 [10/Oct/2000:13:55:36.655] web web/<NOSRV> 3/-1/-1/-1/-1 -1 0 \
         - - CR-- 0/0/0/0/0 0/0 \"<BADREQ>\"\n"
    );
    assert!(line(AccessLogFormat::Clf, &aborted).ends_with("\"  HTTP/1.1\" - -\n"));
    assert!(line(AccessLogFormat::Json, &aborted).contains(r#""status":-1,"#));
}

/// What a client can put in method, host and path (non-UTF-8 bytes arrive as U+FFFD: the
/// session decodes lossily), plus an oddly named server from the configuration.
fn hostile() -> AccessRecord {
    let raw = b"/a\"b\n127.0.0.1 - - [forged] \"GET / HTTP/1.1\" 200 1\r\x00\x1b[31m\xff#\\";
    AccessRecord {
        method: "G\"E\nT".into(),
        host: "evil\r\n.example\u{2028}".into(),
        path: String::from_utf8_lossy(raw).into_owned(),
        server: Some("s p\"a\nce".into()),
        ..record()
    }
}

/// Every format's line for the hostile record is one line: one newline, at the end, and
/// no control character anywhere.
#[test]
fn hostile_bytes_stay_on_one_line_in_every_format() {
    for format in [
        AccessLogFormat::Json,
        AccessLogFormat::Clf,
        AccessLogFormat::Haproxy,
    ] {
        let line = line(format, &hostile());
        let body = line.strip_suffix('\n').expect("newline-terminated");
        assert!(
            !body.chars().any(|c| c.is_control() || c == '\u{2028}'),
            "{format:?}: {line:?}"
        );
    }
}

#[test]
fn hostile_json_decodes_to_the_original_text() {
    let hostile = hostile();
    let line = line(AccessLogFormat::Json, &hostile);
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["method"], hostile.method.as_str());
    assert_eq!(value["host"], hostile.host.as_str());
    assert_eq!(value["path"], hostile.path.as_str());
    assert_eq!(value["server"], "s p\"a\nce");
    assert_eq!(value.as_object().unwrap().len(), 20, "no injected key");
}

#[test]
fn hostile_clf_keeps_its_quotes() {
    let line = line(AccessLogFormat::Clf, &hostile());
    assert_eq!(
        line,
        "192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] \
         \"G\\x22E\\x0AT /a\\x22b\\x0A127.0.0.1 - - [forged] \\x22GET / HTTP/1.1\\x22 200 1\
         \\x0D\\x00\\x1B[31m\\xEF\\xBF\\xBD#\\x5C HTTP/1.1\" 200 2326\n"
    );
    // Exactly the two quotes that delimit the request.
    assert_eq!(line.matches('"').count(), 2);
}

#[test]
fn hostile_haproxy_keeps_its_quotes() {
    let line = line(AccessLogFormat::Haproxy, &hostile());
    assert_eq!(
        line,
        "192.0.2.7:51234 [10/Oct/2000:13:55:36.655] web app/s p#22a#0Ace 1/0/0/12/15 200 2326 \
         - - ---- 0/0/0/0/0 0/0 \"G#22E#0AT /a#22b#0A127.0.0.1 - - [forged] #22GET / HTTP/1.1#22 \
         200 1#0D#00#1B[31m#EF#BF#BD#23\\ HTTP/1.1\"\n"
    );
    assert_eq!(line.matches('"').count(), 2);
}
