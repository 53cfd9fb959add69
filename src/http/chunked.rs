//! Decoding a chunked body (RFC 9112 §7.1) for clients that get bodies as data, not as
//! HTTP/1.1 framing (HTTP/2). The bytes given have already been validated by the codec's
//! `BodyReader` (sizes, CRLFs, limits), so this only separates data from framing.
// NOTE: an adapter on the proxy side until the codec offers decoding itself.

/// Where in the chunked framing the next byte falls.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size.
    #[default]
    Size,
    /// Chunk extensions, up to the LF.
    Extension,
    /// Data bytes left in the current chunk.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one. `true`: at a line start.
    Trailers(bool),
    Done,
}

/// A streaming chunked decoder.
#[derive(Debug, Default)]
pub(crate) struct Dechunker {
    state: State,
    size: u64,
}

impl Dechunker {
    /// Appends the data bytes of `raw` (the next bytes of a chunked body) to `out`.
    pub fn decode(&mut self, mut raw: &[u8], out: &mut Vec<u8>) {
        while let Some((&byte, rest)) = raw.split_first() {
            match self.state {
                State::Size => match (byte as char).to_digit(16) {
                    Some(digit) => self.size = self.size * 16 + u64::from(digit),
                    None if byte == b'\n' => self.end_size_line(),
                    None => self.state = State::Extension,
                },
                State::Extension => {
                    if byte == b'\n' {
                        self.end_size_line();
                    }
                }
                State::Data(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(raw.len());
                    out.extend_from_slice(&raw[..take]);
                    raw = &raw[take..];
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    continue;
                }
                State::DataEnd => {
                    if byte == b'\n' {
                        self.state = State::Size;
                    }
                }
                State::Trailers(line_start) => {
                    self.state = match byte {
                        b'\n' if line_start => State::Done,
                        b'\n' => State::Trailers(true),
                        b'\r' => State::Trailers(line_start),
                        _ => State::Trailers(false),
                    };
                }
                State::Done => return,
            }
            raw = rest;
        }
    }

    fn end_size_line(&mut self) {
        self.state = match std::mem::take(&mut self.size) {
            0 => State::Trailers(true),
            size => State::Data(size),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_separated_from_framing_at_every_split() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n";
        for split in 0..body.len() {
            let mut dechunker = Dechunker::default();
            let mut out = Vec::new();
            dechunker.decode(&body[..split], &mut out);
            dechunker.decode(&body[split..], &mut out);
            assert_eq!(out, b"hello0123456789abcdef", "split at {split}");
            assert_eq!(dechunker.state, State::Done);
        }
    }
}
