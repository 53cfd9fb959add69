//! MySQL read/write splitting: a `mode: mysql` frontend terminates the MySQL protocol,
//! authenticates clients with the configured users, and sends each statement to the
//! primary or a replica. Three parts, each only using the ones before it:
//!
//! - `protocol/`: packets, the packet stream, TLS transport, handshake, auth, login;
//! - `classify/`: the statement classifier (pure: bytes in, `Classification` out);
//! - `session/`: one client's session — the routing policy (`route.rs`), its server
//!   connections (`upstream.rs`), the command loop, prepared statements, state replay.
//!
//! `config` (the `mysql:` section), `stats` (its counters) and `digest` (per-statement
//! figures of the heaviest statements) serve all three; `topology` is what a MySQL backend
//! knows of its servers (roles, read pool, lag), hung on the generic backend as metadata. The
//! classifier and the routing policy are shared with `fastlb.mysql.Router` through
//! `fastlb._core.classify_statement` and `fastlb._core.RoutingPolicy`.

pub mod classify;
pub mod config;
pub mod digest;
pub mod pool;
pub mod protocol;
mod role;
pub mod session;
pub mod stats;
pub mod topology;
pub mod write_gate;

pub use role::Role;

use std::sync::atomic::{AtomicU32, Ordering};
use tokio::net::TcpStream;

pub use classify::{classify, Classification, Kind};

use crate::proxy::ConnectionSlot;
use crate::stats::bump;
use crate::tls::HandshakeError;
use protocol::login::{self, LoginError};
use protocol::stream::PacketStream;
use session::Session;
use topology::MysqlBackend;

/// Connection ids fastlb announces in its greetings.
static NEXT_CONNECTION_ID: AtomicU32 = AtomicU32::new(1);

/// What the greeting announces when no server could be reached to learn its version.
const FALLBACK_VERSION: &[u8] = b"8.0.0-fastlb";

/// Serves one client of a `mode: mysql` frontend.
pub async fn serve(client: TcpStream, slot: ConnectionSlot) {
    let frontend = slot.frontend().clone();
    let backend = frontend.backend();
    let settings = backend.settings();
    let Some(mysql) = backend.mysql_settings() else {
        return bump(&frontend.stats.no_server);
    };
    // TCP_NODELAY comes from the listening socket (proxy/listener.rs).
    let mut client = PacketStream::new(client);
    if mysql.config.server_version.is_none() && backend.server_version().is_none() {
        session::learn_server_version(&backend, settings.connect_timeout).await;
    }
    let version = match (&mysql.config.server_version, backend.server_version()) {
        (Some(configured), _) => configured.as_bytes().to_vec(),
        (None, Some(seen)) => seen.to_vec(),
        (None, None) => FALLBACK_VERSION.to_vec(),
    };
    let connection_id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
    // A client gets as long to log in as it may idle, at most 10 s (slow-loris logins),
    // a TLS handshake included.
    let login_timeout = frontend
        .idle_timeout()
        .min(std::time::Duration::from_secs(10));
    let tls = frontend.tls();
    let handshake = tokio::time::timeout(
        login_timeout,
        login::authenticate(&mut client, &mysql, tls.as_deref(), &version, connection_id),
    )
    .await;
    drop(tls);
    let stats = &frontend.stats;
    let login = match handshake {
        Ok(Ok(login)) => login,
        Ok(Err(LoginError::Refused)) => return bump(&stats.mysql.auth_failures),
        Ok(Err(LoginError::Tls(error))) => return frontend.count_tls_handshake_error(&error),
        Err(_) if client.in_tls_handshake() => {
            return frontend.count_tls_handshake_error(&HandshakeError::Timeout)
        }
        Ok(Err(LoginError::Protocol)) | Err(_) => return bump(&stats.mysql.protocol_errors),
    };
    bump(&stats.mysql.sessions);
    if client.is_tls() {
        bump(&stats.mysql.tls_sessions);
    }
    let seq = login.seq;
    let session = Session::new(
        frontend,
        backend,
        mysql,
        client,
        login,
        settings.connect_timeout,
        connection_id,
    );
    session.serve(seq).await;
    // The slot counted this connection on the frontend until now.
    drop(slot);
}
