//! The core's half of a zero-downtime upgrade: a new engine adopts the sockets another one
//! exported, and a client queued on them while neither accepts is served, never reset.

use std::net::{TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::time::Duration;

use super::runtime_tests::{config, fetch, started, switchable};
use super::Engine;
use crate::config::CoreConfig;

#[test]
fn a_new_engine_serves_the_old_ones_sockets_and_their_queued_clients() {
    let a = switchable("a");
    let running = config(&[("a", a.address)], "");
    let (old, address) = started(&running);
    // An upgrade may change `workers`: 3 here, one more socket joins the group.
    let upgraded = running.replace(r#""workers": 2"#, r#""workers": 3"#);
    let new = Engine::new(CoreConfig::from_json(&upgraded).unwrap()).unwrap();
    for exported in old.export_listeners().unwrap() {
        assert_eq!(exported.fds.len(), 2);
        new.adopt_listeners(&exported.frontend, exported.configured, exported.fds)
            .unwrap();
    }
    // The old engine stops before the new one accepts: a client that connects now waits
    // in the accept queue that both share, and closing the old copies must not reset it.
    old.stop(Duration::ZERO);
    let mut queued = TcpStream::connect(address).unwrap();
    new.start().unwrap();
    assert_eq!(new.listen_addresses()[0].1, address);
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut queued, &mut answer).unwrap();
    assert_eq!(answer, "a");
    for _ in 0..10 {
        assert_eq!(fetch(address), "a");
    }
    assert_eq!(new.snapshot().frontends["f"].traffic.total_connections, 11);
}

#[test]
fn accepted_connections_have_tcp_nodelay_from_their_listener() {
    // A listener the engine bound, and one handed over without the option (an older
    // fastlb's): connections accepted on either have TCP_NODELAY, no session sets it.
    for bound in [
        super::listener::bind("127.0.0.1:0".parse().unwrap(), 1)
            .unwrap()
            .remove(0),
        super::listener::adopt(OwnedFd::from(
            std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        ))
        .unwrap(),
    ] {
        let _client = TcpStream::connect(bound.local_addr().unwrap()).unwrap();
        bound.set_nonblocking(false).unwrap();
        let (accepted, _) = bound.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}

#[test]
fn a_descriptor_that_is_not_a_listening_socket_is_refused() {
    let engine = Engine::new(CoreConfig::from_json(&config(&[], "")).unwrap()).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let error = engine
        .adopt_listeners(
            "f",
            "127.0.0.1:0".parse().unwrap(),
            vec![OwnedFd::from(socket)],
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("not a listening TCP socket"),
        "{error}"
    );
}
