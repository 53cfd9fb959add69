//! The three line formats (`json`, `clf`, `haproxy`), each one newline-terminated line per
//! record. Run on the writer thread only, never on a worker.

use std::io::Write;
use std::net::IpAddr;

use super::escape::{clf_text, haproxy_text, json_string};
use super::record::AccessRecord;
use super::time::Civil;
use super::AccessLogFormat;

/// Appends `record` to `out` as one line of `format`, newline included.
pub fn write_line(format: AccessLogFormat, record: &AccessRecord, out: &mut Vec<u8>) {
    match format {
        AccessLogFormat::Json => json(record, out),
        AccessLogFormat::Clf => clf(record, out),
        AccessLogFormat::Haproxy => haproxy(record, out),
    }
    out.push(b'\n');
}

/// An IPv4 client reached over an IPv6 socket prints as IPv4, like everywhere else in fastlb.
fn client_ip(record: &AccessRecord) -> IpAddr {
    record.client.ip().to_canonical()
}

/// HAProxy's convention, kept in every format that prints a number: -1 for no response.
fn status(record: &AccessRecord) -> i32 {
    match record.status {
        0 => -1,
        code => i32::from(code),
    }
}

/// One JSON object; the keys are stable (dashboards and shippers depend on them).
fn json(record: &AccessRecord, out: &mut Vec<u8>) {
    let t = &record.timings;
    out.extend_from_slice(b"{\"time\":\"");
    Civil::from_system_time(record.accepted_at).write_rfc3339(out);
    out.extend_from_slice(b"\",\"client\":\"");
    let _ = write!(out, "{}", client_ip(record));
    let _ = write!(
        out,
        "\",\"client_port\":{},\"frontend\":",
        record.client.port()
    );
    json_string(out, &record.frontend);
    out.extend_from_slice(b",\"backend\":");
    json_string(out, &record.backend);
    out.extend_from_slice(b",\"server\":");
    match &record.server {
        Some(server) => json_string(out, server),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"method\":");
    json_string(out, &record.method);
    out.extend_from_slice(b",\"host\":");
    json_string(out, &record.host);
    out.extend_from_slice(b",\"path\":");
    json_string(out, &record.path);
    out.extend_from_slice(b",\"protocol\":");
    json_string(out, record.protocol);
    let _ = write!(
        out,
        ",\"status\":{},\"bytes_in\":{},\"bytes_out\":{},\"tq\":{},\"tw\":{},\"tc\":{},\
         \"tr\":{},\"ta\":{},\"retries\":{},\"termination\":",
        status(record),
        record.bytes_in,
        record.bytes_out,
        t.tq,
        t.tw,
        t.tc,
        t.tr,
        t.ta,
        record.retries
    );
    json_string(out, &String::from_utf8_lossy(&record.termination));
    out.push(b'}');
}

/// Common Log Format: `host ident authuser [date] "request" status bytes`. Ident and user
/// are always `-` (no identd, no authentication); `bytes` is every byte sent to the client,
/// head included (Apache's `%O` rather than `%b`: the proxy does not separate the body's
/// size), `-` when nothing was sent, as CLF writes a zero.
fn clf(record: &AccessRecord, out: &mut Vec<u8>) {
    let _ = write!(out, "{} - - [", client_ip(record));
    Civil::from_system_time(record.accepted_at).write_clf(out);
    out.extend_from_slice(b"] \"");
    clf_text(out, &record.method);
    out.push(b' ');
    clf_text(out, &record.path);
    out.push(b' ');
    clf_text(out, record.protocol);
    out.extend_from_slice(b"\" ");
    match record.status {
        0 => out.push(b'-'),
        code => {
            let _ = write!(out, "{code}");
        }
    }
    match record.bytes_out {
        0 => out.extend_from_slice(b" -"),
        bytes => {
            let _ = write!(out, " {bytes}");
        }
    }
}

/// HAProxy's `option httplog` line without the syslog prefix (configuration manual §8.2.3):
///
/// `client:port [accept_date] frontend backend/server Tq/Tw/Tc/Tr/Ta status bytes_read
/// - - TTcc actconn/feconn/beconn/srv_conn/retries srv_queue/backend_queue "request"`
///
/// Constants, because fastlb has no such feature or does not record it per request: the
/// captured request and response cookies (`- -`), the cookie persistence flags (the last
/// two of the four termination characters, `--`), the connection counts
/// `actconn/feconn/beconn/srv_conn` (`0/0/0/0`), the queue positions (`0/0`), and no
/// captured headers (HAProxy prints none without `capture` either). Dates are UTC.
fn haproxy(record: &AccessRecord, out: &mut Vec<u8>) {
    let t = &record.timings;
    let _ = write!(out, "{}:{} [", client_ip(record), record.client.port());
    Civil::from_system_time(record.accepted_at).write_haproxy(out);
    out.extend_from_slice(b"] ");
    haproxy_text(out, &record.frontend);
    out.push(b' ');
    haproxy_text(out, &record.backend);
    out.push(b'/');
    match &record.server {
        Some(server) => haproxy_text(out, server),
        None => out.extend_from_slice(b"<NOSRV>"),
    }
    let _ = write!(
        out,
        " {}/{}/{}/{}/{} {} {} - - ",
        t.tq,
        t.tw,
        t.tc,
        t.tr,
        t.ta,
        status(record),
        record.bytes_out
    );
    for &byte in &record.termination {
        // Always two printable characters, whatever a caller put there.
        out.push(if byte.is_ascii_graphic() { byte } else { b'?' });
    }
    let _ = write!(out, "-- 0/0/0/0/{} 0/0 \"", record.retries);
    if record.method.is_empty() {
        // What HAProxy logs for a request it could not parse.
        out.extend_from_slice(b"<BADREQ>");
    } else {
        haproxy_text(out, &record.method);
        out.push(b' ');
        haproxy_text(out, &record.path);
        out.push(b' ');
        haproxy_text(out, record.protocol);
    }
    out.push(b'"');
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
