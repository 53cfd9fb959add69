//! A `mode: http` frontend's HTTP state: its settings, compiled routes and access log,
//! built on (re)load and swapped whole (`Frontend::http`); a request keeps the one it
//! started with.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::access_log::AccessLog;
use super::config::HttpFrontendConfig;
use super::routing::RouteTable;
use crate::balancer::Backend;
use crate::config::FrontendConfig;
use crate::error::{Error, Result};
use crate::firewall::Cidr;

/// Everything a session needs from its frontend's `http` section, ready to use.
pub struct HttpFrontend {
    pub config: HttpFrontendConfig,
    /// The routes, compiled (no route matched: the frontend's backend).
    pub routes: RouteTable,
    /// Peers whose forwarding headers are believed (`trusted_proxies`).
    trusted_proxies: Vec<Cidr>,
    /// The frontend's name, for access-log records.
    pub name: Arc<str>,
    pub access_log: Option<Arc<AccessLog>>,
}

impl HttpFrontend {
    /// Builds a frontend's HTTP state; `None` for a frontend that isn't `mode: http`. A
    /// route naming an unknown backend fails, naming the field. On a reload, `previous`
    /// (the state being replaced) lends its access log when the log's settings are the
    /// same: one writer per file, no line reordered.
    pub fn build(
        frontend: &FrontendConfig,
        backends: &HashMap<String, Arc<Backend>>,
        previous: Option<&HttpFrontend>,
    ) -> Result<Option<Arc<HttpFrontend>>> {
        let Some(config) = &frontend.http else {
            return Ok(None);
        };
        check_route_backends(frontend, |name| backends.contains_key(name))?;
        let default_backend = backends
            .get(&frontend.backend)
            .ok_or_else(|| Error::UnknownBackend(frontend.backend.clone()))?;
        let routes = RouteTable::compile(config, default_backend, backends)
            .map_err(|why| Error::Config(format!("frontend {:?}: {why}", frontend.name)))?;
        let access_log = match (&config.access_log, previous) {
            (None, _) => None,
            (Some(wanted), Some(previous))
                if previous.config.access_log.as_ref() == Some(wanted) =>
            {
                previous.access_log.clone()
            }
            (Some(wanted), _) => {
                Some(AccessLog::open(wanted, &frontend.name).map_err(Error::Config)?)
            }
        };
        Ok(Some(Arc::new(HttpFrontend {
            config: config.clone(),
            routes,
            trusted_proxies: frontend.trusted_proxies.clone(),
            name: frontend.name.as_str().into(),
            access_log,
        })))
    }

    /// Whether `peer` is a trusted proxy: its X-Forwarded-For is extended, not replaced.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|block| block.contains(peer))
    }

    /// Lines the access log lost (a full queue, a failed write).
    pub fn access_log_dropped(&self) -> u64 {
        self.access_log.as_ref().map_or(0, |log| log.dropped())
    }
}

/// Every route's `backend` must exist: checked before a reload changes anything, so a typo
/// fails it with the configuration as it was.
pub fn check_route_backends(
    frontend: &FrontendConfig,
    exists: impl Fn(&str) -> bool,
) -> Result<()> {
    let Some(config) = &frontend.http else {
        return Ok(());
    };
    for (index, route) in config.routes.iter().enumerate() {
        if let Some(name) = route.backend.as_deref().filter(|name| !exists(name)) {
            return Err(Error::Config(format!(
                "frontend {:?}: http.routes[{index}].backend: unknown backend {name:?}",
                frontend.name
            )));
        }
    }
    Ok(())
}
