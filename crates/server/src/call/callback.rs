//! An agent-first callback: a task of the worklist waits in the ACD's callback queue like a
//! call (keeping its caller's place), rings the chosen agent's softphone with the task on
//! it, and once the agent answers dials the citizen through the trunk, bridges the two and
//! records the conversation into the same case.
//!
//! ```text
//! ACD queue ─ Offer ─> ring agent (X-Callback-*) ─ no answer ─> offer failed ─> next agent
//!                          └─ 200 ─> claim task ─> "connecting" to agent ─> INVITE citizen
//!   citizen 200 ─> bridge + stereo recording ─> attempt `reached` ─> … BYE either way
//!   citizen 486/480/404/603/no answer ─> attempt (retry later or failed) ─> "not reached"
//!                                         to the agent ─> BYE agent ─> wrap-up
//! ```
//! Every step is written to the database as it happens; what survives a crash is the task
//! (released back to `pending` at the next start) and the rows already written.

use super::conversation::event_call_id;
use super::out_leg::{Failure, LegEvent, OutLeg};
use super::{agent_leg, trunk_leg, CallEvent, Calls, Ctx};
use crate::endpoint::EndpointHandle;
use chrono::Utc;
use hotline_acd::{AgentId, CallKey, Decision};
use hotline_case::lifecycle::{Action, Role};
use hotline_case::{
    Actor, CallId, CallbackReason, CallbackResult, CallbackStatus, CallbackTask, NewOutboundCall,
    RecordingKind,
};
use hotline_media::{bridge, BridgeHandle, MediaEvent, RecordStop, StereoTarget};
use rsip::Header;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

/// The longest the agent hears "not reached" before we hang up on them.
const UNREACHED_PROMPT: Duration = Duration::from_secs(6);
/// How long we wait for BYE answers and the recording at the end.
const TEARDOWN: Duration = Duration::from_secs(5);

/// Where the callback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In the ACD queue, or ringing an agent.
    Queued,
    /// The agent answered; the citizen's phone rings.
    Dialling,
    /// Agent and citizen talk.
    Talking,
    /// Telling the agent the citizen was not reached, then hanging up.
    Unreached,
    Done,
}

struct Callback {
    ctx: Arc<Ctx>,
    calls: Calls,
    ep: EndpointHandle,
    task: CallbackTask,
    key: CallKey,
    tx: mpsc::Sender<CallEvent>,
    rx: mpsc::Receiver<CallEvent>,
    phase: Phase,
    agent: Option<OutLeg>,
    agent_id: Option<AgentId>,
    citizen: Option<OutLeg>,
    call: Option<CallId>,
    bridge: Option<BridgeHandle>,
    recording: Option<String>,
    /// When to give up ringing (the agent's phone, then the citizen's).
    ring_deadline: Option<Instant>,
    /// When to hang up on the agent after "not reached".
    hangup_at: Option<Instant>,
    /// The call's end cause for the call row.
    cause: &'static str,
    /// The agent answered: the ACD must hear the conversation ended.
    in_conversation: bool,
    /// Started by this agent from the desktop, outside the queue.
    direct: Option<AgentId>,
    /// `[calls] max_call_secs` after the agent answered (waiting in the queue is not a call).
    max_until: Option<Instant>,
}

/// Runs one agent-first callback until it is over (or could not be queued). With
/// `direct`, the task rings that agent (who started it from the desktop) instead of
/// waiting in the queue; the agent is not offered other calls meanwhile.
pub async fn run(calls: Calls, ep: EndpointHandle, task: CallbackTask, direct: Option<AgentId>) {
    let ctx = calls.ctx.clone();
    let (tx, rx) = mpsc::channel(64);
    let key = ctx.next_call_key();
    let span = tracing::info_span!("callback", task = %task.id, ticket = %task.ticket);
    let mut cb = Callback {
        ctx,
        calls,
        ep,
        task,
        key,
        tx,
        rx,
        phase: Phase::Queued,
        agent: None,
        agent_id: None,
        citizen: None,
        call: None,
        bridge: None,
        recording: None,
        ring_deadline: None,
        hangup_at: None,
        cause: "hotline_bye",
        in_conversation: false,
        direct: direct.clone(),
        max_until: None,
    };
    async move {
        let started = match direct {
            Some(agent) => {
                cb.ctx
                    .acd
                    .set_not_ready(&agent, "callback", crate::acd::By::System);
                cb.on_offer(agent).await;
                cb.agent.is_some()
            }
            None => cb.enqueue(),
        };
        if started {
            cb.run().await;
        }
        cb.finish().await;
    }
    .instrument(span)
    .await
}

async fn leg_media(leg: &mut Option<OutLeg>) -> Option<MediaEvent> {
    match leg {
        Some(l) => l.media_rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Callback {
    /// The extension of the agent rung (empty before one is).
    fn agent_ext(&self) -> String {
        self.agent
            .as_ref()
            .map(|l| l.peer.clone())
            .unwrap_or_default()
    }

    /// Puts the task in the callback queue; false if no agent can take it now.
    fn enqueue(&mut self) -> bool {
        let waited = (Utc::now() - self.task.place_at)
            .to_std()
            .unwrap_or_default();
        let priority = self.task.priority.clamp(0, 255) as u8;
        let label = format!("callback-task-{}", self.task.id);
        let queue = self.ctx.cfg.callbacks.queue.clone();
        match self.ctx.acd.enqueue_placed(
            self.key,
            &label,
            &queue,
            priority,
            waited,
            self.tx.clone(),
        ) {
            Decision::Queued { position, .. } => {
                tracing::info!(position, "callback queued for an agent");
                true
            }
            Decision::Offer { .. } => true,
            Decision::Refused { reason, .. } => {
                tracing::debug!(?reason, "no callback agent; the task stays on the worklist");
                false
            }
            Decision::Expired { .. } => false,
        }
    }

    async fn run(&mut self) {
        while self.phase != Phase::Done {
            let leg_timer = [self.agent.as_ref(), self.citizen.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|l| l.poll_timeout())
                .min()
                .map(Instant::from_std);
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    Some(CallEvent::Sip(ev)) => self.on_sip(ev).await,
                    Some(CallEvent::Offer { agent }) => self.on_offer(agent).await,
                    Some(CallEvent::QueueExpired) | None => self.phase = Phase::Done,
                    Some(CallEvent::Shutdown) => {
                        // The claim is released at the next start; the task is called again.
                        self.cause = "hotline_shutdown";
                        self.phase = Phase::Done;
                    }
                    Some(CallEvent::HandOver { reply, .. }) => {
                        let _ = reply.send(None);
                    }
                    Some(CallEvent::Command { reply, .. }) => {
                        let _ = reply.send(Err(super::CommandError::Refused(
                            "a callback takes no call control yet".into(),
                        )));
                    }
                },
                Some(ev) = leg_media(&mut self.agent) => match ev {
                    MediaEvent::Digit(d) => {
                        if let Some(c) = self.citizen.as_ref() {
                            c.media.send_dtmf(d)
                        }
                    }
                    MediaEvent::PlaybackFinished if self.phase == Phase::Unreached => {
                        self.phase = Phase::Done
                    }
                    _ => {}
                },
                Some(ev) = leg_media(&mut self.citizen) => self.on_citizen_media(ev).await,
                _ = sleep_opt(self.ring_deadline) => self.ring_timeout(),
                // The legs' own timers: a CANCEL never answered, session refresh and expiry.
                _ = sleep_opt(leg_timer) => self.on_leg_timers().await,
                _ = sleep_opt(self.hangup_at) => {
                    self.hangup_at = None;
                    self.phase = Phase::Done;
                }
                _ = sleep_opt(self.max_until) => {
                    tracing::warn!("maximum call duration reached");
                    self.cause = "max_duration";
                    self.phase = Phase::Done;
                }
            }
        }
    }

    /// The ACD chose `agent`: ring its phone, showing the task.
    async fn on_offer(&mut self, agent: AgentId) {
        // Staff may have skipped or rescheduled the task meanwhile, or calling hours ended.
        let now = Utc::now();
        let callable = self
            .ctx
            .cfg
            .callbacks
            .hours()
            .next_allowed(now, self.ctx.ivr.timezone)
            == now;
        match self.ctx.store.callback_task(self.task.id).await {
            Ok(t)
                if callable && t.status == CallbackStatus::Pending && t.next_attempt_at <= now =>
            {
                self.task = t
            }
            Ok(_) | Err(_) if self.direct.is_none() => {
                tracing::info!("task no longer due; leaving the queue");
                self.ctx.acd.leave(self.key);
                self.phase = Phase::Done;
                return;
            }
            // Started by hand: due or not, it is called now (calling hours still apply).
            Ok(t) if callable && t.status == CallbackStatus::Pending => self.task = t,
            Ok(_) | Err(_) => {
                self.phase = Phase::Done;
                return;
            }
        }
        let Some(binding) = self.ctx.desk.contacts(&agent.0).into_iter().next() else {
            if self.direct.is_none() {
                self.ctx.acd.offer_failed(self.key, "not registered");
            }
            return;
        };
        let t = &self.task;
        let mut extra = vec![
            Header::Other("X-Callback-Task".into(), t.id.to_string()),
            Header::Other("X-Callback-Number".into(), t.number.clone()),
            Header::Other("X-Callback-Reason".into(), t.reason.to_string()),
            Header::Other("X-Callback-Attempt".into(), (t.attempts + 1).to_string()),
        ];
        if let Some(url) = self.voicemail_url().await {
            extra.push(Header::Other("X-Voicemail".into(), url));
        }
        let offer = agent_leg::AgentOffer {
            citizen: &t.number,
            ticket: &t.ticket,
            extra,
        };
        let route = self.calls.route_to(&self.tx);
        let ring = agent_leg::ring(
            self.ep.clone(),
            &self.ctx.ports,
            &agent.0,
            binding,
            offer,
            route,
        );
        match ring.await {
            Ok(leg) => {
                tracing::info!(agent = %agent.0, "ringing agent for a callback");
                self.ring_deadline = Some(Instant::now() + self.ctx.acd.max_ring(&agent));
                self.agent = Some(leg);
                self.agent_id = Some(agent);
            }
            Err(e) => {
                tracing::error!(agent = %agent.0, error = %e, "cannot ring agent");
                if self.direct.is_none() {
                    self.ctx.acd.offer_failed(self.key, "failed");
                }
            }
        }
    }

    /// The case's newest voicemail, as the API URL the agent desktop plays.
    async fn voicemail_url(&self) -> Option<String> {
        let detail = self
            .ctx
            .store
            .case_by_ticket(&self.task.ticket)
            .await
            .ok()??;
        let rec = detail
            .recordings
            .iter()
            .rev()
            .find(|r| r.kind == RecordingKind::Voicemail)?;
        Some(format!(
            "http://{}/api/cases/{}/recordings/{}",
            self.ctx.cfg.http.listen, self.task.ticket, rec.id
        ))
    }

    fn ring_timeout(&mut self) {
        self.ring_deadline = None;
        match self.phase {
            Phase::Queued => {
                if let Some(leg) = self.agent.as_mut() {
                    tracing::info!(agent = %leg.peer, "agent did not answer; cancelling");
                    leg.cancel();
                }
            }
            Phase::Dialling => {
                if let Some(leg) = self.citizen.as_mut() {
                    tracing::info!("citizen did not answer; cancelling");
                    leg.cancel();
                }
            }
            _ => {}
        }
    }

    async fn on_sip(&mut self, ev: hotline_sip::transaction::Event) {
        let id = event_call_id(&ev).to_string();
        if self.agent.as_ref().is_some_and(|l| l.call_id == id) {
            let Some(what) = self.agent.as_mut().and_then(|l| l.on_sip(ev)) else {
                return;
            };
            self.on_agent(what).await;
        } else if self.citizen.as_ref().is_some_and(|l| l.call_id == id) {
            let Some(what) = self.citizen.as_mut().and_then(|l| l.on_sip(ev)) else {
                return;
            };
            self.on_citizen(what).await;
        }
    }

    /// Runs the legs' timers that are due.
    async fn on_leg_timers(&mut self) {
        let now = std::time::Instant::now();
        let agent = self.agent.as_mut().and_then(|l| l.handle_timeout(now));
        if let Some(what) = agent {
            self.on_agent(what).await;
        }
        let citizen = self.citizen.as_mut().and_then(|l| l.handle_timeout(now));
        if let Some(what) = citizen {
            self.on_citizen(what).await;
        }
    }

    async fn on_agent(&mut self, what: LegEvent) {
        match (self.phase, what) {
            (Phase::Queued, LegEvent::Answered) => self.agent_answered().await,
            (Phase::Queued, LegEvent::Failed(f)) => {
                self.ring_deadline = None;
                if let Some(leg) = self.agent.take() {
                    self.calls.unregister(&leg.call_id);
                }
                let reason = match f {
                    Failure::NoAnswer => "no answer".to_string(),
                    f => format!("offer failed: {f}"),
                };
                if self.direct.is_some() {
                    tracing::info!(%reason, "the agent did not take the callback they started");
                    self.phase = Phase::Done;
                } else {
                    tracing::info!(%reason, "callback offer failed; back to the queue");
                    self.ctx.acd.offer_failed(self.key, &reason);
                }
            }
            (_, LegEvent::HungUp) => {
                tracing::info!("agent hung up");
                self.cause = "agent_bye";
                if let Some(c) = self.citizen.as_mut() {
                    // Hung up while the citizen's phone rang: that attempt is abandoned.
                    c.hang_up();
                }
                if self.phase == Phase::Dialling {
                    self.attempt(CallbackResult::NoAnswer, "the agent hung up while dialling")
                        .await;
                }
                self.phase = Phase::Done;
            }
            (_, LegEvent::Digit(d)) => {
                if let Some(c) = self.citizen.as_ref() {
                    c.media.send_dtmf(d)
                }
            }
            _ => {}
        }
    }

    /// The agent picked up: the task is theirs; dial the citizen.
    async fn agent_answered(&mut self) {
        self.ring_deadline = None;
        self.max_until =
            Some(Instant::now() + Duration::from_secs(self.ctx.cfg.calls.max_call_secs));
        if self.direct.is_none() {
            self.ctx.acd.answered(self.key);
            self.in_conversation = true;
        }
        let ext = self.agent_ext();
        if let Err(e) = self
            .ctx
            .store
            .claim_callback(self.task.id, &ext, Utc::now())
            .await
        {
            tracing::info!(error = %e, "task taken meanwhile; hanging up on the agent");
            self.phase = Phase::Done;
            return;
        }
        let Some(trunk) = self.ctx.cfg.trunk.outbound.clone() else {
            tracing::error!("no [trunk.outbound]: cannot dial the citizen");
            self.phase = Phase::Done;
            return;
        };
        if let Some(a) = self.agent.as_ref() {
            a.media.play(
                self.ctx
                    .prompt_list(&self.ctx.ivr.callback_prompts.connecting),
            );
        }
        let leg = trunk_leg::dial(
            self.ep.clone(),
            &self.ctx.ports,
            &trunk,
            &self.task.number,
            &self.task.ticket,
            self.calls.route_to(&self.tx),
        )
        .await;
        let leg = match leg {
            Ok(l) => l,
            Err(e) => {
                // Out of RTP ports or the like: counted as not reached, tried again later.
                tracing::error!(error = %e, "cannot dial the citizen");
                self.attempt(
                    CallbackResult::NoAnswer,
                    &format!("could not place the call: {e}"),
                )
                .await;
                self.tell_unreached();
                return;
            }
        };
        let now = Utc::now();
        let opened = self
            .ctx
            .store
            .open_outbound_call(NewOutboundCall {
                case: self.task.case_id,
                task: Some(self.task.id),
                sip_call_id: leg.call_id.clone(),
                from_number: trunk.caller_id.clone(),
                to_number: self.task.number.clone(),
                started_at: now,
                agent: Some(ext.clone()),
            })
            .await;
        match opened {
            Ok(call) => {
                self.call = Some(call);
                let agent_call_id = self
                    .agent
                    .as_ref()
                    .map(|l| l.call_id.clone())
                    .unwrap_or_default();
                if let Err(e) = self
                    .ctx
                    .store
                    .call_agent_answered(call, &ext, &agent_call_id, now)
                    .await
                {
                    tracing::error!(error = %e, "cannot record the agent on the call");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot open the outbound call row"),
        }
        tracing::info!(number = %self.task.number, "agent answered; dialling the citizen");
        self.ring_deadline =
            Some(Instant::now() + Duration::from_secs(self.ctx.cfg.callbacks.ring_secs));
        self.citizen = Some(leg);
        self.phase = Phase::Dialling;
    }

    async fn on_citizen(&mut self, what: LegEvent) {
        match (self.phase, what) {
            (Phase::Dialling, LegEvent::Answered) => self.citizen_answered().await,
            (Phase::Dialling, LegEvent::Failed(f)) => {
                self.ring_deadline = None;
                let result = trunk_leg::result_of(f);
                tracing::info!(failure = %f, %result, "citizen not reached");
                self.cause = result.as_str();
                self.attempt(result, &format!("carrier: {f}")).await;
                self.tell_unreached();
            }
            (Phase::Talking, LegEvent::HungUp) => {
                tracing::info!("citizen hung up");
                self.cause = "citizen_bye";
                self.phase = Phase::Done;
            }
            (_, LegEvent::Digit(d)) => {
                if let Some(a) = self.agent.as_ref() {
                    a.media.send_dtmf(d)
                }
            }
            _ => {}
        }
    }

    async fn citizen_answered(&mut self) {
        self.ring_deadline = None;
        self.phase = Phase::Talking;
        self.cause = "citizen_bye";
        tracing::info!("citizen answered; bridging");
        if let Some(call) = self.call {
            if let Err(e) = self.ctx.store.call_answered(call, Utc::now()).await {
                tracing::error!(error = %e, "cannot record the answer");
            }
        }
        self.attempt(CallbackResult::Reached, "").await;
        // A voicemail or callback request is now handled like a new call (受理).
        if self.task.reason != CallbackReason::Revisit {
            let ext = self.agent_ext();
            let done = self
                .ctx
                .store
                .transition(
                    &self.task.ticket,
                    Action::CalledBack,
                    &Actor::new(ext, Role::Agent),
                    &self.ctx.calendar,
                    &self.ctx.policy,
                    Utc::now(),
                )
                .await;
            if let Err(e) = done {
                tracing::info!(error = %e, "case not moved to registered");
            }
        }
        let (Some(agent), Some(citizen)) = (self.agent.as_ref(), self.citizen.as_ref()) else {
            return;
        };
        agent.media.stop_playback();
        let (rel, path) =
            self.ctx
                .recording_file(&self.task.ticket, self.call.map_or(0, |c| c.0), "callback");
        self.recording = Some(rel);
        // Left channel the citizen, right the agent, as for inbound calls.
        self.bridge = Some(bridge(
            &citizen.media,
            &agent.media,
            Some(StereoTarget { path }),
        ));
    }

    /// Records the attempt's result on the task (and the call it was made on).
    async fn attempt(&mut self, result: CallbackResult, note: &str) {
        let agent = self.agent_ext();
        let note = (!note.is_empty()).then_some(note);
        if let Some(t) = self
            .ctx
            .record_attempt(self.task.id, result, &agent, note, self.call)
            .await
        {
            self.task = t;
        }
    }

    /// Tells the agent the citizen was not reached, then hangs up after the prompt.
    fn tell_unreached(&mut self) {
        self.phase = Phase::Unreached;
        if let Some(c) = self.citizen.take() {
            self.calls.unregister(&c.call_id);
        }
        let clips = self
            .ctx
            .prompt_list(&self.ctx.ivr.callback_prompts.unreached);
        match self.agent.as_ref() {
            Some(a) if !clips.is_empty() => {
                a.media.play(clips);
                self.hangup_at = Some(Instant::now() + UNREACHED_PROMPT);
            }
            _ => self.phase = Phase::Done,
        }
    }

    async fn on_citizen_media(&mut self, ev: MediaEvent) {
        if let MediaEvent::RecordingFinished(info, RecordStop::BridgeEnded) = ev {
            self.store_recording(info).await;
        }
    }

    async fn store_recording(&mut self, info: hotline_media::RecordingInfo) {
        let (Some(path), Some(call)) = (self.recording.take(), self.call) else {
            return;
        };
        self.ctx
            .save_recording(
                (self.task.case_id, call),
                RecordingKind::Conversation,
                path,
                &info,
            )
            .await;
    }

    /// Hangs up what is still up, leaves the ACD, waits (bounded) for the recording, and
    /// closes the call row.
    async fn finish(mut self) {
        if let Some(b) = self.bridge.take() {
            b.unbridge();
        }
        if let Some(a) = self.agent.as_mut() {
            a.hang_up();
        }
        if let Some(c) = self.citizen.as_mut() {
            c.hang_up();
        }
        if self.in_conversation {
            let store = self.ctx.store.clone();
            let call = self.call;
            if let Some(call) = call {
                if let Err(e) = store.call_agent_ended(call, Utc::now()).await {
                    tracing::error!(error = %e, "cannot record the end of the conversation");
                }
            }
            self.ctx.acd.conversation_ended(self.key, move || {
                if let Some(call) = call {
                    tokio::spawn(async move {
                        let _ = store.call_wrap_up_done(call, Utc::now()).await;
                    });
                }
            });
        } else if let Some(agent) = &self.direct {
            // Back to work unless the agent paused or logged out meanwhile.
            if self.ctx.acd.agent_state(agent)
                == Some(hotline_acd::AgentState::NotReady("callback".into()))
            {
                self.ctx.acd.set_ready(agent, crate::acd::By::System);
            }
        } else {
            self.ctx.acd.leave(self.key);
        }
        // The recording is finalized on the citizen leg's media channel.
        if self.recording.is_some() {
            let info = match self.citizen.as_mut() {
                Some(c) => c.recording_finished(TEARDOWN).await,
                None => None,
            };
            match info {
                Some(info) => self.store_recording(info).await,
                None => tracing::warn!("callback recording not finalized in time"),
            }
        }
        for leg in [self.agent.as_ref(), self.citizen.as_ref()]
            .into_iter()
            .flatten()
        {
            leg.media.close();
            self.calls.unregister(&leg.call_id);
        }
        if let Some(call) = self.call {
            if let Err(e) = self
                .ctx
                .store
                .end_call(call, Utc::now(), self.cause, "callback")
                .await
            {
                tracing::error!(error = %e, "cannot close the call row");
            }
        }
        tracing::info!(cause = self.cause, "callback over");
    }
}
