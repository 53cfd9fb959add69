//! Backend: weights, states, backups and retries under round-robin; Maglev stickiness.

use super::*;
use crate::config::ServerConfig;

fn backend(servers: &[(&str, u32, bool)], all_backups: bool) -> Backend {
    backend_with(Balance::Roundrobin, servers, all_backups)
}

fn backend_with(balance: Balance, servers: &[(&str, u32, bool)], all_backups: bool) -> Backend {
    // From JSON, as the engine receives it: the fields a protocol adds keep their defaults.
    let mut config: BackendConfig =
        serde_json::from_value(serde_json::json!({"name": "web", "servers": []})).unwrap();
    config.balance = balance;
    config.all_backups = all_backups;
    config.servers = servers
        .iter()
        .enumerate()
        .map(|(i, &(name, weight, backup))| ServerConfig {
            name: name.into(),
            address: format!("127.0.0.1:{}", 9000 + i).parse().unwrap(),
            weight,
            backup,
            role: None,
            tls_name: None,
            cookie: None,
        })
        .collect();
    Backend::new(&config, None)
}

fn picks(backend: &Backend, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            backend
                .pick()
                .map(|p| p.server.name.clone())
                .unwrap_or_default()
        })
        .collect()
}

fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| *n == name).count()
}

#[test]
fn weights_and_runtime_changes() {
    let b = backend(&[("a", 3, false), ("b", 1, false)], false);
    let first = picks(&b, 8);
    assert_eq!((count(&first, "a"), count(&first, "b")), (6, 2));
    b.set_weight("b", 3).unwrap();
    let after = picks(&b, 6);
    assert_eq!((count(&after, "a"), count(&after, "b")), (3, 3));
    b.set_weight("a", 0).unwrap();
    assert!(picks(&b, 5).iter().all(|n| n == "b"));
    assert!(matches!(
        b.set_weight("b", 300),
        Err(Error::WeightOutOfRange(300))
    ));
    assert!(matches!(
        b.set_weight("zz", 1),
        Err(Error::UnknownServer { .. })
    ));
}

#[test]
fn drain_and_maint_take_no_new_connections() {
    let b = backend(&[("a", 1, false), ("b", 1, false)], false);
    b.set_state("a", AdminState::Drain).unwrap();
    assert!(picks(&b, 4).iter().all(|n| n == "b"));
    b.set_state("b", AdminState::Maint).unwrap();
    assert!(b.pick().is_none());
    b.set_state("a", AdminState::Ready).unwrap();
    assert!(picks(&b, 4).iter().all(|n| n == "a"));
}

#[test]
fn backups_only_when_no_primary_can_serve() {
    let b = backend(
        &[("a", 1, false), ("spare1", 1, true), ("spare2", 1, true)],
        false,
    );
    assert!(picks(&b, 3).iter().all(|n| n == "a"));
    b.set_state("a", AdminState::Maint).unwrap();
    assert!(picks(&b, 4).iter().all(|n| n == "spare1"));
    b.set_state("spare1", AdminState::Maint).unwrap();
    assert!(picks(&b, 4).iter().all(|n| n == "spare2"));
    b.set_state("a", AdminState::Ready).unwrap();
    assert!(picks(&b, 3).iter().all(|n| n == "a"));

    let all = backend(&[("a", 0, false), ("s1", 1, true), ("s2", 1, true)], true);
    let spread = picks(&all, 4);
    assert_eq!((count(&spread, "s1"), count(&spread, "s2")), (2, 2));
}

#[test]
fn retry_goes_to_the_next_untried_server_without_moving_the_cursor() {
    let b = backend(&[("a", 1, false), ("b", 1, false), ("c", 1, false)], false);
    let first = b.pick().unwrap();
    assert_eq!(first.server.name, "a");
    let retry = b.repick(&first, &[first.server.id]).unwrap();
    assert_eq!(retry.server.name, "b");
    let again = b
        .repick(&retry, &[first.server.id, retry.server.id])
        .unwrap();
    assert_eq!(again.server.name, "c");
    // Other connections still get their own turns: the next pick is b, not a.
    assert_eq!(b.pick().unwrap().server.name, "b");

    let with_backup = backend(
        &[("a", 1, false), ("b", 1, false), ("spare", 1, true)],
        false,
    );
    let first = with_backup.pick().unwrap();
    let second = with_backup.repick(&first, &[first.server.id]).unwrap();
    let tried = [first.server.id, second.server.id];
    assert_eq!(
        with_backup.repick(&second, &tried).unwrap().server.name,
        "spare"
    );

    let single = backend(&[("only", 1, false)], false);
    let only = single.pick().unwrap();
    let again = single.repick(&only, &[only.server.id]).unwrap();
    assert!(Arc::ptr_eq(&again.server, &only.server));
}

#[test]
fn maglev_sticks_per_client_and_keeps_backup_semantics() {
    let b = backend_with(
        Balance::Maglev,
        &[
            ("a", 1, false),
            ("b", 1, false),
            ("c", 1, false),
            ("spare", 1, true),
        ],
        false,
    );
    let clients: Vec<IpAddr> = (1..=60u8).map(|i| IpAddr::from([10, 0, 0, i])).collect();
    let server_of = |ip: IpAddr| b.pick_for(|| Some(ip)).map(|p| p.server.name.clone());
    let first: Vec<_> = clients.iter().map(|&ip| server_of(ip)).collect();
    for name in ["a", "b", "c"] {
        assert!(
            first.iter().any(|s| s.as_deref() == Some(name)),
            "{name} unused"
        );
    }
    assert_eq!(
        clients.iter().map(|&ip| server_of(ip)).collect::<Vec<_>>(),
        first
    );

    b.set_state("b", AdminState::Drain).unwrap();
    for (&ip, before) in clients.iter().zip(&first) {
        let now = server_of(ip);
        match before.as_deref() {
            Some("b") => assert!(matches!(now.as_deref(), Some("a" | "c"))),
            _ => assert_eq!(&now, before),
        }
    }
    b.set_state("b", AdminState::Ready).unwrap();
    assert_eq!(
        clients.iter().map(|&ip| server_of(ip)).collect::<Vec<_>>(),
        first
    );

    // No primary up: the backup takes everyone; a primary back takes its clients back.
    for name in ["a", "b", "c"] {
        b.set_state(name, AdminState::Maint).unwrap();
    }
    assert!(clients
        .iter()
        .all(|&ip| server_of(ip).as_deref() == Some("spare")));
    b.set_state("a", AdminState::Ready).unwrap();
    assert!(clients
        .iter()
        .all(|&ip| server_of(ip).as_deref() == Some("a")));

    // No address (it couldn't be read): round-robin rather than no server.
    assert!(b.pick_for(|| None).is_some());
    // A retry goes elsewhere in the table, deterministically.
    for name in ["b", "c"] {
        b.set_state(name, AdminState::Ready).unwrap();
    }
    let pick = b.pick_for(|| Some(clients[0])).unwrap();
    let retry = b.repick(&pick, &[pick.server.id]).unwrap();
    assert_ne!(retry.server.id, pick.server.id);
}

#[test]
fn leastconn_sends_new_work_to_the_least_loaded_server() {
    use std::sync::atomic::Ordering;
    let b = backend_with(
        Balance::Leastconn,
        &[("a", 1, false), ("b", 1, false), ("spare", 1, true)],
        false,
    );
    let name_of = |b: &Backend| b.pick_for(|| None).unwrap().server.name.clone();
    // Idle: the two primaries take turns, the backup none.
    let idle: Vec<String> = (0..4).map(|_| name_of(&b)).collect();
    assert_eq!((count(&idle, "a"), count(&idle, "b")), (2, 2));
    // a holds two requests: everything goes to b until b holds as many.
    let a = b.server("a").unwrap();
    let b_server = b.server("b").unwrap();
    a.stats.http.active.fetch_add(2, Ordering::Relaxed);
    assert!((0..5).all(|_| name_of(&b) == "b"));
    b_server.stats.http.active.fetch_add(2, Ordering::Relaxed);
    let even: Vec<String> = (0..4).map(|_| name_of(&b)).collect();
    assert_eq!((count(&even, "a"), count(&even, "b")), (2, 2));
    // Weight counts: b at weight 4 carries up to 4x a's load before a gets one.
    b.set_weight("b", 4).unwrap();
    assert_eq!(name_of(&b), "b");
    // A busy server is still better than a drained one; a retry avoids the failed one.
    b.set_state("b", AdminState::Drain).unwrap();
    assert_eq!(name_of(&b), "a");
    b.set_state("b", AdminState::Ready).unwrap();
    let pick = b.pick_for(|| None).unwrap();
    let retry = b.repick(&pick, &[pick.server.id]).unwrap();
    assert_ne!(retry.server.id, pick.server.id);
    // No primary left: the backup.
    b.set_state("a", AdminState::Maint).unwrap();
    b.set_state("b", AdminState::Maint).unwrap();
    assert_eq!(name_of(&b), "spare");
}

#[test]
fn a_cookie_names_a_server_while_it_takes_requests() {
    let b = backend(&[("a", 1, false), ("b", 1, false)], false);
    assert_eq!(b.server_by_cookie(b"b").unwrap().name, "b");
    assert!(b.server_by_cookie(b"nobody").is_none());
    b.set_state("b", AdminState::Drain).unwrap();
    assert!(b.server_by_cookie(b"b").is_none());
}
