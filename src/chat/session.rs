//! One client's session: registration, then commands turned into hub events.
//!
//! A session reads [`Frame`]s and writes lines into its [`Outbound`] queue; it
//! never sees a socket, so TCP, TLS and WebSocket transports can all carry it.
//! It handles one line completely (checks, event, replies) before it reads the
//! next, which keeps replies in the order of the commands. When the hub holds a
//! command's lines for a history commit, the session reads on (up to
//! `MAX_HELD_COMMANDS` held commands), and its own replies queue behind the held
//! lines until they are released.
//!
//! What a session checks itself (parameters, name syntax, target counts) it
//! answers itself; what depends on shared state (a nick in use, a channel one is
//! not on) the hub answers, into the same queue.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::caps::Caps;
use super::chathistory;
use super::cluster::Claimed;
use super::event::{Event, MessageKind, Tag};
use super::flood::Bucket;
use super::history::Release;
use super::hub::{ClientId, NickInUse, Query, Registering, Registration, Unregistered};
use super::irc::numerics::*;
use super::irc::{
    CHANNEL_MAX_LEN, Frame, Message, NICK_MAX_LEN, irc_eq, is_valid_channel, is_valid_nick,
};
use super::limits::{
    ECHOED_COMMAND_MAX_LEN, MAX_CHANNEL_TARGETS, MAX_CLIENT_TAGS, MAX_HELD_COMMANDS,
    MAX_KICK_TARGETS, MAX_MESSAGE_TARGETS, MAX_MODES, REALNAME_MAX_LEN, REASON_MAX_LEN,
    USER_MAX_LEN, truncate,
};
use super::metrics::Disconnect;
use super::mode;
use super::outbound::Outbound;
use super::server::Context;
use super::welcome;

mod info;

/// Whether a registered client is still there: after `interval` without a line
/// it is sent a PING, and after as long again without one it is dropped. Each
/// line only records the time; the timer is re-armed when it fires, so traffic
/// costs no timer updates.
struct Liveness {
    interval: Duration,
    last_heard: Instant,
    pinged: bool,
}

enum Check {
    /// Heard from recently: look again then.
    Wait(Instant),
    /// Quiet for an interval: PING sent, look again then.
    Ping(Instant),
    /// Quiet through a PING and its interval, this long in all.
    Dead(Duration),
}

impl Liveness {
    fn new(interval: Duration) -> Liveness {
        Liveness {
            interval,
            last_heard: Instant::now(),
            pinged: false,
        }
    }

    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.pinged = false;
    }

    fn check(&mut self) -> Check {
        let now = Instant::now();
        let due = self.last_heard + self.interval;
        if now < due {
            Check::Wait(due)
        } else if !self.pinged {
            self.pinged = true;
            Check::Ping(now + self.interval)
        } else if now < due + self.interval {
            Check::Wait(due + self.interval)
        } else {
            Check::Dead(now - self.last_heard)
        }
    }
}

/// How a session ended, and so what its last line is.
enum End {
    /// QUIT, end of stream, a read or write error, a ping timeout: peers see
    /// `QUIT :reason`.
    Quit(String, Disconnect),
    /// Its queue overflowed: the hub removed it and queued the ERROR already.
    Overflowed,
    /// An operator's KILL: the hub removed it and closed its queue already.
    Killed,
    /// Server shutdown.
    Shutdown,
    /// Closed before registering, with this ERROR text.
    Refused(&'static str, Disconnect),
}

enum Stage {
    Registering(Pending),
    /// Registered as client `id`; its nick is the hub's to know (in a cluster
    /// a NICK takes effect once the log gives it back).
    Registered {
        id: ClientId,
    },
}

/// What a client has said so far during registration.
#[derive(Default)]
struct Pending {
    password: Option<String>,
    nick: Option<String>,
    user: Option<(String, String)>,
    /// `CAP LS` was sent: registration waits for `CAP END`.
    negotiating: bool,
    /// Counts this connection in LUSERS until it registers.
    unregistered: Option<Unregistered>,
}

pub(crate) struct Session {
    ctx: Arc<Context>,
    out: Outbound,
    host: String,
    stage: Stage,
    /// The IRCv3 capabilities the client enabled.
    caps: Caps,
    /// Releases of this session's held lines not known to be done, oldest
    /// first; they complete in this order. A cell because replies are sent
    /// from `&self`.
    held: RefCell<VecDeque<Release>>,
    /// In a cluster, a registration waiting for the log to say whether its
    /// nick was free; no line is read meanwhile.
    /// Boxed: every connected client's task holds this field.
    claim: Option<Box<(oneshot::Receiver<Claimed>, String)>>,
}

impl Session {
    pub(crate) fn new(ctx: Arc<Context>, out: Outbound, peer: IpAddr) -> Session {
        let pending = Pending {
            unregistered: Some(ctx.hub.count_unregistered()),
            ..Pending::default()
        };
        Session {
            ctx,
            out,
            host: peer.to_string(),
            stage: Stage::Registering(pending),
            caps: Caps::default(),
            held: RefCell::new(VecDeque::new()),
            claim: None,
        }
    }

    /// Runs the session until the client leaves, its queue overflows or the server
    /// shuts down; then starts closing the queue with the right last line, and
    /// gives why the client left.
    pub(crate) async fn run<S>(mut self, mut frames: S) -> Disconnect
    where
        S: Stream<Item = io::Result<Frame>> + Unpin,
    {
        let registration = tokio::time::sleep(self.ctx.config.registration_timeout);
        tokio::pin!(registration);
        let mut liveness = Liveness::new(self.ctx.config.ping_interval);
        let quiet = tokio::time::sleep(liveness.interval);
        tokio::pin!(quiet);
        let mut flood = self.ctx.config.flood.map(Bucket::new);
        let throttle = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(throttle);
        let mut throttled = false;
        let ctx = self.ctx.clone();
        let out = self.out.clone();
        let end = loop {
            let registered = matches!(self.stage, Stage::Registered { .. });
            tokio::select! {
                frame = frames.next(), if !throttled && self.claim.is_none() => {
                    liveness.heard();
                    if let Some(bucket) = &mut flood {
                        bucket.take();
                        if let Some(at) = bucket.next_line_at() {
                            throttle.as_mut().reset(at);
                            throttled = true;
                        }
                    }
                    if let Some(end) = self.on_frame(frame) {
                        break end;
                    }
                    let oldest = {
                        let held = self.held.get_mut();
                        while held.front_mut().is_some_and(Release::is_done) {
                            held.pop_front();
                        }
                        if held.len() >= MAX_HELD_COMMANDS { held.pop_front() } else { None }
                    };
                    if let Some(oldest) = oldest {
                        oldest.wait().await;
                    }
                }
                claimed = async { (&mut self.claim.as_mut().expect("claiming").0).await },
                    if self.claim.is_some() =>
                {
                    let (_, nick) = *self.claim.take().expect("claiming");
                    match claimed {
                        Ok(result) => self.registered(result, &nick),
                        // Never written to the log (Redis lost it).
                        Err(_) => break End::Refused("Network unavailable", Disconnect::Error),
                    }
                }
                _ = out.closing() => {
                    break if out.overflowed() {
                        End::Overflowed
                    } else if out.was_closed() {
                        End::Killed
                    } else {
                        End::Quit("Write error".to_string(), Disconnect::Error)
                    };
                }
                // Over its flood budget: the next line is read once it is due.
                _ = &mut throttle, if throttled => throttled = false,
                _ = ctx.draining.cancelled() => break End::Shutdown,
                _ = &mut registration, if !registered => {
                    break End::Refused("Registration timed out", Disconnect::Timeout);
                }
                _ = &mut quiet, if registered => match liveness.check() {
                    Check::Wait(until) => quiet.as_mut().reset(until),
                    Check::Ping(until) => {
                        let server = &self.ctx.config.server_name;
                        self.send(Message::new("PING").with_source(server).with_param(server));
                        quiet.as_mut().reset(until);
                    }
                    Check::Dead(silent) => {
                        let reason = format!("Ping timeout: {} seconds", silent.as_secs());
                        break End::Quit(reason, Disconnect::Timeout);
                    }
                },
            }
        };
        // Boxed: the leaving path's state stays out of the future that every
        // connected client holds for as long as it stays.
        Box::pin(self.finish(end)).await
    }

    /// Handles what the transport delivered; `Some` ends the session.
    fn on_frame(&mut self, frame: Option<io::Result<Frame>>) -> Option<End> {
        match frame {
            Some(Ok(Frame::Line(line))) => self.handle_line(&line),
            Some(Ok(Frame::LineTooLong)) => {
                // The codec dropped the line; the session goes on.
                let reply = self
                    .numeric(ERR_INPUTTOOLONG)
                    .with_param("Input line was too long");
                self.send(reply);
                None
            }
            Some(Err(err)) => {
                let why = crate::net::describe_io_error(&err);
                Some(End::Quit(format!("Read error: {why}"), Disconnect::Error))
            }
            None => Some(End::Quit("Connection closed".to_string(), Disconnect::Quit)),
        }
    }

    /// Says goodbye as `end` requires; gives why the client left.
    async fn finish(self, end: End) -> Disconnect {
        // What earlier commands owe this client goes out before its last line.
        let last_held = self.held.borrow_mut().pop_back();
        if let Some(release) = last_held {
            release.wait().await;
        }
        let id = match self.stage {
            Stage::Registered { id, .. } => Some(id),
            Stage::Registering(_) => None,
        };
        let (last, why) = match end {
            End::Quit(reason, why) => {
                if let Some(id) = id {
                    let quit = Event::Quit {
                        reason: reason.clone(),
                    };
                    self.ctx.hub.apply(id, quit).wait().await;
                }
                (format!("Closing link: {} ({reason})", self.host), why)
            }
            End::Overflowed => {
                // Removed by the hub already if the overflow happened under its
                // lock; not if it happened while held lines were released, or
                // with a reply pushed by the session itself.
                if let Some(id) = id {
                    let quit = Event::Quit {
                        reason: "SendQ exceeded".to_string(),
                    };
                    self.ctx.hub.apply(id, quit).wait().await;
                }
                return Disconnect::Sendq;
            }
            End::Killed => return Disconnect::Killed,
            End::Shutdown => {
                if let Some(id) = id {
                    self.ctx.hub.forget(id);
                }
                ("Server shutting down".to_string(), Disconnect::Shutdown)
            }
            End::Refused(text, why) => (text.to_string(), why),
        };
        self.out
            .close(Message::new("ERROR").with_param(last).to_bytes());
        why
    }

    /// Handles one line; `Some` ends the session.
    fn handle_line(&mut self, line: &[u8]) -> Option<End> {
        let message = match Message::parse(line) {
            Ok(message) => message,
            Err(err) => {
                // RFC 1459: a line that is not a message is ignored.
                tracing::debug!(host = %self.host, "ignoring a line: {err}");
                return None;
            }
        };
        let params: Vec<&str> = message.params.iter().map(String::as_str).collect();
        match (message.command.as_str(), &self.stage) {
            ("QUIT", _) => {
                let reason = params.first().map_or("Client quit".to_string(), |r| {
                    format!("Quit: {}", truncate(r, REASON_MAX_LEN))
                });
                return Some(End::Quit(reason, Disconnect::Quit));
            }
            ("PING", _) => self.ping(&params),
            ("PONG", _) => {}
            ("CAP", _) => return self.cap(&params),
            ("PASS" | "USER", Stage::Registered { .. }) => {
                let reply = self
                    .numeric(ERR_ALREADYREGISTERED)
                    .with_param("You may not reregister");
                self.send(reply);
            }
            ("PASS", Stage::Registering(_)) => self.pass(&params),
            ("USER", Stage::Registering(_)) => return self.user(&params),
            ("NICK", _) => return self.nick(&params),
            (_, Stage::Registering(_)) => {
                let reply = self
                    .numeric(ERR_NOTREGISTERED)
                    .with_param("You have not registered");
                self.send(reply);
            }
            (command, &Stage::Registered { id, .. }) => {
                self.command(id, command, &params, &message.tags)
            }
        }
        None
    }

    /// A command of a registered client, with the tags its line carried.
    fn command(&self, id: ClientId, command: &str, params: &[&str], tags: &[Tag]) {
        let hub = &self.ctx.hub;
        match command {
            "JOIN" => {
                let Some(list) = self.required(command, params) else {
                    return;
                };
                if list == "0" {
                    self.hold(hub.apply(id, Event::PartAll));
                    return;
                }
                let mut keys = params.get(1).map(|k| k.split(',')).into_iter().flatten();
                let channels = self
                    .channel_targets(list)
                    .into_iter()
                    .map(|name| (name, keys.next().map(str::to_string)))
                    .collect();
                self.hold(hub.apply(id, Event::Join { channels }));
            }
            "PART" => {
                let Some(list) = self.required(command, params) else {
                    return;
                };
                let channels = self.channel_targets(list);
                let reason = params
                    .get(1)
                    .map(|r| truncate(r, REASON_MAX_LEN).to_string());
                self.hold(hub.apply(id, Event::Part { channels, reason }));
            }
            "PRIVMSG" => self.message(id, MessageKind::Privmsg, params, tags),
            "NOTICE" => self.message(id, MessageKind::Notice, params, tags),
            "TAGMSG" => self.message(id, MessageKind::Tagmsg, params, tags),
            "TOPIC" => {
                let Some(channel) = self.required(command, params) else {
                    return;
                };
                match params.get(1) {
                    None => {
                        let query = Query::Topic {
                            channel: channel.to_string(),
                        };
                        self.hold(hub.query(id, query));
                    }
                    Some(text) => {
                        let event = Event::Topic {
                            channel: channel.to_string(),
                            text: text.to_string(),
                        };
                        self.hold(hub.apply(id, event));
                    }
                }
            }
            "NAMES" => {
                let list = params.first().copied().unwrap_or("");
                let channels = self.targets(list, MAX_CHANNEL_TARGETS, false);
                let channels = channels.into_iter().map(str::to_string).collect();
                self.hold(hub.query(id, Query::Names { channels }));
            }
            "WHO" => {
                let mask = params.first().copied().unwrap_or("*").to_string();
                self.hold(hub.query(id, Query::Who { mask }));
            }
            "WHOIS" => match params.last() {
                // `WHOIS [server] nick`: the nick comes last.
                Some(nick) => {
                    let nick = nick.to_string();
                    self.hold(hub.query(id, Query::Whois { nick }));
                }
                None => {
                    let reply = self
                        .numeric(ERR_NONICKNAMEGIVEN)
                        .with_param("No nickname given");
                    self.send(reply);
                }
            },
            "MODE" => self.mode(id, params),
            "CHATHISTORY" if hub.keeps_history() => match chathistory::parse(params) {
                Ok(command) => self.hold(hub.chathistory(id, command)),
                Err(refused) => self.send(refused.to_message(&self.ctx.config.server_name)),
            },
            "KICK" => {
                if params.len() < 2 {
                    return self.need_more_params(command);
                }
                let nicks = self.targets(params[1], MAX_KICK_TARGETS, false);
                let event = Event::Kick {
                    channel: params[0].to_string(),
                    nicks: nicks.into_iter().map(str::to_string).collect(),
                    reason: params
                        .get(2)
                        .map(|r| truncate(r, REASON_MAX_LEN).to_string()),
                };
                self.hold(hub.apply(id, event));
            }
            "INVITE" => {
                if params.len() < 2 {
                    return self.need_more_params(command);
                }
                let event = Event::Invite {
                    nick: params[0].to_string(),
                    channel: params[1].to_string(),
                };
                self.hold(hub.apply(id, event));
            }
            "OPER" => {
                if params.len() < 2 {
                    return self.need_more_params(command);
                }
                let known = self
                    .ctx
                    .config
                    .opers
                    .iter()
                    .any(|(name, pass)| name == params[0] && same_secret(pass, params[1]));
                if known {
                    self.hold(hub.apply(id, Event::Oper));
                } else {
                    let reply = self
                        .numeric(ERR_PASSWDMISMATCH)
                        .with_param("Password incorrect");
                    self.send(reply);
                }
            }
            "KILL" => {
                if params.len() < 2 {
                    return self.need_more_params(command);
                }
                let event = Event::Kill {
                    nick: params[0].to_string(),
                    reason: truncate(params[1], REASON_MAX_LEN).to_string(),
                };
                self.hold(hub.apply(id, event));
            }
            "WALLOPS" => {
                let Some(text) = self.required(command, params) else {
                    return;
                };
                let text = text.to_string();
                self.hold(hub.apply(id, Event::Wallops { text }));
            }
            _ => {
                if self.informational(id, command, params) {
                    return;
                }
                let reply = self
                    .numeric(ERR_UNKNOWNCOMMAND)
                    .with_param(truncate(command, ECHOED_COMMAND_MAX_LEN))
                    .with_param("Unknown command");
                self.send(reply);
            }
        }
    }

    /// MODE for a channel (show, list masks, change) or for oneself.
    fn mode(&self, id: ClientId, params: &[&str]) {
        let hub = &self.ctx.hub;
        let Some(target) = self.required("MODE", params) else {
            return;
        };
        let modestring = params.get(1).copied();
        if target.starts_with(['#', '&']) {
            let channel = target.to_string();
            let Some(modestring) = modestring else {
                return self.hold(hub.query(id, Query::ChannelModes { channel }));
            };
            let parsed = mode::parse_channel(modestring, &params[2..], MAX_MODES);
            for letter in parsed.unknown {
                let reply = self
                    .numeric(ERR_UNKNOWNMODE)
                    .with_param(letter.to_string())
                    .with_param("is unknown mode char to me");
                self.send(reply);
            }
            for mode in parsed.lists {
                let channel = channel.clone();
                self.hold(hub.query(id, Query::ModeList { channel, mode }));
            }
            if !parsed.changes.is_empty() {
                let event = Event::ChannelMode {
                    channel,
                    changes: parsed.changes,
                };
                self.hold(hub.apply(id, event));
            }
            return;
        }
        if !irc_eq(target, &self.addressee()) {
            let reply = self
                .numeric(ERR_USERSDONTMATCH)
                .with_param("Cant change mode for other users");
            return self.send(reply);
        }
        let Some(modestring) = modestring else {
            return self.hold(hub.query(id, Query::UserModes));
        };
        let (changes, unknown) = mode::parse_user(modestring);
        if !unknown.is_empty() {
            let reply = self
                .numeric(ERR_UMODEUNKNOWNFLAG)
                .with_param("Unknown MODE flag");
            self.send(reply);
        }
        if !changes.is_empty() {
            self.hold(hub.apply(id, Event::UserMode { changes }));
        }
    }

    fn message(&self, id: ClientId, kind: MessageKind, params: &[&str], tags: &[Tag]) {
        // A NOTICE is never answered with an error (RFC 2812 3.3.2).
        let quiet = kind == MessageKind::Notice;
        // Client-only tags travel only between clients that enabled them.
        let tags: Vec<Tag> = if self.caps.has(Caps::MESSAGE_TAGS) {
            tags.iter()
                .filter(|(key, _)| key.starts_with('+'))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let size: usize = tags
            .iter()
            .map(|(key, value)| key.len() + value.as_ref().map_or(0, |v| v.len() + 1) + 1)
            .sum();
        if size > MAX_CLIENT_TAGS {
            let reply = self
                .numeric(ERR_INPUTTOOLONG)
                .with_param("Input line was too long");
            return self.send(reply);
        }
        let Some(list) = params.first().filter(|t| !t.is_empty()) else {
            if !quiet {
                let reply = self
                    .numeric(ERR_NORECIPIENT)
                    .with_param(format!("No recipient given ({})", kind.command()));
                self.send(reply);
            }
            return;
        };
        let text = match kind {
            MessageKind::Tagmsg => Some(&""),
            _ => params.get(1).filter(|t| !t.is_empty()),
        };
        let Some(text) = text else {
            if !quiet {
                let reply = self.numeric(ERR_NOTEXTTOSEND).with_param("No text to send");
                self.send(reply);
            }
            return;
        };
        let targets = self.targets(list, MAX_MESSAGE_TARGETS, quiet);
        let event = Event::Message {
            kind,
            targets: targets.into_iter().map(str::to_string).collect(),
            text: text.to_string(),
            tags,
        };
        self.hold(self.ctx.hub.apply(id, event));
    }

    /// Keeps the release of held lines, to order later replies behind them.
    fn hold(&self, mut release: Release) {
        if !release.is_done() {
            self.held.borrow_mut().push_back(release);
        }
    }

    /// Splits a JOIN or PART list: bad names get 403 here, the rest go to the hub.
    fn channel_targets(&self, list: &str) -> Vec<String> {
        let mut channels = Vec::new();
        for name in self.targets(list, MAX_CHANNEL_TARGETS, false) {
            if is_valid_channel(name, CHANNEL_MAX_LEN) {
                channels.push(name.to_string());
            } else {
                let reply = self
                    .numeric(ERR_NOSUCHCHANNEL)
                    .with_param(name)
                    .with_param("No such channel");
                self.send(reply);
            }
        }
        channels
    }

    /// Splits a comma-separated list of targets and keeps the first `max`; each
    /// further one is answered with 407 (unless `quiet`) and skipped.
    fn targets<'l>(&self, list: &'l str, max: usize, quiet: bool) -> Vec<&'l str> {
        let mut targets = Vec::new();
        for target in list.split(',').filter(|t| !t.is_empty()) {
            if targets.len() < max {
                targets.push(target);
            } else if !quiet {
                let reply = self
                    .numeric(ERR_TOOMANYTARGETS)
                    .with_param(target)
                    .with_param("Too many targets, this one was skipped");
                self.send(reply);
            }
        }
        targets
    }

    fn ping(&self, params: &[&str]) {
        let Some(token) = self.required("PING", params) else {
            return;
        };
        let server = &self.ctx.config.server_name;
        let pong = Message::new("PONG")
            .with_source(server)
            .with_params([server.as_str(), token]);
        self.send(pong);
    }

    /// Capability negotiation (IRCv3 `CAP`, version 302). During registration,
    /// `CAP LS` or `CAP REQ` holds registration until `CAP END`.
    fn cap(&mut self, params: &[&str]) -> Option<End> {
        let nick = self.addressee();
        let server = self.ctx.config.server_name.clone();
        let reply = |sub: &str, rest: &str| {
            Message::new("CAP")
                .with_source(&server)
                .with_params([nick.as_str(), sub, rest])
        };
        let offered = Caps::offered(self.ctx.hub.keeps_history());
        match params.first().map(|s| s.to_ascii_uppercase()).as_deref() {
            Some("LS") => {
                if let Stage::Registering(pending) = &mut self.stage {
                    pending.negotiating = true;
                }
                self.send(reply("LS", &offered.names()));
            }
            Some("LIST") => self.send(reply("LIST", &self.caps.names())),
            Some("REQ") => {
                let list = params.get(1).copied().unwrap_or("");
                if let Stage::Registering(pending) = &mut self.stage {
                    pending.negotiating = true;
                }
                match self.caps.request(list, offered) {
                    Some(caps) => {
                        self.caps = caps;
                        if let Stage::Registered { id, .. } = self.stage {
                            self.ctx.hub.set_caps(id, caps);
                        }
                        self.send(reply("ACK", list));
                    }
                    None => self.send(reply("NAK", list)),
                }
            }
            Some("END") => {
                if let Stage::Registering(pending) = &mut self.stage {
                    pending.negotiating = false;
                    // Registration may have been waiting for this.
                    return self.try_register();
                }
            }
            _ => {
                let reply = self
                    .numeric(ERR_INVALIDCAPCMD)
                    .with_param(params.first().copied().unwrap_or("*"))
                    .with_param("Invalid CAP command");
                self.send(reply);
            }
        }
        None
    }

    fn pass(&mut self, params: &[&str]) {
        let Some(password) = self.required("PASS", params) else {
            return;
        };
        if let Stage::Registering(pending) = &mut self.stage {
            pending.password = Some(password.to_string());
        }
    }

    fn user(&mut self, params: &[&str]) -> Option<End> {
        if params.len() < 4 {
            self.need_more_params("USER");
            return None;
        }
        // Only characters that cannot confuse a `nick!user@host` prefix.
        let user: String = params[0]
            .chars()
            .filter(|c| c.is_ascii_graphic() && !matches!(c, '!' | '@' | ':'))
            .take(USER_MAX_LEN)
            .collect();
        let user = if user.is_empty() {
            "user".to_string()
        } else {
            user
        };
        let realname = truncate(params[3], REALNAME_MAX_LEN).to_string();
        if let Stage::Registering(pending) = &mut self.stage {
            pending.user = Some((user, realname));
        }
        self.try_register()
    }

    fn nick(&mut self, params: &[&str]) -> Option<End> {
        let Some(nick) = params.first().filter(|n| !n.is_empty()) else {
            let reply = self
                .numeric(ERR_NONICKNAMEGIVEN)
                .with_param("No nickname given");
            self.send(reply);
            return None;
        };
        if !is_valid_nick(nick, NICK_MAX_LEN) {
            let reply = self
                .numeric(ERR_ERRONEUSNICKNAME)
                .with_param(*nick)
                .with_param("Erroneous nickname");
            self.send(reply);
            return None;
        }
        match &mut self.stage {
            Stage::Registered { id } => {
                let id = *id;
                if self
                    .ctx
                    .hub
                    .nick(id)
                    .is_some_and(|current| current == *nick)
                {
                    return None;
                }
                let event = Event::Nick {
                    nick: nick.to_string(),
                };
                self.hold(self.ctx.hub.apply(id, event));
                None
            }
            Stage::Registering(_) => {
                if self.ctx.hub.nick_in_use(nick) {
                    self.nick_in_use(nick);
                    return None;
                }
                if let Stage::Registering(pending) = &mut self.stage {
                    pending.nick = Some(nick.to_string());
                }
                self.try_register()
            }
        }
    }

    /// Completes registration once NICK and USER are in and CAP is not being
    /// negotiated: checks the password, claims the nick, sends the welcome.
    fn try_register(&mut self) -> Option<End> {
        let Stage::Registering(pending) = &mut self.stage else {
            return None;
        };
        let (Some(nick), Some((user, realname))) = (&pending.nick, &pending.user) else {
            return None;
        };
        if pending.negotiating {
            return None;
        }
        let config = &self.ctx.config;
        if let Some(expected) = &config.password
            && pending.password.as_deref() != Some(expected.as_str())
        {
            let reply = self
                .numeric(ERR_PASSWDMISMATCH)
                .with_param("Password incorrect");
            self.send(reply);
            return Some(End::Refused("Password incorrect", Disconnect::Refused));
        }
        let prefix = format!("{nick}!{user}@{}", self.host);
        let registration = Registration {
            nick: nick.clone(),
            user: user.clone(),
            realname: realname.clone(),
            host: self.host.clone(),
            out: self.out.clone(),
            caps: self.caps,
            welcome: welcome::burst(&self.ctx, nick, &prefix),
            motd: welcome::motd(config, nick),
        };
        let nick = nick.clone();
        // Not unknown any more in the LUSERS that the welcome ends with.
        pending.unregistered = None;
        match self.ctx.hub.register(registration) {
            Registering::Done(result) => self.registered(result, &nick),
            Registering::Pending(claim) => self.claim = Some(Box::new((claim, nick))),
        }
        None
    }

    /// Ends registration with the hub's answer to the claim of `nick`.
    fn registered(&mut self, result: Result<ClientId, NickInUse>, nick: &str) {
        match result {
            Ok(id) => self.stage = Stage::Registered { id },
            Err(NickInUse) => {
                // Taken since NICK was accepted: the client picks another.
                if let Stage::Registering(pending) = &mut self.stage {
                    pending.nick = None;
                    pending.unregistered = Some(self.ctx.hub.count_unregistered());
                }
                self.nick_in_use(nick);
            }
        }
    }

    fn nick_in_use(&self, nick: &str) {
        let reply = self
            .numeric(ERR_NICKNAMEINUSE)
            .with_param(nick)
            .with_param("Nickname is already in use");
        self.send(reply);
    }

    /// The first parameter, or 461 and `None` when it is missing or empty.
    fn required<'p>(&self, command: &str, params: &[&'p str]) -> Option<&'p str> {
        match params.first() {
            Some(param) if !param.is_empty() => Some(param),
            _ => {
                self.need_more_params(command);
                None
            }
        }
    }

    fn need_more_params(&self, command: &str) {
        let reply = self
            .numeric(ERR_NEEDMOREPARAMS)
            .with_param(command)
            .with_param("Not enough parameters");
        self.send(reply);
    }

    /// The nick numerics are addressed to: `*` before registration.
    fn addressee(&self) -> String {
        match &self.stage {
            Stage::Registered { id } => self.ctx.hub.nick(*id),
            Stage::Registering(_) => None,
        }
        .unwrap_or_else(|| "*".to_string())
    }

    fn numeric(&self, code: &str) -> Message {
        numeric(&self.ctx.config.server_name, &self.addressee(), code)
    }

    /// Queues a reply. An overflow ends the session through `Outbound::closing`.
    fn send(&self, message: Message) {
        let line = message.to_bytes();
        let behind_held = {
            let mut held = self.held.borrow_mut();
            while held.front_mut().is_some_and(Release::is_done) {
                held.pop_front();
            }
            !held.is_empty()
        };
        if behind_held {
            self.hold(self.ctx.hub.reply_after_held(&self.out, line));
        } else {
            let _ = self.out.push(line);
        }
    }
}

/// Compares a secret without stopping at the first difference, so timing does
/// not tell how much of a guess was right.
fn same_secret(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}
