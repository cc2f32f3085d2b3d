//! The informational and presence commands that read shared state: LIST,
//! ISON, USERHOST, WHOWAS and LUSERS (answered through [`Hub::query`]), and AWAY,
//! the one presence change (an event, applied like any other, and told to the
//! peers that enabled `away-notify`).
//!
//! Replies built from a list of names (ISON, USERHOST) stop at what fits in one
//! line: clients expect exactly one such reply per command.

use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;

use super::channel::Channel;
use super::clients::Client;
use super::query::Asker;
use super::{ClientId, Hub, State};
use crate::chat::caps::Caps;
use crate::chat::clock::utc_date;
use crate::chat::cluster::node_of;
use crate::chat::irc::numerics::*;
use crate::chat::irc::{IrcKey, MAX_LINE, Message};
use crate::chat::limits::LIST_MAX_CHANNELS;

/// Counts a connection as not registered yet (253 in LUSERS) while it is held:
/// a session holds one from its start until it registers.
pub(crate) struct Unregistered(Arc<AtomicUsize>);

impl Drop for Unregistered {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Hub {
    /// A guard that counts one more unregistered connection until dropped.
    pub(crate) fn count_unregistered(&self) -> Unregistered {
        self.unregistered.fetch_add(1, Relaxed);
        Unregistered(self.unregistered.clone())
    }

    /// 251 to 255, 265 and 266: what LUSERS answers, and what ends the welcome.
    pub(super) fn lusers(&self, state: &State, asker: &Asker) -> Vec<Message> {
        let users = state.clients.map.len();
        // Counted when asked rather than kept up to date on every change: LUSERS
        // is rare next to the changes, and a pass over the clients is cheap.
        let opers = state.clients.map.values().filter(|c| c.oper).count();
        let invisible = state.clients.map.values().filter(|c| c.invisible).count();
        let local = state
            .clients
            .map
            .values()
            .filter(|c| c.out.is_some())
            .count();
        // In a cluster, the nodes with users, this one included.
        let mut nodes: HashSet<u32> = state.clients.map.keys().map(|&id| node_of(id)).collect();
        nodes.insert(self.node());
        let servers = nodes.len();
        let peak = state.peak_clients;
        vec![
            asker.numeric(RPL_LUSERCLIENT).with_param(format!(
                "There are {} users and {invisible} invisible on {servers} servers",
                users - invisible
            )),
            asker
                .numeric(RPL_LUSEROP)
                .with_param(opers.to_string())
                .with_param("operator(s) online"),
            asker
                .numeric(RPL_LUSERUNKNOWN)
                .with_param(self.unregistered.load(Relaxed).to_string())
                .with_param("unknown connection(s)"),
            asker
                .numeric(RPL_LUSERCHANNELS)
                .with_param(state.channels.len().to_string())
                .with_param("channels formed"),
            asker.numeric(RPL_LUSERME).with_param(format!(
                "I have {local} clients and {} servers",
                servers - 1
            )),
            asker
                .numeric(RPL_LOCALUSERS)
                .with_params([local.to_string(), peak.to_string()])
                .with_param(format!("Current local users {local}, max {peak}")),
            asker
                .numeric(RPL_GLOBALUSERS)
                .with_params([users.to_string(), peak.to_string()])
                .with_param(format!("Current global users {users}, max {peak}")),
        ]
    }
}

impl State {
    /// AWAY: sets or clears the away message, confirms with 306 or 305, and
    /// tells the peers that asked for `away-notify`.
    pub(super) fn set_away(&mut self, server: &str, id: ClientId, text: Option<String>) {
        let Some(client) = self.clients.map.get_mut(&id) else {
            return;
        };
        let (code, what) = match text {
            Some(_) => (RPL_NOWAWAY, "You have been marked as being away"),
            None => (RPL_UNAWAY, "You are no longer marked as being away"),
        };
        client.away = text;
        let reply = numeric(server, &client.nick, code).with_param(what);
        let line = away_line(client);
        self.clients.send_message(id, reply);
        for peer in self.peers(id) {
            self.tell_away_notify(peer, &line);
        }
    }

    /// After `id` joined the channel `key`: its members with `away-notify`
    /// learn at once that the newcomer is away, as the capability asks.
    pub(super) fn tell_away_on_join(&mut self, id: ClientId, key: &IrcKey) {
        let Some(client) = self.clients.map.get(&id).filter(|c| c.away.is_some()) else {
            return;
        };
        let line = away_line(client);
        let members: Vec<ClientId> = self.channels[key].members.keys().copied().collect();
        for member in members.into_iter().filter(|m| *m != id) {
            self.tell_away_notify(member, &line);
        }
    }

    fn tell_away_notify(&mut self, to: ClientId, line: &Bytes) {
        if self
            .clients
            .map
            .get(&to)
            .is_some_and(|c| c.caps.has(Caps::AWAY_NOTIFY))
        {
            self.clients.send(to, line);
        }
    }
}

/// `:nick!user@host AWAY :text` while away, `:nick!user@host AWAY` once back.
fn away_line(client: &Client) -> Bytes {
    let line = Message::new("AWAY").with_source(client.prefix());
    match &client.away {
        Some(text) => line.with_param(text),
        None => line,
    }
    .to_bytes()
}

/// 301 for a client that is away: after a PRIVMSG to it, and in WHOIS.
pub(super) fn away_reply(asker: &Asker, client: &Client) -> Option<Message> {
    let text = client.away.as_deref()?;
    Some(
        asker
            .numeric(RPL_AWAY)
            .with_param(&client.nick)
            .with_param(text),
    )
}

/// LIST: 321, a 322 per channel shown, 323. Without names, every channel (in
/// name order); with names, those that exist. Only channels whose member count
/// is in `users` (the ELIST `>N` and `<N` filters), at most [`LIST_MAX_CHANNELS`].
pub(super) fn list(
    state: &State,
    asker: &Asker,
    names: &[String],
    users: &RangeInclusive<usize>,
) -> Vec<Message> {
    let channels: Vec<&Channel> = if names.is_empty() {
        let mut all: Vec<(&IrcKey, &Channel)> = state.channels.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter().map(|(_, channel)| channel).collect()
    } else {
        names
            .iter()
            .filter_map(|name| state.channels.get(&IrcKey::new(name.as_str())))
            .collect()
    };
    let mut replies = vec![
        asker
            .numeric(RPL_LISTSTART)
            .with_param("Channel")
            .with_param("Users  Name"),
    ];
    let shown = channels
        .into_iter()
        .filter(|channel| channel.visible_to(asker.id) && users.contains(&channel.members.len()))
        .take(LIST_MAX_CHANNELS);
    for channel in shown {
        let topic = channel.topic.as_ref().map_or("", |t| t.text.as_str());
        replies.push(
            asker
                .numeric(RPL_LIST)
                .with_params([channel.name.clone(), channel.members.len().to_string()])
                .with_param(topic),
        );
    }
    replies.push(asker.numeric(RPL_LISTEND).with_param("End of /LIST"));
    replies
}

/// ISON: 303 with the nicks that are online, spelled as their owners do.
pub(super) fn ison(state: &State, asker: &Asker, nicks: &[String]) -> Vec<Message> {
    let online = nicks
        .iter()
        .filter_map(|nick| online(state, nick))
        .map(|client| client.nick.clone());
    vec![asker.numeric(RPL_ISON).with_param(one_line(asker, online))]
}

/// USERHOST: 302 with `nick[*]=(+|-)user@host` for each nick online: `*` for
/// an operator, `-` when away.
pub(super) fn userhost(state: &State, asker: &Asker, nicks: &[String]) -> Vec<Message> {
    let entries = nicks
        .iter()
        .filter_map(|nick| online(state, nick))
        .map(|c| {
            let oper = if c.oper { "*" } else { "" };
            let here = if c.away.is_some() { '-' } else { '+' };
            format!("{}{oper}={here}{}@{}", c.nick, c.user, c.host)
        });
    vec![
        asker
            .numeric(RPL_USERHOST)
            .with_param(one_line(asker, entries)),
    ]
}

/// WHOWAS: 314 and 312 (when the nick was given up) per entry, most recent
/// first, at most `count` of them; or 406. Then 369.
pub(super) fn whowas(
    state: &State,
    asker: &Asker,
    nick: &str,
    count: Option<usize>,
) -> Vec<Message> {
    let server = asker.config.server_name.as_str();
    let mut replies = Vec::new();
    for entry in state.whowas.find(nick).take(count.unwrap_or(usize::MAX)) {
        replies.push(
            asker
                .numeric(RPL_WHOWASUSER)
                .with_params([&entry.nick, &entry.user, &entry.host, "*"])
                .with_param(&entry.realname),
        );
        let left = utc_date(UNIX_EPOCH + Duration::from_secs(entry.left_at));
        replies.push(
            asker
                .numeric(RPL_WHOISSERVER)
                .with_params([&entry.nick, server])
                .with_param(left),
        );
    }
    if replies.is_empty() {
        replies.push(
            asker
                .numeric(ERR_WASNOSUCHNICK)
                .with_param(nick)
                .with_param("There was no such nickname"),
        );
    }
    replies.push(
        asker
            .numeric(RPL_ENDOFWHOWAS)
            .with_param(nick)
            .with_param("End of WHOWAS"),
    );
    replies
}

fn online<'s>(state: &'s State, nick: &str) -> Option<&'s Client> {
    let id = state.nicks.get(&IrcKey::new(nick))?;
    state.clients.map.get(id)
}

/// `items` separated by spaces, as many as fit after `:server CODE nick :` in
/// one line; the rest are left out.
fn one_line(asker: &Asker, items: impl Iterator<Item = String>) -> String {
    // `:server 302 nick :` and CR LF, with room to spare.
    let budget = MAX_LINE - (asker.config.server_name.len() + asker.nick.len() + 16);
    let mut line = String::new();
    for item in items {
        let needed = if line.is_empty() { 0 } else { 1 } + item.len();
        if line.len() + needed > budget {
            break;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&item);
    }
    line
}
