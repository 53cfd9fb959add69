//! One upstream server: address, weight and administrative state (atomics), counters.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use crate::config::ServerConfig;
use crate::error::{Error, Result};
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
        match text {
            "ready" => Ok(AdminState::Ready),
            "drain" => Ok(AdminState::Drain),
            "maint" => Ok(AdminState::Maint),
            other => Err(Error::UnknownState(other.to_string())),
        }
    }
}

pub struct Server {
    pub name: String,
    pub address: SocketAddr,
    pub backup: bool,
    weight: AtomicU32,
    state: AtomicU8,
    pub stats: ServerStats,
}

impl Server {
    pub fn new(config: &ServerConfig) -> Self {
        Server {
            name: config.name.clone(),
            address: config.address,
            backup: config.backup,
            weight: AtomicU32::new(config.weight),
            state: AtomicU8::new(AdminState::Ready as u8),
            stats: ServerStats::default(),
        }
    }

    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    pub(super) fn store_weight(&self, weight: u32) {
        self.weight.store(weight, Ordering::Relaxed);
    }

    pub fn state(&self) -> AdminState {
        AdminState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub(super) fn store_state(&self, state: AdminState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    /// Whether this server may take a new connection right now. Checked on the hot path too,
    /// because a published schedule can trail a change by a moment.
    #[inline]
    pub fn accepts_new(&self) -> bool {
        self.state.load(Ordering::Relaxed) == AdminState::Ready as u8
            && self.weight.load(Ordering::Relaxed) > 0
    }
}
