//! The session end to end in plain `cargo test`: a real engine with a `mode: mysql` frontend
//! in front of two scripted MySQL servers (primary = 1, replica = 2), driven by a scripted
//! client, all on loopback sockets.
//!
//! The packets are built with the protocol module's own encoders (greeting, handshake
//! response, OK/ERR) and the wire formats of the MySQL client/server protocol (COM_STMT_*
//! replies), not captured from MariaDB: the MariaDB suites (tests/integration) check the
//! same paths against real servers. Loopback sockets rather than `tokio::io::duplex`: the
//! session's transport is a `TcpStream` (TLS upgrades happen on the socket), and loopback
//! costs the same few milliseconds. Every OK a scripted server sends carries its number in
//! `affected_rows`, so the client sees which server answered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::config::CoreConfig;
use crate::mysql::protocol::auth::{native_password_token, NATIVE_PASSWORD};
use crate::mysql::protocol::handshake::{
    build_greeting, build_handshake_response, parse_greeting, parse_handshake_response,
    HandshakeResponse, OFFERED,
};
use crate::mysql::protocol::packet::{capability as cap, command, err_payload, frame, status};
use crate::proxy::Engine;

const USER: &str = "app";
pub(super) const PASSWORD: &str = "secret";
const PRIMARY: u8 = 1;
const REPLICA: u8 = 2;
/// A database the scripted servers refuse (their ERR must reach the client at login).
const FORBIDDEN_DB: &str = "forbidden";

/// What a scripted server received: (its connection number, the payload); connection 0
/// stands for the logins (their HandshakeResponse).
pub(super) type Log = Arc<Mutex<Vec<(usize, Vec<u8>)>>>;

async fn read_packet(stream: &mut TcpStream) -> Option<(Vec<u8>, u8)> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.ok()?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload).await.ok()?;
    Some((payload, header[3].wrapping_add(1)))
}

async fn send(stream: &mut TcpStream, payload: &[u8], seq: u8) {
    let mut out = Vec::new();
    frame(&mut out, payload, seq);
    stream.write_all(&out).await.unwrap();
}

/// An OK packet: `affected_rows` = the server's number, `last_insert_id` = `extra`.
fn ok(server: u8, extra: u8, in_transaction: bool) -> Vec<u8> {
    let mut flags = status::AUTOCOMMIT;
    if in_transaction {
        flags |= status::IN_TRANS;
    }
    let mut out = vec![0x00, server, extra];
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// A scripted MySQL server: checks the login (mysql_native_password against PASSWORD),
/// then answers every command as the module docs say, logging each one.
async fn scripted_server(number: u8) -> (SocketAddr, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let shared = log.clone();
    tokio::spawn(async move {
        for connection in 1.. {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve_connection(socket, number, connection, shared.clone()));
        }
    });
    (address, log)
}

async fn serve_connection(mut socket: TcpStream, number: u8, connection: usize, log: Log) {
    let scramble = [7u8; 20];
    let greeting = build_greeting(b"10.11.6-MariaDB-scripted", OFFERED, 100, &scramble);
    send(&mut socket, &greeting, 0).await;
    let Some((payload, seq)) = read_packet(&mut socket).await else {
        return;
    };
    let response = parse_handshake_response(&payload).unwrap();
    let token = native_password_token(PASSWORD.as_bytes(), &scramble);
    let refused = response.user != USER.as_bytes()
        || response.auth != token.as_slice()
        || response.database == Some(FORBIDDEN_DB.as_bytes());
    if refused {
        let message = format!("Access denied for user '{USER}' to database '{FORBIDDEN_DB}'");
        return send(&mut socket, &err_payload(1044, b"42000", &message), seq).await;
    }
    log.lock().unwrap().push((0, payload.clone()));
    send(&mut socket, &ok(number, 0, false), seq).await;
    let mut in_transaction = false;
    while let Some((payload, seq)) = read_packet(&mut socket).await {
        log.lock().unwrap().push((connection, payload.clone()));
        let text = String::from_utf8_lossy(&payload[1..]).to_ascii_uppercase();
        let answer = match payload[0] {
            command::QUIT => return,
            command::STMT_CLOSE => continue,
            command::QUERY if text.contains("MISSING") => {
                err_payload(1146, b"42S02", "Table 'app.missing' doesn't exist")
            }
            command::QUERY if text.starts_with("BEGIN") => {
                in_transaction = true;
                ok(number, 0, true)
            }
            command::QUERY if text.starts_with("COMMIT") => {
                in_transaction = false;
                ok(number, 0, false)
            }
            // COM_STMT_PREPARE_OK: this server's statement id 100 + its number, no columns,
            // no parameters.
            command::STMT_PREPARE => {
                let mut out = vec![0x00];
                out.extend_from_slice(&(100 + u32::from(number)).to_le_bytes());
                out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0]);
                out
            }
            // The statement id the execution named, as `last_insert_id`.
            command::STMT_EXECUTE => ok(number, payload[1], in_transaction),
            _ => ok(number, 0, in_transaction),
        };
        send(&mut socket, &answer, seq).await;
    }
}

/// The engine in front of the two scripted servers, and the runtime they and the client
/// run on (the engine has its own worker threads and must start outside of a runtime).
pub(super) struct Harness {
    pub(super) runtime: tokio::runtime::Runtime,
    engine: Engine,
    pub(super) address: SocketAddr,
    pub(super) primary_log: Log,
    pub(super) replica_log: Log,
}

impl Harness {
    fn start() -> Harness {
        Harness::start_with("")
    }

    /// With `mysql_extra` added to the backend's `mysql` section (`, "pool": {...}`).
    pub(super) fn start_with(mysql_extra: &str) -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (primary, primary_log) = runtime.block_on(scripted_server(PRIMARY));
        let (replica, replica_log) = runtime.block_on(scripted_server(REPLICA));
        let json = format!(
            r#"{{"workers": 1,
                "frontends": [{{"name": "sql", "listen": "127.0.0.1:0", "backend": "db",
                                "mode": "mysql", "idle_timeout_ms": 10000}}],
                "backends": [{{"name": "db", "connect_timeout_ms": 1000,
                    "mysql": {{"users": [{{"user": "{USER}", "password": "{PASSWORD}"}}],
                              "server_version": "10.11.6-MariaDB"{mysql_extra}}},
                    "servers": [
                        {{"name": "primary", "address": "{primary}", "role": "primary"}},
                        {{"name": "replica", "address": "{replica}", "role": "replica"}}]}}]}}"#
        );
        let engine = Engine::new(CoreConfig::from_json(&json).unwrap()).unwrap();
        engine.start().unwrap();
        let address = engine.listen_addresses()[0].1;
        Harness {
            runtime,
            engine,
            address,
            primary_log,
            replica_log,
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.engine.stop(Duration::from_secs(1));
    }
}

/// A client session through the proxy.
pub(super) struct Client {
    stream: TcpStream,
}

impl Client {
    /// Logs in as USER with `password`, into `database`; the proxy's answer (OK or ERR).
    pub(super) async fn log_in(
        address: SocketAddr,
        password: &str,
        database: &str,
    ) -> (Client, Vec<u8>) {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let (greeting, seq) = read_packet(&mut stream).await.unwrap();
        let greeting = parse_greeting(&greeting).unwrap();
        let token = native_password_token(password.as_bytes(), &greeting.scramble);
        let response = HandshakeResponse {
            capabilities: cap::PROTOCOL_41
                | cap::SECURE_CONNECTION
                | cap::TRANSACTIONS
                | cap::PLUGIN_AUTH
                | cap::CONNECT_WITH_DB,
            collation: 45,
            user: USER.as_bytes(),
            auth: &token,
            database: Some(database.as_bytes()),
            plugin: Some(NATIVE_PASSWORD),
        };
        send(&mut stream, &build_handshake_response(&response), seq).await;
        let (answer, _) = read_packet(&mut stream).await.unwrap();
        (Client { stream }, answer)
    }

    pub(super) async fn command(&mut self, payload: &[u8]) -> Vec<u8> {
        send(&mut self.stream, payload, 0).await;
        read_packet(&mut self.stream).await.unwrap().0
    }

    /// Runs `sql`; the OK's `affected_rows`: the server that answered.
    async fn server_of(&mut self, sql: &str) -> u8 {
        let answer = self.query(sql).await;
        assert_eq!(answer[0], 0x00, "not an OK: {answer:?}");
        answer[1]
    }

    pub(super) async fn query(&mut self, sql: &str) -> Vec<u8> {
        let mut payload = vec![command::QUERY];
        payload.extend_from_slice(sql.as_bytes());
        self.command(&payload).await
    }
}

pub(super) fn commands(log: &Log) -> Vec<(usize, Vec<u8>)> {
    let log = log.lock().unwrap();
    log.iter()
        .filter(|(connection, _)| *connection != 0)
        .cloned()
        .collect()
}

pub(super) fn logins(log: &Log) -> Vec<Vec<u8>> {
    let log = log.lock().unwrap();
    log.iter()
        .filter(|(connection, _)| *connection == 0)
        .map(|(_, payload)| payload.clone())
        .collect()
}

fn queries(log: &Log) -> Vec<String> {
    commands(log)
        .into_iter()
        .filter(|(_, payload)| payload[0] == command::QUERY)
        .map(|(_, payload)| String::from_utf8_lossy(&payload[1..]).into_owned())
        .collect()
}

#[test]
fn the_login_is_checked_by_fastlb_and_passed_on_to_the_primary() {
    let harness = Harness::start();
    let address = harness.address;
    let primary_log = &harness.primary_log;
    harness.runtime.block_on(async {
        let (_client, answer) = Client::log_in(address, PASSWORD, "shop").await;
        assert_eq!(answer[0], 0x00, "login refused: {answer:?}");
        // The primary saw the same user and database, with fastlb's own token for its scramble.
        let first = logins(primary_log).remove(0);
        let login = parse_handshake_response(&first).unwrap();
        assert_eq!(
            (login.user, login.database),
            (USER.as_bytes(), Some(&b"shop"[..]))
        );

        let (_, wrong) = Client::log_in(address, "wrong", "shop").await;
        assert_eq!((wrong[0], &wrong[1..3]), (0xff, &1045u16.to_le_bytes()[..]));
        // A server's refusal reaches the client as the server sent it.
        let (_, refused) = Client::log_in(address, PASSWORD, FORBIDDEN_DB).await;
        assert_eq!(
            (refused[0], &refused[1..3]),
            (0xff, &1044u16.to_le_bytes()[..])
        );
        assert!(String::from_utf8_lossy(&refused).contains("to database 'forbidden'"));
    });
}

#[test]
fn reads_go_to_the_replica_writes_and_transactions_to_the_primary() {
    let harness = Harness::start();
    let address = harness.address;
    let primary_log = &harness.primary_log;
    let replica_log = &harness.replica_log;
    harness.runtime.block_on(async {
        let (mut client, _) = Client::log_in(address, PASSWORD, "shop").await;
        assert_eq!(client.server_of("SELECT 1").await, REPLICA);
        assert_eq!(client.server_of("INSERT INTO t VALUES (1)").await, PRIMARY);
        assert_eq!(client.server_of("BEGIN").await, PRIMARY);
        // Inside the transaction (the primary's status says so), reads stay on the primary.
        assert_eq!(client.server_of("SELECT 2").await, PRIMARY);
        assert_eq!(client.server_of("COMMIT").await, PRIMARY);
        assert_eq!(client.server_of("SELECT 3").await, REPLICA);
        assert_eq!(
            queries(primary_log),
            ["INSERT INTO t VALUES (1)", "BEGIN", "SELECT 2", "COMMIT"]
        );
        assert_eq!(queries(replica_log), ["SELECT 1", "SELECT 3"]);
    });
}

#[test]
fn session_state_is_replayed_on_a_replica_connection_opened_later() {
    let harness = Harness::start();
    let address = harness.address;
    let primary_log = &harness.primary_log;
    let replica_log = &harness.replica_log;
    harness.runtime.block_on(async {
        let (mut client, _) = Client::log_in(address, PASSWORD, "shop").await;
        assert_eq!(client.server_of("SET NAMES utf8mb4").await, PRIMARY);
        assert_eq!(client.server_of("SET time_zone = '+05:00'").await, PRIMARY);
        assert_eq!(client.server_of("SELECT 1").await, REPLICA);
        // The replica's connection was opened for the read: the state came first, in order.
        assert_eq!(
            queries(replica_log),
            ["SET NAMES utf8mb4", "SET time_zone = '+05:00'", "SELECT 1"]
        );
        assert_eq!(
            queries(primary_log),
            ["SET NAMES utf8mb4", "SET time_zone = '+05:00'"]
        );
    });
}

#[test]
fn a_prepared_statement_runs_with_each_servers_own_id() {
    let harness = Harness::start();
    let address = harness.address;
    let primary_log = &harness.primary_log;
    let replica_log = &harness.replica_log;
    harness.runtime.block_on(async {
        let (mut client, _) = Client::log_in(address, PASSWORD, "shop").await;
        let mut prepare = vec![command::STMT_PREPARE];
        prepare.extend_from_slice(b"SELECT 1");
        let prepared = client.command(&prepare).await;
        assert_eq!(prepared[0], 0x00);
        let id = u32::from_le_bytes(prepared[1..5].try_into().unwrap());
        assert!(
            id < 100,
            "the client got a server's id ({id}), not fastlb's"
        );
        let mut execute = vec![command::STMT_EXECUTE];
        execute.extend_from_slice(&id.to_le_bytes());
        execute.extend_from_slice(&[0, 1, 0, 0, 0]);
        // A read: prepared and executed on the replica, with the replica's id (102).
        let answer = client.command(&execute).await;
        assert_eq!((answer[1], answer[2]), (REPLICA, 102));
        // In a transaction on the primary, which hasn't seen it: prepared there first (101).
        assert_eq!(client.server_of("BEGIN").await, PRIMARY);
        let answer = client.command(&execute).await;
        assert_eq!((answer[1], answer[2]), (PRIMARY, 101));
        let kinds = |log: &Log| -> Vec<u8> { commands(log).iter().map(|(_, p)| p[0]).collect() };
        assert_eq!(
            kinds(replica_log),
            [command::STMT_PREPARE, command::STMT_EXECUTE]
        );
        assert_eq!(
            kinds(primary_log),
            [command::QUERY, command::STMT_PREPARE, command::STMT_EXECUTE]
        );
    });
}

#[test]
fn a_servers_error_reaches_the_client_and_the_session_goes_on() {
    let harness = Harness::start();
    let address = harness.address;
    harness.runtime.block_on(async {
        let (mut client, _) = Client::log_in(address, PASSWORD, "shop").await;
        let error = client.query("SELECT * FROM missing").await;
        assert_eq!((error[0], &error[1..3]), (0xff, &1146u16.to_le_bytes()[..]));
        assert!(String::from_utf8_lossy(&error).ends_with("Table 'app.missing' doesn't exist"));
        assert_eq!(client.server_of("SELECT 1").await, REPLICA);
    });
}
