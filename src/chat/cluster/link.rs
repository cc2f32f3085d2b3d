//! The hub's end of the cluster: what this node published and waits to read
//! back from the log.
//!
//! A session's event is not applied when the session makes it: it is written
//! to the log and applied when the log gives it back, in the order every node
//! applies it. What the session expects in the meantime waits here, in
//! publishing order, which is also the order this node's entries come back in
//! (one connection writes them): the release of each event, the registration
//! that waits for its nick, and the replies and queries made behind them, so
//! that a client still sees answers in the order of its commands.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::wire::Logged;
use crate::chat::history::Release;
use crate::chat::hub::{ClientId, Hub, NickInUse, Registration};

/// Something done on the hub once the entries published before it are applied.
pub(crate) type Deferred = Box<dyn FnOnce(&Hub) -> Release + Send>;

/// What a session gets back from a registration it published.
pub(crate) type Claimed = Result<ClientId, NickInUse>;

/// What waits for an entry of this node to come back from the log.
pub(crate) enum Waiting {
    /// An event: `done` completes the session's release.
    Event { op: u64, done: oneshot::Sender<()> },
    /// A registration: the queue and welcome of the client, and where to say
    /// whether the nick was free.
    Register {
        op: u64,
        registration: Box<Registration>,
        result: oneshot::Sender<Claimed>,
    },
    /// An entry nobody waits for (a departure).
    Quiet { op: u64 },
    /// Work to do after the entry before it, then `done`.
    After {
        work: Deferred,
        done: oneshot::Sender<()>,
    },
}

impl Waiting {
    fn op(&self) -> Option<u64> {
        match self {
            Waiting::Event { op, .. } | Waiting::Register { op, .. } | Waiting::Quiet { op } => {
                Some(*op)
            }
            Waiting::After { .. } => None,
        }
    }
}

/// One entry for the publisher: its number among this node's entries, and
/// the entry itself.
pub(crate) struct Outgoing {
    pub node: u32,
    pub op: u64,
    pub entry: String,
}

pub(crate) struct Link {
    /// This node's number in the cluster: the high half of its clients' ids.
    node: AtomicU32,
    /// The low half of the next client's id.
    next_client: AtomicU32,
    queue: Mutex<Queue>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

#[derive(Default)]
struct Queue {
    next_op: u64,
    waiting: VecDeque<Waiting>,
}

impl Link {
    pub(crate) fn new(node: u32, outgoing: mpsc::UnboundedSender<Outgoing>) -> Link {
        Link {
            node: AtomicU32::new(node),
            next_client: AtomicU32::new(0),
            queue: Mutex::default(),
            outgoing,
        }
    }

    pub(crate) fn node(&self) -> u32 {
        self.node.load(Ordering::Relaxed)
    }

    /// Takes a new number, once the network gave up the old one; gives what
    /// waited for entries written under the old one, which every node now
    /// ignores.
    pub(crate) fn renumber(&self) -> (u32, Vec<Waiting>) {
        let mut queue = self.lock();
        let node = new_node_number();
        self.node.store(node, Ordering::Relaxed);
        (node, queue.waiting.drain(..).collect())
    }

    /// An id for a client registering here.
    pub(crate) fn next_client_id(&self) -> ClientId {
        let n = self.next_client.fetch_add(1, Ordering::Relaxed) + 1;
        (u64::from(self.node()) << 32) | u64::from(n)
    }

    /// Publishes an event of client `id`; the release completes once it is
    /// applied here and its lines are queued.
    pub(crate) fn publish_event(&self, logged: &Logged) -> Release {
        let (done, released) = oneshot::channel();
        self.publish(logged, |op| Waiting::Event { op, done });
        Release::when(released)
    }

    /// Publishes a registration; the receiver says whether the nick was free.
    pub(crate) fn publish_registration(
        &self,
        logged: &Logged,
        registration: Registration,
    ) -> oneshot::Receiver<Claimed> {
        let (result, claimed) = oneshot::channel();
        let registration = Box::new(registration);
        self.publish(logged, |op| Waiting::Register {
            op,
            registration,
            result,
        });
        claimed
    }

    /// Publishes an entry that nobody waits for.
    pub(crate) fn publish_quietly(&self, logged: &Logged) {
        self.publish(logged, |op| Waiting::Quiet { op });
    }

    fn publish(&self, logged: &Logged, waiting: impl FnOnce(u64) -> Waiting) {
        let entry = serde_json::to_string(logged).expect("log entries serialize");
        let mut queue = self.lock();
        queue.next_op += 1;
        let op = queue.next_op;
        queue.waiting.push_back(waiting(op));
        // Under the lock, so the publisher gets entries in `op` order. If it is
        // gone (shutdown), the entry never comes back: the waiting ends when
        // the queue is dropped with the hub.
        let node = self.node();
        let _ = self.outgoing.send(Outgoing { node, op, entry });
    }

    /// Defers `work` behind what this node has published and not yet
    /// applied; gives `work` back when nothing is pending, to run now.
    pub(crate) fn defer(&self, work: Deferred) -> Result<Release, Deferred> {
        let mut queue = self.lock();
        if queue.waiting.is_empty() {
            return Err(work);
        }
        let (done, released) = oneshot::channel();
        queue.waiting.push_back(Waiting::After { work, done });
        Ok(Release::when(released))
    }

    /// What waited for this node's entry `op`, in order: entries published
    /// before it that never came back (lost with a Redis that forgot them),
    /// then its own, then the work deferred behind it. Empty for an entry seen
    /// before (a publish that was retried).
    pub(crate) fn take(&self, op: u64) -> Vec<Waiting> {
        let mut queue = self.lock();
        let mut taken = Vec::new();
        while queue
            .waiting
            .front()
            .is_some_and(|w| w.op().is_none_or(|o| o <= op))
        {
            let waiting = queue.waiting.pop_front().expect("front exists");
            let found = waiting.op() == Some(op);
            taken.push(waiting);
            if found {
                while let Some(Waiting::After { .. }) = queue.waiting.front() {
                    taken.extend(queue.waiting.pop_front());
                }
                break;
            }
        }
        taken
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A node number no other node is likely to have: random, never 0 (the
/// number of a server alone).
pub(crate) fn new_node_number() -> u32 {
    // The standard library seeds each `RandomState` from the OS.
    let random = RandomState::new().hash_one(std::process::id()) as u32;
    random.max(1)
}
