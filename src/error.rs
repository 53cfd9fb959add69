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
    // The runtime refusals (a control call naming something that isn't there, or a value
    // outside the core's limits): each has its own Python class, mapped in `py/errors.rs`,
    // so Python never works out which one it was from the message or from the stats.
    #[error("unknown backend '{0}'")]
    UnknownBackend(String),
    #[error("backend '{backend}' has no server '{server}'")]
    UnknownServer { backend: String, server: String },
    #[error("backend '{backend}' already has a server '{server}'")]
    ServerExists { backend: String, server: String },
    #[error("weight must be between 0 and {max} (got {0})", max = crate::balancer::MAX_WEIGHT)]
    WeightOutOfRange(i64),
    #[error("unknown server state '{0}' (expected ready, drain or maint)")]
    UnknownState(String),
    #[error("unknown server role '{0}' (expected primary or replica)")]
    UnknownRole(String),
    #[error("connect to {addr} failed: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("connect to {addr} timed out")]
    ConnectTimeout { addr: SocketAddr },
    /// Out of a local resource (file descriptors, memory, ephemeral ports): not the
    /// server's fault, and another server wouldn't do better.
    #[error("out of local resources: {0}")]
    Resources(#[source] io::Error),
    #[error("no server available")]
    NoServer,
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
    /// Classifies a failed connect: local shortages are fastlb's, the rest the server's.
    pub fn from_connect(addr: SocketAddr, source: io::Error) -> Self {
        const LOCAL: [i32; 5] = [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::EADDRNOTAVAIL,
        ];
        match source.raw_os_error() {
            Some(code) if LOCAL.contains(&code) => Error::Resources(source),
            _ => Error::Connect { addr, source },
        }
    }

    /// The party this error comes from.
    pub fn side(&self) -> Side {
        match self {
            Error::Connect { .. }
            | Error::ConnectTimeout { .. }
            | Error::ServerIo(_)
            | Error::NoServer => Side::Server,
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
