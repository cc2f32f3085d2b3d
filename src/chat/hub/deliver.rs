//! PRIVMSG and NOTICE: to channels, committed to history first when it is
//! kept, and to nicks.

use super::channel::Muted;
use super::state::State;
use super::{ClientId, Hub};
use crate::chat::event::MessageKind;
use crate::chat::history::{Entry, Item, msgid};
use crate::chat::irc::numerics::*;
use crate::chat::irc::{IrcKey, MAX_LINE, Message};
use crate::chat::limits::truncate;

impl Hub {
    /// One PRIVMSG or NOTICE to one target.
    pub(super) fn deliver(
        &self,
        state: &mut State,
        id: ClientId,
        kind: MessageKind,
        target: &str,
        text: &str,
    ) {
        let server = self.config.server_name.as_str();
        let sender = &state.clients.map[&id];
        let (nick, prefix) = (sender.nick.clone(), sender.prefix());
        let error = |code: &str, what: &str| {
            numeric(server, &nick, code)
                .with_param(target)
                .with_param(what)
        };
        let key = IrcKey::new(target);
        if target.starts_with(['#', '&']) {
            let Some(channel) = state.channels.get(&key) else {
                if kind == MessageKind::Privmsg {
                    let reply = error(ERR_NOSUCHCHANNEL, "No such channel");
                    state.clients.send_message(id, reply);
                }
                return;
            };
            if let Err(muted) = channel.may_speak(id, &prefix) {
                if kind == MessageKind::Privmsg {
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
            let text = fit_text(text, &prefix, kind.command(), &channel.name);
            let line = Message::new(kind.command())
                .with_source(&prefix)
                .with_param(&channel.name)
                .with_param(text)
                .to_bytes();
            if self.pipeline.is_none() {
                for member in channel.members.keys() {
                    if *member != id {
                        state.clients.send(*member, &line);
                    }
                }
                return;
            }
            // Stored first, delivered once committed: the fan-out is held even
            // when nothing else is pending.
            state.next_seq += 1;
            let seq = state.next_seq;
            let time = crate::chat::history::now();
            let held = state.clients.held.get_or_insert_with(Item::default);
            held.entries.push(Entry {
                seq,
                msgid: msgid(time, seq),
                time,
                channel: channel.name.clone(),
                source: prefix,
                command: kind.command(),
                text: text.to_string(),
            });
            for member in channel.members.keys() {
                if *member != id
                    && let Some(client) = state.clients.map.get(member)
                {
                    held.push(&client.out, &line, true);
                }
            }
        } else {
            let Some(&to) = state.nicks.get(&key) else {
                if kind == MessageKind::Privmsg {
                    let reply = error(ERR_NOSUCHNICK, "No such nick/channel");
                    state.clients.send_message(id, reply);
                }
                return;
            };
            let to_nick = &state.clients.map[&to].nick;
            let line = Message::new(kind.command())
                .with_source(&prefix)
                .with_param(to_nick)
                .with_param(fit_text(text, &prefix, kind.command(), to_nick))
                .to_bytes();
            state.clients.send(to, &line);
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
