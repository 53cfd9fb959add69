//! Listeners, accept loops, connect with retries, sessions, graceful stop.

mod engine;
mod frontend;
mod global_limit;
mod handover;
mod listener;
mod logs;
mod origin;
mod reload;
pub(crate) mod session;
mod snapshot;
mod soft_stop;
mod workers;

pub use engine::Engine;
pub use frontend::{ConnectionSlot, Frontend};
pub use handover::ExportedListeners;
pub use origin::ClientOrigin;
pub use soft_stop::SoftStop;

#[cfg(test)]
mod handover_tests;
#[cfg(test)]
mod reload_tests;
#[cfg(test)]
mod runtime_tests;
#[cfg(test)]
mod tests;
