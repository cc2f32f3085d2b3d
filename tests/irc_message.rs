//! The IRC message layer through its public API: examples from the IRCv3
//! message-tags specification, modern.ircdocs.horse and the ircdocs parser test
//! vectors, then properties over arbitrary messages, lines and byte streams.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use netkit::chat::irc::{
    Frame, IrcCodec, MAX_FRAME, MAX_PARAMS, Message, ParseError, within_limits,
};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, FramedRead};

fn parse(line: &str) -> Message {
    Message::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

type Tags<'a> = &'a [(&'a str, Option<&'a str>)];

fn expect(line: &str, tags: Tags<'_>, source: Option<&str>, command: &str, params: &[&str]) {
    let m = parse(line);
    let tags: Vec<(String, Option<String>)> = tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
        .collect();
    assert_eq!(m.tags, tags, "tags of {line:?}");
    assert_eq!(m.source.as_deref(), source, "source of {line:?}");
    assert_eq!(m.command, command, "command of {line:?}");
    assert_eq!(m.params, params, "params of {line:?}");
}

#[test]
fn ircv3_message_tags_spec_examples() {
    expect(
        "@aaa=bbb;ccc;example.com/ddd=eee :nick!ident@host.com PRIVMSG me :Hello",
        &[
            ("aaa", Some("bbb")),
            ("ccc", None),
            ("example.com/ddd", Some("eee")),
        ],
        Some("nick!ident@host.com"),
        "PRIVMSG",
        &["me", "Hello"],
    );
    expect(
        "@+example-client-tag=example-value PRIVMSG #channel :Message",
        &[("+example-client-tag", Some("example-value"))],
        None,
        "PRIVMSG",
        &["#channel", "Message"],
    );
    expect(
        "@+icon=https://example.com/favicon.png :url_bot!bot@example.com PRIVMSG #channel :Example.com: A News Story",
        &[("+icon", Some("https://example.com/favicon.png"))],
        Some("url_bot!bot@example.com"),
        "PRIVMSG",
        &["#channel", "Example.com: A News Story"],
    );
    expect(
        "@+example.com/foo=bar :irc.example.com NOTICE #channel :A vendor tag",
        &[("+example.com/foo", Some("bar"))],
        Some("irc.example.com"),
        "NOTICE",
        &["#channel", "A vendor tag"],
    );
}

#[test]
fn modern_ircdocs_examples() {
    expect(
        ":irc.example.com CAP LS * :multi-prefix extended-join sasl",
        &[],
        Some("irc.example.com"),
        "CAP",
        &["LS", "*", "multi-prefix extended-join sasl"],
    );
    expect(
        "@id=234AB :dan!d@localhost PRIVMSG #chan :Hey what's up!",
        &[("id", Some("234AB"))],
        Some("dan!d@localhost"),
        "PRIVMSG",
        &["#chan", "Hey what's up!"],
    );
    expect("CAP REQ :sasl", &[], None, "CAP", &["REQ", "sasl"]);
    expect(
        ":dan!d@localhost PRIVMSG #chan ::-) hi",
        &[],
        Some("dan!d@localhost"),
        "PRIVMSG",
        &["#chan", ":-) hi"],
    );
    expect(
        ":irc.example.com 001 dan :Welcome to the Internet Relay Network dan",
        &[],
        Some("irc.example.com"),
        "001",
        &["dan", "Welcome to the Internet Relay Network dan"],
    );
}

#[test]
fn ircdocs_parser_test_vectors() {
    let none: Tags<'_> = &[];
    expect(
        "foo bar baz asdf",
        none,
        None,
        "FOO",
        &["bar", "baz", "asdf"],
    );
    expect(
        ":coolguy foo bar baz asdf",
        none,
        Some("coolguy"),
        "FOO",
        &["bar", "baz", "asdf"],
    );
    expect(
        "foo bar baz :asdf quux",
        none,
        None,
        "FOO",
        &["bar", "baz", "asdf quux"],
    );
    expect("foo bar baz :", none, None, "FOO", &["bar", "baz", ""]);
    expect(
        "foo bar baz ::asdf",
        none,
        None,
        "FOO",
        &["bar", "baz", ":asdf"],
    );
    expect(
        ":coolguy foo bar baz :  asdf quux ",
        none,
        Some("coolguy"),
        "FOO",
        &["bar", "baz", "  asdf quux "],
    );
    expect(
        ":coolguy PRIVMSG bar :lol :) ",
        none,
        Some("coolguy"),
        "PRIVMSG",
        &["bar", "lol :) "],
    );
    expect(
        ":coolguy foo bar baz :  ",
        none,
        Some("coolguy"),
        "FOO",
        &["bar", "baz", "  "],
    );
    expect(
        "@a=b;c=32;k;rt=ql7 foo",
        &[
            ("a", Some("b")),
            ("c", Some("32")),
            ("k", None),
            ("rt", Some("ql7")),
        ],
        None,
        "FOO",
        &[],
    );
    expect(
        r"@a=b\\and\nk;c=72\s45;d=gh\:764 foo",
        &[
            ("a", Some("b\\and\nk")),
            ("c", Some("72 45")),
            ("d", Some("gh;764")),
        ],
        None,
        "FOO",
        &[],
    );
    expect(
        "@c;h=;a=b :quux ab cd",
        &[("c", None), ("h", None), ("a", Some("b"))],
        Some("quux"),
        "AB",
        &["cd"],
    );
    expect(":src JOIN #chan", none, Some("src"), "JOIN", &["#chan"]);
    expect(":src JOIN :#chan", none, Some("src"), "JOIN", &["#chan"]);
    expect(":src AWAY", none, Some("src"), "AWAY", &[]);
    expect(":src AWAY ", none, Some("src"), "AWAY", &[]);
    expect(
        ":cool\tguy foo bar baz",
        none,
        Some("cool\tguy"),
        "FOO",
        &["bar", "baz"],
    );
    expect(
        ":coolguy!ag@net\x035w\x03ork.admin PRIVMSG foo :bar baz",
        none,
        Some("coolguy!ag@net\x035w\x03ork.admin"),
        "PRIVMSG",
        &["foo", "bar baz"],
    );
    expect(
        "@tag1=value1;tag2;vendor1/tag3=value2;vendor2/tag4 COMMAND param1 param2 :param3 param3",
        &[
            ("tag1", Some("value1")),
            ("tag2", None),
            ("vendor1/tag3", Some("value2")),
            ("vendor2/tag4", None),
        ],
        None,
        "COMMAND",
        &["param1", "param2", "param3 param3"],
    );
    expect("COMMAND", none, None, "COMMAND", &[]);
    expect(
        r"@foo=\\\\\:\\s\s\r\n COMMAND",
        &[("foo", Some("\\\\;\\s \r\n"))],
        None,
        "COMMAND",
        &[],
    );
    expect(
        ":gravel.mozilla.org 432  #momo :Erroneous Nickname: Illegal characters",
        none,
        Some("gravel.mozilla.org"),
        "432",
        &["#momo", "Erroneous Nickname: Illegal characters"],
    );
    expect(
        ":gravel.mozilla.org MODE #tckk +n ",
        none,
        Some("gravel.mozilla.org"),
        "MODE",
        &["#tckk", "+n"],
    );
    expect(
        ":services.esper.net MODE #foo-bar +o foobar  ",
        none,
        Some("services.esper.net"),
        "MODE",
        &["#foo-bar", "+o", "foobar"],
    );
    expect(
        r"@tag1=value\\ntest COMMAND",
        &[("tag1", Some("value\\ntest"))],
        None,
        "COMMAND",
        &[],
    );
    expect(
        r"@tag1=value\1 COMMAND",
        &[("tag1", Some("value1"))],
        None,
        "COMMAND",
        &[],
    );
    expect(
        r"@tag1=value1\ COMMAND",
        &[("tag1", Some("value1"))],
        None,
        "COMMAND",
        &[],
    );
    expect(
        "@tag1=1;tag2=3;tag3=4;tag1=5;vendor/tag2=8 COMMAND",
        &[
            ("tag1", Some("5")),
            ("tag2", Some("3")),
            ("tag3", Some("4")),
            ("vendor/tag2", Some("8")),
        ],
        None,
        "COMMAND",
        &[],
    );
    expect(
        ":SomeOp MODE #channel :+i",
        none,
        Some("SomeOp"),
        "MODE",
        &["#channel", "+i"],
    );
    expect(
        ":SomeOp MODE #channel +oo SomeUser :AnotherUser",
        none,
        Some("SomeOp"),
        "MODE",
        &["#channel", "+oo", "SomeUser", "AnotherUser"],
    );
}

#[test]
fn ircdocs_join_vectors() {
    // Serialization picks one canonical form among the accepted ones.
    let m = Message::new("foo").with_params(["bar", "baz", "asdf"]);
    assert_eq!(m.to_line(), "FOO bar baz asdf");
    let m = Message::new("AWAY").with_source("src").with_param("");
    assert_eq!(m.to_line(), ":src AWAY :");
    let m = Message::new("foo").with_params(["bar", "baz", ":asdf"]);
    assert_eq!(m.to_line(), "FOO bar baz ::asdf");
    let m = Message::new("foo")
        .with_source("coolguy")
        .with_params(["b\tar", "baz"]);
    assert_eq!(m.to_line(), ":coolguy FOO b\tar baz");
    let m = Message::new("foo")
        .with_tag("asd", Some(""))
        .with_source("coolguy")
        .with_params(["bar", "baz", "  "]);
    assert_eq!(m.to_line(), "@asd :coolguy FOO bar baz :  ");
    let m = Message::new("foo")
        .with_tag("a", Some("b\\and\nk"))
        .with_tag("d", Some("gh;764"))
        .with_params(["par1", "par2"]);
    assert_eq!(m.to_line(), r"@a=b\\and\nk;d=gh\:764 FOO par1 par2");
    let m = Message::new("COMMAND").with_tag("foo", Some("\\\\;\\s \r\n"));
    assert_eq!(m.to_line(), r"@foo=\\\\\:\\s\s\r\n COMMAND");
}

#[test]
fn errors_are_distinct() {
    assert_eq!(Message::parse(b""), Err(ParseError::Empty));
    assert_eq!(Message::parse(b"@a=b"), Err(ParseError::TagsWithoutCommand));
    assert_eq!(Message::parse(b":src"), Err(ParseError::MissingCommand));
    assert_eq!(Message::parse(b": X"), Err(ParseError::EmptySource));
    assert_eq!(Message::parse(b"X \0"), Err(ParseError::ForbiddenByte(0)));
    assert_eq!(
        ParseError::ForbiddenByte(b'\r').to_string(),
        "forbidden byte 0x0d in line"
    );
}

#[tokio::test]
async fn a_stream_survives_a_line_too_long() {
    let input = format!(
        "NICK a\r\n@{} PRIVMSG #a :x\r\nPRIVMSG #a :{}\nPING :still here\r\n",
        "t".repeat(9000),
        "y".repeat(600)
    );
    let frames: Vec<Frame> = FramedRead::new(input.as_bytes(), IrcCodec::new())
        .map(|frame| frame.expect("decoding never fails"))
        .collect()
        .await;
    assert_eq!(
        frames,
        [
            Frame::Line(Bytes::from_static(b"NICK a")),
            Frame::LineTooLong,
            Frame::LineTooLong,
            Frame::Line(Bytes::from_static(b"PING :still here")),
        ]
    );
}

// ---- properties ----

/// Tag keys as IRCv3 writes them: optional `+`, optional vendor, a name.
fn tag_key() -> impl Strategy<Value = String> {
    "\\+?([a-z0-9.-]{1,8}/)?[A-Za-z0-9-]{1,8}"
}

fn well_formed_message() -> impl Strategy<Value = Message> {
    let tags = prop::collection::vec((tag_key(), prop::option::of("[^\u{0}]{1,12}")), 0..5);
    let source = prop::option::of("[^\u{0}\r\n ]{1,16}");
    let command = prop_oneof!["[A-Z]{1,10}", "[0-9]{3}"];
    let middles = prop::collection::vec("[^\u{0}\r\n :][^\u{0}\r\n ]{0,8}", 0..MAX_PARAMS);
    let last = prop::option::of("[^\u{0}\r\n]{0,16}");
    (tags, source, command, middles, last).prop_map(|(tags, source, command, middles, last)| {
        let mut m = Message::new(command);
        for (key, value) in tags {
            m = m.with_tag(key, value.as_deref());
        }
        m.source = source;
        m.params = middles;
        m.params.extend(last);
        m.params.truncate(MAX_PARAMS);
        m
    })
}

/// Any strings at all, to exercise what the serializer must replace.
fn any_message() -> impl Strategy<Value = Message> {
    let text = || "(?s).{0,10}";
    let bytes_of_interest =
        || prop::sample::select(vec![" ", ":", "@", ";", "=", "\\", "\r", "\n", "\0", "a"]);
    let word = move || {
        prop_oneof![
            text(),
            prop::collection::vec(bytes_of_interest(), 0..6).prop_map(|v| v.concat())
        ]
    };
    (
        prop::collection::vec((word(), prop::option::of(word())), 0..4),
        prop::option::of(word()),
        word(),
        prop::collection::vec(word(), 0..=MAX_PARAMS),
    )
        .prop_map(|(tags, source, command, params)| Message {
            tags,
            source,
            command,
            params,
        })
}

/// Bytes biased towards what matters to an IRC parser.
fn irc_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => prop::sample::select(b" :@;=\\\r\n\0aZ1#!\xff\xc3".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..max)
}

/// What the codec should yield for `input`, computed the simple way: split the
/// whole input on '\n' and classify each piece.
fn reference_frames(input: &[u8]) -> Vec<Frame> {
    input
        .split(|&b| b == b'\n')
        .filter_map(|piece| Frame::from_line(Bytes::copy_from_slice(piece)))
        .collect()
}

/// Lines of every size class around the limits, joined by "\n" or "\r\n".
fn stream_input() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        4 => irc_bytes(40),
        1 => (505usize..515).prop_map(|n| vec![b'x'; n]),
        1 => (8185usize..8195, 505usize..515).prop_map(|(t, r)| {
            let mut v = vec![b'@'; 1];
            v.extend(std::iter::repeat_n(b't', t.saturating_sub(2)));
            v.push(b' ');
            v.extend(std::iter::repeat_n(b'x', r));
            v
        }),
        1 => (8690usize..8720).prop_map(|n| vec![b'@'; n]),
        1 => (9000usize..20000).prop_map(|n| vec![b'z'; n]),
    ];
    let ending = prop::sample::select(vec![&b"\n"[..], &b"\r\n"[..]]);
    prop::collection::vec((line, ending), 0..8).prop_map(|lines| {
        let mut out = Vec::new();
        for (line, ending) in lines {
            out.extend_from_slice(&line);
            out.extend_from_slice(ending);
        }
        out
    })
}

/// Feeds `input` to a fresh codec in chunks of the given sizes, checking the
/// buffer bound after every step, and returns what it yielded.
fn decode_in_chunks(input: &[u8], chunks: &[usize]) -> Vec<Frame> {
    let mut codec = IrcCodec::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = input;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&4096)).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(frame) = codec.decode(&mut buf).expect("decode") {
            frames.push(frame);
        }
        assert!(buf.len() < MAX_FRAME, "buffered {} bytes", buf.len());
    }
    while let Some(frame) = codec.decode_eof(&mut buf).expect("decode_eof") {
        frames.push(frame);
    }
    assert!(buf.is_empty());
    frames
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn well_formed_messages_round_trip(m in well_formed_message()) {
        prop_assert!(m.is_well_formed(), "{:?}", m);
        let line = m.to_line();
        prop_assert_eq!(Message::parse(line.as_bytes()), Ok(m.clone()));
        let wire = m.to_bytes();
        prop_assert!(wire.ends_with(b"\r\n"));
        prop_assert_eq!(Message::parse(&wire), Ok(m));
    }

    #[test]
    fn any_message_serializes_to_one_parseable_line(m in any_message()) {
        let line = m.to_line();
        prop_assert!(!line.contains(['\0', '\r', '\n']), "{:?}", line);
        let back = Message::parse(line.as_bytes());
        prop_assert!(back.is_ok(), "{:?} -> {:?}: {:?}", m, line, back);
        let back = back.unwrap();
        prop_assert!(back.is_well_formed());
        prop_assert_eq!(back.params.len(), m.params.len());
        prop_assert_eq!(back.source.is_some(), m.source.is_some());
        // What parses is stable from then on.
        prop_assert_eq!(Message::parse(back.to_line().as_bytes()), Ok(back));
    }

    #[test]
    fn parse_never_panics(bytes in irc_bytes(300)) {
        let _ = Message::parse(&bytes);
    }

    #[test]
    fn parsed_lines_are_stable(bytes in irc_bytes(120)) {
        if let Ok(m) = Message::parse(&bytes) {
            prop_assert!(m.is_well_formed(), "{:?}", m);
            prop_assert!(m.params.len() <= MAX_PARAMS);
            prop_assert_eq!(Message::parse(m.to_line().as_bytes()), Ok(m));
        }
    }

    #[test]
    fn parsed_ascii_lines_are_stable(line in "[ :@;=\\\\a-c1#]{0,60}") {
        if let Ok(m) = Message::parse(line.as_bytes()) {
            prop_assert_eq!(Message::parse(m.to_line().as_bytes()), Ok(m));
        }
    }

    #[test]
    fn codec_matches_the_reference_and_stays_bounded(
        input in stream_input(),
        chunks in prop::collection::vec(1usize..3000, 1..8),
    ) {
        let frames = decode_in_chunks(&input, &chunks);
        prop_assert_eq!(&frames, &reference_frames(&input));
        for frame in &frames {
            if let Frame::Line(line) = frame {
                prop_assert!(!line.is_empty() && !line.contains(&b'\n'));
                prop_assert!(within_limits(line));
            }
        }
    }

    #[test]
    fn codec_never_panics_on_arbitrary_bytes(
        input in irc_bytes(2000),
        chunks in prop::collection::vec(1usize..64, 1..8),
    ) {
        let frames = decode_in_chunks(&input, &chunks);
        prop_assert_eq!(frames, reference_frames(&input));
    }
}
