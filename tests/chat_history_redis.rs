//! Channel history in Redis, against a real redis-server: `RedisHistory`
//! answers every page and TARGETS query as `SqliteHistory` does for the same
//! entries, stores a batch once however many nodes commit it, and fails
//! (instead of hanging) when Redis is gone.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netkit::chat::history::{
    Anchor, Entry, History, Page, RedisHistory, SqliteHistory, cluster_msgid, stream_key,
};

use common::redis::RedisServer;

const BASE_MS: u64 = 1_700_000_000_000;
/// Spellings of the channels the entries go to, in turn: `#A` and `#a` are
/// one channel, and so are `#Chan[1]` and `#chan{1}` (rfc1459 folding).
const SPELLINGS: [&str; 5] = ["#A", "#b", "#a", "#Chan[1]", "#chan{1}"];
/// The channels the tests ask about, spelled otherwise, and one with nothing.
const ASKED: [&str; 4] = ["#a", "#B", "#CHAN{1}", "#none"];

fn ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Message `i` as a cluster numbers it: three messages a second, two of them
/// in the same millisecond, told apart by the stream ID's sequence part.
fn entry(i: u64, channel: &str) -> Entry {
    let time = ms(BASE_MS + (i / 3) * 1000 + u64::from(i % 3 == 2));
    let seq = (i << 8) | (i % 3);
    Entry {
        seq,
        msgid: cluster_msgid(time, seq),
        time,
        channel: channel.to_string(),
        source: format!("nick{}!user@127.0.0.1", i % 4),
        command: if i.is_multiple_of(5) {
            "NOTICE"
        } else {
            "PRIVMSG"
        },
        text: format!("message {i}"),
    }
}

/// Messages 1..=count over the channels of [`SPELLINGS`], in turn.
fn entries(count: u64) -> Vec<Entry> {
    (1..=count)
        .map(|i| entry(i, SPELLINGS[i as usize % SPELLINGS.len()]))
        .collect()
}

fn connect(redis: &RedisServer) -> RedisHistory {
    RedisHistory::connect(&redis.url(), 1000).expect("connect to redis")
}

/// Both stores with the same entries, committed in batches of 7.
fn both(entries: &[Entry]) -> (RedisServer, RedisHistory, SqliteHistory) {
    let redis = RedisServer::start();
    let mut store = connect(&redis);
    let mut sqlite = SqliteHistory::open(":memory:", 1000).expect("sqlite");
    for batch in entries.chunks(7) {
        store.commit(batch).expect("redis commit");
        sqlite.commit(batch).expect("sqlite commit");
    }
    (redis, store, sqlite)
}

/// A plain connection to the test's Redis, to look behind the store's back.
fn raw(redis: &RedisServer) -> redis::Connection {
    let client = redis::Client::open(redis.url()).expect("redis url");
    client.get_connection().expect("connect to redis")
}

fn xlen(conn: &mut redis::Connection, channel: &str) -> usize {
    redis::cmd("XLEN")
        .arg(stream_key(channel))
        .query(conn)
        .expect("XLEN")
}

fn texts(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.text.as_str()).collect()
}

/// The anchors worth asking about in `channel`: each of its messages, by
/// msgid and by time, the milliseconds after them, the times of some messages
/// elsewhere, the ends of time, and msgids that are not there.
fn anchors(entries: &[Entry], channel: &str) -> Vec<Anchor> {
    let mut anchors = vec![
        Anchor::Time(UNIX_EPOCH),
        Anchor::Time(ms(BASE_MS - 1)),
        Anchor::Time(ms(BASE_MS + 1_000_000)),
        Anchor::MsgId("0".repeat(26)),
        Anchor::MsgId(cluster_msgid(ms(BASE_MS + 500), 7 << 8)),
        Anchor::MsgId("not a msgid".to_string()),
    ];
    let (here, elsewhere): (Vec<&Entry>, Vec<&Entry>) = entries
        .iter()
        .partition(|entry| stream_key(&entry.channel) == stream_key(channel));
    for entry in here {
        anchors.extend([
            Anchor::MsgId(entry.msgid.clone()),
            Anchor::Time(entry.time),
            Anchor::Time(entry.time + Duration::from_millis(1)),
        ]);
    }
    anchors.extend(
        elsewhere
            .iter()
            .step_by(5)
            .map(|entry| Anchor::Time(entry.time)),
    );
    // A msgid is compared as it is written.
    if let Some(Anchor::MsgId(msgid)) = anchors.get(6) {
        anchors.push(Anchor::MsgId(msgid.to_lowercase()));
    }
    anchors
}

// ----------------------------------------------------------------------------
// The same answers as SQLite
// ----------------------------------------------------------------------------

#[test]
fn pages_match_sqlite_for_every_kind_of_page() {
    let entries = entries(40);
    let (_redis, store, sqlite) = both(&entries);
    let mut compared = 0;
    let mut nonempty = 0;
    for channel in ASKED {
        let anchors = anchors(&entries, channel);
        let mut pages = vec![(Page::Latest(None), 100)];
        for anchor in &anchors {
            for n in [0, 1, 3, 100] {
                pages.extend([
                    (Page::Latest(Some(anchor.clone())), n),
                    (Page::Before(anchor.clone()), n),
                    (Page::After(anchor.clone()), n),
                    (Page::Around(anchor.clone()), n),
                ]);
            }
        }
        // A sample of pairs, both ways.
        for from in anchors.iter().step_by(6) {
            for to in anchors.iter().step_by(4) {
                for n in [2, 100] {
                    pages.push((Page::Between(from.clone(), to.clone()), n));
                    pages.push((Page::Between(to.clone(), from.clone()), n));
                }
            }
        }
        for (page, n) in &pages {
            let want = sqlite.page(channel, page, *n).expect("sqlite page");
            let got = store.page(channel, page, *n).expect("redis page");
            assert_eq!(got, want, "{channel} {page:?} n={n}");
            compared += 1;
            nonempty += usize::from(!want.is_empty());
        }
    }
    assert!(
        nonempty > compared / 3,
        "{nonempty} of {compared} pages had messages"
    );
}

#[test]
fn pages_read_back_what_was_written() {
    let entries = entries(40);
    let (_redis, store, _) = both(&entries);
    // #a gets messages 2, 7, 12, ... (as #a) and 5, 10, 15, ... (as #A).
    let latest = store.page("#A", &Page::Latest(None), 3).unwrap();
    assert_eq!(texts(&latest), ["message 35", "message 37", "message 40"]);
    assert_eq!(latest[2], entries[39]);
    assert_eq!(latest[2].command, "NOTICE");
    assert_eq!(latest[2].channel, "#A");
    assert_eq!(latest[1].channel, "#a");
    let anchor = Anchor::MsgId(entries[21].msgid.clone()); // 22, in #a
    let page = |channel, page| texts(&store.page(channel, &page, 4).unwrap()).join(", ");
    assert_eq!(
        page("#a", Page::Before(anchor.clone())),
        "message 12, message 15, message 17, message 20"
    );
    assert_eq!(
        page("#a", Page::After(anchor.clone())),
        "message 25, message 27, message 30, message 32"
    );
    assert_eq!(
        page("#a", Page::Around(anchor)),
        "message 17, message 20, message 22, message 25"
    );
    // Messages 3 and 4 (in #chan{1}) share a millisecond, and so do 18 and
    // 19: a time anchor covers both.
    let page_at = |message: usize, kind: fn(Anchor) -> Page| {
        page("#CHAN{1}", kind(Anchor::Time(entries[message - 1].time)))
    };
    assert_eq!(
        page_at(4, Page::After),
        "message 8, message 9, message 13, message 14"
    );
    assert_eq!(
        page_at(18, Page::Before),
        "message 8, message 9, message 13, message 14"
    );
    assert_eq!(
        page_at(3, Page::Around),
        "message 3, message 4, message 8, message 9"
    );
}

#[test]
fn targets_match_sqlite() {
    let entries = entries(40);
    let (_redis, store, sqlite) = both(&entries);
    let channels: Vec<String> = ["#a", "#B", "#CHAN{1}", "#none", "#A"]
        .map(String::from)
        .to_vec();
    let mut times: Vec<SystemTime> = entries.iter().map(|e| e.time).step_by(3).collect();
    times.extend([
        UNIX_EPOCH,
        ms(BASE_MS + 1_000_000),
        entries[1].time + Duration::from_millis(1),
    ]);
    // When a channel's last two messages in a window share a millisecond,
    // SQLite names the channel as either spelled it (its pick among equal
    // maxima is arbitrary), Redis as the last did: compare the folded names.
    let folded = |found: Vec<(String, SystemTime)>| -> Vec<(String, SystemTime)> {
        let fold = |(name, time): (String, SystemTime)| (stream_key(&name), time);
        found.into_iter().map(fold).collect()
    };
    let mut nonempty = 0;
    for &from in &times {
        for &to in &times {
            for n in [0, 1, 2, 10] {
                let window = (from, to);
                let want = sqlite.targets(&channels, window, n).expect("sqlite");
                let got = store.targets(&channels, window, n).expect("redis");
                nonempty += usize::from(!want.is_empty());
                assert_eq!(folded(got), folded(want), "{window:?} n={n}");
            }
        }
    }
    assert!(nonempty > 100, "only {nonempty} windows had messages");
    let found = store
        .targets(&channels, (UNIX_EPOCH, ms(BASE_MS + 1_000_000)), 10)
        .unwrap();
    // Each with the spelling and time of its last message, #a twice as it
    // was asked twice; 39 and 40 share a millisecond, and keep the order asked.
    assert_eq!(
        found,
        [
            ("#b".to_string(), entries[35].time),
            ("#A".to_string(), entries[39].time),
            ("#chan{1}".to_string(), entries[38].time),
            ("#A".to_string(), entries[39].time),
        ]
    );
}

// ----------------------------------------------------------------------------
// What only Redis does
// ----------------------------------------------------------------------------

#[test]
fn a_batch_committed_by_several_nodes_is_stored_once() {
    let entries = entries(40);
    let redis = RedisServer::start();
    let (mut one, mut two) = (connect(&redis), connect(&redis));
    for batch in entries[..30].chunks(10) {
        one.commit(batch).unwrap();
    }
    // The second node commits an overlapping stretch, and one batch twice.
    for batch in entries[20..].chunks(10) {
        two.commit(batch).unwrap();
        two.commit(batch).unwrap();
    }
    // The same entry twice in one batch.
    one.commit(&[entries[39].clone(), entries[39].clone()])
        .unwrap();
    let mut sqlite = SqliteHistory::open(":memory:", 1000).unwrap();
    sqlite.commit(&entries).unwrap();
    let mut conn = raw(&redis);
    for channel in ASKED {
        let want = sqlite.page(channel, &Page::Latest(None), 100).unwrap();
        assert_eq!(one.page(channel, &Page::Latest(None), 100).unwrap(), want);
        assert_eq!(xlen(&mut conn, channel), want.len(), "{channel}");
    }
}

#[test]
fn channel_names_are_folded_into_one_stream() {
    let redis = RedisServer::start();
    let mut store = connect(&redis);
    store
        .commit(&[entry(1, "#Chan[1]"), entry(2, "#CHAN{1}")])
        .unwrap();
    assert_eq!(stream_key("#Chan[1]"), "netkit:history:#chan{1}");
    let mut conn = raw(&redis);
    assert_eq!(xlen(&mut conn, "#chan{1}"), 2);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert_eq!(keys, ["netkit:history:#chan{1}"]);
    let page = store.page("#chan{1}", &Page::Latest(None), 10).unwrap();
    assert_eq!(
        page.iter().map(|e| e.channel.as_str()).collect::<Vec<_>>(),
        ["#Chan[1]", "#CHAN{1}"]
    );
}

#[test]
fn a_msgid_of_another_channel_anchors_nothing() {
    let entries = entries(10);
    let (_redis, store, _) = both(&entries);
    let elsewhere = Anchor::MsgId(entries[0].msgid.clone()); // in #b
    assert!(
        store
            .page("#a", &Page::After(elsewhere), 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn streams_are_trimmed_to_about_the_limit() {
    let redis = RedisServer::start();
    let limit = 50;
    let mut store = RedisHistory::connect(&redis.url(), limit).unwrap();
    let entries: Vec<Entry> = (1..=1000).map(|i| entry(i, "#big")).collect();
    for batch in entries.chunks(100) {
        store.commit(batch).unwrap();
    }
    // `MAXLEN ~` trims whole nodes of 100 entries (Redis's default).
    let kept = xlen(&mut raw(&redis), "#big");
    assert!((50..150).contains(&kept), "{kept} entries kept of 1000");
    let latest = store.page("#big", &Page::Latest(None), 3).unwrap();
    assert_eq!(
        texts(&latest),
        ["message 998", "message 999", "message 1000"]
    );
    let oldest = store
        .page("#big", &Page::After(Anchor::Time(UNIX_EPOCH)), 1)
        .unwrap();
    assert_eq!(oldest, [entries[1000 - kept].clone()]);
}

// ----------------------------------------------------------------------------
// Connections
// ----------------------------------------------------------------------------

#[test]
fn committed_history_survives_a_lost_connection_and_a_redis_restart() {
    let entries = entries(20);
    let mut redis = RedisServer::start_persistent();
    let mut store = connect(&redis);
    store.commit(&entries[..10]).unwrap();
    // Redis drops every client: the store connects again, once, by itself.
    let mut conn = raw(&redis);
    redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"])
        .query::<u64>(&mut conn)
        .unwrap();
    assert_eq!(store.page("#b", &Page::Latest(None), 100).unwrap().len(), 2);
    store.commit(&entries[10..15]).unwrap();
    redis.restart();
    // The script cache is empty after a restart; the commit loads it again.
    store.commit(&entries[15..]).unwrap();
    let mut sqlite = SqliteHistory::open(":memory:", 1000).unwrap();
    sqlite.commit(&entries).unwrap();
    let fresh = connect(&redis);
    for channel in ASKED {
        let want = sqlite.page(channel, &Page::Latest(None), 100).unwrap();
        assert_eq!(store.page(channel, &Page::Latest(None), 100).unwrap(), want);
        assert_eq!(fresh.page(channel, &Page::Latest(None), 100).unwrap(), want);
    }
}

#[test]
fn with_redis_stopped_messages_wait_in_memory_and_reads_fail_promptly() {
    let entries = entries(10);
    let mut redis = RedisServer::start_persistent();
    let mut store = connect(&redis);
    store.commit(&entries[..5]).unwrap();
    redis.stop();
    let started = Instant::now();
    // Kept, to be written once Redis is back: a split node goes on serving.
    store.commit(&entries[5..8]).unwrap();
    assert!(store.upkeep_owed());
    assert!(store.upkeep().is_err());
    let err = store.page("#b", &Page::Latest(None), 10).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{}", redis.port())),
        "{err}"
    );
    assert!(
        store
            .targets(&["#b".to_string()], (UNIX_EPOCH, ms(u64::MAX >> 20)), 10)
            .is_err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    redis.restart();
    // The kept ones go first, then the new ones; each once.
    store.commit(&entries[8..]).unwrap();
    assert!(!store.upkeep_owed());
    store.commit(&entries[5..]).unwrap();
    let (_, _, sqlite) = both(&entries);
    for channel in ASKED {
        let want = sqlite.page(channel, &Page::Latest(None), 100).unwrap();
        assert_eq!(store.page(channel, &Page::Latest(None), 100).unwrap(), want);
    }
}

#[test]
fn messages_of_a_split_node_are_stored_once_in_the_order_written() {
    let redis = RedisServer::start();
    let mut store = connect(&redis);
    let mut other = connect(&redis);
    // Numbered by one server alone (a salted msgid), not by the log.
    let alone: Vec<Entry> = (1..=3)
        .map(|i| Entry {
            msgid: netkit::chat::history::msgid(ms(BASE_MS + i), i),
            ..entry(i, "#solo")
        })
        .collect();
    store.commit(&alone).unwrap();
    // Written again (a retried flush), or by another store: kept once.
    store.commit(&alone[1..]).unwrap();
    other.commit(&alone).unwrap();
    let page = store.page("#solo", &Page::Latest(None), 10).unwrap();
    let texts: Vec<&str> = page.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["message 1", "message 2", "message 3"]);
    assert_eq!(page[0].msgid, alone[0].msgid);
    // Their msgids anchor pages like any other.
    let texts = |page: &Page| -> Vec<String> {
        let entries = store.page("#solo", page, 10).unwrap();
        entries.into_iter().map(|e| e.text).collect()
    };
    let anchor = |i: usize| Anchor::MsgId(alone[i].msgid.clone());
    assert_eq!(texts(&Page::Before(anchor(2))), ["message 1", "message 2"]);
    assert_eq!(texts(&Page::After(anchor(0))), ["message 2", "message 3"]);
    assert_eq!(texts(&Page::Between(anchor(0), anchor(2))), ["message 2"]);
}

#[test]
fn a_redis_that_never_answers_fails_within_the_timeout() {
    let silent = common::FakeServer::silent();
    let started = Instant::now();
    let result = RedisHistory::connect(&format!("redis://{}/0", silent.addr), 100);
    assert!(result.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn connecting_needs_redis_and_its_password() {
    let refused = common::refused_tcp_addr();
    let err = RedisHistory::connect(&format!("redis://{refused}/0"), 100)
        .err()
        .unwrap();
    assert!(err.to_string().contains(&refused.to_string()), "{err}");
    assert!(RedisHistory::connect("http://example.com", 100).is_err());

    let redis = RedisServer::start();
    let mut conn = raw(&redis);
    redis::cmd("CONFIG")
        .arg(&["SET", "requirepass", "s3cret"])
        .query::<()>(&mut conn)
        .unwrap();
    let port = redis.port();
    let err = RedisHistory::connect(&format!("redis://:wrong@127.0.0.1:{port}/0"), 100)
        .err()
        .unwrap();
    assert!(
        !err.to_string().contains("wrong"),
        "the password is not shown: {err}"
    );
    let mut store = RedisHistory::connect(&format!("redis://:s3cret@127.0.0.1:{port}/0"), 100)
        .expect("the right password");
    store.commit(&[entry(1, "#b")]).unwrap();
}

#[test]
fn a_failing_entry_fails_the_batch() {
    let redis = RedisServer::start();
    let mut store = connect(&redis);
    redis::cmd("SET")
        .arg(stream_key("#taken"))
        .arg("not a stream")
        .query::<()>(&mut raw(&redis))
        .unwrap();
    let err = store
        .commit(&[entry(1, "#b"), entry(2, "#taken")])
        .unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    // The connection is still good for the next batch.
    store.commit(&[entry(3, "#b")]).unwrap();
}
