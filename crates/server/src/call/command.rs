//! What the desk, a supervisor or the agent's phone asks of a live conversation: hold,
//! transfers (blind, attended, by REFER with or without Replaces), consultation,
//! conference, supervision, the supervisor's hang-up. Targets are resolved here (an
//! extension reserved in the ACD, a queue, an allowed number, the survey); [`Control`]
//! decides what follows.

use super::agent_leg::{self, AgentOffer};
use super::control::{Destination, LegEvent, LegId, Refused, Supervision};
use super::conversation::{supervision_name, Conversation, Note};
use super::inbound::Cause;
use super::internal::{self, ReplacesTags};
use super::CommandError;
use hotline_acd::{AgentId, CallKey, DirectRefusal};
use hotline_case::CallNote;
use std::time::{Duration, Instant};

/// How long an outside number (a department, 110) may ring.
const NUMBER_RING: Duration = Duration::from_secs(40);

/// What the desk (HTTP) or a supervisor asks of a live call.
#[derive(Debug)]
pub enum Command {
    Hold,
    Resume,
    /// Blind transfer to an extension, a queue, an allowed number or `survey`.
    Transfer(String),
    /// Hold the citizen and call an extension or an allowed number first.
    Consult(String),
    /// The consulted party takes the citizen (attended transfer).
    Complete,
    /// End the consultation and take the citizen back.
    Return,
    /// The consulted party joins a three-way conference.
    Conference,
    /// Ring supervisor `extension`'s phone into the call (`who`: the user asking).
    Supervise {
        extension: String,
        how: Supervision,
        who: String,
    },
    /// A supervisor ends the call (强拆).
    ForceHangUp {
        who: String,
    },
    /// A supervisor who dialled a code from the phone (`*41` + extension): its media is
    /// mixed in; dropping `gone` tells the phone's task to hang up.
    SupervisePhone {
        how: Supervision,
        who: String,
        extension: String,
        media: hotline_media::MediaHandle,
        gone: tokio::sync::oneshot::Sender<()>,
    },
    /// That supervisor's phone hung up (its media's local address).
    SupervisorLeft {
        addr: std::net::SocketAddr,
    },
}

impl Conversation {
    /// A REFER from leg `id` (the agent's phone): carried out, or refused with a NOTIFY
    /// failure while the call stays as it was.
    pub(super) async fn on_refer(&mut self, id: LegId, target: &str) {
        tracing::info!(%target, "transfer asked by the phone");
        match self.resolve(target) {
            Ok(dest) => {
                let reserved = reserved_key(&dest);
                let ring = self.ring_time(&dest);
                if let Err(e) = self.control.transfer(dest, Some(id), ring, Instant::now()) {
                    tracing::info!(error = %e, "transfer refused");
                    self.release(reserved);
                    self.control.refuse_refer(id, 481);
                }
            }
            Err((code, why)) => {
                tracing::info!(%target, code, why, "transfer refused; the call stays");
                self.control.refuse_refer(id, code);
            }
        }
        self.run_control().await;
    }

    /// A REFER with Replaces from leg `id`: the agent's phone completes an attended
    /// transfer to the party it called itself (its own call through the hotline, named by
    /// `replaces`): that party takes the citizen, or NOTIFY 481 and the call stays.
    pub(super) async fn on_attended_refer(
        &mut self,
        id: LegId,
        target: &str,
        replaces: hotline_sip::refer::Replaces,
    ) {
        tracing::info!(%target, replaces = %replaces.call_id, "attended transfer asked by the phone");
        // The receiver's view: our tag on that dialog is the Replaces' to-tag.
        let tags = ReplacesTags {
            local_tag: replaces.to_tag.clone(),
            remote_tag: replaces.from_tag.clone(),
        };
        let Some(h) = internal::take_over(&self.calls, &replaces.call_id, tags).await else {
            tracing::info!("no such call of the agent's to take over; the call stays");
            self.control.refuse_refer(id, 481);
            self.run_control().await;
            return;
        };
        let new = self.control.new_leg();
        self.calls.register(&h.leg.call_id, self.tx.clone());
        self.legs.insert(new, h.leg);
        if let Err(e) = self.control.adopt(new, h.agent, id, Instant::now()) {
            tracing::info!(error = %e, "cannot complete the attended transfer");
            self.hang_up_leg(new);
            self.control.refuse_refer(id, 481);
        }
        self.run_control().await;
    }

    /// A command of the desk or a supervisor (`agent`: the asking agent's extension).
    pub(super) async fn on_command(
        &mut self,
        cmd: Command,
        agent: Option<String>,
    ) -> Result<(), CommandError> {
        if let Some(ext) = agent {
            if self.control.agent().is_none_or(|a| a.0 != ext) {
                return Err(CommandError::NotYours(format!(
                    "agent {ext} is not on this call"
                )));
            }
        }
        let done = self.command(cmd).await;
        self.run_control().await;
        done.map_err(CommandError::Refused)
    }

    async fn command(&mut self, cmd: Command) -> Result<(), String> {
        let now = Instant::now();
        let c = &mut self.control;
        match cmd {
            Command::Hold => c.hold(now).map_err(refused),
            Command::Resume => c.resume(now).map_err(refused),
            Command::Complete => c.complete_transfer(now).map_err(refused),
            Command::Return => c.cancel_consult(now).map_err(refused),
            Command::Conference => c.conference(now).map_err(refused),
            Command::Transfer(target) => {
                let dest = self.resolve(&target).map_err(|(_, why)| why)?;
                let (reserved, ring) = (reserved_key(&dest), self.ring_time(&dest));
                let r = self.control.transfer(dest, None, ring, now);
                if r.is_err() {
                    self.release(reserved);
                }
                r.map_err(refused)
            }
            Command::Consult(target) => {
                let dest = self.resolve(&target).map_err(|(_, why)| why)?;
                let (reserved, ring) = (reserved_key(&dest), self.ring_time(&dest));
                let r = self.control.consult(dest, ring, now);
                if r.is_err() {
                    self.release(reserved);
                }
                r.map_err(refused)
            }
            Command::Supervise {
                extension,
                how,
                who,
            } => self.supervise(extension, how, who).await,
            Command::SupervisePhone {
                how,
                who,
                extension,
                media,
                gone,
            } => {
                if self.control.agent().is_some_and(|a| a.0 == extension) {
                    return Err("the agent cannot supervise their own call".into());
                }
                let id = self.control.new_leg();
                self.external.insert(id, (media, gone));
                self.supervisors.insert(id, (how, who.clone(), extension));
                if let Err(e) = self.control.supervise(id, how) {
                    self.external.remove(&id);
                    self.supervisors.remove(&id);
                    return Err(refused(e));
                }
                self.note(CallNote::Supervised {
                    who: &who,
                    how: supervision_name(how),
                })
                .await;
                Ok(())
            }
            Command::SupervisorLeft { addr } => {
                let id = self
                    .external
                    .iter()
                    .find(|(_, (m, _))| m.local_addr() == addr)
                    .map(|(id, _)| *id);
                if let Some(id) = id {
                    self.external.remove(&id);
                    self.supervisors.remove(&id);
                    self.control
                        .handle_leg(id, LegEvent::HungUp, Instant::now());
                }
                Ok(())
            }
            Command::ForceHangUp { who } => {
                if !self.control.is_talking() {
                    return Err(refused(Refused::NotTalking));
                }
                tracing::info!(%who, "a supervisor ended the call");
                self.note(CallNote::ForcedHangUp { who: &who }).await;
                self.notes.push_back(Note::HangUp(Cause::SupervisorHangUp));
                Ok(())
            }
        }
    }

    /// Rings a supervisor's phone into the call, or changes how the one already in it
    /// takes part.
    async fn supervise(
        &mut self,
        extension: String,
        how: Supervision,
        who: String,
    ) -> Result<(), String> {
        if !self.control.is_talking() {
            return Err(refused(Refused::NotTalking));
        }
        if self.control.agent().is_some_and(|a| a.0 == extension) {
            return Err("the agent cannot supervise their own call".into());
        }
        let already = self
            .supervisors
            .iter()
            .find(|(_, (_, _, ext))| *ext == extension)
            .map(|(id, _)| *id);
        if let Some(id) = already {
            if let Some(s) = self.supervisors.get_mut(&id) {
                s.0 = how;
            }
            if self.legs.get(&id).is_some_and(|l| l.is_connected()) {
                self.control.supervise(id, how).map_err(refused)?;
                self.note(CallNote::Supervised {
                    who: &who,
                    how: supervision_name(how),
                })
                .await;
            }
            return Ok(());
        }
        let Some(binding) = self.ctx.desk.contacts(&extension).into_iter().next() else {
            return Err(format!("extension {extension} has no registered phone"));
        };
        let id = self.control.new_leg();
        let offer = AgentOffer {
            citizen: "supervise",
            ticket: &self.ticket,
            extra: vec![rsip::Header::Other(
                "X-Supervise".into(),
                supervision_name(how).into(),
            )],
        };
        let route = self.calls.route_to(&self.tx);
        let leg = agent_leg::ring(
            self.ep.clone(),
            &self.ctx.ports,
            &extension,
            binding,
            offer,
            route,
        )
        .await?;
        self.legs.insert(id, leg);
        self.supervisors.insert(id, (how, who, extension));
        Ok(())
    }

    /// What a transfer or consultation target names: an agent's extension (reserved in
    /// the ACD if Ready), a queue, an allowed outside number, or the survey. The error is
    /// the SIP status for the REFER's NOTIFY and a message for the desk.
    fn resolve(&self, target: &str) -> Result<Destination, (u16, String)> {
        let ctx = &self.ctx;
        if target == ctx.cfg.agents.survey_transfer {
            return Ok(Destination::Survey);
        }
        let agent = AgentId(target.to_string());
        if ctx.acd.agent_state(&agent).is_some() {
            if ctx.desk.contacts(target).is_empty() {
                return Err((480, format!("agent {target} has no registered phone")));
            }
            let key = ctx.next_call_key();
            let label = format!("{} transfer", self.ticket);
            return match ctx.acd.offer_direct(key, &agent, &label) {
                Ok(()) => Ok(Destination::Agent { agent, key }),
                Err(DirectRefusal::Busy) => Err((486, format!("agent {target} is not ready"))),
                Err(e) => Err((480, format!("agent {target}: {e}"))),
            };
        }
        if ctx.cfg.acd.queues.iter().any(|q| q.name == target) {
            return Ok(Destination::Queue(target.to_string()));
        }
        if ctx.cfg.agents.transfer_numbers.iter().any(|n| n == target) {
            if ctx.cfg.trunk.outbound.is_none() {
                return Err((503, "no outbound trunk is configured".into()));
            }
            return Ok(Destination::Number(target.to_string()));
        }
        Err((404, format!("unknown transfer target {target:?}")))
    }

    fn ring_time(&self, dest: &Destination) -> Duration {
        match dest {
            Destination::Agent { agent, .. } => self.ctx.acd.max_ring(agent),
            _ => NUMBER_RING,
        }
    }

    /// Gives back an agent reserved for a transfer that did not happen.
    fn release(&self, reserved: Option<CallKey>) {
        if let Some(key) = reserved {
            self.ctx.acd.leave(key);
        }
    }
}

fn reserved_key(dest: &Destination) -> Option<CallKey> {
    match dest {
        Destination::Agent { key, .. } => Some(*key),
        _ => None,
    }
}

fn refused(r: Refused) -> String {
    r.to_string()
}
