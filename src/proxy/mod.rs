//! Listeners, accept loops, connect with retries, sessions, graceful stop.

mod engine;
mod frontend;
mod listener;
mod session;

pub use engine::Engine;
pub use frontend::Frontend;

#[cfg(test)]
mod tests;
