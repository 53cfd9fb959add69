//! Tests of the statement classifier: one table row per decision, plus properties (proptest).

use super::*;
use proptest::prelude::*;

use crate::mysql::Role;
use Kind::*;
use Role::{Primary as P, Replica as R};

/// `(sql, kind, route, pins_primary)` for single statements.
#[rustfmt::skip]
const SINGLE: &[(&str, Kind, Role, bool)] = &[
    // --- plain reads go to a replica
    ("SELECT 1", Read, R, false),
    ("select * from t where id = 5", Read, R, false),
    ("  \n\tSELECT 1  ", Read, R, false),
    ("SELECT 1;", Read, R, false),
    ("SELECT 1; -- trailing comment", Read, R, false),
    ("SELECT 1; /* c */ # c\n", Read, R, false),
    ("/* leading */ SELECT 1", Read, R, false),
    ("-- c\nSELECT 1", Read, R, false),
    ("# c\nSELECT 1", Read, R, false),
    ("(SELECT 1) UNION (SELECT 2)", Read, R, false),
    ("((SELECT a FROM t))", Read, R, false),
    ("SELECT COUNT(*), MAX(id), CONCAT(a, 'x') FROM t GROUP BY a", Read, R, false),
    ("SELECT count (*) FROM t", Read, R, false),
    ("SELECT NOW(), UUID(), RAND(), SLEEP(0), BENCHMARK(1, 1)", Read, R, false),
    ("SELECT CAST(a AS DECIMAL(10,2)), CONVERT(b USING utf8mb4) FROM t", Read, R, false),
    ("SELECT a FROM t WHERE b IN (1,2) AND EXISTS (SELECT 1) OR NOT (c)", Read, R, false),
    ("SELECT a FROM t USE INDEX (i) JOIN u USING (id)", Read, R, false),
    ("SELECT ST_Distance(p, POINT(1,2)) FROM geo", Read, R, false),
    ("SELECT JSON_EXTRACT(doc, '$.a') FROM t", Read, R, false),
    ("SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) FROM t", Read, R, false),
    ("SELECT * FROM JSON_TABLE(@j, '$[*]' COLUMNS (x INT PATH '$')) j", Read, P, false),
    ("SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (x VARCHAR(9) PATH '$')) j", Read, R, false),
    ("SELECT * FROM (SELECT 1) AS d (a)", Read, R, false),
    ("SELECT @@server_id, @@session.sql_mode, @@global.read_only", Read, R, false),
    ("SELECT 'FOR UPDATE', \"GET_LOCK(\", `INTO`", Read, R, false),
    ("SELECT 1 /* FOR UPDATE */", Read, R, false),
    ("SELECT * FROM t FOR SYSTEM_TIME AS OF '2020-01-01'", Read, R, false),
    ("VALUES (1, 2)", Read, R, false),
    ("TABLE t", Read, R, false),
    ("HELP 'select'", Read, R, false),
    ("WITH c AS (SELECT 1) SELECT * FROM c", Read, R, false),
    ("WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c) SELECT n FROM c", Read, R, false),
    ("WITH a AS (SELECT 1), b (x) AS (SELECT 2) SELECT * FROM a, b", Read, R, false),
    ("SELECT REPLACE(a, 'x', 'y'), INSERT(a, 1, 1, 'z') FROM t", Read, R, false),
    ("SELECT IF(a, 1, 2), CHAR(65), DATE('2020-01-01'), TIMESTAMP(NOW()) FROM t", Read, R, false),
    ("SELECT a FROM t WHERE MATCH (a) AGAINST ('x' IN BOOLEAN MODE)", Read, R, false),
    ("SELECT 1 FROM t PARTITION (p0) WHERE 1 = ANY (SELECT 1) AND b LIKE ('x')", Read, R, false),
    ("SELECT c FROM sbtest1 WHERE id=?", Read, R, false),
    ("SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c", Read, R, false),
    ("SELECT @@version_comment LIMIT 1", Read, R, false),
    ("/* mysql-connector-j */SELECT @@session.auto_increment_increment AS a", Read, R, false),
    // --- reads that must run on the primary
    ("SELECT * FROM t WHERE id = 1 FOR UPDATE", Read, P, false),
    ("SELECT * FROM t FOR UPDATE NOWAIT", Read, P, false),
    ("SELECT * FROM t FOR SHARE", Read, P, false),
    ("SELECT * FROM t LOCK IN SHARE MODE", Read, P, false),
    ("select * from t for update", Read, P, false),
    ("SELECT 1 /*! FOR UPDATE */", Read, P, false),
    ("SELECT 1 /*M!100100 FOR UPDATE */", Read, P, false),
    ("SELECT a INTO @x FROM t", Read, P, true),
    ("SELECT a FROM t INTO OUTFILE '/tmp/x'", Read, P, false),
    ("SELECT a INTO DUMPFILE '/tmp/x' FROM t", Read, P, false),
    ("SELECT GET_LOCK('l', 10)", Read, P, true),
    ("SELECT get_lock('l', 10)", Read, P, true),
    ("SELECT RELEASE_LOCK('l')", Read, P, false),
    ("SELECT RELEASE_ALL_LOCKS()", Read, P, false),
    ("SELECT IS_USED_LOCK('l'), IS_FREE_LOCK('l')", Read, P, false),
    ("SELECT LAST_INSERT_ID()", Read, P, false),
    ("SELECT FOUND_ROWS()", Read, P, false),
    ("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1", Read, P, false),
    ("SELECT ROW_COUNT()", Read, P, false),
    ("SELECT CONNECTION_ID()", Read, P, false),
    ("SELECT NEXTVAL(s)", Read, P, false),
    ("SELECT NEXT VALUE FOR s", Read, P, false),
    ("SELECT PREVIOUS VALUE FOR s", Read, P, false),
    ("SELECT LASTVAL(s), SETVAL(s, 5)", Read, P, false),
    ("SELECT @@identity", Read, P, false),
    ("SELECT @@last_insert_id", Read, P, false),
    ("SELECT @@SESSION.last_gtid", Read, P, false),
    ("SELECT @@warning_count", Read, P, false),
    ("SELECT @x", Read, P, false),
    ("SELECT @`quoted`", Read, P, false),
    ("SELECT @x := 1", Read, P, true),
    ("SELECT a, @r := @r + 1 FROM t", Read, P, true),
    ("SELECT my_stored_function(1)", Read, P, false),
    ("SELECT db.count(1)", Read, P, false),
    ("SELECT LOAD_FILE('/etc/hosts')", Read, P, false),
    ("SELECT MASTER_GTID_WAIT('0-1-5', 1)", Read, P, false),
    // --- SHOW
    ("SHOW TABLES", Read, R, false),
    ("SHOW DATABASES", Read, R, false),
    ("SHOW CREATE TABLE t", Read, R, false),
    ("SHOW COLUMNS FROM t", Read, R, false),
    ("SHOW VARIABLES LIKE 'sql_mode'", Read, R, false),
    ("SHOW SESSION VARIABLES", Read, R, false),
    ("SHOW GLOBAL STATUS", Read, R, false),
    ("SHOW SLAVE STATUS", Read, R, false),
    ("SHOW GRANTS FOR 'app'@'%'", Read, R, false),
    ("SHOW GRANTS FOR CURRENT_USER()", Read, R, false),
    ("SHOW WARNINGS", Read, P, false),
    ("SHOW ERRORS", Read, P, false),
    ("SHOW COUNT(*) WARNINGS", Read, P, false),
    ("SHOW STATUS", Read, P, false),
    ("SHOW SESSION STATUS LIKE 'Ssl%'", Read, P, false),
    ("SHOW PROCESSLIST", Read, P, false),
    ("SHOW FULL PROCESSLIST", Read, P, false),
    ("SHOW FULL TABLES", Read, R, false),
    ("SHOW PROFILES", Read, P, false),
    ("SHOW MASTER STATUS", Read, P, false),
    ("SHOW BINARY LOGS", Read, P, false),
    ("SHOW BINLOG EVENTS", Read, P, false),
    ("SHOW EXPLAIN FOR 12", Read, P, false),
    // --- EXPLAIN / DESCRIBE / ANALYZE
    ("DESCRIBE t", Read, R, false),
    ("DESC t", Read, R, false),
    ("EXPLAIN t", Read, R, false),
    ("EXPLAIN SELECT * FROM t", Read, R, false),
    ("EXPLAIN FORMAT=JSON SELECT * FROM t", Read, R, false),
    ("EXPLAIN EXTENDED SELECT * FROM t", Read, R, false),
    ("EXPLAIN SELECT * FROM t FOR UPDATE", Read, P, false),
    ("EXPLAIN UPDATE t SET a = 1", Read, P, false),
    ("EXPLAIN DELETE FROM t", Read, P, false),
    ("EXPLAIN ANALYZE SELECT 1", Read, R, false),
    ("EXPLAIN ANALYZE UPDATE t SET a = 1", Write, P, false),
    ("EXPLAIN FOR CONNECTION 5", Read, P, false),
    ("ANALYZE SELECT * FROM t", Read, R, false),
    ("ANALYZE FORMAT=JSON SELECT * FROM t", Read, R, false),
    ("ANALYZE UPDATE t SET a = 1", Write, P, false),
    ("ANALYZE TABLE t", Write, P, false),
    ("ANALYZE LOCAL TABLE t", Write, P, false),
    // --- writes
    ("INSERT INTO t VALUES (1)", Write, P, false),
    ("insert into t (a, b) values (1, 2)", Write, P, false),
    ("UPDATE t SET a = a + 1", Write, P, false),
    ("DELETE FROM t", Write, P, false),
    ("REPLACE INTO t VALUES (1)", Write, P, false),
    ("INSERT INTO t SELECT * FROM u FOR UPDATE", Write, P, false),
    ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t", Write, P, false),
    ("CREATE TABLE t (id INT PRIMARY KEY)", Write, P, false),
    ("CREATE TABLE t2 AS SELECT * FROM t", Write, P, false),
    ("ALTER TABLE t ADD COLUMN b INT", Write, P, false),
    ("DROP TABLE t", Write, P, false),
    ("DROP TEMPORARY TABLE t", Write, P, false),
    ("TRUNCATE t", Write, P, false),
    ("RENAME TABLE a TO b", Write, P, false),
    ("GRANT SELECT ON *.* TO 'app'@'%'", Write, P, false),
    ("CREATE USER 'app'@'%' IDENTIFIED BY 'x'", Write, P, false),
    ("OPTIMIZE TABLE t", Write, P, false),
    ("FLUSH PRIVILEGES", Write, P, false),
    ("WITH c AS (SELECT 1 AS id) UPDATE t JOIN c USING (id) SET t.a = 1", Write, P, false),
    ("WITH c AS (SELECT 1) DELETE FROM t", Write, P, false),
    ("START SLAVE", Write, P, false),
    ("SOMETHING UNKNOWN", Write, P, false),
    ("'just a string'", Write, P, false),
    ("UPDATE t SET a = (@x := a)", Write, P, true),
    ("INSERT INTO t VALUES (GET_LOCK('l', 1))", Write, P, true),
    ("INSERT INTO t VALUES (@x)", Write, P, false),
    // --- pins
    ("CREATE TEMPORARY TABLE tmp (a INT)", Write, P, true),
    ("create or replace temporary table tmp select 1", Write, P, true),
    ("CREATE TEMPORARY TABLE IF NOT EXISTS tmp (a INT)", Write, P, true),
    ("LOCK TABLES t WRITE", Other, P, true),
    ("LOCK TABLE t READ", Other, P, true),
    ("UNLOCK TABLES", Other, P, false),
    ("FLUSH TABLES WITH READ LOCK", Other, P, true),
    ("FLUSH TABLES t FOR EXPORT", Other, P, true),
    ("BACKUP LOCK t", Other, P, true),
    ("PREPARE s FROM 'SELECT 1'", Other, P, true),
    ("EXECUTE s USING @a", Other, P, false),
    ("DEALLOCATE PREPARE s", Other, P, false),
    ("DROP PREPARE s", Other, P, false),
    ("HANDLER t OPEN", Other, P, true),
    ("DO GET_LOCK('l', 1)", Other, P, true),
    ("DO RELEASE_LOCK('l')", Other, P, false),
    ("DO 1", Other, P, false),
    // --- transactions
    ("BEGIN", Begin, P, false),
    ("begin work", Begin, P, false),
    ("BEGIN;", Begin, P, false),
    ("START TRANSACTION", Begin, P, false),
    ("START TRANSACTION READ WRITE", Begin, P, false),
    ("START TRANSACTION WITH CONSISTENT SNAPSHOT", Begin, P, false),
    ("START TRANSACTION READ ONLY", BeginReadOnly, R, false),
    ("start transaction with consistent snapshot, read only", BeginReadOnly, R, false),
    ("START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT", BeginReadOnly, R, false),
    ("XA START 'x'", Begin, P, false),
    ("XA BEGIN 'x'", Begin, P, false),
    ("XA END 'x'", Other, P, false),
    ("XA PREPARE 'x'", Other, P, false),
    ("XA COMMIT 'x'", End, P, false),
    ("XA COMMIT 'x' ONE PHASE", End, P, false),
    ("XA ROLLBACK 'x'", End, P, false),
    ("XA RECOVER", Other, P, false),
    ("COMMIT", End, P, false),
    ("commit work", End, P, false),
    ("COMMIT AND NO CHAIN", End, P, false),
    ("COMMIT AND CHAIN", Begin, P, false),
    ("ROLLBACK", End, P, false),
    ("ROLLBACK WORK", End, P, false),
    ("ROLLBACK AND CHAIN", Begin, P, false),
    ("ROLLBACK TO SAVEPOINT a", Write, P, false),
    ("ROLLBACK WORK TO a", Write, P, false),
    ("SAVEPOINT a", Other, P, false),
    ("RELEASE SAVEPOINT a", Other, P, false),
    // --- autocommit
    ("SET autocommit = 0", SetAutocommit(false), P, false),
    ("SET autocommit=1", SetAutocommit(true), P, false),
    ("set AUTOCOMMIT = off", SetAutocommit(false), P, false),
    ("SET autocommit = ON", SetAutocommit(true), P, false),
    ("SET autocommit := TRUE", SetAutocommit(true), P, false),
    ("SET autocommit = false", SetAutocommit(false), P, false),
    ("SET autocommit = 'OFF'", SetAutocommit(false), P, false),
    ("SET SESSION autocommit = 0", SetAutocommit(false), P, false),
    ("SET LOCAL autocommit = 0", SetAutocommit(false), P, false),
    ("SET @@autocommit = 0", SetAutocommit(false), P, false),
    ("SET @@session.autocommit = 1", SetAutocommit(true), P, false),
    ("SET @@local.autocommit = 1", SetAutocommit(true), P, false),
    ("/*!40101 SET autocommit = 0 */", SetAutocommit(false), P, false),
    ("SET autocommit = DEFAULT", Other, P, false),
    ("SET autocommit = 1 + 0", Other, P, false),
    ("SET autocommit = 0, sql_mode = ''", Other, P, true),
    ("SET GLOBAL autocommit = 0", Write, P, false),
    ("SET @@global.autocommit = 0", Write, P, false),
    // --- session state
    ("SET NAMES utf8mb4", SessionState, P, false),
    ("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_bin'", SessionState, P, false),
    ("SET CHARACTER SET utf8", SessionState, P, false),
    ("SET CHARSET utf8", SessionState, P, false),
    ("SET sql_mode = 'ANSI'", SessionState, P, false),
    ("SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')", SessionState, P, false),
    ("SET @@session.time_zone = '+00:00', @@max_statement_time = 5", SessionState, P, false),
    ("SET time_zone = '+00:00', SESSION wait_timeout = 60", SessionState, P, false),
    ("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", SessionState, P, false),
    ("SET ROLE app_role", SessionState, P, false),
    ("SET sql_log_bin = 0", SessionState, P, false),
    ("USE db", SessionState, P, false),
    ("use `my db`", SessionState, P, false),
    ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", Other, P, false),
    ("SET TRANSACTION READ ONLY", Other, P, false),
    ("SET GLOBAL max_connections = 10", Write, P, false),
    ("SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE", Write, P, false),
    ("SET time_zone = '+00:00', GLOBAL max_connections = 10", Write, P, false),
    ("SET PERSIST max_connections = 10", Write, P, false),
    ("SET PASSWORD FOR 'app'@'%' = PASSWORD('x')", Write, P, false),
    ("SET DEFAULT ROLE r FOR 'app'@'%'", Write, P, false),
    // --- SET with values that can't be replayed, user variables
    ("SET @x = 1", Other, P, true),
    ("SET @x := 1, @y = 2", Other, P, true),
    ("SET @x = (SELECT MAX(id) FROM t)", Other, P, true),
    ("SET sql_mode = (SELECT v FROM settings)", Other, P, true),
    ("SET time_zone = @tz", Other, P, true),
    ("SET insert_id = LAST_INSERT_ID()", Other, P, true),
    ("SET time_zone = my_function()", Other, P, true),
    // --- SET STATEMENT ... FOR
    ("SET STATEMENT max_statement_time = 1 FOR SELECT * FROM t", Read, R, false),
    ("SET STATEMENT a = 1, b = (2) FOR SELECT 1 FOR UPDATE", Read, P, false),
    ("SET STATEMENT sql_mode = '' FOR INSERT INTO t VALUES (1)", Write, P, false),
    ("SET STATEMENT sql_mode = ''", Other, P, false),
    // --- CALL, compound statements, stored programs
    ("CALL p(1, 2)", Call, P, false),
    ("call p", Call, P, false),
    ("CREATE PROCEDURE p() BEGIN SELECT GET_LOCK('a', 1); SET @x = 1; END", Write, P, false),
    ("CREATE DEFINER=`root`@`%` FUNCTION f() RETURNS INT BEGIN RETURN 1; END", Write, P, false),
    ("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END", Write, P, false),
    ("ALTER EVENT e DO BEGIN DELETE FROM t; DELETE FROM u; END", Write, P, false),
    ("BEGIN NOT ATOMIC SELECT 1; SELECT 2; END", Write, P, true),
    ("IF 1 THEN SELECT 1; END IF", Write, P, true),
    ("lbl: LOOP LEAVE lbl; END LOOP", Write, P, true),
    // A definition's text is one statement to the end (a rare trailing statement included).
    ("CREATE PROCEDURE p() BEGIN SELECT 1; END; SELECT 2", Write, P, false),
    // --- misc Other
    ("KILL 5", Other, P, false),
    ("SIGNAL SQLSTATE '45000'", Other, P, false),
    ("GET DIAGNOSTICS @n = NUMBER", Other, P, true),
    // --- empty
    ("", Other, P, false),
    ("   ", Other, P, false),
    ("/* only a comment */", Other, P, false),
    (";", Other, P, false),
];

#[test]
fn single_statements() {
    let mut failures = Vec::new();
    for &(sql, kind, route, pins_primary) in SINGLE {
        let expected = Classification {
            kind,
            route,
            pins_primary,
            multi_statement: false,
        };
        let got = classify(sql.as_bytes());
        if got != expected {
            failures.push(format!(
                "{sql:?}\n   got      {got:?}\n   expected {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// `(sql, kind, pins_primary)` for texts of several statements (always Primary, multi).
#[rustfmt::skip]
const MULTI: &[(&str, Kind, bool)] = &[
    ("SELECT 1; SELECT 2", Read, false),
    ("SELECT 1;SELECT 2;", Read, false),
    ("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)", Write, false),
    ("SET NAMES utf8; SET sql_mode = ''", SessionState, false),
    ("SELECT 1; INSERT INTO t VALUES (1)", Write, false),
    ("BEGIN; INSERT INTO t VALUES (1); COMMIT", Write, false),
    // Session state inside a mixed text is not replayed: the session stays on the primary.
    ("SET NAMES utf8; SELECT 1", Write, true),
    ("SET autocommit = 0; SET autocommit = 1", Write, false),
    ("SELECT 1; CREATE TEMPORARY TABLE x (a INT)", Write, true),
    ("SELECT 1; SELECT GET_LOCK('a', 1)", Read, true),
    ("SELECT 1;;", Read, false),
    ("SELECT 1; /*! SELECT 2 */", Read, false),
    ("SELECT 1 /*! ; SELECT 2 */", Read, false),
    ("; SELECT 1", Read, false),
];

#[test]
fn multi_statements() {
    let mut failures = Vec::new();
    for &(sql, kind, pins_primary) in MULTI {
        let expected = Classification {
            kind,
            route: Role::Primary,
            pins_primary,
            multi_statement: true,
        };
        let got = classify(sql.as_bytes());
        if got != expected {
            failures.push(format!(
                "{sql:?}\n   got      {got:?}\n   expected {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn bytes_outside_ascii_and_invalid_utf8() {
    let read = classify("SELECT 'héllo', `tàble` FROM t".as_bytes());
    assert_eq!((read.kind, read.route), (Read, R));
    let latin1 = classify(b"SELECT '\xe9t\xe9' FROM t WHERE a = '\xff'");
    assert_eq!((latin1.kind, latin1.route), (Read, R));
    assert_eq!(classify(b"\xff\xfe SELECT 1").kind, Write);
}

#[test]
fn nesting_is_bounded() {
    // Past the bound, a statement is not understood: the primary.
    let deep_analyze = "ANALYZE ".repeat(10_000) + "SELECT 1";
    assert_eq!(classify(deep_analyze.as_bytes()).route, P);
    // EXPLAIN EXPLAIN does not nest (it reads as DESCRIBE of a table named EXPLAIN).
    let deep_explain = "EXPLAIN ".repeat(10_000) + "SELECT 1";
    assert_eq!(classify(deep_explain.as_bytes()).kind, Read);
    let deep_set = "SET STATEMENT a = 1 FOR ".repeat(10_000) + "SELECT 1";
    assert_eq!(classify(deep_set.as_bytes()).route, P);
}

#[test]
fn long_words_are_no_keywords() {
    let long = format!("SELECT {}(1)", "A".repeat(100));
    assert_eq!(classify(long.as_bytes()).route, P);
    let long_keyword_like = format!("{} 1", "SELECT".repeat(10));
    assert_eq!(classify(long_keyword_like.as_bytes()).kind, Write);
}

/// Pieces of SQL-ish text: keywords, punctuation, literals' and comments' delimiters.
#[rustfmt::skip]
const PIECES: &[&str] = &[
    "SELECT", "select", "FOR", "UPDATE", "SET", "autocommit", "BEGIN", "START TRANSACTION",
    "READ ONLY", "WITH", "EXPLAIN", "INTO", "GET_LOCK(", "COUNT(", "@x", "@@", ":=", "(", ")", ";",
    ",", "=", ".", "'", "\"", "`", "\\", "/*", "*/", "/*!", "/*M!", "-- ", "#", "\n", " ", "a",
    "t1", "0", "1", "ON", "STATEMENT", "SHOW", "CREATE", "TEMPORARY", "PROCEDURE", "NOT", "IF",
    "COMMIT", "AND", "CHAIN", "é",
];

/// SQL-ish text: pieces glued together, so that the tokenizer meets every edge case often.
fn sqlish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|pieces| pieces.concat())
}

fn check_invariants(result: Classification) -> Result<(), TestCaseError> {
    if result.route == Role::Replica {
        prop_assert!(matches!(result.kind, Read | BeginReadOnly), "{result:?}");
        prop_assert!(
            !result.multi_statement && !result.pins_primary,
            "{result:?}"
        );
    }
    if result.multi_statement {
        prop_assert_eq!(result.route, Role::Primary);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_invariants(classify(&bytes))?;
    }

    #[test]
    fn never_panics_on_strings(sql in "\\PC{0,200}") {
        check_invariants(classify(sql.as_bytes()))?;
    }

    #[test]
    fn never_panics_on_sqlish_text(sql in sqlish()) {
        check_invariants(classify(sql.as_bytes()))?;
    }

    /// Comments and whitespace around a statement change nothing.
    #[test]
    fn comments_and_whitespace_are_ignored(sql in sqlish(), space in "[ \t\n]{0,3}") {
        let plain = classify(sql.as_bytes());
        let wrapped = format!("/* x */{space}{sql}");
        prop_assert_eq!(classify(wrapped.as_bytes()), plain);
    }

    /// A second statement after a complete first one always makes the text multi, primary.
    #[test]
    fn a_second_statement_makes_it_multi(table in "[a-z]{1,8}", second in sqlish()) {
        let text = format!("SELECT * FROM {table}; SELECT 1 {second}");
        let result = classify(text.as_bytes());
        prop_assert!(result.multi_statement, "{text:?} -> {result:?}");
        prop_assert_eq!(result.route, Role::Primary);
    }

    /// Keyword case does not matter.
    #[test]
    fn keywords_are_case_insensitive(sql in sqlish()) {
        prop_assert_eq!(classify(sql.to_uppercase().as_bytes()), classify(sql.as_bytes()));
    }

    /// A locking clause always sends a SELECT to the primary.
    #[test]
    fn locking_reads_never_reach_a_replica(columns in "[a-z, ]{1,20}", table in "[a-z]{1,8}") {
        for clause in ["FOR UPDATE", "FOR SHARE", "LOCK IN SHARE MODE"] {
            let sql = format!("SELECT {columns} FROM {table} WHERE id = 1 {clause}");
            prop_assert_eq!(classify(sql.as_bytes()).route, Role::Primary);
        }
    }
}
