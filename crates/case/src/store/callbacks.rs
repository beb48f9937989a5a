//! The callback worklist ([`crate::callback`]): tasks made by hand or owed, claimed,
//! attempted, rescheduled, reopened or skipped.

use chrono::{DateTime, Utc};

use super::{field, search_limit, Backend, CaseStore};
use crate::callback::{
    CallbackAttempt, CallbackMode, CallbackReason, CallbackResult, CallbackStatus, CallbackTask,
    CallbackTaskId, TaskSpec,
};
use crate::error::CaseError;
use crate::model::{CallId, CaseId};
use crate::ticket;

impl CaseStore {
    /// Puts a callback task on the worklist by hand (a supervisor's, or a revisit):
    /// calling `number` about `case` from `earliest_at`, at most `max_attempts` times (1
    /// to 20), agent first or by the IVR (`mode`). Its place is the arrival of the case's
    /// first call. Audit event `callback_created` by `actor`.
    /// [`CaseError::InvalidField`] for a bad number or attempt count,
    /// [`CaseError::CaseNotFound`], [`CaseError::CaseFinal`] for a case that is over.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_callback_task(
        &self,
        case: CaseId,
        number: &str,
        reason: CallbackReason,
        mode: CallbackMode,
        priority: i32,
        earliest_at: DateTime<Utc>,
        max_attempts: u32,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        // A person is giving the number: refuse one that may not be dialled, saying why.
        let number = self
            .callback_numbers
            .check(number)
            .map_err(|p| field("number", &p.to_string()))?;
        let number = number.as_str();
        if !(1..=20).contains(&max_attempts) {
            return Err(field("max_attempts", "1 to 20"));
        }
        let spec = TaskSpec {
            number: Some(number),
            numbers: &self.callback_numbers,
            reason,
            mode,
            priority,
            earliest_at,
            max_attempts,
        };
        on_backend!(self, b => b.create_callback_task(case, &spec, actor, now).await)
    }

    /// The tasks due at `now` (`pending` with `next_attempt_at <= now`), higher priority
    /// first, then the oldest place (arrival of the first call), at most `limit` (0: 100).
    pub async fn callback_worklist(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CallbackTask>, CaseError> {
        on_backend!(self, b => b.callback_worklist(Some(now), search_limit(limit)).await)
    }

    /// Every task whatever its status or due time, in worklist order (0: 100).
    pub async fn callback_tasks(&self, limit: u32) -> Result<Vec<CallbackTask>, CaseError> {
        on_backend!(self, b => b.callback_worklist(None, search_limit(limit)).await)
    }

    /// The tasks with this status whatever their due time, in worklist order, at most
    /// `limit` (0: 100): e.g. the `failed` ones for a supervisor to look at, or the
    /// `in_progress` ones to see who is calling whom.
    pub async fn callback_tasks_with_status(
        &self,
        status: CallbackStatus,
        limit: u32,
    ) -> Result<Vec<CallbackTask>, CaseError> {
        on_backend!(self, b => b.callback_tasks_with_status(status, search_limit(limit)).await)
    }

    /// The attempts made on a task, oldest first, with the call each was made on.
    /// [`CaseError::CallbackNotFound`].
    pub async fn callback_attempts(
        &self,
        task: CallbackTaskId,
    ) -> Result<Vec<CallbackAttempt>, CaseError> {
        on_backend!(self, b => b.callback_attempts(task.0).await)
    }

    /// At server start: every `in_progress` task was claimed by a dialler (or agent
    /// session) that died with the previous process, so nobody will finish it. Each goes
    /// back to `pending`, keeping its `next_attempt_at` and attempts, with an audit event
    /// `callback_released` (note `server restart`) by `actor` on its case. Returns how
    /// many were released.
    pub async fn release_callback_claims(
        &self,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, CaseError> {
        let n = on_backend!(self, b => b.release_callback_claims(actor, now).await?);
        if n > 0 {
            tracing::info!(tasks = n, "callback claims released");
        }
        Ok(n)
    }

    /// Puts the revisit (回访) of a `replied` case on the worklist: a task with reason
    /// `revisit` calling the case's caller number from `earliest_at`, at most
    /// `max_attempts` times (1 to 20), agent first or by the IVR (`mode`). Audit event
    /// `callback_created`.
    ///
    /// Refused, with nothing written: [`CaseError::TicketNotFound`];
    /// [`CaseError::Transition`] if the case is not `replied` (nothing to revisit yet,
    /// or already revisited); [`CaseError::CallbackState`] naming the open task if the
    /// case already has a `pending` or `in_progress` revisit (one call about a result is
    /// enough); [`CaseError::InvalidField`] for the attempt count or a case without a
    /// caller number.
    pub async fn revisit_task_for(
        &self,
        ticket: &str,
        mode: CallbackMode,
        earliest_at: DateTime<Utc>,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        if ticket::parse(ticket).is_none() {
            return Err(CaseError::TicketNotFound(ticket.to_owned()));
        }
        if !(1..=20).contains(&max_attempts) {
            return Err(field("max_attempts", "1 to 20"));
        }
        on_backend!(self, b => {
            b.revisit_task_for(ticket, mode, earliest_at, max_attempts, &self.callback_numbers, now).await
        })
    }

    /// One task. [`CaseError::CallbackNotFound`].
    pub async fn callback_task(&self, task: CallbackTaskId) -> Result<CallbackTask, CaseError> {
        on_backend!(self, b => b.callback_task(task.0).await)
    }

    /// An agent takes a `pending` task (→ `in_progress`, audit `callback_claimed`). Of
    /// concurrent claims exactly one wins; the others (and a claim of a task in any other
    /// state) get [`CaseError::CallbackState`].
    pub async fn claim_callback(
        &self,
        task: CallbackTaskId,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        on_backend!(self, b => b.claim_callback(task.0, agent, now).await)
    }

    /// Records how an attempt on a claimed (`in_progress`) task ended: `reached` → `done`;
    /// otherwise `pending` again due at `now + retry_spacing`, or `failed` once
    /// `max_attempts` are used. Audit `callback_attempt` on the case, plus
    /// `callback_failed` when it fails. `call` is the outbound call the attempt was made
    /// on ([`CaseStore::open_outbound_call`]), `None` when it is reported by hand; it is
    /// kept with the attempt ([`CaseStore::callback_attempts`]).
    /// [`CaseError::CallbackState`] if not claimed; [`CaseError::CallNotFound`],
    /// [`CaseError::CallNotInCase`] for a call that is not one of the task's case.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_callback_attempt(
        &self,
        task: CallbackTaskId,
        result: CallbackResult,
        agent: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
        retry_spacing: chrono::Duration,
        call: Option<CallId>,
    ) -> Result<CallbackTask, CaseError> {
        on_backend!(self, b => {
            b.record_callback_attempt(task.0, result, agent, note, now, retry_spacing, call)
                .await
        })
    }

    /// Moves a `pending` or `in_progress` task to `pending` due at `at` (audit
    /// `callback_rescheduled` by `actor`).
    pub async fn reschedule_callback(
        &self,
        task: CallbackTaskId,
        at: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        on_backend!(self, b => b.reschedule_callback(task.0, at, actor, now).await)
    }

    /// Gives a `failed` task `more_attempts` more (1 to 20), due again at `at`, with the
    /// number checked again by today's policy (audit `callback_reopened` by `actor`): a
    /// supervisor's answer to "we could not reach them" when there is reason to try
    /// again. [`CaseError::CallbackState`] unless failed (or for a revisit of a case no
    /// longer replied), [`CaseError::CaseFinal`] if the case is over,
    /// [`CaseError::InvalidField`] (`number`) if it may still not be dialled.
    pub async fn reopen_callback(
        &self,
        task: CallbackTaskId,
        at: DateTime<Utc>,
        more_attempts: u32,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        if !(1..=20).contains(&more_attempts) {
            return Err(field("attempts", "1 to 20"));
        }
        let numbers = &self.callback_numbers;
        on_backend!(self, b => {
            b.reopen_callback(task.0, at, more_attempts, numbers, actor, now).await
        })
    }

    /// A `pending` task whose number may not be dialled (the policy changed, or the task is
    /// older than the check): `failed` with its `number_problem`, audit
    /// `callback_uncallable`. [`CaseError::CallbackState`] unless pending.
    pub async fn mark_callback_uncallable(
        &self,
        task: CallbackTaskId,
        problem: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        on_backend!(self, b => b.mark_callback_uncallable(task.0, problem, now).await)
    }

    /// Takes a `pending` or `in_progress` task off the worklist (`skipped`, audit
    /// `callback_skipped` with the reason, by `actor`).
    pub async fn skip_callback(
        &self,
        task: CallbackTaskId,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        if reason.trim().is_empty() {
            return Err(field("reason", "must not be empty"));
        }
        on_backend!(self, b => b.skip_callback(task.0, reason, actor, now).await)
    }
}
