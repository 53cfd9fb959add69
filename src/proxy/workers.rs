//! Thread-per-core: `workers` OS threads, each driving its own current-thread tokio runtime.
//!
//! A connection is served start to end on the thread that accepted it: no work stealing,
//! so no thread wakes another (futex) to hand it work, which on a loaded machine costs
//! scheduling latency on every message. The control side (Python's threads) reaches the
//! workers through their runtime handles.

use std::future::Future;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// How long a stopping worker waits for its blocking tasks (there are none today).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) struct Workers {
    handles: Vec<Handle>,
    threads: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Workers {
    /// Builds every runtime on the calling thread (so a failure is reported here), then
    /// hands each to its own thread, which drives it until `shutdown`.
    pub fn start(count: usize) -> Result<Self> {
        let mut workers = Workers {
            handles: Vec::with_capacity(count),
            threads: Vec::with_capacity(count),
        };
        for index in 0..count {
            let runtime = Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::Runtime)?;
            let (stop, stopped) = oneshot::channel::<()>();
            let handle = runtime.handle().clone();
            let thread = std::thread::Builder::new()
                .name(format!("fastlb-worker-{index}"))
                .spawn(move || {
                    // A current-thread runtime runs its tasks (and its I/O and timers) only
                    // inside block_on: this is the worker's event loop.
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    // Dropping the tasks closes their sockets.
                    runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
                })
                .map_err(Error::Runtime)?;
            // On a later failure the senders drop with `workers`: that too ends the loops.
            workers.handles.push(handle);
            workers.threads.push((stop, thread));
        }
        Ok(workers)
    }

    /// One handle per worker, in order.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// The worker that also runs control-side tasks (health checks).
    pub fn control(&self) -> &Handle {
        &self.handles[0]
    }

    /// Waits, on the calling (non-worker) thread, for `future`; the workers drive its I/O.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.control().block_on(future)
    }

    /// Ends every worker's loop, dropping its tasks (and their connections), and joins it.
    pub fn shutdown(self) {
        let (stops, threads): (Vec<_>, Vec<_>) = self.threads.into_iter().unzip();
        for stop in stops {
            let _ = stop.send(());
        }
        for thread in threads {
            let _ = thread.join();
        }
    }
}
