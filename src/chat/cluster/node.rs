//! Joining a cluster, keeping this node's place in it, and leaving.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::link::{Link, Outgoing, new_node_number};
use super::stats::ClusterMetrics;
use super::wire::{LOG, LogId, Logged, NODES, SNAPSHOT, heartbeat_key};
use crate::chat::server::Context;

/// How long a heartbeat lives: a node silent for this long is gone.
const HEARTBEAT_TTL: Duration = Duration::from_secs(3);
/// How often a node refreshes its heartbeat and looks at the others'.
const TICK: Duration = Duration::from_secs(1);
/// Checks in a row that must miss a node's heartbeat before it is given up:
/// after Redis comes back, every node gets a moment to write its own again.
const MISSES_TO_GIVE_UP: u32 = 2;
/// Ticks between snapshots.
const SNAPSHOT_EVERY: u32 = 10;
/// How long a command may take before the connection counts as lost.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The reason peers see when a node is given up.
pub(crate) const SPLIT: &str = "*.net *.split";

/// Writes a snapshot only over an older one (several nodes write them).
const SAVE_SNAPSHOT: &str = r"
local old = redis.call('HGET', KEYS[1], 'at')
if old then
  local oms, on = string.match(old, '(%d+)-(%d+)')
  local nms, nn = string.match(ARGV[1], '(%d+)-(%d+)')
  if tonumber(oms) > tonumber(nms) or (oms == nms and tonumber(on) >= tonumber(nn)) then
    return 0
  end
end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'state', ARGV[2])
return 1
";

/// Why a node could not join.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClusterError(String);

/// A node that has joined a cluster: connected to Redis, numbered, and
/// holding the state to start from. Hand it to
/// [`ChatServer::with_cluster`](crate::chat::ChatServer::with_cluster).
pub struct Cluster {
    shared: Arc<Shared>,
    /// The snapshot to start from, if the cluster has one.
    snapshot: Option<String>,
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
    link: Option<Link>,
}

/// What the cluster's tasks share.
pub(super) struct Shared {
    client: redis::Client,
    /// Where the reader reads from: the epoch and the entry after which to
    /// read, or `None` while split.
    pub reading: watch::Sender<Option<(u64, LogId)>>,
    /// Where Redis is, without the password, for messages.
    redis: String,
    pub name: String,
    pub metrics: Arc<ClusterMetrics>,
}

impl Cluster {
    /// Connects to Redis at `url` (`redis://` or `rediss://`, with a password
    /// if needed) as the node `name`, and loads the latest snapshot.
    pub async fn join(url: &str, name: &str) -> Result<Cluster, ClusterError> {
        // `rediss://` needs a process-wide TLS provider: the same as the rest.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = redis::Client::open(url)
            .map_err(|err| ClusterError(format!("--redis {}: {err}", redact(url))))?;
        let shared = Shared {
            reading: watch::Sender::new(None),
            redis: redact(url),
            client,
            name: name.to_string(),
            metrics: Arc::default(),
        };
        let mut conn = shared.connect().await.map_err(|err| {
            ClusterError(format!("cannot reach Redis at {}: {err}", shared.redis))
        })?;
        let snapshot: Option<String> = redis::cmd("HGET")
            .arg(SNAPSHOT)
            .arg("state")
            .query_async(&mut conn)
            .await
            .map_err(|err| ClusterError(format!("Redis at {}: {err}", shared.redis)))?;
        // Alive from the start: a node that dies before its first tick is
        // given up like any other.
        let node = new_node_number();
        redis::cmd("SET")
            .arg(heartbeat_key(node))
            .arg(name)
            .arg("PX")
            .arg(HEARTBEAT_TTL.as_millis() as u64)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|err| ClusterError(format!("Redis at {}: {err}", shared.redis)))?;
        let (sender, outgoing) = mpsc::unbounded_channel();
        Ok(Cluster {
            shared: Arc::new(shared),
            snapshot,
            outgoing,
            link: Some(Link::new(node, sender)),
        })
    }

    /// The hub's end, taken once.
    pub(crate) fn take_link(&mut self) -> Link {
        self.link.take().expect("the link is taken once")
    }

    pub(crate) fn snapshot(&self) -> Option<&str> {
        self.snapshot.as_deref()
    }

    pub(crate) fn metrics(&self) -> Arc<ClusterMetrics> {
        self.shared.metrics.clone()
    }

    /// Starts publishing, applying the log from `from`, and keeping the
    /// heartbeat; the tasks stop when the set is dropped.
    pub(crate) fn run(self, ctx: Arc<Context>, from: LogId) -> JoinSet<()> {
        self.shared
            .reading
            .send_replace(Some((ctx.hub.epoch().0, from)));
        let mut tasks = JoinSet::new();
        let publish = super::log::publish(self.shared.clone(), ctx.clone(), self.outgoing);
        tasks.spawn(publish);
        tasks.spawn(super::log::apply(self.shared.clone(), ctx.clone()));
        tasks.spawn(upkeep(self.shared, ctx));
        tasks
    }
}

impl Shared {
    async fn connect(&self) -> redis::RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// A new connection for task `what`, after the backoff's next wait.
    pub(super) async fn reconnect(
        &self,
        what: &str,
        backoff: &mut Backoff,
    ) -> Option<MultiplexedConnection> {
        tokio::time::sleep(backoff.next()).await;
        match self.connect().await {
            Ok(conn) => {
                self.metrics.split(false);
                Some(conn)
            }
            Err(err) => {
                self.lost(what, &err);
                None
            }
        }
    }

    /// Notes a failed command of task `what`.
    pub(super) fn lost(&self, what: &str, err: &redis::RedisError) {
        self.metrics.redis_error();
        self.metrics.split(true);
        tracing::warn!("Redis at {} ({what}): {err}; retrying", self.redis);
    }

    /// Cuts this node off after Redis went out of reach: the hub serves its
    /// own clients alone and the reader stops.
    pub(super) fn split(&self, ctx: &Context) {
        tracing::warn!(
            "Redis at {} is out of reach: serving this node's users alone",
            self.redis
        );
        ctx.hub.split();
        self.reading.send_replace(None);
        self.metrics.split(true);
    }

    /// Rejoins after a split: the hub takes the cluster's latest snapshot
    /// and writes its clients back, and the reader starts from the snapshot.
    pub(super) async fn resync(
        &self,
        ctx: &Context,
        conn: &mut MultiplexedConnection,
    ) -> redis::RedisResult<()> {
        let snapshot: Option<String> = redis::cmd("HGET")
            .arg(SNAPSHOT)
            .arg("state")
            .query_async(conn)
            .await?;
        let (epoch, from) = match ctx.hub.resync(snapshot.as_deref()) {
            Ok(position) => position,
            Err(err) => {
                tracing::warn!(
                    "the cluster's snapshot is not understood ({err}); rejoining without it"
                );
                ctx.hub.resync(None).expect("no snapshot to read")
            }
        };
        tracing::info!("Redis at {} is back: rejoined the cluster", self.redis);
        self.reading.send_replace(Some((epoch, from)));
        self.metrics.resynced();
        self.metrics.split(false);
        Ok(())
    }
}

/// Retry delays: 100 ms doubling up to 2 s.
pub(super) struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff(Duration::ZERO)
    }
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (wait * 2).clamp(Duration::from_millis(100), Duration::from_secs(2));
        wait
    }
}

/// Every tick: refreshes this node's heartbeat, gives up nodes whose heartbeat
/// is gone, and now and then writes a snapshot and trims the log behind the
/// previous one. A heartbeat that fails splits this node off; one that works
/// again makes it rejoin.
async fn upkeep(shared: Arc<Shared>, ctx: Arc<Context>) {
    let mut conn: Option<MultiplexedConnection> = None;
    let mut backoff = Backoff::default();
    let mut watch = Watch::default();
    let mut snapshots = Snapshots::default();
    let mut interval = tokio::time::interval(TICK);
    loop {
        interval.tick().await;
        if conn.is_none() {
            conn = shared.reconnect("heartbeat", &mut backoff).await;
            watch.misses.clear();
        }
        let beat = match &mut conn {
            Some(c) => heartbeat(&shared, &ctx, c).await,
            None => continue,
        };
        let Some(c) = conn.as_mut().filter(|_| beat.is_ok()) else {
            if let Err(err) = beat {
                shared.lost("heartbeat", &err);
            }
            conn = None;
            if !ctx.hub.epoch().1 {
                shared.split(&ctx);
            }
            continue;
        };
        backoff = Backoff::default();
        if ctx.hub.epoch().1 {
            if let Err(err) = shared.resync(&ctx, c).await {
                shared.lost("rejoin", &err);
                conn = None;
            }
            continue;
        }
        watch.check(&ctx, beat.expect("checked above"));
        if let Err(err) = snapshots.tick(&ctx, c).await {
            shared.lost("snapshot", &err);
        }
    }
}

/// What one heartbeat found: the nodes alive, and for each node with clients
/// here, whether its heartbeat is there.
struct Beat {
    others: Vec<(u32, bool)>,
}

/// Refreshes this node's heartbeat and reads the others', in one round trip.
async fn heartbeat(
    shared: &Shared,
    ctx: &Context,
    conn: &mut MultiplexedConnection,
) -> redis::RedisResult<Beat> {
    let others: Vec<u32> = ctx.hub.other_nodes().into_iter().collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let ttl = HEARTBEAT_TTL.as_millis() as u64;
    let mut pipe = redis::pipe();
    pipe.cmd("SET")
        .arg(heartbeat_key(ctx.hub.node()))
        .arg(&shared.name)
        .arg("PX")
        .arg(ttl)
        .ignore();
    // Every node by its last heartbeat, to count the nodes alive.
    pipe.cmd("ZADD")
        .arg(NODES)
        .arg(now)
        .arg(ctx.hub.node())
        .ignore();
    let since = format!("({}", now.saturating_sub(ttl));
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(NODES)
        .arg("-inf")
        .arg(since)
        .ignore();
    pipe.cmd("ZCARD").arg(NODES);
    for other in &others {
        pipe.cmd("EXISTS").arg(heartbeat_key(*other));
    }
    let started = Instant::now();
    // The count of nodes, then whether each other node's heartbeat exists.
    let mut replies = pipe
        .query_async::<Vec<redis::Value>>(conn)
        .await?
        .into_iter();
    shared.metrics.round_trip(started.elapsed());
    let nodes: usize = replies.next().map_or(Ok(0), redis::from_redis_value)?;
    let alive = replies
        .map(redis::from_redis_value)
        .collect::<Result<Vec<bool>, _>>()?;
    shared.metrics.nodes(nodes);
    Ok(Beat {
        others: others.into_iter().zip(alive).collect(),
    })
}

/// Nodes whose heartbeat is missing.
#[derive(Default)]
struct Watch {
    /// Checks in a row that missed each node's heartbeat.
    misses: HashMap<u32, u32>,
    /// Nodes this node wrote to the log as gone, until they are back.
    given_up: HashSet<u32>,
}

impl Watch {
    /// Gives up the nodes whose heartbeat missed enough checks in a row.
    fn check(&mut self, ctx: &Context, beat: Beat) {
        self.misses
            .retain(|n, _| beat.others.iter().any(|(other, _)| other == n));
        for (other, alive) in beat.others {
            let missed = self.misses.entry(other).or_default();
            if alive {
                *missed = 0;
                self.given_up.remove(&other);
                continue;
            }
            *missed += 1;
            if *missed >= MISSES_TO_GIVE_UP && self.given_up.insert(other) {
                tracing::warn!("node {other} stopped its heartbeat; its clients quit");
                ctx.hub.publish_quietly(&Logged::NodeGone {
                    node: other,
                    reason: SPLIT.to_string(),
                });
            }
        }
    }
}

/// Snapshots of the state, written every [`SNAPSHOT_EVERY`] ticks.
struct Snapshots {
    ticks: u32,
    /// The previous snapshot's entry: the log is trimmed up to it.
    previous: Option<LogId>,
    save: redis::Script,
}

impl Default for Snapshots {
    fn default() -> Snapshots {
        Snapshots {
            ticks: 0,
            previous: None,
            save: redis::Script::new(SAVE_SNAPSHOT),
        }
    }
}

impl Snapshots {
    async fn tick(
        &mut self,
        ctx: &Context,
        conn: &mut MultiplexedConnection,
    ) -> redis::RedisResult<()> {
        self.ticks += 1;
        if !self.ticks.is_multiple_of(SNAPSHOT_EVERY) {
            return Ok(());
        }
        let (at, state) = ctx.hub.snapshot();
        if at == LogId::default() {
            return Ok(());
        }
        self.save
            .key(SNAPSHOT)
            .arg(at.to_string())
            .arg(state)
            .invoke_async::<()>(conn)
            .await?;
        // Entries before the previous snapshot are no one's business: a
        // joining node starts from the latest.
        if let Some(before) = self.previous.replace(at) {
            redis::cmd("XTRIM")
                .arg(LOG)
                .arg("MINID")
                .arg(before.to_string())
                .query_async::<()>(conn)
                .await?;
        }
        Ok(())
    }
}

/// `url` without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("redis://:secret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redact("rediss://user:pw@h"), "rediss://***@h");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn backoff_grows_to_a_bound() {
        let mut backoff = Backoff::default();
        let waits: Vec<_> = (0..8).map(|_| backoff.next().as_millis()).collect();
        assert_eq!(waits, [0, 100, 200, 400, 800, 1600, 2000, 2000]);
    }
}
