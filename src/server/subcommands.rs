//! The subcommands of container commands (`CONFIG GET`, `CLIENT KILL`, ...)
//! as Redis 7.0 describes them: each has its own flags, key range and ACL
//! categories (COMMAND INFO lists them nested under the container, ACL CAT
//! lists them as `config|get`, and `+client|list` / `-config|set` allow or
//! deny one of them).
//!
//! Only the subcommands FincasKV implements are here; any other subcommand
//! of a container (FincasKV's own `CLUSTER INIT`, ...) is checked and listed
//! as its container. The rows were taken from redis-server 7.0.15's COMMAND
//! INFO and COMMAND DOCS (flags FincasKV does not model, such as `noscript`
//! or `loading`, are left out).

use bytes::Bytes;

use crate::command::{CommandFlags, CommandSpec, KeySpec};

// The flags Redis 7.0 gives these subcommands (none is fast, no_auth,
// no_multi or blocking; only FUNCTION's are write or denyoom); `RANDOM` is
// its `nondeterministic_output` tip.
const R: u16 = 1;
const ADMIN: u16 = 1 << 1;
const PUBSUB: u16 = 1 << 2;
const RANDOM: u16 = 1 << 3;
const W: u16 = 1 << 4;
const DENYOOM: u16 = 1 << 5;

/// One subcommand: its spec (named `container|sub`) and its ACL categories.
#[derive(Debug)]
pub struct Subcommand {
    /// Name (`config|get`), arity (counting the container's name), flags,
    /// keys and docs.
    pub spec: CommandSpec,
    /// Redis 7.0's ACL categories, in its order.
    pub categories: &'static [&'static str],
}

#[expect(clippy::too_many_arguments, reason = "one table row")]
const fn sub(
    name: &'static str,
    arity: i32,
    bits: u16,
    (first, last, step): (i32, i32, i32),
    group: &'static str,
    categories: &'static [&'static str],
    summary: &'static str,
    since: &'static str,
    complexity: &'static str,
) -> Subcommand {
    Subcommand {
        spec: CommandSpec {
            name,
            arity,
            flags: CommandFlags {
                write: bits & W != 0,
                readonly: bits & R != 0,
                admin: bits & ADMIN != 0,
                blocking: false,
                pubsub: bits & PUBSUB != 0,
                no_auth: false,
                random: bits & RANDOM != 0,
                fast: false,
                denyoom: bits & DENYOOM != 0,
                no_multi: false,
                pubsub_allowed: false,
            },
            keys: KeySpec { first, last, step },
            group,
            summary,
            since,
            complexity,
        },
        categories,
    }
}

/// Every implemented subcommand, grouped by container.
pub static SUBCOMMANDS: &[Subcommand] = &[
    sub("acl|cat", -2, 0, (0, 0, 0), "server", &["slow"], "List the ACL categories or the commands inside a category", "6.0.0", "O(1) since the categories and commands are a fixed set."),
    sub("acl|setuser", -3, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Modify or create the rules for a specific ACL user", "6.0.0", "O(N). Where N is the number of rules provided."),
    sub("acl|users", 2, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "List the username of all the configured ACL rules", "6.0.0", "O(N). Where N is the number of configured users."),
    sub("acl|list", 2, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "List the current ACL rules in ACL config file format", "6.0.0", "O(N). Where N is the number of configured users."),
    sub("acl|whoami", 2, 0, (0, 0, 0), "server", &["slow"], "Return the name of the user associated to the current connection", "6.0.0", "O(1)"),
    sub("acl|dryrun", -4, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Returns whether the user can execute the given command without executing the command.", "7.0.0", "O(1)."),
    sub("acl|getuser", 3, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Get the rules for a specific ACL user", "6.0.0", "O(N). Where N is the number of password, command and pattern rules that the user has."),
    sub("acl|deluser", -3, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Remove the specified ACL users and the associated rules", "6.0.0", "O(1) amortized time considering the typical user."),
    sub("acl|genpass", -2, 0, (0, 0, 0), "server", &["slow"], "Generate a pseudorandom secure password to use for ACL users", "6.0.0", "O(1)"),
    sub("acl|help", 2, 0, (0, 0, 0), "server", &["slow"], "Show helpful text about the different subcommands", "6.0.0", "O(1)"),
    sub("acl|load", 2, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Reload the ACLs from the configured ACL file", "6.0.0", "O(N). Where N is the number of configured users."),
    sub("acl|log", -2, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "List latest events denied because of ACLs in place", "6.0.0", "O(N) with N being the number of entries shown."),
    sub("acl|save", 2, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Save the current ACL rules in the configured ACL file", "6.0.0", "O(N). Where N is the number of configured users."),
    sub("client|caching", 3, 0, (0, 0, 0), "connection", &["slow", "connection"], "Instruct the server about tracking or not keys in the next request", "6.0.0", "O(1)"),
    sub("client|pause", -3, ADMIN, (0, 0, 0), "connection", &["admin", "slow", "dangerous", "connection"], "Stop processing commands from clients for some time", "2.9.50", "O(1)"),
    sub("client|tracking", -3, 0, (0, 0, 0), "connection", &["slow", "connection"], "Enable or disable server assisted client side caching support", "6.0.0", "O(1). Some options may introduce additional complexity."),
    sub("client|trackinginfo", 2, 0, (0, 0, 0), "connection", &["slow", "connection"], "Return information about server assisted client side caching for the current connection", "6.2.0", "O(1)"),
    sub("client|unblock", -3, ADMIN, (0, 0, 0), "connection", &["admin", "slow", "dangerous", "connection"], "Unblock a client blocked in a blocking command from a different connection", "5.0.0", "O(log N) where N is the number of client connections"),
    sub("client|unpause", 2, ADMIN, (0, 0, 0), "connection", &["admin", "slow", "dangerous", "connection"], "Resume processing of clients that were paused", "6.2.0", "O(N) Where N is the number of paused clients"),
    sub("client|setname", 3, 0, (0, 0, 0), "connection", &["slow", "connection"], "Set the current connection name", "2.6.9", "O(1)"),
    sub("client|getredir", 2, 0, (0, 0, 0), "connection", &["slow", "connection"], "Get tracking notifications redirection client ID if any", "6.0.0", "O(1)"),
    sub("client|getname", 2, 0, (0, 0, 0), "connection", &["slow", "connection"], "Get the current connection name", "2.6.9", "O(1)"),
    sub("client|reply", 3, 0, (0, 0, 0), "connection", &["slow", "connection"], "Instruct the server whether to reply to commands", "3.2.0", "O(1)"),
    sub("client|no-evict", 3, ADMIN, (0, 0, 0), "connection", &["admin", "slow", "dangerous", "connection"], "Set client eviction mode for the current connection", "7.0.0", "O(1)"),
    sub("client|id", 2, 0, (0, 0, 0), "connection", &["slow", "connection"], "Returns the client ID for the current connection", "5.0.0", "O(1)"),
    sub("client|info", 2, RANDOM, (0, 0, 0), "connection", &["slow", "connection"], "Returns information about the current client connection.", "6.2.0", "O(1)"),
    sub("client|list", -2, ADMIN | RANDOM, (0, 0, 0), "connection", &["admin", "slow", "dangerous", "connection"], "Get the list of client connections", "2.4.0", "O(N) where N is the number of client connections"),
    sub("client|help", 2, 0, (0, 0, 0), "connection", &["slow", "connection"], "Show helpful text about the different subcommands", "5.0.0", "O(1)"),
    sub("client|kill", -3, ADMIN, (0, 0, 0), "connection", &["admin", "slow", "dangerous", "connection"], "Kill the connection of a client", "2.4.0", "O(N) where N is the number of client connections"),
    sub("cluster|slots", 2, RANDOM, (0, 0, 0), "cluster", &["slow"], "Get array of Cluster slot to node mappings", "3.0.0", "O(N) where N is the total number of Cluster nodes"),
    sub("cluster|myid", 2, 0, (0, 0, 0), "cluster", &["slow"], "Return the node id", "3.0.0", "O(1)"),
    sub("cluster|keyslot", 3, 0, (0, 0, 0), "cluster", &["slow"], "Returns the hash slot of the specified key", "3.0.0", "O(N) where N is the number of bytes in the key"),
    sub("cluster|nodes", 2, RANDOM, (0, 0, 0), "cluster", &["slow"], "Get Cluster config for the node", "3.0.0", "O(N) where N is the total number of Cluster nodes"),
    sub("cluster|info", 2, RANDOM, (0, 0, 0), "cluster", &["slow"], "Provides info about Redis Cluster node state", "3.0.0", "O(1)"),
    sub("cluster|help", 2, 0, (0, 0, 0), "cluster", &["slow"], "Show helpful text about the different subcommands", "5.0.0", "O(1)"),
    sub("command|info", -2, 0, (0, 0, 0), "server", &["slow", "connection"], "Get array of specific Redis command details, or all when no argument is given.", "2.8.13", "O(N) where N is the number of commands to look up"),
    sub("command|list", -2, 0, (0, 0, 0), "server", &["slow", "connection"], "Get an array of Redis command names", "7.0.0", "O(N) where N is the total number of Redis commands"),
    sub("command|getkeys", -4, 0, (0, 0, 0), "server", &["slow", "connection"], "Extract keys given a full Redis command", "2.8.13", "O(N) where N is the number of arguments to the command"),
    sub("command|count", 2, 0, (0, 0, 0), "server", &["slow", "connection"], "Get total number of Redis commands", "2.8.13", "O(1)"),
    sub("command|docs", -2, 0, (0, 0, 0), "server", &["slow", "connection"], "Get array of specific Redis command documentation", "7.0.0", "O(N) where N is the number of commands to look up"),
    sub("command|help", 2, 0, (0, 0, 0), "server", &["slow", "connection"], "Show helpful text about the different subcommands", "5.0.0", "O(1)"),
    sub("config|get", -3, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Get the values of configuration parameters", "2.0.0", "O(N) when N is the number of configuration parameters provided"),
    sub("config|rewrite", 2, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Rewrite the configuration file with the in memory configuration", "2.8.0", "O(1)"),
    sub("config|help", 2, 0, (0, 0, 0), "server", &["slow"], "Show helpful text about the different subcommands", "5.0.0", "O(1)"),
    sub("config|set", -4, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Set configuration parameters to the given values", "2.0.0", "O(N) when N is the number of configuration parameters provided"),
    sub("config|resetstat", 2, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Reset the stats returned by INFO", "2.0.0", "O(1)"),
    sub("latency|reset", -2, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Reset latency data for one or more events.", "2.8.13", "O(1)"),
    sub("latency|latest", 2, ADMIN | RANDOM, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Return the latest latency samples for all events.", "2.8.13", "O(1)"),
    sub("latency|doctor", 2, ADMIN | RANDOM, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Return a human readable latency analysis report.", "2.8.13", "O(1)"),
    sub("latency|graph", 3, ADMIN | RANDOM, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Return a latency graph for the event.", "2.8.13", "O(1)"),
    sub("latency|histogram", -2, ADMIN | RANDOM, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Return the cumulative distribution of latencies of a subset of commands or all.", "7.0.0", "O(N) where N is the number of commands with latency information being retrieved."),
    sub("latency|help", 2, 0, (0, 0, 0), "server", &["slow"], "Show helpful text about the different subcommands.", "2.8.13", "O(1)"),
    sub("latency|history", 3, ADMIN | RANDOM, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Return timestamp-latency samples for the event.", "2.8.13", "O(1)"),
    sub("function|kill", 2, 0, (0, 0, 0), "scripting", &["slow", "scripting"], "Kill the function currently in execution.", "7.0.0", "O(1)"),
    sub("function|flush", -2, W, (0, 0, 0), "scripting", &["write", "slow", "scripting"], "Deleting all functions", "7.0.0", "O(N) where N is the number of functions deleted"),
    sub("function|load", -3, W | DENYOOM, (0, 0, 0), "scripting", &["write", "slow", "scripting"], "Create a function with the given arguments (name, code, description)", "7.0.0", "O(1) (considering compilation time is redundant)"),
    sub("function|delete", 3, W, (0, 0, 0), "scripting", &["write", "slow", "scripting"], "Delete a function by name", "7.0.0", "O(1)"),
    sub("function|help", 2, 0, (0, 0, 0), "scripting", &["slow", "scripting"], "Show helpful text about the different subcommands", "7.0.0", "O(1)"),
    sub("function|list", -2, 0, (0, 0, 0), "scripting", &["slow", "scripting"], "List information about all the functions", "7.0.0", "O(N) where N is the number of functions"),
    sub("function|restore", -3, W | DENYOOM, (0, 0, 0), "scripting", &["write", "slow", "scripting"], "Restore all the functions on the given payload", "7.0.0", "O(N) where N is the number of functions on the payload"),
    sub("function|dump", 2, 0, (0, 0, 0), "scripting", &["slow", "scripting"], "Dump all functions into a serialized binary payload", "7.0.0", "O(N) where N is the number of functions"),
    sub("function|stats", 2, RANDOM, (0, 0, 0), "scripting", &["slow", "scripting"], "Return information about the function currently running (name, description, duration)", "7.0.0", "O(1)"),
    sub("memory|malloc-stats", 2, RANDOM, (0, 0, 0), "server", &["slow"], "Show allocator internal stats", "4.0.0", "Depends on how much memory is allocated, could be slow"),
    sub("memory|purge", 2, 0, (0, 0, 0), "server", &["slow"], "Ask the allocator to release memory", "4.0.0", "Depends on how much memory is allocated, could be slow"),
    sub("memory|stats", 2, RANDOM, (0, 0, 0), "server", &["slow"], "Show memory usage details", "4.0.0", "O(1)"),
    sub("memory|doctor", 2, RANDOM, (0, 0, 0), "server", &["slow"], "Outputs memory problems report", "4.0.0", "O(1)"),
    sub("memory|help", 2, 0, (0, 0, 0), "server", &["slow"], "Show helpful text about the different subcommands", "4.0.0", "O(1)"),
    sub("memory|usage", -3, R, (2, 2, 1), "server", &["read", "slow"], "Estimate the memory usage of a key", "4.0.0", "O(N) where N is the number of samples."),
    sub("xgroup|create", -5, W | DENYOOM, (2, 2, 1), "stream", &["write", "stream", "slow"], "Create a consumer group.", "5.0.0", "O(1)"),
    sub("xgroup|setid", -5, W, (2, 2, 1), "stream", &["write", "stream", "slow"], "Set a consumer group to an arbitrary last delivered ID value.", "5.0.0", "O(1)"),
    sub("xgroup|destroy", 4, W, (2, 2, 1), "stream", &["write", "stream", "slow"], "Destroy a consumer group.", "5.0.0", "O(N) where N is the number of entries in the group's pending entries list (PEL)."),
    sub("xgroup|createconsumer", 5, W | DENYOOM, (2, 2, 1), "stream", &["write", "stream", "slow"], "Create a consumer in a consumer group.", "6.2.0", "O(1)"),
    sub("xgroup|delconsumer", 5, W, (2, 2, 1), "stream", &["write", "stream", "slow"], "Delete a consumer from a consumer group.", "5.0.0", "O(1)"),
    sub("xgroup|help", 2, 0, (0, 0, 0), "stream", &["stream", "slow"], "Show helpful text about the different subcommands", "5.0.0", "O(1)"),
    sub("xinfo|stream", -3, R, (2, 2, 1), "stream", &["read", "stream", "slow"], "Get information about a stream", "5.0.0", "O(1)"),
    sub("xinfo|groups", 3, R, (2, 2, 1), "stream", &["read", "stream", "slow"], "List the consumer groups of a stream", "5.0.0", "O(1)"),
    sub("xinfo|consumers", 4, R | RANDOM, (2, 2, 1), "stream", &["read", "stream", "slow"], "List the consumers in a consumer group", "5.0.0", "O(1)"),
    sub("xinfo|help", 2, 0, (0, 0, 0), "stream", &["stream", "slow"], "Show helpful text about the different subcommands", "5.0.0", "O(1)"),
    sub("object|help", 2, 0, (0, 0, 0), "generic", &["keyspace", "slow"], "Show helpful text about the different subcommands", "6.2.0", "O(1)"),
    sub("object|encoding", 3, R | RANDOM, (2, 2, 1), "generic", &["keyspace", "read", "slow"], "Inspect the internal encoding of a Redis object", "2.2.3", "O(1)"),
    sub("object|idletime", 3, R | RANDOM, (2, 2, 1), "generic", &["keyspace", "read", "slow"], "Get the time since a Redis object was last accessed", "2.2.3", "O(1)"),
    sub("object|freq", 3, R | RANDOM, (2, 2, 1), "generic", &["keyspace", "read", "slow"], "Get the logarithmic access frequency counter of a Redis object", "4.0.0", "O(1)"),
    sub("object|refcount", 3, R | RANDOM, (2, 2, 1), "generic", &["keyspace", "read", "slow"], "Get the number of references to the value of the key", "2.2.3", "O(1)"),
    sub("pubsub|numsub", -2, PUBSUB, (0, 0, 0), "pubsub", &["pubsub", "slow"], "Get the count of subscribers for channels", "2.8.0", "O(N) for the NUMSUB subcommand, where N is the number of requested channels"),
    sub("pubsub|channels", -2, PUBSUB, (0, 0, 0), "pubsub", &["pubsub", "slow"], "List active channels", "2.8.0", "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)"),
    sub("pubsub|numpat", 2, PUBSUB, (0, 0, 0), "pubsub", &["pubsub", "slow"], "Get the count of unique patterns pattern subscriptions", "2.8.0", "O(1)"),
    sub("pubsub|shardnumsub", -2, PUBSUB, (0, 0, 0), "pubsub", &["pubsub", "slow"], "Get the count of subscribers for shard channels", "7.0.0", "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels"),
    sub("pubsub|help", 2, 0, (0, 0, 0), "pubsub", &["slow"], "Show helpful text about the different subcommands", "6.2.0", "O(1)"),
    sub("pubsub|shardchannels", -2, PUBSUB, (0, 0, 0), "pubsub", &["pubsub", "slow"], "List active shard channels", "7.0.0", "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels)."),
    sub("script|flush", -2, 0, (0, 0, 0), "scripting", &["slow", "scripting"], "Remove all the scripts from the script cache.", "2.6.0", "O(N) with N being the number of scripts in cache"),
    sub("script|exists", -3, 0, (0, 0, 0), "scripting", &["slow", "scripting"], "Check existence of scripts in the script cache.", "2.6.0", "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation)."),
    sub("script|load", 3, 0, (0, 0, 0), "scripting", &["slow", "scripting"], "Load the specified Lua script into the script cache.", "2.6.0", "O(N) with N being the length in bytes of the script body."),
    sub("script|help", 2, 0, (0, 0, 0), "scripting", &["slow", "scripting"], "Show helpful text about the different subcommands", "5.0.0", "O(1)"),
    sub("script|kill", 2, 0, (0, 0, 0), "scripting", &["slow", "scripting"], "Kill the script currently in execution.", "2.6.0", "O(1)"),
    sub("slowlog|len", 2, ADMIN | RANDOM, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Get the slow log's length", "2.2.12", "O(1)"),
    sub("slowlog|help", 2, 0, (0, 0, 0), "server", &["slow"], "Show helpful text about the different subcommands", "6.2.0", "O(1)"),
    sub("slowlog|get", -2, ADMIN | RANDOM, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Get the slow log's entries", "2.2.12", "O(N) where N is the number of entries returned"),
    sub("slowlog|reset", 2, ADMIN, (0, 0, 0), "server", &["admin", "slow", "dangerous"], "Clear all entries from the slow log", "2.2.12", "O(N) where N is the number of entries in the slowlog"),
];

/// The subcommands of `container` (by lower-case name) that FincasKV implements.
pub fn of(container: &str) -> impl Iterator<Item = &'static Subcommand> + '_ {
    BY_CONTAINER
        .iter()
        .filter(move |(c, _)| *c == container)
        .flat_map(|(_, subs)| subs.iter().copied())
}

/// The subcommand called `name` (`config|get`, any case).
pub fn lookup(name: &[u8]) -> Option<&'static Subcommand> {
    SUBCOMMANDS
        .iter()
        .find(|s| s.spec.name.as_bytes().eq_ignore_ascii_case(name))
}

/// [`SUBCOMMANDS`] by container name: [`of_call`] runs for every command,
/// and a scan of the whole table cost a SET ~500 instructions.
static BY_CONTAINER: std::sync::LazyLock<Vec<(&'static str, Vec<&'static Subcommand>)>> =
    std::sync::LazyLock::new(|| {
        let mut by: Vec<(&'static str, Vec<&'static Subcommand>)> = Vec::new();
        for s in SUBCOMMANDS {
            let Some((container, _)) = s.spec.name.split_once('|') else {
                continue;
            };
            match by.iter_mut().find(|(c, _)| *c == container) {
                Some((_, subs)) => subs.push(s),
                None => by.push((container, vec![s])),
            }
        }
        by
    });

/// The subcommand `argv` runs when `container` is its command, if it is
/// one of [`SUBCOMMANDS`].
pub fn of_call(container: &CommandSpec, argv: &[Bytes]) -> Option<&'static CommandSpec> {
    let sub = argv.get(1)?;
    let n = container.name.len();
    let (_, subs) = BY_CONTAINER.iter().find(|(c, _)| *c == container.name)?;
    subs.iter()
        .find(|s| {
            let name = s.spec.name.as_bytes();
            name.len() == n + 1 + sub.len() && name[n + 1..].eq_ignore_ascii_case(sub)
        })
        .map(|s| &s.spec)
}

/// The categories of `spec` if it is one of [`SUBCOMMANDS`] (by address:
/// a subcommand's spec is only ever borrowed from the table).
pub fn categories(spec: &CommandSpec) -> Option<&'static [&'static str]> {
    SUBCOMMANDS
        .iter()
        .find(|s| std::ptr::eq(&s.spec, spec))
        .map(|s| s.categories)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The container's spec in the keyspace's or the server's table
    /// (CLUSTER's is the cluster backend's).
    fn spec(container: &str) -> Option<&'static CommandSpec> {
        crate::command::table::lookup(container.as_bytes())
            .or_else(|| crate::server::table::lookup(container.as_bytes()))
    }

    fn call(container: &str, argv: &[&str]) -> Option<&'static str> {
        let spec = spec(container).expect("container");
        let argv: Vec<Bytes> = argv
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        of_call(spec, &argv).map(|s| s.name)
    }

    #[test]
    fn a_call_finds_its_subcommand_in_any_case() {
        assert_eq!(call("config", &["CONFIG", "GeT", "x"]), Some("config|get"));
        assert_eq!(
            call("object", &["object", "ENCODING", "k"]),
            Some("object|encoding")
        );
        assert_eq!(
            call("xinfo", &["xinfo", "stream", "k"]),
            Some("xinfo|stream")
        );
        assert_eq!(call("config", &["config", "nope"]), None);
        assert_eq!(call("config", &["config"]), None);
        assert_eq!(call("set", &["set", "get", "v"]), None);
        // Every subcommand is found through its container.
        for s in SUBCOMMANDS {
            let (container, sub) = s.spec.name.split_once('|').expect("container|sub");
            if spec(container).is_none() {
                continue;
            }
            assert_eq!(
                call(container, &[container, &sub.to_uppercase()]),
                Some(s.spec.name)
            );
        }
    }
}
