//! [`BodyReader`]: follows a message body as its bytes arrive and says where it ends.
//!
//! The proxy forwards the raw bytes it is fed; this only counts them and validates chunked
//! syntax as it streams (RFC 9112 §7.1), so nothing is buffered or re-encoded.

use std::fmt;

use super::BodyFraming;

/// Longest chunk-size line accepted (size, extensions, CRLF): HAProxy refuses absurd ones too.
pub const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section accepted after the last chunk.
pub const MAX_TRAILER_SIZE: usize = 16384;

/// Why a body is malformed; the connection cannot continue (400 to a client, 502 for a
/// server's response, or a reset when the head was already forwarded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// A chunk size that is not hex digits.
    BadChunkSize,
    /// A chunk size that does not fit in 64 bits.
    ChunkSizeOverflow,
    /// A chunk-size line longer than the limit.
    ChunkLineTooLong,
    /// Bad bytes in a chunk extension (controls, bare CR or LF).
    BadChunkExtension,
    /// The CRLF after a chunk's data is missing.
    MissingChunkCrlf,
    /// A malformed trailer field line.
    BadTrailer,
    /// A trailer section larger than the limit.
    TrailersTooLarge,
    /// The connection closed before the body was complete.
    Truncated,
}

impl BodyError {
    /// A short reason, for the logs.
    pub fn reason(self) -> &'static str {
        match self {
            BodyError::BadChunkSize => "invalid chunk size",
            BodyError::ChunkSizeOverflow => "chunk size overflows 64 bits",
            BodyError::ChunkLineTooLong => "chunk size line too long",
            BodyError::BadChunkExtension => "invalid chunk extension",
            BodyError::MissingChunkCrlf => "missing CRLF after chunk data",
            BodyError::BadTrailer => "invalid trailer field",
            BodyError::TrailersTooLarge => "trailer section too large",
            BodyError::Truncated => "connection closed before the end of the body",
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for BodyError {}

/// What one [`BodyReader::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// How many of the bytes fed belong to this body (all of them unless it completed).
    pub consumed: usize,
    /// The body is complete; the bytes after `consumed` are the next message's.
    pub complete: bool,
}

/// Streaming body framer for one message.
#[derive(Debug, Clone)]
pub struct BodyReader {
    state: State,
    max_chunk_line: usize,
    max_trailer_size: usize,
    /// Bytes of the current chunk-size line, or of the trailer section so far.
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    UntilClose,
    /// Hex digits of a chunk size: the value so far and whether a digit was seen.
    Size {
        value: u64,
        digits: bool,
    },
    /// After the size: BWS, then `;` extensions, until CR. `ext` once a `;` was seen.
    Extension {
        size: u64,
        ext: bool,
    },
    /// CR of the size line seen, LF expected.
    SizeLf {
        size: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// Start of a trailer line, or the CRLF that ends the message.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
    Done,
}

impl BodyReader {
    /// A reader for a body framed as `framing`, with the default limits.
    pub fn new(framing: BodyFraming) -> Self {
        Self::with_limits(framing, MAX_CHUNK_LINE, MAX_TRAILER_SIZE)
    }

    /// Same, with explicit chunk-size-line and trailer-section limits.
    pub fn with_limits(
        framing: BodyFraming,
        max_chunk_line: usize,
        max_trailer_size: usize,
    ) -> Self {
        let state = match framing {
            BodyFraming::None | BodyFraming::Length(0) => State::Done,
            BodyFraming::Length(n) => State::Length(n),
            BodyFraming::Chunked => State::Size {
                value: 0,
                digits: false,
            },
            BodyFraming::UntilClose => State::UntilClose,
        };
        BodyReader {
            state,
            max_chunk_line,
            max_trailer_size,
            line: 0,
        }
    }

    /// Feeds the next bytes of the connection: how many belong to this body, and whether it
    /// is now complete. After an error the reader is stuck; the connection must be closed.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, BodyError> {
        let mut at = 0;
        while at < input.len() {
            match self.state {
                State::Done => break,
                State::UntilClose => at = input.len(),
                State::Length(remaining) => {
                    let take = remaining.min((input.len() - at) as u64);
                    at += take as usize;
                    self.state = match remaining - take {
                        0 => State::Done,
                        left => State::Length(left),
                    };
                }
                State::Data(remaining) => {
                    let take = remaining.min((input.len() - at) as u64);
                    at += take as usize;
                    self.state = match remaining - take {
                        0 => State::DataCr,
                        left => State::Data(left),
                    };
                }
                _ => {
                    self.chunk_byte(input[at])?;
                    at += 1;
                }
            }
        }
        Ok(Progress {
            consumed: at,
            complete: self.state == State::Done,
        })
    }

    /// One byte of chunked framing outside chunk data (RFC 9112 §7.1).
    fn chunk_byte(&mut self, b: u8) -> Result<(), BodyError> {
        self.state = match self.state {
            State::Size { value, digits } => {
                self.count_line()?;
                match hex_value(b) {
                    Some(digit) => State::Size {
                        value: value
                            .checked_mul(16)
                            .and_then(|v| v.checked_add(digit))
                            .ok_or(BodyError::ChunkSizeOverflow)?,
                        digits: true,
                    },
                    None if !digits => return Err(BodyError::BadChunkSize),
                    None => return self.extension_byte(value, false, b),
                }
            }
            State::Extension { size, ext } => {
                self.count_line()?;
                return self.extension_byte(size, ext, b);
            }
            State::SizeLf { size } => {
                if b != b'\n' {
                    return Err(BodyError::BadChunkExtension);
                }
                self.line = 0;
                match size {
                    0 => State::TrailerStart,
                    size => State::Data(size),
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size {
                value: 0,
                digits: false,
            },
            State::DataCr | State::DataLf => return Err(BodyError::MissingChunkCrlf),
            State::TrailerStart => {
                self.count_trailer()?;
                match b {
                    b'\r' => State::FinalLf,
                    // No obs-fold, no empty name, no bare LF: the same rules as the head.
                    b if super::fields::is_tchar(b) => State::TrailerName,
                    _ => return Err(BodyError::BadTrailer),
                }
            }
            State::TrailerName => {
                self.count_trailer()?;
                match b {
                    b':' => State::TrailerValue,
                    b if super::fields::is_tchar(b) => State::TrailerName,
                    _ => return Err(BodyError::BadTrailer),
                }
            }
            State::TrailerValue => {
                self.count_trailer()?;
                match b {
                    b'\r' => State::TrailerLf,
                    b'\t' | b' '..=0x7e | 0x80..=0xff => State::TrailerValue,
                    _ => return Err(BodyError::BadTrailer),
                }
            }
            State::TrailerLf if b == b'\n' => {
                self.count_trailer()?;
                State::TrailerStart
            }
            State::FinalLf if b == b'\n' => {
                self.count_trailer()?;
                State::Done
            }
            State::TrailerLf | State::FinalLf => return Err(BodyError::BadTrailer),
            State::Length(_) | State::UntilClose | State::Data(_) | State::Done => {
                unreachable!("bulk states are handled in feed")
            }
        };
        Ok(())
    }

    /// A byte after the chunk size: `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) CRLF`.
    /// Extensions are checked for forbidden bytes but not parsed: they are forwarded as is
    /// and mean nothing to fastlb. A bare LF ends no line here either (HAProxy refuses it).
    fn extension_byte(&mut self, size: u64, ext: bool, b: u8) -> Result<(), BodyError> {
        self.state = match b {
            b'\r' => State::SizeLf { size },
            b';' => State::Extension { size, ext: true },
            b' ' | b'\t' => State::Extension { size, ext },
            // Before any `;` only whitespace may follow the digits: `5x` or `5 5` is a bad size.
            _ if !ext => return Err(BodyError::BadChunkSize),
            0x21..=0x7e | 0x80..=0xff => State::Extension { size, ext },
            _ => return Err(BodyError::BadChunkExtension),
        };
        Ok(())
    }

    fn count_line(&mut self) -> Result<(), BodyError> {
        self.line += 1;
        // `line` counts the bytes up to the CR included; the limit is on the whole line.
        if self.line + 1 > self.max_chunk_line {
            return Err(BodyError::ChunkLineTooLong);
        }
        Ok(())
    }

    fn count_trailer(&mut self) -> Result<(), BodyError> {
        self.line += 1;
        if self.line > self.max_trailer_size {
            return Err(BodyError::TrailersTooLarge);
        }
        Ok(())
    }

    /// The body has been read whole.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// The peer closed the connection: the end of a close-delimited body, fine after a
    /// complete one, [`BodyError::Truncated`] otherwise.
    pub fn eof(&mut self) -> Result<(), BodyError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(BodyError::Truncated),
        }
    }

    /// Bytes still expected of a Content-Length body (`None` for other framings); lets the
    /// proxy splice or read exactly that many.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            _ => None,
        }
    }
}

fn hex_value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}
