//! The SIP driver: the one task that owns the transaction layer, the sockets and the clock.
//!
//! It parses what the transports receive, feeds the sans-IO [`TransactionLayer`], sends
//! what it must send, answers what needs no call (out-of-dialog OPTIONS, strays, errors),
//! and hands every other event to the call it belongs to, by Call-ID. Calls talk back
//! through [`EndpointHandle`]. Nothing here blocks or holds a lock across an `.await`.

use crate::call::{CallEvent, Calls, Invite};
use hotline_sip::message::{self, Transport};
use hotline_sip::transaction::{
    ClientKey, Event, ServerKey, TimerConfig, TransactionLayer, Transmit,
};
use hotline_sip::transport::{Incoming, Transports};
use rsip::headers::untyped::UntypedHeader;
use rsip::{Header, Method, Request, Response};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What a call asks the endpoint to do.
#[derive(Debug)]
pub enum Command {
    /// Send a response on a server transaction.
    Respond { key: ServerKey, resp: Response },
    /// Send the ACK of a 2xx to our INVITE (outside transactions, remembered for retransmitted 2xx).
    Ack {
        invite: ClientKey,
        ack: Request,
        dest: SocketAddr,
        transport: Transport,
    },
    /// Start a client transaction; its responses go to the call of the request's Call-ID.
    Request {
        req: Request,
        dest: SocketAddr,
        transport: Transport,
    },
}

/// Counters the status API shows.
#[derive(Debug, Default)]
pub struct SipStats {
    pub received: AtomicU64,
    pub malformed: AtomicU64,
    pub rejected_sources: AtomicU64,
}

/// How calls reach the endpoint task.
#[derive(Clone)]
pub struct EndpointHandle {
    cmds: mpsc::UnboundedSender<Command>,
    /// Our address as put in Via and Contact.
    pub advertised: SocketAddr,
    pub stats: Arc<SipStats>,
}

impl EndpointHandle {
    /// Sends a response (fire and forget: the layer owns retransmission).
    pub fn respond(&self, key: &ServerKey, resp: Response) {
        let _ = self.cmds.send(Command::Respond {
            key: key.clone(),
            resp,
        });
    }

    /// Sends the ACK for a 2xx response to our INVITE.
    pub fn ack(&self, invite: &ClientKey, ack: Request, dest: SocketAddr, transport: Transport) {
        let _ = self.cmds.send(Command::Ack {
            invite: invite.clone(),
            ack,
            dest,
            transport,
        });
    }

    /// Sends a request in a new client transaction.
    pub fn request(&self, req: Request, dest: SocketAddr, transport: Transport) {
        let _ = self.cmds.send(Command::Request {
            req,
            dest,
            transport,
        });
    }
}

/// Binds the transports and starts the endpoint task.
pub async fn start(
    listen: SocketAddr,
    advertised: Option<SocketAddr>,
    max_message: usize,
    t1: Duration,
    calls: Calls,
) -> anyhow::Result<EndpointHandle> {
    let (in_tx, in_rx) = mpsc::channel::<Incoming>(4096);
    let transports = Transports::bind(listen, max_message, in_tx).await?;
    let bound = transports.local_addr();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let handle = EndpointHandle {
        cmds: cmd_tx,
        advertised: advertised.unwrap_or(bound),
        stats: Arc::default(),
    };
    let cfg = TimerConfig {
        t1,
        ..TimerConfig::default()
    };
    let driver = Driver {
        layer: TransactionLayer::new(cfg),
        transports,
        calls,
        max_message,
        handle: handle.clone(),
    };
    tokio::spawn(driver.run(in_rx, cmd_rx));
    tracing::info!(%bound, "SIP listening on UDP and TCP");
    Ok(handle)
}

struct Driver {
    layer: TransactionLayer,
    transports: Transports,
    calls: Calls,
    max_message: usize,
    handle: EndpointHandle,
}

impl Driver {
    async fn run(
        mut self,
        mut incoming: mpsc::Receiver<Incoming>,
        mut cmds: mpsc::UnboundedReceiver<Command>,
    ) {
        loop {
            let deadline = self.layer.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = incoming.recv() => match msg {
                    Some(m) => self.on_incoming(m),
                    None => return,
                },
                cmd = cmds.recv() => match cmd {
                    Some(c) => self.on_command(c),
                    None => return,
                },
                _ = sleep => self.layer.handle_timeout(Instant::now()),
            }
            self.drain();
        }
    }

    fn on_incoming(&mut self, m: Incoming) {
        self.handle.stats.received.fetch_add(1, Ordering::Relaxed);
        match message::parse(&m.data, self.max_message) {
            Ok(parsed) => self
                .layer
                .handle_message(Instant::now(), parsed, m.source, m.transport),
            Err(e) => {
                self.handle.stats.malformed.fetch_add(1, Ordering::Relaxed);
                match message::raw_error_response(&m.data, self.max_message) {
                    Some((code, data, via)) => {
                        tracing::info!(source = %m.source, error = %e, code, "malformed request answered");
                        let dest = if m.transport.is_reliable() {
                            m.source
                        } else {
                            message::response_destination(&via, m.source)
                        };
                        self.transports.send(Transmit {
                            dest,
                            transport: m.transport,
                            data: data.into(),
                        });
                    }
                    None => {
                        tracing::info!(source = %m.source, error = %e, len = m.data.len(), "unparseable message dropped")
                    }
                }
            }
        }
    }

    fn on_command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            Command::Respond { key, resp } => {
                if let Err(e) = self.layer.respond(now, &key, resp) {
                    tracing::debug!(error = %e, "response not sent");
                }
            }
            Command::Ack {
                invite,
                ack,
                dest,
                transport,
            } => self.layer.send_ack_for_2xx(&invite, ack, dest, transport),
            Command::Request {
                req,
                dest,
                transport,
            } => {
                if let Err(e) = self.layer.send_request(now, req, dest, transport) {
                    tracing::warn!(error = %e, "request not sent");
                }
            }
        }
    }

    fn drain(&mut self) {
        while let Some(t) = self.layer.poll_transmit() {
            self.transports.send(t);
        }
        while let Some(ev) = self.layer.poll_event() {
            self.dispatch(ev);
        }
        // Responses made while dispatching (stray requests) go out now.
        while let Some(t) = self.layer.poll_transmit() {
            self.transports.send(t);
        }
    }

    fn dispatch(&mut self, ev: Event) {
        let call_id = match &ev {
            Event::Request { info, .. }
            | Event::Ack { info, .. }
            | Event::Response { info, .. } => info.call_id.clone(),
            Event::Cancelled { call_id, .. }
            | Event::Timeout { call_id, .. }
            | Event::AckTimeout { call_id, .. } => call_id.clone(),
        };
        if let Some(tx) = self.calls.sender(&call_id) {
            if tx.try_send(CallEvent::Sip(ev)).is_err() {
                tracing::warn!(%call_id, "call not keeping up; SIP event dropped (retransmission will repeat it)");
            }
            return;
        }
        let Event::Request {
            key,
            req,
            info,
            source,
            transport,
        } = ev
        else {
            return; // ACKs, responses and timers of calls that have ended
        };
        let now = Instant::now();
        match req.method {
            Method::Invite if info.to_tag.is_none() => {
                let feature =
                    message::uri_user(&req.uri.to_string()).is_some_and(|u| u.starts_with('*'));
                let invite = Invite {
                    key: key.clone(),
                    req,
                    info,
                    source,
                    transport,
                };
                if feature {
                    self.calls.spawn_feature(invite, self.handle.clone());
                } else if let Some(resp) = self.calls.spawn_inbound(invite, self.handle.clone()) {
                    let _ = self.layer.respond(now, &key, resp);
                }
            }
            Method::Register => {
                let desk = self.calls.ctx.desk.clone();
                let register = Invite {
                    key,
                    req,
                    info,
                    source,
                    transport,
                };
                tokio::spawn(desk.register(register, self.handle.clone()));
            }
            Method::Options if info.to_tag.is_none() => {
                // Trunk keep-alive (RFC 3261 §11): we are up and say what we speak.
                let mut resp = message::response(&req, 200, Some(&message::random_token(8)));
                resp.headers
                    .push(Header::Allow(rsip::headers::Allow::new(crate::call::ALLOW)));
                resp.headers
                    .push(Header::Other("Accept".into(), "application/sdp".into()));
                let _ = self.layer.respond(now, &key, resp);
            }
            Method::Subscribe
            | Method::Publish
            | Method::Message
            | Method::Refer
            | Method::Notify
                if info.to_tag.is_none() =>
            {
                let mut resp = message::response(&req, 405, Some(&message::random_token(8)));
                resp.headers
                    .push(Header::Allow(rsip::headers::Allow::new(crate::call::ALLOW)));
                let _ = self.layer.respond(now, &key, resp);
            }
            _ => {
                // In-dialog request for a dialog we do not have (§12.2.2).
                let resp = message::response(&req, 481, None);
                let _ = self.layer.respond(now, &key, resp);
            }
        }
    }
}
