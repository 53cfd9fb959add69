//! A session's binary prepared statements: the ids the client knows, mapped to the ids
//! each server connection gave them, prepared on a connection the first time a statement
//! runs there.

use std::collections::HashMap;

use crate::mysql::classify::Classification;

/// Where a statement has been prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnServer {
    /// The upstream connection's serial.
    pub serial: u64,
    /// That server's id for the statement.
    pub id: u32,
    /// Which of the client's parameter types this connection has seen
    /// (`Prepared::types_generation`; 0: none). Clients send types when they bind new
    /// ones and otherwise say "as before", meaning their latest, which a connection that
    /// ran an older execution doesn't have.
    pub types_seen: u32,
}

#[derive(Debug)]
pub struct Prepared {
    pub sql: Vec<u8>,
    pub class: Classification,
    pub params: u16,
    /// The parameter types of the last execution that sent them.
    pub param_types: Option<Vec<u8>>,
    /// Counts the changes of `param_types`.
    types_generation: u32,
    pub on: Vec<OnServer>,
    /// COM_STMT_SEND_LONG_DATA payloads waiting for the next execution (where it runs is
    /// decided then); counted in `Statements::long_data_bytes`.
    long_data: Vec<Vec<u8>>,
    /// The connection of the last execution (a cursor's rows are fetched there).
    pub executed_on: Option<u64>,
}

impl Prepared {
    pub fn new(sql: Vec<u8>, class: Classification, params: u16) -> Self {
        Prepared {
            sql,
            class,
            params,
            param_types: None,
            types_generation: 0,
            on: Vec::new(),
            long_data: Vec::new(),
            executed_on: None,
        }
    }

    pub fn on_server(&self, serial: u64) -> Option<OnServer> {
        self.on.iter().copied().find(|o| o.serial == serial)
    }

    /// The COM_STMT_EXECUTE payload for the connection `serial`, where the statement's id
    /// is `on.id`: the client's id replaced, and the parameter types added when the client
    /// relies on types that connection never saw. Records types the client sends.
    pub fn execute_payload(&mut self, payload: &[u8], serial: u64) -> Option<Vec<u8>> {
        let index = self.on.iter().position(|o| o.serial == serial)?;
        let on = self.on[index];
        let mut out = with_statement_id(payload, on.id)?;
        if self.params == 0 {
            return Some(out);
        }
        let params = usize::from(self.params);
        let flag_at = 10 + params.div_ceil(8);
        let types_len = 2 * params;
        match out.get(flag_at) {
            Some(1) => {
                let types = out.get(flag_at + 1..flag_at + 1 + types_len)?;
                if self.param_types.as_deref() != Some(types) {
                    self.param_types = Some(types.to_vec());
                    // Never back to 0, which means "no types seen".
                    self.types_generation = self.types_generation.wrapping_add(1).max(1);
                }
                self.on[index].types_seen = self.types_generation;
            }
            Some(0) if on.types_seen != self.types_generation => {
                if let Some(types) = &self.param_types {
                    out[flag_at] = 1;
                    out.splice(flag_at + 1..flag_at + 1, types.iter().copied());
                    self.on[index].types_seen = self.types_generation;
                }
            }
            _ => {}
        }
        Some(out)
    }
}

#[derive(Default)]
pub struct Statements {
    next_id: u32,
    map: HashMap<u32, Prepared>,
    /// Long data buffered across all statements: bounded per session, or a client could
    /// park the limit's worth under each of its thousands of statements.
    long_data_bytes: usize,
}

impl Statements {
    /// A fresh id for the statement being prepared.
    pub fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    pub fn insert(&mut self, id: u32, prepared: Prepared) {
        self.map.insert(id, prepared);
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Prepared> {
        self.map.get_mut(&id)
    }

    pub fn remove(&mut self, id: u32) -> Option<Prepared> {
        self.take_long_data(id);
        self.map.remove(&id)
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.long_data_bytes = 0;
    }

    /// Buffers a COM_STMT_SEND_LONG_DATA payload for statement `id` (unknown ids are
    /// ignored, as servers do). False when the session's buffered long data would exceed
    /// `limit` bytes.
    pub fn buffer_long_data(&mut self, id: u32, payload: &[u8], limit: usize) -> bool {
        let Some(statement) = self.map.get_mut(&id) else {
            return true;
        };
        if self.long_data_bytes + payload.len() > limit {
            return false;
        }
        self.long_data_bytes += payload.len();
        statement.long_data.push(payload.to_vec());
        true
    }

    /// The long data waiting for statement `id`'s next execution (or a reset).
    pub fn take_long_data(&mut self, id: u32) -> Vec<Vec<u8>> {
        let Some(statement) = self.map.get_mut(&id) else {
            return Vec::new();
        };
        let taken = std::mem::take(&mut statement.long_data);
        self.long_data_bytes -= taken.iter().map(Vec::len).sum::<usize>();
        taken
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A connection closed: its statement ids are gone with it.
    pub fn forget_connection(&mut self, serial: u64) {
        for prepared in self.map.values_mut() {
            prepared.on.retain(|o| o.serial != serial);
            if prepared.executed_on == Some(serial) {
                prepared.executed_on = None;
            }
        }
    }
}

/// The statement id of a COM_STMT_* payload (bytes 1..5).
pub fn statement_id(payload: &[u8]) -> Option<u32> {
    let bytes = payload.get(1..5)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// A copy of a COM_STMT_* payload with another statement id.
pub fn with_statement_id(payload: &[u8], id: u32) -> Option<Vec<u8>> {
    let mut out = payload.to_vec();
    out.get_mut(1..5)?.copy_from_slice(&id.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::classify::classify;

    fn execute(id: u32, bound: bool) -> Vec<u8> {
        // Two parameters: null bitmap 1 byte, flag, [types], values.
        let mut payload = vec![0x17];
        payload.extend_from_slice(&id.to_le_bytes());
        payload.extend_from_slice(&[0, 1, 0, 0, 0, 0]);
        payload.push(u8::from(bound));
        if bound {
            payload.extend_from_slice(&[3, 0, 254, 0]);
        }
        payload.extend_from_slice(&[7, 0, 0, 0, 1, b'x']);
        payload
    }

    #[test]
    fn ids_and_types_follow_the_connection() {
        let mut prepared = Prepared::new(b"SELECT ?, ?".to_vec(), classify(b"SELECT ?, ?"), 2);
        prepared.on.push(OnServer {
            serial: 1,
            id: 50,
            types_seen: 0,
        });
        let first = prepared.execute_payload(&execute(9, true), 1).unwrap();
        assert_eq!(statement_id(&first), Some(50));
        assert_eq!(prepared.param_types.as_deref(), Some(&[3, 0, 254, 0][..]));

        // The same statement on another connection, the client relying on bound types.
        prepared.on.push(OnServer {
            serial: 2,
            id: 7,
            types_seen: 0,
        });
        let second = prepared.execute_payload(&execute(9, false), 2).unwrap();
        assert_eq!(second, execute(7, true));
        // Once sent, "as before" passes through.
        let third = prepared.execute_payload(&execute(9, false), 2).unwrap();
        assert_eq!(third, execute(7, false));
        assert!(prepared.execute_payload(&execute(9, false), 3).is_none());

        // The client binds other types on connection 2, then runs "as before" on
        // connection 1, which only saw the first types: it gets the new ones.
        let mut rebound = execute(9, true);
        rebound[12] = 8; // the first parameter a LONGLONG now
        prepared.execute_payload(&rebound, 2).unwrap();
        let back_on_first = prepared.execute_payload(&execute(9, false), 1).unwrap();
        assert_eq!(back_on_first[..12], execute(50, true)[..12]);
        assert_eq!(back_on_first[12..16], [8, 0, 254, 0]);
        assert_eq!(
            prepared.execute_payload(&execute(9, false), 1).unwrap(),
            execute(50, false)
        );
    }

    #[test]
    fn forgetting_a_connection() {
        let mut statements = Statements::default();
        let id = statements.next_id();
        let mut prepared = Prepared::new(b"SELECT 1".to_vec(), classify(b"SELECT 1"), 0);
        prepared.on.push(OnServer {
            serial: 4,
            id: 1,
            types_seen: 0,
        });
        prepared.executed_on = Some(4);
        statements.insert(id, prepared);
        statements.forget_connection(4);
        let prepared = statements.get_mut(id).unwrap();
        assert!(prepared.on.is_empty());
        assert_eq!(prepared.executed_on, None);
        assert_eq!(statement_id(&[0x19, 1, 0, 0, 0]), Some(1));
        assert_eq!(statement_id(&[0x19, 1]), None);
    }

    #[test]
    fn long_data_is_bounded_per_session() {
        let mut statements = Statements::default();
        let ids: Vec<u32> = (0..3)
            .map(|_| {
                let id = statements.next_id();
                let sql = b"SELECT ?".to_vec();
                statements.insert(id, Prepared::new(sql, classify(b"SELECT ?"), 1));
                id
            })
            .collect();
        let chunk = [0u8; 40];
        assert!(statements.buffer_long_data(ids[0], &chunk, 100));
        assert!(statements.buffer_long_data(ids[1], &chunk, 100));
        // A third statement can't add another 40 bytes: the bound is the session's.
        assert!(!statements.buffer_long_data(ids[2], &chunk, 100));
        // Executing (taking) or closing a statement frees its share.
        assert_eq!(statements.take_long_data(ids[0]).len(), 1);
        assert!(statements.buffer_long_data(ids[2], &chunk, 100));
        statements.remove(ids[1]);
        assert!(statements.buffer_long_data(ids[0], &chunk, 100));
        assert!(!statements.buffer_long_data(ids[0], &chunk, 100));
        // Unknown statements are ignored, as servers do.
        assert!(statements.buffer_long_data(999, &chunk, 0));
    }
}
