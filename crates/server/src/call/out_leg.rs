//! An outbound leg: we are the caller (UAC) towards an agent's softphone or, through the
//! carrier's gateway, a citizen's phone. `agent_leg.rs` and `trunk_leg.rs` say whom to
//! call and with which headers; the SIP is [`hotline_sip::invite::InviteClient`]'s (and,
//! once answered, its [`DialogUsage`](hotline_sip::invite::DialogUsage)'s): this file
//! drives it, sends what it asks for, and follows the media.
//!
//! ```text
//! start: RTP port + INVITE ─> 180 ─> 200 ─> ACK: connected
//!          │  └─ 401/407 (once, with credentials) ─> INVITE with Authorization ─> …
//!          └─ ring timeout ─> CANCEL (after the first 1xx) ─> 487 / crossing 200: ACK + BYE
//!                                           └─ 3xx–6xx / 408 / no response: failed
//! connected: BYE either way; re-INVITE/UPDATE (hold) answered with our SDP; INFO keys;
//!            REFER (202, NOTIFY 100, later notify_refer); session timers if the 2xx asks
//! ```
//! The leg reports what happened as [`LegEvent`]s; the call decides what follows. The leg
//! has no task of its own: its owner calls [`OutLeg::handle_timeout`] at
//! [`OutLeg::poll_timeout`] (a CANCEL never answered, session refreshes, 491 retries).

use super::inbound::media_params;
use crate::endpoint::EndpointHandle;
use hotline_media::{Codec, MediaEvent, MediaHandle, MediaParams, MediaSession, PortPool};
use hotline_sip::invite::{self, ClientEvent, EndReason, InviteClient, Output, SessionEvent};
use hotline_sip::refer::Replaces;
use hotline_sip::sdp::{self, G711};
use hotline_sip::transaction::Event;
use std::time::Instant;
use tokio::sync::mpsc;

pub use hotline_sip::invite::Failure;

/// Payload type we offer for telephone-event.
const DTMF_PT: u8 = 101;

/// What the leg tells the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// The far phone rings.
    Ringing,
    /// The far end answered; media can be bridged.
    Answered,
    /// The call did not connect.
    Failed(Failure),
    /// The far end hung up (or the dialog ended on its own: session expired, 481/408 to
    /// our refresh; we sent the BYE where one was due).
    HungUp,
    /// A key sent by SIP INFO (keys in RTP arrive as media events).
    Digit(char),
    /// The far end put the other party on hold (`true`: its offer is `sendonly` or
    /// `inactive`) or took them back (`false`).
    Held(bool),
    /// The far end (an agent) transferred the other party with REFER to this user part
    /// (an extension, a queue, a number, `survey`); the REFER was accepted (202, NOTIFY
    /// "100 Trying"). The call decides and answers with [`OutLeg::notify_refer`].
    /// For an attended transfer (the Refer-To carries `?Replaces=`), the dialog to
    /// replace is [`OutLeg::refer_replaces`] until `notify_refer`.
    Transfer(String),
}

/// One outbound leg.
pub struct OutLeg {
    /// Who is called (extension or number).
    pub peer: String,
    pub call_id: String,
    pub media: MediaHandle,
    pub media_rx: mpsc::Receiver<MediaEvent>,
    client: InviteClient,
    /// The far end holds the call (its last offer was `sendonly` or `inactive`).
    held: bool,
    /// A REFER was accepted and its final NOTIFY not yet sent.
    refer_pending: bool,
    /// The Replaces of that REFER's Refer-To (attended transfer).
    replaces: Option<Replaces>,
    session_id: u64,
    sdp_version: u64,
    ep: EndpointHandle,
}

/// Sends what a usage asks for, one to one on the endpoint's calls.
pub(super) fn send(ep: &EndpointHandle, out: Output) {
    match out {
        Output::Respond { key, response } => ep.respond(&key, response),
        Output::Request {
            request,
            dest,
            transport,
        } => ep.request(request, dest, transport),
        Output::Ack {
            invite,
            request,
            dest,
            transport,
        } => ep.ack(&invite, request, dest, transport),
    }
}

impl OutLeg {
    /// Opens an RTP port and sends the INVITE to `target` (whom: `peer`, an extension or a
    /// number, for logs and the call). `route` is given the leg's Call-ID before the
    /// INVITE leaves, so that the call routes its answers to itself: a phone that answers
    /// at once is never dropped as belonging to no call.
    pub async fn start(
        ep: EndpointHandle,
        ports: &PortPool,
        peer: String,
        target: invite::Target,
        route: impl FnOnce(&str),
    ) -> Result<OutLeg, String> {
        let (media, media_rx) = MediaSession::start(
            ports,
            MediaParams {
                codec: Codec::Pcmu,
                remote: None,
                dtmf_pt: Some(DTMF_PT),
            },
        )
        .map_err(|e| e.to_string())?;
        let session_id = u64::from(rand::random::<u32>());
        let offer = sdp::offer(media.local_addr(), &G711, DTMF_PT, session_id, 1);
        let client = InviteClient::new(target, offer);
        let mut leg = OutLeg {
            peer,
            call_id: client.call_id().to_string(),
            media,
            media_rx,
            client,
            held: false,
            refer_pending: false,
            replaces: None,
            session_id,
            sdp_version: 1,
            ep,
        };
        route(&leg.call_id);
        leg.flush();
        Ok(leg)
    }

    /// Sends everything the INVITE session asks for.
    fn flush(&mut self) {
        while let Some(out) = self.client.poll_output() {
            send(&self.ep, out);
        }
    }

    /// Waits (at most `within`) for the recording on this leg's media to be finalized,
    /// skipping other media events; `None` if the media ended or time ran out first.
    pub async fn recording_finished(
        &mut self,
        within: std::time::Duration,
    ) -> Option<hotline_media::RecordingInfo> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            tokio::select! {
                ev = self.media_rx.recv() => match ev {
                    Some(MediaEvent::RecordingFinished(info, _)) => return Some(info),
                    Some(_) => {}
                    None => return None,
                },
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    /// Whether the leg is talking.
    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    /// The agent did not answer in time: CANCEL (§9.1), sent once the phone has sent a
    /// provisional response. The 487 (or a 200 that crossed it, which is ACKed and BYEd)
    /// ends the leg as [`Failure::NoAnswer`].
    pub fn cancel(&mut self) {
        self.client.cancel(Instant::now());
        self.flush();
    }

    /// Ends the leg from our side: BYE when connected, CANCEL while ringing.
    pub fn hang_up(&mut self) {
        self.client.hang_up(Instant::now());
        self.flush();
        self.media.close();
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: a CANCEL never
    /// answered gives up, a session refresh or a 491 retry is due, the session expires.
    /// `None`: no timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }

    /// Time passed (call it at [`poll_timeout`](Self::poll_timeout)): what the leg's
    /// timers did — `Failed(NoAnswer)` for a CANCEL never answered, `HungUp` for a
    /// session that expired (our BYE sent).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<LegEvent> {
        let ev = self.client.handle_timeout(now);
        let ev = ev.and_then(|ev| self.on_client(ev, now));
        self.flush();
        ev
    }

    /// Reports the outcome of the REFER this leg sent (a sipfrag status: 200 carried out,
    /// 4xx/5xx refused — the call stays up) and ends its subscription. Once per REFER.
    pub fn notify_refer(&mut self, code: u16) {
        if std::mem::take(&mut self.refer_pending) {
            self.replaces = None;
            if let Some(u) = self.client.session() {
                if let Err(e) = u.notify_refer(code) {
                    tracing::debug!(peer = %self.peer, error = %e, "no NOTIFY for the REFER");
                }
            }
            self.flush();
        }
    }

    /// For the REFER last reported as [`LegEvent::Transfer`] and not yet answered with
    /// [`notify_refer`](Self::notify_refer): the dialog its Refer-To asks to replace
    /// (`?Replaces=`, an attended transfer), as the receiver of that Replaces sees it.
    // Called by the call loops (connect.rs) once they drive the leg's timers.
    #[allow(dead_code)]
    pub fn refer_replaces(&self) -> Option<&Replaces> {
        self.replaces.as_ref()
    }

    /// A SIP event of this leg's Call-ID.
    pub fn on_sip(&mut self, ev: Event) -> Option<LegEvent> {
        let now = Instant::now();
        let out = match ev {
            Event::Response { key, resp, info } => self
                .client
                .handle_response(&key, &resp, &info, now)
                .and_then(|ev| self.on_client(ev, now)),
            Event::Request { key, req, info, .. } => self
                .client
                .handle_request(&key, &req, &info, now)
                .and_then(|ev| self.on_session(ev, now)),
            Event::Ack { req, info, .. } => self
                .client
                .session()
                .and_then(|u| u.handle_ack(&req, &info))
                .and_then(|ev| self.on_session(ev, now)),
            Event::Timeout { key, .. } => self
                .client
                .handle_tx_timeout(&key)
                .and_then(|ev| self.on_client(ev, now)),
            Event::AckTimeout { .. } => {
                // Our 200 to their re-INVITE was never ACKed (§13.3.1.4): the dialog is gone.
                tracing::warn!(peer = %self.peer, "no ACK for our 200 to a re-INVITE; hanging up");
                if let Some(u) = self.client.session() {
                    u.bye();
                }
                self.media.close();
                Some(LegEvent::HungUp)
            }
            Event::Cancelled { .. } => None,
        };
        self.flush();
        out
    }

    fn on_client(&mut self, ev: ClientEvent, now: Instant) -> Option<LegEvent> {
        match ev {
            ClientEvent::Ringing => Some(LegEvent::Ringing),
            ClientEvent::Answered { sdp } => match sdp::negotiate(&sdp, &G711) {
                Ok(n) => {
                    self.media.update(media_params(&n));
                    Some(LegEvent::Answered)
                }
                Err(e) => {
                    tracing::warn!(peer = %self.peer, error = %e, "answered with unusable SDP");
                    self.client.hang_up(now);
                    self.media.close();
                    Some(LegEvent::Failed(Failure::Unusable("bad SDP")))
                }
            },
            ClientEvent::Failed(f) => {
                if let Failure::Unusable(what) = f {
                    tracing::warn!(peer = %self.peer, %what, "unusable answer");
                }
                self.media.close();
                Some(LegEvent::Failed(f))
            }
            ClientEvent::Session(ev) => self.on_session(ev, now),
        }
    }

    fn on_session(&mut self, ev: SessionEvent, now: Instant) -> Option<LegEvent> {
        match ev {
            SessionEvent::Bye => {
                self.media.close();
                Some(LegEvent::HungUp)
            }
            SessionEvent::Ended(why) => {
                let why = match why {
                    EndReason::SessionExpired => "session expired".to_string(),
                    EndReason::Status(code) => format!("{code} to our request"),
                    EndReason::NoResponse => "no response to our re-INVITE".to_string(),
                };
                tracing::info!(peer = %self.peer, %why, "dialog ended");
                self.media.close();
                Some(LegEvent::HungUp)
            }
            SessionEvent::ReInvite { held, offer, .. } => {
                // Hold / unhold from the far end: follow it and answer with our SDP.
                let u = self.client.session()?;
                match super::inbound::follow_offer(
                    &self.media,
                    &offer,
                    self.session_id,
                    &mut self.sdp_version,
                ) {
                    Ok(body) => {
                        if let Err(e) = u.answer_offer(body, now) {
                            tracing::warn!(peer = %self.peer, error = %e, "cannot answer the offer");
                        }
                        (held != std::mem::replace(&mut self.held, held))
                            .then_some(LegEvent::Held(held))
                    }
                    Err(e) => {
                        tracing::info!(peer = %self.peer, error = %e, "re-INVITE refused");
                        let _ = u.reject_offer(e.status());
                        None
                    }
                }
            }
            SessionEvent::Dtmf(d) => Some(LegEvent::Digit(d)),
            SessionEvent::Refer(r) => {
                // RFC 3515: accepted (202) and "100 Trying" at once (the usage sent them);
                // the call carries the transfer out itself (no new INVITE from the phone)
                // and reports how it went with `notify_refer`, which ends the subscription.
                self.refer_pending = true;
                self.replaces = r.target.replaces;
                Some(LegEvent::Transfer(r.target.user.unwrap_or_default()))
            }
            // Their answer to the SDP we offered in the 200 to their offerless re-INVITE
            // (it comes in the ACK; we send no re-INVITE of our own on this leg).
            SessionEvent::Answer { sdp } => {
                match sdp::negotiate(&sdp, &G711) {
                    Ok(n) => self.media.update(media_params(&n)),
                    Err(e) => tracing::info!(peer = %self.peer, error = %e, "unusable SDP in ACK"),
                }
                None
            }
            SessionEvent::OfferRejected(_) => None,
        }
    }
}
