//! Decoding an HTTP/1.1 chunked response body (RFC 9112 §7.1) into the data and trailers
//! of HTTP/2 DATA and trailing HEADERS frames (RFC 9113 §8.1: HTTP/2 has no chunked coding,
//! so, unlike the HTTP/1.1 path that forwards raw bytes, the chunks are taken apart here).
//!
//! Zero-copy: chunk data is split off the read buffer as `Bytes`, which the `h2` crate
//! sends as they are. The limits are the codec's (`MAX_CHUNK_LINE`, `MAX_TRAILER_SIZE`).

use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::http::h1::{BodyError, MAX_CHUNK_LINE, MAX_TRAILER_SIZE};

/// What the decoder found next in its input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Body bytes (never empty).
    Data(Bytes),
    /// The last chunk and the trailer section: the body is complete. The map holds the
    /// trailer fields that may travel in HTTP/2 trailers (empty when none).
    End(HeaderMap),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// The trailer section after the last chunk.
    Trailers,
    Done,
}

/// A streaming decoder; feed it the server connection's read buffer again and again.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    trailer_bytes: usize,
    trailers: HeaderMap,
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size,
            trailer_bytes: 0,
            trailers: HeaderMap::new(),
        }
    }

    /// The last chunk and its trailers were decoded.
    #[cfg(test)]
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes the next piece from the front of `input`, consuming what it used.
    /// `Ok(None)`: `input` holds no complete piece yet (read more, keep the rest).
    pub fn next(&mut self, input: &mut BytesMut) -> Result<Option<Piece>, BodyError> {
        loop {
            match self.state {
                State::Size => {
                    let Some(line_end) = find_crlf(input, MAX_CHUNK_LINE)? else {
                        return Ok(None);
                    };
                    let size = chunk_size(&input[..line_end])?;
                    let _ = input.split_to(line_end + 2);
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Some(Piece::Data(input.split_to(take).freeze())));
                }
                State::DataEnd => {
                    if input.len() < 2 {
                        return Ok(None);
                    }
                    if &input[..2] != b"\r\n" {
                        return Err(BodyError::MissingChunkCrlf);
                    }
                    let _ = input.split_to(2);
                    self.state = State::Size;
                }
                State::Trailers => {
                    let room = MAX_TRAILER_SIZE.saturating_sub(self.trailer_bytes);
                    let found = find_crlf(input, room).map_err(|error| match error {
                        BodyError::ChunkLineTooLong => BodyError::TrailersTooLarge,
                        _ => BodyError::BadTrailer,
                    })?;
                    let Some(line_end) = found else {
                        return Ok(None);
                    };
                    self.trailer_bytes += line_end + 2;
                    let line = input.split_to(line_end + 2);
                    if line_end == 0 {
                        self.state = State::Done;
                        return Ok(Some(Piece::End(std::mem::take(&mut self.trailers))));
                    }
                    self.trailer_field(&line[..line_end])?;
                }
                State::Done => return Ok(None),
            }
        }
    }

    /// One `name: value` trailer line. Fields that HTTP/2 forbids or that frame the
    /// message are dropped (RFC 9113 §8.2.2, RFC 9110 §6.5.1); malformed lines refuse the
    /// body, as the HTTP/1.1 codec does.
    fn trailer_field(&mut self, line: &[u8]) -> Result<(), BodyError> {
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(BodyError::BadTrailer)?;
        let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| BodyError::BadTrailer)?;
        let value = line[colon + 1..].trim_ascii();
        let value = HeaderValue::from_bytes(value).map_err(|_| BodyError::BadTrailer)?;
        if !super::response::is_connection_specific(name.as_str().as_bytes())
            && !matches!(
                name.as_str(),
                "content-length" | "host" | "trailer" | "content-encoding" | "content-type"
            )
        {
            self.trailers.append(name, value);
        }
        Ok(())
    }
}

/// The offset of the first CRLF in `input`; an error when none is in the first `limit`
/// bytes, or on a bare LF (RFC 9112 §7.1 lines end in CRLF; a lone LF is a smuggling vector).
fn find_crlf(input: &[u8], limit: usize) -> Result<Option<usize>, BodyError> {
    match input
        .iter()
        .take(limit.saturating_add(1))
        .position(|&b| b == b'\n')
    {
        Some(0) => Err(BodyError::BadChunkSize),
        Some(lf) if input[lf - 1] == b'\r' => Ok(Some(lf - 1)),
        Some(_) => Err(BodyError::BadChunkSize),
        None if input.len() > limit => Err(BodyError::ChunkLineTooLong),
        None => Ok(None),
    }
}

/// The hex size of a chunk-size line, extensions (`;name=value`) ignored.
fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits_end == 0 {
        return Err(BodyError::BadChunkSize);
    }
    let rest = &line[digits_end..];
    let ext = rest.trim_ascii_start();
    if !ext.is_empty()
        && (ext[0] != b';' || ext.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f))
    {
        return Err(BodyError::BadChunkExtension);
    }
    let mut size: u64 = 0;
    for &digit in &line[..digits_end] {
        let value = (digit as char).to_digit(16).unwrap_or(0) as u64;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(value))
            .ok_or(BodyError::ChunkSizeOverflow)?;
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes and collects the body and trailers.
    fn decode(wire: &[u8], step: usize) -> Result<(Vec<u8>, HeaderMap), BodyError> {
        let mut decoder = ChunkedDecoder::new();
        let mut input = BytesMut::new();
        let mut body = Vec::new();
        for part in wire.chunks(step) {
            input.extend_from_slice(part);
            while let Some(piece) = decoder.next(&mut input)? {
                match piece {
                    Piece::Data(data) => body.extend_from_slice(&data),
                    Piece::End(trailers) => {
                        assert!(decoder.is_complete());
                        return Ok((body, trailers));
                    }
                }
            }
        }
        Err(BodyError::Truncated)
    }

    #[test]
    fn chunks_decode_whatever_the_read_boundaries() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\nB\r\nworld, 0123\r\n0\r\n\r\n";
        for step in 1..wire.len() {
            let (body, trailers) = decode(wire, step).unwrap();
            assert_eq!(body, b"hello world, 0123", "step {step}");
            assert!(trailers.is_empty());
        }
    }

    #[test]
    fn trailers_are_kept_except_forbidden_ones() {
        let wire = b"3\r\nabc\r\n0\r\nX-Checksum: 42\r\nContent-Length: 3\r\nconnection: x\r\n\r\n";
        let (body, trailers) = decode(wire, 4).unwrap();
        assert_eq!(body, b"abc");
        assert_eq!(trailers.len(), 1);
        assert_eq!(trailers["x-checksum"], "42");
    }

    #[test]
    fn the_bytes_after_the_body_stay_in_the_buffer() {
        let mut decoder = ChunkedDecoder::new();
        let mut input = BytesMut::from(&b"1\r\na\r\n0\r\n\r\nHTTP/1.1"[..]);
        assert_eq!(
            decoder.next(&mut input).unwrap(),
            Some(Piece::Data(Bytes::from_static(b"a")))
        );
        assert!(matches!(
            decoder.next(&mut input).unwrap(),
            Some(Piece::End(_))
        ));
        assert_eq!(&input[..], b"HTTP/1.1");
    }

    #[test]
    fn malformed_framing_is_refused() {
        assert_eq!(decode(b"x\r\n", 8), Err(BodyError::BadChunkSize));
        assert_eq!(decode(b"3\nabc\r\n", 8), Err(BodyError::BadChunkSize));
        assert_eq!(
            decode(b"3\r\nabcX\r\n", 8),
            Err(BodyError::MissingChunkCrlf)
        );
        assert_eq!(
            decode(b"11111111111111111\r\n", 32),
            Err(BodyError::ChunkSizeOverflow)
        );
        assert_eq!(decode(b"3 x\r\n", 8), Err(BodyError::BadChunkExtension));
        let long = [b'1'; MAX_CHUNK_LINE + 2];
        assert_eq!(decode(&long, 64), Err(BodyError::ChunkLineTooLong));
        assert_eq!(
            decode(b"0\r\nbad line\r\n\r\n", 64),
            Err(BodyError::BadTrailer)
        );
        let mut big = b"0\r\n".to_vec();
        for i in 0..2000 {
            big.extend_from_slice(format!("x-f{i}: 0123456789\r\n").as_bytes());
        }
        assert_eq!(decode(&big, 512), Err(BodyError::TrailersTooLarge));
    }
}
