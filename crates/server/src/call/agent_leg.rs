//! The agent's leg of a call: we are the caller (UAC) towards the agent's softphone.
//!
//! ```text
//! start: RTP port + INVITE (caller's number, X-Ticket, X-Open-Tickets) ─> 180 ─> 200 ─> ACK: connected
//!                                 └─ ring timeout ─> CANCEL ─> 487     └─ 4xx–6xx / 408: failed
//! connected: BYE either way; re-INVITE (hold) answered with our SDP
//! ```
//! The leg reports what happened as [`LegEvent`]s; the call decides what follows.

use crate::endpoint::EndpointHandle;
use hotline_media::{Codec, MediaEvent, MediaHandle, MediaParams, MediaSession, PortPool};
use hotline_sip::dialog::{self, Dialog};
use hotline_sip::message::{self, Info};
use hotline_sip::registrar::Binding;
use hotline_sip::sdp::{self, Negotiated, G711};
use hotline_sip::transaction::{ClientKey, Event, ServerKey};
use rsip::headers::untyped::UntypedHeader;
use rsip::{Header, Headers, Method, Request};
use tokio::sync::mpsc;

/// Payload type we offer for telephone-event.
const DTMF_PT: u8 = 101;

/// What the leg tells the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// The agent's phone rings.
    Ringing,
    /// The agent answered; media can be bridged.
    Answered,
    /// The offer failed (busy, declined, unreachable, cancelled after no answer).
    Failed(String),
    /// The agent hung up.
    HungUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Inviting,
    Cancelling,
    Connected,
    Ended,
}

/// One outbound leg to an agent's softphone.
pub struct AgentLeg {
    pub extension: String,
    pub call_id: String,
    pub media: MediaHandle,
    pub media_rx: mpsc::Receiver<MediaEvent>,
    invite: Request,
    dest: std::net::SocketAddr,
    binding: Binding,
    dialog: Option<Dialog>,
    negotiated: Option<Negotiated>,
    state: State,
    session_id: u64,
    sdp_version: u64,
    ep: EndpointHandle,
}

impl AgentLeg {
    /// Opens an RTP port and sends the INVITE to the agent's registered contact.
    pub async fn start(
        ep: EndpointHandle,
        ports: &PortPool,
        extension: &str,
        binding: Binding,
        caller: &str,
        ticket: &str,
        open_tickets: &[String],
    ) -> Result<AgentLeg, String> {
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
        let call_id = format!("{}@hotline", message::random_token(16));
        let session_id = u64::from(rand::random::<u32>());
        let us = ep.advertised;
        let mut headers = Headers::default();
        headers.push(Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{} {us};branch={};rport",
            binding.transport.as_via(),
            message::new_branch()
        ))));
        headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
        // The softphone shows the citizen's number and the ticket before answering.
        headers.push(Header::From(rsip::headers::From::new(format!(
            "\"{caller}\" <sip:{caller}@{}>;tag={}",
            us.ip(),
            message::random_token(10)
        ))));
        headers.push(Header::To(rsip::headers::To::new(format!(
            "<sip:{extension}@{}>",
            us.ip()
        ))));
        headers.push(Header::CallId(rsip::headers::CallId::new(call_id.clone())));
        headers.push(Header::CSeq(rsip::headers::CSeq::new("1 INVITE")));
        headers.push(Header::Contact(rsip::headers::Contact::new(format!(
            "<sip:12345@{us}>"
        ))));
        headers.push(Header::Other(
            "P-Asserted-Identity".into(),
            format!("<sip:{caller}@{}>", us.ip()),
        ));
        headers.push(Header::Other("X-Ticket".into(), ticket.to_string()));
        if !open_tickets.is_empty() {
            // Other open cases of the same number (a repeat caller), newest first.
            headers.push(Header::Other(
                "X-Open-Tickets".into(),
                open_tickets.join(","),
            ));
        }
        headers.push(Header::Allow(rsip::headers::Allow::new(super::ALLOW)));
        let uri = rsip::Uri::try_from(binding.contact.as_str())
            .map_err(|e| format!("bad contact {}: {e}", binding.contact))?;
        let mut invite = Request {
            method: Method::Invite,
            uri,
            version: rsip::Version::V2,
            headers,
            body: vec![],
        };
        let body = sdp::offer(media.local_addr(), &G711, DTMF_PT, session_id, 1);
        message::set_body(
            &mut invite.headers,
            &mut invite.body,
            "application/sdp",
            body.into_bytes(),
        );
        let dest = binding.source;
        ep.request(invite.clone(), dest, binding.transport);
        Ok(AgentLeg {
            extension: extension.to_string(),
            call_id,
            media,
            media_rx,
            invite,
            dest,
            binding,
            dialog: None,
            negotiated: None,
            state: State::Inviting,
            session_id,
            sdp_version: 1,
            ep,
        })
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
                self.dest,
                self.binding.transport,
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

    /// A SIP event of this leg's Call-ID.
    pub fn on_sip(&mut self, ev: Event) -> Option<LegEvent> {
        match ev {
            Event::Response { key, resp, info } => self.on_response(key, resp, info),
            Event::Timeout { key, .. }
                if key.method() == Method::Invite && self.state != State::Connected =>
            {
                self.end();
                Some(LegEvent::Failed("no response".into()))
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
                    self.dest,
                    self.binding.transport,
                ) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(error = %e, "unusable 200 from the agent");
                        self.end();
                        return Some(LegEvent::Failed("bad answer".into()));
                    }
                };
                let ack = d.ack(self.ep.advertised);
                self.ep.ack(&key, ack, d.destination(), d.transport);
                self.dialog = Some(d);
                if self.state == State::Cancelling {
                    // Answered as we gave up: hang up at once (§9.1's race).
                    self.state = State::Connected;
                    self.hang_up();
                    return Some(LegEvent::Failed("no answer".into()));
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
                        tracing::warn!(error = %e, "agent answered with unusable SDP");
                        self.state = State::Connected;
                        self.hang_up();
                        Some(LegEvent::Failed("bad SDP".into()))
                    }
                }
            }
            (State::Inviting | State::Cancelling, 300..) => {
                let was_cancel = self.state == State::Cancelling;
                self.end();
                Some(LegEvent::Failed(if was_cancel {
                    "no answer".into()
                } else {
                    format!("{code}")
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
                // Hold / unhold from the softphone: follow it and answer with our SDP.
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
                self.negotiated = Some(n);
                self.ep.respond(&key, ok);
                None
            }
            Method::Info => {
                if let Some(digit) =
                    hotline_media::parse_dtmf_relay(&String::from_utf8_lossy(&req.body))
                {
                    tracing::debug!(%digit, "agent DTMF by INFO");
                }
                self.ep.respond(&key, message::response(&req, 200, None));
                None
            }
            _ => {
                self.ep.respond(&key, message::response(&req, 200, None));
                None
            }
        }
    }
}
