//! The engine: owns the workers (one tokio runtime each), the frontends and backends; start,
//! stop, change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::frontend::Frontend;
use super::global_limit::GlobalLimit;
use super::handover::{take_inherited, top_up, Inherited};
use super::listener::{accept_loop, bind};
use super::workers::Workers;
use crate::balancer::{AdminState, Backend};
use crate::config::{BackendConfig, CoreConfig, FrontendConfig, ServerConfig, SpliceMode};
use crate::error::{Error, Result};
use crate::health;
use crate::http::HttpFrontend;
use crate::mysql::topology::{BackendTopology, MysqlBackend};
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
    /// The worker threads, while running.
    pub runtime: Option<Workers>,
    /// Listeners handed over by the process this one upgrades, until `start` uses them.
    pub inherited: Vec<Inherited>,
}

/// A frontend and, while running, its accept loops.
pub(super) struct Listening {
    pub frontend: Arc<Frontend>,
    pub accept: Option<AcceptLoop>,
}

/// A frontend's accept loops, one per worker, stopped together.
pub(super) struct AcceptLoop {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The listeners' descriptors, owned by the tasks: valid until `close` (which takes
    /// `self`), so `export_listeners` may duplicate them under the state lock.
    fds: Vec<RawFd>,
}

impl AcceptLoop {
    /// Spawns one accept loop per listener (from `bind_frontend`: one per worker), listener
    /// `i` on worker `i % workers`: after an upgrade to fewer workers, a worker serves more
    /// than one of the inherited sockets rather than closing one (and resetting its queue).
    pub fn spawn(
        workers: &Workers,
        frontend: &Arc<Frontend>,
        global: &Arc<GlobalLimit>,
        listeners: Vec<std::net::TcpListener>,
    ) -> Result<Self> {
        let registered = Self::register(workers, listeners)?;
        Ok(Self::spawn_registered(
            workers, frontend, global, registered,
        ))
    }

    /// Registers each listener with the epoll of the worker that will accept on it (the
    /// fallible half of `spawn`: a reload does it while planning).
    pub fn register(
        workers: &Workers,
        listeners: Vec<std::net::TcpListener>,
    ) -> Result<Vec<TcpListener>> {
        let handles = workers.handles();
        listeners
            .into_iter()
            .enumerate()
            .map(|(index, listener)| {
                let _entered = handles[index % handles.len()].enter();
                TcpListener::from_std(listener).map_err(Error::Runtime)
            })
            .collect()
    }

    /// Starts the accept loops on listeners from `register` (same order). Cannot fail.
    pub fn spawn_registered(
        workers: &Workers,
        frontend: &Arc<Frontend>,
        global: &Arc<GlobalLimit>,
        listeners: Vec<TcpListener>,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let fds = listeners.iter().map(AsRawFd::as_raw_fd).collect();
        let handles = workers.handles();
        let tasks = listeners
            .into_iter()
            .enumerate()
            .map(|(index, listener)| {
                handles[index % handles.len()].spawn(accept_loop(
                    listener,
                    frontend.clone(),
                    global.clone(),
                    stopped.clone(),
                ))
            })
            .collect();
        AcceptLoop { stop, tasks, fds }
    }

    /// Closes the listeners: new connections are refused once this returns.
    pub fn close(self, workers: &Workers) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = workers.block_on(task);
        }
    }

    /// Duplicates of the listening sockets (close-on-exec), for another process.
    pub(super) fn duplicate(&self) -> std::io::Result<Vec<OwnedFd>> {
        self.fds
            .iter()
            // SAFETY: the accept tasks own these descriptors until `close`, which needs
            // `self`; the caller holds `&self` under the engine's state lock.
            .map(|&fd| unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned())
            .collect()
    }
}

/// Binds a frontend's address once per worker, naming the frontend in the error.
pub(super) fn bind_frontend(
    name: &str,
    address: SocketAddr,
    workers: usize,
) -> Result<Vec<std::net::TcpListener>> {
    bind(address, workers).map_err(|source| Error::Bind {
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
                let backend = Arc::new(new_backend(b));
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
                inherited: Vec::new(),
            }),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds every frontend, then starts the workers, their accept loops and health checks.
    /// If any address can't be bound, nothing is left listening and the error names the
    /// frontend.
    pub fn start(&self) -> Result<()> {
        let mut state = self.lock();
        if state.runtime.is_some() {
            return Ok(());
        }
        let mut inherited = std::mem::take(&mut state.inherited);
        let listeners = state
            .frontends
            .iter()
            .map(|l| {
                let name = &l.frontend.name;
                let configured = l.frontend.addresses().configured;
                match take_inherited(&mut inherited, name, configured) {
                    Some(adopted) => top_up(name, adopted, self.workers),
                    None => bind_frontend(name, configured, self.workers),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        // What no frontend wants any more closes here; the old process closes its copies
        // when it stops accepting (a frontend removed by the upgrade).
        drop(inherited);
        ignore_sigpipe();
        raise_open_files_limit();
        let runtime = Workers::start(self.workers)?;
        for (listening, listener) in state.frontends.iter_mut().zip(listeners) {
            let frontend = &listening.frontend;
            // Started again after a stop: the sessions told then are gone with the workers.
            frontend.soft_stop.resume();
            let bound = listener[0].local_addr().map_err(Error::Runtime)?;
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

    /// Graceful stop (HAProxy's soft stop): tell the sessions, close the listeners at once
    /// (new connections are refused), let established connections finish for up to
    /// `deadline`, then drop what is left. HTTP sessions end on their own at their next
    /// clean boundary (`SoftStop`), so an HTTP drain lasts about one exchange; TCP, MySQL
    /// and upgraded (WebSocket) connections have no such boundary and run until they end
    /// or the deadline. Blocks the calling thread (Python releases the GIL around it).
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
            // Told once the listeners are closed: a client that reconnects after its last
            // answer (`Connection: close`, GOAWAY) is refused at once rather than queued on
            // a listener about to close (which resets what is in its queue). Under the
            // state lock: whoever takes it next (`current_connections`) sees them told.
            for listening in &state.frontends {
                listening.frontend.soft_stop.stop();
            }
            runtime
        };
        while self.current_connections() > 0 && Instant::now() < until {
            std::thread::sleep(DRAIN_POLL);
        }
        // Dropping the workers' tasks closes their sockets (and ends the health checks).
        runtime.shutdown();
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
            health::ensure_checked(runtime.control(), backend, &added);
        }
        Ok(())
    }

    pub fn remove_server(&self, backend: &str, server: &str) -> Result<()> {
        self.backend(backend)?.remove_server(server)
    }

    /// MySQL: the topology monitor's verdict on one server (role, read pool, lag). The
    /// role is checked first (`UnknownRole`), then the backend and the server.
    pub fn set_topology(
        &self,
        backend: &str,
        server: &str,
        role: &str,
        in_read_pool: bool,
        lag: Option<f64>,
    ) -> Result<()> {
        let role = role.parse()?;
        self.backend(backend)?
            .set_topology(server, role, in_read_pool, lag)
    }
}

/// A backend with the extension of the protocol its configuration names: the engine is
/// where protocols meet the generic balancer.
pub(super) fn new_backend(config: &BackendConfig) -> Backend {
    Backend::new(config, BackendTopology::for_backend(config))
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
    let http = HttpFrontend::build(config, backends, None)?;
    Ok(Arc::new(Frontend::new(
        config,
        backend.clone(),
        splice,
        tls,
        http,
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
pub(super) fn start_health_checks(runtime: &Workers, backends: &HashMap<String, Arc<Backend>>) {
    for backend in backends.values() {
        for server in backend.servers() {
            health::ensure_checked(runtime.control(), backend, &server);
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
