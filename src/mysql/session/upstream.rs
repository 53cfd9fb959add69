//! A session's connection to one server: logged in as the session's user, with the session
//! state it has caught up on and the status flags of its last reply.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

use super::response::{forward, Failure, ForwardError, Outcome, Rewrite, Shape};
use crate::balancer::{Backend, Server};
use crate::error::Error;
use crate::mysql::config::MysqlUser;
use crate::mysql::protocol::auth::{
    self, CACHING_SHA2_PASSWORD, NATIVE_PASSWORD, SHA2_FAST_AUTH_OK, SHA2_FULL_AUTH,
};
use crate::mysql::protocol::handshake::{self, HandshakeResponse, PASSED_ON};
use crate::mysql::protocol::packet::{
    capability as cap, command, frame, parse_err, status, Reader,
};
use crate::mysql::protocol::stream::{Packet, PacketStream, ReadError};
use crate::mysql::topology::{MysqlBackend, MysqlServer};
use crate::mysql::Role;

/// Identifies a connection for the statement ids prepared on it.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// Handshake and internal replies are small.
const SMALL_PACKET: usize = 1 << 20;

/// Who the session logs in as, and how.
pub struct Login<'a> {
    pub user: &'a MysqlUser,
    pub database: Option<&'a [u8]>,
    pub collation: u8,
    pub client_capabilities: u32,
    /// Ask the server to report each write's GTID (causal reads).
    pub track_gtid: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("{0}")]
    Connect(Error),
    #[error("server connection: {0}")]
    Io(#[from] std::io::Error),
    /// The server refused the login (or one of fastlb's own statements) with this ERR
    /// packet.
    #[error("server refused: {message}")]
    Refused { payload: Vec<u8>, message: String },
    /// A statement of the session's state, replayed on this connection, was refused with
    /// this error code (the client ran it successfully on another connection).
    #[error("replaying the session's state failed with error {0}")]
    ReplayRefused(u16),
    #[error("{0}")]
    Protocol(String),
}

impl From<ReadError> for UpstreamError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Io(e) => UpstreamError::Io(e),
            ReadError::TooLarge(n) => UpstreamError::Protocol(format!("{n}-byte reply")),
        }
    }
}

impl From<Failure> for UpstreamError {
    fn from(failure: Failure) -> Self {
        match failure.error {
            ForwardError::Server(e) | ForwardError::Client(e) => UpstreamError::Io(e),
            ForwardError::Protocol(what) => UpstreamError::Protocol(what.into()),
        }
    }
}

pub struct Upstream {
    pub serial: u64,
    pub server: Arc<Server>,
    pub stream: PacketStream,
    /// The connection reports session-state changes (CLIENT_SESSION_TRACK + GTID tracking).
    pub session_track: bool,
    /// Status flags of the last OK or EOF.
    pub status: u16,
    /// The state entries (SET, USE, ... payloads) this connection has run since its login
    /// or last reset, in order: a session borrowing it replays only what its own log adds
    /// (`replay.rs`), and one whose log doesn't start with these resets it first.
    pub state: Vec<Arc<[u8]>>,
    /// What LAST_INSERT_ID() answers on this connection, as far as fastlb saw (OK packets).
    pub last_insert_id: u64,
    /// Statements prepared on this connection (by any session) since its login or reset.
    pub prepared: u32,
    /// The last GTID this replica is known to have applied (causal reads).
    pub caught_up_to: Option<Vec<u8>>,
    pub mariadb: bool,
    /// The server's id for this connection (its greeting's connection id): what fastlb's
    /// own `KILL QUERY` names on that server.
    pub thread_id: u32,
    /// The pool it belongs to (`mysql.pool`), with its slot and login key.
    pub pooled: Option<super::pooled::Ticket>,
    pub born: std::time::Instant,
    /// A command was sent and its whole reply not read yet: the connection can't be
    /// handed to anyone else.
    pub in_flight: bool,
    /// A client command may have left state on it beyond `state` and its login (anything
    /// but plain reads; with multiplexing, anything but what fastlb tracks): it is reset
    /// before another session gets it. fastlb's own commands don't set it.
    pub dirty: bool,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.server
            .stats
            .traffic
            .current
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Upstream {
    /// Connects to `server` and logs in.
    pub async fn open(
        server: Arc<Server>,
        backend: &Backend,
        login: &Login<'_>,
        timeout: Duration,
    ) -> Result<Upstream, UpstreamError> {
        let address = server.address;
        let io = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| UpstreamError::Connect(Error::ConnectTimeout { addr: address }))?
            .map_err(|source| UpstreamError::Connect(Error::from_connect(address, source)))?;
        let stream = PacketStream::new(io);
        stream.set_nodelay();
        let traffic = &server.stats.traffic;
        traffic.current.fetch_add(1, Ordering::Relaxed);
        traffic.total.fetch_add(1, Ordering::Relaxed);
        let mut upstream = Upstream {
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            server,
            stream,
            session_track: false,
            status: status::AUTOCOMMIT,
            state: Vec::new(),
            last_insert_id: 0,
            prepared: 0,
            caught_up_to: None,
            mariadb: false,
            thread_id: 0,
            pooled: None,
            born: std::time::Instant::now(),
            in_flight: false,
            dirty: false,
        };
        tokio::time::timeout(timeout, upstream.log_in(backend, login))
            .await
            .map_err(|_| UpstreamError::Connect(Error::ConnectTimeout { addr: address }))??;
        Ok(upstream)
    }

    async fn log_in(&mut self, backend: &Backend, login: &Login<'_>) -> Result<(), UpstreamError> {
        let greeting_packet = self.stream.read_packet(SMALL_PACKET).await?;
        refused_if_err(&greeting_packet)?;
        let greeting = handshake::parse_greeting(greeting_packet.payload())
            .ok_or_else(|| UpstreamError::Protocol("not a MySQL protocol 10 greeting".into()))?;
        backend.remember_server_version(greeting.version);
        self.thread_id = greeting.connection_id;
        self.mariadb = greeting
            .version
            .windows(7)
            .any(|w| w.eq_ignore_ascii_case(b"mariadb"));
        let offered = greeting.capabilities;
        let mut capabilities = (login.client_capabilities & PASSED_ON & offered)
            | cap::PROTOCOL_41
            | cap::SECURE_CONNECTION
            | cap::TRANSACTIONS
            | (offered & (cap::PLUGIN_AUTH | cap::PLUGIN_AUTH_LENENC_CLIENT_DATA));
        if login.database.is_some() {
            capabilities |= cap::CONNECT_WITH_DB;
        }
        let track = login.track_gtid && offered & cap::SESSION_TRACK != 0;
        if track {
            capabilities |= cap::SESSION_TRACK;
        }
        let plugin = if greeting.plugin == CACHING_SHA2_PASSWORD {
            CACHING_SHA2_PASSWORD
        } else {
            NATIVE_PASSWORD
        };
        let mut seq = greeting_packet.next_seq;
        if let Some(tls) = backend.tls() {
            if offered & cap::SSL == 0 {
                return Err(UpstreamError::Protocol(
                    "the backend has tls, but the server doesn't offer TLS (ssl in its config)"
                        .into(),
                ));
            }
            capabilities |= cap::SSL;
            let request = handshake::build_ssl_request(capabilities, login.collation);
            seq = self.send_payload(&request, seq).await?;
            self.stream
                .connect_tls(&tls, &self.server.tls_name)
                .await
                .map_err(|e| UpstreamError::Protocol(format!("TLS to the server: {e}")))?;
        }
        let password = login.user.password.as_bytes();
        let token = auth::expected_token(plugin, password, &greeting.scramble).unwrap_or_default();
        let response = HandshakeResponse {
            capabilities,
            collation: login.collation,
            user: login.user.user.as_bytes(),
            auth: &token,
            database: login.database,
            plugin: (capabilities & cap::PLUGIN_AUTH != 0).then_some(plugin),
        };
        self.send_payload(&handshake::build_handshake_response(&response), seq)
            .await?;
        self.finish_auth(password).await?;
        if track {
            self.track_gtid().await?;
        }
        Ok(())
    }

    /// Asks the server to report each write's GTID in its OK packets (again after a
    /// COM_RESET_CONNECTION, which resets the tracking too).
    pub async fn track_gtid(&mut self) -> Result<(), UpstreamError> {
        // MariaDB reports the session's last GTID as a tracked variable; MySQL in its own
        // GTID tracker.
        let sql: &[u8] = if self.mariadb {
            b"SET @@session.session_track_system_variables = 'last_gtid'"
        } else {
            b"SET @@session.session_track_gtids = OWN_GTID"
        };
        self.session_track = true;
        if self.query(sql).await?.error.is_some() {
            self.session_track = false;
        }
        Ok(())
    }

    /// Reads the server's verdict, answering auth switches and caching_sha2's fast path.
    async fn finish_auth(&mut self, password: &[u8]) -> Result<(), UpstreamError> {
        for _ in 0..4 {
            let packet = self.stream.read_packet(SMALL_PACKET).await?;
            let seq = packet.next_seq;
            let payload = packet.payload();
            match payload.first() {
                Some(0x00) => return Ok(()),
                Some(0xff) => return refused_if_err(&packet),
                Some(0xfe) => {
                    let mut reader = Reader::new(&payload[1..]);
                    let plugin = reader.nul_terminated().unwrap_or(NATIVE_PASSWORD);
                    let scramble = reader.rest();
                    let scramble = scramble.strip_suffix(&[0]).unwrap_or(scramble);
                    let token =
                        auth::expected_token(plugin, password, scramble).ok_or_else(|| {
                            UpstreamError::Protocol(format!(
                            "the server asks for the {} authentication plugin; fastlb logs in with \
                             mysql_native_password or caching_sha2_password",
                            String::from_utf8_lossy(plugin)
                        ))
                        })?;
                    self.send_payload(&token, seq).await?;
                }
                Some(0x01) if payload.get(1) == Some(&SHA2_FAST_AUTH_OK) => {}
                Some(0x01) if payload.get(1) == Some(&SHA2_FULL_AUTH) && self.stream.is_tls() => {
                    // Over TLS the server takes the password itself (NUL-terminated).
                    let mut cleartext = password.to_vec();
                    cleartext.push(0);
                    self.send_payload(&cleartext, seq).await?;
                }
                Some(0x01) => {
                    return Err(UpstreamError::Protocol(
                        "caching_sha2_password wants full authentication, which needs TLS to \
                         the server (tls on the backend); or log in once with a TLS client so \
                         the server caches the password, or give the user \
                         mysql_native_password"
                            .into(),
                    ))
                }
                _ => return Err(UpstreamError::Protocol("unexpected reply to login".into())),
            }
        }
        Err(UpstreamError::Protocol(
            "too many authentication rounds".into(),
        ))
    }

    async fn send_payload(&mut self, payload: &[u8], seq: u8) -> Result<u8, UpstreamError> {
        let mut out = Vec::with_capacity(payload.len() + 4);
        let next = frame(&mut out, payload, seq);
        self.stream.write_all(&out).await?;
        Ok(next)
    }

    /// Sends a command packet exactly as the client framed it.
    pub async fn send_raw(&mut self, raw: &[u8]) -> std::io::Result<()> {
        self.in_flight = true;
        self.dirty = true;
        self.stream.write_all(raw).await
    }

    /// Sends a command of fastlb's own (sequence id 0). What it leaves on the connection
    /// is the caller's to note (`state`, `dirty`).
    pub async fn send_command(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.in_flight = true;
        let mut out = Vec::with_capacity(payload.len() + 4);
        frame(&mut out, payload, 0);
        self.stream.write_all(&out).await
    }

    /// Runs a statement of fastlb's own and drops its result.
    pub async fn query(&mut self, sql: &[u8]) -> Result<Outcome, UpstreamError> {
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(command::QUERY);
        payload.extend_from_slice(sql);
        self.run(&payload, Shape::Results).await
    }

    /// Runs a command of fastlb's own (a replayed SET, a reset...) and drops its reply of
    /// `shape`, noting its status flags.
    pub async fn run(&mut self, payload: &[u8], shape: Shape) -> Result<Outcome, UpstreamError> {
        self.send_command(payload).await?;
        let outcome = forward(
            &mut self.stream,
            None,
            shape,
            self.session_track,
            Rewrite::default(),
        )
        .await?;
        self.in_flight = false;
        self.note_status(&outcome);
        Ok(outcome)
    }

    /// Runs a statement of fastlb's own and returns the first value of its first row.
    pub async fn query_value(&mut self, sql: &[u8]) -> Result<Option<Vec<u8>>, UpstreamError> {
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(command::QUERY);
        payload.extend_from_slice(sql);
        self.send_command(&payload).await?;
        let head = self.stream.read_packet(SMALL_PACKET).await?;
        if let Some(0x00 | 0xff) = head.payload().first() {
            self.in_flight = false;
            refused_if_err(&head)?;
            return Ok(None);
        }
        let columns = Reader::new(head.payload()).lenenc_int().unwrap_or(0);
        for _ in 0..columns {
            self.stream.read_packet(SMALL_PACKET).await?;
        }
        self.stream.read_packet(SMALL_PACKET).await?; // EOF after the columns
        let mut value = None;
        loop {
            let row = self.stream.read_packet(SMALL_PACKET).await?;
            let payload = row.payload();
            if crate::mysql::protocol::packet::is_eof(payload) {
                self.status =
                    crate::mysql::protocol::packet::eof_status(payload).unwrap_or(self.status);
                self.in_flight = false;
                return Ok(value);
            }
            refused_if_err(&row)?;
            if value.is_none() && payload.first() != Some(&0xfb) {
                value = Reader::new(payload).lenenc_bytes().map(<[u8]>::to_vec);
            }
        }
    }

    /// A reset forgot its statements: a new serial, so that no session's map of statement
    /// ids (`prepared.rs`) names this connection's old ones.
    pub fn renew_serial(&mut self) {
        self.serial = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
        self.state.clear();
        self.last_insert_id = 0;
        self.prepared = 0;
    }

    pub fn note_status(&mut self, outcome: &Outcome) {
        if let Some(flags) = outcome.status {
            self.status = flags;
        }
    }

    pub fn in_transaction(&self) -> bool {
        self.status & status::IN_TRANS != 0
    }

    pub fn autocommit(&self) -> bool {
        self.status & status::AUTOCOMMIT != 0
    }

    /// Says goodbye (the server would otherwise count an aborted connection).
    pub async fn quit(mut self) {
        let _ = self.send_command(&[command::QUIT]).await;
    }
}

/// One greeting probe at a time: clients that arrive together before the version is known
/// (a pool's first burst) wait for the first one's answer instead of each opening a
/// connection to the server. Learning is rare (until it first succeeds), so one lock for
/// every backend is enough.
static LEARNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Reads a server's greeting only, to learn the version fastlb announces to clients (they
/// pick features and collations by it). Once per backend, before the first client is
/// greeted; the server sees one connection close before login.
pub async fn learn_server_version(backend: &Backend, timeout: Duration) {
    let _one_probe_at_a_time = LEARNING.lock().await;
    if backend.server_version().is_some() {
        return;
    }
    let servers = backend.servers();
    let primary_first = servers
        .iter()
        .filter(|s| s.role() == Some(Role::Primary))
        .chain(servers.iter())
        .filter(|s| s.accepts_new());
    for server in primary_first {
        let greeting = tokio::time::timeout(timeout, async {
            let io = TcpStream::connect(server.address).await.ok()?;
            let mut stream = PacketStream::new(io);
            let packet = stream.read_packet(SMALL_PACKET).await.ok()?;
            let greeting = handshake::parse_greeting(packet.payload())?;
            Some(greeting.version.to_vec())
        })
        .await;
        if let Ok(Some(version)) = greeting {
            backend.remember_server_version(&version);
            return;
        }
    }
}

/// An ERR packet as an error, anything else as Ok.
fn refused_if_err(packet: &Packet) -> Result<(), UpstreamError> {
    if packet.payload().first() == Some(&0xff) {
        let (_, message) = parse_err(packet.payload());
        return Err(UpstreamError::Refused {
            payload: packet.payload().to_vec(),
            message,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BackendConfig;
    use crate::mysql::topology::BackendTopology;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A server that greets each connection 100 ms after accepting it, counting them.
    async fn slow_greeter(accepted: Arc<AtomicU64>) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let greeting = handshake::build_greeting(b"10.11.0-test", 0, 1, &[7; 20]);
                    let mut framed = Vec::new();
                    crate::mysql::protocol::packet::frame(&mut framed, &greeting, 0);
                    let _ = socket.write_all(&framed).await;
                });
            }
        });
        address
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clients_arriving_together_probe_the_server_once() {
        let accepted = Arc::new(AtomicU64::new(0));
        let address = slow_greeter(accepted.clone()).await;
        let config: BackendConfig = serde_json::from_value(serde_json::json!({
            "name": "db",
            "servers": [{"name": "p", "address": address.to_string(), "role": "primary"}],
            "mysql": {"users": []},
        }))
        .unwrap();
        let extension = BackendTopology::for_backend(&config);
        let backend = Arc::new(Backend::new(&config, extension));
        let learners: Vec<_> = (0..8)
            .map(|_| {
                let backend = backend.clone();
                tokio::spawn(async move {
                    learn_server_version(&backend, Duration::from_secs(5)).await;
                })
            })
            .collect();
        for learner in learners {
            learner.await.unwrap();
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        let version = backend.server_version().unwrap();
        assert_eq!(version.as_slice(), b"10.11.0-test");
    }
}
