//! BodyReader: Content-Length, close-delimited and chunked bodies, fed whole and in pieces.

use proptest::prelude::*;

use super::*;

/// Feeds `input` in one go: (consumed, complete).
fn feed_whole(framing: BodyFraming, input: &[u8]) -> Result<(usize, bool), BodyError> {
    let mut reader = BodyReader::new(framing);
    let progress = reader.feed(input)?;
    Ok((progress.consumed, progress.complete))
}

/// Feeds `input` in pieces cut at `cuts` (sorted offsets), stopping at completion.
fn feed_split(
    framing: BodyFraming,
    input: &[u8],
    cuts: &[usize],
) -> Result<(usize, bool), BodyError> {
    let mut reader = BodyReader::new(framing);
    let mut consumed = 0;
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        if end < start {
            continue;
        }
        let progress = reader.feed(&input[start..end])?;
        consumed += progress.consumed;
        if progress.complete {
            return Ok((consumed, true));
        }
        assert_eq!(
            progress.consumed,
            end - start,
            "an incomplete body takes everything"
        );
        start = end;
    }
    Ok((consumed, reader.is_complete()))
}

const CHUNKED: &[u8] =
    b"5\r\nhello\r\n1A;name=\"v a\";x\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\nY: \r\n\r\nNEXT";

#[test]
fn content_length_stops_at_the_length() {
    assert_eq!(feed_whole(BodyFraming::Length(3), b"abcdef"), Ok((3, true)));
    let mut reader = BodyReader::new(BodyFraming::Length(5));
    assert_eq!(
        reader.feed(b"ab").unwrap(),
        Progress {
            consumed: 2,
            complete: false
        }
    );
    assert_eq!(reader.remaining(), Some(3));
    assert_eq!(
        reader.feed(b"cdeNEXT").unwrap(),
        Progress {
            consumed: 3,
            complete: true
        }
    );
    assert_eq!(
        reader.feed(b"more").unwrap(),
        Progress {
            consumed: 0,
            complete: true
        }
    );
}

#[test]
fn no_body_and_zero_length_are_complete_at_once() {
    for framing in [BodyFraming::None, BodyFraming::Length(0)] {
        let mut reader = BodyReader::new(framing);
        assert!(reader.is_complete());
        assert_eq!(
            reader.feed(b"GET /").unwrap(),
            Progress {
                consumed: 0,
                complete: true
            }
        );
        assert_eq!(reader.eof(), Ok(()));
    }
}

#[test]
fn until_close_takes_everything_and_ends_at_eof() {
    let mut reader = BodyReader::new(BodyFraming::UntilClose);
    assert_eq!(
        reader.feed(b"abc").unwrap(),
        Progress {
            consumed: 3,
            complete: false
        }
    );
    assert_eq!(reader.remaining(), None);
    assert_eq!(reader.eof(), Ok(()));
    assert!(reader.is_complete());
}

#[test]
fn eof_before_the_end_is_truncation() {
    let mut reader = BodyReader::new(BodyFraming::Length(5));
    reader.feed(b"ab").unwrap();
    assert_eq!(reader.eof(), Err(BodyError::Truncated));
    let mut reader = BodyReader::new(BodyFraming::Chunked);
    reader.feed(b"5\r\nhel").unwrap();
    assert_eq!(reader.eof(), Err(BodyError::Truncated));
}

#[test]
fn chunked_with_extensions_and_trailers() {
    assert_eq!(
        feed_whole(BodyFraming::Chunked, CHUNKED),
        Ok((CHUNKED.len() - 4, true))
    );
}

#[test]
fn chunked_without_trailers() {
    let body = b"3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(
        feed_whole(BodyFraming::Chunked, body),
        Ok((body.len(), true))
    );
    let body = b"00000\r\n\r\n";
    assert_eq!(
        feed_whole(BodyFraming::Chunked, body),
        Ok((body.len(), true))
    );
    let body = b"a \t;ext\r\n0123456789\r\n0 \r\n\r\n";
    assert_eq!(
        feed_whole(BodyFraming::Chunked, body),
        Ok((body.len(), true))
    );
}

#[test]
fn chunked_split_at_every_position() {
    let whole = feed_whole(BodyFraming::Chunked, CHUNKED);
    for cut in 0..=CHUNKED.len() {
        assert_eq!(
            feed_split(BodyFraming::Chunked, CHUNKED, &[cut]),
            whole,
            "cut at {cut}"
        );
    }
    let cuts: Vec<usize> = (0..CHUNKED.len()).collect();
    assert_eq!(
        feed_split(BodyFraming::Chunked, CHUNKED, &cuts),
        whole,
        "byte by byte"
    );
}

#[test]
fn chunked_incomplete_until_the_final_crlf() {
    let body = b"3\r\nabc\r\n0\r\n\r\n";
    for end in 0..body.len() {
        assert_eq!(
            feed_whole(BodyFraming::Chunked, &body[..end]),
            Ok((end, false)),
            "{end}"
        );
    }
}

#[test]
fn bad_chunk_sizes() {
    for (body, error) in [
        (&b"x\r\n"[..], BodyError::BadChunkSize),
        (b"\r\n", BodyError::BadChunkSize),
        (b";ext\r\n", BodyError::BadChunkSize),
        (b"-1\r\n", BodyError::BadChunkSize),
        (b"0x5\r\n", BodyError::BadChunkSize),
        (b"5 5\r\n", BodyError::BadChunkSize),
        (b"+5\r\n", BodyError::BadChunkSize),
        (b"10000000000000000\r\n", BodyError::ChunkSizeOverflow),
        (b"fffffffffffffffff\r\n", BodyError::ChunkSizeOverflow),
        (b"5\n", BodyError::BadChunkSize),
        (b"5;a\nhello", BodyError::BadChunkExtension),
        (b"5\rhello", BodyError::BadChunkExtension),
        (b"5;a\x00\r\n", BodyError::BadChunkExtension),
        (b"5\r\nhelloX\r\n", BodyError::MissingChunkCrlf),
        (b"5\r\nhello\n0\r\n\r\n", BodyError::MissingChunkCrlf),
        (b"5\r\nhello\rX", BodyError::MissingChunkCrlf),
    ] {
        assert_eq!(
            feed_whole(BodyFraming::Chunked, body),
            Err(error),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    // The largest size that fits is accepted (its data never arrives here).
    assert_eq!(
        feed_whole(BodyFraming::Chunked, b"ffffffffffffffff\r\nab"),
        Ok((20, false))
    );
}

#[test]
fn bad_trailers() {
    for body in [
        &b"0\r\nX-T: a\r\n b\r\n\r\n"[..],
        b"0\r\n: v\r\n\r\n",
        b"0\r\nX T: v\r\n\r\n",
        b"0\r\nX-T: a\nY: b\r\n\r\n",
        b"0\r\nX-T: a\x01\r\n\r\n",
        b"0\r\n\n",
        b"0\r\n\rX",
    ] {
        assert_eq!(
            feed_whole(BodyFraming::Chunked, body),
            Err(BodyError::BadTrailer),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn chunk_line_and_trailer_limits() {
    // 13 bytes, CRLF included: the limit; one more is refused.
    let mut reader = BodyReader::with_limits(BodyFraming::Chunked, 13, 16);
    assert!(reader.feed(b"5;123456789\r\nhello\r\n").is_ok());
    assert_eq!(
        reader.feed(b"5;1234567890\r\n"),
        Err(BodyError::ChunkLineTooLong)
    );
    let long_zeros = [b'0'; 20];
    assert_eq!(
        BodyReader::with_limits(BodyFraming::Chunked, 16, 16).feed(&long_zeros),
        Err(BodyError::ChunkLineTooLong)
    );
    // 16 bytes of trailer section, final CRLF included.
    let mut reader = BodyReader::with_limits(BodyFraming::Chunked, 16, 16);
    assert!(reader.feed(b"0\r\nX: 123456789\r\n\r\n").unwrap().complete);
    let mut reader = BodyReader::with_limits(BodyFraming::Chunked, 16, 16);
    assert_eq!(
        reader.feed(b"0\r\nX: 1234567890123\r\n\r\n"),
        Err(BodyError::TrailersTooLarge)
    );
}

/// A valid chunked body from chunk contents, extensions and trailers.
fn encode(chunks: &[Vec<u8>], ext: bool, trailers: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks.iter().filter(|c| !c.is_empty()) {
        out.extend_from_slice(format!("{:X}", chunk.len()).as_bytes());
        if ext {
            out.extend_from_slice(b" ; name=\"q v\"");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

proptest! {
    #[test]
    fn random_splits_match_feeding_whole(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..6),
        ext in any::<bool>(),
        trailers in prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,8}", "[ -~]{0,12}"), 0..3),
        tail in prop::collection::vec(any::<u8>(), 0..8),
        mut cuts in prop::collection::vec(0usize..400, 0..12),
    ) {
        let body = encode(&chunks, ext, &trailers);
        let mut input = body.clone();
        input.extend_from_slice(&tail);
        cuts.iter_mut().for_each(|c| *c = (*c).min(input.len()));
        cuts.sort_unstable();
        let whole = feed_whole(BodyFraming::Chunked, &input);
        prop_assert_eq!(whole, Ok((body.len(), true)));
        prop_assert_eq!(feed_split(BodyFraming::Chunked, &input, &cuts), whole);
    }
}
