//! The client's loop: register, join, then read the user's lines and the
//! server's at the same time until the user quits or the connection ends.
//!
//! Input is read only once the server has welcomed us, so lines typed (or piped)
//! early wait in the input instead of reaching a server that would refuse them.
//! After QUIT (or the end of input) the server has [`QUIT_WAIT`] to close the
//! connection, which ends `join` with `Ok`; a connection that ends otherwise is
//! [`JoinError::Lost`], with the server's `ERROR` text when it sent one.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use super::command::{self, COMMANDS_HELP, Command, Context};
use super::display::{View, source_nick};
use super::input::{InputLine, InputLines, MAX_INPUT_LINE};
use super::registration::{Registration, Step};
use super::transport::{self, Stream};
use super::{JoinConfig, JoinError, clock};
use crate::chat::irc::{Frame, IrcCodec, Message, irc_eq};
use crate::net::describe_io_error;

/// How long the server has to close the connection after our QUIT.
const QUIT_WAIT: Duration = Duration::from_secs(2);

/// The QUIT reason when the user gives none.
const QUIT_REASON: &str = "Leaving";

/// Connects, registers, joins `config.channels`, then runs until the user quits
/// (`/quit`, end of `input`, or `stop` completing, such as on Ctrl-C): `Ok`.
/// Everything shown goes to `output`.
pub async fn join<I, O>(
    config: &JoinConfig,
    input: I,
    output: O,
    stop: impl Future<Output = ()>,
) -> Result<(), JoinError>
where
    I: AsyncBufRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let roots = config.tls.as_ref().map(transport::root_store).transpose()?;
    let stream = transport::connect(&config.addr, roots, config.timeout).await?;
    let (read, write) = tokio::io::split(stream);
    let registration = Registration::new(&config.nick);
    let greeting = registration.greeting(config.password.as_deref());
    let mut session = Session {
        config,
        server: write,
        output,
        view: View::new(&config.nick),
        registration: Some(registration),
        joined: Vec::new(),
        current: None,
        quit_by: None,
        last_error: None,
    };
    session.send(&greeting).await?;
    session
        .run(FramedRead::new(read, IrcCodec::new()), input, stop)
        .await
}

struct Session<'a, O> {
    config: &'a JoinConfig,
    server: WriteHalf<Box<dyn Stream>>,
    output: O,
    view: View,
    /// Until the welcome.
    registration: Option<Registration>,
    /// Channels we are in, as the server named them in our JOIN.
    joined: Vec<String>,
    /// Where plain lines go.
    current: Option<String>,
    /// Set once we sent QUIT: when to stop waiting for the server to close.
    quit_by: Option<Instant>,
    /// The text of the server's last ERROR, to say why it closed.
    last_error: Option<String>,
}

impl<O: AsyncWrite + Unpin> Session<'_, O> {
    async fn run<I: AsyncBufRead + Unpin>(
        &mut self,
        mut frames: FramedRead<tokio::io::ReadHalf<Box<dyn Stream>>, IrcCodec>,
        input: I,
        stop: impl Future<Output = ()>,
    ) -> Result<(), JoinError> {
        let mut stop = std::pin::pin!(stop);
        let welcome_by = Instant::now() + self.config.timeout;
        let mut lines = InputLines::new(input);
        let mut input_open = true;
        loop {
            let registered = self.registration.is_none();
            let quitting = self.quit_by.is_some();
            tokio::select! {
                frame = frames.next() => match frame {
                    Some(Ok(frame)) => self.on_frame(frame).await?,
                    // After our QUIT, the server closing (or resetting) is the goal.
                    _ if quitting => return Ok(()),
                    Some(Err(err)) => return Err(self.lost(describe_io_error(&err))),
                    None => {
                        let reason = self.last_error.take();
                        let reason = reason.unwrap_or_else(|| "the server closed the connection".into());
                        return Err(self.lost(reason));
                    }
                },
                line = lines.next(), if registered && input_open && !quitting => match line {
                    Ok(Some(InputLine::Line(line))) => self.on_input(&line).await?,
                    Ok(Some(InputLine::TooLong(length))) => self.print(&format!(
                        "!! a line of {length} bytes is too long to send (at most {MAX_INPUT_LINE})"
                    )).await?,
                    Ok(None) => {
                        input_open = false;
                        self.quit(None).await?;
                    }
                    Err(err) => return Err(JoinError::Input(err)),
                },
                () = &mut stop, if !quitting => {
                    // Ctrl-C: leave as politely as /quit does, even mid-registration.
                    self.quit(None).await?;
                }
                () = tokio::time::sleep_until(welcome_by), if !registered => {
                    return Err(JoinError::NoWelcome {
                        addr: self.config.addr.clone(),
                        after: self.config.timeout,
                    });
                }
                () = tokio::time::sleep_until(self.quit_by.unwrap_or(welcome_by)), if quitting => {
                    // The server kept the connection open; we are done anyway.
                    return Ok(());
                }
            }
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> Result<(), JoinError> {
        match frame {
            Frame::Line(line) => match Message::parse(&line) {
                Ok(message) => self.on_server(message).await,
                Err(err) => {
                    tracing::debug!("unparseable line from the server: {err}");
                    Ok(())
                }
            },
            // The codec dropped it; nothing a user could do about it.
            Frame::LineTooLong => {
                tracing::debug!("overlong line from the server");
                Ok(())
            }
        }
    }

    async fn on_server(&mut self, message: Message) -> Result<(), JoinError> {
        if message.command == "PING" {
            let pong = Message::new("PONG").with_params(message.params.iter().cloned());
            return self.send(&[pong]).await;
        }
        if let Some(reply) = ctcp_reply(&message) {
            self.send(&[reply]).await?;
        }
        if message.command == "ERROR" {
            self.last_error = message.params.last().cloned();
            if self.quit_by.is_some() {
                // The expected goodbye after our QUIT, not an error.
                let text = self.last_error.clone().unwrap_or_default();
                return self.print(&format!("-- {text}")).await;
            }
        }
        self.print_message(&message).await?;
        if let Some(registration) = &mut self.registration {
            match registration.on_message(&message) {
                Step::Wait => {}
                Step::Send(nick) => {
                    let next = nick.param(0).unwrap_or_default();
                    self.print(&format!("-- trying the nickname {next}"))
                        .await?;
                    self.send(&[nick]).await?;
                }
                Step::Welcomed(nick) => {
                    self.registration = None;
                    self.view.me = nick;
                    if !self.config.channels.is_empty() {
                        let join = Message::new("JOIN").with_param(self.config.channels.join(","));
                        self.current = self.config.channels.last().cloned();
                        self.send(&[join]).await?;
                    }
                }
                Step::Failed(refusal) => {
                    return Err(JoinError::Refused {
                        addr: self.config.addr.clone(),
                        refusal,
                    });
                }
            }
            return Ok(());
        }
        let from_me = message
            .source
            .as_deref()
            .is_some_and(|source| irc_eq(source_nick(source), &self.view.me));
        // The channel of JOIN, PART and KICK; the new nick of NICK.
        let first = message.param(0).unwrap_or_default().to_string();
        match message.command.as_str() {
            "JOIN" if from_me => {
                if !self.joined.iter().any(|c| irc_eq(c, &first)) {
                    self.joined.push(first.clone());
                }
                self.current = Some(first);
            }
            "PART" if from_me => self.left(&first),
            "KICK"
                if message
                    .param(1)
                    .is_some_and(|nick| irc_eq(nick, &self.view.me)) =>
            {
                self.left(&first)
            }
            "NICK" if from_me => self.view.me = first,
            _ => {}
        }
        Ok(())
    }

    async fn on_input(&mut self, line: &str) -> Result<(), JoinError> {
        let context = Context {
            current: self.current.as_deref(),
            joined: &self.joined,
        };
        match command::parse(line, context) {
            Ok(None) => Ok(()),
            Ok(Some(Command::Send(messages))) => {
                self.send(&messages).await?;
                // Servers do not echo what we say: show it as they would.
                for message in messages {
                    if matches!(message.command.as_str(), "PRIVMSG" | "NOTICE") {
                        let echo = message.with_source(self.view.me.clone());
                        self.print_message(&echo).await?;
                    }
                }
                Ok(())
            }
            Ok(Some(Command::Switch(channel))) => {
                let channel = self
                    .joined
                    .iter()
                    .find(|c| irc_eq(c, &channel))
                    .cloned()
                    .unwrap_or(channel);
                self.print(&format!("-- now talking in {channel}")).await?;
                self.current = Some(channel);
                Ok(())
            }
            Ok(Some(Command::Quit(reason))) => self.quit(reason).await,
            Ok(Some(Command::Help)) => self.write(&format!("{COMMANDS_HELP}\n")).await,
            Err(err) => self.print(&format!("!! {err}")).await,
        }
    }

    /// We are no longer in `channel`: another joined one becomes current.
    fn left(&mut self, channel: &str) {
        self.joined.retain(|c| !irc_eq(c, channel));
        if self.current.as_deref().is_some_and(|c| irc_eq(c, channel)) {
            self.current = self.joined.last().cloned();
        }
    }

    async fn quit(&mut self, reason: Option<String>) -> Result<(), JoinError> {
        let quit = Message::new("QUIT").with_param(reason.unwrap_or_else(|| QUIT_REASON.into()));
        self.quit_by = Some(Instant::now() + QUIT_WAIT);
        // The server may be gone already; we are leaving either way.
        let _ = self.send(&[quit]).await;
        Ok(())
    }

    fn lost(&self, reason: String) -> JoinError {
        JoinError::Lost {
            addr: self.config.addr.clone(),
            reason,
        }
    }

    async fn send(&mut self, messages: &[Message]) -> Result<(), JoinError> {
        let mut bytes = bytes::BytesMut::new();
        for message in messages {
            message.write_to(&mut bytes);
        }
        let sent = match self.server.write_all(&bytes).await {
            Ok(()) => self.server.flush().await,
            Err(err) => Err(err),
        };
        sent.map_err(|err| self.lost(describe_io_error(&err)))
    }

    async fn print_message(&mut self, message: &Message) -> Result<(), JoinError> {
        match self.view.show(message) {
            Some(line) => self.print(&line).await,
            None => Ok(()),
        }
    }

    /// One line with the time in front.
    async fn print(&mut self, line: &str) -> Result<(), JoinError> {
        // Control characters (colour codes, stray CTCP markers) could move the
        // cursor or garble the terminal: show them as visible symbols.
        let line: String = line
            .chars()
            .map(|c| {
                if c.is_control() {
                    char::REPLACEMENT_CHARACTER
                } else {
                    c
                }
            })
            .collect();
        self.write(&format!("{} {line}\n", clock::now())).await
    }

    async fn write(&mut self, text: &str) -> Result<(), JoinError> {
        self.output
            .write_all(text.as_bytes())
            .await
            .map_err(JoinError::Output)?;
        self.output.flush().await.map_err(JoinError::Output)
    }
}

/// The answer to a CTCP VERSION or PING request sent to us (a NOTICE, as CTCP
/// wants, so that two clients never answer each other forever).
fn ctcp_reply(message: &Message) -> Option<Message> {
    if message.command != "PRIVMSG" || message.param(0)?.starts_with(['#', '&']) {
        return None;
    }
    let body = message
        .param(1)?
        .strip_prefix('\u{1}')?
        .trim_end_matches('\u{1}');
    let answer = match body.split_once(' ').unwrap_or((body, "")) {
        ("VERSION", _) => format!("VERSION netkit {}", env!("CARGO_PKG_VERSION")),
        ("PING", token) => format!("PING {token}"),
        _ => return None,
    };
    let sender = source_nick(message.source.as_deref()?);
    Some(
        Message::new("NOTICE")
            .with_param(sender)
            .with_param(format!("\u{1}{answer}\u{1}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(line: &str) -> Option<String> {
        ctcp_reply(&Message::parse(line.as_bytes()).expect("parses")).map(|m| m.to_line())
    }

    #[test]
    fn answers_ctcp_version_and_ping_to_us_only() {
        assert_eq!(
            reply(":bob!b@h PRIVMSG alice :\u{1}VERSION\u{1}").as_deref(),
            Some(concat!(
                "NOTICE bob :\u{1}VERSION netkit ",
                env!("CARGO_PKG_VERSION"),
                "\u{1}"
            ))
        );
        assert_eq!(
            reply(":bob!b@h PRIVMSG alice :\u{1}PING 12345\u{1}").as_deref(),
            Some("NOTICE bob :\u{1}PING 12345\u{1}")
        );
        assert_eq!(reply(":bob!b@h PRIVMSG #rust :\u{1}VERSION\u{1}"), None);
        assert_eq!(reply(":bob!b@h NOTICE alice :\u{1}VERSION x\u{1}"), None);
        assert_eq!(
            reply(":bob!b@h PRIVMSG alice :\u{1}ACTION waves\u{1}"),
            None
        );
        assert_eq!(reply(":bob!b@h PRIVMSG alice :VERSION"), None);
    }
}
