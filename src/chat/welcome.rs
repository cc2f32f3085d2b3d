//! What a client is told when it registers: 001 to 005 and the message of the
//! day (the hub puts LUSERS between them), and the ISUPPORT lines VERSION repeats.

use super::clock::utc_date;
use super::config::ChatConfig;
use super::irc::numerics::*;
use super::irc::{CHANNEL_MAX_LEN, MAX_LINE, Message, NICK_MAX_LEN};
use super::limits::{
    AWAY_MAX_LEN, CHATHISTORY_MAX, MAX_CHANNEL_TARGETS, MAX_CHANNELS_PER_CLIENT, MAX_KICK_TARGETS,
    MAX_MESSAGE_TARGETS, MAX_MODES, REASON_MAX_LEN, TOPIC_MAX_LEN, USER_MAX_LEN, truncate,
};
use super::mode;
use super::server::Context;

/// The server's version, as 002, 004 and VERSION give it.
pub(crate) const VERSION: &str = concat!("netkit-", env!("CARGO_PKG_VERSION"));

/// The start of the registration burst: 001-005. The MOTD (375/372/376 or 422)
/// comes after LUSERS, which the hub adds as it counts the newcomer.
pub(crate) fn burst(ctx: &Context, nick: &str, prefix: &str) -> Vec<Message> {
    let config = &ctx.config;
    let server = config.server_name.as_str();
    let mut lines = vec![
        numeric(server, nick, RPL_WELCOME).with_param(format!(
            "Welcome to the {} Network, {prefix}",
            config.network
        )),
        numeric(server, nick, RPL_YOURHOST)
            .with_param(format!("Your host is {server}, running version {VERSION}")),
        numeric(server, nick, RPL_CREATED)
            .with_param(format!("This server was created {}", utc_date(ctx.started))),
        numeric(server, nick, RPL_MYINFO).with_params([
            server,
            VERSION,
            mode::USER_MODES,
            &mode::channel_mode_letters(),
        ]),
    ];
    lines.extend(isupport_lines(config, ctx.hub.keeps_history(), nick));
    lines
}

/// The 005 lines: the tokens, at most [`TOKENS_PER_LINE`] a line.
pub(crate) fn isupport_lines(config: &ChatConfig, history: bool, nick: &str) -> Vec<Message> {
    isupport(config, history)
        .chunks(TOKENS_PER_LINE)
        .map(|tokens| {
            numeric(&config.server_name, nick, RPL_ISUPPORT)
                .with_params(tokens.iter().cloned())
                .with_param("are supported by this server")
        })
        .collect()
}

/// How many ISUPPORT tokens one 005 line carries: with the nick and the
/// trailing text, well within the 15 parameters a line may have.
const TOKENS_PER_LINE: usize = 12;

/// The ISUPPORT tokens: what clients may rely on, each matching an enforced
/// limit; CHATHISTORY only when history is kept.
fn isupport(config: &ChatConfig, history: bool) -> Vec<String> {
    let mut tokens = vec![
        "CASEMAPPING=rfc1459".to_string(),
        "CHANTYPES=#&".to_string(),
        "PREFIX=(ov)@+".to_string(),
        mode::chanmodes_token(),
        format!("MODES={MAX_MODES}"),
        "EXCEPTS=e".to_string(),
        "INVEX=I".to_string(),
        format!("KICKLEN={REASON_MAX_LEN}"),
        format!("NICKLEN={NICK_MAX_LEN}"),
        format!("CHANNELLEN={CHANNEL_MAX_LEN}"),
        format!("TOPICLEN={TOPIC_MAX_LEN}"),
        format!("USERLEN={USER_MAX_LEN}"),
        format!("CHANLIMIT=#&:{MAX_CHANNELS_PER_CLIENT}"),
        format!(
            "TARGMAX=JOIN:{c},PART:{c},NAMES:{c},LIST:{c},PRIVMSG:{m},NOTICE:{m},KICK:{k}",
            c = MAX_CHANNEL_TARGETS,
            m = MAX_MESSAGE_TARGETS,
            k = MAX_KICK_TARGETS,
        ),
        format!("MAXTARGETS={MAX_MESSAGE_TARGETS}"),
        format!("NETWORK={}", config.network),
        format!("AWAYLEN={AWAY_MAX_LEN}"),
        // LIST takes `>N` and `<N` member-count filters.
        "ELIST=U".to_string(),
    ];
    if history {
        tokens.push(format!("CHATHISTORY={CHATHISTORY_MAX}"));
        tokens.push("MSGREFTYPES=msgid,timestamp".to_string());
    }
    tokens
}

/// 375, one 372 per line, 376; or 422 without a MOTD.
pub(crate) fn motd(config: &ChatConfig, nick: &str) -> Vec<Message> {
    let server = config.server_name.as_str();
    let Some(text) = &config.motd else {
        return vec![numeric(server, nick, ERR_NOMOTD).with_param("MOTD File is missing")];
    };
    // `:server 372 nick :- ` and CR LF, with room to spare.
    let budget = MAX_LINE - (server.len() + nick.len() + 16);
    let mut lines = vec![
        numeric(server, nick, RPL_MOTDSTART)
            .with_param(format!("- {server} Message of the day - ")),
    ];
    for line in text {
        lines.push(
            numeric(server, nick, RPL_MOTD).with_param(format!("- {}", truncate(line, budget))),
        );
    }
    lines.push(numeric(server, nick, RPL_ENDOFMOTD).with_param("End of /MOTD command."));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isupport_lines_fit_the_limits() {
        let lines = isupport_lines(&ChatConfig::default(), true, "somebody");
        assert!(lines.len() >= 2, "the tokens are split");
        for line in lines {
            assert!(line.params.len() <= 15, "{}", line.to_line());
            assert!(line.to_bytes().len() <= MAX_LINE, "{}", line.to_line());
        }
    }
}
