//! The session's command loop: each client command read, routed and answered.

use super::response::{Failure, Rewrite, Shape};
use super::route::decide;
use super::upstream::UpstreamError;
use super::{Flow, Session, Unplaced};
use crate::mysql::classify::{classify, intercept, Classification, Intercept, Kind};
use crate::mysql::digest::Sample;
use crate::mysql::protocol::login;
use crate::mysql::protocol::packet::{command, error_code};
use crate::mysql::protocol::stream::{Packet, ReadError};
use crate::mysql::Role;
use crate::stats::bump;

impl Session {
    /// Serves commands until the client quits, goes away or misbehaves.
    pub async fn run(mut self) {
        let limit = self.settings.config.max_packet_bytes;
        let handle = self.registration.0.clone();
        loop {
            // With multiplexing, the connections go back to the pool while the client
            // thinks (after a short hold).
            self.idle_between_commands().await;
            let idle = self.frontend.idle_timeout();
            let read = tokio::select! {
                biased;
                () = handle.killed() => break,
                read = tokio::time::timeout(idle, self.client.read_packet(limit)) => read,
            };
            let packet = match read {
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
            let seq = packet.next_seq;
            // KILL from another session ends this one even while a statement runs (the
            // killer stops that statement on its server).
            let flow = tokio::select! {
                biased;
                () = handle.killed() => {
                    self.send_error(error_code::CONNECTION_KILLED, b"70100", "Connection was killed", seq)
                        .await;
                    Flow::Close
                }
                flow = self.command(packet) => flow,
            };
            if let Flow::Close = flow {
                break;
            }
            self.release_excess_buffers();
        }
        self.close().await;
    }

    async fn command(&mut self, packet: Packet) -> Flow {
        let seq = packet.next_seq;
        let Some(&code) = packet.payload().first() else {
            return self.malformed(seq).await;
        };
        self.state.command_started();
        match code {
            command::QUIT => Flow::Close,
            command::PING => self.send_ok(seq).await,
            command::QUERY => match intercept(&packet.payload()[1..]) {
                Intercept::No => {
                    let class = classify(&packet.payload()[1..]);
                    self.statement(&packet, class).await
                }
                Intercept::Kill { id, query } => self.kill(id, query, seq).await,
                Intercept::Refused(why) => {
                    self.send_error(error_code::NOT_SUPPORTED_YET, b"42000", why, seq)
                        .await
                }
                Intercept::ConnectionId { alias } => self.answer_connection_id(alias, seq).await,
                Intercept::SslStatus { pattern } => self.answer_ssl_status(pattern, seq).await,
            },
            command::PROCESS_KILL => match packet.payload().get(1..5) {
                Some(id) => {
                    let id = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
                    self.kill(u64::from(id), false, seq).await
                }
                None => self.malformed(seq).await,
            },
            command::INIT_DB | command::SET_OPTION => {
                let class = Classification {
                    kind: Kind::SessionState,
                    route: Role::Primary,
                    pins_primary: false,
                    multi_statement: false,
                };
                self.statement(&packet, class).await
            }
            command::FIELD_LIST | command::STATISTICS => self.read_only_command(&packet).await,
            command::STMT_PREPARE => match intercept(&packet.payload()[1..]) {
                Intercept::Kill { .. } | Intercept::Refused(_) => {
                    let why = "fastlb runs KILL only as a text statement (COM_QUERY)";
                    self.send_error(error_code::NOT_SUPPORTED_YET, b"42000", why, seq)
                        .await
                }
                _ => self.prepare(&packet).await,
            },
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

    pub(super) async fn malformed(&mut self, seq: u8) -> Flow {
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
        if is_query {
            self.release_kept_if_wanted(text).await;
        }
        let target = decide(self.view(), class, rule);
        if class.pins_primary {
            self.pin(super::pin_reason::pin_reason(text));
        } else if class.kind == Kind::Call && self.multiplexing() {
            // A procedure may leave anything on its connection (temporary tables,
            // variables, locks): with multiplexing the session keeps its connection.
            self.pin(crate::mysql::stats::PinReason::Call);
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
        let started = std::time::Instant::now();
        loop {
            attempts -= 1;
            let which = match self
                .ready(target, Session::reads_only(class.kind), seq)
                .await
            {
                Ok(which) => which,
                Err(flow) => return flow,
            };
            let Some(upstream) = self.upstream(which) else {
                return Flow::Close;
            };
            let was_dirty = upstream.dirty;
            let sent = upstream.send_raw(packet.raw()).await;
            self.count_in(which, packet.raw().len());
            let result = match sent {
                Ok(()) => self.relay_response(which, shape, Rewrite::default()).await,
                Err(error) => Err(Failure::unsent(error)),
            };
            match result {
                Ok(outcome) => {
                    if is_query {
                        self.frontend.stats.mysql.digests.record(
                            &self.settings.config.digests,
                            text,
                            &Sample {
                                latency: started.elapsed(),
                                error: outcome.error.is_some(),
                                rows: outcome.rows,
                                route: which,
                            },
                        );
                    }
                    // A pooled connection that ran only replica-safe reads (no side effect,
                    // nothing bound to the connection) goes back to its pool without a reset.
                    let plain_read = is_query
                        && class.kind == Kind::Read
                        && class.route == Role::Replica
                        && !class.pins_primary
                        && !class.multi_statement
                        && outcome.error.is_none()
                        && outcome.warnings == 0;
                    if plain_read && !was_dirty {
                        if let Some(upstream) = self.upstream(which) {
                            upstream.dirty = false;
                        }
                    }
                    let changes_state = !is_query || class.kind == Kind::SessionState;
                    if changes_state && outcome.error.is_none() {
                        self.record_state(packet.payload(), which);
                    }
                    self.after_command(which, was_dirty, Some(class), Some(text), &outcome);
                    return Flow::Continue;
                }
                Err(failure)
                    if attempts > 0
                        && which == Role::Replica
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
        // Routed like a plain read (transactions, pins and autocommit=0 keep the primary).
        let read = Classification {
            kind: Kind::Read,
            route: Role::Replica,
            pins_primary: false,
            multi_statement: false,
        };
        let target = decide(self.view(), read, None);
        let which = match self.ready(target, true, seq).await {
            Ok(which) => which,
            Err(flow) => return flow,
        };
        let shape = if packet.payload()[0] == command::FIELD_LIST {
            Shape::UntilEof
        } else {
            Shape::Single
        };
        let was_dirty = self.upstream(which).is_some_and(|upstream| upstream.dirty);
        let flow = self
            .send_and_relay(which, packet.raw(), shape, Rewrite::default(), seq)
            .await;
        self.settle(which, was_dirty);
        flow
    }

    pub(super) async fn send_and_relay(
        &mut self,
        which: Role,
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

    pub(super) fn count_in(&mut self, which: Role, bytes: usize) {
        if let Some(upstream) = self.upstream(which) {
            upstream.server.stats.traffic.add_in(bytes as u64);
        }
    }

    /// The connection for a statement meant for `target` (`read`: it only reads), with
    /// the session's state replayed there. A replica that refuses a replayed setting the
    /// primary took (another version or configuration) can't reproduce this session: the
    /// session is pinned to the primary, where the statement then runs. On failure the
    /// client has its answer.
    pub(super) async fn ready(&mut self, target: Role, read: bool, seq: u8) -> Result<Role, Flow> {
        let which = match self.place(target, read).await {
            Ok(which) => which,
            Err(unplaced) => return Err(self.unplaced(unplaced, seq).await),
        };
        let error = match self.catch_up(which).await {
            Ok(()) => return Ok(which),
            Err(error) => error,
        };
        let refused = matches!(error, UpstreamError::ReplayRefused(_));
        if !(refused && which == Role::Replica && self.view().open_transaction.is_none()) {
            return Err(self.catch_up_failed(which, error, seq).await);
        }
        self.drop_upstream(Role::Replica).await;
        self.pin(crate::mysql::stats::PinReason::ReplayRefused);
        let which = match self.place(Role::Primary, read).await {
            Ok(which) => which,
            Err(unplaced) => return Err(self.unplaced(unplaced, seq).await),
        };
        match self.catch_up(which).await {
            Ok(()) => Ok(which),
            Err(error) => Err(self.catch_up_failed(which, error, seq).await),
        }
    }

    async fn catch_up_failed(&mut self, which: Role, error: UpstreamError, seq: u8) -> Flow {
        self.drop_upstream(which).await;
        match error {
            UpstreamError::Refused { payload, .. } => self.send_payload(&payload, seq).await,
            UpstreamError::ReplayRefused(code) => {
                self.send_payload(&super::replay::replay_error(code), seq)
                    .await
            }
            other => {
                let message = format!("fastlb: server connection failed: {other}");
                self.send_error(error_code::NET_READ_ERROR, b"08S01", &message, seq)
                    .await
            }
        }
    }

    /// COM_RESET_CONNECTION: every connection reset, the session's state forgotten.
    async fn reset_connection(&mut self, seq: u8) -> Flow {
        for which in [Role::Primary, Role::Replica] {
            let Some(upstream) = self.upstream(which) else {
                continue;
            };
            let session_track = upstream.session_track;
            let done = async {
                let reset = [command::RESET_CONNECTION];
                let outcome = upstream.run(&reset, Shape::Single).await.ok()?;
                upstream.renew_serial();
                upstream.caught_up_to = None;
                // The reset keeps the current schema, which USE may have changed: reset
                // again (to the login's) before another session gets it.
                upstream.dirty = true;
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
        self.statements.clear();
        self.unpin();
        self.last_gtid = None;
        self.last_insert_id = 0;
        self.kept_for_next = None;
        self.autocommit = true;
    }

    /// COM_CHANGE_USER: the new user authenticates with fastlb, and the session starts
    /// over with new server connections.
    async fn change_user(&mut self, packet: &Packet) -> Flow {
        let seq = packet.next_seq;
        let Some(request) = crate::mysql::protocol::handshake::parse_change_user(packet.payload())
        else {
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
        self.drop_upstream(Role::Replica).await;
        self.drop_upstream(Role::Primary).await;
        self.forget_session_state();
        self.registration.0.set_user(user.clone());
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
                    != crate::mysql::config::PrimaryFailure::FailInstantly =>
            {
                self.ensure_replica().await
            }
            Err(error) => Err(error),
        }
    }
}
