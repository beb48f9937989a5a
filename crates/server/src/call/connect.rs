//! The citizen's call meets its agents: the actor half of [`Control`], which decides.
//! Here its [`Action`]s become SIP legs, media links, ACD calls and rows; SIP events of
//! the legs, the ACD's offers, REFERs and the desk's commands go back in.
//!
//! ```text
//! flow Enqueue ─> ACD: Refused ─> busy/voicemail | Queued ─> comfort + position (flow)
//!   ACD Offer ─> Control ─> Ring (agent leg INVITE) ─> ring timeout ─> Cancel ─> OfferFailed
//!                      └─> answered ─> Media (bridge + stereo recording) ─> flow AgentAnswered
//!   REFER / desk: transfer, consult, complete, conference; supervisor: listen, whisper, barge
//!   agent BYE ─> ConversationEnded (wrap-up) ─> flow AgentHungUp (survey)
//!   caller BYE ─> every leg hung up
//! ```
//! Media: the plain conversation is a two-leg bridge; anything more (a held citizen with
//! a consultation, a conference, a supervisor) is a mix, which the call keeps until it
//! ends. Each link has its own stereo recording (citizen left, everyone else right).

use super::agent_leg::{self, AgentOffer};
use super::caller::Answered;
use super::control::{
    AcdOp, Action, Control, Destination, Dial, FlowNote, Hears, LegEvent, LegId, Record, Refused,
    Supervision, Topology, CITIZEN,
};
use super::inbound::Cause;
use super::internal::{self, ReplacesTags};
use super::out_leg::{self, OutLeg};
use super::trunk_leg;
use super::CommandError;
use crate::acd::LiveEvent;
use chrono::Utc;
use hotline_acd::{AgentId, CallKey, Decision, DirectRefusal, Refusal};
use hotline_case::CallNote;
use hotline_ivr::Input;
use hotline_media::mix::{mix, Hearing, MixHandle};
use hotline_media::stereo::Side;
use hotline_media::{bridge, BridgeHandle, MediaEvent, StereoTarget};
use hotline_sip::transaction::Event;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long an outside number (a department, 110) may ring.
const NUMBER_RING: Duration = Duration::from_secs(40);
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

/// What the desk (HTTP) or a supervisor asks of a live call.
#[derive(Debug)]
pub enum Command {
    Hold,
    Resume,
    /// Blind transfer to an extension, a queue, an allowed number or `survey`.
    Transfer(String),
    /// Hold the citizen and call an extension or an allowed number first.
    Consult(String),
    /// The consulted party takes the citizen (attended transfer).
    Complete,
    /// End the consultation and take the citizen back.
    Return,
    /// The consulted party joins a three-way conference.
    Conference,
    /// Ring supervisor `extension`'s phone into the call (`who`: the user asking).
    Supervise {
        extension: String,
        how: Supervision,
        who: String,
    },
    /// A supervisor ends the call (强拆).
    ForceHangUp {
        who: String,
    },
    /// A supervisor who dialled a code from the phone (`*41` + extension): its media is
    /// mixed in; dropping `gone` tells the phone's task to hang up.
    SupervisePhone {
        how: Supervision,
        who: String,
        extension: String,
        media: hotline_media::MediaHandle,
        gone: tokio::sync::oneshot::Sender<()>,
    },
    /// That supervisor's phone hung up (its media's local address).
    SupervisorLeft {
        addr: std::net::SocketAddr,
    },
}

/// How the legs' audio is linked now.
enum Link {
    None,
    /// The plain conversation: the citizen and this leg (the handle keeps it).
    Bridge(#[allow(dead_code)] BridgeHandle, LegId),
    /// Anything more; its members.
    Mix(MixHandle, Vec<LegId>),
}

/// The agent side of a call as the actor holds it.
pub(super) struct AgentSide {
    pub(super) control: Control,
    /// Every leg but the citizen's, while it rings or talks.
    pub(super) legs: HashMap<LegId, OutLeg>,
    link: Link,
    /// Stereo recordings started and not yet reported (relative paths), oldest first.
    pub(super) conversations: VecDeque<String>,
    /// Supervisors' phones ringing or in the call: how, who asked, which extension.
    supervisors: HashMap<LegId, (Supervision, String, String)>,
    /// Parties whose dialog another task keeps (a supervisor who dialled in): their media,
    /// and the sender whose drop tells that task to hang up.
    external: HashMap<LegId, (hotline_media::MediaHandle, tokio::sync::oneshot::Sender<()>)>,
    /// The agent last published in `Calls::agents_on_call`.
    published: Option<String>,
    /// The first agent's ACD key: its wrap-up is the call row's.
    first_key: Option<CallKey>,
    /// Hold music plays to the citizen.
    pub(super) music: bool,
    /// Stereo recordings started, for their file names.
    links_started: usize,
}

impl AgentSide {
    pub(super) fn new() -> AgentSide {
        AgentSide {
            control: Control::new(),
            legs: HashMap::new(),
            link: Link::None,
            conversations: VecDeque::new(),
            supervisors: HashMap::new(),
            external: HashMap::new(),
            published: None,
            first_key: None,
            music: false,
            links_started: 0,
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

impl Answered {
    fn live(&self, what: &str) {
        if let Some(e) = &self.acd_entry {
            let _ = self.ctx.acd.live.send(LiveEvent::Call {
                ticket: self.opened.ticket.clone(),
                queue: e.queue.clone(),
                what: what.to_string(),
                at: Utc::now(),
            });
        }
    }

    /// The flow asks for an agent of `queue`.
    pub(super) async fn enqueue(&mut self, queue: String) {
        let key = self.ctx.next_call_key();
        if let Err(e) = self
            .ctx
            .store
            .call_queued(self.call(), &queue, Utc::now())
            .await
        {
            tracing::error!(error = %e, "cannot record the queueing");
        }
        self.side.control.queued(&queue);
        self.acd_entry = Some(AcdEntry {
            key,
            queue: queue.clone(),
            position: 0,
            connected: false,
            left: false,
        });
        self.live("queued");
        match self
            .ctx
            .acd
            .enqueue(key, &self.sip_call_id(), &queue, 0, self.tx.clone())
        {
            Decision::Queued { position, .. } => {
                tracing::info!(%queue, position, "queued");
                if let Some(e) = self.acd_entry.as_mut() {
                    e.position = position;
                }
                self.flow
                    .handle_input(Instant::now(), Input::Queued { position });
            }
            // An agent is free: its Offer is already on our channel; the caller hears the
            // comfort prompt while the phone rings.
            Decision::Offer { .. } => self
                .flow
                .handle_input(Instant::now(), Input::Queued { position: 1 }),
            Decision::Refused { reason, .. } => {
                tracing::info!(%queue, ?reason, "no agent can take the call");
                let result = match reason {
                    Refusal::QueueFull => "queue_full",
                    Refusal::NoAgents | Refusal::UnknownQueue => "no_agents",
                };
                self.left_queue(result).await;
                self.flow
                    .handle_input(Instant::now(), Input::AgentsUnavailable);
            }
            Decision::Expired { .. } => {
                self.left_queue("expired").await;
                self.flow.handle_input(Instant::now(), Input::QueueTimeout);
            }
        }
    }

    /// Records once that the call left the queue without an agent.
    pub(super) async fn left_queue(&mut self, result: &str) {
        if let Some(e) = self.acd_entry.as_mut() {
            e.left = true;
        }
        if self.left_queue_recorded {
            return;
        }
        self.left_queue_recorded = true;
        self.live(result);
        if let Err(e) = self
            .ctx
            .store
            .call_left_queue(self.call(), result, Utc::now())
            .await
        {
            tracing::error!(error = %e, result, "cannot record leaving the queue");
        }
    }

    /// The caller leaves the queue (hung up, or asked for a callback): take back any offer.
    pub(super) async fn leave_queue(&mut self) {
        let Some(entry) = self.acd_entry.as_ref() else {
            return;
        };
        if entry.connected {
            return;
        }
        self.ctx.acd.leave(entry.key);
        self.side.control.handle_citizen_gone(Instant::now());
        self.run_control().await;
    }

    /// The ACD chose `agent`: ring its softphone.
    pub(super) async fn on_offer(&mut self, agent: AgentId) {
        let Some(entry) = self.acd_entry.clone() else {
            return;
        };
        let ring = self.ctx.acd.max_ring(&agent);
        self.side
            .control
            .handle_offer(agent, entry.key, ring, Instant::now());
        self.run_control().await;
    }

    /// The queue's maximum wait passed.
    pub(super) async fn on_queue_expired(&mut self) {
        tracing::info!("maximum wait reached");
        if self.side.control.has_answered() {
            // Put back by a transfer and nobody took it within the wait: the survey.
            self.side.control.handle_citizen_gone(Instant::now());
            self.run_control().await;
            self.flow.handle_input(Instant::now(), Input::AgentHungUp);
            return;
        }
        self.left_queue("expired").await;
        self.flow.handle_input(Instant::now(), Input::QueueTimeout);
    }

    /// A ring or consultation deadline passed.
    pub(super) async fn on_control_timeout(&mut self) {
        self.side.control.handle_timeout(Instant::now());
        self.run_control().await;
    }

    /// Asks the ACD for the caller's place; tells the flow when it moved.
    pub(super) fn check_position(&mut self) {
        let Some(entry) = self.acd_entry.as_mut() else {
            return;
        };
        if entry.connected || !self.side.legs.is_empty() {
            return;
        }
        if let Some(position) = self.ctx.acd.position(entry.key) {
            if position != entry.position {
                entry.position = position;
                self.flow
                    .handle_input(Instant::now(), Input::Position { position });
            }
        }
    }

    /// A SIP event of one of the call's legs.
    pub(super) async fn on_leg_sip(&mut self, id: LegId, ev: Event) {
        let Some(leg) = self.side.legs.get_mut(&id) else {
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
            .side
            .legs
            .iter()
            .filter(|(_, l)| l.poll_timeout().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let what = self
                .side
                .legs
                .get_mut(&id)
                .and_then(|l| l.handle_timeout(now));
            if let Some(what) = what {
                self.on_leg_event(id, what).await;
            }
        }
    }

    /// What a leg reported.
    async fn on_leg_event(&mut self, id: LegId, what: out_leg::LegEvent) {
        let Some(leg) = self.side.legs.get(&id) else {
            return;
        };
        let peer = leg.peer.clone();
        let now = Instant::now();
        let ended = matches!(
            what,
            out_leg::LegEvent::Failed(_) | out_leg::LegEvent::HungUp
        );
        if ended {
            if let Some(leg) = self.side.legs.remove(&id) {
                self.calls.unregister(&leg.call_id);
            }
        }
        if let Some((how, who, _)) = self.side.supervisors.get(&id).cloned() {
            match what {
                out_leg::LegEvent::Answered => {
                    tracing::info!(supervisor = %peer, ?how, "supervisor joined");
                    if self.side.control.supervise(id, how).is_err() {
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
                    self.side.supervisors.remove(&id);
                    self.side.control.handle_leg(id, LegEvent::HungUp, now);
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
                if self.side.control.conversation_leg() == Some(id) {
                    self.media.send_dtmf(d);
                }
                return;
            }
            out_leg::LegEvent::Transfer(target) => {
                let replaces = self
                    .side
                    .legs
                    .get(&id)
                    .and_then(|l| l.refer_replaces().cloned());
                match replaces {
                    Some(r) => self.on_attended_refer(id, &target, r).await,
                    None => self.on_refer(id, &target).await,
                }
                return;
            }
        };
        self.side.control.handle_leg(id, ev, now);
        self.run_control().await;
    }

    /// A media event of a leg: the talking party's keys go on to the caller.
    pub(super) fn on_leg_media(&mut self, id: LegId, ev: MediaEvent) {
        if let MediaEvent::Digit(d) = ev {
            if self.side.control.conversation_leg() == Some(id) {
                self.media.send_dtmf(d);
            }
        }
    }

    /// A REFER from leg `id` (the agent's phone): carried out, or refused with a NOTIFY
    /// failure while the call stays as it was.
    async fn on_refer(&mut self, id: LegId, target: &str) {
        tracing::info!(%target, "transfer asked by the phone");
        match self.resolve(target) {
            Ok(dest) => {
                let reserved = reserved_key(&dest);
                let ring = self.ring_time(&dest);
                if let Err(e) = self
                    .side
                    .control
                    .transfer(dest, Some(id), ring, Instant::now())
                {
                    tracing::info!(error = %e, "transfer refused");
                    self.release(reserved);
                    self.side.control.refuse_refer(id, 481);
                }
            }
            Err((code, why)) => {
                tracing::info!(%target, code, why, "transfer refused; the call stays");
                self.side.control.refuse_refer(id, code);
            }
        }
        self.run_control().await;
    }

    /// A REFER with Replaces from leg `id`: the agent's phone completes an attended
    /// transfer to the party it called itself (its own call through the hotline, named by
    /// `replaces`): that party takes the citizen, or NOTIFY 481 and the call stays.
    async fn on_attended_refer(
        &mut self,
        id: LegId,
        target: &str,
        replaces: hotline_sip::refer::Replaces,
    ) {
        tracing::info!(%target, replaces = %replaces.call_id, "attended transfer asked by the phone");
        // The receiver's view: our tag on that dialog is the Replaces' to-tag.
        let tags = ReplacesTags {
            local_tag: replaces.to_tag.clone(),
            remote_tag: replaces.from_tag.clone(),
        };
        let Some(h) = internal::take_over(&self.calls, &replaces.call_id, tags).await else {
            tracing::info!("no such call of the agent's to take over; the call stays");
            self.side.control.refuse_refer(id, 481);
            self.run_control().await;
            return;
        };
        let new = self.side.control.new_leg();
        self.calls.register(&h.leg.call_id, self.tx.clone());
        self.side.legs.insert(new, h.leg);
        if let Err(e) = self.side.control.adopt(new, h.agent, id, Instant::now()) {
            tracing::info!(error = %e, "cannot complete the attended transfer");
            self.hang_up_leg(new);
            self.side.control.refuse_refer(id, 481);
        }
        self.run_control().await;
    }

    /// A command of the desk or a supervisor (`agent`: the asking agent's extension).
    pub(super) async fn on_command(
        &mut self,
        cmd: Command,
        agent: Option<String>,
    ) -> Result<(), CommandError> {
        if let Some(ext) = agent {
            if self.side.control.agent().is_none_or(|a| a.0 != ext) {
                return Err(CommandError::NotYours(format!(
                    "agent {ext} is not on this call"
                )));
            }
        }
        let done = self.command(cmd).await;
        self.run_control().await;
        done.map_err(CommandError::Refused)
    }

    async fn command(&mut self, cmd: Command) -> Result<(), String> {
        let now = Instant::now();
        let c = &mut self.side.control;
        match cmd {
            Command::Hold => c.hold(now).map_err(refused),
            Command::Resume => c.resume(now).map_err(refused),
            Command::Complete => c.complete_transfer(now).map_err(refused),
            Command::Return => c.cancel_consult(now).map_err(refused),
            Command::Conference => c.conference(now).map_err(refused),
            Command::Transfer(target) => {
                let dest = self.resolve(&target).map_err(|(_, why)| why)?;
                let (reserved, ring) = (reserved_key(&dest), self.ring_time(&dest));
                let r = self.side.control.transfer(dest, None, ring, now);
                if r.is_err() {
                    self.release(reserved);
                }
                r.map_err(refused)
            }
            Command::Consult(target) => {
                let dest = self.resolve(&target).map_err(|(_, why)| why)?;
                let (reserved, ring) = (reserved_key(&dest), self.ring_time(&dest));
                let r = self.side.control.consult(dest, ring, now);
                if r.is_err() {
                    self.release(reserved);
                }
                r.map_err(refused)
            }
            Command::Supervise {
                extension,
                how,
                who,
            } => self.supervise(extension, how, who).await,
            Command::SupervisePhone {
                how,
                who,
                extension,
                media,
                gone,
            } => {
                if self.side.control.agent().is_some_and(|a| a.0 == extension) {
                    return Err("the agent cannot supervise their own call".into());
                }
                let id = self.side.control.new_leg();
                self.side.external.insert(id, (media, gone));
                self.side
                    .supervisors
                    .insert(id, (how, who.clone(), extension));
                if let Err(e) = self.side.control.supervise(id, how) {
                    self.side.external.remove(&id);
                    self.side.supervisors.remove(&id);
                    return Err(refused(e));
                }
                self.note(CallNote::Supervised {
                    who: &who,
                    how: supervision_name(how),
                })
                .await;
                Ok(())
            }
            Command::SupervisorLeft { addr } => {
                let id = self
                    .side
                    .external
                    .iter()
                    .find(|(_, (m, _))| m.local_addr() == addr)
                    .map(|(id, _)| *id);
                if let Some(id) = id {
                    self.side.external.remove(&id);
                    self.side.supervisors.remove(&id);
                    self.side
                        .control
                        .handle_leg(id, LegEvent::HungUp, Instant::now());
                }
                Ok(())
            }
            Command::ForceHangUp { who } => {
                if !self.side.control.is_talking() {
                    return Err(refused(Refused::NotTalking));
                }
                tracing::info!(%who, "a supervisor ended the call");
                self.note(CallNote::ForcedHangUp { who: &who }).await;
                self.cause = Some(Cause::SupervisorHangUp);
                self.send_bye();
                Ok(())
            }
        }
    }

    /// Rings a supervisor's phone into the call, or changes how the one already in it
    /// takes part.
    async fn supervise(
        &mut self,
        extension: String,
        how: Supervision,
        who: String,
    ) -> Result<(), String> {
        if !self.side.control.is_talking() {
            return Err(refused(Refused::NotTalking));
        }
        if self.side.control.agent().is_some_and(|a| a.0 == extension) {
            return Err("the agent cannot supervise their own call".into());
        }
        let already = self
            .side
            .supervisors
            .iter()
            .find(|(_, (_, _, ext))| *ext == extension)
            .map(|(id, _)| *id);
        if let Some(id) = already {
            if let Some(s) = self.side.supervisors.get_mut(&id) {
                s.0 = how;
            }
            if self.side.legs.get(&id).is_some_and(|l| l.is_connected()) {
                self.side.control.supervise(id, how).map_err(refused)?;
                self.note(CallNote::Supervised {
                    who: &who,
                    how: supervision_name(how),
                })
                .await;
            }
            return Ok(());
        }
        let Some(binding) = self.ctx.desk.contacts(&extension).into_iter().next() else {
            return Err(format!("extension {extension} has no registered phone"));
        };
        let id = self.side.control.new_leg();
        let offer = AgentOffer {
            citizen: "supervise",
            ticket: &self.opened.ticket,
            extra: vec![rsip::Header::Other(
                "X-Supervise".into(),
                supervision_name(how).into(),
            )],
        };
        let route = self.calls.route_to(&self.tx);
        let leg = agent_leg::ring(
            self.ep.clone(),
            &self.ctx.ports,
            &extension,
            binding,
            offer,
            route,
        )
        .await?;
        self.side.legs.insert(id, leg);
        self.side.supervisors.insert(id, (how, who, extension));
        Ok(())
    }

    /// What a transfer or consultation target names: an agent's extension (reserved in
    /// the ACD if Ready), a queue, an allowed outside number, or the survey. The error is
    /// the SIP status for the REFER's NOTIFY and a message for the desk.
    fn resolve(&self, target: &str) -> Result<Destination, (u16, String)> {
        let ctx = &self.ctx;
        if target == ctx.cfg.agents.survey_transfer {
            return Ok(Destination::Survey);
        }
        let agent = AgentId(target.to_string());
        if ctx.acd.agent_state(&agent).is_some() {
            if ctx.desk.contacts(target).is_empty() {
                return Err((480, format!("agent {target} has no registered phone")));
            }
            let key = ctx.next_call_key();
            let label = format!("{} transfer", self.sip_call_id());
            return match ctx.acd.offer_direct(key, &agent, &label) {
                Ok(()) => Ok(Destination::Agent { agent, key }),
                Err(DirectRefusal::Busy) => Err((486, format!("agent {target} is not ready"))),
                Err(e) => Err((480, format!("agent {target}: {e}"))),
            };
        }
        if ctx.cfg.acd.queues.iter().any(|q| q.name == target) {
            return Ok(Destination::Queue(target.to_string()));
        }
        if ctx.cfg.agents.transfer_numbers.iter().any(|n| n == target) {
            if ctx.cfg.trunk.outbound.is_none() {
                return Err((503, "no outbound trunk is configured".into()));
            }
            return Ok(Destination::Number(target.to_string()));
        }
        Err((404, format!("unknown transfer target {target:?}")))
    }

    fn ring_time(&self, dest: &Destination) -> Duration {
        match dest {
            Destination::Agent { agent, .. } => self.ctx.acd.max_ring(agent),
            _ => NUMBER_RING,
        }
    }

    /// Gives back an agent reserved for a transfer that did not happen.
    fn release(&self, reserved: Option<CallKey>) {
        if let Some(key) = reserved {
            self.ctx.acd.leave(key);
        }
    }

    async fn note(&self, note: CallNote<'_>) {
        if let Err(e) = self
            .ctx
            .store
            .call_note(self.call(), note, Utc::now())
            .await
        {
            tracing::error!(error = %e, "cannot record on the case trail");
        }
    }

    fn hang_up_leg(&mut self, id: LegId) {
        self.side.supervisors.remove(&id);
        // Dropping its `gone` sender makes the phone's task hang up.
        self.side.external.remove(&id);
        if let Some(mut leg) = self.side.legs.remove(&id) {
            leg.hang_up();
            self.calls.unregister(&leg.call_id);
        }
    }

    /// Carries out what the control machine asks until it asks nothing more.
    pub(super) async fn run_control(&mut self) {
        while let Some(action) = self.side.control.poll_action() {
            match action {
                Action::Ring { leg, dial } => self.ring(leg, dial).await,
                Action::Cancel(leg) => {
                    if let Some(l) = self.side.legs.get_mut(&leg) {
                        tracing::info!(peer = %l.peer, "no answer; cancelling");
                        l.cancel();
                    }
                }
                Action::HangUp(leg) => self.hang_up_leg(leg),
                Action::Media(t) => self.link(t),
                Action::Music(on) => {
                    self.side.music = on;
                    if on {
                        self.play_hold_music();
                    } else {
                        self.media.stop_playback();
                    }
                }
                Action::Notify { leg, code } => {
                    if let Some(l) = self.side.legs.get_mut(&leg) {
                        l.notify_refer(code);
                    }
                }
                Action::Acd(op) => self.acd(op).await,
                Action::Record(r) => self.record(r).await,
                Action::Flow(n) => {
                    let input = match n {
                        FlowNote::Ringing => Input::AgentRinging,
                        FlowNote::Answered => {
                            self.media.stop_playback();
                            Input::AgentAnswered
                        }
                        FlowNote::HungUp => Input::AgentHungUp,
                    };
                    self.flow.handle_input(Instant::now(), input);
                }
                Action::Live(what) => self.live(what),
            }
        }
        self.publish_agent();
    }

    /// Keeps `Calls::agents_on_call` naming this call for the agent talking on it.
    fn publish_agent(&mut self) {
        let now = self
            .side
            .control
            .conversation_leg()
            .and_then(|_| self.side.control.agent())
            .map(|a| a.0.clone());
        if now == self.side.published {
            return;
        }
        let ticket = &self.opened.ticket;
        if let Some(old) = self.side.published.take() {
            self.calls
                .agents_on_call
                .remove_if(&old, |_, t| t == ticket);
        }
        if let Some(ext) = &now {
            self.calls
                .agents_on_call
                .insert(ext.clone(), ticket.clone());
        }
        self.side.published = now;
    }

    /// Starts leg `id`; a leg that cannot start fails at once.
    async fn ring(&mut self, id: LegId, dial: Dial) {
        let route = self.calls.route_to(&self.tx);
        let started = match &dial {
            Dial::Agent(agent) => match self.ctx.desk.contacts(&agent.0).into_iter().next() {
                None => Err("not registered".to_string()),
                Some(binding) => {
                    let extra = self.open_tickets_header().await;
                    let offer = AgentOffer {
                        citizen: &self.caller_number,
                        ticket: &self.opened.ticket,
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
                        &self.opened.ticket,
                        route,
                    )
                    .await
                }
            },
        };
        match started {
            Ok(leg) => {
                tracing::info!(peer = %leg.peer, "ringing");
                self.side.legs.insert(id, leg);
            }
            Err(e) => {
                tracing::error!(?dial, error = %e, "cannot ring");
                self.side
                    .control
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
                .filter(|t| *t != self.opened.ticket)
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
            self.side.link = Link::None;
            return;
        }
        let pair = t.as_pair();
        match (&mut self.side.link, pair) {
            (Link::Bridge(_, cur), Some(other)) if *cur == other => {}
            (Link::None | Link::Bridge(..), Some(other)) => {
                if !self.side.legs.contains_key(&other) {
                    return;
                }
                self.side.link = Link::None;
                let target = self.new_conversation();
                let leg = &self.side.legs[&other];
                self.side.link = Link::Bridge(bridge(&self.media, &leg.media, target), other);
            }
            (Link::Mix(m, members), _) => {
                for (id, hears, recorded) in &t.parties {
                    if members.contains(id) {
                        m.set_hears(*id, hearing(hears));
                        continue;
                    }
                    let media = if *id == CITIZEN {
                        &self.media
                    } else if let Some(l) = self.side.legs.get(id) {
                        &l.media
                    } else if let Some((m, _)) = self.side.external.get(id) {
                        m
                    } else {
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
                self.side.link = Link::None;
                let target = self.new_conversation();
                let m = mix(target);
                let mut members = Vec::new();
                for (id, hears, recorded) in &t.parties {
                    let media = if *id == CITIZEN {
                        &self.media
                    } else if let Some(l) = self.side.legs.get(id) {
                        &l.media
                    } else if let Some((m, _)) = self.side.external.get(id) {
                        m
                    } else {
                        continue;
                    };
                    m.add(*id, media, hearing(hears), side(*id, *recorded));
                    members.push(*id);
                }
                self.side.link = Link::Mix(m, members);
            }
        }
    }

    /// A new stereo recording of the conversation (the second and later links of a call
    /// are numbered).
    fn new_conversation(&mut self) -> Option<StereoTarget> {
        let n = self.side.links_started;
        self.side.links_started += 1;
        let kind = if n == 0 {
            "conversation".to_string()
        } else {
            format!("conversation-{}", n + 1)
        };
        let (rel, path) = self.recording_file(&kind);
        self.side.conversations.push_back(rel);
        Some(StereoTarget { path })
    }

    async fn acd(&mut self, op: AcdOp) {
        let acd = self.ctx.acd.clone();
        match op {
            AcdOp::Answered(key) => {
                acd.answered(key);
                self.side.first_key.get_or_insert(key);
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
                let row = (self.side.first_key == Some(key))
                    .then(|| (self.ctx.store.clone(), self.call()));
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
            &self.sip_call_id(),
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
                self.side.control.handle_citizen_gone(Instant::now());
                self.flow.handle_input(Instant::now(), Input::AgentHungUp);
            }
        }
    }

    async fn record(&mut self, r: Record) {
        let (store, call, at) = (self.ctx.store.clone(), self.call(), Utc::now());
        let done = match &r {
            Record::Offered(agent) => store.call_offered(call, &agent.0, at).await,
            Record::Answered { agent, leg } => {
                let leg_call_id = self
                    .side
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
        self.media.play(music);
    }

    /// The conversation is over (the caller hung up or the call ends): every other leg
    /// is hung up, the links end (their recordings are finalized and reported on the
    /// caller's media channel), agents start their wrap-up.
    pub(super) async fn end_conversation(&mut self) {
        self.side.control.handle_citizen_gone(Instant::now());
        self.run_control().await;
        self.side.link = Link::None;
        for id in self.side.legs.keys().copied().collect::<Vec<_>>() {
            self.hang_up_leg(id);
        }
    }
}

fn side(id: LegId, recorded: bool) -> Option<Side> {
    match (id, recorded) {
        (CITIZEN, _) => Some(Side::Left),
        (_, true) => Some(Side::Right),
        (_, false) => None,
    }
}

fn reserved_key(dest: &Destination) -> Option<CallKey> {
    match dest {
        Destination::Agent { key, .. } => Some(*key),
        _ => None,
    }
}

fn refused(r: Refused) -> String {
    r.to_string()
}

/// The trail's word for a supervision.
pub fn supervision_name(how: Supervision) -> &'static str {
    match how {
        Supervision::Listen => "listen",
        Supervision::Whisper => "whisper",
        Supervision::Barge => "barge",
    }
}
