//! Chat: an IRC server with channels and durable history (in progress: the IRC
//! message layer lands first).

pub mod irc;
