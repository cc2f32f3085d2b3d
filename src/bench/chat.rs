//! The chat (IRC fan-out) load generator.
//!
//! N clients register and join one channel; once every one of them has seen the
//! end of NAMES (366), S of them send `PRIVMSG CHAN :<sender> <seq> <nanos>
//! <padding>` for the duration, and every client counts what it receives from each
//! sender. A delivery is one message received by one client (a sender does not
//! receive its own messages). Latency is receive time minus the send time carried
//! in the message, both read from one monotonic clock of this process. Losses are
//! the deliveries expected (each message sent, times every other client that
//! joined) minus those received once the senders have stopped and a grace period
//! has passed, or as soon as everything arrived.
//!
//! Without `rate`, each sender may run at most `window` messages ahead of what one
//! probe receiver has seen from it, so the server's queues stay bounded and the
//! figure is saturation throughput with bounded latency. With `rate`, the senders
//! share R lines/s and latency counts from the moment each line was meant to be
//! sent (no coordinated omission).
//!
//! Idle (`idle`): the clients register and join, then only hold their connections
//! for the duration, answering PINGs; the server's RSS growth from before the
//! first connect to the end of the hold, divided by the clients that joined, is
//! what an idle client costs it.
//!
//! Set-up is gentle with any server: at most `setup_parallel` clients connect and
//! register at once, from 127.0.0.1-64 against a loopback target, and a client
//! that has joined keeps reading (answering PINGs) while the others join, so that
//! the JOINs it is sent cannot fill its send queue.
//!
//! Given several server addresses (the nodes of a cluster, where one channel spans
//! them all), client i connects to address i modulo their number, senders
//! included; every client is still owed every line, whichever node it is on.
//!
//! Clients are spread over worker threads, each with its own single-threaded
//! runtime, as in the echo generator; tallies are per worker and merged at the end.

mod payload;
mod report;
mod setup;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use super::echo::BenchError;
use super::latency::{Latency, histogram};
use super::shared::{ErrorCounts, Progress, merge_errors, round2};
use super::usage::{ProcessSample, SelfSample};
use crate::chat::irc::{Frame, Message, is_valid_channel};
use crate::net::describe_io_error;
use payload::Seen;
pub use report::{ChatReport, ProcessUsage, ServerUsage};
use setup::Conn;
pub use setup::Transport;

/// How long one attempt of one client may take to connect, register and join.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Tries per client: a connection a server never accepted (its listen backlog
/// overflowed) can hang without an error, and a fresh one usually goes through.
const SETUP_ATTEMPTS: u32 = 3;

/// The longest message text: a relayed line must fit IRC's 512 bytes with the
/// server's `:nick!user@host ` in front, which may take about 120 bytes.
pub const MAX_SIZE: usize = 360;

/// Gaps in one client's sequences remembered at once, to tell a late message
/// (reordered) from a duplicate. Past this, gaps are still counted as losses but
/// a late arrival may be counted as a duplicate.
const MAX_GAPS: usize = 4096;

/// How often a worker checks, after sending ended, whether everything arrived,
/// and during set-up, whether every worker's clients have set up.
const GRACE_POLL: Duration = Duration::from_millis(5);

/// The default of `setup_parallel`: more connects at once than a server's listen
/// backlog holds (ngircd's is 10) are retried by the kernel after whole seconds.
pub const SETUP_PARALLEL: usize = 8;

#[derive(Debug, Clone)]
pub struct ChatBench {
    /// Server addresses; client i connects to the one at i modulo their number.
    pub targets: Vec<SocketAddr>,
    /// IRC over TCP, or over WebSocket (`ws://TARGET/ws`).
    pub transport: Transport,
    /// Clients that register and join.
    pub clients: usize,
    /// How many of them send (the first S).
    pub senders: usize,
    pub channel: String,
    /// Lines per second in total, shared by the senders; None: saturate, windowed.
    pub rate: Option<f64>,
    /// Bytes of message text (at least the three numbers it carries).
    pub size: usize,
    /// How long the senders send.
    pub duration: Duration,
    /// Unpaced: messages a sender may be ahead of what the probe receiver has seen.
    pub window: usize,
    /// After sending ends, how long to wait for deliveries still on their way.
    pub grace: Duration,
    /// Worker threads, each with its own runtime.
    pub threads: usize,
    /// Server processes (one per node, say) whose CPU time and memory to sample
    /// before and after; the report sums them.
    pub server_pids: Vec<u32>,
    /// Hold the clients idle instead of sending; `senders` must be 0.
    pub idle: bool,
    /// Idle: clients per channel, None for all in one. Client i joins `channel`
    /// when i < N, else `channel-K` with K = i / N: one channel of 10,000 costs
    /// 50 million JOIN lines to set up, which is not what an idle client costs.
    pub members: Option<usize>,
    /// Clients that connect, register and join at once, shared by the workers.
    /// Few suit a server with a short listen backlog; a server that completes
    /// registrations on a timer (InspIRCd, once a second) needs many.
    pub setup_parallel: usize,
}

/// What one worker thread measured.
struct Tally {
    histogram: Histogram<u64>,
    deliveries: u64,
    duplicates: u64,
    reordered: u64,
    corrupt: u64,
    errors: ErrorCounts,
    /// Clients of this worker that registered and joined.
    joined: usize,
    /// When the last of this worker's senders stopped.
    sending_ended: Option<Instant>,
}

impl Tally {
    fn new() -> Self {
        Self {
            histogram: histogram(),
            deliveries: 0,
            duplicates: 0,
            reordered: 0,
            corrupt: 0,
            errors: BTreeMap::new(),
            joined: 0,
            sending_ended: None,
        }
    }

    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        // Both histograms auto-resize, so adding cannot fail on range.
        let _ = self.histogram.add(&other.histogram);
        self.deliveries += other.deliveries;
        self.duplicates += other.duplicates;
        self.reordered += other.reordered;
        self.corrupt += other.corrupt;
        self.joined += other.joined;
        self.sending_ended = self.sending_ended.max(other.sending_ended);
        merge_errors(&mut self.errors, other.errors);
    }
}

/// What the threads share: per-sender counters and the window's signals.
struct Shared {
    senders: Vec<SenderState>,
    /// Senders that stopped for good (or never started).
    senders_done: AtomicUsize,
    /// Clients (of every worker) whose set-up ended, joined or failed.
    set_up: AtomicUsize,
    /// The clock that send times in messages count from.
    base: std::time::Instant,
}

impl Shared {
    fn nanos(&self, at: std::time::Instant) -> u64 {
        at.saturating_duration_since(self.base).as_nanos() as u64
    }

    fn total_sent(&self) -> u64 {
        self.senders.iter().map(|s| s.sent.load(Relaxed)).sum()
    }
}

#[derive(Default)]
struct SenderState {
    /// Messages written to the socket.
    sent: AtomicU64,
    /// One past the highest sequence number the probe receiver has seen.
    seen: AtomicU64,
    /// The sender waits until `seen` reaches this; the probe wakes it then.
    wake_at: AtomicU64,
    notify: Notify,
}

/// Counts a sender as finished when dropped, however it ends.
struct SenderDone(Arc<Shared>);

impl Drop for SenderDone {
    fn drop(&mut self) {
        self.0.senders_done.fetch_add(1, SeqCst);
    }
}

impl ChatBench {
    fn validate(&self) -> Result<(), BenchError> {
        let bad = |s: String| Err(BenchError::Settings(s));
        if self.targets.is_empty() {
            return bad("at least one server address is needed".into());
        }
        if self.idle {
            if self.clients == 0 {
                return bad("--clients must be at least 1".into());
            }
            if self.senders != 0 || self.rate.is_some() {
                return bad("--idle sends nothing: no senders, no rate".into());
            }
        } else if self.clients < 2 {
            return bad("--clients must be at least 2 (senders do not hear themselves)".into());
        } else if self.senders == 0 || self.senders > self.clients {
            return bad(format!(
                "--senders must be between 1 and --clients ({})",
                self.clients
            ));
        }
        if self.senders > 1000 {
            return bad("--senders must be at most 1000".into());
        }
        if self.members.is_some() && !self.idle {
            return bad("--members is for --idle".into());
        }
        if self.members == Some(0) {
            return bad("--members must be at least 1".into());
        }
        if !is_valid_channel(&self.channel_of(self.clients.saturating_sub(1)), 50) {
            return bad(format!(
                "invalid channel {:?}: expected #name or &name, without spaces or commas",
                self.channel
            ));
        }
        if self.size > MAX_SIZE {
            return bad(format!(
                "--size must be at most {MAX_SIZE} bytes, so relayed lines fit IRC's 512"
            ));
        }
        if let Some(rate) = self.rate {
            // Each sender's interval must be a sane duration: at most a day.
            let interval = Duration::try_from_secs_f64(self.senders as f64 / rate);
            if !(rate > 0.0 && rate.is_finite()) || interval.is_err() {
                return bad("--rate must be a positive number".into());
            }
            if interval.is_ok_and(|i| i > Duration::from_secs(86_400)) {
                return bad("--rate is too low: each sender must send at least once a day".into());
            }
        }
        if self.window == 0 {
            return bad("--window must be at least 1".into());
        }
        if self.setup_parallel == 0 {
            return bad("--setup-parallel must be at least 1".into());
        }
        if self.threads == 0 {
            return bad("--threads must be at least 1".into());
        }
        Ok(())
    }

    /// The channel client `index` joins.
    fn channel_of(&self, index: usize) -> std::borrow::Cow<'_, str> {
        match self.members {
            Some(n) if index >= n => format!("{}-{}", self.channel, index / n).into(),
            _ => self.channel.as_str().into(),
        }
    }

    /// The server address client `index` connects to.
    fn target_of(&self, index: usize) -> SocketAddr {
        self.targets[index % self.targets.len()]
    }

    /// The client that watches sender `s` for the window: the last one, or the one
    /// before it when the last is that sender.
    fn probe_of(&self, sender: usize) -> usize {
        if sender == self.clients - 1 {
            self.clients - 2
        } else {
            self.clients - 1
        }
    }

    /// Runs the benchmark on its own threads and returns the report. `stop` ends
    /// the sending early (deliveries in flight are still awaited for the grace
    /// period); `progress`, when given, is filled with live counters.
    pub fn run(
        &self,
        stop: CancellationToken,
        progress: Option<&Progress>,
    ) -> Result<ChatReport, BenchError> {
        self.validate()?;
        // Before any client connects: idle mode's baseline. A wrong --server-pid
        // fails here, not after the whole run.
        let server_start = self.sample_servers()?;
        let threads = self.threads.min(self.clients);
        let shared = Arc::new(Shared {
            senders: (0..self.senders).map(|_| SenderState::default()).collect(),
            senders_done: AtomicUsize::new(0),
            set_up: AtomicUsize::new(0),
            base: std::time::Instant::now(),
        });
        // The nick tag tells this run's clients from a previous run's, still
        // leaving the server.
        let run_tag = std::process::id() ^ shared.base.elapsed().subsec_nanos();
        // Workers and this thread meet three times: all joined (the measurement
        // starts), all done (the server is sampled while every client is still
        // connected, before the quits cost it anything), and released (clients close).
        let barriers = Arc::new([
            Barrier::new(threads + 1),
            Barrier::new(threads + 1),
            Barrier::new(threads + 1),
        ]);
        let counters: Vec<Arc<AtomicU64>> = (0..threads).map(|_| Arc::default()).collect();
        let setup_started = std::time::Instant::now();
        let mut handles = Vec::with_capacity(threads);
        for (worker, counter) in counters.iter().enumerate() {
            let plan = WorkerPlan {
                bench: self.clone(),
                clients: (worker..self.clients).step_by(threads).collect(),
                shared: shared.clone(),
                run_tag,
                barriers: barriers.clone(),
                stop: stop.clone(),
                counter: counter.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("bench-{worker}"))
                .spawn(move || plan.run())
                .map_err(BenchError::Thread)?;
            handles.push(handle);
        }
        if let Some(progress) = progress {
            progress.follow(&counters);
        }
        barriers[0].wait();
        let setup = setup_started.elapsed();
        let started = Instant::now();
        let self_before = SelfSample::now();
        let server_before = if self.idle {
            Ok(server_start)
        } else {
            self.sample_servers()
        };
        barriers[1].wait();
        let finished = Instant::now();
        let self_cpu = SelfSample::now().cpu_since(&self_before);
        let server_after = self.sample_servers();
        barriers[2].wait();

        let mut total = Tally::new();
        for handle in handles {
            match handle.join() {
                Ok(tally) => total.merge(tally),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        let sending = total
            .sending_ended
            .map_or(finished, |ended| ended.max(started))
            .duration_since(started);
        let server = (server_before?, server_after?);
        Ok(self.report(total, shared.total_sent(), setup, sending, self_cpu, server))
    }

    /// Every server process's sample, in the order of `server_pids`.
    fn sample_servers(&self) -> Result<Vec<ProcessSample>, BenchError> {
        self.server_pids
            .iter()
            .map(|&pid| {
                ProcessSample::read(pid).map_err(|cause| BenchError::ServerPid { pid, cause })
            })
            .collect()
    }
}

/// One worker thread's share of the clients.
struct WorkerPlan {
    bench: ChatBench,
    /// Indexes of this worker's clients.
    clients: Vec<usize>,
    shared: Arc<Shared>,
    run_tag: u32,
    barriers: Arc<[Barrier; 3]>,
    stop: CancellationToken,
    counter: Arc<AtomicU64>,
}

impl WorkerPlan {
    fn run(self) -> Tally {
        let tally = Rc::new(RefCell::new(Tally::new()));
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(err) => {
                tally.borrow_mut().error(describe_io_error(&err));
                // Its clients are done setting up: the others need not wait for them.
                self.shared.set_up.fetch_add(self.clients.len(), SeqCst);
                // Its senders will never send.
                for &index in &self.clients {
                    if index < self.bench.senders {
                        drop(SenderDone(self.shared.clone()));
                    }
                }
                for barrier in self.barriers.iter() {
                    barrier.wait();
                }
                return Rc::try_unwrap(tally)
                    .map(RefCell::into_inner)
                    .unwrap_or_else(|_| Tally::new());
            }
        };
        let local = tokio::task::LocalSet::new();
        let conns = local.block_on(&runtime, self.set_up(&tally));
        self.barriers[0].wait();
        let start = Instant::now();
        let deadline = start + self.bench.duration;
        // The clients live on the LocalSet: they stop being polled when block_on
        // returns, and close when it is dropped, after the server was sampled.
        local.block_on(&runtime, async {
            let bench = Rc::new(self.bench.clone());
            let mut own_senders = Vec::new();
            for (index, conn) in conns {
                let sender = (index < bench.senders).then(|| {
                    own_senders.push(index);
                    Sender::new(&self, &bench, &tally, index, start, deadline)
                });
                let client = Client {
                    conn,
                    sender,
                    receive: Receive::new(&self, &bench, index),
                    tally: tally.clone(),
                };
                tokio::task::spawn_local(client.run());
            }
            self.await_deliveries(&tally, &own_senders, deadline).await;
        });
        self.barriers[1].wait();
        self.barriers[2].wait();
        drop(local);
        Rc::try_unwrap(tally)
            .map(RefCell::into_inner)
            .unwrap_or_else(|_| Tally::new())
    }

    /// Connects, registers and joins every client of this worker, a few at a
    /// time; a client that joined reads (and drops) what it is sent until every
    /// worker's clients have set up. A client that fails is counted under its
    /// error and left out; a sender that fails counts as finished.
    async fn set_up(&self, tally: &Rc<RefCell<Tally>>) -> Vec<(usize, Conn)> {
        let bench = &self.bench;
        let threads = bench.threads.min(bench.clients).max(1);
        let slots = tokio::sync::Semaphore::new((bench.setup_parallel / threads).max(1));
        let all_set_up = CancellationToken::new();
        let attempts = self.clients.iter().map(|&index| {
            let (slots, all_set_up) = (&slots, &all_set_up);
            async move {
                let result = {
                    // The semaphore is never closed.
                    let _slot = slots.acquire().await;
                    let channel = bench.channel_of(index);
                    let mut attempt = 1;
                    loop {
                        let work = setup::connect_and_join(
                            bench.target_of(index),
                            bench.transport,
                            &channel,
                            self.run_tag,
                            index,
                        );
                        let result = tokio::select! {
                            result = tokio::time::timeout(SETUP_TIMEOUT, work) => {
                                result.unwrap_or(Err(setup::SetupError::TimedOut("set-up")))
                            }
                            _ = self.stop.cancelled() => Err(setup::SetupError::Interrupted),
                        };
                        match result {
                            Err(setup::SetupError::TimedOut(_)) if attempt < SETUP_ATTEMPTS => {
                                attempt += 1;
                            }
                            result => break result,
                        }
                    }
                };
                self.shared.set_up.fetch_add(1, SeqCst);
                let result = match result {
                    Ok(mut conn) => conn.drain_until(all_set_up).await.map(|()| conn),
                    Err(err) => Err(err),
                };
                (index, result)
            }
        });
        let everyone = async {
            while self.shared.set_up.load(SeqCst) < bench.clients && !self.stop.is_cancelled() {
                tokio::time::sleep(GRACE_POLL).await;
            }
            all_set_up.cancel();
        };
        let (results, ()) =
            futures::future::join(futures::future::join_all(attempts), everyone).await;
        let mut conns = Vec::with_capacity(self.clients.len());
        for (index, result) in results {
            match result {
                Ok(conn) => conns.push((index, conn)),
                Err(err) => {
                    tally.borrow_mut().error(err.to_string());
                    if index < bench.senders {
                        drop(SenderDone(self.shared.clone()));
                    }
                }
            }
        }
        tally.borrow_mut().joined = conns.len();
        conns
    }

    /// Waits for every sender (on every worker) to stop, then until this worker's
    /// clients received everything sent or the grace period ran out.
    async fn await_deliveries(
        &self,
        tally: &Rc<RefCell<Tally>>,
        own_senders: &[usize],
        deadline: Instant,
    ) {
        if self.bench.idle {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = self.stop.cancelled() => {}
            }
            return;
        }
        // A sender stops at the deadline or on `stop`, unless a write hangs; the
        // grace period bounds that too.
        let latest = deadline + self.bench.grace * 2;
        while self.shared.senders_done.load(SeqCst) < self.bench.senders && Instant::now() < latest
        {
            tokio::time::sleep(GRACE_POLL).await;
        }
        let grace_end = Instant::now() + self.bench.grace;
        loop {
            let joined = tally.borrow().joined as u64;
            let own: u64 = own_senders
                .iter()
                .map(|&s| self.shared.senders[s].sent.load(Relaxed))
                .sum();
            let expected = (joined * self.shared.total_sent()).saturating_sub(own);
            if tally.borrow().deliveries >= expected || Instant::now() >= grace_end {
                return;
            }
            tokio::time::sleep(GRACE_POLL).await;
        }
    }
}

/// One connected client: reads and counts deliveries; a sender also sends.
struct Client {
    conn: Conn,
    sender: Option<Sender>,
    receive: Receive,
    tally: Rc<RefCell<Tally>>,
}

impl Client {
    async fn run(self) {
        let Client {
            mut conn,
            mut sender,
            mut receive,
            tally,
        } = self;
        Self::pump(&mut conn, &mut sender, &mut receive, &tally).await;
        // The connection failed: a sender stops here.
        if let Some(sender) = sender.as_mut() {
            sender.finish();
        }
    }

    /// Reads, counts and sends until the connection fails.
    async fn pump(
        conn: &mut Conn,
        sender: &mut Option<Sender>,
        receive: &mut Receive,
        tally: &Rc<RefCell<Tally>>,
    ) {
        loop {
            let sending = sender.as_ref().is_some_and(|s| s.done.is_some());
            // Not biased: under load there is always something to read, and the
            // sender must still get its turns.
            tokio::select! {
                frame = conn.frames.next() => {
                    if !Self::on_frame(conn, receive, tally, frame).await {
                        return;
                    }
                    // Lines already read take no select (and no timers) each.
                    for _ in 0..DRAIN {
                        let Some(frame) = conn.frames.next().now_or_never() else {
                            break;
                        };
                        if !Self::on_frame(conn, receive, tally, frame).await {
                            return;
                        }
                    }
                }
                count = turn(sender), if sending => {
                    if let Some(sender) = sender.as_mut() {
                        sender.send(conn, count).await;
                    }
                }
            }
        }
    }

    /// Handles what the reader yielded; false when the connection is over.
    async fn on_frame(
        conn: &mut Conn,
        receive: &mut Receive,
        tally: &Rc<RefCell<Tally>>,
        frame: Option<std::io::Result<Frame>>,
    ) -> bool {
        let line = match frame {
            Some(Ok(Frame::Line(line))) => line,
            Some(Ok(Frame::LineTooLong)) => {
                tally
                    .borrow_mut()
                    .error("receive: a line over the length limit".into());
                return true;
            }
            Some(Err(err)) => {
                tally
                    .borrow_mut()
                    .error(format!("receive: {}", describe_io_error(&err)));
                return false;
            }
            None => {
                tally
                    .borrow_mut()
                    .error("receive: the server closed the connection".into());
                return false;
            }
        };
        match receive.on_line(conn, &line, tally).await {
            Ok(()) => true,
            Err(kind) => {
                tally.borrow_mut().error(kind);
                false
            }
        }
    }
}

/// Lines handled in a row, once one was, before the sender gets another turn.
const DRAIN: usize = 64;

async fn turn(sender: &mut Option<Sender>) -> usize {
    match sender {
        Some(sender) => sender.turn().await,
        None => std::future::pending().await,
    }
}

/// Most lines written at once when a paced sender catches up.
const MAX_BATCH: usize = 256;

/// A sending client's state.
struct Sender {
    id: usize,
    bench: Rc<ChatBench>,
    shared: Arc<Shared>,
    tally: Rc<RefCell<Tally>>,
    /// Paced: the time between two of this sender's lines.
    interval: Option<Duration>,
    /// Paced: when the next line is meant to leave.
    schedule: Instant,
    deadline: Instant,
    stop: CancellationToken,
    next_seq: u64,
    /// Windowed: sequence numbers below this count as seen, after a stall.
    floor: u64,
    /// Windowed: when waiting for the probe, when to give up waiting.
    stall_at: Option<Instant>,
    buf: Vec<u8>,
    batch: u64,
    /// Present until the sender stops for good.
    done: Option<SenderDone>,
}

impl Sender {
    fn new(
        plan: &WorkerPlan,
        bench: &Rc<ChatBench>,
        tally: &Rc<RefCell<Tally>>,
        id: usize,
        start: Instant,
        deadline: Instant,
    ) -> Sender {
        let interval = bench
            .rate
            .map(|rate| Duration::from_secs_f64(bench.senders as f64 / rate));
        // Paced senders are staggered evenly over one interval.
        let offset = interval.map_or(Duration::ZERO, |i| {
            i.mul_f64(id as f64 / bench.senders as f64)
        });
        Sender {
            id,
            bench: bench.clone(),
            shared: plan.shared.clone(),
            tally: tally.clone(),
            interval,
            schedule: start + offset,
            deadline,
            stop: plan.stop.clone(),
            next_seq: 0,
            floor: 0,
            stall_at: None,
            buf: Vec::new(),
            batch: 0,
            done: Some(SenderDone(plan.shared.clone())),
        }
    }

    /// Waits until lines may be sent and says how many; 0 when sending is over.
    async fn turn(&mut self) -> usize {
        let (deadline, stop) = (self.deadline, self.stop.clone());
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(deadline) => 0,
            _ = stop.cancelled() => 0,
            n = self.ready() => n,
        }
    }

    async fn ready(&mut self) -> usize {
        match self.interval {
            Some(interval) => self.paced(interval).await,
            None => self.window_open().await,
        }
    }

    /// Paced: sleeps until the next line is due; then every line already due.
    async fn paced(&mut self, interval: Duration) -> usize {
        tokio::time::sleep_until(self.schedule).await;
        let now = Instant::now();
        let mut due = 1;
        let mut at = self.schedule + interval;
        while at <= now && due < MAX_BATCH {
            due += 1;
            at += interval;
        }
        due
    }

    /// Windowed: waits until at least half the window is free (so lines leave in
    /// batches and the probe wakes this sender rarely); then fills it.
    async fn window_open(&mut self) -> usize {
        let state = &self.shared.senders[self.id];
        let window = self.bench.window as u64;
        let half = (window / 2).max(1);
        loop {
            let seen = state.seen.load(SeqCst).max(self.floor);
            let in_flight = self.next_seq.saturating_sub(seen);
            if in_flight + half <= window {
                state.wake_at.store(u64::MAX, SeqCst);
                self.stall_at = None;
                return (window - in_flight) as usize;
            }
            let wanted = self.next_seq + half - window;
            // Publish what to wake for, then look again: the probe stores `seen`
            // before it reads `wake_at`, so one of the two sees the other.
            state.wake_at.store(wanted, SeqCst);
            if state.seen.load(SeqCst) >= wanted {
                continue;
            }
            let stall_at = *self
                .stall_at
                .get_or_insert_with(|| Instant::now() + self.bench.grace);
            if tokio::time::timeout_at(stall_at, state.notify.notified())
                .await
                .is_err()
            {
                // Nothing arrived at the probe for a whole grace period: the line
                // it waits for was lost, or the probe is gone. Count it and go on
                // rather than stall for good.
                self.tally.borrow_mut().error(format!(
                    "window: the probe received nothing for {:?}",
                    self.bench.grace
                ));
                self.floor = self.next_seq;
                self.stall_at = None;
            }
        }
    }

    /// Writes `count` lines in one write; 0 stops the sender.
    async fn send(&mut self, conn: &mut Conn, count: usize) {
        if count == 0 {
            self.finish();
            return;
        }
        self.fill(count);
        let (deadline, stop) = (self.deadline, self.stop.clone());
        // A write that hangs (a server that stopped reading) ends with the run.
        let result = tokio::select! {
            result = conn.send(&self.buf) => Some(result),
            _ = tokio::time::sleep_until(deadline) => None,
            _ = stop.cancelled() => None,
        };
        match result {
            Some(Ok(())) => {
                self.next_seq += self.batch;
                self.shared.senders[self.id]
                    .sent
                    .store(self.next_seq, SeqCst);
            }
            Some(Err(err)) => {
                let kind = format!("send: {}", describe_io_error(&err));
                self.tally.borrow_mut().error(kind);
                self.finish();
            }
            None => self.finish(),
        }
    }

    /// The next `count` lines, stamped with the time now or, paced, with the time
    /// each was meant to leave.
    fn fill(&mut self, count: usize) {
        self.buf.clear();
        let now = std::time::Instant::now();
        for k in 0..count as u64 {
            let at = match self.interval {
                Some(interval) => {
                    let at = self.schedule;
                    self.schedule += interval;
                    at.into_std()
                }
                None => now,
            };
            payload::write_line(
                &mut self.buf,
                &self.bench.channel,
                self.bench.size,
                self.id as u32,
                self.next_seq + k,
                self.shared.nanos(at),
            );
        }
        self.batch = count as u64;
    }

    fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            let mut tally = self.tally.borrow_mut();
            tally.sending_ended = tally.sending_ended.max(Some(Instant::now()));
            drop(done);
        }
    }
}

/// A client's receiving side: per-sender sequence tracking.
struct Receive {
    index: usize,
    bench: Rc<ChatBench>,
    shared: Arc<Shared>,
    counter: Arc<AtomicU64>,
    /// Per sender: one past the highest sequence number received.
    next: Vec<u64>,
    /// Sequence numbers skipped over and not (yet) received: (sender, seq).
    gaps: BTreeSet<(u32, u64)>,
}

impl Receive {
    fn new(plan: &WorkerPlan, bench: &Rc<ChatBench>, index: usize) -> Receive {
        Receive {
            index,
            bench: bench.clone(),
            shared: plan.shared.clone(),
            counter: plan.counter.clone(),
            next: vec![0; bench.senders],
            gaps: BTreeSet::new(),
        }
    }

    /// Handles one received line; an error (its kind) when the client must stop.
    async fn on_line(
        &mut self,
        conn: &mut Conn,
        line: &[u8],
        tally: &Rc<RefCell<Tally>>,
    ) -> Result<(), String> {
        match payload::parse(line, &self.bench.channel, self.bench.size) {
            Seen::Payload(p) => self.on_payload(p, tally),
            Seen::Corrupt => tally.borrow_mut().corrupt += 1,
            Seen::Other => {
                let Ok(message) = Message::parse(line) else {
                    return Ok(());
                };
                match message.command.as_str() {
                    "PING" => {
                        let token = message.params.last().map_or("", String::as_str);
                        let pong = format!("PONG :{token}\r\n");
                        conn.send(pong.as_bytes())
                            .await
                            .map_err(|err| format!("send: {}", describe_io_error(&err)))?;
                    }
                    "ERROR" => {
                        let text = message.params.last().cloned().unwrap_or_default();
                        return Err(format!("the server sent ERROR: {text}"));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn on_payload(&mut self, p: payload::Payload, tally: &Rc<RefCell<Tally>>) {
        let received = self.shared.nanos(std::time::Instant::now());
        let sender = p.sender as usize;
        let mut tally = tally.borrow_mut();
        if sender >= self.next.len() {
            // Not one of this run's senders.
            tally.corrupt += 1;
            return;
        }
        if sender == self.index {
            // The server echoed a sender's own line (echo-message by default):
            // not a delivery.
            return;
        }
        let next = &mut self.next[sender];
        if p.seq >= *next {
            for missing in *next..p.seq {
                if self.gaps.len() >= MAX_GAPS {
                    break;
                }
                self.gaps.insert((p.sender, missing));
            }
            *next = p.seq + 1;
            if self.bench.probe_of(sender) == self.index {
                let state = &self.shared.senders[sender];
                state.seen.store(*next, SeqCst);
                if *next >= state.wake_at.load(SeqCst) {
                    state.notify.notify_one();
                }
            }
        } else if self.gaps.remove(&(p.sender, p.seq)) {
            tally.reordered += 1;
        } else {
            tally.duplicates += 1;
            return;
        }
        tally.deliveries += 1;
        // Saturate rather than fail on an absurd value; the histogram grows as needed.
        let _ = tally.histogram.record(received.saturating_sub(p.nanos));
        self.counter.fetch_add(1, Relaxed);
    }
}

impl ChatBench {
    fn report(
        &self,
        total: Tally,
        sent: u64,
        setup: Duration,
        sending: Duration,
        self_cpu: Duration,
        (before, after): (Vec<ProcessSample>, Vec<ProcessSample>),
    ) -> ChatReport {
        let joined = total.joined as u64;
        let secs = sending.as_secs_f64().max(1e-9);
        let deliveries = total.deliveries;
        let per_delivery = |cpu: Duration| {
            if deliveries == 0 {
                0.0
            } else {
                round3(cpu.as_secs_f64() * 1e6 / deliveries as f64)
            }
        };
        let expected = sent * (total.joined.saturating_sub(1) as u64);
        let processes: Vec<ProcessUsage> = self
            .server_pids
            .iter()
            .zip(before.iter().zip(&after))
            .map(|(&pid, (before, after))| ProcessUsage {
                pid,
                cpu_us_per_delivery: per_delivery(after.cpu.saturating_sub(before.cpu)),
                rss_before_kib: before.rss_kib,
                rss_after_kib: after.rss_kib,
            })
            .collect();
        // The figures of the whole: every process summed.
        let (before, after): (ProcessSample, ProcessSample) =
            (before.iter().sum(), after.iter().sum());
        let server = (!processes.is_empty()).then(|| ServerUsage {
            pid: processes[0].pid,
            cpu_us_per_delivery: per_delivery(after.cpu.saturating_sub(before.cpu)),
            rss_before_kib: before.rss_kib,
            rss_after_kib: after.rss_kib,
            rss_per_client_bytes: if self.idle {
                after.rss_growth_per(&before, joined)
            } else {
                None
            },
            processes,
        });
        ChatReport {
            target: self.target_of(0).to_string(),
            targets: self.targets.iter().map(ToString::to_string).collect(),
            channel: self.channel.clone(),
            idle: self.idle,
            clients: self.clients,
            joined: total.joined,
            senders: self.senders,
            size: self.size,
            rate: self.rate,
            window: (self.rate.is_none() && !self.idle).then_some(self.window),
            setup_s: round3(setup.as_secs_f64()),
            duration_s: round3(secs),
            sent,
            sent_per_s: round2(sent as f64 / secs),
            expected,
            deliveries,
            deliveries_per_s: round2(deliveries as f64 / secs),
            losses: expected.saturating_sub(deliveries),
            duplicates: total.duplicates,
            reordered: total.reordered,
            corrupt: total.corrupt,
            latency_us: Latency::of(&total.histogram),
            errors: total.errors,
            client_cpu_us_per_delivery: per_delivery(self_cpu),
            server,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
