//! A session's server connections: at most one to the primary and one to a replica, each
//! the session's own for its life (MaxScale's readwritesplit).

use std::sync::Arc;

use super::registry::{ServerThread, SessionHandle};
use super::upstream::Upstream;
use crate::mysql::Role;

/// The session's connection on each side, if open; each change is published on the
/// session's handle (KILL finds the server threads there).
pub struct Connections {
    primary: Option<Upstream>,
    replica: Option<Upstream>,
    handle: Arc<SessionHandle>,
}

impl Connections {
    pub fn new(handle: Arc<SessionHandle>) -> Self {
        Connections {
            primary: None,
            replica: None,
            handle,
        }
    }

    pub fn get(&self, role: Role) -> Option<&Upstream> {
        match role {
            Role::Primary => self.primary.as_ref(),
            Role::Replica => self.replica.as_ref(),
        }
    }

    pub fn get_mut(&mut self, role: Role) -> Option<&mut Upstream> {
        match role {
            Role::Primary => self.primary.as_mut(),
            Role::Replica => self.replica.as_mut(),
        }
    }

    pub fn is_open(&self, role: Role) -> bool {
        self.get(role).is_some()
    }

    /// Keeps `upstream` as the session's connection on `role`'s side.
    pub fn set(&mut self, role: Role, upstream: Upstream) {
        let thread = ServerThread {
            server: upstream.server.clone(),
            thread_id: upstream.thread_id,
        };
        self.handle.set_thread(role, thread);
        match role {
            Role::Primary => self.primary = Some(upstream),
            Role::Replica => self.replica = Some(upstream),
        }
    }

    /// Lets the connection on `role`'s side go. One a KILL may still reach loses its pool
    /// ticket (it is closed when released): its thread must never serve another session.
    pub fn take(&mut self, role: Role) -> Option<Upstream> {
        let may_be_killed = self.handle.clear_thread(role);
        let mut upstream = match role {
            Role::Primary => self.primary.take(),
            Role::Replica => self.replica.take(),
        }?;
        if may_be_killed {
            upstream.pooled = None;
        }
        Some(upstream)
    }

    /// The side a transaction is open on (the primary's first: it is checked first).
    pub fn open_transaction(&self) -> Option<Role> {
        [Role::Primary, Role::Replica]
            .into_iter()
            .find(|&role| self.get(role).is_some_and(Upstream::in_transaction))
    }

    /// The side whose connection has `serial` (prepared statements remember it).
    pub fn side_of(&self, serial: u64) -> Option<Role> {
        [Role::Primary, Role::Replica]
            .into_iter()
            .find(|&role| self.get(role).is_some_and(|u| u.serial == serial))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Upstream> {
        [&mut self.primary, &mut self.replica].into_iter().flatten()
    }
}
