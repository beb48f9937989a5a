//! An agent-first callback: a task of the worklist waits in the ACD's callback queue like a
//! call (keeping its caller's place), rings the chosen agent's softphone with the task on
//! it, and once the agent answers dials the citizen through the trunk, links the two and
//! records the conversation into the same case.
//!
//! The legs, links, recording and the agent's call control (hold, transfer, consultation,
//! supervision) are the same [`Conversation`] an inbound call has, on a
//! [`Control::outbound`] machine whose citizen is a leg it dials; what is the callback's own
//! is here: the task (claimed, attempts counted, the case moved on), the prompts to the
//! agent, and the phases.
//!
//! ```text
//! ACD queue ─ Offer ─> ring agent (X-Callback-*) ─ no answer ─> offer failed ─> next agent
//!                          └─ 200 ─> claim task ─> "connecting" to agent ─> dial citizen
//!   citizen 200 ─> bridge + stereo recording ─> attempt `reached` ─> … BYE either way
//!   citizen 486/480/404/603/no answer ─> attempt (retry later or failed) ─> "not reached"
//!                                         to the agent ─> BYE agent ─> wrap-up
//! ```
//! Every step is written to the database as it happens; what survives a crash is the task
//! (released back to `pending` at the next start) and the rows already written.

use super::control::{Control, FlowNote, CITIZEN};
use super::conversation::{event_call_id, next_leg_media, AcdEntry, Conversation, Note, Party};
use super::{trunk_leg, CallEvent, Calls, Ctx};
use crate::endpoint::EndpointHandle;
use chrono::Utc;
use hotline_acd::{AgentId, CallKey, Decision};
use hotline_case::lifecycle::{Action, Role};
use hotline_case::{
    Actor, CallbackReason, CallbackResult, CallbackStatus, CallbackTask, NewOutboundCall,
    RecordingKind,
};
use hotline_media::MediaEvent;
use rsip::Header;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

/// The longest the agent hears "not reached" before we hang up on them.
const UNREACHED_PROMPT: Duration = Duration::from_secs(6);
/// How long we wait for the recording at the end.
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
    task: CallbackTask,
    key: CallKey,
    rx: mpsc::Receiver<CallEvent>,
    phase: Phase,
    /// The agent and the citizen, and how they are linked.
    conv: Conversation,
    /// When to hang up on the agent after "not reached".
    hangup_at: Option<Instant>,
    /// The call's end cause for the call row.
    cause: &'static str,
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
    let party = Party {
        ticket: task.ticket.clone(),
        case: Some(task.case_id),
        call: None,
        caller_number: task.number.clone(),
        citizen: None,
        recording_kind: "callback",
    };
    let mut conv = Conversation::new(&calls, tx, ep, party, Control::outbound());
    conv.acd_entry = Some(AcdEntry {
        key,
        queue: ctx.cfg.callbacks.queue.clone(),
        position: 0,
        connected: false,
        left: false,
    });
    let mut cb = Callback {
        ctx,
        task,
        key,
        rx,
        phase: Phase::Queued,
        conv,
        hangup_at: None,
        cause: "hotline_bye",
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
                !cb.conv.legs.is_empty()
            }
            None => cb.enqueue(),
        };
        if started {
            // The desk and supervisors reach it by its ticket, as an inbound call.
            let (tickets, ticket, tx) = (
                cb.conv.calls.tickets.clone(),
                cb.task.ticket.clone(),
                cb.conv.tx.clone(),
            );
            tickets.insert(ticket.clone(), tx.clone());
            cb.run().await;
            tickets.remove_if(&ticket, |_, t| t.same_channel(&tx));
        }
        cb.finish().await;
    }
    .instrument(span)
    .await
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Callback {
    /// The extension of the agent on the callback (empty before one answered).
    fn agent_ext(&self) -> String {
        self.conv
            .control
            .agent()
            .map(|a| a.0.clone())
            .unwrap_or_default()
    }

    /// The agent's leg, once it answered.
    fn agent_leg(&self) -> Option<&super::out_leg::OutLeg> {
        let id = self.conv.control.agent_leg()?;
        self.conv.legs.get(&id)
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
            self.conv.tx.clone(),
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
            let control_timer = self.conv.control.poll_timeout().map(Instant::from_std);
            let leg_timer = self.conv.next_leg_timeout().map(Instant::from_std);
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    Some(CallEvent::Sip(ev)) => {
                        if let Some(leg) = self.conv.leg_of(event_call_id(&ev)) {
                            self.conv.on_leg_sip(leg, ev).await;
                        }
                    }
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
                    Some(CallEvent::Command { cmd, agent, reply }) => {
                        let done = self.conv.on_command(cmd, agent).await;
                        let _ = reply.send(done);
                    }
                },
                Some((leg, ev)) = next_leg_media(&mut self.conv.legs) => {
                    let rest = self.conv.on_leg_media(leg, ev).await;
                    if rest == Some(MediaEvent::PlaybackFinished) && self.phase == Phase::Unreached {
                        self.phase = Phase::Done;
                    }
                }
                _ = sleep_opt(control_timer) => self.conv.on_control_timeout().await,
                _ = sleep_opt(leg_timer) => self.conv.on_leg_timeouts().await,
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
            self.apply_notes().await;
        }
    }

    /// What the conversation asked of the callback.
    async fn apply_notes(&mut self) {
        while let Some(note) = self.conv.notes.pop_front() {
            match note {
                Note::Flow(FlowNote::Ringing) => {}
                Note::Flow(FlowNote::Answered) => self.agent_answered().await,
                Note::Flow(FlowNote::CitizenAnswered) => self.citizen_answered().await,
                Note::Flow(FlowNote::CitizenUnreached(_)) => {
                    let failure = self
                        .conv
                        .citizen_failure
                        .take()
                        .unwrap_or(super::out_leg::Failure::NoResponse);
                    let result = trunk_leg::result_of(failure);
                    tracing::info!(%failure, %result, "citizen not reached");
                    self.cause = result.as_str();
                    self.attempt(result, &format!("carrier: {failure}")).await;
                    self.tell_unreached();
                }
                Note::Flow(FlowNote::CitizenGone) => {
                    tracing::info!("citizen hung up");
                    self.cause = "citizen_bye";
                    self.phase = Phase::Done;
                }
                Note::Flow(FlowNote::HungUp) => {
                    // The agent is gone (hung up, or transferred to the survey).
                    if self.phase == Phase::Queued {
                        continue;
                    }
                    tracing::info!("agent hung up");
                    self.cause = "agent_bye";
                    if self.phase == Phase::Dialling {
                        // Hung up while the citizen's phone rang: that attempt is abandoned.
                        self.attempt(CallbackResult::NoAnswer, "the agent hung up while dialling")
                            .await;
                    }
                    self.phase = Phase::Done;
                }
                Note::HangUp(_) => {
                    self.cause = "supervisor_hangup";
                    self.phase = Phase::Done;
                }
            }
        }
        // A direct (desktop) callback whose agent did not answer is over.
        if self.phase == Phase::Queued
            && self.direct.is_some()
            && self.conv.legs.is_empty()
            && !self.conv.control.has_answered()
        {
            tracing::info!("the agent did not take the callback they started");
            self.phase = Phase::Done;
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
        self.conv.offer_extra = extra;
        tracing::info!(agent = %agent.0, "ringing agent for a callback");
        self.conv.on_offer(agent).await;
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

    /// The agent picked up: the task is theirs; dial the citizen.
    async fn agent_answered(&mut self) {
        self.max_until =
            Some(Instant::now() + Duration::from_secs(self.ctx.cfg.calls.max_call_secs));
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
        // "Callback, connecting the citizen", then — while the citizen's phone rings — the
        // citizen's own voicemail, so the agent knows what the call is about when they
        // answer (cut short by the answer, or by "not reached").
        let mut clips = self
            .ctx
            .prompt_list(&self.ctx.ivr.callback_prompts.connecting);
        if let Some(voicemail) = self.voicemail().await {
            clips.push(Arc::new(hotline_media::Prompt::silence(400)));
            clips.push(voicemail);
        }
        if let Some(a) = self.agent_leg() {
            a.media.play(clips);
        }
        self.phase = Phase::Dialling;
        tracing::info!(number = %self.task.number, "agent answered; dialling the citizen");
        let ring = Duration::from_secs(self.ctx.cfg.callbacks.ring_secs);
        let asked =
            self.conv
                .control
                .dial_citizen(&self.task.number, ring, std::time::Instant::now());
        if let Err(e) = asked {
            tracing::error!(error = %e, "cannot dial the citizen");
            self.phase = Phase::Done;
            return;
        }
        self.conv.run_control().await;
        // The call row, once the citizen's leg exists (its Call-ID is on the row).
        let Some(leg) = self.conv.legs.get(&CITIZEN) else {
            // Could not place the call (out of RTP ports…): the note says not reached.
            return;
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
                self.conv.call = Some(call);
                let agent_call_id = self
                    .agent_leg()
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
    }

    async fn citizen_answered(&mut self) {
        self.phase = Phase::Talking;
        self.cause = "citizen_bye";
        tracing::info!("citizen answered; linked to the agent");
        if let Some(call) = self.conv.call {
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
        if let Some(a) = self.agent_leg() {
            a.media.stop_playback();
        }
    }

    /// Records the attempt's result on the task (and the call it was made on).
    async fn attempt(&mut self, result: CallbackResult, note: &str) {
        let agent = self.agent_ext();
        let note = (!note.is_empty()).then_some(note);
        if let Some(t) = self
            .ctx
            .record_attempt(self.task.id, result, &agent, note, self.conv.call)
            .await
        {
            self.task = t;
        }
    }

    /// The latest voicemail the citizen left on the task's case, to play to the agent.
    async fn voicemail(&self) -> Option<Arc<hotline_media::Prompt>> {
        let detail = match self.ctx.store.case_by_ticket(&self.task.ticket).await {
            Ok(Some(d)) => d,
            _ => return None,
        };
        let rec = detail
            .recordings
            .iter()
            .rev()
            .find(|r| r.kind == RecordingKind::Voicemail)?;
        let path = self.ctx.recordings.join(&rec.path);
        let loaded =
            tokio::task::spawn_blocking(move || hotline_media::Prompt::from_wav(&path)).await;
        match loaded {
            Ok(Ok(p)) => Some(Arc::new(p)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, recording = %rec.path, "cannot play the voicemail to the agent");
                None
            }
            Err(_) => None,
        }
    }

    /// Tells the agent the citizen was not reached, then hangs up after the prompt.
    fn tell_unreached(&mut self) {
        self.phase = Phase::Unreached;
        let clips = self
            .ctx
            .prompt_list(&self.ctx.ivr.callback_prompts.unreached);
        match self.agent_leg() {
            Some(a) if !clips.is_empty() => {
                a.media.play(clips);
                self.hangup_at = Some(Instant::now() + UNREACHED_PROMPT);
            }
            _ => self.phase = Phase::Done,
        }
    }

    /// Hangs up what is still up, leaves the ACD, waits (bounded) for the recording, and
    /// closes the call row.
    async fn finish(mut self) {
        let answered = self.conv.control.has_answered();
        // The recording is finalized on the citizen leg's media channel: keep it to hear
        // that while everything else is hung up.
        let mut citizen = self.conv.legs.remove(&CITIZEN);
        self.conv.end_conversation().await;
        self.conv.notes.clear();
        if let Some(c) = citizen.as_mut() {
            c.hang_up();
            self.conv.calls.unregister(&c.call_id);
        }
        if let Some(agent) = &self.direct {
            // Back to work unless the agent paused or logged out meanwhile.
            if self.ctx.acd.agent_state(agent)
                == Some(hotline_acd::AgentState::NotReady("callback".into()))
            {
                self.ctx.acd.set_ready(agent, crate::acd::By::System);
            }
        } else if !answered {
            self.ctx.acd.leave(self.key);
        }
        if !self.conv.conversations.is_empty() {
            let info = match citizen.as_mut() {
                Some(c) => c.recording_finished(TEARDOWN).await,
                None => None,
            };
            match info {
                Some(info) => self.conv.recording_finished(&info).await,
                None => tracing::warn!("callback recording not finalized in time"),
            }
        }
        if let Some(c) = citizen.as_ref() {
            c.media.close();
        }
        if let Some(call) = self.conv.call {
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
