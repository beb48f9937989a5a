//! The public vocabulary: ids, queue configuration, agent states, decisions, snapshots.

/// Time as milliseconds from any fixed origin the controller chooses.
pub type Millis = u64;

/// A call waiting for or talking to an agent. The controller allocates keys in arrival
/// order; the key breaks ties between calls of equal priority and arrival time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

/// An agent, by its extension.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(pub String);

/// How a queue picks among its ready agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Longest idle first (idle since the agent last became ready), then highest level.
    #[default]
    LongestIdle,
    /// Highest skill level first, then longest idle.
    MostSkilled,
    /// Agents take turns: the next ready agent after the one last offered a call by this
    /// queue, in login order, wrapping around.
    RoundRobin,
    /// Fewest answered calls since login first, then longest idle.
    FewestCalls,
}

/// One timed widening step of a queue, counted from the call's arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WideningStep {
    /// When the step applies, after the call entered the queue.
    pub after_ms: Millis,
    /// Accept agents of the queue's skill from this level on (only ever lowers the level).
    pub min_level: Option<u8>,
    /// Also offer the call to the agents of this queue (at that queue's `min_level`).
    pub overflow_to: Option<String>,
}

/// A queue: one per skill the IVR can choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// The queue's name, which is also the skill its agents must hold.
    pub name: String,
    /// How ready agents are picked.
    pub strategy: Strategy,
    /// The lowest skill level offered a new call (1..=5; 1 accepts everyone).
    pub min_level: u8,
    /// At most this many calls wait; more are refused with [`Refusal::QueueFull`].
    pub max_len: usize,
    /// A call waiting this long leaves with [`Decision::Expired`] (voicemail, callback).
    pub max_wait_ms: Option<Millis>,
    /// Timed widening steps, applied in `after_ms` order.
    pub widening: Vec<WideningStep>,
}

impl QueueConfig {
    /// A queue with the defaults: longest idle, any level, unbounded, no maximum wait.
    pub fn new(name: &str) -> Self {
        QueueConfig {
            name: name.to_string(),
            strategy: Strategy::LongestIdle,
            min_level: 1,
            max_len: usize::MAX,
            max_wait_ms: None,
            widening: Vec::new(),
        }
    }

    /// The default 12345 queues: consult, complaint, enterprise, agent (general), en.
    pub fn defaults() -> Vec<QueueConfig> {
        ["consult", "complaint", "enterprise", "agent", "en"]
            .into_iter()
            .map(QueueConfig::new)
            .collect()
    }
}

/// Where an agent is in its working cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    /// Not logged in; offered nothing and not counted as staffing.
    LoggedOut,
    /// Waiting for a call.
    Ready,
    /// Logged in but not taking calls ("login", "no answer", "break", …).
    NotReady(String),
    /// This call is ringing at the agent's phone.
    Offered(CallKey),
    /// Talking with this caller.
    OnCall(CallKey),
    /// After-call work; the controller times it and then calls [`crate::Router::set_ready`].
    WrapUp,
}

/// What the router decided; the controller acts on each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ring this agent with this call now.
    Offer {
        /// The call.
        call: CallKey,
        /// The agent to ring.
        agent: AgentId,
    },
    /// The call waits in `queue` at `position` (1 is the head).
    Queued {
        /// The call.
        call: CallKey,
        /// Its queue.
        queue: String,
        /// 1-based position.
        position: usize,
    },
    /// The call cannot wait: send it to voicemail.
    Refused {
        /// The call.
        call: CallKey,
        /// Why.
        reason: Refusal,
    },
    /// The call waited its queue's maximum: voicemail with a callback case.
    Expired {
        /// The call, which the router has forgotten.
        call: CallKey,
    },
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No logged-in agent could ever serve the queue: nobody would answer.
    NoAgents,
    /// The queue holds its configured maximum of waiting calls.
    QueueFull,
    /// No queue has this name.
    UnknownQueue,
}

/// The state of every queue and agent, for wallboards and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Queues in the order they were added.
    pub queues: Vec<QueueSnapshot>,
    /// Every agent ever logged in, by id.
    pub agents: Vec<AgentSnapshot>,
}

/// One queue; agent counts are of logged-in agents holding the queue's skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// The queue's name.
    pub name: String,
    /// Calls waiting (not counting calls ringing at an agent).
    pub waiting: usize,
    /// How long the earliest arrived waiting call has waited (0 when none waits).
    pub longest_wait_ms: Millis,
    /// Agents ready.
    pub ready: usize,
    /// Agents not ready.
    pub not_ready: usize,
    /// Agents whose phone is ringing.
    pub offered: usize,
    /// Agents talking.
    pub on_call: usize,
    /// Agents in wrap-up.
    pub wrap_up: usize,
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSnapshot {
    /// The agent.
    pub id: AgentId,
    /// Its state.
    pub state: AgentState,
    /// When it entered that state.
    pub since: Millis,
    /// Its skills and levels.
    pub skills: Vec<(String, u8)>,
    /// Calls answered since login.
    pub answered_calls: u64,
}

/// Why [`Router::offer_direct`](crate::Router::offer_direct) refused to reserve an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DirectRefusal {
    /// No agent with that extension ever logged in.
    #[error("no such agent")]
    UnknownAgent,
    /// The agent is logged out.
    #[error("the agent is logged out")]
    LoggedOut,
    /// The agent is not ready (on a call, ringing, wrapping up, paused).
    #[error("the agent is busy")]
    Busy,
}
