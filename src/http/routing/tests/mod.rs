//! Tests of the route table: a request type of their own, real backends built from their
//! JSON configuration, frontends written as the JSON the core receives.

mod edits;
mod errors;
mod matching;
mod redirects;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::{Decision, RequestHead, RouteTable};
use crate::balancer::Backend;
use crate::http::HttpFrontendConfig;

/// A parsed request, as the HTTP sessions would hand it over.
#[derive(Debug, Clone)]
pub(super) struct Req {
    method: String,
    path: String,
    host: Option<String>,
    headers: Vec<(String, String)>,
}

/// `GET path` without a Host.
pub(super) fn get(path: &str) -> Req {
    Req {
        method: "GET".into(),
        path: path.into(),
        host: None,
        headers: Vec::new(),
    }
}

impl Req {
    pub(super) fn host(mut self, host: &str) -> Req {
        self.host = Some(host.into());
        self
    }

    pub(super) fn method(mut self, method: &str) -> Req {
        self.method = method.into();
        self
    }

    pub(super) fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl RequestHead for Req {
    fn method(&self) -> &[u8] {
        self.method.as_bytes()
    }

    fn path(&self) -> &[u8] {
        self.path.as_bytes()
    }

    fn host(&self) -> Option<&[u8]> {
        self.host.as_deref().map(str::as_bytes)
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

fn backend(name: &str) -> Arc<Backend> {
    let config = serde_json::from_value(json!({
        "name": name,
        "servers": [{"name": format!("{name}-01"), "address": "127.0.0.1:9000"}],
    }))
    .expect("backend config");
    Arc::new(Backend::new(&config, None))
}

/// A frontend's `http` with every field at its default, `routes` as given (each completed by
/// [`route`]) and `overrides` merged in at the top (e.g. `request_headers`).
pub(super) fn frontend(routes: Value, overrides: Value) -> HttpFrontendConfig {
    let no_edits = json!({"set": [], "add": [], "remove": []});
    let mut http = json!({
        "request_timeout_ms": 10000, "keepalive_timeout_ms": 10000, "max_header_size": 16384,
        "max_headers": 100, "tunnel_timeout_ms": 3600000, "h2c": false,
        "forwarded": {"x_forwarded_for": true, "x_forwarded_for_except": [],
                      "x_forwarded_proto": true, "x_forwarded_host": false, "forwarded": false},
        "routes": routes.as_array().expect("routes").iter().map(route).collect::<Vec<_>>(),
        "request_headers": no_edits, "response_headers": no_edits, "access_log": null,
    });
    for (key, value) in overrides.as_object().expect("overrides") {
        http[key] = value.clone();
    }
    serde_json::from_value(http).expect("http config")
}

/// A route as Python sends it: the given fields, every other one at its default.
fn route(partial: &Value) -> Value {
    let no_edits = json!({"set": [], "add": [], "remove": []});
    let mut full = json!({
        "match": {"host": null, "path_prefix": null, "path": null, "method": [], "header": {}},
        "backend": null, "redirect": null,
        "request_headers": no_edits, "response_headers": no_edits,
    });
    for (key, value) in partial.as_object().expect("route") {
        match key.as_str() {
            "match" => {
                for (k, v) in value.as_object().expect("match") {
                    full["match"][k] = v.clone();
                }
            }
            "redirect" => {
                let mut redirect = json!({"scheme": null, "host": null, "path_prefix": null,
                                          "code": 302});
                for (k, v) in value.as_object().expect("redirect") {
                    redirect[k] = v.clone();
                }
                full["redirect"] = redirect;
            }
            _ => full[key] = value.clone(),
        }
    }
    full
}

/// Compiles with backends `web` (the default), `api` and `static`.
pub(super) fn try_table(routes: Value, overrides: Value) -> Result<RouteTable, String> {
    let backends: HashMap<String, Arc<Backend>> = ["web", "api", "static"]
        .into_iter()
        .map(|name| (name.to_string(), backend(name)))
        .collect();
    RouteTable::compile(&frontend(routes, overrides), &backends["web"], &backends)
}

pub(super) fn table(routes: Value) -> RouteTable {
    try_table(routes, json!({})).expect("compiles")
}

/// What the table does with `request`, in words: `api (route 0)`, `web (default)`,
/// `302 https://a.com/x` (the Location over plain HTTP).
pub(super) fn outcome(table: &RouteTable, request: &Req) -> String {
    match table.decide(request) {
        Decision::Forward(target) => match target.route {
            Some(i) => format!("{} (route {i})", target.backend.name),
            None => format!("{} (default)", target.backend.name),
        },
        Decision::Redirect(redirect) => {
            format!(
                "{} {}",
                redirect.status(),
                redirect.location(request, false)
            )
        }
    }
}
