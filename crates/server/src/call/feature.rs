//! A feature code dialled from an agent's softphone (`*1` ready, `*2` not ready, `*3` log
//! out): authenticated like a REGISTER, carried out, confirmed by a short prompt, hung up.

use super::out_leg::send;
use super::{CallEvent, Calls, Invite};
use crate::acd::{AgentSettings, By};
use crate::desk::{Auth, Begun};
use crate::endpoint::EndpointHandle;
use hotline_acd::{AgentId, AgentState};
use hotline_media::{Codec, MediaEvent, MediaParams, MediaSession};
use hotline_sip::invite::{DialogUsage, Local, SessionEvent};
use hotline_sip::message;
use hotline_sip::sdp::{self, G711};
use hotline_sip::session_timer;
use hotline_sip::transaction::Event;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::Instrument;

/// What a feature code asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Ready,
    NotReady,
    Logout,
    Unknown,
}

/// Authenticates the agent, applies the code and plays its confirmation.
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
    let code = message::uri_user(&invite.req.uri.to_string())
        .unwrap_or("")
        .to_string();
    let a = &ctx.cfg.agents;
    if let Some(asked) = super::supervise::parse(a, &code) {
        let span = tracing::info_span!("supervise", supervisor = %ext, %code);
        return super::supervise::run(calls, invite, ep, ext, asked)
            .instrument(span)
            .await;
    }
    let action = if code == a.code_ready {
        Action::Ready
    } else if code == a.code_not_ready {
        Action::NotReady
    } else if code == a.code_logout {
        Action::Logout
    } else {
        Action::Unknown
    };
    let span = tracing::info_span!("feature", agent = %ext, %code);
    let _e = span.enter();
    let agent = AgentId(ext.clone());
    let said = &ctx.ivr.agent_prompts;
    let prompts = match action {
        // Ready means "ring me": not for a phone whose registration we do not hold.
        Action::Ready if ctx.desk.contacts(&ext).is_empty() => {
            tracing::info!("ready refused: the softphone is not registered");
            &said.not_registered
        }
        Action::Ready => match ctx.store.agent(&ext).await {
            Ok(Some(rec)) => {
                let skills: Vec<(String, u8)> = rec
                    .skills
                    .iter()
                    .map(|s| (s.name.clone(), s.level))
                    .collect();
                let settings = AgentSettings {
                    max_ring: Duration::from_secs(u64::from(rec.max_ring_secs)),
                    wrap_up: Duration::from_secs(u64::from(rec.wrap_up_secs)),
                };
                ctx.acd.login(&agent, &skills, settings, By::Phone);
                ctx.acd.set_ready(&agent, By::Phone);
                tracing::info!("agent ready");
                &said.ready
            }
            _ => &said.unknown_code,
        },
        Action::NotReady => {
            if matches!(
                ctx.acd.agent_state(&agent),
                None | Some(AgentState::LoggedOut)
            ) {
                &said.logged_out
            } else {
                let _ = ctx
                    .acd
                    .set_not_ready(&agent, ctx.cfg.agents.default_reason(), By::Phone);
                tracing::info!("agent not ready");
                &said.not_ready
            }
        }
        Action::Logout => {
            ctx.acd.logout(&agent, By::Phone);
            tracing::info!("agent logged out");
            &said.logged_out
        }
        Action::Unknown => &said.unknown_code,
    };
    let prompts = ctx.prompt_list(prompts);
    confirm(calls, invite, ep, prompts).await;
}

/// Answers, plays `prompts`, hangs up (or hears the phone hang up first).
async fn confirm(
    calls: Calls,
    invite: Invite,
    ep: EndpointHandle,
    prompts: Vec<Arc<hotline_media::Prompt>>,
) {
    let ctx = calls.ctx.clone();
    let tag = message::random_token(10);
    let contact = format!(
        "<sip:{}@{}>",
        message::uri_user(&invite.req.uri.to_string()).unwrap_or("agent"),
        ep.advertised
    );
    let reply = |code: u16| {
        ep.respond(
            &invite.key,
            message::response(&invite.req, code, Some(&tag)),
        )
    };
    let negotiated = if invite.req.body.is_empty() {
        None
    } else {
        sdp::negotiate(&invite.req.body, &G711).ok()
    };
    let Some(n) = negotiated else {
        // No usable audio: the code was carried out; say so without a prompt.
        return reply(200);
    };
    let params = MediaParams {
        codec: Codec::from_encoding_name(n.codec.name).unwrap_or(Codec::Pcmu),
        remote: n.remote,
        dtmf_pt: n.dtmf_pt,
    };
    let Ok((media, mut media_rx)) = MediaSession::start(&ctx.ports, params) else {
        return reply(503);
    };
    let (tx, mut rx) = mpsc::channel(16);
    calls.register(&invite.info.call_id, tx);
    let body = sdp::answer(&n, media.local_addr(), u64::from(rand::random::<u32>()), 1);
    let local = Local {
        tag: tag.clone(),
        contact,
        via_host: ep.advertised,
        peer: invite.source,
        transport: invite.transport,
        min_se: session_timer::MIN_SE,
    };
    let mut usage =
        match DialogUsage::accept(&invite.req, &invite.info, local, body, Instant::now()) {
            Ok((ok, usage)) => {
                ep.respond(&invite.key, ok);
                usage
            }
            Err(e) => {
                ep.respond(&invite.key, e.response(&invite.req, Some(&tag)));
                media.close();
                calls.unregister(&invite.info.call_id);
                return;
            }
        };
    media.play(prompts);
    let deadline = tokio::time::sleep(Duration::from_secs(15));
    tokio::pin!(deadline);
    loop {
        let done = tokio::select! {
            ev = media_rx.recv() => match ev {
                Some(MediaEvent::PlaybackFinished) | None => {
                    usage.bye();
                    true
                }
                Some(_) => false,
            },
            ev = rx.recv() => match ev {
                Some(CallEvent::Sip(Event::Request { key, req, info, .. })) => {
                    // BYE ends it; a hold re-INVITE during the prompt is declined.
                    match usage.handle_request(&key, &req, &info, Instant::now()) {
                        Some(SessionEvent::ReInvite { .. }) => {
                            let _ = usage.reject_offer(488);
                            false
                        }
                        Some(SessionEvent::Refer(_)) => {
                            let _ = usage.notify_refer(603);
                            false
                        }
                        _ => usage.is_terminated(),
                    }
                }
                Some(CallEvent::Sip(Event::AckTimeout { .. })) | Some(CallEvent::Shutdown) => {
                    usage.bye();
                    true
                }
                Some(_) => false,
                None => true,
            },
            _ = &mut deadline => {
                usage.bye();
                true
            }
        };
        while let Some(out) = usage.poll_output() {
            send(&ep, out);
        }
        if done {
            break;
        }
    }
    media.close();
    calls.unregister(&invite.info.call_id);
}
