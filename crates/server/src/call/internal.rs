//! A call an agent places from the softphone: to a colleague's extension or to an allowed
//! outside number (`[agents] transfer_numbers`, through the trunk) — a consultation before
//! an attended transfer, a question to a department. Authenticated like a feature code,
//! the other side rung as a leg, the two bridged.
//!
//! The other side can be handed over to a citizen's call: when the agent's phone completes
//! an attended transfer it sends, in the citizen's call, a REFER whose Refer-To names this
//! call's dialog with `Replaces` (RFC 3891, RFC 5589 §7); that call asks this one for its
//! leg ([`CallEvent::HandOver`]), and this call ends with a BYE to the agent's phone.
//!
//! ```text
//! INVITE (digest) ─> 180 ─> ring target ─ answered ─> 200 + bridge ─ BYE either side
//!                                      └ failed ─> its status to the phone (486, 480…)
//!   HandOver (Replaces matched) ─> the target's leg goes to the citizen's call; BYE phone
//! ```

use super::out_leg::{self, send, Failure, OutLeg};
use super::{agent_leg, trunk_leg, CallEvent, CallSlot, Calls, Invite};
use crate::desk::{Auth, Begun};
use crate::endpoint::EndpointHandle;
use hotline_acd::{AgentId, CallKey, DirectRefusal};
use hotline_media::{bridge, BridgeHandle, MediaEvent};
use hotline_sip::invite::{DialogUsage, Local, SessionEvent};
use hotline_sip::message;
use hotline_sip::sdp::{self, G711};
use hotline_sip::session_timer;
use hotline_sip::transaction::Event;
use rsip::headers::untyped::UntypedHeader;
use rsip::Request;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// How long an outside number may ring.
const NUMBER_RING: Duration = Duration::from_secs(40);

/// What a handed-over call gives the citizen's call: its far leg, talking, and the ACD
/// reservation of its agent (none for an outside number).
pub struct HandOver {
    pub leg: OutLeg,
    pub agent: Option<(AgentId, CallKey)>,
}

impl std::fmt::Debug for HandOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandOver")
            .field("leg", &self.leg.call_id)
            .field("agent", &self.agent)
            .finish()
    }
}

/// The dialog a REFER's Replaces names, as this call (the receiver) sees it: its local tag
/// is the Replaces' to-tag, the phone's tag the from-tag.
#[derive(Debug, Clone)]
pub struct ReplacesTags {
    pub local_tag: String,
    pub remote_tag: String,
}

/// Whom the phone called.
enum Target {
    Agent { agent: AgentId, key: CallKey },
    Number(String),
}

/// Runs an agent's call from the softphone until either side hangs up or it is handed over.
pub(super) async fn run(calls: Calls, invite: Invite, begun: Begun, ep: EndpointHandle) {
    let ctx = calls.ctx.clone();
    let ext = match ctx
        .desk
        .finish_auth(&invite.req, invite.source, begun)
        .await
    {
        Auth::Agent(ext) => ext,
        Auth::Refuse(resp) => return ep.respond(&invite.key, resp),
    };
    let dialled = message::uri_user(&invite.req.uri.to_string())
        .unwrap_or("")
        .to_string();
    let span = tracing::info_span!("internal", agent = %ext, to = %dialled, call_id = %invite.info.call_id);
    async move {
        let tag = message::random_token(10);
        let refuse = |code: u16, why: &str| {
            tracing::info!(code, why, "call from the phone refused");
            ep.respond(&invite.key, message::response(&invite.req, code, Some(&tag)));
        };
        let target = match resolve(&calls, &ext, &dialled) {
            Ok(t) => t,
            Err((code, why)) => return refuse(code, &why),
        };
        let release = |t: &Target| {
            if let Target::Agent { key, .. } = t {
                calls.ctx.acd.leave(*key);
            }
        };
        let (media, mut media_rx) = match ctx.open_media(&invite.req).await {
            Ok((_, media, rx)) => (media, rx),
            Err(code) => {
                release(&target);
                return refuse(code, "no usable audio offer, or no RTP port");
            }
        };
        let (tx, mut rx) = mpsc::channel(64);
        let _slot = CallSlot::take(&calls, &invite.info.call_id, tx.clone());
        // A 180 with a To tag creates an early dialog: it carries our Contact (§12.1.1).
        let mut ringing = message::response(&invite.req, 180, Some(&tag));
        ringing.headers.push(rsip::Header::Contact(
            rsip::headers::Contact::new(format!("<sip:12345@{}>", ep.advertised)),
        ));
        ep.respond(&invite.key, ringing);
        let route = calls.route_to(&tx);
        let (leg, ring) = match &target {
            Target::Agent { agent, .. } => {
                let Some(binding) = ctx.desk.contacts(&agent.0).into_iter().next() else {
                    release(&target);
                    media.close();
                    return refuse(480, "not registered");
                };
                let offer = agent_leg::AgentOffer {
                    citizen: &ext,
                    ticket: "",
                    extra: vec![rsip::Header::Other("X-Consult-From".into(), ext.clone())],
                };
                let leg =
                    agent_leg::ring(ep.clone(), &ctx.ports, &agent.0, binding, offer, route).await;
                (leg, ctx.acd.max_ring(agent))
            }
            Target::Number(n) => match ctx.cfg.trunk.outbound.as_ref() {
                Some(trunk) => (
                    trunk_leg::dial(ep.clone(), &ctx.ports, trunk, n, "", route).await,
                    NUMBER_RING,
                ),
                None => (Err("no outbound trunk".into()), NUMBER_RING),
            },
        };
        let mut leg = match leg {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot ring");
                release(&target);
                media.close();
                return refuse(503, "cannot ring");
            }
        };
        let agent = match &target {
            Target::Agent { agent, key } => Some((agent.clone(), *key)),
            Target::Number(_) => None,
        };
        let mut call = Internal {
            ep: ep.clone(),
            calls: calls.clone(),
            invite,
            tag,
            media,
            usage: None,
            link: None,
            agent,
            answered: false,
        };
        let mut ring_until = Some(tokio::time::Instant::now() + ring);
        loop {
            let sleep = async {
                match ring_until {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let timer = call.usage.as_ref().and_then(|u| u.poll_timeout());
            let leg_timer = leg.poll_timeout();
            let leg_sleep = async {
                match leg_timer {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let usage_timer = async {
                match timer {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let done = tokio::select! {
                ev = rx.recv() => match ev {
                    Some(CallEvent::Sip(ev)) if out_leg_event(&ev, &leg.call_id) => {
                        match leg.on_sip(ev) {
                            Some(what) => call.on_leg(&mut leg, what, &mut ring_until),
                            None => false,
                        }
                    }
                    Some(CallEvent::Sip(ev)) => call.on_phone(ev, &mut leg),
                    Some(CallEvent::HandOver { tags, reply }) => {
                        match call.hand_over(&tags) {
                            true => {
                                calls.unregister(&leg.call_id);
                                let _ = reply.send(Some(HandOver { leg, agent: call.agent.take() }));
                                return call.end_with_bye();
                            }
                            false => {
                                let _ = reply.send(None);
                                false
                            }
                        }
                    }
                    Some(CallEvent::Command { reply, .. }) => {
                        let _ = reply.send(Err(super::CommandError::Refused("an agent's own call takes no call control".into())));
                        false
                    }
                    Some(CallEvent::Shutdown) | None => {
                        leg.hang_up();
                        true
                    }
                    Some(CallEvent::Offer { .. } | CallEvent::QueueExpired) => false,
                },
                ev = media_rx.recv() => match ev {
                    Some(MediaEvent::Digit(d)) => { leg.media.send_dtmf(d); false }
                    Some(_) => false,
                    None => { leg.hang_up(); true }
                },
                ev = leg.media_rx.recv() => {
                    if let Some(MediaEvent::Digit(d)) = ev {
                        call.media.send_dtmf(d);
                    }
                    false
                }
                _ = sleep => {
                    ring_until = None;
                    tracing::info!("no answer; cancelling");
                    leg.cancel();
                    false
                }
                _ = leg_sleep => match leg.handle_timeout(Instant::now()) {
                    Some(what) => call.on_leg(&mut leg, what, &mut ring_until),
                    None => false,
                },
                _ = usage_timer => {
                    if let Some(u) = call.usage.as_mut() {
                        let ev = u.handle_timeout(Instant::now());
                        call.flush();
                        if matches!(ev, Some(SessionEvent::Ended(_))) {
                            leg.hang_up();
                            true
                        } else { false }
                    } else { false }
                }
            };
            call.flush();
            if done {
                break;
            }
        }
        calls.unregister(&leg.call_id);
        call.finish();
    }
    .instrument(span)
    .await
}

fn out_leg_event(ev: &Event, call_id: &str) -> bool {
    super::conversation::event_call_id(ev) == call_id
}

/// What the phone dialled: a colleague (reserved in the ACD if ready) or an allowed number.
fn resolve(calls: &Calls, ext: &str, dialled: &str) -> Result<Target, (u16, String)> {
    let ctx = &calls.ctx;
    if dialled == ext {
        return Err((486, "an agent cannot call itself".into()));
    }
    let agent = AgentId(dialled.to_string());
    if ctx.acd.agent_state(&agent).is_some() {
        if ctx.desk.contacts(dialled).is_empty() {
            return Err((480, format!("{dialled} has no registered phone")));
        }
        let key = ctx.next_call_key();
        return match ctx
            .acd
            .offer_direct(key, &agent, &format!("call from {ext}"))
        {
            Ok(()) => Ok(Target::Agent { agent, key }),
            Err(DirectRefusal::Busy) => Err((486, format!("{dialled} is not ready"))),
            Err(e) => Err((480, format!("{dialled}: {e}"))),
        };
    }
    if ctx.cfg.agents.transfer_numbers.iter().any(|n| n == dialled) {
        return Ok(Target::Number(dialled.to_string()));
    }
    Err((
        404,
        format!("{dialled} is neither an agent nor an allowed number"),
    ))
}

/// Whether an INVITE to `user` from `source` is an agent's own call rather than a
/// citizen's call to the hotline. From a trunk, only when it comes from an agent's
/// registered phone (`from` is its extension) or carries credentials, and names an
/// extension or an allowed number: the trunk's wrong numbers keep their 404. From anywhere
/// else every INVITE that is not to a hotline number is an agent's and is challenged first,
/// whatever it names — so a scanner cannot tell extensions that exist from those that do
/// not by the answer (sipvicious' svwar).
pub(super) fn is_internal(
    calls: &Calls,
    user: &str,
    from: &str,
    source: SocketAddr,
    req: &Request,
) -> bool {
    let ctx = &calls.ctx;
    if ctx.cfg.trunk.numbers.iter().any(|n| n == user) {
        return false;
    }
    if !ctx.trunk.iter().any(|n| n.contains(source.ip())) {
        return true;
    }
    let target = ctx.acd.agent_state(&AgentId(user.to_string())).is_some()
        || ctx.cfg.agents.transfer_numbers.iter().any(|n| n == user);
    let credentials = message::first(&req.headers, "Authorization").is_some()
        || message::first(&req.headers, "Proxy-Authorization").is_some();
    target && (credentials || ctx.desk.is_registered_phone(from, source))
}

struct Internal {
    ep: EndpointHandle,
    calls: Calls,
    invite: Invite,
    tag: String,
    media: hotline_media::MediaHandle,
    /// The phone's dialog, once answered.
    usage: Option<DialogUsage>,
    link: Option<BridgeHandle>,
    agent: Option<(AgentId, CallKey)>,
    answered: bool,
}

impl Internal {
    fn flush(&mut self) {
        if let Some(u) = self.usage.as_mut() {
            while let Some(out) = u.poll_output() {
                send(&self.ep, out);
            }
        }
    }

    /// An event of the far leg; true when the call is over.
    fn on_leg(
        &mut self,
        leg: &mut OutLeg,
        what: out_leg::LegEvent,
        ring_until: &mut Option<tokio::time::Instant>,
    ) -> bool {
        match what {
            out_leg::LegEvent::Answered => {
                *ring_until = None;
                self.answered = true;
                if let Some((_, key)) = &self.agent {
                    self.calls.ctx.acd.answered(*key);
                }
                let Some(offer) = sdp::negotiate(&self.invite.req.body, &G711).ok() else {
                    leg.hang_up();
                    return true;
                };
                let body = sdp::answer(
                    &offer,
                    self.media.local_addr(),
                    u64::from(rand::random::<u32>()),
                    1,
                );
                let local = Local {
                    tag: self.tag.clone(),
                    contact: format!("<sip:12345@{}>", self.ep.advertised),
                    via_host: self.ep.advertised,
                    peer: self.invite.source,
                    transport: self.invite.transport,
                    min_se: session_timer::MIN_SE,
                };
                match DialogUsage::accept(
                    &self.invite.req,
                    &self.invite.info,
                    local,
                    body,
                    Instant::now(),
                ) {
                    Ok((ok, usage)) => {
                        self.ep.respond(&self.invite.key, ok);
                        self.usage = Some(usage);
                        self.link = Some(bridge(&self.media, &leg.media, None));
                        tracing::info!("answered; bridged");
                        false
                    }
                    Err(e) => {
                        self.ep.respond(
                            &self.invite.key,
                            e.response(&self.invite.req, Some(&self.tag)),
                        );
                        leg.hang_up();
                        true
                    }
                }
            }
            out_leg::LegEvent::Failed(f) => {
                let code = match f {
                    Failure::Status(c) => c,
                    Failure::NoAnswer => 480,
                    Failure::NoResponse => 408,
                    Failure::Unusable(_) => 502,
                };
                tracing::info!(failure = %f, "not reached");
                if let Some((_, key)) = self.agent.take() {
                    self.calls
                        .ctx
                        .acd
                        .offer_failed(key, &format!("offer failed: {f}"));
                }
                self.ep.respond(
                    &self.invite.key,
                    message::response(&self.invite.req, code, Some(&self.tag)),
                );
                true
            }
            out_leg::LegEvent::HungUp => {
                tracing::info!("the other side hung up");
                if let Some(u) = self.usage.as_mut() {
                    u.bye();
                }
                true
            }
            _ => false,
        }
    }

    /// A SIP event of the phone's own dialog; true when the call is over.
    fn on_phone(&mut self, ev: Event, leg: &mut OutLeg) -> bool {
        match ev {
            Event::Cancelled { .. } if self.usage.is_none() => {
                tracing::info!("the phone gave up");
                self.ep.respond(
                    &self.invite.key,
                    message::response(&self.invite.req, 487, Some(&self.tag)),
                );
                leg.hang_up();
                true
            }
            Event::Request { key, req, info, .. } => {
                let Some(u) = self.usage.as_mut() else {
                    self.ep.respond(&key, message::response(&req, 481, None));
                    return false;
                };
                match u.handle_request(&key, &req, &info, Instant::now()) {
                    Some(SessionEvent::Bye) => {
                        leg.hang_up();
                        true
                    }
                    Some(SessionEvent::ReInvite { offer, .. }) => {
                        // Hold or a new address: answer with the same port.
                        match sdp::negotiate(&offer, &G711) {
                            Ok(n) => {
                                self.media.update(super::inbound::media_params(&n));
                                let body = sdp::answer(
                                    &n,
                                    self.media.local_addr(),
                                    u64::from(rand::random::<u32>()),
                                    2,
                                );
                                let _ = u.answer_offer(body, Instant::now());
                            }
                            Err(e) => {
                                let _ = u.reject_offer(e.status());
                            }
                        }
                        false
                    }
                    Some(SessionEvent::Dtmf(d)) => {
                        leg.media.send_dtmf(d);
                        false
                    }
                    Some(SessionEvent::Refer(_)) => {
                        // A transfer of this call itself is not offered.
                        let _ = u.notify_refer(603);
                        false
                    }
                    Some(SessionEvent::Ended(_)) => {
                        leg.hang_up();
                        true
                    }
                    _ => u.is_terminated(),
                }
            }
            Event::Ack { req, info, .. } => {
                if let Some(u) = self.usage.as_mut() {
                    u.handle_ack(&req, &info);
                }
                false
            }
            Event::AckTimeout { .. } => {
                if let Some(u) = self.usage.as_mut() {
                    u.bye();
                }
                leg.hang_up();
                true
            }
            Event::Response { key, resp, info } => {
                if let Some(u) = self.usage.as_mut() {
                    u.handle_response(&key, &resp, &info, Instant::now());
                }
                false
            }
            Event::Timeout { key, .. } => {
                if let Some(u) = self.usage.as_mut() {
                    u.handle_tx_timeout(&key);
                }
                false
            }
            Event::Cancelled { .. } => false,
        }
    }

    /// Whether this call may be handed over: answered, and the Replaces names its dialog.
    fn hand_over(&mut self, tags: &ReplacesTags) -> bool {
        let Some(u) = self.usage.as_ref() else {
            return false;
        };
        let id = &u.dialog().id;
        if id.local_tag != tags.local_tag || id.remote_tag != tags.remote_tag {
            tracing::info!("Replaces names other tags; not handed over");
            return false;
        }
        tracing::info!("handed over to the citizen's call (attended transfer)");
        // The bridge ends; the citizen's call links the leg anew.
        self.link = None;
        true
    }

    /// After a handover: BYE to the phone, then the end.
    fn end_with_bye(mut self) {
        if let Some(u) = self.usage.as_mut() {
            u.bye();
        }
        self.flush();
        self.answered = false;
        self.finish();
    }

    fn finish(mut self) {
        self.link = None;
        self.media.close();
        if let Some((_, key)) = self.agent.take() {
            if self.answered {
                self.calls.ctx.acd.conversation_ended(key, || {});
            } else {
                self.calls.ctx.acd.leave(key);
            }
        }
        tracing::info!("agent's call ended");
    }
}

/// Asks the internal call with Call-ID `call_id` to hand its far leg over (a Replaces in a
/// REFER): the leg and its agent's reservation, or `None` if there is no such answered
/// call with those tags.
pub(super) async fn take_over(
    calls: &Calls,
    call_id: &str,
    tags: ReplacesTags,
) -> Option<HandOver> {
    let tx = calls.sender(call_id)?;
    let (reply, answer) = oneshot::channel();
    tx.send(CallEvent::HandOver { tags, reply }).await.ok()?;
    tokio::time::timeout(Duration::from_secs(2), answer)
        .await
        .ok()?
        .ok()?
}
