//! The [`Router`]: agents, queues, waiting calls and their indexes.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use crate::ostree::OsTree;
use crate::types::*;

/// An agent's index in `Router::agents` (login order; never reused).
type Slot = u32;
/// A queue's index in `Router::queues`.
type QId = usize;
/// Waiting order: priority (higher first), then arrival, then key. Smaller is served first.
type CallOrd = (Reverse<u8>, Millis, CallKey);
/// Ready-agent order under a queue's strategy. Smaller is offered first.
type RankKey = (u64, u64, Slot);

const LEVELS: usize = 5;

fn level(l: u8) -> u8 {
    l.clamp(1, LEVELS as u8)
}

#[derive(Debug)]
struct Queue {
    cfg: QueueConfig,
    /// The lowest level this queue ever accepts (initial or after widening).
    floor: u8,
    /// Waiting calls of this queue by their current minimum level (index = level - 1).
    waiting: [BTreeSet<CallOrd>; LEVELS],
    /// Calls of other queues that overflowed to this queue's agents.
    overflow_in: BTreeSet<CallOrd>,
    /// All waiting calls of this queue, for positions.
    order: OsTree<CallOrd>,
    /// All waiting calls of this queue by arrival, for the longest wait.
    by_arrival: BTreeSet<(Millis, CallKey)>,
    /// Ready agents holding this skill, by level (index = level - 1), in strategy order.
    ready: [BTreeSet<RankKey>; LEVELS],
    /// Logged-in agents holding this skill, by level.
    staffed: [usize; LEVELS],
    /// The agent this queue offered a call to last (round robin).
    rr_last: Option<Slot>,
}

#[derive(Debug)]
struct Agent {
    id: AgentId,
    state: AgentState,
    since: Millis,
    skills: Vec<(String, u8)>,
    /// The skills that name a configured queue.
    resolved: Vec<(QId, u8)>,
    answered: u64,
    /// When the agent last became ready (kept while an offer rings).
    idle_since: Millis,
}

#[derive(Debug)]
struct Call {
    queue: QId,
    priority: u8,
    arrival: Millis,
    /// The lowest level of the queue's skill that may serve the call now.
    min_level: u8,
    /// Queues whose agents may serve the call too (after widening).
    overflow: Vec<QId>,
    /// The next widening step of the queue to apply.
    next_step: usize,
    /// The agent it rings at or talks to; `None` while waiting.
    agent: Option<Slot>,
    /// Its entry in `Router::timers` while waiting.
    deadline: Option<Millis>,
    /// Offered to one named agent ([`Router::offer_direct`]): never queued, and a failed
    /// offer is not retried with anyone else.
    direct: bool,
}

impl Call {
    fn ord(&self, key: CallKey) -> CallOrd {
        (Reverse(self.priority), self.arrival, key)
    }
}

/// The routing state of one hotline node: feed it events with `now`, act on its
/// [`Decision`]s, and call [`Router::handle_timeout`] when [`Router::poll_timeout`] says.
#[derive(Debug, Default)]
pub struct Router {
    queues: Vec<Queue>,
    queue_ids: HashMap<String, QId>,
    agents: Vec<Agent>,
    agent_ids: HashMap<AgentId, Slot>,
    calls: HashMap<CallKey, Call>,
    /// (next widening step or maximum wait, call) for every waiting call that has one.
    timers: BTreeSet<(Millis, CallKey)>,
}

fn rank_key(strategy: Strategy, a: &Agent, slot: Slot, lvl: u8) -> RankKey {
    let inv = (LEVELS as u8 - lvl) as u64;
    match strategy {
        Strategy::LongestIdle => (a.idle_since, inv, slot),
        Strategy::MostSkilled => (inv, a.idle_since, slot),
        Strategy::FewestCalls => (a.answered, a.idle_since, slot),
        Strategy::RoundRobin => (0, 0, slot),
    }
}

/// Applies the call's widening steps due at `t`; returns whether its maximum wait is over.
fn settle(q: &Queue, ids: &HashMap<String, QId>, c: &mut Call, t: Millis) -> bool {
    while let Some(step) = q.cfg.widening.get(c.next_step) {
        if c.arrival.saturating_add(step.after_ms) > t {
            break;
        }
        if let Some(l) = step.min_level {
            c.min_level = c.min_level.min(level(l));
        }
        if let Some(&x) = step.overflow_to.as_ref().and_then(|n| ids.get(n)) {
            if x != c.queue && !c.overflow.contains(&x) {
                c.overflow.push(x);
            }
        }
        c.next_step += 1;
    }
    q.cfg
        .max_wait_ms
        .is_some_and(|w| c.arrival.saturating_add(w) <= t)
}

/// When the call next needs `handle_timeout`: its next step or its maximum wait.
fn next_event(q: &Queue, c: &Call) -> Option<Millis> {
    let step = q
        .cfg
        .widening
        .get(c.next_step)
        .map(|s| c.arrival.saturating_add(s.after_ms));
    let expiry = q.cfg.max_wait_ms.map(|w| c.arrival.saturating_add(w));
    match (step, expiry) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Clamps levels to 1..=5 and keeps the last level given for a skill.
fn normalize(skills: &[(String, u8)]) -> Vec<(String, u8)> {
    let mut out: Vec<(String, u8)> = Vec::with_capacity(skills.len());
    for (name, l) in skills {
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(s) => s.1 = level(*l),
            None => out.push((name.clone(), level(*l))),
        }
    }
    out
}

impl Router {
    /// A router with no queues and no agents.
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds a queue, or replaces the configuration of the queue with this name. A replaced
    /// queue keeps its waiting calls; they keep the level and overflow they reached and
    /// continue with the new steps (re-armed now). Lowering `min_level` of a queue that has
    /// waiting calls does not re-match them before their next step; configure at start.
    /// O(agents): configuration, not routing.
    pub fn add_queue(&mut self, cfg: QueueConfig) {
        let mut cfg = cfg;
        cfg.min_level = level(cfg.min_level);
        cfg.widening.sort_by_key(|s| s.after_ms);
        let floor = cfg
            .widening
            .iter()
            .filter_map(|s| s.min_level)
            .map(level)
            .fold(cfg.min_level, u8::min);
        if let Some(&qid) = self.queue_ids.get(&cfg.name) {
            let q = &mut self.queues[qid];
            q.cfg = cfg;
            q.floor = floor;
            q.rr_last = None;
            q.ready = Default::default();
            let strategy = q.cfg.strategy;
            for (slot, a) in self.agents.iter().enumerate() {
                if a.state == AgentState::Ready {
                    for &(x, l) in a.resolved.iter().filter(|(x, _)| *x == qid) {
                        let k = rank_key(strategy, a, slot as Slot, l);
                        self.queues[x].ready[l as usize - 1].insert(k);
                    }
                }
            }
            let waiting: Vec<CallKey> = self.queues[qid].by_arrival.iter().map(|e| e.1).collect();
            for key in waiting {
                self.unindex_call(key);
                self.index_call(key);
            }
            return;
        }
        let qid = self.queues.len();
        self.queue_ids.insert(cfg.name.clone(), qid);
        let name = cfg.name.clone();
        self.queues.push(Queue {
            cfg,
            floor,
            waiting: Default::default(),
            overflow_in: BTreeSet::new(),
            order: OsTree::default(),
            by_arrival: BTreeSet::new(),
            ready: Default::default(),
            staffed: [0; LEVELS],
            rr_last: None,
        });
        for slot in 0..self.agents.len() {
            let a = &mut self.agents[slot];
            let Some(&(_, l)) = a.skills.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            a.resolved.push((qid, l));
            let q = &mut self.queues[qid];
            if a.state != AgentState::LoggedOut {
                q.staffed[l as usize - 1] += 1;
            }
            if a.state == AgentState::Ready {
                let k = rank_key(q.cfg.strategy, a, slot as Slot, l);
                q.ready[l as usize - 1].insert(k);
            }
        }
    }

    /// Logs an agent in with these skills and levels (1..=5), NotReady("login") until
    /// [`Router::set_ready`]; its answered-call count starts at 0. Skills naming no queue
    /// are kept (they count once such a queue is added). Logging in an agent that is
    /// already logged in is ignored: use [`Router::set_skills`].
    pub fn login(&mut self, agent: AgentId, skills: &[(String, u8)], now: Millis) {
        let skills = normalize(skills);
        let resolved = self.resolve(&skills);
        let slot = match self.agent_ids.get(&agent) {
            Some(&s) if self.agents[s as usize].state != AgentState::LoggedOut => return,
            Some(&s) => s,
            None => {
                let s = self.agents.len() as Slot;
                self.agent_ids.insert(agent.clone(), s);
                self.agents.push(Agent {
                    id: agent,
                    state: AgentState::LoggedOut,
                    since: now,
                    skills: Vec::new(),
                    resolved: Vec::new(),
                    answered: 0,
                    idle_since: now,
                });
                s
            }
        };
        let a = &mut self.agents[slot as usize];
        a.state = AgentState::NotReady("login".into());
        a.since = now;
        a.skills = skills;
        a.resolved = resolved;
        a.answered = 0;
        a.idle_since = now;
        self.staff(slot, true);
    }

    /// Logs an agent out from any state. A call ringing at it goes back to the head of its
    /// queue and may be offered to another agent at once; a call it was talking on is
    /// forgotten (the conversation is the controller's).
    pub fn logout(&mut self, agent: &AgentId, now: Millis) -> Vec<Decision> {
        let mut out = Vec::new();
        let Some(&slot) = self.agent_ids.get(agent) else {
            return out;
        };
        let state = std::mem::replace(&mut self.agents[slot as usize].state, AgentState::LoggedOut);
        match state {
            AgentState::LoggedOut => return out,
            AgentState::Ready => self.unindex_agent(slot),
            AgentState::OnCall(c) => {
                self.calls.remove(&c);
            }
            _ => {}
        }
        self.staff(slot, false);
        self.agents[slot as usize].since = now;
        if let AgentState::Offered(c) = state {
            self.requeue(c, now, &mut out);
        }
        out
    }

    /// Replaces an agent's skills. A Ready agent is re-matched at once (it may be offered a
    /// call it can now serve); a busy agent's current call is not affected.
    pub fn set_skills(
        &mut self,
        agent: &AgentId,
        skills: &[(String, u8)],
        now: Millis,
    ) -> Vec<Decision> {
        let mut out = Vec::new();
        let Some(&slot) = self.agent_ids.get(agent) else {
            return out;
        };
        let skills = normalize(skills);
        let resolved = self.resolve(&skills);
        let state = self.agents[slot as usize].state.clone();
        let logged_in = state != AgentState::LoggedOut;
        if state == AgentState::Ready {
            self.unindex_agent(slot);
        }
        if logged_in {
            self.staff(slot, false);
        }
        let a = &mut self.agents[slot as usize];
        a.skills = skills;
        a.resolved = resolved;
        if logged_in {
            self.staff(slot, true);
        }
        if state == AgentState::Ready {
            let since = self.agents[slot as usize].since;
            self.make_ready(slot, now, &mut out);
            if out.is_empty() {
                self.agents[slot as usize].since = since;
            }
        }
        out
    }

    /// The agent is ready (from NotReady or WrapUp): it is offered the best call it can
    /// serve across its skills — highest priority, then longest waiting — or waits idle.
    /// Ignored in other states.
    pub fn set_ready(&mut self, agent: &AgentId, now: Millis) -> Vec<Decision> {
        let mut out = Vec::new();
        let Some(&slot) = self.agent_ids.get(agent) else {
            return out;
        };
        let a = &mut self.agents[slot as usize];
        if !matches!(a.state, AgentState::NotReady(_) | AgentState::WrapUp) {
            return out;
        }
        a.idle_since = now;
        self.make_ready(slot, now, &mut out);
        out
    }

    /// The agent stops taking calls (from Ready, NotReady or WrapUp). False, and nothing
    /// changes, while a call rings or talks, and when logged out or unknown: the caller
    /// says so rather than dropping the request.
    pub fn set_not_ready(&mut self, agent: &AgentId, reason: &str, now: Millis) -> bool {
        let Some(&slot) = self.agent_ids.get(agent) else {
            return false;
        };
        match self.agents[slot as usize].state {
            AgentState::Ready => self.unindex_agent(slot),
            AgentState::NotReady(_) | AgentState::WrapUp => {}
            _ => return false,
        }
        let a = &mut self.agents[slot as usize];
        a.state = AgentState::NotReady(reason.to_string());
        a.since = now;
        true
    }

    /// A call asks for `queue` with a priority (higher first). Returns an [`Decision::Offer`]
    /// if a ready agent can take it, else [`Decision::Queued`], or a refusal: unknown queue,
    /// no logged-in agent could ever serve it ([`Refusal::NoAgents`]), queue full. Widening
    /// steps with `after_ms == 0` apply at once. Enqueuing a known call again repeats its
    /// current decision.
    pub fn enqueue(&mut self, call: CallKey, queue: &str, priority: u8, now: Millis) -> Decision {
        self.enqueue_since(call, queue, priority, now, now)
    }

    /// [`Router::enqueue`] for a call that has been waiting since `arrival` (at most `now`)
    /// elsewhere: a callback task keeps the place its caller had, ahead of later arrivals
    /// of the same priority. Widening steps and the maximum wait count from `arrival` too.
    pub fn enqueue_since(
        &mut self,
        call: CallKey,
        queue: &str,
        priority: u8,
        arrival: Millis,
        now: Millis,
    ) -> Decision {
        let arrival = arrival.min(now);
        let Some(&qid) = self.queue_ids.get(queue) else {
            return Decision::Refused {
                call,
                reason: Refusal::UnknownQueue,
            };
        };
        if let Some(c) = self.calls.get(&call) {
            return match c.agent {
                Some(s) => Decision::Offer {
                    call,
                    agent: self.agents[s as usize].id.clone(),
                },
                None => Decision::Queued {
                    call,
                    queue: self.queues[c.queue].cfg.name.clone(),
                    position: self.position(call).unwrap_or(1),
                },
            };
        }
        if !self.staffed(qid) {
            return Decision::Refused {
                call,
                reason: Refusal::NoAgents,
            };
        }
        let q = &self.queues[qid];
        let mut c = Call {
            queue: qid,
            priority,
            arrival,
            min_level: q.cfg.min_level,
            overflow: Vec::new(),
            next_step: 0,
            agent: None,
            deadline: None,
            direct: false,
        };
        if settle(q, &self.queue_ids, &mut c, now) {
            return Decision::Expired { call };
        }
        if let Some((slot, via)) = self.find_agent(&c) {
            self.calls.insert(call, c);
            self.unindex_agent(slot);
            return self.take(call, slot, via, now);
        }
        if q.order.len() >= q.cfg.max_len {
            return Decision::Refused {
                call,
                reason: Refusal::QueueFull,
            };
        }
        self.calls.insert(call, c);
        self.index_call(call);
        self.queued(call)
    }

    /// The offered agent answered: Offered → OnCall, and its answered count grows.
    pub fn offer_answered(&mut self, call: CallKey, now: Millis) {
        let Some(slot) = self.calls.get(&call).and_then(|c| c.agent) else {
            return;
        };
        let a = &mut self.agents[slot as usize];
        if a.state == AgentState::Offered(call) {
            a.state = AgentState::OnCall(call);
            a.since = now;
            a.answered += 1;
        }
    }

    /// The offer failed (no answer, busy, error): the agent goes NotReady(`reason`) — the
    /// controller passes "no answer" for ring-no-answer — and the call goes back to the head
    /// of its queue with its original priority and arrival. Returns an Offer to another
    /// ready agent, or Queued (or Expired if its maximum wait passed while it rang).
    pub fn offer_failed(&mut self, call: CallKey, reason: &str, now: Millis) -> Vec<Decision> {
        let mut out = Vec::new();
        let Some(slot) = self.calls.get(&call).and_then(|c| c.agent) else {
            return out;
        };
        let a = &mut self.agents[slot as usize];
        if a.state != AgentState::Offered(call) {
            return out;
        }
        a.state = AgentState::NotReady(reason.to_string());
        a.since = now;
        if self.calls.get(&call).is_some_and(|c| c.direct) {
            self.calls.remove(&call);
        } else {
            self.requeue(call, now, &mut out);
        }
        out
    }

    /// Reserves the Ready agent `agent` for `call` (a transfer or consultation to that
    /// agent by name): the agent is Offered the call, then goes through OnCall and WrapUp
    /// as for a queue's offer ([`Router::offer_answered`], [`Router::call_ended`]); if it
    /// fails ([`Router::offer_failed`]) the agent pauses and nobody else is offered it;
    /// [`Router::abandon`] gives the agent back. Refused unless the agent is Ready.
    pub fn offer_direct(
        &mut self,
        call: CallKey,
        agent: &AgentId,
        now: Millis,
    ) -> Result<(), DirectRefusal> {
        let &slot = self
            .agent_ids
            .get(agent)
            .ok_or(DirectRefusal::UnknownAgent)?;
        if self.calls.contains_key(&call) {
            return Err(DirectRefusal::Busy);
        }
        let a = &self.agents[slot as usize];
        match a.state {
            AgentState::Ready => {}
            AgentState::LoggedOut => return Err(DirectRefusal::LoggedOut),
            _ => return Err(DirectRefusal::Busy),
        }
        let queue = a.resolved.first().map(|r| r.0).unwrap_or(0);
        self.unindex_agent(slot);
        self.calls.insert(
            call,
            Call {
                queue,
                priority: 0,
                arrival: now,
                min_level: 1,
                overflow: Vec::new(),
                next_step: 0,
                agent: Some(slot),
                deadline: None,
                direct: true,
            },
        );
        let a = &mut self.agents[slot as usize];
        a.state = AgentState::Offered(call);
        a.since = now;
        Ok(())
    }

    /// The conversation ended: OnCall → WrapUp, and the router forgets the call. The
    /// controller times the wrap-up and then calls [`Router::set_ready`]. For a caller who
    /// leaves before answering, use [`Router::abandon`].
    pub fn call_ended(&mut self, call: CallKey, now: Millis) {
        let Some(slot) = self.calls.get(&call).and_then(|c| c.agent) else {
            return;
        };
        let a = &mut self.agents[slot as usize];
        if a.state == AgentState::OnCall(call) {
            a.state = AgentState::WrapUp;
            a.since = now;
            self.calls.remove(&call);
        }
    }

    /// The caller left (hung up, or chose a callback) while waiting or while ringing. A
    /// ringing agent goes back to Ready (keeping its idle time) and may be offered another
    /// call at once. Ignored for a call being talked on (that is [`Router::call_ended`]).
    pub fn abandon(&mut self, call: CallKey, now: Millis) -> Vec<Decision> {
        let mut out = Vec::new();
        let Some(c) = self.calls.get(&call) else {
            return out;
        };
        match c.agent {
            None => {
                self.unindex_call(call);
                self.calls.remove(&call);
            }
            Some(slot) if self.agents[slot as usize].state == AgentState::Offered(call) => {
                self.calls.remove(&call);
                self.make_ready(slot, now, &mut out);
            }
            Some(_) => {}
        }
        out
    }

    /// The 1-based position of a waiting call in its queue (priority, then arrival);
    /// `None` when it is not waiting. O(log n).
    pub fn position(&self, call: CallKey) -> Option<usize> {
        let c = self.calls.get(&call)?;
        if c.agent.is_some() {
            return None;
        }
        Some(self.queues[c.queue].order.rank(&c.ord(call)) + 1)
    }

    /// The earliest instant [`Router::handle_timeout`] has work (a widening step or a
    /// maximum wait); ask again after every input. It may be in the past.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// Applies every widening step and maximum wait due by `now`, in time order: returns
    /// Expired for calls that waited too long and Offers for calls that became servable
    /// by a ready agent.
    pub fn handle_timeout(&mut self, now: Millis) -> Vec<Decision> {
        let mut out = Vec::new();
        while let Some(&(t, key)) = self.timers.first() {
            if t > now {
                break;
            }
            self.unindex_call(key);
            self.place(key, t, now, &mut out, false);
        }
        out
    }

    /// An agent's state; `None` for an agent never logged in.
    pub fn agent_state(&self, agent: &AgentId) -> Option<&AgentState> {
        let &slot = self.agent_ids.get(agent)?;
        Some(&self.agents[slot as usize].state)
    }

    /// Every queue (waiting calls, longest wait, agents holding the skill by state) and
    /// every agent. O(agents · skills + queues · log n): for wallboards, not per call.
    pub fn snapshot(&self, now: Millis) -> Snapshot {
        let mut counts = vec![[0usize; 5]; self.queues.len()];
        for a in &self.agents {
            let i = match a.state {
                AgentState::LoggedOut => continue,
                AgentState::Ready => 0,
                AgentState::NotReady(_) => 1,
                AgentState::Offered(_) => 2,
                AgentState::OnCall(_) => 3,
                AgentState::WrapUp => 4,
            };
            for &(q, _) in &a.resolved {
                counts[q][i] += 1;
            }
        }
        let queues = self
            .queues
            .iter()
            .zip(counts)
            .map(
                |(q, [ready, not_ready, offered, on_call, wrap_up])| QueueSnapshot {
                    name: q.cfg.name.clone(),
                    waiting: q.order.len(),
                    longest_wait_ms: q
                        .by_arrival
                        .first()
                        .map_or(0, |&(t, _)| now.saturating_sub(t)),
                    ready,
                    not_ready,
                    offered,
                    on_call,
                    wrap_up,
                },
            )
            .collect();
        let mut agents: Vec<AgentSnapshot> = self
            .agents
            .iter()
            .map(|a| AgentSnapshot {
                id: a.id.clone(),
                state: a.state.clone(),
                since: a.since,
                skills: a.skills.clone(),
                answered_calls: a.answered,
            })
            .collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        Snapshot { queues, agents }
    }

    // ---- internals ----

    fn resolve(&self, skills: &[(String, u8)]) -> Vec<(QId, u8)> {
        skills
            .iter()
            .filter_map(|(n, l)| self.queue_ids.get(n).map(|&q| (q, *l)))
            .collect()
    }

    fn staff(&mut self, slot: Slot, add: bool) {
        for &(q, l) in &self.agents[slot as usize].resolved {
            let n = &mut self.queues[q].staffed[l as usize - 1];
            *n = if add { *n + 1 } else { n.saturating_sub(1) };
        }
    }

    /// Whether any logged-in agent could ever serve a call of this queue.
    fn staffed(&self, qid: QId) -> bool {
        let any_from = |q: &Queue, l: u8| q.staffed[l as usize - 1..].iter().any(|&n| n > 0);
        let q = &self.queues[qid];
        any_from(q, q.floor)
            || q.cfg
                .widening
                .iter()
                .filter_map(|s| s.overflow_to.as_ref().and_then(|n| self.queue_ids.get(n)))
                .any(|&x| any_from(&self.queues[x], self.queues[x].cfg.min_level))
    }

    fn index_agent(&mut self, slot: Slot) {
        let a = &self.agents[slot as usize];
        for &(q, l) in &a.resolved {
            let queue = &mut self.queues[q];
            queue.ready[l as usize - 1].insert(rank_key(queue.cfg.strategy, a, slot, l));
        }
    }

    fn unindex_agent(&mut self, slot: Slot) {
        let a = &self.agents[slot as usize];
        for &(q, l) in &a.resolved {
            let queue = &mut self.queues[q];
            queue.ready[l as usize - 1].remove(&rank_key(queue.cfg.strategy, a, slot, l));
        }
    }

    fn index_call(&mut self, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let ord = c.ord(key);
        let q = &mut self.queues[c.queue];
        q.waiting[c.min_level as usize - 1].insert(ord);
        q.order.insert(ord);
        q.by_arrival.insert((c.arrival, key));
        c.deadline = next_event(q, c);
        if let Some(d) = c.deadline {
            self.timers.insert((d, key));
        }
        for &x in &c.overflow {
            self.queues[x].overflow_in.insert(ord);
        }
    }

    fn unindex_call(&mut self, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let ord = c.ord(key);
        let q = &mut self.queues[c.queue];
        q.waiting[c.min_level as usize - 1].remove(&ord);
        q.order.remove(&ord);
        q.by_arrival.remove(&(c.arrival, key));
        if let Some(d) = c.deadline.take() {
            self.timers.remove(&(d, key));
        }
        for &x in &c.overflow {
            self.queues[x].overflow_in.remove(&ord);
        }
    }

    /// The best ready agent of queue `qid` at level `min` or above, by its strategy.
    fn best_agent(&self, qid: QId, min: u8) -> Option<Slot> {
        let q = &self.queues[qid];
        let sets = &q.ready[min as usize - 1..];
        if q.cfg.strategy == Strategy::RoundRobin {
            let start = q.rr_last.map_or(0, |s| s.saturating_add(1));
            sets.iter()
                .filter_map(|s| {
                    s.range((0, 0, start)..)
                        .next()
                        .map(|k| (false, k.2))
                        .or_else(|| s.first().map(|k| (true, k.2)))
                })
                .min()
                .map(|(_, slot)| slot)
        } else {
            sets.iter().filter_map(|s| s.first()).min().map(|k| k.2)
        }
    }

    /// The agent for a call that became servable: its own queue first, then overflows.
    fn find_agent(&self, c: &Call) -> Option<(Slot, QId)> {
        if let Some(s) = self.best_agent(c.queue, c.min_level) {
            return Some((s, c.queue));
        }
        c.overflow.iter().find_map(|&x| {
            self.best_agent(x, self.queues[x].cfg.min_level)
                .map(|s| (s, x))
        })
    }

    /// The call for an agent that became ready: the smallest `CallOrd` over the heads it
    /// may serve in each of its queues (at most 6 per skill).
    fn find_call(&self, slot: Slot) -> Option<(CallKey, QId)> {
        let mut best: Option<(CallOrd, QId)> = None;
        for &(qid, l) in &self.agents[slot as usize].resolved {
            let q = &self.queues[qid];
            let overflow = (l >= q.cfg.min_level).then_some(&q.overflow_in);
            for set in q.waiting[..l as usize].iter().chain(overflow) {
                if let Some(&k) = set.first() {
                    if best.is_none_or(|(b, _)| k < b) {
                        best = Some((k, qid));
                    }
                }
            }
        }
        best.map(|(k, q)| (k.2, q))
    }

    /// Gives an unindexed call to an unindexed agent.
    fn take(&mut self, call: CallKey, slot: Slot, via: QId, now: Millis) -> Decision {
        if let Some(c) = self.calls.get_mut(&call) {
            c.agent = Some(slot);
        }
        let q = &mut self.queues[via];
        if q.cfg.strategy == Strategy::RoundRobin {
            q.rr_last = Some(slot);
        }
        let a = &mut self.agents[slot as usize];
        a.state = AgentState::Offered(call);
        a.since = now;
        Decision::Offer {
            call,
            agent: a.id.clone(),
        }
    }

    /// Makes an unindexed agent Ready: offers it a call or indexes it.
    fn make_ready(&mut self, slot: Slot, now: Millis, out: &mut Vec<Decision>) {
        let a = &mut self.agents[slot as usize];
        a.state = AgentState::Ready;
        a.since = now;
        match self.find_call(slot) {
            Some((call, via)) => {
                self.unindex_call(call);
                out.push(self.take(call, slot, via, now));
            }
            None => self.index_agent(slot),
        }
    }

    /// Puts a call whose agent gave it back into its queue again.
    fn requeue(&mut self, call: CallKey, now: Millis, out: &mut Vec<Decision>) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.agent = None;
            self.place(call, now, now, out, true);
        }
    }

    /// Settles an unindexed waiting call at `due` (steps, expiry), then offers or indexes it.
    fn place(
        &mut self,
        key: CallKey,
        due: Millis,
        now: Millis,
        out: &mut Vec<Decision>,
        announce: bool,
    ) {
        let Some(mut c) = self.calls.remove(&key) else {
            return;
        };
        if settle(&self.queues[c.queue], &self.queue_ids, &mut c, due) {
            out.push(Decision::Expired { call: key });
            return;
        }
        let found = self.find_agent(&c);
        self.calls.insert(key, c);
        if let Some((slot, via)) = found {
            self.unindex_agent(slot);
            out.push(self.take(key, slot, via, now));
            return;
        }
        self.index_call(key);
        if announce {
            out.push(self.queued(key));
        }
    }

    fn queued(&self, call: CallKey) -> Decision {
        let queue = self
            .calls
            .get(&call)
            .map(|c| self.queues[c.queue].cfg.name.clone())
            .unwrap_or_default();
        Decision::Queued {
            call,
            queue,
            position: self.position(call).unwrap_or(1),
        }
    }
}

#[cfg(test)]
mod check;
