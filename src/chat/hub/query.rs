//! Commands that read the shared state and change nothing (NAMES, WHO, WHOIS, a
//! TOPIC query, and the informational ones of [`info`](super::info)): each
//! builds its replies from the state under the hub lock, and the hub queues them
//! like any other line of the asker's.

use std::ops::RangeInclusive;

use super::channel::{Channel, Member};
use super::clients::{Client, Clients};
use super::info::{self, away_reply};
use super::{ClientId, Hub, State, modes};
use crate::chat::config::ChatConfig;
use crate::chat::history::Release;
use crate::chat::irc::numerics::*;
use crate::chat::irc::{IrcKey, MAX_LINE, Message};

/// A read-only command, its parameters checked by the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Query {
    /// TOPIC with only a channel.
    Topic { channel: String },
    /// NAMES for these channels; none gives only `366 *`.
    Names { channels: Vec<String> },
    /// WHO for a channel (its members) or a nick.
    Who { mask: String },
    /// WHOIS for one nick.
    Whois { nick: String },
    /// MODE with only a channel: its modes.
    ChannelModes { channel: String },
    /// `MODE #chan b` (or `e`, `I`): one of its mask lists.
    ModeList { channel: String, mode: char },
    /// MODE with only one's own nick.
    UserModes,
    /// LIST for these channels (all when empty) whose member count is in `users`.
    List {
        channels: Vec<String>,
        users: RangeInclusive<usize>,
    },
    /// ISON: which of these nicks are online.
    Ison { nicks: Vec<String> },
    /// USERHOST for these nicks (at most `MAX_USERHOST_NICKS`).
    Userhost { nicks: Vec<String> },
    /// WHOWAS for one nick: at most `count` entries, all when `None`.
    Whowas { nick: String, count: Option<usize> },
    /// LUSERS: how many clients, operators, channels.
    Lusers,
}

/// Who asks, for the numerics' first parameters.
pub(super) struct Asker<'a> {
    pub id: ClientId,
    pub nick: &'a str,
    pub config: &'a ChatConfig,
}

impl Asker<'_> {
    pub fn numeric(&self, code: &str) -> Message {
        numeric(&self.config.server_name, self.nick, code)
    }
}

impl Hub {
    /// Answers a read-only command into the asker's queue.
    pub(crate) fn query(&self, id: ClientId, query: Query) -> Release {
        self.after_published(Box::new(move |hub| hub.query_now(id, query)))
    }

    fn query_now(&self, id: ClientId, query: Query) -> Release {
        let mut state = self.begin();
        let Some(nick) = state.clients.map.get(&id).map(|c| c.nick.clone()) else {
            state.clients.held = None;
            return Release::done();
        };
        let asker = Asker {
            id,
            nick: &nick,
            config: &self.config,
        };
        let replies = match &query {
            Query::Topic { channel } => match state.channels.get(&IrcKey::new(channel)) {
                None => vec![
                    asker
                        .numeric(ERR_NOSUCHCHANNEL)
                        .with_param(channel)
                        .with_param("No such channel"),
                ],
                Some(chan) => topic_replies(&asker, chan),
            },
            Query::Names { channels } => names(&state, &asker, channels),
            Query::Who { mask } => who(&state, &asker, mask),
            Query::Whois { nick } => whois(&state, &asker, nick),
            Query::ChannelModes { channel } => modes::channel_modes(&state, &asker, channel),
            Query::ModeList { channel, mode } => modes::mode_list(&state, &asker, channel, *mode),
            Query::UserModes => modes::user_modes(&state, &asker),
            Query::List { channels, users } => info::list(&state, &asker, channels, users),
            Query::Ison { nicks } => info::ison(&state, &asker, nicks),
            Query::Userhost { nicks } => info::userhost(&state, &asker, nicks),
            Query::Whowas { nick, count } => info::whowas(&state, &asker, nick, *count),
            Query::Lusers => self.lusers(&state, &asker),
        };
        for reply in replies {
            state.clients.send_message(id, reply);
        }
        self.end(&mut state, id)
    }
}

fn names(state: &State, asker: &Asker, channels: &[String]) -> Vec<Message> {
    if channels.is_empty() {
        return vec![end_of_names(asker, "*")];
    }
    let mut replies = Vec::new();
    for name in channels {
        match state.channels.get(&IrcKey::new(name)) {
            Some(channel) if channel.visible_to(asker.id) => {
                replies.extend(names_replies(asker, channel, &state.clients));
            }
            _ => replies.push(end_of_names(asker, name)),
        }
    }
    replies
}

/// WHO for a channel (its members) or a nick; anything else lists no one.
fn who(state: &State, asker: &Asker, mask: &str) -> Vec<Message> {
    let server = asker.config.server_name.as_str();
    let who_reply = |client: &Client, channel: &str, member: Option<Member>| {
        let flags = format!(
            "{}{}",
            client.presence_flags(),
            member.map_or("", |m| m.prefix())
        );
        asker
            .numeric(RPL_WHOREPLY)
            .with_params([
                channel,
                &client.user,
                &client.host,
                client.server.as_deref().unwrap_or(server),
                &client.nick,
                &flags,
            ])
            .with_param(format!("0 {}", client.realname))
    };
    let key = IrcKey::new(mask);
    let mut replies = Vec::new();
    if let Some(channel) = state.channels.get(&key) {
        let member = channel.members.contains_key(&asker.id);
        // Non-members see neither a secret channel nor its invisible members.
        let shown = channel.visible_to(asker.id).then_some(&channel.members);
        for (member_id, status) in shown.into_iter().flatten() {
            if let Some(client) = state.clients.map.get(member_id)
                && (member || !client.invisible)
            {
                replies.push(who_reply(client, &channel.name, Some(*status)));
            }
        }
    } else if let Some(client) = state.nicks.get(&key).and_then(|c| state.clients.map.get(c)) {
        replies.push(who_reply(client, "*", None));
    }
    replies.push(
        asker
            .numeric(RPL_ENDOFWHO)
            .with_param(mask)
            .with_param("End of WHO list"),
    );
    replies
}

/// WHOIS for one nick: 311, 319, 312, 318, or 401 and 318.
fn whois(state: &State, asker: &Asker, target: &str) -> Vec<Message> {
    let mut replies = Vec::new();
    match state
        .nicks
        .get(&IrcKey::new(target))
        .and_then(|c| state.clients.map.get(c).map(|cl| (c, cl)))
    {
        None => replies.push(
            asker
                .numeric(ERR_NOSUCHNICK)
                .with_param(target)
                .with_param("No such nick/channel"),
        ),
        Some((target_id, client)) => {
            replies.push(
                asker
                    .numeric(RPL_WHOISUSER)
                    .with_params([&client.nick, &client.user, &client.host, "*"])
                    .with_param(&client.realname),
            );
            let mut channels: Vec<String> = client
                .channels
                .iter()
                .filter_map(|key| state.channels.get(key))
                .filter(|chan| chan.visible_to(asker.id))
                .map(|chan| {
                    let member = chan.members.get(target_id).copied().unwrap_or_default();
                    format!("{}{}", member.prefix(), chan.name)
                })
                .collect();
            channels.sort();
            if !channels.is_empty() {
                replies.push(
                    asker
                        .numeric(RPL_WHOISCHANNELS)
                        .with_param(&client.nick)
                        .with_param(channels.join(" ")),
                );
            }
            replies.push(
                asker
                    .numeric(RPL_WHOISSERVER)
                    .with_params([
                        &client.nick,
                        client
                            .server
                            .as_deref()
                            .unwrap_or(&asker.config.server_name),
                    ])
                    .with_param(&asker.config.network),
            );
            if client.oper {
                replies.push(
                    asker
                        .numeric(RPL_WHOISOPERATOR)
                        .with_param(&client.nick)
                        .with_param("is an IRC operator"),
                );
            }
            replies.extend(away_reply(asker, client));
        }
    }
    replies.push(
        asker
            .numeric(RPL_ENDOFWHOIS)
            .with_param(target)
            .with_param("End of /WHOIS list"),
    );
    replies
}

/// 332 and 333 when a topic is set, 331 otherwise.
pub(super) fn topic_replies(asker: &Asker, channel: &Channel) -> Vec<Message> {
    match &channel.topic {
        None => vec![
            asker
                .numeric(RPL_NOTOPIC)
                .with_param(&channel.name)
                .with_param("No topic is set"),
        ],
        Some(topic) => vec![
            asker
                .numeric(RPL_TOPIC)
                .with_param(&channel.name)
                .with_param(&topic.text),
            asker
                .numeric(RPL_TOPICWHOTIME)
                .with_params([&channel.name, &topic.set_by])
                .with_param(topic.set_at.to_string()),
        ],
    }
}

/// 353 lines, each within [`MAX_LINE`], then 366.
pub(super) fn names_replies(asker: &Asker, channel: &Channel, clients: &Clients) -> Vec<Message> {
    // `:server 353 nick = #chan :` and CR LF, with room to spare.
    let budget =
        MAX_LINE - (asker.config.server_name.len() + asker.nick.len() + channel.name.len() + 16);
    let mut replies = Vec::new();
    let mut names = String::new();
    let mut flush = |names: &mut String| {
        replies.push(
            asker
                .numeric(RPL_NAMREPLY)
                .with_params(["=", channel.name.as_str()])
                .with_param(std::mem::take(names)),
        );
    };
    for (id, member) in &channel.members {
        let Some(client) = clients.map.get(id) else {
            continue;
        };
        let entry = format!("{}{}", member.prefix(), client.nick);
        if !names.is_empty() && names.len() + 1 + entry.len() > budget {
            flush(&mut names);
        }
        if !names.is_empty() {
            names.push(' ');
        }
        names.push_str(&entry);
    }
    if !names.is_empty() {
        flush(&mut names);
    }
    replies.push(end_of_names(asker, &channel.name));
    replies
}

fn end_of_names(asker: &Asker, channel: &str) -> Message {
    asker
        .numeric(RPL_ENDOFNAMES)
        .with_param(channel)
        .with_param("End of /NAMES list")
}
