//! One upstream server: address, weight, operator state and health (atomics), counters.

use rustls_pki_types::ServerName;
use std::any::Any;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use super::extension::Slot;
use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::health::{CheckRecord, Transition};
use crate::stats::ServerStats;

/// The operator's say over a server (HAProxy's `set server state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AdminState {
    /// Takes new connections.
    Ready = 0,
    /// No new connections; established ones carry on.
    Drain = 1,
    /// Maintenance: no new connections; established ones carry on.
    Maint = 2,
}

impl AdminState {
    /// Every state, in the order `_core.SERVER_STATES` exports them.
    pub const ALL: [AdminState; 3] = [AdminState::Ready, AdminState::Drain, AdminState::Maint];

    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            0 => AdminState::Ready,
            1 => AdminState::Drain,
            _ => AdminState::Maint,
        }
    }
}

impl std::str::FromStr for AdminState {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        AdminState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| Error::UnknownState(text.to_string()))
    }
}

/// What a server is doing, all things considered: the operator's state wins over health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Up,
    Down,
    Drain,
    Maint,
}

impl Status {
    /// Every status, in the order `_core.SERVER_STATUSES` exports them.
    pub const ALL: [Status; 4] = [Status::Up, Status::Down, Status::Drain, Status::Maint];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Down => "DOWN",
            Status::Drain => "DRAIN",
            Status::Maint => "MAINT",
        }
    }
}

/// Identifies a server across schedule changes (names can be reused after a removal).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct Server {
    pub id: u64,
    pub name: String,
    pub address: SocketAddr,
    pub backup: bool,
    /// SNI and certificate name when its backend speaks TLS.
    pub tls_name: ServerName<'static>,
    /// The value of its backend's persistence cookie that names it (`cookie`, HAProxy's
    /// server `cookie`): by default its name.
    pub cookie: Box<str>,
    /// The weight from the configuration, what `50%` is relative to.
    initial_weight: AtomicU32,
    weight: AtomicU32,
    state: AtomicU8,
    healthy: AtomicBool,
    /// Unix time in milliseconds of the last status change.
    last_change_ms: AtomicU64,
    down_transitions: AtomicU64,
    /// Consecutive failed connects of live traffic (passive observation).
    live_failures: AtomicU32,
    /// Set when the server leaves its backend: its check loop ends.
    retired: AtomicBool,
    /// A check loop runs for this server.
    checking: AtomicBool,
    checks: Mutex<CheckRecord>,
    /// What the backend's protocol extension keeps about this server (`extension.rs`).
    pub(super) metadata: Slot<dyn Any + Send + Sync>,
    pub stats: ServerStats,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The configured host name, else the IP address (rustls verifies IP SANs too).
pub fn tls_name(config: &ServerConfig) -> ServerName<'static> {
    config
        .tls_name
        .as_ref()
        .and_then(|name| ServerName::try_from(name.clone()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(config.address.ip().into()))
}

/// The server's persistence cookie value: the configured one, else its name.
pub fn cookie_value(config: &ServerConfig) -> &str {
    config.cookie.as_deref().unwrap_or(&config.name)
}

impl Server {
    pub fn new(config: &ServerConfig) -> Self {
        Server {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: config.name.clone(),
            address: config.address,
            backup: config.backup,
            tls_name: tls_name(config),
            cookie: cookie_value(config).into(),
            initial_weight: AtomicU32::new(config.weight),
            weight: AtomicU32::new(config.weight),
            state: AtomicU8::new(AdminState::Ready as u8),
            healthy: AtomicBool::new(true),
            last_change_ms: AtomicU64::new(unix_ms()),
            down_transitions: AtomicU64::new(0),
            live_failures: AtomicU32::new(0),
            retired: AtomicBool::new(false),
            checking: AtomicBool::new(false),
            checks: Mutex::new(CheckRecord::default()),
            metadata: Slot::default(),
            stats: ServerStats::default(),
        }
    }

    /// The protocol metadata of type `V` the backend's extension gave this server, if any.
    #[inline]
    pub fn metadata<V: Any>(&self) -> Option<&V> {
        self.metadata.get_as()
    }

    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    pub(super) fn store_weight(&self, weight: u32) {
        self.weight.store(weight, Ordering::Relaxed);
    }

    pub fn initial_weight(&self) -> u32 {
        self.initial_weight.load(Ordering::Relaxed)
    }

    /// A reload brought a new configured weight: it applies, and becomes the reference.
    pub(super) fn reconfigure_weight(&self, weight: u32) {
        self.initial_weight.store(weight, Ordering::Relaxed);
        self.store_weight(weight);
    }

    pub fn state(&self) -> AdminState {
        AdminState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub(super) fn store_state(&self, state: AdminState) {
        self.changing_status(|| self.state.store(state as u8, Ordering::Relaxed));
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> Status {
        match (self.state(), self.is_healthy()) {
            (AdminState::Maint, _) => Status::Maint,
            (AdminState::Drain, _) => Status::Drain,
            (AdminState::Ready, false) => Status::Down,
            (AdminState::Ready, true) => Status::Up,
        }
    }

    /// Unix time (seconds) of the last status change.
    pub fn last_change(&self) -> f64 {
        self.last_change_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    pub fn down_transitions(&self) -> u64 {
        self.down_transitions.load(Ordering::Relaxed)
    }

    /// What `balance: leastconn` weighs: its open TCP-mode connections plus the HTTP
    /// requests in flight on it (a pooled idle connection carries no load).
    #[inline]
    pub fn load(&self) -> u64 {
        self.stats.traffic.current() + self.stats.http.active_requests()
    }

    /// Whether this server may take a new connection right now. Checked on the hot path too,
    /// because a published schedule can trail a change by a moment.
    #[inline]
    pub fn accepts_new(&self) -> bool {
        self.state.load(Ordering::Relaxed) == AdminState::Ready as u8
            && self.healthy.load(Ordering::Relaxed)
            && self.weight.load(Ordering::Relaxed) > 0
    }

    /// Runs `change` and stamps the time if it changed the status.
    fn changing_status(&self, change: impl FnOnce()) {
        let before = self.status();
        change();
        if self.status() != before {
            self.last_change_ms.store(unix_ms(), Ordering::Relaxed);
        }
    }

    fn set_healthy(&self, healthy: bool) {
        self.changing_status(|| {
            if self.healthy.swap(healthy, Ordering::Relaxed) && !healthy {
                self.down_transitions.fetch_add(1, Ordering::Relaxed);
            }
        });
        if healthy {
            self.live_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Applies a check result; Some when the server went up or down (republish then).
    pub fn record_check(
        &self,
        outcome: crate::health::probe::ProbeOutcome,
        rise: u32,
        fall: u32,
    ) -> Option<Transition> {
        let transition = self
            .lock_checks()
            .apply(outcome, self.is_healthy(), rise, fall);
        if let Some(t) = transition {
            self.set_healthy(t == Transition::WentUp);
        }
        transition
    }

    /// Passive observation: a failed connect of live traffic. After `fall` in a row the
    /// server is marked down at once; returns true then (republish).
    pub fn observe_connect_failure(&self, fall: u32) -> bool {
        let failures = self.live_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < fall || !self.is_healthy() {
            return false;
        }
        self.lock_checks().successes = 0;
        self.set_healthy(false);
        true
    }

    /// A connect of live traffic succeeded: the failure run is over.
    #[inline]
    pub fn observe_connect_success(&self) {
        // Read first: most connects succeed, and a store would bounce the cache line.
        if self.live_failures.load(Ordering::Relaxed) != 0 {
            self.live_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Whether the next check should come at the fast interval.
    pub fn in_transition(&self) -> bool {
        self.lock_checks().in_transition(self.is_healthy())
    }

    pub fn checks(&self) -> CheckRecord {
        self.lock_checks().clone()
    }

    /// The health check was switched off: the server counts as healthy again.
    pub fn forget_checks(&self) {
        *self.lock_checks() = CheckRecord::default();
        self.set_healthy(true);
    }

    fn lock_checks(&self) -> MutexGuard<'_, CheckRecord> {
        self.checks.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    /// True if the caller is now the one check loop of this server.
    pub fn claim_checker(&self) -> bool {
        !self.checking.swap(true, Ordering::AcqRel)
    }

    pub fn release_checker(&self) {
        self.checking.store(false, Ordering::Release);
    }
}
