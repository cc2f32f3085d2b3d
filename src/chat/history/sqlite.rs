//! History in SQLite: one table, written by the commit thread, with the queries
//! CHATHISTORY will need (latest N, before or after a msgid or a time).
//!
//! Durability: WAL with `synchronous = NORMAL`. A commit then appends its pages to
//! the WAL with `write()` and does not wait for `fsync`; the WAL is synced at
//! checkpoints. What the promise needs is "after `kill -9`, everything any client
//! saw is in the history": a process killed by any signal loses nothing it had
//! written to the OS, so a committed transaction survives, and the database is
//! never corrupt. Only a power loss or a kernel crash could lose the last commits
//! (never corrupt the file); `FULL` would cover that at the price of one `fsync`
//! per batch, a millisecond or more on most disks, which group commit would
//! amortize but not hide. Graceful shutdown checkpoints (and so syncs) everything.
//!
//! Checkpoints (copying the WAL into the database, with the `fsync`s) do not
//! run on the commit thread: SQLite's automatic checkpoint would stall the
//! commit that crosses its threshold for tens of milliseconds (31 ms measured
//! here). A thread of its own, with its own connection, runs a passive
//! checkpoint every [`CHECKPOINT_EVERY`], which never blocks the writer; the WAL
//! then holds about that long's worth of writes.
//!
//! Pruning keeps at most `limit` rows per channel. Row counts per channel are
//! read once at open and kept up to date in memory; a channel is pruned once it
//! is `slack` rows over (1% of the limit), down to the limit, at most
//! [`PRUNE_CHUNK`] rows per transaction so that no pause is long.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Entry, History, HistoryError, Page};
use crate::chat::irc::irc_lower;

/// Most rows one upkeep transaction deletes.
const PRUNE_CHUNK: u64 = 10_000;
/// How often the checkpoint thread folds the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS messages (
        seq     INTEGER PRIMARY KEY,  -- server-wide delivery order
        msgid   TEXT NOT NULL UNIQUE,
        time_ms INTEGER NOT NULL,     -- server time, ms since the Unix epoch
        channel TEXT NOT NULL,        -- case-folded, for lookups
        target  TEXT NOT NULL,        -- as its creator spelled it
        sender  TEXT NOT NULL,        -- nick!user@host
        command TEXT NOT NULL,        -- PRIVMSG or NOTICE
        text    TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS messages_by_channel ON messages (channel, seq);
";

const COLUMNS: &str = "seq, msgid, time_ms, target, sender, command, text";

/// Which end of a range a page takes.
#[derive(Debug, Clone, Copy)]
enum Which {
    Oldest,
    Newest,
}
use Which::{Newest, Oldest};

/// Where a page of history starts or ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// At this message (excluded). An unknown msgid gives an empty page.
    MsgId(String),
    /// At this server time (excluded).
    Time(SystemTime),
}

/// Channel history in an SQLite file, or in memory (`:memory:`).
pub struct SqliteHistory {
    conn: Connection,
    /// Rows kept per channel.
    limit: u64,
    /// Rows per case-folded channel.
    counts: HashMap<String, u64>,
    last_seq: u64,
    /// The checkpoint thread of a file (none in memory).
    checkpointer: Option<Checkpointer>,
}

/// Runs passive checkpoints until it is dropped.
struct Checkpointer {
    /// Dropped to stop the thread.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &str) -> Result<Checkpointer, String> {
        let conn = Connection::open(Path::new(path)).map_err(|err| err.to_string())?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|err| err.to_string())?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("chat-history-checkpoint".to_string())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    // PASSIVE copies what it can without waiting for anyone.
                    if let Err(err) =
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!("history checkpoint failed: {err}");
                    }
                }
            })
            .map_err(|err| err.to_string())?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl SqliteHistory {
    /// Opens (creating if needed) the history at `path`; `:memory:` keeps
    /// everything in memory and nothing on disk. At most `limit` rows are kept
    /// per channel.
    pub fn open(path: &str, limit: u64) -> Result<SqliteHistory, HistoryError> {
        let fail = |err: rusqlite::Error| {
            HistoryError(format!("cannot open the history database {path}: {err}"))
        };
        let mut checkpointer = None;
        let conn = if path == ":memory:" {
            Connection::open_in_memory().map_err(fail)?
        } else {
            let conn = Connection::open(Path::new(path)).map_err(fail)?;
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
                .map_err(fail)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(HistoryError(format!(
                    "cannot use the history database {path}: WAL mode refused ({mode})"
                )));
            }
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")
                .map_err(fail)?;
            conn
        };
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(fail)?;
        let last_seq: Option<i64> = conn
            .query_row("SELECT max(seq) FROM messages", [], |row| row.get(0))
            .map_err(fail)?;
        let mut counts = HashMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT channel, count(*) FROM messages GROUP BY channel")
                .map_err(fail)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(fail)?;
            for row in rows {
                let (channel, count) = row.map_err(fail)?;
                counts.insert(channel, count as u64);
            }
        }
        if path != ":memory:" {
            checkpointer = Some(Checkpointer::start(path).map_err(|err| {
                HistoryError(format!("cannot start checkpoints of {path}: {err}"))
            })?);
        }
        Ok(SqliteHistory {
            conn,
            checkpointer,
            limit: limit.max(1),
            counts,
            last_seq: last_seq.unwrap_or(0) as u64,
        })
    }

    /// The `n` newest messages of `channel`, oldest first.
    pub fn latest(&self, channel: &str, n: usize) -> Result<Vec<Entry>, HistoryError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM (SELECT * FROM messages WHERE channel = ?1 \
             ORDER BY seq DESC LIMIT ?2) ORDER BY seq"
        );
        self.select(&sql, params![irc_lower(channel), n as i64])
    }

    /// The `n` messages of `channel` just before `anchor`, oldest first.
    pub fn before(
        &self,
        channel: &str,
        anchor: &Anchor,
        n: usize,
    ) -> Result<Vec<Entry>, HistoryError> {
        self.beside(channel, anchor, "<", Newest, n)
    }

    /// The `n` messages of `channel` just after `anchor`, oldest first.
    pub fn after(
        &self,
        channel: &str,
        anchor: &Anchor,
        n: usize,
    ) -> Result<Vec<Entry>, HistoryError> {
        self.beside(channel, anchor, ">", Oldest, n)
    }

    /// The `n` newest messages of `channel` after `anchor`, oldest first.
    pub fn latest_after(
        &self,
        channel: &str,
        anchor: &Anchor,
        n: usize,
    ) -> Result<Vec<Entry>, HistoryError> {
        self.beside(channel, anchor, ">", Newest, n)
    }

    /// About `n / 2` messages of `channel` before `anchor`, then the rest of
    /// `n` from the anchor on (the anchor's own message included), oldest
    /// first.
    pub fn around(
        &self,
        channel: &str,
        anchor: &Anchor,
        n: usize,
    ) -> Result<Vec<Entry>, HistoryError> {
        let mut entries = self.before(channel, anchor, n / 2)?;
        let rest = n - entries.len();
        entries.extend(self.beside(channel, anchor, ">=", Oldest, rest)?);
        Ok(entries)
    }

    /// Up to `n` messages of `channel` on one side of `anchor` (`op` is `<`,
    /// `>` or `>=`), the oldest or the newest of them, given oldest first.
    fn beside(
        &self,
        channel: &str,
        anchor: &Anchor,
        op: &str,
        which: Which,
        n: usize,
    ) -> Result<Vec<Entry>, HistoryError> {
        let (condition, value) = anchor_condition(anchor, op);
        let order = match which {
            Oldest => "ASC",
            Newest => "DESC",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM (SELECT * FROM messages WHERE channel = ?1 AND {condition} \
             ORDER BY seq {order} LIMIT ?3) ORDER BY seq"
        );
        self.select(&sql, params![irc_lower(channel), value, n as i64])
    }

    /// Up to `n` messages of `channel` strictly between two anchors, oldest
    /// first: the first ones after `from` when `from` is the earlier anchor,
    /// the last ones before it otherwise. An unknown msgid gives nothing.
    pub fn between(
        &self,
        channel: &str,
        from: &Anchor,
        to: &Anchor,
        n: usize,
    ) -> Result<Vec<Entry>, HistoryError> {
        let (Some(start), Some(end)) = (self.anchor_time(from)?, self.anchor_time(to)?) else {
            return Ok(Vec::new());
        };
        let forward = start <= end;
        let (from_op, to_op, order) = if forward {
            (">", "<", "ASC")
        } else {
            ("<", ">", "DESC")
        };
        let (from_condition, from_value) = anchor_condition_at(from, from_op, 2);
        let (to_condition, to_value) = anchor_condition_at(to, to_op, 3);
        let sql = format!(
            "SELECT {COLUMNS} FROM (SELECT * FROM messages WHERE channel = ?1 \
             AND {from_condition} AND {to_condition} ORDER BY seq {order} LIMIT ?4) ORDER BY seq"
        );
        let channel = irc_lower(channel);
        self.select(&sql, params![channel, from_value, to_value, n as i64])
    }

    /// The channels among `channels` with messages between two times (either
    /// order, both excluded), each with the time of its last one there, the
    /// `n` most recent, in ascending time order as CHATHISTORY TARGETS lists
    /// them.
    pub fn targets(
        &self,
        channels: &[String],
        between: (SystemTime, SystemTime),
        n: usize,
    ) -> Result<Vec<(String, SystemTime)>, HistoryError> {
        let (low, high) = (between.0.min(between.1), between.0.max(between.1));
        let mut found = Vec::new();
        let fail = |err: rusqlite::Error| HistoryError(format!("cannot read history: {err}"));
        let mut stmt = self
            .conn
            .prepare(
                "SELECT target, max(time_ms) FROM messages \
                 WHERE channel = ?1 AND time_ms > ?2 AND time_ms < ?3 GROUP BY channel",
            )
            .map_err(fail)?;
        for channel in channels {
            let row = stmt
                .query_row(
                    params![irc_lower(channel), millis(low), millis(high)],
                    |row| {
                        Ok((
                            row.get::<_, Option<String>>(0)?,
                            row.get::<_, Option<i64>>(1)?,
                        ))
                    },
                )
                .optional()
                .map_err(fail)?;
            if let Some((Some(target), Some(ms))) = row {
                found.push((target, UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)));
            }
        }
        found.sort_by_key(|(_, time)| *time);
        let skip = found.len().saturating_sub(n);
        Ok(found.split_off(skip))
    }

    /// Where an anchor is, as (time, sequence number): messages sent in the
    /// same millisecond are told apart by their number. `None` for an unknown
    /// msgid.
    fn anchor_time(&self, anchor: &Anchor) -> Result<Option<(i64, i64)>, HistoryError> {
        match anchor {
            Anchor::Time(time) => Ok(Some((millis(*time), 0))),
            Anchor::MsgId(id) => self
                .conn
                .query_row(
                    "SELECT time_ms, seq FROM messages WHERE msgid = ?1",
                    params![id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(|err| HistoryError(format!("cannot read history: {err}"))),
        }
    }

    /// Rows kept for `channel`.
    pub fn count(&self, channel: &str) -> u64 {
        self.counts.get(&irc_lower(channel)).copied().unwrap_or(0)
    }

    fn select(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Entry>, HistoryError> {
        let query = || -> rusqlite::Result<Vec<Entry>> {
            let mut stmt = self.conn.prepare(sql)?;
            let rows = stmt.query_map(params, entry_of_row)?;
            rows.collect()
        };
        query().map_err(|err| HistoryError(format!("cannot read history: {err}")))
    }

    /// How far over its limit a channel may grow before it is pruned.
    fn slack(&self) -> u64 {
        (self.limit / 100).max(1)
    }
}

/// The SQL condition for rows before (`<`), after (`>`) or at and after
/// (`>=`) an anchor, and its parameter (`?2`).
fn anchor_condition(anchor: &Anchor, op: &str) -> (String, rusqlite::types::Value) {
    anchor_condition_at(anchor, op, 2)
}

/// `anchor_condition` with the parameter at `?N`.
fn anchor_condition_at(anchor: &Anchor, op: &str, n: u8) -> (String, rusqlite::types::Value) {
    use rusqlite::types::Value;
    match anchor {
        Anchor::MsgId(id) => (
            format!("seq {op} (SELECT seq FROM messages WHERE msgid = ?{n})"),
            Value::Text(id.clone()),
        ),
        Anchor::Time(time) => (format!("time_ms {op} ?{n}"), Value::Integer(millis(*time))),
    }
}

fn entry_of_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    let command: String = row.get(5)?;
    Ok(Entry {
        seq: row.get::<_, i64>(0)? as u64,
        msgid: row.get(1)?,
        time: UNIX_EPOCH + Duration::from_millis(row.get::<_, i64>(2)?.max(0) as u64),
        channel: row.get(3)?,
        source: row.get(4)?,
        command: if command == "NOTICE" {
            "NOTICE"
        } else {
            "PRIVMSG"
        },
        text: row.get(6)?,
    })
}

fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl History for SqliteHistory {
    fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn commit(&mut self, batch: &[Entry]) -> Result<(), HistoryError> {
        let mut folded = Vec::with_capacity(batch.len());
        // Every statement is prepared once per connection (BEGIN and COMMIT
        // too): with small batches, a commit or so per millisecond, preparing
        // them at each commit took about 6% of the server's CPU.
        let conn = &self.conn;
        let write = |folded: &mut Vec<String>| -> rusqlite::Result<()> {
            conn.prepare_cached("BEGIN")?.execute([])?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO messages (seq, msgid, time_ms, channel, target, sender, command, text) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for entry in batch {
                let channel = irc_lower(&entry.channel);
                insert.execute(params![
                    entry.seq as i64,
                    entry.msgid,
                    millis(entry.time),
                    channel,
                    entry.channel,
                    entry.source,
                    entry.command,
                    entry.text,
                ])?;
                folded.push(channel);
            }
            conn.prepare_cached("COMMIT")?.execute([])?;
            Ok(())
        };
        if let Err(err) = write(&mut folded) {
            // Nothing of the batch stays: it is reported as not stored.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(HistoryError(err.to_string()));
        }
        for channel in folded {
            *self.counts.entry(channel).or_default() += 1;
        }
        if let Some(last) = batch.last() {
            self.last_seq = self.last_seq.max(last.seq);
        }
        Ok(())
    }

    fn page(&self, channel: &str, page: &Page, n: usize) -> Result<Vec<Entry>, HistoryError> {
        match page {
            Page::Latest(None) => self.latest(channel, n),
            Page::Latest(Some(anchor)) => self.latest_after(channel, anchor, n),
            Page::Before(anchor) => self.before(channel, anchor, n),
            Page::After(anchor) => self.after(channel, anchor, n),
            Page::Around(anchor) => self.around(channel, anchor, n),
            Page::Between(from, to) => self.between(channel, from, to, n),
        }
    }

    fn targets(
        &self,
        channels: &[String],
        between: (SystemTime, SystemTime),
        n: usize,
    ) -> Result<Vec<(String, SystemTime)>, HistoryError> {
        SqliteHistory::targets(self, channels, between, n)
    }

    fn upkeep_owed(&self) -> bool {
        let over = self.limit + self.slack();
        self.counts.values().any(|&count| count >= over)
    }

    fn upkeep(&mut self) -> Result<u64, HistoryError> {
        let over = self.limit + self.slack();
        let mut plan = Vec::new();
        let mut budget = PRUNE_CHUNK;
        for (channel, &count) in &self.counts {
            if count >= over && budget > 0 {
                let n = (count - self.limit).min(budget);
                budget -= n;
                plan.push((channel.clone(), n));
            }
        }
        let prune = || -> rusqlite::Result<Vec<(String, u64)>> {
            let tx = self.conn.transaction()?;
            let mut done = Vec::new();
            {
                let mut delete = tx.prepare(
                    "DELETE FROM messages WHERE seq IN \
                     (SELECT seq FROM messages WHERE channel = ?1 ORDER BY seq LIMIT ?2)",
                )?;
                for (channel, n) in plan {
                    let removed = delete.execute(params![channel, n as i64])?;
                    done.push((channel, removed as u64));
                }
            }
            tx.commit()?;
            Ok(done)
        };
        let done = prune().map_err(|err| HistoryError(format!("cannot prune: {err}")))?;
        let mut removed = 0;
        for (channel, n) in done {
            if let Some(count) = self.counts.get_mut(&channel) {
                *count = count.saturating_sub(n);
            }
            removed += n;
        }
        Ok(removed)
    }

    fn close(&mut self) -> Result<(), HistoryError> {
        self.checkpointer = None;
        // Moves the WAL into the database file and syncs it, so a clean stop
        // leaves everything durable even against a power loss.
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|err| HistoryError(format!("cannot checkpoint history: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::history::msgid;

    fn entry(seq: u64, channel: &str, text: &str) -> Entry {
        let time = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + seq * 1000);
        Entry {
            seq,
            msgid: msgid(time, seq),
            time,
            channel: channel.to_string(),
            source: "alice!al@127.0.0.1".to_string(),
            command: if seq.is_multiple_of(5) {
                "NOTICE"
            } else {
                "PRIVMSG"
            },
            text: text.to_string(),
        }
    }

    /// Messages 1..=20 alternating between #a and #b (odd in #a).
    fn filled(limit: u64) -> (SqliteHistory, Vec<Entry>) {
        let mut store = SqliteHistory::open(":memory:", limit).unwrap();
        let entries: Vec<Entry> = (1..=20)
            .map(|seq| {
                let channel = if seq % 2 == 1 { "#A" } else { "#b" };
                entry(seq, channel, &format!("message {seq}"))
            })
            .collect();
        store.commit(&entries[..7]).unwrap();
        store.commit(&entries[7..]).unwrap();
        (store, entries)
    }

    fn seqs(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn entries_read_back_as_written() {
        let (store, entries) = filled(100);
        let a: Vec<Entry> = entries.iter().filter(|e| e.seq % 2 == 1).cloned().collect();
        // The channel name is compared case-insensitively.
        assert_eq!(store.latest("#a", 100).unwrap(), a);
        assert_eq!(store.last_seq(), 20);
        assert_eq!(store.count("#B"), 10);
    }

    #[test]
    fn latest_gives_the_newest_oldest_first() {
        let (store, _) = filled(100);
        assert_eq!(seqs(&store.latest("#b", 3).unwrap()), [16, 18, 20]);
        assert!(store.latest("#nowhere", 3).unwrap().is_empty());
    }

    #[test]
    fn pages_before_and_after_a_msgid() {
        let (store, entries) = filled(100);
        let anchor = Anchor::MsgId(entries[10].msgid.clone()); // seq 11, in #A
        assert_eq!(seqs(&store.before("#a", &anchor, 3).unwrap()), [5, 7, 9]);
        assert_eq!(seqs(&store.after("#a", &anchor, 3).unwrap()), [13, 15, 17]);
        assert_eq!(
            seqs(&store.after("#a", &anchor, 100).unwrap()),
            [13, 15, 17, 19]
        );
        let unknown = Anchor::MsgId("0".repeat(26));
        assert!(store.before("#a", &unknown, 3).unwrap().is_empty());
    }

    #[test]
    fn pages_before_and_after_a_time() {
        let (store, entries) = filled(100);
        let anchor = Anchor::Time(entries[9].time); // seq 10, in #b
        assert_eq!(seqs(&store.before("#b", &anchor, 2).unwrap()), [6, 8]);
        assert_eq!(seqs(&store.after("#b", &anchor, 2).unwrap()), [12, 14]);
        assert_eq!(seqs(&store.after("#a", &anchor, 1).unwrap()), [11]);
    }

    #[test]
    fn latest_after_around_and_between() {
        let (store, entries) = filled(100);
        let at = |i: usize| Anchor::MsgId(entries[i - 1].msgid.clone());
        let page = |p: Page, n| seqs(&store.page("#a", &p, n).unwrap());
        assert_eq!(page(Page::Latest(Some(at(13))), 10), [15, 17, 19]);
        assert_eq!(page(Page::Latest(Some(at(13))), 2), [17, 19]);
        // Around includes the anchor's own message.
        assert_eq!(page(Page::Around(at(11)), 4), [7, 9, 11, 13]);
        assert_eq!(page(Page::Around(at(1)), 3), [1, 3, 5]);
        // Between counts from the first anchor, in either direction.
        assert_eq!(page(Page::Between(at(3), at(15)), 2), [5, 7]);
        assert_eq!(page(Page::Between(at(15), at(3)), 2), [11, 13]);
        let time = Anchor::Time(entries[18].time); // seq 19
        assert_eq!(page(Page::Between(at(13), time), 10), [15, 17]);
        let unknown = Anchor::MsgId("0".repeat(26));
        assert!(page(Page::Between(unknown, at(3)), 10).is_empty());
    }

    #[test]
    fn targets_lists_channels_with_messages_in_a_window() {
        let (store, entries) = filled(100);
        let channels = ["#a".to_string(), "#B".to_string(), "#none".to_string()];
        let window = (entries[0].time, entries[10].time); // seq 1 to 11, excluded
        let found = store.targets(&channels, window, 10).unwrap();
        // #A's last message in the window is 9, #b's is 10: oldest first.
        assert_eq!(
            found,
            [
                ("#A".to_string(), entries[8].time),
                ("#b".to_string(), entries[9].time)
            ]
        );
        let (later, earlier) = window;
        assert_eq!(
            store.targets(&channels, (earlier, later), 1).unwrap(),
            found[1..]
        );
    }

    #[test]
    fn upkeep_prunes_the_oldest_past_the_limit() {
        let (mut store, _) = filled(4);
        assert!(store.upkeep_owed());
        assert_eq!(store.upkeep().unwrap(), 12);
        assert!(!store.upkeep_owed());
        assert_eq!(seqs(&store.latest("#a", 100).unwrap()), [13, 15, 17, 19]);
        assert_eq!(seqs(&store.latest("#b", 100).unwrap()), [14, 16, 18, 20]);
        assert_eq!(store.count("#a"), 4);
    }

    #[test]
    fn a_file_keeps_history_and_numbering_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let path = path.to_str().unwrap();
        let mut store = SqliteHistory::open(path, 100).unwrap();
        store
            .commit(&[entry(1, "#c", "one"), entry(2, "#c", "two")])
            .unwrap();
        store.close().unwrap();
        drop(store);
        let store = SqliteHistory::open(path, 100).unwrap();
        assert_eq!(store.last_seq(), 2);
        assert_eq!(store.count("#c"), 2);
        assert_eq!(store.latest("#c", 10).unwrap()[1].text, "two");
    }

    #[test]
    fn a_duplicate_msgid_fails_the_whole_batch() {
        let mut store = SqliteHistory::open(":memory:", 100).unwrap();
        let one = entry(1, "#c", "one");
        let mut again = entry(2, "#c", "two");
        again.msgid = one.msgid.clone();
        assert!(store.commit(&[one, again]).is_err());
        assert!(store.latest("#c", 10).unwrap().is_empty());
        assert_eq!(store.count("#c"), 0);
        // Nothing of the failed batch is left open: the next one commits.
        store.commit(&[entry(3, "#c", "three")]).unwrap();
        assert_eq!(store.latest("#c", 10).unwrap().len(), 1);
    }
}
