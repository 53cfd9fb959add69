//! Multiplexing end to end against the scripted servers of `tests.rs`: two clients share
//! one server connection, each statement runs with its own session's state (replayed by
//! diff, reset when another session's state is on it), and LAST_INSERT_ID() follows the
//! session. The MariaDB suite (tests/integration/test_mysql_multiplex.py) checks the same
//! against real servers.

use super::tests::{commands, logins, Client, Harness, PASSWORD};
use crate::mysql::protocol::packet::command;

const POOL_OF_ONE: &str =
    r#", "pool": {"enabled": true, "max_per_server": 1, "multiplexing": true}"#;

fn text(payload: &[u8]) -> String {
    let name = match payload[0] {
        command::QUERY => return String::from_utf8_lossy(&payload[1..]).into_owned(),
        command::RESET_CONNECTION => "RESET",
        command::INIT_DB => "INIT_DB",
        _ => "other",
    };
    name.to_owned()
}

#[test]
fn two_sessions_share_one_connection_each_with_its_own_state() {
    let harness = Harness::start_with(POOL_OF_ONE);
    let address = harness.address;
    harness.runtime.block_on(async move {
        let (mut first, ok) = Client::log_in(address, PASSWORD, "app").await;
        assert_eq!(ok[0], 0x00);
        first.query("SET NAMES latin1").await;
        // The second login waits for the only connection: the first session, idle, gives
        // it back at once (it would hold it 250 ms otherwise).
        let (mut second, ok) = Client::log_in(address, PASSWORD, "app").await;
        assert_eq!(ok[0], 0x00, "{ok:?}");
        second.query("INSERT INTO t VALUES (1)").await;
        second.query("SET SESSION sql_mode = ''").await;
        // Back to the first: the second's state is reset away, the first's replayed.
        let insert = first.query("INSERT INTO t VALUES (2)").await;
        assert_eq!(insert[0], 0x00);
        // The first again, right away: the same connection, nothing replayed.
        first.query("INSERT INTO t VALUES (3)").await;
    });
    assert_eq!(
        logins(&harness.primary_log).len(),
        1,
        "one server connection"
    );
    let seen: Vec<String> = commands(&harness.primary_log)
        .iter()
        .map(|(_, payload)| text(payload))
        .collect();
    let expected = [
        "SET NAMES latin1",
        // The second session borrows it: another session's state, reset (and the login's
        // schema again).
        "RESET",
        "INIT_DB",
        "INSERT INTO t VALUES (1)",
        "SET SESSION sql_mode = ''",
        // The first session borrows it back: reset, its SET replayed, its LAST_INSERT_ID
        // (the scripted server's OKs carry 0: the session has none) left alone.
        "RESET",
        "INIT_DB",
        "SET NAMES latin1",
        "INSERT INTO t VALUES (2)",
        "INSERT INTO t VALUES (3)",
    ];
    assert_eq!(seen, expected);
}

/// A SET run as a prepared statement changes the connection without going into the
/// session's state log: the connection must be reset before another session borrows it
/// (else that session would run with this one's sql_mode). The mechanism decides it
/// (`multiplex::after_command` asks the state log), whatever command ran the SET.
#[test]
fn a_set_run_as_a_prepared_statement_is_reset_before_another_session() {
    let harness = Harness::start_with(POOL_OF_ONE);
    let address = harness.address;
    harness.runtime.block_on(async move {
        let (mut first, ok) = Client::log_in(address, PASSWORD, "app").await;
        assert_eq!(ok[0], 0x00);
        let mut prepare = vec![command::STMT_PREPARE];
        prepare.extend_from_slice(b"SET SESSION sql_mode = ''");
        let prepared = first.command(&prepare).await;
        assert_eq!(prepared[0], 0x00, "{prepared:?}");
        let mut execute = vec![command::STMT_EXECUTE];
        execute.extend_from_slice(&prepared[1..5]);
        execute.extend_from_slice(&[0, 1, 0, 0, 0]);
        assert_eq!(first.command(&execute).await[0], 0x00);
        // The second login waits for the only connection; the first session gives it back.
        let (mut second, ok) = Client::log_in(address, PASSWORD, "app").await;
        assert_eq!(ok[0], 0x00, "{ok:?}");
        second.query("INSERT INTO t VALUES (1)").await;
    });
    let seen: Vec<String> = commands(&harness.primary_log)
        .iter()
        .map(|(_, payload)| match payload[0] {
            command::STMT_PREPARE => "PREPARE".to_owned(),
            command::STMT_EXECUTE => "EXECUTE".to_owned(),
            _ => text(payload),
        })
        .collect();
    let expected = [
        "PREPARE",
        "EXECUTE",
        // Given back with the prepared SET's sql_mode on it: reset first.
        "RESET",
        "INIT_DB",
        "INSERT INTO t VALUES (1)",
    ];
    assert_eq!(seen, expected);
}
