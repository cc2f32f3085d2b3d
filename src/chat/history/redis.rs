//! History in Redis, shared by the nodes of a cluster: one stream per channel,
//! at [`stream_key`], whose entries hold the fields `msgid`, `channel` (as
//! spelled), `source`, `command` and `text`.
//!
//! Every node commits every entry, so an entry's place must not depend on the
//! node: the entry sent at `ms` with sequence number `seq` is stream entry
//! `ms-(seq >> 8)`, and its msgid ([`cluster_msgid`](super::cluster_msgid))
//! decodes back to both. A commit is one Lua script for the whole batch. An
//! XADD of an ID the stream already has (another node was first) is skipped,
//! so a batch committed twice, by one node or by several, is stored once.
//! `XADD MAXLEN ~` keeps about `limit` entries per stream: Redis trims whole
//! nodes of its tree as it adds, so a stream may hold a node's worth (100 by
//! default) more, and there is no upkeep to do.
//!
//! A node cut off from the cluster numbers its messages alone: their msgids
//! decode to no ID, so they are added with the next ID when written, once
//! (the hash `netkit:msgids` keeps which were, and the ID each got).
//!
//! Pages mean what they mean in SQLite. A msgid anchor stands for the stream
//! ID it decodes to (or the one noted for it in `netkit:msgids`), a time
//! anchor for every ID of its millisecond, and anchors are excluded, so each
//! page is XRANGE or XREVRANGE between the IDs next to its anchors. A msgid anchor must be an entry of that channel's
//! stream or the page is empty.
//!
//! `Ok` from a commit means Redis replied; what is durable then is what Redis
//! promises (with `appendfsync always`, the batch is on its disk).
//!
//! Every call is bounded by [`TIMEOUT`], and every call is one request with
//! one reply: reads too are a script (the ranges of a page with its anchor
//! checks, or the last entry of each TARGETS channel), not a pipeline, because
//! the crate waits out the timeout for each reply of a pipeline in turn, so
//! a hung Redis would stall a pipeline of k commands k times as long. For the
//! same reason no `CLIENT SETINFO` is sent on connecting. A connection found
//! broken (Redis restarted, a proxy closed it) is replaced once before the
//! call fails. A connection that timed out is dropped, since its reply may
//! still come, but the call is not tried again: Redis is there and slow, and a
//! second wait would only double the stall of the commit thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redis::streams::{StreamId, StreamRangeReply};
use ::redis::{Client, Connection, IntoConnectionInfo, RedisError, RedisResult, Script};

use super::msgid::{decode, is_cluster_msgid};
use super::{Anchor, Entry, History, HistoryError, Page};
use crate::chat::irc::irc_lower;

/// The longest a connection, a request or a reply may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Adds a batch. KEYS[i] is the stream of entry i; ARGV[1] is the MAXLEN,
/// ARGV[2] the hash of [`MSGIDS`], then come six values per entry: its ID (or
/// `*` for an entry of a split node) and its five fields.
const COMMIT: &str = r"
local limit, MSGIDS = ARGV[1], ARGV[2]
for i, key in ipairs(KEYS) do
    local at = 3 + (i - 1) * 6
    -- An entry of a split node has no ID of its own: it is added once, and
    -- the ID it gets is noted by msgid, for CHATHISTORY anchors.
    local new = ARGV[at] ~= '*' or redis.call('HSETNX', MSGIDS, ARGV[at + 1], '') == 1
    if new then
        local added = redis.pcall('XADD', key, 'MAXLEN', '~', limit, ARGV[at],
            'msgid', ARGV[at + 1], 'channel', ARGV[at + 2], 'source', ARGV[at + 3],
            'command', ARGV[at + 4], 'text', ARGV[at + 5])
        if ARGV[at] == '*' and type(added) == 'string' then
            redis.call('HSET', MSGIDS, ARGV[at + 1], added)
        end
        -- An ID the stream has already: committed before, here or by another node.
        if type(added) == 'table' and added.err
            and not string.find(added.err, 'equal or smaller', 1, true) then
            return added
        end
    end
end
";

/// The stream IDs of entries written by a split node, by msgid.
const MSGIDS: &str = "netkit:msgids";
/// Most pending entries written in one request.
const FLUSH_CHUNK: usize = 1024;
/// Most entries kept in memory while Redis cannot be reached; past them,
/// messages are refused.
const MAX_PENDING: usize = 100_000;

/// Reads ranges. KEYS[i] is the stream of range i; ARGV holds four values
/// per range: XRANGE or XREVRANGE, its two bounds in that command's order, and
/// a count. Returns each range's entries.
const READ: &str = r"
local found = {}
for i, key in ipairs(KEYS) do
    local at = (i - 1) * 4
    found[i] = redis.call(ARGV[at + 1], key, ARGV[at + 2], ARGV[at + 3], 'COUNT', ARGV[at + 4])
end
return found
";

/// The Redis stream of a channel (as spelled by anyone: the name is folded).
pub fn stream_key(channel: &str) -> String {
    format!("netkit:history:{}", irc_lower(channel))
}

/// Channel history in Redis streams; see the module notes.
pub struct RedisHistory {
    client: Client,
    /// `host:port`, for errors (the URL may hold a password).
    addr: String,
    /// `None` after a failure, until the next call connects again.
    conn: RefCell<Option<Connection>>,
    /// Entries kept per channel, roughly.
    limit: u64,
    commit: Script,
    read: Script,
    /// Entries not written yet because Redis could not be reached, oldest
    /// first: written before any newer ones once it is back.
    pending: Vec<Entry>,
}

impl RedisHistory {
    /// Connects to the Redis at `url` (`redis://`, or `rediss://` for TLS,
    /// with a password and a database number if need be), keeping about
    /// `limit` messages per channel.
    pub fn connect(url: &str, limit: u64) -> Result<RedisHistory, HistoryError> {
        let bad = |err: RedisError| HistoryError(format!("bad Redis URL: {err}"));
        let info = url.into_connection_info().map_err(bad)?;
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let client = Client::open(info.set_redis_settings(settings)).map_err(bad)?;
        let addr = client.get_connection_info().addr().to_string();
        let store = RedisHistory {
            client,
            addr,
            conn: RefCell::new(None),
            limit: limit.max(1),
            commit: Script::new(COMMIT),
            read: Script::new(READ),
            pending: Vec::new(),
        };
        // Connect now, so that a wrong address or password fails at startup.
        let conn = store.open().map_err(|err| {
            HistoryError(format!("cannot connect to Redis at {}: {err}", store.addr))
        })?;
        store.conn.replace(Some(conn));
        Ok(store)
    }

    /// A connection with timeouts and the scripts loaded: after a Redis
    /// restart, a commit is then still one round trip.
    fn open(&self) -> RedisResult<Connection> {
        let mut conn = self.client.get_connection_with_timeout(TIMEOUT)?;
        conn.set_read_timeout(Some(TIMEOUT))?;
        conn.set_write_timeout(Some(TIMEOUT))?;
        self.commit.load(&mut conn)?;
        self.read.load(&mut conn)?;
        Ok(conn)
    }

    /// Runs `call` on the connection, connecting first if there is none. A
    /// connection found broken is replaced once.
    fn run<T>(
        &self,
        doing: &str,
        call: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, HistoryError> {
        self.try_run(call).map_err(|err| self.failed(doing, &err))
    }

    fn failed(&self, doing: &str, err: &RedisError) -> HistoryError {
        HistoryError(format!("{doing} Redis at {}: {err}", self.addr))
    }

    fn try_run<T>(
        &self,
        mut call: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let mut slot = self.conn.borrow_mut();
        let mut retried = false;
        loop {
            // Put back only after a success: after a failure, the replies on
            // a connection may be out of step with its requests.
            let mut conn = match slot.take() {
                Some(conn) => conn,
                None => self.open()?,
            };
            match call(&mut conn) {
                Ok(value) => {
                    *slot = Some(conn);
                    return Ok(value);
                }
                Err(err) if err.is_connection_dropped() && !retried => retried = true,
                Err(err) => return Err(err),
            }
        }
    }

    /// The entries of each range, each in its stream and given oldest first,
    /// in one request.
    fn read(&self, ranges: &[(&str, Range)]) -> Result<Vec<Vec<Entry>>, HistoryError> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let mut script = self.read.prepare_invoke();
        for (key, range) in ranges {
            let (command, start, end) = if range.newest {
                ("XREVRANGE", range.to, range.from)
            } else {
                ("XRANGE", range.from, range.to)
            };
            script
                .key(*key)
                .arg(command)
                .arg(show(start))
                .arg(show(end))
                .arg(range.count);
        }
        let replies = self.run("reading from", |conn| {
            script.invoke::<Vec<StreamRangeReply>>(conn)
        })?;
        ranges
            .iter()
            .zip(replies)
            .map(|((_, range), reply)| {
                let mut entries = reply
                    .ids
                    .iter()
                    .map(entry_of)
                    .collect::<Result<Vec<_>, _>>()?;
                if range.newest {
                    entries.reverse();
                }
                Ok(entries)
            })
            .collect()
    }
}

/// Whether an error means Redis could not be reached (rather than refused).
fn unreachable(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
}

/// A stream entry ID `ms-n` as one number, `ms` in the high half, so that IDs
/// compare and step to their neighbours.
type Id = u128;

fn id(ms: u64, n: u64) -> Id {
    (u128::from(ms) << 64) | u128::from(n)
}

fn parse_id(text: &str) -> Option<Id> {
    let (ms, n) = text.split_once('-')?;
    Some(id(ms.parse().ok()?, n.parse().ok()?))
}

fn show(id: Id) -> String {
    format!("{}-{}", id >> 64, id as u64)
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One XRANGE (the oldest entries first) or XREVRANGE (the newest first),
/// bounds included.
#[derive(Clone, Copy)]
struct Range {
    from: Id,
    to: Id,
    newest: bool,
    count: usize,
}

impl Range {
    /// The oldest `count` entries from `from` to `to`; `None` when a bound
    /// stepped off either end of the IDs (nothing is before `0-0`).
    fn oldest(from: Option<Id>, to: Option<Id>, count: usize) -> Option<Range> {
        Some(Range {
            from: from?,
            to: to?,
            newest: false,
            count,
        })
    }

    /// The newest `count` entries from `from` to `to`.
    fn newest(from: Option<Id>, to: Option<Id>, count: usize) -> Option<Range> {
        Some(Range {
            newest: true,
            ..Range::oldest(from, to, count)?
        })
    }
}

/// What a page reads.
struct Plan<'a> {
    /// The msgid anchors with their IDs: unless each is in the stream, the
    /// page is empty.
    checks: Vec<(Id, &'a str)>,
    /// The ranges whose entries, one after the other and cut at `n`, make the
    /// page.
    ranges: Vec<Range>,
}

/// What `page` reads; `None` for an anchor that is no msgid at all.
fn plan<'a>(page: &'a Page, n: usize, written: &HashMap<&str, Id>) -> Option<Plan<'a>> {
    let mut checks = Vec::new();
    // The first and the last ID an anchor stands for.
    let mut at = |anchor: &'a Anchor| match anchor {
        Anchor::Time(time) => {
            let ms = millis(*time);
            Some((id(ms, 0), id(ms, u64::MAX)))
        }
        Anchor::MsgId(msgid) => {
            let at = match written.get(msgid.as_str()) {
                Some(&at) => at,
                None => {
                    let (ms, seq) = decode(msgid)?;
                    id(ms, seq >> 8)
                }
            };
            checks.push((at, msgid.as_str()));
            Some((at, at))
        }
    };
    let before = |(first, _): (Id, Id)| first.checked_sub(1);
    let after = |(_, last): (Id, Id)| last.checked_add(1);
    let (start, end) = (Some(Id::MIN), Some(Id::MAX));
    let ranges = match page {
        Page::Latest(None) => vec![Range::newest(start, end, n)],
        Page::Latest(Some(anchor)) => vec![Range::newest(after(at(anchor)?), end, n)],
        Page::Before(anchor) => vec![Range::newest(start, before(at(anchor)?), n)],
        Page::After(anchor) => vec![Range::oldest(after(at(anchor)?), end, n)],
        Page::Around(anchor) => {
            let anchor = at(anchor)?;
            vec![
                Range::newest(start, before(anchor), n / 2),
                Range::oldest(Some(anchor.0), end, n),
            ]
        }
        // Counted from `from`, whichever way `to` lies.
        Page::Between(from, to) => {
            let (from, to) = (at(from)?, at(to)?);
            if from.0 <= to.0 {
                vec![Range::oldest(after(from), before(to), n)]
            } else {
                vec![Range::newest(after(to), before(from), n)]
            }
        }
    };
    Some(Plan {
        checks,
        ranges: ranges.into_iter().flatten().collect(),
    })
}

/// A stream entry as history.
fn entry_of(item: &StreamId) -> Result<Entry, HistoryError> {
    let field = |name: &str| {
        item.get::<String>(name)
            .ok_or_else(|| HistoryError(format!("history entry {} has no {name}", item.id)))
    };
    let msgid = field("msgid")?;
    let (ms, seq) = decode(&msgid)
        .ok_or_else(|| HistoryError(format!("history entry {} has a bad msgid", item.id)))?;
    Ok(Entry {
        seq,
        msgid,
        time: UNIX_EPOCH + Duration::from_millis(ms),
        channel: field("channel")?,
        source: field("source")?,
        command: if field("command")? == "NOTICE" {
            "NOTICE"
        } else {
            "PRIVMSG"
        },
        text: field("text")?,
    })
}

impl RedisHistory {
    /// Keeps a batch that could not be written because Redis could not be
    /// reached, if there is room; an error of Redis's own (a key of another
    /// type) fails it.
    fn keep(&mut self, batch: &[Entry], err: &RedisError) -> Result<(), HistoryError> {
        let failed = self.failed("writing to", err);
        if !unreachable(err) {
            return Err(failed);
        }
        if self.pending.len() + batch.len() > MAX_PENDING {
            let text = format!("{failed}, and {} messages wait already", self.pending.len());
            return Err(HistoryError(text));
        }
        if self.pending.is_empty() {
            tracing::warn!("{failed}; messages kept in memory until Redis is back");
        }
        self.pending.extend_from_slice(batch);
        Ok(())
    }

    /// The stream IDs of a page's msgid anchors that a split node made (they
    /// do not decode to one), as noted when they were written.
    fn written_ids<'a>(&self, page: &'a Page) -> Result<HashMap<&'a str, Id>, HistoryError> {
        let anchors = match page {
            Page::Latest(anchor) => anchor.iter().collect(),
            Page::Before(a) | Page::After(a) | Page::Around(a) => vec![a],
            Page::Between(a, b) => vec![a, b],
        };
        let mut written = HashMap::new();
        for anchor in anchors {
            if let Anchor::MsgId(msgid) = anchor
                && decode(msgid).is_some()
                && !is_cluster_msgid(msgid)
            {
                let at: Option<String> = self.run("reading from", |conn| {
                    ::redis::cmd("HGET").arg(MSGIDS).arg(msgid).query(conn)
                })?;
                if let Some(at) = at.and_then(|at| parse_id(&at)) {
                    written.insert(msgid.as_str(), at);
                }
            }
        }
        Ok(written)
    }

    /// Writes a batch in one request.
    fn write(&self, batch: &[Entry]) -> RedisResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut script = self.commit.prepare_invoke();
        script.arg(self.limit).arg(MSGIDS);
        for entry in batch {
            // A message of the log has its ID; one of a node cut off from
            // the cluster gets the next ID when it is written.
            let at = if is_cluster_msgid(&entry.msgid) {
                show(id(millis(entry.time), entry.seq >> 8))
            } else {
                "*".to_string()
            };
            script
                .key(stream_key(&entry.channel))
                .arg(at)
                .arg(&entry.msgid)
                .arg(&entry.channel)
                .arg(&entry.source)
                .arg(entry.command)
                .arg(&entry.text);
        }
        self.try_run(|conn| script.invoke::<()>(conn))
    }

    /// Writes what is pending, if Redis is back, oldest first, in requests
    /// of a bounded size.
    fn flush(&mut self) -> RedisResult<()> {
        let total = self.pending.len();
        while !self.pending.is_empty() {
            let chunk = self.pending.len().min(FLUSH_CHUNK);
            match self.write(&self.pending[..chunk]) {
                Ok(()) => {}
                Err(err) if unreachable(&err) => return Err(err),
                // Redis refuses them: keeping them would block the rest.
                Err(err) => {
                    let err = self.failed("writing to", &err);
                    tracing::warn!("{err}; {chunk} messages dropped");
                }
            }
            self.pending.drain(..chunk);
        }
        if total > 0 {
            tracing::info!("history: {total} messages written to Redis once it was back");
        }
        Ok(())
    }
}

impl History for RedisHistory {
    /// Writes a batch; if Redis cannot be reached, keeps it in memory to
    /// write once Redis is back (up to `MAX_PENDING` messages): a node cut
    /// off from the cluster goes on serving its own users, whose messages
    /// then reach Redis late rather than never.
    fn commit(&mut self, batch: &[Entry]) -> Result<(), HistoryError> {
        if !self.pending.is_empty()
            && let Err(err) = self.flush()
        {
            return self.keep(batch, &err);
        }
        match self.write(batch) {
            Ok(()) => Ok(()),
            Err(err) => self.keep(batch, &err),
        }
    }

    fn upkeep_owed(&self) -> bool {
        !self.pending.is_empty()
    }

    fn upkeep(&mut self) -> Result<u64, HistoryError> {
        self.flush()
            .map(|()| 0)
            .map_err(|err| self.failed("writing to", &err))
    }

    fn close(&mut self) -> Result<(), HistoryError> {
        let kept = self.pending.len();
        self.flush().map_err(|err| {
            let err = self.failed("writing to", &err);
            HistoryError(format!("{err}; {kept} messages never reached Redis"))
        })
    }

    fn page(&self, channel: &str, page: &Page, n: usize) -> Result<Vec<Entry>, HistoryError> {
        let written = self.written_ids(page)?;
        let Some(Plan { checks, ranges }) = plan(page, n, &written) else {
            return Ok(Vec::new());
        };
        let key = stream_key(channel);
        // Each msgid anchor first, as a range of its one ID.
        let reads: Vec<(&str, Range)> = checks
            .iter()
            .map(|&(at, _)| Range {
                from: at,
                to: at,
                newest: false,
                count: 1,
            })
            .chain(ranges)
            .map(|range| (key.as_str(), range))
            .collect();
        let mut found = self.read(&reads)?.into_iter();
        let known = checks
            .iter()
            .zip(found.by_ref())
            .all(|(&(_, msgid), at)| at.first().is_some_and(|entry| entry.msgid == msgid));
        if !known {
            return Ok(Vec::new());
        }
        let mut entries: Vec<Entry> = found.flatten().collect();
        entries.truncate(n);
        Ok(entries)
    }

    fn targets(
        &self,
        channels: &[String],
        between: (SystemTime, SystemTime),
        n: usize,
    ) -> Result<Vec<(String, SystemTime)>, HistoryError> {
        let (low, high) = (between.0.min(between.1), between.0.max(between.1));
        // Both times excluded, with every ID of their milliseconds.
        let from = id(millis(low), u64::MAX).checked_add(1);
        let to = id(millis(high), 0).checked_sub(1);
        let Some(last) = Range::newest(from, to, 1) else {
            return Ok(Vec::new());
        };
        let keys: Vec<String> = channels.iter().map(|channel| stream_key(channel)).collect();
        let reads: Vec<(&str, Range)> = keys.iter().map(|key| (key.as_str(), last)).collect();
        let mut found: Vec<(String, SystemTime)> = self
            .read(&reads)?
            .into_iter()
            .filter_map(|entries| entries.into_iter().next())
            .map(|entry| (entry.channel, entry.time))
            .collect();
        found.sort_by_key(|(_, time)| *time);
        let skip = found.len().saturating_sub(n);
        Ok(found.split_off(skip))
    }
}
