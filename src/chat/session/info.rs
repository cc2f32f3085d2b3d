//! The session's side of the informational and presence commands: LIST, AWAY,
//! ISON, USERHOST, WHOWAS, LUSERS, MOTD, VERSION, TIME, INFO, ADMIN and HELP. It
//! checks their parameters; what reads shared state becomes a hub [`Query`] (AWAY
//! an [`Event`]), what the server says about itself comes from [`about`] and
//! [`welcome`].

use super::Session;
use crate::chat::event::Event;
use crate::chat::hub::{ClientId, Query};
use crate::chat::irc::numerics::*;
use crate::chat::irc::{Message, irc_eq};
use crate::chat::limits::{
    AWAY_MAX_LEN, ECHOED_COMMAND_MAX_LEN, MAX_CHANNEL_TARGETS, MAX_USERHOST_NICKS, truncate,
};
use crate::chat::{about, welcome};

impl Session {
    /// Handles `command` if it is one of these; false if it is not.
    pub(super) fn informational(&self, id: ClientId, command: &str, params: &[&str]) -> bool {
        let hub = &self.ctx.hub;
        let config = &self.ctx.config;
        let nick = &self.addressee();
        // The optional parameter naming the server asked, per command.
        let server_param = match command {
            "MOTD" | "VERSION" | "TIME" | "INFO" | "ADMIN" => params.first(),
            "LIST" | "LUSERS" => params.get(1),
            "WHOWAS" => params.get(2),
            _ => None,
        };
        if let Some(target) = server_param
            && !self.names_this_server(target)
        {
            return true;
        }
        match command {
            "LIST" => {
                let query = self.list_query(params.first().copied().unwrap_or(""));
                self.hold(hub.query(id, query));
            }
            "AWAY" => {
                let text = params
                    .first()
                    .filter(|text| !text.is_empty())
                    .map(|text| truncate(text, AWAY_MAX_LEN).to_string());
                self.hold(hub.apply(id, Event::Away { text }));
            }
            "ISON" | "USERHOST" => {
                if self.required(command, params).is_none() {
                    return true;
                }
                // Nicks may come as parameters or space-separated in the last one.
                let nicks = params.iter().flat_map(|p| p.split_whitespace());
                let query = if command == "ISON" {
                    Query::Ison {
                        nicks: nicks.map(str::to_string).collect(),
                    }
                } else {
                    Query::Userhost {
                        nicks: nicks.take(MAX_USERHOST_NICKS).map(str::to_string).collect(),
                    }
                };
                self.hold(hub.query(id, query));
            }
            "WHOWAS" => match params.first().filter(|nick| !nick.is_empty()) {
                None => {
                    let reply = self
                        .numeric(ERR_NONICKNAMEGIVEN)
                        .with_param("No nickname given");
                    self.send(reply);
                }
                Some(nick) => {
                    // A count that is not a positive number asks for every entry.
                    let count = params
                        .get(1)
                        .and_then(|c| c.parse().ok())
                        .filter(|&c| c > 0);
                    // No remembered nick is longer than this: the cut changes no answer.
                    let nick = truncate(nick, ECHOED_COMMAND_MAX_LEN).to_string();
                    self.hold(hub.query(id, Query::Whowas { nick, count }));
                }
            },
            "LUSERS" => self.hold(hub.query(id, Query::Lusers)),
            "MOTD" => self.send_all(welcome::motd(config, nick)),
            "VERSION" => self.send_all(about::version(&self.ctx, nick)),
            "TIME" => self.send_all(about::time(config, nick)),
            "INFO" => self.send_all(about::info(&self.ctx, nick)),
            "ADMIN" => self.send_all(about::admin(config, nick)),
            "HELP" => self.send_all(about::help(config, nick, params.first().copied())),
            _ => return false,
        }
        true
    }

    /// LIST's first parameter: channel names, and ELIST `>N` / `<N` filters on
    /// the member count, comma-separated.
    fn list_query(&self, list: &str) -> Query {
        let (mut fewest, mut most) = (0, usize::MAX);
        let mut channels = Vec::new();
        for item in self.targets(list, MAX_CHANNEL_TARGETS, false) {
            let bound = |prefix| {
                item.strip_prefix(prefix)
                    .and_then(|n| n.parse::<usize>().ok())
            };
            if let Some(n) = bound('>') {
                fewest = fewest.max(n.saturating_add(1));
            } else if let Some(n) = bound('<') {
                match n.checked_sub(1) {
                    Some(below) => most = most.min(below),
                    // Fewer than no members: nothing matches.
                    None => (fewest, most) = (1, 0),
                }
            } else {
                channels.push(item.to_string());
            }
        }
        Query::List {
            channels,
            users: fewest..=most,
        }
    }

    /// Whether a server parameter names this server, `*`, or a client here
    /// (which RFC 2812 reads as "that client's server"); otherwise answers 402.
    fn names_this_server(&self, target: &str) -> bool {
        let server = &self.ctx.config.server_name;
        if target == "*" || irc_eq(target, server) || self.ctx.hub.nick_in_use(target) {
            return true;
        }
        let reply = self
            .numeric(ERR_NOSUCHSERVER)
            .with_param(truncate(target, ECHOED_COMMAND_MAX_LEN))
            .with_param("No such server");
        self.send(reply);
        false
    }

    fn send_all(&self, lines: Vec<Message>) {
        for line in lines {
            self.send(line);
        }
    }
}
