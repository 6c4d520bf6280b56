//! A minimal ACL, as Redis 6+ users expect: named users with passwords, an
//! on/off switch and allowed commands and command categories
//! (`ACL SETUSER alice on >secret +@read -@dangerous +set`), `AUTH user
//! pass`, `ACL WHOAMI / USERS / LIST / DELUSER / CAT`.
//!
//! The `default` user is a user like the others (passwords kept as SHA-256
//! hashes); `requirepass`, as in Redis 7.0, only *sets* its password
//! (`resetpass` then `>pw`, or `nopass` when empty): `CONFIG GET
//! requirepass` shows the last value set, whatever ACL SETUSER did since.
//! A new connection is authenticated as `default` when that user is `on`
//! and `nopass`.
//!
//! Users persist as Redis's do: with an `aclfile`, `ACL SAVE` writes the
//! users (`ACL LIST`'s lines) and `ACL LOAD` / the server's start read them
//! back ([`Acl::load`], all or nothing, Redis's error texts). `ACL LOG`
//! keeps the last refusals ([`AclLog`]).
//!
//! Key patterns (`~pattern`, `allkeys`, `resetkeys`) and channel patterns
//! (`&pattern`, `allchannels`, `resetchannels`) work as in Redis 7.0: a
//! command's keys (`command::keys::key_positions`) must each match one of
//! the user's key patterns, a PUBLISH / SUBSCRIBE channel one of its
//! channel patterns, and a PSUBSCRIBE pattern must be one of them
//! literally. A new user has neither (Redis 7.0's `acl-pubsub-default` is
//! `resetchannels`). Read-only and write-only key patterns (`%R~`, `%W~`)
//! are refused with a clear error: Redis decides them by per-key flags of
//! each command's key specs, which the command table does not carry.

use std::collections::BTreeMap;

use crate::command::CommandSpec;

/// Every category a rule may name (`ACL CAT`), in Redis 7.0's order (the
/// order COMMAND INFO lists a command's categories in); `bloom` as
/// RedisBloom names it, `cluster` ours.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "bloom",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
    "cluster",
];

/// Commands whose Redis 7.0 categories are not what their group and flags
/// give: (name, categories added, categories removed). Checked against
/// redis-server 7.0.15's COMMAND INFO. (Container commands such as CONFIG
/// keep their flags' categories here: Redis puts them on the subcommands,
/// which carry their own (`super::subcommands`); a subcommand not listed
/// there is checked as its container.)
const OVERRIDES: &[(&str, &[&str], &[&str])] = &[
    // Containers: their categories are their subcommands'.
    ("xgroup", &[], &["write", "stream"]),
    ("xinfo", &[], &["read", "stream"]),
    (
        "sort",
        &["set", "sortedset", "list", "dangerous"],
        &["keyspace"],
    ),
    (
        "sort_ro",
        &["set", "sortedset", "list", "dangerous"],
        &["keyspace"],
    ),
    ("keys", &["dangerous"], &[]),
    ("flushall", &["keyspace", "dangerous"], &[]),
    ("flushdb", &["keyspace", "dangerous"], &[]),
    ("swapdb", &["keyspace", "dangerous"], &[]),
    ("dbsize", &["keyspace"], &[]),
    ("restore", &["dangerous"], &[]),
    ("migrate", &["dangerous"], &[]),
    ("info", &["dangerous"], &[]),
    ("lastsave", &["admin", "dangerous"], &[]),
    ("role", &["admin", "dangerous"], &[]),
    ("wait", &["connection", "slow"], &["fast"]),
    ("command", &["connection"], &[]),
    ("readonly", &["connection"], &["cluster"]),
    ("readwrite", &["connection"], &["cluster"]),
    // Flagged write here so that its cached count replicates; Redis's
    // PFCOUNT is a read.
    ("pfcount", &["read"], &["write"]),
    // Scripts are flagged write / readonly here so that the cluster routes
    // them; Redis's are only @slow @scripting.
    ("eval", &[], &["write"]),
    ("evalsha", &[], &["write"]),
    ("eval_ro", &[], &["read"]),
    ("evalsha_ro", &[], &["read"]),
    ("script", &[], &["read", "scripting"]),
    ("fcall", &[], &["write"]),
    ("fcall_ro", &[], &["read"]),
    // FUNCTION's own categories are its subcommands'; the container is
    // @slow only in Redis.
    ("function", &[], &["write", "scripting"]),
];

/// Whether `spec` belongs to `category` (a subcommand's are Redis's, listed
/// with it; a command's come from its group and flags, and [`OVERRIDES`]).
pub fn in_category(spec: &CommandSpec, category: &str) -> bool {
    if let Some(categories) = super::subcommands::categories(spec) {
        return category == "all" || categories.contains(&category);
    }
    if let Some((_, add, remove)) = OVERRIDES.iter().find(|(n, _, _)| *n == spec.name) {
        if remove.contains(&category) {
            return false;
        }
        if add.contains(&category) {
            return true;
        }
    }
    let f = &spec.flags;
    match category {
        "all" => true,
        "read" => f.readonly,
        "write" => f.write,
        "fast" => f.fast,
        "slow" => !f.fast,
        "blocking" => f.blocking,
        "admin" | "dangerous" => f.admin,
        "pubsub" => f.pubsub || spec.group == "pubsub",
        "keyspace" => spec.group == "generic",
        "sortedset" => spec.group == "sorted-set",
        "transaction" => spec.group == "transactions",
        "bloom" => spec.group == "bf",
        other => spec.group == other,
    }
}

/// `spec`'s categories, in Redis's order (COMMAND INFO / DOCS).
pub fn categories_of(spec: &CommandSpec) -> impl Iterator<Item = &'static str> + '_ {
    CATEGORIES
        .iter()
        .copied()
        .filter(move |c| in_category(spec, c))
}

/// One command rule, applied in order over the user's base permission.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    /// `+@cat` / `-@cat`.
    Category(bool, String),
    /// `+cmd` / `-cmd`.
    Command(bool, String),
}

/// Key or channel patterns: every name (`allkeys` / `allchannels`), or
/// those matching one of the globs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Patterns {
    all: bool,
    globs: Vec<Vec<u8>>,
}

impl Patterns {
    fn everything() -> Patterns {
        Patterns {
            all: true,
            globs: Vec::new(),
        }
    }

    /// Whether `name` matches one of the patterns.
    fn matches(&self, name: &[u8]) -> bool {
        self.all || self.globs.iter().any(|g| super::glob_match(g, name, false))
    }

    /// Adds a pattern (`*` means everything), as Redis: refused after
    /// "everything", a repeat is kept once.
    fn add(&mut self, glob: &[u8], kind: &str) -> Result<(), String> {
        if self.all {
            let (flag, reset) = match kind {
                "keys" => ("allkeys", "resetkeys"),
                _ => ("allchannels", "resetchannels"),
            };
            let what = if kind == "keys" {
                "patterns"
            } else {
                "channels"
            };
            return Err(format!(
                "Adding a pattern after the * pattern (or the '{flag}' flag) is not valid and does not have any effect. Try '{reset}' to start with an empty list of {what}"
            ));
        }
        if glob == b"*" {
            *self = Patterns::everything();
        } else if !self.globs.iter().any(|g| g == glob) {
            self.globs.push(glob.to_vec());
        }
        Ok(())
    }

    /// The patterns as ACL LIST / GETUSER spell them, each after `sigil`.
    fn describe(&self, sigil: &str) -> String {
        if self.all {
            return format!("{sigil}*");
        }
        let parts: Vec<String> = self
            .globs
            .iter()
            .map(|g| format!("{sigil}{}", String::from_utf8_lossy(g)))
            .collect();
        parts.join(" ")
    }
}

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// `on` / `off`: an off user cannot authenticate.
    pub enabled: bool,
    /// `nopass`: any password is accepted.
    pub nopass: bool,
    /// SHA-256 of each accepted password (as Redis keeps them).
    passwords: Vec<[u8; 32]>,
    /// `allcommands` (true) or `nocommands` (false), before the rules.
    all: bool,
    rules: Vec<Rule>,
    /// Key patterns.
    keys: Patterns,
    /// Channel patterns.
    channels: Patterns,
}

impl User {
    /// A new user as `ACL SETUSER name` creates it: off, no password, no
    /// commands, keys or channels.
    fn new() -> User {
        User {
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            all: false,
            rules: Vec::new(),
            keys: Patterns::default(),
            channels: Patterns::default(),
        }
    }

    /// The `default` user of a fresh server: on, every command, key and channel.
    fn default_user() -> User {
        User {
            enabled: true,
            nopass: true,
            all: true,
            keys: Patterns::everything(),
            channels: Patterns::everything(),
            ..User::new()
        }
    }

    /// Why the user may not run `spec` with `argv` although it may run the
    /// command: the first key or channel outside its patterns (keys
    /// first, as Redis checks them), or `None`.
    pub fn denies_args<'a>(
        &self,
        spec: &CommandSpec,
        argv: &'a [bytes::Bytes],
    ) -> Option<Denied<'a>> {
        if !self.keys.all && !crate::command::keys::channels_not_keys(spec) {
            let key = crate::command::keys::key_positions(spec, argv)
                .into_iter()
                .filter_map(|i| argv.get(i))
                .find(|k| !self.keys.matches(k));
            if let Some(k) = key {
                return Some(Denied::Key(k));
            }
        }
        if self.channels.all {
            return None;
        }
        let args = argv.get(1..).unwrap_or_default();
        let channel = match spec.name {
            "publish" | "spublish" => args.first().filter(|c| !self.channels.matches(c)),
            "subscribe" | "ssubscribe" => args.iter().find(|c| !self.channels.matches(c)),
            "psubscribe" => args
                .iter()
                .find(|p| !self.channels.globs.iter().any(|g| g == *p)),
            _ => None,
        };
        channel.map(Denied::Channel)
    }

    /// Why the user may not run `argv` (`spec`'s call; `checked` is the
    /// subcommand's entry when Redis describes one, else `spec`): the
    /// command rules first, then the keys and channels (Redis's order).
    pub fn check<'a>(
        &self,
        spec: &CommandSpec,
        checked: &CommandSpec,
        argv: &'a [bytes::Bytes],
    ) -> Option<Denied<'a>> {
        if !self.allows(checked) {
            return Some(Denied::Command);
        }
        self.denies_args(spec, argv)
    }

    /// Whether the user may run `spec` (a subcommand, `config|get`, is
    /// named by its own rules and by its container's: `+config` allows it).
    pub fn allows(&self, spec: &CommandSpec) -> bool {
        let container = spec.name.split_once('|').map(|(c, _)| c);
        let mut ok = self.all;
        for r in &self.rules {
            match r {
                Rule::Category(allow, c) if in_category(spec, c) => ok = *allow,
                Rule::Command(allow, c) if c == spec.name || Some(c.as_str()) == container => {
                    ok = *allow
                }
                _ => {}
            }
        }
        ok
    }

    /// Whether the user may run everything (the fast path skips checks).
    fn unrestricted(&self) -> bool {
        self.all
            && self.keys.all
            && self.channels.all
            && self
                .rules
                .iter()
                .all(|r| matches!(r, Rule::Category(true, _) | Rule::Command(true, _)))
    }

    /// Applies one SETUSER rule.
    fn apply(&mut self, raw: &str, commands: &dyn Fn(&str) -> bool) -> Result<(), RuleError> {
        let rule = raw.to_ascii_lowercase();
        let bad = |why: &str| RuleError::new(raw, why);
        match rule.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allcommands" | "+@all" => {
                self.all = true;
                self.rules.clear();
            }
            "nocommands" | "-@all" => {
                self.all = false;
                self.rules.clear();
            }
            "allkeys" => self.keys = Patterns::everything(),
            "resetkeys" => self.keys = Patterns::default(),
            "allchannels" => self.channels = Patterns::everything(),
            "resetchannels" => self.channels = Patterns::default(),
            "reset" => *self = User::new(),
            _ if raw.starts_with('>') || raw.starts_with('#') => {
                let hash = if raw.starts_with('>') {
                    hash_password(&raw.as_bytes()[1..])
                } else {
                    parse_hash(&raw[1..]).ok_or_else(|| bad(BAD_HASH))?
                };
                self.nopass = false;
                if !self.passwords.contains(&hash) {
                    self.passwords.push(hash);
                }
            }
            _ if raw.starts_with('<') || raw.starts_with('!') => {
                let hash = if raw.starts_with('<') {
                    hash_password(&raw.as_bytes()[1..])
                } else {
                    parse_hash(&raw[1..]).ok_or_else(|| bad(BAD_HASH))?
                };
                if !self.passwords.contains(&hash) {
                    return Err(bad(
                        "The password you are trying to remove from the user does not exist",
                    ));
                }
                self.passwords.retain(|p| *p != hash);
            }
            _ if raw.starts_with('~') => self
                .keys
                .add(&raw.as_bytes()[1..], "keys")
                .map_err(|e| bad(&e))?,
            _ if raw.starts_with('&') => self
                .channels
                .add(&raw.as_bytes()[1..], "channels")
                .map_err(|e| bad(&e))?,
            _ if raw.starts_with('%') => {
                let (flags, glob) = raw[1..]
                    .split_once('~')
                    .ok_or_else(|| bad("Syntax error"))?;
                let flags = flags.to_ascii_uppercase();
                if flags.is_empty() || !flags.chars().all(|c| c == 'R' || c == 'W') {
                    return Err(bad("Syntax error"));
                }
                if !(flags.contains('R') && flags.contains('W')) {
                    return Err(bad(
                        "read-only or write-only key patterns (%R~, %W~) are not supported; use ~pattern",
                    ));
                }
                self.keys
                    .add(glob.as_bytes(), "keys")
                    .map_err(|e| bad(&e))?;
            }
            _ if rule.starts_with("+@") || rule.starts_with("-@") => {
                let cat = &rule[2..];
                if !CATEGORIES.contains(&cat) {
                    return Err(bad(UNKNOWN));
                }
                self.rules
                    .push(Rule::Category(rule.starts_with('+'), cat.to_owned()));
            }
            _ if rule.starts_with('+') || rule.starts_with('-') => {
                let cmd = &rule[1..];
                if let Some((container, _)) = cmd.split_once('|') {
                    // Only the subcommands FincasKV describes; others
                    // are allowed or denied with their container.
                    if super::subcommands::lookup(cmd.as_bytes()).is_none() {
                        return Err(bad(
                            "subcommand rules are not supported for this subcommand; allow or deny the whole command",
                        ));
                    }
                    if !commands(container) {
                        return Err(bad(UNKNOWN));
                    }
                } else if !commands(cmd) {
                    return Err(bad(UNKNOWN));
                }
                self.rules
                    .push(Rule::Command(rule.starts_with('+'), cmd.to_owned()));
            }
            _ => return Err(bad("Syntax error")),
        }
        Ok(())
    }

    /// Checks `pass` (constant time per stored password).
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        let h = hash_password(pass);
        self.nopass || self.passwords.iter().any(|p| constant_time_eq(p, &h))
    }

    /// The `ACL LIST` line of this user.
    fn describe(&self, name: &str) -> String {
        let mut out = format!("user {name} {}", if self.enabled { "on" } else { "off" });
        match self.password_hashes() {
            None => out.push_str(" nopass"),
            Some(hashes) => hashes.iter().for_each(|h| out.push_str(&format!(" #{h}"))),
        }
        let keys = self.keys.describe("~");
        if !keys.is_empty() {
            out.push(' ');
            out.push_str(&keys);
        }
        if !self.channels.all {
            out.push_str(" resetchannels");
        }
        let channels = self.channels.describe("&");
        if !channels.is_empty() {
            out.push(' ');
            out.push_str(&channels);
        }
        out.push(' ');
        out.push_str(&self.commands());
        out
    }

    /// The command rules as ACL LIST / GETUSER spell them.
    fn commands(&self) -> String {
        let mut out = String::from(if self.all { "+@all" } else { "-@all" });
        for r in &self.rules {
            match r {
                Rule::Category(a, c) => {
                    out.push_str(&format!(" {}@{c}", if *a { '+' } else { '-' }))
                }
                Rule::Command(a, c) => out.push_str(&format!(" {}{c}", if *a { '+' } else { '-' })),
            }
        }
        out
    }

    /// The SHA-256 (hex) of each password, or `None` for `nopass`.
    fn password_hashes(&self) -> Option<Vec<String>> {
        (!self.nopass).then(|| self.passwords.iter().map(|p| hex(p)).collect())
    }

    /// `ACL GETUSER`'s reply fields: flags, passwords (shown as ACL LIST
    /// shows them), commands, keys, channels, selectors (none here).
    pub fn getuser(&self) -> Vec<(&'static str, GetUserField)> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }.to_owned()];
        let hashes = self.password_hashes();
        if hashes.is_none() {
            flags.push("nopass".to_owned());
        }
        let passwords = hashes.unwrap_or_default();
        vec![
            ("flags", GetUserField::List(flags)),
            ("passwords", GetUserField::List(passwords)),
            ("commands", GetUserField::Text(self.commands())),
            ("keys", GetUserField::Text(self.keys.describe("~"))),
            ("channels", GetUserField::Text(self.channels.describe("&"))),
            ("selectors", GetUserField::List(Vec::new())),
        ]
    }
}

/// Why a user may not run a call (see [`User::check`]): the command
/// itself, or a key or channel it names.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied<'a> {
    /// The command (named by the caller: `config|get`).
    Command,
    /// This key.
    Key(&'a bytes::Bytes),
    /// This channel (or PSUBSCRIBE pattern).
    Channel(&'a bytes::Bytes),
}

impl Denied<'_> {
    /// The NOPERM error a command gets (`command`: its full name).
    pub fn error(&self, command: &str) -> String {
        match self {
            Denied::Command => {
                format!("NOPERM this user has no permissions to run the '{command}' command")
            }
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .to_owned()
            }
            Denied::Channel(_) => {
                "NOPERM this user has no permissions to access one of the channels used as arguments"
                    .to_owned()
            }
        }
    }

    /// ACL LOG's reason and object for this refusal.
    pub fn logged(&self, command: &str) -> (&'static str, String) {
        match self {
            Denied::Command => ("command", command.to_owned()),
            Denied::Key(k) => ("key", String::from_utf8_lossy(k).into_owned()),
            Denied::Channel(c) => ("channel", String::from_utf8_lossy(c).into_owned()),
        }
    }

    /// ACL DRYRUN's answer, naming the command, key or channel.
    pub fn dryrun(&self, command: &str) -> String {
        match self.logged(command) {
            ("command", name) => {
                format!("This user has no permissions to run the '{name}' command")
            }
            (what, name) => format!("This user has no permissions to access the '{name}' {what}"),
        }
    }
}

/// One value of an `ACL GETUSER` reply.
pub enum GetUserField {
    /// An array of strings.
    List(Vec<String>),
    /// A string.
    Text(String),
}

/// Why a rule was refused: the rule as given and the reason; `unknown`
/// when it names a command or category that does not exist (ACL LOAD
/// reports those in full, other errors only once per line, as Redis).
struct RuleError {
    rule: String,
    why: String,
    unknown: bool,
}

impl RuleError {
    fn new(rule: &str, why: &str) -> RuleError {
        RuleError {
            rule: rule.to_owned(),
            why: why.to_owned(),
            unknown: why == UNKNOWN,
        }
    }

    /// ACL SETUSER's error text.
    fn setuser(&self) -> String {
        format!(
            "ERR Error in ACL SETUSER modifier '{}': {}",
            self.rule, self.why
        )
    }
}

/// Redis's reason for a rule naming no command or category.
const UNKNOWN: &str = "Unknown command or category name in ACL";

/// The users of one server.
#[derive(Debug)]
pub struct Acl {
    users: BTreeMap<String, User>,
    /// True while every user may run every command (no check per command).
    open: bool,
}

impl Default for Acl {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert("default".to_owned(), User::default_user());
        Acl { users, open: true }
    }
}

impl Acl {
    /// The user called `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Whether no user has any restriction (commands skip the check).
    pub fn open(&self) -> bool {
        self.open
    }

    /// Whether `name` may run `spec` (a deleted user may run nothing).
    #[cfg(test)]
    pub fn allows(&self, name: &str, spec: &CommandSpec) -> bool {
        self.users
            .get(name)
            .is_some_and(|u| u.enabled && u.allows(spec))
    }

    /// `ACL SETUSER name rules...`: applies the rules to a copy and stores
    /// it only if every rule is valid (Redis's all-or-nothing).
    pub fn set_user(
        &mut self,
        name: &str,
        rules: &[String],
        commands: &dyn Fn(&str) -> bool,
    ) -> Result<(), String> {
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("ERR Usernames can't contain spaces or null characters".to_owned());
        }
        let mut user = self.users.get(name).cloned().unwrap_or_else(User::new);
        for raw in rules {
            user.apply(raw, commands).map_err(|e| e.setuser())?;
        }
        self.users.insert(name.to_owned(), user);
        self.refresh();
        Ok(())
    }

    /// `requirepass` was set: the default user's only password becomes
    /// `pass` (`nopass` when empty), as Redis 7.0's
    /// `ACLUpdateDefaultUserPassword`.
    pub fn set_requirepass(&mut self, pass: &str) {
        let user = self
            .users
            .entry("default".to_owned())
            .or_insert_with(User::default_user);
        user.passwords.clear();
        user.nopass = pass.is_empty();
        if !pass.is_empty() {
            user.passwords.push(hash_password(pass.as_bytes()));
        }
        self.refresh();
    }

    /// Whether a new connection starts authenticated (as `default`): that
    /// user is `on` and `nopass`.
    pub fn default_needs_no_password(&self) -> bool {
        self.users
            .get("default")
            .is_some_and(|u| u.enabled && u.nopass)
    }

    /// The users of an ACL file (`ACL LOAD`, the server's start): one
    /// `user <name> <rules...>` per line, blank lines skipped; a `default`
    /// the file does not name is the fresh server's. All or nothing: any
    /// error gives every error found, in Redis 7.0's words (`path` names
    /// the file in them).
    pub fn load(path: &str, text: &str, commands: &dyn Fn(&str) -> bool) -> Result<Acl, String> {
        let mut users = parse_users(path, text, commands)?;
        users
            .entry("default".to_owned())
            .or_insert_with(User::default_user);
        let mut acl = Acl { users, open: false };
        acl.refresh();
        Ok(acl)
    }

    /// Users declared in the config file (`user = [...]`, each an ACL
    /// LIST line without its `user` keyword): each replaces the user of
    /// that name, the others stay (a `default` not declared keeps the
    /// password `requirepass` gave it), as Redis's `user` directives.
    pub fn declare(
        &mut self,
        path: &str,
        lines: &[String],
        commands: &dyn Fn(&str) -> bool,
    ) -> Result<(), String> {
        let text: String = lines.iter().map(|l| format!("user {l}\n")).collect();
        let users = parse_users(path, &text, commands)?;
        self.users.extend(users);
        self.refresh();
        Ok(())
    }

    /// What `ACL SAVE` writes: the `ACL LIST` lines, each ended by a newline.
    pub fn save_text(&self) -> String {
        self.list().into_iter().map(|l| l + "\n").collect()
    }

    /// `ACL DELUSER`: how many of `names` existed.
    pub fn delete(&mut self, names: &[String]) -> Result<i64, String> {
        if names.iter().any(|n| n == "default") {
            return Err("ERR The 'default' user cannot be removed".to_owned());
        }
        let n = names
            .iter()
            .filter(|n| self.users.remove(n.as_str()).is_some())
            .count();
        self.refresh();
        Ok(n as i64)
    }

    /// `ACL USERS`.
    pub fn names(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// `ACL LIST`.
    pub fn list(&self) -> Vec<String> {
        self.users.iter().map(|(n, u)| u.describe(n)).collect()
    }

    fn refresh(&mut self) {
        self.open = self.users.len() == 1
            && self
                .users
                .get("default")
                .is_some_and(|u| u.enabled && u.unrestricted());
    }
}

/// One `ACL LOG` entry: a refused command, key, channel or password.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// How many refusals this entry stands for (grouped as Redis does).
    pub count: u64,
    /// `command`, `key`, `channel` or `auth`.
    pub reason: &'static str,
    /// `toplevel` or `multi`.
    pub context: &'static str,
    /// The command, key or channel refused (for `auth`, the command as
    /// the client spelled it).
    pub object: String,
    /// The user refused (for `auth`, the name tried).
    pub username: String,
    /// When the last refusal happened (ms since the epoch).
    pub ctime_ms: u64,
    /// The client's CLIENT INFO line at the last refusal.
    pub client_info: String,
}

/// The last refusals, newest first (`ACL LOG`).
#[derive(Debug, Default)]
pub struct AclLog {
    entries: std::collections::VecDeque<LogEntry>,
}

/// Refusals this close in time with the same reason, context, object and
/// user are one entry with a count (Redis's grouping window).
const LOG_GROUPING_MS: u64 = 60_000;

impl AclLog {
    /// Records a refusal: an entry among the newest 10 that matches it
    /// counts one more and moves to the front, else a new entry goes
    /// there; the log keeps at most `max_len` entries.
    pub fn add(&mut self, mut entry: LogEntry, max_len: usize) {
        let same = |e: &LogEntry| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.object == entry.object
                && e.username == entry.username
                && entry.ctime_ms.saturating_sub(e.ctime_ms) < LOG_GROUPING_MS
        };
        if let Some(i) = self.entries.iter().take(10).position(same) {
            let old = self.entries.remove(i).expect("found above");
            entry.count = old.count + 1;
        }
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }

    /// The newest `count` entries.
    pub fn newest(&self, count: usize) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter().take(count)
    }

    /// `ACL LOG RESET`.
    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

/// The `user <name> <rules...>` lines of `text` (see [`Acl::load`]).
fn parse_users(
    path: &str,
    text: &str,
    commands: &dyn Fn(&str) -> bool,
) -> Result<BTreeMap<String, User>, String> {
    let mut users = BTreeMap::new();
    let mut errors = String::new();
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = line.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
        if words.len() < 2 || words[0] != "user" {
            errors.push_str(&format!(
                "{path}:{n} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = words[1];
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{name}' found on line {n}. "
            ));
            continue;
        }
        let mut user = User::new();
        let mut reported = false;
        for raw in &words[2..] {
            let raw = raw.trim_matches(|c| matches!(c, '\t' | '\r' | '\n'));
            if let Err(e) = user.apply(raw, commands) {
                if e.unknown {
                    errors.push_str(&format!(
                        "{path}:{n}: Error in applying operation '{}': {}. ",
                        e.rule, e.why
                    ));
                } else if !reported {
                    // Other errors may quote a password: the first only.
                    errors.push_str(&format!("{path}:{n}: {}. ", e.why));
                    reported = true;
                }
            }
        }
        users.insert(name.to_owned(), user);
    }
    if !errors.is_empty() {
        errors.push_str(
                "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
            );
        return Err(errors);
    }
    Ok(users)
}

/// Redis's text for a `#` / `!` rule whose hash is malformed.
const BAD_HASH: &str =
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";

/// SHA-256 of a password: what a user keeps and ACL LIST shows, as Redis.
fn hash_password(pass: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, pass);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Lowercase hex of `h` (a hash, a digest).
pub(crate) fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `#` / `!` rule's hash: exactly 64 lowercase hex digits.
fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> &'static CommandSpec {
        crate::command::lookup(name.as_bytes()).expect("a keyspace command")
    }

    #[test]
    fn rules_apply_in_order() {
        let mut acl = Acl::default();
        assert!(acl.open());
        let known = |c: &str| crate::command::lookup(c.as_bytes()).is_some();
        let rules: Vec<String> = ["on", ">pw", "+@read", "-get", "+set"]
            .map(String::from)
            .to_vec();
        acl.set_user("alice", &rules, &known).unwrap();
        assert!(!acl.open());
        assert!(acl.allows("alice", spec("mget")));
        assert!(!acl.allows("alice", spec("get")));
        assert!(acl.allows("alice", spec("set")));
        assert!(!acl.allows("alice", spec("del")));
        assert!(acl.allows("default", spec("del")));
        assert!(acl.user("alice").unwrap().password_ok(b"pw"));
        assert!(!acl.user("alice").unwrap().password_ok(b"px"));
        // All or nothing: a bad rule leaves the user as it was.
        let bad: Vec<String> = ["-@read", "+nosuchcommand"].map(String::from).to_vec();
        assert!(acl.set_user("alice", &bad, &known).is_err());
        assert!(acl.allows("alice", spec("mget")));
        assert!(acl
            .set_user("bob", &["%R~foo*".to_owned()], &known)
            .is_err());
        assert_eq!(acl.delete(&["alice".to_owned(), "zed".to_owned()]), Ok(1));
        assert!(acl.open());
        assert!(!acl.allows("alice", spec("mget")));
        assert!(acl.delete(&["default".to_owned()]).is_err());
    }

    /// Keys must match a `~` pattern, PUBLISH / SUBSCRIBE channels a `&`
    /// pattern, a PSUBSCRIBE pattern must be one of them literally; a new
    /// user has none.
    #[test]
    fn key_and_channel_patterns() {
        let mut acl = Acl::default();
        let known = |c: &str| crate::command::lookup(c.as_bytes()).is_some() || c == "publish";
        let rules: Vec<String> = ["on", "nopass", "~k*", "&ch*", "+@all"]
            .map(String::from)
            .to_vec();
        acl.set_user("kp", &rules, &known).unwrap();
        acl.set_user("bare", &["on".to_owned(), "+@all".to_owned()], &known)
            .unwrap();
        let argv = |a: &[&str]| {
            a.iter()
                .map(|x| bytes::Bytes::copy_from_slice(x.as_bytes()))
                .collect::<Vec<_>>()
        };
        let kp = acl.user("kp").unwrap();
        assert_eq!(
            kp.denies_args(spec("mget"), &argv(&["mget", "k1", "k2"])),
            None
        );
        let args = argv(&["mget", "k1", "x"]);
        assert_eq!(
            kp.denies_args(spec("mget"), &args),
            Some(Denied::Key(&args[2]))
        );
        let publish = CommandSpec {
            name: "publish",
            ..*spec("dbsize")
        };
        assert_eq!(
            kp.denies_args(&publish, &argv(&["publish", "ch1", "m"])),
            None
        );
        let args = argv(&["publish", "x", "m"]);
        let denied = kp
            .denies_args(&publish, &args)
            .expect("x is not a channel of kp");
        assert!(denied.error("publish").contains("channels"));
        assert_eq!(
            denied.dryrun("publish"),
            "This user has no permissions to access the 'x' channel"
        );
        let psub = CommandSpec {
            name: "psubscribe",
            ..*spec("dbsize")
        };
        assert_eq!(kp.denies_args(&psub, &argv(&["psubscribe", "ch*"])), None);
        assert!(kp
            .denies_args(&psub, &argv(&["psubscribe", "ch1*"]))
            .is_some());
        let bare = acl.user("bare").unwrap();
        assert!(bare
            .denies_args(spec("get"), &argv(&["get", "k1"]))
            .is_some());
        assert!(bare
            .denies_args(&publish, &argv(&["publish", "ch1", "m"]))
            .is_some());
        assert!(!acl.open());
        assert!(acl
            .set_user("kp", &["allkeys".to_owned(), "~x".to_owned()], &known)
            .is_err());
        assert!(acl.set_user("kp", &["%R~x".to_owned()], &known).is_err());
    }

    /// ACL LOAD's file: all or nothing, every unknown name reported, only
    /// the first other error of a line; SAVE's text loads back the same.
    #[test]
    fn load_and_save_round_trip() {
        let known = |c: &str| c == "get" || c == "set";
        let text = "user alice on >pw ~k* +get\n\n  user bob off nopass -@all\r\n";
        let acl = Acl::load("f", text, &known).unwrap();
        assert_eq!(acl.names(), ["alice", "bob", "default"]);
        assert!(acl.default_needs_no_password());
        let again = Acl::load("f", &acl.save_text(), &known).unwrap();
        assert_eq!(again.list(), acl.list());
        let err = Acl::load(
            "f",
            "user a +nosuch +nope\nuser b #x >y\nx\nuser a on\n",
            &known,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "f:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. \
             f:1: Error in applying operation '+nope': Unknown command or category name in ACL. \
             f:2: The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters. \
             f:3 should start with user keyword followed by the username. \
             WARNING: Duplicate user 'a' found on line 4. \
             WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
        );
        let mut acl = acl;
        acl.set_requirepass("s");
        assert!(!acl.default_needs_no_password());
        assert!(acl.user("default").unwrap().password_ok(b"s"));
        acl.set_requirepass("");
        assert!(acl.default_needs_no_password());
    }

    /// Refusals with the same reason, context, object and user within a
    /// minute are one entry with a count, moved to the front.
    #[test]
    fn acl_log_groups_repeats() {
        let entry = |object: &str, ms: u64| LogEntry {
            count: 1,
            reason: "command",
            context: "toplevel",
            object: object.to_owned(),
            username: "u".to_owned(),
            ctime_ms: ms,
            client_info: String::new(),
        };
        let mut log = AclLog::default();
        log.add(entry("set", 0), 10);
        log.add(entry("get", 1), 10);
        log.add(entry("set", 2), 10);
        let seen: Vec<(String, u64)> = log
            .newest(10)
            .map(|e| (e.object.clone(), e.count))
            .collect();
        assert_eq!(seen, [("set".to_owned(), 2), ("get".to_owned(), 1)]);
        log.add(entry("set", 2 + LOG_GROUPING_MS), 2);
        log.add(entry("del", 3 + LOG_GROUPING_MS), 2);
        let seen: Vec<(String, u64)> = log
            .newest(10)
            .map(|e| (e.object.clone(), e.count))
            .collect();
        assert_eq!(seen, [("del".to_owned(), 1), ("set".to_owned(), 1)]);
        log.reset();
        assert_eq!(log.newest(10).count(), 0);
    }

    /// `-config|set` denies CONFIG SET only; `+client|list` allows CLIENT
    /// LIST only; `+config` allows every CONFIG subcommand; a category
    /// rule reaches a subcommand by the subcommand's own categories.
    #[test]
    fn subcommand_rules() {
        let sub = |n: &str| {
            &super::super::subcommands::lookup(n.as_bytes())
                .expect(n)
                .spec
        };
        let known = |c: &str| c == "config" || c == "client";
        let mut acl = Acl::default();
        let rules = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        acl.set_user("u", &rules(&["on", "+@all", "-config|set"]), &known)
            .unwrap();
        assert!(!acl.allows("u", sub("config|set")));
        assert!(acl.allows("u", sub("config|get")));
        acl.set_user("v", &rules(&["on", "-@all", "+client|list"]), &known)
            .unwrap();
        assert!(acl.allows("v", sub("client|list")));
        assert!(!acl.allows("v", sub("client|kill")));
        acl.set_user(
            "w",
            &rules(&["on", "-@all", "+config", "-@dangerous"]),
            &known,
        )
        .unwrap();
        assert!(acl.allows("w", sub("config|help")));
        assert!(!acl.allows("w", sub("config|set")));
        assert!(in_category(sub("config|set"), "dangerous"));
        assert!(!in_category(sub("config|help"), "admin"));
        assert!(acl
            .set_user("u", &rules(&["+config|nosuch"]), &known)
            .is_err());
        assert!(acl.set_user("u", &rules(&["+nosuch|get"]), &known).is_err());
    }
}
