//! The logger against real files and a real FIFO: every line lands, a full queue drops
//! instead of blocking, a reopen after a rename loses nothing.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::{reopen_all, termination, AccessLog, AccessLogConfig, AccessLogFormat};
use super::{AccessRecord, Timings};

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "fastlb-access-log-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn config(path: &Path, format: AccessLogFormat) -> AccessLogConfig {
    AccessLogConfig {
        path: path.to_str().unwrap().to_string(),
        format,
    }
}

fn record(path: String) -> AccessRecord {
    AccessRecord {
        accepted_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        client: "127.0.0.1:40000".parse().unwrap(),
        frontend: "web".into(),
        backend: "web".into(),
        server: Some("web-01".into()),
        method: "GET".into(),
        host: "localhost".into(),
        path,
        protocol: "HTTP/1.1",
        status: 200,
        bytes_in: 40,
        bytes_out: 100,
        timings: Timings {
            tq: 0,
            tw: 0,
            tc: 0,
            tr: 1,
            ta: 1,
        },
        retries: 0,
        termination: termination::NORMAL,
    }
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `path` field of a JSON line.
fn path_of(line: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    value["path"].as_str().unwrap().to_string()
}

/// The `path` field of each JSON line of a file.
fn paths(path: &Path) -> Vec<String> {
    lines(path).iter().map(|line| path_of(line)).collect()
}

/// Waits (bounded) until `condition` holds.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn every_record_from_several_threads_is_one_line_after_drop() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 2_500;
    let dir = TempDir::new();
    let file = dir.join("access.log");
    // Lines already in the file stay: the log appends.
    fs::write(&file, "an earlier line\n").unwrap();
    // Room for every record: this test is about none going missing, not about overflow.
    let log = AccessLog::with_capacity(
        &config(&file, AccessLogFormat::Json),
        "web",
        THREADS * PER_THREAD,
    )
    .unwrap();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let log = &log;
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    log.log(record(format!("/{thread}/{i}")));
                    if i % 500 == 0 {
                        // Let the writer catch up and sleep now and then, so the wake-up
                        // path is exercised too, not only the busy one.
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            });
        }
    });
    assert_eq!(log.dropped(), 0);
    drop(log);
    let mut written = lines(&file);
    assert_eq!(written.remove(0), "an earlier line");
    assert_eq!(written.len(), THREADS * PER_THREAD);
    // Every line is a whole record, each one once.
    let mut seen: Vec<String> = written.iter().map(|line| path_of(line)).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), THREADS * PER_THREAD);
}

#[test]
fn lines_appear_without_waiting_for_more_records() {
    let dir = TempDir::new();
    let file = dir.join("access.log");
    let log = AccessLog::open(&config(&file, AccessLogFormat::Clf), "web").unwrap();
    log.log(record("/first".into()));
    // Flushed when the queue ran dry: what `tail -f` relies on.
    wait_until("the first line", || {
        fs::read_to_string(&file).unwrap().ends_with("200 100\n")
    });
    log.log(record("/second".into()));
    wait_until("the second line", || lines(&file).len() == 2);
    drop(log);
}

/// The writer blocked on a FIFO nobody reads: the queue fills and `log` drops and counts
/// instead of waiting; once the reader drains the FIFO, drop delivers what was queued.
#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    use rustix::fs::{fcntl_setfl, mknodat, open, FileType, Mode, OFlags, CWD};
    const RECORDS: usize = 2_000;
    let dir = TempDir::new();
    let fifo = dir.join("access.fifo");
    mknodat(
        CWD,
        &fifo,
        FileType::Fifo,
        Mode::from_bits_truncate(0o600),
        0,
    )
    .unwrap();
    // A reader first (non-blocking open), so that the log's open for writing succeeds.
    let reader = open(&fifo, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()).unwrap();
    let log = AccessLog::with_capacity(&config(&fifo, AccessLogFormat::Json), "web", 4).unwrap();
    // ~1 KiB lines: the 64 KiB pipe is full long before RECORDS lines.
    let padding = "x".repeat(1_000);
    for i in 0..RECORDS {
        log.log(record(format!("/{i}/{padding}")));
    }
    let dropped = log.dropped();
    assert!(
        dropped > 0,
        "the writer cannot have written {RECORDS} KiB into a pipe"
    );
    fcntl_setfl(&reader, OFlags::empty()).unwrap();
    let draining = std::thread::spawn(move || {
        let mut text = String::new();
        fs::File::from(reader).read_to_string(&mut text).unwrap();
        text
    });
    drop(log); // drains its queue into the FIFO, closes it: the reader sees EOF
    let text = draining.join().unwrap();
    let delivered = text.lines().count() as u64;
    assert!(text.ends_with('\n'));
    assert_eq!(delivered + dropped, RECORDS as u64);
}

/// logrotate's sequence: rename, signal, keep logging. Lines logged before the reopen are
/// in the renamed file, the rest in a new file at the old path; none lost.
#[test]
fn reopen_after_a_rename_writes_a_new_file_and_loses_nothing() {
    let dir = TempDir::new();
    let file = dir.join("access.log");
    let rotated = dir.join("access.log.1");
    let log = AccessLog::open(&config(&file, AccessLogFormat::Json), "web").unwrap();
    for i in 0..100 {
        log.log(record(format!("/before/{i}")));
    }
    fs::rename(&file, &rotated).unwrap();
    log.reopen();
    wait_until("the reopened file", || file.exists());
    for i in 0..100 {
        log.log(record(format!("/after/{i}")));
    }
    drop(log);
    let before: Vec<String> = (0..100).map(|i| format!("/before/{i}")).collect();
    let after: Vec<String> = (0..100).map(|i| format!("/after/{i}")).collect();
    assert_eq!(paths(&rotated), before);
    assert_eq!(paths(&file), after);
}

#[test]
fn reopen_all_reaches_every_open_log() {
    let dir = TempDir::new();
    let (first, second) = (dir.join("a.log"), dir.join("b.log"));
    let a = AccessLog::open(&config(&first, AccessLogFormat::Haproxy), "a").unwrap();
    let b = AccessLog::open(&config(&second, AccessLogFormat::Clf), "b").unwrap();
    fs::rename(&first, dir.join("a.log.1")).unwrap();
    fs::rename(&second, dir.join("b.log.1")).unwrap();
    assert!(reopen_all() >= 2);
    wait_until("both reopened", || first.exists() && second.exists());
    a.log(record("/a".into()));
    b.log(record("/b".into()));
    drop((a, b));
    assert_eq!(lines(&first).len(), 1);
    assert_eq!(lines(&second).len(), 1);
}

#[test]
fn an_unwritable_path_is_an_error_naming_it() {
    let dir = TempDir::new();
    let missing = dir.join("no-such-dir/access.log");
    let error = AccessLog::open(&config(&missing, AccessLogFormat::Json), "web")
        .err()
        .expect("a missing directory cannot be logged to");
    assert!(error.contains(missing.to_str().unwrap()), "{error}");
    assert!(error.contains("\"web\""), "{error}");
}

#[test]
fn stdout_opens_and_ignores_reopen() {
    let stdout = AccessLogConfig {
        path: "-".into(),
        format: AccessLogFormat::Json,
    };
    let log: Arc<AccessLog> = AccessLog::open(&stdout, "web").unwrap();
    log.reopen();
    assert_eq!(log.dropped(), 0);
}
