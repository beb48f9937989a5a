//! A supervisor joins a live call from the softphone: `*41` + an agent's extension listens
//! (监听), `*42` + extension whispers to the agent (耳语), `*43` + extension barges in
//! (强插) — `[agents] code_listen/code_whisper/code_barge`. The phone's extension must be
//! that of a supervisor's (or admin's) user (`hotline user add … --role supervisor
//! --extension 1009`); every join is on the case's trail with who.
//!
//! This task answers the supervisor's phone and keeps its dialog; the agent's call mixes
//! the supervisor's media in ([`Command::SupervisePhone`]) and, if it ends first, lets go
//! of the `gone` sender, which makes this task hang the phone up.

use super::out_leg::send;
use super::{CallEvent, Calls, Command, Invite, Supervision};
use crate::endpoint::EndpointHandle;
use hotline_case::lifecycle::Role;
use hotline_sip::invite::{DialogUsage, Local, SessionEvent};
use hotline_sip::message;
use hotline_sip::sdp;
use hotline_sip::session_timer;
use hotline_sip::transaction::Event;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// The supervision a dialled code asks for, and of which agent's call.
pub(super) fn parse(
    cfg: &crate::config::AgentsConfig,
    code: &str,
) -> Option<(Supervision, String)> {
    [
        (&cfg.code_listen, Supervision::Listen),
        (&cfg.code_whisper, Supervision::Whisper),
        (&cfg.code_barge, Supervision::Barge),
    ]
    .into_iter()
    .find_map(|(prefix, how)| {
        let ext = code.strip_prefix(prefix.as_str())?;
        (!ext.is_empty() && ext.bytes().all(|b| b.is_ascii_digit())).then(|| (how, ext.to_string()))
    })
}

/// Joins supervisor `ext`'s phone to the call agent `target` is on.
pub(super) async fn run(
    calls: Calls,
    invite: Invite,
    ep: EndpointHandle,
    ext: String,
    (how, target): (Supervision, String),
) {
    let ctx = calls.ctx.clone();
    let tag = message::random_token(10);
    let refuse = |code: u16, why: &str| {
        tracing::info!(code, why, "supervision refused");
        ep.respond(
            &invite.key,
            message::response(&invite.req, code, Some(&tag)),
        );
    };
    let who = match ctx.store.users().await {
        Ok(users) => users.into_iter().find(|u| {
            !u.disabled
                && u.extension.as_deref() == Some(ext.as_str())
                && matches!(u.role, Role::Supervisor | Role::Admin)
        }),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the users");
            return refuse(500, "users unreadable");
        }
    };
    let Some(who) = who else {
        return refuse(403, "the phone is not a supervisor's");
    };
    let Some(call) = calls.call_of_agent(&target) else {
        return refuse(404, "the agent is on no call");
    };
    let (offer, media, mut media_rx) = match ctx.open_media(&invite.req).await {
        Ok(opened) => opened,
        Err(code) => return refuse(code, "no usable audio offer, or no RTP port"),
    };
    let (gone_tx, mut gone) = oneshot::channel();
    let (reply, joined) = oneshot::channel();
    let cmd = Command::SupervisePhone {
        how,
        who: who.username.clone(),
        extension: ext.clone(),
        media: media.clone(),
        gone: gone_tx,
    };
    let sent = call
        .send(CallEvent::Command {
            cmd,
            agent: None,
            reply,
        })
        .await;
    if sent.is_err() || !matches!(joined.await, Ok(Ok(()))) {
        media.close();
        return refuse(480, "the call could not take a supervisor");
    }
    let body = sdp::answer(
        &offer,
        media.local_addr(),
        u64::from(rand::random::<u32>()),
        1,
    );
    let local = Local {
        tag: tag.clone(),
        contact: format!("<sip:12345@{}>", ep.advertised),
        via_host: ep.advertised,
        peer: invite.source,
        transport: invite.transport,
        min_se: session_timer::MIN_SE,
    };
    let (tx, mut rx) = mpsc::channel(16);
    calls.register(&invite.info.call_id, tx);
    let mut usage =
        match DialogUsage::accept(&invite.req, &invite.info, local, body, Instant::now()) {
            Ok((ok, usage)) => {
                ep.respond(&invite.key, ok);
                usage
            }
            Err(e) => {
                ep.respond(&invite.key, e.response(&invite.req, Some(&tag)));
                leave(&call, &media).await;
                calls.unregister(&invite.info.call_id);
                media.close();
                return;
            }
        };
    tracing::info!(supervisor = %who.username, %ext, agent = %target, ?how, "supervisor joined from the phone");
    loop {
        let timer = usage.poll_timeout();
        let usage_timer = async {
            match timer {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let done = tokio::select! {
            // The call ended or dropped the supervisor.
            _ = &mut gone => {
                usage.bye();
                true
            }
            ev = rx.recv() => match ev {
                Some(CallEvent::Sip(Event::Request { key, req, info, .. })) => {
                    match usage.handle_request(&key, &req, &info, Instant::now()) {
                        Some(SessionEvent::ReInvite { .. }) => {
                            let _ = usage.answer_offer(usage.local_sdp().to_string(), Instant::now());
                            false
                        }
                        Some(SessionEvent::Refer(_)) => {
                            let _ = usage.notify_refer(603);
                            false
                        }
                        _ => usage.is_terminated(),
                    }
                }
                Some(CallEvent::Sip(Event::Ack { req, info, .. })) => {
                    usage.handle_ack(&req, &info);
                    false
                }
                Some(CallEvent::Sip(Event::AckTimeout { .. })) | Some(CallEvent::Shutdown) | None => {
                    usage.bye();
                    true
                }
                Some(CallEvent::Sip(Event::Response { key, resp, info })) => {
                    usage.handle_response(&key, &resp, &info, Instant::now());
                    false
                }
                Some(_) => false,
            },
            _ = media_rx.recv() => false,
            _ = usage_timer => {
                let ev = usage.handle_timeout(Instant::now());
                matches!(ev, Some(SessionEvent::Ended(_)))
            }
        };
        while let Some(out) = usage.poll_output() {
            send(&ep, out);
        }
        if done {
            break;
        }
    }
    leave(&call, &media).await;
    calls.unregister(&invite.info.call_id);
    media.close();
    tracing::info!(supervisor = %who.username, "supervisor left");
}

/// Tells the agent's call the supervisor's phone is gone.
async fn leave(call: &mpsc::Sender<CallEvent>, media: &hotline_media::MediaHandle) {
    let (reply, _) = oneshot::channel();
    let cmd = Command::SupervisorLeft {
        addr: media.local_addr(),
    };
    let _ = call
        .send(CallEvent::Command {
            cmd,
            agent: None,
            reply,
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_name_the_supervision_and_the_agent() {
        let cfg = crate::config::AgentsConfig::default();
        assert_eq!(
            parse(&cfg, "*411001"),
            Some((Supervision::Listen, "1001".into()))
        );
        assert_eq!(
            parse(&cfg, "*421001"),
            Some((Supervision::Whisper, "1001".into()))
        );
        assert_eq!(
            parse(&cfg, "*431001"),
            Some((Supervision::Barge, "1001".into()))
        );
        assert_eq!(parse(&cfg, "*41"), None, "no extension");
        assert_eq!(parse(&cfg, "*41abc"), None);
        assert_eq!(parse(&cfg, "*1"), None);
    }
}
