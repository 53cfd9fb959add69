//! The engine: owns the tokio runtime, the frontends and backends; start, stop, change, observe.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::frontend::Frontend;
use super::listener::{accept_loop, bind};
use crate::balancer::{AdminState, Backend};
use crate::config::CoreConfig;
use crate::error::{Error, Result};
use crate::stats::{read, BackendSnapshot, FrontendSnapshot, ServerSnapshot, StatsSnapshot};

/// How often `stop` looks at the connection count while draining (control side only).
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// The data path. Thread-safe: every method takes `&self`, none blocks the data path.
pub struct Engine {
    workers: usize,
    backends: HashMap<String, Arc<Backend>>,
    frontends: Vec<Arc<Frontend>>,
    created: Instant,
    running: Mutex<Option<Running>>,
}

struct Running {
    runtime: Runtime,
    stop_accepting: watch::Sender<bool>,
    accept_loops: Vec<JoinHandle<()>>,
}

impl Engine {
    pub fn new(config: CoreConfig) -> Result<Self> {
        let backends: HashMap<String, Arc<Backend>> = config
            .backends
            .iter()
            .map(|b| (b.name.clone(), Arc::new(Backend::new(b))))
            .collect();
        let frontends = config
            .frontends
            .iter()
            .map(|f| {
                let backend = backends
                    .get(&f.backend)
                    .ok_or_else(|| Error::UnknownBackend(f.backend.clone()))?;
                Ok(Arc::new(Frontend::new(f, backend.clone(), config.splice)))
            })
            .collect::<Result<_>>()?;
        Ok(Engine {
            workers: config.workers,
            backends,
            frontends,
            created: Instant::now(),
            running: Mutex::new(None),
        })
    }

    /// Binds every frontend, then starts the runtime and its accept loops. If any address
    /// can't be bound, nothing is left listening and the error names the frontend.
    pub fn start(&self) -> Result<()> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.is_some() {
            return Ok(());
        }
        let listeners = self
            .frontends
            .iter()
            .map(|f| {
                bind(f.configured_listen).map_err(|source| Error::Bind {
                    frontend: f.name.clone(),
                    addr: f.configured_listen,
                    source,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        ignore_sigpipe();
        raise_open_files_limit();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.workers)
            .thread_name("fastlb-worker")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let (stop_accepting, stop) = watch::channel(false);
        let mut accept_loops = Vec::new();
        for (frontend, listener) in self.frontends.iter().zip(listeners) {
            let local = listener.local_addr().map_err(Error::Runtime)?;
            let _ = frontend.bound.set(local);
            let listener = {
                let _entered = runtime.enter();
                TcpListener::from_std(listener).map_err(Error::Runtime)?
            };
            accept_loops.push(runtime.spawn(accept_loop(listener, frontend.clone(), stop.clone())));
        }
        *running = Some(Running {
            runtime,
            stop_accepting,
            accept_loops,
        });
        Ok(())
    }

    /// Graceful stop: close the listeners at once (new connections are refused), let
    /// established connections finish for up to `deadline`, then drop what is left.
    /// Blocks the calling thread (Python releases the GIL around it).
    pub fn stop(&self, deadline: Duration) {
        let Some(running) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let until = Instant::now() + deadline;
        let _ = running.stop_accepting.send(true);
        running.runtime.block_on(async {
            for handle in running.accept_loops {
                let _ = handle.await;
            }
        });
        while self.current_connections() > 0 && Instant::now() < until {
            std::thread::sleep(DRAIN_POLL);
        }
        // Dropping the runtime's tasks closes their sockets.
        running.runtime.shutdown_timeout(Duration::from_secs(1));
    }

    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Connections currently open across all frontends.
    pub fn current_connections(&self) -> u64 {
        self.frontends
            .iter()
            .map(|f| f.stats.traffic.current())
            .sum()
    }

    /// Frontend name -> bound address (after `start`).
    pub fn listen_addresses(&self) -> Vec<(String, SocketAddr)> {
        self.frontends
            .iter()
            .filter_map(|f| f.bound.get().map(|a| (f.name.clone(), *a)))
            .collect()
    }

    pub fn backend(&self, name: &str) -> Result<&Arc<Backend>> {
        self.backends
            .get(name)
            .ok_or_else(|| Error::UnknownBackend(name.to_string()))
    }

    pub fn set_weight(&self, backend: &str, server: &str, weight: u32) -> Result<()> {
        self.backend(backend)?.set_weight(server, weight)
    }

    pub fn set_state(&self, backend: &str, server: &str, state: &str) -> Result<()> {
        let state: AdminState = state.parse()?;
        self.backend(backend)?.set_state(server, state)
    }

    /// Reads every counter (relaxed loads; the data path is never paused).
    pub fn snapshot(&self) -> StatsSnapshot {
        let frontends = self
            .frontends
            .iter()
            .map(|f| {
                let t = &f.stats.traffic;
                let snapshot = FrontendSnapshot {
                    listen: f.bound.get().unwrap_or(&f.configured_listen).to_string(),
                    backend: f.backend.name.clone(),
                    current_connections: read(&t.current),
                    total_connections: read(&t.total),
                    bytes_in: read(&t.bytes_in),
                    bytes_out: read(&t.bytes_out),
                    rejected_connections: read(&f.stats.rejected),
                    no_server_errors: read(&f.stats.no_server),
                    accept_errors: read(&f.stats.accept_errors),
                    resource_errors: read(&f.stats.resource_errors),
                };
                (f.name.clone(), snapshot)
            })
            .collect::<BTreeMap<_, _>>();
        let backends = self
            .backends
            .values()
            .map(|b| {
                let no_server = frontends
                    .values()
                    .filter(|f| f.backend == b.name)
                    .map(|f| f.no_server_errors)
                    .sum();
                (
                    b.name.clone(),
                    BackendSnapshot::from_servers(servers(b), no_server),
                )
            })
            .collect();
        StatsSnapshot {
            uptime_seconds: self.created.elapsed().as_secs_f64(),
            frontends,
            backends,
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
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum) {
        if current < maximum {
            let raised = rustix::process::Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            let _ = setrlimit(Resource::Nofile, raised);
        }
    }
}

fn servers(backend: &Backend) -> BTreeMap<String, ServerSnapshot> {
    let active = backend.active_servers();
    backend
        .servers
        .iter()
        .zip(active)
        .map(|(s, active)| {
            let t = &s.stats.traffic;
            let snapshot = ServerSnapshot {
                address: s.address.to_string(),
                weight: s.weight(),
                state: s.state().as_str(),
                backup: s.backup,
                active,
                current_connections: read(&t.current),
                total_connections: read(&t.total),
                bytes_in: read(&t.bytes_in),
                bytes_out: read(&t.bytes_out),
                connect_errors: read(&s.stats.connect_errors),
                retries: read(&s.stats.retries),
                connect_time: s.stats.connect_time.snapshot(),
                session_time: s.stats.session_time.snapshot(),
            };
            (s.name.clone(), snapshot)
        })
        .collect()
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}
