//! What the client gets when fastlb answers itself: OK, errors, and the outcome of a
//! statement that could not be placed or whose server connection failed.

use super::response::{Failure, ForwardError};
use super::{Flow, Session, Unplaced};
use crate::mysql::config::PrimaryFailure;
use crate::mysql::protocol::packet::{error_code, frame, ok_payload, status};
use crate::mysql::Role;
use crate::stats::bump;

impl Session {
    /// A server connection failed during a command: drop it; tell the client unless it
    /// already got part of the answer (then its connection ends too).
    pub async fn server_failed(&mut self, which: Role, failure: Failure, seq: u8) -> Flow {
        if let ForwardError::Client(_) = failure.error {
            return Flow::Close;
        }
        bump(&self.frontend.stats.mysql.server_errors);
        // A transaction, temporary tables, locks or user variables died with that
        // connection: going on with a fresh one would make a later COMMIT look successful.
        let transaction = self.upstream(which).is_some_and(|u| u.in_transaction());
        let state_lost = transaction || (self.pinned && which == Role::Primary);
        self.drop_upstream(which).await;
        if failure.forwarded {
            return Flow::Close;
        }
        if state_lost {
            return self
                .state_lost(transaction, &failure.error.to_string(), seq)
                .await;
        }
        // Whether the statement ran is unknown (the server may have died after running
        // it): the client is told, and its next statement gets a new connection.
        let message = format!(
            "fastlb: lost the connection to the server during this statement ({}); the \
             session goes on with a new connection",
            failure.error
        );
        self.send_error(error_code::NET_READ_ERROR, b"08S01", &message, seq)
            .await
    }

    /// The server connection holding the session's transaction (or its pinned state: temporary
    /// tables, user variables, locks) is gone, and so is that state: the client's connection
    /// is closed, as the server's own would be — never a silent fresh connection, on which
    /// a later COMMIT would seem to succeed.
    pub async fn state_lost(&mut self, transaction: bool, why: &str, seq: u8) -> Flow {
        let what = if transaction {
            "its open transaction was rolled back"
        } else {
            "its session state (temporary tables, user variables, locks) is lost"
        };
        let message = format!(
            "fastlb: the server closed this session's connection ({why}): {what}; this \
             connection is closed"
        );
        self.send_error(error_code::CONNECTION_KILLED, b"70100", &message, seq)
            .await;
        Flow::Close
    }

    /// The client gets the outcome of `Unplaced` under the failure policy.
    pub async fn unplaced(&mut self, unplaced: Unplaced, seq: u8) -> Flow {
        match unplaced {
            Unplaced::Refused(payload) | Unplaced::ReplayRefused(payload) => {
                self.send_payload(&payload, seq).await
            }
            Unplaced::StateLost { transaction } => {
                self.state_lost(transaction, "closed while idle", seq).await
            }
            Unplaced::NoServer => {
                bump(&self.frontend.stats.no_server);
                let message = format!(
                    "fastlb: no server of backend '{}' is available",
                    self.backend.name
                );
                self.send_error(error_code::SERVER_GONE, b"70100", &message, seq)
                    .await
            }
            Unplaced::NoPrimary => {
                let message = format!(
                    "fastlb: no primary is available for writes in backend '{}'",
                    self.backend.name
                );
                let flow = self
                    .send_error(error_code::NO_PRIMARY, b"HY000", &message, seq)
                    .await;
                match self.settings.config.primary_failure {
                    PrimaryFailure::ErrorOnWrite => flow,
                    PrimaryFailure::FailOnWrite | PrimaryFailure::FailInstantly => Flow::Close,
                }
            }
        }
    }

    pub async fn send_error(&mut self, code: u16, state: &[u8; 5], message: &str, seq: u8) -> Flow {
        let payload = crate::mysql::protocol::packet::err_payload(code, state, message);
        self.send_payload(&payload, seq).await
    }

    pub async fn send_ok(&mut self, seq: u8) -> Flow {
        let flags = self
            .connections
            .get(Role::Primary)
            .map_or(status::AUTOCOMMIT, |u| u.status);
        self.send_payload(&ok_payload(flags & !status::SESSION_STATE_CHANGED), seq)
            .await
    }

    pub async fn send_payload(&mut self, payload: &[u8], seq: u8) -> Flow {
        let mut out = Vec::with_capacity(payload.len() + 4);
        frame(&mut out, payload, seq);
        match self.client.write_all(&out).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }
}
