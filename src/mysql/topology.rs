//! A MySQL backend's topology, hung on the generic backend as its protocol extension
//! (`balancer::BackendExtension`, pingora's "metadata on the backend"): each server's role,
//! read-pool membership and replication lag (the topology monitor's verdicts), the read
//! pool they make, the compiled `mysql:` settings and the server version fastlb announces.
//! The balancer carries all of it without knowing what it is; `MysqlBackend` and
//! `MysqlServer` give the rest of `src/mysql` (and the snapshot) the MySQL view of a
//! backend and a server.

use arc_swap::ArcSwapOption;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::Arc;

use super::config::MysqlSettings;
use super::Role;
use crate::balancer::{Backend, BackendExtension, Rotation, Server, ServerMetadata};
use crate::config::{BackendConfig, ServerConfig};
use crate::error::{Error, Result};

/// What fastlb knows of one server of a MySQL backend (its metadata slot).
pub struct ServerTopology {
    /// 0 none, 1 primary, 2 replica: the configured role until the monitor says otherwise.
    role: AtomicU8,
    /// Replicating and not lagging (the topology monitor's verdict).
    in_read_pool: AtomicBool,
    /// Replication lag in milliseconds, -1 unknown.
    lag_ms: AtomicI64,
}

fn role_to_u8(role: Option<Role>) -> u8 {
    match role {
        None => 0,
        Some(Role::Primary) => 1,
        Some(Role::Replica) => 2,
    }
}

impl ServerTopology {
    fn new(role: Option<Role>) -> Self {
        ServerTopology {
            role: AtomicU8::new(role_to_u8(role)),
            in_read_pool: AtomicBool::new(true),
            lag_ms: AtomicI64::new(-1),
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self.role.load(Ordering::Relaxed) {
            1 => Some(Role::Primary),
            2 => Some(Role::Replica),
            _ => None,
        }
    }

    #[inline]
    fn is_readable_replica(&self) -> bool {
        self.role.load(Ordering::Relaxed) == 2 && self.in_read_pool.load(Ordering::Relaxed)
    }

    pub fn in_read_pool(&self) -> bool {
        self.in_read_pool.load(Ordering::Relaxed)
    }

    /// Replication lag in seconds, if known.
    pub fn lag_seconds(&self) -> Option<f64> {
        let ms = self.lag_ms.load(Ordering::Relaxed);
        (ms >= 0).then(|| ms as f64 / 1000.0)
    }

    /// The topology monitor's verdict (the caller republishes).
    fn store(&self, role: Role, in_read_pool: bool, lag: Option<f64>) {
        self.role.store(role_to_u8(Some(role)), Ordering::Relaxed);
        self.in_read_pool.store(in_read_pool, Ordering::Relaxed);
        let lag_ms = lag.map_or(-1, |seconds| (seconds.max(0.0) * 1000.0) as i64);
        self.lag_ms.store(lag_ms, Ordering::Relaxed);
    }
}

/// The MySQL part of a backend with a `mysql` section.
pub struct BackendTopology {
    /// The compiled `mysql:` section; swapped by a reload (None: the reload removed it).
    settings: ArcSwapOption<MysqlSettings>,
    /// Every server as a member; the replicas that take reads scheduled by weight.
    read_pool: Rotation<Arc<Server>>,
    /// The version of the last server greeting seen (what fastlb announces).
    server_version: ArcSwapOption<Vec<u8>>,
}

impl BackendTopology {
    /// The extension of a backend with a `mysql` section; None for any other backend.
    pub fn for_backend(config: &BackendConfig) -> Option<Box<dyn BackendExtension>> {
        let settings = config.mysql.as_ref()?;
        Some(Box::new(BackendTopology {
            settings: ArcSwapOption::from_pointee(MysqlSettings::new(settings)),
            read_pool: Rotation::new(Vec::new(), &[]),
            server_version: ArcSwapOption::empty(),
        }))
    }
}

impl BackendExtension for BackendTopology {
    fn server_metadata(&self, config: &ServerConfig) -> Option<ServerMetadata> {
        Some(Box::new(ServerTopology::new(config.role)))
    }

    fn reconfigure(&self, config: &BackendConfig) {
        let settings = config.mysql.as_ref().map(MysqlSettings::new);
        let pool = settings
            .as_ref()
            .map(|settings| settings.config.pool.clone())
            .unwrap_or_default();
        crate::mysql::pool::reconfigure(&config.name, &pool);
        self.settings.store(settings.map(Arc::new));
    }

    fn republished(&self, servers: &[Arc<Server>]) {
        let weights: Vec<u32> = servers
            .iter()
            .map(|s| if s.serves_reads() { s.weight() } else { 0 })
            .collect();
        self.read_pool.publish(servers.to_vec(), &weights);
    }
}

/// The MySQL view of a server.
pub trait MysqlServer {
    /// Its topology metadata; None outside a MySQL backend.
    fn topology(&self) -> Option<&ServerTopology>;

    /// Its role now (the configured one until the monitor says otherwise).
    fn role(&self) -> Option<Role> {
        self.topology()?.role()
    }

    /// A replica that may take reads now: usable, replicating and not lagging.
    fn serves_reads(&self) -> bool;
}

impl MysqlServer for Server {
    #[inline]
    fn topology(&self) -> Option<&ServerTopology> {
        self.metadata()
    }

    #[inline]
    fn serves_reads(&self) -> bool {
        self.topology()
            .is_some_and(ServerTopology::is_readable_replica)
            && self.accepts_new()
    }
}

/// The MySQL view of a backend: None, empty or an error where it has no `mysql` section.
pub trait MysqlBackend {
    fn topology(&self) -> Option<&BackendTopology>;

    /// The compiled `mysql:` section.
    fn mysql_settings(&self) -> Option<Arc<MysqlSettings>> {
        self.topology()?.settings.load_full()
    }

    /// A replica for a session's reads (weighted round robin over the read pool).
    #[inline]
    fn pick_replica(&self) -> Option<Arc<Server>> {
        let (_, server) = self
            .topology()?
            .read_pool
            .pick_where(|s| s.serves_reads())?;
        Some(server)
    }

    /// The usable server whose role is primary.
    fn primary(&self) -> Option<Arc<Server>> {
        self.topology()?
            .read_pool
            .find_member(|s| s.role() == Some(Role::Primary) && s.accepts_new())
    }

    /// The version of the last server greeting seen.
    fn server_version(&self) -> Option<Arc<Vec<u8>>> {
        self.topology()?.server_version.load_full()
    }

    fn remember_server_version(&self, version: &[u8]) {
        let Some(topology) = self.topology() else {
            return;
        };
        let known = topology.server_version.load();
        if known.as_deref().map(Vec::as_slice) != Some(version) {
            topology
                .server_version
                .store(Some(Arc::new(version.to_vec())));
        }
    }

    /// The topology monitor's verdict on `server`.
    fn set_topology(
        &self,
        server: &str,
        role: Role,
        in_read_pool: bool,
        lag: Option<f64>,
    ) -> Result<()>;
}

impl MysqlBackend for Backend {
    #[inline]
    fn topology(&self) -> Option<&BackendTopology> {
        self.extension()
    }

    fn set_topology(
        &self,
        server: &str,
        role: Role,
        in_read_pool: bool,
        lag: Option<f64>,
    ) -> Result<()> {
        let server = self.server(server)?;
        let topology = MysqlServer::topology(&*server).ok_or_else(|| {
            Error::Config(format!(
                "backend {:?} has no mysql section: its servers have no role",
                self.name
            ))
        })?;
        topology.store(role, in_read_pool, lag);
        self.republish();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::AdminState;

    fn backend(mysql: bool) -> Backend {
        let mut config: BackendConfig = serde_json::from_value(serde_json::json!({
            "name": "db",
            "servers": [
                {"name": "p", "address": "127.0.0.1:9001", "weight": 1, "role": "primary"},
                {"name": "r1", "address": "127.0.0.1:9002", "weight": 3, "role": "replica"},
                {"name": "r2", "address": "127.0.0.1:9003", "weight": 1, "role": "replica"},
            ],
            "mysql": {"users": []},
        }))
        .unwrap();
        if !mysql {
            config.mysql = None;
        }
        let extension = BackendTopology::for_backend(&config);
        Backend::new(&config, extension)
    }

    fn replicas(backend: &Backend, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                backend
                    .pick_replica()
                    .map(|s| s.name.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn reads_go_to_the_read_pool_by_weight_and_follow_the_monitor() {
        let b = backend(true);
        assert_eq!(b.primary().unwrap().name, "p");
        let picks = replicas(&b, 8);
        assert_eq!(picks.iter().filter(|n| *n == "r1").count(), 6);
        assert_eq!(picks.iter().filter(|n| *n == "r2").count(), 2);

        // A lagging replica leaves the read pool; a drained one takes no reads either.
        b.set_topology("r1", Role::Replica, false, Some(12.5))
            .unwrap();
        assert!(replicas(&b, 4).iter().all(|n| n == "r2"));
        let r1 = b.server("r1").unwrap();
        assert_eq!(r1.topology().unwrap().lag_seconds(), Some(12.5));
        assert!(!r1.serves_reads());
        b.set_state("r2", AdminState::Drain).unwrap();
        assert!(b.pick_replica().is_none());

        // A promotion: the monitor names a new primary, the old one becomes a replica.
        b.set_topology("p", Role::Replica, true, None).unwrap();
        b.set_topology("r1", Role::Primary, false, None).unwrap();
        assert_eq!(b.primary().unwrap().name, "r1");
        assert_eq!(replicas(&b, 2), ["p", "p"]);
        assert!(matches!(
            b.set_topology("gone", Role::Replica, true, None),
            Err(Error::UnknownServer { .. })
        ));
    }

    #[test]
    fn a_backend_without_a_mysql_section_has_no_topology() {
        let b = backend(false);
        assert!(b.mysql_settings().is_none());
        assert!(b.primary().is_none() && b.pick_replica().is_none());
        assert!(b.server("p").unwrap().role().is_none());
        assert!(matches!(
            b.set_topology("p", Role::Primary, true, None),
            Err(Error::Config(_))
        ));
        b.remember_server_version(b"10.11");
        assert!(b.server_version().is_none());
    }

    #[test]
    fn a_reload_keeps_roles_and_gives_new_servers_theirs() {
        let b = backend(true);
        b.set_topology("r1", Role::Primary, false, None).unwrap();
        let mut config: BackendConfig = serde_json::from_value(serde_json::json!({
            "name": "db",
            "servers": [
                {"name": "p", "address": "127.0.0.1:9001", "weight": 1, "role": "primary"},
                {"name": "r1", "address": "127.0.0.1:9002", "weight": 3, "role": "replica"},
                {"name": "r3", "address": "127.0.0.1:9004", "weight": 1, "role": "replica"},
            ],
            "mysql": {"users": [{"user": "app", "password": "x"}]},
        }))
        .unwrap();
        b.update(&config);
        // The kept server keeps the monitor's verdict; the new one starts from its config.
        assert_eq!(b.server("r1").unwrap().role(), Some(Role::Primary));
        assert_eq!(b.server("r3").unwrap().role(), Some(Role::Replica));
        assert_eq!(b.mysql_settings().unwrap().config.users.len(), 1);
        config.mysql = None;
        b.update(&config);
        assert!(b.mysql_settings().is_none());
    }

    #[test]
    fn a_reload_that_brings_a_mysql_section_gives_kept_servers_their_roles() {
        let b = backend(false);
        let mut config: BackendConfig = serde_json::from_value(serde_json::json!({
            "name": "db",
            "servers": [
                {"name": "p", "address": "127.0.0.1:9001", "weight": 1, "role": "primary"},
            ],
            "mysql": {"users": []},
        }))
        .unwrap();
        b.attach(BackendTopology::for_backend(&config).unwrap());
        b.update(&config);
        assert_eq!(b.primary().unwrap().name, "p");
        config.mysql = None;
        assert!(BackendTopology::for_backend(&config).is_none());
    }

    #[test]
    fn an_engine_reload_that_adds_a_mysql_section_attaches_the_topology() {
        use crate::config::CoreConfig;
        use crate::proxy::Engine;
        let core = |mysql: &str| {
            CoreConfig::from_json(&format!(
                r#"{{"workers": 1, "frontends": [], "backends": [{{"name": "db", "servers": [
                    {{"name": "p", "address": "127.0.0.1:9", "role": "primary"}}]{mysql}}}]}}"#
            ))
            .unwrap()
        };
        let engine = Engine::new(core("")).unwrap();
        assert!(engine.backend("db").unwrap().primary().is_none());
        assert!(matches!(
            engine.set_topology("db", "p", "replica", true, None),
            Err(Error::Config(_))
        ));
        engine
            .reload(core(
                r#", "mysql": {"users": [{"user": "a", "password": "b"}]}"#,
            ))
            .unwrap();
        let backend = engine.backend("db").unwrap();
        assert_eq!(backend.primary().unwrap().name, "p");
        assert!(backend.mysql_settings().is_some());
        assert!(matches!(
            engine.set_topology("db", "p", "leader", true, None),
            Err(Error::UnknownRole(_))
        ));
        engine
            .set_topology("db", "p", "replica", true, Some(0.25))
            .unwrap();
        assert_eq!(backend.pick_replica().unwrap().name, "p");
    }
}
