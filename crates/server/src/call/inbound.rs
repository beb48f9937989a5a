//! One citizen's call from the trunk, from INVITE to the last row written.
//!
//! ```text
//! INVITE ─> SDP + RTP port ─> dialog accepted ─> [180, ring] ─> case row (ticket) ─> 200 OK ─> IVR flow
//!   flow: play / record / enqueue ─> media + ACD      caller: INFO, re-INVITE/UPDATE, BYE
//!   end: BYE either way ─> recording finalized ─> call row closed
//! ```
//! The case row exists before the 200 OK is sent, so an answered call is never unlogged.
//! The 200 OK and everything in the dialog afterwards are the SIP stack's
//! [`DialogUsage`]'s (To tag, Contact, Allow, Supported, session timers); an INVITE it
//! cannot accept (no Contact, a session interval below our Min-SE) is refused before the
//! phone rings or a case is written.

use super::caller::Answered;
use super::{CallEvent, Calls, Ctx, Invite};
use crate::endpoint::EndpointHandle;
use chrono::Utc;
use hotline_case::{MissedCall, NewCall};
use hotline_ivr::Flow;
use hotline_media::{Codec, MediaParams, MediaSession};
use hotline_sip::invite::{DialogUsage, Local};
use hotline_sip::message::{self};
use hotline_sip::sdp::{self, Negotiated, G711};
use hotline_sip::session_timer;
use hotline_sip::transaction::Event;
use rsip::headers::untyped::UntypedHeader;
use rsip::Header;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::Instrument;

/// Payload type we offer for telephone-event when the INVITE had no SDP.
const OFFER_DTMF_PT: u8 = 101;

/// Why the call ended, stored on the call row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    CallerBye,
    HotlineBye,
    AckTimeout,
    MaxDuration,
    /// The server is stopping (SIGTERM): the hotline hung up.
    Shutdown,
    /// A supervisor ended the call (强拆).
    SupervisorHangUp,
}

impl Cause {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Cause::CallerBye => "caller_bye",
            Cause::HotlineBye => "hotline_bye",
            Cause::AckTimeout => "ack_timeout",
            Cause::MaxDuration => "max_duration",
            Cause::Shutdown => "hotline_shutdown",
            Cause::SupervisorHangUp => "supervisor_hangup",
        }
    }
}

fn codec_of(n: &Negotiated) -> Codec {
    Codec::from_encoding_name(n.codec.name).unwrap_or(Codec::Pcmu)
}

/// Follows an SDP offer of the far end in a session (hold, unhold, a new address): the
/// media takes its codec and address, and the answer to send — our `o=` line's next
/// `version`. An unusable offer is an error whose status refuses it (488…).
pub(super) fn follow_offer(
    media: &hotline_media::MediaHandle,
    offer: &[u8],
    session_id: u64,
    version: &mut u64,
) -> Result<String, sdp::SdpError> {
    let n = sdp::negotiate(offer, &G711)?;
    media.update(media_params(&n));
    *version += 1;
    Ok(sdp::answer(&n, media.local_addr(), session_id, *version))
}

pub(super) fn media_params(n: &Negotiated) -> MediaParams {
    MediaParams {
        codec: codec_of(n),
        remote: n.remote,
        dtmf_pt: n.dtmf_pt,
    }
}

/// Runs the call until it is over and its rows are written.
pub(super) async fn run(
    calls: Calls,
    ep: EndpointHandle,
    invite: Invite,
    tx: mpsc::Sender<CallEvent>,
    rx: mpsc::Receiver<CallEvent>,
) {
    let ctx = calls.ctx.clone();
    let span =
        tracing::info_span!("call", call_id = %invite.info.call_id, ticket = tracing::field::Empty);
    async move {
        let h = &invite.req.headers;
        let caller = message::first(h, "P-Asserted-Identity")
            .or_else(|| message::first(h, "From"))
            .map(message::addr_uri)
            .and_then(message::uri_user)
            .unwrap_or("anonymous")
            .to_string();
        let called = message::uri_user(&invite.req.uri.to_string()).unwrap_or("").to_string();
        tracing::info!(%caller, %called, source = %invite.source, transport = ?invite.transport, "incoming call");
        let setup = Setup { ctx, calls, ep, invite, tx, caller, called, arrived: Utc::now() };
        if let Some(mut call) = setup.answer(rx).await {
            // The desk and supervisors reach a live call by its ticket.
            let ticket = call.opened.ticket.clone();
            call.calls.tickets.insert(ticket.clone(), call.tx.clone());
            call.converse().await;
            call.calls.tickets.remove(&ticket);
            call.finish().await;
        }
    }
    .instrument(span)
    .await
}

/// The call before it is answered.
struct Setup {
    ctx: Arc<Ctx>,
    calls: Calls,
    ep: EndpointHandle,
    invite: Invite,
    tx: mpsc::Sender<CallEvent>,
    caller: String,
    called: String,
    arrived: chrono::DateTime<Utc>,
}

impl Setup {
    fn reply(&self, code: u16, to_tag: &str) {
        let resp = message::response(&self.invite.req, code, Some(to_tag));
        self.ep.respond(&self.invite.key, resp);
    }

    fn refuse(&self, code: u16, to_tag: &str, warning: &str) {
        tracing::info!(code, "refused: {warning}");
        let mut resp = message::response(&self.invite.req, code, Some(to_tag));
        resp.headers
            .push(Header::Warning(rsip::headers::Warning::new(format!(
                "399 hotline \"{warning}\""
            ))));
        if code == 503 {
            resp.headers
                .push(Header::RetryAfter(rsip::headers::RetryAfter::new("5")));
        }
        self.ep.respond(&self.invite.key, resp);
    }

    /// Negotiates, opens media, rings, writes the case, sends 200. None when the call
    /// ended before it was answered (refused or cancelled).
    async fn answer(self, mut rx: mpsc::Receiver<CallEvent>) -> Option<Answered> {
        let tag = message::random_token(10);
        let offer = if self.invite.req.body.is_empty() {
            None // delayed offer: we offer in the 200, they answer in the ACK
        } else {
            match sdp::negotiate(&self.invite.req.body, &G711) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.refuse(e.status(), &tag, &e.to_string());
                    return None;
                }
            }
        };
        let params = offer.as_ref().map(media_params).unwrap_or(MediaParams {
            codec: Codec::Pcmu,
            remote: None,
            dtmf_pt: Some(OFFER_DTMF_PT),
        });
        let (media, media_rx) = match MediaSession::start(&self.ctx.ports, params) {
            Ok(m) => m,
            Err(e) => {
                // "No free port" is also what the pool says when every bind fails for the
                // whole process (out of file descriptors): the log says which it was.
                if let Err(cause) = std::net::UdpSocket::bind((self.ctx.ports.ip(), 0)) {
                    tracing::warn!(error = %cause, "no RTP socket: the system refuses any UDP socket, not only the range's ports");
                }
                self.refuse(503, &tag, &e.to_string());
                return None;
            }
        };
        // Our SDP: the answer to their offer, or our offer (delayed offer: they answer in
        // the ACK). The 200 OK that carries it is made now (the dialog accepted or the
        // INVITE refused before anything rings) and sent once the case row exists.
        let session_id = u64::from(rand::random::<u32>());
        let body = match &offer {
            Some(n) => sdp::answer(n, media.local_addr(), session_id, 1),
            None => sdp::describe(
                media.local_addr(),
                G711[0],
                Some(OFFER_DTMF_PT),
                sdp::Direction::SendRecv,
                session_id,
                1,
            ),
        };
        let local = Local {
            tag: tag.clone(),
            contact: format!("<sip:{}@{}>", self.called, self.ep.advertised),
            via_host: self.ep.advertised,
            peer: self.invite.source,
            transport: self.invite.transport,
            min_se: session_timer::MIN_SE,
        };
        let (mut ok, usage) = match DialogUsage::accept(
            &self.invite.req,
            &self.invite.info,
            local,
            body,
            Instant::now(),
        ) {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::info!(code = e.status(), "refused: {e}");
                self.ep
                    .respond(&self.invite.key, e.response(&self.invite.req, Some(&tag)));
                media.close();
                return None;
            }
        };
        let delay = Duration::from_millis(self.ctx.cfg.calls.answer_delay_ms);
        if !delay.is_zero() {
            self.reply(180, &tag);
            let until = tokio::time::Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    ev = rx.recv() => match ev {
                        Some(CallEvent::Sip(Event::Cancelled { .. })) => {
                            tracing::info!("caller cancelled while ringing");
                            self.reply(487, &tag);
                            let missed = MissedCall {
                                sip_call_id: self.invite.info.call_id.clone(),
                                caller_number: self.caller.clone(),
                                called_number: self.called.clone(),
                                arrived_at: self.arrived,
                                ended_at: Utc::now(),
                                cause: "cancelled".into(),
                            };
                            if let Err(e) = self.ctx.store.record_missed_call(&missed).await {
                                tracing::error!(error = %e, "cannot store the missed call");
                            }
                            self.ctx.stats.ended.fetch_add(1, Ordering::Relaxed);
                            return None;
                        }
                        Some(CallEvent::Shutdown) => {
                            // Not answered yet: the trunk tries another node.
                            tracing::info!("server stopping; refusing the call");
                            self.reply(503, &tag);
                            return None;
                        }
                        Some(_) => {}
                        None => return None,
                    }
                }
            }
        }
        let opened = match self
            .ctx
            .store
            .open_call(NewCall {
                sip_call_id: self.invite.info.call_id.clone(),
                caller_number: self.caller.clone(),
                called_number: self.called.clone(),
                arrived_at: self.arrived,
                answered_at: Utc::now(),
                local_day: Utc::now()
                    .with_timezone(&self.ctx.ivr.timezone)
                    .date_naive(),
            })
            .await
        {
            Ok(o) => o,
            Err(e) => {
                // No case, no call: a trunk retries elsewhere on 503, a lost case cannot be redone.
                tracing::error!(error = %e, "cannot write the case row");
                self.refuse(503, &tag, "case store unavailable");
                return None;
            }
        };
        tracing::Span::current().record("ticket", opened.ticket.as_str());
        ok.headers
            .push(Header::Other("X-Ticket".into(), opened.ticket.clone()));
        self.ep.respond(&self.invite.key, ok);
        self.ctx.setup_time.observe(self.invite.received.elapsed());
        self.ctx
            .stats
            .answered_by_ivr
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(ticket = %opened.ticket, "answered");
        let now = Instant::now();
        let flow = Flow::new(self.ctx.ivr.clone(), opened.ticket.clone(), Utc::now(), now);
        let party = super::conversation::Party {
            ticket: opened.ticket.clone(),
            case: Some(opened.case),
            call: Some(opened.call),
            caller_number: self.caller.clone(),
            citizen: Some(media.clone()),
            recording_kind: "conversation",
        };
        let conv = super::conversation::Conversation::new(
            &self.calls,
            self.tx.clone(),
            self.ep.clone(),
            party,
            super::control::Control::new(),
        );
        Some(Answered {
            ctx: self.ctx,
            calls: self.calls,
            tx: self.tx,
            caller_number: self.caller,
            ep: self.ep,
            usage,
            opened,
            media,
            media_rx,
            rx,
            flow,
            session_id,
            sdp_version: 1,
            recording: None,
            cause: None,
            started: now,
            conv,
            left_queue_recorded: false,
        })
    }
}
