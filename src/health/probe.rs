//! The checks themselves: one connection each, bounded by the check timeout.
//!
//! With `check_send_proxy` (HAProxy's `check-send-proxy`) a check opens with a PROXY header,
//! for servers that require one on every connection: v1 names the check connection's own
//! addresses (the spec §2.1 asks health checks for "a valid PROXY line" filled with a
//! getsockname()/getpeername() pair rather than UNKNOWN, and HAProxy does so); v2 sends the
//! LOCAL command, as HAProxy does for connections it initiates itself (spec §2.2: LOCAL is
//! for "health-checks to the server", whose real endpoints the receiver then uses).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{CheckKind, HealthCheckConfig};
use crate::proxy_protocol::{self, ProxyVersion};

/// What a check found: Ok(duration) or the reason it failed.
pub type ProbeOutcome = Result<Duration, String>;

/// Runs one check against `address`, opening with a PROXY header of `proxy`'s version
/// when given.
pub async fn probe(
    check: &HealthCheckConfig,
    address: SocketAddr,
    proxy: Option<ProxyVersion>,
) -> ProbeOutcome {
    let started = Instant::now();
    let timeout = Duration::from_millis(check.timeout_ms);
    let outcome = tokio::time::timeout(timeout, async {
        let mut stream = TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        if let Some(version) = proxy {
            send_proxy_header(&mut stream, version)
                .await
                .map_err(|e| format!("PROXY header: {e}"))?;
        }
        match check.kind {
            CheckKind::Tcp => Ok(()),
            CheckKind::Http => http(&mut stream, check, address).await,
            CheckKind::Mysql => mysql(&mut stream, check.user.as_deref()).await,
        }
    })
    .await;
    match outcome {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(reason)) => Err(reason),
        Err(_) => Err(format!("timeout after {} ms", check.timeout_ms)),
    }
}

/// The check's PROXY header (see the module's header for why v1 and v2 differ).
async fn send_proxy_header(stream: &mut TcpStream, version: ProxyVersion) -> io::Result<()> {
    let mut header = Vec::with_capacity(proxy_protocol::ENCODED_MAX_LEN);
    match version {
        ProxyVersion::V1 => {
            let (source, destination) = (stream.local_addr()?, stream.peer_addr()?);
            proxy_protocol::encode(version, source, destination, &mut header);
        }
        ProxyVersion::V2 => proxy_protocol::encode_local(&mut header),
    }
    stream.write_all(&header).await
}

async fn http(
    stream: &mut TcpStream,
    check: &HealthCheckConfig,
    address: SocketAddr,
) -> Result<(), String> {
    let host = check.host.clone().unwrap_or_else(|| address.to_string());
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: fastlb-health-check\r\nConnection: close\r\n\r\n",
        check.path
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let line = read_status_line(stream)
        .await
        .map_err(|e| format!("receive: {e}"))?;
    let status = parse_status(&line).ok_or_else(|| format!("not an HTTP response: {line:?}"))?;
    if status == check.expect_status {
        Ok(())
    } else {
        Err(format!(
            "HTTP status {status}, expected {}",
            check.expect_status
        ))
    }
}

/// Reads up to the first line break (at most 1 KiB: a status line is short).
async fn read_status_line(stream: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::with_capacity(64);
    let mut buffer = [0u8; 256];
    while !line.contains(&b'\n') && line.len() < 1024 {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        line.extend_from_slice(&buffer[..n]);
    }
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    Ok(String::from_utf8_lossy(&line[..end]).trim_end().to_string())
}

/// `HTTP/1.1 200 OK` -> 200.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// A MySQL/MariaDB server greets every connection with a handshake packet (protocol 10);
/// one that is overloaded or blocks this host sends an error packet (0xff) instead. With a
/// `user`, the check then logs in (empty password) and quits, as HAProxy's `mysql-check
/// user` does: a connection dropped after the greeting counts as an aborted connect, and
/// `max_connect_errors` of those get the load balancer's host blocked.
async fn mysql(stream: &mut TcpStream, user: Option<&str>) -> Result<(), String> {
    let (sequence, greeting) = read_packet(stream)
        .await
        .map_err(|e| format!("no handshake: {e}"))?;
    match greeting.first() {
        Some(0x0a) => {}
        Some(0xff) => return Err(format!("MySQL error packet: {}", error_text(&greeting))),
        other => return Err(format!("unexpected MySQL greeting {other:?}")),
    }
    let Some(user) = user else {
        return Ok(());
    };
    let io = |e: io::Error| format!("login: {e}");
    write_packet(stream, sequence.wrapping_add(1), &login(user))
        .await
        .map_err(io)?;
    let (mut sequence, mut reply) = read_packet(stream).await.map_err(io)?;
    if reply.first() == Some(&0xfe) {
        // Auth switch (say caching_sha2_password): the empty password is an empty answer.
        write_packet(stream, sequence.wrapping_add(1), &[])
            .await
            .map_err(io)?;
        (sequence, reply) = read_packet(stream).await.map_err(io)?;
    }
    let _ = sequence;
    let outcome = match reply.first() {
        Some(0x00) => Ok(()),
        Some(0xff) => Err(format!(
            "MySQL login as {user:?} failed: {}",
            error_text(&reply)
        )),
        other => Err(format!("unexpected reply to the login: {other:?}")),
    };
    // COM_QUIT, so the server logs a clean disconnect.
    let _ = write_packet(stream, 0, &[0x01]).await;
    outcome
}

/// HandshakeResponse41 for `user` with an empty password.
fn login(user: &str) -> Vec<u8> {
    const LONG_PASSWORD: u32 = 0x1;
    const PROTOCOL_41: u32 = 0x200;
    const SECURE_CONNECTION: u32 = 0x8000;
    const PLUGIN_AUTH: u32 = 0x80000;
    let capabilities = LONG_PASSWORD | PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH;
    let mut packet = Vec::with_capacity(64 + user.len());
    packet.extend_from_slice(&capabilities.to_le_bytes());
    packet.extend_from_slice(&(16u32 << 20).to_le_bytes()); // max packet size
    packet.push(0x21); // utf8_general_ci
    packet.extend_from_slice(&[0; 23]);
    packet.extend_from_slice(user.as_bytes());
    packet.push(0);
    packet.push(0); // auth response length: empty password
    packet.extend_from_slice(b"mysql_native_password\0");
    packet
}

/// Reads one packet: (sequence id, payload). Checks only ever see small packets.
async fn read_packet(stream: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await?;
    let length = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    if length > 64 * 1024 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "oversized packet",
        ));
    }
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await?;
    Ok((header[3], payload))
}

async fn write_packet(stream: &mut TcpStream, sequence: u8, payload: &[u8]) -> io::Result<()> {
    let length = (payload.len() as u32).to_le_bytes();
    let mut packet = Vec::with_capacity(4 + payload.len());
    packet.extend_from_slice(&[length[0], length[1], length[2], sequence]);
    packet.extend_from_slice(payload);
    stream.write_all(&packet).await
}

/// The message of an ERR packet (0xff, code, optional `#` + SQLSTATE, text).
fn error_text(packet: &[u8]) -> String {
    let rest = packet.get(3..).unwrap_or_default();
    let text = match rest.first() {
        Some(b'#') => rest.get(6..).unwrap_or_default(),
        _ => rest,
    };
    String::from_utf8_lossy(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{error_text, login, parse_status, probe};
    use crate::config::{CheckKind, HealthCheckConfig};
    use crate::proxy_protocol::{read_header, ProxiedAddresses, ProxyVersion};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTP check against a server that reads a PROXY header first (as nginx's
    /// `listen ... proxy_protocol` does) and answers 200 only to a well-formed one.
    async fn check_through_proxy_header(
        version: Option<ProxyVersion>,
    ) -> (Result<Duration, String>, Option<Option<ProxiedAddresses>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let header = read_header(&mut stream, Duration::from_millis(500))
                .await
                .ok();
            let mut request = [0u8; 4];
            let is_get = stream.read_exact(&mut request).await.is_ok() && &request == b"GET ";
            let status = if header.is_some() && is_get { 200 } else { 400 };
            let reply = format!("HTTP/1.0 {status} X\r\n\r\n");
            let _ = stream.write_all(reply.as_bytes()).await;
            header
        });
        let check: HealthCheckConfig = serde_json::from_value(serde_json::json!({
            "type": "http", "fast_interval_ms": 500, "timeout_ms": 2000, "rise": 1, "fall": 1
        }))
        .unwrap();
        assert_eq!(check.kind, CheckKind::Http);
        let outcome = probe(&check, address, version).await;
        (outcome, server.await.unwrap())
    }

    #[tokio::test]
    async fn checks_open_with_the_proxy_header_when_asked() {
        // v1: the check connection's own addresses (both loopback here).
        let (outcome, header) = check_through_proxy_header(Some(ProxyVersion::V1)).await;
        assert!(outcome.is_ok(), "{outcome:?}");
        let addresses = header.unwrap().unwrap();
        assert_eq!(addresses.client.ip(), addresses.local.ip());
        assert_ne!(addresses.client.port(), addresses.local.port());
        // v2: LOCAL, so the server keeps the connection's real endpoints.
        let (outcome, header) = check_through_proxy_header(Some(ProxyVersion::V2)).await;
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(header, Some(None));
        // Without it, the server sees "GET " where it wants a header: the check fails.
        let (outcome, header) = check_through_proxy_header(None).await;
        assert_eq!(outcome.unwrap_err(), "HTTP status 400, expected 200");
        assert_eq!(header, None);
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status("HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn mysql_packets() {
        let mut denied = vec![0xff, 0x15, 0x04, b'#'];
        denied.extend_from_slice(b"28000Access denied for user 'x'");
        assert_eq!(error_text(&denied), "Access denied for user 'x'");
        assert_eq!(
            error_text(b"\xff\x10\x04Too many connections"),
            "Too many connections"
        );
        let packet = login("check");
        assert_eq!(&packet[32..38], b"check\0");
        assert_eq!(packet[38], 0, "empty auth response");
        assert!(packet.ends_with(b"mysql_native_password\0"));
    }
}
