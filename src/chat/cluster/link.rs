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

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::wire::{Logged, Rejoining};
use crate::chat::caps::Caps;
use crate::chat::event::Event;
use crate::chat::history::Release;
use crate::chat::hub::{ClientId, Hub, NickInUse, Registration};
use crate::chat::outbound::Outbound;

/// Something done on the hub once the entries published before it are applied.
pub(crate) type Deferred = Box<dyn FnOnce(&Hub) -> Release + Send>;

/// What a session gets back from a registration it published.
pub(crate) type Claimed = Result<ClientId, NickInUse>;

/// This node's clients' queues and capabilities, by id.
pub(crate) type Locals = HashMap<ClientId, (Outbound, Caps)>;

/// What waits for an entry of this node to come back from the log.
pub(crate) enum Waiting {
    /// An event: `done` completes the session's release.
    Event { op: u64, done: oneshot::Sender<()> },
    /// A registration: the queue and welcome of the client, and where to say
    /// whether the nick was free.
    Register {
        op: u64,
        id: ClientId,
        registration: Box<Registration>,
        result: oneshot::Sender<Claimed>,
    },
    /// This node's return after a split: its clients, and their queues to
    /// give back to them once the network has them again.
    Rejoin {
        op: u64,
        clients: Vec<Rejoining>,
        locals: Locals,
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
            Waiting::Event { op, .. }
            | Waiting::Register { op, .. }
            | Waiting::Rejoin { op, .. }
            | Waiting::Quiet { op } => Some(*op),
            Waiting::After { .. } => None,
        }
    }
}

/// One entry for the publisher: its number among this node's entries, and
/// the entry itself.
pub(crate) struct Outgoing {
    /// The split count when it was published: an entry from before a split
    /// is not written after it.
    pub epoch: u64,
    pub node: u32,
    pub op: u64,
    pub entry: String,
}

/// The queue to the publisher is unbounded, and bounded by construction like
/// the commit queue: a session has at most `MAX_HELD_COMMANDS` entries
/// waiting (see `limits`), and sessions are capped by `--max-clients`.
pub(crate) struct Link {
    /// This node's number in the cluster: the high half of its clients' ids.
    node: u32,
    /// The low half of the next client's id.
    next_client: AtomicU32,
    queue: Mutex<Queue>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

#[derive(Default)]
struct Queue {
    next_op: u64,
    waiting: VecDeque<Waiting>,
    /// Cut off from Redis: the hub applies events on its own until the node
    /// rejoins, and nothing is published.
    split: bool,
    /// Splits and rejoins so far: entries read or written in an earlier
    /// epoch are stale.
    epoch: u64,
}

impl Link {
    pub(crate) fn new(node: u32, outgoing: mpsc::UnboundedSender<Outgoing>) -> Link {
        Link {
            node,
            next_client: AtomicU32::new(0),
            queue: Mutex::default(),
            outgoing,
        }
    }

    pub(crate) fn node(&self) -> u32 {
        self.node
    }

    /// An id for a client registering here.
    pub(crate) fn next_client_id(&self) -> ClientId {
        let n = self.next_client.fetch_add(1, Ordering::Relaxed) + 1;
        (u64::from(self.node()) << 32) | u64::from(n)
    }

    /// Publishes an event of client `id`; the release completes once it is
    /// applied here and its lines are queued. Gives the event back while
    /// split: the hub applies it.
    pub(crate) fn publish_event(&self, id: ClientId, event: Event) -> Result<Release, Event> {
        let logged = Logged::Event { id, event };
        let (done, released) = oneshot::channel();
        if self.publish(&logged, |op| Waiting::Event { op, done }) {
            return Ok(Release::when(released));
        }
        let Logged::Event { event, .. } = logged else {
            unreachable!("built above")
        };
        Err(event)
    }

    /// Publishes the registration of client `id`; the receiver says whether
    /// the nick was free. Gives the registration back while split.
    pub(crate) fn publish_registration(
        &self,
        id: ClientId,
        logged: &Logged,
        registration: Box<Registration>,
    ) -> Result<oneshot::Receiver<Claimed>, Box<Registration>> {
        let (result, claimed) = oneshot::channel();
        let mut slot = Some(registration);
        let published = self.publish(logged, |op| Waiting::Register {
            op,
            id,
            registration: slot.take().expect("taken once"),
            result,
        });
        match slot {
            Some(registration) if !published => Err(registration),
            _ => Ok(claimed),
        }
    }

    /// Publishes an entry that nobody waits for (not while split).
    pub(crate) fn publish_quietly(&self, logged: &Logged) {
        self.publish(logged, |op| Waiting::Quiet { op });
    }

    /// Publishes an entry; the receiver completes once it is applied here.
    /// None while split: nothing is written.
    pub(crate) fn publish_awaited(&self, logged: &Logged) -> Option<oneshot::Receiver<()>> {
        let (done, applied) = oneshot::channel();
        self.publish(logged, |op| Waiting::Event { op, done })
            .then_some(applied)
    }

    /// Writes `logged` to the log, unless split; false if not written.
    fn publish(&self, logged: &Logged, waiting: impl FnOnce(u64) -> Waiting) -> bool {
        let mut queue = self.lock();
        if queue.split {
            return false;
        }
        self.push(&mut queue, logged, waiting);
        true
    }

    fn push(&self, queue: &mut Queue, logged: &Logged, waiting: impl FnOnce(u64) -> Waiting) {
        let entry = serde_json::to_string(logged).expect("log entries serialize");
        queue.next_op += 1;
        let op = queue.next_op;
        queue.waiting.push_back(waiting(op));
        // Under the lock, so the publisher gets entries in `op` order. If it is
        // gone (shutdown), the entry never comes back: the waiting ends when
        // the queue is dropped with the hub.
        let (node, epoch) = (self.node(), queue.epoch);
        let _ = self.outgoing.send(Outgoing {
            epoch,
            node,
            op,
            entry,
        });
    }

    /// Cuts this node off: nothing is published until [`rejoin`](Link::rejoin),
    /// and what waited for entries not yet back is given back.
    pub(crate) fn split(&self) -> Vec<Waiting> {
        let mut queue = self.lock();
        queue.split = true;
        queue.epoch += 1;
        queue.waiting.drain(..).collect()
    }

    /// Publishes this node's return with `clients`, before anything else,
    /// and ends the split; gives the new epoch.
    pub(crate) fn rejoin(&self, server: &str, clients: Vec<Rejoining>, locals: Locals) -> u64 {
        let mut queue = self.lock();
        queue.split = false;
        queue.epoch += 1;
        let logged = Logged::Rejoin {
            node: self.node,
            server: server.to_string(),
            clients: clients.clone(),
        };
        self.push(&mut queue, &logged, |op| Waiting::Rejoin {
            op,
            clients,
            locals,
        });
        queue.epoch
    }

    /// The current epoch, and whether it is a split.
    pub(crate) fn epoch(&self) -> (u64, bool) {
        let queue = self.lock();
        (queue.epoch, queue.split)
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
