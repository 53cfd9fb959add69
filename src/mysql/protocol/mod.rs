//! The MySQL client/server protocol as fastlb speaks it on both sides: packets and their
//! fields (`packet`), the buffered packet stream (`stream`) over a plain or TLS transport
//! (`transport`), the greeting and handshake response (`handshake`), password scrambles
//! (`auth`), and a client's login to fastlb (`login`). Nothing here routes.

pub mod auth;
pub mod handshake;
pub(crate) mod login;
pub mod packet;
pub mod stream;
pub(crate) mod transport;
