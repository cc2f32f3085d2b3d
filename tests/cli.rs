//! The `netkit` binary's echo commands as a user runs them: `echo serve` (ready
//! lines, SIGTERM, an address in use), `echo send` and `connect`, with their output
//! and exit codes (0 ok, 1 failed work, 2 bad usage).

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};

use common::{
    FakeServer, MIB, Netkit, PATIENCE, ServeProcess, closed_udp_addr, first_difference,
    random_bytes, refused_tcp_addr,
};

// ----------------------------------------------------------------------------
// echo serve
// ----------------------------------------------------------------------------

#[test]
fn serve_echoes_over_tcp_and_udp_and_on_sigterm_exits_0_with_a_summary() {
    let server = ServeProcess::start(&["--udp", "127.0.0.1:0"]);

    let mut tcp = TcpStream::connect(server.tcp).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    tcp.write_all(b"hello").unwrap();
    let mut echo = [0; 5];
    tcp.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
    drop(tcp);

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(PATIENCE)).unwrap();
    udp.send_to(b"ping", server.udp.unwrap()).unwrap();
    let mut echo = [0; 16];
    let (n, from) = udp.recv_from(&mut echo).unwrap();
    assert_eq!((&echo[..n], from), (&b"ping"[..], server.udp.unwrap()));

    let finished = server.terminate();
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    let summary = finished
        .stderr
        .lines()
        .find(|line| line.contains("served"))
        .unwrap_or_else(|| panic!("no summary on stderr: {finished:?}"));
    assert!(
        summary.contains("served 1 connections")
            && summary.contains("echoed 5 bytes over TCP")
            && summary.contains("1 datagrams (4 bytes)"),
        "summary does not match the traffic: {summary}"
    );
}

#[test]
fn sigterm_right_after_the_ready_line_exits_0_with_a_summary() {
    // The race is lost about half the time; ten tries make a pass by luck unlikely.
    for attempt in 1..=10 {
        let mut server = ServeProcess::start(&[]);
        // Straight after the ready line: the handlers must already be in place.
        let finished = server.netkit.terminate();
        assert_eq!(finished.code(), Some(0), "attempt {attempt}: {finished:?}");
        assert!(
            finished.stderr.contains("served 0 connections"),
            "attempt {attempt}: {finished:?}"
        );
    }
}

#[test]
fn serve_on_a_tcp_address_in_use_exits_2_with_one_line_naming_it() {
    let first = ServeProcess::start(&[]);
    let addr = first.tcp.to_string();

    let second = Netkit::run(&["echo", "serve", "--tcp", &addr], b"");
    let line = second.assert_one_error_line(2);
    assert_eq!(
        line,
        format!("netkit: cannot listen on {addr}: address already in use")
    );
}

#[test]
fn serve_on_a_udp_address_in_use_exits_2_with_one_line_naming_it() {
    let first = ServeProcess::start(&["--udp", "127.0.0.1:0"]);
    let addr = first.udp.unwrap().to_string();

    let second = Netkit::run(&["echo", "serve", "--udp", &addr], b"");
    let line = second.assert_one_error_line(2);
    assert_eq!(
        line,
        format!("netkit: cannot listen on {addr}: address already in use")
    );
}

#[test]
fn serve_on_a_malformed_address_exits_2_and_names_it() {
    for bad in ["banana", "127.0.0.1:99999", "localhost:8888"] {
        let run = Netkit::run(&["echo", "serve", "--tcp", bad], b"");
        assert_eq!(run.code(), Some(2), "{bad}: {run:?}");
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains(&format!("invalid address \"{bad}\"")) && first.contains("IP:PORT"),
            "{bad}: {run:?}"
        );
    }
}

// ----------------------------------------------------------------------------
// echo send
// ----------------------------------------------------------------------------

#[test]
fn send_prints_the_echo_on_a_line_and_exits_0() {
    let server = ServeProcess::start(&[]);
    let sent = Netkit::run(
        &["echo", "send", &server.tcp.to_string(), "Hello, server!"],
        b"",
    );
    assert_eq!(sent.code(), Some(0), "{sent:?}");
    assert_eq!(sent.stdout_text(), "Hello, server!\n");
    assert_eq!(sent.stderr, "");
}

#[test]
fn send_without_a_message_echoes_standard_input_byte_for_byte() {
    let server = ServeProcess::start(&[]);
    let mut input = b"binary\0data\xff\n".to_vec();
    input.extend(random_bytes(200_000, 21));
    let sent = Netkit::run(&["echo", "send", &server.tcp.to_string()], &input);
    assert_eq!(sent.code(), Some(0), "{sent:?}");
    assert_eq!(
        first_difference(&sent.stdout, &input),
        None,
        "stdout holds {} bytes, {} were sent",
        sent.stdout.len(),
        input.len()
    );
}

#[test]
fn send_over_udp_prints_the_echo() {
    let server = ServeProcess::start(&["--udp", "127.0.0.1:0"]);
    let udp = server.udp.unwrap().to_string();
    let sent = Netkit::run(&["echo", "send", "--udp", &udp, "ping"], b"");
    assert_eq!(sent.code(), Some(0), "{sent:?}");
    assert_eq!(sent.stdout_text(), "ping\n");
}

#[test]
fn send_to_a_port_nobody_listens_on_exits_1_with_connection_refused() {
    let addr = refused_tcp_addr().to_string();
    let sent = Netkit::run(&["echo", "send", &addr, "hello"], b"");
    let line = sent.assert_one_error_line(1);
    assert_eq!(
        line,
        format!("netkit: cannot connect to {addr}: connection refused")
    );
    assert!(sent.stdout.is_empty());
}

#[test]
fn send_over_udp_to_a_closed_port_exits_1_with_connection_refused() {
    let addr = closed_udp_addr().to_string();
    let sent = Netkit::run(&["echo", "send", "--udp", &addr, "hello"], b"");
    let line = sent.assert_one_error_line(1);
    assert!(line.contains("connection refused"), "{line}");
}

#[test]
fn send_to_a_server_that_never_echoes_times_out_and_exits_1() {
    let silent = FakeServer::silent();
    let addr = silent.addr.to_string();
    let sent = Netkit::run(&["echo", "send", "--timeout", "300ms", &addr, "hello"], b"");
    let line = sent.assert_one_error_line(1);
    assert_eq!(line, format!("netkit: no echo from {addr} within 300.00ms"));
    assert!(sent.stdout.is_empty());
}

#[test]
fn send_reports_an_echo_that_differs_and_exits_1() {
    let corrupting = FakeServer::corrupting();
    let addr = corrupting.addr.to_string();
    let sent = Netkit::run(&["echo", "send", &addr, "hello"], b"");
    let line = sent.assert_one_error_line(1);
    assert_eq!(
        line,
        format!("netkit: the echo from {addr} differs from what was sent, first at byte 0")
    );
    assert!(sent.stdout.is_empty(), "a wrong echo is not printed");
}

#[test]
fn send_reports_a_server_that_closes_before_the_whole_echo_and_exits_1() {
    let closing = FakeServer::closing_after(3);
    let addr = closing.addr.to_string();
    let sent = Netkit::run(&["echo", "send", &addr, "hello"], b"");
    let line = sent.assert_one_error_line(1);
    assert_eq!(
        line,
        format!("netkit: {addr} closed the connection after echoing 3 of 5 bytes")
    );
}

#[test]
fn send_with_a_malformed_timeout_is_a_usage_error_exiting_2() {
    let sent = Netkit::run(
        &["echo", "send", "--timeout", "banana", "127.0.0.1:7", "hi"],
        b"",
    );
    assert_eq!(sent.code(), Some(2), "{sent:?}");
    assert!(sent.stderr.contains("banana"), "{sent:?}");
}

// ----------------------------------------------------------------------------
// connect
// ----------------------------------------------------------------------------

#[test]
fn connect_echoes_each_line_as_it_is_typed_and_exits_0_when_the_server_closes() {
    let server = ServeProcess::start(&[]);
    let mut connect = Netkit::spawn(&["connect", &server.tcp.to_string()]);
    // Each echo arrives while standard input is still open.
    connect.write_stdin(b"one\n");
    assert_eq!(connect.line(), "one\n");
    connect.write_stdin(b"two\n");
    assert_eq!(connect.line(), "two\n");
    // End of input half-closes; the server then closes, which ends the command.
    connect.close_stdin();
    let finished = connect.wait();
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert!(finished.stdout.is_empty(), "{finished:?}");
}

#[test]
fn connect_exits_0_when_the_server_closes_even_while_input_is_still_open() {
    let server = ServeProcess::start(&["--idle-timeout", "300ms"]);
    let mut connect = Netkit::spawn(&["connect", &server.tcp.to_string()]);
    connect.write_stdin(b"hello\n");
    assert_eq!(connect.line(), "hello\n");
    // Standard input stays open; the server's idle timeout ends the connection.
    let finished = connect.wait();
    assert_eq!(finished.code(), Some(0), "{finished:?}");
}

#[test]
fn connect_passes_binary_input_through_unchanged() {
    let server = ServeProcess::start(&[]);
    let input = random_bytes(MIB, 31);
    let connected = Netkit::run(&["connect", &server.tcp.to_string()], &input);
    assert_eq!(connected.code(), Some(0), "{connected:?}");
    assert_eq!(
        first_difference(&connected.stdout, &input),
        None,
        "stdout holds {} bytes, {} were sent",
        connected.stdout.len(),
        input.len()
    );
}

#[test]
fn connect_half_closes_at_end_of_input_and_still_prints_the_reply() {
    // This server answers only after the client's end of stream: a client that
    // closed its socket fully at end of input would never see the answer.
    let server = FakeServer::answering_after_end_of_input();
    let connected = Netkit::run(
        &["connect", &server.addr.to_string()],
        b"first line\nsecond line\n",
    );
    assert_eq!(connected.code(), Some(0), "{connected:?}");
    assert_eq!(connected.stdout_text(), "received 23 bytes\n");
}

#[test]
fn connect_over_udp_sends_each_line_as_one_datagram_and_prints_the_replies() {
    let server = ServeProcess::start(&["--udp", "127.0.0.1:0"]);
    let udp = server.udp.unwrap().to_string();
    let connected = Netkit::run(
        &["connect", "--udp", "--wait", "300ms", &udp],
        b"alpha\nbeta\n",
    );
    assert_eq!(connected.code(), Some(0), "{connected:?}");
    assert_eq!(connected.stdout_text(), "alpha\nbeta\n");

    let finished = server.terminate();
    assert!(
        finished.stderr.contains("2 datagrams (11 bytes)"),
        "one datagram per line: {finished:?}"
    );
}

#[test]
fn connect_to_a_port_nobody_listens_on_exits_1() {
    let addr = refused_tcp_addr().to_string();
    let connected = Netkit::run(&["connect", &addr], b"hello\n");
    let line = connected.assert_one_error_line(1);
    assert_eq!(
        line,
        format!("netkit: cannot connect to {addr}: connection refused")
    );
}
