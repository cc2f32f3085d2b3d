//! Registering with a server: what to send first, and what each reply before the
//! welcome (001) means. Pure: [`Registration::on_message`] says what to do next,
//! the caller does the I/O.
//!
//! A nick in use (433, or 437 "temporarily unavailable") is retried with `_`
//! appended, a few times; a nick the server refuses (432) or a wrong password
//! (464) ends the attempt with a clear reason, as does `ERROR`.

use crate::chat::irc::Message;

/// How many times `_` is appended before giving up on a taken nick.
const MAX_NICK_RETRIES: usize = 5;

/// Why registration failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 432: the nick breaks the server's rules (length, characters).
    #[error("the server refused the nickname {nick:?}: {reason}")]
    Nick { nick: String, reason: String },
    /// Every nick tried is taken.
    #[error("the nicknames {first:?} to {last:?} are all in use")]
    NickInUse { first: String, last: String },
    /// 464, or `ERROR` before the welcome.
    #[error("the server refused the connection: {0}")]
    Server(String),
}

/// What to do after a reply during registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing yet.
    Wait,
    /// Send this (another NICK).
    Send(Message),
    /// Registered under this nick (the one the server's welcome names).
    Welcomed(String),
    /// Give up.
    Failed(Refusal),
}

/// The state between connecting and the welcome.
#[derive(Debug)]
pub struct Registration {
    first: String,
    nick: String,
    retries: usize,
}

impl Registration {
    pub fn new(nick: &str) -> Registration {
        Registration {
            first: nick.to_string(),
            nick: nick.to_string(),
            retries: 0,
        }
    }

    /// The opening lines: PASS (when there is a password), NICK, USER.
    pub fn greeting(&self, password: Option<&str>) -> Vec<Message> {
        let mut lines = Vec::new();
        if let Some(password) = password {
            lines.push(Message::new("PASS").with_param(password));
        }
        lines.push(Message::new("NICK").with_param(&self.nick));
        lines.push(Message::new("USER").with_params([
            self.nick.as_str(),
            "0",
            "*",
            "netkit chat join",
        ]));
        lines
    }

    /// What one message from the server means for registration. PING is the
    /// caller's business, at every stage.
    pub fn on_message(&mut self, message: &Message) -> Step {
        let last = || message.params.last().cloned().unwrap_or_default();
        match message.command.as_str() {
            "001" => Step::Welcomed(message.param(0).unwrap_or(&self.nick).to_string()),
            "433" | "437" if self.retries < MAX_NICK_RETRIES => {
                self.retries += 1;
                self.nick.push('_');
                Step::Send(Message::new("NICK").with_param(&self.nick))
            }
            "433" | "437" => Step::Failed(Refusal::NickInUse {
                first: self.first.clone(),
                last: self.nick.clone(),
            }),
            "432" => Step::Failed(Refusal::Nick {
                nick: self.nick.clone(),
                reason: last(),
            }),
            "464" | "ERROR" => Step::Failed(Refusal::Server(last())),
            _ => Step::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(registration: &mut Registration, line: &str) -> Step {
        registration.on_message(&Message::parse(line.as_bytes()).expect("test line parses"))
    }

    #[test]
    fn greets_with_pass_nick_and_user() {
        let lines: Vec<String> = Registration::new("alice")
            .greeting(Some("secret"))
            .iter()
            .map(Message::to_line)
            .collect();
        assert_eq!(
            lines,
            [
                "PASS secret",
                "NICK alice",
                "USER alice 0 * :netkit chat join"
            ]
        );
        assert_eq!(Registration::new("bob").greeting(None).len(), 2);
    }

    #[test]
    fn a_taken_nick_gets_underscores_then_the_welcome_names_it() {
        let mut registration = Registration::new("alice");
        assert_eq!(
            reply(
                &mut registration,
                ":s 433 * alice :Nickname is already in use"
            ),
            Step::Send(Message::new("NICK").with_param("alice_"))
        );
        assert_eq!(reply(&mut registration, ":s NOTICE * :hello"), Step::Wait);
        assert_eq!(
            reply(&mut registration, ":s 001 alice_ :Welcome"),
            Step::Welcomed("alice_".into())
        );
    }

    #[test]
    fn gives_up_after_a_few_taken_nicks() {
        let mut registration = Registration::new("bob");
        for _ in 0..MAX_NICK_RETRIES {
            assert!(matches!(
                reply(&mut registration, ":s 433 * x :in use"),
                Step::Send(_)
            ));
        }
        assert_eq!(
            reply(&mut registration, ":s 433 * x :in use"),
            Step::Failed(Refusal::NickInUse {
                first: "bob".into(),
                last: "bob_____".into()
            })
        );
    }

    #[test]
    fn refusals_say_why() {
        let mut registration = Registration::new("alice");
        assert_eq!(
            reply(&mut registration, ":s 432 * alice :Erroneous nickname"),
            Step::Failed(Refusal::Nick {
                nick: "alice".into(),
                reason: "Erroneous nickname".into()
            })
        );
        assert_eq!(
            reply(&mut registration, ":s 464 * :Password incorrect"),
            Step::Failed(Refusal::Server("Password incorrect".into()))
        );
        assert_eq!(
            reply(&mut registration, "ERROR :Server is full"),
            Step::Failed(Refusal::Server("Server is full".into()))
        );
    }
}
