//! The write gate of a MySQL backend: during a switchover the control plane *holds* new
//! writes (statements that need the primary connection) so that none reaches the old
//! primary after it was made read-only, and *releases* them once the new primary is in
//! place; they then go there. A hold is bounded: a statement that waited `timeout` gets
//! ERROR 1290 (what a read-only server answers), and so does every statement until the
//! release (a switchover that overran must not send writes anywhere).
//!
//! The gates live in a process-wide table keyed by backend name (like the global causal
//! GTID), so that the session code needs one call and no new field. The hot path is one
//! relaxed atomic load while no gate anywhere is held.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

use crate::mysql::protocol::packet::{err_payload, error_code};

/// How many gates are held right now (0: every `pass` returns at once).
static HELD: AtomicUsize = AtomicUsize::new(0);

static GATES: LazyLock<Mutex<HashMap<String, Arc<WriteGate>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

#[derive(Default)]
struct Hold {
    /// Set while held: when held writes stop waiting and get ERROR 1290.
    deadline: Option<Instant>,
    since: Option<Instant>,
    /// Seconds writes were held in all (ended holds).
    held_seconds: f64,
    holds: u64,
}

#[derive(Default)]
pub struct WriteGate {
    hold: Mutex<Hold>,
    released: Notify,
}

fn gate(backend: &str) -> Arc<WriteGate> {
    let mut gates = GATES.lock().unwrap_or_else(PoisonError::into_inner);
    gates.entry(backend.to_owned()).or_default().clone()
}

/// Holds new writes of `backend` for at most `timeout`. Holding a held gate moves its
/// deadline.
pub fn hold(backend: &str, timeout: Duration) {
    let gate = gate(backend);
    let mut hold = gate.hold.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    if hold.deadline.is_none() {
        HELD.fetch_add(1, Ordering::AcqRel);
        hold.since = Some(now);
        hold.holds += 1;
    }
    hold.deadline = Some(now + timeout);
}

/// Lets held and new writes of `backend` go on. Returns whether it was held.
pub fn release(backend: &str) -> bool {
    let gate = gate(backend);
    let mut hold = gate.hold.lock().unwrap_or_else(PoisonError::into_inner);
    if hold.deadline.take().is_none() {
        return false;
    }
    if let Some(since) = hold.since.take() {
        hold.held_seconds += since.elapsed().as_secs_f64();
    }
    HELD.fetch_sub(1, Ordering::AcqRel);
    drop(hold);
    gate.released.notify_waiters();
    true
}

/// (held now, seconds held in all including the current hold, number of holds).
pub fn status(backend: &str) -> (bool, f64, u64) {
    let gate = gate(backend);
    let hold = gate.hold.lock().unwrap_or_else(PoisonError::into_inner);
    let current = hold
        .since
        .map_or(0.0, |since| since.elapsed().as_secs_f64());
    (
        hold.deadline.is_some(),
        hold.held_seconds + current,
        hold.holds,
    )
}

/// Waits while `backend`'s writes are held. Err: the ERR packet for the client (the hold
/// outlasted its timeout).
pub async fn pass(backend: &str) -> Result<(), Vec<u8>> {
    if HELD.load(Ordering::Acquire) == 0 {
        return Ok(());
    }
    let gate = gate(backend);
    loop {
        // Registered before the check, so that a release in between is not missed.
        let released = gate.released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        let deadline = {
            let hold = gate.hold.lock().unwrap_or_else(PoisonError::into_inner);
            match hold.deadline {
                None => return Ok(()),
                Some(deadline) => deadline,
            }
        };
        if deadline <= Instant::now() {
            return Err(refusal(backend));
        }
        let _ = tokio::time::timeout_at(deadline.into(), released).await;
    }
}

fn refusal(backend: &str) -> Vec<u8> {
    err_payload(
        error_code::NO_PRIMARY,
        b"HY000",
        &format!(
            "fastlb: writes to backend {backend} are held for a primary switchover that did \
             not finish in time; retry"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn an_open_gate_lets_writes_pass() {
        runtime().block_on(async {
            assert!(pass("gate-open").await.is_ok());
            assert!(!release("gate-open"));
        });
    }

    #[test]
    fn held_writes_go_on_at_the_release() {
        runtime().block_on(async {
            hold("gate-release", Duration::from_secs(30));
            let waiter = tokio::spawn(async { pass("gate-release").await });
            tokio::task::yield_now().await;
            assert!(!waiter.is_finished());
            assert!(status("gate-release").0);
            assert!(release("gate-release"));
            assert!(waiter.await.unwrap().is_ok());
            let (held, _, holds) = status("gate-release");
            assert!(!held);
            assert_eq!(holds, 1);
        });
    }

    #[test]
    fn a_hold_past_its_timeout_refuses_with_1290_until_released() {
        runtime().block_on(async {
            hold("gate-timeout", Duration::from_millis(20));
            let refused = pass("gate-timeout").await.unwrap_err();
            assert_eq!(&refused[1..3], &error_code::NO_PRIMARY.to_le_bytes());
            assert!(pass("gate-timeout").await.is_err());
            release("gate-timeout");
            assert!(pass("gate-timeout").await.is_ok());
        });
    }
}
