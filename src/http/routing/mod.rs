//! Routing and rewriting of `mode: http` requests: ordered routes (first match wins),
//! redirects, request and response header edits. Compiled once per (re)load into a
//! [`RouteTable`], evaluated in Rust on each parsed request (docs/http.md).

mod config;
mod edits;
mod host;
mod matcher;
mod redirect;
mod syntax;
#[cfg(test)]
mod tests;

pub use config::{HeaderEditsConfig, MatchConfig, RedirectConfig, RouteConfig};
pub use edits::HeaderEdits;
pub use redirect::Redirect;
pub use syntax::PROXY_OWNED as PROXY_OWNED_HEADERS;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::balancer::Backend;
use crate::http::HttpFrontendConfig;
use matcher::{Facts, Matcher};

/// What routing needs of a parsed request (implemented by the HTTP/1 and HTTP/2 request
/// types).
pub trait RequestHead {
    /// The method, as sent (methods are case-sensitive, RFC 9110 §9.1).
    fn method(&self) -> &[u8];
    /// The origin-form target, query included (`/a/b?x=1`).
    fn path(&self) -> &[u8];
    /// `Host` (HTTP/1) or `:authority` (HTTP/2) as sent: it may carry a port and may be an
    /// IPv6 literal in brackets. `None` when the request has none.
    fn host(&self) -> Option<&[u8]>;
    /// The value of the first field named `name`, compared case-insensitively.
    fn header(&self, name: &str) -> Option<&[u8]>;
}

/// Where a forwarded request goes, and the header edits that go with it.
#[derive(Clone)]
pub struct Target {
    pub backend: Arc<Backend>,
    /// The frontend's `request_headers`, then the route's.
    pub request_edits: HeaderEdits,
    /// The frontend's `response_headers`, then the route's.
    pub response_edits: HeaderEdits,
    /// The index of the route in `http.routes`; `None` for the frontend's default.
    pub route: Option<usize>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("backend", &self.backend.name)
            .field("request_edits", &self.request_edits)
            .field("response_edits", &self.response_edits)
            .field("route", &self.route)
            .finish()
    }
}

/// What to do with a request.
#[derive(Debug, Clone, Copy)]
pub enum Decision<'t> {
    Forward(&'t Target),
    /// Answer with [`Redirect::status`] and [`Redirect::location`]; nothing is forwarded.
    Redirect(&'t Redirect),
}

/// A frontend's compiled routes. `Send + Sync`: built on (re)load, shared by every worker.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<(Matcher, Action)>,
    /// No route matched: the frontend's backend and edits.
    default: Target,
}

#[derive(Debug)]
enum Action {
    Forward(Target),
    Redirect(Redirect),
}

impl RouteTable {
    /// Compiles a frontend's `http` section. `default_backend` is the frontend's `backend`;
    /// `backends` are all the configured ones, by name. Errors name the field relative to the
    /// frontend: `http.routes[2].backend: no backend named "api"`.
    pub fn compile(
        config: &HttpFrontendConfig,
        default_backend: &Arc<Backend>,
        backends: &HashMap<String, Arc<Backend>>,
    ) -> Result<RouteTable, String> {
        let request_edits = HeaderEdits::compile(&config.request_headers, "http.request_headers")?;
        let response_edits =
            HeaderEdits::compile(&config.response_headers, "http.response_headers")?;
        let mut routes = Vec::with_capacity(config.routes.len());
        for (i, route) in config.routes.iter().enumerate() {
            let field = format!("http.routes[{i}]");
            let route_responses = || {
                let mut edits = response_edits.clone();
                edits.then(
                    &route.response_headers,
                    &format!("{field}.response_headers"),
                )?;
                Ok::<_, String>(edits)
            };
            let action = match (&route.backend, &route.redirect) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{field}: a route has either a backend or a redirect, not both"
                    ))
                }
                (None, None) => {
                    return Err(format!("{field}: a route needs a backend or a redirect"))
                }
                (Some(name), None) => {
                    let backend = backends
                        .get(name)
                        .ok_or_else(|| format!("{field}.backend: no backend named {name:?}"))?;
                    let mut route_requests = request_edits.clone();
                    route_requests
                        .then(&route.request_headers, &format!("{field}.request_headers"))?;
                    Action::Forward(Target {
                        backend: Arc::clone(backend),
                        request_edits: route_requests,
                        response_edits: route_responses()?,
                        route: Some(i),
                    })
                }
                (None, Some(redirect)) => {
                    let edits = &route.request_headers;
                    if !(edits.set.is_empty() && edits.add.is_empty() && edits.remove.is_empty()) {
                        return Err(format!(
                            "{field}.request_headers: a redirect forwards no request, so these edits would never apply"
                        ));
                    }
                    let redirect_field = format!("{field}.redirect");
                    Action::Redirect(Redirect::compile(
                        redirect,
                        i,
                        route_responses()?,
                        &redirect_field,
                    )?)
                }
            };
            let matcher = Matcher::compile(&route.matcher, &format!("{field}.match"))?;
            routes.push((matcher, action));
        }
        Ok(RouteTable {
            routes,
            default: Target {
                backend: Arc::clone(default_backend),
                request_edits,
                response_edits,
                route: None,
            },
        })
    }

    /// The first route that matches `request` decides; none: the frontend's default target.
    /// Allocates nothing.
    pub fn decide<'t, R: RequestHead>(&'t self, request: &R) -> Decision<'t> {
        let facts = Facts::of(request);
        for (matcher, action) in &self.routes {
            if matcher.matches(&facts, request) {
                return match action {
                    Action::Forward(target) => Decision::Forward(target),
                    Action::Redirect(redirect) => Decision::Redirect(redirect),
                };
            }
        }
        Decision::Forward(&self.default)
    }

    /// The target of requests no route takes.
    pub fn default_target(&self) -> &Target {
        &self.default
    }
}

/// Compile-time proof that a table can be shared by the worker threads.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<RouteTable>();
};
