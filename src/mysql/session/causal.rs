//! Causal reads: a replica serves a session's read only once it has applied the GTID the
//! read must see (MASTER_GTID_WAIT on MariaDB, WAIT_FOR_EXECUTED_GTID_SET on MySQL),
//! waiting at most `causal_timeout`; else the read goes to the primary. The GTID is the
//! session's own last write (`session`) or the highest any session wrote (`global`,
//! `gtid.rs`).

use super::upstream::UpstreamError;
use super::Session;
use crate::mysql::config::CausalReads;
use crate::mysql::Role;
use crate::stats::bump;

impl Session {
    /// Whether the replica connection has applied the session's last write, waiting a
    /// little for it if not (causal reads).
    pub(super) async fn replica_caught_up(&mut self) -> bool {
        let wanted = match self.settings.config.causal_reads {
            CausalReads::Off => None,
            CausalReads::Session => self.last_gtid.clone(),
            // MySQL's GTID sets aren't tracked globally: its own writes at least.
            CausalReads::Global => self
                .global_gtid
                .as_ref()
                .and_then(|global| global.position())
                .or_else(|| self.last_gtid.clone()),
        };
        let Some(gtid) = wanted else {
            return true;
        };
        let timeout = self.settings.causal_timeout();
        let stats = &self.frontend.stats.mysql;
        let Some(replica) = self.connections.get_mut(Role::Replica) else {
            return false;
        };
        if let Some(known) = &replica.caught_up_to {
            if super::gtid::covers(known, &gtid) {
                return true;
            }
        }
        // The GTID came from the server; still, only GTID characters go into the SQL.
        let gtid_text = String::from_utf8_lossy(&gtid);
        if !gtid_text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | ',' | '\n'))
        {
            return false;
        }
        bump(&stats.causal_waits);
        let seconds = timeout.as_secs_f64();
        let sql = if replica.mariadb {
            format!("SELECT MASTER_GTID_WAIT('{gtid_text}', {seconds:.3})")
        } else {
            format!("SELECT WAIT_FOR_EXECUTED_GTID_SET('{gtid_text}', {seconds:.3})")
        };
        match replica.query_value(sql.as_bytes()).await {
            Ok(Some(value)) if value == b"0" => {
                replica.caught_up_to = Some(gtid);
                true
            }
            Ok(_) => {
                bump(&stats.causal_timeouts);
                false
            }
            Err(error) => {
                bump(&stats.causal_timeouts);
                // An ERR reply (say, a GTID domain the replica doesn't know) leaves the
                // connection usable; only a broken one is dropped.
                if !matches!(error, UpstreamError::Refused { .. }) {
                    self.drop_upstream(Role::Replica).await;
                }
                false
            }
        }
    }
}
