//! The connection and server commands: PING ... SHUTDOWN, MULTI/EXEC/WATCH
//! and pub/sub. Each returns its reply (None when it wrote its replies
//! itself, as SUBSCRIBE does, or has none) and whether to close.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

#[cfg(test)]
use super::connection::{full_name, parse_timeout};
use super::connection::{Connection, Flow, Multi, ReplyMode, Subscriptions};
use super::{acl, now_ms, subcommands, table, tracking, Shared};
use crate::command::{CommandSpec, Reply};
use crate::keyspace::{keep, with_script_acl};
use crate::resp::Protocol;

/// The version clients see as `redis_version` (what they check features against).
pub const REDIS_COMPAT_VERSION: &str = "7.0.0";

type Outcome = (Option<Reply>, Flow);

fn done(r: Reply) -> Outcome {
    (Some(r), Flow::Continue)
}

fn err(text: &str) -> Outcome {
    done(Reply::error(text))
}

fn bulk_str(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn lower(a: &[u8]) -> String {
    String::from_utf8_lossy(a).to_ascii_lowercase()
}

fn syntax_error() -> Outcome {
    err("ERR syntax error")
}

fn unknown_subcommand(container: &str, sub: &[u8]) -> Outcome {
    done(Reply::Error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]),
        container
    )))
}

/// Redis's error for a subcommand that counts its own arguments (not the
/// command table), e.g. `CLIENT PAUSE 1 write extra`.
fn loose_arity(container: &str, sub: &[u8]) -> Reply {
    Reply::Error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
        String::from_utf8_lossy(sub)
    ))
}

fn parse_int(a: &[u8]) -> Option<i64> {
    std::str::from_utf8(a).ok()?.parse().ok()
}

fn help(lines: &[&str]) -> Outcome {
    done(Reply::Array(
        lines
            .iter()
            .map(|l| Reply::Simple((*l).to_owned().into()))
            .collect(),
    ))
}

impl Connection {
    /// Runs a server command.
    pub(super) async fn exec_server(
        &mut self,
        spec: &'static CommandSpec,
        argv: &[Bytes],
    ) -> Outcome {
        match spec.name {
            "ping" => self.cmd_ping(argv),
            "echo" => done(Reply::Bulk(argv[1].clone())),
            "quit" => {
                self.reply(&Reply::ok());
                (None, Flow::Close)
            }
            "reset" => self.cmd_reset(),
            "readonly" | "readwrite" => {
                if !self.shared.backend.cluster_enabled() {
                    return done(Reply::error(
                        "ERR This instance has cluster support disabled",
                    ));
                }
                self.readonly = spec.name == "readonly";
                done(Reply::ok())
            }
            "hello" => self.cmd_hello(argv),
            "migrate" => done(self.cmd_migrate(argv).await),
            "auth" => self.cmd_auth(argv),
            "acl" => self.cmd_acl(argv),
            "select" => self.cmd_select(argv),
            "client" => self.cmd_client(argv),
            "info" => done(Reply::Verbatim(Bytes::from(info(&self.shared, &argv[1..])))),
            "config" => self.cmd_config(argv),
            "command" => cmd_command(&self.shared, argv),
            "dbsize" => {
                let n = self
                    .shared
                    .backend
                    .key_counts()
                    .get(self.db)
                    .map_or(0, |c| c.0);
                done(Reply::Integer(n as i64))
            }
            "time" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                done(Reply::Array(vec![
                    bulk_str(&now.as_secs().to_string()),
                    bulk_str(&now.subsec_micros().to_string()),
                ]))
            }
            "pfselftest" => {
                // Ten million additions: off the connection's thread.
                let seed = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64);
                done(
                    tokio::task::spawn_blocking(move || {
                        crate::keyspace::hyperloglog::selftest(seed)
                    })
                    .await
                    .unwrap_or_else(|_| Reply::error("ERR PFSELFTEST failed to run")),
                )
            }
            "lastsave" => done(Reply::Integer(
                self.shared.lastsave.load(Ordering::Relaxed) as i64
            )),
            "save" => done(self.save().await),
            "bgsave" => {
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    let _ = save_with(&shared).await;
                });
                done(Reply::Simple("Background saving started".into()))
            }
            "backup" => done(self.backup(&argv[1]).await),
            "bgrewriteaof" => {
                if self.shared.start_merge() {
                    done(Reply::Simple(
                        "Background append only file rewriting started".into(),
                    ))
                } else {
                    err("ERR Background append only file rewriting already in progress")
                }
            }
            "shutdown" => self.cmd_shutdown(argv),
            "debug" => self.cmd_debug(argv).await,
            "slowlog" => self.cmd_slowlog(argv),
            "monitor" => self.cmd_monitor(),
            "memory" => self.cmd_memory(argv).await,
            "multi" => {
                if self.multi.is_some() {
                    return err("ERR MULTI calls can not be nested");
                }
                self.multi = Some(Multi::default());
                self.handle.multi.store(0, Ordering::Relaxed);
                done(Reply::ok())
            }
            "discard" => {
                if self.multi.take().is_none() {
                    return err("ERR DISCARD without MULTI");
                }
                self.handle.multi.store(-1, Ordering::Relaxed);
                self.unwatch_all();
                done(Reply::ok())
            }
            "exec" => self.cmd_exec().await,
            "watch" => self.cmd_watch(argv),
            "unwatch" => {
                self.unwatch_all();
                done(Reply::ok())
            }
            "subscribe" | "psubscribe" | "ssubscribe" => {
                let pushes = self.subscribe(argv, SubKind::of(spec.name));
                self.write_pushes(pushes)
            }
            "unsubscribe" | "punsubscribe" | "sunsubscribe" => {
                let pushes = self.unsubscribe(argv, SubKind::of(spec.name));
                self.write_pushes(pushes)
            }
            "publish" => {
                let n = self.shared.notifier.pubsub.publish(&argv[1], &argv[2]);
                self.write_own_pushes();
                done(Reply::Integer(n))
            }
            "spublish" => {
                let n = self.shared.notifier.pubsub.spublish(&argv[1], &argv[2]);
                self.write_own_pushes();
                done(Reply::Integer(n))
            }
            "pubsub" => self.cmd_pubsub(argv),
            "latency" => self.cmd_latency(argv),
            "lolwut" => done(super::lolwut::lolwut(argv, REDIS_COMPAT_VERSION)),
            _ => done(super::connection::unknown_command(argv)),
        }
    }

    fn cmd_ping(&mut self, argv: &[Bytes]) -> Outcome {
        if argv.len() > 2 {
            return done(Reply::Error(format!(
                "ERR wrong number of arguments for '{}' command",
                "ping"
            )));
        }
        if self.proto == Protocol::Resp2 && self.subs.is_some() {
            let payload = argv.get(1).cloned().unwrap_or_default();
            return done(Reply::Array(vec![bulk_str("pong"), Reply::Bulk(payload)]));
        }
        match argv.get(1) {
            Some(m) => done(Reply::Bulk(m.clone())),
            None => done(Reply::Simple("PONG".into())),
        }
    }

    fn cmd_reset(&mut self) -> Outcome {
        self.multi = None;
        self.handle.multi.store(-1, Ordering::Relaxed);
        self.unwatch_all();
        self.unsubscribe_all();
        if self.handle.monitor.swap(false, Ordering::Relaxed) {
            let mut m = self.shared.monitors.lock();
            m.retain(|s| s.client_id() != self.handle.id);
            self.shared
                .monitors_active
                .store(!m.is_empty(), Ordering::Relaxed);
        }
        self.db = 0;
        self.handle.db.store(0, Ordering::Relaxed);
        self.readonly = false;
        self.proto = Protocol::Resp2;
        self.handle.resp.store(2, Ordering::Relaxed);
        self.reply_mode = ReplyMode::On;
        *self.handle.name.lock() = None;
        self.shared.notifier.tracking.disable(&self.handle);
        self.set_user("default".to_owned());
        self.authenticated = self.shared.acl.read().default_needs_no_password();
        done(Reply::Simple("RESET".into()))
    }

    /// Checks a password for `user` (None = the default user, AUTH's
    /// one-argument form); returns the user name to switch to. A wrong
    /// password is logged (ACL LOG, `object` = the command as sent).
    fn check_auth(
        &mut self,
        object: &Bytes,
        user: Option<&[u8]>,
        pass: &[u8],
    ) -> Result<String, Reply> {
        let name = user.map_or_else(
            || "default".to_owned(),
            |u| String::from_utf8_lossy(u).into_owned(),
        );
        let ok = {
            let acl = self.shared.acl.read();
            if user.is_none() && acl.user("default").is_some_and(|u| u.nopass) {
                return Err(Reply::error(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                ));
            }
            acl.user(&name)
                .is_some_and(|u| u.enabled && u.password_ok(pass))
        };
        if ok {
            return Ok(name);
        }
        self.log_acl_refusal("auth", String::from_utf8_lossy(object).into_owned(), name);
        Err(Reply::error(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ))
    }

    /// Switches the connection to `user` (AUTH, HELLO AUTH, RESET).
    fn set_user(&mut self, user: String) {
        self.authenticated = true;
        self.handle.user.lock().clone_from(&user);
        self.user = user;
    }

    /// Adds a refusal to ACL LOG.
    pub(super) fn log_acl_refusal(
        &mut self,
        reason: &'static str,
        object: String,
        username: String,
    ) {
        let context = if self.multi.is_some() {
            "multi"
        } else {
            "toplevel"
        };
        self.shared
            .log_acl_refusal(&self.handle, reason, context, object, username);
    }

    /// `ACL SETUSER / DELUSER / USERS / WHOAMI / LIST / CAT`.
    fn cmd_acl(&mut self, argv: &[Bytes]) -> Outcome {
        let sub = lower(&argv[1]);
        let strings = |a: &[Bytes]| -> Vec<String> {
            a.iter()
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect()
        };
        let arity = |ok: bool| {
            (!ok).then(|| {
                Reply::Error(format!(
                    "ERR wrong number of arguments for 'acl|{sub}' command"
                ))
            })
        };
        // CAT, LOG and GENPASS check their argument count themselves in
        // Redis, with another error.
        let loose = |ok: bool| (!ok).then(|| loose_arity("ACL", &argv[1]));
        let shared = self.shared.clone();
        let reply = match sub.as_str() {
            "whoami" => arity(argv.len() == 2).unwrap_or_else(|| bulk_str(&self.user)),
            "users" => arity(argv.len() == 2).unwrap_or_else(|| {
                Reply::Array(
                    shared
                        .acl
                        .read()
                        .names()
                        .iter()
                        .map(|n| bulk_str(n))
                        .collect(),
                )
            }),
            "list" => arity(argv.len() == 2).unwrap_or_else(|| {
                Reply::Array(
                    shared
                        .acl
                        .read()
                        .list()
                        .iter()
                        .map(|l| bulk_str(l))
                        .collect(),
                )
            }),
            "cat" => loose(argv.len() <= 3).unwrap_or_else(|| match argv.get(2) {
                None => Reply::Array(acl::CATEGORIES.iter().map(|c| bulk_str(c)).collect()),
                Some(cat) => {
                    let cat = lower(cat);
                    if !acl::CATEGORIES.contains(&cat.as_str()) {
                        return Reply::Error(format!("ERR Unknown category '{cat}'"));
                    }
                    let mut names: Vec<&str> = with_subcommands(all_commands(&shared))
                        .into_iter()
                        .filter(|s| acl::in_category(s, &cat))
                        .map(|s| s.name)
                        .collect();
                    names.sort_unstable();
                    Reply::Array(names.iter().map(|n| bulk_str(n)).collect())
                }
            }),
            "getuser" => arity(argv.len() == 3).unwrap_or_else(|| {
                let name = String::from_utf8_lossy(&argv[2]).into_owned();
                let acl = shared.acl.read();
                let Some(user) = acl.user(&name) else {
                    return Reply::Nil;
                };
                Reply::Map(
                    user.getuser()
                        .into_iter()
                        .map(|(k, v)| {
                            let v = match v {
                                acl::GetUserField::List(l) => {
                                    Reply::Array(l.iter().map(|x| bulk_str(x)).collect())
                                }
                                acl::GetUserField::Text(t) => bulk_str(&t),
                            };
                            (bulk_str(k), v)
                        })
                        .collect(),
                )
            }),
            "dryrun" => arity(argv.len() >= 4).unwrap_or_else(|| {
                let name = String::from_utf8_lossy(&argv[2]).into_owned();
                let call = &argv[3..];
                let Some(spec) = self.lookup(&call[0]) else {
                    return Reply::Error(format!(
                        "ERR Command '{}' not found",
                        String::from_utf8_lossy(&call[0])
                    ));
                };
                let acl = shared.acl.read();
                let Some(user) = acl.user(&name) else {
                    return Reply::Error(format!("ERR User '{name}' not found"));
                };
                let checked = subcommands::of_call(spec, call).unwrap_or(spec);
                if !spec.arity_ok(call.len()) || !checked.arity_ok(call.len()) {
                    return Reply::Error(format!(
                        "ERR wrong number of arguments for '{}' command",
                        super::connection::full_name(spec, call)
                    ));
                }
                match user.check(spec, checked, call) {
                    Some(d) => bulk_str(&d.dryrun(&super::connection::full_name(spec, call))),
                    None => Reply::ok(),
                }
            }),
            "deluser" => arity(argv.len() >= 3).unwrap_or_else(|| {
                let names = strings(&argv[2..]);
                match shared.update_acl(|acl| acl.delete(&names)) {
                    Ok(n) => {
                        shared.kill_clients_of(&names);
                        Reply::Integer(n)
                    }
                    Err(e) => Reply::Error(e),
                }
            }),
            "setuser" => arity(argv.len() >= 3).unwrap_or_else(|| {
                let name = String::from_utf8_lossy(&argv[2]).into_owned();
                let known = |c: &str| self.lookup(c.as_bytes()).is_some();
                let result =
                    shared.update_acl(|acl| acl.set_user(&name, &strings(&argv[3..]), &known));
                match result {
                    Ok(()) => Reply::ok(),
                    Err(e) => Reply::Error(e),
                }
            }),
            "log" => loose(argv.len() <= 3).unwrap_or_else(|| acl_log(&shared, argv.get(2))),
            "save" => arity(argv.len() == 2).unwrap_or_else(|| acl_save(&shared)),
            "load" => arity(argv.len() == 2).unwrap_or_else(|| {
                let known = |c: &str| self.lookup(c.as_bytes()).is_some();
                acl_load(&shared, &known)
            }),
            "genpass" => loose(argv.len() <= 3).unwrap_or_else(|| {
                let bits = match argv.get(2).map(|b| parse_int(b)) {
                    None => 256,
                    Some(Some(b)) if (1..=4096).contains(&b) => b,
                    Some(Some(_)) => {
                        return Reply::error(
                            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
                        )
                    }
                    Some(None) => {
                        return Reply::error("ERR value is not an integer or out of range")
                    }
                };
                let chars = (bits as usize).div_ceil(4);
                let mut raw = vec![0u8; chars.div_ceil(2)];
                if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
                    .is_err()
                {
                    return Reply::error("ERR cannot read random bytes for ACL GENPASS");
                }
                let mut pass = acl::hex(&raw);
                pass.truncate(chars);
                bulk_str(&pass)
            }),
            "help" if argv.len() > 2 => arity(false).expect("an error"),
            "help" => {
                return help(&[
                    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "CAT [<category>]",
                    "    List all commands that belong to <category>, or all command categories",
                    "    when no category is specified.",
                    "DELUSER <username> [<username> ...]",
                    "    Delete a list of users.",
                    "DRYRUN <username> <command> [<arg> ...]",
                    "    Returns whether the user can execute the given command without executing the command.",
                    "GETUSER <username>",
                    "    Get the user's details.",
                    "GENPASS [<bits>]",
                    "    Generate a secure 256-bit user password. The optional `bits` argument can",
                    "    be used to specify a different size.",
                    "LIST",
                    "    Show users details in config file format.",
                    "LOAD",
                    "    Reload users from the ACL file.",
                    "LOG [<count> | RESET]",
                    "    Show the ACL log entries.",
                    "SAVE",
                    "    Save the current config to the ACL file.",
                    "SETUSER <username> <attribute> [<attribute> ...]",
                    "    Create or modify a user with the specified attributes.",
                    "USERS",
                    "    List all the registered usernames.",
                    "WHOAMI",
                    "    Return the current connection username.",
                    "HELP",
                    "    Prints this help.",
                ])
            }
            _ => Reply::Error(format!(
                "ERR unknown subcommand '{}'. Try ACL HELP.",
                String::from_utf8_lossy(&argv[1])
            )),
        };
        done(reply)
    }

    fn cmd_auth(&mut self, argv: &[Bytes]) -> Outcome {
        let res = match argv.len() {
            2 => self.check_auth(&argv[0], None, &argv[1]),
            3 => self.check_auth(&argv[0], Some(&argv[1]), &argv[2]),
            _ => return syntax_error(),
        };
        match res {
            Ok(user) => {
                self.set_user(user);
                done(Reply::ok())
            }
            Err(e) => done(e),
        }
    }

    fn cmd_hello(&mut self, argv: &[Bytes]) -> Outcome {
        let mut proto = self.proto;
        if argv.len() >= 2 {
            match parse_int(&argv[1]) {
                Some(2) => proto = Protocol::Resp2,
                Some(3) => proto = Protocol::Resp3,
                Some(_) => return err("NOPROTO unsupported protocol version"),
                None => return err("ERR Protocol version is not an integer or out of range"),
            }
        }
        let mut i = 2;
        let mut setname = None;
        while i < argv.len() {
            let opt = lower(&argv[i]);
            if opt == "auth" && i + 2 < argv.len() {
                match self.check_auth(&argv[0], Some(&argv[i + 1]), &argv[i + 2]) {
                    Ok(user) => self.set_user(user),
                    Err(e) => return done(e),
                }
                i += 3;
            } else if opt == "setname" && i + 1 < argv.len() {
                if let Err(e) = validate_client_name(&argv[i + 1]) {
                    return done(e);
                }
                setname = Some(keep(&argv[i + 1]));
                i += 2;
            } else {
                return done(Reply::Error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&argv[i])
                )));
            }
        }
        if !self.authenticated {
            return err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        if let Some(name) = setname {
            *self.handle.name.lock() = if name.is_empty() { None } else { Some(name) };
        }
        self.proto = proto;
        self.handle
            .resp
            .store(proto.version() as u64, Ordering::Relaxed);
        done(Reply::Map(vec![
            (bulk_str("server"), bulk_str("redis")),
            (bulk_str("version"), bulk_str(REDIS_COMPAT_VERSION)),
            (bulk_str("proto"), Reply::Integer(proto.version())),
            (bulk_str("id"), Reply::Integer(self.handle.id as i64)),
            (bulk_str("mode"), bulk_str("standalone")),
            (bulk_str("role"), bulk_str("master")),
            (bulk_str("modules"), Reply::Array(Vec::new())),
        ]))
    }

    fn cmd_select(&mut self, argv: &[Bytes]) -> Outcome {
        let Some(n) = parse_int(&argv[1]) else {
            return err("ERR value is not an integer or out of range");
        };
        if n < 0 || n as usize >= self.shared.backend.databases() {
            return err("ERR DB index is out of range");
        }
        self.db = n as usize;
        self.handle.db.store(self.db, Ordering::Relaxed);
        done(Reply::ok())
    }

    fn cmd_client(&mut self, argv: &[Bytes]) -> Outcome {
        let sub = lower(&argv[1]);
        let wrong_args = || {
            done(Reply::Error(format!(
                "ERR wrong number of arguments for 'client|{sub}' command"
            )))
        };
        match sub.as_str() {
            "id" if argv.len() == 2 => done(Reply::Integer(self.handle.id as i64)),
            "getname" if argv.len() == 2 => done(
                self.handle
                    .name
                    .lock()
                    .clone()
                    .map_or(Reply::Nil, Reply::Bulk),
            ),
            "setname" if argv.len() == 3 => {
                if let Err(e) = validate_client_name(&argv[2]) {
                    return done(e);
                }
                *self.handle.name.lock() = if argv[2].is_empty() {
                    None
                } else {
                    Some(keep(&argv[2]))
                };
                done(Reply::ok())
            }
            "info" if argv.len() == 2 => done(Reply::Verbatim(Bytes::from(format!(
                "{}\n",
                self.handle.info_line()
            )))),
            "list" => self.client_list(&argv[2..]),
            "kill" if argv.len() >= 3 => self.client_kill(&argv[2..]),
            "setinfo" if argv.len() == 4 => {
                let attr = lower(&argv[2]);
                let value = String::from_utf8_lossy(&argv[3]).into_owned();
                if value.bytes().any(|c| !(b'!'..=b'~').contains(&c)) {
                    return done(Reply::Error(format!(
                        "ERR {attr} cannot contain spaces, newlines or special characters."
                    )));
                }
                match attr.as_str() {
                    "lib-name" => self.handle.lib.lock().0 = value,
                    "lib-ver" => self.handle.lib.lock().1 = value,
                    _ => {
                        return done(Reply::Error(format!(
                            "ERR Unrecognized option '{}'",
                            String::from_utf8_lossy(&argv[2])
                        )))
                    }
                }
                done(Reply::ok())
            }
            "no-evict" | "no-touch" if argv.len() == 3 => match lower(&argv[2]).as_str() {
                "on" | "off" => done(Reply::ok()),
                _ => syntax_error(),
            },
            "reply" if argv.len() == 3 => match lower(&argv[2]).as_str() {
                "on" => {
                    self.reply_mode = ReplyMode::On;
                    done(Reply::ok())
                }
                "off" => {
                    self.reply_mode = ReplyMode::Off;
                    (None, Flow::Continue)
                }
                "skip" => {
                    // No reply to this command, nor to the next one.
                    if self.reply_mode == ReplyMode::On {
                        self.reply_mode = ReplyMode::SkipNext;
                    }
                    (None, Flow::Continue)
                }
                _ => syntax_error(),
            },
            "getredir" if argv.len() == 2 => done(Reply::Integer(
                self.shared.notifier.tracking.info(self.handle.id).redirect,
            )),
            "tracking" if argv.len() >= 3 => self.client_tracking(&argv[2..]),
            "pause" if argv.len() == 3 || argv.len() == 4 => {
                let Some(ms) = parse_int(&argv[2]) else {
                    return err("ERR timeout is not an integer or out of range");
                };
                if ms < 0 {
                    return err("ERR timeout is negative");
                }
                let all = match argv.get(3).map(|m| lower(m)).as_deref() {
                    None | Some("all") => true,
                    Some("write") => false,
                    Some(_) => return err("ERR CLIENT PAUSE mode must be WRITE or ALL"),
                };
                let until = tokio::time::Instant::now() + Duration::from_millis(ms as u64);
                // A pause already in force keeps its later end and its
                // wider mode.
                self.shared.pause.send_modify(|p| {
                    let (until, all) = match p.filter(|p| p.until > tokio::time::Instant::now()) {
                        Some(old) => (old.until.max(until), old.all || all),
                        None => (until, all),
                    };
                    *p = Some(super::Pause { until, all });
                });
                done(Reply::ok())
            }
            "pause" | "unblock" if argv.len() > 4 => done(loose_arity("CLIENT", &argv[1])),
            "unpause" if argv.len() == 2 => {
                self.shared.pause.send_replace(None);
                done(Reply::ok())
            }
            "unblock" if argv.len() == 3 || argv.len() == 4 => {
                let Some(id) = parse_int(&argv[2]) else {
                    return err("ERR value is not an integer or out of range");
                };
                let error = match argv.get(3).map(|r| lower(r)).as_deref() {
                    None | Some("timeout") => false,
                    Some("error") => true,
                    Some(_) => return err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
                };
                let target = self
                    .shared
                    .client(id)
                    .filter(|c| c.blocked.load(Ordering::Relaxed));
                match target {
                    Some(c) => {
                        c.unblock_error.store(error, Ordering::Release);
                        c.unblock.notify_waiters();
                        done(Reply::Integer(1))
                    }
                    None => done(Reply::Integer(0)),
                }
            }
            "trackinginfo" if argv.len() == 2 => {
                let info = self.shared.notifier.tracking.info(self.handle.id);
                done(Reply::Map(vec![
                    (
                        bulk_str("flags"),
                        Reply::Set(info.flags.iter().map(|f| bulk_str(f)).collect()),
                    ),
                    (bulk_str("redirect"), Reply::Integer(info.redirect)),
                    (
                        bulk_str("prefixes"),
                        Reply::Array(info.prefixes.into_iter().map(Reply::Bulk).collect()),
                    ),
                ]))
            }
            "caching" if argv.len() == 3 => {
                let answer = lower(&argv[2]);
                match self.shared.notifier.tracking.caching(self.handle.id, &answer) {
                    Ok(()) => done(Reply::ok()),
                    Err(e) => err(e),
                }
            }
            "help" => help(&[
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "GETNAME",
                "SETNAME <name>",
                "INFO",
                "LIST [TYPE normal|pubsub] [ID id ...]",
                "KILL <ip:port> | KILL [ID id] [ADDR ip:port] [LADDR ip:port] [SKIPME yes|no]",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "NO-EVICT (ON|OFF)",
                "NO-TOUCH (ON|OFF)",
                "REPLY (ON|OFF|SKIP)",
                "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]",
                "TRACKINGINFO",
                "CACHING (YES|NO)",
                "GETREDIR",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "PAUSE <timeout> [WRITE|ALL]",
                "UNPAUSE",
                "HELP",
            ]),
            "id" | "getname" | "setname" | "info" | "kill" | "setinfo" | "no-evict"
            | "no-touch" | "reply" | "getredir" | "tracking" | "trackinginfo" | "caching"
            | "unblock" | "pause" | "unpause" => {
                wrong_args()
            }
            _ => unknown_subcommand("CLIENT", &argv[1]),
        }
    }

    /// `CLIENT TRACKING on|off [options]`, with Redis 7.0's checks in its
    /// order.
    fn client_tracking(&mut self, args: &[Bytes]) -> Outcome {
        let on = match lower(&args[0]).as_str() {
            "on" => true,
            "off" => false,
            _ => return syntax_error(),
        };
        let mut opts = tracking::Options::default();
        let mut target = None;
        let mut i = 1;
        while i < args.len() {
            let more = i + 1 < args.len();
            match lower(&args[i]).as_str() {
                "redirect" if more => {
                    i += 1;
                    if opts.redirect != 0 {
                        return err("ERR A client can only redirect to a single other client");
                    }
                    let Some(id) = parse_int(&args[i]) else {
                        return err("ERR value is not an integer or out of range");
                    };
                    let Some(t) = self.shared.client(id) else {
                        return err("ERR The client ID you want redirect to does not exist");
                    };
                    opts.redirect = t.id;
                    target = Some(t);
                }
                "bcast" => opts.bcast = true,
                "optin" => opts.optin = true,
                "optout" => opts.optout = true,
                "noloop" => opts.noloop = true,
                "prefix" if more => {
                    i += 1;
                    opts.prefixes.push(keep(&args[i]));
                }
                _ => return syntax_error(),
            }
            i += 1;
        }
        let shared = self.shared.clone();
        let tracking = &shared.notifier.tracking;
        if !on {
            tracking.disable(&self.handle);
            return done(Reply::ok());
        }
        if !opts.bcast && !opts.prefixes.is_empty() {
            return err("ERR PREFIX option requires BCAST mode to be enabled");
        }
        let sender = self.push_sender();
        match tracking.enable(&self.handle, sender, target, opts) {
            Ok(()) => done(Reply::ok()),
            Err(e) => done(Reply::Error(e)),
        }
    }

    fn client_list(&self, args: &[Bytes]) -> Outcome {
        let mut ids: Option<Vec<u64>> = None;
        let mut kind: Option<String> = None;
        let mut i = 0;
        while i < args.len() {
            match lower(&args[i]).as_str() {
                "type" if i + 1 < args.len() => {
                    let t = lower(&args[i + 1]);
                    if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                        return done(Reply::Error(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(&args[i + 1])
                        )));
                    }
                    kind = Some(t);
                    i += 2;
                }
                "id" if i + 1 < args.len() => {
                    let mut v = Vec::new();
                    i += 1;
                    while i < args.len() {
                        match parse_int(&args[i]) {
                            Some(n) if n > 0 => v.push(n as u64),
                            _ => return err("ERR Invalid client ID"),
                        }
                        i += 1;
                    }
                    ids = Some(v);
                }
                _ => return syntax_error(),
            }
        }
        let clients: Vec<_> = self.shared.clients.lock().values().cloned().collect();
        let mut out = String::new();
        for c in clients {
            if ids.as_ref().is_some_and(|v| !v.contains(&c.id)) {
                continue;
            }
            let is_pubsub = c.is_subscriber();
            match kind.as_deref() {
                Some("pubsub") if !is_pubsub => continue,
                Some("normal") if is_pubsub => continue,
                Some("master" | "replica" | "slave") => continue,
                _ => {}
            }
            out.push_str(&c.info_line());
            out.push('\n');
        }
        done(Reply::Verbatim(Bytes::from(out)))
    }

    fn client_kill(&self, args: &[Bytes]) -> Outcome {
        let clients: Vec<_> = self.shared.clients.lock().values().cloned().collect();
        if args.len() == 1 {
            // Old form: CLIENT KILL ip:port.
            let addr = String::from_utf8_lossy(&args[0]).into_owned();
            return match clients.iter().find(|c| c.addr.to_string() == addr) {
                Some(c) => {
                    c.kill();
                    done(Reply::ok())
                }
                None => err("ERR No such client"),
            };
        }
        if args.len() % 2 != 0 {
            return syntax_error();
        }
        let mut id = None;
        let mut addr = None;
        let mut laddr = None;
        let mut skipme = true;
        let mut kind = None;
        let mut user = None;
        for pair in args.chunks(2) {
            let v = String::from_utf8_lossy(&pair[1]).into_owned();
            match lower(&pair[0]).as_str() {
                "id" => match parse_int(&pair[1]) {
                    Some(n) if n > 0 => id = Some(n as u64),
                    _ => return err("ERR client-id should be greater than 0"),
                },
                "addr" => addr = Some(v),
                "laddr" => laddr = Some(v),
                "skipme" => match v.to_ascii_lowercase().as_str() {
                    "yes" => skipme = true,
                    "no" => skipme = false,
                    _ => return syntax_error(),
                },
                "type" => kind = Some(v.to_ascii_lowercase()),
                "user" => {
                    if self.shared.acl.read().user(&v).is_none() {
                        return done(Reply::Error(format!("ERR No such user '{v}'")));
                    }
                    user = Some(v);
                }
                "maxage" => {}
                _ => return syntax_error(),
            }
        }
        let mut killed = 0;
        for c in clients {
            if id.is_some_and(|i| i != c.id)
                || addr.as_ref().is_some_and(|a| *a != c.addr.to_string())
                || laddr.as_ref().is_some_and(|a| *a != c.laddr.to_string())
                || (skipme && c.id == self.handle.id)
                || user.as_ref().is_some_and(|u| *u != *c.user.lock())
            {
                continue;
            }
            let is_pubsub = c.is_subscriber();
            match kind.as_deref() {
                Some("pubsub") if !is_pubsub => continue,
                Some("normal") if is_pubsub => continue,
                Some("master" | "replica" | "slave") => continue,
                _ => {}
            }
            c.kill();
            killed += 1;
        }
        done(Reply::Integer(killed))
    }

    fn cmd_config(&mut self, argv: &[Bytes]) -> Outcome {
        let sub = lower(&argv[1]);
        match sub.as_str() {
            "get" if argv.len() >= 3 => {
                let cfg = self.shared.config.read();
                let mut seen = std::collections::BTreeMap::new();
                for pattern in &argv[2..] {
                    for (k, v) in cfg.matching(&pattern.to_ascii_lowercase()) {
                        seen.insert(k, v);
                    }
                }
                done(Reply::Map(
                    seen.into_iter()
                        .map(|(k, v)| (bulk_str(&k), bulk_str(&v)))
                        .collect(),
                ))
            }
            "set" if argv.len() >= 4 && argv.len() % 2 == 0 => {
                let mut cfg = self.shared.config.write();
                let mut next = cfg.clone();
                for pair in argv[2..].chunks(2) {
                    let name = lower(&pair[0]);
                    let value = String::from_utf8_lossy(&pair[1]).into_owned();
                    if next.get(&name).is_none() {
                        return done(Reply::Error(format!(
                            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                        )));
                    }
                    if let Err(e) = next.set(&name, &value) {
                        return done(Reply::Error(format!(
                            "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                        )));
                    }
                }
                let pass = (next.requirepass != cfg.requirepass).then(|| next.requirepass.clone());
                self.shared.notifier.set_event_classes(next.event_classes());
                *cfg = next;
                drop(cfg);
                if let Some(p) = pass {
                    // requirepass is a setter of the default user's password.
                    self.shared.update_acl(|acl| acl.set_requirepass(&p));
                }
                self.shared.config_gen.fetch_add(1, Ordering::AcqRel);
                self.shared.check_maxmemory();
                done(Reply::ok())
            }
            "resetstat" if argv.len() == 2 => {
                let s = &self.shared.stats;
                s.commandstats.lock().clear();
                for c in [
                    &s.connections_received,
                    &s.rejected_connections,
                    &s.commands_processed,
                    &s.net_input_bytes,
                    &s.net_output_bytes,
                ] {
                    c.store(0, Ordering::Relaxed);
                }
                self.shared.backend.reset_lookup_stats();
                done(Reply::ok())
            }
            "rewrite" if argv.len() == 2 => {
                let mut cfg = self.shared.config.read().clone();
                if cfg.aclfile.is_empty() {
                    // The users go in the config file, as Redis's `user`
                    // lines.
                    cfg.user = self
                        .shared
                        .acl
                        .read()
                        .list()
                        .into_iter()
                        .map(|l| l.strip_prefix("user ").unwrap_or(&l).to_owned())
                        .collect();
                }
                let Some(path) = cfg.config_file.clone() else {
                    return err("ERR The server is running without a config file");
                };
                match std::fs::write(&path, cfg.to_toml()) {
                    Ok(()) => done(Reply::ok()),
                    Err(e) => done(Reply::Error(format!("ERR Rewriting config file: {e}"))),
                }
            }
            "help" => help(&[
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern> [<pattern> ...]",
                "SET <directive> <value> [<directive> <value> ...]",
                "RESETSTAT",
                "REWRITE",
                "HELP",
            ]),
            "get" | "set" | "resetstat" | "rewrite" => done(Reply::Error(format!(
                "ERR wrong number of arguments for 'config|{sub}' command"
            ))),
            _ => unknown_subcommand("CONFIG", &argv[1]),
        }
    }

    /// `BACKUP <dest>`: an online, consistent copy of the data directory
    /// (hard links for sealed files, a copy of the active file's prefix)
    /// into `dest`, which must not exist or be empty. Updates LASTSAVE.
    async fn backup(&mut self, dest: &Bytes) -> Reply {
        let Ok(dest) = std::str::from_utf8(dest) else {
            return Reply::error("ERR backup destination must be a UTF-8 path");
        };
        if dest.is_empty() || dest.contains('\0') {
            return Reply::error("ERR invalid backup destination");
        }
        let dest = std::path::PathBuf::from(dest);
        let backend = self.shared.backend.clone();
        let res = tokio::task::spawn_blocking(move || backend.backup(&dest)).await;
        match res {
            Ok(Ok(summary)) => {
                tracing::info!("{summary}");
                self.shared
                    .lastsave
                    .store(now_ms() / 1000, Ordering::Relaxed);
                Reply::ok()
            }
            Ok(Err(e)) => Reply::Error(format!("ERR backup failed: {e}")),
            Err(e) => Reply::Error(format!("ERR backup failed: {e}")),
        }
    }

    async fn save(&mut self) -> Reply {
        match save_with(&self.shared).await {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::Error(format!("ERR {e}")),
        }
    }

    fn cmd_shutdown(&mut self, argv: &[Bytes]) -> Outcome {
        let mut save = true;
        for a in &argv[1..] {
            match lower(a).as_str() {
                "nosave" => save = false,
                "save" | "now" | "force" => {}
                "abort" => return err("ERR No shutdown in progress."),
                _ => return syntax_error(),
            }
        }
        tracing::info!(client = self.handle.id, save, "SHUTDOWN requested");
        self.shared.request_shutdown(save);
        (None, Flow::Close)
    }

    async fn cmd_debug(&mut self, argv: &[Bytes]) -> Outcome {
        let sub = lower(&argv[1]);
        match sub.as_str() {
            "sleep" if argv.len() == 3 => {
                let secs: f64 = String::from_utf8_lossy(&argv[2]).parse().unwrap_or(0.0);
                if secs > 0.0 && secs.is_finite() {
                    tokio::time::sleep(Duration::from_secs_f64(secs.min(3600.0))).await;
                }
                done(Reply::ok())
            }
            "reload" => done(self.save().await),
            "digest" if argv.len() == 2 => {
                let backend = self.shared.backend.clone();
                match tokio::task::spawn_blocking(move || backend.digest()).await {
                    Ok(Some(d)) => done(Reply::Simple(acl::hex(&d).into())),
                    Ok(None) => err("ERR DEBUG DIGEST is not supported by this backend"),
                    Err(_) => err("ERR internal error"),
                }
            }
            "set-active-expire" if argv.len() == 3 => {
                self.shared
                    .active_expire
                    .store(argv[2].as_ref() != b"0", Ordering::Relaxed);
                done(Reply::ok())
            }
            "help" => help(&[
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "SLEEP <seconds>",
                "RELOAD (fsyncs the data files)",
                "DIGEST (a digest of the whole dataset; equal on nodes holding the same data)",
                "SET-ACTIVE-EXPIRE <0|1>",
                "HELP",
            ]),
            _ => unknown_subcommand("DEBUG", &argv[1]),
        }
    }

    fn cmd_slowlog(&mut self, argv: &[Bytes]) -> Outcome {
        let sub = lower(&argv[1]);
        match sub.as_str() {
            "get" if argv.len() <= 3 => {
                let count = match argv.get(2) {
                    None => 10,
                    Some(a) => match parse_int(a) {
                        Some(-1) => usize::MAX,
                        Some(n) if n >= 0 => n as usize,
                        _ => return err("ERR count should be greater than or equal to -1"),
                    },
                };
                let log = self.shared.slowlog.lock();
                done(Reply::Array(
                    log.entries
                        .iter()
                        .take(count)
                        .map(|e| {
                            Reply::Array(vec![
                                Reply::Integer(e.id as i64),
                                Reply::Integer(e.time as i64),
                                Reply::Integer(e.micros as i64),
                                Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                                bulk_str(&e.addr),
                                bulk_str(&e.name),
                            ])
                        })
                        .collect(),
                ))
            }
            "len" if argv.len() == 2 => done(Reply::Integer(
                self.shared.slowlog.lock().entries.len() as i64,
            )),
            "reset" if argv.len() == 2 => {
                self.shared.slowlog.lock().entries.clear();
                done(Reply::ok())
            }
            "help" => help(&[
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "LEN",
                "RESET",
                "HELP",
            ]),
            "get" | "len" | "reset" => done(Reply::Error(format!(
                "ERR wrong number of arguments for 'slowlog|{sub}' command"
            ))),
            _ => unknown_subcommand("SLOWLOG", &argv[1]),
        }
    }

    fn cmd_monitor(&mut self) -> Outcome {
        if !self.handle.monitor.swap(true, Ordering::Relaxed) {
            let tx = self.push_sender();
            let mut m = self.shared.monitors.lock();
            m.push(tx);
            self.shared.monitors_active.store(true, Ordering::Relaxed);
        }
        done(Reply::ok())
    }

    async fn cmd_memory(&mut self, argv: &[Bytes]) -> Outcome {
        let sub = lower(&argv[1]);
        match sub.as_str() {
            "usage" if argv.len() == 3 || argv.len() == 5 => {
                let key = argv[2].clone();
                let ty = self
                    .run_keyspace(vec![Bytes::from_static(b"type"), key.clone()])
                    .await;
                let ty = match ty {
                    Reply::Simple(s) => s,
                    other => return done(other),
                };
                let len_cmd: &'static [u8] = match &*ty {
                    "none" => return done(Reply::Nil),
                    "string" => b"strlen",
                    "list" => b"llen",
                    "hash" => b"hlen",
                    "set" => b"scard",
                    "zset" => b"zcard",
                    "stream" => b"xlen",
                    _ => b"",
                };
                let n = if len_cmd.is_empty() {
                    0
                } else {
                    match self
                        .run_keyspace(vec![Bytes::from_static(len_cmd), key.clone()])
                        .await
                    {
                        Reply::Integer(n) => n,
                        _ => 0,
                    }
                };
                // An estimate: the keydir entry plus per-element bookkeeping
                // (values of collections live on disk, see docs).
                let per_elem = match &*ty {
                    "string" => 1,
                    // An entry keeps its id, its fields and values in memory.
                    "stream" => 96,
                    _ => 48,
                };
                done(Reply::Integer(64 + key.len() as i64 + n * per_elem))
            }
            "doctor" => done(Reply::Verbatim(Bytes::from_static(
                b"Sam, I have no memory problems",
            ))),
            "stats" if argv.len() == 2 => done(memory_stats(&self.shared)),
            "malloc-stats" if argv.len() == 2 => done(Reply::Bulk(Bytes::from_static(
                b"Stats not supported for the current allocator",
            ))),
            "purge" if argv.len() == 2 => {
                purge_heap();
                done(Reply::ok())
            }
            "help" => help(&[
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Prints this help.",
            ]),
            "usage" | "stats" | "malloc-stats" | "purge" => done(Reply::Error(format!(
                "ERR wrong number of arguments for 'memory|{sub}' command"
            ))),
            _ => unknown_subcommand("MEMORY", &argv[1]),
        }
    }

    async fn run_keyspace(&mut self, argv: Vec<Bytes>) -> Reply {
        let ctx = self.ctx();
        self.shared.backend.execute(&ctx, &argv)
    }

    pub(super) fn unwatch_all(&mut self) {
        if let Some(w) = self.watching.take() {
            let keys: Vec<(usize, Bytes)> =
                w.keys.iter().map(|(d, k, _)| (*d, k.clone())).collect();
            self.shared.notifier.unwatch(&keys, &w.dirty);
        }
    }

    fn cmd_watch(&mut self, argv: &[Bytes]) -> Outcome {
        if self.multi.is_some() {
            return err("ERR WATCH inside MULTI is not allowed");
        }
        let mut w = self.watching.take().unwrap_or_default();
        for key in &argv[1..] {
            if w.keys.iter().any(|(d, k, _)| *d == self.db && k == key) {
                continue;
            }
            // A watch can last as long as the connection.
            let key = &keep(key);
            self.shared.notifier.watch(self.db, key.clone(), &w.dirty);
            let ctx = self.ctx();
            let existed = matches!(
                self.shared.backend.execute(&ctx, &[Bytes::from_static(b"exists"), key.clone()]),
                Reply::Integer(n) if n > 0
            );
            if existed {
                self.shared.notifier.watched_live(self.db, key, &w.dirty);
            }
            w.keys.push((self.db, key.clone(), existed));
        }
        self.watching = Some(w);
        done(Reply::ok())
    }

    /// Whether EXEC must abort because of WATCH: a watched key changed, or
    /// expired since it was watched.
    fn watch_broken(&mut self) -> bool {
        let Some(w) = self.watching.as_ref() else {
            return false;
        };
        if w.dirty.load(Ordering::Acquire) {
            return true;
        }
        let existed: Vec<(usize, Bytes)> = w
            .keys
            .iter()
            .filter(|(_, _, e)| *e)
            .map(|(d, k, _)| (*d, k.clone()))
            .collect();
        for (db, key) in existed {
            let mut ctx = self.ctx();
            ctx.db = db;
            let gone = matches!(
                self.shared
                    .backend
                    .execute(&ctx, &[Bytes::from_static(b"exists"), key]),
                Reply::Integer(0)
            );
            if gone {
                return true;
            }
        }
        false
    }

    async fn cmd_exec(&mut self) -> Outcome {
        let Some(multi) = self.multi.take() else {
            return err("ERR EXEC without MULTI");
        };
        self.handle.multi.store(-1, Ordering::Relaxed);
        if multi.failed {
            self.unwatch_all();
            return err("EXECABORT Transaction discarded because of previous errors.");
        }
        if self.handle.is_tracking() {
            // The transaction's reads are tracked as if run one by one.
            let keys: Vec<Bytes> = multi
                .queued
                .iter()
                .filter(|(spec, _)| spec.flags.readonly)
                .flat_map(|(spec, argv)| {
                    crate::command::keys::key_positions(spec, argv)
                        .into_iter()
                        .filter_map(|i| argv.get(i).cloned())
                })
                .collect();
            let keys: Vec<&Bytes> = keys.iter().collect();
            self.shared
                .notifier
                .tracking
                .after_command(self.handle.id, true, true, &keys);
        }
        if self.watching.is_some()
            && multi
                .queued
                .iter()
                .all(|(s, _)| !table::is_server_command(s))
        {
            // The common case: check the watched keys and run the
            // transaction while no other client's write can run (the gate),
            // so nothing slips in between the check and the execution.
            let notifier = self.shared.notifier.clone();
            let reply = {
                let _exclusive = notifier.exec_gate.write();
                if self.watch_broken() {
                    Reply::NilArray
                } else {
                    let cmds: Vec<Vec<Bytes>> = multi.queued.into_iter().map(|(_, a)| a).collect();
                    let ctx = self.ctx();
                    let acl = self.script_acl();
                    Reply::Array(with_script_acl(acl, || {
                        self.shared.backend.execute_transaction(&ctx, &cmds)
                    }))
                }
            };
            self.unwatch_all();
            return done(reply);
        }
        if self.watch_broken() {
            self.unwatch_all();
            return done(Reply::NilArray);
        }
        self.unwatch_all();
        let mut replies: Vec<Reply> = Vec::with_capacity(multi.queued.len());
        // Runs of data commands execute as one atomic transaction; the few
        // server commands allowed inside MULTI (PING, ECHO, SELECT, INFO,
        // PUBLISH, ...) run in their place between runs.
        let mut run: Vec<Vec<Bytes>> = Vec::new();
        let mut any_write = false;
        for (spec, argv) in multi.queued {
            let is_server = table::is_server_command(spec);
            if is_server {
                self.exec_run(&mut run, &mut replies, any_write).await;
                any_write = false;
                match spec.name {
                    // Redis refuses SSUBSCRIBE to a client that cannot
                    // block, as a transaction's is (SUBSCRIBE it lets be).
                    "ssubscribe" => replies.push(Reply::error(
                        "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
                    )),
                    // Their pushes are the command's entries in the array
                    // (Redis's array length counts commands: a command of
                    // several channels makes it one short there).
                    "subscribe" | "psubscribe" => {
                        replies.extend(self.subscribe(&argv, SubKind::of(spec.name)))
                    }
                    "unsubscribe" | "punsubscribe" | "sunsubscribe" => {
                        replies.extend(self.unsubscribe(&argv, SubKind::of(spec.name)))
                    }
                    _ => {
                        let (r, _) = Box::pin(self.exec_server(spec, &argv)).await;
                        replies.push(r.unwrap_or(Reply::Nil));
                    }
                }
            } else {
                any_write |= spec.flags.write;
                run.push(argv);
            }
        }
        self.exec_run(&mut run, &mut replies, any_write).await;
        done(Reply::Array(replies))
    }

    async fn exec_run(
        &mut self,
        run: &mut Vec<Vec<Bytes>>,
        replies: &mut Vec<Reply>,
        any_write: bool,
    ) {
        if run.is_empty() {
            return;
        }
        let cmds = std::mem::take(run);
        let ctx = self.ctx();
        let backend = self.shared.backend.clone();
        let acl = self.script_acl();
        let out = if let Some(routed) = backend.route_transaction(&ctx, &cmds) {
            routed.await
        } else if any_write && backend.sync_writes() {
            let n = cmds.len();
            let notifier = self.shared.notifier.clone();
            tokio::task::spawn_blocking(move || {
                let _shared = notifier.exec_gate.read();
                with_script_acl(acl, || backend.execute_transaction(&ctx, &cmds))
            })
            .await
            .unwrap_or_else(|_| vec![Reply::error("ERR internal error"); n])
        } else if any_write {
            let _shared = self.shared.notifier.exec_gate.read();
            with_script_acl(acl, || backend.execute_transaction(&ctx, &cmds))
        } else {
            with_script_acl(acl, || backend.execute_transaction(&ctx, &cmds))
        };
        replies.extend(out);
    }

    /// The count a (un)subscribe push of `kind` carries: channels and
    /// patterns together, shard channels apart.
    fn sub_count(&self, kind: SubKind) -> i64 {
        self.subs.as_ref().map_or(0, |s| match kind {
            SubKind::Channel | SubKind::Pattern => s.channels.len() + s.patterns.len(),
            SubKind::Shard => s.shard_channels.len(),
        } as i64)
    }

    /// Leaves the subscribed state once nothing is subscribed any more (a
    /// RESP2 client may then run any command again).
    fn drop_empty_subs(&mut self) {
        if self.subs.as_ref().is_some_and(|s| {
            s.channels.is_empty() && s.patterns.is_empty() && s.shard_channels.is_empty()
        }) {
            self.subs = None;
        }
    }

    /// Writes the pushes already queued for this very connection (it
    /// published to a channel it subscribes to) before the reply of the
    /// command, in the order Redis writes them.
    fn write_own_pushes(&mut self) {
        while let Some(push) = self.push.as_mut().and_then(|(_, rx)| rx.try_recv()) {
            crate::resp::encode(&push, self.proto, &mut self.wbuf);
        }
    }

    /// Writes the pushes a (un)subscribe command answers with.
    fn write_pushes(&mut self, pushes: Vec<Reply>) -> Outcome {
        for push in &pushes {
            self.reply(push);
        }
        (None, Flow::Continue)
    }

    /// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE: one push per channel with
    /// the count of its kind.
    pub(super) fn subscribe(&mut self, argv: &[Bytes], kind: SubKind) -> Vec<Reply> {
        let tx = self.push_sender();
        let mut out = Vec::with_capacity(argv.len() - 1);
        for ch in &argv[1..] {
            let subs = self.subs.get_or_insert_with(Box::<Subscriptions>::default);
            if kind.set(subs).insert(ch.clone()) {
                let pubsub = &self.shared.notifier.pubsub;
                match kind {
                    SubKind::Channel => pubsub.subscribe(ch, &tx),
                    SubKind::Pattern => pubsub.psubscribe(ch, &tx),
                    SubKind::Shard => pubsub.ssubscribe(ch, &tx),
                };
            }
            out.push(Reply::Push(vec![
                bulk_str(kind.names().0),
                Reply::Bulk(ch.clone()),
                Reply::Integer(self.sub_count(kind)),
            ]));
        }
        self.update_sub_counts();
        out
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE: one push per channel
    /// (every one of its kind subscribed to when none is named, or one
    /// with a nil channel when there is none).
    pub(super) fn unsubscribe(&mut self, argv: &[Bytes], kind: SubKind) -> Vec<Reply> {
        let name = kind.names().1;
        let targets: Vec<Bytes> = if argv.len() > 1 {
            argv[1..].to_vec()
        } else {
            self.subs
                .as_mut()
                .map(|s| kind.set(s).iter().cloned().collect())
                .unwrap_or_default()
        };
        let mut out = Vec::with_capacity(targets.len().max(1));
        if targets.is_empty() {
            out.push(Reply::Push(vec![
                bulk_str(name),
                Reply::Nil,
                Reply::Integer(self.sub_count(kind)),
            ]));
        }
        for ch in targets {
            if self.subs.as_mut().is_some_and(|s| kind.set(s).remove(&ch)) {
                let (pubsub, id) = (&self.shared.notifier.pubsub, self.handle.id);
                match kind {
                    SubKind::Channel => pubsub.unsubscribe(&ch, id),
                    SubKind::Pattern => pubsub.punsubscribe(&ch, id),
                    SubKind::Shard => pubsub.sunsubscribe(&ch, id),
                };
            }
            out.push(Reply::Push(vec![
                bulk_str(name),
                Reply::Bulk(ch),
                Reply::Integer(self.sub_count(kind)),
            ]));
        }
        self.drop_empty_subs();
        self.update_sub_counts();
        out
    }

    fn unsubscribe_all(&mut self) {
        if let Some(subs) = self.subs.take() {
            for c in &subs.channels {
                self.shared.notifier.pubsub.unsubscribe(c, self.handle.id);
            }
            for p in &subs.patterns {
                self.shared.notifier.pubsub.punsubscribe(p, self.handle.id);
            }
            for c in &subs.shard_channels {
                self.shared.notifier.pubsub.sunsubscribe(c, self.handle.id);
            }
        }
        self.update_sub_counts();
    }

    fn update_sub_counts(&self) {
        let (c, p, sc) = self.subs.as_ref().map_or((0, 0, 0), |s| {
            (s.channels.len(), s.patterns.len(), s.shard_channels.len())
        });
        self.handle.subscriptions.store(c, Ordering::Relaxed);
        self.handle.psubscriptions.store(p, Ordering::Relaxed);
        self.handle.ssubscriptions.store(sc, Ordering::Relaxed);
    }

    fn cmd_pubsub(&mut self, argv: &[Bytes]) -> Outcome {
        let sub = lower(&argv[1]);
        let pubsub = &self.shared.notifier.pubsub;
        let counts = |count: &dyn Fn(&[u8]) -> usize| {
            let mut out = Vec::with_capacity(2 * (argv.len() - 2));
            for ch in &argv[2..] {
                out.push(Reply::Bulk(ch.clone()));
                out.push(Reply::Integer(count(ch) as i64));
            }
            done(Reply::Array(out))
        };
        match sub.as_str() {
            "channels" | "shardchannels" if argv.len() <= 3 => {
                let pattern = argv.get(2).map(|p| p.as_ref());
                let chans = if sub == "channels" {
                    pubsub.channels(pattern)
                } else {
                    pubsub.shard_channels(pattern)
                };
                done(Reply::Array(chans.into_iter().map(Reply::Bulk).collect()))
            }
            "numsub" => counts(&|ch| pubsub.numsub(ch)),
            "shardnumsub" => counts(&|ch| pubsub.shard_numsub(ch)),
            "numpat" if argv.len() == 2 => done(Reply::Integer(pubsub.numpat() as i64)),
            "help" => help(&[
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Prints this help.",
            ]),
            // Redis's addReplySubcommandSyntaxError (the arity check of
            // these two lets any count above one through).
            "channels" | "shardchannels" => done(Reply::Error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)])
            ))),
            "numpat" => done(Reply::Error(format!(
                "ERR wrong number of arguments for 'pubsub|{sub}' command"
            ))),
            _ => unknown_subcommand("PUBSUB", &argv[1]),
        }
    }
}

impl Connection {
    /// LATENCY: the latency monitor and the per-command histograms.
    fn cmd_latency(&mut self, argv: &[Bytes]) -> Outcome {
        let sub = lower(&argv[1]);
        let now = now_ms() / 1000;
        let (threshold, slowlog) = {
            let c = self.shared.config.read();
            (c.latency_monitor_threshold, c.slowlog_log_slower_than)
        };
        // The arity of each subcommand was checked at dispatch.
        match sub.as_str() {
            "latest" => done(self.shared.latency.lock().latest()),
            "history" => done(self.shared.latency.lock().history(&argv[2])),
            "graph" => done(self.shared.latency.lock().graph(&argv[2], now)),
            "doctor" => done(self.shared.latency.lock().doctor(threshold, slowlog, now)),
            "reset" => {
                let mut monitor = self.shared.latency.lock();
                let n = if argv.len() == 2 {
                    monitor.reset(None)
                } else {
                    argv[2..].iter().map(|e| monitor.reset(Some(e))).sum()
                };
                done(Reply::Integer(n))
            }
            "histogram" => {
                self.flush_stats();
                done(latency_histograms(&self.shared, &argv[2..]))
            }
            "help" => help(&[
                "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return a human readable latency analysis report.",
                "GRAPH <event>",
                "    Return an ASCII latency graph for the <event> class.",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HISTOGRAM [COMMAND ...]",
                "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
                "    If no commands are specified then all histograms are replied.",
                "HELP",
                "    Prints this help.",
            ]),
            _ => unknown_subcommand("LATENCY", &argv[1]),
        }
    }
}

/// LATENCY HISTOGRAM [command ...]: a map from command name (`config|get`
/// for a subcommand) to its calls and histogram, for the named commands
/// (and their subcommands) that ran, or every command that ran. Unknown
/// names are skipped, as Redis skips them.
fn latency_histograms(shared: &Shared, names: &[Bytes]) -> Reply {
    let stats = shared.stats.commandstats.lock();
    let entry = |name: &str| {
        stats
            .get(name)
            .filter(|s| s.redis_hist.iter().any(|&n| n > 0))
            .map(|s| {
                (
                    bulk_str(name),
                    super::latency::histogram_reply(&s.redis_hist),
                )
            })
    };
    let mut out = Vec::new();
    if names.is_empty() {
        let mut all: Vec<&'static str> = stats.keys().copied().collect();
        all.sort_unstable();
        out.extend(all.into_iter().filter_map(entry));
    } else {
        for name in names {
            let Some(spec) = find_command_or_sub(shared, name) else {
                continue;
            };
            out.extend(entry(spec.name));
            out.extend(subcommands::of(spec.name).filter_map(|s| entry(s.spec.name)));
        }
    }
    Reply::Map(out)
}

/// Fsyncs on a blocking thread and records LASTSAVE.
async fn save_with(shared: &Arc<Shared>) -> Result<(), String> {
    let backend = shared.backend.clone();
    let res = tokio::task::spawn_blocking(move || backend.sync())
        .await
        .map_err(|e| e.to_string())?;
    if res.is_ok() {
        shared.lastsave.store(now_ms() / 1000, Ordering::Relaxed);
    }
    res
}

fn validate_client_name(name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|c| !(b'!'..=b'~').contains(c)) {
        return Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

/// All commands: the server's and the keyspace's.
fn all_commands(shared: &Shared) -> Vec<&'static CommandSpec> {
    let mut v: Vec<&'static CommandSpec> = table::SERVER_COMMANDS.iter().collect();
    for s in shared.backend.table() {
        if table::lookup(s.name.as_bytes()).is_none() {
            v.push(s);
        }
    }
    v
}

/// `commands` followed by the subcommands FincasKV describes of each
/// (ACL CAT and COMMAND LIST name them, `config|get`, as Redis 7.0 does).
fn with_subcommands(commands: Vec<&'static CommandSpec>) -> Vec<&'static CommandSpec> {
    let subs: Vec<&'static CommandSpec> = commands
        .iter()
        .flat_map(|c| subcommands::of(c.name).map(|s| &s.spec))
        .collect();
    let mut all = commands;
    all.extend(subs);
    all
}

/// A command, or a subcommand named `container|sub` (COMMAND INFO / DOCS),
/// by name, case-insensitively.
fn find_command_or_sub(shared: &Shared, name: &[u8]) -> Option<&'static CommandSpec> {
    let Some(bar) = name.iter().position(|&b| b == b'|') else {
        return find_command(shared, name);
    };
    find_command(shared, &name[..bar])?;
    subcommands::lookup(name).map(|s| &s.spec)
}

fn find_command(shared: &Shared, name: &[u8]) -> Option<&'static CommandSpec> {
    let name = name.to_ascii_lowercase();
    table::lookup(&name).or_else(|| shared.backend.lookup(&name))
}

fn acl_categories(spec: &CommandSpec) -> Vec<Reply> {
    acl::categories_of(spec)
        .map(|c| Reply::Simple(format!("@{c}").into()))
        .collect()
}

fn command_info(spec: &CommandSpec) -> Reply {
    Reply::Array(vec![
        bulk_str(spec.name),
        Reply::Integer(i64::from(spec.arity)),
        Reply::Set(
            table::flag_names(&spec.flags)
                .into_iter()
                .chain(crate::command::keys::movable_keys(spec).then_some("movablekeys"))
                .map(|f| Reply::Simple(f.to_owned().into()))
                .collect(),
        ),
        Reply::Integer(i64::from(spec.keys.first)),
        Reply::Integer(i64::from(spec.keys.last)),
        Reply::Integer(i64::from(spec.keys.step)),
        Reply::Set(acl_categories(spec)),
        Reply::Set(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(
            subcommands::of(spec.name)
                .map(|s| command_info(&s.spec))
                .collect(),
        ),
    ])
}

fn command_docs(spec: &CommandSpec) -> Reply {
    let mut docs = vec![
        (bulk_str("summary"), bulk_str(spec.summary)),
        (bulk_str("since"), bulk_str(spec.since)),
        (bulk_str("group"), bulk_str(spec.group)),
    ];
    // Redis leaves out a complexity it does not state (LOLWUT).
    if !spec.complexity.is_empty() {
        docs.push((bulk_str("complexity"), bulk_str(spec.complexity)));
    }
    let subs: Vec<(Reply, Reply)> = subcommands::of(spec.name)
        .map(|s| (bulk_str(s.spec.name), command_docs(&s.spec)))
        .collect();
    if !subs.is_empty() {
        docs.push((bulk_str("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(docs)
}

fn cmd_command(shared: &Shared, argv: &[Bytes]) -> Outcome {
    if argv.len() == 1 {
        return done(Reply::Array(
            all_commands(shared).into_iter().map(command_info).collect(),
        ));
    }
    let sub = lower(&argv[1]);
    match sub.as_str() {
        "count" if argv.len() == 2 => done(Reply::Integer(all_commands(shared).len() as i64)),
        "info" => {
            if argv.len() == 2 {
                return done(Reply::Array(
                    all_commands(shared).into_iter().map(command_info).collect(),
                ));
            }
            done(Reply::Array(
                argv[2..]
                    .iter()
                    .map(|n| find_command_or_sub(shared, n).map_or(Reply::NilArray, command_info))
                    .collect(),
            ))
        }
        "docs" => {
            let specs: Vec<&'static CommandSpec> = if argv.len() == 2 {
                all_commands(shared)
            } else {
                argv[2..]
                    .iter()
                    .filter_map(|n| find_command_or_sub(shared, n))
                    .collect()
            };
            done(Reply::Map(
                specs
                    .into_iter()
                    .map(|s| (bulk_str(s.name), command_docs(s)))
                    .collect(),
            ))
        }
        "list" => {
            let mut names: Vec<&'static CommandSpec> = with_subcommands(all_commands(shared));
            if argv.len() > 2 {
                if argv.len() != 5 || lower(&argv[2]) != "filterby" {
                    return syntax_error();
                }
                let value = argv[4].clone();
                match lower(&argv[3]).as_str() {
                    "pattern" => {
                        names.retain(|s| super::glob_match(&value, s.name.as_bytes(), true))
                    }
                    "aclcat" => {
                        let cat = format!("@{}", lower(&value));
                        names.retain(|s| {
                            acl_categories(s)
                                .iter()
                                .any(|c| matches!(c, Reply::Simple(x) if *x == cat))
                        });
                    }
                    "module" => names.clear(),
                    _ => return syntax_error(),
                }
            }
            done(Reply::Array(
                names.into_iter().map(|s| bulk_str(s.name)).collect(),
            ))
        }
        "getkeys" if argv.len() >= 4 => {
            // Redis 7.0's checks, in its order.
            let Some(spec) = find_command(shared, &argv[2]) else {
                return err("ERR Invalid command specified");
            };
            if !crate::command::keys::has_keys(spec) {
                return err("ERR The command has no key arguments");
            }
            let args = &argv[2..];
            if !spec.arity_ok(args.len()) {
                return err("ERR Invalid number of arguments specified for command");
            }
            let keys = crate::command::keys::key_positions(spec, args);
            if keys.is_empty() {
                return err("ERR Invalid arguments specified for command");
            }
            done(Reply::Array(
                keys.into_iter()
                    .map(|i| Reply::Bulk(args[i].clone()))
                    .collect(),
            ))
        }
        "help" => help(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "COUNT",
            "INFO [<command-name> ...]",
            "DOCS [<command-name> ...]",
            "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
            "GETKEYS <full-command>",
            "HELP",
        ]),
        "count" | "getkeys" => done(Reply::Error(format!(
            "ERR wrong number of arguments for 'command|{sub}' command"
        ))),
        _ => unknown_subcommand("COMMAND", &argv[1]),
    }
}

/// MEMORY STATS, in Redis 7.0's order. The totals are heap bytes in use
/// (as INFO's `used_memory`, see [`heap_bytes`]); the allocator is the
/// system's, so its "active" bytes are the allocated ones and "resident"
/// is the process's resident set. There is no replication backlog or AOF
/// buffer: those read 0. The dataset is what is left after the startup
/// footprint.
fn memory_stats(shared: &Shared) -> Reply {
    let (total, rss) = (heap_bytes(), rss_bytes());
    let (peak, startup) = (peak_heap_bytes(), shared.startup_heap);
    let (frag_ratio, frag_bytes) = fragmentation(rss, total);
    let counts = shared.backend.key_counts();
    let keys: u64 = counts.iter().map(|c| c.0).sum();
    let overhead = startup.min(total);
    let dataset = total - overhead;
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let int = |n: u64| Reply::Integer(n as i64);
    let float = |x: f64| Reply::Bulk(Bytes::from(crate::command::args::format_float(x)));
    let name = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let mut m = vec![
        (name("peak.allocated"), int(peak)),
        (name("total.allocated"), int(total)),
        (name("startup.allocated"), int(startup)),
        (name("replication.backlog"), int(0)),
        (name("clients.slaves"), int(0)),
        (name("clients.normal"), int(0)),
        (name("cluster.links"), int(0)),
        (name("aof.buffer"), int(0)),
        (name("lua.caches"), int(0)),
        (name("functions.caches"), int(0)),
    ];
    for (db, (n, expires)) in counts.iter().enumerate() {
        if *n == 0 {
            continue;
        }
        // The keydir's bookkeeping per key (docs/status.md: ~53 bytes).
        m.push((
            name(&format!("db.{db}")),
            Reply::Map(vec![
                (name("overhead.hashtable.main"), int(n * 53)),
                (name("overhead.hashtable.expires"), int(expires * 16)),
                (name("overhead.hashtable.slot-to-keys"), int(0)),
            ]),
        ));
    }
    m.extend([
        (name("overhead.total"), int(overhead)),
        (name("keys.count"), int(keys)),
        (
            name("keys.bytes-per-key"),
            int(dataset.checked_div(keys).unwrap_or(0)),
        ),
        (name("dataset.bytes"), int(dataset)),
        (name("dataset.percentage"), float(pct(dataset, total))),
        (name("peak.percentage"), float(pct(total, peak))),
        (name("allocator.allocated"), int(total)),
        (name("allocator.active"), int(total)),
        (name("allocator.resident"), int(rss)),
        (name("allocator-fragmentation.ratio"), float(1.0)),
        (name("allocator-fragmentation.bytes"), int(0)),
        (name("allocator-rss.ratio"), float(frag_ratio)),
        (name("allocator-rss.bytes"), Reply::Integer(frag_bytes)),
        (name("rss-overhead.ratio"), float(1.0)),
        (name("rss-overhead.bytes"), int(0)),
        (name("fragmentation"), float(frag_ratio)),
        (name("fragmentation.bytes"), Reply::Integer(frag_bytes)),
    ]);
    Reply::Map(m)
}

/// Bytes of heap in use, what INFO's `used_memory` reports: the count of
/// [`crate::alloc::CountingAlloc`] (the server binary's allocator), which
/// is what Redis reports too (its allocator's bytes), so the two compare
/// like for like. The resident set also counts freed memory malloc keeps,
/// the data files' mapped window and the binary; INFO reports it as
/// `used_memory_rss`. Without the counting allocator (the Python module)
/// the resident set stands in. Every call also updates the peak
/// ([`peak_heap_bytes`]).
pub(super) fn heap_bytes() -> u64 {
    let now = crate::alloc::heap_in_use().unwrap_or_else(rss_bytes);
    PEAK_HEAP.fetch_max(now, Ordering::Relaxed);
    now
}

/// The largest [`heap_bytes`] seen (INFO, MEMORY STATS and the
/// `maxmemory` check sample it, so a peak between two samples is missed).
fn peak_heap_bytes() -> u64 {
    PEAK_HEAP.load(Ordering::Relaxed)
}

static PEAK_HEAP: AtomicU64 = AtomicU64::new(0);

/// RSS against the heap in use: their ratio (0 with no heap figure) and
/// their difference, as INFO's `mem_fragmentation_ratio` / `_bytes` and
/// MEMORY STATS' `fragmentation` fields report them.
fn fragmentation(rss: u64, used: u64) -> (f64, i64) {
    let ratio = if used == 0 {
        0.0
    } else {
        rss as f64 / used as f64
    };
    (ratio, rss as i64 - used as i64)
}

/// Gives freed heap memory back to the system (glibc's `malloc_trim`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "malloc_trim(3) has no safe wrapper")]
fn purge_heap() {
    // SAFETY: malloc_trim only releases free memory at the top of the heap
    // and in free pages of the arenas; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn purge_heap() {}

/// Resident bytes of this process (`/proc/self/statm`; 0 elsewhere).
pub(super) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn cpu_seconds() -> (f64, f64) {
    // utime and stime (fields 14 and 15) in clock ticks of 100 Hz.
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (tick(12), tick(11))
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2}G", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.2}M", b / (1u64 << 20) as f64)
    } else if b >= 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else {
        format!("{bytes}B")
    }
}

/// The INFO text for the requested sections (default: all but commandstats).
pub(super) fn info(shared: &Shared, args: &[Bytes]) -> String {
    let requested: Vec<String> = args.iter().map(|a| lower(a)).collect();
    let everything = requested.iter().any(|s| s == "all" || s == "everything");
    let default = requested.is_empty() || requested.iter().any(|s| s == "default");
    let want = |name: &str| {
        everything || requested.iter().any(|s| s == name) || (default && name != "commandstats")
    };
    let cfg = shared.config.read().clone();
    let mut out = String::new();
    let uptime = shared.started.elapsed().as_secs();
    if want("server") {
        out.push_str(&format!(
            "# Server\r\nredis_version:{}\r\nfincaskv_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:{}\r\nmultiplexing_api:tokio\r\nprocess_id:{}\r\nrun_id:{:040x}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nexecutable:{}\r\nconfig_file:{}\r\n\r\n",
            REDIS_COMPAT_VERSION,
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            usize::BITS,
            std::process::id(),
            shared.started.elapsed().as_nanos() ^ u128::from(std::process::id()),
            shared.port,
            uptime,
            uptime / 86400,
            cfg.hz,
            cfg.hz,
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            cfg.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        ));
    }
    if want("clients") {
        let clients = shared.clients.lock().len();
        out.push_str(&format!(
            "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\npubsub_clients:{}\r\n\r\n",
            clients,
            cfg.maxclients,
            shared.notifier.blocked_clients(),
            shared.notifier.tracking.clients(),
            shared.clients.lock().values().filter(|c| c.is_subscriber()).count(),
        ));
    }
    if want("memory") {
        let (used, rss) = (heap_bytes(), rss_bytes());
        let (peak, startup) = (peak_heap_bytes(), shared.startup_heap);
        let (frag_ratio, frag_bytes) = fragmentation(rss, used);
        let maxmemory = cfg.maxmemory;
        out.push_str(&format!(
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_startup:{startup}\r\nused_memory_dataset:{}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_allocator:libc\r\n\r\n",
            human(used),
            human(rss),
            human(peak),
            used.saturating_sub(startup),
            human(maxmemory),
            cfg.maxmemory_policy,
            frag_ratio,
            frag_bytes,
        ));
    }
    if want("persistence") {
        out.push_str(&format!(
            "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\naof_enabled:1\r\naof_rewrite_in_progress:{}\r\naof_last_bgrewrite_status:ok\r\nfsync:{}\r\nmerges_completed:{}\r\n",
            shared.lastsave.load(Ordering::Relaxed),
            u8::from(shared.merging.load(Ordering::Relaxed)),
            cfg.fsync.as_str(),
            shared.merges_done.load(Ordering::Relaxed),
        ));
        for (k, v) in shared.backend.persistence_info() {
            out.push_str(&format!("{k}:{v}\r\n"));
        }
        out.push_str("\r\n");
    }
    if want("stats") {
        let s = &shared.stats;
        let lookups = shared.backend.lookup_stats();
        out.push_str(&format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\ntracking_total_keys:{}\r\n\r\n",
            s.connections_received.load(Ordering::Relaxed),
            s.commands_processed.load(Ordering::Relaxed),
            s.net_input_bytes.load(Ordering::Relaxed),
            s.net_output_bytes.load(Ordering::Relaxed),
            s.rejected_connections.load(Ordering::Relaxed),
            lookups.expired,
            lookups.hits,
            lookups.misses,
            shared.notifier.pubsub.channels(None).len(),
            shared.notifier.pubsub.numpat(),
            shared.notifier.pubsub.shard_channels(None).len(),
            shared.notifier.tracking.total_keys(),
        ));
    }
    if want("replication") {
        match shared.backend.replication_info() {
            Some(fields) => {
                out.push_str("# Replication\r\n");
                for (k, v) in fields {
                    out.push_str(&format!("{k}:{v}\r\n"));
                }
                out.push_str("\r\n");
            }
            None => out.push_str(
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n\r\n",
            ),
        }
    }
    if want("cpu") {
        let (sys, user) = cpu_seconds();
        out.push_str(&format!(
            "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n\r\n"
        ));
    }
    if want("commandstats") {
        out.push_str("# Commandstats\r\n");
        let stats = shared.stats.commandstats.lock();
        let mut names: Vec<_> = stats.iter().collect();
        names.sort_by_key(|(n, _)| **n);
        for (name, s) in names {
            let per_call = if s.calls > 0 {
                s.usec as f64 / s.calls as f64
            } else {
                0.0
            };
            out.push_str(&format!(
                "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                s.calls, s.usec, s.rejected, s.failed
            ));
        }
        out.push_str("\r\n");
    }
    for (name, fields) in shared.backend.info_sections() {
        if want(&name) {
            let mut title = name.clone();
            if let Some(first) = title.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            out.push_str(&format!("# {title}\r\n"));
            for (k, v) in fields {
                out.push_str(&format!("{k}:{v}\r\n"));
            }
            out.push_str("\r\n");
        }
    }
    if want("keyspace") {
        out.push_str("# Keyspace\r\n");
        for (db, (keys, expires)) in shared.backend.key_counts().into_iter().enumerate() {
            if keys > 0 {
                out.push_str(&format!(
                    "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n"
                ));
            }
        }
        out.push_str("\r\n");
    }
    while out.ends_with("\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

/// Validates the arguments of a blocking command's timeout; exposed for tests.
#[cfg(test)]
pub(super) fn timeout_for_test(a: &[u8]) -> Result<Option<Duration>, Reply> {
    parse_timeout(a)
}

/// Which of a connection's subscription sets a (un)subscribe command works
/// on: channels, patterns, or shard channels (a namespace of their own).
#[derive(Clone, Copy)]
pub(super) enum SubKind {
    /// SUBSCRIBE / UNSUBSCRIBE.
    Channel,
    /// PSUBSCRIBE / PUNSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE / SUNSUBSCRIBE.
    Shard,
}

impl SubKind {
    /// The kind of the (un)subscribe command `name`.
    fn of(name: &str) -> SubKind {
        match name {
            "psubscribe" | "punsubscribe" => SubKind::Pattern,
            "ssubscribe" | "sunsubscribe" => SubKind::Shard,
            _ => SubKind::Channel,
        }
    }

    /// The subscribed set of this kind.
    fn set(self, subs: &mut Subscriptions) -> &mut std::collections::HashSet<Bytes> {
        match self {
            SubKind::Channel => &mut subs.channels,
            SubKind::Pattern => &mut subs.patterns,
            SubKind::Shard => &mut subs.shard_channels,
        }
    }

    /// The push names of its subscribe and unsubscribe commands.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            SubKind::Channel => ("subscribe", "unsubscribe"),
            SubKind::Pattern => ("psubscribe", "punsubscribe"),
            SubKind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }
}

/// Redis's answer to ACL SAVE / LOAD without an `aclfile`.
const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// `ACL LOG [count | RESET]`: the newest entries (10 by default), each a
/// map as Redis 7.0's.
fn acl_log(shared: &Shared, arg: Option<&Bytes>) -> Reply {
    let count = match arg {
        None => 10,
        Some(a) if a.eq_ignore_ascii_case(b"reset") => {
            shared.acl_log.lock().reset();
            return Reply::ok();
        }
        Some(a) => match parse_int(a) {
            Some(n) => n.max(0) as usize,
            None => return Reply::error("ERR value is not an integer or out of range"),
        },
    };
    let now = now_ms();
    let log = shared.acl_log.lock();
    Reply::Array(
        log.newest(count)
            .map(|e| {
                let age = now.saturating_sub(e.ctime_ms) as f64 / 1000.0;
                Reply::Map(vec![
                    (bulk_str("count"), Reply::Integer(e.count as i64)),
                    (bulk_str("reason"), bulk_str(e.reason)),
                    (bulk_str("context"), bulk_str(e.context)),
                    (bulk_str("object"), bulk_str(&e.object)),
                    (bulk_str("username"), bulk_str(&e.username)),
                    (bulk_str("age-seconds"), Reply::Double(age)),
                    (bulk_str("client-info"), bulk_str(&e.client_info)),
                ])
            })
            .collect(),
    )
}

/// `ACL SAVE`: the users to the `aclfile`, atomically (a temporary file
/// beside it, fsynced, renamed over it, the directory fsynced).
fn acl_save(shared: &Shared) -> Reply {
    let path = shared.config.read().aclfile.clone();
    if path.is_empty() {
        return Reply::error(NO_ACLFILE);
    }
    let text = shared.acl.read().save_text();
    match write_atomically(std::path::Path::new(&path), text.as_bytes()) {
        Ok(()) => Reply::ok(),
        Err(e) => {
            tracing::warn!(path, error = %e, "ACL SAVE failed");
            Reply::error("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
        }
    }
}

/// Writes `data` to `path` so that a crash leaves the old file or the new
/// one, never a mix.
fn write_atomically(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    let written = f.write_all(data).and_then(|()| f.sync_all());
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

/// `ACL LOAD`: replaces every user with the `aclfile`'s (all or nothing)
/// and closes the connections of every user but `default`, as Redis 7.0
/// (whose users are all new objects after a load).
fn acl_load(shared: &Shared, commands: &dyn Fn(&str) -> bool) -> Reply {
    let path = shared.config.read().aclfile.clone();
    if path.is_empty() {
        return Reply::error(NO_ACLFILE);
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            return Reply::Error(format!(
                "ERR Error loading ACLs, opening file '{path}': {e}"
            ))
        }
    };
    match acl::Acl::load(&path, &text, commands) {
        Ok(users) => {
            let old: Vec<String> = shared
                .update_acl(|acl| std::mem::replace(acl, users))
                .names()
                .into_iter()
                .filter(|n| n != "default")
                .collect();
            shared.kill_clients_of(&old);
            Reply::ok()
        }
        Err(e) => Reply::Error(format!("ERR {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(timeout_for_test(b"0"), Ok(None));
        assert_eq!(
            timeout_for_test(b"0.1"),
            Ok(Some(Duration::from_millis(100)))
        );
        assert_eq!(timeout_for_test(b"2"), Ok(Some(Duration::from_secs(2))));
        assert_eq!(
            timeout_for_test(b"-1"),
            Err(Reply::error("ERR timeout is negative"))
        );
        assert_eq!(
            timeout_for_test(b"abc"),
            Err(Reply::error("ERR timeout is not a float or out of range"))
        );
    }

    #[test]
    fn names_and_reprs() {
        assert_eq!(
            super::super::connection::repr(b"a\"b\n\x01"),
            "\"a\\\"b\\n\\x01\""
        );
        assert!(acl::constant_time_eq(b"abc", b"abc"));
        assert!(!acl::constant_time_eq(b"abc", b"abd"));
        assert!(validate_client_name(b"ok-name").is_ok());
        assert!(validate_client_name(b"bad name").is_err());
        let _ = full_name;
    }
}
