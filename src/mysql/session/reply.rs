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
        let state_lost = (self.pinned && which == Role::Primary)
            || self.upstream(which).is_some_and(|u| u.in_transaction());
        self.drop_upstream(which).await;
        if failure.forwarded {
            return Flow::Close;
        }
        let message = format!(
            "fastlb: lost the connection to the server ({})",
            failure.error
        );
        let flow = self
            .send_error(error_code::SERVER_LOST, b"HY000", &message, seq)
            .await;
        if state_lost {
            return Flow::Close;
        }
        flow
    }

    /// The client gets the outcome of `Unplaced` under the failure policy.
    pub async fn unplaced(&mut self, unplaced: Unplaced, seq: u8) -> Flow {
        match unplaced {
            Unplaced::Refused(payload) | Unplaced::ReplayRefused(payload) => {
                self.send_payload(&payload, seq).await
            }
            Unplaced::NoServer => {
                bump(&self.frontend.stats.no_server);
                let message = format!(
                    "fastlb: no server of backend '{}' is available",
                    self.backend.name
                );
                self.send_error(error_code::SERVER_GONE, b"HY000", &message, seq)
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
