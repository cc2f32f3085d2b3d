//! Group commit: the thread that owns the store, commits what the hub queued in
//! batches, and releases each batch's lines to the outbound queues afterwards.
//!
//! The queue is a standard unbounded channel, bounded by construction: a
//! session has at most `MAX_HELD_COMMANDS` items in it (see `limits`), and
//! sessions are capped by `--max-clients`. Pushing into it never blocks, which
//! matters because the hub pushes under its lock.
//!
//! The thread also releases: it pushes the held lines into the outbound
//! queues itself. Handing each batch to a task on the runtime instead was
//! measured here too: with the server on one core it cost 25% more CPU per
//! delivery and 25% less throughput, so the thread keeps the job. Waking the
//! writers is another matter: a task woken from outside the runtime costs a
//! system call (waking the runtime's thread) per writer, so the thread hands
//! the batch's writers to a task on the runtime, which wakes them all at once.
//!
//! A push that overflows a receiver's queue closes that queue, and the
//! receiver's session then leaves as after any overflow (`SendQ exceeded`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc as channel, oneshot};

use super::{Entry, History, HistoryError};
use crate::chat::metrics::Metrics;
use crate::chat::outbound::Outbound;

/// Most items committed in one transaction: a bound on how long one commit and
/// its release take, so the first items of a huge burst do not wait for the last.
const MAX_BATCH_ITEMS: usize = 4096;
/// Under constant load the queue is never empty: upkeep owed then runs after at
/// most this many batches anyway.
const UPKEEP_EVERY: u64 = 1024;
/// How long an idle thread sleeps before it looks at upkeep again.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// One line for several receivers, held until its batch is committed.
pub(crate) struct Fanout {
    pub line: Bytes,
    pub to: Vec<Outbound>,
    /// A stored message: if the commit fails, it is not delivered.
    pub stored: bool,
}

/// A read of the store for one client (CHATHISTORY), answered in queue order:
/// it sees everything committed before it, and its lines follow the lines
/// queued before it.
pub(crate) struct Lookup {
    pub to: Outbound,
    pub read: Read,
}

/// Reads the store and gives the lines to send.
pub(crate) type Read = Box<dyn FnOnce(&dyn History) -> Vec<Bytes> + Send>;

/// What one hub operation produced while a commit was pending.
#[derive(Default)]
pub(crate) struct Item {
    pub entries: Vec<Entry>,
    /// In the order the hub produced them.
    pub lines: Vec<Fanout>,
    /// Answered after `lines` are released.
    pub lookup: Option<Lookup>,
    /// Told to the sender if the entries cannot be stored.
    pub on_failure: Option<(Outbound, Bytes)>,
    /// How many receivers the next new line will have, when known: its list
    /// is allocated once rather than grown receiver by receiver.
    pub receivers_hint: usize,
}

impl Item {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.lines.is_empty() && self.lookup.is_none()
    }

    /// Holds `line` for `to`. Consecutive pushes of the same line (a fan-out)
    /// share one entry.
    pub(crate) fn push(&mut self, to: &Outbound, line: &Bytes, stored: bool) {
        if let Some(last) = self.lines.last_mut()
            && last.stored == stored
            && last.line.as_ptr() == line.as_ptr()
            && last.line.len() == line.len()
        {
            last.to.push(to.clone());
            return;
        }
        let mut receivers = Vec::with_capacity(std::mem::take(&mut self.receivers_hint).max(1));
        receivers.push(to.clone());
        self.lines.push(Fanout {
            line: line.clone(),
            to: receivers,
            stored,
        });
    }
}

/// A batch whose commit is over.
struct Committed {
    batch: Vec<(Item, oneshot::Sender<()>)>,
    /// Whether its entries are stored; if not, its stored lines are dropped.
    ok: bool,
}

enum Job {
    Item(Item, oneshot::Sender<()>),
    /// Commit everything before this, close the store, and stop.
    Close(oneshot::Sender<()>),
}

/// Completes when an operation's lines are in the outbound queues.
#[must_use = "a session waits for its lines before it reads its next command"]
pub(crate) struct Release(Option<oneshot::Receiver<()>>);

impl Release {
    /// Nothing was held: the lines are queued already.
    pub(crate) fn done() -> Release {
        Release(None)
    }

    /// Completes when `released` is sent to (or dropped).
    pub(crate) fn when(released: oneshot::Receiver<()>) -> Release {
        Release(Some(released))
    }

    /// Whether the lines are queued already; never waits.
    pub(crate) fn is_done(&mut self) -> bool {
        match &mut self.0 {
            None => true,
            Some(released) => !matches!(
                released.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            ),
        }
    }

    /// Tells `done` once the lines are queued, without waiting here.
    pub(crate) fn forward(mut self, done: oneshot::Sender<()>) {
        if self.is_done() {
            let _ = done.send(());
            return;
        }
        tokio::spawn(async move {
            self.wait().await;
            let _ = done.send(());
        });
    }

    pub(crate) async fn wait(self) {
        if let Some(released) = self.0 {
            // An error means the commit thread is gone: nothing more will come.
            let _ = released.await;
        }
    }
}

/// The hub's side of the commit thread.
pub(crate) struct Pipeline {
    jobs: mpsc::Sender<Job>,
    /// Items submitted and not yet released. Zero means every line the hub ever
    /// held is in its queue, so the next ones may be pushed directly.
    in_flight: Arc<AtomicUsize>,
    last_seq: u64,
}

impl Pipeline {
    /// Starts the commit thread, which owns `store` from now on.
    pub(crate) fn start(
        store: Box<dyn History>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Pipeline> {
        let (jobs, queue) = mpsc::channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let last_seq = store.last_seq();
        let committer = Committer {
            store,
            queue,
            waker: WriterWaker::start(),
            in_flight: in_flight.clone(),
            stats: Stats::default(),
            metrics,
        };
        std::thread::Builder::new()
            .name("chat-history".to_string())
            .spawn(move || committer.run())?;
        Ok(Pipeline {
            jobs,
            in_flight,
            last_seq,
        })
    }

    /// The highest sequence number the store held at start.
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Whether some held lines are not released yet. Called under the hub lock;
    /// the thread's decrement comes after its pushes, so zero means they are done.
    pub(crate) fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Queues an item for commit and release. Never blocks. Called under the hub
    /// lock, so items are queued in hub order.
    pub(crate) fn submit(&self, item: Item) -> Release {
        let (released, wait) = oneshot::channel();
        self.submit_with(item, released);
        Release(Some(wait))
    }

    /// Like [`submit`](Pipeline::submit), telling `released` when done.
    pub(crate) fn submit_with(&self, item: Item, released: oneshot::Sender<()>) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        if let Err(mpsc::SendError(Job::Item(item, released))) =
            self.jobs.send(Job::Item(item, released))
        {
            // The thread is gone (closed at shutdown): what needs no storing is
            // delivered, messages are not (their senders are told), which keeps
            // "delivered means stored".
            tracing::debug!("history closed; messages refused");
            let refused = Committed {
                batch: vec![(item, released)],
                ok: false,
            };
            release(
                refused,
                &super::NoHistory,
                &self.in_flight,
                &WriterWaker::Here,
            );
        }
    }

    /// Commits everything queued, closes the store and stops the thread.
    pub(crate) async fn close(&self) {
        let (closed, wait) = oneshot::channel();
        if self.jobs.send(Job::Close(closed)).is_ok() {
            let _ = wait.await;
        }
    }
}

struct Committer {
    store: Box<dyn History>,
    queue: mpsc::Receiver<Job>,
    waker: WriterWaker,
    in_flight: Arc<AtomicUsize>,
    stats: Stats,
    metrics: Arc<Metrics>,
}

/// What the thread did, logged when it stops.
#[derive(Default)]
struct Stats {
    batches: u64,
    entries: u64,
    largest_batch: usize,
    commit_time: Duration,
    slowest_commit: Duration,
    pruned: u64,
}

impl Committer {
    fn run(mut self) {
        let mut batch = Vec::new();
        let mut since_upkeep = 0u64;
        // After a failed upkeep, wait for a tick before the next try.
        let mut upkeep_ok = true;
        let closed = loop {
            let first = match self.queue.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Disconnected) => break None,
                Err(TryRecvError::Empty) => {
                    // Idle: the moment for upkeep.
                    if upkeep_ok && self.store.upkeep_owed() {
                        upkeep_ok = self.upkeep();
                        since_upkeep = 0;
                        continue;
                    }
                    match self.queue.recv_timeout(IDLE_TICK) {
                        Ok(job) => {
                            // Woken by the first item of a burst: let the
                            // sessions queue the rest of it, so that it is
                            // committed and released as one batch.
                            std::thread::yield_now();
                            job
                        }
                        Err(RecvTimeoutError::Timeout) => {
                            upkeep_ok = true;
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break None,
                    }
                }
            };
            let mut close = None;
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Item(item, released) => batch.push((item, released)),
                    Job::Close(reply) => {
                        close = Some(reply);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH_ITEMS {
                    next = self.queue.try_recv().ok();
                }
            }
            self.commit_and_release(&mut batch);
            if close.is_some() {
                break close;
            }
            since_upkeep += 1;
            if since_upkeep >= UPKEEP_EVERY && self.store.upkeep_owed() {
                upkeep_ok = self.upkeep();
                since_upkeep = 0;
            }
        };
        if let Err(err) = self.store.close() {
            tracing::error!("{err}");
        }
        let s = &self.stats;
        if s.batches > 0 {
            tracing::info!(
                "history: {} messages in {} commits (mean {:.1}, largest {}), \
                 commit mean {:?}, slowest {:?}, {} rows pruned",
                s.entries,
                s.batches,
                s.entries as f64 / s.batches as f64,
                s.largest_batch,
                s.commit_time / s.batches as u32,
                s.slowest_commit,
                s.pruned
            );
        }
        if let Some(reply) = closed {
            let _ = reply.send(());
        }
    }

    fn commit_and_release(&mut self, batch: &mut Vec<(Item, oneshot::Sender<()>)>) {
        let mut entries = Vec::new();
        for (item, _) in batch.iter_mut() {
            entries.append(&mut item.entries);
        }
        let committed = if entries.is_empty() {
            true
        } else {
            let started = Instant::now();
            // A store that panics fails this batch, not the server.
            let result = catch_unwind(AssertUnwindSafe(|| self.store.commit(&entries)))
                .unwrap_or_else(|_| Err(HistoryError("the store failed unexpectedly".into())));
            let took = started.elapsed();
            let s = &mut self.stats;
            s.batches += 1;
            s.entries += entries.len() as u64;
            s.largest_batch = s.largest_batch.max(entries.len());
            s.commit_time += took;
            s.slowest_commit = s.slowest_commit.max(took);
            self.metrics.committed(entries.len(), took, result.is_ok());
            match result {
                Ok(()) => true,
                Err(err) => {
                    // Delivering what history lost would break "everything anyone
                    // saw is in the history": these messages are dropped and their
                    // senders told.
                    tracing::warn!("{err}; {} messages dropped", entries.len());
                    false
                }
            }
        };
        let done = Committed {
            batch: std::mem::take(batch),
            ok: committed,
        };
        release(done, &*self.store, &self.in_flight, &self.waker);
    }

    /// Runs one round of upkeep; false if it failed.
    fn upkeep(&mut self) -> bool {
        match self.store.upkeep() {
            Ok(removed) => {
                self.stats.pruned += removed;
                true
            }
            Err(err) => {
                tracing::warn!("history upkeep failed: {err}");
                false
            }
        }
    }
}

/// Who wakes the writers of a released batch.
enum WriterWaker {
    /// The caller, at once: it is on the runtime, or there is no runtime.
    Here,
    /// A task on the runtime, which gets each batch's writers in one message.
    /// Unbounded, as the commit thread must never block on the runtime: it
    /// sends one message per committed batch, each after a commit to disk,
    /// while the task only wakes writers.
    Task(channel::UnboundedSender<Vec<Outbound>>),
}

impl WriterWaker {
    /// A waking task on the current runtime, if there is one.
    fn start() -> WriterWaker {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return WriterWaker::Here;
        };
        let (writers, mut batches) = channel::unbounded_channel::<Vec<Outbound>>();
        runtime.spawn(async move {
            while let Some(batch) = batches.recv().await {
                batch.iter().for_each(Outbound::wake);
            }
        });
        WriterWaker::Task(writers)
    }

    fn wake(&self, writers: Vec<Outbound>) {
        let writers = match self {
            WriterWaker::Task(task) => match task.send(writers) {
                Ok(()) => return,
                // The runtime is shutting down: wake them here.
                Err(channel::error::SendError(writers)) => writers,
            },
            WriterWaker::Here => writers,
        };
        writers.iter().for_each(Outbound::wake);
    }
}

/// Pushes a committed batch's lines into the outbound queues, item after item,
/// answers its lookups, wakes the writers, and tells each waiting session.
fn release(
    committed: Committed,
    store: &dyn History,
    in_flight: &AtomicUsize,
    waker: &WriterWaker,
) {
    let mut batch = committed.batch;
    // What is answered after an item's lines, taken out first: the lines are
    // read in place while runs of them are gathered.
    let after: Vec<_> = batch
        .iter_mut()
        .map(|(item, _)| (item.lookup.take(), item.on_failure.take()))
        .collect();
    let mut run = Run::default();
    for ((item, _), (lookup, on_failure)) in batch.iter().zip(after) {
        for fanout in &item.lines {
            // A message that could not be stored is not delivered.
            if committed.ok || !fanout.stored {
                run.add(fanout);
            }
        }
        if lookup.is_none() && (committed.ok || on_failure.is_none()) {
            continue;
        }
        run.flush();
        if let Some(lookup) = lookup {
            match catch_unwind(AssertUnwindSafe(|| (lookup.read)(store))) {
                Ok(lines) => run.push(&lookup.to, &lines),
                Err(_) => tracing::error!("a history lookup failed unexpectedly"),
            }
        }
        if !committed.ok
            && let Some((sender, notice)) = on_failure
        {
            run.push(&sender, &[notice]);
        }
    }
    run.flush();
    if !run.woken.is_empty() {
        waker.wake(run.woken);
    }
    for (_, released) in batch {
        // After the pushes: the hub may push directly once this reaches zero.
        in_flight.fetch_sub(1, Ordering::AcqRel);
        let _ = released.send(());
    }
}

/// Lines in a row that go to the same receivers (one sender's burst to a
/// channel), pushed receiver by receiver: one lock per receiver for the run,
/// not one per line (1,000 clients x 1 sender in `bench chat`: see the commit).
#[derive(Default)]
struct Run<'a> {
    lines: Vec<Bytes>,
    to: &'a [Outbound],
    /// Writers to wake once the batch is queued.
    woken: Vec<Outbound>,
}

impl<'a> Run<'a> {
    fn add(&mut self, fanout: &'a Fanout) {
        let same = self.to.len() == fanout.to.len()
            && self.to.iter().zip(&fanout.to).all(|(a, b)| a.same_queue(b));
        if !same {
            self.flush();
            self.to = &fanout.to;
        }
        self.lines.push(fanout.line.clone());
    }

    fn flush(&mut self) {
        let lines = std::mem::take(&mut self.lines);
        for out in std::mem::take(&mut self.to) {
            self.push(out, &lines);
        }
    }

    fn push(&mut self, out: &Outbound, lines: &[Bytes]) {
        // An overflow closes that receiver's queue; its session leaves.
        if let Ok(true) = out.push_all_unwoken(lines) {
            self.woken.push(out.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Bytes {
        Bytes::from(format!("{text}\r\n"))
    }

    fn fanout(text: &str, to: &[&Outbound], stored: bool) -> Fanout {
        Fanout {
            line: line(text),
            to: to.iter().map(|out| (*out).clone()).collect(),
            stored,
        }
    }

    /// Releases `items` as one batch whose commit went as `ok` says.
    fn release_batch(items: Vec<Item>, ok: bool) {
        let in_flight = AtomicUsize::new(items.len());
        let batch = items
            .into_iter()
            .map(|item| (item, oneshot::channel().0))
            .collect();
        let committed = Committed { batch, ok };
        release(
            committed,
            &super::super::NoHistory,
            &in_flight,
            &WriterWaker::Here,
        );
        assert_eq!(in_flight.load(Ordering::Acquire), 0);
    }

    /// What a client got, up to a final END.
    async fn received(out: Outbound, writer: crate::chat::outbound::Writer) -> String {
        out.close(line("END"));
        let mut bytes = Vec::new();
        writer.run(&mut bytes).await.unwrap();
        String::from_utf8(bytes).unwrap().replace("\r\n", " ")
    }

    fn queue() -> (Outbound, crate::chat::outbound::Writer) {
        Outbound::new(1 << 20, std::time::Duration::from_secs(5))
    }

    #[tokio::test]
    async fn runs_to_the_same_receivers_keep_their_order_around_answers() {
        let (a, a_writer) = queue();
        let (b, b_writer) = queue();
        let lookup = Lookup {
            to: a.clone(),
            read: Box::new(|_| vec![line("looked")]),
        };
        let items = vec![
            Item {
                lines: vec![fanout("one", &[&a, &b], true)],
                ..Item::default()
            },
            Item {
                lines: vec![fanout("two", &[&a, &b], true)],
                lookup: Some(lookup),
                ..Item::default()
            },
            Item {
                lines: vec![
                    fanout("three", &[&a, &b], true),
                    fanout("four", &[&b], false),
                ],
                ..Item::default()
            },
        ];
        release_batch(items, true);
        assert_eq!(received(a, a_writer).await, "one two looked three END ");
        assert_eq!(received(b, b_writer).await, "one two three four END ");
    }

    #[tokio::test]
    async fn a_failed_commit_delivers_only_what_needs_no_storing_and_tells_the_sender() {
        let (a, a_writer) = queue();
        let (b, b_writer) = queue();
        let items = vec![Item {
            lines: vec![
                fanout("stored", &[&b], true),
                fanout("joined", &[&a, &b], false),
            ],
            on_failure: Some((a.clone(), line("not stored"))),
            ..Item::default()
        }];
        release_batch(items, false);
        assert_eq!(received(a, a_writer).await, "joined not stored END ");
        assert_eq!(received(b, b_writer).await, "joined END ");
    }
}
