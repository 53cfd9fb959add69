//! The checks themselves: one connection each, bounded by the check timeout.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{CheckKind, HealthCheckConfig};

/// What a check found: Ok(duration) or the reason it failed.
pub type ProbeOutcome = Result<Duration, String>;

/// Runs one check against `address`.
pub async fn probe(check: &HealthCheckConfig, address: SocketAddr) -> ProbeOutcome {
    let started = Instant::now();
    let timeout = Duration::from_millis(check.timeout_ms);
    let outcome = tokio::time::timeout(timeout, async {
        let mut stream = TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        match check.kind {
            CheckKind::Tcp => Ok(()),
            CheckKind::Http => http(&mut stream, check, address).await,
            CheckKind::Mysql => mysql(&mut stream).await,
        }
    })
    .await;
    match outcome {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(reason)) => Err(reason),
        Err(_) => Err(format!("timeout after {} ms", check.timeout_ms)),
    }
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
/// one that is overloaded or blocks this host sends an error packet (0xff) instead.
async fn mysql(stream: &mut TcpStream) -> Result<(), String> {
    let mut header = [0u8; 4];
    stream
        .read_exact(&mut header)
        .await
        .map_err(|e| format!("no handshake: {e}"))?;
    let length = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0u8; length.min(1024)];
    stream
        .read_exact(&mut payload)
        .await
        .map_err(|e| format!("short handshake: {e}"))?;
    match payload.first() {
        Some(0x0a) => Ok(()),
        Some(0xff) => {
            let message = payload
                .get(3..)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            Err(format!(
                "MySQL error packet: {}",
                message.trim_start_matches('#')
            ))
        }
        other => Err(format!("unexpected MySQL greeting {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_status;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status("HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status(""), None);
    }
}
