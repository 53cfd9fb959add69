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

/// The session's state changes (command payloads), in order; each connection remembers
/// how many of them it has applied (`Upstream::applied`).
#[derive(Default)]
pub struct StateLog {
    entries: Vec<Vec<u8>>,
    /// More changes than MAX_STATE_ENTRIES: no new connection can replay them.
    overflowed: bool,
}

impl StateLog {
    /// Records a change; the number of changes a connection that ran it has applied, or
    /// None when the log is full (not recorded: memory stays bounded).
    fn record(&mut self, payload: &[u8]) -> Option<usize> {
        // Repeating the last change changes nothing (pools re-send the same SET).
        if self.entries.last().map(Vec::as_slice) != Some(payload) {
            if self.entries.len() >= MAX_STATE_ENTRIES {
                self.overflowed = true;
                return None;
            }
            self.entries.push(payload.to_vec());
        }
        Some(self.entries.len())
    }

    /// Whether a new connection can no longer be brought to the session's state.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The session starts over (COM_RESET_CONNECTION, COM_CHANGE_USER).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.overflowed = false;
    }

    /// Replays the changes `upstream` hasn't applied yet.
    pub async fn replay_on(&self, upstream: &mut Upstream) -> Result<(), UpstreamError> {
        replay(upstream, &self.entries).await
    }
}

impl Session {
    /// Records a successful state change for replay; the connection that ran it has it.
    pub fn record_state(&mut self, payload: &[u8], ran_on: Role) {
        let Some(applied) = self.state.record(payload) else {
            // The session can't open new connections any more, so it stays on the ones it
            // has (a client that keeps changing state has a reason to).
            self.pin();
            return;
        };
        if let Some(upstream) = self.connections.get_mut(ran_on) {
            upstream.applied = applied;
        }
    }

    /// Replays state the connection hasn't applied yet.
    pub async fn catch_up(&mut self, which: Role) -> Result<(), UpstreamError> {
        match self.connections.get_mut(which) {
            Some(upstream) => self.state.replay_on(upstream).await,
            None => Ok(()),
        }
    }
}

/// Replays `state[upstream.applied..]` on `upstream`.
async fn replay(upstream: &mut Upstream, state: &[Vec<u8>]) -> Result<(), UpstreamError> {
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
