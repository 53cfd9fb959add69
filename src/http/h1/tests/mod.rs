//! Tests of the HTTP/1.1 codec, one file per part.

mod body;
mod request;
mod response;
mod smuggling;
mod write;

use super::*;

/// Parses `raw` with the default limits.
fn request(raw: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    parse_request(raw, &Limits::default(), &mut HeadScratch::new())
}

/// Parses `raw`, which must be a complete, valid request head.
fn ok(raw: &[u8]) -> RequestHead {
    match request(raw) {
        Ok(Some(head)) => head,
        other => panic!("{:?} for {:?}", other, String::from_utf8_lossy(raw)),
    }
}

/// The error `raw` must be refused with.
fn refused(raw: &[u8]) -> HeadError {
    match request(raw) {
        Err(error) => error,
        other => panic!(
            "accepted: {:?} for {:?}",
            other,
            String::from_utf8_lossy(raw)
        ),
    }
}
