//! The session's state (SET, USE, COM_INIT_DB, COM_SET_OPTION, autocommit): recorded in
//! order as the client changes it, and replayed on each server connection before its next
//! statement there, so that every connection of the session behaves as the client set it.

use super::response::{Outcome, Shape};
use super::upstream::{Upstream, UpstreamError};
use super::Session;
use crate::mysql::Role;

/// Statements replayed on connections opened later; past this the session is pinned to
/// the connections it has (a client that keeps changing state has a reason to).
const MAX_STATE_ENTRIES: usize = 1024;

impl Session {
    /// Records a successful state change for replay; the connection that ran it has it.
    pub fn record_state(&mut self, payload: &[u8], ran_on: Role) {
        // Repeating the last change changes nothing (pools re-send the same SET).
        if self.state.last().map(Vec::as_slice) == Some(payload) {
        } else if self.state.len() < MAX_STATE_ENTRIES {
            self.state.push(payload.to_vec());
        } else {
            // Not recorded (memory stays bounded): the session can't open new connections
            // any more, so it stays on the ones it has.
            self.state_overflowed = true;
            self.pin();
            return;
        }
        let applied = self.state.len();
        if let Some(upstream) = self.upstream(ran_on) {
            upstream.applied = applied;
        }
    }

    /// Replays state the connection hasn't applied yet.
    pub async fn catch_up(&mut self, which: Role) -> Result<(), UpstreamError> {
        let state = std::mem::take(&mut self.state);
        let result = match self.upstream(which) {
            Some(upstream) => catch_up(upstream, &state).await,
            None => Ok(()),
        };
        self.state = state;
        result
    }
}

/// Replays `state[upstream.applied..]` on `upstream`.
pub(super) async fn catch_up(
    upstream: &mut Upstream,
    state: &[Vec<u8>],
) -> Result<(), UpstreamError> {
    while upstream.applied < state.len() {
        let payload = &state[upstream.applied];
        let shape = if payload.first() == Some(&crate::mysql::protocol::packet::command::QUERY) {
            Shape::Results
        } else {
            Shape::Single
        };
        refused_if_error(upstream.run(payload, shape).await?)?;
        upstream.applied += 1;
    }
    Ok(())
}

pub(super) fn refused_if_error(outcome: Outcome) -> Result<(), UpstreamError> {
    match outcome.error {
        Some(code) => Err(UpstreamError::ReplayRefused(code)),
        None => Ok(()),
    }
}

/// What the client sees when a server refused to replay its session's state.
pub fn replay_error(code: u16) -> Vec<u8> {
    crate::mysql::protocol::packet::err_payload(
        code,
        b"HY000",
        "fastlb: replaying the session's state on another server connection failed",
    )
}
