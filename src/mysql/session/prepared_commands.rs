//! The binary protocol's commands (COM_STMT_*): prepared statements mapped between the
//! ids the client knows and each server connection's own (see `prepared.rs`).

use super::prepared::{statement_id, with_statement_id, OnServer, Prepared};
use super::response::{Failure, Rewrite, Shape};
use super::route::decide;
use super::{Flow, Session};
use crate::mysql::classify::classify;
use crate::mysql::digest::Sample;
use crate::mysql::protocol::packet::{command, error_code};
use crate::mysql::protocol::stream::Packet;
use crate::mysql::Role;
use crate::stats::bump;

/// Prepared statements one session may hold (MySQL's default max_prepared_stmt_count is
/// 16382 for the whole server).
const MAX_PREPARED: usize = 16_382;

/// The connections a statement's server ids are remembered for.
const MAX_CONNECTIONS_PER_STATEMENT: usize = 8;

impl Session {
    /// COM_STMT_PREPARE: prepared where the statement would run now; the client gets
    /// fastlb's id for it.
    pub(super) async fn prepare(&mut self, packet: &Packet) -> Flow {
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
        let which = match self
            .ready(target, Session::reads_only(class.kind), seq)
            .await
        {
            Ok(which) => which,
            Err(flow) => return flow,
        };
        let id = self.statements.next_id();
        let rewrite = Rewrite {
            statement_id: Some(id),
            ..Rewrite::default()
        };
        let Some(upstream) = self.upstream(which) else {
            return Flow::Close;
        };
        let serial = upstream.serial;
        let was_dirty = upstream.dirty;
        if let Err(error) = upstream.send_raw(packet.raw()).await {
            return self.server_failed(which, Failure::unsent(error), seq).await;
        }
        match self.relay_response(which, Shape::Prepare, rewrite).await {
            Ok(outcome) => {
                self.settle(which, was_dirty);
                if let Some(upstream) = self.upstream(which) {
                    upstream.prepared += 1;
                }
                if let Some(prepared) = outcome.prepared {
                    let mut statement = Prepared::new(sql, class, prepared.params);
                    statement.on.push(OnServer {
                        serial,
                        id: prepared.statement_id,
                        types_seen: 0,
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
    pub(super) async fn execute(&mut self, packet: &Packet) -> Flow {
        let started = std::time::Instant::now();
        let seq = packet.next_seq;
        let Some(id) = statement_id(packet.payload()) else {
            return self.malformed(seq).await;
        };
        let Some(statement) = self.statements.get_mut(id) else {
            return self.unknown_statement(id, "mysqld_stmt_execute", seq).await;
        };
        let class = statement.class;
        let rule = self.settings.rule_route(&statement.sql);
        let reason = class
            .pins_primary
            .then(|| super::pin_reason::pin_reason(&statement.sql));
        let target = decide(self.view(), class, rule);
        if let Some(reason) = reason {
            self.pin(reason);
        } else if self.multiplexing() && packet.payload().get(5).is_some_and(|f| f & 1 != 0) {
            // CURSOR_TYPE_READ_ONLY: the rows are fetched later from this connection.
            self.pin(crate::mysql::stats::PinReason::Cursor);
        }
        // Any execution uses the long data up, a failed one too (client libraries resend
        // it before they retry).
        let long_data = self.statements.take_long_data(id);
        let which = match self
            .ready(target, Session::reads_only(class.kind), seq)
            .await
        {
            Ok(which) => which,
            Err(flow) => return flow,
        };
        let serial = match self.prepare_on(id, which, seq).await {
            Ok(serial) => serial,
            Err(flow) => return flow,
        };
        let Some(statement) = self.statements.get_mut(id) else {
            return Flow::Close;
        };
        let mut out = Vec::new();
        for long_data in long_data {
            if let Some(payload) = statement
                .on_server(serial)
                .and_then(|on| with_statement_id(&long_data, on.id))
            {
                crate::mysql::protocol::packet::frame(&mut out, &payload, 0);
            }
        }
        let Some(payload) = statement.execute_payload(packet.payload(), serial) else {
            return self.malformed(seq).await;
        };
        statement.executed_on = Some(serial);
        crate::mysql::protocol::packet::frame(&mut out, &payload, 0);
        let Some(upstream) = self.upstream(which) else {
            return Flow::Close;
        };
        let was_dirty = upstream.dirty;
        if let Err(error) = upstream.send_raw(&out).await {
            return self.server_failed(which, Failure::unsent(error), seq).await;
        }
        self.count_in(which, out.len());
        match self
            .relay_response(which, Shape::Results, Rewrite::default())
            .await
        {
            Ok(outcome) => {
                // The text matters for reads bound to the primary only (rare).
                let sql = (self.multiplexing() && class.route == Role::Primary)
                    .then(|| self.statements.get_mut(id).map(|s| s.sql.clone()))
                    .flatten();
                self.after_command(which, was_dirty, Some(class), sql.as_deref(), &outcome);
                // Executions count in the digests under their statement's text.
                if let Some(statement) = self.statements.get_mut(id) {
                    self.frontend.stats.mysql.digests.record(
                        &self.settings.config.digests,
                        &statement.sql,
                        &Sample {
                            latency: started.elapsed(),
                            error: outcome.error.is_some(),
                            rows: outcome.rows,
                            route: which,
                        },
                    );
                }
                Flow::Continue
            }
            Err(failure) => self.server_failed(which, failure, seq).await,
        }
    }

    /// Prepares statement `id` on the connection `which` unless it is there already;
    /// returns that connection's serial.
    async fn prepare_on(&mut self, id: u32, which: Role, seq: u8) -> Result<u64, Flow> {
        let Some(upstream) = self.connections.get_mut(which) else {
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
        let prepared = upstream.run(&payload, Shape::Prepare).await.ok();
        match prepared {
            Some(outcome) => match (outcome.prepared, outcome.error) {
                (Some(prepared), _) => {
                    upstream.prepared += 1;
                    // Multiplexed sessions meet many connections: remember the latest few
                    // (a forgotten one is prepared again there if the session comes back).
                    if statement.on.len() >= MAX_CONNECTIONS_PER_STATEMENT {
                        statement.on.remove(0);
                    }
                    statement.on.push(OnServer {
                        serial,
                        id: prepared.statement_id,
                        types_seen: 0,
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
    pub(super) fn long_data(&mut self, packet: &Packet) -> Flow {
        let limit = self.settings.config.max_packet_bytes;
        let Some(id) = statement_id(packet.payload()) else {
            return Flow::Continue;
        };
        if !self
            .statements
            .buffer_long_data(id, packet.payload(), limit)
        {
            bump(&self.frontend.stats.mysql.protocol_errors);
            return Flow::Close;
        }
        Flow::Continue
    }

    /// COM_STMT_CLOSE has no reply: closed on every connection that prepared it.
    pub(super) async fn close_statement(&mut self, packet: &Packet) -> Flow {
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
                } else {
                    // No reply comes: the connection is idle again (it may be pooled).
                    upstream.in_flight = false;
                }
            }
        }
        Flow::Continue
    }

    /// COM_STMT_RESET: reset wherever the statement is prepared; one OK for the client.
    pub(super) async fn reset_statement(&mut self, packet: &Packet) -> Flow {
        let seq = packet.next_seq;
        let Some(id) = statement_id(packet.payload()) else {
            return self.malformed(seq).await;
        };
        self.statements.take_long_data(id);
        let Some(statement) = self.statements.get_mut(id) else {
            return self.unknown_statement(id, "mysqld_stmt_reset", seq).await;
        };
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
            let done = upstream.run(&payload, Shape::Single).await.ok();
            if done.is_none() {
                self.drop_upstream(which).await;
            }
        }
        self.send_ok(seq).await
    }

    /// COM_STMT_FETCH: rows of an open cursor, from the connection that opened it.
    pub(super) async fn fetch(&mut self, packet: &Packet) -> Flow {
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
        crate::mysql::protocol::packet::frame(&mut out, &payload, 0);
        let was_dirty = self.upstream(which).is_some_and(|upstream| upstream.dirty);
        let flow = self
            .send_and_relay(which, &out, Shape::UntilEof, Rewrite::default(), seq)
            .await;
        self.settle(which, was_dirty);
        flow
    }
}
