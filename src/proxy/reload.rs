//! Applying a new configuration to a running engine without dropping connections.

use std::collections::HashMap;
use std::sync::Arc;

use super::engine::{
    bind_frontend, load_backend_tls, load_frontend_tls, new_frontend, start_health_checks,
    AcceptLoop, Engine, Listening,
};
use crate::balancer::Backend;
use crate::config::CoreConfig;
use crate::error::{Error, Result};
use crate::http::{check_route_backends, HttpFrontend};

impl Engine {
    /// Applies `config`: backends and servers are added, removed or updated in place,
    /// frontends added, removed or re-pointed, changed listen addresses re-bound. Sessions
    /// in progress keep the frontend, backend and server they started with.
    ///
    /// Certificate, key and CA files are read again (renewed certificates are picked up
    /// even when their paths did not change) and new addresses bound before anything
    /// changes, so a bad file or a taken port fails the reload with everything as it was.
    /// `workers` and `splice` need a restart.
    pub fn reload(&self, config: CoreConfig) -> Result<()> {
        if config.workers != self.workers || config.splice != self.splice {
            return Err(Error::Config(
                "workers and splice can't change on reload: restart fastlb for that".into(),
            ));
        }
        let frontend_tls = config
            .frontends
            .iter()
            .map(|f| Ok((f.name.clone(), load_frontend_tls(f)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        let backend_tls = config
            .backends
            .iter()
            .map(|b| Ok((b.name.clone(), load_backend_tls(b)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        for wanted in &config.frontends {
            check_route_backends(wanted, |name| {
                config.backends.iter().any(|b| b.name == name)
            })?;
        }
        let mut state = self.lock();
        for wanted in &config.frontends {
            let existing = state
                .frontends
                .iter()
                .find(|l| l.frontend.name == wanted.name);
            if existing.is_some_and(|l| l.frontend.mode != wanted.mode) {
                return Err(Error::Config(format!(
                    "frontend {:?}: mode can't change on reload: restart fastlb for that",
                    wanted.name
                )));
            }
        }
        let running = state.runtime.is_some();
        let mut new_listeners = HashMap::new();
        for wanted in &config.frontends {
            // Listening there already (as configured, or where port 0 landed): keep it.
            let unchanged = state
                .frontends
                .iter()
                .find(|l| l.frontend.name == wanted.name)
                .map(|l| l.frontend.addresses())
                .is_some_and(|a| a.configured == wanted.listen || a.bound == Some(wanted.listen));
            if running && !unchanged {
                let listener = bind_frontend(&wanted.name, wanted.listen, self.workers)?;
                new_listeners.insert(wanted.name.clone(), listener);
            }
        }

        let mut backends: HashMap<String, Arc<Backend>> = HashMap::new();
        for wanted in &config.backends {
            let backend = match state.backends.get(&wanted.name) {
                Some(existing) => {
                    existing.update(wanted);
                    existing.clone()
                }
                None => Arc::new(Backend::new(wanted)),
            };
            backend.set_tls(backend_tls[&wanted.name].clone());
            backends.insert(wanted.name.clone(), backend);
        }
        for (name, dropped) in &state.backends {
            if !backends.contains_key(name) {
                dropped.servers().iter().for_each(|s| s.retire());
            }
        }

        let http = config
            .frontends
            .iter()
            .map(|f| {
                let previous = state
                    .frontends
                    .iter()
                    .find(|l| l.frontend.name == f.name)
                    .and_then(|l| l.frontend.http());
                let built = HttpFrontend::build(f, &backends, previous.as_deref())?;
                Ok((f.name.clone(), built))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        let runtime = state.runtime.take();
        let mut previous = std::mem::take(&mut state.frontends);
        let mut frontends = Vec::with_capacity(config.frontends.len());
        for wanted in &config.frontends {
            let listening = match previous.iter().position(|l| l.frontend.name == wanted.name) {
                Some(index) => {
                    let listening = previous.remove(index);
                    let tls = frontend_tls[&wanted.name].clone();
                    listening.frontend.update(
                        wanted,
                        backends[&wanted.backend].clone(),
                        tls,
                        http[&wanted.name].clone(),
                    );
                    listening
                }
                None => Listening {
                    frontend: new_frontend(
                        wanted,
                        &backends,
                        self.splice,
                        frontend_tls[&wanted.name].clone(),
                    )?,
                    accept: None,
                },
            };
            frontends.push(listening);
        }
        for (listening, wanted) in frontends.iter_mut().zip(&config.frontends) {
            let frontend = &listening.frontend;
            let (Some(runtime), Some(listener)) = (&runtime, new_listeners.remove(&wanted.name))
            else {
                if !running {
                    frontend.set_addresses(wanted.listen, None);
                }
                continue;
            };
            if let Some(old) = listening.accept.take() {
                old.close(runtime);
            }
            frontend.set_addresses(wanted.listen, listener[0].local_addr().ok());
            listening.accept = Some(AcceptLoop::spawn(
                runtime,
                frontend,
                &self.global,
                listener,
            )?);
        }
        if let Some(runtime) = &runtime {
            for removed in previous {
                if let Some(accept) = removed.accept {
                    accept.close(runtime);
                }
            }
            start_health_checks(runtime, &backends);
        }
        state.frontends = frontends;
        state.backends = backends;
        state.runtime = runtime;
        self.global.set_max(config.max_connections);
        Ok(())
    }
}
