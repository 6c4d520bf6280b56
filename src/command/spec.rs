//! Static description of a command: the entries of the command table.

/// Flags of a command, as Redis's COMMAND INFO reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommandFlags {
    /// Modifies the dataset (replicated through Raft).
    pub write: bool,
    /// Only reads the dataset.
    pub readonly: bool,
    /// Administrative (CONFIG, SHUTDOWN, DEBUG, CLUSTER ...).
    pub admin: bool,
    /// May block the client (BLPOP ...).
    pub blocking: bool,
    /// Pub/Sub command.
    pub pubsub: bool,
    /// Allowed before AUTH (AUTH, HELLO, QUIT ...).
    pub no_auth: bool,
    /// Result depends on randomness (SPOP, SRANDMEMBER, RANDOMKEY ...).
    pub random: bool,
    /// O(1) command (Redis's `fast`).
    pub fast: bool,
    /// May allocate memory (Redis's `denyoom`).
    pub denyoom: bool,
    /// Not allowed inside MULTI / only handled by the connection (`no-multi`).
    pub no_multi: bool,
    /// Allowed while the connection is in RESP2 subscribe mode.
    pub pubsub_allowed: bool,
}

/// Where the keys are in argv (Redis's "legacy" range key spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// Index of the first key in argv (0 = no keys).
    pub first: i32,
    /// Index of the last key; negative counts from the end (-1 = last arg).
    pub last: i32,
    /// Step between keys (2 for MSET key value key value).
    pub step: i32,
}

impl KeySpec {
    /// A command without keys.
    pub const NONE: KeySpec = KeySpec {
        first: 0,
        last: 0,
        step: 0,
    };

    /// The key positions of a call with `argc` arguments (command name
    /// included) by this range; none when `first` is 0.
    pub fn positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        let n = argc as i64;
        let first = i64::from(self.first);
        let last = if self.last < 0 {
            n + i64::from(self.last)
        } else {
            i64::from(self.last)
        };
        let end = if first > 0 { last.min(n - 1) } else { 0 };
        let step = self.step.max(1) as usize;
        (first.max(1)..=end).step_by(step).map(|i| i as usize)
    }
}

/// One entry of the command table.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Lower-case name, e.g. `"get"`, or `"bf.add"`.
    pub name: &'static str,
    /// Redis arity: positive = exact argc (name included), negative = at least -arity.
    pub arity: i32,
    /// Flags.
    pub flags: CommandFlags,
    /// Key positions.
    pub keys: KeySpec,
    /// Group as in COMMAND DOCS (`string`, `list`, `hash`, `set`, `sorted-set`,
    /// `generic`, `bf`, `connection`, `server`, `transactions`, `pubsub`, `cluster`).
    pub group: &'static str,
    /// One-line summary as in COMMAND DOCS.
    pub summary: &'static str,
    /// Since which Redis version (COMMAND DOCS `since`).
    pub since: &'static str,
    /// Complexity string (COMMAND DOCS `complexity`).
    pub complexity: &'static str,
}

impl CommandSpec {
    /// Whether `argc` (command name included) satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}
