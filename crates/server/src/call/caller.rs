//! The citizen's leg once answered: the IVR flow, the caller's media, in-dialog requests
//! (BYE, INFO keys, re-INVITE/UPDATE for hold — answered by the dialog's
//! [`DialogUsage`], which also runs session timers), and the teardown that writes the last
//! rows. Connecting to an agent is in `connect.rs`.

use super::conversation::{event_call_id, next_leg_media, Conversation};
use super::inbound::{follow_offer, media_params, Cause};
use super::out_leg::send;
use super::{CallEvent, Calls, Ctx};
use crate::endpoint::EndpointHandle;
use chrono::Utc;
use hotline_case::lifecycle::CaseState;
use hotline_case::{CallId, CaseId, OpenedCall, RecordingKind};
use hotline_ivr::{CaseStatusSpeech, Flow, Input, Output};
use hotline_media::{MediaEvent, MediaHandle, RecordStop, RecordingInfo};
use hotline_sip::invite::{DialogUsage, EndReason, SessionEvent};
use hotline_sip::message::{self, Info};
use hotline_sip::sdp::{self, G711};
use hotline_sip::transaction::{Event, ServerKey};
use rsip::{Method, Request};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long we wait for the BYE response or the recording to be finalized at the end.
const TEARDOWN: Duration = Duration::from_secs(5);

/// The call after 200 OK (its agent-facing half is in `connect.rs`).
pub(super) struct Answered {
    pub(super) ctx: Arc<Ctx>,
    pub(super) calls: Calls,
    /// This call's own channel: the ACD's decisions and the agent leg's SIP events come here.
    pub(super) tx: mpsc::Sender<CallEvent>,
    pub(super) caller_number: String,
    pub(super) ep: EndpointHandle,
    /// The caller's dialog: in-dialog requests, our BYE, session timers.
    pub(super) usage: DialogUsage,
    pub(super) opened: OpenedCall,
    pub(super) media: MediaHandle,
    pub(super) media_rx: mpsc::Receiver<MediaEvent>,
    pub(super) rx: mpsc::Receiver<CallEvent>,
    pub(super) flow: Flow,
    /// The `o=` session id and version of our SDP (answers to their re-INVITEs).
    pub(super) session_id: u64,
    pub(super) sdp_version: u64,
    /// Path (relative to the recordings directory) of the recording in progress.
    pub(super) recording: Option<String>,
    pub(super) cause: Option<Cause>,
    pub(super) started: Instant,
    /// Agents, consulted parties and supervisors: their legs, how they are linked, the
    /// call's place in the ACD.
    pub(super) conv: Conversation,
    pub(super) left_queue_recorded: bool,
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl Answered {
    pub(super) fn call(&self) -> CallId {
        self.opened.call
    }

    /// The caller leg's SIP Call-ID.
    pub(super) fn sip_call_id(&self) -> String {
        self.usage.dialog().id.call_id.clone()
    }

    /// This call's recording of `kind`: relative and full path (see [`Ctx::recording_file`]).
    pub(super) fn recording_file(&self, kind: &str) -> (String, std::path::PathBuf) {
        self.ctx
            .recording_file(&self.opened.ticket, self.call().0, kind)
    }

    fn case(&self) -> CaseId {
        self.opened.case
    }

    /// The conversation: events in, flow outputs out, until someone hangs up.
    pub(super) async fn converse(&mut self) {
        self.apply_outputs().await;
        let max = tokio::time::Instant::from(
            self.started + Duration::from_secs(self.ctx.cfg.calls.max_call_secs),
        );
        let mut media_open = true;
        let mut position_tick = tokio::time::interval(Duration::from_secs(3));
        while self.cause.is_none() {
            // Only a caller waiting in a queue needs its position polled.
            let waiting = self
                .conv
                .acd_entry
                .as_ref()
                .is_some_and(|e| !e.connected && !e.left);
            let flow_deadline = self.flow.poll_timeout();
            let flow_timer = async {
                match flow_deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let leg_timeout = self.conv.next_leg_timeout();
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    Some(CallEvent::Sip(ev)) => {
                        match self.conv.leg_of(event_call_id(&ev)) {
                            Some(leg) => self.conv.on_leg_sip(leg, ev).await,
                            None => self.on_sip(ev).await,
                        }
                    }
                    Some(CallEvent::HandOver { reply, .. }) => {
                        let _ = reply.send(None);
                    }
                    Some(CallEvent::Command { cmd, agent, reply }) => {
                        let done = self.conv.on_command(cmd, agent).await;
                        let _ = reply.send(done);
                    }
                    Some(CallEvent::Offer { agent }) => {
                        self.conv.ivr_path = self.flow.path().to_string();
                        self.conv.on_offer(agent).await
                    }
                    Some(CallEvent::QueueExpired) => self.on_queue_expired().await,
                    Some(CallEvent::Shutdown) => {
                        tracing::info!("server stopping; hanging up");
                        self.cause = Some(Cause::Shutdown);
                        self.send_bye();
                    }
                    None => self.cause = Some(Cause::CallerBye),
                },
                Some((leg, ev)) = next_leg_media(&mut self.conv.legs) => {
                    self.conv.on_leg_media(leg, ev).await;
                }
                _ = sleep_until_opt(self.conv.control.poll_timeout()) => self.conv.on_control_timeout().await,
                _ = sleep_until_opt(leg_timeout) => self.conv.on_leg_timeouts().await,
                _ = position_tick.tick(), if waiting => self.check_position(),
                ev = self.media_rx.recv(), if media_open => match ev {
                    Some(ev) => self.on_media(ev).await,
                    None => {
                        tracing::error!("media session ended unexpectedly; ending call");
                        media_open = false;
                        self.cause = Some(Cause::HotlineBye);
                        self.send_bye();
                    }
                },
                _ = flow_timer => self.flow.handle_timeout(Instant::now()),
                _ = sleep_until_opt(self.usage.poll_timeout()) => self.on_usage_timeout().await,
                _ = tokio::time::sleep_until(max) => {
                    tracing::warn!("maximum call duration reached");
                    self.cause = Some(Cause::MaxDuration);
                    self.send_bye();
                }
            }
            self.apply_notes();
            self.apply_outputs().await;
        }
    }

    async fn on_sip(&mut self, ev: Event) {
        match ev {
            Event::Request { key, req, info, .. } => self.on_request(key, req, info).await,
            Event::Ack { req, info, .. } => {
                // Delayed offer (ours in a 2xx): their answer comes in the ACK.
                if let Some(ev) = self.usage.handle_ack(&req, &info) {
                    self.on_session(ev).await;
                }
            }
            Event::AckTimeout { .. } => {
                tracing::warn!("no ACK for our 200 OK within 64*T1; ending call");
                self.cause = Some(Cause::AckTimeout);
                self.send_bye();
            }
            // Answers to our BYE, NOTIFY or refresh re-INVITE.
            Event::Response { key, resp, info } => {
                let ev = self
                    .usage
                    .handle_response(&key, &resp, &info, Instant::now());
                self.flush_caller();
                if let Some(ev) = ev {
                    self.on_session(ev).await;
                }
            }
            Event::Timeout { key, .. } => {
                let ev = self.usage.handle_tx_timeout(&key);
                self.flush_caller();
                if let Some(ev) = ev {
                    self.on_session(ev).await;
                }
            }
            // A CANCEL after the 200 OK: the layer answered it; the call goes on (RFC 3261 §9.2).
            Event::Cancelled { .. } => {}
        }
    }

    /// Sends what the caller's dialog asks for.
    fn flush_caller(&mut self) {
        while let Some(out) = self.usage.poll_output() {
            send(&self.ep, out);
        }
    }

    /// The caller dialog's timer: a session refresh or a 491 retry is due, or the session
    /// expired (our BYE is sent).
    async fn on_usage_timeout(&mut self) {
        let ev = self.usage.handle_timeout(Instant::now());
        self.flush_caller();
        if let Some(ev) = ev {
            self.on_session(ev).await;
        }
    }

    async fn on_request(&mut self, key: ServerKey, req: Request, info: Info) {
        let ev = self.usage.handle_request(&key, &req, &info, Instant::now());
        self.flush_caller();
        if let Some(ev) = ev {
            self.on_session(ev).await;
        }
    }

    /// What happened in the caller's dialog (its response is sent already, except to a
    /// re-INVITE's offer, answered here).
    async fn on_session(&mut self, ev: SessionEvent) {
        match ev {
            SessionEvent::Bye => {
                tracing::info!("caller hung up");
                self.flow.handle_input(Instant::now(), Input::Hangup);
                self.cause = Some(Cause::CallerBye);
                self.conv.end_conversation().await;
            }
            SessionEvent::Dtmf(d) => {
                tracing::debug!(digit = %d, "DTMF by INFO");
                self.on_digit(d);
            }
            SessionEvent::ReInvite { offer, held, .. } => self.on_reinvite(&offer, held),
            SessionEvent::Answer { sdp } => match sdp::negotiate(&sdp, &G711) {
                Ok(n) => self.media.update(media_params(&n)),
                Err(e) => {
                    tracing::warn!(error = %e, "unusable SDP answer in ACK; ending call");
                    self.cause = Some(Cause::HotlineBye);
                    self.send_bye();
                }
            },
            SessionEvent::Refer(r) => {
                // The citizen's side transfers nothing here: accepted by the stack (202),
                // then declined in the subscription's final NOTIFY; the call goes on.
                tracing::info!(target = %r.target.uri, "REFER from the caller declined");
                let _ = self.usage.notify_refer(603);
                self.flush_caller();
            }
            SessionEvent::OfferRejected(_) => {}
            SessionEvent::Ended(why) => {
                tracing::info!(?why, "caller dialog ended");
                // Expiry and no response: our BYE is sent; 408/481: the dialog is gone.
                self.cause = Some(match why {
                    EndReason::SessionExpired | EndReason::NoResponse => Cause::HotlineBye,
                    EndReason::Status(_) => Cause::CallerBye,
                });
            }
        }
    }

    /// A re-INVITE or UPDATE offer (hold, unhold, new address): follow it and answer with
    /// our SDP, or refuse it (488…) and keep the session as it was.
    fn on_reinvite(&mut self, offer: &[u8], held: bool) {
        match follow_offer(&self.media, offer, self.session_id, &mut self.sdp_version) {
            Ok(body) => {
                tracing::debug!(held, "caller re-INVITE");
                if let Err(e) = self.usage.answer_offer(body, Instant::now()) {
                    tracing::warn!(error = %e, "cannot answer the caller's offer");
                }
            }
            Err(e) => {
                tracing::info!(error = %e, "caller re-INVITE refused");
                let _ = self.usage.reject_offer(e.status());
            }
        }
        self.flush_caller();
    }

    async fn on_media(&mut self, ev: MediaEvent) {
        let now = Instant::now();
        match ev {
            // Hold music plays round until the agent takes the caller back.
            MediaEvent::PlaybackFinished if self.conv.music => self.conv.play_hold_music(),
            MediaEvent::PlaybackFinished => self.flow.handle_input(now, Input::PlaybackFinished),
            MediaEvent::Digit(d) => {
                tracing::debug!(digit = %d, "DTMF by RFC 4733");
                self.on_digit(d)
            }
            MediaEvent::RecordingFinished(info, why) => {
                let duration_ms = info.duration_ms;
                self.store_recording(info, why).await;
                self.flow
                    .handle_input(now, Input::RecordingFinished { duration_ms });
            }
            MediaEvent::RecordingFailed(path, e) => {
                tracing::error!(path = %path.display(), error = %e, "recording failed");
                self.recording = None;
                self.flow
                    .handle_input(now, Input::RecordingFinished { duration_ms: 0 });
            }
            MediaEvent::RemoteSilent => tracing::info!("no RTP from the caller for a while"),
        }
    }

    /// A key from the caller: to the agent while talking, else to the flow.
    fn on_digit(&mut self, d: char) {
        let talking = self.conv.control.conversation_leg();
        match talking.and_then(|id| self.conv.legs.get(&id)) {
            Some(leg) => leg.media.send_dtmf(d),
            None if self.conv.control.is_talking() => {} // on hold: keys go nowhere
            None => self.flow.handle_input(Instant::now(), Input::Digit(d)),
        }
    }

    async fn store_recording(&mut self, info: RecordingInfo, why: RecordStop) {
        let (path, kind) = if why == RecordStop::BridgeEnded {
            (
                self.conv.conversations.pop_front(),
                RecordingKind::Conversation,
            )
        } else {
            (self.recording.take(), RecordingKind::Voicemail)
        };
        let Some(path) = path else {
            return;
        };
        self.ctx
            .save_recording((self.case(), self.call()), kind, path, &info)
            .await;
    }

    /// Carries out everything the flow asked for.
    async fn apply_outputs(&mut self) {
        let mut leaving = false;
        while let Some(out) = self.flow.poll_output() {
            match out {
                Output::Play { prompts, .. } => {
                    let clips: Vec<_> = prompts
                        .iter()
                        .filter_map(|name| {
                            let p = self.ctx.prompts.get(name);
                            if p.is_none() {
                                tracing::error!(prompt = %name, "prompt missing; skipped");
                            }
                            p
                        })
                        .collect();
                    self.media.play(clips);
                }
                Output::StopPlayback => self.media.stop_playback(),
                Output::Record { max } => self.start_recording(max),
                Output::StopRecording => self.media.stop_recording(),
                Output::Enqueue { queue } => self.enqueue(queue).await,
                Output::LeaveQueue => {
                    self.leave_queue().await;
                    leaving = true;
                }
                Output::CallbackRequested => {
                    self.left_queue("callback_requested").await;
                    if let Err(e) = self
                        .ctx
                        .store
                        .mark_callback_requested(self.opened.case, Utc::now())
                        .await
                    {
                        tracing::error!(error = %e, "cannot mark the callback request");
                    }
                }
                Output::LookupCase { ticket } => {
                    let status = self.case_status_for_caller(&ticket).await;
                    self.flow
                        .handle_input(Instant::now(), Input::CaseStatus { status });
                }
                Output::Satisfaction { score } => {
                    if let Err(e) = self
                        .ctx
                        .store
                        .record_satisfaction(self.opened.case, Some(self.call()), score, Utc::now())
                        .await
                    {
                        tracing::error!(error = %e, "cannot store the satisfaction");
                    }
                }
                Output::Voicemail => {
                    self.ctx.stats.voicemails.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = self.ctx.store.mark_voicemail(self.case(), Utc::now()).await {
                        tracing::error!(error = %e, "cannot mark the case as voicemail");
                    }
                }
                Output::Hangup => {
                    if self.cause.is_none() {
                        self.cause = Some(Cause::HotlineBye);
                        self.send_bye();
                    }
                }
            }
        }
        // Left the queue without asking for a callback (CallbackRequested records first).
        if leaving {
            self.left_queue("abandoned").await;
        }
    }

    /// What the caller may hear about `ticket`: only the number that opened a case hears
    /// its status (a stranger learns nothing, not even that it exists beyond "not yours").
    async fn case_status_for_caller(&self, ticket: &str) -> CaseStatusSpeech {
        match self.ctx.store.case_by_ticket(ticket).await {
            // A call that asked for nothing opened no work order; its number was never
            // told to anyone.
            Ok(Some(detail)) if detail.case.status == CaseState::NoRequest => {
                CaseStatusSpeech::NotFound
            }
            Ok(Some(detail)) if detail.case.caller_number == self.caller_number => {
                let tz = self.ctx.ivr.timezone;
                CaseStatusSpeech::Found {
                    state: detail.case.status.as_str().to_string(),
                    deadline: detail
                        .case
                        .deadline
                        .map(|d| d.with_timezone(&tz).date_naive()),
                }
            }
            Ok(Some(_)) => CaseStatusSpeech::NotYours,
            Ok(None) => CaseStatusSpeech::NotFound,
            Err(e) => {
                tracing::error!(error = %e, "cannot look up the case for a status query");
                CaseStatusSpeech::NotFound
            }
        }
    }

    fn start_recording(&mut self, max: Duration) {
        let (rel, path) = self.recording_file("voicemail");
        self.recording = Some(rel);
        self.media.record(path, max);
    }

    /// Hangs up the caller: BYE (once; none once the dialog is over).
    pub(super) fn send_bye(&mut self) {
        self.usage.bye();
        self.flush_caller();
    }

    /// Tears down: waits (bounded) for our BYE's answer and the recording's finalization,
    /// then closes the call row.
    pub(super) async fn finish(mut self) {
        let cause = self.cause.unwrap_or(Cause::HotlineBye);
        if self.conv.acd_entry.as_ref().is_some_and(|e| !e.connected) {
            self.leave_queue().await;
            if !self.conv.control.has_answered() {
                self.left_queue("abandoned").await;
            }
        }
        self.conv.end_conversation().await;
        // The citizen is gone: what the conversation would tell the flow no longer matters.
        self.conv.notes.clear();
        self.media.close();
        let deadline = tokio::time::Instant::now() + TEARDOWN;
        let mut bye_done = !matches!(
            cause,
            Cause::HotlineBye | Cause::AckTimeout | Cause::MaxDuration | Cause::Shutdown
        );
        let mut media_done = false;
        while !(bye_done && media_done) {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(bye_done, media_done, "teardown timed out");
                    break;
                }
                ev = self.rx.recv(), if !bye_done => match ev {
                    Some(CallEvent::Sip(Event::Response { resp, info, .. })) if resp.status_code.code() >= 200 && info.call_id == self.usage.dialog().id.call_id => bye_done = true,
                    Some(CallEvent::Sip(Event::Timeout { .. })) | None => bye_done = true,
                    Some(CallEvent::Sip(Event::Request { key, req, .. })) => {
                        // A BYE crossing ours, or anything late: the dialog is over.
                        let code = if req.method == Method::Bye { 200 } else { 481 };
                        self.ep.respond(&key, message::response(&req, code, None));
                    }
                    Some(_) => {}
                },
                ev = self.media_rx.recv(), if !media_done => match ev {
                    Some(MediaEvent::RecordingFinished(info, why)) => {
                        let duration_ms = info.duration_ms;
                        self.store_recording(info, why).await;
                        self.flow.handle_input(Instant::now(), Input::RecordingFinished { duration_ms });
                    }
                    Some(_) => {}
                    None => media_done = true,
                },
            }
        }
        // Outputs after hangup (e.g. Voicemail for a message cut short by the caller).
        while let Some(out) = self.flow.poll_output() {
            if out == Output::Voicemail {
                self.ctx.stats.voicemails.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = self.ctx.store.mark_voicemail(self.case(), Utc::now()).await {
                    tracing::error!(error = %e, "cannot mark the case as voicemail");
                }
            }
        }
        let path = self.flow.path().to_string();
        if let Err(e) = self
            .ctx
            .store
            .end_call(self.call(), Utc::now(), cause.as_str(), &path)
            .await
        {
            tracing::error!(error = %e, "cannot close the call row");
        }
        self.ctx.stats.ended.fetch_add(1, Ordering::Relaxed);
        tracing::info!(cause = cause.as_str(), %path, "call ended");
    }
}
