//! Pub/Sub: the channel and pattern registries and message delivery.
//!
//! A subscriber is a connection's [`PushSender`]; PUBLISH hands each
//! subscriber a [`Reply::Push`] that its connection task encodes in the
//! client's protocol (RESP2 array or RESP3 push).

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
    channels: Mutex<HashMap<Bytes, HashMap<u64, PushSender>>>,
    /// pattern -> subscribers by client id.
    patterns: Mutex<HashMap<Bytes, HashMap<u64, PushSender>>>,
}

impl PubSub {
    /// Adds a channel subscription; false if it was already there.
    pub fn subscribe(&self, channel: &Bytes, sender: &PushSender) -> bool {
        self.channels
            .lock()
            .entry(channel.clone())
            .or_default()
            .insert(sender.client_id(), sender.clone())
            .is_none()
    }

    /// Removes a channel subscription; false if there was none.
    pub fn unsubscribe(&self, channel: &[u8], client_id: u64) -> bool {
        let mut map = self.channels.lock();
        let Some(subs) = map.get_mut(channel) else {
            return false;
        };
        let removed = subs.remove(&client_id).is_some();
        if subs.is_empty() {
            map.remove(channel);
        }
        removed
    }

    /// Adds a pattern subscription; false if it was already there.
    pub fn psubscribe(&self, pattern: &Bytes, sender: &PushSender) -> bool {
        self.patterns
            .lock()
            .entry(pattern.clone())
            .or_default()
            .insert(sender.client_id(), sender.clone())
            .is_none()
    }

    /// Removes a pattern subscription; false if there was none.
    pub fn punsubscribe(&self, pattern: &[u8], client_id: u64) -> bool {
        let mut map = self.patterns.lock();
        let Some(subs) = map.get_mut(pattern) else {
            return false;
        };
        let removed = subs.remove(&client_id).is_some();
        if subs.is_empty() {
            map.remove(pattern);
        }
        removed
    }

    /// Delivers a message; returns the number of receivers (as PUBLISH).
    pub fn publish(&self, channel: &Bytes, message: &Bytes) -> i64 {
        let mut receivers = 0;
        if let Some(subs) = self.channels.lock().get(channel) {
            for sub in subs.values() {
                let push = Reply::Push(vec![
                    Reply::bulk(Bytes::from_static(b"message")),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ]);
                if sub.send(push, channel.len() + message.len() + 32) {
                    receivers += 1;
                }
            }
        }
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
        self.channels
            .lock()
            .keys()
            .filter(|c| pattern.map_or(true, |p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscriber count of a channel: PUBSUB NUMSUB.
    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.lock().get(channel).map_or(0, |s| s.len())
    }

    /// Number of distinct patterns: PUBSUB NUMPAT.
    pub fn numpat(&self) -> usize {
        self.patterns.lock().len()
    }
}

/// Redis's glob matching (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`, `\x`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    glob_inner(pattern, string, nocase, 0)
}

fn glob_inner(mut p: &[u8], mut s: &[u8], nocase: bool, depth: usize) -> bool {
    // Bound the recursion on hostile patterns like "********...".
    if depth > 1000 {
        return false;
    }
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while !p.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for i in 0..=s.len() {
                    if glob_inner(&p[1..], &s[i..], nocase, depth + 1) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
            }
            b'[' => {
                if s.is_empty() {
                    return false;
                }
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if eq(p[0], s[0]) {
                            matched = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut lo, mut hi) = (p[0], p[2]);
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        let c = s[0];
                        let in_range = |c: u8| c >= lo && c <= hi;
                        if in_range(c)
                            || (nocase
                                && (in_range(c.to_ascii_lowercase())
                                    || in_range(c.to_ascii_uppercase())))
                        {
                            matched = true;
                        }
                        p = &p[2..];
                    } else if eq(p[0], s[0]) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    // Unterminated class: Redis treats the end as the end.
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if s.is_empty() || !eq(p[0], s[0]) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if s.is_empty() || !eq(c, s[0]) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
    }
    s.is_empty()
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
