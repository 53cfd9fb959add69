//! Listeners, accept loop, connect with retries, sessions, graceful stop.
pub struct Engine;
