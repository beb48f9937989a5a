//! The call path: inbound calls opened and ended, recordings, missed calls, each call's
//! ACD steps and survey answer, outbound calls. Most of these go through the group-commit
//! writer ([`crate::writer`]).

use chrono::{DateTime, Utc};

use super::{check_extension, field, is_contained_relative, Backend, CaseStore};
use crate::acd::AcdStep;
use crate::error::CaseError;
use crate::model::{
    AcdResult, CallId, CaseId, MissedCall, NewCall, NewOutboundCall, NewRecording, OpenedCall,
    RecordingId,
};
use crate::writer::{Done, OwnedStep, Write};

impl CaseStore {
    /// Registers an answered inbound call: in one transaction, allocates the day's next
    /// ticket number, inserts the case (channel `phone`, status `registered`), the call
    /// row (with this store's [node](CaseStore::with_node)), and the audit event
    /// `registered`.
    pub async fn open_call(&self, c: NewCall) -> Result<OpenedCall, CaseError> {
        let node = self.node.clone();
        let opened = match self.writer.write(Write::OpenCall { call: c, node }).await? {
            Done::Opened(o) => o,
            other => return Err(CaseError::Corrupt(format!("open_call wrote {other:?}"))),
        };
        tracing::debug!(ticket = %opened.ticket, case = %opened.case, "case registered");
        Ok(opened)
    }

    /// [`CaseStore::open_call`], then the case made a work order as an agent's answer
    /// makes it (`registered`): for tests of what happens to work orders.
    #[cfg(test)]
    pub(crate) async fn open_answered_call(&self, c: NewCall) -> Result<OpenedCall, CaseError> {
        let at = c.answered_at;
        let opened = self.open_call(c).await?;
        on_backend!(self, b => b.register_case(opened.case.0, at).await)?;
        Ok(opened)
    }

    /// Records the end of a call: its end time, hangup cause and the IVR path taken.
    ///
    /// Fails with [`CaseError::CallNotFound`] or, if it was already ended,
    /// [`CaseError::CallAlreadyEnded`].
    pub async fn end_call(
        &self,
        call: CallId,
        ended_at: DateTime<Utc>,
        cause: &str,
        ivr_path: &str,
    ) -> Result<(), CaseError> {
        let cause = cause.to_owned();
        let ivr_path = ivr_path.to_owned();
        let end = Write::EndCall {
            call,
            ended_at,
            cause,
            ivr_path,
        };
        self.writer.write(end).await.map(drop)
    }

    /// Attaches a finalized recording file to a call and its case.
    ///
    /// The path must be relative to the recordings directory and stay inside it
    /// ([`CaseError::InvalidRecordingPath`]); the call must exist
    /// ([`CaseError::CallNotFound`]) and belong to the case ([`CaseError::CallNotInCase`]).
    pub async fn add_recording(&self, r: NewRecording) -> Result<RecordingId, CaseError> {
        if !is_contained_relative(&r.path) {
            return Err(CaseError::InvalidRecordingPath(r.path));
        }
        match self.writer.write(Write::Recording(r)).await? {
            Done::Recording(id) => Ok(id),
            other => Err(CaseError::Corrupt(format!("add_recording wrote {other:?}"))),
        }
    }

    /// Keeps a call that ended before it was answered.
    pub async fn record_missed_call(&self, m: &MissedCall) -> Result<(), CaseError> {
        let missed = Write::MissedCall(m.clone());
        self.writer.write(missed).await.map(drop)
    }

    /// The `limit` most recent missed calls, newest first.
    pub async fn missed_calls(&self, limit: u32) -> Result<Vec<MissedCall>, CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.missed_calls(limit).await,
            Backend::Postgres(b) => b.missed_calls(limit).await,
        }
    }

    /// The call entered ACD queue `queue` (audit `queued`). Called for every call that
    /// asks for an agent, also when it is turned away at once (`queue_full`,
    /// `no_agents`): that is what `offered` counts. Queuing again (moved to another
    /// queue) changes the queue but keeps the first time, so the wait counts from it.
    pub async fn call_queued(
        &self,
        call: CallId,
        queue: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        self.acd_step(call, AcdStep::Queued { queue }, at).await
    }

    /// An agent's phone rings for the call: `offered_count` + 1 (audit `offered`).
    pub async fn call_offered(
        &self,
        call: CallId,
        agent: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        self.acd_step(call, AcdStep::Offered { agent }, at).await
    }

    /// The agent did not take the offer (`reason`: e.g. `no_answer`, `busy`,
    /// `declined`): `rejected_count` + 1 (audit `offer_rejected`).
    pub async fn call_offer_rejected(
        &self,
        call: CallId,
        agent: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let step = AcdStep::OfferRejected { agent, reason };
        self.acd_step(call, step, at).await
    }

    /// An agent answered: records the agent and its leg's Call-ID, `acd_result`
    /// `answered` and `wait_ms` since queuing (audit `agent_answered`).
    /// [`CaseError::AgentNotFound`] if the extension was never an agent.
    pub async fn call_agent_answered(
        &self,
        call: CallId,
        agent: &str,
        agent_call_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let step = AcdStep::Answered {
            agent,
            agent_call_id,
        };
        self.acd_step(call, step, at).await
    }

    /// The conversation with the agent ended: `talk_ms` since the answer.
    pub async fn call_agent_ended(&self, call: CallId, at: DateTime<Utc>) -> Result<(), CaseError> {
        self.acd_step(call, AcdStep::AgentEnded, at).await
    }

    /// A transfer, hold or supervision on the answered call, for the case's trail.
    pub async fn call_note(
        &self,
        call: CallId,
        note: crate::acd::CallNote<'_>,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        self.acd_step(call, AcdStep::Note(note), at).await
    }

    /// The agent finished wrap-up for the call: `wrap_up_ms` since the talk ended.
    pub async fn call_wrap_up_done(
        &self,
        call: CallId,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        self.acd_step(call, AcdStep::WrapUpDone, at).await
    }

    /// The call left its queue unanswered; `result` is `abandoned`, `expired`,
    /// `queue_full`, `no_agents` or `callback_requested` (else
    /// [`CaseError::InvalidAcdResult`]). Sets `wait_ms` (audit `left_queue`).
    pub async fn call_left_queue(
        &self,
        call: CallId,
        result: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let result = AcdResult::parse(result)
            .filter(|r| *r != AcdResult::Answered)
            .ok_or_else(|| CaseError::InvalidAcdResult(result.to_owned()))?;
        self.acd_step(call, AcdStep::LeftQueue(result), at).await
    }

    /// The caller's answer to the satisfaction survey after talking to an agent
    /// (1 满意 satisfied, 2 基本满意 mostly satisfied, 3 不满意 unsatisfied), kept as an audit
    /// event `satisfaction` and, when the call it was given on is known, on that call row
    /// too (same transaction), so answers can be counted per call and per agent. Other
    /// scores: [`CaseError::OutOfRange`]; [`CaseError::CaseNotFound`],
    /// [`CaseError::CallNotFound`], [`CaseError::CallNotInCase`].
    pub async fn record_satisfaction(
        &self,
        case: CaseId,
        call: Option<CallId>,
        score: u8,
        now: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let label = match score {
            1 => "1 satisfied",
            2 => "2 mostly satisfied",
            3 => "3 unsatisfied",
            _ => return Err(CaseError::OutOfRange("satisfaction score (1 to 3)")),
        };
        on_backend!(self, b => b.record_satisfaction(case, call, score, label, now).await)
    }

    /// Registers a call the hotline places to a citizen (a callback or a revisit) when
    /// the dialler sends the INVITE: a call row of the case with direction `outbound`
    /// (caller number = the hotline's caller ID, called number = the citizen, `arrived_at`
    /// = `started_at`, the agent and the task, this store's
    /// [node](CaseStore::with_node)), and the audit event `callback_dialled` by
    /// the agent (or `system` when the IVR dials), naming the number and the task. The
    /// returned id takes [`CaseStore::call_answered`], [`CaseStore::call_agent_answered`]
    /// (an agent-first callback is never queued), [`CaseStore::add_recording`] and
    /// [`CaseStore::end_call`] like an inbound call's.
    ///
    /// [`CaseError::CaseNotFound`]; [`CaseError::CallbackNotFound`] for an unknown task,
    /// [`CaseError::InvalidField`] for a task of another case or an empty number or
    /// Call-ID; [`CaseError::AgentNotFound`] for an agent that never existed.
    pub async fn open_outbound_call(&self, c: NewOutboundCall) -> Result<CallId, CaseError> {
        if c.sip_call_id.trim().is_empty() {
            return Err(field("sip_call_id", "must not be empty"));
        }
        if c.to_number.trim().is_empty() {
            return Err(field("to_number", "must not be empty"));
        }
        if let Some(agent) = &c.agent {
            check_extension(agent)?;
        }
        let call = on_backend!(self, b => b.open_outbound_call(&c, self.node()).await?);
        tracing::debug!(case = %c.case, call = %call, "outbound call opened");
        Ok(call)
    }

    /// The citizen picked up an outbound call: sets its `answered_at` (the time the
    /// hotline reached them, which the attempt's result is checked against).
    /// [`CaseError::CallNotFound`].
    pub async fn call_answered(&self, call: CallId, at: DateTime<Utc>) -> Result<(), CaseError> {
        on_backend!(self, b => b.call_answered(call, at).await)
    }

    /// Audits that `user` read (listened to or downloaded) a recording: event
    /// `recording_read` on its case, naming the file.
    pub async fn record_recording_access(
        &self,
        recording: RecordingId,
        user: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        on_backend!(self, b => b.record_recording_access(recording, user, at).await)
    }

    async fn acd_step(
        &self,
        call: CallId,
        step: AcdStep<'_>,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let step = OwnedStep::new(step);
        self.writer
            .write(Write::Acd { call, step, at })
            .await
            .map(drop)
    }
}
