//! Log files the engine writes: reopened together for logrotate.

use super::Engine;
use crate::http::access_log;

impl Engine {
    /// Reopens the access logs (SIGUSR1 from logrotate, after it renamed them). Each
    /// writer first finishes the lines already handed to it, in the old file. The logs are
    /// the process's: one signal reaches every engine's, as it would every HAProxy log.
    pub fn reopen_logs(&self) {
        access_log::reopen_all();
    }
}
