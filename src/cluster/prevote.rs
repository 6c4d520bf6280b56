//! Pre-vote (Raft thesis, section 9.6): a node asks the other voters
//! whether they would vote for it *before* it starts an election, and only
//! campaigns when a majority says yes.
//!
//! Why: openraft 0.9 has no pre-vote. A follower cut off from the others
//! campaigns again and again, and every campaign raises its term. When the
//! partition heals, the leader's next heartbeat meets that higher term, the
//! leader steps down, and the cluster has no leader until a new election
//! ends (writes answer CLUSTERDOWN meanwhile), although the leader never
//! lost its quorum. With pre-vote the cut-off follower's question reaches
//! no one (or only nodes that still hear from the leader and say no): it
//! never raises its term, and healing the partition changes nothing.
//!
//! How: openraft's own election timer is off (`Config::enable_elect =
//! false`). [`run`] is the timer instead, with openraft's timing: a voter
//! that heard from no leader for the lease (`election_timeout_max`, when it
//! followed one) plus a random election timeout (`election_timeout_min..
//! max`, drawn anew each round) sends
//! [`PreVote`](super::network::RpcRequest::PreVote) to every other voter
//! and, with a majority of yes (itself included), calls
//! `Raft::trigger().elect()` (openraft's normal election: term + 1, real
//! votes, leader lease checks). A node grants a pre-vote ([`Elector::grant`])
//! as openraft would grant the real vote: it is not the leader, it heard
//! from the leader it follows longer than the lease ago (a live leader's
//! heartbeats come far more often), the candidate's log is at least as up
//! to date as its own and the proposed term not behind its own. A pre-vote
//! changes no state: safety rests on openraft's votes as before; only
//! *when* elections start changed.
//!
//! "Heard from a leader": an AppendEntries or InstallSnapshot this node
//! accepted (not answered with a higher vote), or a vote it granted (as
//! Raft resets the election timer then), or being the leader itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Weak;
use std::time::{Duration, Instant};

use openraft::ServerState;
use rand::Rng;

use super::network::{RpcRequest, RpcResponse};
use super::node::ClusterNode;
use super::LogId;

/// The election timer's state, shared by the timer task and the peer
/// handler.
#[derive(Debug)]
pub struct Elector {
    base: Instant,
    /// Milliseconds after `base` of the last sign of a live leader.
    contact_ms: AtomicU64,
    min: Duration,
    max: Duration,
    /// openraft's leader lease (`election_timeout_max`): a node following
    /// a leader refuses real votes for this long after it last heard from
    /// it, so it refuses pre-votes as long, and a follower campaigns only
    /// after it.
    lease: Duration,
    /// How often the timer looks.
    tick: Duration,
}

impl Elector {
    /// An elector whose timeout is drawn from `min..max` and which looks
    /// every `tick` (the heartbeat interval).
    pub fn new(min: Duration, max: Duration, tick: Duration) -> Elector {
        Elector {
            base: Instant::now(),
            contact_ms: AtomicU64::new(0),
            min,
            max: max.max(min + Duration::from_millis(1)),
            lease: max,
            tick,
        }
    }

    /// Records a sign of a live leader (now).
    pub fn heard_from_leader(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.contact_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Time since the last sign of a live leader.
    pub fn since_contact(&self) -> Duration {
        let at = Duration::from_millis(self.contact_ms.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(at)
    }

    /// Whether this node would vote for a candidate proposing `term` with
    /// last log id `theirs`, as openraft's real vote decides: it is not the
    /// leader; if it follows a leader (`following`: its vote is committed),
    /// it heard from it longer than the lease ago; its own term is not
    /// ahead; its log (`mine`) is not more up to date.
    pub fn grant(&self, me: Voter, term: u64, theirs: Option<LogId>) -> bool {
        !me.leading
            && (!me.following || self.since_contact() > self.lease)
            && term >= me.term
            && theirs >= me.last_log_id
    }

    /// How long without a leader before campaigning: a random election
    /// timeout, after the lease when a leader was followed (as openraft's
    /// own election timer waits).
    fn draw(&self, following: bool) -> Duration {
        let lease = if following {
            self.lease
        } else {
            Duration::ZERO
        };
        lease + rand::thread_rng().gen_range(self.min..self.max)
    }
}

/// What a node answering a pre-vote knows of itself.
#[derive(Debug, Clone, Copy)]
pub struct Voter {
    /// It is the leader.
    pub leading: bool,
    /// Its vote is committed (it follows, or is, an elected leader).
    pub following: bool,
    /// Its current term.
    pub term: u64,
    /// Its last log id.
    pub last_log_id: Option<LogId>,
}

/// The election timer of `node` (see the module docs); ends when the node
/// is dropped.
pub async fn run(node: Weak<ClusterNode>, elector: std::sync::Arc<Elector>) {
    let mut timeout = elector.draw(true);
    // This node's own last round: the timer restarts after it, but it is no
    // sign of a leader (a node whose own round just failed still grants
    // another's pre-vote: otherwise two nodes whose rounds run in step
    // refuse each other for ever).
    let mut round = Instant::now();
    loop {
        // Until the timeout ends, looking at least every tick (a leader may
        // appear meanwhile); never a fixed tick only, which would round
        // every drawn timeout to the same multiple of it.
        let idle = elector.since_contact().min(round.elapsed());
        let wait = timeout.saturating_sub(idle).min(elector.tick);
        tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        let Some(node) = node.upgrade() else {
            return;
        };
        let (state, term, following, me, voters) = {
            let m = node.raft.metrics();
            let m = m.borrow();
            let mem = m.membership_config.membership();
            let voters: Vec<String> = mem
                .voter_ids()
                .filter(|id| *id != node.id)
                .filter_map(|id| mem.get_node(&id).map(|n| n.raft_addr.clone()))
                .collect();
            let me = mem.voter_ids().any(|id| id == node.id);
            (m.state, m.current_term, m.vote.is_committed(), me, voters)
        };
        if state == ServerState::Leader || !me {
            // A leader hears from itself; a learner never campaigns.
            elector.heard_from_leader();
            timeout = elector.draw(true);
            continue;
        }
        if elector.since_contact().min(round.elapsed()) < timeout {
            continue;
        }
        let total = voters.len() + 1;
        let mut asks = tokio::task::JoinSet::new();
        let last_log_id = node.last_log_id();
        for addr in voters {
            let (node, wait) = (node.clone(), elector.min);
            asks.spawn(async move {
                let ask = RpcRequest::PreVote {
                    term: term + 1,
                    last_log_id,
                };
                matches!(
                    node.call_peer(&addr, &ask, wait).await,
                    Ok(RpcResponse::PreVote(true))
                )
            });
        }
        let mut yes = 1;
        while let Some(granted) = asks.join_next().await {
            yes += usize::from(granted.unwrap_or(false));
        }
        if yes * 2 > total {
            tracing::info!(
                term = term + 1,
                yes,
                total,
                "pre-vote won: starting an election"
            );
            if node.raft.trigger().elect().await.is_err() {
                return;
            }
        } else {
            tracing::debug!(yes, total, "pre-vote lost: no election");
        }
        round = Instant::now();
        timeout = elector.draw(following);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn log(term: u64, index: u64) -> Option<LogId> {
        Some(LogId::new(CommittedLeaderId::new(term, 1), index))
    }

    fn voter(leading: bool, following: bool) -> Voter {
        Voter {
            leading,
            following,
            term: 3,
            last_log_id: log(3, 10),
        }
    }

    #[test]
    fn a_pre_vote_is_granted_as_the_real_vote_would_be() {
        let ms = Duration::from_millis;
        let e = Elector::new(ms(20), ms(40), ms(5));
        e.heard_from_leader();
        // Following a leader heard just now: no.
        assert!(!e.grant(voter(false, true), 4, log(3, 10)));
        // No leader followed (an uncommitted vote): yes, log permitting.
        assert!(e.grant(voter(false, false), 4, log(3, 10)));
        assert!(e.grant(voter(false, false), 4, log(4, 2)));
        assert!(!e.grant(voter(false, false), 4, log(3, 9)));
        assert!(!e.grant(voter(false, false), 2, log(3, 10)));
        // The leader never grants.
        assert!(!e.grant(voter(true, false), 4, log(3, 10)));
        // The lease over: a follower grants.
        std::thread::sleep(ms(60));
        assert!(e.grant(voter(false, true), 4, log(3, 10)));
        assert!(e.since_contact() >= ms(60));
    }

    #[test]
    fn the_timeout_waits_the_lease_after_a_leader_and_stays_random() {
        let ms = Duration::from_millis;
        let e = Elector::new(ms(150), ms(200), ms(50));
        let draws: Vec<Duration> = (0..50).map(|_| e.draw(true)).collect();
        assert!(draws.iter().all(|d| *d >= ms(350) && *d < ms(400)));
        assert!(
            draws.iter().any(|d| *d != draws[0]),
            "not random: {draws:?}"
        );
        assert!((0..50).all(|_| e.draw(false) < ms(200)));
    }
}
