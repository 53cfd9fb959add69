//! A backend: its servers, the rotation over the eligible ones, and runtime changes.

use std::sync::{Arc, Mutex};

use super::rotation::Rotation;
use super::server::{AdminState, Server};
use super::MAX_WEIGHT;
use crate::config::BackendConfig;
use crate::error::{Error, Result};

/// A server chosen for a connection, with where it sat in the schedule.
pub struct Pick<'a> {
    /// Position in the schedule, where a retry continues from.
    pub slot: usize,
    /// Index in `Backend::servers`.
    pub index: usize,
    pub server: &'a Arc<Server>,
}

pub struct Backend {
    pub name: String,
    pub servers: Vec<Arc<Server>>,
    pub retries: u32,
    pub connect_timeout: std::time::Duration,
    all_backups: bool,
    rotation: Rotation,
    /// Serialises republishing (control side only; pickers never take it).
    republish: Mutex<()>,
}

impl Backend {
    pub fn new(config: &BackendConfig) -> Self {
        let backend = Backend {
            name: config.name.clone(),
            servers: config
                .servers
                .iter()
                .map(|s| Arc::new(Server::new(s)))
                .collect(),
            retries: config.retries,
            connect_timeout: config.connect_timeout(),
            all_backups: config.all_backups,
            rotation: Rotation::new(&[]),
            republish: Mutex::new(()),
        };
        backend.republish();
        backend
    }

    /// Picks the server for a new connection.
    #[inline]
    pub fn pick(&self) -> Option<Pick<'_>> {
        let (slot, index) = self
            .rotation
            .pick_where(|i| self.servers[i].accepts_new())?;
        Some(self.pick_at(slot, index))
    }

    /// Picks the server to retry on after `failed`: the next usable one in the schedule,
    /// preferring servers this connection has not `tried` yet (redispatch), falling back to
    /// a tried one rather than giving up (a single-server backend still retries).
    pub fn repick(&self, failed: &Pick<'_>, tried: &[usize]) -> Option<Pick<'_>> {
        let usable = |i: usize| self.servers[i].accepts_new();
        let (slot, index) = self
            .rotation
            .after(failed.slot, |i| usable(i) && !tried.contains(&i))
            .or_else(|| self.rotation.after(failed.slot, usable))?;
        Some(self.pick_at(slot, index))
    }

    fn pick_at(&self, slot: usize, index: usize) -> Pick<'_> {
        Pick {
            slot,
            index,
            server: &self.servers[index],
        }
    }

    pub fn server(&self, name: &str) -> Result<&Arc<Server>> {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::UnknownServer {
                backend: self.name.clone(),
                server: name.to_string(),
            })
    }

    pub fn set_weight(&self, server: &str, weight: u32) -> Result<()> {
        if weight > MAX_WEIGHT {
            return Err(Error::WeightOutOfRange(weight));
        }
        self.server(server)?.store_weight(weight);
        self.republish();
        Ok(())
    }

    pub fn set_state(&self, server: &str, state: AdminState) -> Result<()> {
        self.server(server)?.store_state(state);
        self.republish();
        Ok(())
    }

    /// For each server, whether it is in the current schedule (takes new connections).
    pub fn active_servers(&self) -> Vec<bool> {
        self.eligible_weights().iter().map(|&w| w > 0).collect()
    }

    /// Recomputes the schedule from the servers' current weights and states.
    fn republish(&self) {
        let _serialised = self.republish.lock().unwrap_or_else(|e| e.into_inner());
        self.rotation.publish(&self.eligible_weights());
    }

    /// Weights as the rotation should see them: servers that can't take new connections
    /// count 0; backups count only while no primary can serve (the first usable backup, or
    /// all of them with `all_backups`), as HAProxy does.
    fn eligible_weights(&self) -> Vec<u32> {
        let usable = |s: &Server| if s.accepts_new() { s.weight() } else { 0 };
        let primaries: Vec<u32> = self
            .servers
            .iter()
            .map(|s| if s.backup { 0 } else { usable(s) })
            .collect();
        if primaries.iter().any(|&w| w > 0) {
            return primaries;
        }
        let mut chosen_backup = false;
        self.servers
            .iter()
            .map(|s| {
                let weight = if s.backup { usable(s) } else { 0 };
                if weight == 0 || (chosen_backup && !self.all_backups) {
                    return 0;
                }
                chosen_backup = true;
                weight
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;

    fn backend(servers: &[(&str, u32, bool)], all_backups: bool) -> Backend {
        Backend::new(&BackendConfig {
            name: "web".into(),
            retries: 3,
            connect_timeout_ms: 1000,
            all_backups,
            servers: servers
                .iter()
                .enumerate()
                .map(|(i, &(name, weight, backup))| ServerConfig {
                    name: name.into(),
                    address: format!("127.0.0.1:{}", 9000 + i).parse().unwrap(),
                    weight,
                    backup,
                })
                .collect(),
        })
    }

    fn picks(backend: &Backend, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                backend
                    .pick()
                    .map(|p| p.server.name.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    fn count(names: &[String], name: &str) -> usize {
        names.iter().filter(|n| *n == name).count()
    }

    #[test]
    fn weights_and_runtime_changes() {
        let b = backend(&[("a", 3, false), ("b", 1, false)], false);
        let first = picks(&b, 8);
        assert_eq!((count(&first, "a"), count(&first, "b")), (6, 2));
        b.set_weight("b", 3).unwrap();
        let after = picks(&b, 6);
        assert_eq!((count(&after, "a"), count(&after, "b")), (3, 3));
        b.set_weight("a", 0).unwrap();
        assert!(picks(&b, 5).iter().all(|n| n == "b"));
        assert!(matches!(
            b.set_weight("b", 300),
            Err(Error::WeightOutOfRange(300))
        ));
        assert!(matches!(
            b.set_weight("zz", 1),
            Err(Error::UnknownServer { .. })
        ));
    }

    #[test]
    fn drain_and_maint_take_no_new_connections() {
        let b = backend(&[("a", 1, false), ("b", 1, false)], false);
        b.set_state("a", AdminState::Drain).unwrap();
        assert!(picks(&b, 4).iter().all(|n| n == "b"));
        b.set_state("b", AdminState::Maint).unwrap();
        assert!(b.pick().is_none());
        b.set_state("a", AdminState::Ready).unwrap();
        assert!(picks(&b, 4).iter().all(|n| n == "a"));
    }

    #[test]
    fn backups_only_when_no_primary_can_serve() {
        let b = backend(
            &[("a", 1, false), ("spare1", 1, true), ("spare2", 1, true)],
            false,
        );
        assert!(picks(&b, 3).iter().all(|n| n == "a"));
        b.set_state("a", AdminState::Maint).unwrap();
        assert!(picks(&b, 4).iter().all(|n| n == "spare1"));
        b.set_state("spare1", AdminState::Maint).unwrap();
        assert!(picks(&b, 4).iter().all(|n| n == "spare2"));
        b.set_state("a", AdminState::Ready).unwrap();
        assert!(picks(&b, 3).iter().all(|n| n == "a"));

        let all = backend(&[("a", 0, false), ("s1", 1, true), ("s2", 1, true)], true);
        let spread = picks(&all, 4);
        assert_eq!((count(&spread, "s1"), count(&spread, "s2")), (2, 2));
    }

    #[test]
    fn retry_goes_to_the_next_untried_server_without_moving_the_cursor() {
        let b = backend(&[("a", 1, false), ("b", 1, false), ("c", 1, false)], false);
        let first = b.pick().unwrap();
        assert_eq!(first.server.name, "a");
        let retry = b.repick(&first, &[first.index]).unwrap();
        assert_eq!(retry.server.name, "b");
        let again = b.repick(&retry, &[first.index, retry.index]).unwrap();
        assert_eq!(again.server.name, "c");
        // Other connections still get their own turns: the next pick is b, not a.
        assert_eq!(b.pick().unwrap().server.name, "b");

        let single = backend(&[("only", 1, false)], false);
        let only = single.pick().unwrap();
        assert_eq!(single.repick(&only, &[only.index]).unwrap().index, 0);
    }
}
