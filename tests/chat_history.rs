//! Channel history: every PRIVMSG and NOTICE to a channel is in SQLite before
//! any client sees it. The tests read the database file with rusqlite while the
//! server runs, kill the real binary with SIGKILL in the middle of traffic, and
//! check `--db :memory:` and `--history-limit`.
//!
//! Every wait is bounded by `common::PATIENCE`.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netkit::chat::ChatConfig;
use netkit::chat::history::{Entry, History, HistoryError, SqliteHistory};
use rusqlite::{Connection, OpenFlags};
use tokio::io::AsyncWriteExt;

use common::irc::{Client, Server, read_message};
use common::{NETKIT, Netkit, within};

// ----------------------------------------------------------------------------
// Servers, clients, the database
// ----------------------------------------------------------------------------

/// The library's server with SQLite history at `db`, on a task. Flood control
/// is off here and below: these tests send as fast as they can.
async fn start_server(db: &Path, limit: u64) -> Server {
    let store = SqliteHistory::open(db.to_str().expect("UTF-8 path"), limit).expect("open");
    let config = ChatConfig {
        flood: None,
        ..ChatConfig::default()
    };
    Server::with_history(config, Box::new(store)).await
}

/// `netkit chat serve --irc 127.0.0.1:0 EXTRA` in `dir`, once its ready line is read.
fn start_binary(extra: &[&str]) -> (Netkit, SocketAddr) {
    let mut args = vec![
        "chat",
        "serve",
        "--irc",
        "127.0.0.1:0",
        "--flood",
        "off",
        "--http",
        "off",
    ];
    args.extend_from_slice(extra);
    let mut netkit = Netkit::spawn(&args);
    let line = netkit.line();
    (netkit, ready_addr(&line))
}

fn ready_addr(line: &str) -> SocketAddr {
    line.strip_prefix("listening irc ")
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
}

/// One stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    seq: i64,
    msgid: String,
    time_ms: i64,
    target: String,
    sender: String,
    command: String,
    text: String,
}

/// Every row of the history file, in sequence order. Opens its own read-only
/// connection, as any other process could.
fn rows(db: &Path) -> Vec<Row> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|err| panic!("open {}: {err}", db.display()));
    let mut stmt = conn
        .prepare(
            "SELECT seq, msgid, time_ms, target, sender, command, text FROM messages ORDER BY seq",
        )
        .expect("prepare");
    stmt.query_map([], |row| {
        Ok(Row {
            seq: row.get(0)?,
            msgid: row.get(1)?,
            time_ms: row.get(2)?,
            target: row.get(3)?,
            sender: row.get(4)?,
            command: row.get(5)?,
            text: row.get(6)?,
        })
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn texts(rows: &[Row]) -> Vec<String> {
    rows.iter().map(|row| row.text.clone()).collect()
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

// ----------------------------------------------------------------------------
// Tests
// ----------------------------------------------------------------------------

#[tokio::test]
async fn channel_messages_are_in_the_database_before_anyone_sees_them() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("history.db");
    let server = start_server(&db, 100).await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    alice.join("#History").await;
    bob.join("#history").await;
    alice.skip_to_any(&["JOIN"]).await;

    let before = unix_ms();
    alice.send("PRIVMSG #history :hello there").await;
    alice.send("NOTICE #HISTORY :a notice").await;
    // Neither a private message nor a refused one is channel history.
    alice.send("PRIVMSG bob :just between us").await;
    alice.send("PRIVMSG #elsewhere :nobody here").await;
    assert_eq!(bob.next_text().await, "hello there");
    // Seen by bob, so committed: the file shows it now, with no shutdown first.
    let stored = rows(&db);
    assert_eq!(
        stored.first().map(|row| row.text.as_str()),
        Some("hello there")
    );
    assert_eq!(bob.next_text().await, "a notice");
    assert_eq!(bob.next_text().await, "just between us");
    alice.skip_to_any(&["403"]).await;

    let stored = rows(&db);
    let after = unix_ms();
    assert_eq!(texts(&stored), ["hello there", "a notice"]);
    let (hello, notice) = (&stored[0], &stored[1]);
    assert_eq!(hello.command, "PRIVMSG");
    assert_eq!(notice.command, "NOTICE");
    for row in &stored {
        // The channel as its creator spelled it, the sender's full prefix.
        assert_eq!(row.target, "#History");
        assert_eq!(row.sender, "alice!alice@127.0.0.1");
        assert!((before..=after).contains(&row.time_ms), "{row:?}");
        assert_eq!(row.msgid.len(), 26, "{row:?}");
    }
    assert!(hello.seq < notice.seq);
    assert_ne!(hello.msgid, notice.msgid);
    server.stop().await;
}

#[tokio::test]
async fn replies_keep_command_order_while_messages_wait_for_their_commit() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("history.db");
    let server = start_server(&db, 100).await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    alice.join("#c").await;
    bob.join("#c").await;
    // In one write: a stored message (held until committed), a hub error, a
    // reply the session makes itself, and a PING; then again.
    let burst = "PRIVMSG #c :one\r\nPRIVMSG #nowhere :x\r\nFOO\r\nPING :a\r\n\
                 PRIVMSG #c :two\r\nBAR\r\nPING :b\r\n";
    alice
        .writer
        .write_all(burst.as_bytes())
        .await
        .expect("send");
    let mut replies = Vec::new();
    while replies.last().map(String::as_str) != Some("PONG b") {
        let message = alice.next().await;
        if message.command != "JOIN" {
            let last = message.params.last().cloned().unwrap_or_default();
            replies.push(format!("{} {}", message.command, last));
        }
    }
    assert_eq!(
        replies,
        [
            "403 No such channel",
            "421 Unknown command",
            "PONG a",
            "421 Unknown command",
            "PONG b"
        ]
    );
    assert_eq!(bob.next_text().await, "one");
    assert_eq!(bob.next_text().await, "two");
    server.stop().await;
}

#[tokio::test]
async fn delivery_order_is_history_order_under_concurrent_senders() {
    const SENDERS: usize = 4;
    const EACH: usize = 150;
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("history.db");
    let server = start_server(&db, 100_000).await;
    let mut listener = Client::register(server.addr, "listener").await;
    listener.join("#order").await;
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let mut sender = Client::register(server.addr, &format!("s{i}")).await;
        sender.join("#order").await;
        senders.push(sender);
    }
    // Each sender writes all its lines at once and reads what the others send.
    let mut tasks = Vec::new();
    for (i, mut sender) in senders.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let burst: String = (0..EACH)
                .map(|n| format!("PRIVMSG #order :s{i} {n}\r\n"))
                .collect();
            sender
                .writer
                .write_all(burst.as_bytes())
                .await
                .expect("send");
            let mut seen = Vec::new();
            while seen.len() < (SENDERS - 1) * EACH {
                seen.push(sender.next_text().await);
            }
            (format!("s{i} "), seen)
        }));
    }
    let mut heard = Vec::new();
    while heard.len() < SENDERS * EACH {
        heard.push(listener.next_text().await);
    }
    let history = texts(&rows(&db));
    assert_eq!(history.len(), SENDERS * EACH);
    assert_eq!(heard, history, "the listener sees history order");
    for task in tasks {
        let (own, seen) = within("a sender", task).await.expect("sender task");
        let expected: Vec<String> = history
            .iter()
            .filter(|text| !text.starts_with(&own))
            .cloned()
            .collect();
        assert_eq!(seen, expected, "{own}sees the others in history order");
    }
    server.stop().await;
}

#[tokio::test]
async fn after_kill_9_every_message_anyone_received_is_in_history() {
    const CLIENTS: usize = 3;
    const EACH: usize = 3000;
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("history.db");
    let db_arg = db.to_str().expect("UTF-8 path");
    let (mut netkit, addr) = start_binary(&["--db", db_arg]);

    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let mut client = Client::register(addr, &format!("c{i}")).await;
        client.join("#crash").await;
        clients.push(client);
    }
    let mut readers = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let Client {
            nick,
            mut reader,
            mut writer,
        } = client;
        // Writes until the server is gone; errors after the kill are expected.
        tokio::spawn(async move {
            for n in 0..EACH {
                let line = format!("PRIVMSG #crash :c{i} {n}\r\n");
                if writer.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
        // Reads to the end: what reaches the client even after the kill was
        // sent before it, and counts as received.
        let (received, count) = (received.clone(), count.clone());
        readers.push(tokio::spawn(async move {
            while let Some(message) = read_message(&mut reader, &nick).await {
                if message.command == "PRIVMSG" {
                    let text = message.param(1).expect("text").to_string();
                    received.lock().expect("lock").push(text);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    within("some messages arriving", async {
        while count.load(Ordering::Relaxed) < 500 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    let pid = libc::pid_t::try_from(netkit.pid()).expect("pid fits pid_t");
    // SAFETY: kill has no memory-safety preconditions; the pid is our child,
    // not yet reaped, so it cannot have been reused.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill -9");
    let killed = tokio::task::spawn_blocking(move || netkit.wait())
        .await
        .expect("join");
    assert_eq!(killed.status.code(), None, "killed by a signal: {killed:?}");
    for reader in readers {
        within("a reader reaching the end", reader)
            .await
            .expect("reader task");
    }
    let received = received.lock().expect("lock").clone();
    let total = CLIENTS * (CLIENTS - 1) * EACH;
    assert!(
        received.len() < total,
        "the kill came after everything was delivered ({} of {total}): nothing was tested",
        received.len()
    );

    // A restart on the same file recovers it and numbers on from where it was.
    let (mut netkit, addr) = start_binary(&["--db", db_arg]);
    let mut late = Client::register(addr, "late").await;
    let mut peer = Client::register(addr, "peer").await;
    late.join("#crash").await;
    peer.join("#crash").await;
    late.send("PRIVMSG #crash :after the restart").await;
    assert_eq!(peer.next_text().await, "after the restart");

    let history = rows(&db);
    let stored: HashSet<&str> = history.iter().map(|row| row.text.as_str()).collect();
    let missing: Vec<&String> = received
        .iter()
        .filter(|text| !stored.contains(text.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} received messages are not in history, e.g. {:?}",
        missing.len(),
        received.len(),
        &missing[..missing.len().min(5)]
    );
    let last = history.last().expect("rows");
    assert_eq!(last.text, "after the restart");
    assert!(history.iter().all(|row| row.seq < last.seq || row == last));
    let msgids: HashSet<&str> = history.iter().map(|row| row.msgid.as_str()).collect();
    assert_eq!(msgids.len(), history.len(), "msgids are unique");

    drop((late, peer));
    let finished = tokio::task::spawn_blocking(move || netkit.terminate())
        .await
        .expect("join");
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    // Graceful shutdown checkpoints: the WAL is folded into the database.
    let wal = dir.path().join("history.db-wal");
    let wal_len = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(wal_len, 0, "{} left in the WAL", wal_len);
    assert_eq!(rows(&db), history);
}

#[tokio::test]
async fn history_limit_prunes_each_channel_in_the_background() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("history.db");
    let db_arg = db.to_str().expect("UTF-8 path");
    let (mut netkit, addr) = start_binary(&["--db", db_arg, "--history-limit", "5"]);
    let mut alice = Client::register(addr, "alice").await;
    let mut bob = Client::register(addr, "bob").await;
    for channel in ["#one", "#two"] {
        alice.join(channel).await;
        bob.join(channel).await;
    }
    for n in 0..30 {
        alice.send(&format!("PRIVMSG #one :one {n}")).await;
    }
    alice.send("PRIVMSG #two :two 0").await;
    for _ in 0..31 {
        bob.next_text().await;
    }
    let pruned = within("pruning", async {
        loop {
            let stored = rows(&db);
            if stored.len() == 6 {
                return stored;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(
        texts(&pruned),
        ["one 25", "one 26", "one 27", "one 28", "one 29", "two 0"]
    );
    drop((alice, bob));
    let finished = tokio::task::spawn_blocking(move || netkit.terminate())
        .await
        .expect("join");
    assert_eq!(finished.code(), Some(0), "{finished:?}");
}

/// `netkit chat serve` run in `dir` with `extra`: exchanges one channel message,
/// then stops it with SIGTERM.
async fn exchange_one_message_in(dir: &Path, extra: &[&str]) {
    let mut child = Command::new(NETKIT)
        .args(["chat", "serve", "--irc", "127.0.0.1:0", "--http", "off"])
        .args(extra)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start netkit");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("ready line");
        line
    });
    let addr = ready_addr(&within("the ready line", line).await.expect("join"));
    let mut alice = Client::register(addr, "alice").await;
    let mut bob = Client::register(addr, "bob").await;
    alice.join("#mem").await;
    bob.join("#mem").await;
    alice.send("PRIVMSG #mem :kept nowhere").await;
    assert_eq!(bob.next_text().await, "kept nowhere");
    drop((alice, bob));
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: as above, our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = within(
        "netkit exiting",
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("join")
    .expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn db_memory_writes_no_file_and_the_default_is_in_the_working_directory() {
    let memory = tempfile::tempdir().expect("temporary directory");
    exchange_one_message_in(memory.path(), &["--db", ":memory:"]).await;
    let left: Vec<_> = std::fs::read_dir(memory.path())
        .expect("read dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "files written: {left:?}");

    let default = tempfile::tempdir().expect("temporary directory");
    exchange_one_message_in(default.path(), &[]).await;
    let stored = rows(&default.path().join("netkit-chat.db"));
    assert_eq!(texts(&stored), ["kept nowhere"]);
}

#[test]
fn an_unopenable_database_is_an_error_before_the_ready_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("missing-dir").join("history.db");
    let finished = Netkit::run(
        &[
            "chat",
            "serve",
            "--irc",
            "127.0.0.1:0",
            "--db",
            db.to_str().expect("UTF-8 path"),
        ],
        b"",
    );
    // Bad input, like a port in use: exit code 2.
    assert_eq!(finished.code(), Some(2), "{finished:?}");
    assert!(finished.stdout.is_empty(), "{finished:?}");
    assert!(
        finished.stderr.contains("cannot open the history database"),
        "{finished:?}"
    );
}

/// A store that fails in the worst way: it panics on every commit.
struct PanickingStore;

impl History for PanickingStore {
    fn commit(&mut self, _batch: &[Entry]) -> Result<(), HistoryError> {
        panic!("the disk caught fire");
    }
}

#[tokio::test]
async fn a_failing_store_refuses_messages_and_the_server_goes_on() {
    let config = ChatConfig {
        flood: None,
        ..ChatConfig::default()
    };
    let server = Server::with_history(config, Box::new(PanickingStore)).await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    alice.join("#c").await;
    bob.join("#c").await;
    alice.expect("JOIN").await;
    for attempt in ["first", "second"] {
        alice.send(&format!("PRIVMSG #c :{attempt}")).await;
        let notice = alice.expect("NOTICE").await;
        assert_eq!(
            notice.param(1),
            Some("Your message was not delivered: history is unavailable"),
            "{attempt}"
        );
        // Nothing reached bob, and everything else still works.
        bob.assert_nothing_pending().await;
    }
    bob.send("PRIVMSG alice :private messages are not stored")
        .await;
    assert_eq!(alice.next_text().await, "private messages are not stored");
    server.stop().await;
}
