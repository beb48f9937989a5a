//! An inbound call in the ACD: asking for a queue, its place, leaving it — the steps the
//! IVR flow takes — and the notes of its [`Conversation`] applied to the flow.
//!
//! ```text
//! flow Enqueue ─> ACD: Refused ─> busy/voicemail | Queued ─> comfort + position (flow)
//!   ACD Offer ─> the conversation rings an agent (conversation.rs)
//!   notes: agent ringing / answered / hung up (survey) ─> flow; 强拆 ─> BYE
//! ```

use super::caller::Answered;
use super::control::FlowNote;
use super::conversation::{AcdEntry, Note};
use chrono::Utc;
use hotline_acd::{Decision, Refusal};
use hotline_ivr::Input;
use std::time::Instant;

impl Answered {
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
        self.conv.control.queued(&queue);
        self.conv.acd_entry = Some(AcdEntry {
            key,
            queue: queue.clone(),
            position: 0,
            connected: false,
            left: false,
        });
        self.conv.live("queued");
        match self
            .ctx
            .acd
            .enqueue(key, &self.sip_call_id(), &queue, 0, self.tx.clone())
        {
            Decision::Queued { position, .. } => {
                tracing::info!(%queue, position, "queued");
                if let Some(e) = self.conv.acd_entry.as_mut() {
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
        if let Some(e) = self.conv.acd_entry.as_mut() {
            e.left = true;
        }
        if self.left_queue_recorded {
            return;
        }
        self.left_queue_recorded = true;
        self.conv.live(result);
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
        let Some(entry) = self.conv.acd_entry.as_ref() else {
            return;
        };
        if entry.connected {
            return;
        }
        self.ctx.acd.leave(entry.key);
        self.conv.control.handle_citizen_gone(Instant::now());
        self.conv.run_control().await;
    }

    /// The queue's maximum wait passed.
    pub(super) async fn on_queue_expired(&mut self) {
        tracing::info!("maximum wait reached");
        if self.conv.control.has_answered() {
            // Put back by a transfer and nobody took it within the wait: the survey.
            self.conv.control.handle_citizen_gone(Instant::now());
            self.conv.run_control().await;
            self.flow.handle_input(Instant::now(), Input::AgentHungUp);
            return;
        }
        self.left_queue("expired").await;
        self.flow.handle_input(Instant::now(), Input::QueueTimeout);
    }

    /// Asks the ACD for the caller's place; tells the flow when it moved.
    pub(super) fn check_position(&mut self) {
        let Some(entry) = self.conv.acd_entry.as_mut() else {
            return;
        };
        if entry.connected || !self.conv.legs.is_empty() {
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

    /// Applies what the conversation asked of the call.
    pub(super) fn apply_notes(&mut self) {
        while let Some(note) = self.conv.notes.pop_front() {
            match note {
                Note::Flow(FlowNote::Ringing) => {
                    self.flow.handle_input(Instant::now(), Input::AgentRinging)
                }
                Note::Flow(FlowNote::Answered) => {
                    self.media.stop_playback();
                    self.flow.handle_input(Instant::now(), Input::AgentAnswered)
                }
                Note::Flow(FlowNote::HungUp) => {
                    self.flow.handle_input(Instant::now(), Input::AgentHungUp)
                }
                // Only a callback dials its citizen.
                Note::Flow(
                    FlowNote::CitizenAnswered
                    | FlowNote::CitizenUnreached(_)
                    | FlowNote::CitizenGone,
                ) => {}
                Note::HangUp(cause) => {
                    if self.cause.is_none() {
                        self.cause = Some(cause);
                        self.send_bye();
                    }
                }
            }
        }
    }
}
