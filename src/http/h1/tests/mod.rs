//! Tests of the HTTP/1.1 codec, one file per part.
