//! `causal_reads: global`: the highest GTID any session's write returned, per replication
//! domain, shared by every session of a backend without a lock; and the comparison of GTID
//! positions that lets a replica connection skip a wait it already made.
//!
//! Every write passes through fastlb, and each primary connection reports its write's GTID
//! (session tracking of `last_gtid`): so fastlb knows the position a read must see without
//! asking the primary (MaxScale's `causal_reads=global` queries `@@gtid_current_pos` first).
//! MariaDB GTIDs only (`domain-server-sequence`); MySQL's UUID sets are not tracked here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};

/// Replication domains tracked (MariaDB setups use one, multi-source a few); a write in a
/// further domain is not waited for.
const DOMAINS: usize = 8;
const FREE: u64 = u64::MAX;

/// Per backend name, so that the high-water mark survives configuration reloads. Never
/// freed (one small tracker per backend name ever configured), so sessions and the response
/// relay can hold a plain `&'static` (a `Copy` reference in `Rewrite`).
static BY_BACKEND: LazyLock<Mutex<HashMap<String, &'static GlobalGtid>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

#[derive(Debug)]
struct Slot {
    domain: AtomicU64,
    server: AtomicU32,
    sequence: AtomicU64,
}

/// The highest sequence number written in each domain, by any session.
#[derive(Debug)]
pub struct GlobalGtid {
    slots: [Slot; DOMAINS],
}

/// One `domain-server-sequence` of a MariaDB GTID list.
fn parse(gtid: &[u8]) -> Option<(u32, u32, u64)> {
    let text = std::str::from_utf8(gtid).ok()?.trim();
    let mut parts = text.splitn(3, '-');
    let domain = parts.next()?.parse().ok()?;
    let server = parts.next()?.parse().ok()?;
    let sequence = parts.next()?.parse().ok()?;
    Some((domain, server, sequence))
}

/// The GTIDs of a list (`0-1-5,1-2-9`); None if any is not a MariaDB GTID.
fn parse_list(list: &[u8]) -> Option<Vec<(u32, u32, u64)>> {
    list.split(|&b| b == b',').map(parse).collect()
}

/// Whether a replica that reached `known` has applied `wanted` (every domain of `wanted`
/// at least as far in `known`). Lists that aren't MariaDB's compare as text.
pub fn covers(known: &[u8], wanted: &[u8]) -> bool {
    match (parse_list(known), parse_list(wanted)) {
        (Some(known), Some(wanted)) => wanted.iter().all(|&(domain, _, sequence)| {
            known
                .iter()
                .any(|&(d, _, reached)| d == domain && reached >= sequence)
        }),
        _ => known == wanted,
    }
}

impl GlobalGtid {
    fn new() -> Self {
        GlobalGtid {
            slots: std::array::from_fn(|_| Slot {
                domain: AtomicU64::new(FREE),
                server: AtomicU32::new(0),
                sequence: AtomicU64::new(0),
            }),
        }
    }

    /// The tracker of backend `name` (one per name for the life of the process).
    pub fn for_backend(name: &str) -> &'static GlobalGtid {
        let mut map = BY_BACKEND.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(name.to_owned())
            .or_insert_with(|| Box::leak(Box::new(GlobalGtid::new())))
    }

    /// Notes the GTID(s) a write returned.
    pub fn observe(&self, gtids: &[u8]) {
        for (domain, server, sequence) in parse_list(gtids).unwrap_or_default() {
            let Some(slot) = self.slot(domain) else {
                return;
            };
            // NOTE: fetch_max keeps the highest sequence whatever the order writes report
            // in; the server id beside it may be a concurrent writer's (a failover), which
            // MASTER_GTID_WAIT does not compare (it waits per domain, by sequence).
            if slot.sequence.fetch_max(sequence, Ordering::AcqRel) < sequence {
                slot.server.store(server, Ordering::Release);
            }
        }
    }

    /// The slot of `domain`, claimed on first use; None when every slot is taken.
    fn slot(&self, domain: u32) -> Option<&Slot> {
        let wanted = u64::from(domain);
        for slot in &self.slots {
            let current = slot.domain.load(Ordering::Acquire);
            if current == wanted {
                return Some(slot);
            }
            if current == FREE {
                match slot.domain.compare_exchange(
                    FREE,
                    wanted,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Some(slot),
                    Err(taken) if taken == wanted => return Some(slot),
                    Err(_) => {}
                }
            }
        }
        None
    }

    /// The position a read must see (`domain-server-sequence,...`), None before any write.
    pub fn position(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for slot in &self.slots {
            let domain = slot.domain.load(Ordering::Acquire);
            let sequence = slot.sequence.load(Ordering::Acquire);
            if domain == FREE || sequence == 0 {
                continue;
            }
            let server = slot.server.load(Ordering::Acquire);
            if !out.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(format!("{domain}-{server}-{sequence}").as_bytes());
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn keeps_the_highest_sequence_per_domain() {
        let global = GlobalGtid::new();
        assert_eq!(global.position(), None);
        global.observe(b"0-1-5");
        global.observe(b"0-1-3");
        global.observe(b"1-2-9");
        global.observe(b"0-1-7");
        assert_eq!(global.position().unwrap(), b"0-1-7,1-2-9");
        global.observe(b"not a gtid");
        assert_eq!(global.position().unwrap(), b"0-1-7,1-2-9");
    }

    #[test]
    fn concurrent_writers_leave_the_maximum() {
        let global = Arc::new(GlobalGtid::new());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let global = global.clone();
                std::thread::spawn(move || {
                    for n in 0..1000 {
                        global.observe(format!("0-1-{}", n * 4 + t).as_bytes());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(global.position().unwrap(), b"0-1-3999");
    }

    #[test]
    fn coverage() {
        assert!(covers(b"0-1-7,1-2-9", b"0-1-7"));
        assert!(covers(b"0-1-8", b"0-2-7"));
        assert!(!covers(b"0-1-6", b"0-1-7"));
        assert!(!covers(b"0-1-9", b"0-1-7,1-2-1"));
        assert!(covers(b"uuid:1-5", b"uuid:1-5"));
        assert!(!covers(b"uuid:1-5", b"uuid:1-6"));
    }
}
