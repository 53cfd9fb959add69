//! Applying a new configuration to a running engine without dropping connections.
//!
//! All or nothing: `plan` builds everything the new configuration needs (certificates read,
//! backends and frontends built, HTTP routes compiled, access logs opened, new addresses
//! bound and registered with the workers) without touching anything live; only then does
//! `commit`, which cannot fail, swap it in. A reload that fails leaves the engine exactly as
//! it was: same backends and weights, same listeners, still running.

use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;

use super::engine::{
    bind_frontend, load_backend_tls, load_frontend_tls, new_backend, new_frontend,
    start_health_checks, AcceptLoop, Engine, Listening, State,
};
use super::frontend::Frontend;
use crate::balancer::{Backend, BackendExtension};
use crate::config::{BackendConfig, CoreConfig, FrontendConfig};
use crate::error::{Error, Result};
use crate::http::{check_route_backends, HttpFrontend};
use crate::mysql::topology::BackendTopology;
use crate::tls::{TlsOrigination, TlsTermination};

/// A new configuration, fully built and not yet live.
pub(super) struct Plan {
    backends: Vec<PlannedBackend>,
    /// Backends the configuration no longer has: their servers retire at commit.
    retired: Vec<Arc<Backend>>,
    frontends: Vec<PlannedFrontend>,
    max_connections: Option<u64>,
}

struct PlannedBackend {
    backend: Arc<Backend>,
    /// Some: an existing backend, updated in place at commit (its servers and their
    /// connections carry on). None: a new one, built from the configuration already.
    update: Option<BackendConfig>,
    /// An existing backend's first protocol extension (a reload added its `mysql` section).
    attach: Option<Box<dyn BackendExtension>>,
    tls: Option<Arc<TlsOrigination>>,
}

struct PlannedFrontend {
    config: FrontendConfig,
    /// Some: a new frontend, built. None: the running frontend of that name, updated.
    built: Option<Arc<Frontend>>,
    tls: Option<Arc<TlsTermination>>,
    http: Option<Arc<HttpFrontend>>,
    /// New listeners (a new or moved address while running), registered with the workers.
    listeners: Option<Vec<TcpListener>>,
}

impl Engine {
    /// Applies `config`: backends and servers are added, removed or updated in place,
    /// frontends added, removed or re-pointed, changed listen addresses re-bound. Sessions
    /// in progress keep the frontend, backend and server they started with.
    ///
    /// Certificate, key and CA files are read again (renewed certificates are picked up
    /// even when their paths did not change) and new addresses bound before anything
    /// changes, so a bad file or a taken port fails the reload with everything as it was.
    /// `workers` and `splice` need a restart (or `fastlb serve --upgrade`).
    pub fn reload(&self, config: CoreConfig) -> Result<()> {
        let mut state = self.lock();
        let plan = self.plan(&state, &config)?;
        self.commit(&mut state, plan);
        Ok(())
    }

    /// Builds everything `config` needs; fails without changing anything live.
    pub(super) fn plan(&self, state: &State, config: &CoreConfig) -> Result<Plan> {
        if config.workers != self.workers || config.splice != self.splice {
            return Err(Error::Config(
                "workers and splice can't change on reload: restart fastlb for that".into(),
            ));
        }
        let mut frontend_tls = config
            .frontends
            .iter()
            .map(|f| Ok((f.name.clone(), load_frontend_tls(f)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        let mut backend_tls = config
            .backends
            .iter()
            .map(|b| Ok((b.name.clone(), load_backend_tls(b)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        for wanted in &config.frontends {
            check_route_backends(wanted, |name| {
                config.backends.iter().any(|b| b.name == name)
            })?;
            let existing = running_frontend(state, &wanted.name);
            if existing.is_some_and(|f| f.mode != wanted.mode) {
                return Err(Error::Config(format!(
                    "frontend {:?}: mode can't change on reload: restart fastlb for that",
                    wanted.name
                )));
            }
        }

        // The backends as they will be: the running ones (not updated yet) and new ones.
        let mut backends = Vec::with_capacity(config.backends.len());
        let mut by_name: HashMap<String, Arc<Backend>> = HashMap::new();
        for wanted in &config.backends {
            let (backend, update, attach) = match state.backends.get(&wanted.name) {
                Some(existing) => {
                    let attach = (!existing.has_extension())
                        .then(|| BackendTopology::for_backend(wanted))
                        .flatten();
                    (existing.clone(), Some(wanted.clone()), attach)
                }
                None => (Arc::new(new_backend(wanted)), None, None),
            };
            by_name.insert(wanted.name.clone(), backend.clone());
            let tls = backend_tls.remove(&wanted.name).flatten();
            backends.push(PlannedBackend {
                backend,
                update,
                attach,
                tls,
            });
        }
        let retired = state
            .backends
            .iter()
            .filter(|(name, _)| !by_name.contains_key(*name))
            .map(|(_, backend)| backend.clone())
            .collect();

        let mut frontends = Vec::with_capacity(config.frontends.len());
        for wanted in &config.frontends {
            let tls = frontend_tls.remove(&wanted.name).flatten();
            let existing = running_frontend(state, &wanted.name);
            let (built, http) = match existing {
                Some(frontend) => {
                    let previous = frontend.http();
                    (
                        None,
                        HttpFrontend::build(wanted, &by_name, previous.as_deref())?,
                    )
                }
                None => {
                    let built = new_frontend(wanted, &by_name, self.splice, tls.clone())?;
                    let http = built.http();
                    (Some(built), http)
                }
            };
            let listeners = self.plan_listeners(state, wanted, existing)?;
            frontends.push(PlannedFrontend {
                config: wanted.clone(),
                built,
                tls,
                http,
                listeners,
            });
        }
        Ok(Plan {
            backends,
            retired,
            frontends,
            max_connections: config.max_connections,
        })
    }

    /// New listeners for `wanted` when running and its address is new or moved.
    fn plan_listeners(
        &self,
        state: &State,
        wanted: &FrontendConfig,
        existing: Option<&Arc<Frontend>>,
    ) -> Result<Option<Vec<TcpListener>>> {
        let Some(runtime) = &state.runtime else {
            return Ok(None);
        };
        // Listening there already (as configured, or where port 0 landed): keep it.
        let unchanged = existing
            .map(|f| f.addresses())
            .is_some_and(|a| a.configured == wanted.listen || a.bound == Some(wanted.listen));
        if unchanged {
            return Ok(None);
        }
        let bound = bind_frontend(&wanted.name, wanted.listen, self.workers)?;
        AcceptLoop::register(runtime, bound).map(Some)
    }

    /// Swaps `plan` in. Cannot fail: everything fallible happened in `plan`.
    pub(super) fn commit(&self, state: &mut State, plan: Plan) {
        let mut backends = HashMap::with_capacity(plan.backends.len());
        for planned in plan.backends {
            if let Some(extension) = planned.attach {
                planned.backend.attach(extension);
            }
            if let Some(config) = &planned.update {
                planned.backend.update(config);
            }
            planned.backend.set_tls(planned.tls);
            backends.insert(planned.backend.name.clone(), planned.backend);
        }
        for retired in &plan.retired {
            retired.servers().iter().for_each(|s| s.retire());
        }

        let mut previous = std::mem::take(&mut state.frontends);
        let mut frontends = Vec::with_capacity(plan.frontends.len());
        for planned in plan.frontends {
            let wanted = &planned.config;
            let mut listening = match planned.built {
                Some(frontend) => Listening {
                    frontend,
                    accept: None,
                },
                None => {
                    let index = previous
                        .iter()
                        .position(|l| l.frontend.name == wanted.name)
                        .expect("plan found this frontend running");
                    let listening = previous.remove(index);
                    listening.frontend.update(
                        wanted,
                        backends[&wanted.backend].clone(),
                        planned.tls,
                        planned.http,
                    );
                    listening
                }
            };
            let frontend = listening.frontend.clone();
            match (&state.runtime, planned.listeners) {
                (Some(runtime), Some(listeners)) => {
                    if let Some(old) = listening.accept.take() {
                        old.close(runtime);
                    }
                    let bound = listeners.first().and_then(|l| l.local_addr().ok());
                    frontend.set_addresses(wanted.listen, bound);
                    listening.accept = Some(AcceptLoop::spawn_registered(
                        runtime,
                        &frontend,
                        &self.global,
                        listeners,
                    ));
                }
                (None, _) => frontend.set_addresses(wanted.listen, None),
                (Some(_), None) => {}
            }
            frontends.push(listening);
        }
        if let Some(runtime) = &state.runtime {
            for removed in previous {
                if let Some(accept) = removed.accept {
                    accept.close(runtime);
                }
            }
            start_health_checks(runtime, &backends);
        }
        state.frontends = frontends;
        state.backends = backends;
        self.global.set_max(plan.max_connections);
    }
}

fn running_frontend<'a>(state: &'a State, name: &str) -> Option<&'a Arc<Frontend>> {
    state
        .frontends
        .iter()
        .find(|l| l.frontend.name == name)
        .map(|l| &l.frontend)
}
