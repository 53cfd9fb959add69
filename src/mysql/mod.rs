//! MySQL protocol support. So far: the statement classifier (`classify`), which the read/write
//! splitting session and `fastlb.mysql.Router` (through `fastlb._core.classify_statement`)
//! share.

pub mod classify;
mod cursor;
mod functions;
mod lexer;
mod statements;

pub use classify::{classify, Classification, Kind, Route};
