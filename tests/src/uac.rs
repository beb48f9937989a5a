//! A small scripted SIP user agent for tests that need a phone doing what SIPp scenarios
//! cannot chain: keeping two dialogs at once and referring one to the other (an attended
//! transfer: REFER with `Replaces`, RFC 3891 / RFC 5589).
//!
//! A [`Phone`] is one UDP socket on 127.0.0.1 talking only to the hotline (every request and
//! response goes to `server`, whatever the Request-URI: the hotline is a B2BUA, so it is
//! every dialog's remote target). It is driven from the test's thread and does nothing in
//! the background: whatever arrives while a method waits is handled then — BYE, NOTIFY,
//! OPTIONS and re-INVITEs are answered (NOTIFY bodies are kept), new INVITEs are queued for
//! [`Phone::answer`]. Between steps of a scenario, pace with [`Phone::pump`] rather than
//! sleeping, so the hotline's requests are answered on time.
//!
//! Requests carry Via (with `rport`), Max-Forwards, From/To with tags, Call-ID, CSeq,
//! Contact and Content-Length, and are retransmitted on RFC 3261 timers (T1 = 500 ms,
//! doubling; non-INVITE capped at T2 = 4 s) until a response, for at most 64·T1. A 401 or
//! 407 is answered once with MD5 digest credentials (`qop=auth` when offered). Every
//! message sent and received is kept in [`Phone::trace_text`] for failure reports.

use crate::sip::{header, method, status};
use md5::{Digest, Md5};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// RFC 3261 timer T1 (round-trip estimate).
const T1: Duration = Duration::from_millis(500);
/// RFC 3261 timer T2 (the cap on non-INVITE retransmission intervals).
const T2: Duration = Duration::from_secs(4);

/// A handle on one of the phone's dialogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialogId(usize);

/// An INVITE dialog (RFC 3261 §12) as this phone sees it.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    /// Our tag and the hotline's.
    pub local_tag: String,
    pub remote_tag: String,
    /// Our and the peer's name-addr (From/To values without their tags).
    pub local_uri: String,
    pub remote_uri: String,
    /// The peer's Contact URI: the Request-URI of our in-dialog requests.
    pub remote_target: String,
    /// Route headers for in-dialog requests (from Record-Route), in order.
    pub route_set: Vec<String>,
    /// Our last CSeq number in this dialog.
    pub cseq: u32,
    /// Where this dialog's SDP says we receive RTP.
    pub media_port: u16,
    /// A BYE was received or sent.
    pub ended: bool,
}

/// A scripted softphone for one agent (see the module docs).
pub struct Phone {
    socket: UdpSocket,
    pub local: SocketAddr,
    pub server: SocketAddr,
    pub user: String,
    password: String,
    /// Where the SDP of the next call made or answered says we receive RTP (each dialog
    /// keeps its own: set another one before a second call to tell their audio apart).
    pub media_port: u16,
    counter: u32,
    started: Instant,
    dialogs: Vec<Dialog>,
    /// New INVITEs not answered yet.
    offers: Vec<String>,
    /// Our response to each request received (by Via branch and CSeq), re-sent when the
    /// request is retransmitted.
    answered: Vec<(String, String)>,
    /// ACKs received, as `Call-ID CSeq-number`.
    acks_received: Vec<String>,
    /// ACKs we sent for 2xx responses to our INVITEs (`Call-ID CSeq-number`, ACK),
    /// re-sent when the 2xx is retransmitted.
    acks_sent: Vec<(String, String)>,
    /// Bodies of the NOTIFYs received, in order (trimmed).
    notifies: Vec<String>,
    trace: Vec<String>,
}

impl Phone {
    /// A phone for `user`/`password` on 127.0.0.1:`sip_port` (0: any free port), talking to
    /// the hotline at `server`, offering RTP at `media_port`.
    pub fn bind(
        server: SocketAddr,
        user: &str,
        password: &str,
        sip_port: u16,
        media_port: u16,
    ) -> Phone {
        let socket = UdpSocket::bind(("127.0.0.1", sip_port))
            .unwrap_or_else(|e| panic!("bind SIP port {sip_port}: {e}"));
        let local = socket.local_addr().unwrap();
        Phone {
            socket,
            local,
            server,
            user: user.into(),
            password: password.into(),
            media_port,
            counter: 0,
            started: Instant::now(),
            dialogs: Vec::new(),
            offers: Vec::new(),
            answered: Vec::new(),
            acks_received: Vec::new(),
            acks_sent: Vec::new(),
            notifies: Vec::new(),
            trace: Vec::new(),
        }
    }

    /// A dialog's state.
    pub fn dialog(&self, id: DialogId) -> &Dialog {
        &self.dialogs[id.0]
    }

    /// The bodies of the NOTIFYs received so far (e.g. `SIP/2.0 100 Trying`), in order.
    pub fn notify_bodies(&self) -> &[String] {
        &self.notifies
    }

    /// Every message sent (`>>`) and received (`<<`) so far, with its time since the
    /// phone was made.
    pub fn trace_text(&self) -> String {
        self.trace.join("\n")
    }

    /// REGISTERs our Contact for `expires` seconds; the final status (None: no answer).
    pub fn register(&mut self, expires: u32) -> Option<u16> {
        let uri = format!("sip:{}", self.server);
        let aor = format!("<sip:{}@{}>", self.user, self.server.ip());
        let (call_id, tag) = (self.call_id(), self.tag());
        let extra = format!("Expires: {expires}\r\n");
        let (resp, _) = self.send_authenticated("REGISTER", &uri, &aor, &call_id, &tag, &extra, "");
        resp.as_deref().and_then(status)
    }

    /// Calls `number` at the hotline (`sip:number@server`) offering PCMU at our media port,
    /// authenticating if challenged, and ACKs the 2xx. Ok: the new dialog; Err: the final
    /// response (or `"no response"`).
    pub fn call(&mut self, number: &str) -> Result<DialogId, String> {
        let uri = format!("sip:{number}@{}", self.server);
        let to = format!("<{uri}>");
        let (call_id, tag) = (self.call_id(), self.tag());
        let sdp = sdp(self.media_port);
        let extra = "Content-Type: application/sdp\r\nSupported: replaces\r\n";
        let (resp, cseq) =
            self.send_authenticated("INVITE", &uri, &to, &call_id, &tag, extra, &sdp);
        let resp = resp.ok_or_else(|| "no response".to_string())?;
        if !status(&resp).is_some_and(|c| (200..300).contains(&c)) {
            return Err(resp);
        }
        let to_value = header(&resp, "To").unwrap_or_default();
        let mut route_set: Vec<String> = all_headers(&resp, "Record-Route")
            .into_iter()
            .map(String::from)
            .collect();
        route_set.reverse();
        let id = DialogId(self.dialogs.len());
        self.dialogs.push(Dialog {
            call_id: call_id.clone(),
            local_tag: tag,
            remote_tag: param(to_value, "tag").unwrap_or_default().to_string(),
            local_uri: format!("<sip:{}@{}>", self.user, self.server.ip()),
            remote_uri: without_tag(to_value),
            remote_target: header(&resp, "Contact").map_or(uri, |c| uri_of(c).to_string()),
            route_set,
            cseq,
            media_port: self.media_port,
            ended: false,
        });
        // The ACK of a 2xx is a new transaction, sent to the remote target.
        let branch = self.branch();
        let ack = self.in_dialog_request(id, "ACK", &branch, cseq, "", "");
        self.send(&ack);
        self.acks_sent.push((format!("{call_id} {cseq}"), ack));
        Ok(id)
    }

    /// Waits (at most `limit`) for an INVITE offering a call, answers 180 then 200 with our
    /// SDP, and waits for the ACK (retransmitting the 200 meanwhile). None if no INVITE came
    /// or it was never ACKed.
    pub fn answer(&mut self, limit: Duration) -> Option<DialogId> {
        let deadline = Instant::now() + limit;
        while self.offers.is_empty() {
            if Instant::now() >= deadline {
                return None;
            }
            if let Some(r) = self.recv_one(deadline) {
                self.stray_response(&r);
            }
        }
        let invite = self.offers.remove(0);
        let tag = self.tag();
        let contact = self.contact_header();
        let ringing = response(&invite, 180, "Ringing", Some(&tag), &contact, "");
        self.send(&ringing);
        let sdp = sdp(self.media_port);
        let extra = format!("{contact}Content-Type: application/sdp\r\nSupported: replaces\r\n");
        let ok = response(&invite, 200, "OK", Some(&tag), &extra, &sdp);
        self.send(&ok);
        self.answered.push((transaction_key(&invite), ok.clone()));
        let from = header(&invite, "From").unwrap_or_default();
        let call_id = header(&invite, "Call-ID").unwrap_or_default().to_string();
        let id = DialogId(self.dialogs.len());
        self.dialogs.push(Dialog {
            call_id: call_id.clone(),
            local_tag: tag,
            remote_tag: param(from, "tag").unwrap_or_default().to_string(),
            local_uri: without_tag(header(&invite, "To").unwrap_or_default()),
            remote_uri: without_tag(from),
            remote_target: header(&invite, "Contact")
                .map_or_else(|| format!("sip:{}", self.server), |c| uri_of(c).to_string()),
            route_set: all_headers(&invite, "Record-Route")
                .into_iter()
                .map(String::from)
                .collect(),
            cseq: 0,
            media_port: self.media_port,
            ended: false,
        });
        // Timer G: the 200 again at T1, 2·T1, … (capped at T2) until the ACK, for 64·T1.
        let ack_key = format!("{call_id} {}", cseq_number(&invite));
        let give_up = Instant::now() + 64 * T1;
        let mut interval = T1;
        let mut next = Instant::now() + interval;
        while !self.acks_received.contains(&ack_key) {
            let now = Instant::now();
            if now >= give_up {
                return None;
            }
            if now >= next {
                self.send(&ok);
                interval = (interval * 2).min(T2);
                next = now + interval;
            }
            if let Some(r) = self.recv_one(next.min(give_up)) {
                self.stray_response(&r);
            }
        }
        Some(id)
    }

    /// Sends REFER on dialog `on` asking the hotline to connect its peer with `number`,
    /// replacing our dialog `replacing` with `number` (`Refer-To: <sip:number@server?
    /// Replaces=…>`, with `Referred-By`). Returns the final response (None: no answer).
    pub fn refer_replaces(
        &mut self,
        on: DialogId,
        number: &str,
        replacing: DialogId,
    ) -> Option<String> {
        let r = &self.dialogs[replacing.0];
        let refer_to = format!(
            "<sip:{number}@{}?Replaces={}>",
            self.server,
            replaces_value(&r.call_id, &r.remote_tag, &r.local_tag)
        );
        let extra = format!(
            "Refer-To: {refer_to}\r\nReferred-By: <sip:{}@{}>\r\n",
            self.user,
            self.server.ip()
        );
        self.request_in_dialog(on, "REFER", &extra, "")
    }

    /// Hangs up dialog `id` (BYE); the final status (None: no answer). The dialog counts
    /// as ended either way.
    pub fn bye(&mut self, id: DialogId) -> Option<u16> {
        self.dialogs[id.0].ended = true;
        self.request_in_dialog(id, "BYE", "", "")
            .as_deref()
            .and_then(status)
    }

    /// Handles whatever arrives for `duration` (pacing a scenario without going deaf).
    pub fn pump(&mut self, duration: Duration) {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            if let Some(r) = self.recv_one(end) {
                self.stray_response(&r);
            }
        }
    }

    /// Handles what arrives until every dialog in `ids` has ended (true) or `limit` passed
    /// (false).
    pub fn wait_ended(&mut self, ids: &[DialogId], limit: Duration) -> bool {
        self.wait_until(limit, |p| ids.iter().all(|&id| p.dialogs[id.0].ended))
    }

    /// Handles what arrives until `n` NOTIFYs were received (true) or `limit` passed.
    pub fn wait_notifies(&mut self, n: usize, limit: Duration) -> bool {
        self.wait_until(limit, |p| p.notifies.len() >= n)
    }

    fn wait_until(&mut self, limit: Duration, done: impl Fn(&Phone) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            if let Some(r) = self.recv_one(deadline) {
                self.stray_response(&r);
            }
        }
    }

    // ---- requests we send ----

    /// An out-of-dialog request (`method` to `uri`, To `to`), sent and retransmitted until
    /// final; a 401/407 is answered once with credentials (same Call-ID, CSeq + 1; for an
    /// INVITE, the challenge is ACKed first). The final response and the CSeq it answered.
    #[allow(clippy::too_many_arguments)]
    fn send_authenticated(
        &mut self,
        method: &str,
        uri: &str,
        to: &str,
        call_id: &str,
        tag: &str,
        extra: &str,
        body: &str,
    ) -> (Option<String>, u32) {
        let mut cseq = 1;
        let mut auth = String::new();
        loop {
            let branch = self.branch();
            let req = format!(
                "{method} {uri} SIP/2.0\r\n\
                 Via: {via}\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:{user}@{host}>;tag={tag}\r\n\
                 To: {to}\r\n\
                 Call-ID: {call_id}\r\n\
                 CSeq: {cseq} {method}\r\n\
                 {contact}{auth}{extra}\
                 Content-Length: {len}\r\n\r\n{body}",
                via = self.via(&branch),
                user = self.user,
                host = self.server.ip(),
                contact = self.contact_header(),
                len = body.len(),
            );
            let Some(resp) = self.transact(&req, &branch, method) else {
                return (None, cseq);
            };
            let code = status(&resp).unwrap_or(0);
            if method == "INVITE" && code >= 300 {
                // The ACK of a non-2xx final response: same branch, the response's To.
                let ack = format!(
                    "ACK {uri} SIP/2.0\r\n\
                     Via: {via}\r\n\
                     Max-Forwards: 70\r\n\
                     From: <sip:{user}@{host}>;tag={tag}\r\n\
                     To: {rto}\r\n\
                     Call-ID: {call_id}\r\n\
                     CSeq: {cseq} ACK\r\n\
                     Content-Length: 0\r\n\r\n",
                    via = self.via(&branch),
                    user = self.user,
                    host = self.server.ip(),
                    rto = header(&resp, "To").unwrap_or(to),
                );
                self.send(&ack);
            }
            let (challenge_header, answer_header) = match code {
                401 => ("WWW-Authenticate", "Authorization"),
                407 => ("Proxy-Authenticate", "Proxy-Authorization"),
                _ => return (Some(resp), cseq),
            };
            let challenge = all_headers(&resp, challenge_header)
                .iter()
                .filter_map(|h| Challenge::parse(h))
                .find(|c| c.algorithm.eq_ignore_ascii_case("MD5"));
            let (Some(challenge), true) = (challenge, auth.is_empty()) else {
                return (Some(resp), cseq);
            };
            let cnonce = format!(
                "{:08x}{:04x}",
                self.started.elapsed().as_nanos() as u32,
                cseq
            );
            let value =
                challenge.authorization(&self.user, &self.password, method, uri, &cnonce, 1);
            auth = format!("{answer_header}: {value}\r\n");
            cseq += 1;
        }
    }

    /// Sends `method` in dialog `id` and waits for its final response.
    fn request_in_dialog(
        &mut self,
        id: DialogId,
        method: &str,
        extra: &str,
        body: &str,
    ) -> Option<String> {
        let branch = self.branch();
        self.dialogs[id.0].cseq += 1;
        let cseq = self.dialogs[id.0].cseq;
        let req = self.in_dialog_request(id, method, &branch, cseq, extra, body);
        self.transact(&req, &branch, method)
    }

    /// The text of an in-dialog request (§12.2.1.1).
    fn in_dialog_request(
        &self,
        id: DialogId,
        method: &str,
        branch: &str,
        cseq: u32,
        extra: &str,
        body: &str,
    ) -> String {
        let d = &self.dialogs[id.0];
        let routes: String = d
            .route_set
            .iter()
            .map(|r| format!("Route: {r}\r\n"))
            .collect();
        let contact = if method == "ACK" {
            String::new()
        } else {
            self.contact_header()
        };
        format!(
            "{method} {target} SIP/2.0\r\n\
             Via: {via}\r\n\
             Max-Forwards: 70\r\n\
             {routes}\
             From: {luri};tag={ltag}\r\n\
             To: {ruri};tag={rtag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             {contact}{extra}\
             Content-Length: {len}\r\n\r\n{body}",
            target = d.remote_target,
            via = self.via(branch),
            luri = d.local_uri,
            ltag = d.local_tag,
            ruri = d.remote_uri,
            rtag = d.remote_tag,
            call_id = d.call_id,
            len = body.len(),
        )
    }

    /// Sends `req` and waits for its final response, retransmitting on timers A/E (INVITE:
    /// T1 doubling until a provisional response; others: doubling up to T2). Requests
    /// arriving meanwhile are handled. None after 64·T1 without a final response.
    fn transact(&mut self, req: &str, branch: &str, method: &str) -> Option<String> {
        self.send(req);
        let give_up = Instant::now() + 64 * T1;
        let mut interval = T1;
        let mut next = Some(Instant::now() + interval);
        loop {
            let now = Instant::now();
            if now >= give_up {
                return None;
            }
            if next.is_some_and(|at| now >= at) {
                self.send(req);
                interval = if method == "INVITE" {
                    interval * 2
                } else {
                    (interval * 2).min(T2)
                };
                next = Some(now + interval);
            }
            let Some(resp) = self.recv_one(next.map_or(give_up, |n| n.min(give_up))) else {
                continue;
            };
            let ours = header(&resp, "Via").and_then(|v| param(v, "branch")) == Some(branch)
                && cseq_method(&resp) == Some(method);
            if !ours {
                self.stray_response(&resp);
                continue;
            }
            match status(&resp) {
                Some(c) if c >= 200 => return Some(resp),
                // A provisional response: INVITE stops retransmitting, others slow to T2.
                _ if method == "INVITE" => next = None,
                _ => interval = T2,
            }
        }
    }

    /// A response no transaction waits for: a retransmitted 2xx to one of our INVITEs gets
    /// its ACK again; anything else is dropped.
    fn stray_response(&mut self, resp: &str) {
        let is_2xx = status(resp).is_some_and(|c| (200..300).contains(&c));
        if cseq_method(resp) != Some("INVITE") || !is_2xx {
            return;
        }
        let key = format!(
            "{} {}",
            header(resp, "Call-ID").unwrap_or_default(),
            cseq_number(resp)
        );
        if let Some((_, ack)) = self.acks_sent.iter().find(|(k, _)| *k == key) {
            let ack = ack.clone();
            self.send(&ack);
        }
    }

    // ---- what arrives ----

    /// Reads one datagram (waiting until `until` at most). A response is returned; a
    /// request is handled here (None).
    fn recv_one(&mut self, until: Instant) -> Option<String> {
        let wait = until
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        self.socket.set_read_timeout(Some(wait)).unwrap();
        let mut buf = vec![0u8; 65_536];
        let (n, _) = self.socket.recv_from(&mut buf).ok()?;
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        self.log("<<", &msg);
        if status(&msg).is_some() {
            return Some(msg);
        }
        self.handle_request(&msg);
        None
    }

    /// Answers a request from the hotline: BYE, NOTIFY, OPTIONS, INFO, UPDATE and
    /// re-INVITEs get 200 (a BYE ends its dialog, a NOTIFY's body is kept), a new INVITE
    /// waits for [`Phone::answer`], a CANCEL ends an unanswered INVITE with 487, anything
    /// else gets 405. A retransmitted request gets the same response again.
    fn handle_request(&mut self, req: &str) {
        let Some(m) = method(req).map(str::to_string) else {
            return;
        };
        let key = transaction_key(req);
        if m == "ACK" {
            let call_id = header(req, "Call-ID").unwrap_or_default();
            self.acks_received
                .push(format!("{call_id} {}", cseq_number(req)));
            return;
        }
        if let Some((_, resp)) = self.answered.iter().find(|(k, _)| *k == key) {
            let resp = resp.clone();
            self.send(&resp);
            return;
        }
        let to_tag = header(req, "To").and_then(|t| param(t, "tag"));
        let resp = match m.as_str() {
            "INVITE" if to_tag.is_none() => {
                if !self.offers.iter().any(|o| transaction_key(o) == key) {
                    self.offers.push(req.to_string());
                }
                return;
            }
            "INVITE" => {
                let port = self
                    .dialog_of(req)
                    .map_or(self.media_port, |d| self.dialogs[d.0].media_port);
                let extra = format!("{}Content-Type: application/sdp\r\n", self.contact_header());
                response(req, 200, "OK", None, &extra, &sdp(port))
            }
            "BYE" => {
                if let Some(d) = self.dialog_of(req) {
                    self.dialogs[d.0].ended = true;
                }
                response(req, 200, "OK", None, "", "")
            }
            "NOTIFY" => {
                self.notifies.push(body(req).trim().to_string());
                response(req, 200, "OK", None, "", "")
            }
            "OPTIONS" | "INFO" | "UPDATE" => response(req, 200, "OK", None, "", ""),
            "CANCEL" => {
                let branch = header(req, "Via").and_then(|v| param(v, "branch"));
                if let Some(i) = self
                    .offers
                    .iter()
                    .position(|o| header(o, "Via").and_then(|v| param(v, "branch")) == branch)
                {
                    let invite = self.offers.remove(i);
                    let tag = self.tag();
                    let terminated =
                        response(&invite, 487, "Request Terminated", Some(&tag), "", "");
                    self.send(&terminated);
                }
                response(req, 200, "OK", None, "", "")
            }
            _ => response(req, 405, "Method Not Allowed", None, "", ""),
        };
        self.send(&resp);
        self.answered.push((key, resp));
    }

    /// The dialog an in-dialog request from the hotline belongs to.
    fn dialog_of(&self, req: &str) -> Option<DialogId> {
        let call_id = header(req, "Call-ID")?;
        let to_tag = header(req, "To").and_then(|t| param(t, "tag"))?;
        let from_tag = header(req, "From").and_then(|f| param(f, "tag"))?;
        self.dialogs
            .iter()
            .position(|d| d.call_id == call_id && d.local_tag == to_tag && d.remote_tag == from_tag)
            .map(DialogId)
    }

    // ---- small pieces ----

    fn send(&mut self, msg: &str) {
        self.log(">>", msg);
        self.socket
            .send_to(msg.as_bytes(), self.server)
            .expect("send SIP datagram");
    }

    fn log(&mut self, dir: &str, msg: &str) {
        let t = self.started.elapsed().as_secs_f64();
        self.trace
            .push(format!("{dir} {t:.3}s\n{}", msg.trim_end()));
    }

    fn next(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    /// A unique token for tags, branches and Call-IDs.
    fn token(&mut self) -> String {
        let n = self.next();
        format!(
            "{:x}{:x}{n}",
            std::process::id(),
            self.started.elapsed().as_micros() as u32 ^ u32::from(self.local.port())
        )
    }

    fn tag(&mut self) -> String {
        format!("uac{}", self.token())
    }

    fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.token())
    }

    /// A Call-ID with a host part, as phones make them (its `@` is escaped in Replaces).
    fn call_id(&mut self) -> String {
        format!("{}@{}", self.token(), self.local.ip())
    }

    fn via(&self, branch: &str) -> String {
        format!("SIP/2.0/UDP {};branch={branch};rport", self.local)
    }

    fn contact_header(&self) -> String {
        format!("Contact: <sip:{}@{}>\r\n", self.user, self.local)
    }
}

/// Our SDP: PCMU at `port`.
fn sdp(port: u16) -> String {
    crate::sip::sdp(port, "0")
}

/// An MD5 digest challenge (`WWW-Authenticate` / `Proxy-Authenticate: Digest …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// `MD5` when the parameter is absent.
    pub algorithm: String,
    /// The challenge offers `qop=auth`.
    pub qop_auth: bool,
}

impl Challenge {
    /// Parses a `Digest` challenge (None for another scheme or without realm/nonce).
    pub fn parse(value: &str) -> Option<Challenge> {
        let (scheme, rest) = value.trim().split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let params = auth_params(rest);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            algorithm: get("algorithm").unwrap_or_else(|| "MD5".into()),
            qop_auth: get("qop")
                .is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth"))),
        })
    }

    /// The `Authorization` (or `Proxy-Authorization`) value answering this challenge for
    /// `method` `uri`, with client nonce `cnonce` and nonce count `nc` (used with qop).
    pub fn authorization(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let qop = self.qop_auth.then_some((nc, cnonce));
        let response = digest_response(user, &self.realm, password, method, uri, &self.nonce, qop);
        let mut v = format!(
            "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=MD5",
            self.realm, self.nonce
        );
        if self.qop_auth {
            v += &format!(", qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\"");
        }
        if let Some(o) = &self.opaque {
            v += &format!(", opaque=\"{o}\"");
        }
        v
    }
}

/// The MD5 digest response (RFC 2617 §3.2.2.1): `H(HA1:nonce:nc:cnonce:auth:HA2)` with
/// `qop` = Some((nc, cnonce)), else `H(HA1:nonce:HA2)`; HA1 = `H(user:realm:password)`,
/// HA2 = `H(method:uri)`.
pub fn digest_response(
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(u32, &str)>,
) -> String {
    let h = |s: String| format!("{:x}", Md5::digest(s.as_bytes()));
    let ha1 = h(format!("{user}:{realm}:{password}"));
    let ha2 = h(format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => h(format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")),
        None => h(format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// The value of a `Replaces` URI header (RFC 3891) naming a dialog, escaped for a
/// Refer-To URI: `CALLID%3Bto-tag%3DTT%3Bfrom-tag%3DFT`. `to_tag` is the tag of the party
/// that will receive the Replaces (here the hotline), `from_tag` the other one (ours).
pub fn replaces_value(call_id: &str, to_tag: &str, from_tag: &str) -> String {
    format!(
        "{}%3Bto-tag%3D{}%3Bfrom-tag%3D{}",
        escape(call_id),
        escape(to_tag),
        escape(from_tag)
    )
}

/// Percent-escapes everything but RFC 3261 `unreserved` characters.
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `name=value` pairs of an auth header (commas inside quotes kept, quotes removed).
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let (mut cur, mut quoted) = (String::new(), false);
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .iter()
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

/// Every value of header `name` (full name, case-insensitive), one line each.
fn all_headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    let head = msg.split("\r\n\r\n").next().unwrap_or(msg);
    head.lines()
        .skip(1)
        .filter_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

/// The body of a message (after the blank line).
fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Parameter `name` of a header value (`;tag=…`, `;branch=…`), outside the `<…>` URI.
fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let params = value.rfind('>').map_or(value, |i| &value[i + 1..]);
    params.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().split([',', ' ']).next().unwrap_or(""))
    })
}

/// A name-addr without its `;tag=` parameter.
fn without_tag(value: &str) -> String {
    let split = value.rfind('>').map_or(0, |i| i + 1);
    let (addr, params) = value.split_at(split);
    let kept: String = params
        .split(';')
        .skip(1)
        .filter(|p| !p.trim().to_ascii_lowercase().starts_with("tag="))
        .map(|p| format!(";{p}"))
        .collect();
    let addr = if split == 0 {
        params.split(';').next().unwrap_or("")
    } else {
        addr
    };
    format!("{}{kept}", addr.trim())
}

/// The URI of a name-addr (`<…>`) or addr-spec.
fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The method in a message's CSeq.
fn cseq_method(msg: &str) -> Option<&str> {
    header(msg, "CSeq")?.split_whitespace().nth(1)
}

/// The number in a message's CSeq (0 if missing).
fn cseq_number(msg: &str) -> u32 {
    header(msg, "CSeq")
        .and_then(|c| c.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What identifies a received request's transaction: its top Via branch and its CSeq.
fn transaction_key(req: &str) -> String {
    format!(
        "{} {}",
        header(req, "Via")
            .and_then(|v| param(v, "branch"))
            .unwrap_or_default(),
        header(req, "CSeq").unwrap_or_default()
    )
}

/// A response to `req`: its Vias, From, To (with `to_tag` added if it has none), Call-ID
/// and CSeq, then `extra` headers (each ending in CRLF) and `body`.
fn response(
    req: &str,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    let head = req.split("\r\n\r\n").next().unwrap_or(req);
    for line in head.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                out += line.trim_end();
                out += "\r\n";
            }
            "to" | "t" => {
                out += line.trim_end();
                if let (Some(tag), None) = (to_tag, param(value, "tag")) {
                    out += &format!(";tag={tag}");
                }
                out += "\r\n";
            }
            _ => {}
        }
    }
    format!("{out}{extra}Content-Length: {}\r\n\r\n{body}", body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5: Mufasa / "Circle Of Life", qop=auth.
    #[test]
    fn digest_matches_rfc_2617_example() {
        let r = digest_response(
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some((1, "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn challenge_parses_and_answers_with_qop() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(c.realm, "testrealm@host.com");
        assert_eq!(c.algorithm, "MD5");
        assert!(c.qop_auth);
        let v = c.authorization(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        assert!(
            v.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{v}"
        );
        assert!(v.contains("nc=00000001"), "{v}");
        assert!(
            v.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{v}"
        );
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
    }

    #[test]
    fn replaces_is_escaped_for_a_uri_header() {
        assert_eq!(
            replaces_value("abc123@127.0.0.1", "hot;1", "uac9"),
            "abc123%40127.0.0.1%3Bto-tag%3Dhot%3B1%3Bfrom-tag%3Duac9"
        );
    }

    #[test]
    fn header_values_split_into_uri_tag_and_rest() {
        let v = "\"Agent\" <sip:1001@127.0.0.1:5060;transport=udp>;tag=abc;x=1";
        assert_eq!(param(v, "tag"), Some("abc"));
        assert_eq!(uri_of(v), "sip:1001@127.0.0.1:5060;transport=udp");
        assert_eq!(
            without_tag(v),
            "\"Agent\" <sip:1001@127.0.0.1:5060;transport=udp>;x=1"
        );
        assert_eq!(without_tag("sip:a@b;tag=1"), "sip:a@b");
        let via = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx1;rport=5070";
        assert_eq!(param(via, "branch"), Some("z9hG4bKx1"));
    }
}
