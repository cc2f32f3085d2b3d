//! How server lines look on the terminal: one readable line per event, without
//! the time (the caller puts `HH:MM ` in front). Pure, so every format is unit
//! tested:
//!
//! ```text
//! #chan <nick> text             a channel message (also our own, shown locally)
//! #chan * nick waves            an action (CTCP ACTION)
//! *nick* text                   a private message to us
//! -> *nick* text                a private message we sent
//! -nick- text / #chan -nick- t  a notice
//! #chan --> nick joined         joins, parts, kicks, topics, names
//! -- text                       server information (welcome, MOTD, WHO, ...)
//! !! 433 nick: text             errors: 4xx/5xx numerics and ERROR
//! ```
//!
//! The view keeps the little state formatting needs: our nick (to tell private
//! messages and our own echoes apart) and NAMES replies collected until their end.

use std::collections::HashMap;

use crate::chat::irc::{Message, irc_eq, irc_lower};

/// Formats server messages; see the module doc for the shapes.
#[derive(Debug, Default)]
pub struct View {
    /// Our nick, as the server knows it.
    pub me: String,
    /// NAMES replies (353) per folded channel name, until their 366.
    names: HashMap<String, Vec<String>>,
}

impl View {
    pub fn new(me: &str) -> View {
        View {
            me: me.to_string(),
            names: HashMap::new(),
        }
    }

    /// The lines to print for one message from the server (or one of our own
    /// PRIVMSG/NOTICE echoed locally); none for PING, PONG and replies that only
    /// matter together with a later one.
    pub fn show(&mut self, message: &Message) -> Option<String> {
        let nick = message.source.as_deref().map(source_nick).unwrap_or("*");
        let param = |i: usize| message.param(i).unwrap_or("");
        let last = message.params.last().map(String::as_str).unwrap_or("");
        let line = match message.command.as_str() {
            "PRIVMSG" | "NOTICE" => self.talk(message, nick),
            "JOIN" => format!("{} --> {nick} joined", param(0)),
            "PART" => format!("{} <-- {nick} left{}", param(0), reason(message.param(1))),
            "KICK" => format!(
                "{} <-- {} was kicked by {nick}{}",
                param(0),
                param(1),
                reason(message.param(2))
            ),
            "QUIT" => format!("<-- {nick} quit{}", reason(message.param(0))),
            "NICK" => format!("-- {nick} is now known as {}", param(0)),
            "TOPIC" => format!("{} -- {nick} set the topic: {}", param(0), param(1)),
            "MODE" => format!("-- {nick} sets mode {}", message.params.join(" ")),
            "INVITE" => format!("-- {nick} invites you to {}", param(1)),
            "ERROR" => format!("!! ERROR: {last}"),
            "PING" | "PONG" | "CAP" => return None,
            code if is_numeric(code) => return self.numeric(code, message),
            other => format!("-- {other} {}", message.params.join(" ")),
        };
        Some(line)
    }

    fn talk(&self, message: &Message, nick: &str) -> String {
        let target = message.param(0).unwrap_or("");
        let text = message.param(1).unwrap_or("");
        let notice = message.command == "NOTICE";
        let to_channel = target.starts_with(['#', '&', '!', '+']);
        let from_me = irc_eq(nick, &self.me);
        let ctcp = text
            .strip_prefix('\u{1}')
            .map(|rest| rest.trim_end_matches('\u{1}'));
        let action = match ctcp.map(|body| body.split_once(' ').unwrap_or((body, ""))) {
            Some(("ACTION", action)) => Some(action),
            // Another CTCP request (VERSION, PING...) or a reply to one.
            Some((kind, rest)) if notice => {
                return format!("-- CTCP {kind} reply from {nick}: {rest}");
            }
            Some((kind, _)) => return format!("-- {nick} sent a CTCP {kind} request"),
            None => None,
        };
        let (who, text) = match (action, notice) {
            (Some(action), false) => (format!("* {nick}"), action),
            (_, true) => (format!("-{nick}-"), text),
            (None, false) if to_channel => (format!("<{nick}>"), text),
            (None, false) => (format!("*{nick}*"), text),
        };
        if to_channel {
            format!("{target} {who} {text}")
        } else if from_me && !irc_eq(target, &self.me) {
            // Our own message to someone, shown locally.
            format!("-> *{target}* {text}")
        } else {
            format!("{who} {text}")
        }
    }

    fn numeric(&mut self, code: &str, message: &Message) -> Option<String> {
        // The first parameter is our nick; the rest is the reply.
        let args = message.params.get(1..).unwrap_or(&[]);
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        let line = match code {
            // 353: `= #chan :nick1 @nick2` (RFC 1459 servers leave out the `=`),
            // collected until 366.
            "353" => {
                let [.., channel, names] = args else {
                    return None;
                };
                let list = self.names.entry(irc_lower(channel)).or_default();
                list.extend(names.split_whitespace().map(str::to_string));
                return None;
            }
            "366" => {
                let mut names = self.names.remove(&irc_lower(arg(0))).unwrap_or_default();
                // Servers list members in no particular order: operators, then
                // voiced, then the rest, each alphabetically, as clients show them.
                names.sort_by_key(|name| {
                    let rank = match name.chars().next() {
                        Some('~' | '&' | '@') => 0,
                        Some('%') => 1,
                        Some('+') => 2,
                        _ => 3,
                    };
                    (
                        rank,
                        irc_lower(name.trim_start_matches(['~', '&', '@', '%', '+'])),
                    )
                });
                format!("{} -- names: {}", arg(0), names.join(" "))
            }
            "332" => format!("{} -- topic: {}", arg(0), arg(1)),
            "331" => format!("{} -- no topic", arg(0)),
            "333" => format!("{} -- topic set by {}", arg(0), source_nick(arg(1))),
            // 352: `#chan user host server nick flags :hops realname`.
            "352" => {
                let realname = arg(6).split_once(' ').map_or("", |(_, name)| name);
                format!(
                    "-- who {} {} {}@{} ({realname})",
                    arg(0),
                    arg(4),
                    arg(1),
                    arg(2)
                )
            }
            "315" | "318" | "376" | "375" | "005" => return None,
            // "MOTD File is missing" is not an error.
            "422" => format!("-- {}", arg(0)),
            _ if code.starts_with(['4', '5']) => {
                // `!! 433 alice: Nickname is already in use`: the subject, then why.
                let (subject, text) = match args {
                    [] => (String::new(), ""),
                    [text] => (String::new(), text.as_str()),
                    [subject @ .., text] => (format!(" {}:", subject.join(" ")), text.as_str()),
                };
                format!("!! {code}{subject} {text}")
            }
            _ => format!("-- {}", args.join(" ")),
        };
        Some(line)
    }
}

/// `nick` from `nick!user@host` (or the whole source: a server name).
pub fn source_nick(source: &str) -> &str {
    source.split(['!', '@']).next().unwrap_or(source)
}

fn is_numeric(command: &str) -> bool {
    command.len() == 3 && command.bytes().all(|b| b.is_ascii_digit())
}

fn reason(text: Option<&str>) -> String {
    match text {
        Some(text) if !text.is_empty() => format!(" ({text})"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(line: &str) -> Option<String> {
        View::new("alice").show(&Message::parse(line.as_bytes()).expect("test line parses"))
    }

    fn shown(line: &str) -> String {
        show(line).unwrap_or_else(|| panic!("{line:?} shows nothing"))
    }

    #[test]
    fn messages_and_actions() {
        assert_eq!(
            shown(":bob!b@h PRIVMSG #rust :hi all"),
            "#rust <bob> hi all"
        );
        assert_eq!(shown(":alice PRIVMSG #rust :mine"), "#rust <alice> mine");
        assert_eq!(
            shown(":bob!b@h PRIVMSG #rust :\u{1}ACTION waves\u{1}"),
            "#rust * bob waves"
        );
        assert_eq!(shown(":bob!b@h PRIVMSG alice :psst"), "*bob* psst");
        assert_eq!(shown(":alice PRIVMSG bob :psst"), "-> *bob* psst");
        assert_eq!(shown(":bob!b@h NOTICE alice :note"), "-bob- note");
        assert_eq!(
            shown(":irc.local NOTICE * :*** Looking up"),
            "-irc.local- *** Looking up"
        );
        assert_eq!(shown(":bob!b@h NOTICE #rust :hey"), "#rust -bob- hey");
        assert_eq!(
            shown(":bob!b@h PRIVMSG alice :\u{1}VERSION\u{1}"),
            "-- bob sent a CTCP VERSION request"
        );
        assert_eq!(
            shown(":bob!b@h NOTICE alice :\u{1}VERSION irssi 1.4\u{1}"),
            "-- CTCP VERSION reply from bob: irssi 1.4"
        );
    }

    #[test]
    fn membership_and_nicks() {
        assert_eq!(shown(":bob!b@h JOIN #rust"), "#rust --> bob joined");
        assert_eq!(shown(":bob!b@h PART #rust"), "#rust <-- bob left");
        assert_eq!(
            shown(":bob!b@h PART #rust :bye"),
            "#rust <-- bob left (bye)"
        );
        assert_eq!(
            shown(":bob!b@h QUIT :Quit: gone"),
            "<-- bob quit (Quit: gone)"
        );
        assert_eq!(
            shown(":bob!b@h NICK robert"),
            "-- bob is now known as robert"
        );
        assert_eq!(
            shown(":op!o@h KICK #rust bob :spam"),
            "#rust <-- bob was kicked by op (spam)"
        );
        assert_eq!(
            shown(":bob!b@h TOPIC #rust :new"),
            "#rust -- bob set the topic: new"
        );
    }

    #[test]
    fn names_are_collected_until_their_end() {
        let mut view = View::new("alice");
        let mut feed = |line: &str| view.show(&Message::parse(line.as_bytes()).expect("parses"));
        assert_eq!(feed(":s 353 alice = #rust :@alice bob"), None);
        assert_eq!(feed(":s 353 alice #rust :Carol +dave"), None);
        assert_eq!(
            feed(":s 366 alice #Rust :End of /NAMES list.").as_deref(),
            Some("#Rust -- names: @alice +dave bob Carol")
        );
        assert_eq!(
            feed(":s 366 alice #empty :End").as_deref(),
            Some("#empty -- names: ")
        );
    }

    #[test]
    fn server_replies_and_errors() {
        assert_eq!(
            shown(":s 001 alice :Welcome to the net"),
            "-- Welcome to the net"
        );
        assert_eq!(shown(":s 372 alice :- be nice"), "-- - be nice");
        assert_eq!(
            shown(":s 332 alice #rust :the topic"),
            "#rust -- topic: the topic"
        );
        assert_eq!(
            shown(":s 331 alice #rust :No topic is set"),
            "#rust -- no topic"
        );
        assert_eq!(
            shown(":s 352 alice #rust ~bob host s bob H :0 Bob B"),
            "-- who #rust bob ~bob@host (Bob B)"
        );
        assert_eq!(
            shown(":s 433 * alice :Nickname is already in use"),
            "!! 433 alice: Nickname is already in use"
        );
        assert_eq!(
            shown(":s 451 * :You have not registered"),
            "!! 451 You have not registered"
        );
        assert_eq!(
            shown(":s 401 alice nobody :No such nick/channel"),
            "!! 401 nobody: No such nick/channel"
        );
        assert_eq!(shown("ERROR :Closing link"), "!! ERROR: Closing link");
        assert_eq!(
            shown(":s 422 alice :MOTD File is missing"),
            "-- MOTD File is missing"
        );
        assert_eq!(show("PING :x"), None);
        assert_eq!(show(":s 315 alice #rust :End of WHO"), None);
    }
}
