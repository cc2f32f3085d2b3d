//! CHATHISTORY in the hub: who may read what (a channel's members its
//! history; private messages are not kept), then a lookup queued behind
//! everything the hub queued before, answered on the commit thread.

use super::{ClientId, Hub};
use crate::chat::chathistory::{Command, Replies, Request, fail};
use crate::chat::history::{Item, Lookup, Read, Release};
use crate::chat::irc::IrcKey;

impl Hub {
    /// Answers a CHATHISTORY command of client `id`.
    pub(crate) fn chathistory(&self, id: ClientId, command: Command) -> Release {
        self.after_published(Box::new(move |hub| hub.chathistory_now(id, command)))
    }

    fn chathistory_now(&self, id: ClientId, command: Command) -> Release {
        let mut state = self.begin();
        let server = self.config.server_name.clone();
        // Asked by a session of this node, so its client has a queue here
        // unless it was removed already.
        let Some(to) = state.clients.map.get(&id).and_then(|c| c.out.clone()) else {
            state.clients.held = None;
            return Release::done();
        };
        state.next_batch += 1;
        let client = &state.clients.map[&id];
        let replies = Replies {
            server: server.clone(),
            caps: client.caps,
            batch: format!("h{}", state.next_batch),
        };
        let Command {
            sub,
            request,
            limit,
        } = command;
        let read: Read = match request {
            Request::Targets { between } => {
                let channels: Vec<String> = client
                    .channels
                    .iter()
                    .filter_map(|key| state.channels.get(key))
                    .map(|channel| channel.name.clone())
                    .collect();
                Box::new(
                    move |store| match store.targets(&channels, between, limit) {
                        Ok(found) => replies.targets(&found),
                        Err(err) => {
                            tracing::warn!("{err}");
                            let text = "Messages could not be retrieved";
                            vec![fail(&server, "MESSAGE_ERROR", &[&sub], text).to_bytes()]
                        }
                    },
                )
            }
            Request::Page { target, page } => {
                let channel = state
                    .channels
                    .get(&IrcKey::new(target.as_str()))
                    .filter(|channel| channel.members.contains_key(&id));
                if target.starts_with(['#', '&']) && channel.is_none() {
                    let text = "Messages could not be retrieved";
                    let refusal = fail(&server, "INVALID_TARGET", &[&sub, &target], text);
                    state.clients.send_message(id, refusal);
                    return self.end(&mut state, id);
                }
                // Private messages are not kept: a nick's history is empty.
                let channel = channel.map(|channel| channel.name.clone());
                Box::new(move |store| {
                    let entries = match &channel {
                        Some(channel) => store.page(channel, &page, limit),
                        None => Ok(Vec::new()),
                    };
                    match entries {
                        Ok(entries) => {
                            replies.page(channel.as_deref().unwrap_or(&target), &entries)
                        }
                        Err(err) => {
                            tracing::warn!("{err}");
                            let text = "Messages could not be retrieved";
                            vec![fail(&server, "MESSAGE_ERROR", &[&sub, &target], text).to_bytes()]
                        }
                    }
                })
            }
        };
        if self.keeps_history() {
            let held = state.clients.held.get_or_insert_with(Item::default);
            held.lookup = Some(Lookup { to, read });
        }
        self.end(&mut state, id)
    }
}
