//! Channel history: a store behind a small trait.
//!
//! Nothing is stored yet: [`NoHistory`] is the only store. SQLite comes next, and
//! the seam is shaped for it.
//!
//! Where "commit a batch, then fan out" goes: today the hub calls
//! [`History::commit`] with a batch of one message, under its lock, right before
//! fanning that message out. A SQLite store must not block the runtime there.
//! The plan:
//! 1. Put a sequencer between sessions and `Hub::apply`: every event (not only
//!    messages, so that a PRIVMSG followed by a PART stays in that order) goes
//!    into one bounded queue.
//! 2. One dedicated thread owns the SQLite connection. It takes everything
//!    queued and applies the batch to the hub in order, but the hub holds the
//!    lines it would push (fan-out and replies) in a per-batch buffer instead of
//!    pushing them: validation (is the sender on the channel?) needs the state,
//!    and only accepted messages may be stored.
//! 3. It commits the accepted messages of the batch in one transaction, then
//!    releases the held lines to the outbound queues, in order.
//!
//! Delivery order is then history order, a crash loses nothing anyone saw, and
//! hundreds of messages cost one commit. Replies stay in command order if each
//! session waits for its event to be released before it reads its next line;
//! throughput comes from batching many sessions' events, not one session's.
//! With Redis, the stream plays the queue's part and each node applies it.

use std::time::SystemTime;

/// One channel message as history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Server-wide sequence number, in delivery order.
    pub seq: u64,
    pub time: SystemTime,
    /// The channel as its creator spelled it.
    pub channel: String,
    /// `nick!user@host` of the sender.
    pub source: String,
    /// `PRIVMSG` or `NOTICE`.
    pub command: &'static str,
    pub text: String,
}

/// The store could not keep a batch; the hub delivers none of it.
#[derive(Debug, thiserror::Error)]
#[error("cannot store history: {0}")]
pub struct HistoryError(pub String);

/// Where channel messages are kept. `commit` returns once the batch is durable:
/// the hub delivers a message only after its batch is committed.
pub trait History: Send + Sync {
    fn commit(&self, batch: &[Entry]) -> Result<(), HistoryError>;
}

/// Keeps nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHistory;

impl History for NoHistory {
    fn commit(&self, _batch: &[Entry]) -> Result<(), HistoryError> {
        Ok(())
    }
}
