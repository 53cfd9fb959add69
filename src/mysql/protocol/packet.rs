//! MySQL wire basics: packet framing, length-encoded values, and the OK, ERR and EOF packets.
//!
//! A logical packet is a payload of any size, sent as physical parts of at most 16 MiB - 1
//! bytes, each with a 4-byte header (3-byte little-endian length, 1-byte sequence id); a
//! part of exactly 16 MiB - 1 bytes means another part follows.

/// Length of a physical packet header.
pub const HEADER_LEN: usize = 4;
/// The largest physical part; a part this long is continued by the next one.
pub const MAX_PART: usize = 0xFF_FFFF;

/// Command bytes (the first byte of a client's command packet).
pub mod command {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const STATISTICS: u8 = 0x09;
    pub const PROCESS_KILL: u8 = 0x0c;
    pub const PING: u8 = 0x0e;
    pub const CHANGE_USER: u8 = 0x11;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const SET_OPTION: u8 = 0x1b;
    pub const STMT_FETCH: u8 = 0x1c;
    pub const RESET_CONNECTION: u8 = 0x1f;
}

/// Capability flags (the handshake's negotiation).
pub mod capability {
    pub const LONG_PASSWORD: u32 = 1;
    pub const FOUND_ROWS: u32 = 1 << 1;
    pub const LONG_FLAG: u32 = 1 << 2;
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    pub const NO_SCHEMA: u32 = 1 << 4;
    pub const COMPRESS: u32 = 1 << 5;
    pub const ODBC: u32 = 1 << 6;
    pub const LOCAL_FILES: u32 = 1 << 7;
    pub const IGNORE_SPACE: u32 = 1 << 8;
    pub const PROTOCOL_41: u32 = 1 << 9;
    pub const INTERACTIVE: u32 = 1 << 10;
    pub const SSL: u32 = 1 << 11;
    pub const TRANSACTIONS: u32 = 1 << 13;
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    pub const MULTI_STATEMENTS: u32 = 1 << 16;
    pub const MULTI_RESULTS: u32 = 1 << 17;
    pub const PS_MULTI_RESULTS: u32 = 1 << 18;
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 1 << 21;
    pub const SESSION_TRACK: u32 = 1 << 23;
    pub const DEPRECATE_EOF: u32 = 1 << 24;
}

/// Server status flags, carried by every OK and EOF packet.
pub mod status {
    pub const IN_TRANS: u16 = 0x0001;
    pub const AUTOCOMMIT: u16 = 0x0002;
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
    pub const CURSOR_EXISTS: u16 = 0x0040;
    pub const IN_TRANS_READONLY: u16 = 0x2000;
    pub const SESSION_STATE_CHANGED: u16 = 0x4000;
}

/// Error codes fastlb sends itself.
pub mod error_code {
    /// ER_HANDSHAKE_ERROR: "Bad handshake".
    pub const HANDSHAKE: u16 = 1043;
    /// ER_ACCESS_DENIED_ERROR.
    pub const ACCESS_DENIED: u16 = 1045;
    /// ER_NET_PACKET_TOO_LARGE.
    pub const PACKET_TOO_LARGE: u16 = 1153;
    /// ER_UNKNOWN_COM_ERROR.
    pub const UNKNOWN_COMMAND: u16 = 1047;
    /// ER_NET_PACKETS_OUT_OF_ORDER.
    pub const MALFORMED: u16 = 1156;
    /// ER_MAX_PREPARED_STMT_COUNT_REACHED.
    pub const TOO_MANY_STATEMENTS: u16 = 1461;
    /// ER_NO_SUCH_THREAD: "Unknown thread id: %lu".
    pub const NO_SUCH_THREAD: u16 = 1094;
    /// ER_KILL_DENIED_ERROR: "You are not owner of thread %lu".
    pub const KILL_DENIED: u16 = 1095;
    /// ER_NOT_SUPPORTED_YET.
    pub const NOT_SUPPORTED_YET: u16 = 1235;
    /// ER_CONNECTION_KILLED: "Connection was killed" (SQLSTATE 70100).
    pub const CONNECTION_KILLED: u16 = 1927;
    /// ER_UNKNOWN_STMT_HANDLER.
    pub const UNKNOWN_STATEMENT: u16 = 1243;
    /// ER_OPTION_PREVENTS_STATEMENT, what a read-only server answers to a write.
    pub const NO_PRIMARY: u16 = 1290;
    /// ER_NOT_SUPPORTED_AUTH_MODE.
    pub const AUTH_MODE: u16 = 1251;
    /// ER_SECURE_TRANSPORT_REQUIRED (MySQL's, for `require_secure_transport`).
    pub const SECURE_TRANSPORT_REQUIRED: u16 = 3159;
    /// ER_NET_READ_ERROR, "Got an error reading communication packets" (SQLSTATE 08S01):
    /// fastlb lost a server connection during a statement. (Never CR_SERVER_LOST, 2013: a
    /// client-side code that clients don't expect in a server's ERR packet.)
    pub const NET_READ_ERROR: u16 = 1158;
    /// ER_CONNECTION_KILLED (SQLSTATE 70100): no server can serve the session.
    pub const SERVER_GONE: u16 = 1927;
}

/// Length and sequence id of a physical packet header.
pub fn parse_header(header: &[u8]) -> (usize, u8) {
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    (len, header[3])
}

/// Appends `payload` to `out` as one logical packet whose first part has sequence id `seq`;
/// returns the sequence id after the last part.
pub fn frame(out: &mut Vec<u8>, payload: &[u8], mut seq: u8) -> u8 {
    let mut rest = payload;
    loop {
        let part = rest.len().min(MAX_PART);
        out.extend_from_slice(&(part as u32).to_le_bytes()[..3]);
        out.push(seq);
        out.extend_from_slice(&rest[..part]);
        seq = seq.wrapping_add(1);
        rest = &rest[part..];
        // A last part of exactly MAX_PART bytes is followed by an empty one.
        if part < MAX_PART {
            return seq;
        }
    }
}

/// A cursor over a payload. Every read returns None past the end instead of panicking:
/// payloads come from the network.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn u8(&mut self) -> Option<u8> {
        let byte = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    pub fn u16(&mut self) -> Option<u16> {
        let bytes = self.bytes(2)?;
        Some(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        let bytes = self.bytes(4)?;
        Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// A length-encoded integer (0xFB, NULL in rows, reads as None here too).
    pub fn lenenc_int(&mut self) -> Option<u64> {
        match self.u8()? {
            byte @ 0..=0xfa => Some(u64::from(byte)),
            0xfc => self.u16().map(u64::from),
            0xfd => {
                let b = self.bytes(3)?;
                Some(u64::from(u32::from_le_bytes([b[0], b[1], b[2], 0])))
            }
            0xfe => {
                let b = self.bytes(8)?;
                Some(u64::from_le_bytes(b.try_into().ok()?))
            }
            _ => None,
        }
    }

    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.lenenc_int()?).ok()?;
        self.bytes(len)
    }

    /// Bytes up to (not including) the next NUL, which is consumed.
    pub fn nul_terminated(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        self.pos += end + 1;
        Some(&rest[..end])
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        rest
    }
}

pub fn put_lenenc_int(out: &mut Vec<u8>, value: u64) {
    match value {
        0..=0xfa => out.push(value as u8),
        0xfb..=0xffff => {
            out.push(0xfc);
            out.extend_from_slice(&(value as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            out.extend_from_slice(&(value as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
}

pub fn put_lenenc_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_lenenc_int(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// An EOF packet: 0xFE and shorter than 9 bytes (a longer 0xFE packet is a row whose first
/// value has an 8-byte length).
pub fn is_eof(payload: &[u8]) -> bool {
    payload.first() == Some(&0xfe) && payload.len() < 9
}

/// The status flags of an EOF packet.
pub fn eof_status(payload: &[u8]) -> Option<u16> {
    let mut reader = Reader::new(payload);
    reader.u8()?;
    reader.u16()?; // warnings
    reader.u16()
}

/// The parts of an OK packet fastlb looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OkPacket<'a> {
    pub status: u16,
    /// Bytes up to and including the warning count (rebuilt as-is when the rest is dropped).
    pub fixed_len: usize,
    pub info: &'a [u8],
    /// The session-state changes (only with CLIENT_SESSION_TRACK and the status flag).
    pub session_state: Option<&'a [u8]>,
}

/// Parses an OK packet (0x00, or 0xFE for an OK that ends a result set). `session_track`:
/// whether the connection negotiated CLIENT_SESSION_TRACK (the info is then length-encoded
/// and may be followed by session-state changes).
pub fn parse_ok(payload: &[u8], session_track: bool) -> Option<OkPacket<'_>> {
    let mut reader = Reader::new(payload);
    reader.u8()?;
    reader.lenenc_int()?; // affected rows
    reader.lenenc_int()?; // last insert id
    let status = reader.u16()?;
    reader.u16()?; // warnings
    let fixed_len = reader.position();
    if reader.is_empty() {
        return Some(OkPacket {
            status,
            fixed_len,
            info: &[],
            session_state: None,
        });
    }
    if !session_track {
        // MariaDB and MySQL both length-encode the info; tolerate a bare string too.
        let info = reader.lenenc_bytes().unwrap_or(&payload[fixed_len..]);
        return Some(OkPacket {
            status,
            fixed_len,
            info,
            session_state: None,
        });
    }
    let info = reader.lenenc_bytes()?;
    let session_state = if status & status::SESSION_STATE_CHANGED != 0 {
        reader.lenenc_bytes()
    } else {
        None
    };
    Some(OkPacket {
        status,
        fixed_len,
        info,
        session_state,
    })
}

/// The OK packet `ok` as a client without CLIENT_SESSION_TRACK expects it: the session
/// state removed and its status flag cleared.
pub fn strip_session_state(payload: &[u8], ok: &OkPacket<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(ok.fixed_len + ok.info.len() + 2);
    out.extend_from_slice(&payload[..ok.fixed_len]);
    let status = ok.status & !status::SESSION_STATE_CHANGED;
    let status_at = ok.fixed_len - 4;
    out[status_at..status_at + 2].copy_from_slice(&status.to_le_bytes());
    if !ok.info.is_empty() {
        put_lenenc_bytes(&mut out, ok.info);
    }
    out
}

/// Session-state entry types.
const TRACK_SYSTEM_VARIABLES: u8 = 0;
const TRACK_GTIDS: u8 = 3;

/// The GTID of the session's last write in an OK packet's session-state changes: MariaDB's
/// tracked system variable `last_gtid`, or MySQL's `session_track_gtids` entry.
pub fn tracked_gtid(session_state: &[u8]) -> Option<&[u8]> {
    let mut reader = Reader::new(session_state);
    let mut found = None;
    while !reader.is_empty() {
        let kind = reader.u8()?;
        let data = reader.lenenc_bytes()?;
        let mut entry = Reader::new(data);
        match kind {
            TRACK_SYSTEM_VARIABLES => {
                let name = entry.lenenc_bytes()?;
                let value = entry.lenenc_bytes()?;
                if name.eq_ignore_ascii_case(b"last_gtid") && !value.is_empty() {
                    found = Some(value);
                }
            }
            TRACK_GTIDS => {
                entry.u8()?; // encoding specification
                let gtids = entry.lenenc_bytes()?;
                if !gtids.is_empty() {
                    found = Some(gtids);
                }
            }
            _ => {}
        }
    }
    found
}

/// An OK packet payload with the given status flags.
pub fn ok_payload(status: u16) -> Vec<u8> {
    let mut out = vec![0x00, 0x00, 0x00];
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// An ERR packet payload (protocol 4.1: with SQL state).
pub fn err_payload(code: u16, sql_state: &[u8; 5], message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + message.len());
    out.push(0xff);
    out.extend_from_slice(&code.to_le_bytes());
    out.push(b'#');
    out.extend_from_slice(sql_state);
    out.extend_from_slice(message.as_bytes());
    out
}

/// Code and message of an ERR packet.
pub fn parse_err(payload: &[u8]) -> (u16, String) {
    let mut reader = Reader::new(payload);
    reader.u8();
    let code = reader.u16().unwrap_or(0);
    let mut rest = reader.rest();
    if rest.first() == Some(&b'#') && rest.len() >= 6 {
        rest = &rest[6..];
    }
    (code, String::from_utf8_lossy(rest).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_round_trip() {
        for value in [
            0,
            250,
            251,
            0xffff,
            0x1_0000,
            0xff_ffff,
            0x100_0000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, value);
            assert_eq!(Reader::new(&out).lenenc_int(), Some(value), "{value}");
        }
        assert_eq!(Reader::new(&[0xfc, 1]).lenenc_int(), None, "truncated");
        assert_eq!(Reader::new(&[0xfb]).lenenc_int(), None, "NULL");
    }

    #[test]
    fn frame_splits_at_16_mib() {
        let mut out = Vec::new();
        assert_eq!(frame(&mut out, b"abc", 0), 1);
        assert_eq!(out, [3, 0, 0, 0, b'a', b'b', b'c']);

        let payload = vec![7u8; MAX_PART + 10];
        let mut out = Vec::new();
        assert_eq!(frame(&mut out, &payload, 5), 7);
        assert_eq!(parse_header(&out), (MAX_PART, 5));
        assert_eq!(parse_header(&out[HEADER_LEN + MAX_PART..]), (10, 6));

        // Exactly one full part: an empty part ends it.
        let mut out = Vec::new();
        assert_eq!(frame(&mut out, &vec![1u8; MAX_PART], 0), 2);
        assert_eq!(out.len(), 2 * HEADER_LEN + MAX_PART);
    }

    #[test]
    fn ok_packets() {
        // affected 1, insert id 5, status AUTOCOMMIT|SESSION_STATE_CHANGED, 0 warnings,
        // empty info, state: system variable last_gtid = 0-1-9.
        let mut state = Vec::new();
        let mut entry = Vec::new();
        put_lenenc_bytes(&mut entry, b"last_gtid");
        put_lenenc_bytes(&mut entry, b"0-1-9");
        state.push(0);
        put_lenenc_bytes(&mut state, &entry);
        let mut payload = vec![0x00, 1, 5];
        payload.extend_from_slice(&0x4002u16.to_le_bytes());
        payload.extend_from_slice(&[0, 0]);
        put_lenenc_bytes(&mut payload, b"");
        put_lenenc_bytes(&mut payload, &state);

        let ok = parse_ok(&payload, true).unwrap();
        assert_eq!(ok.status, 0x4002);
        assert_eq!(tracked_gtid(ok.session_state.unwrap()), Some(&b"0-1-9"[..]));
        let stripped = strip_session_state(&payload, &ok);
        assert_eq!(stripped, [0x00, 1, 5, 0x02, 0x00, 0, 0]);
        let again = parse_ok(&stripped, false).unwrap();
        assert_eq!((again.status, again.session_state), (0x0002, None));
    }

    #[test]
    fn mysql_gtid_entry() {
        let mut entry = vec![0];
        put_lenenc_bytes(&mut entry, b"3E11FA47-71CA-11E1-9E33-C80AA9429562:23");
        let mut state = vec![TRACK_GTIDS];
        put_lenenc_bytes(&mut state, &entry);
        assert_eq!(
            tracked_gtid(&state),
            Some(&b"3E11FA47-71CA-11E1-9E33-C80AA9429562:23"[..])
        );
        assert_eq!(tracked_gtid(&[0, 5, 1]), None, "truncated entries");
    }

    #[test]
    fn eof_and_err() {
        assert!(is_eof(&[0xfe, 0, 0, 0x02, 0]));
        assert!(
            !is_eof(&[0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            "a row, not EOF"
        );
        assert_eq!(eof_status(&[0xfe, 0, 0, 0x03, 0]), Some(0x0003));
        let err = err_payload(1290, b"HY000", "no primary");
        assert_eq!(parse_err(&err), (1290, "no primary".to_string()));
    }
}
