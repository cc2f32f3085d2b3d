//! What the user types: a plain line is said in the current channel, a line that
//! starts with `/` is a command. Parsing is pure: it turns one line into the
//! messages to send, and the caller decides when to send them.
//!
//! `//text` says `/text` literally, so a line may start with a slash.

use crate::chat::irc::{Message, is_valid_channel};

/// The commands, as `--help` and `/help` list them.
pub const COMMANDS_HELP: &str = "\
Commands (anything else is said in the current channel; //text says /text):
  /join #chan[,#chan2] [key]   join; a channel already joined becomes the current one
  /part [#chan] [reason]       leave (default: the current channel)
  /msg TARGET text             a private message to a nick, or a message to a channel
  /me text                     an action in the current channel (CTCP ACTION)
  /nick NEWNICK                change nickname
  /names [#chan]               who is in a channel
  /topic [#chan] [text]        show the topic, or set it when text is given
  /who [mask]                  who is on a channel or matches a mask
  /quote RAW LINE              send a raw IRC line
  /quit [reason]               leave the server (end of input does the same)
  /help                        this list";

/// One parsed input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send these messages. PRIVMSG and NOTICE are also shown locally, since
    /// servers do not echo them back.
    Send(Vec<Message>),
    /// Make this channel (already joined) the current one.
    Switch(String),
    /// Leave the server with an optional reason.
    Quit(Option<String>),
    /// Print the list of commands.
    Help,
}

/// Why an input line was not understood; shown to the user, nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("not in a channel: /join #channel first, or use /msg")]
    NoChannel,
    #[error("unknown command /{0} (/help lists them)")]
    Unknown(String),
    #[error("usage: {0}")]
    Usage(&'static str),
    #[error("{0:?} is not a channel name")]
    NotAChannel(String),
    #[error("not a valid IRC line: {0}")]
    BadRaw(String),
}

/// Where the parser needs to know the client's state.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The channel plain lines go to.
    pub current: Option<&'a str>,
    /// Channels joined, to tell a switch from a join.
    pub joined: &'a [String],
}

/// The most bytes of text in one PRIVMSG. A relayed line carries the sender's
/// `nick!user@host` (up to about 100 bytes on common servers) in front of
/// `PRIVMSG target :text` within 512 bytes; longer text is split in several
/// messages rather than cut by the server.
pub fn text_budget(target: &str) -> usize {
    const PREFIX_ALLOWANCE: usize = 100;
    (512 - PREFIX_ALLOWANCE - "PRIVMSG  :\r\n".len()).saturating_sub(target.len())
}

/// Parses one input line (without its newline). `Ok(None)` for a blank line.
pub fn parse(line: &str, context: Context<'_>) -> Result<Option<Command>, InputError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    let Some(rest) = line.strip_prefix('/').filter(|rest| !rest.starts_with('/')) else {
        // A plain line, or `//text` meaning `/text`.
        let text = line.strip_prefix('/').unwrap_or(line);
        let channel = context.current.ok_or(InputError::NoChannel)?;
        return Ok(Some(Command::Send(privmsgs(channel, text))));
    };
    let (name, args) = split_word(rest);
    let name = name.to_ascii_lowercase();
    let command = match name.as_str() {
        "join" | "j" => {
            let (channels, key) = split_word(args);
            if channels.is_empty() {
                return Err(InputError::Usage("/join #chan[,#chan2] [key]"));
            }
            let channels: Vec<String> = channels.split(',').map(channel_name).collect();
            if let Some(bad) = channels.iter().find(|c| !is_valid_channel(c, usize::MAX)) {
                return Err(InputError::NotAChannel(bad.clone()));
            }
            if let [one] = &channels[..]
                && context.joined.iter().any(|c| c.eq_ignore_ascii_case(one))
            {
                return Ok(Some(Command::Switch(one.clone())));
            }
            let mut join = Message::new("JOIN").with_param(channels.join(","));
            if !key.is_empty() {
                join = join.with_param(key);
            }
            Command::Send(vec![join])
        }
        "part" | "leave" => {
            let (channel, reason) = channel_or_current(args, context)?;
            let mut part = Message::new("PART").with_param(channel);
            if !reason.is_empty() {
                part = part.with_param(reason);
            }
            Command::Send(vec![part])
        }
        "msg" | "query" => {
            let (target, text) = split_word(args);
            if target.is_empty() || text.is_empty() {
                return Err(InputError::Usage("/msg TARGET text"));
            }
            Command::Send(privmsgs(target, text))
        }
        "me" => {
            let channel = context.current.ok_or(InputError::NoChannel)?;
            if args.is_empty() {
                return Err(InputError::Usage("/me text"));
            }
            let budget = text_budget(channel) - "\u{1}ACTION \u{1}".len();
            let actions = split_text(args, budget)
                .into_iter()
                .map(|part| {
                    Message::new("PRIVMSG")
                        .with_param(channel)
                        .with_param(format!("\u{1}ACTION {part}\u{1}"))
                })
                .collect();
            Command::Send(actions)
        }
        "nick" => {
            let (nick, _) = split_word(args);
            if nick.is_empty() {
                return Err(InputError::Usage("/nick NEWNICK"));
            }
            Command::Send(vec![Message::new("NICK").with_param(nick)])
        }
        "names" => {
            let (channel, _) = channel_or_current(args, context)?;
            Command::Send(vec![Message::new("NAMES").with_param(channel)])
        }
        "topic" => {
            let (channel, text) = channel_or_current(args, context)?;
            let mut topic = Message::new("TOPIC").with_param(channel);
            if !text.is_empty() {
                topic = topic.with_param(text);
            }
            Command::Send(vec![topic])
        }
        "who" => {
            let (mask, _) = split_word(args);
            let mask = match (mask, context.current) {
                ("", Some(current)) => current,
                ("", None) => return Err(InputError::Usage("/who MASK (or /join a channel)")),
                (mask, _) => mask,
            };
            Command::Send(vec![Message::new("WHO").with_param(mask)])
        }
        "quote" | "raw" => {
            let raw =
                Message::parse(args.as_bytes()).map_err(|e| InputError::BadRaw(e.to_string()))?;
            if raw.command == "QUIT" {
                // A raw QUIT is still a quit: the server closing is then expected.
                Command::Quit(raw.params.last().cloned())
            } else {
                Command::Send(vec![raw])
            }
        }
        "quit" | "exit" => Command::Quit((!args.is_empty()).then(|| args.to_string())),
        "help" => Command::Help,
        _ => return Err(InputError::Unknown(name)),
    };
    Ok(Some(command))
}

/// `#chan` stays, `chan` becomes `#chan`: typing the `#` is easy to forget.
fn channel_name(name: &str) -> String {
    if name.starts_with(['#', '&']) {
        name.to_string()
    } else {
        format!("#{name}")
    }
}

/// An optional channel first, else the current one; then the rest of the line.
fn channel_or_current<'a>(
    args: &'a str,
    context: Context<'a>,
) -> Result<(&'a str, &'a str), InputError> {
    let (first, rest) = split_word(args);
    if first.starts_with(['#', '&']) {
        Ok((first, rest))
    } else {
        let current = context.current.ok_or(InputError::NoChannel)?;
        Ok((current, args))
    }
}

/// PRIVMSGs to `target` carrying `text`, split to fit IRC's line length.
fn privmsgs(target: &str, text: &str) -> Vec<Message> {
    split_text(text, text_budget(target))
        .into_iter()
        .map(|part| Message::new("PRIVMSG").with_param(target).with_param(part))
        .collect()
}

/// Cuts `text` into pieces of at most `max` bytes, at the last space before the
/// limit when there is one, never inside a character.
pub fn split_text(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4); // room for any one character
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = rest[..cut].rfind(' ').filter(|&at| at > 0) {
            cut = space;
        }
        pieces.push(&rest[..cut]);
        rest = rest[cut..].strip_prefix(' ').unwrap_or(&rest[cut..]);
    }
    pieces.push(rest);
    pieces
}

/// The first space-separated word and the rest, both trimmed.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.split_once(' ') {
        Some((word, rest)) => (word, rest.trim_start()),
        None => (text, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_channel(line: &str) -> Result<Option<Command>, InputError> {
        let joined = ["#rust".to_string(), "#tokio".to_string()];
        parse(
            line,
            Context {
                current: Some("#rust"),
                joined: &joined,
            },
        )
    }

    fn lines(line: &str) -> Vec<String> {
        match in_channel(line) {
            Ok(Some(Command::Send(messages))) => messages.iter().map(Message::to_line).collect(),
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn plain_lines_go_to_the_current_channel() {
        assert_eq!(lines("hello there"), ["PRIVMSG #rust :hello there"]);
        assert_eq!(lines("//etc/passwd"), ["PRIVMSG #rust /etc/passwd"]);
        assert_eq!(lines("word"), ["PRIVMSG #rust word"]);
        assert_eq!(in_channel("   "), Ok(None));
        let nowhere = Context {
            current: None,
            joined: &[],
        };
        assert_eq!(parse("hello", nowhere), Err(InputError::NoChannel));
    }

    #[test]
    fn commands_build_their_messages() {
        assert_eq!(lines("/join #a,b key"), ["JOIN #a,#b key"]);
        assert_eq!(lines("/part"), ["PART #rust"]);
        assert_eq!(lines("/part #tokio bye now"), ["PART #tokio :bye now"]);
        assert_eq!(lines("/part see you"), ["PART #rust :see you"]);
        assert_eq!(lines("/msg bob hi bob"), ["PRIVMSG bob :hi bob"]);
        assert_eq!(
            lines("/me waves"),
            ["PRIVMSG #rust :\u{1}ACTION waves\u{1}"]
        );
        assert_eq!(lines("/NICK carol"), ["NICK carol"]);
        assert_eq!(lines("/names"), ["NAMES #rust"]);
        assert_eq!(lines("/topic"), ["TOPIC #rust"]);
        assert_eq!(lines("/topic #tokio"), ["TOPIC #tokio"]);
        assert_eq!(
            lines("/topic all about rust"),
            ["TOPIC #rust :all about rust"]
        );
        assert_eq!(lines("/who"), ["WHO #rust"]);
        assert_eq!(lines("/who bob"), ["WHO bob"]);
        assert_eq!(lines("/quote MODE #rust +t"), ["MODE #rust +t"]);
        assert_eq!(
            in_channel("/quote QUIT :raw bye"),
            Ok(Some(Command::Quit(Some("raw bye".into()))))
        );
        assert_eq!(in_channel("/quit"), Ok(Some(Command::Quit(None))));
        assert_eq!(
            in_channel("/quit gone fishing"),
            Ok(Some(Command::Quit(Some("gone fishing".into()))))
        );
        assert_eq!(in_channel("/help"), Ok(Some(Command::Help)));
    }

    #[test]
    fn joining_a_joined_channel_switches_to_it() {
        assert_eq!(
            in_channel("/join #TOKIO"),
            Ok(Some(Command::Switch("#TOKIO".into())))
        );
    }

    #[test]
    fn bad_input_is_explained() {
        assert_eq!(
            in_channel("/frobnicate"),
            Err(InputError::Unknown("frobnicate".into()))
        );
        assert!(matches!(in_channel("/msg bob"), Err(InputError::Usage(_))));
        assert!(matches!(in_channel("/join"), Err(InputError::Usage(_))));
        assert!(matches!(in_channel("/nick"), Err(InputError::Usage(_))));
        assert_eq!(
            in_channel("/join #a:b"),
            Err(InputError::NotAChannel("#a:b".into()))
        );
        assert!(matches!(
            in_channel("/quote :src"),
            Err(InputError::BadRaw(_))
        ));
    }

    #[test]
    fn long_text_is_split_at_spaces_within_the_budget() {
        let word = "abcdefghi "; // 10 bytes
        let text = word.repeat(100);
        let messages = lines(&text);
        assert!(messages.len() > 1);
        let mut rejoined = Vec::new();
        for line in &messages {
            let message = Message::parse(line.as_bytes()).expect("parses");
            let part = message.param(1).expect("text");
            assert!(part.len() <= text_budget("#rust"), "{} bytes", part.len());
            rejoined.push(part.to_string());
        }
        assert_eq!(rejoined.join(" "), text);
    }

    #[test]
    fn splitting_never_cuts_a_character() {
        let text = "é".repeat(300);
        let pieces = split_text(&text, 101);
        assert!(pieces.iter().all(|p| p.len() <= 101 && !p.is_empty()));
        assert_eq!(pieces.concat(), text);
    }
}
