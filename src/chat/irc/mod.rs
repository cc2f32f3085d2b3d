//! The IRC protocol: messages, case mapping, numerics.
//!
//! [`Message`] parses and writes one line; [`IrcCodec`] frames a byte stream into
//! bounded lines; [`casemap`](CaseMapping) folds and validates nicknames and channel
//! names; [`numerics`] names the numeric replies. Nothing here does I/O or knows
//! about sessions.

mod casemap;
mod codec;
mod message;
pub mod numerics;

pub use casemap::{
    CHANNEL_MAX_LEN, CaseMapping, IrcKey, NICK_MAX_LEN, irc_eq, irc_lower, is_valid_channel,
    is_valid_nick,
};
pub use codec::{Frame, IrcCodec, MAX_FRAME, within_limits};
pub use message::{
    MAX_LINE, MAX_PARAMS, MAX_TAGS, Message, ParseError, escape_tag_value, unescape_tag_value,
};
