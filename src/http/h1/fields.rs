//! Field-value helpers shared by the request and response parsers and the writers:
//! case-insensitive lookups and comma-separated token lists, without allocating.

use super::HeaderSpan;

/// The value of the first field named `name` (ASCII case-insensitive).
pub(super) fn find<'b>(headers: &[HeaderSpan], buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|h| h.name.get(buf).eq_ignore_ascii_case(name))
        .map(|h| h.value.get(buf))
}
