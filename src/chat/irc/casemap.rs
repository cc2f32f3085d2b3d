//! IRC case mapping and name validation.
//!
//! IRC compares nicknames and channel names case-insensitively, and by RFC 1459
//! tradition `[]\~` are the uppercase forms of `{}|^` (Scandinavian keyboards put
//! them on the same keys). A server announces its mapping in ISUPPORT
//! (`CASEMAPPING=rfc1459`); clients fold names the same way, so the server must
//! fold exactly as announced. Only ASCII is folded: non-ASCII names compare as
//! they are, which is what `rfc1459` and `ascii` both specify.
//!
//! [`IrcKey`] is the key for nick and channel maps: it compares, hashes and orders
//! by the folded form and displays the name as the user wrote it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The default longest nickname, in bytes, for [`is_valid_nick`].
pub const NICK_MAX_LEN: usize = 32;

/// The default longest channel name, in bytes, prefix included, for
/// [`is_valid_channel`].
pub const CHANNEL_MAX_LEN: usize = 64;

/// How names are folded to compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CaseMapping {
    /// `A-Z` to `a-z`, and `[]\~` to `{}|^`.
    #[default]
    Rfc1459,
    /// `A-Z` to `a-z` only.
    Ascii,
}

impl CaseMapping {
    /// The name announced in ISUPPORT `CASEMAPPING=`.
    pub fn name(self) -> &'static str {
        match self {
            CaseMapping::Rfc1459 => "rfc1459",
            CaseMapping::Ascii => "ascii",
        }
    }

    /// Folds one character.
    pub fn lower_char(self, c: char) -> char {
        match (self, c) {
            (CaseMapping::Rfc1459, '[') => '{',
            (CaseMapping::Rfc1459, ']') => '}',
            (CaseMapping::Rfc1459, '\\') => '|',
            (CaseMapping::Rfc1459, '~') => '^',
            _ => c.to_ascii_lowercase(),
        }
    }

    /// Folds a name.
    pub fn lower(self, s: &str) -> String {
        s.chars().map(|c| self.lower_char(c)).collect()
    }

    /// Whether two names are the same under this mapping.
    pub fn eq(self, a: &str, b: &str) -> bool {
        a.len() == b.len()
            && a.chars()
                .zip(b.chars())
                .all(|(x, y)| self.lower_char(x) == self.lower_char(y))
    }
}

/// Folds a name with the `rfc1459` mapping.
pub fn irc_lower(s: &str) -> String {
    CaseMapping::Rfc1459.lower(s)
}

/// Whether two names are the same under the `rfc1459` mapping.
pub fn irc_eq(a: &str, b: &str) -> bool {
    CaseMapping::Rfc1459.eq(a, b)
}

/// A nickname or channel name as a map key: equal, hashed and ordered by its
/// folded form, displayed as written. It is saved as written (in cluster
/// snapshots) and folded again when read.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(from = "String", into = "String")]
pub struct IrcKey {
    name: String,
    folded: String,
}

impl IrcKey {
    /// A key folded with the `rfc1459` mapping.
    pub fn new(name: impl Into<String>) -> IrcKey {
        IrcKey::with_mapping(name, CaseMapping::Rfc1459)
    }

    /// A key folded with `mapping`. Keys of one map must share one mapping.
    pub fn with_mapping(name: impl Into<String>, mapping: CaseMapping) -> IrcKey {
        let name = name.into();
        let folded = mapping.lower(&name);
        IrcKey { name, folded }
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The folded name, the one compared.
    pub fn folded(&self) -> &str {
        &self.folded
    }
}

impl From<String> for IrcKey {
    fn from(name: String) -> IrcKey {
        IrcKey::new(name)
    }
}

impl From<IrcKey> for String {
    fn from(key: IrcKey) -> String {
        key.name
    }
}

impl PartialEq for IrcKey {
    fn eq(&self, other: &IrcKey) -> bool {
        self.folded == other.folded
    }
}

impl Eq for IrcKey {}

impl Hash for IrcKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.folded.hash(state);
    }
}

impl PartialOrd for IrcKey {
    fn partial_cmp(&self, other: &IrcKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IrcKey {
    fn cmp(&self, other: &IrcKey) -> Ordering {
        self.folded.cmp(&other.folded)
    }
}

impl fmt::Display for IrcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl From<&str> for IrcKey {
    fn from(name: &str) -> IrcKey {
        IrcKey::new(name)
    }
}

/// RFC 2812 nickname grammar with a configurable length: a letter or special
/// (`[]\`_^{|}`) first, then letters, digits, specials and `-`; at most `max_len`
/// bytes (RFC 2812 says 9, modern servers allow more; see [`NICK_MAX_LEN`]).
pub fn is_valid_nick(s: &str, max_len: usize) -> bool {
    let special = |b: u8| {
        matches!(
            b,
            b'[' | b']' | b'\\' | b'`' | b'_' | b'^' | b'{' | b'|' | b'}'
        )
    };
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((&first, rest)) => {
            bytes.len() <= max_len
                && (first.is_ascii_alphabetic() || special(first))
                && rest
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || special(b) || b == b'-')
        }
        None => false,
    }
}

/// A channel name: `#` or `&` then at least one character, none of them space,
/// comma, BEL, NUL, CR, LF or colon (RFC 2812 chanstring); at most `max_len`
/// bytes including the prefix (see [`CHANNEL_MAX_LEN`]).
pub fn is_valid_channel(s: &str, max_len: usize) -> bool {
    match s.as_bytes().split_first() {
        Some((&(b'#' | b'&'), rest)) => {
            !rest.is_empty()
                && s.len() <= max_len
                && !rest
                    .iter()
                    .any(|b| matches!(b, b' ' | b',' | 0x07 | b'\0' | b'\r' | b'\n' | b':'))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    #[test]
    fn rfc1459_folds_brackets_and_ascii_does_not() {
        assert_eq!(irc_lower("Nick[A]\\~"), "nick{a}|^");
        assert_eq!(CaseMapping::Ascii.lower("Nick[A]\\~"), "nick[a]\\~");
        assert_eq!(irc_lower("ÉCOLE"), "École", "non-ASCII is left alone");
        assert!(irc_eq("Dan[]", "dan{}"));
        assert!(!CaseMapping::Ascii.eq("Dan[]", "dan{}"));
        assert!(!irc_eq("dan", "dann"));
        assert_eq!(CaseMapping::default().name(), "rfc1459");
    }

    #[test]
    fn keys_compare_folded_and_display_as_written() {
        let mut nicks = HashMap::new();
        nicks.insert(IrcKey::new("Alice[m]"), 1);
        assert_eq!(nicks.get(&IrcKey::new("alice{M}")), Some(&1));
        let key = nicks.keys().next().unwrap();
        assert_eq!(key.to_string(), "Alice[m]");
        assert_eq!(key.folded(), "alice{m}");

        let sorted: BTreeSet<IrcKey> = ["b", "A", "c"].into_iter().map(IrcKey::from).collect();
        let names: Vec<&str> = sorted.iter().map(IrcKey::as_str).collect();
        assert_eq!(names, ["A", "b", "c"]);

        let a = IrcKey::with_mapping("X~", CaseMapping::Ascii);
        assert_ne!(a, IrcKey::with_mapping("x^", CaseMapping::Ascii));
    }

    #[test]
    fn nick_grammar() {
        for ok in ["a", "Dan", "[away]", "_x-1", "`^{|}\\", "a-"] {
            assert!(is_valid_nick(ok, NICK_MAX_LEN), "{ok}");
        }
        for bad in [
            "", "1abc", "-a", "a b", "a,b", "a!b", "a@b", "a:b", "#x", "é",
        ] {
            assert!(!is_valid_nick(bad, NICK_MAX_LEN), "{bad}");
        }
        assert!(is_valid_nick(&"a".repeat(32), NICK_MAX_LEN));
        assert!(!is_valid_nick(&"a".repeat(33), NICK_MAX_LEN));
        assert!(!is_valid_nick("abcdefghij", 9));
    }

    #[test]
    fn channel_grammar() {
        for ok in ["#a", "&local", "#rust-lang", "#émoji✓", "##"] {
            assert!(is_valid_channel(ok, CHANNEL_MAX_LEN), "{ok}");
        }
        for bad in [
            "", "#", "a", "+a", "#a b", "#a,b", "#a\x07", "#a\0", "#a\r", "#a\n", "#a:b",
        ] {
            assert!(!is_valid_channel(bad, CHANNEL_MAX_LEN), "{bad:?}");
        }
        let long = format!("#{}", "a".repeat(63));
        assert!(is_valid_channel(&long, CHANNEL_MAX_LEN));
        assert!(!is_valid_channel(&format!("{long}a"), CHANNEL_MAX_LEN));
    }
}
