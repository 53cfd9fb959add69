//! Primary or replica: one enum for a server's role (configuration: `role: primary`), a
//! statement's route (the classifier), a rule's target, a routing decision and the session
//! connection a command runs on — they are one question, "which side", so one type.

use serde::Deserialize;

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
    /// The configuration's and the stats' name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        }
    }
}
