//! The access log: one line per HTTP request, formatted and written by a writer thread fed
//! through a lock-free queue, so a worker never blocks on the disk (docs/http.md).
//!
//! A worker's whole cost is one `ArrayQueue::push` of a record it built anyway (plus an
//! unpark when the writer was asleep). A full queue drops the record and counts it, as
//! HAProxy drops log lines when its syslog buffer is full: traffic never waits for the log.

mod escape;
mod format;
mod record;
mod time;
mod writer;

pub use record::{termination, AccessRecord, Timings};

use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, JoinHandle, Thread};

use writer::{Output, Shared, Writer};

/// `frontends[i].http.access_log`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// A file (absolute path; appended to, reopened on `Engine::reopen_logs`) or `-` for stdout.
    pub path: String,
    pub format: AccessLogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLogFormat {
    Json,
    /// Common Log Format (Apache/nginx `common`).
    Clf,
    /// HAProxy's `option httplog` line.
    Haproxy,
}

/// Records waiting for the writer, per log. ~250 bytes each (plus their strings): 8192
/// absorbs a burst of a few hundred milliseconds at tens of thousands of requests per
/// second while the disk stalls, for ~2 MiB.
pub const DEFAULT_CAPACITY: usize = 8192;

/// One frontend's access log: a bounded queue and the thread that writes it. Arc-shared by
/// the frontend's workers; dropping the last reference drains the queue, flushes and joins
/// the writer.
pub struct AccessLog {
    shared: Arc<Shared>,
    writer: Thread,
    handle: Option<JoinHandle<()>>,
}

impl AccessLog {
    /// Opens (creating, appending to) `config.path`, or stdout for `-`, and starts its
    /// writer thread. The error names the frontend, the path and why.
    pub fn open(config: &AccessLogConfig, frontend: &str) -> Result<Arc<AccessLog>, String> {
        AccessLog::with_capacity(config, frontend, DEFAULT_CAPACITY)
    }

    /// [`AccessLog::open`] with a queue of `capacity` records (at least 1).
    pub fn with_capacity(
        config: &AccessLogConfig,
        frontend: &str,
        capacity: usize,
    ) -> Result<Arc<AccessLog>, String> {
        let fail =
            |why: String| format!("frontend {frontend:?}: access log {}: {why}", config.path);
        let output = Output::open(&config.path).map_err(|e| fail(e.to_string()))?;
        let shared = Arc::new(Shared::new(capacity.max(1)));
        let writer = Writer::new(&config.path, frontend, config.format, output);
        let handle = thread::Builder::new()
            .name(format!("fastlb-log-{frontend}"))
            .spawn({
                let shared = shared.clone();
                move || writer.run(&shared)
            })
            .map_err(|e| fail(format!("cannot start its writer thread: {e}")))?;
        let log = Arc::new(AccessLog {
            shared,
            writer: handle.thread().clone(),
            handle: Some(handle),
        });
        register(&log);
        Ok(log)
    }

    /// Hands a record to the writer. Never blocks and never allocates: when the queue is
    /// full the record is dropped and counted in [`AccessLog::dropped`].
    #[inline]
    pub fn log(&self, record: AccessRecord) {
        if self.shared.queue.push(record).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.wake_writer();
    }

    /// For logrotate (SIGUSR1 → `Engine::reopen_logs`): at its next turn the writer writes
    /// every record logged before this call to the file it has open, then opens the path
    /// anew. logrotate must rename, not copy-truncate; with `delaycompress` (or a
    /// `postrotate` that signals before compressing) no line is lost. A no-op for stdout.
    pub fn reopen(&self) {
        self.shared.reopen.store(true, Ordering::Release);
        self.wake_writer();
    }

    /// Lines lost so far: the queue was full, or the output refused the write.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    #[inline]
    fn wake_writer(&self) {
        if self.shared.writer_needs_waking() {
            self.writer.unpark();
        }
    }
}

impl Drop for AccessLog {
    /// The writer drains what is queued, flushes and exits. Joining may wait for that
    /// flush; the last reference goes on a reload or at stop, on the control side.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.writer.unpark();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Every open access log, so that one signal reopens them all. Weak: a log closes when its
/// frontend lets go of it, registered or not.
static OPEN_LOGS: Mutex<Vec<Weak<AccessLog>>> = Mutex::new(Vec::new());

fn register(log: &Arc<AccessLog>) {
    let mut logs = OPEN_LOGS.lock().unwrap_or_else(|e| e.into_inner());
    logs.retain(|log| log.strong_count() > 0);
    logs.push(Arc::downgrade(log));
}

/// Reopens every access log of the process (logrotate's signal is process-wide, and a
/// frontend's log outlives reloads that keep its path). Returns how many were asked.
pub fn reopen_all() -> usize {
    let live: Vec<Arc<AccessLog>> = {
        let mut logs = OPEN_LOGS.lock().unwrap_or_else(|e| e.into_inner());
        logs.retain(|log| log.strong_count() > 0);
        logs.iter().filter_map(Weak::upgrade).collect()
    };
    // Outside the lock: dropping the last reference here joins a writer.
    for log in &live {
        log.reopen();
    }
    live.len()
}

#[cfg(test)]
mod tests;
