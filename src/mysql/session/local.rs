//! Statements about the client's own connection, answered by fastlb: `SELECT
//! CONNECTION_ID()` (fastlb's session id, what KILL takes) and `SHOW STATUS LIKE 'Ssl...'`
//! (the client's TLS to fastlb; a server would describe fastlb's connection to it).

use super::{Flow, Session};
use crate::mysql::classify::like;
use crate::mysql::protocol::packet::status;
use crate::mysql::protocol::resultset::{text_result_set, Column};
use crate::mysql::Role;

impl Session {
    /// The status flags a result set fastlb makes carries (the primary connection's).
    fn local_status(&self) -> u16 {
        self.connections
            .get(Role::Primary)
            .map_or(status::AUTOCOMMIT, |u| u.status)
            & !status::SESSION_STATE_CHANGED
    }

    async fn send_result(
        &mut self,
        columns: &[Column<'_>],
        rows: &[Vec<Option<Vec<u8>>>],
        seq: u8,
    ) -> Flow {
        let out = text_result_set(columns, rows, self.local_status(), seq);
        match self.client.write_all(&out).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    /// `SELECT CONNECTION_ID() [[AS] alias]`: the session's id, as in its greeting.
    pub(super) async fn answer_connection_id(&mut self, alias: Option<&[u8]>, seq: u8) -> Flow {
        let name = alias.unwrap_or(b"CONNECTION_ID()");
        let value = self.id().to_string().into_bytes();
        self.send_result(&[Column::Unsigned(name)], &[vec![Some(value)]], seq)
            .await
    }

    /// `SHOW [SESSION] STATUS LIKE 'Ssl...'`: `Ssl_cipher` and `Ssl_version` of the client's
    /// connection to fastlb (empty in plaintext, as a server shows them). The server's other
    /// `Ssl_` variables (accept counters, session cache...) describe a server, not this
    /// connection, and are not listed.
    pub(super) async fn answer_ssl_status(&mut self, pattern: &[u8], seq: u8) -> Flow {
        let (version, cipher) = self.client.tls_parameters().unwrap_or_default();
        let rows: Vec<Vec<Option<Vec<u8>>>> = [("Ssl_cipher", cipher), ("Ssl_version", version)]
            .into_iter()
            .filter(|(name, _)| like(pattern, name.as_bytes()))
            .map(|(name, value)| vec![Some(name.as_bytes().to_vec()), Some(value.into_bytes())])
            .collect();
        let columns = [Column::Text(b"Variable_name"), Column::Text(b"Value")];
        self.send_result(&columns, &rows, seq).await
    }
}
