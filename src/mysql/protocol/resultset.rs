//! Small text result sets fastlb answers itself (`SELECT CONNECTION_ID()`, `SHOW STATUS LIKE
//! 'Ssl_%'`): column definitions, rows and the EOF packets of the protocol-4.1 text
//! protocol (fastlb never offers CLIENT_DEPRECATE_EOF to its clients).

use super::packet::{frame, put_lenenc_bytes, put_lenenc_int};

/// A column's type as the client decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column<'a> {
    /// BIGINT UNSIGNED NOT NULL.
    Unsigned(&'a [u8]),
    /// VARCHAR in utf8mb4.
    Text(&'a [u8]),
}

/// MYSQL_TYPE_LONGLONG, MYSQL_TYPE_VAR_STRING.
const LONGLONG: u8 = 0x08;
const VAR_STRING: u8 = 0xfd;
/// NOT_NULL | UNSIGNED | BINARY.
const UNSIGNED_FLAGS: u16 = 0x0001 | 0x0020 | 0x0080;
const BINARY_CHARSET: u16 = 63;
const UTF8MB4_CHARSET: u16 = 45;

fn column_definition(column: Column<'_>) -> Vec<u8> {
    let (name, kind, charset, length, flags) = match column {
        Column::Unsigned(name) => (name, LONGLONG, BINARY_CHARSET, 20u32, UNSIGNED_FLAGS),
        Column::Text(name) => (name, VAR_STRING, UTF8MB4_CHARSET, 1024u32, 0),
    };
    let mut out = Vec::with_capacity(32 + name.len());
    put_lenenc_bytes(&mut out, b"def");
    put_lenenc_bytes(&mut out, b""); // schema
    put_lenenc_bytes(&mut out, b""); // table
    put_lenenc_bytes(&mut out, b""); // original table
    put_lenenc_bytes(&mut out, name);
    put_lenenc_bytes(&mut out, b""); // original name
    out.push(0x0c); // length of the fixed fields
    out.extend_from_slice(&charset.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(0); // decimals
    out.extend_from_slice(&[0, 0]);
    out
}

fn eof(status: u16) -> Vec<u8> {
    let mut out = vec![0xfe, 0, 0];
    out.extend_from_slice(&status.to_le_bytes());
    out
}

/// The framed packets of a result set with `columns` and `rows` (each a value per column,
/// NULL as None), starting at sequence id `seq`; `status`: the flags its EOFs carry.
pub fn text_result_set(
    columns: &[Column<'_>],
    rows: &[Vec<Option<Vec<u8>>>],
    status: u16,
    mut seq: u8,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * (columns.len() + rows.len() + 2));
    let mut count = Vec::with_capacity(9);
    put_lenenc_int(&mut count, columns.len() as u64);
    seq = frame(&mut out, &count, seq);
    for &column in columns {
        seq = frame(&mut out, &column_definition(column), seq);
    }
    seq = frame(&mut out, &eof(status), seq);
    for row in rows {
        let mut payload = Vec::new();
        for value in row {
            match value {
                Some(bytes) => put_lenenc_bytes(&mut payload, bytes),
                None => payload.push(0xfb),
            }
        }
        seq = frame(&mut out, &payload, seq);
    }
    frame(&mut out, &eof(status), seq);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::protocol::packet::{is_eof, parse_header, Reader};

    /// Splits framed packets into (seq, payload).
    fn packets(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (len, seq) = parse_header(bytes);
            out.push((seq, bytes[4..4 + len].to_vec()));
            bytes = &bytes[4 + len..];
        }
        out
    }

    #[test]
    fn one_value() {
        let rows = vec![vec![Some(b"42".to_vec())]];
        let bytes = text_result_set(&[Column::Unsigned(b"CONNECTION_ID()")], &rows, 2, 1);
        let packets = packets(&bytes);
        assert_eq!(packets.len(), 5);
        let seqs: Vec<u8> = packets.iter().map(|p| p.0).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        assert_eq!(packets[0].1, [1]);
        let mut definition = Reader::new(&packets[1].1);
        assert_eq!(definition.lenenc_bytes(), Some(&b"def"[..]));
        for _ in 0..3 {
            definition.lenenc_bytes();
        }
        assert_eq!(definition.lenenc_bytes(), Some(&b"CONNECTION_ID()"[..]));
        assert!(is_eof(&packets[2].1));
        assert_eq!(Reader::new(&packets[3].1).lenenc_bytes(), Some(&b"42"[..]));
        assert!(is_eof(&packets[4].1));
    }
}
