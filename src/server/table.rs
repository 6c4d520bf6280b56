//! The command table entries of the connection and server commands (the
//! keyspace commands have theirs in `command::table()`).

use crate::command::{CommandFlags, CommandSpec, KeySpec};

const W: u16 = 1;
const R: u16 = 1 << 1;
const ADMIN: u16 = 1 << 2;
const BLOCK: u16 = 1 << 3;
const PUBSUB: u16 = 1 << 4;
const NOAUTH: u16 = 1 << 5;
const FAST: u16 = 1 << 6;
const NOMULTI: u16 = 1 << 7;
const SUBOK: u16 = 1 << 8;
const RANDOM: u16 = 1 << 9;

const fn flags(bits: u16) -> CommandFlags {
    CommandFlags {
        write: bits & W != 0,
        readonly: bits & R != 0,
        admin: bits & ADMIN != 0,
        blocking: bits & BLOCK != 0,
        pubsub: bits & PUBSUB != 0,
        no_auth: bits & NOAUTH != 0,
        random: bits & RANDOM != 0,
        fast: bits & FAST != 0,
        denyoom: false,
        no_multi: bits & NOMULTI != 0,
        pubsub_allowed: bits & SUBOK != 0,
    }
}

const fn spec(
    name: &'static str,
    arity: i32,
    bits: u16,
    group: &'static str,
    summary: &'static str,
    since: &'static str,
    complexity: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: flags(bits),
        keys: KeySpec::NONE,
        group,
        summary,
        since,
        complexity,
    }
}

const fn keyed(mut s: CommandSpec, first: i32, last: i32, step: i32) -> CommandSpec {
    s.keys = KeySpec { first, last, step };
    s
}

/// The server's own commands.
pub static SERVER_COMMANDS: &[CommandSpec] = &[
    spec("ping", -1, FAST | SUBOK, "connection", "Returns the server's liveliness response.", "1.0.0", "O(1)"),
    spec("echo", 2, FAST, "connection", "Returns the given string.", "1.0.0", "O(1)"),
    spec("quit", -1, NOAUTH | FAST | SUBOK, "connection", "Closes the connection.", "1.0.0", "O(1)"),
    spec("reset", 1, NOAUTH | FAST | SUBOK | NOMULTI, "connection", "Resets the connection.", "6.2.0", "O(1)"),
    spec("hello", -1, NOAUTH | FAST | NOMULTI, "connection", "Handshakes with the Redis server.", "6.0.0", "O(1)"),
    spec("readonly", 1, FAST, "cluster", "Enables read-only queries for a connection to a Redis Cluster replica node (FincasKV: reads on this node's own state, possibly stale).", "3.0.0", "O(1)"),
    spec("readwrite", 1, FAST, "cluster", "Enables read-write queries for a connection to a Redis Cluster replica node (FincasKV: reads go back to the node's read mode).", "3.0.0", "O(1)"),
    spec("acl", -2, ADMIN | NOMULTI, "server", "Users, passwords and the commands they may run (SETUSER, DELUSER, USERS, WHOAMI, LIST, CAT).", "6.0.0", "Depends on subcommand."),
    spec("auth", -2, NOAUTH | FAST | NOMULTI, "connection", "Authenticates the connection.", "1.0.0", "O(N) where N is the number of passwords defined for the user"),
    spec("select", 2, FAST, "connection", "Changes the selected database.", "1.0.0", "O(1)"),
    spec("client", -2, ADMIN | NOMULTI, "connection", "A container for client connection commands.", "2.4.0", "Depends on subcommand."),
    spec("info", -1, RANDOM, "server", "Returns information and statistics about the server.", "1.0.0", "O(1)"),
    spec("config", -2, ADMIN, "server", "A container for server configuration commands.", "2.0.0", "Depends on subcommand."),
    spec("command", -1, RANDOM, "server", "Returns detailed information about all commands.", "2.8.13", "O(N) where N is the total number of Redis commands"),
    keyed(spec("migrate", -6, W, "generic", "Atomically transfers a key from one Redis instance to another.", "2.6.0", "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed."), 3, 3, 1),
    spec("dbsize", 1, R | FAST, "server", "Returns the number of keys in the database.", "1.0.0", "O(1)"),
    spec("time", 1, RANDOM | FAST, "server", "Returns the server time.", "2.6.0", "O(1)"),
    spec("lastsave", 1, RANDOM | FAST, "server", "Returns the Unix timestamp of the last successful save to disk.", "1.0.0", "O(1)"),
    spec("pfselftest", 1, ADMIN, "hyperloglog", "An internal command for testing HyperLogLog values", "2.8.9", "N/A"),
    spec("save", 1, ADMIN | NOMULTI, "server", "Synchronously fsyncs the data files.", "1.0.0", "O(N) where N is the total number of keys in all databases"),
    spec("bgsave", -1, ADMIN, "server", "Asynchronously fsyncs the data files.", "1.0.0", "O(N) where N is the total number of keys in all databases"),
    spec("backup", 2, ADMIN | NOMULTI, "server", "Writes a consistent copy of the data files into a new directory (FincasKV).", "1.0.0", "O(N) where N is the size of the active data file"),
    spec("bgrewriteaof", 1, ADMIN | NOMULTI, "server", "Asynchronously merges the data files (compaction).", "1.0.0", "O(N) where N is the total number of keys in all databases"),
    spec("shutdown", -1, ADMIN | NOMULTI, "server", "Synchronously saves the database(s) to disk and shuts down the Redis server.", "1.0.0", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)"),
    spec("debug", -2, ADMIN | NOMULTI, "server", "A container for debugging commands.", "1.0.0", "Depends on subcommand."),
    spec("slowlog", -2, ADMIN | RANDOM, "server", "A container for slow log commands.", "2.2.12", "Depends on subcommand."),
    spec("monitor", 1, ADMIN | NOMULTI, "server", "Listens for all requests received by the server in real-time.", "1.0.0", "O(1)"),
    keyed(spec("memory", -2, R, "server", "A container for memory diagnostics commands.", "4.0.0", "Depends on subcommand."), 2, 2, 1),
    spec("multi", 1, FAST | NOMULTI, "transactions", "Starts a transaction.", "1.2.0", "O(1)"),
    spec("exec", 1, NOMULTI, "transactions", "Executes all commands in a transaction.", "1.2.0", "Depends on commands in the transaction"),
    spec("discard", 1, FAST | NOMULTI, "transactions", "Discards a transaction.", "2.0.0", "O(N), when N is the number of queued commands"),
    keyed(spec("watch", -2, FAST | NOMULTI, "transactions", "Monitors changes to keys to determine the execution of a transaction.", "2.2.0", "O(1) for every key."), 1, -1, 1),
    spec("unwatch", 1, FAST | NOMULTI, "transactions", "Forgets about watched keys of a transaction.", "2.2.0", "O(1)"),
    spec("subscribe", -2, PUBSUB | SUBOK, "pubsub", "Listens for messages published to channels.", "2.0.0", "O(N) where N is the number of channels to subscribe to."),
    spec("unsubscribe", -1, PUBSUB | SUBOK, "pubsub", "Stops listening to messages posted to channels.", "2.0.0", "O(N) where N is the number of channels to unsubscribe."),
    spec("psubscribe", -2, PUBSUB | SUBOK, "pubsub", "Listens for messages published to channels that match one or more patterns.", "2.0.0", "O(N) where N is the number of patterns to subscribe to."),
    spec("punsubscribe", -1, PUBSUB | SUBOK, "pubsub", "Stops listening to messages published to channels that match one or more patterns.", "2.0.0", "O(N) where N is the number of patterns to unsubscribe."),
    spec("publish", 3, PUBSUB | FAST, "pubsub", "Posts a message to a channel.", "2.0.0", "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client)."),
    spec("pubsub", -2, PUBSUB | RANDOM, "pubsub", "A container for Pub/Sub commands.", "2.8.0", "Depends on subcommand."),
    // Shard channels: Redis's key range names the channel (a `not_key`
    // key spec, so COMMAND GETKEYS finds no key: `keys::has_keys`).
    keyed(spec("ssubscribe", -2, PUBSUB | SUBOK, "pubsub", "Listen for messages published to the given shard channels", "7.0.0", "O(N) where N is the number of shard channels to subscribe to."), 1, -1, 1),
    keyed(spec("sunsubscribe", -1, PUBSUB | SUBOK, "pubsub", "Stop listening for messages posted to the given shard channels", "7.0.0", "O(N) where N is the number of clients already subscribed to a shard channel."), 1, -1, 1),
    keyed(spec("spublish", 3, PUBSUB | FAST, "pubsub", "Post a message to a shard channel", "7.0.0", "O(N) where N is the number of clients subscribed to the receiving shard channel."), 1, 1, 1),
    spec("latency", -2, 0, "server", "A container for latency diagnostics commands", "2.8.13", "Depends on subcommand."),
    spec("lolwut", -1, R | FAST, "server", "Display some computer art and the Redis version", "5.0.0", ""),
];

/// The entry of a server command, by lower-case name.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    SERVER_COMMANDS.iter().find(|s| s.name.as_bytes() == name)
}

/// Whether `spec` is one of [`SERVER_COMMANDS`] (by address: no string compare).
pub fn is_server_command(spec: &CommandSpec) -> bool {
    SERVER_COMMANDS
        .as_ptr_range()
        .contains(&(spec as *const CommandSpec))
}

/// The flags of a command as COMMAND INFO lists them.
pub fn flag_names(f: &CommandFlags) -> Vec<&'static str> {
    let mut out = Vec::new();
    if f.write {
        out.push("write");
    }
    if f.readonly {
        out.push("readonly");
    }
    if f.denyoom {
        out.push("denyoom");
    }
    if f.admin {
        out.push("admin");
    }
    if f.pubsub {
        out.push("pubsub");
    }
    if f.no_multi {
        out.push("no_multi");
    }
    if f.blocking {
        out.push("blocking");
    }
    if f.no_auth {
        out.push("no_auth");
    }
    if f.fast {
        out.push("fast");
    }
    out
}
