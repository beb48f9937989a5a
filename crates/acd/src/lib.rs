//! # hotline-acd — the routing core
//!
//! Pure: no I/O, no async, no clock. The call controller tells the [`Router`] what happened
//! (an agent became ready, a call asked for a queue, a call left) with the time it happened,
//! and acts on the [`Decision`] it returns. Every decision is O(log n): each skill keeps its
//! ready agents ordered by the instant they became idle, and its waiting calls in arrival
//! order, so routing never scans all agents.
//!
//! This is the first slice (issue 2): skills, ready/not-ready agents, longest-idle
//! selection, FIFO queues with a length limit, and refusal when no agent of the skill is
//! logged in — the path that sends the caller to voicemail.

use std::collections::{BTreeSet, HashMap, VecDeque};

/// A call waiting for or talking to an agent (the controller's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

/// An agent (its extension).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(pub String);

/// Time as milliseconds from any fixed origin the controller chooses.
pub type Millis = u64;

/// What the router decided for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Offer the call to this agent now.
    Offer { call: CallKey, agent: AgentId },
    /// The call waits; `position` is 1 for the head of the queue.
    Queued { call: CallKey, position: usize },
    /// The call cannot wait here: send it to voicemail.
    Refused { call: CallKey, reason: Refusal },
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No agent with the skill is logged in: nobody would ever answer.
    NoAgents,
    /// The queue is at its configured length.
    QueueFull,
    /// The queue name is not configured.
    UnknownQueue,
}

#[derive(Debug)]
struct Agent {
    skills: Vec<String>,
    /// Some(idle since) when ready, None when not ready or busy.
    ready_since: Option<Millis>,
    busy_with: Option<CallKey>,
}

#[derive(Debug, Default)]
struct Queue {
    max_len: usize,
    waiting: VecDeque<CallKey>,
    /// Ready agents of this skill, longest idle first.
    ready: BTreeSet<(Millis, AgentId)>,
    /// Logged-in agents with this skill (ready or not).
    staffed: usize,
}

/// The routing state of one hotline node.
#[derive(Debug, Default)]
pub struct Router {
    queues: HashMap<String, Queue>,
    agents: HashMap<AgentId, Agent>,
}

impl Router {
    /// A router with no queues and no agents.
    pub fn new() -> Self {
        Router::default()
    }

    /// Declares a queue (one per skill) that holds at most `max_len` waiting calls.
    pub fn add_queue(&mut self, name: &str, max_len: usize) {
        self.queues.entry(name.to_string()).or_default().max_len = max_len;
    }

    /// Logs an agent in, not ready, with these skills (unknown skills are ignored).
    pub fn login(&mut self, agent: AgentId, skills: &[&str]) {
        self.logout(&agent);
        let skills: Vec<String> = skills
            .iter()
            .filter(|s| self.queues.contains_key(**s))
            .map(|s| s.to_string())
            .collect();
        for s in &skills {
            if let Some(q) = self.queues.get_mut(s) {
                q.staffed += 1;
            }
        }
        self.agents.insert(
            agent,
            Agent {
                skills,
                ready_since: None,
                busy_with: None,
            },
        );
    }

    /// Logs an agent out; a call it was offered is the controller's to requeue.
    pub fn logout(&mut self, agent: &AgentId) {
        self.set_not_ready(agent);
        if let Some(a) = self.agents.remove(agent) {
            for s in &a.skills {
                if let Some(q) = self.queues.get_mut(s) {
                    q.staffed -= 1;
                }
            }
        }
    }

    /// The agent is ready at `now`: returns the call it should be offered, if one waits.
    pub fn set_ready(&mut self, agent: &AgentId, now: Millis) -> Option<Decision> {
        let a = self.agents.get_mut(agent)?;
        if a.busy_with.is_some() || a.ready_since.is_some() {
            return None;
        }
        // The longest-waiting call among the agent's queues goes first (fairness across queues).
        let best = a
            .skills
            .iter()
            .filter_map(|s| {
                self.queues
                    .get(s)
                    .and_then(|q| q.waiting.front().map(|c| (*c, s.clone())))
            })
            .min_by_key(|(c, _)| *c);
        if let Some((call, skill)) = best {
            if let Some(q) = self.queues.get_mut(&skill) {
                q.waiting.pop_front();
            }
            a.busy_with = Some(call);
            return Some(Decision::Offer {
                call,
                agent: agent.clone(),
            });
        }
        a.ready_since = Some(now);
        for s in &a.skills {
            if let Some(q) = self.queues.get_mut(s) {
                q.ready.insert((now, agent.clone()));
            }
        }
        None
    }

    /// The agent stops taking calls (pause, wrap-up, busy).
    pub fn set_not_ready(&mut self, agent: &AgentId) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if let Some(since) = a.ready_since.take() {
            for s in &a.skills {
                if let Some(q) = self.queues.get_mut(s) {
                    q.ready.remove(&(since, agent.clone()));
                }
            }
        }
    }

    /// The call's conversation ended; the agent stays not ready until `set_ready`.
    pub fn release(&mut self, agent: &AgentId) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.busy_with = None;
        }
    }

    /// A call asks for `queue`. Call keys must grow with arrival time (the controller
    /// allocates them in order), which is what makes them the fairness order.
    pub fn enqueue(&mut self, call: CallKey, queue: &str) -> Decision {
        let Some(q) = self.queues.get_mut(queue) else {
            return Decision::Refused {
                call,
                reason: Refusal::UnknownQueue,
            };
        };
        if let Some((since, agent)) = q.ready.pop_first() {
            let skills = self
                .agents
                .get(&agent)
                .map(|a| a.skills.clone())
                .unwrap_or_default();
            for s in &skills {
                if let Some(q) = self.queues.get_mut(s) {
                    q.ready.remove(&(since, agent.clone()));
                }
            }
            if let Some(a) = self.agents.get_mut(&agent) {
                a.ready_since = None;
                a.busy_with = Some(call);
            }
            return Decision::Offer { call, agent };
        }
        if q.staffed == 0 {
            return Decision::Refused {
                call,
                reason: Refusal::NoAgents,
            };
        }
        if q.waiting.len() >= q.max_len {
            return Decision::Refused {
                call,
                reason: Refusal::QueueFull,
            };
        }
        q.waiting.push_back(call);
        Decision::Queued {
            call,
            position: q.waiting.len(),
        }
    }

    /// A waiting call left (caller hung up, chose voicemail).
    pub fn abandon(&mut self, call: CallKey) {
        for q in self.queues.values_mut() {
            q.waiting.retain(|c| *c != call);
        }
    }

    /// Waiting calls in a queue.
    pub fn waiting(&self, queue: &str) -> usize {
        self.queues.get(queue).map_or(0, |q| q.waiting.len())
    }

    /// Ready agents for a queue.
    pub fn ready_agents(&self, queue: &str) -> usize {
        self.queues.get(queue).map_or(0, |q| q.ready.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> AgentId {
        AgentId(s.into())
    }

    fn router() -> Router {
        let mut r = Router::new();
        r.add_queue("consult", 2);
        r.add_queue("complaint", 2);
        r
    }

    #[test]
    fn no_agents_means_refused_so_the_caller_leaves_a_message() {
        let mut r = router();
        assert_eq!(
            r.enqueue(CallKey(1), "consult"),
            Decision::Refused {
                call: CallKey(1),
                reason: Refusal::NoAgents
            }
        );
        assert_eq!(
            r.enqueue(CallKey(2), "nope"),
            Decision::Refused {
                call: CallKey(2),
                reason: Refusal::UnknownQueue
            }
        );
    }

    #[test]
    fn longest_idle_agent_gets_the_call() {
        let mut r = router();
        r.login(a("1001"), &["consult"]);
        r.login(a("1002"), &["consult", "complaint"]);
        r.set_ready(&a("1002"), 100);
        r.set_ready(&a("1001"), 200);
        assert_eq!(
            r.enqueue(CallKey(1), "consult"),
            Decision::Offer {
                call: CallKey(1),
                agent: a("1002")
            }
        );
        // 1002 is busy now, for every skill.
        assert_eq!(r.ready_agents("complaint"), 0);
        assert_eq!(
            r.enqueue(CallKey(2), "consult"),
            Decision::Offer {
                call: CallKey(2),
                agent: a("1001")
            }
        );
    }

    #[test]
    fn waiting_calls_are_served_oldest_first_across_queues_and_limited() {
        let mut r = router();
        r.login(a("1"), &["consult", "complaint"]);
        assert_eq!(
            r.enqueue(CallKey(5), "complaint"),
            Decision::Queued {
                call: CallKey(5),
                position: 1
            }
        );
        assert_eq!(
            r.enqueue(CallKey(6), "consult"),
            Decision::Queued {
                call: CallKey(6),
                position: 1
            }
        );
        assert_eq!(
            r.enqueue(CallKey(7), "consult"),
            Decision::Queued {
                call: CallKey(7),
                position: 2
            }
        );
        assert_eq!(
            r.enqueue(CallKey(8), "consult"),
            Decision::Refused {
                call: CallKey(8),
                reason: Refusal::QueueFull
            }
        );
        assert_eq!(
            r.set_ready(&a("1"), 10),
            Some(Decision::Offer {
                call: CallKey(5),
                agent: a("1")
            })
        );
        r.release(&a("1"));
        r.abandon(CallKey(6));
        assert_eq!(
            r.set_ready(&a("1"), 20),
            Some(Decision::Offer {
                call: CallKey(7),
                agent: a("1")
            })
        );
    }

    proptest! {
        /// After any sequence of events: no agent holds two calls, no call is offered twice,
        /// and no ready agent idles while a call it could serve waits.
        #[test]
        fn invariants(ops in proptest::collection::vec((0u8..5, 0u8..4, 0u8..2), 1..200)) {
            let mut r = router();
            let queues = ["consult", "complaint"];
            let mut offered: HashMap<CallKey, AgentId> = HashMap::new();
            let mut next = 0u64;
            for (t, (op, ag, q)) in ops.into_iter().enumerate() {
                let agent = a(&ag.to_string());
                let mut decisions = Vec::new();
                match op {
                    0 => { if !r.agents.contains_key(&agent) { r.login(agent.clone(), &queues[..=ag as usize % 2]); } }
                    1 => decisions.extend(r.set_ready(&agent, t as u64)),
                    2 => { next += 1; decisions.push(r.enqueue(CallKey(next), queues[q as usize])); }
                    3 => { offered.retain(|_, v| *v != agent); r.release(&agent); }
                    _ => r.set_not_ready(&agent),
                }
                for d in decisions {
                    if let Decision::Offer { call, agent } = d {
                        prop_assert!(!offered.contains_key(&call), "call offered twice");
                        prop_assert!(!offered.values().any(|v| *v == agent), "agent got two calls");
                        offered.insert(call, agent);
                    }
                }
                for (name, q) in &r.queues {
                    prop_assert!(q.waiting.is_empty() || q.ready.is_empty(), "ready agent idle while {name} has waiting calls");
                }
            }
        }
    }
}
