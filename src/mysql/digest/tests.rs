//! Normalisation table tests and the sketch's promises: the top-K of a skewed workload is
//! exact, and memory stays fixed however many distinct statements pass.

use std::time::Duration;

use super::*;
use crate::mysql::Role;

#[test]
fn normalisation_table() {
    let cases: &[(&str, &str)] = &[
        (
            "SELECT * FROM t WHERE id = 42",
            "SELECT * FROM t WHERE id = ?",
        ),
        (
            "select  *\n from t where id=42 -- why\n",
            "select * from t where id = ?",
        ),
        (
            "SELECT a, b FROM t WHERE name = 'x' AND v = \"y\"",
            "SELECT a, b FROM t WHERE name = ? AND v = ?",
        ),
        (
            "SELECT * FROM t WHERE id IN (1, 2, 3)",
            "SELECT * FROM t WHERE id IN (...)",
        ),
        (
            "SELECT * FROM t WHERE id IN (1)",
            "SELECT * FROM t WHERE id IN (...)",
        ),
        (
            "SELECT * FROM t WHERE id in ('a','b',NULL)",
            "SELECT * FROM t WHERE id in (...)",
        ),
        (
            "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x = 1)",
            "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x = ?)",
        ),
        (
            "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
            "INSERT INTO t (a, b) VALUES (...)",
        ),
        ("INSERT INTO t VALUES(1,2)", "INSERT INTO t VALUES(...)"),
        (
            "INSERT INTO t VALUES (1, NOW())",
            "INSERT INTO t VALUES (?, NOW())",
        ),
        ("SELECT 3.14, -1, 1e-3, .5 + 2", "SELECT ?, ?, ?, ? + ?"),
        (
            "SELECT a-1 FROM t WHERE b = -2",
            "SELECT a - ? FROM t WHERE b = ?",
        ),
        (
            "SELECT 0x1F, X'1F', _utf8mb4'x', b'01'",
            "SELECT ?, ?, ?, ?",
        ),
        (
            "SELECT COUNT(*) FROM t WHERE a >= 1 AND b <> 2",
            "SELECT COUNT(*) FROM t WHERE a >= ? AND b <> ?",
        ),
        ("SELECT /* hint */ 1 # trailing", "SELECT ?"),
        ("SELECT /*!40001 SQL_NO_CACHE */ 1", "SELECT SQL_NO_CACHE ?"),
        (
            "SELECT `weird col` FROM `db`.`t`",
            "SELECT `weird col` FROM `db`.`t`",
        ),
        ("SET @x := 5", "SET @x := ?"),
        ("SELECT @@session.sql_mode", "SELECT @@session.sql_mode"),
        (
            "SELECT * FROM t WHERE id = ?",
            "SELECT * FROM t WHERE id = ?",
        ),
        ("SELECT * FROM t LIMIT 10, 20", "SELECT * FROM t LIMIT ?, ?"),
        ("", ""),
    ];
    for (sql, expected) in cases {
        assert_eq!(normalize(sql), *expected, "normalising {sql:?}");
    }
}

#[test]
fn same_shape_same_digest() {
    let same = [
        "SELECT * FROM users WHERE id = 1",
        "select * from users where id = 987654",
        "SELECT *   FROM users /* c */ WHERE id='abc'",
        "SELECT * FROM users WHERE id = -5",
        "SELECT * FROM users WHERE id = ?",
    ];
    let digest = fingerprint(same[0].as_bytes());
    for sql in same {
        assert_eq!(fingerprint(sql.as_bytes()), digest, "{sql}");
    }
    assert_eq!(
        fingerprint(b"SELECT * FROM t WHERE a IN (1,2,3)"),
        fingerprint(b"SELECT * FROM t WHERE a IN (4)")
    );
    assert_eq!(
        fingerprint(b"INSERT INTO t VALUES (1,2)"),
        fingerprint(b"INSERT INTO t VALUES (1,2),(3,4),(5,6)")
    );
    let different = [
        "SELECT * FROM users WHERE id = 1",
        "SELECT * FROM orders WHERE id = 1",
        "SELECT * FROM users WHERE uid = 1",
        "SELECT * FROM `users` WHERE id = 1",
        "SELECT * FROM users WHERE id > 1",
        "SELECT * FROM users WHERE id = 1 FOR UPDATE",
        "SELECT * FROM users WHERE id = @a",
        "SELECT * FROM users WHERE id = @b",
    ];
    let digests: std::collections::HashSet<u64> = different
        .iter()
        .map(|sql| fingerprint(sql.as_bytes()))
        .collect();
    assert_eq!(digests.len(), different.len());
}

#[test]
fn long_statements_are_cut() {
    let sql = format!("SELECT {} FROM t", vec!["col"; 1000].join(", "));
    let text = normalize(&sql);
    assert!(text.len() <= MAX_TEXT + 3, "{}", text.len());
    assert!(text.ends_with("..."));
}

/// A small deterministic generator (xorshift): the tests must give the same result each run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn space_saving_keeps_the_heavy_keys_exact() {
    // 10 heavy keys (weights 100..1000 per hit, one hit each per round) among 50,000 light
    // keys of weight 1, interleaved at random.
    let mut sketch: SpaceSaving<u64> = SpaceSaving::new(40);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut exact = std::collections::HashMap::new();
    for round in 0..2000u64 {
        for heavy in 0..10u64 {
            let weight = 100 * (heavy + 1);
            sketch.add(heavy, weight, |v| *v = 0, |v| *v += weight);
            *exact.entry(heavy).or_insert(0) += weight;
        }
        for _ in 0..25 {
            let light = 1000 + rng.next() % 50_000 + round % 3;
            sketch.add(light, 1, |v| *v = 0, |v| *v += 1);
        }
    }
    let mut held: Vec<_> = sketch.slots().iter().collect();
    held.sort_by_key(|slot| std::cmp::Reverse(slot.weight));
    let top: Vec<u64> = held.iter().take(10).map(|s| s.key).collect();
    assert_eq!(top, (0..10).rev().collect::<Vec<_>>());
    for slot in held.iter().take(10) {
        assert_eq!(slot.error, 0, "key {} was evicted once", slot.key);
        assert_eq!(slot.value, exact[&slot.key], "key {}", slot.key);
        assert_eq!(slot.weight, exact[&slot.key]);
    }
    assert!(sketch.evictions() > 40_000);
}

fn sample(us: u64) -> Sample {
    Sample {
        latency: Duration::from_micros(us),
        error: false,
        rows: 1,
        route: Role::Primary,
    }
}

#[test]
fn table_top_k_is_exact_for_a_skewed_workload() {
    // 5 hot statement shapes (different literals each time) and 100,000 distinct cold ones,
    // over 2 shards as 2 workers would.
    let table = DigestTable::with_shards(5, 2);
    let mut rng = Rng(42);
    let mut hot_calls = [0u64; 5];
    for i in 0..100_000u64 {
        let cold = format!(
            "SELECT c{} FROM cold WHERE id = {}",
            rng.next() % 1_000_000,
            i
        );
        table.record(cold.as_bytes(), &sample(10));
        if i % 10 == 0 {
            let hot = (i / 10 % 5) as usize;
            let sql = format!("SELECT * FROM hot{hot} WHERE id = {}", rng.next());
            table.record(sql.as_bytes(), &sample(1000 * (hot as u64 + 1)));
            hot_calls[hot] += 1;
        }
    }
    let snapshot = table.snapshot();
    let texts: Vec<&str> = snapshot.digests.iter().map(|d| d.text.as_str()).collect();
    assert_eq!(
        texts,
        (0..5)
            .rev()
            .map(|n| format!("SELECT * FROM hot{n} WHERE id = ?"))
            .collect::<Vec<_>>()
    );
    for digest in &snapshot.digests {
        let hot: usize = digest.text["SELECT * FROM hot".len()..][..1]
            .parse()
            .unwrap();
        assert_eq!(digest.calls, hot_calls[hot], "{}", digest.text);
        assert_eq!(digest.time_error_seconds, 0.0);
        let expected = hot_calls[hot] as f64 * 0.001 * (hot as f64 + 1.0);
        assert!((digest.total_seconds - expected).abs() < 1e-6);
        assert_eq!(digest.rows_sent, hot_calls[hot]);
    }
    assert!(snapshot.evictions > 90_000);
}

#[test]
fn memory_stays_fixed_under_100k_distinct_statements() {
    let table = DigestTable::with_shards(10, 1);
    let mut after_warmup = 0;
    for i in 0..100_000u64 {
        let sql = format!("SELECT col{i} FROM t{i} WHERE id = {i}");
        table.record(sql.as_bytes(), &sample(5));
        if i == 1000 {
            after_warmup = table.memory_bytes();
        }
    }
    let snapshot = table.snapshot();
    assert_eq!(snapshot.tracked, snapshot.capacity);
    assert_eq!(snapshot.digests.len(), 10);
    // Only text buffers may still grow (a longer statement in a reused slot), and never past
    // MAX_TEXT: bounded by the capacity the table was made with.
    let end = table.memory_bytes();
    let bound = after_warmup + snapshot.capacity * (MAX_TEXT + 3);
    assert!(end <= bound, "{end} > {bound}");
    assert!(
        end < 2 * after_warmup,
        "{end} vs {after_warmup} after warm-up"
    );
}

#[test]
fn store_follows_the_configuration() {
    let store = DigestStore::default();
    let off = DigestConfig {
        enabled: false,
        top_k: 5,
    };
    store.record(&off, b"SELECT 1", &sample(1));
    assert!(store.snapshot().is_none());
    let on = DigestConfig {
        enabled: true,
        top_k: 5,
    };
    store.record(&on, b"SELECT 1", &sample(1));
    store.record(&on, b"SELECT 2", &sample(1));
    let snapshot = store.snapshot().unwrap();
    assert_eq!((snapshot.top_k, snapshot.digests[0].calls), (5, 2));
    let bigger = DigestConfig {
        enabled: true,
        top_k: 7,
    };
    store.record(&bigger, b"SELECT 3", &sample(1));
    let snapshot = store.snapshot().unwrap();
    assert_eq!((snapshot.top_k, snapshot.digests[0].calls), (7, 1));
    assert!(DigestConfig {
        enabled: true,
        top_k: 0
    }
    .validate()
    .is_err());
}

#[test]
fn a_digest_recorded_on_two_worker_threads_is_tracked_once() {
    // Each thread records into its own shard (as each worker does): the same shape sits in
    // both, and the report counts it once, whichever worker served the statement.
    let table = DigestTable::with_shards(10, 2);
    std::thread::scope(|scope| {
        for n in 0..2 {
            let table = &table;
            scope.spawn(move || table.record(format!("SELECT {n}").as_bytes(), &sample(5)));
        }
    });
    let snapshot = table.snapshot();
    assert_eq!(snapshot.tracked, 1);
    assert_eq!(snapshot.digests.len(), 1);
    assert_eq!(snapshot.digests[0].calls, 2);
}
