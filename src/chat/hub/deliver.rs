//! PRIVMSG, NOTICE and TAGMSG: to channels, committed to history first when it
//! is kept, and to nicks; each receiver gets the form its capabilities ask for.

use std::cell::OnceCell;
use std::time::SystemTime;

use bytes::Bytes;

use super::channel::Muted;
use super::info::away_reply;
use super::query::Asker;
use super::state::State;
use super::{ClientId, Hub};
use crate::chat::caps::Caps;
use crate::chat::clock::iso8601;
use crate::chat::event::{MessageKind, Tag};
use crate::chat::history::{Entry, Item};
use crate::chat::irc::numerics::*;
use crate::chat::irc::{IrcKey, MAX_LINE, Message};
use crate::chat::limits::truncate;

/// One message in the forms clients may get, each serialized once, when the
/// first client that needs it comes up: plain, with `time` (server-time), and
/// with every tag (message-tags).
pub(super) struct Tagged<'a> {
    message: Message,
    time: SystemTime,
    msgid: &'a str,
    client_tags: &'a [Tag],
    plain: OnceCell<Bytes>,
    timed: OnceCell<Bytes>,
    full: OnceCell<Bytes>,
}

impl<'a> Tagged<'a> {
    fn new(message: Message, time: SystemTime, msgid: &'a str, client_tags: &'a [Tag]) -> Self {
        Tagged {
            message,
            time,
            msgid,
            client_tags,
            plain: OnceCell::new(),
            timed: OnceCell::new(),
            full: OnceCell::new(),
        }
    }

    /// The form a client with `caps` gets, if any (a TAGMSG goes only to
    /// clients with message-tags).
    fn for_caps(&self, caps: Caps) -> Option<&Bytes> {
        let time = || iso8601(self.time);
        if caps.has(Caps::MESSAGE_TAGS) {
            Some(self.full.get_or_init(|| {
                let mut full = self
                    .message
                    .clone()
                    .with_tag("time", Some(&time()))
                    .with_tag("msgid", Some(self.msgid));
                for (key, value) in self.client_tags {
                    full = full.with_tag(key.as_str(), value.as_deref());
                }
                full.to_bytes()
            }))
        } else if self.message.command == "TAGMSG" {
            None
        } else if caps.has(Caps::SERVER_TIME) {
            let timed = || {
                self.message
                    .clone()
                    .with_tag("time", Some(&time()))
                    .to_bytes()
            };
            Some(self.timed.get_or_init(timed))
        } else {
            Some(self.plain.get_or_init(|| self.message.to_bytes()))
        }
    }
}

impl Hub {
    /// One PRIVMSG, NOTICE or TAGMSG to one target. Every message gets a
    /// msgid and a time; a channel's PRIVMSG and NOTICE are also stored, and
    /// delivered only once committed.
    pub(super) fn deliver(
        &self,
        state: &mut State,
        id: ClientId,
        kind: MessageKind,
        target: &str,
        text: &str,
        client_tags: &[Tag],
    ) {
        let server = self.config.server_name.as_str();
        let sender = &state.clients.map[&id];
        let (nick, prefix) = (sender.nick.clone(), sender.prefix());
        let echo = sender.caps.has(Caps::ECHO_MESSAGE);
        // A NOTICE is never answered with an error (RFC 2812 3.3.2).
        let answer = kind != MessageKind::Notice;
        let error = |code: &str, what: &str| {
            numeric(server, &nick, code)
                .with_param(target)
                .with_param(what)
        };
        let key = IrcKey::new(target);
        let channel_target = target.starts_with(['#', '&']);
        let mut away = None;
        let (to_name, receivers): (String, Vec<ClientId>) = if channel_target {
            let Some(channel) = state.channels.get(&key) else {
                if answer {
                    let reply = error(ERR_NOSUCHCHANNEL, "No such channel");
                    state.clients.send_message(id, reply);
                }
                return;
            };
            if let Err(muted) = channel.may_speak(id, &prefix) {
                if answer {
                    let why = match muted {
                        Muted::NotMember => "Cannot send to channel (no external messages)",
                        Muted::Moderated => "Cannot send to channel (+m)",
                        Muted::Banned => "Cannot send to channel (you are banned)",
                    };
                    let reply = error(ERR_CANNOTSENDTOCHAN, why);
                    state.clients.send_message(id, reply);
                }
                return;
            }
            let members = channel.members.keys().copied();
            (channel.name.clone(), members.filter(|m| *m != id).collect())
        } else {
            let Some(&to) = state.nicks.get(&key) else {
                if answer {
                    let reply = error(ERR_NOSUCHNICK, "No such nick/channel");
                    state.clients.send_message(id, reply);
                }
                return;
            };
            let receiver = &state.clients.map[&to];
            // Whoever writes to an away client is told so; only PRIVMSG is answered.
            if kind == MessageKind::Privmsg {
                let asker = Asker {
                    id,
                    nick: &nick,
                    config: &self.config,
                };
                away = away_reply(&asker, receiver);
            }
            (receiver.nick.clone(), vec![to])
        };
        let mut message = Message::new(kind.command())
            .with_source(&prefix)
            .with_param(&to_name);
        let text = fit_text(text, &prefix, kind.command(), &to_name);
        if kind != MessageKind::Tagmsg {
            message = message.with_param(text);
        }
        let (seq, time, msgid) = state.stamp.next_message(&mut state.next_seq);
        let line = Tagged::new(message, time, &msgid, client_tags);
        // Stored first, delivered once committed: the fan-out is held even
        // when nothing else is pending.
        let stored = channel_target && kind != MessageKind::Tagmsg && self.pipeline.is_some();
        if stored {
            let held = state.clients.held.get_or_insert_with(Item::default);
            held.entries.push(Entry {
                seq,
                msgid: msgid.clone(),
                time,
                channel: to_name,
                source: prefix,
                command: kind.command(),
                text: text.to_string(),
            });
        }
        if kind != MessageKind::Tagmsg {
            self.metrics.relayed(receivers.len());
        }
        let echoed = echo.then_some(id);
        if let Some(held) = &mut state.clients.held {
            held.receivers_hint = receivers.len() + usize::from(echo);
        }
        for receiver in receivers.into_iter().chain(echoed) {
            state
                .clients
                .send_chosen(receiver, stored, |caps| line.for_caps(caps));
        }
        if let Some(reply) = away {
            state.clients.send_message(id, reply);
        }
    }
}

/// Cuts `text` so that `:PREFIX COMMAND TARGET :TEXT` and CR LF fit in
/// [`MAX_LINE`]: a client may send a full 512-byte line, and relaying it with the
/// sender's prefix in front must not make a line other clients reject.
fn fit_text<'t>(text: &'t str, prefix: &str, command: &str, target: &str) -> &'t str {
    let overhead = 1 + prefix.len() + 1 + command.len() + 1 + target.len() + 2 + 2;
    truncate(text, MAX_LINE.saturating_sub(overhead))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayed_lines_fit_the_limit() {
        // Spaces make the serializer add the `:` that the budget must count.
        let text = "x ".repeat(300);
        let prefix = "nick!user@127.0.0.1";
        let fitted = fit_text(&text, prefix, "PRIVMSG", "#chan");
        assert!(fitted.len() > 400);
        let line = Message::new("PRIVMSG")
            .with_source(prefix)
            .with_param("#chan")
            .with_param(fitted)
            .to_bytes();
        assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
    }
}
