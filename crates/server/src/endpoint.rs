//! The SIP driver: the one task that owns the transaction layer, the sockets and the clock.
//!
//! It parses what the transports receive, feeds the sans-IO [`TransactionLayer`], sends
//! what it must send, answers what needs no call (out-of-dialog OPTIONS, strays, errors),
//! and hands every other event to the call it belongs to, by Call-ID. Calls talk back
//! through [`EndpointHandle`]. Nothing here blocks or holds a lock across an `.await`.

use crate::call::{CallEvent, Calls, Invite};
use hotline_sip::message::{self, Transport};
use hotline_sip::stateless::Refuser;
use hotline_sip::transaction::{
    ClientKey, Event, ServerKey, TimerConfig, TransactionLayer, Transmit,
};
use hotline_sip::transport::{Incoming, TcpLimits, TcpStats, Transports};
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
    /// Messages received (UDP and TCP).
    pub received: AtomicU64,
    /// Messages that did not parse.
    pub malformed: AtomicU64,
    /// INVITEs refused because they did not come from the trunk.
    pub rejected_sources: AtomicU64,
    /// TCP connections: open, refused, timed out.
    pub tcp: Arc<TcpStats>,
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
    tcp: TcpLimits,
    calls: Calls,
) -> anyhow::Result<EndpointHandle> {
    let (in_tx, in_rx) = mpsc::channel::<Incoming>(4096);
    let transports = Transports::bind(listen, max_message, tcp, in_tx).await?;
    let bound = transports.local_addr();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let handle = EndpointHandle {
        cmds: cmd_tx,
        advertised: advertised.unwrap_or(bound),
        stats: Arc::new(SipStats {
            tcp: transports.tcp_stats(),
            ..SipStats::default()
        }),
    };
    let cfg = TimerConfig {
        t1,
        ..TimerConfig::default()
    };
    let driver = Driver {
        layer: TransactionLayer::new(cfg),
        refuser: Refuser::new(),
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
    /// Answers INVITEs refused for overload without a transaction.
    refuser: Refuser,
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
        if m.data.len() <= self.max_message && self.answered_statelessly(&m) {
            return;
        }
        match message::parse(&m.data, self.max_message) {
            Ok(parsed) => {
                self.layer
                    .handle_message(Instant::now(), parsed, m.source, m.transport, m.received)
            }
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

    /// Under overload, a new INVITE from the trunk is refused with a stateless 503 before
    /// it is parsed or given a transaction, and the ACK of such a 503 is dropped unparsed
    /// (`hotline_sip::stateless`): refusing a flood then costs a scan of its headers, not
    /// a parse, a 100 Trying, a transaction held for 32 s and its timers. A retransmission
    /// of an INVITE already taken goes on to its transaction.
    fn answered_statelessly(&mut self, m: &Incoming) -> bool {
        if self.refuser.is_ack_of_answer(&m.data) {
            return true;
        }
        let Some(peek) = self.refuser.peek_invite(&m.data) else {
            return false;
        };
        if self.layer.has_invite(&peek.via)
            || self.calls.sender(peek.call_id).is_some()
            || !self.calls.refuses_early(m.source, peek.called, m.received)
        {
            return false;
        }
        let (data, dest) =
            self.refuser
                .answer(&peek, m.source, crate::call::OVERLOAD_RETRY_AFTER_SECS);
        self.transports.send(Transmit {
            dest: if m.transport.is_reliable() {
                m.source
            } else {
                dest
            },
            transport: m.transport,
            data: data.into(),
        });
        true
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
            received,
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
                    received,
                };
                if feature {
                    self.calls.spawn_feature(invite, self.handle.clone());
                } else if self.calls.is_internal(&invite) {
                    self.calls.spawn_internal(invite, self.handle.clone());
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
                    received,
                };
                // Counted by the lockout here, in the order REGISTERs came, not in the
                // order their tasks happen to run (`Desk::begin_auth`).
                let begun = desk.begin_auth(&register.req, register.source);
                tokio::spawn(desk.register(register, begun, self.handle.clone()));
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

/// Descriptors kept for each call the hotline may carry at once (`[calls] max_calls`): the
/// caller's RTP socket and the agent leg's (one descriptor each: the media session's
/// reads and sends share it, `hotline_media::session`), and the recording being written.
const FDS_PER_CALL: u64 = 3;
/// Descriptors kept for everything else: database connections with their journal files,
/// listening sockets, logs, prompt and config files, the runtime's own.
const FDS_BASE: u64 = 256;
/// The smallest connection cap the budget may shrink a listener to.
const MIN_CONNECTIONS: usize = 16;

/// How the process's file descriptors are shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorBudget {
    /// The soft `RLIMIT_NOFILE` in force (raised to the hard limit at start).
    pub limit: u64,
    /// Kept for calls and the rest, never given to connections.
    pub reserved: u64,
    /// The SIP TCP connection cap to use.
    pub sip_tcp: usize,
    /// The HTTP connection cap to use.
    pub http: usize,
}

/// Raises the soft descriptor limit to the hard one, then shares it out: descriptors for
/// `max_calls` calls first, the rest to the SIP TCP and HTTP connection caps — lowered
/// (proportionally, and said in the log) if the configured caps do not fit. A flood of
/// connections then meets its cap while every call and the API still find a descriptor.
pub fn budget_descriptors(cfg: &crate::config::Config) -> DescriptorBudget {
    let (max_calls, sip_tcp, http) = (
        cfg.calls.max_calls,
        cfg.sip.tcp.max_connections,
        cfg.http.connections.max_connections,
    );
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
            tracing::warn!(error = %e, soft, "cannot raise the file descriptor limit");
            soft
        }
    };
    let budget = share_descriptors(limit, max_calls, sip_tcp, http);
    if (budget.sip_tcp, budget.http) != (sip_tcp, http) {
        tracing::warn!(
            limit,
            reserved_for_calls = budget.reserved,
            sip_tcp_configured = sip_tcp,
            sip_tcp = budget.sip_tcp,
            http_configured = http,
            http = budget.http,
            "file descriptor limit too small for the configured connection caps: caps lowered \
             (raise LimitNOFILE / ulimit -n)"
        );
    } else {
        tracing::info!(
            limit,
            reserved_for_calls = budget.reserved,
            sip_tcp,
            http,
            "file descriptors shared out"
        );
    }
    budget
}

/// Grows the process's descriptor table, once at start, to hold every descriptor `budget`
/// shares out.
///
/// The kernel grows the table by doubling as descriptors are opened, and in a process
/// with threads each growth waits for an RCU grace period (`expand_files` calls
/// `synchronize_rcu`): 10–30 ms here, during which the thread that opened the descriptor
/// — a runtime worker starting a call's media — stands still. The calls that opened the
/// 256th, 512th, 1024th… socket after a start stalled the runtime that long, and the
/// INVITEs that waited meanwhile were refused with 503 for `receive_wait` on an idle
/// server. The table never shrinks, so growing it here moves those stalls to the start.
/// Returns the slots asked for.
pub fn grow_descriptor_table(budget: &DescriptorBudget) -> std::io::Result<u64> {
    let wanted = budget.reserved + (budget.sip_tcp + budget.http) as u64;
    let slots = wanted.min(budget.limit);
    grow_table_to(slots)?;
    Ok(slots)
}

/// Makes the descriptor table hold `slots` descriptors: a duplicate placed at the last
/// one, then closed (the table keeps its size).
fn grow_table_to(slots: u64) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let Some(last) = slots
        .checked_sub(1)
        .and_then(|l| libc::c_int::try_from(l).ok())
    else {
        return Ok(());
    };
    let null = std::fs::File::open("/dev/null")?;
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own; it returns a new descriptor or -1.
    let dup = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, last) };
    if dup < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `dup` was just opened and is owned by no one else; dropping it closes it.
    drop(unsafe { OwnedFd::from_raw_fd(dup) });
    Ok(())
}

/// The SIP TCP caps and timeouts of `[sip.tcp]`, with the total cap from `budget`; the
/// trunk's allowed sources carry many calls and are exempt from the per-source cap.
pub fn tcp_limits(cfg: &crate::config::Config, budget: &DescriptorBudget) -> TcpLimits {
    let t = &cfg.sip.tcp;
    let trunk = cfg.trunk_networks();
    TcpLimits {
        max_connections: budget.sip_tcp,
        max_per_source: t.max_per_source.max(1),
        exempt: Arc::new(move |ip| trunk.iter().any(|n| n.contains(ip))),
        first_message: Duration::from_secs(t.first_message_secs.max(1)),
        message: Duration::from_secs(t.message_secs.max(1)),
        idle: Duration::from_secs(t.idle_secs.max(1)),
    }
}

/// The arithmetic of [`budget_descriptors`], for a given `limit`.
fn share_descriptors(
    limit: u64,
    max_calls: usize,
    sip_tcp: usize,
    http: usize,
) -> DescriptorBudget {
    let reserved = FDS_BASE + FDS_PER_CALL * max_calls as u64;
    let room = limit.saturating_sub(reserved);
    let wanted = (sip_tcp + http) as u64;
    let (sip_tcp, http) = if wanted <= room {
        (sip_tcp, http)
    } else {
        let scale = |n: usize| ((n as u64 * room / wanted.max(1)) as usize).max(MIN_CONNECTIONS);
        (scale(sip_tcp).min(sip_tcp), scale(http).min(http))
    };
    DescriptorBudget {
        limit,
        reserved,
        sip_tcp,
        http,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_for_calls_first_then_connections() {
        // Plenty: the caps as configured.
        let b = share_descriptors(65536, 2000, 4096, 512);
        assert_eq!((b.reserved, b.sip_tcp, b.http), (6256, 4096, 512));
        // Too few: the caps shrink in proportion, within what is left after the calls.
        let b = share_descriptors(8000, 2000, 4096, 512);
        assert_eq!(b.reserved, 6256);
        assert!(b.sip_tcp + b.http <= 8000 - 6256, "{b:?}");
        assert!(b.sip_tcp > b.http, "{b:?}");
        // Far too few: a floor, so the API and the trunk can still connect at all.
        let b = share_descriptors(1024, 2000, 4096, 512);
        assert_eq!((b.sip_tcp, b.http), (MIN_CONNECTIONS, MIN_CONNECTIONS));
    }

    /// The table's size as `/proc/self/status` gives it (`FDSize`).
    fn table_size() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("FDSize:")).unwrap();
        line["FDSize:".len()..].trim().parse().unwrap()
    }

    #[test]
    fn the_descriptor_table_is_grown_to_the_budget_and_within_the_limit() {
        let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap();
        assert!(limit >= 8_192, "the hard descriptor limit is {limit}");
        let before = table_size();
        let budget = DescriptorBudget {
            limit,
            reserved: 3_000,
            sip_tcp: 1_000,
            http: 100,
        };
        assert_eq!(grow_descriptor_table(&budget).unwrap(), 4_100);
        assert!(
            table_size() >= 4_100,
            "FDSize {} (was {before})",
            table_size()
        );
        // Never past the limit, whatever the budget says.
        let tight = DescriptorBudget {
            limit: 8_192,
            reserved: 1_000_000,
            ..budget
        };
        assert_eq!(grow_descriptor_table(&tight).unwrap(), 8_192);
        assert!(table_size() >= 8_192, "FDSize {}", table_size());
    }
}
