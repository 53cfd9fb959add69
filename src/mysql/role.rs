//! Primary or replica: one enum for a server's role (configuration: `role: primary`), a
//! statement's route (the classifier), a rule's target, a routing decision and the session
//! connection a command runs on — they are one question, "which side", so one type.

use serde::Deserialize;

use crate::error::Error;

/// A side of a primary/replica cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Takes the writes (and the reads of transactions and pinned sessions).
    Primary,
    /// Takes the reads it can serve (provably side-effect-free ones), weighted round robin.
    Replica,
}

impl Role {
    /// Every role, in the order `_core.SERVER_ROLES` exports them.
    pub const ALL: [Role; 2] = [Role::Primary, Role::Replica];

    /// The configuration's and the stats' name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    /// The topology monitor's verdict names a role (`Engine::set_topology`).
    fn from_str(text: &str) -> Result<Self, Error> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| Error::UnknownRole(text.to_string()))
    }
}
