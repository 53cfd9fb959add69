//! The query digest's cost per statement (`cargo bench --bench digest`, part of `make bench`).
//!
//! Plain timing loops (no benchmark framework to fetch): each case runs a fixed number of
//! statements several times and prints the median nanoseconds per statement. Cases:
//! - `fingerprint`: normalise and hash (the part that runs for every statement);
//! - `record, hot`: fingerprint + the sketch update for statements already held (the usual
//!   case: an application runs a few hundred shapes with changing literals);
//! - `record, all distinct`: every statement new, so each one evicts and renders its text
//!   (the worst case: 100k distinct statements).

use std::hint::black_box;
use std::time::Duration;

use fastlb::mysql::digest::{fingerprint, DigestTable, Sample};
use fastlb::mysql::{classify, Role};

const ROUNDS: usize = 7;

/// This thread's CPU time: on a shared machine the wall clock also counts the time other
/// processes held the CPU, which says nothing about this code.
fn thread_cpu_ns() -> u128 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as u128 * 1_000_000_000 + now.tv_nsec as u128
}

fn median_ns_per(statements: &[String], mut run: impl FnMut(&[u8])) -> f64 {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = thread_cpu_ns();
            for sql in statements {
                run(black_box(sql.as_bytes()));
            }
            (thread_cpu_ns() - started) as f64 / statements.len() as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

fn main() {
    let typical: Vec<String> = (0..20_000u64)
        .map(|i| match i % 4 {
            0 => format!("SELECT c FROM sbtest{} WHERE id={}", i % 8, i * 7919 % 100_000),
            1 => format!(
                "SELECT id, name, email FROM users WHERE account_id = {} AND status = 'active' ORDER BY created_at DESC LIMIT 20",
                i
            ),
            2 => format!(
                "UPDATE orders SET state = 'paid', paid_at = NOW() WHERE id = {} AND version = {}",
                i,
                i % 5
            ),
            _ => format!("SELECT * FROM items WHERE id IN ({}, {}, {}, {})", i, i + 1, i + 2, i + 3),
        })
        .collect();
    let distinct: Vec<String> = (0..100_000u64)
        .map(|i| format!("SELECT c{i} FROM t{} WHERE id = {i}", i % 1000))
        .collect();
    let sample = Sample {
        latency: Duration::from_micros(150),
        error: false,
        rows: 1,
        route: Role::Replica,
    };
    let mean_len = typical.iter().map(String::len).sum::<usize>() as f64 / typical.len() as f64;
    println!("query digest cost per statement (thread CPU time, median of {ROUNDS} rounds; typical statements average {mean_len:.0} bytes)");
    // The reference: the classifier, which already runs for every statement.
    let ns = median_ns_per(&typical, |sql| {
        black_box(classify(sql));
    });
    println!("  classify (reference, already paid):    {ns:7.0} ns");
    let ns = median_ns_per(&typical, |sql| {
        black_box(fingerprint(sql));
    });
    println!("  fingerprint (normalise + hash):        {ns:7.0} ns");
    let table = DigestTable::new(50);
    let ns = median_ns_per(&typical, |sql| table.record(sql, &sample));
    println!("  record, hot (fingerprint + sketch):    {ns:7.0} ns");
    let table = DigestTable::new(50);
    let ns = median_ns_per(&distinct, |sql| table.record(sql, &sample));
    println!("  record, all distinct (evict + render): {ns:7.0} ns");
}
