//! Message ids: unique, sortable by time, 26 characters.
//!
//! 128 bits written in Crockford base32, like a ULID: 48 bits of milliseconds
//! since the Unix epoch, then the 64-bit sequence number (unique within one store,
//! and it continues after a restart), then 16 random bits chosen once per process
//! so that two servers or two in-memory runs started in the same millisecond
//! still differ.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The id of message `seq`, sent at `time`.
pub fn msgid(time: SystemTime, seq: u64) -> String {
    encode(time, seq, salt())
}

/// The id of message `seq` in a cluster, where every node must compute the
/// same id for the same message: no salt.
pub fn cluster_msgid(time: SystemTime, seq: u64) -> String {
    encode(time, seq, 0)
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
    *SALT.get_or_init(|| RandomState::new().hash_one(std::process::id()) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
}
