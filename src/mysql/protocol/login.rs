//! Authenticating a client: fastlb is the server it logs in to, with the configured users.
//!
//! fastlb offers `mysql_native_password`; a client that answers with
//! `caching_sha2_password` is verified with that plugin's arithmetic and told "fast auth
//! OK" (fastlb knows the password, so the full-authentication path is never needed); any
//! other plugin is switched to `mysql_native_password`.

use super::auth::{self, CACHING_SHA2_PASSWORD, NATIVE_PASSWORD, SHA2_FAST_AUTH_OK};
use super::handshake::{self, ResponseError};
use super::packet::{capability, error_code, frame};
use super::stream::{PacketStream, ReadError};
use crate::mysql::config::{MysqlSettings, MysqlUser};
use crate::tls::{HandshakeError, TlsTermination};

/// Handshake packets are small; anything larger is not a MySQL client.
const HANDSHAKE_LIMIT: usize = 64 * 1024;

/// A logged-in client.
pub struct ClientLogin {
    pub user: MysqlUser,
    pub capabilities: u32,
    pub collation: u8,
    pub database: Option<Vec<u8>>,
    /// The sequence id of fastlb's next packet (the final OK or ERR).
    pub seq: u8,
}

/// Why a login failed; the client has been sent an ERR packet where that was possible.
#[derive(Debug)]
pub enum LoginError {
    /// The client went away or sent garbage.
    Protocol,
    /// Unknown user, wrong password, unsupported client, plaintext where TLS is required.
    Refused,
    /// The TLS handshake after the client's SSLRequest failed or timed out.
    Tls(HandshakeError),
}

/// Greets the client, switches to TLS when it asks (and the frontend has TLS), and checks
/// its credentials.
pub async fn authenticate(
    client: &mut PacketStream,
    settings: &MysqlSettings,
    tls: Option<&TlsTermination>,
    server_version: &[u8],
    connection_id: u32,
) -> Result<ClientLogin, LoginError> {
    let scramble = auth::new_scramble();
    let offered = match tls {
        Some(_) => handshake::OFFERED | capability::SSL,
        None => handshake::OFFERED,
    };
    let greeting = handshake::build_greeting(server_version, offered, connection_id, &scramble);
    send(client, &greeting, 0).await?;
    let mut packet = read(client).await?;
    let asks_for_tls = matches!(
        handshake::parse_handshake_response(packet.payload()),
        Err(ResponseError::TlsRequested)
    );
    match tls {
        Some(tls) if asks_for_tls => {
            client.accept_tls(tls).await.map_err(LoginError::Tls)?;
            // The real HandshakeResponse, encrypted; its sequence id follows the request's.
            packet = read(client).await?;
        }
        Some(tls) if tls.required() => {
            let message = "fastlb: connections to this port must use TLS (connect with --ssl)";
            let _ = send_error(
                client,
                error_code::SECURE_TRANSPORT_REQUIRED,
                b"HY000",
                message,
                packet.next_seq,
            )
            .await;
            return Err(LoginError::Refused);
        }
        _ => {}
    }
    let mut seq = packet.next_seq;
    let response = match handshake::parse_handshake_response(packet.payload()) {
        Ok(response) => response,
        Err(error) => {
            let message = match error {
                ResponseError::Malformed => "Bad handshake",
                ResponseError::TooOld => {
                    "fastlb needs a client speaking protocol 4.1 with secure authentication"
                }
                // Not offered, or a second request inside TLS.
                ResponseError::TlsRequested if client.is_tls() => "Bad handshake",
                ResponseError::TlsRequested => "fastlb does not offer TLS on this port",
            };
            let code = match error {
                ResponseError::TooOld => error_code::AUTH_MODE,
                _ => error_code::HANDSHAKE,
            };
            let _ = send_error(client, code, b"08S01", message, seq).await;
            return Err(if error == ResponseError::Malformed {
                LoginError::Protocol
            } else {
                LoginError::Refused
            });
        }
    };
    let user_name = response.user.to_vec();
    let mut plugin = response.plugin.unwrap_or(NATIVE_PASSWORD).to_vec();
    let mut token = response.auth.to_vec();
    if plugin != NATIVE_PASSWORD && plugin != CACHING_SHA2_PASSWORD {
        let switch = handshake::auth_switch_request(NATIVE_PASSWORD, &scramble);
        send(client, &switch, seq).await?;
        let reply = read(client).await?;
        seq = reply.next_seq;
        token = reply.payload().to_vec();
        plugin = NATIVE_PASSWORD.to_vec();
    }
    let user = settings.user(&user_name);
    // The token is computed for an unknown user too, so that the answer's timing doesn't
    // tell which users exist.
    let password = user.map_or(&b"fastlb: no such user"[..], |u| u.password.as_bytes());
    let expected = auth::expected_token(&plugin, password, &scramble);
    let verified = user.is_some() && expected.is_some_and(|e| auth::constant_time_eq(&e, &token));
    let Some(user) = user.filter(|_| verified) else {
        let message = format!(
            "Access denied for user '{}' (using password: {})",
            String::from_utf8_lossy(&user_name),
            if token.is_empty() { "NO" } else { "YES" }
        );
        let _ = send_error(client, error_code::ACCESS_DENIED, b"28000", &message, seq).await;
        return Err(LoginError::Refused);
    };
    if plugin == CACHING_SHA2_PASSWORD {
        seq = send(client, &[0x01, SHA2_FAST_AUTH_OK], seq).await?;
    }
    Ok(ClientLogin {
        user: user.clone(),
        capabilities: response.capabilities & handshake::OFFERED,
        collation: response.collation,
        database: response.database.map(<[u8]>::to_vec),
        seq,
    })
}

/// Re-authenticates for COM_CHANGE_USER: asks for mysql_native_password with a fresh
/// scramble and verifies the answer. Returns the user and the next sequence id.
pub async fn change_user(
    client: &mut PacketStream,
    settings: &MysqlSettings,
    user_name: &[u8],
    seq: u8,
) -> Result<(MysqlUser, u8), LoginError> {
    let scramble = auth::new_scramble();
    let switch = handshake::auth_switch_request(NATIVE_PASSWORD, &scramble);
    send(client, &switch, seq).await?;
    let reply = read(client).await?;
    let seq = reply.next_seq;
    let user = settings.user(user_name).filter(|user| {
        let expected = auth::native_password_token(user.password.as_bytes(), &scramble);
        auth::constant_time_eq(&expected, reply.payload())
    });
    match user {
        Some(user) => Ok((user.clone(), seq)),
        None => {
            let message = format!(
                "Access denied for user '{}'",
                String::from_utf8_lossy(user_name)
            );
            let _ = send_error(client, error_code::ACCESS_DENIED, b"28000", &message, seq).await;
            Err(LoginError::Refused)
        }
    }
}

async fn read(client: &mut PacketStream) -> Result<super::stream::Packet, LoginError> {
    client
        .read_packet(HANDSHAKE_LIMIT)
        .await
        .map_err(|_: ReadError| LoginError::Protocol)
}

async fn send(client: &mut PacketStream, payload: &[u8], seq: u8) -> Result<u8, LoginError> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    let next = frame(&mut out, payload, seq);
    client
        .write_all(&out)
        .await
        .map_err(|_| LoginError::Protocol)?;
    Ok(next)
}

/// Sends an ERR packet.
pub async fn send_error(
    client: &mut PacketStream,
    code: u16,
    sql_state: &[u8; 5],
    message: &str,
    seq: u8,
) -> Result<u8, LoginError> {
    let payload = super::packet::err_payload(code, sql_state, message);
    send(client, &payload, seq).await
}
