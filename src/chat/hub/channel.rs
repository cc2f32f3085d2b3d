//! One channel's state: its name, topic and members.

use std::collections::HashMap;

use super::ClientId;

pub(super) struct Channel {
    /// The name as the creator wrote it.
    pub name: String,
    pub topic: Option<Topic>,
    pub members: HashMap<ClientId, Member>,
}

pub(super) struct Topic {
    pub text: String,
    /// Nick of whoever set it.
    pub set_by: String,
    /// Unix time, seconds.
    pub set_at: u64,
}

/// What a member is in a channel. Voice (`+`) arrives with MODE.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Member {
    pub op: bool,
}

impl Member {
    /// The NAMES/WHO prefix for the highest status held.
    pub fn prefix(self) -> &'static str {
        if self.op { "@" } else { "" }
    }
}

impl Channel {
    pub fn new(name: &str) -> Channel {
        Channel {
            name: name.to_string(),
            topic: None,
            members: HashMap::new(),
        }
    }
}
