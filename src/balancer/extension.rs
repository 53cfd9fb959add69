//! Protocol metadata on a backend (pingora's "metadata on the backend"): the balancer keeps
//! one opaque, typed slot on each backend and on each of its servers, which a protocol
//! layer fills (the database protocol's `topology.rs`: roles, the read pool, lag, the
//! server version).
//! Selection never looks inside; the balancer only tells the backend's extension when a
//! server joins, when the configuration is reloaded and when the schedule changes, so that
//! what the protocol derives from the servers (a read pool) stays in step.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use super::server::Server;
use crate::config::{BackendConfig, ServerConfig};

/// What a server's metadata slot holds: the protocol layer's own type, downcast on reading.
pub type ServerMetadata = Box<dyn Any + Send + Sync>;

/// A protocol layer's part of a backend, attached by whoever builds the backend (the
/// engine, which knows the frontends' protocols). Hooks run on the control side, never on
/// a pick.
pub trait BackendExtension: Any + Send + Sync {
    /// The metadata of a server joining the backend (at start, `add_server`, or new in a
    /// reload), kept in the server's slot for its whole life.
    fn server_metadata(&self, config: &ServerConfig) -> Option<ServerMetadata>;

    /// A reload: the backend's new configuration (its servers are updated right after).
    fn reconfigure(&self, config: &BackendConfig);

    /// The schedule was recomputed (a weight, state, health or the server set changed):
    /// the backend's servers now, in configuration order. Runs under the backend's lock.
    fn republished(&self, servers: &[Arc<Server>]);
}

/// A write-once slot for one value of a type the balancer does not know: set when the
/// owner joins (or when a reload attaches a protocol), then read lock-free.
pub struct Slot<T: ?Sized>(OnceLock<Box<T>>);

impl<T: ?Sized> Default for Slot<T> {
    fn default() -> Self {
        Slot(OnceLock::new())
    }
}

impl<T: ?Sized> Slot<T> {
    /// Fills the slot unless it already holds a value (the first one stays).
    pub(super) fn fill(&self, value: Box<T>) {
        let _ = self.0.set(value);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.get().is_none()
    }

    pub(super) fn get(&self) -> Option<&T> {
        self.0.get().map(Box::as_ref)
    }
}

impl Slot<dyn Any + Send + Sync> {
    /// The value, if the slot holds a `V`.
    #[inline]
    pub fn get_as<V: Any>(&self) -> Option<&V> {
        self.0.get()?.downcast_ref()
    }
}

impl Slot<dyn BackendExtension> {
    /// The extension, if the slot holds an `E`.
    #[inline]
    pub fn get_as<E: BackendExtension>(&self) -> Option<&E> {
        let extension: &dyn Any = self.0.get()?.as_ref();
        extension.downcast_ref()
    }
}
