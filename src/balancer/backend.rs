//! A backend: its servers, the rotation over the eligible ones, and runtime changes.

use std::sync::{Arc, Mutex};

use super::rotation::Rotation;
use super::server::{AdminState, Server};
use super::MAX_WEIGHT;
use crate::config::BackendConfig;
use crate::error::{Error, Result};

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

    /// Picks the next server for a new connection, preferring servers not yet `tried` by
    /// this connection (redispatch). Falls back to a tried one rather than giving up when
    /// it is the only one left (a single-server backend still retries).
    #[inline]
    pub fn pick(&self, tried: &[usize]) -> Option<(usize, &Arc<Server>)> {
        let usable = |i: usize| self.servers[i].accepts_new();
        let index = self
            .rotation
            .pick_where(|i| usable(i) && !tried.contains(&i))
            .or_else(|| self.rotation.pick_where(usable))?;
        Some((index, &self.servers[index]))
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

    /// Whether `index` is in the current schedule (takes new connections).
    pub fn is_active(&self, index: usize) -> bool {
        self.eligible_weights()[index] > 0
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
            .map(|_| backend.pick(&[]).map(|(_, s)| s.name.clone()).unwrap_or_default())
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
        assert!(matches!(b.set_weight("b", 300), Err(Error::WeightOutOfRange(300))));
        assert!(matches!(b.set_weight("zz", 1), Err(Error::UnknownServer { .. })));
    }

    #[test]
    fn drain_and_maint_take_no_new_connections() {
        let b = backend(&[("a", 1, false), ("b", 1, false)], false);
        b.set_state("a", AdminState::Drain).unwrap();
        assert!(picks(&b, 4).iter().all(|n| n == "b"));
        b.set_state("b", AdminState::Maint).unwrap();
        assert_eq!(b.pick(&[]).map(|(_, s)| s.name.clone()), None);
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
    fn retry_prefers_untried_servers_but_never_gives_up_on_the_last_one() {
        let b = backend(&[("a", 1, false), ("b", 1, false)], false);
        for _ in 0..4 {
            let (first, _) = b.pick(&[]).unwrap();
            let (second, _) = b.pick(&[first]).unwrap();
            assert_ne!(first, second);
        }
        let single = backend(&[("only", 1, false)], false);
        assert_eq!(single.pick(&[0]).map(|(i, _)| i), Some(0));
    }
}
