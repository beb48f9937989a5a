//! [`DialogUsage`]: an established INVITE dialog, either side (see the module docs).

use super::{parse_dtmf, EndReason, Output, SessionEvent, ALLOW, SUPPORTED};
use crate::dialog::{Dialog, DialogError};
use crate::message::{self, Info, Transport};
use crate::refer::{self, SubscriptionState};
use crate::sdp::{self, Direction};
use crate::session_timer::{
    self, Refresher, SessionExpires, SessionTimer, SessionTimerError, TimerAction, UasDecision,
};
use crate::transaction::{ClientKey, ServerKey};
use rsip::headers::untyped::UntypedHeader;
use rsip::{Header, Method, Request, Response};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Our side of a dialog we accept as UAS.
#[derive(Debug, Clone)]
pub struct Local {
    /// Our To tag (the same as on any 18x already sent).
    pub tag: String,
    /// Our Contact header value, e.g. `<sip:12345@192.0.2.1:5060>`.
    pub contact: String,
    /// Our address as put in the Via of our requests.
    pub via_host: SocketAddr,
    /// Where the INVITE came from (used when their Contact is a host name).
    pub peer: SocketAddr,
    /// The transport the INVITE came over (and our requests go out on).
    pub transport: Transport,
    /// The smallest session interval we accept (RFC 4028 Min-SE; at least 90).
    pub min_se: u32,
}

/// Why we cannot accept an INVITE; [`AcceptError::response`] is what to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    /// No Contact or no From tag: 400.
    #[error(transparent)]
    Dialog(#[from] DialogError),
    /// Unreadable Session-Expires or Min-SE: 400.
    #[error(transparent)]
    Timer(#[from] SessionTimerError),
    /// The session interval asked for is below our minimum: 422 with this Min-SE.
    #[error("session interval too small (Min-SE {min_se})")]
    IntervalTooSmall { min_se: u32 },
}

impl AcceptError {
    /// The status to answer the INVITE with.
    pub fn status(&self) -> u16 {
        match self {
            AcceptError::IntervalTooSmall { .. } => 422,
            _ => 400,
        }
    }

    /// The final response to the INVITE (with Min-SE on a 422), To tag `to_tag`.
    pub fn response(&self, invite: &Request, to_tag: Option<&str>) -> Response {
        let mut r = message::response(invite, self.status(), to_tag);
        if let AcceptError::IntervalTooSmall { min_se } = self {
            r.headers
                .push(Header::Other("Min-SE".into(), min_se.to_string()));
        }
        r
    }
}

/// Why an action on a dialog was refused (a bug or a race in the caller, never network input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// The dialog is over.
    #[error("dialog terminated")]
    Terminated,
    /// An offer/answer exchange is already under way (ours or theirs).
    #[error("an offer is pending")]
    Pending,
    /// No offer of theirs awaits an answer.
    #[error("no offer to answer")]
    NoOffer,
    /// No REFER subscription to report on.
    #[error("no REFER subscription")]
    NoSubscription,
}

/// Their re-INVITE/UPDATE with an offer, waiting for our answer.
#[derive(Debug, Clone)]
struct Incoming {
    key: ServerKey,
    req: Request,
    timer: UasDecision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Our new SDP (hold, resume): the answer is reported.
    Offer,
    /// A session refresh with our unchanged SDP.
    Refresh,
}

/// Our re-INVITE in progress.
#[derive(Debug, Clone)]
struct Outgoing {
    cseq: u32,
    sdp: String,
    purpose: Purpose,
}

/// An established INVITE dialog (see the [module docs](super) for how to drive it).
#[derive(Debug)]
pub struct DialogUsage {
    dialog: Dialog,
    via_host: SocketAddr,
    /// Our SDP as last offered or answered.
    local_sdp: String,
    min_se: u32,
    /// We generated the Call-ID (we were the UAC of the INVITE): the longer 491 wait.
    owns_call_id: bool,
    timer: Option<SessionTimer>,
    incoming: Option<Incoming>,
    outgoing: Option<Outgoing>,
    /// Our re-INVITE to send again after a 491, at this time.
    retry: Option<(Instant, String, Purpose)>,
    /// We offered in a 2xx (their INVITE had no SDP): their answer comes in the ACK.
    awaiting_ack_answer: bool,
    /// The accepted REFER whose subscription is active: the `id` for its NOTIFYs.
    refer: Option<Option<u32>>,
    refers: u32,
    terminated: bool,
    outputs: VecDeque<Output>,
}

fn held(direction: Option<Direction>) -> bool {
    matches!(direction, Some(Direction::SendOnly | Direction::Inactive))
}

impl DialogUsage {
    pub(crate) fn new(
        dialog: Dialog,
        via_host: SocketAddr,
        local_sdp: String,
        owns_call_id: bool,
        min_se: u32,
    ) -> DialogUsage {
        DialogUsage {
            dialog,
            via_host,
            local_sdp,
            min_se: min_se.max(session_timer::MIN_SE),
            owns_call_id,
            timer: None,
            incoming: None,
            outgoing: None,
            retry: None,
            awaiting_ack_answer: false,
            refer: None,
            refers: 0,
            terminated: false,
            outputs: VecDeque::new(),
        }
    }

    /// The UAS side: answers `invite` with our `sdp` (an answer, or our offer when the
    /// INVITE had none — the answer then comes in the ACK, see [`handle_ack`](Self::handle_ack)).
    /// Returns the 200 OK to send on the INVITE's transaction — To tag, Contact, Allow,
    /// Supported, and Session-Expires when the peer asked for timers — and the usage.
    pub fn accept(
        invite: &Request,
        info: &Info,
        local: Local,
        sdp: String,
        now: Instant,
    ) -> Result<(Response, DialogUsage), AcceptError> {
        let min_se = local.min_se.max(session_timer::MIN_SE);
        let decision = session_timer::uas_decide(&invite.headers, min_se)?;
        if let UasDecision::TooSmall { min_se } = decision {
            return Err(AcceptError::IntervalTooSmall { min_se });
        }
        let dialog = Dialog::uas(
            invite,
            info,
            &local.tag,
            &local.contact,
            local.peer,
            local.transport,
        )?;
        let mut usage = DialogUsage::new(dialog, local.via_host, sdp, false, min_se);
        usage.awaiting_ack_answer = invite.body.is_empty();
        let ok = usage.ok_response(invite, Some(&local.tag), true, &decision);
        let ok = with_sdp(ok, usage.local_sdp.clone());
        usage.apply_decision(&decision, now);
        Ok((ok, usage))
    }

    pub(crate) fn set_timer(&mut self, timer: SessionTimer) {
        self.timer = Some(timer);
    }

    /// The dialog (Call-ID, tags, CSeqs, remote target).
    pub fn dialog(&self) -> &Dialog {
        &self.dialog
    }

    /// Our SDP as last offered or answered.
    pub fn local_sdp(&self) -> &str {
        &self.local_sdp
    }

    /// The running session timer, if the peer asked for one.
    pub fn session_timer(&self) -> Option<&SessionTimer> {
        self.timer.as_ref()
    }

    /// Whether the dialog is over (BYE either way, expiry, 408/481).
    pub fn is_terminated(&self) -> bool {
        self.terminated
    }

    /// The next thing to send.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.terminated {
            return None;
        }
        let timer = self
            .timer
            .as_ref()
            .and_then(|t| t.poll_timeout())
            .map(|t| t.0);
        let retry = self.retry.as_ref().map(|r| r.0);
        match (timer, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed: sends a due session refresh or 491 retry; ends an expired session.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<SessionEvent> {
        if self.terminated {
            return None;
        }
        if self.retry.as_ref().is_some_and(|r| now >= r.0) {
            if let Some((_, sdp, purpose)) = self.retry.take() {
                if self.outgoing.is_none() && self.incoming.is_none() {
                    self.send_invite(sdp, purpose);
                }
            }
        }
        match self.timer.as_mut().and_then(|t| t.handle_timeout(now))? {
            TimerAction::Refresh => {
                if self.outgoing.is_none() && self.incoming.is_none() && self.retry.is_none() {
                    self.send_invite(self.local_sdp.clone(), Purpose::Refresh);
                }
                None
            }
            TimerAction::Expire => {
                self.bye();
                Some(SessionEvent::Ended(EndReason::SessionExpired))
            }
        }
    }

    /// An in-dialog request from the far end (the transaction layer's `Event::Request`, or
    /// an `Event::Ack`). Its response is queued as an [`Output::Respond`].
    pub fn handle_request(
        &mut self,
        key: &ServerKey,
        req: &Request,
        info: &Info,
        now: Instant,
    ) -> Option<SessionEvent> {
        if req.method == Method::Ack {
            return self.handle_ack(req, info);
        }
        if !self.dialog.matches(info) || self.terminated {
            self.respond(key, message::response(req, 481, None));
            return None;
        }
        if self
            .dialog
            .accept_remote_cseq(req.method, info.cseq)
            .is_err()
        {
            self.respond(key, message::response(req, 500, None));
            return None;
        }
        match req.method {
            Method::Bye => {
                if let Some(inc) = self.incoming.take() {
                    self.respond(&inc.key, message::response(&inc.req, 487, None));
                }
                self.respond(key, message::response(req, 200, None));
                self.end();
                Some(SessionEvent::Bye)
            }
            Method::Invite | Method::Update => self.on_offer(key, req, now),
            Method::Info => self.on_info(key, req),
            Method::Refer => match refer::parse_refer(req) {
                Ok(r) => {
                    self.respond(key, message::response(req, 202, None));
                    self.refers += 1;
                    let id = (self.refers > 1).then_some(info.cseq);
                    self.refer = Some(id);
                    self.send_notify(100, id);
                    Some(SessionEvent::Refer(r))
                }
                Err(e) => {
                    self.respond(key, message::response(req, e.status(), None));
                    None
                }
            },
            Method::Options => {
                let mut r = message::response(req, 200, None);
                r.headers
                    .push(Header::Allow(rsip::headers::Allow::new(ALLOW)));
                r.headers
                    .push(Header::Supported(rsip::headers::Supported::new(SUPPORTED)));
                r.headers.push(Header::Accept(rsip::headers::Accept::new(
                    "application/sdp",
                )));
                self.respond(key, r);
                None
            }
            Method::Notify => {
                self.respond(key, message::response(req, 200, None));
                None
            }
            _ => {
                let mut r = message::response(req, 405, None);
                r.headers
                    .push(Header::Allow(rsip::headers::Allow::new(ALLOW)));
                self.respond(key, r);
                None
            }
        }
    }

    /// The ACK of a 2xx we sent: carries their answer when we offered in the 2xx.
    pub fn handle_ack(&mut self, req: &Request, info: &Info) -> Option<SessionEvent> {
        if !self.dialog.matches(info) || !self.awaiting_ack_answer || req.body.is_empty() {
            return None;
        }
        self.awaiting_ack_answer = false;
        Some(SessionEvent::Answer {
            sdp: req.body.clone(),
        })
    }

    fn on_offer(&mut self, key: &ServerKey, req: &Request, now: Instant) -> Option<SessionEvent> {
        let update = req.method == Method::Update;
        if self.outgoing.is_some() {
            // §14.2: both sides re-INVITE at once; each retries after a random wait.
            self.respond(key, message::response(req, 491, None));
            return None;
        }
        if self.incoming.is_some() {
            let mut r = message::response(req, 500, None);
            let wait = random_ms(0, 10_000) / 1000;
            r.headers
                .push(Header::RetryAfter(rsip::headers::RetryAfter::new(
                    wait.to_string(),
                )));
            self.respond(key, r);
            return None;
        }
        let decision = match session_timer::uas_decide(&req.headers, self.min_se) {
            Ok(UasDecision::TooSmall { min_se }) => {
                let e = AcceptError::IntervalTooSmall { min_se };
                self.respond(key, e.response(req, None));
                return None;
            }
            Ok(d) => d,
            Err(_) => {
                self.respond(key, message::response(req, 400, None));
                return None;
            }
        };
        if req.body.is_empty() {
            // A refresh (or an offerless re-INVITE): our current SDP, as an offer in a
            // re-INVITE's 2xx; an UPDATE's 2xx carries none.
            let mut ok = self.ok_response(req, None, !update, &decision);
            if !update {
                ok = with_sdp(ok, self.local_sdp.clone());
            }
            self.awaiting_ack_answer = !update;
            self.respond(key, ok);
            self.apply_decision(&decision, now);
            return None;
        }
        let ctype = message::first(&req.headers, "Content-Type").unwrap_or("application/sdp");
        if !ctype
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/sdp")
        {
            self.respond(key, message::response(req, 415, None));
            return None;
        }
        let direction = sdp::offered_direction(&req.body);
        if direction.is_none() {
            self.respond(key, message::response(req, 488, None));
            return None;
        }
        self.incoming = Some(Incoming {
            key: key.clone(),
            req: req.clone(),
            timer: decision,
        });
        Some(SessionEvent::ReInvite {
            held: held(direction),
            offer: req.body.clone(),
            update,
        })
    }

    fn on_info(&mut self, key: &ServerKey, req: &Request) -> Option<SessionEvent> {
        let ctype = message::first(&req.headers, "Content-Type")
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if ctype.starts_with("application/dtmf") {
            match parse_dtmf(&req.body) {
                Some(d) => {
                    self.respond(key, message::response(req, 200, None));
                    Some(SessionEvent::Dtmf(d))
                }
                None => {
                    self.respond(key, message::response(req, 400, None));
                    None
                }
            }
        } else if ctype.is_empty() && req.body.is_empty() {
            self.respond(key, message::response(req, 200, None)); // keep-alive INFO
            None
        } else {
            self.respond(key, message::response(req, 415, None));
            None
        }
    }

    /// Answers their pending re-INVITE/UPDATE offer with our `sdp` (200), at `now`.
    pub fn answer_offer(&mut self, sdp: String, now: Instant) -> Result<(), UsageError> {
        let inc = self.incoming.take().ok_or(UsageError::NoOffer)?;
        let invite = inc.req.method == Method::Invite;
        let ok = with_sdp(
            self.ok_response(&inc.req, None, invite, &inc.timer),
            sdp.clone(),
        );
        self.local_sdp = sdp;
        self.respond(&inc.key, ok);
        self.apply_decision(&inc.timer, now);
        Ok(())
    }

    /// Refuses their pending re-INVITE/UPDATE offer with `status` (e.g. 488); the session
    /// stays as it was.
    pub fn reject_offer(&mut self, status: u16) -> Result<(), UsageError> {
        let inc = self.incoming.take().ok_or(UsageError::NoOffer)?;
        self.respond(&inc.key, message::response(&inc.req, status, None));
        Ok(())
    }

    /// Sends a re-INVITE offering our new `sdp` (hold: `sendonly`; resume: `sendrecv`).
    /// The answer comes as [`SessionEvent::Answer`] (or `OfferRejected`).
    pub fn reinvite(&mut self, sdp: String) -> Result<(), UsageError> {
        if self.terminated {
            return Err(UsageError::Terminated);
        }
        if self.outgoing.is_some() || self.incoming.is_some() || self.retry.is_some() {
            return Err(UsageError::Pending);
        }
        self.send_invite(sdp, Purpose::Offer);
        Ok(())
    }

    /// Hangs up: BYE (and 487 to an offer of theirs still unanswered). Idempotent.
    pub fn bye(&mut self) {
        if self.terminated {
            return;
        }
        if let Some(inc) = self.incoming.take() {
            self.respond(&inc.key, message::response(&inc.req, 487, None));
        }
        let bye = self.dialog.request(Method::Bye, self.via_host);
        self.send(bye);
        self.end();
    }

    /// Reports the outcome of the accepted REFER with a NOTIFY carrying `status` ("SIP/2.0
    /// 200 OK", "503 Service Unavailable"…); a final status (≥ 200) ends the subscription.
    pub fn notify_refer(&mut self, status: u16) -> Result<(), UsageError> {
        if self.terminated {
            return Err(UsageError::Terminated);
        }
        let id = self.refer.ok_or(UsageError::NoSubscription)?;
        if status >= 200 {
            self.refer = None;
        }
        self.send_notify(status, id);
        Ok(())
    }

    /// A response to one of our in-dialog requests (re-INVITE, BYE, NOTIFY).
    pub fn handle_response(
        &mut self,
        key: &ClientKey,
        resp: &Response,
        info: &Info,
        now: Instant,
    ) -> Option<SessionEvent> {
        let code = resp.status_code.code();
        if code < 200 {
            return None;
        }
        match info.cseq_method {
            Method::Invite => {}
            Method::Notify if code == 481 => {
                self.refer = None;
                return None;
            }
            _ => return None,
        }
        if (200..300).contains(&code) {
            let ack = self.dialog.ack_for(info.cseq, self.via_host);
            self.outputs.push_back(Output::Ack {
                invite: key.clone(),
                request: ack,
                dest: self.dialog.destination(),
                transport: self.dialog.transport,
            });
        }
        let out = self.outgoing.take_if(|o| o.cseq == info.cseq)?;
        if self.terminated {
            return None;
        }
        match code {
            200..=299 => {
                self.local_sdp = out.sdp;
                match session_timer::uac_decide(&resp.headers) {
                    Ok(Some((interval, we))) => match self.timer.as_mut() {
                        Some(t) => t.renegotiated(interval, we, now),
                        None => self.timer = Some(SessionTimer::new(interval, we, now)),
                    },
                    _ => {
                        if let Some(t) = self.timer.as_mut() {
                            t.handle_refreshed(now)
                        }
                    }
                }
                (out.purpose == Purpose::Offer).then(|| SessionEvent::Answer {
                    sdp: resp.body.clone(),
                })
            }
            491 => {
                let (lo, hi) = if self.owns_call_id {
                    (2100, 4000)
                } else {
                    (0, 2000)
                };
                let at = now + Duration::from_millis(random_ms(lo, hi));
                self.retry = Some((at, out.sdp, out.purpose));
                None
            }
            408 | 481 => {
                if code == 408 {
                    self.bye();
                } else {
                    self.end();
                }
                Some(SessionEvent::Ended(EndReason::Status(code)))
            }
            _ => (out.purpose == Purpose::Offer).then_some(SessionEvent::OfferRejected(code)),
        }
    }

    /// No response to one of our requests (the transaction layer's `Event::Timeout`): a
    /// re-INVITE without answer ends the dialog with a BYE (§12.2.1.2).
    pub fn handle_tx_timeout(&mut self, key: &ClientKey) -> Option<SessionEvent> {
        if key.method() != Method::Invite || self.outgoing.take().is_none() || self.terminated {
            return None;
        }
        self.bye();
        Some(SessionEvent::Ended(EndReason::NoResponse))
    }

    fn end(&mut self) {
        self.terminated = true;
        self.timer = None;
        self.retry = None;
        self.outgoing = None;
    }

    fn respond(&mut self, key: &ServerKey, response: Response) {
        self.outputs.push_back(Output::Respond {
            key: key.clone(),
            response,
        });
    }

    fn send(&mut self, request: Request) {
        self.outputs.push_back(Output::Request {
            request,
            dest: self.dialog.destination(),
            transport: self.dialog.transport,
        });
    }

    fn send_notify(&mut self, status: u16, id: Option<u32>) {
        let n = refer::notify(
            &mut self.dialog,
            self.via_host,
            status,
            SubscriptionState::for_status(status),
            id,
        );
        self.send(n);
    }

    fn send_invite(&mut self, sdp: String, purpose: Purpose) {
        let mut req = self.dialog.request(Method::Invite, self.via_host);
        req.headers
            .push(Header::Allow(rsip::headers::Allow::new(ALLOW)));
        req.headers
            .push(Header::Supported(rsip::headers::Supported::new(SUPPORTED)));
        if let Some(t) = &self.timer {
            let se = SessionExpires {
                interval: u32::try_from(t.interval().as_secs()).unwrap_or(u32::MAX),
                refresher: Some(if t.we_refresh() {
                    Refresher::Uac
                } else {
                    Refresher::Uas
                }),
            };
            req.headers
                .push(Header::Other("Session-Expires".into(), se.to_string()));
        }
        let body = sdp.clone().into_bytes();
        message::set_body(&mut req.headers, &mut req.body, "application/sdp", body);
        self.outgoing = Some(Outgoing {
            cseq: self.dialog.local_seq,
            sdp,
            purpose,
        });
        self.send(req);
    }

    /// A 200 to `req` with Contact, (Allow and Supported on INVITEs) and the timer headers;
    /// the caller adds the SDP.
    fn ok_response(
        &self,
        req: &Request,
        to_tag: Option<&str>,
        invite: bool,
        decision: &UasDecision,
    ) -> Response {
        let mut r = message::response(req, 200, to_tag);
        r.headers.push(Header::Contact(rsip::headers::Contact::new(
            self.dialog.local_contact.clone(),
        )));
        if invite {
            r.headers
                .push(Header::Allow(rsip::headers::Allow::new(ALLOW)));
            r.headers
                .push(Header::Supported(rsip::headers::Supported::new(SUPPORTED)));
        }
        if let UasDecision::Accept {
            header, require, ..
        } = decision
        {
            if *require {
                r.headers
                    .push(Header::Require(rsip::headers::Require::new("timer")));
            }
            r.headers
                .push(Header::Other("Session-Expires".into(), header.to_string()));
        }
        r
    }

    fn apply_decision(&mut self, decision: &UasDecision, now: Instant) {
        self.timer = match decision {
            UasDecision::Accept {
                header, we_refresh, ..
            } => Some(SessionTimer::new(header.interval, *we_refresh, now)),
            _ => None,
        };
    }
}

fn with_sdp(mut r: Response, sdp: String) -> Response {
    message::set_body(
        &mut r.headers,
        &mut r.body,
        "application/sdp",
        sdp.into_bytes(),
    );
    r
}

/// A random wait in `[lo, hi)` milliseconds (glare back-off).
fn random_ms(lo: u64, hi: u64) -> u64 {
    use rand::Rng;
    rand::thread_rng().gen_range(lo..hi)
}
