//! A session's side of the server-connection pool (`mysql.pool`): its connections come
//! from its server's pool when one logged in with the same key is idle, and go back when
//! the session lets them go — reset first if the session may have changed their state.

use std::sync::Arc;
use std::time::Instant;

use super::response::Shape;
use super::upstream::{Login, Upstream, UpstreamError};
use super::Session;
use crate::balancer::Server;
use crate::mysql::pool::{self, Lease, PoolKey, Pooled, ServerPool, Taken};
use crate::mysql::protocol::handshake::PASSED_ON;
use crate::mysql::protocol::packet::{command, err_payload};
use crate::mysql::topology::MysqlBackend;
use crate::stats::bump;

/// ER_CON_COUNT_ERROR: what a server answers when it has too many connections.
const TOO_MANY_CONNECTIONS: u16 = 1040;

/// Prepared statements a multiplexed connection keeps across sessions before it is reset
/// (MariaDB's max_prepared_stmt_count, 16382 by default, is for the whole server).
const MAX_PREPARED_KEPT: u32 = 256;

/// A pooled connection's slot, its login key and the pool it returns to.
pub struct Ticket {
    _lease: Lease,
    key: PoolKey,
    pool: Arc<ServerPool<Upstream>>,
}

/// The pool a pooled connection goes back to.
pub(super) fn pool_of(upstream: &Upstream) -> Option<Arc<ServerPool<Upstream>>> {
    upstream.pooled.as_ref().map(|ticket| ticket.pool.clone())
}

impl Pooled for Upstream {
    fn is_dead(&self) -> bool {
        self.in_flight || self.stream.closed_while_idle()
    }

    fn born(&self) -> Instant {
        self.born
    }

    fn retire(mut self) {
        // The slot is free now; the goodbye needn't hold it.
        self.pooled = None;
        tokio::spawn(self.quit());
    }
}

impl Session {
    /// A connection to `server` logged in as `login`: an idle pooled one when the pool is
    /// on and one fits, else a new one (in a pool slot, waiting for one up to the connect
    /// timeout when the server holds `max_per_server`).
    pub(super) async fn open_upstream(
        &self,
        server: Arc<Server>,
        login: &Login<'_>,
    ) -> Result<Upstream, UpstreamError> {
        // The backend's settings now: a reload since this session started (a new limit,
        // the pool turned off) applies to it too. Its multiplexing stays as it started.
        let current = self.backend.mysql_settings();
        let config = match &current {
            Some(settings) => &settings.config.pool,
            None => &self.settings.config.pool,
        };
        if !config.enabled {
            return Upstream::open(server, &self.backend, login, self.connect_timeout).await;
        }
        let stats = &self.frontend.stats.mysql;
        let pool = pool::for_server(&self.backend.name, &server, config);
        let key = PoolKey {
            user: login.user.user.clone(),
            database: login.database.map(<[u8]>::to_vec),
            collation: login.collation,
            capabilities: login.client_capabilities & PASSED_ON,
            track_gtid: login.track_gtid,
        };
        let lease = loop {
            let mut waited = false;
            let taken = pool.take(&key, self.connect_timeout, &mut waited).await;
            if waited {
                bump(&stats.pool_waits);
            }
            match taken {
                Ok(Taken::Reused(mut upstream)) => {
                    // Another session's state that this session's log doesn't start with
                    // is reset away; what it does start with is kept (`replay.rs`).
                    if !self.state.extends(&upstream) {
                        if !reset(&mut upstream).await {
                            upstream.retire();
                            continue;
                        }
                        bump(&stats.pool_resets);
                    }
                    bump(&stats.pool_reused);
                    bump(&stats.pool_borrows);
                    return Ok(upstream);
                }
                Ok(Taken::Open(lease)) => break lease,
                Err(pool::Full) => {
                    bump(&stats.pool_full_errors);
                    let message = format!(
                        "Too many connections: fastlb's pool for server {} holds \
                         max_per_server={} connections and none came back within the connect \
                         timeout",
                        server.name,
                        pool.config().max_per_server
                    );
                    return Err(UpstreamError::Refused {
                        payload: err_payload(TOO_MANY_CONNECTIONS, b"08004", &message),
                        message,
                    });
                }
            }
        };
        let mut upstream =
            Upstream::open(server, &self.backend, login, self.connect_timeout).await?;
        bump(&stats.pool_opened);
        bump(&stats.pool_borrows);
        // Its login's own statements (GTID tracking) are part of the login state.
        upstream.dirty = false;
        upstream.pooled = Some(Ticket {
            _lease: lease,
            key,
            pool,
        });
        Ok(upstream)
    }

    /// Lets a connection go: back to its pool when it is pooled, idle and alive (reset if
    /// the session may have changed its state), else closed.
    pub(super) async fn release(&self, mut upstream: Upstream) {
        if upstream.pooled.is_none() || upstream.is_dead() || upstream.in_transaction() {
            return upstream.quit().await;
        }
        // Statements another session prepared are harmless (nobody else knows their ids)
        // but count against the server's max_prepared_stmt_count: a multiplexed connection
        // keeps a few for the sessions that come back to it, a session's own none.
        let kept = if self.multiplexing() {
            MAX_PREPARED_KEPT
        } else {
            0
        };
        if upstream.dirty || upstream.prepared > kept {
            if !reset(&mut upstream).await {
                return upstream.quit().await;
            }
            bump(&self.frontend.stats.mysql.pool_resets);
        }
        upstream.caught_up_to = None;
        let Some(ticket) = upstream.pooled.take() else {
            return;
        };
        let (pool, key) = (ticket.pool.clone(), ticket.key.clone());
        upstream.pooled = Some(ticket);
        bump(&self.frontend.stats.mysql.pool_returns);
        pool.give_back(key, upstream);
    }
}

/// Brings a connection back to its login state: COM_RESET_CONNECTION (transaction,
/// variables, temporary tables, locks, prepared statements, LAST_INSERT_ID), the login's
/// default schema again, and GTID tracking if it had it. MariaDB restores the login's
/// character set itself; MySQL doesn't, so MySQL connections are closed instead of reset.
pub(super) async fn reset(upstream: &mut Upstream) -> bool {
    let Some(key) = upstream.pooled.as_ref().map(|ticket| ticket.key.clone()) else {
        return false;
    };
    if !upstream.mariadb {
        return false;
    }
    let done: Result<bool, UpstreamError> = async {
        if upstream
            .run(&[command::RESET_CONNECTION], Shape::Single)
            .await?
            .error
            .is_some()
        {
            return Ok(false);
        }
        upstream.renew_serial();
        // The reset keeps the current schema, which USE may have changed.
        match &key.database {
            Some(database) => {
                let mut init_db = Vec::with_capacity(database.len() + 1);
                init_db.push(command::INIT_DB);
                init_db.extend_from_slice(database);
                if upstream.run(&init_db, Shape::Single).await?.error.is_some() {
                    return Ok(false);
                }
            }
            None => {
                if upstream.query_value(b"SELECT DATABASE()").await?.is_some() {
                    return Ok(false);
                }
            }
        }
        if key.track_gtid {
            upstream.track_gtid().await?;
        }
        Ok(true)
    }
    .await;
    upstream.dirty = false;
    matches!(done, Ok(true)) && !upstream.in_flight
}
