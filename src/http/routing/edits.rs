//! Header edits (`request_headers` / `response_headers`), compiled into the two questions the
//! HTTP session asks while it copies a message: is this incoming field dropped, and which
//! fields are appended after the message's own.

use super::config::HeaderEditsConfig;
use super::syntax::{field_value_problem, header_name_problem};

/// Compiled header edits: the frontend's, then a route's, composed at compile time so the
/// session applies one set.
///
/// Within one `request_headers` / `response_headers` block the order is `remove`, then `set`
/// (replaces every field of the name), then `add` (appends one field). A later block acts
/// on the result of an earlier one: a route's `remove: [X-Env]` also cancels the frontend's
/// `set: {X-Env: prod}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Lower-case names of incoming fields to skip: removed, or replaced by `set`.
    drops: Vec<Box<str>>,
    /// Fields appended after the message's own, names as configured (HTTP/1 servers see the
    /// case the user wrote; HTTP/2 lower-cases on its own).
    appends: Vec<(Box<str>, Box<str>)>,
}

impl HeaderEdits {
    /// Whether an incoming field named `name` (any case) is skipped: removed or `set`.
    /// Compares without allocating; the lists are a handful of names.
    pub fn drops(&self, name: &[u8]) -> bool {
        self.drops
            .iter()
            .any(|dropped| dropped.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The fields to append after the message's own: the `set` ones, then the `add` ones,
    /// in configuration order (the frontend's before a route's).
    pub fn appends(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.appends.iter().map(|(name, value)| (&**name, &**value))
    }

    /// No edits: the session can copy the fields without asking.
    pub fn is_empty(&self) -> bool {
        self.drops.is_empty() && self.appends.is_empty()
    }

    /// Compiles `config` on its own; `field` names it in errors (`http.request_headers`).
    pub(super) fn compile(config: &HeaderEditsConfig, field: &str) -> Result<Self, String> {
        let mut edits = HeaderEdits::default();
        edits.then(config, field)?;
        Ok(edits)
    }

    /// Applies `config` after the edits already here (a route's after the frontend's).
    pub(super) fn then(&mut self, config: &HeaderEditsConfig, field: &str) -> Result<(), String> {
        for (i, name) in config.remove.iter().enumerate() {
            check_name(name, &format!("{field}.remove[{i}]"))?;
            self.drop_all(name);
        }
        for (i, (name, value)) in config.set.iter().enumerate() {
            check_field(name, value, &format!("{field}.set[{i}]"))?;
            self.drop_all(name);
            self.appends
                .push((name.as_str().into(), value.as_str().into()));
        }
        for (i, (name, value)) in config.add.iter().enumerate() {
            check_field(name, value, &format!("{field}.add[{i}]"))?;
            self.appends
                .push((name.as_str().into(), value.as_str().into()));
        }
        Ok(())
    }

    /// Drops the incoming fields named `name` and any appended earlier (a later block's
    /// `remove` or `set` wins over an earlier `set` or `add`).
    fn drop_all(&mut self, name: &str) {
        self.appends
            .retain(|(appended, _)| !appended.eq_ignore_ascii_case(name));
        if !self.drops(name.as_bytes()) {
            self.drops.push(name.to_ascii_lowercase().into());
        }
    }
}

fn check_name(name: &str, field: &str) -> Result<(), String> {
    match header_name_problem(name) {
        Some(problem) => Err(format!("{field}: {problem}")),
        None => Ok(()),
    }
}

fn check_field(name: &str, value: &str, field: &str) -> Result<(), String> {
    check_name(name, field)?;
    match field_value_problem(value) {
        Some(problem) => Err(format!("{field}: the value of {name:?} {problem}")),
        None => Ok(()),
    }
}
