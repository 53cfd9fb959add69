//! Zero-downtime upgrade, the core's half: a running engine exports duplicates of its
//! listening sockets, and a new engine (in the new process) adopts them before `start`
//! instead of binding. The sockets are the same, so are their accept queues: nothing waiting
//! there is reset (python/fastlb/upgrade.py carries them across with SCM_RIGHTS).

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use super::engine::Engine;
use super::listener::{adopt, join};
use crate::error::{Error, Result};

/// One frontend's listening sockets as another fastlb process handed them over.
pub(super) struct Inherited {
    pub name: String,
    /// The frontend's configured address there (port 0 stays 0).
    pub configured: SocketAddr,
    pub listeners: Vec<std::net::TcpListener>,
}

/// A frontend's listening sockets, duplicated for another process (`export_listeners`).
pub struct ExportedListeners {
    pub frontend: String,
    pub configured: SocketAddr,
    pub fds: Vec<OwnedFd>,
}

impl Engine {
    /// Before `start`: serve `frontend` (configured at `configured`) on these listening
    /// sockets, handed over by the process this one upgrades, instead of binding its
    /// address. A frontend of the new configuration on the same address (and, for port 0,
    /// the same name) takes them; one with fewer than `workers` sockets gets more in the
    /// same SO_REUSEPORT group.
    pub fn adopt_listeners(
        &self,
        frontend: &str,
        configured: SocketAddr,
        fds: Vec<OwnedFd>,
    ) -> Result<()> {
        let listeners = fds
            .into_iter()
            .map(adopt)
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|source| Error::Bind {
                frontend: frontend.to_string(),
                addr: configured,
                source,
            })?;
        let mut state = self.lock();
        if state.runtime.is_some() {
            return Err(Error::Config(
                "listeners can only be adopted before start".into(),
            ));
        }
        state.inherited.push(Inherited {
            name: frontend.to_string(),
            configured,
            listeners,
        });
        Ok(())
    }

    /// Duplicates of every running frontend's listening sockets, for a new fastlb process
    /// that takes over (`fastlb serve --upgrade`). This process keeps accepting on them
    /// until it stops.
    pub fn export_listeners(&self) -> Result<Vec<ExportedListeners>> {
        let state = self.lock();
        state
            .frontends
            .iter()
            .filter_map(|l| Some((&l.frontend, l.accept.as_ref()?)))
            .map(|(frontend, accept)| {
                Ok(ExportedListeners {
                    frontend: frontend.name.clone(),
                    configured: frontend.addresses().configured,
                    fds: accept.duplicate().map_err(Error::Runtime)?,
                })
            })
            .collect()
    }
}

/// Removes and returns the inherited listeners of the frontend `name` at `configured`.
pub(super) fn take_inherited(
    inherited: &mut Vec<Inherited>,
    name: &str,
    configured: SocketAddr,
) -> Option<Vec<std::net::TcpListener>> {
    // Port 0 names no address: only the frontend of the same name can claim its sockets.
    let index = inherited
        .iter()
        .position(|i| i.configured == configured && (configured.port() != 0 || i.name == name))?;
    Some(inherited.remove(index).listeners)
}

/// Inherited listeners, plus new members of their SO_REUSEPORT group up to one per worker.
pub(super) fn top_up(
    name: &str,
    mut listeners: Vec<std::net::TcpListener>,
    workers: usize,
) -> Result<Vec<std::net::TcpListener>> {
    let Some(first) = listeners.first() else {
        return Err(Error::Config(format!(
            "frontend {name:?}: no inherited listener"
        )));
    };
    let bound = first.local_addr().map_err(Error::Runtime)?;
    let missing = workers.saturating_sub(listeners.len());
    let joined = join(bound, missing).map_err(|source| Error::Bind {
        frontend: name.to_string(),
        addr: bound,
        source,
    })?;
    listeners.extend(joined);
    Ok(listeners)
}
