//! The transaction layer of RFC 3261 §17, sans-IO.
//!
//! [`TransactionLayer`] owns every client and server transaction. It never touches a socket
//! or a clock: the driver feeds it what arrived ([`TransactionLayer::handle_message`]), what
//! the user (the call controller) wants to send ([`TransactionLayer::respond`],
//! [`TransactionLayer::send_request`]) and the time ([`TransactionLayer::handle_timeout`]),
//! then drains its outputs. After **every** input, call in this order until each is empty:
//!
//! 1. [`poll_transmit`](TransactionLayer::poll_transmit) — datagrams to send;
//! 2. [`poll_event`](TransactionLayer::poll_event) — what the user must act on;
//! 3. [`poll_timeout`](TransactionLayer::poll_timeout) — when to call `handle_timeout` next.
//!
//! Retransmitted requests are absorbed here (the last response is resent), INVITEs get
//! 100 Trying at once, CANCEL is answered here and reported, and 2xx responses to INVITE are
//! retransmitted until their ACK arrives (RFC 6026 "Accepted"), since the ACK to a 2xx is
//! its own transaction and would otherwise match nothing.

mod shards;
mod timer;

pub use timer::{Timer, TimerConfig};

use crate::message::{self, Info, Parsed, Transport};
use bytes::Bytes;
use rsip::{Method, Request, Response, SipMessage};
use shards::Shards;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Identifies a server transaction (§17.2.3): branch, sent-by, and method (ACK maps to INVITE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKey {
    branch: String,
    sent_by: String,
    method: Method,
}

/// Identifies a client transaction (§17.1.3): our branch and the CSeq method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey {
    branch: String,
    method: Method,
}

// rsip's Method is not Hash; its discriminant is.
impl std::hash::Hash for ServerKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.branch.hash(h);
        self.sent_by.hash(h);
        (self.method as u8).hash(h);
    }
}

impl std::hash::Hash for ClientKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.branch.hash(h);
        (self.method as u8).hash(h);
    }
}

impl ServerKey {
    fn of(info: &Info, method: Method) -> ServerKey {
        let branch = match &info.via.branch {
            Some(b) if b.starts_with(message::MAGIC_COOKIE) => b.clone(),
            // RFC 2543 peers: fall back on the dialog-ish identity of the request.
            other => format!(
                "{}|{}|{}|{}",
                other.as_deref().unwrap_or(""),
                info.call_id,
                info.cseq,
                info.from_tag.as_deref().unwrap_or("")
            ),
        };
        let method = if method == Method::Ack {
            Method::Invite
        } else {
            method
        };
        ServerKey {
            branch,
            sent_by: info.via.sent_by(),
            method,
        }
    }

    /// The method of the request that created the transaction.
    pub fn method(&self) -> Method {
        self.method
    }
}

impl ClientKey {
    /// The method of our request.
    pub fn method(&self) -> Method {
        self.method
    }
}

/// A datagram (or stream write) the driver must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub dest: SocketAddr,
    pub transport: Transport,
    pub data: Bytes,
}

/// What the transaction user must act on.
#[derive(Debug, Clone)]
pub enum Event {
    /// A new request (not a retransmission, not an ACK, not a CANCEL of ours to answer).
    Request {
        key: ServerKey,
        req: Request,
        info: Info,
        source: SocketAddr,
        transport: Transport,
        /// When it arrived (see [`TransactionLayer::handle_message`]): the user may refuse
        /// a request that has already waited too long for it to be worth starting.
        received: Instant,
    },
    /// An ACK to a 2xx we sent (or a stray ACK): dialog business.
    Ack {
        req: Request,
        info: Info,
        source: SocketAddr,
    },
    /// A CANCEL matched this INVITE server transaction; 200 to the CANCEL is already sent.
    /// If the INVITE has no final response yet, the user answers it 487.
    Cancelled { invite: ServerKey, call_id: String },
    /// A response to one of our requests (provisional or final, once each).
    Response {
        key: ClientKey,
        resp: Response,
        info: Info,
    },
    /// Timer B or F fired: no final response came (treat as 408).
    Timeout { key: ClientKey, call_id: String },
    /// We sent a 2xx to INVITE and no ACK came within 64·T1 (§13.3.1.4): end the call.
    AckTimeout { call_id: String, cseq: u32 },
}

/// Why a user request could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The server transaction is gone (already terminated or never existed).
    #[error("no such transaction")]
    NoTransaction,
    /// A final response was already sent on this transaction.
    #[error("transaction already has a final response")]
    AlreadyFinal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Client non-INVITE before any response; server non-INVITE before the user answers.
    Trying,
    /// Client INVITE before any response.
    Calling,
    Proceeding,
    Completed,
    /// Server INVITE after the ACK to a non-2xx final.
    Confirmed,
    /// After a 2xx to INVITE (RFC 6026).
    Accepted,
}

#[derive(Debug)]
struct Tx {
    kind: Kind,
    state: State,
    dest: SocketAddr,
    transport: Transport,
    /// Server: last response sent. Client: the request (retransmitted by A/E).
    last: Option<Bytes>,
    /// Client INVITE: the ACK we sent for a final response (resent on retransmissions).
    ack: Option<Bytes>,
    /// Current retransmission interval.
    interval: Duration,
    /// Timers armed, with their deadlines (a handful at most).
    timers: Vec<(Timer, Instant)>,
    /// INVITE server: Call-ID and CSeq, to match the ACK of a 2xx.
    call_id: String,
    cseq: u32,
    acked: bool,
    /// Client: our request, needed to build the ACK of a non-2xx (§17.1.1.3).
    request: Option<Request>,
}

impl Tx {
    fn new(
        kind: Kind,
        state: State,
        dest: SocketAddr,
        transport: Transport,
        info: &Info,
        t1: Duration,
    ) -> Tx {
        Tx {
            kind,
            state,
            dest,
            transport,
            last: None,
            ack: None,
            interval: t1,
            timers: Vec::new(),
            call_id: info.call_id.clone(),
            cseq: info.cseq,
            acked: false,
            request: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    Server(ServerKey),
    Client(ClientKey),
}

/// All transactions of one endpoint. See the module docs for the call order.
#[derive(Debug)]
pub struct TransactionLayer {
    cfg: TimerConfig,
    // Sharded: a single map this size stalls the endpoint when it grows (see `shards`).
    txs: Shards<u64, Tx>,
    servers: Shards<ServerKey, u64>,
    clients: Shards<ClientKey, u64>,
    /// (Call-ID, CSeq) of 2xx'd INVITEs → their server transaction, for ACK matching.
    accepted: Shards<(String, u32), u64>,
    heap: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    next_id: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl TransactionLayer {
    /// A layer with the given base timers.
    pub fn new(cfg: TimerConfig) -> Self {
        TransactionLayer {
            cfg,
            txs: Shards::default(),
            servers: Shards::default(),
            clients: Shards::default(),
            accepted: Shards::default(),
            heap: BinaryHeap::new(),
            next_id: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Live transactions (for metrics and leak tests).
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Whether an INVITE with this top Via (an RFC 3261 branch) already has its server
    /// transaction: a retransmission, to be absorbed by it, not answered anew.
    pub fn has_invite(&self, via: &message::TopVia) -> bool {
        let Some(branch) = via.branch.clone() else {
            return false;
        };
        let key = ServerKey {
            branch,
            sent_by: via.sent_by(),
            method: Method::Invite,
        };
        self.servers.get(&key).is_some()
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the user.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        // Drop stale heap entries so the driver does not wake for nothing.
        while let Some(Reverse((at, id, timer))) = self.heap.peek().copied() {
            if self.is_armed(id, timer, at) {
                return Some(at);
            }
            self.heap.pop();
        }
        self.shrink_heap();
        None
    }

    fn is_armed(&self, id: u64, timer: Timer, at: Instant) -> bool {
        self.txs
            .get(&id)
            .is_some_and(|tx| tx.timers.iter().any(|(t, d)| *t == timer && *d == at))
    }

    /// A message arrived from `source` over `transport` at `received` (at or before `now`:
    /// it may have waited in a socket's buffer or a queue on its way here).
    pub fn handle_message(
        &mut self,
        now: Instant,
        parsed: Parsed,
        source: SocketAddr,
        transport: Transport,
        received: Instant,
    ) {
        let Parsed { msg, info } = parsed;
        match msg {
            SipMessage::Request(mut req) => {
                message::stamp_top_via(&mut req, source);
                self.handle_request(now, req, info, source, transport, received)
            }
            SipMessage::Response(resp) => self.handle_response(now, resp, info),
        }
    }

    fn handle_request(
        &mut self,
        now: Instant,
        req: Request,
        info: Info,
        source: SocketAddr,
        transport: Transport,
        received: Instant,
    ) {
        let key = ServerKey::of(&info, req.method);
        if let Some(&id) = self.servers.get(&key) {
            return self.server_retransmission(now, id, &req, &info, source);
        }
        match req.method {
            Method::Ack => {
                // ACK to a 2xx: a new transaction by branch, matched by Call-ID and CSeq.
                if let Some(id) = self.accepted.remove(&(info.call_id.clone(), info.cseq)) {
                    if let Some(tx) = self.txs.get_mut(&id) {
                        tx.acked = true;
                        tx.timers.retain(|(t, _)| *t != Timer::G);
                    }
                }
                self.events.push_back(Event::Ack { req, info, source });
            }
            Method::Cancel => self.handle_cancel(now, req, info, source, transport, key),
            _ => {
                let dest = if transport.is_reliable() {
                    source
                } else {
                    message::response_destination(&info.via, source)
                };
                let is_invite = req.method == Method::Invite;
                let state = if is_invite {
                    State::Proceeding
                } else {
                    State::Trying
                };
                let tx = Tx::new(
                    Kind::Server(key.clone()),
                    state,
                    dest,
                    transport,
                    &info,
                    self.cfg.t1,
                );
                let id = self.insert(tx);
                if is_invite {
                    // §17.2.1: a 100 Trying at once stops the caller's INVITE retransmissions.
                    let trying = message::response(&req, 100, None);
                    self.send_server_response(id, trying);
                }
                self.events.push_back(Event::Request {
                    key,
                    req,
                    info,
                    source,
                    transport,
                    received,
                });
            }
        }
        let _ = now;
    }

    fn server_retransmission(
        &mut self,
        now: Instant,
        id: u64,
        req: &Request,
        info: &Info,
        _source: SocketAddr,
    ) {
        let cfg = self.cfg;
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        if req.method == Method::Ack {
            // ACK of a non-2xx final: Completed → Confirmed, stop G and H, start I.
            if tx.state == State::Completed {
                tx.state = State::Confirmed;
                tx.timers.clear();
                let reliable = tx.transport.is_reliable();
                self.arm(id, Timer::I, now + Timer::I.duration(&cfg, reliable));
            }
            return;
        }
        let _ = info;
        // A retransmitted request: resend what we last said (§17.2.1, §17.2.2); in Trying
        // there is nothing to say yet, and after a 2xx was ACKed the dialog has moved on.
        if tx.state == State::Accepted && tx.acked {
            return;
        }
        if let Some(last) = tx.last.clone() {
            self.transmits.push_back(Transmit {
                dest: tx.dest,
                transport: tx.transport,
                data: last,
            });
        }
    }

    fn handle_cancel(
        &mut self,
        now: Instant,
        req: Request,
        info: Info,
        source: SocketAddr,
        transport: Transport,
        key: ServerKey,
    ) {
        let dest = if transport.is_reliable() {
            source
        } else {
            message::response_destination(&info.via, source)
        };
        let invite_key = ServerKey {
            method: Method::Invite,
            ..key.clone()
        };
        let found = self.servers.get(&invite_key).copied();
        let code = if found.is_some() { 200 } else { 481 };
        // The CANCEL is its own non-INVITE server transaction, answered right here.
        let id = self.insert(Tx::new(
            Kind::Server(key),
            State::Trying,
            dest,
            transport,
            &info,
            self.cfg.t1,
        ));
        let mut resp = message::response(&req, code, Some(&message::random_token(8)));
        message::fix_content_length(&mut resp.headers, 0);
        self.finish_server(now, id, resp);
        if let Some(inv) = found {
            if self
                .txs
                .get(&inv)
                .is_some_and(|t| t.state == State::Proceeding)
            {
                self.events.push_back(Event::Cancelled {
                    invite: invite_key,
                    call_id: info.call_id,
                });
            }
        }
    }

    /// Sends a response on a server transaction. Provisional responses keep it open; a final
    /// one moves it to Completed (or Accepted for a 2xx to INVITE) and arms its timers.
    pub fn respond(
        &mut self,
        now: Instant,
        key: &ServerKey,
        mut resp: Response,
    ) -> Result<(), TxError> {
        let id = *self.servers.get(key).ok_or(TxError::NoTransaction)?;
        let state = self
            .txs
            .get(&id)
            .map(|t| t.state)
            .ok_or(TxError::NoTransaction)?;
        if !matches!(state, State::Trying | State::Proceeding) {
            return Err(TxError::AlreadyFinal);
        }
        let body_len = resp.body.len();
        message::fix_content_length(&mut resp.headers, body_len);
        let code = resp.status_code.code();
        if code < 200 {
            if let Some(tx) = self.txs.get_mut(&id) {
                tx.state = State::Proceeding;
            }
            self.send_server_response(id, resp);
            return Ok(());
        }
        self.finish_server(now, id, resp);
        Ok(())
    }

    fn finish_server(&mut self, now: Instant, id: u64, resp: Response) {
        let cfg = self.cfg;
        let code = resp.status_code.code();
        self.send_server_response(id, resp);
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        let reliable = tx.transport.is_reliable();
        let Kind::Server(key) = &tx.kind else { return };
        if key.method == Method::Invite {
            tx.interval = cfg.t1;
            if (200..300).contains(&code) {
                tx.state = State::Accepted;
                self.accepted.insert((tx.call_id.clone(), tx.cseq), id);
                // The 2xx is retransmitted over any transport until ACKed (§13.3.1.4 says so
                // even for TCP, since a proxy on the path may be on UDP).
                self.arm(id, Timer::G, now + cfg.t1);
                self.arm(id, Timer::L, now + Timer::L.duration(&cfg, reliable));
            } else {
                tx.state = State::Completed;
                if !reliable {
                    self.arm(id, Timer::G, now + cfg.t1);
                }
                self.arm(id, Timer::H, now + Timer::H.duration(&cfg, reliable));
            }
        } else {
            tx.state = State::Completed;
            self.arm(id, Timer::J, now + Timer::J.duration(&cfg, reliable));
        }
    }

    fn send_server_response(&mut self, id: u64, resp: Response) {
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        let data = Bytes::from(resp.to_string());
        tx.last = Some(data.clone());
        self.transmits.push_back(Transmit {
            dest: tx.dest,
            transport: tx.transport,
            data,
        });
    }

    /// Starts a client transaction for `req` (which must carry our Via with a fresh branch,
    /// see [`message::new_branch`]) towards `dest`. Returns its key.
    pub fn send_request(
        &mut self,
        now: Instant,
        mut req: Request,
        dest: SocketAddr,
        transport: Transport,
    ) -> Result<ClientKey, crate::message::ParseError> {
        let body_len = req.body.len();
        message::fix_content_length(&mut req.headers, body_len);
        let info = Info::extract(&req.headers)?;
        let key = ClientKey {
            branch: info.via.branch.clone().unwrap_or_default(),
            method: req.method,
        };
        let is_invite = req.method == Method::Invite;
        let data = Bytes::from(req.to_string());
        let reliable = transport.is_reliable();
        let mut tx = Tx::new(
            Kind::Client(key.clone()),
            if is_invite {
                State::Calling
            } else {
                State::Trying
            },
            dest,
            transport,
            &info,
            self.cfg.t1,
        );
        tx.last = Some(data.clone());
        tx.request = is_invite.then_some(req);
        let id = self.insert(tx);
        self.transmits.push_back(Transmit {
            dest,
            transport,
            data,
        });
        let cfg = self.cfg;
        let (retrans, give_up) = if is_invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if !reliable {
            self.arm(id, retrans, now + cfg.t1);
        }
        self.arm(id, give_up, now + give_up.duration(&cfg, reliable));
        Ok(key)
    }

    /// Sends a request outside any transaction: the ACK to a 2xx (§13.2.2.4), built by the
    /// dialog. It is remembered so a retransmitted 2xx gets the same ACK again.
    pub fn send_ack_for_2xx(
        &mut self,
        invite: &ClientKey,
        mut ack: Request,
        dest: SocketAddr,
        transport: Transport,
    ) {
        message::fix_content_length(&mut ack.headers, ack.body.len());
        let data = Bytes::from(ack.to_string());
        if let Some(tx) = self.clients.get(invite).and_then(|id| self.txs.get_mut(id)) {
            tx.ack = Some(data.clone());
        }
        self.transmits.push_back(Transmit {
            dest,
            transport,
            data,
        });
    }

    fn handle_response(&mut self, now: Instant, resp: Response, info: Info) {
        let Some(branch) = info.via.branch.clone() else {
            return;
        };
        let key = ClientKey {
            branch,
            method: info.cseq_method,
        };
        let Some(&id) = self.clients.get(&key) else {
            tracing::debug!(call_id = %info.call_id, "response matches no transaction, dropped");
            return;
        };
        let cfg = self.cfg;
        let code = resp.status_code.code();
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        let reliable = tx.transport.is_reliable();
        let is_invite = key.method == Method::Invite;
        match (tx.state, code) {
            (State::Calling | State::Trying | State::Proceeding, 100..=199) => {
                tx.state = State::Proceeding;
                if is_invite {
                    tx.timers.clear(); // A and B stop; the user times out ringing itself
                }
                self.events.push_back(Event::Response { key, resp, info });
            }
            (State::Calling | State::Proceeding, 200..=299) if is_invite => {
                tx.state = State::Accepted;
                tx.timers.clear();
                self.arm(id, Timer::M, now + Timer::M.duration(&cfg, reliable));
                self.events.push_back(Event::Response { key, resp, info });
            }
            (State::Accepted, 200..=299) => {
                // A retransmitted 2xx: our ACK was lost; send it again.
                if let Some(ack) = tx.ack.clone() {
                    self.transmits.push_back(Transmit {
                        dest: tx.dest,
                        transport: tx.transport,
                        data: ack,
                    });
                }
            }
            (State::Calling | State::Proceeding, _) if is_invite => {
                tx.state = State::Completed;
                tx.timers.clear();
                if let Some(ack) = tx.request.as_ref().map(|r| ack_for_failure(r, &resp)) {
                    let data = Bytes::from(ack.to_string());
                    tx.ack = Some(data.clone());
                    self.transmits.push_back(Transmit {
                        dest: tx.dest,
                        transport: tx.transport,
                        data,
                    });
                }
                self.arm(id, Timer::D, now + Timer::D.duration(&cfg, reliable));
                self.events.push_back(Event::Response { key, resp, info });
            }
            (State::Completed, _) if is_invite => {
                if let Some(ack) = tx.ack.clone() {
                    self.transmits.push_back(Transmit {
                        dest: tx.dest,
                        transport: tx.transport,
                        data: ack,
                    });
                }
            }
            (State::Trying | State::Proceeding, _) => {
                tx.state = State::Completed;
                tx.timers.clear();
                self.arm(id, Timer::K, now + Timer::K.duration(&cfg, reliable));
                self.events.push_back(Event::Response { key, resp, info });
            }
            _ => {} // retransmitted final in Completed: absorbed
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id, timer))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if !self.is_armed(id, timer, at) {
                continue;
            }
            if let Some(tx) = self.txs.get_mut(&id) {
                tx.timers.retain(|(t, d)| !(*t == timer && *d == at));
            }
            self.fire(now, id, timer);
        }
        self.shrink_heap();
    }

    /// Like the maps (`shards`), the timer heap gives back the room a peak left behind.
    fn shrink_heap(&mut self) {
        if self.heap.capacity() >= 4096 && self.heap.len() < self.heap.capacity() / 8 {
            self.heap.shrink_to(self.heap.len() * 2);
        }
    }

    fn fire(&mut self, now: Instant, id: u64, timer: Timer) {
        let cfg = self.cfg;
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        match timer {
            Timer::A | Timer::E | Timer::G => {
                if let Some(data) = tx.last.clone() {
                    self.transmits.push_back(Transmit {
                        dest: tx.dest,
                        transport: tx.transport,
                        data,
                    });
                }
                // Non-INVITE clients in Proceeding retransmit at T2 (§17.1.2.2).
                tx.interval = if timer == Timer::E && tx.state == State::Proceeding {
                    cfg.t2
                } else {
                    timer.backoff(tx.interval, &cfg)
                };
                let next = now + tx.interval;
                self.arm(id, timer, next);
            }
            Timer::B | Timer::F => {
                let Kind::Client(key) = tx.kind.clone() else {
                    return;
                };
                self.events.push_back(Event::Timeout {
                    key,
                    call_id: tx.call_id.clone(),
                });
                self.remove(id);
            }
            Timer::L => {
                if !tx.acked {
                    self.events.push_back(Event::AckTimeout {
                        call_id: tx.call_id.clone(),
                        cseq: tx.cseq,
                    });
                }
                self.remove(id);
            }
            Timer::H => {
                tracing::debug!(call_id = %tx.call_id, "no ACK for a final response (Timer H)");
                self.remove(id);
            }
            Timer::D | Timer::I | Timer::J | Timer::K | Timer::M => self.remove(id),
        }
    }

    fn insert(&mut self, tx: Tx) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        match &tx.kind {
            Kind::Server(k) => self.servers.insert(k.clone(), id),
            Kind::Client(k) => self.clients.insert(k.clone(), id),
        };
        self.txs.insert(id, tx);
        id
    }

    fn remove(&mut self, id: u64) {
        if let Some(tx) = self.txs.remove(&id) {
            match tx.kind {
                Kind::Server(k) => self.servers.remove(&k),
                Kind::Client(k) => self.clients.remove(&k),
            };
            if self.accepted.get(&(tx.call_id.clone(), tx.cseq)) == Some(&id) {
                self.accepted.remove(&(tx.call_id, tx.cseq));
            }
        }
    }

    fn arm(&mut self, id: u64, timer: Timer, at: Instant) {
        if let Some(tx) = self.txs.get_mut(&id) {
            tx.timers.retain(|(t, _)| *t != timer);
            tx.timers.push((timer, at));
            self.heap.push(Reverse((at, id, timer)));
        }
    }
}

/// The ACK for a non-2xx final response to our INVITE (§17.1.1.3): same Request-URI,
/// top Via, From, Call-ID and CSeq number as the INVITE, To from the response.
fn ack_for_failure(invite: &Request, resp: &Response) -> Request {
    use rsip::headers::untyped::UntypedHeader;
    use rsip::Header;
    let mut headers = rsip::Headers::default();
    let mut via_done = false;
    for h in invite.headers.iter() {
        match h {
            Header::Via(_) if !via_done => {
                via_done = true;
                headers.push(h.clone());
            }
            Header::From(_) | Header::CallId(_) | Header::Route(_) | Header::MaxForwards(_) => {
                headers.push(h.clone())
            }
            Header::CSeq(c) => {
                let n = c
                    .value()
                    .split_whitespace()
                    .next()
                    .unwrap_or("1")
                    .to_string();
                headers.push(Header::CSeq(rsip::headers::CSeq::new(format!("{n} ACK"))));
            }
            _ => {}
        }
    }
    if let Some(to) = resp.headers.iter().find(|h| matches!(h, Header::To(_))) {
        headers.push(to.clone());
    }
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        "0",
    )));
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        version: rsip::Version::V2,
        headers,
        body: vec![],
    }
}

#[cfg(test)]
mod tests;
