//! Any bytes as an HTTP/1.1 client's or server's stream: request and response heads parse or
//! are refused without panicking, every span stays inside the head, the same bytes always give
//! the same answer, and a body framer fed the rest in two pieces consumes exactly what it
//! consumes fed in one (a split between two reads never changes where a message ends — the
//! property request smuggling attacks).
#![no_main]

use fastlb::http::h1::{parse_request, parse_response, BodyReader, HeadScratch, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut scratch = HeadScratch::new();
    let split = data.first().map_or(0, |b| *b as usize);

    let request = parse_request(data, &limits, &mut scratch);
    assert_eq!(request, parse_request(data, &limits, &mut scratch));
    if let Ok(Some(head)) = request {
        assert!(head.len <= data.len());
        for span in [head.method, head.target, head.path] {
            assert!(span.end() <= head.len);
        }
        for header in &head.headers {
            assert!(header.name.end() <= head.len && header.value.end() <= head.len);
        }
        body_split_agrees(BodyReader::new(head.framing), &data[head.len..], split);
    }

    if let Ok(Some(head)) = parse_response(data, &limits, b"GET", &mut scratch) {
        assert!(head.len <= data.len());
        body_split_agrees(BodyReader::new(head.framing), &data[head.len..], split);
    }
});

fn body_split_agrees(reader: BodyReader, rest: &[u8], split: usize) {
    let mut whole = reader.clone();
    let at = split.min(rest.len());
    let Ok(one) = whole.feed(rest) else {
        return;
    };
    let mut pieces = reader;
    let Ok(first) = pieces.feed(&rest[..at]) else {
        panic!("a prefix of a body the framer accepted was refused");
    };
    let consumed = if first.complete {
        first.consumed
    } else {
        let second = pieces
            .feed(&rest[at..])
            .expect("the rest of a body the framer accepted was refused");
        at + second.consumed
    };
    assert_eq!(consumed, one.consumed);
    assert_eq!(whole.is_complete(), pieces.is_complete());
}
