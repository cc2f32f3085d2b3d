//! One IRC message: parsing a line into a [`Message`] and writing it back.
//!
//! The grammar is RFC 1459/2812 as modern clients and servers actually speak it
//! (<https://modern.ircdocs.horse>), plus IRCv3 message tags:
//! `[@tags SPACE] [:source SPACE] command *(SPACE param) [SPACE :trailing]`.
//! Parsing is lenient where leniency is harmless (several spaces between words,
//! trailing spaces, an `@` with no tags, a lowercase command) and strict where a
//! line could smuggle something (NUL, CR or LF inside a line is an error).
//!
//! Bytes that are not UTF-8 are decoded lossily: each invalid sequence becomes
//! U+FFFD. Rejecting the line would shut out clients still on a legacy encoding, and
//! passing raw bytes through would make every `String` downstream a lie; lossy
//! decoding keeps the line and guarantees that everything the server relays is
//! UTF-8. The separators (space, `:`, `@`, `;`, `=`) are ASCII and never part of
//! an invalid sequence, so decoding cannot move a word boundary. A decoded line can
//! be up to three times longer than the raw one (one byte becomes three), which is
//! why limits are checked on raw bytes, by the codec, before parsing.
//!
//! Serialization never fails and always yields exactly one line that
//! [`Message::parse`] accepts, with the same command, source presence and number of
//! parameters (up to [`MAX_PARAMS`]). A message that is
//! [well formed](Message::is_well_formed) comes back from `parse` unchanged; in
//! one that is not, whatever its position cannot carry is replaced (see
//! [`Message`]'s `Display`), so a careless caller can garble a reply but can never
//! inject a second line or shift a parameter.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::{self, Write as _};

use bytes::{Bytes, BytesMut};

/// The most bytes of a line without its tags, including the final CR LF (RFC 1459).
pub const MAX_LINE: usize = 512;

/// The most bytes of the tags part of a line, including the leading `@` and the
/// space that ends it (IRCv3 message-tags).
pub const MAX_TAGS: usize = 8191;

/// The most parameters a message carries (RFC 2812). On parsing, everything after
/// the 14th parameter is the 15th, spaces included, as the RFC grammar says.
pub const MAX_PARAMS: usize = 15;

/// Why a line is not an IRC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but spaces (or nothing at all).
    #[error("empty line")]
    Empty,
    /// NUL, CR or LF inside the line; they would let a relayed message split
    /// into two lines on a peer that treats a bare CR as a line end.
    #[error("forbidden byte {0:#04x} in line")]
    ForbiddenByte(u8),
    /// `@tags` and then nothing.
    #[error("tags without a command")]
    TagsWithoutCommand,
    /// A `:` with no source after it.
    #[error("empty source after ':'")]
    EmptySource,
    /// A source (and maybe tags) but no command.
    #[error("missing command")]
    MissingCommand,
    /// A command word that cannot be written back as a command (it starts with
    /// `:` or `@`).
    #[error("invalid command {0:?}")]
    InvalidCommand(String),
}

/// One IRC message.
///
/// Fields are public so the server can take a message apart and match on it; the
/// builder methods ([`Message::new`], [`Message::with_source`], ...) keep it well
/// formed where they can (uppercase command, empty tag value stored as `None`).
///
/// `Display` writes the line without CR LF. It replaces what a position cannot
/// carry, so the output is always one parseable line:
///
/// | position | replaced |
/// |---|---|
/// | trailing (last) param | NUL, CR, LF become a space |
/// | source, command, middle param, tag key | NUL, CR, LF, space (and `;`, `=` in a tag key) become `_` |
/// | command, middle param | a leading `:` (and `@` for a command) becomes `_`; empty becomes `*` |
/// | source | empty becomes `*` |
/// | tag | with an empty key, left out |
/// | tag value | escaped per IRCv3; NUL becomes `\s` |
///
/// The serializer does not enforce [`MAX_LINE`]: a server that relays text must
/// split or truncate it before building the message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// IRCv3 tags in line order, keys unique; `None` for a tag without a value
    /// (an empty value `key=` is the same thing and parses as `None`).
    pub tags: Vec<(String, Option<String>)>,
    /// The `:source` (a server name or `nick!user@host`), without its colon.
    pub source: Option<String>,
    /// The command, ASCII-uppercased, or a three-digit numeric kept as text.
    pub command: String,
    /// Parameters; the last one may contain spaces (it is the trailing one).
    pub params: Vec<String>,
}

impl Message {
    /// Parses one line, without its line ending (a trailing `\r\n`, `\n` or `\r` is
    /// tolerated and ignored, since a WebSocket frame may carry one).
    ///
    /// Lengths are not checked here: the codec classifies lines that are too long
    /// before they reach the parser.
    pub fn parse(line: &[u8]) -> Result<Message, ParseError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(&b) = line.iter().find(|&&b| matches!(b, b'\0' | b'\r' | b'\n')) {
            return Err(ParseError::ForbiddenByte(b));
        }
        let text = String::from_utf8_lossy(line);
        let mut rest = text.trim_start_matches(' ');
        if rest.is_empty() {
            return Err(ParseError::Empty);
        }

        let mut tags = Vec::new();
        if let Some(after) = rest.strip_prefix('@') {
            let (raw, tail) = split_word(after);
            tags = parse_tags(raw);
            if tail.is_empty() {
                return Err(ParseError::TagsWithoutCommand);
            }
            rest = tail;
        }

        let mut source = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (name, tail) = split_word(after);
            if name.is_empty() {
                return Err(ParseError::EmptySource);
            }
            source = Some(name.to_owned());
            rest = tail;
        }

        let (command, mut rest) = split_word(rest);
        if command.is_empty() {
            return Err(ParseError::MissingCommand);
        }
        if command.starts_with([':', '@']) {
            return Err(ParseError::InvalidCommand(command.to_owned()));
        }

        let mut params = Vec::new();
        while !rest.is_empty() {
            // RFC 2812: after 14 middle params the rest is the last one, ':' or not.
            if params.len() == MAX_PARAMS - 1 {
                params.push(rest.strip_prefix(':').unwrap_or(rest).to_owned());
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_owned());
                break;
            }
            let (param, tail) = split_word(rest);
            params.push(param.to_owned());
            rest = tail;
        }

        Ok(Message {
            tags,
            source,
            command: command.to_ascii_uppercase(),
            params,
        })
    }

    /// A message with this command (ASCII-uppercased) and nothing else.
    pub fn new(command: impl Into<String>) -> Message {
        let mut command = command.into();
        command.make_ascii_uppercase();
        Message {
            command,
            ..Message::default()
        }
    }

    /// Sets the source (`irc.example.net` or `nick!user@host`, without `:`).
    pub fn with_source(mut self, source: impl Into<String>) -> Message {
        self.source = Some(source.into());
        self
    }

    /// Appends one parameter.
    pub fn with_param(mut self, param: impl Into<String>) -> Message {
        self.params.push(param.into());
        self
    }

    /// Appends parameters.
    pub fn with_params<I>(mut self, params: I) -> Message
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.params.extend(params.into_iter().map(Into::into));
        self
    }

    /// Sets a tag, replacing its value if the key is already there. An empty value
    /// is stored as `None`, as the parser does.
    pub fn with_tag(mut self, key: impl Into<String>, value: Option<&str>) -> Message {
        let key = key.into();
        let value = value.filter(|v| !v.is_empty()).map(str::to_owned);
        match self.tags.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.tags.push((key, value)),
        }
        self
    }

    /// The value of a tag: `None` if absent, `Some("")` if present without a value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// The parameter at `index`, if there is one.
    pub fn param(&self, index: usize) -> Option<&str> {
        self.params.get(index).map(String::as_str)
    }

    /// The line without CR LF; the same as `to_string()`.
    pub fn to_line(&self) -> String {
        self.to_string()
    }

    /// Appends the line and its CR LF to `dst`.
    pub fn write_to(&self, dst: &mut BytesMut) {
        // BytesMut grows as needed, and our Display only fails if its writer does.
        write!(dst, "{self}\r\n").expect("writing to a BytesMut cannot fail");
    }

    /// The line with its CR LF, ready to be shared by every receiver of a fan-out.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.write_to(&mut dst);
        dst.freeze()
    }

    /// Whether serializing and parsing gives this message back unchanged: tag keys
    /// non-empty, unique and free of space, `;`, `=`, NUL, CR and LF; tag values
    /// `None` or non-empty without NUL; a source without space, NUL, CR, LF; an
    /// uppercase command that is one word not starting with `:` or `@`; at most
    /// [`MAX_PARAMS`] params, all but the last non-empty words not starting with
    /// `:`, and no NUL, CR or LF anywhere. Every parsed message is well formed.
    /// Quadratic in the number of tags: meant for tests and debug assertions.
    pub fn is_well_formed(&self) -> bool {
        let tags_ok = self.tags.iter().enumerate().all(|(i, (key, value))| {
            !key.is_empty()
                && !key.contains(|c| is_line_break(c) || matches!(c, ' ' | ';' | '='))
                && self.tags[..i].iter().all(|(k, _)| k != key)
                && value
                    .as_ref()
                    .is_none_or(|v| !v.is_empty() && !v.contains('\0'))
        });
        let source_ok = self
            .source
            .as_ref()
            .is_none_or(|s| !s.is_empty() && !s.contains(is_word_break));
        let command_ok = !self.command.is_empty()
            && !self.command.contains(is_word_break)
            && !self.command.starts_with([':', '@'])
            && self.command == self.command.to_ascii_uppercase();
        let last = self.params.len().saturating_sub(1);
        let params_ok = self.params.len() <= MAX_PARAMS
            && self.params.iter().enumerate().all(|(i, p)| {
                if i == last {
                    !p.contains(is_line_break)
                } else {
                    !p.is_empty() && !p.starts_with(':') && !p.contains(is_word_break)
                }
            });
        tags_ok && source_ok && command_ok && params_ok
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first_tag = true;
        for (key, value) in self.tags.iter().filter(|(k, _)| !k.is_empty()) {
            f.write_str(if first_tag { "@" } else { ";" })?;
            first_tag = false;
            write_replaced(f, key, |_, c| {
                (is_line_break(c) || matches!(c, ' ' | ';' | '=')).then_some("_")
            })?;
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                f.write_char('=')?;
                write_replaced(f, value, |_, c| escape_tag_char(c))?;
            }
        }
        if !first_tag {
            f.write_char(' ')?;
        }

        if let Some(source) = &self.source {
            f.write_char(':')?;
            write_word(f, source, "")?;
            f.write_char(' ')?;
        }

        // A command that starts with '@' or ':' would read as tags or a source.
        write_word(f, &self.command, ":@")?;

        let last = self.params.len().saturating_sub(1);
        for (i, param) in self.params.iter().enumerate() {
            f.write_char(' ')?;
            if i < last {
                write_word(f, param, ":")?;
            } else {
                // Decided on what is written: a CR or LF becomes a space.
                if param.is_empty() || param.starts_with(':') || param.contains(is_word_break) {
                    f.write_char(':')?;
                }
                write_replaced(f, param, |_, c| is_line_break(c).then_some(" "))?;
            }
        }
        Ok(())
    }
}

/// Splits off the first space-delimited word; the rest has its leading spaces
/// removed, so runs of spaces count as one separator.
fn split_word(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((word, rest)) => (word, rest.trim_start_matches(' ')),
        None => (s, ""),
    }
}

/// Parses the tags part (without `@`). Empty keys are skipped; for a repeated key
/// the last value wins at the first key's position, as IRCv3 asks ("disregard all
/// but the final occurrence"). The map keeps that linear even for thousands of tags.
fn parse_tags(raw: &str) -> Vec<(String, Option<String>)> {
    let mut tags: Vec<(String, Option<String>)> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for item in raw.split(';') {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        if key.is_empty() {
            continue;
        }
        let value = Some(unescape_tag_value(value)).filter(|v| !v.is_empty());
        match seen.entry(key) {
            Entry::Occupied(slot) => tags[*slot.get()].1 = value,
            Entry::Vacant(slot) => {
                slot.insert(tags.len());
                tags.push((key.to_owned(), value));
            }
        }
    }
    tags
}

/// IRCv3 tag value unescaping: `\:` `;`, `\s` space, `\\` `\`, `\r` CR, `\n` LF;
/// before any other character the backslash is dropped, and so is a lone one at
/// the end. Char by char, so `\\n` is a backslash then `n`, not a newline.
pub fn unescape_tag_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// IRCv3 tag value escaping, the inverse of [`unescape_tag_value`].
pub fn escape_tag_value(value: &str) -> Cow<'_, str> {
    if !value.contains(|c| escape_tag_char(c).is_some()) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match escape_tag_char(c) {
            Some(escaped) => out.push_str(escaped),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn escape_tag_char(c: char) -> Option<&'static str> {
    match c {
        ';' => Some("\\:"),
        // NUL has no escape; a space is the harmless stand-in.
        ' ' | '\0' => Some("\\s"),
        '\\' => Some("\\\\"),
        '\r' => Some("\\r"),
        '\n' => Some("\\n"),
        _ => None,
    }
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\0' | '\r' | '\n')
}

fn is_word_break(c: char) -> bool {
    is_line_break(c) || c == ' '
}

/// Writes a word (source, command, middle param): line and word breaks become `_`,
/// a first character in `bad_first` becomes `_`, an empty word becomes `*`.
fn write_word(f: &mut fmt::Formatter<'_>, word: &str, bad_first: &str) -> fmt::Result {
    if word.is_empty() {
        return f.write_char('*');
    }
    write_replaced(f, word, |i, c| {
        (is_word_break(c) || (i == 0 && bad_first.contains(c))).then_some("_")
    })
}

/// Writes `s`, with each char for which `replace(byte_index, char)` says so
/// replaced; unchanged runs are written in one piece.
fn write_replaced(
    f: &mut fmt::Formatter<'_>,
    s: &str,
    replace: impl Fn(usize, char) -> Option<&'static str>,
) -> fmt::Result {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if let Some(with) = replace(i, c) {
            f.write_str(&s[start..i])?;
            f.write_str(with)?;
            start = i + c.len_utf8();
        }
    }
    f.write_str(&s[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Message {
        Message::parse(line.as_bytes()).expect(line)
    }

    fn tag(key: &str, value: Option<&str>) -> (String, Option<String>) {
        (key.to_owned(), value.map(str::to_owned))
    }

    #[test]
    fn parses_every_part() {
        let m = parse("@a=b;c :nick!u@h privmsg #chan :hello  world ");
        assert_eq!(m.tags, vec![tag("a", Some("b")), tag("c", None)]);
        assert_eq!(m.source.as_deref(), Some("nick!u@h"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#chan", "hello  world "]);
    }

    #[test]
    fn tolerates_runs_of_spaces_and_line_endings() {
        let m = parse("  @a   :src   MODE  #c   +o  nick  \r\n");
        assert_eq!(m.params, vec!["#c", "+o", "nick"]);
        assert_eq!(parse("PING x\n").params, vec!["x"]);
        assert_eq!(parse("PING x\r").params, vec!["x"]);
    }

    #[test]
    fn keeps_numerics_as_three_digits() {
        assert_eq!(parse(":srv 001 me :Welcome").command, "001");
    }

    #[test]
    fn reports_malformed_lines() {
        let err = |line: &[u8]| Message::parse(line).unwrap_err();
        assert_eq!(err(b""), ParseError::Empty);
        assert_eq!(err(b"   \r\n"), ParseError::Empty);
        assert_eq!(err(b"@a=b"), ParseError::TagsWithoutCommand);
        assert_eq!(err(b"@a=b   "), ParseError::TagsWithoutCommand);
        assert_eq!(err(b":src"), ParseError::MissingCommand);
        assert_eq!(err(b"@a :src "), ParseError::MissingCommand);
        assert_eq!(err(b": PING"), ParseError::EmptySource);
        assert_eq!(
            err(b":src :PING"),
            ParseError::InvalidCommand(":PING".into())
        );
        assert_eq!(err(b"PRIVMSG #a :x\0y"), ParseError::ForbiddenByte(0));
        assert_eq!(err(b"PRIVMSG #a :x\ry"), ParseError::ForbiddenByte(b'\r'));
        assert_eq!(err(b"PRIVMSG #a :x\ny"), ParseError::ForbiddenByte(b'\n'));
    }

    #[test]
    fn decodes_invalid_utf8_lossily() {
        let m = Message::parse(b"PRIVMSG #a :caf\xe9 ok").unwrap();
        assert_eq!(m.params[1], "caf\u{fffd} ok");
        // An invalid byte right before a separator does not swallow it.
        let m = Message::parse(b"PRIVMSG #\xff :x").unwrap();
        assert_eq!(m.params, vec!["#\u{fffd}", "x"]);
    }

    #[test]
    fn fifteenth_param_takes_the_rest() {
        let m = parse("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 fifteen and more");
        assert_eq!(m.params.len(), MAX_PARAMS);
        assert_eq!(m.params[14], "fifteen and more");
        let m = parse("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 :x y");
        assert_eq!(m.params[14], "x y");
        let m = parse("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14   ");
        assert_eq!(m.params.len(), 14);
    }

    #[test]
    fn unescapes_tag_values() {
        assert_eq!(unescape_tag_value(r"a\:b\sc\\d\re\nf"), "a;b c\\d\re\nf");
        assert_eq!(unescape_tag_value(r"x\1"), "x1");
        assert_eq!(unescape_tag_value(r"x\"), "x");
        assert_eq!(unescape_tag_value(r"\\n"), "\\n");
        assert_eq!(escape_tag_value("a;b c\\d\re\nf"), r"a\:b\sc\\d\re\nf");
        assert!(matches!(escape_tag_value("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn duplicate_tags_keep_the_last_value_and_empty_values_are_none() {
        let m = parse("@a=1;b=;c=3;a=5;=x;; CMD");
        assert_eq!(
            m.tags,
            vec![tag("a", Some("5")), tag("b", None), tag("c", Some("3"))]
        );
        assert_eq!(m.tag("b"), Some(""));
        assert_eq!(m.tag("a"), Some("5"));
        assert_eq!(m.tag("z"), None);
    }

    #[test]
    fn builder_and_serializer() {
        let m = Message::new("privmsg")
            .with_tag("msgid", Some("x y;z"))
            .with_tag("+typing", None)
            .with_tag("msgid", Some("42"))
            .with_source("nick!user@host")
            .with_params(["#chan", "hello world"]);
        assert!(m.is_well_formed());
        assert_eq!(
            m.to_line(),
            "@msgid=42;+typing :nick!user@host PRIVMSG #chan :hello world"
        );
        assert_eq!(Message::new("PING").with_param("").to_string(), "PING :");
        assert_eq!(Message::new("X").with_param(":a").to_string(), "X ::a");
        assert_eq!(Message::new("X").with_param("a").to_string(), "X a");
        assert_eq!(&Message::new("PONG").to_bytes()[..], b"PONG\r\n");
        let v = Message::new("X").with_tag("k", Some("a b\\c;\r\n"));
        assert_eq!(v.to_line(), r"@k=a\sb\\c\:\r\n X");
    }

    #[test]
    fn serializer_replaces_what_cannot_be_written() {
        let m = Message {
            tags: vec![tag("", Some("x")), tag("k ;=", Some("\0"))],
            source: Some(String::new()),
            command: "@cmd x".into(),
            params: vec!["".into(), ":a b".into(), "c\r\nd".into()],
        };
        assert!(!m.is_well_formed());
        assert_eq!(m.to_line(), r"@k___=\s :* _cmd_x * _a_b :c  d");
        let back = Message::parse(m.to_line().as_bytes()).unwrap();
        assert_eq!(back.params.len(), 3);
        // The colon is decided on what is written: CR became a space.
        assert_eq!(Message::new("X").with_param("@\r:").to_line(), "X :@ :");
    }

    #[test]
    fn well_formedness() {
        assert!(Message::new("PING").is_well_formed());
        assert!(!Message::default().is_well_formed());
        let lower = Message {
            command: "ping".into(),
            ..Message::default()
        };
        assert!(!lower.is_well_formed());
        assert!(!Message::new("X").with_params(["a b", "c"]).is_well_formed());
        assert!(Message::new("X").with_params(["a", "b c"]).is_well_formed());
        assert!(
            !Message::new("X")
                .with_params(vec!["a"; 16])
                .is_well_formed()
        );
    }
}
