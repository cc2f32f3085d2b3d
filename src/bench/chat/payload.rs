//! The benchmark's messages: `PRIVMSG CHAN :<sender> <seq> <nanos> <padding>`.
//!
//! `sender` is the sending client's index, `seq` counts that sender's messages from
//! 0, `nanos` is the send time (or, paced, the intended send time) in nanoseconds
//! since the load generator's clock base. The padding brings the text to the size
//! asked for, so a server that truncates or mangles a message is caught by its
//! length.
//!
//! Every delivery is parsed on the hot path, so received lines are matched here by
//! a scan over the bytes that allocates nothing; lines that are not a PRIVMSG go to
//! [`Message::parse`](crate::chat::irc::Message::parse) instead. A unit test checks
//! that both agree on the lines a server may send.

use std::io::Write as _;

/// Padding bytes: printable, no spaces, so no server trims or splits them.
const PADDING: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// One benchmark message as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Payload {
    pub sender: u32,
    pub seq: u64,
    pub nanos: u64,
}

/// What a received line is, for the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A benchmark message to the channel, intact.
    Payload(Payload),
    /// A PRIVMSG to the channel whose text is not an intact benchmark message
    /// (wrong form or length).
    Corrupt,
    /// Anything else: numerics, JOINs, PINGs, private messages.
    Other,
}

/// Appends the line for one message, CR LF included. The text is `size` bytes
/// long, or just the three numbers when they are longer.
pub(crate) fn write_line(
    out: &mut Vec<u8>,
    channel: &str,
    size: usize,
    sender: u32,
    seq: u64,
    nanos: u64,
) {
    out.extend_from_slice(b"PRIVMSG ");
    out.extend_from_slice(channel.as_bytes());
    out.extend_from_slice(b" :");
    let text_start = out.len();
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{sender} {seq} {nanos}");
    let header = out.len() - text_start;
    if header + 1 < size {
        out.push(b' ');
        let mut left = size - header - 1;
        while left > 0 {
            let n = left.min(PADDING.len());
            out.extend_from_slice(&PADDING[..n]);
            left -= n;
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The length of the text [`write_line`] writes for these numbers.
fn text_len(size: usize, sender: u32, seq: u64, nanos: u64) -> usize {
    let header = digits(u64::from(sender)) + digits(seq) + digits(nanos) + 2;
    if header + 1 < size { size } else { header }
}

fn digits(mut n: u64) -> usize {
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}

/// Classifies one received line (without its line ending).
pub(crate) fn parse(line: &[u8], channel: &str, size: usize) -> Seen {
    let mut rest = line;
    // Tags, then the source: skipped.
    for lead in [b'@', b':'] {
        if rest.first() == Some(&lead) {
            let Some(space) = rest.iter().position(|&b| b == b' ') else {
                return Seen::Other;
            };
            rest = trim_spaces(&rest[space..]);
        }
    }
    let Some((command, after)) = word(rest) else {
        return Seen::Other;
    };
    // Only PRIVMSG: a NOTICE to the channel (a server's or a service's greeting)
    // is not the benchmark's.
    if !command.eq_ignore_ascii_case(b"PRIVMSG") {
        return Seen::Other;
    }
    let Some((target, after)) = word(after) else {
        return Seen::Other;
    };
    if !target.eq_ignore_ascii_case(channel.as_bytes()) {
        return Seen::Other;
    }
    // The text: a trailing parameter, or (as some servers write a single word) a
    // middle one.
    let text = after.strip_prefix(b":").unwrap_or(after);
    match parse_text(text) {
        Some(payload)
            if text.len() == text_len(size, payload.sender, payload.seq, payload.nanos) =>
        {
            Seen::Payload(payload)
        }
        _ => Seen::Corrupt,
    }
}

/// `<sender> <seq> <nanos>[ <padding>]`.
fn parse_text(text: &[u8]) -> Option<Payload> {
    let mut fields = text.splitn(4, |&b| b == b' ');
    let sender = number(fields.next()?)?;
    let seq = number(fields.next()?)?;
    let nanos = number(fields.next()?)?;
    if let Some(padding) = fields.next() {
        let intact = padding
            .iter()
            .zip(PADDING.iter().cycle())
            .all(|(a, b)| a == b);
        if !intact {
            return None;
        }
    }
    Some(Payload {
        sender: u32::try_from(sender).ok()?,
        seq,
        nanos,
    })
}

fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// The first space-separated word and what follows it (leading spaces removed).
fn word(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let text = trim_spaces(text);
    if text.is_empty() {
        return None;
    }
    let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    Some((&text[..end], trim_spaces(&text[end..])))
}

fn trim_spaces(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|&b| b != b' ').unwrap_or(text.len());
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::irc::Message;

    fn line(size: usize, sender: u32, seq: u64, nanos: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_line(&mut out, "#bench", size, sender, seq, nanos);
        out
    }

    /// The line as a server relays it: with a source, without CR LF.
    fn relayed(sent: &[u8]) -> Vec<u8> {
        let mut out = b":nk1!u@127.0.0.1 ".to_vec();
        out.extend_from_slice(&sent[..sent.len() - 2]);
        out
    }

    #[test]
    fn a_relayed_message_is_read_back() {
        for size in [0, 10, 30, 64, 300] {
            let sent = line(size, 7, 12345, 987_654_321);
            let seen = parse(&relayed(&sent), "#BENCH", size);
            let expected = Payload {
                sender: 7,
                seq: 12345,
                nanos: 987_654_321,
            };
            assert_eq!(seen, Seen::Payload(expected), "size {size}");
            let message = Message::parse(&sent[..sent.len() - 2]).unwrap();
            let text = message.param(1).unwrap();
            assert_eq!(text.len(), size.max(text_len(0, 7, 12345, 987_654_321)));
        }
    }

    #[test]
    fn tags_and_a_middle_parameter_are_accepted() {
        let seen = parse(b"@time=x;msgid=y :a!b@c PRIVMSG #bench 1 2 3", "#bench", 0);
        assert_eq!(
            seen,
            Seen::Payload(Payload {
                sender: 1,
                seq: 2,
                nanos: 3
            })
        );
    }

    #[test]
    fn damaged_messages_are_corrupt() {
        let sent = relayed(&line(64, 1, 2, 3));
        let truncated = &sent[..sent.len() - 1];
        assert_eq!(parse(truncated, "#bench", 64), Seen::Corrupt);
        let mut flipped = sent.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(parse(&flipped, "#bench", 64), Seen::Corrupt);
        assert_eq!(
            parse(b":a PRIVMSG #bench :hello", "#bench", 64),
            Seen::Corrupt
        );
    }

    #[test]
    fn other_lines_agree_with_the_parser() {
        let lines: &[&[u8]] = &[
            b"PING :irc.example",
            b":srv 366 nk1 #bench :End of /NAMES list.",
            b":a!b@c JOIN #bench",
            b":a!b@c PRIVMSG nk1 :1 2 3",
            b":a!b@c PRIVMSG #other :1 2 3",
            b":ChanServ!s@services NOTICE #bench :Welcome to #bench",
            b"@only-tags",
            b":only-source",
        ];
        for &line in lines {
            assert_eq!(parse(line, "#bench", 0), Seen::Other, "{line:?}");
            if let Ok(message) = Message::parse(line) {
                let to_channel = message.command == "PRIVMSG" && message.param(0) == Some("#bench");
                assert!(!to_channel, "{line:?}");
            }
        }
    }
}
