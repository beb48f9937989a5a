//! The automatic revisit (回访): the IVR itself calls the citizen of a replied case
//! through the trunk, asks how satisfied they are with the result, and records the call as
//! evidence. 满意 1 / 基本满意 2 close the loop; 不满意 3 sends the case back to the
//! department (重办) with the recording named in the audit trail.
//!
//! ```text
//! claim task ─> INVITE citizen ─ 486/480/no answer ─> attempt (retry later or failed)
//!                   └─ 200 ─> record; intro + ticket + question ─ key 1/2/3 ─> thanks ─> BYE
//!                                  │                          └─> recording ─> revisit (+ redo)
//!                                  └─ no key (asked twice) or hung up ─> attempt no_answer
//! ```

use super::conversation::event_call_id;
use super::out_leg::{LegEvent, OutLeg};
use super::{trunk_leg, CallEvent, Calls, Ctx};
use crate::endpoint::EndpointHandle;
use chrono::Utc;
use hotline_case::{CallId, CallbackResult, CallbackTask, NewOutboundCall, RecordingKind};
use hotline_media::MediaEvent;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

/// Who the attempts and the claim are recorded as.
const IVR: &str = "ivr";
/// How long we wait for BYE answers and the recording at the end.
const TEARDOWN: Duration = Duration::from_secs(5);
/// The longest a revisit recording can be (a citizen who keeps talking is not kept forever).
const MAX_RECORDING: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Dialling,
    /// The question is being asked (`asked` times so far).
    Asking,
    /// Thanking before hanging up.
    Thanking,
    Done,
}

struct Revisit {
    ctx: Arc<Ctx>,
    calls: Calls,
    task: CallbackTask,
    rx: mpsc::Receiver<CallEvent>,
    leg: OutLeg,
    call: Option<CallId>,
    phase: Phase,
    asked: u32,
    /// No key by then: ask again, or give up.
    key_deadline: Option<Instant>,
    score: Option<u8>,
    /// The recording in progress (relative path) and, once finalized, its row.
    recording: Option<String>,
    recording_id: Option<hotline_case::RecordingId>,
    cause: &'static str,
}

/// Runs one automatic revisit (the IVR claims the task) until it is over.
pub async fn run(calls: Calls, ep: EndpointHandle, task: CallbackTask) {
    let span = tracing::info_span!("revisit", task = %task.id, ticket = %task.ticket);
    async move {
        let ctx = calls.ctx.clone();
        let Some(trunk) = ctx.cfg.trunk.outbound.clone() else {
            return;
        };
        if let Err(e) = ctx.store.claim_callback(task.id, IVR, Utc::now()).await {
            tracing::info!(error = %e, "task taken meanwhile");
            return;
        }
        let (tx, rx) = mpsc::channel(64);
        let route = calls.route_to(&tx);
        let dialled = trunk_leg::dial(ep, &ctx.ports, &trunk, &task.number, &task.ticket, route);
        let leg = match dialled.await {
            Ok(l) => l,
            Err(e) => {
                // Out of RTP ports or the like: counted as not reached, tried again later.
                tracing::error!(error = %e, "cannot dial the citizen");
                let note = format!("could not place the call: {e}");
                ctx.record_attempt(task.id, CallbackResult::NoAnswer, IVR, Some(&note), None)
                    .await;
                return;
            }
        };
        let call = ctx
            .store
            .open_outbound_call(NewOutboundCall {
                case: task.case_id,
                task: Some(task.id),
                sip_call_id: leg.call_id.clone(),
                from_number: trunk.caller_id.clone(),
                to_number: task.number.clone(),
                started_at: Utc::now(),
                agent: None,
            })
            .await
            .map_err(|e| tracing::error!(error = %e, "cannot open the outbound call row"))
            .ok();
        let mut r = Revisit {
            ctx,
            calls,
            task,
            rx,
            leg,
            call,
            phase: Phase::Dialling,
            asked: 0,
            key_deadline: None,
            score: None,
            recording: None,
            recording_id: None,
            cause: "hotline_bye",
        };
        r.run().await;
        r.finish().await;
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

impl Revisit {
    async fn run(&mut self) {
        let ring = Instant::now() + Duration::from_secs(self.ctx.cfg.callbacks.ring_secs);
        let mut ring_deadline = Some(ring);
        let max = Instant::now() + MAX_RECORDING + Duration::from_secs(60);
        while self.phase != Phase::Done {
            // The leg's own timers: a CANCEL never answered, session refresh and expiry.
            let leg_timer = self.leg.poll_timeout().map(Instant::from_std);
            tokio::select! {
                _ = sleep_opt(leg_timer) => {
                    if let Some(what) = self.leg.handle_timeout(std::time::Instant::now()) {
                        self.on_leg(what).await;
                    }
                }
                ev = self.rx.recv() => match ev {
                    Some(CallEvent::Sip(ev)) if event_call_id(&ev) == self.leg.call_id => {
                        if let Some(what) = self.leg.on_sip(ev) {
                            if what == LegEvent::Answered {
                                ring_deadline = None;
                            }
                            self.on_leg(what).await;
                        }
                    }
                    Some(CallEvent::Shutdown) => {
                        // The claim is released at the next start; the task is called again.
                        self.cause = "hotline_shutdown";
                        self.phase = Phase::Done;
                    }
                    Some(_) => {}
                    None => self.phase = Phase::Done,
                },
                ev = self.leg.media_rx.recv() => match ev {
                    Some(ev) => self.on_media(ev).await,
                    None => self.phase = Phase::Done,
                },
                _ = sleep_opt(ring_deadline) => {
                    ring_deadline = None;
                    tracing::info!("citizen did not answer; cancelling");
                    self.leg.cancel();
                }
                _ = sleep_opt(self.key_deadline) => {
                    self.key_deadline = None;
                    self.ask_or_give_up().await;
                }
                _ = tokio::time::sleep_until(max) => self.phase = Phase::Done,
            }
        }
    }

    async fn on_leg(&mut self, what: LegEvent) {
        match what {
            LegEvent::Ringing => {}
            LegEvent::Answered => {
                tracing::info!("citizen answered; asking the revisit question");
                if let Some(call) = self.call {
                    if let Err(e) = self.ctx.store.call_answered(call, Utc::now()).await {
                        tracing::error!(error = %e, "cannot record the answer");
                    }
                }
                self.start_recording();
                self.phase = Phase::Asking;
                self.ask(true);
            }
            LegEvent::Failed(f) => {
                let result = trunk_leg::result_of(f);
                tracing::info!(failure = %f, %result, "citizen not reached");
                self.cause = result.as_str();
                self.attempt(result, &format!("carrier: {f}")).await;
                self.phase = Phase::Done;
            }
            LegEvent::HungUp => {
                tracing::info!("citizen hung up");
                self.cause = "citizen_bye";
                if self.score.is_none() {
                    self.attempt(
                        CallbackResult::NoAnswer,
                        "hung up before answering the question",
                    )
                    .await;
                }
                self.phase = Phase::Done;
            }
            LegEvent::Digit(d) => self.on_digit(d).await,
            // A carrier does not transfer our revisit anywhere; accepted and ignored.
            LegEvent::Transfer(_) | LegEvent::Held(_) => {}
        }
    }

    fn start_recording(&mut self) {
        let (rel, path) =
            self.ctx
                .recording_file(&self.task.ticket, self.call.map_or(0, |c| c.0), "revisit");
        self.recording = Some(rel);
        self.leg.media.record(path, MAX_RECORDING);
    }

    /// Plays the question; the first time after the introduction and the ticket the
    /// revisit is about ("您的工单号是" and its digits), so the citizen knows which case.
    fn ask(&mut self, intro: bool) {
        self.asked += 1;
        let ivr = &self.ctx.ivr;
        let p = &ivr.callback_prompts;
        let mut clips = Vec::new();
        if intro {
            clips = self.ctx.prompt_list(&p.revisit_intro);
            clips.extend(
                self.ctx
                    .prompt_list(&ivr.revisit_ticket_prompts(&self.task.ticket)),
            );
        }
        clips.extend(self.ctx.prompt_list(&p.revisit_question));
        self.leg.media.play(clips);
    }

    /// No key after the question: ask once more, then give up.
    async fn ask_or_give_up(&mut self) {
        if self.phase != Phase::Asking {
            return;
        }
        if self.asked < 2 {
            self.ask(false);
            return;
        }
        tracing::info!("no key after asking twice");
        self.attempt(CallbackResult::NoAnswer, "answered but pressed no key")
            .await;
        self.say_goodbye(false);
    }

    async fn on_media(&mut self, ev: MediaEvent) {
        match ev {
            MediaEvent::Digit(d) => self.on_digit(d).await,
            MediaEvent::PlaybackFinished => match self.phase {
                Phase::Asking => {
                    let wait = Duration::from_secs(self.ctx.cfg.callbacks.survey_wait_secs);
                    self.key_deadline = Some(Instant::now() + wait);
                }
                Phase::Thanking => {
                    self.cause = "hotline_bye";
                    self.phase = Phase::Done;
                }
                _ => {}
            },
            MediaEvent::RecordingFinished(info, _) => self.store_recording(info).await,
            MediaEvent::RecordingFailed(path, e) => {
                tracing::error!(path = %path.display(), error = %e, "revisit recording failed");
                self.recording = None;
            }
            MediaEvent::RemoteSilent => {}
        }
    }

    async fn on_digit(&mut self, d: char) {
        if self.phase != Phase::Asking {
            return;
        }
        let Some(score) = d.to_digit(10).filter(|s| (1..=3).contains(s)) else {
            return;
        };
        self.key_deadline = None;
        self.leg.media.stop_playback();
        self.score = Some(score as u8);
        tracing::info!(score, "revisit answered");
        self.attempt(CallbackResult::Reached, &format!("satisfaction {score}"))
            .await;
        self.say_goodbye(true);
    }

    fn say_goodbye(&mut self, thanks: bool) {
        self.phase = Phase::Thanking;
        let p = &self.ctx.ivr.callback_prompts;
        let list = if thanks {
            &p.revisit_thanks
        } else {
            &p.revisit_goodbye
        };
        let clips = self.ctx.prompt_list(list);
        if clips.is_empty() {
            self.phase = Phase::Done;
        } else {
            self.leg.media.play(clips);
        }
    }

    async fn attempt(&mut self, result: CallbackResult, note: &str) {
        if let Some(t) = self
            .ctx
            .record_attempt(self.task.id, result, IVR, Some(note), self.call)
            .await
        {
            self.task = t;
        }
    }

    async fn store_recording(&mut self, info: hotline_media::RecordingInfo) {
        let (Some(path), Some(call)) = (self.recording.take(), self.call) else {
            return;
        };
        self.recording_id = self
            .ctx
            .save_recording(
                (self.task.case_id, call),
                RecordingKind::Conversation,
                path,
                &info,
            )
            .await;
    }

    /// BYE, the recording finalized, then the verdict on the case (with the recording as
    /// evidence) and the call row closed.
    async fn finish(mut self) {
        self.leg.media.stop_recording();
        self.leg.hang_up();
        if self.recording.is_some() {
            match self.leg.recording_finished(TEARDOWN).await {
                Some(info) => self.store_recording(info).await,
                None => tracing::warn!("revisit recording not finalized in time"),
            }
        }
        self.calls.unregister(&self.leg.call_id);
        if let (Some(score), Some(call)) = (self.score, self.call) {
            match self
                .ctx
                .store
                .revisit_by_phone(
                    self.task.case_id,
                    score,
                    call,
                    self.recording_id,
                    &self.ctx.calendar,
                    &self.ctx.policy,
                    Utc::now(),
                )
                .await
            {
                Ok(d) => tracing::info!(status = %d.case.status, "revisit recorded on the case"),
                Err(e) => tracing::error!(error = %e, "cannot record the revisit on the case"),
            }
        }
        if let Some(call) = self.call {
            if let Err(e) = self
                .ctx
                .store
                .end_call(call, Utc::now(), self.cause, "revisit")
                .await
            {
                tracing::error!(error = %e, "cannot close the call row");
            }
        }
    }
}
