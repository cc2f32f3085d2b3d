//! The echo server, driven through the library (`EchoServer::serve`) with real
//! sockets on 127.0.0.1: exact echoes under load, UDP, half-close, the idle
//! timeout, the connection limit and graceful shutdown.

mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use netkit::echo::EchoConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use common::{
    KIB, LibServer, MIB, Xorshift, assert_echoes, first_difference, random_bytes,
    wait_until_refused, within,
};

/// Streams `len` bytes of the seed's random data through the server, writing and
/// reading at once, then half-closes; checks the echo byte for byte as it arrives
/// and that the server then closes. Errors name the client.
async fn echo_random_stream(addr: SocketAddr, len: usize, seed: u64) -> Result<(), String> {
    let fail = |what: &str, err: std::io::Error| format!("client {seed}: {what}: {err}");
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| fail("connect", e))?;
    let (mut reader, mut writer) = stream.split();
    let send = async {
        let mut data = Xorshift::new(seed);
        let mut chunk = vec![0; 64 * KIB];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            data.fill(&mut chunk[..n]);
            writer.write_all(&chunk[..n]).await?;
            left -= n;
        }
        writer.shutdown().await
    };
    let check = async {
        let mut expected = Xorshift::new(seed);
        let mut got = vec![0; 64 * KIB];
        let mut want = vec![0; 64 * KIB];
        let mut received = 0;
        loop {
            let n = reader.read(&mut got).await.map_err(|e| fail("read", e))?;
            if n == 0 {
                break;
            }
            expected.fill(&mut want[..n]);
            if let Some(at) = first_difference(&got[..n], &want[..n]) {
                return Err(format!(
                    "client {seed}: echo differs at byte {}",
                    received + at
                ));
            }
            received += n;
        }
        if received != len {
            return Err(format!("client {seed}: got {received} bytes back of {len}"));
        }
        Ok(())
    };
    let (sent, checked) = tokio::join!(send, check);
    sent.map_err(|e| fail("write", e))?;
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_clients_each_get_their_mebibyte_back_exactly() {
    const CLIENTS: u64 = 200;
    let server = LibServer::start(EchoConfig::default()).await;
    let mut clients = tokio::task::JoinSet::new();
    for seed in 1..=CLIENTS {
        clients.spawn(echo_random_stream(server.tcp, MIB, seed));
    }
    let results = within("200 echoes of 1 MiB", clients.join_all()).await;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{} clients failed: {failures:#?}",
        failures.len()
    );

    let summary = server.stop().await;
    assert_eq!(summary.connections, CLIENTS);
    assert_eq!(summary.tcp_bytes, CLIENTS * MIB as u64);
}

#[tokio::test]
async fn udp_datagrams_of_one_byte_and_60_kib_come_back_unchanged() {
    let server = LibServer::start(EchoConfig::default()).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(server.udp).await.unwrap();
    let mut echo = vec![0; 65_536];
    for (len, seed) in [(1, 7), (60 * KIB, 8)] {
        let datagram = random_bytes(len, seed);
        client.send(&datagram).await.unwrap();
        let n = within("a datagram's echo", client.recv(&mut echo))
            .await
            .unwrap();
        assert_eq!(
            first_difference(&echo[..n], &datagram),
            None,
            "the {len}-byte datagram came back as {n} different bytes"
        );
    }

    let summary = server.stop().await;
    assert_eq!(summary.datagrams, 2);
    assert_eq!(summary.udp_bytes, 1 + 60 * KIB as u64);
}

#[tokio::test]
async fn half_closed_client_gets_its_message_back_then_end_of_stream() {
    let server = LibServer::start(EchoConfig::default()).await;
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    stream.write_all(b"last words").await.unwrap();
    stream.shutdown().await.unwrap();
    // read_to_end returns only at end of stream, and fails on a reset.
    let mut echo = Vec::new();
    within("the echo and end of stream", stream.read_to_end(&mut echo))
        .await
        .unwrap();
    assert_eq!(echo, b"last words");
    server.stop().await;
}

#[tokio::test]
async fn half_close_in_the_middle_of_a_large_echo_loses_nothing() {
    let server = LibServer::start(EchoConfig::default()).await;
    // Larger than the socket buffers, so the server is still echoing when the
    // client's end of stream reaches it.
    let data = random_bytes(4 * MIB, 3);
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    let (mut reader, mut writer) = stream.split();
    let send = async {
        writer.write_all(&data).await?;
        writer.shutdown().await
    };
    let mut echo = Vec::new();
    let receive = reader.read_to_end(&mut echo);
    let (sent, received) = within("the echo", async { tokio::join!(send, receive) }).await;
    sent.unwrap();
    received.unwrap();
    assert_eq!(
        first_difference(&echo, &data),
        None,
        "echo of {} bytes",
        echo.len()
    );
    server.stop().await;
}

// Paused time: tokio's clock jumps ahead whenever every task waits, so a
// 10-second idle timeout takes no real time (and stays within `within`'s 20 s). Real sockets still work: the runtime
// polls them before advancing the clock.
#[tokio::test(start_paused = true)]
async fn silent_connection_is_closed_after_the_idle_timeout_and_counted() {
    let idle_timeout = Duration::from_secs(10);
    let server = LibServer::start(EchoConfig {
        idle_timeout,
        ..EchoConfig::default()
    })
    .await;
    let mut silent = TcpStream::connect(server.tcp).await.unwrap();
    let connected = Instant::now();
    let mut buf = [0; 16];
    let read = within("the idle connection closing", silent.read(&mut buf)).await;
    let waited = connected.elapsed();
    assert_eq!(read.unwrap(), 0, "the server closes the connection");
    assert!(
        waited >= idle_timeout,
        "closed after {waited:?}, before the idle timeout"
    );
    assert!(waited < 2 * idle_timeout, "closed only after {waited:?}");

    let summary = server.stop().await;
    assert_eq!(summary.idle_closed, 1);
    assert_eq!(summary.connections, 1);
}

#[tokio::test(start_paused = true)]
async fn connection_that_keeps_talking_outlives_the_idle_timeout() {
    let idle_timeout = Duration::from_secs(10);
    let server = LibServer::start(EchoConfig {
        idle_timeout,
        ..EchoConfig::default()
    })
    .await;
    let mut talker = TcpStream::connect(server.tcp).await.unwrap();
    let started = Instant::now();
    // A message every 7 s for 35 s: never quiet for 10 s, open for more than
    // three timeouts.
    for round in 0..5 {
        assert_echoes(&mut talker, format!("round {round}").as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(7)).await;
    }
    assert!(started.elapsed() > 3 * idle_timeout);
    assert_echoes(&mut talker, b"still here").await;

    let summary = server.stop().await;
    assert_eq!(summary.idle_closed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eleventh_connection_is_closed_at_once_and_the_first_ten_keep_echoing() {
    let server = LibServer::start(EchoConfig {
        max_connections: 10,
        ..EchoConfig::default()
    })
    .await;
    // An echo on each proves the server has taken it on.
    let mut first_ten = Vec::new();
    for i in 0..10 {
        let mut stream = TcpStream::connect(server.tcp).await.unwrap();
        assert_echoes(&mut stream, format!("client {i}").as_bytes()).await;
        first_ten.push(stream);
    }

    let mut eleventh = TcpStream::connect(server.tcp).await.unwrap();
    let mut buf = [0; 16];
    // The default idle timeout is 5 minutes: only the limit closes it this soon.
    match within("the eleventh connection closing", eleventh.read(&mut buf)).await {
        Ok(0) => {}
        Err(err) if err.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the eleventh connection was not closed: {other:?}"),
    }

    for (i, stream) in first_ten.iter_mut().enumerate() {
        assert_echoes(stream, format!("client {i} again").as_bytes()).await;
    }
    let summary = server.stop().await;
    assert_eq!(summary.rejected, 1);
    assert_eq!(summary.connections, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_echo_in_progress_finish_and_counts_its_bytes() {
    let server = LibServer::start(EchoConfig {
        grace: Duration::from_secs(60),
        ..EchoConfig::default()
    })
    .await;
    let data = random_bytes(8 * MIB, 11);
    let (first_half, second_half) = data.split_at(4 * MIB);
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    let (mut reader, mut writer) = stream.split();
    let (half_sent, shutdown_begun) = (tokio::sync::Notify::new(), tokio::sync::Notify::new());

    let send = async {
        writer.write_all(first_half).await?;
        half_sent.notify_one();
        shutdown_begun.notified().await;
        writer.write_all(second_half).await?;
        writer.shutdown().await
    };
    let mut echo = Vec::new();
    let receive = reader.read_to_end(&mut echo);
    let shut_down_midway = async {
        half_sent.notified().await;
        server.begin_shutdown();
        // The second half goes out only once the server has stopped accepting.
        wait_until_refused(server.tcp).await;
        shutdown_begun.notify_one();
    };
    let (sent, received, ()) = within("the echo across shutdown", async {
        tokio::join!(send, receive, shut_down_midway)
    })
    .await;
    sent.unwrap();
    received.unwrap();
    assert_eq!(
        first_difference(&echo, &data),
        None,
        "echo of {} bytes",
        echo.len()
    );

    let summary = server.stop().await;
    assert_eq!(summary.tcp_bytes, data.len() as u64);
    assert_eq!(summary.cut_at_shutdown, 0);
}

#[tokio::test]
async fn shutdown_closes_a_quiet_connection_without_waiting_for_the_grace_period() {
    // The grace period outlasts the test's patience: only the quiet rule can end it.
    let server = LibServer::start(EchoConfig {
        grace: Duration::from_secs(3600),
        ..EchoConfig::default()
    })
    .await;
    let mut quiet = TcpStream::connect(server.tcp).await.unwrap();
    assert_echoes(&mut quiet, b"hello").await;

    let summary = server.stop().await;
    let mut buf = [0; 16];
    let read = within("the quiet connection closing", quiet.read(&mut buf)).await;
    assert_eq!(read.unwrap(), 0, "closed cleanly");
    assert_eq!(summary.cut_at_shutdown, 0);
    assert_eq!(summary.idle_closed, 0);
    assert_eq!(summary.tcp_bytes, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_a_connection_still_busy_when_the_grace_period_ends() {
    let server = LibServer::start(EchoConfig {
        grace: Duration::from_millis(300),
        ..EchoConfig::default()
    })
    .await;
    let mut busy = TcpStream::connect(server.tcp).await.unwrap();
    assert_echoes(&mut busy, b"first").await;
    server.begin_shutdown();
    // Keep echoing without pause until the server ends the connection.
    let chatter = async {
        let message = random_bytes(KIB, 5);
        let mut echo = vec![0; KIB];
        loop {
            if busy.write_all(&message).await.is_err() {
                return;
            }
            match busy.read_exact(&mut echo).await {
                Ok(_) => assert_eq!(first_difference(&echo, &message), None),
                Err(_) => return,
            }
        }
    };
    within("the busy connection being cut", chatter).await;

    let summary = server.stop().await;
    assert_eq!(summary.cut_at_shutdown, 1);
}
