//! What the server says about itself, from its settings alone: VERSION, TIME,
//! INFO, ADMIN and HELP. No shared state is read, so sessions build these
//! replies themselves (they still queue behind the lines of earlier commands).

use std::time::SystemTime;

use super::clock::utc_date;
use super::config::ChatConfig;
use super::irc::Message;
use super::irc::numerics::*;
use super::limits::{ECHOED_COMMAND_MAX_LEN, truncate};
use super::server::Context;
use super::welcome::{VERSION, isupport_lines};

/// VERSION: 351, then the ISUPPORT lines.
pub(crate) fn version(ctx: &Context, nick: &str) -> Vec<Message> {
    let config = &ctx.config;
    let server = config.server_name.as_str();
    let mut lines = vec![
        numeric(server, nick, RPL_VERSION)
            .with_params([VERSION, server])
            .with_param("netkit chat server (IRC)"),
    ];
    lines.extend(isupport_lines(config, ctx.hub.keeps_history(), nick));
    lines
}

/// TIME: 391 with the server's clock, in UTC.
pub(crate) fn time(config: &ChatConfig, nick: &str) -> Vec<Message> {
    let server = config.server_name.as_str();
    vec![
        numeric(server, nick, RPL_TIME)
            .with_param(server)
            .with_param(utc_date(SystemTime::now())),
    ]
}

/// INFO: a few 371 lines about the software and this run, then 374.
pub(crate) fn info(ctx: &Context, nick: &str) -> Vec<Message> {
    let config = &ctx.config;
    let server = config.server_name.as_str();
    let text = [
        format!("{VERSION}: the chat server of netkit, a toolkit of"),
        "asynchronous network services written in Rust on tokio.".to_string(),
        format!("Serving the {} network as {server}.", config.network),
        format!("Up since {}.", utc_date(ctx.started)),
    ];
    let mut lines: Vec<Message> = text
        .into_iter()
        .map(|line| numeric(server, nick, RPL_INFO).with_param(line))
        .collect();
    lines.push(numeric(server, nick, RPL_ENDOFINFO).with_param("End of INFO list"));
    lines
}

/// ADMIN: 256 to 259, from the server and network names (no contact address
/// is configured, and 259 says so rather than invent one).
pub(crate) fn admin(config: &ChatConfig, nick: &str) -> Vec<Message> {
    let server = config.server_name.as_str();
    vec![
        numeric(server, nick, RPL_ADMINME)
            .with_param(server)
            .with_param("Administrative info"),
        numeric(server, nick, RPL_ADMINLOC1).with_param(format!(
            "{server}, a server of the {} network",
            config.network
        )),
        numeric(server, nick, RPL_ADMINLOC2).with_param(format!("Running {VERSION}")),
        numeric(server, nick, RPL_ADMINEMAIL).with_param("No contact address is configured"),
    ]
}

/// The commands the server knows, with their syntax and a short description:
/// what HELP answers. Keep one entry per command the session dispatches.
const COMMANDS: &[(&str, &str, &str)] = &[
    ("ADMIN", "ADMIN [server]", "Who runs this server."),
    (
        "AWAY",
        "AWAY [message]",
        "With a message, marks you away: people who message you or look you up see it. Without one, marks you back.",
    ),
    (
        "CAP",
        "CAP LS|LIST|REQ|END",
        "IRCv3 capability negotiation: LS lists what the server offers, REQ enables some, END ends registration.",
    ),
    (
        "HELP",
        "HELP [command]",
        "Lists the commands, or explains one.",
    ),
    (
        "INFO",
        "INFO [server]",
        "What software this server runs and since when.",
    ),
    (
        "INVITE",
        "INVITE nick #channel",
        "Invites a user to a channel, letting them past +i (operators only on +i channels).",
    ),
    (
        "ISON",
        "ISON nick [nick ...]",
        "Which of these nicks are online now.",
    ),
    (
        "JOIN",
        "JOIN #channel{,#channel} [key{,key}] | JOIN 0",
        "Joins channels (with their keys when +k), creating those that do not exist; JOIN 0 leaves them all.",
    ),
    (
        "KICK",
        "KICK #channel nick{,nick} [:reason]",
        "Removes users from a channel (channel operators).",
    ),
    (
        "KILL",
        "KILL nick :reason",
        "Disconnects a user (IRC operators).",
    ),
    (
        "LIST",
        "LIST [#channel{,#channel}] [>N|<N]",
        "Lists channels with their member counts and topics; >N and <N keep those with more or fewer than N members.",
    ),
    (
        "LUSERS",
        "LUSERS",
        "How many users, operators and channels there are.",
    ),
    (
        "MODE",
        "MODE #channel [modes [args]] | MODE nick [modes]",
        "Shows or changes channel modes (+beIiklmnst, +o/+v) or your own (+i, +w).",
    ),
    ("MOTD", "MOTD", "The message of the day."),
    (
        "NAMES",
        "NAMES #channel{,#channel}",
        "Who is in these channels.",
    ),
    ("NICK", "NICK nick", "Sets or changes your nick."),
    (
        "NOTICE",
        "NOTICE target{,target} :text",
        "Like PRIVMSG, but never answered automatically.",
    ),
    ("OPER", "OPER name password", "Makes you an IRC operator."),
    (
        "PART",
        "PART #channel{,#channel} [:reason]",
        "Leaves channels.",
    ),
    (
        "PASS",
        "PASS password",
        "The server password, before NICK and USER.",
    ),
    (
        "PING",
        "PING token",
        "Asks the server to answer PONG with the token.",
    ),
    ("PONG", "PONG token", "Answers the server's PING."),
    (
        "PRIVMSG",
        "PRIVMSG target{,target} :text",
        "Sends a message to channels or nicks.",
    ),
    ("QUIT", "QUIT [:reason]", "Leaves the server."),
    (
        "TAGMSG",
        "TAGMSG target",
        "A message made only of client tags (typing notices, reactions), for clients with message-tags.",
    ),
    ("TIME", "TIME [server]", "The server's clock."),
    (
        "TOPIC",
        "TOPIC #channel [:text]",
        "Shows a channel's topic, or sets it (an empty text clears it).",
    ),
    (
        "USER",
        "USER username 0 * :real name",
        "Your user name and real name, at registration.",
    ),
    (
        "USERHOST",
        "USERHOST nick [nick ...]",
        "user@host of up to five nicks; * marks an operator, - someone away.",
    ),
    (
        "VERSION",
        "VERSION [server]",
        "The server's version and the features it supports.",
    ),
    (
        "WALLOPS",
        "WALLOPS :text",
        "A message to everyone with user mode +w (IRC operators).",
    ),
    (
        "WHO",
        "WHO #channel|nick",
        "The members of a channel, or one user; G in the flags means away.",
    ),
    (
        "WHOIS",
        "WHOIS nick",
        "Who a user is, where they are and whether they are away.",
    ),
    (
        "WHOWAS",
        "WHOWAS nick [count]",
        "Who last used a nick that is gone, most recent first.",
    ),
];

/// HELP: 704, 705 lines and 706 for the command index or one command; 524 for
/// a subject the server knows nothing about.
pub(crate) fn help(config: &ChatConfig, nick: &str, subject: Option<&str>) -> Vec<Message> {
    let server = config.server_name.as_str();
    let (subject, title, body) = match subject.filter(|s| !s.is_empty()) {
        None => {
            let names: Vec<&str> = COMMANDS.iter().map(|(name, ..)| *name).collect();
            let body = vec![
                format!("Commands: {}", names.join(" ")),
                "HELP <command> explains one of them.".to_string(),
            ];
            ("*".to_string(), "netkit help".to_string(), body)
        }
        Some(asked) => {
            let Some((name, usage, what)) = COMMANDS
                .iter()
                .find(|(name, ..)| name.eq_ignore_ascii_case(asked))
            else {
                return vec![
                    numeric(server, nick, ERR_HELPNOTFOUND)
                        .with_param(truncate(asked, ECHOED_COMMAND_MAX_LEN))
                        .with_param("No help available on this topic"),
                ];
            };
            (name.to_string(), usage.to_string(), vec![what.to_string()])
        }
    };
    let line = |code: &str, text: String| {
        numeric(server, nick, code)
            .with_param(&subject)
            .with_param(text)
    };
    let mut lines = vec![line(RPL_HELPSTART, title), line(RPL_HELPTXT, String::new())];
    lines.extend(body.into_iter().map(|text| line(RPL_HELPTXT, text)));
    lines.push(line(RPL_ENDOFHELP, "End of /HELP".to_string()));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::irc::{MAX_LINE, NICK_MAX_LEN};

    #[test]
    fn help_lines_fit_the_limit_for_the_longest_names() {
        let config = ChatConfig {
            server_name: "s".repeat(63),
            ..ChatConfig::default()
        };
        let nick = "n".repeat(NICK_MAX_LEN);
        let subjects = std::iter::once(None).chain(COMMANDS.iter().map(|(name, ..)| Some(*name)));
        for subject in subjects {
            for line in help(&config, &nick, subject) {
                assert!(line.to_bytes().len() <= MAX_LINE, "{}", line.to_line());
            }
        }
    }

    #[test]
    fn every_usage_starts_with_its_command_and_the_table_is_sorted() {
        for (name, usage, _) in COMMANDS {
            assert!(usage.starts_with(name), "{usage}");
        }
        assert!(COMMANDS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
