//! Connecting a caller to an agent: queueing in the ACD, ringing the agent's softphone,
//! bridging and recording the conversation, and what follows when either side hangs up.
//!
//! ```text
//! flow Enqueue ─> ACD: Refused ─> busy/voicemail | Queued ─> comfort + position (flow)
//!   ACD Offer ─> agent leg INVITE ─> ring timeout ─> CANCEL ─> offer failed ─> next agent
//!                               └─> 200 ─> bridge + stereo recording ─> flow AgentAnswered
//!   agent BYE ─> unbridge, agent wrap-up ─> flow AgentHungUp (survey) ─> BYE caller
//!   caller BYE ─> BYE agent, unbridge, agent wrap-up
//! ```

use super::agent_leg::{self, AgentOffer};
use super::caller::Answered;
use super::out_leg::LegEvent;
use crate::acd::LiveEvent;
use chrono::Utc;
use hotline_acd::{AgentId, CallKey, Decision, Refusal};
use hotline_ivr::Input;
use hotline_media::{bridge, MediaEvent, StereoTarget};
use hotline_sip::transaction::Event;
use std::time::Instant;

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
    pub(super) fn leave_queue(&mut self) {
        let Some(entry) = self.acd_entry.as_ref() else {
            return;
        };
        if entry.connected {
            return;
        }
        self.ctx.acd.leave(entry.key);
        if let Some(mut leg) = self.agent.take() {
            leg.hang_up();
            self.calls.unregister(&leg.call_id);
        }
        self.ring_deadline = None;
    }

    /// The ACD chose `agent`: ring its softphone.
    pub(super) async fn on_offer(&mut self, agent: AgentId) {
        let Some(entry) = self.acd_entry.clone() else {
            return;
        };
        let contacts = self.ctx.desk.contacts(&agent.0);
        let Some(binding) = contacts.into_iter().next() else {
            tracing::warn!(agent = %agent.0, "offered agent has no registered softphone");
            self.ctx.acd.offer_failed(entry.key, "not registered");
            return;
        };
        let caller = self.caller_number.clone();
        // A repeat caller: the agent sees the other open cases of this number before answering.
        let open_tickets: Vec<String> = match self.ctx.store.open_cases_for_number(&caller).await {
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
        let mut extra = Vec::new();
        if !open_tickets.is_empty() {
            // Other open cases of the same number (a repeat caller), newest first.
            extra.push(rsip::Header::Other(
                "X-Open-Tickets".into(),
                open_tickets.join(","),
            ));
        }
        let offer = AgentOffer {
            citizen: &caller,
            ticket: &self.opened.ticket,
            extra,
        };
        let route = self.calls.route_to(&self.tx);
        let leg = agent_leg::ring(
            self.ep.clone(),
            &self.ctx.ports,
            &agent.0,
            binding,
            offer,
            route,
        );
        match leg.await {
            Ok(leg) => {
                tracing::info!(agent = %agent.0, "ringing agent");
                self.ring_deadline =
                    Some(tokio::time::Instant::now() + self.ctx.acd.max_ring(&agent));
                self.agent = Some(leg);
                if let Err(e) = self
                    .ctx
                    .store
                    .call_offered(self.call(), &agent.0, Utc::now())
                    .await
                {
                    tracing::error!(error = %e, "cannot record the offer");
                }
                self.flow.handle_input(Instant::now(), Input::AgentRinging);
            }
            Err(e) => {
                tracing::error!(agent = %agent.0, error = %e, "cannot ring agent");
                self.ctx.acd.offer_failed(entry.key, "failed");
            }
        }
    }

    /// The agent did not answer within its ring time.
    pub(super) fn ring_timeout(&mut self) {
        self.ring_deadline = None;
        if let Some(leg) = self.agent.as_mut() {
            tracing::info!(agent = %leg.peer, "agent did not answer; cancelling");
            leg.cancel();
        }
    }

    /// The queue's maximum wait passed.
    pub(super) async fn on_queue_expired(&mut self) {
        tracing::info!("maximum wait reached");
        self.left_queue("expired").await;
        self.flow.handle_input(Instant::now(), Input::QueueTimeout);
    }

    /// Asks the ACD for the caller's place; tells the flow when it moved.
    pub(super) fn check_position(&mut self) {
        let Some(entry) = self.acd_entry.as_mut() else {
            return;
        };
        if entry.connected || self.agent.is_some() {
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

    /// A SIP event of the agent leg.
    pub(super) async fn on_leg_sip(&mut self, ev: Event) {
        let Some(leg) = self.agent.as_mut() else {
            return;
        };
        let Some(what) = leg.on_sip(ev) else { return };
        let ext = leg.peer.clone();
        let Some(entry) = self.acd_entry.clone() else {
            return;
        };
        match what {
            LegEvent::Ringing => {}
            LegEvent::Answered => {
                self.ring_deadline = None;
                tracing::info!(agent = %ext, "agent answered; bridging");
                self.ctx.acd.answered(entry.key);
                if let Some(e) = self.acd_entry.as_mut() {
                    e.connected = true;
                }
                self.live("answered");
                let leg_call_id = self
                    .agent
                    .as_ref()
                    .map(|l| l.call_id.clone())
                    .unwrap_or_default();
                if let Err(e) = self
                    .ctx
                    .store
                    .call_agent_answered(self.call(), &ext, &leg_call_id, Utc::now())
                    .await
                {
                    tracing::error!(error = %e, "cannot record the answer");
                }
                self.flow.handle_input(Instant::now(), Input::AgentAnswered);
                self.media.stop_playback();
                let (rel, path) = self.recording_file("conversation");
                self.conversation = Some(rel);
                if let Some(leg) = self.agent.as_ref() {
                    self.bridge =
                        Some(bridge(&self.media, &leg.media, Some(StereoTarget { path })));
                }
            }
            LegEvent::Digit(d) => self.media.send_dtmf(d),
            // The agent's phone holds (a=sendonly/inactive): the caller hears music, not
            // silence; taken back, the conversation goes on (the bridge never stopped).
            LegEvent::Held(true) => {
                tracing::info!(agent = %ext, "agent put the caller on hold");
                self.on_hold = true;
                self.play_hold_music();
                self.live("on_hold");
            }
            LegEvent::Held(false) => {
                tracing::info!(agent = %ext, "agent took the caller back");
                self.on_hold = false;
                self.media.stop_playback();
                self.live("resumed");
            }
            LegEvent::Failed(failure) => {
                let reason = failure.to_string();
                self.ring_deadline = None;
                if let Some(leg) = self.agent.take() {
                    self.calls.unregister(&leg.call_id);
                }
                tracing::info!(agent = %ext, %reason, "offer failed; back to the queue");
                if let Err(e) = self
                    .ctx
                    .store
                    .call_offer_rejected(self.call(), &ext, &reason, Utc::now())
                    .await
                {
                    tracing::error!(error = %e, "cannot record the rejected offer");
                }
                let reason = if reason == "no answer" {
                    "no answer".to_string()
                } else {
                    format!("offer failed: {reason}")
                };
                self.ctx.acd.offer_failed(entry.key, &reason);
            }
            LegEvent::HungUp => {
                tracing::info!(agent = %ext, "agent hung up");
                self.end_conversation().await;
                self.flow.handle_input(Instant::now(), Input::AgentHungUp);
            }
            // The agent sends the caller to the satisfaction survey (and is free again).
            LegEvent::Transfer(to) if to == self.ctx.cfg.agents.survey_transfer => {
                tracing::info!(agent = %ext, "agent transferred the caller to the survey");
                self.end_conversation().await;
                self.flow.handle_input(Instant::now(), Input::AgentHungUp);
            }
            LegEvent::Transfer(to) => {
                // Only the survey is a transfer target here; the conversation goes on.
                tracing::info!(agent = %ext, %to, "transfer to an unknown target ignored");
            }
        }
    }

    /// Plays the hold music (`[queue] hold_prompts`) to the caller, from the start.
    pub(super) fn play_hold_music(&self) {
        let music = self.ctx.prompt_list(&self.ctx.ivr.queue.hold_prompts);
        self.media.play(music);
    }

    /// A media event of the agent leg: its keys go on to the caller.
    pub(super) fn on_agent_media(&mut self, ev: MediaEvent) {
        if let MediaEvent::Digit(d) = ev {
            self.media.send_dtmf(d);
        }
    }

    /// The conversation is over (either side hung up): unbridge (the stereo recording is
    /// finalized and reported on the caller's media channel) and start the agent's wrap-up.
    pub(super) async fn end_conversation(&mut self) {
        if std::mem::take(&mut self.on_hold) {
            self.media.stop_playback();
        }
        if let Some(b) = self.bridge.take() {
            b.unbridge();
        }
        let Some(mut leg) = self.agent.take() else {
            return;
        };
        leg.hang_up();
        self.calls.unregister(&leg.call_id);
        let Some(entry) = self.acd_entry.as_ref().filter(|e| e.connected) else {
            return;
        };
        if let Err(e) = self
            .ctx
            .store
            .call_agent_ended(self.call(), Utc::now())
            .await
        {
            tracing::error!(error = %e, "cannot record the end of the conversation");
        }
        let store = self.ctx.store.clone();
        let call = self.call();
        self.ctx.acd.conversation_ended(entry.key, move || {
            tokio::spawn(async move {
                if let Err(e) = store.call_wrap_up_done(call, Utc::now()).await {
                    tracing::error!(error = %e, "cannot record the end of wrap-up");
                }
            });
        });
    }
}
