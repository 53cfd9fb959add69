//! The session's state (SET, USE, COM_INIT_DB, COM_SET_OPTION, autocommit): recorded in
//! order as the client changes it, and replayed on each server connection before its next
//! statement there, so that every connection of the session behaves as the client set it.
//! A pooled connection remembers what it has run: a session that borrows it replays only
//! the entries its own log adds (the common case: every client of an application sends the
//! same SET NAMES / sql_mode, so nothing is replayed at all).

use std::sync::Arc;

use super::response::{Outcome, Shape};
use super::upstream::{Upstream, UpstreamError};
use super::Session;
use crate::mysql::protocol::packet::command;
use crate::mysql::Role;

/// Statements replayed on connections opened later; past this the session is pinned to
/// the connections it has (a client that keeps changing state has a reason to).
const MAX_STATE_ENTRIES: usize = 1024;

/// The session's state changes (command payloads), in order; each connection keeps the
/// entries it has run (`Upstream::state`), shared, not copied.
#[derive(Default)]
pub struct StateLog {
    entries: Vec<Arc<[u8]>>,
    /// More changes than MAX_STATE_ENTRIES: no new connection can replay them.
    overflowed: bool,
    /// The client's current command recorded its change here (multiplexing asks: a change
    /// that isn't here, whatever ran it, stays on its connection only).
    recorded_by_command: bool,
}

impl StateLog {
    /// Records a change; false when the log is full (not recorded: memory stays bounded).
    fn record(&mut self, payload: &[u8]) -> bool {
        // Repeating the last change changes nothing (pools re-send the same SET).
        if self.entries.last().map(|last| &**last) != Some(payload) {
            if self.entries.len() >= MAX_STATE_ENTRIES {
                self.overflowed = true;
                return false;
            }
            self.entries.push(payload.into());
        }
        self.recorded_by_command = true;
        true
    }

    /// A client command starts: nothing of it is recorded yet.
    pub fn command_started(&mut self) {
        self.recorded_by_command = false;
    }

    /// Whether the current client command's state change is in the log (a text SET, USE,
    /// COM_INIT_DB that succeeded); false for one run another way (a prepared SET).
    pub fn recorded_by_command(&self) -> bool {
        self.recorded_by_command
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

    /// Whether `upstream` can be brought to this state by replaying entries only: what it
    /// has run is where this log starts (else it needs a reset first).
    pub fn extends(&self, upstream: &Upstream) -> bool {
        self.entries.starts_with(&upstream.state)
    }

    /// Replays the changes `upstream` hasn't run yet: the diff, when the connection's
    /// state is where this log starts (`extends`); the whole log on a reset connection.
    pub async fn replay_on(&self, upstream: &mut Upstream) -> Result<(), UpstreamError> {
        if !self.extends(upstream) {
            return Err(UpstreamError::Protocol(
                "a server connection with another session's state".into(),
            ));
        }
        while let Some(payload) = self.entries.get(upstream.state.len()) {
            let shape = if payload.first() == Some(&command::QUERY) {
                Shape::Results
            } else {
                Shape::Single
            };
            refused_if_error(upstream.run(payload, shape).await?)?;
            upstream.state.push(payload.clone());
        }
        Ok(())
    }
}

impl Session {
    /// Records a successful state change for replay; the connection that ran it has it.
    pub fn record_state(&mut self, payload: &[u8], ran_on: Role) {
        if !self.state.record(payload) {
            // The session can't open new connections any more, so it stays on the ones it
            // has (a client that keeps changing state has a reason to).
            self.pin(crate::mysql::stats::PinReason::StateOverflow);
            if let Some(upstream) = self.connections.get_mut(ran_on) {
                upstream.dirty = true;
            }
            return;
        }
        if let Some(upstream) = self.connections.get_mut(ran_on) {
            // It was caught up before the statement, and ran it.
            upstream.state.clone_from(&self.state.entries);
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
