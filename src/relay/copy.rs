//! The userspace copy pump: read into a buffer, write it all, repeat.

use super::Direction;
use crate::error::Error;

/// 16 KiB, HAProxy's default `tune.bufsize`: large enough that a read filling it means the
/// peer is streaming.
const BUFFER_SIZE: usize = 16 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The source reached EOF; everything read was written.
    Eof,
    /// A read filled the buffer (only when asked to stop there); nothing is left buffered.
    Streaming,
}

pub(super) async fn pump(
    direction: &Direction<'_>,
    stop_when_streaming: bool,
) -> Result<Outcome, Error> {
    let mut buffer = vec![0u8; BUFFER_SIZE];
    loop {
        let read = read_some(direction, &mut buffer).await?;
        if read == 0 {
            return Ok(Outcome::Eof);
        }
        write_all(direction, &buffer[..read]).await?;
        direction.forwarded(read);
        if stop_when_streaming && read == buffer.len() {
            return Ok(Outcome::Streaming);
        }
    }
}

async fn read_some(direction: &Direction<'_>, buffer: &mut [u8]) -> Result<usize, Error> {
    loop {
        direction
            .src
            .readable()
            .await
            .map_err(|e| direction.read_error(e))?;
        match direction.src.try_read(buffer) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(direction.read_error(e)),
        }
    }
}

async fn write_all(direction: &Direction<'_>, mut data: &[u8]) -> Result<(), Error> {
    while !data.is_empty() {
        direction
            .dst
            .writable()
            .await
            .map_err(|e| direction.write_error(e))?;
        match direction.dst.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(direction.write_error(e)),
        }
    }
    Ok(())
}
