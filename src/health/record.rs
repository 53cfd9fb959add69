//! The last check results of one server and the rise/fall state machine.

use serde::Serialize;
use std::time::{Duration, SystemTime};

use super::probe::ProbeOutcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// No check has run yet.
    Pending,
    Ok,
    Failed,
}

/// A health change the thresholds decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    WentUp,
    WentDown,
}

/// What the checks of one server found last, and the consecutive counts.
#[derive(Debug, Clone)]
pub struct CheckRecord {
    pub status: CheckStatus,
    pub last_error: Option<String>,
    pub duration: Duration,
    pub checked_at: Option<SystemTime>,
    pub successes: u32,
    pub failures: u32,
}

impl Default for CheckRecord {
    fn default() -> Self {
        CheckRecord {
            status: CheckStatus::Pending,
            last_error: None,
            duration: Duration::ZERO,
            checked_at: None,
            successes: 0,
            failures: 0,
        }
    }
}

impl CheckRecord {
    /// Applies one result to a server that is currently `healthy` (or not). A server goes
    /// down after `fall` consecutive failures and comes back after `rise` consecutive
    /// successes, HAProxy's rule; anything in between is a transition.
    pub fn apply(
        &mut self,
        outcome: ProbeOutcome,
        healthy: bool,
        rise: u32,
        fall: u32,
    ) -> Option<Transition> {
        self.checked_at = Some(SystemTime::now());
        match outcome {
            Ok(duration) => {
                self.status = CheckStatus::Ok;
                self.duration = duration;
                self.last_error = None;
                self.successes = self.successes.saturating_add(1);
                self.failures = 0;
                (!healthy && self.successes >= rise).then_some(Transition::WentUp)
            }
            Err(reason) => {
                self.status = CheckStatus::Failed;
                self.last_error = Some(reason);
                self.failures = self.failures.saturating_add(1);
                self.successes = 0;
                (healthy && self.failures >= fall).then_some(Transition::WentDown)
            }
        }
    }

    /// Between states: counting towards `rise` while down or towards `fall` while up.
    pub fn in_transition(&self, healthy: bool) -> bool {
        if healthy {
            self.failures > 0
        } else {
            self.successes > 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(record: &mut CheckRecord, healthy: &mut bool, ok: bool) -> Option<Transition> {
        let outcome = if ok {
            Ok(Duration::from_millis(1))
        } else {
            Err("refused".into())
        };
        let transition = record.apply(outcome, *healthy, 2, 3);
        match transition {
            Some(Transition::WentUp) => *healthy = true,
            Some(Transition::WentDown) => *healthy = false,
            None => {}
        }
        transition
    }

    #[test]
    fn falls_after_three_failures_and_rises_after_two_successes() {
        let (mut record, mut healthy) = (CheckRecord::default(), true);
        assert_eq!(run(&mut record, &mut healthy, false), None);
        assert!(record.in_transition(healthy));
        assert_eq!(run(&mut record, &mut healthy, false), None);
        assert_eq!(
            run(&mut record, &mut healthy, false),
            Some(Transition::WentDown)
        );
        assert_eq!(record.last_error.as_deref(), Some("refused"));
        assert_eq!(run(&mut record, &mut healthy, false), None);
        assert_eq!(run(&mut record, &mut healthy, true), None);
        assert!(record.in_transition(healthy));
        assert_eq!(
            run(&mut record, &mut healthy, true),
            Some(Transition::WentUp)
        );
        assert!(!record.in_transition(healthy));
        assert_eq!(record.status, CheckStatus::Ok);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let (mut record, mut healthy) = (CheckRecord::default(), true);
        for ok in [false, false, true, false, false] {
            assert_eq!(run(&mut record, &mut healthy, ok), None);
        }
        assert!(healthy);
    }
}
