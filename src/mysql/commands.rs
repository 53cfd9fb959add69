//! The session's command loop: each client command read, routed and answered.

use super::classify::{classify, Classification, Kind, Route};
use super::login;
use super::packet::{command, error_code};
use super::prepared::{statement_id, with_statement_id, OnServer, Prepared};
use super::response::{Failure, Rewrite, Shape};
use super::route::{decide, Target};
use super::session::{Flow, Session, Unplaced, Which};
use super::stream::{Packet, ReadError};
use crate::stats::bump;

/// Prepared statements one session may hold (MySQL's default max_prepared_stmt_count is
/// 16382 for the whole server).
const MAX_PREPARED: usize = 16_382;

impl Session {
    /// Serves commands until the client quits, goes away or misbehaves.
    pub async fn run(mut self) {
        let limit = self.settings.config.max_packet_bytes;
        loop {
            let idle = self.frontend.idle_timeout();
            let packet = match tokio::time::timeout(idle, self.client.read_packet(limit)).await {
                Err(_) | Ok(Err(ReadError::Io(_))) => break,
                Ok(Err(ReadError::TooLarge(size))) => {
                    bump(&self.frontend.stats.mysql.protocol_errors);
                    let message = format!(
                        "Got a packet bigger than 'max_allowed_packet' bytes ({size} > {limit})"
                    );
                    self.send_error(error_code::PACKET_TOO_LARGE, b"08S01", &message, 1)
                        .await;
                    break;
                }
                Ok(Ok(packet)) => packet,
            };
            self.frontend
                .stats
                .traffic
                .add_in(packet.raw().len() as u64);
            match self.command(packet).await {
                Flow::Continue => {}
                Flow::Close => break,
            }
        }
        self.close().await;
    }

    async fn command(&mut self, packet: Packet) -> Flow {
        let seq = packet.next_seq;
        let Some(&code) = packet.payload().first() else {
            return self.malformed(seq).await;
        };
        match code {
            command::QUIT => Flow::Close,
            command::PING => self.send_ok(seq).await,
            command::QUERY => {
                let class = classify(&packet.payload()[1..]);
                self.statement(&packet, class).await
            }
            command::INIT_DB | command::SET_OPTION => {
                let class = Classification {
                    kind: Kind::SessionState,
                    route: Route::Primary,
                    pins_primary: false,
                    multi_statement: false,
                };
                self.statement(&packet, class).await
            }
            command::FIELD_LIST | command::STATISTICS => self.read_only_command(&packet).await,
            command::STMT_PREPARE => self.prepare(&packet).await,
            command::STMT_EXECUTE => self.execute(&packet).await,
            command::STMT_SEND_LONG_DATA => self.long_data(&packet),
            command::STMT_CLOSE => self.close_statement(&packet).await,
            command::STMT_RESET => self.reset_statement(&packet).await,
            command::STMT_FETCH => self.fetch(&packet).await,
            command::RESET_CONNECTION => self.reset_connection(seq).await,
            command::CHANGE_USER => self.change_user(&packet).await,
            other => {
                let message = format!("fastlb does not relay command 0x{other:02x}");
                self.send_error(error_code::UNKNOWN_COMMAND, b"08S01", &message, seq)
                    .await
            }
        }
    }

    async fn malformed(&mut self, seq: u8) -> Flow {
        bump(&self.frontend.stats.mysql.protocol_errors);
        self.send_error(error_code::MALFORMED, b"08S01", "Malformed packet", seq)
            .await;
        Flow::Close
    }

    /// COM_QUERY, COM_INIT_DB, COM_SET_OPTION: route, run, note state changes.
    async fn statement(&mut self, packet: &Packet, class: Classification) -> Flow {
        let seq = packet.next_seq;
        let text = &packet.payload()[1..];
        let is_query = packet.payload()[0] == command::QUERY;
        let rule = if is_query {
            self.settings.rule_route(text)
        } else {
            None
        };
        let target = decide(self.view(), class, rule);
        if class.pins_primary {
            self.pin();
        }
        let shape = if is_query {
            Shape::Results
        } else {
            Shape::Single
        };
        // A read outside a transaction that lost its replica before any answer came back
        // is safe to run again elsewhere (a replica that just died is the usual case).
        let retryable = class.kind == Kind::Read && self.view().open_transaction.is_none();
        let mut attempts = if retryable { 2 } else { 1 };
        loop {
            attempts -= 1;
            let which = match self.place(target, Session::reads_only(class.kind)).await {
                Ok(which) => which,
                Err(unplaced) => return self.unplaced(unplaced, seq).await,
            };
            if let Err(error) = self.catch_up(which).await {
                return self.catch_up_failed(which, error, seq).await;
            }
            let sent = match self.upstream(which) {
                Some(upstream) => upstream.send_raw(packet.raw()).await,
                None => return Flow::Close,
            };
            self.count_in(which, packet.raw().len());
            let result = match sent {
                Ok(()) => self.relay_response(which, shape, Rewrite::default()).await,
                Err(error) => Err(Failure::unsent(error)),
            };
            match result {
                Ok(outcome) => {
                    let changes_state = !is_query || class.kind == Kind::SessionState;
                    if changes_state && outcome.error.is_none() {
                        self.record_state(packet.payload(), which);
                    }
                    return Flow::Continue;
                }
                Err(failure)
                    if attempts > 0
                        && which == Which::Replica
                        && !self.pinned
                        && !failure.forwarded
                        && matches!(failure.error, super::response::ForwardError::Server(_)) =>
                {
                    bump(&self.frontend.stats.mysql.server_errors);
                    self.drop_upstream(which).await;
                }
                Err(failure) => return self.server_failed(which, failure, seq).await,
            }
        }
    }

    /// COM_FIELD_LIST and COM_STATISTICS: answered by any server, a replica preferably.
    async fn read_only_command(&mut self, packet: &Packet) -> Flow {
        let seq = packet.next_seq;
        let target = self.view().open_transaction.unwrap_or(Target::Replica);
        let which = match self.place(target, true).await {
            Ok(which) => which,
            Err(unplaced) => return self.unplaced(unplaced, seq).await,
        };
        if let Err(error) = self.catch_up(which).await {
            return self.catch_up_failed(which, error, seq).await;
        }
        let shape = if packet.payload()[0] == command::FIELD_LIST {
            Shape::UntilEof
        } else {
            Shape::Single
        };
        self.send_and_relay(which, packet.raw(), shape, Rewrite::default(), seq)
            .await
    }

    async fn send_and_relay(
        &mut self,
        which: Which,
        raw: &[u8],
        shape: Shape,
        rewrite: Rewrite,
        seq: u8,
    ) -> Flow {
        let Some(upstream) = self.upstream(which) else {
            return Flow::Close;
        };
        if let Err(error) = upstream.send_raw(raw).await {
            return self.server_failed(which, Failure::unsent(error), seq).await;
        }
        self.count_in(which, raw.len());
        match self.relay_response(which, shape, rewrite).await {
            Ok(_) => Flow::Continue,
            Err(failure) => self.server_failed(which, failure, seq).await,
        }
    }

    fn count_in(&mut self, which: Which, bytes: usize) {
        if let Some(upstream) = self.upstream(which) {
            upstream.server.stats.traffic.add_in(bytes as u64);
        }
    }

    async fn catch_up_failed(
        &mut self,
        which: Which,
        error: super::upstream::UpstreamError,
        seq: u8,
    ) -> Flow {
        self.drop_upstream(which).await;
        match error {
            super::upstream::UpstreamError::Refused { payload, .. } => {
                self.send_payload(&payload, seq).await
            }
            other => {
                let message = format!("fastlb: server connection failed: {other}");
                self.send_error(error_code::SERVER_LOST, b"HY000", &message, seq)
                    .await
            }
        }
    }

    /// COM_STMT_PREPARE: prepared where the statement would run now; the client gets
    /// fastlb's id for it.
    async fn prepare(&mut self, packet: &Packet) -> Flow {
        let seq = packet.next_seq;
        if self.statements.len() >= MAX_PREPARED {
            let message = format!(
                "Can't create more than max_prepared_stmt_count statements \
                 (current value: {MAX_PREPARED})"
            );
            return self
                .send_error(error_code::TOO_MANY_STATEMENTS, b"42000", &message, seq)
                .await;
        }
        let sql = packet.payload()[1..].to_vec();
        let class = classify(&sql);
        let target = decide(self.view(), class, self.settings.rule_route(&sql));
        let which = match self.place(target, Session::reads_only(class.kind)).await {
            Ok(which) => which,
            Err(unplaced) => return self.unplaced(unplaced, seq).await,
        };
        if let Err(error) = self.catch_up(which).await {
            return self.catch_up_failed(which, error, seq).await;
        }
        let id = self.statements.next_id();
        let rewrite = Rewrite {
            statement_id: Some(id),
            ..Rewrite::default()
        };
        let Some(upstream) = self.upstream(which) else {
            return Flow::Close;
        };
        let serial = upstream.serial;
        if let Err(error) = upstream.send_raw(packet.raw()).await {
            return self.server_failed(which, Failure::unsent(error), seq).await;
        }
        match self.relay_response(which, Shape::Prepare, rewrite).await {
            Ok(outcome) => {
                if let Some(prepared) = outcome.prepared {
                    let mut statement = Prepared::new(sql, class, prepared.params);
                    statement.on.push(OnServer {
                        serial,
                        id: prepared.statement_id,
                        types_sent: false,
                    });
                    self.statements.insert(id, statement);
                }
                Flow::Continue
            }
            Err(failure) => self.server_failed(which, failure, seq).await,
        }
    }

    /// COM_STMT_EXECUTE: routed like the statement's text; prepared on the chosen
    /// connection first if it hasn't been there.
    async fn execute(&mut self, packet: &Packet) -> Flow {
        let seq = packet.next_seq;
        let Some(id) = statement_id(packet.payload()) else {
            return self.malformed(seq).await;
        };
        let Some(statement) = self.statements.get_mut(id) else {
            return self.unknown_statement(id, "mysqld_stmt_execute", seq).await;
        };
        let class = statement.class;
        let rule = self.settings.rule_route(&statement.sql);
        let target = decide(self.view(), class, rule);
        if class.pins_primary {
            self.pin();
        }
        let which = match self.place(target, Session::reads_only(class.kind)).await {
            Ok(which) => which,
            Err(unplaced) => return self.unplaced(unplaced, seq).await,
        };
        if let Err(error) = self.catch_up(which).await {
            return self.catch_up_failed(which, error, seq).await;
        }
        let serial = match self.prepare_on(id, which, seq).await {
            Ok(serial) => serial,
            Err(flow) => return flow,
        };
        let Some(statement) = self.statements.get_mut(id) else {
            return Flow::Close;
        };
        let mut out = Vec::new();
        for long_data in std::mem::take(&mut statement.long_data) {
            if let Some(payload) = statement
                .on_server(serial)
                .and_then(|on| with_statement_id(&long_data, on.id))
            {
                super::packet::frame(&mut out, &payload, 0);
            }
        }
        statement.long_data_bytes = 0;
        let Some(payload) = statement.execute_payload(packet.payload(), serial) else {
            return self.malformed(seq).await;
        };
        statement.executed_on = Some(serial);
        super::packet::frame(&mut out, &payload, 0);
        self.send_and_relay(which, &out, Shape::Results, Rewrite::default(), seq)
            .await
    }

    /// Prepares statement `id` on the connection `which` unless it is there already;
    /// returns that connection's serial.
    async fn prepare_on(&mut self, id: u32, which: Which, seq: u8) -> Result<u64, Flow> {
        let Some(upstream) = (match which {
            Which::Primary => self.primary.as_mut(),
            Which::Replica => self.replica.as_mut(),
        }) else {
            return Err(Flow::Close);
        };
        let serial = upstream.serial;
        let Some(statement) = self.statements.get_mut(id) else {
            return Err(Flow::Close);
        };
        if statement.on_server(serial).is_some() {
            return Ok(serial);
        }
        let mut payload = vec![command::STMT_PREPARE];
        payload.extend_from_slice(&statement.sql);
        let prepared = async {
            upstream.send_command(&payload).await.ok()?;
            let session_track = upstream.session_track;
            super::response::forward(
                &mut upstream.stream,
                None,
                Shape::Prepare,
                session_track,
                Rewrite::default(),
            )
            .await
            .ok()
        }
        .await;
        match prepared {
            Some(outcome) => match (outcome.prepared, outcome.error) {
                (Some(prepared), _) => {
                    statement.on.push(OnServer {
                        serial,
                        id: prepared.statement_id,
                        types_sent: false,
                    });
                    Ok(serial)
                }
                // The server refused the statement (a table dropped since, say): an SQL
                // error for this execution; the connection is fine.
                (None, code) => {
                    let message = "fastlb: preparing the statement on this server failed";
                    let code = code.unwrap_or(error_code::UNKNOWN_STATEMENT);
                    Err(self.send_error(code, b"HY000", message, seq).await)
                }
            },
            None => {
                let failure = super::response::Failure {
                    error: super::response::ForwardError::Protocol("re-prepare failed"),
                    forwarded: false,
                };
                Err(self.server_failed(which, failure, seq).await)
            }
        }
    }

    async fn unknown_statement(&mut self, id: u32, what: &str, seq: u8) -> Flow {
        let message = format!("Unknown prepared statement handler ({id}) given to {what}");
        self.send_error(error_code::UNKNOWN_STATEMENT, b"HY000", &message, seq)
            .await
    }

    /// COM_STMT_SEND_LONG_DATA has no reply: the data waits for the execution.
    fn long_data(&mut self, packet: &Packet) -> Flow {
        let limit = self.settings.config.max_packet_bytes;
        let Some(statement) =
            statement_id(packet.payload()).and_then(|id| self.statements.get_mut(id))
        else {
            return Flow::Continue;
        };
        statement.long_data_bytes += packet.payload().len();
        if statement.long_data_bytes > limit {
            bump(&self.frontend.stats.mysql.protocol_errors);
            return Flow::Close;
        }
        statement.long_data.push(packet.payload().to_vec());
        Flow::Continue
    }

    /// COM_STMT_CLOSE has no reply: closed on every connection that prepared it.
    async fn close_statement(&mut self, packet: &Packet) -> Flow {
        let Some(statement) =
            statement_id(packet.payload()).and_then(|id| self.statements.remove(id))
        else {
            return Flow::Continue;
        };
        for on in statement.on {
            let Some(which) = self.which_serial(on.serial) else {
                continue;
            };
            let Some(payload) = with_statement_id(packet.payload(), on.id) else {
                continue;
            };
            if let Some(upstream) = self.upstream(which) {
                if upstream.send_command(&payload).await.is_err() {
                    self.drop_upstream(which).await;
                }
            }
        }
        Flow::Continue
    }

    /// COM_STMT_RESET: reset wherever the statement is prepared; one OK for the client.
    async fn reset_statement(&mut self, packet: &Packet) -> Flow {
        let seq = packet.next_seq;
        let Some(id) = statement_id(packet.payload()) else {
            return self.malformed(seq).await;
        };
        let Some(statement) = self.statements.get_mut(id) else {
            return self.unknown_statement(id, "mysqld_stmt_reset", seq).await;
        };
        statement.long_data.clear();
        statement.long_data_bytes = 0;
        let targets: Vec<OnServer> = statement.on.clone();
        for on in targets {
            let Some(which) = self.which_serial(on.serial) else {
                continue;
            };
            let Some(payload) = with_statement_id(packet.payload(), on.id) else {
                continue;
            };
            let Some(upstream) = self.upstream(which) else {
                continue;
            };
            let session_track = upstream.session_track;
            let done = async {
                upstream.send_command(&payload).await.ok()?;
                super::response::forward(
                    &mut upstream.stream,
                    None,
                    Shape::Single,
                    session_track,
                    Rewrite::default(),
                )
                .await
                .ok()
            }
            .await;
            if done.is_none() {
                self.drop_upstream(which).await;
            }
        }
        self.send_ok(seq).await
    }

    /// COM_STMT_FETCH: rows of an open cursor, from the connection that opened it.
    async fn fetch(&mut self, packet: &Packet) -> Flow {
        let seq = packet.next_seq;
        let Some(id) = statement_id(packet.payload()) else {
            return self.malformed(seq).await;
        };
        let placed = self.statements.get_mut(id).and_then(|s| {
            let serial = s.executed_on?;
            Some((serial, s.on_server(serial)?.id))
        });
        let Some((serial, server_id)) = placed else {
            return self.unknown_statement(id, "mysqld_stmt_fetch", seq).await;
        };
        let (Some(which), Some(payload)) = (
            self.which_serial(serial),
            with_statement_id(packet.payload(), server_id),
        ) else {
            return self.unknown_statement(id, "mysqld_stmt_fetch", seq).await;
        };
        let mut out = Vec::new();
        super::packet::frame(&mut out, &payload, 0);
        self.send_and_relay(which, &out, Shape::UntilEof, Rewrite::default(), seq)
            .await
    }

    /// COM_RESET_CONNECTION: every connection reset, the session's state forgotten.
    async fn reset_connection(&mut self, seq: u8) -> Flow {
        for which in [Which::Primary, Which::Replica] {
            let Some(upstream) = self.upstream(which) else {
                continue;
            };
            let session_track = upstream.session_track;
            let done = async {
                upstream
                    .send_command(&[command::RESET_CONNECTION])
                    .await
                    .ok()?;
                let outcome = super::response::forward(
                    &mut upstream.stream,
                    None,
                    Shape::Single,
                    session_track,
                    Rewrite::default(),
                )
                .await
                .ok()?;
                upstream.note_status(&outcome);
                upstream.applied = 0;
                upstream.caught_up_to = None;
                outcome.error.is_none().then_some(())?;
                if session_track {
                    upstream.track_gtid().await.ok()?;
                }
                Some(())
            }
            .await;
            if done.is_none() {
                self.drop_upstream(which).await;
            }
        }
        self.forget_session_state();
        self.send_ok(seq).await
    }

    fn forget_session_state(&mut self) {
        self.state.clear();
        self.state_overflowed = false;
        self.statements.clear();
        self.unpin();
        self.last_gtid = None;
        self.autocommit = true;
    }

    /// COM_CHANGE_USER: the new user authenticates with fastlb, and the session starts
    /// over with new server connections.
    async fn change_user(&mut self, packet: &Packet) -> Flow {
        let seq = packet.next_seq;
        let Some(request) = super::handshake::parse_change_user(packet.payload()) else {
            return self.malformed(seq).await;
        };
        let user_name = request.user.to_vec();
        let database = request.database.map(<[u8]>::to_vec);
        let collation = request.collation;
        let (user, seq) =
            match login::change_user(&mut self.client, &self.settings, &user_name, seq).await {
                Ok(done) => done,
                Err(_) => {
                    bump(&self.frontend.stats.mysql.auth_failures);
                    return Flow::Close;
                }
            };
        self.drop_upstream(Which::Replica).await;
        self.drop_upstream(Which::Primary).await;
        self.forget_session_state();
        self.user = user;
        self.database = database;
        if let Some(collation) = collation {
            self.collation = collation;
        }
        match self.open_first_connection().await {
            Ok(()) => self.send_ok(seq).await,
            Err(unplaced) => {
                self.unplaced(unplaced, seq).await;
                Flow::Close
            }
        }
    }

    /// At login: a connection to the primary (a replica if there is none and the policy
    /// lets reads go on), so that a bad database or a refused user shows at once.
    pub async fn open_first_connection(&mut self) -> Result<(), Unplaced> {
        match self.ensure_primary().await {
            Ok(()) => Ok(()),
            Err(Unplaced::NoPrimary)
                if self.settings.config.primary_failure
                    != super::config::PrimaryFailure::FailInstantly =>
            {
                self.ensure_replica().await
            }
            Err(error) => Err(error),
        }
    }
}
