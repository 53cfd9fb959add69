//! The MySQL client/server protocol as fastlb speaks it on both sides: packets and their
//! fields (`packet`), the buffered packet stream (`stream`) over a plain or TLS transport
//! (`transport`), the greeting and handshake response (`handshake`), password scrambles
//! (`auth`), a client's login to fastlb (`login`), and the small result sets fastlb answers
//! itself (`resultset`). Nothing here routes.

pub mod auth;
pub mod handshake;
pub(crate) mod login;
pub mod packet;
pub mod resultset;
pub mod stream;
pub(crate) mod transport;
