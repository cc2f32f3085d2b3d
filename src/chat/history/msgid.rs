//! Message ids: unique, sortable by time, 26 characters.
//!
//! 128 bits written in Crockford base32, like a ULID: 48 bits of milliseconds
//! since the Unix epoch, then the 64-bit sequence number (unique within one store,
//! and it continues after a restart), then 16 random bits chosen once per process
//! so that two servers or two in-memory runs started in the same millisecond
//! still differ.
//!
//! In a cluster every node stores the same entries, so their ids must not
//! depend on the node: [`cluster_msgid`] leaves the random bits zero, and
//! [`decode`] reads the time and sequence number back out of any id.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The id of message `seq`, sent at `time`.
pub fn msgid(time: SystemTime, seq: u64) -> String {
    encode(time, seq, salt())
}

/// The id of message `seq`, sent at `time`, the same on every node of a
/// cluster.
pub fn cluster_msgid(time: SystemTime, seq: u64) -> String {
    encode(time, seq, 0)
}

/// The time (milliseconds since the Unix epoch) and sequence number of an id;
/// `None` for anything that is not 26 Crockford base32 digits (either case)
/// holding 128 bits.
pub fn decode(msgid: &str) -> Option<(u64, u64)> {
    let bits = bits(msgid)?;
    Some(((bits >> 80) as u64, (bits >> 16) as u64))
}

/// Whether an id was made with [`cluster_msgid`] (from the cluster's log)
/// rather than by one server on its own.
pub fn is_cluster_msgid(msgid: &str) -> bool {
    bits(msgid).is_some_and(|bits| bits & 0xffff == 0)
}

fn bits(msgid: &str) -> Option<u128> {
    if msgid.len() != 26 {
        return None;
    }
    let mut bits: u128 = 0;
    for (i, byte) in msgid.bytes().enumerate() {
        let digit = ALPHABET
            .iter()
            .position(|&b| b == byte.to_ascii_uppercase())?;
        // The first digit carries only the top 3 bits.
        if i == 0 && digit > 7 {
            return None;
        }
        bits = (bits << 5) | digit as u128;
    }
    Some(bits)
}

fn encode(time: SystemTime, seq: u64, salt: u16) -> String {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        & ((1 << 48) - 1);
    let bits = (u128::from(millis) << 80) | (u128::from(seq) << 16) | u128::from(salt);
    // 26 digits of 5 bits hold 130 bits: the first digit carries the top 3.
    (0..26)
        .rev()
        .map(|digit| ALPHABET[((bits >> (digit * 5)) & 31) as usize] as char)
        .collect()
}

fn salt() -> u16 {
    static SALT: OnceLock<u16> = OnceLock::new();
    // The standard library seeds each `RandomState` from the OS.
    // Never 0, which marks a cluster's ids.
    *SALT.get_or_init(|| (RandomState::new().hash_one(std::process::id()) as u16).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cluster_ids_are_told_apart() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        assert!(is_cluster_msgid(&cluster_msgid(t, 5 << 8)));
        assert!(!is_cluster_msgid(&msgid(t, 5)));
        assert!(!is_cluster_msgid("not an id"));
    }

    #[test]
    fn ids_are_26_characters_and_sort_by_time_then_sequence() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let a = msgid(t, 1);
        let b = msgid(t, 2);
        let c = msgid(t + Duration::from_millis(1), 0);
        assert_eq!(a.len(), 26);
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)), "{a}");
        assert!(a < b && b < c, "{a} {b} {c}");
    }

    #[test]
    fn cluster_ids_are_the_same_everywhere_and_decode_back() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let seq = (41 << 8) | 3;
        let id = cluster_msgid(t, seq);
        assert_eq!(id, cluster_msgid(t, seq));
        assert_eq!(decode(&id), Some((1_700_000_000_123, seq)));
        assert_eq!(decode(&id.to_lowercase()), Some((1_700_000_000_123, seq)));
        // The random bits of a single server's id do not change what it says.
        assert_eq!(decode(&msgid(t, seq)), Some((1_700_000_000_123, seq)));
        let top = UNIX_EPOCH + Duration::from_millis((1 << 48) - 1);
        assert_eq!(
            decode(&cluster_msgid(top, u64::MAX)),
            Some(((1 << 48) - 1, u64::MAX))
        );
    }

    #[test]
    fn decode_refuses_what_is_not_an_id() {
        let id = cluster_msgid(UNIX_EPOCH, 7);
        assert_eq!(decode(&id), Some((0, 7)));
        assert_eq!(decode(&id[1..]), None);
        assert_eq!(decode(&format!("{id}0")), None);
        assert_eq!(decode(&format!("U{}", &id[1..])), None); // U is not a digit
        assert_eq!(decode(&format!("8{}", &id[1..])), None); // past 128 bits
        assert_eq!(decode(""), None);
        assert_eq!(decode("é"), None);
    }
}
