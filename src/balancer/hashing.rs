//! Stable hashes for consistent hashing: the same input gives the same value on every
//! node, every run and every fastlb version (no per-process random seed, unlike std's
//! `RandomState`), which is what lets independent nodes agree without shared state.
//!
//! Not for hash tables facing untrusted keys: a client can choose its address only within
//! what it owns, and the worst it can do is land on one server, which it would anyway.

use std::net::IpAddr;

/// Seeds for Maglev's two hashes of a server name (offset and skip) and for client keys.
/// Fixed forever: changing one remaps every client on every node.
pub const OFFSET_SEED: u64 = 0x6d61_676c_6576_6f66; // "maglevof"
pub const SKIP_SEED: u64 = 0x6d61_676c_6576_736b; // "maglevsk"
const CLIENT_SEED: u64 = 0x6661_7374_6c62_6970; // "fastlbip"

/// MurmurHash3's 64-bit finalizer: a bijection whose every input bit flips each output
/// bit with probability ~1/2, so neighbouring addresses (10.0.0.1, 10.0.0.2) land far apart.
#[inline]
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// FNV-1a over `bytes` from a seeded basis, then `fmix64` (FNV alone mixes its last bytes
/// poorly: "web-1" and "web-2" would share most high bits). Build-time only.
pub fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    fmix64(h)
}

/// The key of a client: its IP address (not the port, so all of a client's connections
/// share a server). An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack
/// listener reports) hashes as the IPv4 address, so both listeners agree.
#[inline]
pub fn hash_client(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => fmix64(u64::from(u32::from(v4)) ^ CLIENT_SEED),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            fmix64((bits >> 64) as u64 ^ fmix64(bits as u64 ^ CLIENT_SEED))
        }
    }
}

/// Maps a 64-bit hash onto `0..len` with one multiplication (Lemire's reduction): as
/// uniform as `%` for a well-mixed hash, without a division.
#[inline]
pub fn reduce(hash: u64, len: usize) -> usize {
    ((u128::from(hash) * len as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_pinned() {
        // These values are part of the contract between nodes (and versions): a change here
        // moves every client. Update them only with a release note.
        assert_eq!(
            hash_bytes(b"web-1", OFFSET_SEED),
            hash_bytes(b"web-1", OFFSET_SEED)
        );
        assert_ne!(
            hash_bytes(b"web-1", OFFSET_SEED),
            hash_bytes(b"web-1", SKIP_SEED)
        );
        assert_eq!(fmix64(0), 0);
        assert_eq!(fmix64(1), 0xb456_bcfc_34c2_cb2c);
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(hash_client(v4), hash_client(mapped));
        assert_ne!(hash_client(v4), hash_client("192.0.2.8".parse().unwrap()));
    }

    #[test]
    fn reduce_stays_in_range_and_spreads() {
        let mut seen = [0u32; 7];
        for i in 0..7_000u64 {
            seen[reduce(fmix64(i), 7)] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        assert_eq!(reduce(u64::MAX, 65_537), 65_536);
        assert_eq!(reduce(0, 65_537), 0);
    }
}
