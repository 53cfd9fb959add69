//! The writer thread: takes records off the queue, formats them into a `BufWriter`, flushes
//! whenever the queue runs dry (so `tail -f` sees lines at once), reopens the file when
//! asked, and sleeps (parked) when there is nothing to do.

use crossbeam_queue::ArrayQueue;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Stdout, Write};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::thread;

use super::format::write_line;
use super::record::AccessRecord;
use super::AccessLogFormat;

/// A line is formatted into a reusable buffer; 64 KiB batches many lines per write(2).
const WRITE_BUFFER: usize = 64 * 1024;

/// What the workers and the writer thread share.
pub(super) struct Shared {
    pub queue: ArrayQueue<AccessRecord>,
    /// Set by the writer just before it parks: a worker that pushes a record unparks it
    /// only then, so a busy writer costs workers no syscall.
    pub sleeping: AtomicBool,
    pub reopen: AtomicBool,
    pub stop: AtomicBool,
    /// Lines lost: the queue was full, or the write failed.
    pub dropped: AtomicU64,
}

impl Shared {
    pub fn new(capacity: usize) -> Shared {
        Shared {
            queue: ArrayQueue::new(capacity),
            sleeping: AtomicBool::new(false),
            reopen: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    /// Whether the writer must be unparked after an event (a record, a reopen, a stop) was
    /// published. The fence pairs with the writer's in `run`: either it sees the event
    /// before parking, or this sees `sleeping` (Dekker's pattern; both sides SeqCst).
    pub fn writer_needs_waking(&self) -> bool {
        fence(Ordering::SeqCst);
        self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::AcqRel)
    }
}

/// Where lines go.
pub(super) enum Output {
    File(File),
    Stdout(Stdout),
}

impl Output {
    /// `-` is stdout; anything else a file opened for appending, created if missing
    /// (mode 0640 via the umask, like any log file a daemon creates).
    pub fn open(path: &str) -> io::Result<Output> {
        if path == "-" {
            return Ok(Output::Stdout(io::stdout()));
        }
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map(Output::File)
    }
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Output::File(file) => file.write(bytes),
            Output::Stdout(stdout) => stdout.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::File(file) => file.flush(),
            Output::Stdout(stdout) => stdout.flush(),
        }
    }
}

/// The writer thread's state.
pub(super) struct Writer {
    pub path: String,
    pub frontend: String,
    pub format: AccessLogFormat,
    pub output: BufWriter<Output>,
    /// Whether the last write failed: an error is reported once, not once per line.
    pub failing: bool,
}

impl Writer {
    pub fn new(path: &str, frontend: &str, format: AccessLogFormat, output: Output) -> Writer {
        Writer {
            path: path.to_string(),
            frontend: frontend.to_string(),
            format,
            output: BufWriter::with_capacity(WRITE_BUFFER, output),
            failing: false,
        }
    }

    /// The thread's body: runs until `stop` is set and the queue is empty.
    pub fn run(mut self, shared: &Shared) {
        let mut line = Vec::with_capacity(512);
        loop {
            // Read the flags before measuring the queue: every record logged before
            // `reopen()` returned is counted in `ready`, so it goes to the old file.
            let reopen = shared.reopen.swap(false, Ordering::AcqRel);
            let stop = shared.stop.load(Ordering::Acquire);
            // A bounded batch: under a steady flood a reopen still happens promptly.
            let ready = shared.queue.len();
            for _ in 0..ready {
                let Some(record) = shared.queue.pop() else {
                    break;
                };
                line.clear();
                write_line(self.format, &record, &mut line);
                let written = self.output.write_all(&line);
                self.note(written, shared, 1);
            }
            if reopen {
                self.reopen(shared);
            }
            if !shared.queue.is_empty() {
                continue;
            }
            let flushed = self.output.flush();
            self.note(flushed, shared, 0);
            if stop {
                return;
            }
            shared.sleeping.store(true, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            let idle = shared.queue.is_empty()
                && !shared.reopen.load(Ordering::Relaxed)
                && !shared.stop.load(Ordering::Relaxed);
            if idle {
                // Spurious wake-ups are harmless: the loop looks again.
                thread::park();
            }
            shared.sleeping.store(false, Ordering::Relaxed);
        }
    }

    /// logrotate has renamed the file: finish the old one, then open the path anew. If
    /// the path cannot be opened, keep writing to the old file rather than lose lines.
    fn reopen(&mut self, shared: &Shared) {
        let flushed = self.output.flush();
        self.note(flushed, shared, 0);
        if self.path == "-" {
            return;
        }
        match Output::open(&self.path) {
            Ok(output) => {
                let old = std::mem::replace(
                    &mut self.output,
                    BufWriter::with_capacity(WRITE_BUFFER, output),
                );
                // Not empty only if the old file refused the flush: those lines go to
                // the new file rather than nowhere.
                let (_old_file, unwritten) = old.into_parts();
                if let Ok(unwritten) = unwritten {
                    let written = self.output.write_all(&unwritten);
                    self.note(written, shared, 0);
                }
            }
            Err(error) => eprintln!(
                "fastlb: frontend {:?}: access log {}: cannot reopen, still writing to the \
                 old file: {error}",
                self.frontend, self.path
            ),
        }
    }

    /// Counts lines lost to a failed write and reports the first failure of a run of them
    /// on stderr (the process's log); `lines` is 1 for a line, 0 for a flush (a failed
    /// flush keeps its data in the buffer for the next attempt).
    #[cold]
    fn note_failure(&mut self, error: io::Error, shared: &Shared, lines: u64) {
        shared.dropped.fetch_add(lines, Ordering::Relaxed);
        if !self.failing {
            self.failing = true;
            eprintln!(
                "fastlb: frontend {:?}: access log {}: write failed, lines are being \
                 dropped: {error}",
                self.frontend, self.path
            );
        }
    }

    fn note(&mut self, result: io::Result<()>, shared: &Shared, lines: u64) {
        match result {
            // Only a flush proves the output works again (a line may just have been
            // buffered).
            Ok(()) if lines == 0 => self.failing = false,
            Ok(()) => {}
            Err(error) => self.note_failure(error, shared, lines),
        }
    }
}
