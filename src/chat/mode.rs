//! MODE syntax: the mode letters the server knows, which of them take a
//! parameter, and the parsing of `+o-v+l alice bob 10` into single changes.
//! What the changes mean and who may make them is the hub's business.

use super::event::ModeChange;

/// Channel modes that are lists of masks (`CHANMODES` type A): bans,
/// exceptions, invitation exceptions.
pub(crate) const LIST_MODES: &str = "beI";
/// Channel modes with a parameter when set and unset (type B): the key.
pub(crate) const KEY_MODES: &str = "k";
/// Channel modes with a parameter only when set (type C): the member limit.
pub(crate) const LIMIT_MODES: &str = "l";
/// Channel flags (type D).
pub(crate) const FLAG_MODES: &str = "imnst";
/// Member statuses, in `PREFIX` order: operator, voice.
pub(crate) const MEMBER_MODES: &str = "ov";
/// User modes: invisible, operator, wallops.
pub(crate) const USER_MODES: &str = "iow";

/// The `CHANMODES` ISUPPORT token.
pub(crate) fn chanmodes_token() -> String {
    format!("CHANMODES={LIST_MODES},{KEY_MODES},{LIMIT_MODES},{FLAG_MODES}")
}

/// All channel mode letters, for 004.
pub(crate) fn channel_mode_letters() -> String {
    let mut letters: Vec<char> = [LIST_MODES, KEY_MODES, LIMIT_MODES, FLAG_MODES, MEMBER_MODES]
        .concat()
        .chars()
        .collect();
    letters.sort_unstable();
    letters.into_iter().collect()
}

/// A channel MODE's modestring and parameters, taken apart.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ChannelModes {
    /// The changes, in order.
    pub changes: Vec<ModeChange>,
    /// List modes given without a mask (`MODE #c b`): show the list.
    pub lists: Vec<char>,
    /// Letters the server does not know (472 each).
    pub unknown: Vec<char>,
}

/// Parses a channel modestring. Changes that need a parameter and have none
/// (or a malformed one) are skipped, as most servers do; at most `max` changes
/// with parameters are kept, the rest ignored (announced as `MODES`).
pub(crate) fn parse_channel(modestring: &str, args: &[&str], max: usize) -> ChannelModes {
    let mut parsed = ChannelModes::default();
    let mut args = args.iter().copied();
    let mut set = true;
    let mut with_params = 0;
    for mode in modestring.chars() {
        let arg = match mode {
            '+' | '-' => {
                set = mode == '+';
                continue;
            }
            _ if LIST_MODES.contains(mode) => match args.next() {
                Some(mask) => Some(mask.to_string()),
                None => {
                    if !parsed.lists.contains(&mode) {
                        parsed.lists.push(mode);
                    }
                    continue;
                }
            },
            _ if MEMBER_MODES.contains(mode) => match args.next() {
                Some(nick) => Some(nick.to_string()),
                None => continue,
            },
            _ if KEY_MODES.contains(mode) => match (set, args.next()) {
                (true, Some(key)) if valid_key(key) => Some(key.to_string()),
                (true, _) => continue,
                // Unsetting takes a parameter too, whatever it says; the
                // change is shown as `-k *`.
                (false, _) => Some("*".to_string()),
            },
            _ if LIMIT_MODES.contains(mode) => match set {
                true => match args.next().and_then(|l| l.parse::<u32>().ok()) {
                    Some(limit) if limit > 0 => Some(limit.to_string()),
                    _ => continue,
                },
                false => None,
            },
            _ if FLAG_MODES.contains(mode) => None,
            _ => {
                parsed.unknown.push(mode);
                continue;
            }
        };
        if arg.is_some() {
            if with_params == max {
                continue;
            }
            with_params += 1;
        }
        parsed.changes.push(ModeChange { set, mode, arg });
    }
    parsed
}

/// Parses a user modestring: the known changes, and the unknown letters.
pub(crate) fn parse_user(modestring: &str) -> (Vec<ModeChange>, Vec<char>) {
    let (mut changes, mut unknown) = (Vec::new(), Vec::new());
    let mut set = true;
    for mode in modestring.chars() {
        match mode {
            '+' | '-' => set = mode == '+',
            _ if USER_MODES.contains(mode) => changes.push(ModeChange {
                set,
                mode,
                arg: None,
            }),
            _ => unknown.push(mode),
        }
    }
    (changes, unknown)
}

/// A key is one word that cannot break a JOIN line: no spaces, commas or
/// control characters, at most 32 bytes.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 32
        && !key.chars().any(|c| c == ',' || c == ' ' || c.is_control())
}

/// Changes as one MODE line's modestring and parameters: `+ov-k a b *`.
pub(crate) fn describe(changes: &[ModeChange]) -> (String, Vec<String>) {
    let mut modestring = String::new();
    let mut params = Vec::new();
    let mut sign = None;
    for change in changes {
        if sign != Some(change.set) {
            modestring.push(if change.set { '+' } else { '-' });
            sign = Some(change.set);
        }
        modestring.push(change.mode);
        if let Some(arg) = &change.arg {
            params.push(arg.clone());
        }
    }
    (modestring, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(set: bool, mode: char, arg: Option<&str>) -> ModeChange {
        ModeChange {
            set,
            mode,
            arg: arg.map(str::to_string),
        }
    }

    #[test]
    fn parameters_are_taken_in_order() {
        let parsed = parse_channel("+o-v+lk", &["alice", "bob", "10", "secret"], 6);
        assert_eq!(
            parsed.changes,
            [
                change(true, 'o', Some("alice")),
                change(false, 'v', Some("bob")),
                change(true, 'l', Some("10")),
                change(true, 'k', Some("secret")),
            ]
        );
        assert!(parsed.unknown.is_empty() && parsed.lists.is_empty());
    }

    #[test]
    fn lists_unknown_letters_and_bad_parameters() {
        let parsed = parse_channel("+bXl-k", &["zero"], 6);
        // `b` took `zero` as its mask; `l` had nothing left.
        assert_eq!(
            parsed.changes,
            [
                change(true, 'b', Some("zero")),
                change(false, 'k', Some("*"))
            ]
        );
        assert_eq!(parsed.unknown, ['X']);
        let parsed = parse_channel("b", &[], 6);
        assert_eq!(parsed.lists, ['b']);
        let parsed = parse_channel("+l", &["-3"], 6);
        assert!(parsed.changes.is_empty());
        let parsed = parse_channel("+k", &["has,comma"], 6);
        assert!(parsed.changes.is_empty());
    }

    #[test]
    fn at_most_max_changes_with_parameters() {
        let parsed = parse_channel("+vvvn", &["a", "b", "c"], 2);
        assert_eq!(parsed.changes.len(), 3);
        assert_eq!(parsed.changes[2], change(true, 'n', None));
    }

    #[test]
    fn described_changes_group_signs() {
        let changes = [
            change(true, 'o', Some("a")),
            change(true, 'v', Some("b")),
            change(false, 'k', Some("*")),
            change(true, 't', None),
        ];
        let (modestring, params) = describe(&changes);
        assert_eq!(modestring, "+ov-k+t");
        assert_eq!(params, ["a", "b", "*"]);
    }

    #[test]
    fn user_modes() {
        let (changes, unknown) = parse_user("+iw-oZ");
        assert_eq!(
            changes,
            [
                change(true, 'i', None),
                change(true, 'w', None),
                change(false, 'o', None)
            ]
        );
        assert_eq!(unknown, ['Z']);
        assert_eq!(channel_mode_letters(), "Ibeiklmnostv");
    }
}
