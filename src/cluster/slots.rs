//! Redis Cluster hash slots, for the redirect mode (`--cluster-redirect`):
//! a follower answers a keyed command with `-MOVED <slot> <leader>` as a
//! Redis Cluster node answers for a slot it does not own, and `CLUSTER
//! SLOTS` shows one shard (every slot) whose primary is the raft leader.
//! Cluster-aware clients (`redis-cli -c`, redis-py's `RedisCluster`) then
//! send their commands straight to the leader.

/// Number of hash slots (Redis Cluster's 16384).
pub const SLOTS: u16 = 16384;

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum
/// Redis Cluster hashes keys with.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash slot of `key`, as Redis's `CLUSTER KEYSLOT` computes it: when
/// the key holds a non-empty `{tag}`, only the tag is hashed.
pub fn keyslot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(hashed) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_xmodem_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn keyslot_matches_redis() {
        // Answers of redis-server 7.0.15's CLUSTER KEYSLOT.
        assert_eq!(keyslot(b"foo"), 12182);
        assert_eq!(keyslot(b"{user}x"), 5474);
        // Only the first complete, non-empty tag counts.
        assert_eq!(keyslot(b"{user}x"), keyslot(b"user"));
        assert_eq!(keyslot(b"a{user}b{other}"), 5474);
        assert_eq!(keyslot(b"{}user"), 12192);
        assert_eq!(keyslot(b"{user"), 9243);
        assert_eq!(keyslot(b"{{x}}"), 11068);
        assert_eq!(keyslot(b"}{x}"), 16287);
        assert_eq!(keyslot(b""), 0);
    }
}
