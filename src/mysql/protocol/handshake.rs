//! The connection-phase packets: the server's greeting (HandshakeV10) and the client's
//! HandshakeResponse41, both built (fastlb plays either side) and parsed.

use super::packet::{capability as cap, put_lenenc_bytes, Reader};

/// The capabilities fastlb offers its clients, and SSL when the frontend has TLS. Not
/// offered: COMPRESS (every byte is parsed), SESSION_TRACK and DEPRECATE_EOF (results are
/// scanned for their end by their EOF packets; fastlb uses session tracking only on its own
/// primary connections), MariaDB's extended capabilities (LONG_PASSWORD set = "plain MySQL
/// protocol" to MariaDB clients).
pub const OFFERED: u32 = cap::LONG_PASSWORD
    | cap::FOUND_ROWS
    | cap::LONG_FLAG
    | cap::CONNECT_WITH_DB
    | cap::NO_SCHEMA
    | cap::ODBC
    | cap::LOCAL_FILES
    | cap::IGNORE_SPACE
    | cap::PROTOCOL_41
    | cap::INTERACTIVE
    | cap::TRANSACTIONS
    | cap::SECURE_CONNECTION
    | cap::MULTI_STATEMENTS
    | cap::MULTI_RESULTS
    | cap::PS_MULTI_RESULTS
    | cap::PLUGIN_AUTH
    | cap::CONNECT_ATTRS
    | cap::PLUGIN_AUTH_LENENC_CLIENT_DATA;

/// What fastlb passes on from a client's capabilities to its servers (the client's choices
/// that change what servers send: found rows, multi statements, local infile, ...).
pub const PASSED_ON: u32 = cap::LONG_PASSWORD
    | cap::FOUND_ROWS
    | cap::LONG_FLAG
    | cap::NO_SCHEMA
    | cap::ODBC
    | cap::LOCAL_FILES
    | cap::IGNORE_SPACE
    | cap::INTERACTIVE
    | cap::MULTI_STATEMENTS
    | cap::MULTI_RESULTS
    | cap::PS_MULTI_RESULTS;

/// utf8mb4_general_ci, the greeting's default collation.
pub const DEFAULT_COLLATION: u8 = 45;

/// A server's greeting, as fastlb reads it when it logs in to a server.
#[derive(Debug)]
pub struct Greeting<'a> {
    pub version: &'a [u8],
    pub connection_id: u32,
    pub scramble: Vec<u8>,
    pub capabilities: u32,
    pub plugin: &'a [u8],
}

/// Builds the greeting fastlb sends a client, offering `capabilities`.
pub fn build_greeting(
    version: &[u8],
    capabilities: u32,
    connection_id: u32,
    scramble: &[u8; 20],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.push(10);
    out.extend_from_slice(version);
    out.push(0);
    out.extend_from_slice(&connection_id.to_le_bytes());
    out.extend_from_slice(&scramble[..8]);
    out.push(0);
    out.extend_from_slice(&(capabilities as u16).to_le_bytes());
    out.push(DEFAULT_COLLATION);
    out.extend_from_slice(&super::packet::status::AUTOCOMMIT.to_le_bytes());
    out.extend_from_slice(&((capabilities >> 16) as u16).to_le_bytes());
    out.push(21);
    out.extend_from_slice(&[0; 10]);
    out.extend_from_slice(&scramble[8..]);
    out.push(0);
    out.extend_from_slice(super::auth::NATIVE_PASSWORD);
    out.push(0);
    out
}

/// Parses a server's greeting (protocol 10 only).
pub fn parse_greeting(payload: &[u8]) -> Option<Greeting<'_>> {
    let mut reader = Reader::new(payload);
    if reader.u8()? != 10 {
        return None;
    }
    let version = reader.nul_terminated()?;
    let connection_id = reader.u32()?;
    let mut scramble = reader.bytes(8)?.to_vec();
    reader.u8()?;
    let mut capabilities = u32::from(reader.u16()?);
    reader.u8()?; // collation
    reader.u16()?; // status
    capabilities |= u32::from(reader.u16()?) << 16;
    let auth_len = usize::from(reader.u8()?);
    reader.bytes(10)?;
    let mut plugin: &[u8] = b"";
    if capabilities & cap::SECURE_CONNECTION != 0 {
        let part2 = reader.bytes(auth_len.saturating_sub(8).max(13))?;
        let part2 = part2.strip_suffix(&[0]).unwrap_or(part2);
        scramble.extend_from_slice(part2);
        scramble.truncate(super::auth::SCRAMBLE_LEN);
    }
    if capabilities & cap::PLUGIN_AUTH != 0 {
        plugin = reader.nul_terminated().unwrap_or_else(|| reader.rest());
    }
    Some(Greeting {
        version,
        connection_id,
        scramble,
        capabilities,
        plugin,
    })
}

/// The SSLRequest: the fixed start of a HandshakeResponse41 (with CLIENT_SSL), after
/// which both sides switch to TLS and the client sends the whole response.
pub fn build_ssl_request(capabilities: u32, collation: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    put_fixed_part(&mut out, capabilities | cap::SSL, collation);
    out
}

/// Capabilities, max packet size, collation, 23 reserved bytes.
fn put_fixed_part(out: &mut Vec<u8>, capabilities: u32, collation: u8) {
    out.extend_from_slice(&capabilities.to_le_bytes());
    out.extend_from_slice(&(1u32 << 30).to_le_bytes());
    out.push(collation);
    out.extend_from_slice(&[0; 23]);
}

/// A client's HandshakeResponse41.
#[derive(Debug, PartialEq, Eq)]
pub struct HandshakeResponse<'a> {
    pub capabilities: u32,
    pub collation: u8,
    pub user: &'a [u8],
    pub auth: &'a [u8],
    pub database: Option<&'a [u8]>,
    pub plugin: Option<&'a [u8]>,
}

/// Why a client's handshake response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    Malformed,
    /// Pre-4.1 protocol: no secure authentication, fastlb won't speak it.
    TooOld,
    /// An SSLRequest: the client wants TLS before it says who it is.
    TlsRequested,
}

pub fn parse_handshake_response(payload: &[u8]) -> Result<HandshakeResponse<'_>, ResponseError> {
    use ResponseError::Malformed;
    let mut reader = Reader::new(payload);
    let capabilities = reader.u32().ok_or(Malformed)?;
    if capabilities & cap::PROTOCOL_41 == 0 {
        return Err(ResponseError::TooOld);
    }
    reader.u32().ok_or(Malformed)?; // max packet size
    let collation = reader.u8().ok_or(Malformed)?;
    reader.bytes(23).ok_or(Malformed)?;
    if capabilities & cap::SSL != 0 && reader.is_empty() {
        return Err(ResponseError::TlsRequested);
    }
    let user = reader.nul_terminated().ok_or(Malformed)?;
    let auth = if capabilities & cap::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        reader.lenenc_bytes().ok_or(Malformed)?
    } else if capabilities & cap::SECURE_CONNECTION != 0 {
        let len = usize::from(reader.u8().ok_or(Malformed)?);
        reader.bytes(len).ok_or(Malformed)?
    } else {
        return Err(ResponseError::TooOld);
    };
    let database = if capabilities & cap::CONNECT_WITH_DB != 0 {
        reader.nul_terminated().filter(|db| !db.is_empty())
    } else {
        None
    };
    let plugin = if capabilities & cap::PLUGIN_AUTH != 0 {
        reader.nul_terminated()
    } else {
        None
    };
    Ok(HandshakeResponse {
        capabilities,
        collation,
        user,
        auth,
        database,
        plugin,
    })
}

/// Builds the response fastlb sends a server when it logs in.
pub fn build_handshake_response(response: &HandshakeResponse<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + response.user.len() + response.auth.len());
    put_fixed_part(&mut out, response.capabilities, response.collation);
    out.extend_from_slice(response.user);
    out.push(0);
    if response.capabilities & cap::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        put_lenenc_bytes(&mut out, response.auth);
    } else {
        out.push(response.auth.len() as u8);
        out.extend_from_slice(response.auth);
    }
    if let Some(database) = response.database {
        out.extend_from_slice(database);
        out.push(0);
    }
    if let Some(plugin) = response.plugin {
        out.extend_from_slice(plugin);
        out.push(0);
    }
    out
}

/// An AuthSwitchRequest payload asking for `plugin` with `scramble`.
pub fn auth_switch_request(plugin: &[u8], scramble: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + plugin.len() + scramble.len() + 1);
    out.push(0xfe);
    out.extend_from_slice(plugin);
    out.push(0);
    out.extend_from_slice(scramble);
    out.push(0);
    out
}

/// A COM_CHANGE_USER payload's fields (after the command byte).
#[derive(Debug, PartialEq, Eq)]
pub struct ChangeUser<'a> {
    pub user: &'a [u8],
    pub database: Option<&'a [u8]>,
    pub collation: Option<u8>,
}

pub fn parse_change_user(payload: &[u8]) -> Option<ChangeUser<'_>> {
    let mut reader = Reader::new(payload);
    reader.u8()?;
    let user = reader.nul_terminated()?;
    let auth_len = usize::from(reader.u8()?);
    reader.bytes(auth_len)?;
    let database = reader.nul_terminated().filter(|db| !db.is_empty());
    let collation = reader.u16().map(|c| c as u8);
    Some(ChangeUser {
        user,
        database,
        collation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_round_trip() {
        let scramble = *b"abcdefghijklmnopqrst";
        let payload = build_greeting(b"10.11.6-MariaDB-fastlb", OFFERED | cap::SSL, 42, &scramble);
        let greeting = parse_greeting(&payload).unwrap();
        assert_eq!(greeting.version, b"10.11.6-MariaDB-fastlb");
        assert_eq!(greeting.connection_id, 42);
        assert_eq!(greeting.scramble, scramble);
        assert_eq!(greeting.capabilities, OFFERED | cap::SSL);
        assert_eq!(greeting.plugin, b"mysql_native_password");
    }

    #[test]
    fn response_round_trip() {
        let sent = HandshakeResponse {
            capabilities: OFFERED,
            collation: 33,
            user: b"app",
            auth: &[1, 2, 3],
            database: Some(b"shop"),
            plugin: Some(b"mysql_native_password"),
        };
        let payload = build_handshake_response(&sent);
        assert_eq!(parse_handshake_response(&payload), Ok(sent));
        let short = HandshakeResponse {
            capabilities: OFFERED & !(cap::PLUGIN_AUTH_LENENC_CLIENT_DATA | cap::PLUGIN_AUTH),
            collation: 8,
            user: b"u",
            auth: &[9; 20],
            database: None,
            plugin: None,
        };
        let payload = build_handshake_response(&short);
        assert_eq!(parse_handshake_response(&payload), Ok(short));
    }

    #[test]
    fn refused_responses() {
        assert_eq!(
            parse_handshake_response(&[0, 0]),
            Err(ResponseError::Malformed)
        );
        let ssl = build_ssl_request(cap::PROTOCOL_41, 33);
        assert_eq!(ssl.len(), 32);
        assert_eq!(
            parse_handshake_response(&ssl),
            Err(ResponseError::TlsRequested)
        );
        let mut old = cap::LONG_PASSWORD.to_le_bytes().to_vec();
        old.extend_from_slice(&[0; 40]);
        assert_eq!(parse_handshake_response(&old), Err(ResponseError::TooOld));
    }

    #[test]
    fn change_user() {
        let mut payload = vec![0x11];
        payload.extend_from_slice(b"bob\0");
        payload.extend_from_slice(&[2, 7, 7]);
        payload.extend_from_slice(b"db2\0");
        payload.extend_from_slice(&45u16.to_le_bytes());
        let parsed = parse_change_user(&payload).unwrap();
        assert_eq!(parsed.user, b"bob");
        assert_eq!(parsed.database, Some(&b"db2"[..]));
        assert_eq!(parsed.collation, Some(45));
        assert_eq!(parse_change_user(&[0x11, b'x']), None);
    }
}
