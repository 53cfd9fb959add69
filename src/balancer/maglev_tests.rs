//! Maglev: shares, disruption, agreement between nodes, health fallback; and a pick-cost
//! microbenchmark against the round-robin rotation (`--ignored`, prints, asserts nothing
//! about time).

use super::*;
use crate::balancer::hashing::{fmix64, hash_client};
use crate::balancer::Rotation;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("web-{i:02}")).collect()
}

fn table_of(names: &[String], weights: &[u32]) -> Vec<u16> {
    let pairs: Vec<(&str, u32)> = names
        .iter()
        .map(String::as_str)
        .zip(weights.to_vec())
        .collect();
    build_table(&pairs, TABLE_SIZE)
}

/// The table's slots as owner names (comparable across member lists).
fn owners(names: &[String], table: &[u16]) -> Vec<String> {
    table
        .iter()
        .map(|&i| names[usize::from(i)].clone())
        .collect()
}

fn counts(table: &[u16], members: usize) -> Vec<usize> {
    let mut counts = vec![0; members];
    for &i in table {
        counts[usize::from(i)] += 1;
    }
    counts
}

/// Fraction of slots whose owner differs.
fn moved(before: &[String], after: &[String]) -> f64 {
    let changed = before.iter().zip(after).filter(|(a, b)| a != b).count();
    changed as f64 / before.len() as f64
}

fn publish_all(maglev: &Maglev<usize>, names: &[String], weights: &[u32], live: &[bool]) {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    maglev.publish((0..names.len()).collect(), &refs, weights, live);
}

#[test]
fn shares_follow_weights_within_one_percent() {
    let weights = [1, 2, 3, 5, 8, 13, 100, 256, 7, 1];
    let table = table_of(&names(weights.len()), &weights);
    assert_eq!(table.len(), TABLE_SIZE);
    let total: u32 = weights.iter().sum();
    for (member, count) in counts(&table, weights.len()).into_iter().enumerate() {
        let expected = TABLE_SIZE as f64 * f64::from(weights[member]) / f64::from(total);
        let error = (count as f64 - expected).abs() / expected;
        assert!(
            error < 0.01,
            "member {member}: {count} slots, expected {expected:.1}"
        );
    }
    // Weight 0 gets nothing; nobody with weight gives an empty table.
    let table = table_of(&names(3), &[0, 1, 1]);
    assert_eq!(counts(&table, 3)[0], 0);
    assert!(table_of(&names(2), &[0, 0]).is_empty());
    assert!(table_of(&[], &[]).is_empty());
}

/// Removing one of N equal servers must move its 1/N of the slots (they have no owner
/// left): that floor is exact. Maglev moves a few more: a slot freed early in the fill can
/// be taken by another survivor, displacing that one's later picks. That cascade is a
/// small fraction of the table, independent of N to first order (the paper's fig. 12 keeps
/// it around 1% at 65537 slots); the ceiling asserted is 1/N + 1% of the table. Measured:
/// N=3 0.3335, 5 0.2014, 10 0.1023, 30 0.0371, 100 0.0155.
#[test]
fn removing_or_adding_one_of_n_moves_about_one_nth() {
    for n in [3usize, 5, 10, 30, 100] {
        let all = names(n);
        let before = owners(&all, &table_of(&all, &vec![1; n]));
        let removed = &all[n / 2];
        let rest: Vec<String> = all.iter().filter(|s| *s != removed).cloned().collect();
        let after = owners(&rest, &table_of(&rest, &vec![1; n - 1]));
        let share = before.iter().filter(|o| *o == removed).count() as f64 / TABLE_SIZE as f64;
        let fraction = moved(&before, &after);
        let ideal = 1.0 / n as f64;
        println!(
            "n={n}: removing one moves {:.4} (ideal {ideal:.4})",
            fraction
        );
        assert!(fraction >= share, "the removed server's slots all moved");
        assert!(
            fraction <= ideal + 0.01,
            "n={n}: moved {fraction}, ideal {ideal}"
        );
        // Adding it back is the same change the other way: the table comes back exactly.
        assert_eq!(owners(&all, &table_of(&all, &vec![1; n])), before);
        // Adding an (n+1)th server: about 1/(n+1).
        let mut more = all.clone();
        more.push("web-new".into());
        let grown = owners(&more, &table_of(&more, &vec![1; n + 1]));
        let fraction = moved(&before, &grown);
        let ideal = 1.0 / (n + 1) as f64;
        println!("n={n}: adding one moves {:.4} (ideal {ideal:.4})", fraction);
        assert!(
            fraction <= ideal + 0.01,
            "n={n}: moved {fraction}, ideal {ideal}"
        );
    }
}

#[test]
fn two_nodes_agree_whatever_the_configuration_order() {
    let a = names(7);
    let weights = [3, 1, 4, 1, 5, 9, 2];
    let node1 = Maglev::new(TABLE_SIZE);
    publish_all(&node1, &a, &weights, &[true; 7]);
    // Node 2 has the same servers listed backwards (e.g. added through its API in another
    // order): the same name gets the same slots.
    let reversed: Vec<String> = a.iter().rev().cloned().collect();
    let reversed_weights: Vec<u32> = weights.iter().rev().copied().collect();
    let node2 = Maglev::new(TABLE_SIZE);
    publish_all(&node2, &reversed, &reversed_weights, &[true; 7]);
    for client in 0..10_000u32 {
        let hash = hash_client(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + client)));
        let (_, one) = node1.pick_where(hash, |_| true).unwrap();
        let (_, two) = node2.pick_where(hash, |_| true).unwrap();
        assert_eq!(a[one], reversed[two]);
    }
}

#[test]
fn a_down_server_moves_only_its_clients_and_they_come_back() {
    let servers = names(5);
    let weights = [1, 1, 2, 1, 1];
    let maglev = Maglev::new(TABLE_SIZE);
    publish_all(&maglev, &servers, &weights, &[true; 5]);
    let pick = |hash| maglev.pick_where(hash, |_| true).unwrap().1;
    let clients: Vec<u64> = (0..20_000u64).map(fmix64).collect();
    let before: Vec<usize> = clients.iter().map(|&h| pick(h)).collect();
    let table_before = maglev.load().table().to_vec();

    publish_all(
        &maglev,
        &servers,
        &weights,
        &[true, true, false, true, true],
    );
    assert_eq!(
        maglev.load().table(),
        &table_before[..],
        "health doesn't rebuild"
    );
    let during: Vec<usize> = clients.iter().map(|&h| pick(h)).collect();
    let mut landed = [0usize; 5];
    for (&b, &d) in before.iter().zip(&during) {
        if b == 2 {
            assert_ne!(d, 2);
            landed[d] += 1;
        } else {
            assert_eq!(b, d, "a client of a live server moved");
        }
    }
    // The down server's clients spread over the others (equal weights: about a quarter
    // each; a binomial with n ~ 8000 stays well within 25% +- 5%).
    let orphans: usize = landed.iter().sum();
    for (member, &n) in landed.iter().enumerate().filter(|&(m, _)| m != 2) {
        let share = n as f64 / orphans as f64;
        assert!(
            (0.20..0.30).contains(&share),
            "member {member} took {share}: {landed:?}"
        );
    }

    publish_all(&maglev, &servers, &weights, &[true; 5]);
    let after: Vec<usize> = clients.iter().map(|&h| pick(h)).collect();
    assert_eq!(before, after);

    // `accept` saying no (a state newer than the published one) probes on too; all down
    // picks nothing.
    assert!(clients
        .iter()
        .all(|&h| maglev.pick_where(h, |&m| m != 0).unwrap().1 != 0));
    publish_all(&maglev, &servers, &weights, &[false; 5]);
    assert!(maglev.pick_where(clients[0], |_| true).is_none());
}

#[test]
fn retry_probes_past_the_failed_slot() {
    let servers = names(3);
    let maglev = Maglev::new(TABLE_SIZE);
    publish_all(&maglev, &servers, &[1, 1, 1], &[true; 3]);
    let (slot, first) = maglev.pick_where(fmix64(42), |_| true).unwrap();
    let (next_slot, second) = maglev.after(slot, |&m| m != first).unwrap();
    assert_ne!(first, second);
    assert_ne!(slot, next_slot);
    // Deterministic: the same client retries on the same server.
    assert_eq!(maglev.after(slot, |&m| m != first).unwrap().1, second);
}

proptest! {
    #[test]
    fn full_order_free_and_health_moves_only_the_down(
        weights in prop::collection::vec(0u32..=256, 1..12),
        down in 0usize..12,
        seed in any::<u64>(),
    ) {
        let size = 4_099; // prime, small enough for many cases
        let servers = names(weights.len());
        let pairs: Vec<(&str, u32)> =
            servers.iter().map(String::as_str).zip(weights.clone()).collect();
        let table = build_table(&pairs, size);
        if weights.iter().all(|&w| w == 0) {
            prop_assert!(table.is_empty());
            return Ok(());
        }
        prop_assert_eq!(table.len(), size);
        prop_assert!(table.iter().all(|&i| weights[usize::from(i)] > 0));
        let mut reversed = pairs.clone();
        reversed.reverse();
        let other = build_table(&reversed, size);
        let n = weights.len();
        prop_assert!(table.iter().zip(&other).all(|(&a, &b)| usize::from(a) == n - 1 - usize::from(b)));

        let maglev = Maglev::new(size);
        let down = down % n;
        publish_all(&maglev, &servers, &weights, &vec![true; n]);
        let before: Vec<Option<usize>> =
            (0..500).map(|i| maglev.pick_where(fmix64(seed ^ i), |_| true).map(|p| p.1)).collect();
        let mut live = vec![true; n];
        live[down] = false;
        publish_all(&maglev, &servers, &weights, &live);
        for (i, b) in before.iter().enumerate() {
            let d = maglev.pick_where(fmix64(seed ^ i as u64), |_| true).map(|p| p.1);
            if *b == Some(down) {
                prop_assert_ne!(d, Some(down));
            } else {
                prop_assert_eq!(d, *b);
            }
        }
    }
}

/// `cargo test --release maglev_pick_cost -- --ignored --nocapture`: ns per pick, Maglev
/// (hash the address + one table load) vs the round-robin rotation (one shared atomic).
#[test]
#[ignore]
fn maglev_pick_cost() {
    use std::hint::black_box;
    use std::time::Instant;
    let servers = names(16);
    let weights: Vec<u32> = [5, 3, 1, 2].repeat(4);
    // Members are `Arc`s, as in a backend: both picks pay the same clone.
    let members: Vec<Arc<str>> = servers.iter().map(|s| Arc::from(s.as_str())).collect();
    let refs: Vec<&str> = servers.iter().map(String::as_str).collect();
    let maglev = Maglev::new(TABLE_SIZE);
    maglev.publish(members.clone(), &refs, &weights, &[true; 16]);
    let rotation = Rotation::new(members, &weights);
    let picks = 20_000_000u32;
    for round in 0..3 {
        let started = Instant::now();
        for i in 0..picks {
            let ip = IpAddr::V4(Ipv4Addr::from(black_box(i.wrapping_mul(2_654_435_761))));
            black_box(maglev.pick_where(hash_client(ip), |_| true));
        }
        let maglev_ns = started.elapsed().as_nanos() as f64 / f64::from(picks);
        let started = Instant::now();
        for _ in 0..picks {
            black_box(rotation.pick_where(|_| true));
        }
        let wrr_ns = started.elapsed().as_nanos() as f64 / f64::from(picks);
        println!(
            "round {round}: maglev {maglev_ns:.1} ns/pick, wrr {wrr_ns:.1} ns/pick, ratio {:.2}",
            maglev_ns / wrr_ns
        );
    }
}
