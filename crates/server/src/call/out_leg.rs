//! An outbound leg: we are the caller (UAC) towards an agent's softphone or, through the
//! carrier's gateway, a citizen's phone. `agent_leg.rs` and `trunk_leg.rs` say whom to
//! call and with which headers; this file runs the dialog.
//!
//! ```text
//! start: RTP port + INVITE ─> 180 ─> 200 ─> ACK: connected
//!          │  └─ 401/407 (once, with credentials) ─> INVITE with Authorization ─> …
//!          └─ ring timeout ─> CANCEL ─> 487     └─ 3xx–6xx / 408 / no response: failed
//! connected: BYE either way; re-INVITE (hold) answered with our SDP
//! ```
//! The leg reports what happened as [`LegEvent`]s; the call decides what follows.

use crate::endpoint::EndpointHandle;
use hotline_media::{Codec, MediaEvent, MediaHandle, MediaParams, MediaSession, PortPool};
use hotline_sip::dialog::{self, Dialog};
use hotline_sip::message::{self, Info, Transport};
use hotline_sip::sdp::{self, Negotiated, G711};
use hotline_sip::transaction::{ClientKey, Event, ServerKey};
use rsip::headers::untyped::UntypedHeader;
use rsip::{Header, Headers, Method, Request};
use std::fmt;
use tokio::sync::mpsc;

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
    /// The far end hung up.
    HungUp,
    /// A key sent by SIP INFO (keys in RTP arrive as media events).
    Digit(char),
    /// The far end put the other party on hold (`true`: its offer is `sendonly` or
    /// `inactive`) or took them back (`false`).
    Held(bool),
    /// The far end (an agent) transferred the other party with REFER to this user part
    /// (an extension, a queue, a number, `survey`); the REFER was accepted (202, NOTIFY
    /// "100 Trying"). The call decides and answers with [`OutLeg::notify_refer`].
    Transfer(String),
}

/// Why an outbound leg did not connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// We gave up ringing (CANCEL).
    NoAnswer,
    /// A final response 300–699 (a second 401/407, or one we have no credentials for, too).
    Status(u16),
    /// No response at all (Timer B).
    NoResponse,
    /// An answer we cannot use (bad SDP, bad 200).
    Unusable(&'static str),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NoAnswer => f.write_str("no answer"),
            Failure::Status(code) => write!(f, "{code}"),
            Failure::NoResponse => f.write_str("no response"),
            Failure::Unusable(what) => f.write_str(what),
        }
    }
}

/// Whom a leg calls and how.
pub struct Target {
    /// Request-URI.
    pub uri: rsip::Uri,
    /// Where the INVITE goes.
    pub dest: std::net::SocketAddr,
    pub transport: Transport,
    /// From, without tag: `"display" <sip:user@host>`.
    pub from: String,
    /// To: `<sip:user@host>`.
    pub to: String,
    /// P-Asserted-Identity, if any: `<sip:user@host>`.
    pub asserted: Option<String>,
    /// Further headers (X-Ticket…).
    pub extra: Vec<Header>,
    /// Username and password to answer one 401/407 with.
    pub credentials: Option<(String, String)>,
    /// Who is called, for logs and the call (extension or number).
    pub peer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Inviting,
    Cancelling,
    Connected,
    Ended,
}

/// One outbound leg.
pub struct OutLeg {
    /// Who is called (extension or number).
    pub peer: String,
    pub call_id: String,
    pub media: MediaHandle,
    pub media_rx: mpsc::Receiver<MediaEvent>,
    target: Target,
    from_tag: String,
    cseq: u32,
    invite: Request,
    /// Answered a challenge already: a second one fails the leg.
    authorized: bool,
    /// The far end holds the call (its last offer was `sendonly` or `inactive`).
    held: bool,
    /// A REFER was accepted and its final NOTIFY not yet sent.
    refer_pending: bool,
    dialog: Option<Dialog>,
    negotiated: Option<Negotiated>,
    state: State,
    session_id: u64,
    sdp_version: u64,
    ep: EndpointHandle,
}

impl OutLeg {
    /// Opens an RTP port and sends the INVITE. `route` is given the leg's Call-ID before
    /// the INVITE leaves, so that the call routes its answers to itself: a phone that
    /// answers at once is never dropped as belonging to no call.
    pub async fn start(
        ep: EndpointHandle,
        ports: &PortPool,
        target: Target,
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
        .await
        .map_err(|e| e.to_string())?;
        let mut leg = OutLeg {
            peer: target.peer.clone(),
            call_id: format!("{}@hotline", message::random_token(16)),
            media,
            media_rx,
            target,
            from_tag: message::random_token(10),
            cseq: 1,
            invite: Request {
                method: Method::Invite,
                uri: rsip::Uri::default(),
                version: rsip::Version::V2,
                headers: Headers::default(),
                body: vec![],
            },
            authorized: false,
            held: false,
            refer_pending: false,
            dialog: None,
            negotiated: None,
            state: State::Inviting,
            session_id: u64::from(rand::random::<u32>()),
            sdp_version: 1,
            ep,
        };
        leg.invite = leg.build_invite(None);
        route(&leg.call_id);
        leg.ep
            .request(leg.invite.clone(), leg.target.dest, leg.target.transport);
        Ok(leg)
    }

    /// The INVITE with the current CSeq, a new branch, and `auth` if given.
    fn build_invite(&self, auth: Option<Header>) -> Request {
        let us = self.ep.advertised;
        let t = &self.target;
        let mut headers = Headers::default();
        headers.push(Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{} {us};branch={};rport",
            t.transport.as_via(),
            message::new_branch()
        ))));
        headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
        headers.push(Header::From(rsip::headers::From::new(format!(
            "{};tag={}",
            t.from, self.from_tag
        ))));
        headers.push(Header::To(rsip::headers::To::new(t.to.clone())));
        headers.push(Header::CallId(rsip::headers::CallId::new(
            self.call_id.clone(),
        )));
        headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
            "{} INVITE",
            self.cseq
        ))));
        headers.push(Header::Contact(rsip::headers::Contact::new(format!(
            "<sip:12345@{us}>"
        ))));
        if let Some(pai) = &t.asserted {
            headers.push(Header::Other("P-Asserted-Identity".into(), pai.clone()));
        }
        for h in &t.extra {
            headers.push(h.clone());
        }
        if let Some(a) = auth {
            headers.push(a);
        }
        headers.push(Header::Allow(rsip::headers::Allow::new(super::ALLOW)));
        let mut invite = Request {
            method: Method::Invite,
            uri: t.uri.clone(),
            version: rsip::Version::V2,
            headers,
            body: vec![],
        };
        let body = sdp::offer(self.media.local_addr(), &G711, DTMF_PT, self.session_id, 1);
        message::set_body(
            &mut invite.headers,
            &mut invite.body,
            "application/sdp",
            body.into_bytes(),
        );
        invite
    }

    /// Answers a 401/407 once, if we have credentials: the same INVITE with the next
    /// CSeq, a new branch and Authorization (RFC 3261 §22.2). False if we cannot.
    fn answer_challenge(&mut self, resp: &rsip::Response) -> bool {
        if self.authorized || self.state != State::Inviting {
            return false;
        }
        let Some((user, password)) = self.target.credentials.clone() else {
            return false;
        };
        let proxy = resp.status_code.code() == 407;
        let name = if proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        // The first challenge we can answer (a server may offer SHA-256 and MD5).
        let Some(ch) = message::all(&resp.headers, name)
            .find_map(|v| hotline_sip::digest::parse_challenge(v).ok())
        else {
            return false;
        };
        let uri = self.target.uri.to_string();
        let cnonce = message::random_token(12);
        let c = hotline_sip::digest::authorize(&ch, "INVITE", &uri, &user, &password, &cnonce, 1);
        let header = if proxy {
            Header::ProxyAuthorization(rsip::headers::ProxyAuthorization::new(c.to_string()))
        } else {
            Header::Authorization(rsip::headers::Authorization::new(c.to_string()))
        };
        self.authorized = true;
        self.cseq += 1;
        self.invite = self.build_invite(Some(header));
        self.ep
            .request(self.invite.clone(), self.target.dest, self.target.transport);
        true
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
        self.state == State::Connected
    }

    /// The agent did not answer in time: CANCEL (§9.1). The 487 ends the leg.
    pub fn cancel(&mut self) {
        if self.state == State::Inviting {
            self.state = State::Cancelling;
            self.ep.request(
                dialog::cancel_for(&self.invite),
                self.target.dest,
                self.target.transport,
            );
        }
    }

    /// Ends the leg from our side: BYE when connected, CANCEL while ringing.
    pub fn hang_up(&mut self) {
        match self.state {
            State::Connected => {
                if let Some(d) = self.dialog.as_mut() {
                    let bye = d.request(Method::Bye, self.ep.advertised);
                    self.ep.request(bye, d.destination(), d.transport);
                }
                self.state = State::Ended;
            }
            State::Inviting => self.cancel(),
            _ => {}
        }
        self.media.close();
    }

    /// Reports the outcome of the REFER this leg sent (a sipfrag status: 200 carried out,
    /// 4xx/5xx refused — the call stays up) and ends its subscription. Once per REFER.
    pub fn notify_refer(&mut self, code: u16) {
        if std::mem::take(&mut self.refer_pending) {
            self.send_notify(code);
        }
    }

    /// The NOTIFY of the REFER subscription: "100 Trying" keeps it active, a final
    /// status terminates it.
    fn send_notify(&mut self, code: u16) {
        let Some(d) = self.dialog.as_mut() else {
            return;
        };
        let mut notify = d.request(Method::Notify, self.ep.advertised);
        notify
            .headers
            .push(Header::Other("Event".into(), "refer".into()));
        let state = if code < 200 {
            "active;expires=60"
        } else {
            "terminated;reason=noresource"
        };
        notify
            .headers
            .push(Header::Other("Subscription-State".into(), state.into()));
        let frag = format!("SIP/2.0 {code} {}\r\n", message::reason_phrase(code));
        message::set_body(
            &mut notify.headers,
            &mut notify.body,
            "message/sipfrag;version=2.0",
            frag.into_bytes(),
        );
        self.ep.request(notify, d.destination(), d.transport);
    }

    /// A SIP event of this leg's Call-ID.
    pub fn on_sip(&mut self, ev: Event) -> Option<LegEvent> {
        match ev {
            Event::Response { key, resp, info } => self.on_response(key, resp, info),
            Event::Timeout { key, .. }
                if key.method() == Method::Invite && self.state != State::Connected =>
            {
                self.end();
                Some(LegEvent::Failed(Failure::NoResponse))
            }
            Event::Request { key, req, info, .. } => self.on_request(key, req, info),
            _ => None,
        }
    }

    fn end(&mut self) {
        self.state = State::Ended;
        self.media.close();
    }

    fn on_response(
        &mut self,
        key: ClientKey,
        resp: rsip::Response,
        info: Info,
    ) -> Option<LegEvent> {
        if key.method() != Method::Invite {
            return None; // the answers to our CANCEL and BYE
        }
        let code = resp.status_code.code();
        match (self.state, code) {
            (State::Inviting, 180..=183) => Some(LegEvent::Ringing),
            (State::Inviting | State::Cancelling, 200..=299) => {
                let contact = format!("<sip:12345@{}>", self.ep.advertised);
                let d = match Dialog::uac(
                    &self.invite,
                    &resp,
                    &info,
                    &contact,
                    self.target.dest,
                    self.target.transport,
                ) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(peer = %self.peer, error = %e, "unusable 200");
                        self.end();
                        return Some(LegEvent::Failed(Failure::Unusable("bad answer")));
                    }
                };
                let ack = d.ack(self.ep.advertised);
                self.ep.ack(&key, ack, d.destination(), d.transport);
                self.dialog = Some(d);
                if self.state == State::Cancelling {
                    // Answered as we gave up: hang up at once (§9.1's race).
                    self.state = State::Connected;
                    self.hang_up();
                    return Some(LegEvent::Failed(Failure::NoAnswer));
                }
                match sdp::negotiate(&resp.body, &G711) {
                    Ok(n) => {
                        self.media.update(MediaParams {
                            codec: Codec::from_encoding_name(n.codec.name).unwrap_or(Codec::Pcmu),
                            remote: n.remote,
                            dtmf_pt: n.dtmf_pt,
                        });
                        self.negotiated = Some(n);
                        self.state = State::Connected;
                        Some(LegEvent::Answered)
                    }
                    Err(e) => {
                        tracing::warn!(peer = %self.peer, error = %e, "answered with unusable SDP");
                        self.state = State::Connected;
                        self.hang_up();
                        Some(LegEvent::Failed(Failure::Unusable("bad SDP")))
                    }
                }
            }
            (State::Inviting, 401 | 407) if self.answer_challenge(&resp) => None,
            (State::Inviting | State::Cancelling, 300..) => {
                let was_cancel = self.state == State::Cancelling;
                self.end();
                Some(LegEvent::Failed(if was_cancel {
                    Failure::NoAnswer
                } else {
                    Failure::Status(code)
                }))
            }
            _ => None,
        }
    }

    fn on_request(&mut self, key: ServerKey, req: Request, info: Info) -> Option<LegEvent> {
        let Some(d) = self.dialog.as_mut() else {
            self.ep.respond(&key, message::response(&req, 481, None));
            return None;
        };
        if !d.matches(&info) || d.accept_remote_cseq(req.method, info.cseq).is_err() {
            self.ep.respond(
                &key,
                message::response(&req, if d.matches(&info) { 500 } else { 481 }, None),
            );
            return None;
        }
        match req.method {
            Method::Bye => {
                self.ep.respond(&key, message::response(&req, 200, None));
                self.end();
                Some(LegEvent::HungUp)
            }
            Method::Invite => {
                // Hold / unhold from the far end: follow it and answer with our SDP.
                let n = if req.body.is_empty() {
                    self.negotiated.clone()
                } else {
                    sdp::negotiate(&req.body, &G711).ok()
                };
                let Some(n) = n else {
                    self.ep.respond(&key, message::response(&req, 488, None));
                    return None;
                };
                self.media.update(MediaParams {
                    codec: Codec::from_encoding_name(n.codec.name).unwrap_or(Codec::Pcmu),
                    remote: n.remote,
                    dtmf_pt: n.dtmf_pt,
                });
                self.sdp_version += 1;
                let body = sdp::answer(
                    &n,
                    self.media.local_addr(),
                    self.session_id,
                    self.sdp_version,
                );
                let mut ok = message::response(&req, 200, None);
                ok.headers.push(Header::Contact(rsip::headers::Contact::new(
                    d.local_contact.clone(),
                )));
                message::set_body(
                    &mut ok.headers,
                    &mut ok.body,
                    "application/sdp",
                    body.into_bytes(),
                );
                let held = matches!(
                    n.offered_direction,
                    sdp::Direction::SendOnly | sdp::Direction::Inactive
                );
                self.negotiated = Some(n);
                self.ep.respond(&key, ok);
                (held != std::mem::replace(&mut self.held, held)).then_some(LegEvent::Held(held))
            }
            Method::Refer => {
                // RFC 3515: accepted (202) and "100 Trying" at once; the call carries the
                // transfer out itself (no new INVITE from the phone) and reports how it
                // went with `notify_refer`, which ends the implicit subscription.
                let target = message::first(&req.headers, "Refer-To")
                    .map(|v| v.trim().trim_start_matches('<'))
                    .and_then(message::uri_user)
                    .unwrap_or("")
                    .to_string();
                self.ep.respond(&key, message::response(&req, 202, None));
                self.refer_pending = true;
                self.send_notify(100);
                Some(LegEvent::Transfer(target))
            }
            Method::Info => {
                let digit = hotline_media::parse_dtmf_relay(&String::from_utf8_lossy(&req.body));
                self.ep.respond(&key, message::response(&req, 200, None));
                digit.map(LegEvent::Digit)
            }
            _ => {
                self.ep.respond(&key, message::response(&req, 200, None));
                None
            }
        }
    }
}
