//! One client of a `mode: mysql` frontend: its server connections (at most one to the
//! primary, one to a replica), its session state, and where each statement goes.
//!
//! Connections are the session's own (opened when first needed, kept for its life), the
//! way MaxScale's readwritesplit works: no state leaks between clients, and a replica is
//! chosen by weighted round robin once per session rather than per statement.

mod causal;
mod commands;
mod connections;
mod gtid;
mod infile;
mod kill;
mod local;
mod multiplex;
mod pin_reason;
mod pooled;
pub mod prepared;
mod prepared_commands;
mod registry;
mod replay;
mod reply;
pub mod response;
pub mod route;
pub(crate) mod upstream;

use std::sync::Arc;
use std::time::Duration;

use crate::balancer::{Backend, Server};
use crate::mysql::classify::Kind;
use crate::mysql::config::{CausalReads, MysqlSettings, MysqlUser};
use crate::mysql::protocol::login::ClientLogin;
use crate::mysql::protocol::packet::error_code;
use crate::mysql::protocol::stream::PacketStream;
use crate::mysql::stats::PinReason;
use crate::mysql::topology::{MysqlBackend, MysqlServer};
use crate::mysql::Role;
use crate::proxy::Frontend;
use crate::stats::bump;
use connections::Connections;
use infile::relay_local_infile;
use prepared::Statements;
use registry::{Registration, SessionHandle};
use replay::{refused_if_error, replay_error, StateLog};
use response::{forward, Failure, ForwardError, Outcome, Rewrite, Shape};
use route::SessionView;
pub use upstream::learn_server_version;
use upstream::{Login, Upstream, UpstreamError};

/// What the session does after a command.
pub enum Flow {
    Continue,
    Close,
}

/// Why a statement could not be placed.
pub enum Unplaced {
    /// No primary is available (the failure policy decides what the client sees).
    NoPrimary,
    /// No server at all.
    NoServer,
    /// A server refused to log the session in: its ERR packet goes to the client.
    Refused(Vec<u8>),
    /// Every replica tried refused to replay the session's state (this ERR packet goes to
    /// the client if the primary can't take the statement either).
    ReplayRefused(Vec<u8>),
    /// The server closed the connection that held the session's transaction (true) or
    /// pinned state (false): the client's connection is closed too.
    StateLost { transaction: bool },
}

/// One client's session. Its parts are private to `session/`: the connections
/// (`Connections`), the state to replay (`StateLog`), the prepared statements
/// (`Statements`), and what the client logged in as.
pub struct Session {
    frontend: Arc<Frontend>,
    backend: Arc<Backend>,
    settings: Arc<MysqlSettings>,
    client: PacketStream,
    user: MysqlUser,
    capabilities: u32,
    collation: u8,
    database: Option<Vec<u8>>,
    /// State changes (SET, USE, COM_INIT_DB, COM_SET_OPTION), replayed in order on
    /// connections that haven't run them.
    state: StateLog,
    autocommit: bool,
    pinned: bool,
    /// The GTID of the session's last write (causal reads).
    last_gtid: Option<Vec<u8>>,
    /// What LAST_INSERT_ID() answers for this session (multiplexing sets it on borrowed
    /// connections).
    last_insert_id: u64,
    /// Multiplexing: the side whose connection the next statement may ask about (its
    /// warnings, ROW_COUNT()...): kept until that statement has run.
    kept_for_next: Option<Role>,
    /// Every session's writes (`causal_reads: global`), None in the other modes.
    global_gtid: Option<&'static gtid::GlobalGtid>,
    connections: Connections,
    statements: Statements,
    connect_timeout: Duration,
    /// The session in the registry of live sessions (KILL finds it there).
    registration: Registration,
}

/// A session dropped without `close()` (its task cancelled at shutdown) still leaves the
/// pinned-sessions gauge right.
impl Drop for Session {
    fn drop(&mut self) {
        self.unpin();
    }
}

impl Session {
    /// A session for a client that logged in as `login`; no server connection yet.
    pub fn new(
        frontend: Arc<Frontend>,
        backend: Arc<Backend>,
        settings: Arc<MysqlSettings>,
        client: PacketStream,
        login: ClientLogin,
        connect_timeout: Duration,
        id: u32,
    ) -> Self {
        let registration = SessionHandle::register(id, &backend.name, login.user.clone());
        let global_gtid = (settings.config.causal_reads == CausalReads::Global)
            .then(|| gtid::GlobalGtid::for_backend(&backend.name));
        Session {
            frontend,
            backend,
            settings,
            client,
            user: login.user,
            capabilities: login.capabilities,
            collation: login.collation,
            database: login.database,
            state: StateLog::default(),
            autocommit: true,
            pinned: false,
            last_gtid: None,
            last_insert_id: 0,
            kept_for_next: None,
            global_gtid,
            connections: Connections::new(registration.0.clone()),
            statements: Statements::default(),
            connect_timeout,
            registration,
        }
    }

    /// Opens the first server connection, answers the client's login (`seq`: the sequence
    /// id of that answer) and serves its commands until it goes.
    pub async fn serve(mut self, seq: u8) {
        match self.open_first_connection().await {
            Ok(()) => {
                if let Flow::Close = self.send_ok(seq).await {
                    return self.close().await;
                }
            }
            Err(unplaced) => {
                if let Unplaced::NoPrimary = unplaced {
                    bump(&self.frontend.stats.mysql.no_primary);
                }
                self.unplaced(unplaced, seq).await;
                return self.close().await;
            }
        }
        self.run().await;
    }

    pub fn view(&self) -> SessionView {
        SessionView {
            open_transaction: self.connections.open_transaction(),
            pinned: self.pinned,
            autocommit: self.autocommit,
        }
    }

    /// Pins the session to the primary (and, with multiplexing, to its server
    /// connections) for `reason`, counted the first time only.
    pub fn pin(&mut self, reason: PinReason) {
        if !self.pinned {
            self.pinned = true;
            let stats = &self.frontend.stats.mysql;
            bump(&stats.pinned_sessions);
            stats.count_pin(reason);
        }
    }

    pub fn unpin(&mut self) {
        if self.pinned {
            self.pinned = false;
            let gauge = &self.frontend.stats.mysql.pinned_sessions;
            gauge.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn upstream(&mut self, which: Role) -> Option<&mut Upstream> {
        self.connections.get_mut(which)
    }

    pub fn which_serial(&self, serial: u64) -> Option<Role> {
        self.connections.side_of(serial)
    }

    /// Opens a connection to `server` as the session's user and replays its state.
    async fn connect(&mut self, server: Arc<Server>) -> Result<Upstream, UpstreamError> {
        if self.state.overflowed() {
            return Err(UpstreamError::Protocol(
                "the session changed its state too often to replay it on a new connection".into(),
            ));
        }
        let is_primary = server.role() == Some(Role::Primary);
        if self.multiplexing() {
            // The statement that needs this connection is the "next statement" the other
            // side's was kept for; giving that one back first means two sessions never
            // each hold one side and wait for the other's.
            let other = if is_primary {
                Role::Replica
            } else {
                Role::Primary
            };
            self.give_back_for_other_side(other).await;
        }
        let login = Login {
            user: &self.user,
            database: self.database.as_deref(),
            collation: self.collation,
            client_capabilities: self.capabilities,
            track_gtid: is_primary && self.settings.config.causal_reads != CausalReads::Off,
        };
        let opened = self.open_upstream(server.clone(), &login).await;
        let mut upstream = match opened {
            Ok(upstream) => upstream,
            Err(error) => {
                let failed_connect = matches!(
                    error,
                    UpstreamError::Connect(_) | UpstreamError::Io(_) | UpstreamError::Protocol(_)
                );
                if failed_connect {
                    bump(&server.stats.connect_errors);
                    // Passive observation, as for TCP frontends: `fall` failed connects in
                    // a row take the server out now.
                    let settings = self.backend.settings();
                    let fall = settings.health_check.as_ref().filter(|c| c.observe);
                    if fall.is_some_and(|check| server.observe_connect_failure(check.fall)) {
                        self.backend.republish();
                    }
                }
                return Err(error);
            }
        };
        server.observe_connect_success();
        if !self.autocommit && is_primary {
            refused_if_error(upstream.query(b"SET autocommit=0").await?)?;
            upstream.dirty = true;
        }
        self.state.replay_on(&mut upstream).await?;
        if !self.multiplexing() && !upstream.state.is_empty() {
            // Without multiplexing a pooled connection goes back reset when the session
            // changed anything on it (a session's connections are its own until then).
            upstream.dirty = true;
        }
        if is_primary {
            self.sync_insert_id(&mut upstream).await?;
        }
        Ok(upstream)
    }

    /// Drops the connection on `role`'s side if its server closed it while it was idle
    /// (`wait_timeout`, a restart), so that the next statement gets a fresh connection with
    /// the session's state replayed — unless that connection held a transaction or the
    /// session's pinned state, which died with it.
    async fn drop_if_closed(&mut self, role: Role) -> Result<(), Unplaced> {
        let Some(current) = self.connections.get(role) else {
            return Ok(());
        };
        if !current.stream.closed_while_idle() {
            return Ok(());
        }
        let transaction = current.in_transaction();
        bump(&self.frontend.stats.mysql.server_errors);
        self.drop_upstream(role).await;
        if transaction || (self.pinned && role == Role::Primary) {
            return Err(Unplaced::StateLost { transaction });
        }
        Ok(())
    }

    /// Makes sure the primary connection exists and still points at the primary.
    pub async fn ensure_primary(&mut self) -> Result<(), Unplaced> {
        self.drop_if_closed(Role::Primary).await?;
        // A switchover holds new writes (a transaction already open goes on, to its end or
        // to the error the old primary gives it).
        if !self
            .connections
            .get(Role::Primary)
            .is_some_and(Upstream::in_transaction)
        {
            crate::mysql::write_gate::pass(&self.backend.name)
                .await
                .map_err(Unplaced::Refused)?;
        }
        if let Some(current) = self.connections.get(Role::Primary) {
            let still_primary = current.server.role() == Some(Role::Primary);
            if still_primary || current.in_transaction() {
                return Ok(());
            }
        }
        self.drop_upstream(Role::Primary).await;
        let server = self.backend.primary().ok_or(Unplaced::NoPrimary)?;
        match self.connect(server).await {
            Ok(upstream) => {
                self.connections.set(Role::Primary, upstream);
                Ok(())
            }
            Err(UpstreamError::Refused { payload, .. }) => Err(Unplaced::Refused(payload)),
            Err(UpstreamError::ReplayRefused(code)) => Err(Unplaced::Refused(replay_error(code))),
            // The primary answered, but not as it should (no TLS where the backend wants
            // it, garbage, a session too changed to replay): that, not "no primary".
            Err(UpstreamError::Protocol(why)) => Err(Unplaced::Refused(
                crate::mysql::protocol::packet::err_payload(
                    error_code::HANDSHAKE,
                    b"08S01",
                    &format!("fastlb: {why}"),
                ),
            )),
            Err(_) => Err(Unplaced::NoPrimary),
        }
    }

    /// Makes sure a replica connection to a replica that takes reads exists.
    pub async fn ensure_replica(&mut self) -> Result<(), Unplaced> {
        self.drop_if_closed(Role::Replica).await?;
        if let Some(current) = self.connections.get(Role::Replica) {
            if current.server.serves_reads() || current.in_transaction() {
                return Ok(());
            }
        }
        self.drop_upstream(Role::Replica).await;
        let mut refused = None;
        let mut replay_refused = None;
        // Up to three picks, each server tried once: one that just failed or refused (a
        // full pool waited its connect timeout already) isn't asked again.
        let mut tried: Vec<Arc<Server>> = Vec::new();
        for _ in 0..3 {
            let Some(server) = self.backend.pick_replica() else {
                break;
            };
            if tried.iter().any(|t| Arc::ptr_eq(t, &server)) {
                continue;
            }
            tried.push(server.clone());
            match self.connect(server).await {
                Ok(upstream) => {
                    self.connections.set(Role::Replica, upstream);
                    return Ok(());
                }
                Err(UpstreamError::Refused { payload, .. }) => refused = Some(payload),
                Err(UpstreamError::ReplayRefused(code)) => replay_refused = Some(code),
                Err(_) => {}
            }
        }
        Err(match (replay_refused, refused) {
            (Some(code), _) => Unplaced::ReplayRefused(replay_error(code)),
            (None, Some(payload)) => Unplaced::Refused(payload),
            (None, None) => Unplaced::NoServer,
        })
    }

    /// Buffers grown by a large packet shrink back between commands (a session idles with
    /// its base buffers, not with its largest packet).
    pub fn release_excess_buffers(&mut self) {
        self.client.release_excess();
        for upstream in self.connections.iter_mut() {
            upstream.stream.release_excess();
        }
    }

    /// Closes one of the session's connections; its prepared statements are forgotten.
    pub async fn drop_upstream(&mut self, which: Role) {
        if let Some(upstream) = self.connections.take(which) {
            self.statements.forget_connection(upstream.serial);
            self.release(upstream).await;
        }
    }

    /// Chooses the connection for a statement meant for `target`. `read`: the statement
    /// only reads, so it may go to the other side when its target is unavailable.
    pub async fn place(&mut self, target: Role, read: bool) -> Result<Role, Unplaced> {
        let frontend = self.frontend.clone();
        let stats = &frontend.stats.mysql;
        if target == Role::Replica {
            let replica = self.ensure_replica().await;
            if replica.is_ok() && self.replica_caught_up().await {
                return Ok(Role::Replica);
            }
            if let Err(Unplaced::ReplayRefused(_)) = replica {
                // A replica refused this session's state (a login refusal may be
                // temporary: too many connections): the session stays on the primary
                // rather than replaying it on replicas again for each read.
                self.pin(PinReason::ReplayRefused);
            }
            bump(&stats.reads_on_primary);
            return match self.ensure_primary().await {
                Ok(()) => Ok(Role::Primary),
                // No primary either: a replica that hasn't caught up beats no answer.
                Err(_) if self.connections.is_open(Role::Replica) => Ok(Role::Replica),
                Err(error) => Err(error),
            };
        }
        match self.ensure_primary().await {
            Ok(()) => Ok(Role::Primary),
            Err(Unplaced::NoPrimary) if read && self.view().open_transaction.is_none() => {
                self.ensure_replica().await.map(|()| Role::Replica)
            }
            Err(error) => {
                if matches!(error, Unplaced::NoPrimary) {
                    bump(&stats.no_primary);
                }
                Err(error)
            }
        }
    }

    /// Forwards the response to the command just sent on `which` to the client, and
    /// notes what it says (status, GTID). A LOCAL INFILE request is served here too.
    pub async fn relay_response(
        &mut self,
        which: Role,
        shape: Shape,
        rewrite: Rewrite,
    ) -> Result<Outcome, Failure> {
        let strip =
            self.capabilities & crate::mysql::protocol::packet::capability::SESSION_TRACK == 0;
        let rewrite = Rewrite {
            strip_session_state: strip,
            // Noted as the OK is read, before it reaches the client: a client that reads on
            // another connection the moment it has its OK must find the write counted.
            global_gtid: self.global_gtid.filter(|_| which == Role::Primary),
            ..rewrite
        };
        let Some(upstream) = self.connections.get_mut(which) else {
            return Err(Failure {
                error: ForwardError::Protocol("no connection"),
                forwarded: false,
            });
        };
        let mut outcome = forward(
            &mut upstream.stream,
            Some(&mut self.client),
            shape,
            upstream.session_track,
            rewrite,
        )
        .await?;
        while outcome.local_infile {
            relay_local_infile(&mut self.client, upstream).await?;
            outcome = forward(
                &mut upstream.stream,
                Some(&mut self.client),
                Shape::Results,
                upstream.session_track,
                rewrite,
            )
            .await?;
        }
        upstream.in_flight = false;
        upstream.note_status(&outcome);
        upstream.server.stats.traffic.add_out(outcome.bytes);
        self.frontend.stats.traffic.add_out(outcome.bytes);
        if which == Role::Primary {
            if self.autocommit && !upstream.autocommit() {
                // Not a pin of the routing (autocommit=1 undoes it), but it keeps the
                // session on its primary connection all the same.
                let stats = &self.frontend.stats.mysql;
                stats.count_pin(PinReason::AutocommitOff);
            }
            self.autocommit = upstream.autocommit();
            if let Some(gtid) = &outcome.gtid {
                self.last_gtid = Some(gtid.clone());
            }
        }
        // Statements run (queries, executions); not prepares or other commands.
        if shape == Shape::Results {
            bump(&upstream.server.stats.queries);
            let stats = &self.frontend.stats.mysql;
            bump(match which {
                Role::Primary => &stats.queries_primary,
                Role::Replica => &stats.queries_replica,
            });
        }
        Ok(outcome)
    }

    /// Ends the session's server connections politely.
    pub async fn close(mut self) {
        self.unpin();
        self.drop_upstream(Role::Replica).await;
        self.drop_upstream(Role::Primary).await;
    }

    /// Whether `kind` only reads (it may run on a replica when the primary is gone).
    pub fn reads_only(kind: Kind) -> bool {
        matches!(
            kind,
            Kind::Read | Kind::BeginReadOnly | Kind::SessionState | Kind::SetAutocommit(_)
        )
    }
}

#[cfg(test)]
mod multiplex_tests;
#[cfg(test)]
mod response_tests;
#[cfg(test)]
mod tests;
