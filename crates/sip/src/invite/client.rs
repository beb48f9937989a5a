//! [`InviteClient`]: our outgoing INVITE until it is answered or fails (see the module docs).

use super::{DialogUsage, Output, SessionEvent, ALLOW, SUPPORTED};
use crate::dialog::{self, Dialog};
use crate::message::{self, Info, Transport};
use crate::session_timer::{self, SessionTimer};
use crate::transaction::{ClientKey, ServerKey};
use rsip::headers::untyped::UntypedHeader;
use rsip::{Header, Headers, Method, Request, Response};
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long we wait for the INVITE's final response after sending CANCEL (64·T1, §9.1).
const CANCEL_GIVE_UP: Duration = Duration::from_secs(32);

/// Whom we call and how.
#[derive(Debug, Clone)]
pub struct Target {
    /// Request-URI.
    pub uri: rsip::Uri,
    /// Where the INVITE goes.
    pub dest: SocketAddr,
    /// Transport of the INVITE and of the dialog's requests.
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
    /// Our Contact header value, e.g. `<sip:12345@192.0.2.1:5060>`.
    pub contact: String,
    /// Our address as put in the Via of our requests.
    pub via_host: SocketAddr,
}

/// Why an outgoing call did not connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// We gave up ringing (CANCEL), also when a 2xx crossed our CANCEL.
    NoAnswer,
    /// A final response 300–699 (a second 401/407, or one we have no credentials for, too).
    Status(u16),
    /// No response at all (Timer B).
    NoResponse,
    /// An answer we cannot use (2xx without Contact or To tag, or without SDP).
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

/// What an outgoing call tells its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The far phone rings (first 180–183).
    Ringing,
    /// Answered (the ACK is queued): negotiate `sdp`, our offer's answer, and bridge. If it
    /// is unusable, call [`InviteClient::hang_up`].
    Answered { sdp: Vec<u8> },
    /// The call did not connect; nothing more will happen.
    Failed(Failure),
    /// Something in the established dialog (answer to our re-INVITE, expiry…).
    Session(SessionEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// INVITE sent, no provisional response yet.
    Calling,
    /// A provisional response came.
    Proceeding,
    /// We asked to give up; CANCEL sent (or due at the first 1xx).
    Cancelling,
    Connected,
    Ended,
}

/// One outgoing INVITE and, once answered, its dialog.
///
/// Call order: [`new`](Self::new), then drain [`poll_output`](Self::poll_output) (the
/// INVITE); feed the transaction layer's events for this Call-ID to
/// [`handle_response`](Self::handle_response), [`handle_request`](Self::handle_request)
/// and [`handle_tx_timeout`](Self::handle_tx_timeout); call
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout);
/// drain `poll_output` after each.
#[derive(Debug)]
pub struct InviteClient {
    target: Target,
    call_id: String,
    from_tag: String,
    cseq: u32,
    invite: Request,
    offer: String,
    /// Answered a challenge already: a second one fails the call.
    authorized: bool,
    state: State,
    /// A 1xx came: CANCEL may be sent (§9.1).
    provisional: bool,
    /// `cancel` came before any 1xx: send CANCEL at the first one.
    cancel_due: bool,
    rang: bool,
    give_up_at: Option<Instant>,
    usage: Option<DialogUsage>,
    outputs: VecDeque<Output>,
}

impl InviteClient {
    /// Starts a call to `target` offering our `offer` SDP, with a new Call-ID and From tag.
    /// The INVITE is the first output.
    pub fn new(target: Target, offer: String) -> InviteClient {
        let call_id = format!("{}@hotline", message::random_token(16));
        InviteClient::with_ids(target, offer, call_id, message::random_token(10))
    }

    /// As [`new`](Self::new) with a given Call-ID and From tag.
    pub fn with_ids(
        target: Target,
        offer: String,
        call_id: String,
        from_tag: String,
    ) -> InviteClient {
        let mut c = InviteClient {
            target,
            call_id,
            from_tag,
            cseq: 1,
            invite: Request {
                method: Method::Invite,
                uri: rsip::Uri::default(),
                version: rsip::Version::V2,
                headers: Headers::default(),
                body: vec![],
            },
            offer,
            authorized: false,
            state: State::Calling,
            provisional: false,
            cancel_due: false,
            rang: false,
            give_up_at: None,
            usage: None,
            outputs: VecDeque::new(),
        };
        c.invite = c.build_invite(None);
        c.send(c.invite.clone());
        c
    }

    /// The Call-ID: route the transaction layer's events of this Call-ID here before the
    /// INVITE leaves, so an answer that comes at once finds the call.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The INVITE as last sent (after a digest retry, the one with credentials).
    pub fn invite(&self) -> &Request {
        &self.invite
    }

    /// Whether the call is answered and not yet over.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected && self.usage.as_ref().is_some_and(|u| !u.is_terminated())
    }

    /// Whether nothing more will happen (failed, or hung up).
    pub fn is_ended(&self) -> bool {
        match self.state {
            State::Ended => match &self.usage {
                Some(u) => u.is_terminated(),
                None => true,
            },
            State::Connected => self.usage.as_ref().is_some_and(|u| u.is_terminated()),
            _ => false,
        }
    }

    /// The established dialog (after [`ClientEvent::Answered`]): hold, transfer, BYE.
    pub fn session(&mut self) -> Option<&mut DialogUsage> {
        self.usage.as_mut()
    }

    /// The next thing to send.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs
            .pop_front()
            .or_else(|| self.usage.as_mut()?.poll_output())
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let usage = self.usage.as_ref().and_then(|u| u.poll_timeout());
        match (self.give_up_at, usage) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed: a CANCEL never answered gives up; session timers run.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<ClientEvent> {
        if self.give_up_at.is_some_and(|t| now >= t) {
            self.give_up_at = None;
            if self.state == State::Cancelling {
                self.state = State::Ended;
                return Some(ClientEvent::Failed(Failure::NoAnswer));
            }
        }
        self.usage
            .as_mut()?
            .handle_timeout(now)
            .map(ClientEvent::Session)
    }

    /// Gives up ringing: CANCEL (§9.1), sent once a provisional response has come. The
    /// final response (487, or a 2xx that crossed it) ends the call as `NoAnswer`.
    pub fn cancel(&mut self, now: Instant) {
        if !matches!(self.state, State::Calling | State::Proceeding) {
            return;
        }
        self.state = State::Cancelling;
        self.give_up_at = Some(now + CANCEL_GIVE_UP);
        if self.provisional {
            self.send(dialog::cancel_for(&self.invite));
        } else {
            self.cancel_due = true;
        }
    }

    /// Ends the call from our side: BYE when connected, CANCEL while inviting.
    pub fn hang_up(&mut self, now: Instant) {
        match self.state {
            State::Calling | State::Proceeding => self.cancel(now),
            State::Connected => {
                if let Some(u) = self.usage.as_mut() {
                    u.bye();
                }
                self.state = State::Ended;
            }
            _ => {}
        }
    }

    /// An in-dialog request from the far end: handled by the dialog, 481 before there is one.
    pub fn handle_request(
        &mut self,
        key: &ServerKey,
        req: &Request,
        info: &Info,
        now: Instant,
    ) -> Option<SessionEvent> {
        match self.usage.as_mut() {
            Some(u) => u.handle_request(key, req, info, now),
            None => {
                if req.method != Method::Ack {
                    self.outputs.push_back(Output::Respond {
                        key: key.clone(),
                        response: message::response(req, 481, None),
                    });
                }
                None
            }
        }
    }

    /// No response to one of our requests (the transaction layer's `Event::Timeout`).
    pub fn handle_tx_timeout(&mut self, key: &ClientKey) -> Option<ClientEvent> {
        if key.method() == Method::Invite {
            match self.state {
                State::Calling | State::Proceeding => {
                    self.state = State::Ended;
                    return Some(ClientEvent::Failed(Failure::NoResponse));
                }
                State::Cancelling => {
                    self.state = State::Ended;
                    self.give_up_at = None;
                    return Some(ClientEvent::Failed(Failure::NoAnswer));
                }
                _ => {}
            }
        }
        self.usage
            .as_mut()?
            .handle_tx_timeout(key)
            .map(ClientEvent::Session)
    }

    /// A response to one of our requests: the INVITE's own, or (once connected) one to an
    /// in-dialog request, which the dialog handles.
    pub fn handle_response(
        &mut self,
        key: &ClientKey,
        resp: &Response,
        info: &Info,
        now: Instant,
    ) -> Option<ClientEvent> {
        if info.cseq_method != Method::Invite || info.cseq != self.cseq {
            return self
                .usage
                .as_mut()?
                .handle_response(key, resp, info, now)
                .map(ClientEvent::Session);
        }
        let code = resp.status_code.code();
        let inviting = matches!(self.state, State::Calling | State::Proceeding);
        match code {
            100..=199 if inviting || self.state == State::Cancelling => {
                self.provisional = true;
                if std::mem::take(&mut self.cancel_due) {
                    self.send(dialog::cancel_for(&self.invite));
                }
                if self.state == State::Calling {
                    self.state = State::Proceeding;
                }
                let ring = (180..=183).contains(&code) && inviting && !self.rang;
                self.rang |= ring;
                ring.then_some(ClientEvent::Ringing)
            }
            200..=299 => self.on_2xx(key, resp, info, now),
            401 | 407 if inviting && self.answer_challenge(resp) => None,
            300.. if inviting || self.state == State::Cancelling => {
                let failure = if self.state == State::Cancelling {
                    Failure::NoAnswer
                } else {
                    Failure::Status(code)
                };
                self.state = State::Ended;
                self.give_up_at = None;
                Some(ClientEvent::Failed(failure))
            }
            _ => None,
        }
    }

    fn on_2xx(
        &mut self,
        key: &ClientKey,
        resp: &Response,
        info: &Info,
        now: Instant,
    ) -> Option<ClientEvent> {
        let t = &self.target;
        let dialog = Dialog::uac(&self.invite, resp, info, &t.contact, t.dest, t.transport);
        let inviting = matches!(self.state, State::Calling | State::Proceeding);
        let mut d = match dialog {
            Ok(d) => d,
            Err(_) if inviting => {
                self.state = State::Ended;
                return Some(ClientEvent::Failed(Failure::Unusable("bad 2xx")));
            }
            Err(_) => return self.cancelled_ends(),
        };
        if self.state == State::Connected
            && self.usage.as_ref().map(|u| &u.dialog().id) == Some(&d.id)
        {
            return None; // the same answer again; the transaction layer re-ACKs it
        }
        self.outputs.push_back(Output::Ack {
            invite: key.clone(),
            request: d.ack(t.via_host),
            dest: d.destination(),
            transport: d.transport,
        });
        if !inviting {
            // A 2xx that crossed our CANCEL, came after we gave up, or from a second fork:
            // take it down at once (§9.1, §13.2.2.4).
            let bye = d.request(Method::Bye, t.via_host);
            self.outputs.push_back(Output::Request {
                request: bye,
                dest: d.destination(),
                transport: d.transport,
            });
            return self.cancelled_ends();
        }
        let mut usage = DialogUsage::new(
            d,
            t.via_host,
            self.offer.clone(),
            true,
            session_timer::MIN_SE,
        );
        if resp.body.is_empty() {
            usage.bye();
            self.usage = Some(usage);
            self.state = State::Ended;
            return Some(ClientEvent::Failed(Failure::Unusable("no SDP answer")));
        }
        if let Ok(Some((interval, we_refresh))) = session_timer::uac_decide(&resp.headers) {
            usage.set_timer(SessionTimer::new(interval, we_refresh, now));
        }
        self.usage = Some(usage);
        self.state = State::Connected;
        Some(ClientEvent::Answered {
            sdp: resp.body.clone(),
        })
    }

    /// A final answer while cancelling ends the call as `NoAnswer`; otherwise nothing.
    fn cancelled_ends(&mut self) -> Option<ClientEvent> {
        if self.state != State::Cancelling {
            return None;
        }
        self.state = State::Ended;
        self.give_up_at = None;
        Some(ClientEvent::Failed(Failure::NoAnswer))
    }

    /// Answers a 401/407 once, if we have credentials: the same INVITE with the next CSeq,
    /// a new branch and (Proxy-)Authorization (§22.2). False if we cannot.
    fn answer_challenge(&mut self, resp: &Response) -> bool {
        if self.authorized {
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
        let Some(ch) =
            message::all(&resp.headers, name).find_map(|v| crate::digest::parse_challenge(v).ok())
        else {
            return false;
        };
        let uri = self.target.uri.to_string();
        let cnonce = message::random_token(12);
        let c = crate::digest::authorize(&ch, "INVITE", &uri, &user, &password, &cnonce, 1);
        let header = if proxy {
            Header::ProxyAuthorization(rsip::headers::ProxyAuthorization::new(c.to_string()))
        } else {
            Header::Authorization(rsip::headers::Authorization::new(c.to_string()))
        };
        self.authorized = true;
        self.cseq += 1;
        self.invite = self.build_invite(Some(header));
        self.send(self.invite.clone());
        true
    }

    fn send(&mut self, request: Request) {
        self.outputs.push_back(Output::Request {
            request,
            dest: self.target.dest,
            transport: self.target.transport,
        });
    }

    /// The INVITE with the current CSeq, a new branch, and `auth` if given.
    fn build_invite(&self, auth: Option<Header>) -> Request {
        let t = &self.target;
        let mut headers = Headers::default();
        headers.push(Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{} {};branch={};rport",
            t.transport.as_via(),
            t.via_host,
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
        headers.push(Header::Contact(rsip::headers::Contact::new(
            t.contact.clone(),
        )));
        if let Some(pai) = &t.asserted {
            headers.push(Header::Other("P-Asserted-Identity".into(), pai.clone()));
        }
        for h in &t.extra {
            headers.push(h.clone());
        }
        if let Some(a) = auth {
            headers.push(a);
        }
        headers.push(Header::Allow(rsip::headers::Allow::new(ALLOW)));
        headers.push(Header::Supported(rsip::headers::Supported::new(SUPPORTED)));
        let mut invite = Request {
            method: Method::Invite,
            uri: t.uri.clone(),
            version: rsip::Version::V2,
            headers,
            body: vec![],
        };
        message::set_body(
            &mut invite.headers,
            &mut invite.body,
            "application/sdp",
            self.offer.clone().into_bytes(),
        );
        invite
    }
}
