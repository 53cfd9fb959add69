//! The classifier's tables: which `name(` is a harmless built-in, which one must run on the
//! primary, and which system variables belong to one connection.
//!
//! The rule is an allow-list: a call is replica-safe only when its name is a built-in known to
//! have no side effect and no session-bound result. An unknown name may be a stored function,
//! which can write (and would fail on a read-only replica), so it goes to the primary. Missing
//! a harmless built-in here only costs a replica hit; listing a harmful one would be a bug.
//! Every table is sorted (uppercase) for binary search; a unit test checks it.

use std::cmp::Ordering;

/// What a `name(` in a statement means for routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// A keyword or type name followed by a parenthesis (`IN (`, `CAST(x AS CHAR(3))`), or a
    /// built-in function without side effects: fine on a replica.
    Harmless,
    /// `GET_LOCK(`: the lock lives on the connection that took it, so the session must stay
    /// there (on the primary, where RELEASE_LOCK / IS_USED_LOCK will also go).
    TakesLock,
    /// A built-in with a side effect or a result bound to the connection (see
    /// `PRIMARY_FUNCTIONS`), or an unknown name (a stored function may write).
    Primary,
}

/// Words that may precede `(` without being a function call: keywords, type names (in
/// `CAST(x AS DECIMAL(10,2))` and JSON_TABLE columns), operators spelled as words.
#[rustfmt::skip]
const NOT_CALLS: &[&str] = &[
    "AGAINST", "ALL", "AND", "ANY", "AS", "ASC", "BETWEEN", "BIGINT", "BINARY", "BIT", "BLOB", "BY",
    "CASE", "CHAR", "CHARACTER", "COLUMNS", "CROSS", "DATE", "DATETIME", "DEC", "DECIMAL", "DESC",
    "DISTINCT", "DISTINCTROW", "DIV", "DOUBLE", "ELSE", "ENUM", "ESCAPE", "EXCEPT", "EXISTS",
    "FLOAT", "FROM", "HAVING", "IN", "INDEX", "INNER", "INT", "INTEGER", "INTERSECT", "IS", "JOIN",
    "KEY", "LATERAL", "LIKE", "LIMIT", "MEDIUMINT", "MINUS", "MOD", "NATIONAL", "NATURAL", "NCHAR",
    "NOT", "NUMERIC", "NVARCHAR", "OF", "OFFSET", "ON", "OR", "ORDER", "OUTER", "OVER", "PARTITION",
    "PATH", "REAL", "REGEXP", "RETURNING", "RLIKE", "ROW", "ROWS", "SELECT", "SIGNED", "SMALLINT",
    "SOME", "SOUNDS", "STRAIGHT_JOIN", "TEXT", "THEN", "TIME", "TIMESTAMP", "TINYINT", "UNION",
    "UNSIGNED", "USING", "VALUES", "VARBINARY", "VARCHAR", "VARCHAR2", "WHEN", "WHERE", "WINDOW",
    "WITH", "XOR", "YEAR",
];

/// Built-in functions without side effects whose result does not depend on which connection
/// runs them. Non-deterministic ones (NOW, RAND, UUID) are fine: any server answers them
/// equally well. `ST_*` and `MBR*` spatial functions are matched by prefix (all pure).
///
/// SLEEP and BENCHMARK are here on purpose: they change no data and read nothing of the
/// session, and the primary is the scarcer resource. DATABASE/SCHEMA and the session
/// variables they reflect are replayed on every backend connection of a session, so they
/// answer the same everywhere.
#[rustfmt::skip]
const PURE_FUNCTIONS: &[&str] = &[
    "ABS", "ACOS", "ADDDATE", "ADDTIME", "ADD_MONTHS", "AES_DECRYPT", "AES_ENCRYPT", "ANY_VALUE",
    "ASCII", "ASIN", "ATAN", "ATAN2", "AVG", "BENCHMARK", "BIN", "BIN_TO_UUID", "BIT_AND",
    "BIT_COUNT", "BIT_LENGTH", "BIT_OR", "BIT_XOR", "CAST", "CEIL", "CEILING", "CHARACTER_LENGTH",
    "CHARSET", "CHAR_LENGTH", "CHR", "COALESCE", "COERCIBILITY", "COLLATION", "COLUMN_ADD",
    "COLUMN_CHECK", "COLUMN_CREATE", "COLUMN_DELETE", "COLUMN_EXISTS", "COLUMN_GET", "COLUMN_JSON",
    "COLUMN_LIST", "COMPRESS", "CONCAT", "CONCAT_WS", "CONV", "CONVERT", "CONVERT_TZ", "COS", "COT",
    "COUNT", "CRC32", "CRC32C", "CUME_DIST", "CURDATE", "CURRENT_DATE", "CURRENT_ROLE",
    "CURRENT_TIME", "CURRENT_TIMESTAMP", "CURRENT_USER", "CURTIME", "DATABASE", "DATEDIFF",
    "DATE_ADD", "DATE_FORMAT", "DATE_SUB", "DAY", "DAYNAME", "DAYOFMONTH", "DAYOFWEEK", "DAYOFYEAR",
    "DECODE", "DECODE_ORACLE", "DEFAULT", "DEGREES", "DENSE_RANK", "DES_DECRYPT", "DES_ENCRYPT",
    "ELT", "ENCODE", "ENCRYPT", "EXP", "EXPORT_SET", "EXTRACT", "EXTRACTVALUE", "FIELD",
    "FIND_IN_SET", "FIRST_VALUE", "FLOOR", "FORMAT", "FORMAT_BYTES", "FORMAT_PICO_TIME",
    "FROM_BASE64", "FROM_DAYS", "FROM_UNIXTIME", "GEOMETRYCOLLECTION", "GET_FORMAT", "GREATEST",
    "GROUPING", "GROUP_CONCAT", "HEX", "HOUR", "IF", "IFNULL", "INET6_ATON", "INET6_NTOA",
    "INET_ATON", "INET_NTOA", "INSERT", "INSTR", "INTERVAL", "ISNULL", "IS_IPV4", "IS_IPV4_COMPAT",
    "IS_IPV4_MAPPED", "IS_IPV6", "IS_UUID", "JSON_ARRAY", "JSON_ARRAYAGG", "JSON_ARRAY_APPEND",
    "JSON_ARRAY_INSERT", "JSON_ARRAY_INTERSECT", "JSON_COMPACT", "JSON_CONTAINS",
    "JSON_CONTAINS_PATH", "JSON_DEPTH", "JSON_DETAILED", "JSON_EQUALS", "JSON_EXISTS",
    "JSON_EXTRACT", "JSON_INSERT", "JSON_KEYS", "JSON_LENGTH", "JSON_LOOSE", "JSON_MERGE",
    "JSON_MERGE_PATCH", "JSON_MERGE_PRESERVE", "JSON_NORMALIZE", "JSON_OBJECT", "JSON_OBJECTAGG",
    "JSON_OBJECT_FILTER_KEYS", "JSON_OBJECT_TO_ARRAY", "JSON_OVERLAPS", "JSON_PRETTY", "JSON_QUERY",
    "JSON_QUOTE", "JSON_REMOVE", "JSON_REPLACE", "JSON_SCHEMA_VALID", "JSON_SEARCH", "JSON_SET",
    "JSON_STORAGE_FREE", "JSON_STORAGE_SIZE", "JSON_TABLE", "JSON_TYPE", "JSON_UNQUOTE",
    "JSON_VALID", "JSON_VALUE", "KDF", "LAG", "LAST_DAY", "LAST_VALUE", "LCASE", "LEAD", "LEAST",
    "LEFT", "LENGTH", "LENGTHB", "LINESTRING", "LN", "LOCALTIME", "LOCALTIMESTAMP", "LOCATE", "LOG",
    "LOG10", "LOG2", "LOWER", "LPAD", "LTRIM", "MAKEDATE", "MAKETIME", "MAKE_SET", "MATCH", "MAX",
    "MD5", "MEDIAN", "MICROSECOND", "MID", "MIN", "MINUTE", "MONTH", "MONTHNAME", "MULTILINESTRING",
    "MULTIPOINT", "MULTIPOLYGON", "NAME_CONST", "NATURAL_SORT_KEY", "NOW", "NTH_VALUE", "NTILE",
    "NULLIF", "NVL", "NVL2", "OCT", "OCTET_LENGTH", "OLD_PASSWORD", "ORD", "PASSWORD",
    "PERCENTILE_CONT", "PERCENTILE_DISC", "PERCENT_RANK", "PERIOD_ADD", "PERIOD_DIFF", "PI",
    "POINT", "POLYGON", "POSITION", "POW", "POWER", "QUARTER", "QUOTE", "RADIANS", "RAND",
    "RANDOM_BYTES", "RANK", "REGEXP_INSTR", "REGEXP_LIKE", "REGEXP_REPLACE", "REGEXP_SUBSTR",
    "REPEAT", "REPLACE", "REVERSE", "RIGHT", "ROUND", "ROW_NUMBER", "RPAD", "RTRIM", "SECOND",
    "SEC_TO_TIME", "SESSION_USER", "SFORMAT", "SHA", "SHA1", "SHA2", "SIGN", "SIN", "SLEEP",
    "SOUNDEX", "SPACE", "SQRT", "STD", "STDDEV", "STDDEV_POP", "STDDEV_SAMP", "STRCMP",
    "STR_TO_DATE", "SUBDATE", "SUBSTR", "SUBSTRING", "SUBSTRING_INDEX", "SUBTIME", "SUM", "SYSDATE",
    "SYSTEM_USER", "SYS_GUID", "TAN", "TIMEDIFF", "TIMESTAMPADD", "TIMESTAMPDIFF", "TIME_FORMAT",
    "TIME_TO_SEC", "TO_BASE64", "TO_CHAR", "TO_DAYS", "TO_SECONDS", "TRIM", "TRIM_ORACLE",
    "TRUNCATE", "UCASE", "UNCOMPRESS", "UNCOMPRESSED_LENGTH", "UNHEX", "UNIX_TIMESTAMP",
    "UPDATEXML", "UPPER", "USER", "UTC_DATE", "UTC_TIME", "UTC_TIMESTAMP", "UUID", "UUID_SHORT",
    "UUID_TO_BIN", "VARIANCE", "VAR_POP", "VAR_SAMP", "VERSION", "WEEK", "WEEKDAY", "WEEKOFYEAR",
    "WEIGHT_STRING", "YEARWEEK",
];

/// Built-ins that must run on the primary, each for a reason (documentation: any name absent
/// from `PURE_FUNCTIONS` goes to the primary anyway; a test checks the two lists are disjoint).
#[cfg_attr(not(test), allow(dead_code))]
const PRIMARY_FUNCTIONS: &[(&str, &str)] = &[
    (
        "CONNECTION_ID",
        "names the connection: a replica's id means nothing to KILL on the primary",
    ),
    (
        "FOUND_ROWS",
        "counts the previous SELECT on the same connection (SQL_CALC_FOUND_ROWS)",
    ),
    (
        "GET_LOCK",
        "the lock belongs to the connection that took it; pins the session",
    ),
    (
        "IS_FREE_LOCK",
        "named locks live on the primary, where GET_LOCK took them",
    ),
    (
        "IS_USED_LOCK",
        "named locks live on the primary, where GET_LOCK took them",
    ),
    ("LASTVAL", "a sequence's last value for this connection"),
    (
        "LAST_INSERT_ID",
        "the id generated by this connection's last INSERT, on the primary",
    ),
    (
        "LOAD_FILE",
        "reads a file of the server that runs it: the primary's is the one meant",
    ),
    (
        "MASTER_GTID_WAIT",
        "waits on the server that runs it; fastlb itself issues it on replicas",
    ),
    ("MASTER_POS_WAIT", "waits on the server that runs it"),
    ("NEXTVAL", "advances a sequence: a write"),
    (
        "RELEASE_ALL_LOCKS",
        "releases this connection's named locks, on the primary",
    ),
    ("RELEASE_LOCK", "releases a named lock taken on the primary"),
    (
        "ROW_COUNT",
        "counts rows changed by this connection's last statement, on the primary",
    ),
    ("SETVAL", "sets a sequence: a write"),
    ("SOURCE_POS_WAIT", "waits on the server that runs it"),
    (
        "WAIT_FOR_EXECUTED_GTID_SET",
        "waits on the server that runs it",
    ),
];

/// System variables whose value belongs to the connection's history rather than to the
/// session's settings (which fastlb replays everywhere): they must be read on the primary.
const SESSION_BOUND_VARIABLES: &[&str] = &[
    "ERROR_COUNT",      // the previous statement's errors, on the same connection
    "IDENTITY",         // synonym of LAST_INSERT_ID()
    "INSERT_ID",        // the value the next INSERT of this connection will use
    "IN_TRANSACTION",   // the connection's transaction state
    "LAST_GTID",        // the GTID of this connection's last write (MariaDB)
    "LAST_INSERT_ID",   // the id generated by this connection's last INSERT
    "PSEUDO_THREAD_ID", // the connection's id
    "WARNING_COUNT",    // the previous statement's warnings, on the same connection
];

/// Case-insensitive ordering of `word` against an uppercase table entry.
fn compare_upper(entry: &str, word: &[u8]) -> Ordering {
    let entry = entry.as_bytes();
    for (a, b) in entry.iter().zip(word) {
        match a.cmp(&b.to_ascii_uppercase()) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    entry.len().cmp(&word.len())
}

fn contains(table: &[&str], word: &[u8]) -> bool {
    table
        .binary_search_by(|entry| compare_upper(entry, word))
        .is_ok()
}

fn starts_with_upper(word: &[u8], prefix: &str) -> bool {
    word.len() > prefix.len() && word[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// What `name(` means (see `Call`).
pub(crate) fn call(name: &[u8]) -> Call {
    if name.eq_ignore_ascii_case(b"GET_LOCK") {
        Call::TakesLock
    } else if contains(NOT_CALLS, name)
        || contains(PURE_FUNCTIONS, name)
        || starts_with_upper(name, "ST_")
        || starts_with_upper(name, "MBR")
    {
        Call::Harmless
    } else {
        Call::Primary
    }
}

/// Whether `@@name` reads connection history (see `SESSION_BOUND_VARIABLES`).
pub(crate) fn is_session_bound_variable(name: &[u8]) -> bool {
    contains(SESSION_BOUND_VARIABLES, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_sorted_uppercase(table: &[&str]) {
        for pair in table.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{} must sort before {}",
                pair[0],
                pair[1]
            );
        }
        for entry in table {
            assert_eq!(
                *entry,
                entry.to_ascii_uppercase(),
                "{entry} must be uppercase"
            );
        }
    }

    #[test]
    fn tables_are_sorted_uppercase_and_unique() {
        assert_sorted_uppercase(NOT_CALLS);
        assert_sorted_uppercase(PURE_FUNCTIONS);
        assert_sorted_uppercase(SESSION_BOUND_VARIABLES);
        let primary: Vec<&str> = PRIMARY_FUNCTIONS.iter().map(|(name, _)| *name).collect();
        assert_sorted_uppercase(&primary);
    }

    #[test]
    fn primary_functions_are_never_harmless() {
        for (name, _) in PRIMARY_FUNCTIONS {
            assert_ne!(call(name.as_bytes()), Call::Harmless, "{name}");
            assert_ne!(
                call(name.to_lowercase().as_bytes()),
                Call::Harmless,
                "{name}"
            );
        }
    }

    #[test]
    fn lookups_are_case_insensitive() {
        assert_eq!(call(b"count"), Call::Harmless);
        assert_eq!(call(b"CoNcAt"), Call::Harmless);
        assert_eq!(call(b"st_distance"), Call::Harmless);
        assert_eq!(call(b"st_"), Call::Primary);
        assert_eq!(call(b"get_lock"), Call::TakesLock);
        assert_eq!(call(b"my_stored_function"), Call::Primary);
        assert_eq!(call(b""), Call::Primary);
        assert_eq!(call(b"COUNTX"), Call::Primary);
        assert_eq!(call(b"COUN"), Call::Primary);
        assert!(is_session_bound_variable(b"last_insert_id"));
        assert!(!is_session_bound_variable(b"server_id"));
    }
}
