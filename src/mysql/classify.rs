//! Statement classifier (interim: first keyword only; the full classifier replaces it).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Replica,
    Primary,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
    Begin,
    BeginReadOnly,
    End,
    SetAutocommit(bool),
    SessionState,
    Call,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification {
    pub kind: Kind,
    pub route: Route,
    pub pins_primary: bool,
    pub multi_statement: bool,
}

pub fn classify(sql: &[u8]) -> Classification {
    let text = String::from_utf8_lossy(sql).to_ascii_uppercase();
    let text = text.trim();
    let word = text.split_whitespace().next().unwrap_or("");
    let multi_statement = text.trim_end_matches(';').contains(';');
    let pins_primary = text.contains("TEMPORARY")
        || text.starts_with("LOCK")
        || text.contains("GET_LOCK")
        || text.contains('@') && !text.contains("@@");
    let (kind, route) = match word {
        "SELECT" | "SHOW"
            if !text.contains("FOR UPDATE")
                && !text.contains("LOCK IN SHARE")
                && !text.contains("LAST_INSERT_ID")
                && !text.contains("FOUND_ROWS")
                && !pins_primary =>
        {
            (Kind::Read, Route::Replica)
        }
        "SELECT" | "SHOW" => (Kind::Read, Route::Primary),
        "BEGIN" => (Kind::Begin, Route::Primary),
        "START" if text.contains("READ ONLY") => (Kind::BeginReadOnly, Route::Replica),
        "START" => (Kind::Begin, Route::Primary),
        "COMMIT" | "ROLLBACK" => (Kind::End, Route::Primary),
        "SET" if text.replace(' ', "").starts_with("SETAUTOCOMMIT=") => (
            Kind::SetAutocommit(text.ends_with('1') || text.ends_with("ON")),
            Route::Primary,
        ),
        "SET" | "USE" => (Kind::SessionState, Route::Primary),
        "CALL" => (Kind::Call, Route::Primary),
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "CREATE" | "DROP" | "ALTER" | "TRUNCATE" => {
            (Kind::Write, Route::Primary)
        }
        _ => (Kind::Other, Route::Primary),
    };
    let route = if multi_statement {
        Route::Primary
    } else {
        route
    };
    Classification {
        kind,
        route,
        pins_primary,
        multi_statement,
    }
}
