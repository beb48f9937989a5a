//! The agent side of a call as a state machine with no I/O: who rings, who talks, who
//! holds, who is consulted, conferenced or listening, and what must happen next.
//!
//! In the style of quinn-proto: the call's actor feeds it what happened
//! (`handle_offer`, `handle_leg`, `handle_timeout`, the agents' commands) with the time
//! passed in, and drains [`Action`]s (`poll_action`) that it carries out — ring a leg,
//! CANCEL, BYE, connect the media as [`Topology`] says, play hold music, answer a REFER
//! with NOTIFY, tell the ACD and the store. It reads no clock and sends nothing, so every
//! path (ring timeout, CANCEL race, RONA, transfer, consult, conference, supervision) is a
//! unit test that runs in microseconds.
//!
//! ```text
//! Idle ──offer──> Ringing ──answered──> Talking ──hang-up──> Idle (agent wraps up; survey)
//!   ^               │ no answer / failed      │ hold/resume: music to the citizen
//!   └── ACD retries ┘                         │ transfer ─> Ringing (citizen hears music;
//!                                             │             failure: back to the queue's head)
//!                                             │ consult ─> agent talks to a second party
//!                                             │   complete (= transfer) | back | conference
//!                                             └ supervisor: listen / whisper / barge
//! ```
//! The citizen's own leg (the trunk dialog) is leg [`CITIZEN`]; it is not this machine's
//! to end: when the citizen hangs up the actor calls [`Control::handle_citizen_gone`].

use hotline_acd::{AgentId, CallKey};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A leg of the call, numbered by the machine (the actor maps them to SIP dialogs).
pub type LegId = u32;
/// The citizen's leg.
pub const CITIZEN: LegId = 0;

/// Whom a new leg calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dial {
    /// An agent's registered softphone.
    Agent(AgentId),
    /// A number outside through the carrier's gateway (a department's line, 110…).
    Number(String),
}

/// Where an agent sends the citizen, resolved by the actor (the ACD agreed to offer the
/// call to the agent, the number is allowed, the queue exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Another agent, reserved for this call by the ACD under `key`.
    Agent { agent: AgentId, key: CallKey },
    /// An outside number.
    Number(String),
    /// Back into a queue, at its head.
    Queue(String),
    /// The satisfaction survey (the agent is done).
    Survey,
}

impl Destination {
    /// How the case trail names it.
    pub fn describe(&self) -> String {
        match self {
            Destination::Agent { agent, .. } => format!("agent {}", agent.0),
            Destination::Number(n) => format!("number {n}"),
            Destination::Queue(q) => format!("queue {q}"),
            Destination::Survey => "survey".into(),
        }
    }
}

/// What a supervisor does on a live call (监听 / 耳语 / 强插).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supervision {
    /// Hears both sides; nobody hears them.
    Listen,
    /// Hears both sides; only the agent hears them.
    Whisper,
    /// Hears and is heard by everyone.
    Barge,
}

/// Whom one party of the media hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hears {
    /// Every other party.
    Everyone,
    /// Only these legs.
    Only(Vec<LegId>),
    /// Nobody (hold music may play to it).
    Nobody,
}

/// How the legs' audio is connected: each party, whom it hears, and whether its voice is
/// recorded on the citizen's (left) or the other (right) channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topology {
    /// (leg, hears, recorded) — `recorded` is false for a supervisor who only listens.
    pub parties: Vec<(LegId, Hears, bool)>,
}

impl Topology {
    /// The plain conversation: the citizen and one party hearing each other, which a
    /// two-leg bridge can carry.
    pub fn as_pair(&self) -> Option<LegId> {
        match self.parties.as_slice() {
            [(CITIZEN, Hears::Everyone, true), (other, Hears::Everyone, true)] => Some(*other),
            _ => None,
        }
    }
}

/// What the ACD must be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcdOp {
    /// The offered agent answered.
    Answered(CallKey),
    /// The offer failed: the agent pauses and the call goes back to the head of its queue.
    OfferFailed(CallKey, String),
    /// The conversation under `key` ended: its agent wraps up.
    ConversationEnded(CallKey),
    /// The citizen goes back into `queue`, at its head.
    Requeue(String),
    /// An agent reserved for the call (a target that never answered) is released.
    Withdraw(CallKey),
}

/// A fact for the call's row and the case trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An agent's phone rings.
    Offered(AgentId),
    /// The first agent answered (the call row's agent).
    Answered { agent: AgentId, leg: LegId },
    /// An agent did not take the call.
    OfferRejected { agent: AgentId, reason: String },
    /// The first agent's conversation ended.
    AgentEnded,
    /// The citizen was sent on.
    Transferred(String),
    /// The transfer's target answered.
    TransferAnswered(String),
    /// The citizen was on hold for this long.
    Held(Duration),
}

/// What the call's own flow must hear (the IVR of an inbound call, the phases of a
/// callback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowNote {
    /// An agent's phone rings.
    Ringing,
    /// The first agent answered.
    Answered,
    /// The last agent is gone: the survey follows (a callback ends).
    HungUp,
    /// A callback's citizen answered the call the agent asked for.
    CitizenAnswered,
    /// A callback's citizen was not reached (the carrier's answer).
    CitizenUnreached(String),
    /// The citizen hung up (a callback's dialled citizen).
    CitizenGone,
}

/// One thing the actor must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a new leg calling `dial`; a failure to start comes back as
    /// [`LegEvent::Failed`].
    Ring {
        leg: LegId,
        dial: Dial,
    },
    /// Give up a ringing leg (CANCEL); its end comes back as a failure.
    Cancel(LegId),
    /// End a leg (BYE, or CANCEL while ringing). No event comes back.
    HangUp(LegId),
    /// Connect the media as described (an empty topology: nobody is connected).
    Media(Topology),
    /// Hold music to the citizen on (`true`) or off.
    Music(bool),
    /// The final NOTIFY of a REFER received on `leg`: `code` is the sipfrag status.
    Notify {
        leg: LegId,
        code: u16,
    },
    Acd(AcdOp),
    Record(Record),
    Flow(FlowNote),
    /// A line for the live view (`on_hold`, `transferred`…).
    Live(&'static str),
}

/// What a leg reports (from its SIP dialog), as the machine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    Answered,
    /// It did not connect (`reason`: "no answer", a status code…).
    Failed(String),
    HungUp,
    /// Its phone held (`true`) or took back (`false`) the other side.
    Held(bool),
}

/// Why a command was refused; the call is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no conversation with an agent")]
    NotTalking,
    #[error("a consultation is already in progress")]
    Busy,
    #[error("no consultation in progress")]
    NoConsultation,
    #[error("the consulted party has not answered")]
    NotAnswered,
    #[error("a consultation can only be with an agent or a number")]
    BadTarget,
}

/// A party on the far side of the citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Peer {
    leg: LegId,
    /// An agent's (with its ACD key), or none for an outside number.
    agent: Option<(AgentId, CallKey)>,
    /// Reserved for this call by the actor (a transfer's or consultation's target, or a
    /// number), not offered by the queue: if it fails, the queue does not retry it.
    direct: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Consult {
    peer: Peer,
    answered: bool,
    until: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Talk {
    peer: Peer,
    /// The citizen hears music since then.
    held_since: Option<Instant>,
    consult: Option<Consult>,
    /// A third party everyone hears.
    conference: Option<Peer>,
    supervisor: Option<(LegId, Supervision)>,
    /// The REFER (blind transfer from the phone) is answered once the new leg rings.
    referred_on: Option<LegId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// In the IVR or waiting in a queue: no leg but the citizen's.
    Idle,
    /// A phone rings for the call. `transfer`: sent on by an agent (the citizen hears
    /// music meanwhile; a failure puts them back at the head of `queue`).
    Ringing {
        peer: Peer,
        until: Option<Instant>,
        transfer: bool,
    },
    Talking(Talk),
    Ended,
}

/// The agent side of one call. See the [module docs](self).
#[derive(Debug)]
pub struct Control {
    state: State,
    /// The queue the call came through (where a failed transfer goes back to).
    queue: Option<String>,
    /// An agent has answered once: later agents are transfer targets.
    answered_once: bool,
    /// The leg of the first agent who answered, whose end is the call row's talk end.
    first_leg: Option<LegId>,
    next_leg: LegId,
    /// The citizen is connected. An inbound citizen is from the start; a callback's is
    /// dialled once its agent answers ([`Control::dial_citizen`]).
    citizen_up: bool,
    /// A callback's citizen is being dialled, until then at the latest.
    citizen_ringing: Option<Option<Instant>>,
    /// A callback: the citizen is leg [`CITIZEN`], dialled by the call.
    outbound: bool,
    actions: VecDeque<Action>,
    media: Topology,
    music: bool,
}

impl Default for Control {
    fn default() -> Self {
        Control::new()
    }
}

impl Control {
    /// A call with no agent yet.
    pub fn new() -> Control {
        Control {
            state: State::Idle,
            queue: None,
            answered_once: false,
            first_leg: None,
            next_leg: CITIZEN + 1,
            citizen_up: true,
            citizen_ringing: None,
            outbound: false,
            actions: VecDeque::new(),
            media: Topology::default(),
            music: false,
        }
    }

    /// A callback: the agent is rung first, the citizen dialled once the agent answers.
    pub fn outbound() -> Control {
        Control {
            citizen_up: false,
            outbound: true,
            ..Control::new()
        }
    }

    /// A callback's agent asks for the citizen: leg [`CITIZEN`] dials `number`, ringing
    /// at most `ring`. Its outcome comes back as [`FlowNote::CitizenAnswered`] or
    /// [`FlowNote::CitizenUnreached`].
    pub fn dial_citizen(
        &mut self,
        number: &str,
        ring: Duration,
        now: Instant,
    ) -> Result<(), Refused> {
        self.talking()?;
        if self.citizen_up || self.citizen_ringing.is_some() {
            return Err(Refused::Busy);
        }
        self.citizen_ringing = Some(Some(now + ring));
        self.push(Action::Ring {
            leg: CITIZEN,
            dial: Dial::Number(number.to_string()),
        });
        Ok(())
    }

    /// What leg [`CITIZEN`] of a callback reports.
    fn citizen_leg(&mut self, ev: LegEvent) {
        match ev {
            LegEvent::Answered if self.citizen_ringing.is_some() => {
                self.citizen_ringing = None;
                self.citizen_up = true;
                self.push(Action::Live("citizen_answered"));
                self.push(Action::Flow(FlowNote::CitizenAnswered));
            }
            LegEvent::Failed(reason) if self.citizen_ringing.is_some() => {
                self.citizen_ringing = None;
                self.push(Action::Flow(FlowNote::CitizenUnreached(reason)));
            }
            LegEvent::HungUp if self.citizen_up => {
                self.push(Action::Flow(FlowNote::CitizenGone));
            }
            _ => {}
        }
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Control::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mine = match &self.state {
            State::Ringing { until, .. } => *until,
            State::Talking(t) => t.consult.as_ref().and_then(|c| c.until),
            _ => None,
        };
        let citizen = self.citizen_ringing.flatten();
        match (mine, citizen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether an agent (or a transfer target) is talking with the citizen.
    pub fn is_talking(&self) -> bool {
        matches!(self.state, State::Talking(_))
    }

    /// Whether an agent ever answered the call.
    pub fn has_answered(&self) -> bool {
        self.answered_once
    }

    /// The leg the citizen talks with, for keys the citizen presses.
    pub fn conversation_leg(&self) -> Option<LegId> {
        match &self.state {
            State::Talking(t) if t.held_since.is_none() => Some(t.peer.leg),
            _ => None,
        }
    }

    /// The leg of the party talking with (or holding) the citizen.
    pub fn agent_leg(&self) -> Option<LegId> {
        match &self.state {
            State::Talking(t) => Some(t.peer.leg),
            _ => None,
        }
    }

    /// The agent talking with the citizen (or whose phone rings), for the live view and
    /// the supervisor's "call of extension N".
    pub fn agent(&self) -> Option<&AgentId> {
        match &self.state {
            State::Ringing { peer, .. } | State::Talking(Talk { peer, .. }) => {
                peer.agent.as_ref().map(|(a, _)| a)
            }
            _ => None,
        }
    }

    /// The call entered `queue` (a failed transfer goes back there).
    pub fn queued(&mut self, queue: &str) {
        self.queue = Some(queue.to_string());
    }

    fn leg(&mut self) -> LegId {
        let l = self.next_leg;
        self.next_leg += 1;
        l
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    /// The ACD offers the call to `agent` (key `key`), who rings for at most `ring`.
    /// Ignored unless the call waits for one (a late offer is failed back at once).
    pub fn handle_offer(&mut self, agent: AgentId, key: CallKey, ring: Duration, now: Instant) {
        let transfer = match &self.state {
            State::Idle => false,
            // Sent back to the queue after a transfer: the citizen still hears music.
            State::Ringing { peer, .. } if peer.leg == CITIZEN => true,
            _ => {
                self.push(Action::Acd(AcdOp::OfferFailed(key, "call busy".into())));
                return;
            }
        };
        let leg = self.leg();
        self.push(Action::Ring {
            leg,
            dial: Dial::Agent(agent.clone()),
        });
        if !transfer && !self.answered_once {
            self.push(Action::Record(Record::Offered(agent.clone())));
            self.push(Action::Flow(FlowNote::Ringing));
        }
        self.state = State::Ringing {
            peer: Peer {
                leg,
                agent: Some((agent, key)),
                direct: false,
            },
            until: Some(now + ring),
            transfer,
        };
    }

    /// The ACD has put the call back in its queue (a transfer to a queue, or one that
    /// failed): the citizen waits with music until the next offer.
    fn wait_in_queue(&mut self, queue: String) {
        self.push(Action::Acd(AcdOp::Requeue(queue)));
        self.state = State::Ringing {
            peer: Peer {
                leg: CITIZEN,
                agent: None,
                direct: false,
            },
            until: None,
            transfer: true,
        };
        self.sync_media();
    }

    /// Time has reached `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(until) = self.citizen_ringing.as_mut() {
            if until.is_some_and(|u| now >= u) {
                // Cancelled once; the leg's end reports the outcome.
                *until = None;
                self.push(Action::Cancel(CITIZEN));
            }
        }
        match &mut self.state {
            State::Ringing { peer, until, .. } if until.is_some_and(|u| now >= u) => {
                *until = None;
                let leg = peer.leg;
                if leg != CITIZEN {
                    self.push(Action::Cancel(leg));
                }
            }
            State::Talking(t) => {
                if let Some(c) = t
                    .consult
                    .as_mut()
                    .filter(|c| c.until.is_some_and(|u| now >= u))
                {
                    c.until = None;
                    let leg = c.peer.leg;
                    self.push(Action::Cancel(leg));
                }
            }
            _ => {}
        }
    }

    /// What leg `leg` reports.
    pub fn handle_leg(&mut self, leg: LegId, ev: LegEvent, now: Instant) {
        if leg == CITIZEN {
            self.citizen_leg(ev);
            self.sync_media();
            return;
        }
        let state = std::mem::replace(&mut self.state, State::Ended);
        self.state = match state {
            State::Ringing {
                peer,
                until,
                transfer,
            } if peer.leg == leg => self.ringing_leg(peer, until, transfer, ev),
            State::Talking(t) => self.talking_leg(t, leg, ev, now),
            other => {
                // A leg this state no longer knows (a late answer): it must not linger.
                if ev == LegEvent::Answered {
                    self.push(Action::HangUp(leg));
                }
                other
            }
        };
        self.sync_media();
    }

    fn ringing_leg(
        &mut self,
        peer: Peer,
        until: Option<Instant>,
        transfer: bool,
        ev: LegEvent,
    ) -> State {
        match ev {
            LegEvent::Answered => {
                if let Some((agent, key)) = &peer.agent {
                    self.push(Action::Acd(AcdOp::Answered(*key)));
                    if self.answered_once {
                        self.push(Action::Record(Record::TransferAnswered(format!(
                            "agent {}",
                            agent.0
                        ))));
                    } else {
                        self.push(Action::Record(Record::Answered {
                            agent: agent.clone(),
                            leg: peer.leg,
                        }));
                    }
                } else {
                    self.push(Action::Record(Record::TransferAnswered("number".into())));
                }
                if !self.answered_once {
                    self.push(Action::Flow(FlowNote::Answered));
                    self.first_leg = Some(peer.leg);
                }
                self.answered_once = true;
                self.push(Action::Live("answered"));
                State::Talking(Talk {
                    peer,
                    held_since: None,
                    consult: None,
                    conference: None,
                    supervisor: None,
                    referred_on: None,
                })
            }
            LegEvent::Failed(reason) => {
                if let Some((agent, key)) = &peer.agent {
                    if !self.answered_once {
                        self.push(Action::Record(Record::OfferRejected {
                            agent: agent.clone(),
                            reason: reason.clone(),
                        }));
                    }
                    // A queue's offer goes back to the head of its queue and on to the
                    // next agent; a reserved agent goes back to its own state.
                    self.push(Action::Acd(AcdOp::OfferFailed(*key, reason)));
                }
                if !transfer {
                    return State::Idle;
                }
                if !peer.direct {
                    // The queue offers it on: the citizen keeps waiting with music.
                    return State::Ringing {
                        peer: Peer {
                            leg: CITIZEN,
                            agent: None,
                            direct: false,
                        },
                        until: None,
                        transfer: true,
                    };
                }
                // A transfer's target did not answer: the citizen is not dropped, they
                // wait at the head of their queue for the next agent.
                match self.queue.clone() {
                    Some(q) => {
                        self.wait_in_queue(q);
                        std::mem::replace(&mut self.state, State::Ended)
                    }
                    None => {
                        self.push(Action::Flow(FlowNote::HungUp));
                        State::Idle
                    }
                }
            }
            LegEvent::HungUp | LegEvent::Held(_) => State::Ringing {
                peer,
                until,
                transfer,
            },
        }
    }

    fn talking_leg(&mut self, mut t: Talk, leg: LegId, ev: LegEvent, now: Instant) -> State {
        if leg == t.peer.leg {
            return match ev {
                LegEvent::HungUp => {
                    self.end_peer(&t.peer);
                    self.end_held(&mut t, now);
                    match t.consult.take() {
                        // The agent hung up during a consultation: the consulted party
                        // takes the citizen (an attended transfer by hanging up).
                        Some(c) if c.answered => self.promote(t, c.peer),
                        Some(c) => {
                            self.hang_up_peer(&c);
                            self.after_agent(t)
                        }
                        None => match t.conference.take() {
                            Some(third) => self.promote(t, third),
                            None => self.after_agent(t),
                        },
                    }
                }
                LegEvent::Held(on) => {
                    self.set_hold(&mut t, on, now);
                    State::Talking(t)
                }
                LegEvent::Answered | LegEvent::Failed(_) => State::Talking(t),
            };
        }
        if let Some(c) = t.consult.as_mut().filter(|c| c.peer.leg == leg) {
            match ev {
                LegEvent::Answered => {
                    c.answered = true;
                    c.until = None;
                    if let Some((_, key)) = &c.peer.agent {
                        self.push(Action::Acd(AcdOp::Answered(*key)));
                    }
                    self.push(Action::Live("consulting"));
                }
                LegEvent::Failed(reason) => {
                    if let Some((_, key)) = &c.peer.agent {
                        self.push(Action::Acd(AcdOp::OfferFailed(*key, reason)));
                    }
                    t.consult = None;
                    self.push(Action::Live("consult_failed"));
                }
                LegEvent::HungUp => {
                    let peer = c.peer.clone();
                    self.end_peer(&peer);
                    t.consult = None;
                }
                LegEvent::Held(_) => {}
            }
            return State::Talking(t);
        }
        if let Some(peer) = t.conference.take_if(|p| p.leg == leg) {
            if ev == LegEvent::HungUp {
                self.end_peer(&peer);
            } else {
                t.conference = Some(peer);
            }
            return State::Talking(t);
        }
        if t.supervisor.is_some_and(|(l, _)| l == leg) {
            if matches!(ev, LegEvent::HungUp | LegEvent::Failed(_)) {
                t.supervisor = None;
                self.push(Action::Live("supervisor_left"));
            }
            return State::Talking(t);
        }
        if ev == LegEvent::Answered {
            self.push(Action::HangUp(leg));
        }
        State::Talking(t)
    }

    /// A party that talked ends its part: its agent wraps up; the first agent's end is
    /// the call row's end of talk.
    fn end_peer(&mut self, p: &Peer) {
        if let Some((_, key)) = &p.agent {
            self.push(Action::Acd(AcdOp::ConversationEnded(*key)));
        }
        if self.first_leg == Some(p.leg) {
            self.push(Action::Record(Record::AgentEnded));
        }
    }

    /// A party that was rung but never talked goes: a reserved agent is released.
    fn withdraw(&mut self, p: &Peer) {
        self.push(Action::HangUp(p.leg));
        if let (Some((_, key)), true) = (&p.agent, p.direct) {
            self.push(Action::Acd(AcdOp::Withdraw(*key)));
        }
    }

    /// `next` takes the citizen over from the agent who left.
    fn promote(&mut self, mut t: Talk, next: Peer) -> State {
        self.push(Action::Record(Record::Transferred(match &next.agent {
            Some((a, _)) => format!("agent {}", a.0),
            None => "number".into(),
        })));
        self.push(Action::Live("transferred"));
        t.peer = next;
        t.held_since = None;
        State::Talking(t)
    }

    /// The citizen's last agent is gone: the survey, or back to the queue.
    fn after_agent(&mut self, t: Talk) -> State {
        if let Some((leg, _)) = t.supervisor {
            self.push(Action::HangUp(leg));
        }
        self.push(Action::Flow(FlowNote::HungUp));
        State::Idle
    }

    /// Everyone but the citizen leaves the conversation: the agent, a consulted or
    /// conferenced party, a supervisor (the agents to their wrap-up).
    fn everyone_leaves(&mut self, t: &mut Talk, now: Instant) {
        self.end_held(t, now);
        self.push(Action::HangUp(t.peer.leg));
        self.end_peer(&t.peer);
        if let Some(c) = t.consult.take() {
            self.hang_up_peer(&c);
        }
        if let Some(p) = t.conference.take() {
            self.push(Action::HangUp(p.leg));
            self.end_peer(&p);
        }
        if let Some((leg, _)) = t.supervisor.take() {
            self.push(Action::HangUp(leg));
        }
    }

    /// Ends a consultation's leg, answered or not.
    fn hang_up_peer(&mut self, c: &Consult) {
        if c.answered {
            self.push(Action::HangUp(c.peer.leg));
            self.end_peer(&c.peer);
        } else {
            self.withdraw(&c.peer);
        }
    }

    fn end_held(&mut self, t: &mut Talk, now: Instant) {
        if let Some(since) = t.held_since.take() {
            self.push(Action::Record(Record::Held(
                now.saturating_duration_since(since),
            )));
        }
    }

    fn set_hold(&mut self, t: &mut Talk, on: bool, now: Instant) {
        match (on, t.held_since) {
            (true, None) => {
                t.held_since = Some(now);
                self.push(Action::Live("on_hold"));
            }
            (false, Some(_)) => {
                self.end_held(t, now);
                self.push(Action::Live("resumed"));
            }
            _ => {}
        }
    }

    fn talking(&mut self) -> Result<&mut Talk, Refused> {
        match &mut self.state {
            State::Talking(t) => Ok(t),
            _ => Err(Refused::NotTalking),
        }
    }

    /// The agent (desk) holds the citizen: music until [`Control::resume`].
    pub fn hold(&mut self, now: Instant) -> Result<(), Refused> {
        let mut t = self.talking()?.clone();
        self.set_hold(&mut t, true, now);
        self.state = State::Talking(t);
        self.sync_media();
        Ok(())
    }

    /// The agent takes the citizen back (a consultation in progress is ended).
    pub fn resume(&mut self, now: Instant) -> Result<(), Refused> {
        let mut t = self.talking()?.clone();
        if let Some(c) = t.consult.take() {
            self.hang_up_peer(&c);
        }
        self.set_hold(&mut t, false, now);
        self.state = State::Talking(t);
        self.sync_media();
        Ok(())
    }

    /// A blind transfer: the agent's part ends (wrap-up) and the citizen is sent to `to`.
    /// `refer`: the agent's leg whose REFER asked for it, answered with NOTIFY 200 once
    /// the transfer is under way.
    pub fn transfer(
        &mut self,
        to: Destination,
        refer: Option<LegId>,
        ring: Duration,
        now: Instant,
    ) -> Result<(), Refused> {
        let mut t = self.talking()?.clone();
        self.push(Action::Record(Record::Transferred(to.describe())));
        self.push(Action::Live("transferred"));
        if let Some(leg) = refer {
            self.push(Action::Notify { leg, code: 200 });
        }
        self.everyone_leaves(&mut t, now);
        self.state = State::Idle;
        match to {
            Destination::Survey => {
                self.push(Action::Flow(FlowNote::HungUp));
            }
            Destination::Queue(q) => self.wait_in_queue(q),
            Destination::Agent { agent, key } => {
                let leg = self.leg();
                self.push(Action::Ring {
                    leg,
                    dial: Dial::Agent(agent.clone()),
                });
                self.state = State::Ringing {
                    peer: Peer {
                        leg,
                        agent: Some((agent, key)),
                        direct: true,
                    },
                    until: Some(now + ring),
                    transfer: true,
                };
            }
            Destination::Number(n) => {
                let leg = self.leg();
                self.push(Action::Ring {
                    leg,
                    dial: Dial::Number(n),
                });
                self.state = State::Ringing {
                    peer: Peer {
                        leg,
                        agent: None,
                        direct: true,
                    },
                    until: Some(now + ring),
                    transfer: true,
                };
            }
        }
        self.sync_media();
        Ok(())
    }

    /// The agent holds the citizen and calls `to` (an agent or a number) to talk first.
    pub fn consult(
        &mut self,
        to: Destination,
        ring: Duration,
        now: Instant,
    ) -> Result<(), Refused> {
        let mut t = self.talking()?.clone();
        if t.consult.is_some() || t.conference.is_some() {
            return Err(Refused::Busy);
        }
        let (dial, agent) = match to {
            Destination::Agent { agent, key } => (Dial::Agent(agent.clone()), Some((agent, key))),
            Destination::Number(n) => (Dial::Number(n), None),
            _ => return Err(Refused::BadTarget),
        };
        let leg = self.leg();
        self.push(Action::Ring { leg, dial });
        self.set_hold(&mut t, true, now);
        t.consult = Some(Consult {
            peer: Peer {
                leg,
                agent,
                direct: true,
            },
            answered: false,
            until: Some(now + ring),
        });
        self.state = State::Talking(t);
        self.sync_media();
        Ok(())
    }

    /// Ends the consultation and takes the citizen back.
    pub fn cancel_consult(&mut self, now: Instant) -> Result<(), Refused> {
        if self.talking()?.consult.is_none() {
            return Err(Refused::NoConsultation);
        }
        self.resume(now)
    }

    /// Completes an attended transfer: the consulted party takes the citizen, the agent
    /// leaves (wrap-up).
    pub fn complete_transfer(&mut self, now: Instant) -> Result<(), Refused> {
        let mut t = self.talking()?.clone();
        let c = t.consult.take().ok_or(Refused::NoConsultation)?;
        if !c.answered {
            return Err(Refused::NotAnswered);
        }
        self.end_held(&mut t, now);
        self.push(Action::HangUp(t.peer.leg));
        self.end_peer(&t.peer);
        self.state = self.promote(t, c.peer);
        self.sync_media();
        Ok(())
    }

    /// An attended transfer completed from the agent's phone: `leg` — the colleague or
    /// number the agent called from the phone, already talking, handed over from that call
    /// (REFER with Replaces on leg `refer`) — takes the citizen; the agent leaves.
    pub fn adopt(
        &mut self,
        leg: LegId,
        agent: Option<(AgentId, CallKey)>,
        refer: LegId,
        now: Instant,
    ) -> Result<(), Refused> {
        let mut t = self.talking()?.clone();
        self.push(Action::Notify {
            leg: refer,
            code: 200,
        });
        self.end_held(&mut t, now);
        self.push(Action::HangUp(t.peer.leg));
        self.end_peer(&t.peer);
        if let Some(c) = t.consult.take() {
            self.hang_up_peer(&c);
        }
        let peer = Peer {
            leg,
            agent,
            direct: true,
        };
        self.state = self.promote(t, peer);
        self.sync_media();
        Ok(())
    }

    /// Joins the consulted party into a three-way conference.
    pub fn conference(&mut self, now: Instant) -> Result<(), Refused> {
        let mut t = self.talking()?.clone();
        let c = t.consult.take().ok_or(Refused::NoConsultation)?;
        if !c.answered {
            t.consult = Some(c);
            return Err(Refused::NotAnswered);
        }
        self.end_held(&mut t, now);
        t.conference = Some(c.peer);
        self.push(Action::Live("conference"));
        self.state = State::Talking(t);
        self.sync_media();
        Ok(())
    }

    /// A supervisor's leg `leg` joins (or changes how it joins) the conversation.
    pub fn supervise(&mut self, leg: LegId, how: Supervision) -> Result<(), Refused> {
        let t = self.talking()?;
        if let Some((old, _)) = t.supervisor.filter(|(l, _)| *l != leg) {
            t.supervisor = Some((leg, how));
            self.push(Action::HangUp(old));
        } else {
            t.supervisor = Some((leg, how));
        }
        self.push(Action::Live(match how {
            Supervision::Listen => "supervisor_listen",
            Supervision::Whisper => "supervisor_whisper",
            Supervision::Barge => "supervisor_barge",
        }));
        self.sync_media();
        Ok(())
    }

    /// A new leg number for a supervisor who joins from outside this machine (their own
    /// call to a feature code, or a leg the actor rings).
    pub fn new_leg(&mut self) -> LegId {
        self.leg()
    }

    /// A REFER from `leg` that cannot be carried out: NOTIFY failure, the call stays.
    pub fn refuse_refer(&mut self, leg: LegId, code: u16) {
        self.push(Action::Notify { leg, code });
    }

    /// The citizen is gone (hung up, or the call is ending): every other leg ends.
    pub fn handle_citizen_gone(&mut self, now: Instant) {
        // A callback's citizen is a leg of the call: it ends too.
        if self.outbound && (self.citizen_ringing.take().is_some() || self.citizen_up) {
            self.push(Action::HangUp(CITIZEN));
        }
        let state = std::mem::replace(&mut self.state, State::Ended);
        match state {
            State::Ringing { peer, .. } if peer.leg != CITIZEN => self.withdraw(&peer),
            State::Talking(mut t) => self.everyone_leaves(&mut t, now),
            _ => {}
        }
        self.sync_media();
    }

    /// Emits the media topology and the music when what the state implies changed.
    fn sync_media(&mut self) {
        let (topology, music) = self.media_for_state();
        if topology != self.media {
            self.media = topology.clone();
            self.push(Action::Media(topology));
        }
        if music != self.music {
            self.music = music;
            self.push(Action::Music(music));
        }
    }

    fn media_for_state(&self) -> (Topology, bool) {
        if !self.citizen_up {
            // A callback's citizen is not there yet: nothing to link.
            return (Topology::default(), false);
        }
        let t = match &self.state {
            State::Talking(t) => t,
            // The citizen waits for a transfer's target: music.
            State::Ringing { transfer: true, .. } => return (Topology::default(), true),
            _ => return (Topology::default(), false),
        };
        let agent = t.peer.leg;
        let mut parties = Vec::new();
        let held = t.held_since.is_some();
        if t.consult.is_none() && t.conference.is_none() && t.supervisor.is_none() {
            // The plain conversation, held or not: the bridge and its recording go on,
            // the music wins over the agent's audio towards the citizen.
            let parties = vec![
                (CITIZEN, Hears::Everyone, true),
                (agent, Hears::Everyone, true),
            ];
            return (Topology { parties }, held);
        }
        let mut others = vec![agent];
        let third = t.conference.as_ref().map(|p| p.leg);
        others.extend(third);
        if held {
            parties.push((CITIZEN, Hears::Nobody, true));
        } else {
            parties.push((CITIZEN, Hears::Only(others.clone()), true));
        }
        let consulted = t
            .consult
            .as_ref()
            .filter(|c| c.answered)
            .map(|c| c.peer.leg);
        let mut agent_hears = Vec::new();
        if !held {
            agent_hears.push(CITIZEN);
        }
        agent_hears.extend(third);
        agent_hears.extend(consulted);
        if let Some((s, Supervision::Whisper | Supervision::Barge)) = t.supervisor {
            agent_hears.push(s);
        }
        parties.push((agent, Hears::Only(agent_hears), true));
        if let Some(c) = consulted {
            parties.push((c, Hears::Only(vec![agent]), true));
        }
        if let Some(third) = third {
            parties.push((third, Hears::Only(vec![CITIZEN, agent]), true));
        }
        if let Some((s, how)) = t.supervisor {
            let mut hears = vec![CITIZEN, agent];
            hears.extend(third);
            parties.push((s, Hears::Only(hears), how == Supervision::Barge));
            if how == Supervision::Barge {
                if let Some((_, Hears::Only(h), _)) = parties.first_mut() {
                    h.push(s);
                }
            }
        }
        (Topology { parties }, held)
    }
}

#[cfg(test)]
mod tests;
