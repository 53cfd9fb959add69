//! The PROXY protocol (HAProxy's spec, v1 text and v2 binary): read from a client behind
//! another load balancer (`accept_proxy`), sent to servers (`send_proxy`) so they see the
//! client's address. Used by `mode: tcp` and `mode: http` alike.

use serde::Deserialize;

/// `backends[i].send_proxy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyVersion {
    V1,
    V2,
}
