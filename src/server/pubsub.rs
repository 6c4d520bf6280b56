//! Pub/Sub: the channel and pattern registries and message delivery.
//!
//! A subscriber is a connection's [`PushSender`]; PUBLISH hands each
//! subscriber a [`Reply::Push`] that its connection task encodes in the
//! client's protocol (RESP2 array or RESP3 push).
//!
//! Shard channels (SSUBSCRIBE / SPUBLISH, Redis 7.0's sharded pub/sub) are
//! a namespace of their own, as in a non-cluster Redis: SPUBLISH reaches
//! only SSUBSCRIBE subscribers (no pattern matches them), PUBLISH never
//! reaches them, and PUBSUB CHANNELS / NUMSUB do not count them.

use std::collections::HashMap;

use bytes::Bytes;
use parking_lot::Mutex;

use super::client::PushSender;
use crate::command::Reply;

/// Who is subscribed to what.
///
/// One mutex per registry: PUBLISH holds it while it queues the messages
/// (a cheap, non-blocking send per subscriber), SUBSCRIBE while it inserts.
#[derive(Default)]
pub(crate) struct PubSub {
    /// channel -> subscribers by client id.
    channels: Registry,
    /// pattern -> subscribers by client id.
    patterns: Registry,
    /// shard channel -> subscribers by client id (SSUBSCRIBE).
    shard_channels: Registry,
}

/// One registry: name -> subscribers by client id.
type Registry = Mutex<HashMap<Bytes, HashMap<u64, PushSender>>>;

fn add(registry: &Registry, name: &Bytes, sender: &PushSender) -> bool {
    let mut reg = registry.lock();
    let subscribers = match reg.get_mut(name) {
        Some(subscribers) => subscribers,
        None => reg.entry(crate::keyspace::keep(name)).or_default(),
    };
    subscribers
        .insert(sender.client_id(), sender.clone())
        .is_none()
}

fn remove(registry: &Registry, name: &[u8], client_id: u64) -> bool {
    let mut map = registry.lock();
    let Some(subs) = map.get_mut(name) else {
        return false;
    };
    let removed = subs.remove(&client_id).is_some();
    if subs.is_empty() {
        map.remove(name);
    }
    removed
}

/// Sends `[kind, channel, message]` to the subscribers of `channel` in
/// `registry`: how many took it.
fn deliver(registry: &Registry, kind: &'static [u8], channel: &Bytes, message: &Bytes) -> i64 {
    let mut receivers = 0;
    if let Some(subs) = registry.lock().get(channel) {
        for sub in subs.values() {
            let push = Reply::Push(vec![
                Reply::bulk(Bytes::from_static(kind)),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(message.clone()),
            ]);
            if sub.send(push, channel.len() + message.len() + 32) {
                receivers += 1;
            }
        }
    }
    receivers
}

/// Subscribers of `name` in `registry`.
fn count(registry: &Registry, name: &[u8]) -> usize {
    registry.lock().get(name).map_or(0, |s| s.len())
}

fn names(registry: &Registry, pattern: Option<&[u8]>) -> Vec<Bytes> {
    registry
        .lock()
        .keys()
        .filter(|c| pattern.map_or(true, |p| glob_match(p, c, false)))
        .cloned()
        .collect()
}

impl PubSub {
    /// Adds a channel subscription; false if it was already there.
    pub fn subscribe(&self, channel: &Bytes, sender: &PushSender) -> bool {
        add(&self.channels, channel, sender)
    }

    /// Removes a channel subscription; false if there was none.
    pub fn unsubscribe(&self, channel: &[u8], client_id: u64) -> bool {
        remove(&self.channels, channel, client_id)
    }

    /// Adds a pattern subscription; false if it was already there.
    pub fn psubscribe(&self, pattern: &Bytes, sender: &PushSender) -> bool {
        add(&self.patterns, pattern, sender)
    }

    /// Removes a pattern subscription; false if there was none.
    pub fn punsubscribe(&self, pattern: &[u8], client_id: u64) -> bool {
        remove(&self.patterns, pattern, client_id)
    }

    /// Adds a shard channel subscription (SSUBSCRIBE); false if it was
    /// already there.
    pub fn ssubscribe(&self, channel: &Bytes, sender: &PushSender) -> bool {
        add(&self.shard_channels, channel, sender)
    }

    /// Removes a shard channel subscription; false if there was none.
    pub fn sunsubscribe(&self, channel: &[u8], client_id: u64) -> bool {
        remove(&self.shard_channels, channel, client_id)
    }

    /// Delivers a message; returns the number of receivers (as PUBLISH).
    pub fn publish(&self, channel: &Bytes, message: &Bytes) -> i64 {
        let mut receivers = deliver(&self.channels, b"message", channel, message);
        for (pattern, subs) in self.patterns.lock().iter() {
            if !glob_match(pattern, channel, false) {
                continue;
            }
            for sub in subs.values() {
                let push = Reply::Push(vec![
                    Reply::bulk(Bytes::from_static(b"pmessage")),
                    Reply::Bulk(pattern.clone()),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ]);
                if sub.send(push, pattern.len() + channel.len() + message.len() + 48) {
                    receivers += 1;
                }
            }
        }
        receivers
    }

    /// Active channels matching `pattern` (all if None): PUBSUB CHANNELS.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        names(&self.channels, pattern)
    }

    /// Subscriber count of a channel: PUBSUB NUMSUB.
    pub fn numsub(&self, channel: &[u8]) -> usize {
        count(&self.channels, channel)
    }

    /// Delivers a message to the subscribers of a shard channel (SPUBLISH:
    /// an `smessage` push, no pattern subscriber); returns their number.
    pub fn spublish(&self, channel: &Bytes, message: &Bytes) -> i64 {
        deliver(&self.shard_channels, b"smessage", channel, message)
    }

    /// Active shard channels matching `pattern` (all if None): PUBSUB
    /// SHARDCHANNELS.
    pub fn shard_channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        names(&self.shard_channels, pattern)
    }

    /// Subscriber count of a shard channel: PUBSUB SHARDNUMSUB.
    pub fn shard_numsub(&self, channel: &[u8]) -> usize {
        count(&self.shard_channels, channel)
    }

    /// Number of distinct patterns: PUBSUB NUMPAT.
    pub fn numpat(&self) -> usize {
        self.patterns.lock().len()
    }
}

/// Redis's glob matching (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`, `\x`;
/// `nocase` folds ASCII case. The one implementation is the keyspace's (KEYS,
/// SCAN MATCH), which also bounds the work a hostile pattern can cause.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    crate::keyspace::glob::matches_case(pattern, string, nocase)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"news.*", b"news.art", false));
        assert!(!glob_match(b"news.*", b"new.art", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-c]llo", b"hbllo", false));
        assert!(glob_match(b"h\\*llo", b"h*llo", false));
        assert!(!glob_match(b"h\\*llo", b"hello", false));
        assert!(glob_match(b"MAX*", b"maxclients", true));
        assert!(!glob_match(b"a*b", b"acd", false));
        assert!(glob_match(b"a*b*c", b"axxbyyc", false));
    }
}
