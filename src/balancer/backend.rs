//! A backend: its servers, the rotation (or Maglev table) over the eligible ones, and
//! runtime changes. Protocol state hangs off it as an extension (`extension.rs`).

use arc_swap::{ArcSwap, ArcSwapOption};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::extension::{BackendExtension, Slot};
use super::hashing::hash_client;
use super::least::LeastLoaded;
use super::maglev::{Maglev, TABLE_SIZE};
use super::rotation::Rotation;
use super::server::{tls_name, AdminState, Server};
use super::MAX_WEIGHT;
use crate::config::{BackendConfig, Balance, HealthCheckConfig, ServerConfig};
use crate::error::{Error, Result};
use crate::http::HttpBackendConfig;
use crate::tls::TlsOrigination;

/// A server chosen for a connection, with where it sat in the schedule.
pub struct Pick {
    /// Position in the schedule (or Maglev table), where a retry continues from.
    pub slot: usize,
    pub server: Arc<Server>,
}

/// The settings a reload may change, swapped as one.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSettings {
    pub balance: Balance,
    /// `send_proxy` / `check_send_proxy`: the PROXY header on server connections / checks.
    pub send_proxy: Option<crate::proxy_protocol::ProxyVersion>,
    pub check_send_proxy: bool,
    pub retries: u32,
    pub connect_timeout: Duration,
    pub all_backups: bool,
    pub health_check: Option<HealthCheckConfig>,
    /// The HTTP server-connection pool and response timeout (`mode: http` frontends).
    pub http: Arc<HttpBackendConfig>,
}

impl BackendSettings {
    fn from_config(config: &BackendConfig) -> Self {
        BackendSettings {
            balance: config.balance,
            send_proxy: config.send_proxy,
            check_send_proxy: config.check_send_proxy,
            retries: config.retries,
            connect_timeout: config.connect_timeout(),
            all_backups: config.all_backups,
            health_check: config.health_check.clone(),
            http: Arc::new(config.http.clone()),
        }
    }
}

/// `Backend::algorithm` values.
const ROTATION: u8 = 0;
const HASHED: u8 = 1;
const LEAST: u8 = 2;

fn algorithm_of(balance: Balance) -> u8 {
    match balance {
        Balance::Roundrobin => ROTATION,
        Balance::Maglev | Balance::Source => HASHED,
        Balance::Leastconn => LEAST,
    }
}

/// `balance: leastconn`'s view of a server: its load and its weight now.
#[inline]
fn measure(server: &Arc<Server>) -> (u64, u32) {
    (server.load(), server.weight())
}

pub struct Backend {
    pub name: String,
    settings: ArcSwap<BackendSettings>,
    /// Servers in configuration order. The lock is the control side's (changes and
    /// republishing); pickers only read the published schedule.
    servers: Mutex<Vec<Arc<Server>>>,
    rotation: Rotation<Arc<Server>>,
    /// `balance: maglev` / `source`: the table over the servers.
    maglev: Maglev<Arc<Server>>,
    /// `balance: leastconn`: the servers in the current schedule.
    least: LeastLoaded<Arc<Server>>,
    /// Which of the three picks (`ROTATION`, `HASHED`, `LEAST`): one relaxed load per pick.
    algorithm: AtomicU8,
    /// The protocol layer's part of this backend, if its protocol keeps any.
    extension: Slot<dyn BackendExtension>,
    /// TLS to the servers (`tls` in the configuration), loaded by the engine.
    tls: ArcSwapOption<TlsOrigination>,
}

impl Backend {
    /// A backend of `config`'s servers, with the protocol `extension` its builder chose.
    pub fn new(config: &BackendConfig, extension: Option<Box<dyn BackendExtension>>) -> Self {
        let slot = Slot::default();
        if let Some(extension) = extension {
            slot.fill(extension);
        }
        let backend = Backend {
            name: config.name.clone(),
            settings: ArcSwap::from_pointee(BackendSettings::from_config(config)),
            servers: Mutex::new(Vec::new()),
            rotation: Rotation::new(Vec::new(), &[]),
            maglev: Maglev::new(TABLE_SIZE),
            least: LeastLoaded::new(),
            algorithm: AtomicU8::new(ROTATION),
            extension: slot,
            tls: ArcSwapOption::empty(),
        };
        *backend.lock_servers() = config
            .servers
            .iter()
            .map(|s| backend.new_server(s))
            .collect();
        backend.republish();
        backend
    }

    /// A server of this backend, with its protocol metadata.
    fn new_server(&self, config: &ServerConfig) -> Arc<Server> {
        let server = Server::new(config);
        self.fill_metadata(&server, config);
        Arc::new(server)
    }

    fn fill_metadata(&self, server: &Server, config: &ServerConfig) {
        let metadata = self.extension.get().and_then(|e| e.server_metadata(config));
        if let Some(metadata) = metadata {
            server.metadata.fill(metadata);
        }
    }

    /// The protocol extension of type `E` attached to this backend, if any.
    #[inline]
    pub fn extension<E: BackendExtension>(&self) -> Option<&E> {
        self.extension.get_as()
    }

    /// A reload brings a protocol to a backend built without one: `extension` takes the
    /// slot (a backend keeps its first one) and the servers the reload keeps get their
    /// metadata from `update`.
    pub fn attach(&self, extension: Box<dyn BackendExtension>) {
        self.extension.fill(extension);
    }

    /// Whether a protocol extension is attached.
    pub fn has_extension(&self) -> bool {
        !self.extension.is_empty()
    }

    /// The current settings. An owned `Arc` (not an arc-swap guard): a session keeps it
    /// across its connect attempts, and guards are meant to be short-lived.
    pub fn settings(&self) -> Arc<BackendSettings> {
        self.settings.load_full()
    }

    /// TLS to the servers, if the backend uses it.
    #[inline]
    pub fn tls(&self) -> Option<Arc<TlsOrigination>> {
        self.tls.load_full()
    }

    pub fn set_tls(&self, tls: Option<Arc<TlsOrigination>>) {
        self.tls.store(tls);
    }

    /// Picks the server for a new connection.
    #[inline]
    pub fn pick(&self) -> Option<Pick> {
        let (slot, server) = self.rotation.pick_where(|s| s.accepts_new())?;
        Some(Pick { slot, server })
    }

    /// Picks the server for a new connection (HTTP: request) of `client`: by a hash of the
    /// client's address under `balance: maglev` / `source` (`client` is only asked then;
    /// an address it can't give falls back to round-robin), the least loaded server under
    /// `balance: leastconn`, else the next in the rotation.
    #[inline]
    pub fn pick_for(&self, client: impl FnOnce() -> Option<IpAddr>) -> Option<Pick> {
        match self.algorithm.load(Ordering::Relaxed) {
            ROTATION => self.pick(),
            HASHED => match client() {
                Some(ip) => {
                    let (slot, server) = self
                        .maglev
                        .pick_where(hash_client(ip), |s| s.accepts_new())?;
                    Some(Pick { slot, server })
                }
                None => self.pick(),
            },
            _ => {
                let (slot, server) = self.least.pick_where(|s| s.accepts_new(), measure)?;
                Some(Pick { slot, server })
            }
        }
    }

    /// Sticky sessions: the server whose persistence cookie value is `value`, if it can take
    /// a new request now (a down, drained or removed one can't: the caller picks again).
    pub fn server_by_cookie(&self, value: &[u8]) -> Option<Arc<Server>> {
        self.rotation
            .find_member(|s| s.cookie.as_bytes() == value && s.accepts_new())
    }

    /// The first server `accept` takes after `slot` in the schedule or table in use.
    fn after(
        &self,
        slot: usize,
        accept: impl FnMut(&Arc<Server>) -> bool,
    ) -> Option<(usize, Arc<Server>)> {
        match self.algorithm.load(Ordering::Relaxed) {
            HASHED => self.maglev.after(slot, accept),
            // The least loaded of those left: the slot has no meaning there.
            LEAST => self.least.pick_where(accept, measure),
            _ => self.rotation.after(slot, accept),
        }
    }

    /// Picks the server to retry on after `failed`: the next usable one in the schedule
    /// this connection has not `tried` yet (redispatch); else an untried backup (every
    /// primary just failed this connection, though none is marked DOWN yet); else a tried
    /// one rather than giving up (a single-server backend still retries).
    pub fn repick(&self, failed: &Pick, tried: &[u64]) -> Option<Pick> {
        let usable = |s: &Arc<Server>| s.accepts_new();
        let untried = |s: &Arc<Server>| usable(s) && !tried.contains(&s.id);
        let (slot, server) = self
            .after(failed.slot, untried)
            .or_else(|| {
                let backup = self.rotation.find_member(|s| s.backup && untried(s))?;
                Some((failed.slot, backup))
            })
            .or_else(|| self.after(failed.slot, usable))?;
        Some(Pick { slot, server })
    }

    /// The current servers, in configuration order.
    pub fn servers(&self) -> Vec<Arc<Server>> {
        self.lock_servers().clone()
    }

    pub fn server(&self, name: &str) -> Result<Arc<Server>> {
        self.lock_servers()
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| Error::UnknownServer {
                backend: self.name.clone(),
                server: name.to_string(),
            })
    }

    pub fn set_weight(&self, server: &str, weight: u32) -> Result<()> {
        if weight > MAX_WEIGHT {
            return Err(Error::WeightOutOfRange(weight.into()));
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

    /// Adds a server; it takes connections at once (counted healthy until checks say not).
    pub fn add_server(&self, config: &ServerConfig) -> Result<Arc<Server>> {
        if config.weight > MAX_WEIGHT {
            return Err(Error::WeightOutOfRange(config.weight.into()));
        }
        let server = self.new_server(config);
        {
            let mut servers = self.lock_servers();
            if servers.iter().any(|s| s.name == config.name) {
                return Err(Error::ServerExists {
                    backend: self.name.clone(),
                    server: config.name.clone(),
                });
            }
            servers.push(server.clone());
        }
        self.republish();
        Ok(server)
    }

    /// Takes a server out of the schedule; connections that use it carry on (they hold it).
    pub fn remove_server(&self, name: &str) -> Result<()> {
        let removed = {
            let mut servers = self.lock_servers();
            let index = servers.iter().position(|s| s.name == name).ok_or_else(|| {
                Error::UnknownServer {
                    backend: self.name.clone(),
                    server: name.to_string(),
                }
            })?;
            servers.remove(index)
        };
        removed.retire();
        self.republish();
        Ok(())
    }

    /// Applies a reloaded configuration: settings, and servers added, removed or updated.
    /// A server whose name, address and backup flag stay is the same server: it keeps its
    /// counters, state and health; its weight follows the file only when the file's weight
    /// changed (a runtime weight survives a reload of an unchanged file).
    pub fn update(&self, config: &BackendConfig) {
        self.settings
            .store(Arc::new(BackendSettings::from_config(config)));
        if let Some(extension) = self.extension.get() {
            extension.reconfigure(config);
        }
        let retired = {
            let mut servers = self.lock_servers();
            let mut next = Vec::with_capacity(config.servers.len());
            for wanted in &config.servers {
                let kept = servers.iter().find(|s| {
                    s.name == wanted.name
                        && s.address == wanted.address
                        && s.backup == wanted.backup
                        && s.tls_name == tls_name(wanted)
                        && *s.cookie == *super::server::cookie_value(wanted)
                });
                match kept {
                    Some(server) => {
                        if server.initial_weight() != wanted.weight {
                            server.reconfigure_weight(wanted.weight);
                        }
                        if server.metadata.is_empty() {
                            self.fill_metadata(server, wanted);
                        }
                        next.push(server.clone());
                    }
                    None => next.push(self.new_server(wanted)),
                }
            }
            let retired: Vec<Arc<Server>> = servers
                .iter()
                .filter(|old| !next.iter().any(|s| Arc::ptr_eq(s, old)))
                .cloned()
                .collect();
            *servers = next;
            retired
        };
        for server in retired {
            server.retire();
        }
        self.republish();
    }

    /// For each server (configuration order), whether it is in the current schedule.
    pub fn active_servers(&self) -> Vec<(Arc<Server>, bool)> {
        let servers = self.lock_servers();
        let weights = self.eligible_weights(&servers);
        servers
            .iter()
            .cloned()
            .zip(weights.into_iter().map(|w| w > 0))
            .collect()
    }

    /// Recomputes the schedule from the servers' current weights, states and health.
    pub fn republish(&self) {
        let servers = self.lock_servers();
        let weights = self.eligible_weights(&servers);
        self.rotation.publish(servers.clone(), &weights);
        let algorithm = algorithm_of(self.settings().balance);
        if algorithm == HASHED {
            self.publish_maglev(&servers, &weights);
        } else if self.algorithm.load(Ordering::Relaxed) == HASHED {
            self.maglev.publish(Vec::new(), &[], &[], &[]);
        }
        // Empty unless in use: nothing to keep in step otherwise.
        let least = if algorithm == LEAST {
            servers
                .iter()
                .zip(&weights)
                .filter(|(_, &w)| w > 0)
                .map(|(s, _)| s.clone())
                .collect()
        } else {
            Vec::new()
        };
        self.least.publish(least);
        self.algorithm.store(algorithm, Ordering::Relaxed);
        if let Some(extension) = self.extension.get() {
            extension.republished(&servers);
        }
    }

    /// The Maglev table covers the primaries by their weights whatever their health or
    /// state (a down or drained one keeps its slots, its clients probe on and come back
    /// with it); with no primary able to serve, the backups `eligible` chose, as the
    /// rotation does. Only weight and membership changes rebuild it.
    fn publish_maglev(&self, servers: &[Arc<Server>], eligible: &[u32]) {
        let primaries_serve = servers
            .iter()
            .zip(eligible)
            .any(|(s, &w)| !s.backup && w > 0);
        // All down and no backup: keep the primaries' table (nothing is live) rather than
        // rebuild an empty one and rebuild again when one comes back.
        let no_backup = eligible.iter().all(|&w| w == 0);
        let weights: Vec<u32> = if primaries_serve || no_backup {
            servers
                .iter()
                .map(|s| if s.backup { 0 } else { s.weight() })
                .collect()
        } else {
            eligible.to_vec()
        };
        let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        let live: Vec<bool> = eligible.iter().map(|&w| w > 0).collect();
        self.maglev
            .publish(servers.to_vec(), &names, &weights, &live);
    }

    fn lock_servers(&self) -> MutexGuard<'_, Vec<Arc<Server>>> {
        self.servers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Weights as the rotation should see them: servers that can't take new connections
    /// count 0; backups count only while no primary can serve (the first usable backup, or
    /// all of them with `all_backups`), as HAProxy does.
    fn eligible_weights(&self, servers: &[Arc<Server>]) -> Vec<u32> {
        let usable = |s: &Server| if s.accepts_new() { s.weight() } else { 0 };
        let primaries: Vec<u32> = servers
            .iter()
            .map(|s| if s.backup { 0 } else { usable(s) })
            .collect();
        if primaries.iter().any(|&w| w > 0) {
            return primaries;
        }
        let all_backups = self.settings().all_backups;
        let mut chosen_backup = false;
        servers
            .iter()
            .map(|s| {
                let weight = if s.backup { usable(s) } else { 0 };
                if weight == 0 || (chosen_backup && !all_backups) {
                    return 0;
                }
                chosen_backup = true;
                weight
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "backend_tests.rs"]
mod tests;
