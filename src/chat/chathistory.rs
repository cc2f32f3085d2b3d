//! CHATHISTORY (IRCv3 draft/chathistory): the request syntax and its errors,
//! and how a page of history is written back to one client, in a `BATCH`
//! when it enabled batches, with the tags its capabilities ask for.

use std::time::SystemTime;

use bytes::Bytes;

use super::caps::Caps;
use super::clock::{iso8601, parse_iso8601};
use super::history::{Anchor, Entry, Page};
use super::irc::Message;
use super::limits::CHATHISTORY_MAX;

/// What a CHATHISTORY command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// A page of one target's messages.
    Page { target: String, page: Page },
    /// The targets with messages between two times.
    Targets { between: (SystemTime, SystemTime) },
}

/// A CHATHISTORY command, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command {
    /// The subcommand, uppercased, for replies.
    pub sub: String,
    pub request: Request,
    /// At most [`CHATHISTORY_MAX`].
    pub limit: usize,
}

/// Why a CHATHISTORY command is refused: the `FAIL` code and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub sub: String,
    pub code: &'static str,
    pub text: &'static str,
}

impl Refused {
    /// `FAIL CHATHISTORY CODE SUB :text`.
    pub fn to_message(&self, server: &str) -> Message {
        fail(server, self.code, &[&self.sub], self.text)
    }
}

/// `FAIL CHATHISTORY CODE CONTEXT... :text`, a standard reply.
pub(crate) fn fail(server: &str, code: &str, context: &[&str], text: &str) -> Message {
    Message::new("FAIL")
        .with_source(server)
        .with_params(["CHATHISTORY", code])
        .with_params(context.iter().copied())
        .with_param(text)
}

/// Parses the parameters after `CHATHISTORY`.
pub(crate) fn parse(params: &[&str]) -> Result<Command, Refused> {
    let sub = params
        .first()
        .map_or(String::new(), |s| s.to_ascii_uppercase());
    let refuse = |code, text| Refused {
        sub: if sub.is_empty() {
            "*".to_string()
        } else {
            sub.clone()
        },
        code,
        text,
    };
    let needed = match sub.as_str() {
        "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "TARGETS" => 4,
        "BETWEEN" => 5,
        "" => return Err(refuse("NEED_MORE_PARAMS", "Missing parameters")),
        _ => return Err(refuse("UNKNOWN_COMMAND", "Unknown command")),
    };
    if params.len() < needed {
        return Err(refuse("NEED_MORE_PARAMS", "Missing parameters"));
    }
    let limit = match params[needed - 1].parse::<usize>() {
        Ok(limit) if limit > 0 => limit.min(CHATHISTORY_MAX),
        // 0 asks for as many as the server gives.
        Ok(_) => CHATHISTORY_MAX,
        Err(_) => return Err(refuse("INVALID_PARAMS", "Invalid limit")),
    };
    let bad_reference = || refuse("INVALID_PARAMS", "Invalid message reference");
    let reference = |text: &str| anchor(text).ok_or_else(bad_reference);
    let request = if sub == "TARGETS" {
        let time = |text: &str| match anchor(text) {
            Some(Anchor::Time(time)) => Ok(time),
            _ => Err(refuse("INVALID_PARAMS", "TARGETS takes timestamps")),
        };
        Request::Targets {
            between: (time(params[1])?, time(params[2])?),
        }
    } else {
        let target = params[1].to_string();
        let page = match sub.as_str() {
            "LATEST" if params[2] == "*" => Page::Latest(None),
            "LATEST" => Page::Latest(Some(reference(params[2])?)),
            "BEFORE" => Page::Before(reference(params[2])?),
            "AFTER" => Page::After(reference(params[2])?),
            "AROUND" => Page::Around(reference(params[2])?),
            _ => Page::Between(reference(params[2])?, reference(params[3])?),
        };
        Request::Page { target, page }
    };
    Ok(Command {
        sub,
        request,
        limit,
    })
}

/// `msgid=ID` or `timestamp=ISO8601`.
fn anchor(text: &str) -> Option<Anchor> {
    let (kind, value) = text.split_once('=')?;
    match kind {
        "msgid" if !value.is_empty() => Some(Anchor::MsgId(value.to_string())),
        "timestamp" => parse_iso8601(value).map(Anchor::Time),
        _ => None,
    }
}

/// Writes replies for one client: its capabilities decide the tags, and
/// whether the lines are wrapped in a batch named `batch`.
pub(crate) struct Replies {
    pub server: String,
    pub caps: Caps,
    pub batch: String,
}

impl Replies {
    /// A page of `target`'s history as the client sees it.
    pub fn page(&self, target: &str, entries: &[Entry]) -> Vec<Bytes> {
        let messages = entries.iter().map(|entry| {
            let mut message = Message::new(entry.command)
                .with_source(&entry.source)
                .with_params([target, entry.text.as_str()]);
            if self.caps.has(Caps::SERVER_TIME) || self.caps.has(Caps::MESSAGE_TAGS) {
                message = message.with_tag("time", Some(&iso8601(entry.time)));
            }
            if self.caps.has(Caps::MESSAGE_TAGS) {
                message = message.with_tag("msgid", Some(&entry.msgid));
            }
            message
        });
        self.batch("chathistory", Some(target), messages.collect())
    }

    /// `CHATHISTORY TARGETS target time` for each target found.
    pub fn targets(&self, found: &[(String, SystemTime)]) -> Vec<Bytes> {
        let messages = found.iter().map(|(target, time)| {
            Message::new("CHATHISTORY")
                .with_source(&self.server)
                .with_params([
                    "TARGETS",
                    target.as_str(),
                    &format!("timestamp={}", iso8601(*time)),
                ])
        });
        self.batch("draft/chathistory-targets", None, messages.collect())
    }

    /// The messages, between `BATCH +ref TYPE [target]` and `BATCH -ref` when
    /// the client enabled batches, each then tagged with the batch.
    fn batch(&self, kind: &str, target: Option<&str>, messages: Vec<Message>) -> Vec<Bytes> {
        if !self.caps.has(Caps::BATCH) {
            return messages.iter().map(Message::to_bytes).collect();
        }
        let open = Message::new("BATCH")
            .with_source(&self.server)
            .with_params([format!("+{}", self.batch), kind.to_string()])
            .with_params(target);
        let close = Message::new("BATCH")
            .with_source(&self.server)
            .with_param(format!("-{}", self.batch));
        let mut lines = vec![open.to_bytes()];
        for message in messages {
            lines.push(message.with_tag("batch", Some(&self.batch)).to_bytes());
        }
        lines.push(close.to_bytes());
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommands_and_references() {
        let command = parse(&["latest", "#c", "*", "50"]).unwrap();
        assert_eq!(command.sub, "LATEST");
        assert_eq!(
            command.request,
            Request::Page {
                target: "#c".to_string(),
                page: Page::Latest(None)
            }
        );
        assert_eq!(command.limit, 50);
        let command = parse(&[
            "BETWEEN",
            "#c",
            "msgid=A",
            "timestamp=2026-01-01T00:00:00.000Z",
            "9999",
        ])
        .unwrap();
        assert_eq!(command.limit, CHATHISTORY_MAX);
        assert!(matches!(
            command.request,
            Request::Page {
                page: Page::Between(Anchor::MsgId(_), Anchor::Time(_)),
                ..
            }
        ));
        let targets = parse(&[
            "TARGETS",
            "timestamp=2026-01-01T00:00:00Z",
            "timestamp=2026-01-02T00:00:00Z",
            "10",
        ]);
        assert!(matches!(targets.unwrap().request, Request::Targets { .. }));
    }

    #[test]
    fn refusals_name_their_reason() {
        let code = |params: &[&str]| parse(params).unwrap_err().code;
        assert_eq!(code(&[]), "NEED_MORE_PARAMS");
        assert_eq!(code(&["BEFORE", "#c", "msgid=A"]), "NEED_MORE_PARAMS");
        assert_eq!(code(&["SIDEWAYS", "#c", "*", "1"]), "UNKNOWN_COMMAND");
        assert_eq!(code(&["BEFORE", "#c", "*", "1"]), "INVALID_PARAMS");
        assert_eq!(code(&["BEFORE", "#c", "msgid=A", "many"]), "INVALID_PARAMS");
        assert_eq!(
            code(&["AFTER", "#c", "timestamp=yesterday", "5"]),
            "INVALID_PARAMS"
        );
        assert_eq!(
            code(&["TARGETS", "msgid=A", "msgid=B", "5"]),
            "INVALID_PARAMS"
        );
    }

    #[test]
    fn replies_follow_the_capabilities() {
        let entry = Entry {
            seq: 1,
            msgid: "ID1".to_string(),
            time: std::time::UNIX_EPOCH,
            channel: "#c".to_string(),
            source: "a!u@h".to_string(),
            command: "PRIVMSG",
            text: "hi there".to_string(),
        };
        let plain = Replies {
            server: "srv".to_string(),
            caps: Caps::default(),
            batch: "b1".to_string(),
        };
        assert_eq!(
            plain.page("#c", std::slice::from_ref(&entry)),
            [Bytes::from_static(b":a!u@h PRIVMSG #c :hi there\r\n")]
        );
        let full = Replies {
            caps: Caps::offered(true),
            ..plain
        };
        let lines = full.page("#c", &[entry]);
        assert_eq!(
            lines[0],
            Bytes::from_static(b":srv BATCH +b1 chathistory #c\r\n")
        );
        assert_eq!(
            lines[1],
            Bytes::from_static(b"@time=1970-01-01T00:00:00.000Z;msgid=ID1;batch=b1 :a!u@h PRIVMSG #c :hi there\r\n")
        );
        assert_eq!(lines[2], Bytes::from_static(b":srv BATCH -b1\r\n"));
    }
}
