//! Channel history: a store behind a small trait, and the group commit that puts
//! it between the hub and delivery.
//!
//! Every PRIVMSG and NOTICE to a channel becomes an [`Entry`] (server-wide
//! sequence number, msgid, server time, channel, sender, text). No client sees a
//! line before the entries it follows are durably committed:
//!
//! - The hub applies events under its lock as before (validation needs the
//!   state, and only accepted messages are stored), numbers each message and
//!   stamps it with its msgid and time. While a commit is pending, it does not
//!   push the lines an event produces (fan-out, replies, JOIN, QUIT...) into
//!   outbound queues: it *holds* them, with the event's entries, in one item,
//!   and appends the item to the commit queue while still under its lock, so the
//!   queue is in hub order. With nothing pending and no message to store, lines
//!   go straight out as before: an idle server pays no thread hop for a JOIN.
//! - One dedicated thread (`commit`) owns the store. It takes everything queued,
//!   commits all its entries in one transaction, and only then pushes the held
//!   lines into the outbound queues, item after item. Delivery order is therefore
//!   history order, a crash loses nothing anyone saw, and hundreds of messages
//!   cost one commit.
//! - A session does not wait for its items: it reads on, so a client that sends
//!   many lines has them all applied, committed in few batches and written to
//!   each receiver in few writes (waiting per line measured 2x the server CPU
//!   per delivery: every message then left in a write of its own). Replies stay
//!   in the order of the commands because a reply the session makes itself
//!   while one of its items is still held goes into the commit queue too,
//!   behind that item, instead of straight into its outbound queue.
//!
//! The bound on the commit queue: a session keeps at most `MAX_HELD_COMMANDS`
//! items in it (see `limits`); at that bound it waits for its oldest item to be
//! released before it reads another line, so TCP pushes back on that client
//! only. With `--max-clients` connections, the queue is bounded. An item holds
//! each line once and one reference per receiver (a pointer each), never a copy
//! per receiver.
//!
//! Upkeep (pruning channels past `--history-limit`) runs on the same thread in
//! transactions of its own, when the queue is empty, or every so many batches
//! under constant load so that the table cannot grow without bound.
//!
//! With Redis, the stream plays the queue's part and each node applies it.

mod commit;
pub mod msgid;
mod redis;
mod sqlite;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use self::redis::{RedisHistory, stream_key};
pub(crate) use commit::{Item, Lookup, Pipeline, Read, Release};
pub use msgid::{cluster_msgid, msgid};
pub use sqlite::{Anchor, SqliteHistory};

/// One channel message as history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Server-wide sequence number, in delivery order; it continues after a
    /// restart on the same store.
    pub seq: u64,
    /// Unique message id (26 characters of Crockford base32), for the IRCv3
    /// `msgid` tag.
    pub msgid: String,
    /// Server time, to the millisecond, for the IRCv3 `time` tag.
    pub time: SystemTime,
    /// The channel as its creator spelled it.
    pub channel: String,
    /// `nick!user@host` of the sender.
    pub source: String,
    /// `PRIVMSG` or `NOTICE`.
    pub command: &'static str,
    pub text: String,
}

/// The current time to the millisecond: what history stores and what a
/// `time` tag shows, so a stored entry reads back equal.
pub fn now() -> SystemTime {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UNIX_EPOCH + Duration::from_millis(since.as_millis() as u64)
}

/// Which messages of one channel CHATHISTORY asks for; pages are oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The newest, or the newest after an anchor.
    Latest(Option<Anchor>),
    /// The last ones before an anchor.
    Before(Anchor),
    /// The first ones after an anchor.
    After(Anchor),
    /// Some before an anchor, then the anchor's own message and after.
    Around(Anchor),
    /// Strictly between two anchors, counted from the first.
    Between(Anchor, Anchor),
}

/// The store could not keep a batch; none of it is delivered.
#[derive(Debug, thiserror::Error)]
#[error("cannot store history: {0}")]
pub struct HistoryError(pub String);

/// Where channel messages are kept. Only the commit thread calls these, so
/// they may block: nothing here runs on the async runtime.
pub trait History: Send + 'static {
    /// The highest sequence number stored, so numbering continues after a
    /// restart.
    fn last_seq(&self) -> u64 {
        0
    }

    /// Stores a batch in one transaction; returns once it is durable. The hub
    /// delivers a message only after its batch is committed.
    fn commit(&mut self, batch: &[Entry]) -> Result<(), HistoryError>;

    /// Up to `n` messages of `channel` (as spelled by anyone: the store folds
    /// case), oldest first. A store that keeps nothing finds nothing.
    fn page(&self, _channel: &str, _page: &Page, _n: usize) -> Result<Vec<Entry>, HistoryError> {
        Ok(Vec::new())
    }

    /// Among `channels`, those with messages between two times, each with the
    /// time of its last one there: at most `n`, the most recent, oldest first.
    fn targets(
        &self,
        _channels: &[String],
        _between: (SystemTime, SystemTime),
        _n: usize,
    ) -> Result<Vec<(String, SystemTime)>, HistoryError> {
        Ok(Vec::new())
    }

    /// Whether [`upkeep`](History::upkeep) has work worth doing.
    fn upkeep_owed(&self) -> bool {
        false
    }

    /// Background work (pruning), a bounded amount per call; returns the rows
    /// removed.
    fn upkeep(&mut self) -> Result<u64, HistoryError> {
        Ok(0)
    }

    /// Makes everything committed durable and releases the store, at shutdown.
    fn close(&mut self) -> Result<(), HistoryError> {
        Ok(())
    }
}

/// Keeps nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHistory;

impl History for NoHistory {
    fn commit(&mut self, _batch: &[Entry]) -> Result<(), HistoryError> {
        Ok(())
    }
}
