//! Forwarding a server's response to a command, packet by packet, to the client (or
//! nowhere): it finds where the response ends, reads the status flags that say whether a
//! transaction is open, and picks the GTID of a write out of the session-state changes.
//!
//! Rows are not copied into packets: complete packets are forwarded straight out of the
//! read buffer in one write per read, and a packet larger than the buffer streams through.
//! Only the packets that can end a response (OK, ERR, EOF, a column count) are looked at
//! whole; they are small.

use std::io;

use super::gtid::GlobalGtid;
use crate::mysql::protocol::packet::{
    eof_status, frame, is_eof, parse_header, parse_ok, status, strip_session_state, tracked_gtid,
    Reader, HEADER_LEN, MAX_PART,
};
use crate::mysql::protocol::stream::PacketStream;

/// The shape of the response a command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// COM_QUERY, COM_STMT_EXECUTE: OK, ERR, a LOCAL INFILE request or a result set, and
    /// more of them while the status says MORE_RESULTS_EXISTS.
    Results,
    /// COM_STMT_PREPARE: a prepare-OK and the parameter and column definitions, or ERR.
    Prepare,
    /// COM_FIELD_LIST, COM_STMT_FETCH: packets up to an EOF or ERR.
    UntilEof,
    /// Every other command: one packet.
    Single,
}

/// A prepare-OK's fields (the server's reply to COM_STMT_PREPARE; the session's record of
/// a prepared statement is `prepared::Prepared`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareOk {
    pub statement_id: u32,
    pub columns: u16,
    pub params: u16,
}

/// What a response said.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The status flags of the last OK or EOF packet.
    pub status: Option<u16>,
    /// The error code of an ERR packet.
    pub error: Option<u16>,
    /// The server asked for a LOCAL INFILE: the client's file follows, then the rest.
    pub local_infile: bool,
    /// A write's GTID, from the session-state changes.
    pub gtid: Option<Vec<u8>>,
    pub prepared: Option<PrepareOk>,
    /// Whether any byte reached the client.
    pub forwarded: bool,
    /// The warning count of the last OK or EOF packet (a connection with warnings isn't
    /// handed to another session as it is: its SHOW WARNINGS would tell them).
    pub warnings: u16,
    /// Bytes sent to the client.
    pub bytes: u64,
    /// Result-set rows (query digests count them).
    pub rows: u64,
    /// The affected rows and insert id of the last OK packet (ROW_COUNT() and
    /// LAST_INSERT_ID() on that connection: multiplexing keeps them right).
    pub affected_rows: u64,
    pub last_insert_id: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("server connection: {0}")]
    Server(#[source] io::Error),
    #[error("client connection: {0}")]
    Client(#[source] io::Error),
    #[error("malformed response from the server: {0}")]
    Protocol(&'static str),
}

/// How to change packets on their way.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rewrite {
    /// The server's connection tracks session state and the client did not ask for it.
    pub strip_session_state: bool,
    /// The client's id for a statement being prepared.
    pub statement_id: Option<u32>,
    /// `causal_reads: global`: where a write's GTID is noted, as soon as its OK is read.
    pub global_gtid: Option<&'static GlobalGtid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    First,
    Columns(u64),
    ColumnsEof,
    Rows,
    Params { params: u64, columns: u64 },
    ParamsEof { columns: u64 },
    PreparedColumns(u64),
    PreparedColumnsEof,
    UntilEof,
    Single,
    Done,
}

/// A forward that failed, and whether the client had already received part of the
/// response (then the client's connection can't go on either).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failure {
    pub error: ForwardError,
    pub forwarded: bool,
}

impl Failure {
    /// The command could not even be sent: nothing reached the client.
    pub fn unsent(error: io::Error) -> Self {
        Failure {
            error: ForwardError::Server(error),
            forwarded: false,
        }
    }
}

/// Forwards one response from `server` to `client` (None: read and drop it).
/// `session_track`: the server connection negotiated CLIENT_SESSION_TRACK.
pub async fn forward(
    server: &mut PacketStream,
    client: Option<&mut PacketStream>,
    shape: Shape,
    session_track: bool,
    rewrite: Rewrite,
) -> Result<Outcome, Failure> {
    let mut outcome = Outcome::default();
    match forward_into(server, client, shape, session_track, rewrite, &mut outcome).await {
        Ok(()) => Ok(outcome),
        Err(error) => Err(Failure {
            error,
            forwarded: outcome.forwarded,
        }),
    }
}

async fn forward_into(
    server: &mut PacketStream,
    mut client: Option<&mut PacketStream>,
    shape: Shape,
    session_track: bool,
    rewrite: Rewrite,
    outcome: &mut Outcome,
) -> Result<(), ForwardError> {
    let mut phase = match shape {
        Shape::Results | Shape::Prepare => Phase::First,
        Shape::UntilEof => Phase::UntilEof,
        Shape::Single => Phase::Single,
    };
    // Examined bytes at the front of the server's buffer, not yet forwarded.
    let mut pending = 0usize;
    // The packet being read continues a previous part (its bytes are data).
    let mut continuation = false;
    while phase != Phase::Done {
        if server.buffered().len() < pending + HEADER_LEN {
            flush(server, &mut client, &mut pending, outcome).await?;
            server.fill().await.map_err(ForwardError::Server)?;
            continue;
        }
        let (len, seq) = parse_header(&server.buffered()[pending..]);
        let part = HEADER_LEN + len;
        let is_continuation = continuation;
        continuation = len == MAX_PART;
        let data = is_continuation
            || match phase {
                Phase::Columns(_) | Phase::Params { .. } | Phase::PreparedColumns(_) => true,
                Phase::Rows | Phase::UntilEof => {
                    if server.buffered().len() < pending + HEADER_LEN + 1 && len > 0 {
                        flush(server, &mut client, &mut pending, outcome).await?;
                        server.fill().await.map_err(ForwardError::Server)?;
                        continuation = is_continuation;
                        continue;
                    }
                    let first = server.buffered().get(pending + HEADER_LEN).copied();
                    !(first == Some(0xff) || (first == Some(0xfe) && len < 9))
                }
                _ => false,
            };
        if data {
            if !is_continuation && phase == Phase::Rows {
                outcome.rows += 1;
            }
            if !continuation {
                phase = count_data_packet(phase);
            }
            pass_through(server, &mut client, &mut pending, part, outcome).await?;
            continue;
        }
        if server.buffered().len() < pending + part {
            flush(server, &mut client, &mut pending, outcome).await?;
            server.need(part).await.map_err(ForwardError::Server)?;
        }
        let start = pending + HEADER_LEN;
        let payload = &server.buffered()[start..start + len];
        let (next, replacement) = inspect(phase, shape, payload, session_track, rewrite, outcome)?;
        phase = next;
        match replacement {
            Some(payload) => {
                flush(server, &mut client, &mut pending, outcome).await?;
                server.consume(part);
                if let Some(client) = client.as_deref_mut() {
                    let mut framed = Vec::with_capacity(HEADER_LEN + payload.len());
                    frame(&mut framed, &payload, seq);
                    client
                        .write_all(&framed)
                        .await
                        .map_err(ForwardError::Client)?;
                    outcome.forwarded = true;
                    outcome.bytes += framed.len() as u64;
                }
            }
            None => pending += part,
        }
    }
    flush(server, &mut client, &mut pending, outcome).await?;
    Ok(())
}

/// The phase after one more (complete) data packet.
fn count_data_packet(phase: Phase) -> Phase {
    match phase {
        Phase::Columns(1) => Phase::ColumnsEof,
        Phase::Columns(n) => Phase::Columns(n - 1),
        Phase::Params { params: 1, columns } => Phase::ParamsEof { columns },
        Phase::Params { params, columns } => Phase::Params {
            params: params - 1,
            columns,
        },
        Phase::PreparedColumns(1) => Phase::PreparedColumnsEof,
        Phase::PreparedColumns(n) => Phase::PreparedColumns(n - 1),
        other => other,
    }
}

/// Looks at a packet that may end the response; returns the next phase and, when the
/// packet must change on its way, its new payload.
fn inspect(
    phase: Phase,
    shape: Shape,
    payload: &[u8],
    session_track: bool,
    rewrite: Rewrite,
    outcome: &mut Outcome,
) -> Result<(Phase, Option<Vec<u8>>), ForwardError> {
    let first = payload.first().copied();
    if first == Some(0xff) {
        outcome.error = Some(crate::mysql::protocol::packet::parse_err(payload).0);
        return Ok((Phase::Done, None));
    }
    let eof_after = |outcome: &mut Outcome, then: Phase| -> Result<Phase, ForwardError> {
        if !is_eof(payload) {
            return Err(ForwardError::Protocol("expected an EOF packet"));
        }
        let flags = eof_status(payload).ok_or(ForwardError::Protocol("short EOF packet"))?;
        outcome.status = Some(flags);
        outcome.warnings = u16::from_le_bytes([payload[1], payload[2]]);
        Ok(then)
    };
    let next = match phase {
        Phase::First if shape == Shape::Prepare => {
            let prepared = parse_prepare_ok(payload)?;
            outcome.prepared = Some(prepared);
            let (params, columns) = (u64::from(prepared.params), u64::from(prepared.columns));
            let next = if params > 0 {
                Phase::Params { params, columns }
            } else if columns > 0 {
                Phase::PreparedColumns(columns)
            } else {
                Phase::Done
            };
            // The client knows the statement by fastlb's id, not this server's.
            let replacement = rewrite.statement_id.map(|id| {
                let mut payload = payload.to_vec();
                payload[1..5].copy_from_slice(&id.to_le_bytes());
                payload
            });
            return Ok((next, replacement));
        }
        Phase::First => match first {
            Some(0x00) => return ok_packet(payload, session_track, rewrite, outcome),
            Some(0xfb) => {
                outcome.local_infile = true;
                Phase::Done
            }
            _ => {
                let columns = Reader::new(payload)
                    .lenenc_int()
                    .filter(|&n| n > 0)
                    .ok_or(ForwardError::Protocol("bad column count"))?;
                Phase::Columns(columns)
            }
        },
        Phase::ColumnsEof => {
            let flags = eof_status(payload).unwrap_or(0);
            // A cursor was opened: the rows come with COM_STMT_FETCH.
            let then = if flags & status::CURSOR_EXISTS != 0 {
                Phase::Done
            } else {
                Phase::Rows
            };
            eof_after(outcome, then)?
        }
        Phase::Rows => {
            let next = eof_after(outcome, Phase::Done)?;
            if outcome.status.unwrap_or(0) & status::MORE_RESULTS_EXISTS != 0 {
                Phase::First
            } else {
                next
            }
        }
        Phase::ParamsEof { columns } if columns > 0 => {
            eof_after(outcome, Phase::PreparedColumns(columns))?
        }
        Phase::ParamsEof { .. } | Phase::PreparedColumnsEof | Phase::UntilEof => {
            eof_after(outcome, Phase::Done)?
        }
        Phase::Single => {
            if first == Some(0x00) {
                return ok_packet(payload, session_track, rewrite, outcome)
                    .map(|(_, replacement)| (Phase::Done, replacement));
            }
            if is_eof(payload) {
                outcome.status = eof_status(payload);
            }
            Phase::Done
        }
        Phase::Columns(_) | Phase::Params { .. } | Phase::PreparedColumns(_) | Phase::Done => {
            return Err(ForwardError::Protocol("unexpected packet"))
        }
    };
    Ok((next, None))
}

fn ok_packet(
    payload: &[u8],
    session_track: bool,
    rewrite: Rewrite,
    outcome: &mut Outcome,
) -> Result<(Phase, Option<Vec<u8>>), ForwardError> {
    let ok = parse_ok(payload, session_track).ok_or(ForwardError::Protocol("bad OK packet"))?;
    outcome.status = Some(ok.status);
    outcome.warnings = u16::from_le_bytes([payload[ok.fixed_len - 2], payload[ok.fixed_len - 1]]);
    let mut counts = Reader::new(&payload[1..]);
    outcome.affected_rows = counts.lenenc_int().unwrap_or(0);
    outcome.last_insert_id = counts.lenenc_int().unwrap_or(0);
    if let Some(gtid) = ok.session_state.and_then(tracked_gtid) {
        if let Some(global) = rewrite.global_gtid {
            global.observe(gtid);
        }
        outcome.gtid = Some(gtid.to_vec());
    }
    let next = if ok.status & status::MORE_RESULTS_EXISTS != 0 {
        Phase::First
    } else {
        Phase::Done
    };
    let replacement = (rewrite.strip_session_state
        && session_track
        && (ok.session_state.is_some() || payload.len() > ok.fixed_len))
        .then(|| strip_session_state(payload, &ok));
    Ok((next, replacement))
}

fn parse_prepare_ok(payload: &[u8]) -> Result<PrepareOk, ForwardError> {
    let mut reader = Reader::new(payload);
    let bad = ForwardError::Protocol("bad prepare-OK packet");
    (|| {
        if reader.u8()? != 0 {
            return None;
        }
        let statement_id = reader.u32()?;
        let columns = reader.u16()?;
        let params = reader.u16()?;
        Some(PrepareOk {
            statement_id,
            columns,
            params,
        })
    })()
    .ok_or(bad)
}

/// Forwards `part` bytes of a data packet: from the buffer if it is there, else streamed
/// through (a row larger than the buffer).
async fn pass_through(
    server: &mut PacketStream,
    client: &mut Option<&mut PacketStream>,
    pending: &mut usize,
    part: usize,
    outcome: &mut Outcome,
) -> Result<(), ForwardError> {
    if server.buffered().len() >= *pending + part {
        *pending += part;
        return Ok(());
    }
    let mut remaining = part;
    // What is buffered of this packet goes out with the examined bytes before it.
    let buffered = server.buffered().len() - *pending;
    *pending += buffered;
    remaining -= buffered;
    flush(server, client, pending, outcome).await?;
    while remaining > 0 {
        server.fill().await.map_err(ForwardError::Server)?;
        let take = remaining.min(server.buffered().len());
        *pending = take;
        remaining -= take;
        flush(server, client, pending, outcome).await?;
    }
    Ok(())
}

/// Sends the examined bytes to the client and drops them from the buffer.
async fn flush(
    server: &mut PacketStream,
    client: &mut Option<&mut PacketStream>,
    pending: &mut usize,
    outcome: &mut Outcome,
) -> Result<(), ForwardError> {
    if *pending == 0 {
        return Ok(());
    }
    if let Some(client) = client.as_deref_mut() {
        client
            .write_all(&server.buffered()[..*pending])
            .await
            .map_err(ForwardError::Client)?;
        outcome.forwarded = true;
        outcome.bytes += *pending as u64;
    }
    server.consume(*pending);
    *pending = 0;
    Ok(())
}
