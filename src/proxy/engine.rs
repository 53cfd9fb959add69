//! The engine: owns the tokio runtime, the frontends and backends; start, stop, change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::frontend::Frontend;
use super::global_limit::GlobalLimit;
use super::listener::{accept_loop, bind};
use crate::balancer::{AdminState, Backend};
use crate::config::{BackendConfig, CoreConfig, FrontendConfig, ServerConfig, SpliceMode};
use crate::error::{Error, Result};
use crate::health;
use crate::tls::{TlsOrigination, TlsTermination};

/// How often `stop` looks at the connection count while draining (control side only).
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// The data path. Thread-safe: every method takes `&self`, none blocks the data path.
pub struct Engine {
    pub(super) workers: usize,
    pub(super) splice: SpliceMode,
    pub(super) created: Instant,
    /// The process-wide `max_connections`, shared by every accept loop.
    pub(super) global: Arc<GlobalLimit>,
    /// Control-side state; the data path never takes this lock.
    pub(super) state: Mutex<State>,
}

pub(super) struct State {
    pub backends: HashMap<String, Arc<Backend>>,
    pub frontends: Vec<Listening>,
    pub runtime: Option<Runtime>,
}

/// A frontend and, while running, its accept loop.
pub(super) struct Listening {
    pub frontend: Arc<Frontend>,
    pub accept: Option<AcceptLoop>,
}

pub(super) struct AcceptLoop {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AcceptLoop {
    /// Spawns the accept loop of an already bound listener.
    pub fn spawn(
        runtime: &Runtime,
        frontend: &Arc<Frontend>,
        global: &Arc<GlobalLimit>,
        listener: std::net::TcpListener,
    ) -> Result<Self> {
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener).map_err(Error::Runtime)?
        };
        let (stop, stopped) = watch::channel(false);
        let task = runtime.spawn(accept_loop(
            listener,
            frontend.clone(),
            global.clone(),
            stopped,
        ));
        Ok(AcceptLoop { stop, task })
    }

    /// Closes the listener: new connections are refused once this returns.
    pub fn close(self, runtime: &Runtime) {
        let _ = self.stop.send(true);
        let _ = runtime.block_on(self.task);
    }
}

/// Binds a frontend's address, naming the frontend in the error.
pub(super) fn bind_frontend(name: &str, address: SocketAddr) -> Result<std::net::TcpListener> {
    bind(address).map_err(|source| Error::Bind {
        frontend: name.to_string(),
        addr: address,
        source,
    })
}

impl Engine {
    /// Builds the engine, reading every certificate, key and CA file the configuration
    /// names (an unreadable or invalid one fails here, naming its frontend or backend).
    pub fn new(config: CoreConfig) -> Result<Self> {
        let backends = config
            .backends
            .iter()
            .map(|b| {
                let backend = Arc::new(Backend::new(b));
                backend.set_tls(load_backend_tls(b)?);
                Ok((b.name.clone(), backend))
            })
            .collect::<Result<HashMap<String, Arc<Backend>>>>()?;
        let frontends = config
            .frontends
            .iter()
            .map(|f| new_frontend(f, &backends, config.splice, load_frontend_tls(f)?))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .map(|frontend| Listening {
                frontend,
                accept: None,
            })
            .collect();
        let global = Arc::new(GlobalLimit::default());
        global.set_max(config.max_connections);
        Ok(Engine {
            workers: config.workers,
            splice: config.splice,
            created: Instant::now(),
            global,
            state: Mutex::new(State {
                backends,
                frontends,
                runtime: None,
            }),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds every frontend, then starts the runtime, its accept loops and health checks.
    /// If any address can't be bound, nothing is left listening and the error names the
    /// frontend.
    pub fn start(&self) -> Result<()> {
        let mut state = self.lock();
        if state.runtime.is_some() {
            return Ok(());
        }
        let listeners = state
            .frontends
            .iter()
            .map(|l| bind_frontend(&l.frontend.name, l.frontend.addresses().configured))
            .collect::<Result<Vec<_>>>()?;
        ignore_sigpipe();
        raise_open_files_limit();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.workers)
            .thread_name("fastlb-worker")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        for (listening, listener) in state.frontends.iter_mut().zip(listeners) {
            let frontend = &listening.frontend;
            let bound = listener.local_addr().map_err(Error::Runtime)?;
            frontend.set_addresses(frontend.addresses().configured, Some(bound));
            listening.accept = Some(AcceptLoop::spawn(
                &runtime,
                frontend,
                &self.global,
                listener,
            )?);
        }
        start_health_checks(&runtime, &state.backends);
        state.runtime = Some(runtime);
        Ok(())
    }

    /// Graceful stop: close the listeners at once (new connections are refused), let
    /// established connections finish for up to `deadline`, then drop what is left.
    /// Blocks the calling thread (Python releases the GIL around it).
    pub fn stop(&self, deadline: Duration) {
        let until = Instant::now() + deadline;
        let runtime = {
            let mut state = self.lock();
            let Some(runtime) = state.runtime.take() else {
                return;
            };
            for listening in &mut state.frontends {
                if let Some(accept) = listening.accept.take() {
                    accept.close(&runtime);
                }
            }
            runtime
        };
        while self.current_connections() > 0 && Instant::now() < until {
            std::thread::sleep(DRAIN_POLL);
        }
        // Dropping the runtime's tasks closes their sockets (and ends the health checks).
        runtime.shutdown_timeout(Duration::from_secs(1));
    }

    pub fn is_running(&self) -> bool {
        self.lock().runtime.is_some()
    }

    /// Connections currently open across all frontends.
    pub fn current_connections(&self) -> u64 {
        self.lock()
            .frontends
            .iter()
            .map(|l| l.frontend.stats.traffic.current())
            .sum()
    }

    /// Frontend name -> bound address (after `start`).
    pub fn listen_addresses(&self) -> Vec<(String, SocketAddr)> {
        self.lock()
            .frontends
            .iter()
            .filter_map(|l| {
                l.frontend
                    .addresses()
                    .bound
                    .map(|a| (l.frontend.name.clone(), a))
            })
            .collect()
    }

    pub fn backend(&self, name: &str) -> Result<Arc<Backend>> {
        self.lock()
            .backends
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownBackend(name.to_string()))
    }

    pub fn set_weight(&self, backend: &str, server: &str, weight: u32) -> Result<()> {
        self.backend(backend)?.set_weight(server, weight)
    }

    pub fn set_state(&self, backend: &str, server: &str, state: &str) -> Result<()> {
        let state: AdminState = state.parse()?;
        self.backend(backend)?.set_state(server, state)
    }

    /// Adds a server to a backend at runtime (its checks start at once when running).
    pub fn add_server(&self, backend: &str, server: &ServerConfig) -> Result<()> {
        let state = self.lock();
        let backend = state
            .backends
            .get(backend)
            .ok_or_else(|| Error::UnknownBackend(backend.to_string()))?;
        let added = backend.add_server(server)?;
        if let Some(runtime) = &state.runtime {
            health::ensure_checked(runtime.handle(), backend, &added);
        }
        Ok(())
    }

    pub fn remove_server(&self, backend: &str, server: &str) -> Result<()> {
        self.backend(backend)?.remove_server(server)
    }

    /// MySQL: the topology monitor's verdict on one server (role, read pool, lag).
    pub fn set_topology(
        &self,
        backend: &str,
        server: &str,
        role: &str,
        in_read_pool: bool,
        lag: Option<f64>,
    ) -> Result<()> {
        let role = match role {
            "primary" => crate::config::ServerRole::Primary,
            "replica" => crate::config::ServerRole::Replica,
            other => {
                return Err(Error::Config(format!(
                    "unknown role {other:?} (expected primary or replica)"
                )))
            }
        };
        self.backend(backend)?
            .set_topology(server, role, in_read_pool, lag)
    }
}

pub(super) fn new_frontend(
    config: &FrontendConfig,
    backends: &HashMap<String, Arc<Backend>>,
    splice: SpliceMode,
    tls: Option<Arc<TlsTermination>>,
) -> Result<Arc<Frontend>> {
    let backend = backends
        .get(&config.backend)
        .ok_or_else(|| Error::UnknownBackend(config.backend.clone()))?;
    Ok(Arc::new(Frontend::new(
        config,
        backend.clone(),
        splice,
        tls,
    )))
}

/// A frontend's TLS termination, its certificate files read now.
pub(super) fn load_frontend_tls(config: &FrontendConfig) -> Result<Option<Arc<TlsTermination>>> {
    let Some(tls) = &config.tls else {
        return Ok(None);
    };
    TlsTermination::load(tls)
        .map(|t| Some(Arc::new(t)))
        .map_err(|why| Error::Config(format!("frontend {:?}: tls: {why}", config.name)))
}

/// A backend's TLS client configuration, its CA file read now.
pub(super) fn load_backend_tls(config: &BackendConfig) -> Result<Option<Arc<TlsOrigination>>> {
    let Some(tls) = &config.tls else {
        return Ok(None);
    };
    TlsOrigination::load(tls)
        .map(|t| Some(Arc::new(t)))
        .map_err(|why| Error::Config(format!("backend {:?}: tls: {why}", config.name)))
}

/// Starts the check loop of every checked server that has none yet.
pub(super) fn start_health_checks(runtime: &Runtime, backends: &HashMap<String, Arc<Backend>>) {
    for backend in backends.values() {
        for server in backend.servers() {
            health::ensure_checked(runtime.handle(), backend, &server);
        }
    }
}

/// splice(2) into a socket whose peer is gone raises SIGPIPE (there is no MSG_NOSIGNAL for
/// splice); its default action would kill the whole process, failover and all. Python
/// already ignores it at start-up; an embedding program that restored the default gets it
/// ignored again, as HAProxy does.
fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Each connection needs two descriptors (client, server) plus two per pipe while it
/// splices; a default soft limit of 1024 would cap fastlb near 500 connections whatever
/// `max_connections` says. Like HAProxy, raise the soft limit to the hard one.
fn raise_open_files_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum) {
        if current < maximum {
            let raised = Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            let _ = setrlimit(Resource::Nofile, raised);
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}
