//! The agent side of a call, as its actor holds it: [`Control`] decides, and here its
//! [`Action`]s become SIP legs, media links, ACD calls and rows; the legs' SIP events, the
//! ACD's offers, REFERs and the desk's commands (`command.rs`) go back in. An inbound call
//! (`caller.rs`, with its queue steps in `connect.rs`) and an agent-first callback
//! (`callback.rs`) each own a [`Conversation`]: one model of legs and links for both.
//!
//! ```text
//! ACD Offer ─> Control ─> Ring (agent leg INVITE) ─> ring timeout ─> Cancel ─> OfferFailed
//!                    └─> answered ─> Media (bridge + stereo recording) ─> Note: Answered
//!   REFER / desk: transfer, consult, complete, conference; supervisor: listen, whisper, barge
//!   agent BYE ─> ConversationEnded (wrap-up) ─> Note: HungUp (survey)
//!   citizen gone ─> every leg hung up
//! ```
//! Media: the plain conversation is a two-leg bridge; anything more (a held citizen with
//! a consultation, a conference, a supervisor) is a mix, which the call keeps until it
//! ends. Each link has its own stereo recording (citizen left, everyone else right).

use super::agent_leg::{self, AgentOffer};
use super::control::{
    AcdOp, Action, Control, Dial, FlowNote, Hears, LegEvent, LegId, Record, Supervision, Topology,
    CITIZEN,
};
use super::inbound::Cause;
use super::out_leg::{self, OutLeg};
use super::{trunk_leg, CallEvent, Calls, Ctx};
use crate::acd::LiveEvent;
use crate::endpoint::EndpointHandle;
use chrono::Utc;
use hotline_acd::{AgentId, CallKey, Decision};
use hotline_case::{CallId, CallNote, CaseId};
use hotline_media::mix::{mix, Hearing, MixHandle};
use hotline_media::stereo::Side;
use hotline_media::{bridge, BridgeHandle, MediaEvent, MediaHandle, StereoTarget};
use hotline_sip::transaction::Event;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// Priority of a citizen put back into a queue by an agent: ahead of first-time callers.
const REQUEUE_PRIORITY: u8 = 9;

/// A call's place in the ACD.
#[derive(Debug, Clone)]
pub(super) struct AcdEntry {
    pub key: CallKey,
    pub queue: String,
    pub position: usize,
    /// An agent answered: the call left the queue for good.
    pub connected: bool,
    /// The call left the ACD without an agent (hung up, callback, expired, refused).
    pub left: bool,
}

/// How the legs' audio is linked now.
enum Link {
    None,
    /// The plain conversation: the citizen and this leg (the handle keeps it).
    Bridge(#[allow(dead_code)] BridgeHandle, LegId),
    /// Anything more; its members.
    Mix(MixHandle, Vec<LegId>),
}

/// What the conversation asks of the call that owns it (the IVR flow of an inbound call,
/// the phases of a callback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Note {
    /// For the flow: an agent rings, answered, or the last agent is gone.
    Flow(FlowNote),
    /// Hang up on the citizen with this cause (a supervisor's 强拆).
    HangUp(Cause),
}

/// The agent side of a call — its legs other than the citizen's own dialog, how their
/// audio is linked, its place in the ACD — as the call's actor holds it, driven by
/// [`Control`]. An inbound call and an agent-first callback each own one.
pub(super) struct Conversation {
    pub(super) ctx: Arc<Ctx>,
    pub(super) calls: Calls,
    /// The owning call's channel: legs' SIP events and the ACD's offers come there.
    pub(super) tx: mpsc::Sender<CallEvent>,
    pub(super) ep: EndpointHandle,
    /// The case's ticket.
    pub(super) ticket: String,
    /// The call row (a callback has none until its agent answers).
    pub(super) call: Option<CallId>,
    /// The citizen's number (shown to agents).
    pub(super) caller_number: String,
    /// The citizen's media when it is not one of `legs`: an inbound call's own session.
    /// A callback's citizen is the leg [`CITIZEN`] it dials.
    pub(super) citizen: Option<MediaHandle>,
    /// When the call began (a requeued citizen keeps its waiting time).
    pub(super) started: std::time::Instant,
    /// The file-name kind of the stereo recordings ("conversation", "callback").
    pub(super) recording_kind: &'static str,
    /// While the call is in the ACD (waiting, ringing, talking to an agent).
    pub(super) acd_entry: Option<AcdEntry>,
    pub(super) control: Control,
    /// Every leg but an inbound citizen's dialog, while it rings or talks.
    pub(super) legs: HashMap<LegId, OutLeg>,
    link: Link,
    /// Stereo recordings started and not yet reported (relative paths), oldest first.
    pub(super) conversations: VecDeque<String>,
    /// Supervisors' phones ringing or in the call: how, who asked, which extension.
    pub(super) supervisors: HashMap<LegId, (Supervision, String, String)>,
    /// Parties whose dialog another task keeps (a supervisor who dialled in): their media,
    /// and the sender whose drop tells that task to hang up.
    pub(super) external: HashMap<LegId, (MediaHandle, tokio::sync::oneshot::Sender<()>)>,
    /// The agent last published in `Calls::agents_on_call`.
    published: Option<String>,
    /// The first agent's ACD key: its wrap-up is the call row's.
    pub(super) first_key: Option<CallKey>,
    /// Hold music plays to the citizen.
    pub(super) music: bool,
    /// Stereo recordings started, for their file names.
    links_started: usize,
    /// What the owner must do, in order.
    pub(super) notes: VecDeque<Note>,
    /// The case, for recordings whose end is reported on a leg (a callback's citizen).
    pub(super) case: Option<CaseId>,
    /// Further headers on the agents' INVITEs (a callback's task, number, voicemail).
    pub(super) offer_extra: Vec<rsip::Header>,
    /// How the dialled citizen's leg failed, for the owner to count the attempt.
    pub(super) citizen_failure: Option<out_leg::Failure>,
    /// The caller's way through the IVR so far (shown to the agent whose phone rings).
    pub(super) ivr_path: String,
}

/// Who the conversation is for: what [`Conversation::new`] needs besides the context.
pub(super) struct Party {
    pub ticket: String,
    pub case: Option<CaseId>,
    pub call: Option<CallId>,
    pub caller_number: String,
    pub citizen: Option<MediaHandle>,
    pub recording_kind: &'static str,
}

impl Conversation {
    /// A conversation with no agent yet; `control` is [`Control::new`] for an inbound
    /// call.
    pub(super) fn new(
        calls: &Calls,
        tx: mpsc::Sender<CallEvent>,
        ep: EndpointHandle,
        party: Party,
        control: Control,
    ) -> Conversation {
        Conversation {
            ctx: calls.ctx.clone(),
            calls: calls.clone(),
            tx,
            ep,
            ticket: party.ticket,
            call: party.call,
            caller_number: party.caller_number,
            citizen: party.citizen,
            started: std::time::Instant::now(),
            recording_kind: party.recording_kind,
            acd_entry: None,
            control,
            legs: HashMap::new(),
            link: Link::None,
            conversations: VecDeque::new(),
            supervisors: HashMap::new(),
            external: HashMap::new(),
            published: None,
            first_key: None,
            music: false,
            links_started: 0,
            notes: VecDeque::new(),
            case: party.case,
            offer_extra: Vec::new(),
            citizen_failure: None,
            ivr_path: String::new(),
        }
    }

    /// When the earliest of the legs' own timers is due.
    pub(super) fn next_leg_timeout(&self) -> Option<Instant> {
        self.legs.values().filter_map(|l| l.poll_timeout()).min()
    }

    /// The leg a SIP Call-ID belongs to.
    pub(super) fn leg_of(&self, call_id: &str) -> Option<LegId> {
        self.legs
            .iter()
            .find(|(_, l)| l.call_id == call_id)
            .map(|(id, _)| *id)
    }

    /// The citizen's media: the inbound call's session, or the dialled citizen's leg.
    pub(super) fn citizen_media(&self) -> Option<&MediaHandle> {
        self.citizen
            .as_ref()
            .or_else(|| self.legs.get(&CITIZEN).map(|l| &l.media))
    }

    /// This call's recording of `kind`: relative and full path (see [`Ctx::recording_file`]).
    fn recording_file(&self, kind: &str) -> (String, std::path::PathBuf) {
        let call = self.call.map_or(0, |c| c.0);
        self.ctx.recording_file(&self.ticket, call, kind)
    }

    /// Tells the owner.
    fn tell(&mut self, note: Note) {
        self.notes.push_back(note);
    }

    pub(super) fn live(&self, what: &str) {
        if let Some(e) = &self.acd_entry {
            self.ctx.acd.publish(LiveEvent::Call {
                ticket: self.ticket.clone(),
                queue: e.queue.clone(),
                what: what.to_string(),
                at: Utc::now(),
            });
        }
    }

    /// The ACD chose `agent`: ring its softphone.
    pub(super) async fn on_offer(&mut self, agent: AgentId) {
        let Some(entry) = self.acd_entry.clone() else {
            return;
        };
        let ring = self.ctx.acd.max_ring(&agent);
        self.control
            .handle_offer(agent, entry.key, ring, Instant::now());
        self.run_control().await;
    }

    /// A ring or consultation deadline passed.
    pub(super) async fn on_control_timeout(&mut self) {
        self.control.handle_timeout(Instant::now());
        self.run_control().await;
    }

    /// A SIP event of one of the call's legs.
    pub(super) async fn on_leg_sip(&mut self, id: LegId, ev: Event) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if let Some(what) = leg.on_sip(ev) {
            self.on_leg_event(id, what).await;
        }
    }

    /// The legs' own timers (a CANCEL never answered, session refreshes and expiry).
    pub(super) async fn on_leg_timeouts(&mut self) {
        let now = std::time::Instant::now();
        let due: Vec<LegId> = self
            .legs
            .iter()
            .filter(|(_, l)| l.poll_timeout().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let what = self.legs.get_mut(&id).and_then(|l| l.handle_timeout(now));
            if let Some(what) = what {
                self.on_leg_event(id, what).await;
            }
        }
    }

    /// What a leg reported.
    async fn on_leg_event(&mut self, id: LegId, what: out_leg::LegEvent) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        let peer = leg.peer.clone();
        let now = Instant::now();
        let ended = matches!(
            what,
            out_leg::LegEvent::Failed(_) | out_leg::LegEvent::HungUp
        );
        // A dialled citizen's leg stays until the call ends: the recording of its link is
        // reported on its media channel.
        if ended && id != CITIZEN {
            if let Some(leg) = self.legs.remove(&id) {
                self.calls.unregister(&leg.call_id);
            }
        }
        if let Some((how, who, _)) = self.supervisors.get(&id).cloned() {
            match what {
                out_leg::LegEvent::Answered => {
                    tracing::info!(supervisor = %peer, ?how, "supervisor joined");
                    if self.control.supervise(id, how).is_err() {
                        self.hang_up_leg(id);
                    } else {
                        self.note(CallNote::Supervised {
                            who: &who,
                            how: supervision_name(how),
                        })
                        .await;
                    }
                }
                _ if ended => {
                    self.supervisors.remove(&id);
                    self.control.handle_leg(id, LegEvent::HungUp, now);
                }
                _ => {}
            }
            self.run_control().await;
            return;
        }
        let ev = match what {
            out_leg::LegEvent::Ringing => return,
            out_leg::LegEvent::Answered => {
                tracing::info!(%peer, "leg answered");
                LegEvent::Answered
            }
            out_leg::LegEvent::Failed(f) => {
                tracing::info!(%peer, reason = %f, "leg did not connect");
                if id == CITIZEN {
                    self.citizen_failure = Some(f);
                }
                LegEvent::Failed(f.to_string())
            }
            out_leg::LegEvent::HungUp => {
                tracing::info!(%peer, "leg hung up");
                LegEvent::HungUp
            }
            out_leg::LegEvent::Held(on) => {
                if on {
                    tracing::info!(agent = %peer, "agent put the caller on hold");
                } else {
                    tracing::info!(agent = %peer, "agent took the caller back");
                }
                LegEvent::Held(on)
            }
            out_leg::LegEvent::Digit(d) => {
                if self.control.conversation_leg() == Some(id) {
                    if let Some(m) = self.citizen_media() {
                        m.send_dtmf(d);
                    }
                }
                return;
            }
            out_leg::LegEvent::Transfer(target) => {
                let replaces = self.legs.get(&id).and_then(|l| l.refer_replaces().cloned());
                match replaces {
                    Some(r) => self.on_attended_refer(id, &target, r).await,
                    None => self.on_refer(id, &target).await,
                }
                return;
            }
        };
        self.control.handle_leg(id, ev, now);
        self.run_control().await;
    }

    /// A media event of a leg: the talking party's keys go on to the caller.
    /// A media event of leg `id`: the talking party's keys go on to the citizen, the keys
    /// of a dialled citizen to the agent, and a recording reported on a leg (a callback's
    /// citizen) is stored. Anything else is the owner's (e.g. a prompt that finished).
    pub(super) async fn on_leg_media(&mut self, id: LegId, ev: MediaEvent) -> Option<MediaEvent> {
        match ev {
            MediaEvent::Digit(d) if id == CITIZEN => {
                let to = self
                    .control
                    .conversation_leg()
                    .and_then(|l| self.legs.get(&l));
                if let Some(leg) = to {
                    leg.media.send_dtmf(d);
                }
                None
            }
            MediaEvent::Digit(d) => {
                if self.control.conversation_leg() == Some(id) {
                    if let Some(m) = self.citizen_media() {
                        m.send_dtmf(d);
                    }
                }
                None
            }
            MediaEvent::RecordingFinished(info, hotline_media::RecordStop::BridgeEnded) => {
                self.recording_finished(&info).await;
                None
            }
            ev => Some(ev),
        }
    }

    /// A link's stereo recording was finalized: its row, on the case and call.
    pub(super) async fn recording_finished(&mut self, info: &hotline_media::RecordingInfo) {
        let Some(path) = self.conversations.pop_front() else {
            return;
        };
        if let (Some(case), Some(call)) = (self.case, self.call) {
            self.ctx
                .save_recording(
                    (case, call),
                    hotline_case::RecordingKind::Conversation,
                    path,
                    info,
                )
                .await;
        }
    }

    pub(super) async fn note(&self, note: CallNote<'_>) {
        let Some(call) = self.call else {
            return;
        };
        if let Err(e) = self.ctx.store.call_note(call, note, Utc::now()).await {
            tracing::error!(error = %e, "cannot record on the case trail");
        }
    }

    pub(super) fn hang_up_leg(&mut self, id: LegId) {
        self.supervisors.remove(&id);
        // Dropping its `gone` sender makes the phone's task hang up.
        self.external.remove(&id);
        if let Some(mut leg) = self.legs.remove(&id) {
            leg.hang_up();
            self.calls.unregister(&leg.call_id);
        }
    }

    /// Carries out what the control machine asks until it asks nothing more.
    pub(super) async fn run_control(&mut self) {
        while let Some(action) = self.control.poll_action() {
            match action {
                Action::Ring { leg, dial } => self.ring(leg, dial).await,
                Action::Cancel(leg) => {
                    if let Some(l) = self.legs.get_mut(&leg) {
                        tracing::info!(peer = %l.peer, "no answer; cancelling");
                        l.cancel();
                    }
                }
                Action::HangUp(leg) => self.hang_up_leg(leg),
                Action::Media(t) => self.link(t),
                Action::Music(on) => {
                    self.music = on;
                    if on {
                        self.play_hold_music();
                    } else if let Some(m) = self.citizen_media() {
                        m.stop_playback();
                    }
                }
                Action::Notify { leg, code } => {
                    if let Some(l) = self.legs.get_mut(&leg) {
                        l.notify_refer(code);
                    }
                }
                Action::Acd(op) => self.acd(op).await,
                Action::Record(r) => self.record(r).await,
                Action::Flow(n) => self.tell(Note::Flow(n)),
                Action::Live(what) => self.live(what),
            }
        }
        self.publish_agent();
    }

    /// Keeps `Calls::agents_on_call` naming this call for the agent talking on it.
    fn publish_agent(&mut self) {
        let now = self
            .control
            .conversation_leg()
            .and_then(|_| self.control.agent())
            .map(|a| a.0.clone());
        if now == self.published {
            return;
        }
        let ticket = &self.ticket;
        if let Some(old) = self.published.take() {
            self.calls
                .agents_on_call
                .remove_if(&old, |_, t| t == ticket);
        }
        if let Some(ext) = &now {
            self.calls
                .agents_on_call
                .insert(ext.clone(), ticket.clone());
        }
        self.published = now;
    }

    /// Starts leg `id`; a leg that cannot start fails at once.
    async fn ring(&mut self, id: LegId, dial: Dial) {
        let route = self.calls.route_to(&self.tx);
        let started = match &dial {
            Dial::Agent(agent) => match self.ctx.desk.contacts(&agent.0).into_iter().next() {
                None => Err("not registered".to_string()),
                Some(binding) => {
                    let mut extra = self.open_tickets_header().await;
                    extra.extend(self.offer_extra.iter().cloned());
                    let offer = AgentOffer {
                        citizen: &self.caller_number,
                        ticket: &self.ticket,
                        extra,
                    };
                    agent_leg::ring(
                        self.ep.clone(),
                        &self.ctx.ports,
                        &agent.0,
                        binding,
                        offer,
                        route,
                    )
                    .await
                }
            },
            Dial::Number(n) => match self.ctx.cfg.trunk.outbound.as_ref() {
                None => Err("no outbound trunk".to_string()),
                Some(trunk) => {
                    trunk_leg::dial(
                        self.ep.clone(),
                        &self.ctx.ports,
                        trunk,
                        n,
                        &self.ticket,
                        route,
                    )
                    .await
                }
            },
        };
        match started {
            Ok(leg) => {
                tracing::info!(peer = %leg.peer, "ringing");
                if let Dial::Agent(agent) = &dial {
                    // The agent's desk pops the call up as the phone rings.
                    self.ctx.acd.publish(LiveEvent::Offer {
                        agent: agent.0.clone(),
                        ticket: self.ticket.clone(),
                        queue: self
                            .acd_entry
                            .as_ref()
                            .map(|e| e.queue.clone())
                            .unwrap_or_default(),
                        path: self.ivr_path.clone(),
                        waited_ms: self.started.elapsed().as_millis() as u64,
                        at: Utc::now(),
                    });
                }
                self.legs.insert(id, leg);
            }
            Err(e) => {
                tracing::error!(?dial, error = %e, "cannot ring");
                self.control
                    .handle_leg(id, LegEvent::Failed(e), Instant::now());
            }
        }
    }

    /// X-Open-Tickets: the other open cases of a repeat caller, newest first.
    async fn open_tickets_header(&self) -> Vec<rsip::Header> {
        let open: Vec<String> = match self
            .ctx
            .store
            .open_cases_for_number(&self.caller_number)
            .await
        {
            Ok(cases) => cases
                .into_iter()
                .map(|c| c.ticket)
                .filter(|t| *t != self.ticket)
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up the caller's open cases");
                Vec::new()
            }
        };
        if open.is_empty() {
            return Vec::new();
        }
        vec![rsip::Header::Other("X-Open-Tickets".into(), open.join(","))]
    }

    /// Links the legs' media as `t` says: a bridge for the plain conversation, else a mix.
    fn link(&mut self, t: Topology) {
        if t.parties.is_empty() {
            // Dropping the link ends it; its recording is reported on the citizen's media.
            self.link = Link::None;
            return;
        }
        let pair = t.as_pair();
        match (&mut self.link, pair) {
            (Link::Bridge(_, cur), Some(other)) if *cur == other => {}
            (Link::None | Link::Bridge(..), Some(other)) => {
                if !self.legs.contains_key(&other) {
                    return;
                }
                self.link = Link::None;
                let target = self.new_conversation();
                let leg = &self.legs[&other];
                let Some(citizen) = self.citizen_media() else {
                    return;
                };
                self.link = Link::Bridge(bridge(citizen, &leg.media, target), other);
            }
            (Link::Mix(m, members), _) => {
                for (id, hears, recorded) in &t.parties {
                    if members.contains(id) {
                        m.set_hears(*id, hearing(hears));
                        continue;
                    }
                    let Some(media) = party_media(&self.citizen, &self.legs, &self.external, *id)
                    else {
                        continue;
                    };
                    m.add(*id, media, hearing(hears), side(*id, *recorded));
                    members.push(*id);
                }
                members.retain(|id| {
                    let keep = t.parties.iter().any(|(p, ..)| p == id);
                    if !keep {
                        m.remove(*id);
                    }
                    keep
                });
            }
            (_, None) => {
                self.link = Link::None;
                let target = self.new_conversation();
                let m = mix(target);
                let mut members = Vec::new();
                for (id, hears, recorded) in &t.parties {
                    let Some(media) = party_media(&self.citizen, &self.legs, &self.external, *id)
                    else {
                        continue;
                    };
                    m.add(*id, media, hearing(hears), side(*id, *recorded));
                    members.push(*id);
                }
                self.link = Link::Mix(m, members);
            }
        }
    }

    /// A new stereo recording of the conversation (the second and later links of a call
    /// are numbered).
    fn new_conversation(&mut self) -> Option<StereoTarget> {
        let n = self.links_started;
        self.links_started += 1;
        let kind = if n == 0 {
            self.recording_kind.to_string()
        } else {
            format!("{}-{}", self.recording_kind, n + 1)
        };
        let (rel, path) = self.recording_file(&kind);
        self.conversations.push_back(rel);
        Some(StereoTarget { path })
    }

    async fn acd(&mut self, op: AcdOp) {
        let acd = self.ctx.acd.clone();
        match op {
            AcdOp::Answered(key) => {
                acd.answered(key);
                self.first_key.get_or_insert(key);
                if let Some(e) = self.acd_entry.as_mut().filter(|e| e.key == key) {
                    e.connected = true;
                }
            }
            AcdOp::OfferFailed(key, reason) => {
                let reason = if reason == "no answer" {
                    reason
                } else {
                    format!("offer failed: {reason}")
                };
                acd.offer_failed(key, &reason);
            }
            AcdOp::ConversationEnded(key) => {
                let row = (self.first_key == Some(key))
                    .then(|| self.call.map(|c| (self.ctx.store.clone(), c)))
                    .flatten();
                acd.conversation_ended(key, move || {
                    if let Some((store, call)) = row {
                        tokio::spawn(async move {
                            if let Err(e) = store.call_wrap_up_done(call, Utc::now()).await {
                                tracing::error!(error = %e, "cannot record the end of wrap-up");
                            }
                        });
                    }
                });
            }
            AcdOp::Withdraw(key) => acd.leave(key),
            AcdOp::Requeue(queue) => self.requeue(queue),
        }
    }

    /// The citizen goes back into `queue`, ahead of first-time callers and keeping the
    /// time waited since the call began.
    fn requeue(&mut self, queue: String) {
        let key = self.ctx.next_call_key();
        self.acd_entry = Some(AcdEntry {
            key,
            queue: queue.clone(),
            position: 0,
            connected: false,
            left: false,
        });
        let waited = self.started.elapsed();
        match self.ctx.acd.enqueue_placed(
            key,
            &format!("{} requeued", self.ticket),
            &queue,
            REQUEUE_PRIORITY,
            waited,
            self.tx.clone(),
        ) {
            Decision::Queued { position, .. } => {
                tracing::info!(%queue, position, "back in the queue");
                self.live("requeued");
            }
            Decision::Offer { .. } => self.live("requeued"),
            Decision::Refused { .. } | Decision::Expired { .. } => {
                tracing::info!(%queue, "nobody can take the call back; survey");
                self.control.handle_citizen_gone(Instant::now());
                self.tell(Note::Flow(FlowNote::HungUp));
            }
        }
    }

    async fn record(&mut self, r: Record) {
        // A callback has no call row before its agent answers: nothing to record yet.
        let Some(call) = self.call else {
            return;
        };
        let (store, at) = (self.ctx.store.clone(), Utc::now());
        let done = match &r {
            Record::Offered(agent) => store.call_offered(call, &agent.0, at).await,
            Record::Answered { agent, leg } => {
                let leg_call_id = self
                    .legs
                    .get(leg)
                    .map(|l| l.call_id.clone())
                    .unwrap_or_default();
                store
                    .call_agent_answered(call, &agent.0, &leg_call_id, at)
                    .await
            }
            Record::OfferRejected { agent, reason } => {
                store.call_offer_rejected(call, &agent.0, reason, at).await
            }
            Record::AgentEnded => store.call_agent_ended(call, at).await,
            Record::Transferred(to) => {
                store
                    .call_note(call, CallNote::Transferred { to }, at)
                    .await
            }
            Record::TransferAnswered(by) => {
                store
                    .call_note(call, CallNote::TransferAnswered { by }, at)
                    .await
            }
            Record::Held(d) => {
                let ms = d.as_millis() as i64;
                store.call_note(call, CallNote::Held { ms }, at).await
            }
        };
        if let Err(e) = done {
            tracing::error!(error = %e, record = ?r, "cannot record the call's step");
        }
    }

    /// Plays the hold music (`[queue] hold_prompts`) to the caller, from the start.
    pub(super) fn play_hold_music(&self) {
        let music = self.ctx.prompt_list(&self.ctx.ivr.queue.hold_prompts);
        if let Some(m) = self.citizen_media() {
            m.play(music);
        }
    }

    /// The conversation is over (the caller hung up or the call ends): every other leg
    /// is hung up, the links end (their recordings are finalized and reported on the
    /// caller's media channel), agents start their wrap-up.
    pub(super) async fn end_conversation(&mut self) {
        self.control.handle_citizen_gone(Instant::now());
        self.run_control().await;
        self.link = Link::None;
        for id in self.legs.keys().copied().collect::<Vec<_>>() {
            self.hang_up_leg(id);
        }
    }
}

/// The next media event of any leg.
pub(super) async fn next_leg_media(
    legs: &mut HashMap<LegId, OutLeg>,
) -> Option<(LegId, MediaEvent)> {
    if legs.is_empty() {
        return std::future::pending().await;
    }
    std::future::poll_fn(|cx| {
        for (id, leg) in legs.iter_mut() {
            if let std::task::Poll::Ready(Some(ev)) = leg.media_rx.poll_recv(cx) {
                return std::task::Poll::Ready(Some((*id, ev)));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// The SIP Call-ID an event belongs to.
pub(super) fn event_call_id(ev: &Event) -> &str {
    match ev {
        Event::Request { info, .. } | Event::Ack { info, .. } | Event::Response { info, .. } => {
            &info.call_id
        }
        Event::Cancelled { call_id, .. }
        | Event::Timeout { call_id, .. }
        | Event::AckTimeout { call_id, .. } => call_id,
    }
}

fn hearing(h: &Hears) -> Hearing {
    match h {
        Hears::Everyone => Hearing::Everyone,
        Hears::Only(v) => Hearing::Only(v.clone()),
        Hears::Nobody => Hearing::Nobody,
    }
}

/// The media of party `id`: the citizen's own session (inbound) or a leg of the call
/// (the dialled citizen of a callback is leg [`CITIZEN`]), or a party another task keeps.
fn party_media<'a>(
    citizen: &'a Option<MediaHandle>,
    legs: &'a HashMap<LegId, OutLeg>,
    external: &'a HashMap<LegId, (MediaHandle, tokio::sync::oneshot::Sender<()>)>,
    id: LegId,
) -> Option<&'a MediaHandle> {
    match (id, citizen) {
        (CITIZEN, Some(m)) => Some(m),
        _ => legs
            .get(&id)
            .map(|l| &l.media)
            .or_else(|| external.get(&id).map(|(m, _)| m)),
    }
}

fn side(id: LegId, recorded: bool) -> Option<Side> {
    match (id, recorded) {
        (CITIZEN, _) => Some(Side::Left),
        (_, true) => Some(Side::Right),
        (_, false) => None,
    }
}

/// The trail's word for a supervision.
pub fn supervision_name(how: Supervision) -> &'static str {
    match how {
        Supervision::Listen => "listen",
        Supervision::Whisper => "whisper",
        Supervision::Barge => "barge",
    }
}
