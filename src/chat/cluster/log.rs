//! Writing this node's entries to the log, and applying everyone's.
//!
//! Both tasks outlive a Redis that goes away: they retry with backoff and go
//! on from where they were. The publisher keeps its batch until Redis took
//! it; a batch that was written but whose reply was lost is written again,
//! and the copies are skipped when applied (each entry carries its node's
//! number and its own). The reader goes on after the last entry it applied.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamReadReply};
use tokio::sync::mpsc;

use super::link::Outgoing;
use super::node::{Backoff, Shared};
use super::wire::{LOG, LogId, Logged};
use crate::chat::hub::Outcome;
use crate::chat::server::Context;

/// Most entries written in one round trip, or read in one.
const BATCH: usize = 1024;
/// How long a read waits for new entries before it asks again.
const READ_BLOCK: Duration = Duration::from_secs(1);

/// Writes what the hub publishes, in order, until the hub is gone. Entries
/// from before a split are dropped: the hub gave up on them.
pub(super) async fn publish(
    shared: Arc<Shared>,
    ctx: Arc<Context>,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    let mut conn: Option<MultiplexedConnection> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while outgoing.recv_many(&mut batch, BATCH).await > 0 {
        let mut backoff = Backoff::default();
        loop {
            let (epoch, _) = ctx.hub.epoch();
            batch.retain(|o: &Outgoing| o.epoch == epoch);
            if batch.is_empty() {
                break;
            }
            let Some(c) = &mut conn else {
                conn = shared.reconnect("publish", &mut backoff).await;
                continue;
            };
            let mut pipe = redis::pipe();
            for Outgoing {
                node, op, entry, ..
            } in &batch
            {
                pipe.cmd("XADD")
                    .arg(LOG)
                    .arg("*")
                    .arg("n")
                    .arg(node)
                    .arg("o")
                    .arg(op)
                    .arg("e")
                    .arg(entry)
                    .ignore();
            }
            match pipe.query_async::<()>(c).await {
                Ok(()) => {
                    shared.metrics.published(batch.len());
                    break;
                }
                Err(err) => {
                    shared.lost("publish", &err);
                    conn = None;
                }
            }
        }
        batch.clear();
    }
}

/// Applies the log to the hub for as long as the server runs: from where
/// the latest join or rejoin says, and not while split.
pub(super) async fn apply(shared: Arc<Shared>, ctx: Arc<Context>) {
    let mut reading = shared.reading.subscribe();
    let mut conn: Option<MultiplexedConnection> = None;
    let mut backoff = Backoff::default();
    loop {
        let Ok(position) = reading.wait_for(Option::is_some).await.map(|p| *p) else {
            return;
        };
        let (epoch, mut from) = position.expect("waited for it");
        // Until the next split or rejoin.
        loop {
            let current = reading.borrow_and_update().is_some_and(|(e, _)| e == epoch);
            if !current {
                break;
            }
            let Some(c) = &mut conn else {
                conn = shared.reconnect("read", &mut backoff).await;
                continue;
            };
            let read = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(BATCH)
                .arg("BLOCK")
                .arg(READ_BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(LOG)
                .arg(from.to_string())
                .query_async::<Option<StreamReadReply>>(c)
                .await;
            let reply = match read {
                Ok(reply) => reply,
                Err(err) => {
                    shared.lost("read", &err);
                    conn = None;
                    continue;
                }
            };
            backoff = Backoff::default();
            let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
            for entry in entries {
                let Ok(at) = entry.id.parse::<LogId>() else {
                    tracing::warn!("log entry {:?} has an id of another kind", entry.id);
                    continue;
                };
                let Some((writer, logged)) = parse(at, &entry) else {
                    from = at;
                    continue;
                };
                shared.metrics.consumed();
                match ctx.hub.apply_logged(epoch, at, writer, logged) {
                    Outcome::Applied => from = at,
                    Outcome::Stale => break,
                    Outcome::GivenUp => {
                        shared.split(&ctx);
                        if let Some(c) = &mut conn
                            && let Err(err) = shared.resync(&ctx, c).await
                        {
                            shared.lost("rejoin", &err);
                        }
                        break;
                    }
                }
            }
        }
    }
}

/// An entry's writer (node and number) and content; `None`, with a warning,
/// for an entry this node cannot read.
fn parse(at: LogId, entry: &StreamId) -> Option<((u32, u64), Logged)> {
    let fields = (
        entry.get::<u32>("n"),
        entry.get::<u64>("o"),
        entry.get::<String>("e"),
    );
    let (Some(node), Some(op), Some(json)) = fields else {
        tracing::warn!("log entry {at} lacks a field; skipped");
        return None;
    };
    match serde_json::from_str::<Logged>(&json) {
        Ok(logged) => Some(((node, op), logged)),
        Err(err) => {
            tracing::warn!("log entry {at} is not understood ({err}); skipped");
            None
        }
    }
}
