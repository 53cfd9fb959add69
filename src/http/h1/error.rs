//! Why a message head was refused: one variant per rule, each with the status code fastlb
//! answers a client with and a short reason for the error page and the logs.
//!
//! A refused *response* head (from a server) is answered 502 whatever the variant; the
//! status codes below are for requests.

use std::fmt;

/// A request or response head that fastlb refuses to parse or to forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// The head is larger than `max_header_size` (possibly before it is even complete).
    TooLarge,
    /// More header fields than `max_headers`.
    TooManyHeaders,
    /// The request or status line is malformed (method, target, spaces).
    BadRequestLine,
    /// The status line of a response is malformed.
    BadStatusLine,
    /// Not `HTTP/1.0` or `HTTP/1.1` (h2 prior knowledge is recognised before parsing).
    BadVersion,
    /// A line ends with LF alone: RFC 9112 §2.2 lets a recipient accept it, but a parser that
    /// does and one that does not disagree on where a field ends.
    BareLf,
    /// A CR not followed by LF (RFC 9112 §2.2: MUST be rejected or replaced).
    BareCr,
    /// obs-fold: a field line continued on the next line (RFC 9112 §5.2: 400).
    ObsFold,
    /// Whitespace between a field name and its colon (RFC 9112 §5.1: MUST be rejected, the
    /// classic `Transfer-Encoding : chunked` smuggling vector).
    SpaceBeforeColon,
    /// A field name with a character outside `token` (RFC 9110 §5.1).
    BadHeaderName,
    /// A field value with a control character (RFC 9110 §5.5).
    BadHeaderValue,
    /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.1; CL.TE / TE.CL smuggling).
    LengthAndChunked,
    /// More than one Content-Length field, or a list of values, even identical ones: we
    /// forward the head as received, so folding would forward the ambiguity.
    DuplicateContentLength,
    /// A Content-Length that is not 1*DIGIT fitting in 64 bits (signs, spaces, hex, overflow).
    BadContentLength,
    /// Transfer-Encoding whose final coding is not `chunked`, or `chunked` applied twice
    /// (RFC 9112 §6.3 rule 4: the request length cannot be determined).
    ChunkedNotLast,
    /// A transfer coding fastlb does not know (RFC 9112 §6.1: 501).
    UnknownTransferCoding,
    /// Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: faulty framing).
    TransferEncodingHttp10,
    /// An HTTP/1.1 request without Host (RFC 9112 §3.2: 400).
    MissingHost,
    /// Several Host fields (RFC 9112 §3.2: 400).
    DuplicateHost,
    /// A Host value (or absolute-form authority) that is not a valid `uri-host [":" port]`.
    BadHost,
    /// A request target in none of the forms this method allows (RFC 9112 §3.2).
    BadTarget,
    /// CONNECT: fastlb is a reverse proxy, not a forward proxy (501 Not Implemented rather
    /// than 405, which would have to list the allowed methods).
    ConnectNotSupported,
}

impl HeadError {
    /// The status fastlb answers a client whose request head failed this way.
    pub fn status(self) -> u16 {
        match self {
            HeadError::TooLarge | HeadError::TooManyHeaders => 431,
            HeadError::UnknownTransferCoding | HeadError::ConnectNotSupported => 501,
            HeadError::BadVersion => 505,
            _ => 400,
        }
    }

    /// A short reason, for the error body and the logs.
    pub fn reason(self) -> &'static str {
        match self {
            HeadError::TooLarge => "request header too large",
            HeadError::TooManyHeaders => "too many header fields",
            HeadError::BadRequestLine => "malformed request line",
            HeadError::BadStatusLine => "malformed status line",
            HeadError::BadVersion => "unsupported HTTP version",
            HeadError::BareLf => "bare LF line ending",
            HeadError::BareCr => "bare CR in head",
            HeadError::ObsFold => "obsolete line folding",
            HeadError::SpaceBeforeColon => "whitespace before colon in header field",
            HeadError::BadHeaderName => "invalid header field name",
            HeadError::BadHeaderValue => "invalid header field value",
            HeadError::LengthAndChunked => "both Content-Length and Transfer-Encoding",
            HeadError::DuplicateContentLength => "several Content-Length values",
            HeadError::BadContentLength => "invalid Content-Length",
            HeadError::ChunkedNotLast => "chunked is not the final transfer coding",
            HeadError::UnknownTransferCoding => "unknown transfer coding",
            HeadError::TransferEncodingHttp10 => "Transfer-Encoding in HTTP/1.0",
            HeadError::MissingHost => "missing Host header",
            HeadError::DuplicateHost => "several Host headers",
            HeadError::BadHost => "invalid Host",
            HeadError::BadTarget => "invalid request target",
            HeadError::ConnectNotSupported => "CONNECT is not supported",
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for HeadError {}
