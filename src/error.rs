//! The core's error type: it knows which side caused it and whether a retry can help.

use std::io;
use std::net::SocketAddr;

/// Which party an error comes from (pingora's distinction): it decides what gets counted
/// where and whether trying another server makes sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The downstream client (its bytes, its resets).
    Client,
    /// An upstream server (refused, timed out, reset).
    Server,
    /// fastlb itself (configuration, runtime, resources).
    Internal,
}

/// Everything that can go wrong in the core. Converted to Python exceptions only in `py/`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid core configuration: {0}")]
    Config(String),
    #[error("frontend {frontend:?}: cannot listen on {addr}: {source}")]
    Bind {
        frontend: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("unknown backend {0:?}")]
    UnknownBackend(String),
    #[error("backend {backend:?} has no server {server:?}")]
    UnknownServer { backend: String, server: String },
    #[error("weight {0} is out of range (0..=256)")]
    WeightOutOfRange(u32),
    #[error("unknown server state {0:?} (expected ready, drain or maint)")]
    UnknownState(String),
    #[error("connect to {addr} failed: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("connect to {addr} timed out")]
    ConnectTimeout { addr: SocketAddr },
    #[error("client connection: {0}")]
    ClientIo(#[source] io::Error),
    #[error("server connection: {0}")]
    ServerIo(#[source] io::Error),
    #[error("idle timeout")]
    IdleTimeout,
    #[error("runtime: {0}")]
    Runtime(#[source] io::Error),
}

impl Error {
    /// The party this error comes from.
    pub fn side(&self) -> Side {
        match self {
            Error::Connect { .. } | Error::ConnectTimeout { .. } | Error::ServerIo(_) => {
                Side::Server
            }
            Error::ClientIo(_) | Error::IdleTimeout => Side::Client,
            _ => Side::Internal,
        }
    }

    /// Whether trying another server could succeed: only failures before any client byte
    /// was forwarded (connect errors) are safe to retry.
    pub fn retryable(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::ConnectTimeout { .. })
    }
}

pub type Result<T> = std::result::Result<T, Error>;
