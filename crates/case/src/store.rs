//! [`CaseStore`]: the API the server calls, independent of the database behind it.
//!
//! Time comes from the caller: every method that stamps a time takes it (`now`, `at`,
//! `ended_at`), and no store method reads the clock, so the server uses its one clock
//! and tests pass fixed times.

use std::path::{Component, Path};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::acd::AcdStep;
use crate::calendar::{DeadlinePolicy, WorkCalendar};
use crate::callback::{
    CallbackAttempt, CallbackMode, CallbackReason, CallbackResult, CallbackStatus, CallbackTask,
    CallbackTaskId, NumberPolicy, TaskSpec,
};
use crate::error::CaseError;
use crate::lifecycle::{Action, Role, Satisfaction};
use crate::model::{
    check_skills, is_valid_code, is_valid_extension, AcdResult, Actor, Agent, AgentEvent,
    AgentSecrets, CallId, CaseDetail, CaseFields, CaseId, CaseQuery, CaseStatus, CaseSummary,
    Department, MissedCall, NewAgent, NewAgentEvent, NewCall, NewCase, NewDepartment,
    NewOutboundCall, NewRecording, NewUser, OpenedCall, QueueStats, RecordingId, Skill, User,
    UserId,
};
use crate::postgres::PostgresBackend;
use crate::report::{self, DailyReport};
use crate::secret::{self, AgentHashes};
use crate::sqlite::SqliteBackend;
use crate::ticket;
use crate::workflow;
use crate::writer::{Done, OwnedAgentEvent, OwnedStep, Queue, Write, WriterHandle, WriterStats};

/// Runs the same expression on whichever backend the store has (`$b` is bound to it).
macro_rules! on_backend {
    ($self:ident, $b:ident => $e:expr) => {
        match &$self.backend {
            Backend::Sqlite($b) => $e,
            Backend::Postgres($b) => $e,
        }
    };
}

/// The case database. Cheap to clone (a connection pool); share one per process.
#[derive(Debug, Clone)]
pub struct CaseStore {
    backend: Backend,
    /// The call path's writes, batched ([`crate::writer`]).
    writer: WriterHandle,
    /// Attempts of the task a voicemail or callback request creates.
    callback_attempts: u32,
    callback_numbers: std::sync::Arc<NumberPolicy>,
    /// The node (process, machine) this store writes calls for: [`CaseStore::with_node`].
    node: Option<std::sync::Arc<str>>,
}

/// The databases the store can run on. Each variant's module holds all of its SQL.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteBackend),
    Postgres(PostgresBackend),
}

impl CaseStore {
    /// Opens the database and applies pending migrations.
    ///
    /// `url_or_path` is one of
    ///
    /// - a `sqlite:` URL (`sqlite://data/hotline.db`, `sqlite:data/x.db?…`) or a plain file
    ///   path: the file and its parent directory are created if missing;
    /// - a `postgres://` (or `postgresql://`) URL, e.g.
    ///   `postgres://hotline:secret@db/hotline`: the database must exist; the tables go
    ///   into the first schema of the connection's `search_path` (add
    ///   `?options=-c%20search_path%3Dname` for another schema than `public`).
    ///
    /// Either way the backend's migrations (`migrations/sqlite/` or
    /// `migrations/postgres/`, embedded in the binary) are applied. Other URL schemes fail
    /// with [`CaseError::UnsupportedBackend`].
    pub async fn open(url_or_path: &str) -> Result<Self, CaseError> {
        let backend = match url_or_path.split_once("://") {
            Some(("postgres" | "postgresql", _)) => {
                Backend::Postgres(PostgresBackend::open(url_or_path).await?)
            }
            Some((scheme, _)) if scheme != "sqlite" => {
                return Err(CaseError::UnsupportedBackend(redact_password(url_or_path)))
            }
            _ => Backend::Sqlite(SqliteBackend::open(url_or_path).await?),
        };
        let (writer, queue, stats) = WriterHandle::new();
        match &backend {
            Backend::Sqlite(b) => b.spawn_writer(Queue::new(queue, stats)),
            Backend::Postgres(b) => b.spawn_writer(Queue::new(queue, stats)),
        }
        let store = CaseStore {
            backend,
            writer,
            callback_attempts: crate::callback::DEFAULT_MAX_ATTEMPTS,
            callback_numbers: std::sync::Arc::new(NumberPolicy::default()),
            node: None,
        };
        tracing::info!(
            backend = store.backend_name(),
            db = %redact_password(url_or_path),
            "case store open"
        );
        Ok(store)
    }

    /// The same store, giving the tasks that voicemails and callback requests create
    /// `attempts` attempts (`[callbacks] max_attempts`; clamped to 1–20) instead of
    /// [`DEFAULT_MAX_ATTEMPTS`](crate::callback::DEFAULT_MAX_ATTEMPTS).
    pub fn with_callback_attempts(mut self, attempts: u32) -> Self {
        self.callback_attempts = attempts.clamp(1, 20);
        self
    }

    /// The same store, calling back only the numbers `policy` allows (instead of
    /// [`NumberPolicy::default`]): tasks for others are made `failed` at once.
    pub fn with_callback_numbers(mut self, policy: NumberPolicy) -> Self {
        self.callback_numbers = std::sync::Arc::new(policy);
        self
    }

    /// The same store, writing `node` (the server's `[data] node`, by default its hostname)
    /// on every call row it opens ([`CaseStore::open_call`],
    /// [`CaseStore::open_outbound_call`]): the node that handles the call. The crash
    /// recovery ([`CaseStore::close_crashed_calls`] and the rest of `store/recovery.rs`)
    /// touches only the calls of its node, so several nodes can share one database.
    ///
    /// Without it (the CLI, tests) call rows get no node, as rows written before nodes were
    /// recorded; such rows are every recovering node's.
    pub fn with_node(mut self, node: &str) -> Self {
        self.node = Some(node.into());
        self
    }

    /// The node this store writes calls for ([`CaseStore::with_node`]), if it was given.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The numbers this store's callback tasks may dial.
    pub fn callback_numbers(&self) -> &NumberPolicy {
        &self.callback_numbers
    }

    /// What the call path's writer ([`crate::writer`]) is doing: its backlog (admission
    /// control refuses new calls past a bound), batch sizes and commit times (metrics).
    pub fn writer_stats(&self) -> &WriterStats {
        self.writer.stats()
    }

    /// Which database this store runs on: `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes all connections (checkpointing SQLite's WAL), waiting for those in use to
    /// come back. Later calls fail.
    pub async fn close(&self) {
        self.writer.close().await;
        match &self.backend {
            Backend::Sqlite(b) => b.close().await,
            Backend::Postgres(b) => b.close().await,
        }
    }

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

    /// Marks that the caller left a voicemail: the case goes to `callback_pending` and
    /// its channel becomes `voicemail`, with an audit event `voicemail`. In the same
    /// transaction a callback task (reason `voicemail`) goes on the worklist, due at once
    /// (calling hours are applied by the dialler, see [`crate::callback`]), unless the
    /// case already has an open one or no caller number.
    ///
    /// Allowed from `registered` (or `voicemail`); otherwise
    /// [`CaseError::InvalidTransition`]. Unknown case: [`CaseError::CaseNotFound`].
    pub async fn mark_voicemail(&self, case: CaseId, now: DateTime<Utc>) -> Result<(), CaseError> {
        let (to, action) = (CaseStatus::CallbackPending, Action::LeftVoicemail);
        on_backend!(self, b => {
            b.change_status(case, to, &action, self.callback_attempts, &self.callback_numbers, now).await
        })
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

    /// Looks a case up by its ticket number, with its calls, recordings and audit trail.
    ///
    /// Anything that is not a well-formed ticket (see [`ticket::parse`]) is `Ok(None)`
    /// without touching the database, as is a ticket no case has.
    pub async fn case_by_ticket(&self, ticket: &str) -> Result<Option<CaseDetail>, CaseError> {
        if ticket::parse(ticket).is_none() {
            return Ok(None);
        }
        match &self.backend {
            Backend::Sqlite(b) => b.case_by_ticket(ticket).await,
            Backend::Postgres(b) => b.case_by_ticket(ticket).await,
        }
    }

    /// [`case_by_ticket`](Self::case_by_ticket) for many tickets at once, in their order
    /// (malformed and unknown tickets left out): one snapshot and a few statements for all
    /// of them, for lists that show each case in full (a department's portal).
    pub async fn case_details(&self, tickets: &[String]) -> Result<Vec<CaseDetail>, CaseError> {
        let tickets: Vec<String> = tickets
            .iter()
            .filter(|t| ticket::parse(t).is_some())
            .cloned()
            .collect();
        if tickets.is_empty() {
            return Ok(Vec::new());
        }
        on_backend!(self, b => b.case_details(&tickets).await)
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

    /// The `limit` most recently opened work orders, newest first (calls that made no
    /// request, [`crate::lifecycle::CaseState::NoRequest`], are not work orders).
    pub async fn list_cases(&self, limit: u32) -> Result<Vec<CaseSummary>, CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.list_cases(limit).await,
            Backend::Postgres(b) => b.list_cases(limit).await,
        }
    }

    /// Adds a seated agent: stores an argon2id hash of the password (for the desktop
    /// login) and the SIP digest HA1 values for `realm`; never the password itself.
    ///
    /// Fails with [`CaseError::InvalidExtension`], [`CaseError::InvalidSkill`],
    /// [`CaseError::InvalidAgent`] (empty name or password, zero ring time) or
    /// [`CaseError::AgentExists`]. The extension of a removed agent may be reused.
    pub async fn add_agent(
        &self,
        a: NewAgent,
        realm: &str,
        now: DateTime<Utc>,
    ) -> Result<Agent, CaseError> {
        check_extension(&a.extension)?;
        check_skills(&a.skills)?;
        if a.name.trim().is_empty() {
            return Err(CaseError::InvalidAgent("empty name"));
        }
        if a.password.is_empty() {
            return Err(CaseError::InvalidAgent("empty password"));
        }
        if a.max_ring_secs == 0 {
            return Err(CaseError::InvalidAgent("max_ring_secs must be at least 1"));
        }
        let ha1 = secret::ha1(&a.extension, realm, &a.password);
        let password_hash = secret::hash_password(a.password.clone()).await?;
        let hashes = AgentHashes {
            password_hash: &password_hash,
            realm,
            ha1_md5: &ha1.md5,
            ha1_sha256: &ha1.sha256,
        };
        let agent = on_backend!(self, b => b.add_agent(&a, &hashes, now).await?);
        tracing::info!(agent = %agent.extension, "agent added");
        Ok(agent)
    }

    /// Every current agent, by extension (shorter first, so `999` before `1001`).
    pub async fn list_agents(&self) -> Result<Vec<Agent>, CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.list_agents().await,
            Backend::Postgres(b) => b.list_agents().await,
        }
    }

    /// One current agent; `Ok(None)` for an unknown, removed or malformed extension.
    pub async fn agent(&self, ext: &str) -> Result<Option<Agent>, CaseError> {
        if !is_valid_extension(ext) {
            return Ok(None);
        }
        match &self.backend {
            Backend::Sqlite(b) => b.agent(ext).await,
            Backend::Postgres(b) => b.agent(ext).await,
        }
    }

    /// Replaces an agent's skills with `skills` (checked, each at most once).
    pub async fn set_skills(
        &self,
        ext: &str,
        skills: Vec<Skill>,
        now: DateTime<Utc>,
    ) -> Result<Agent, CaseError> {
        check_extension(ext)?;
        check_skills(&skills)?;
        on_backend!(self, b => b.set_skills(ext, &skills, now).await)
    }

    /// Removes an agent: it can no longer log in or register, and is no longer listed;
    /// its history stays. [`CaseError::AgentNotFound`] if there is no current agent.
    pub async fn remove_agent(&self, ext: &str, now: DateTime<Utc>) -> Result<(), CaseError> {
        check_extension(ext)?;
        on_backend!(self, b => b.remove_agent(ext, now).await?);
        tracing::info!(agent = ext, "agent removed");
        Ok(())
    }

    /// The SIP digest HA1 values of a current agent, for the registrar.
    pub async fn agent_secrets(&self, ext: &str) -> Result<Option<AgentSecrets>, CaseError> {
        if !is_valid_extension(ext) {
            return Ok(None);
        }
        match &self.backend {
            Backend::Sqlite(b) => b.agent_secrets(ext).await,
            Backend::Postgres(b) => b.agent_secrets(ext).await,
        }
    }

    /// Checks an agent's desktop login. An unknown, removed or malformed extension is
    /// `Ok(false)` after as much hashing work as a wrong password, so timing does not
    /// tell which extensions exist.
    pub async fn verify_agent_password(
        &self,
        ext: &str,
        password: &str,
    ) -> Result<bool, CaseError> {
        let hash = if is_valid_extension(ext) {
            match &self.backend {
                Backend::Sqlite(b) => b.password_hash(ext).await?,
                Backend::Postgres(b) => b.password_hash(ext).await?,
            }
        } else {
            None
        };
        secret::verify_password(password.to_owned(), hash).await
    }

    /// Appends one state change of an agent to its history. [`CaseError::AgentNotFound`]
    /// if the extension was never an agent.
    pub async fn record_agent_event(&self, e: &NewAgentEvent<'_>) -> Result<(), CaseError> {
        check_extension(e.extension)?;
        let event = Write::AgentEvent(OwnedAgentEvent::new(e));
        self.writer.write(event).await.map(drop)
    }

    /// The `limit` most recent state changes of an agent, newest first.
    pub async fn agent_events(&self, ext: &str, limit: u32) -> Result<Vec<AgentEvent>, CaseError> {
        if !is_valid_extension(ext) {
            return Ok(Vec::new());
        }
        match &self.backend {
            Backend::Sqlite(b) => b.agent_events(ext, limit).await,
            Backend::Postgres(b) => b.agent_events(ext, limit).await,
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

    /// The automatic revisit (自动回访): the citizen answered the survey question on an
    /// outbound call (`score` 1 satisfied, 2 mostly satisfied, 3 unsatisfied). In one
    /// transaction, as [`Role::System`] (audit actor `system`):
    ///
    /// - the lifecycle's revisit (`replied` → `revisited`, or `revisited_unsatisfied`),
    ///   with the case's satisfaction, exactly as [`CaseStore::transition`] does it;
    /// - the answer on the call row (`calls.satisfaction`);
    /// - if unsatisfied, the redo at once (back to the department that replied, a new
    ///   deadline from `calendar` and `policy` with the original dispatch mode), so an
    ///   unhappy citizen does not wait for an agent to press the button.
    ///
    /// Both audit events name the recording of the answer (`evidence: recording 42
    /// (path)`) when one is given. Returns the case afterwards.
    ///
    /// [`CaseError::OutOfRange`] for other scores; [`CaseError::Transition`] if the case
    /// is not `replied`; [`CaseError::CaseNotFound`], [`CaseError::CallNotFound`],
    /// [`CaseError::CallNotInCase`], [`CaseError::RecordingNotFound`],
    /// [`CaseError::InvalidField`] for a recording of another case,
    /// [`CaseError::DepartmentInactive`] if the department no longer takes cases (then
    /// nothing changes and a person must redo it elsewhere).
    #[allow(clippy::too_many_arguments)]
    pub async fn revisit_by_phone(
        &self,
        case: CaseId,
        score: u8,
        call: CallId,
        recording: Option<RecordingId>,
        calendar: &WorkCalendar,
        policy: &DeadlinePolicy,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        let satisfaction = Satisfaction::from_score(score)
            .ok_or(CaseError::OutOfRange("satisfaction score (1 to 3)"))?;
        let detail = on_backend!(self, b => {
            b.revisit_by_phone(case, satisfaction, call, recording, calendar, policy, now)
                .await?
        });
        tracing::info!(ticket = %detail.case.ticket, satisfaction = satisfaction.as_str(), "revisited by phone");
        Ok(detail)
    }

    /// The caller chose to be called back instead of waiting: the case goes to
    /// `callback_pending` with an audit event `callback_requested`. Same rules as
    /// [`CaseStore::mark_voicemail`], also for the task (reason `callback_requested`).
    pub async fn mark_callback_requested(
        &self,
        case: CaseId,
        now: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let (to, action) = (CaseStatus::CallbackPending, Action::RequestCallback);
        on_backend!(self, b => {
            b.change_status(case, to, &action, self.callback_attempts, &self.callback_numbers, now).await
        })
    }

    /// Per queue (by name), the calls that entered it at or after `since` (the
    /// controller passes local midnight): offered, answered, answered within 15 s,
    /// abandoned, expired, turned away, still waiting, and wait times.
    pub async fn queue_stats(&self, since: DateTime<Utc>) -> Result<Vec<QueueStats>, CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.queue_stats(since).await,
            Backend::Postgres(b) => b.queue_stats(since).await,
        }
    }

    /// The daily report (每日一报) of local day `day` in `tz`, `[00:00, 24:00)`: calls
    /// (the day and each hour), agents, callbacks and work orders, with each figure's
    /// formula in [`DailyReport`]'s docs. For today, agents' state times run up to now.
    pub async fn daily_report(
        &self,
        day: NaiveDate,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<DailyReport, CaseError> {
        let bounds = report::day_bounds(day, tz);
        let rows = on_backend!(self, b => b.report_rows(bounds.0, bounds.1).await?);
        Ok(report::compute(day, tz, bounds, rows, now))
    }

    /// The 按时办结率 and 满意率 (with their counts) of each local day from `first` to
    /// `last` in `tz`, oldest first, one query for all of them: each day's figures are
    /// those of its [`DailyReport`]'s [`report::CaseFigures`]. Empty if `last` is before
    /// `first`.
    pub async fn daily_rates(
        &self,
        first: NaiveDate,
        last: NaiveDate,
        tz: Tz,
    ) -> Result<Vec<report::DayRates>, CaseError> {
        if last < first {
            return Ok(Vec::new());
        }
        let (from, _) = report::day_bounds(first, tz);
        let (_, to) = report::day_bounds(last, tz);
        let rows = on_backend!(self, b => b.rate_rows(from, to).await?);
        Ok(report::day_rates(first, last, tz, rows))
    }

    // ----- Callback worklist -----

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

    // ----- Departments -----

    /// Adds a department (network unit). The code must be 1 to 64 lowercase letters,
    /// digits, `.`, `_`, `-`; the name non-blank; a level 1 unit has no parent, a level 2
    /// or 3 unit has one of a higher level ([`CaseError::InvalidField`] naming the
    /// field). [`CaseError::DepartmentNotFound`] for an unknown parent,
    /// [`CaseError::DepartmentExists`] for a taken code.
    pub async fn add_department(
        &self,
        d: NewDepartment,
        now: DateTime<Utc>,
    ) -> Result<Department, CaseError> {
        if !is_valid_code(&d.code) {
            return Err(field("code", "1 to 64 of a-z, 0-9, '.', '_', '-'"));
        }
        if d.name.trim().is_empty() {
            return Err(field("name", "must not be empty"));
        }
        match (d.level, &d.parent) {
            (1, None) | (2..=3, Some(_)) => {}
            (1, Some(_)) => return Err(field("parent", "a level 1 unit has no parent")),
            (2..=3, None) => return Err(field("parent", "a level 2 or 3 unit needs one")),
            _ => return Err(field("level", "must be 1, 2 or 3")),
        }
        on_backend!(self, b => b.add_department(&d, now).await)
    }

    /// Every department, in tree order: each unit followed by the units below it,
    /// siblings by code.
    pub async fn departments(&self) -> Result<Vec<Department>, CaseError> {
        on_backend!(self, b => b.departments().await)
    }

    /// One department by code.
    pub async fn department(&self, code: &str) -> Result<Option<Department>, CaseError> {
        on_backend!(self, b => b.department(code).await)
    }

    /// Makes a department take cases or not (departments are never deleted).
    pub async fn set_department_active(
        &self,
        code: &str,
        active: bool,
    ) -> Result<Department, CaseError> {
        on_backend!(self, b => b.set_department_active(code, active).await)
    }

    /// Whether department `child` is `ancestor` itself or lies below it. Unknown codes:
    /// `false`.
    pub async fn is_within(&self, child: &str, ancestor: &str) -> Result<bool, CaseError> {
        on_backend!(self, b => b.is_within(child, ancestor).await)
    }

    // ----- Work orders -----

    /// Does `action` to the case with this ticket, as `actor`, at `now`, in one
    /// transaction (the case row locked on PostgreSQL):
    ///
    /// - the lifecycle decides ([`crate::lifecycle::apply`]): a refusal is
    ///   [`CaseError::Transition`] and nothing changes;
    /// - dispatch, forward, redispatch and a redo to another unit must name an active
    ///   department ([`CaseError::DepartmentNotFound`], [`CaseError::DepartmentInactive`]);
    ///   a department handler redispatches only to a unit strictly below the case's
    ///   current one ([`CaseError::NotInSubtree`]);
    /// - the deadline: a dispatch starts one ([`DeadlinePolicy::deadline`] for the mode
    ///   and the case's category), a redispatch or redo starts a new one with the same
    ///   mode, an approved extension moves it by the requested working days; replies,
    ///   returns and closes keep the last deadline (for the on-time rate);
    /// - extension requests: one pending at a time ([`CaseError::ExtensionPending`]);
    ///   approve and refuse need one ([`CaseError::NoPendingExtension`]);
    /// - counters (urges, redos), satisfaction, return reason, replied and closed times;
    /// - an audit event (actor, time, from→to if the state changed, a note).
    ///
    /// Returns the case as it is afterwards.
    pub async fn transition(
        &self,
        ticket: &str,
        action: Action,
        actor: &Actor,
        calendar: &WorkCalendar,
        policy: &DeadlinePolicy,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        if ticket::parse(ticket).is_none() {
            return Err(CaseError::TicketNotFound(ticket.to_owned()));
        }
        let detail = on_backend!(self, b => {
            b.transition(ticket, &action, actor, calendar, policy, now).await?
        });
        tracing::info!(ticket, action = action.kind().event(), actor = %actor.user, "case transition");
        Ok(detail)
    }

    /// Registers a work order by hand (a web submission, or a phone call an agent writes
    /// up): in one transaction, allocates local day `local_day`'s next ticket from the
    /// same sequence as [`CaseStore::open_call`], inserts the case (status `registered`,
    /// no call) and the audit event `registered` by `actor` at `now`.
    ///
    /// Checked first, nothing written on failure: department handlers and the call
    /// controller may not ([`CaseError::Forbidden`]); the channel must be `web` or
    /// `phone`, the caller number 1 to 32 digits after an optional `+`, and the text
    /// fields follow [`CaseStore::update_case_fields`]'s rules (subject required) — the
    /// first bad one is [`CaseError::InvalidField`] naming it.
    pub async fn create_case(
        &self,
        c: NewCase,
        actor: &Actor,
        local_day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        let checked = workflow::plan_new_case(&c, actor)?;
        let detail = on_backend!(self, b => b.create_case(&checked, actor, local_day, now).await?);
        tracing::info!(ticket = %detail.case.ticket, channel = %detail.case.channel, actor = %actor.user, "case created");
        Ok(detail)
    }

    /// Changes the work-order fields given (`None` leaves one as it is), checked first:
    /// the first bad one is [`CaseError::InvalidField`] naming it, and nothing changes.
    /// Department handlers may not ([`CaseError::Forbidden`]); a final case cannot
    /// change ([`CaseError::CaseFinal`]). Writes an audit event `updated` listing the
    /// fields that changed (none if nothing did).
    pub async fn update_case_fields(
        &self,
        ticket: &str,
        fields: CaseFields,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        if ticket::parse(ticket).is_none() {
            return Err(CaseError::TicketNotFound(ticket.to_owned()));
        }
        on_backend!(self, b => b.update_case_fields(ticket, &fields, actor, now).await)
    }

    /// The cases matching every criterion of `q`, newest first. Without a status in `q`,
    /// calls that made no request ([`crate::lifecycle::CaseState::NoRequest`]) are left
    /// out. [`CaseError::DepartmentNotFound`] for an unknown department code.
    pub async fn search_cases(&self, q: &CaseQuery) -> Result<Vec<CaseSummary>, CaseError> {
        on_backend!(self, b => b.search_cases(q).await)
    }

    /// The work orders of this caller number that are still open (not answered,
    /// forwarded or closed; calls that made no request are none), newest first: shown to
    /// the agent when the number calls again.
    pub async fn open_cases_for_number(&self, number: &str) -> Result<Vec<CaseSummary>, CaseError> {
        on_backend!(self, b => b.open_cases_for_number(number).await)
    }

    /// Attaches a call (with its recordings) to the existing case `ticket` instead of
    /// the case opened for it (a repeat caller about the same matter). Audit
    /// `call_linked` on the case; the case the call leaves gets `call_moved`, or is
    /// closed as `merged` if it is still `registered` and has no call left.
    /// [`CaseError::CaseFinal`] if the target is final, [`CaseError::TicketNotFound`],
    /// [`CaseError::CallNotFound`]; department handlers may not
    /// ([`CaseError::Forbidden`]). A call already in the target case changes nothing.
    pub async fn link_call_to_case(
        &self,
        call: CallId,
        ticket: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        if actor.role == Role::DepartmentHandler {
            return Err(CaseError::Forbidden(
                "a department handler cannot link calls to work orders".into(),
            ));
        }
        if ticket::parse(ticket).is_none() {
            return Err(CaseError::TicketNotFound(ticket.to_owned()));
        }
        on_backend!(self, b => b.link_call_to_case(call, ticket, actor, now).await)
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

    // ----- Users and sessions -----

    /// Adds a user of the HTTP API with an argon2id hash of the password. Checks (each
    /// [`CaseError::InvalidField`]): user name like a department code, non-blank name,
    /// not the `system` role, a department for (only for) a department handler, a
    /// password of at least 8 characters. [`CaseError::UserExists`],
    /// [`CaseError::DepartmentNotFound`].
    pub async fn add_user(&self, u: NewUser, now: DateTime<Utc>) -> Result<User, CaseError> {
        if !is_valid_code(&u.username) {
            return Err(field("username", "1 to 64 of a-z, 0-9, '.', '_', '-'"));
        }
        if u.name.trim().is_empty() {
            return Err(field("name", "must not be empty"));
        }
        if u.role == Role::System {
            return Err(field("role", "system is not a user role"));
        }
        match (u.role == Role::DepartmentHandler, &u.department) {
            (true, None) => return Err(field("department", "a department handler needs one")),
            (false, Some(_)) => {
                return Err(field("department", "only department handlers have one"))
            }
            _ => {}
        }
        if let Some(ext) = &u.extension {
            if !matches!(u.role, Role::Agent | Role::Supervisor) {
                return Err(field(
                    "extension",
                    "only agents and supervisors work at one",
                ));
            }
            check_extension(ext)?;
        }
        if u.password.chars().count() < 8 {
            return Err(field("password", "at least 8 characters"));
        }
        let hash = secret::hash_password(u.password.clone()).await?;
        let user = on_backend!(self, b => b.add_user(&u, &hash, now).await?);
        tracing::info!(user = %user.username, role = %user.role, "user added");
        Ok(user)
    }

    /// Every user, in the order they were added.
    pub async fn users(&self) -> Result<Vec<User>, CaseError> {
        on_backend!(self, b => b.users().await)
    }

    /// Disables (or enables again) a user; disabling ends their sessions.
    pub async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<(), CaseError> {
        on_backend!(self, b => b.set_user_disabled(username, disabled).await)
    }

    /// The user if the password is right and the user is not disabled. An unknown or
    /// disabled user costs as much hashing work as a wrong password.
    pub async fn verify_login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, CaseError> {
        let found = if is_valid_code(username) {
            on_backend!(self, b => b.login_record(username).await?)
        } else {
            None
        };
        let (id, hash) = match found {
            Some((id, hash)) => (Some(id), Some(hash)),
            None => (None, None),
        };
        if !secret::verify_password(password.to_owned(), hash).await? {
            return Ok(None);
        }
        match id {
            Some(id) => on_backend!(self, b => b.user(UserId(id)).await),
            None => Ok(None),
        }
    }

    /// Starts a session for `user` valid for `ttl` from `now`: returns the token (32
    /// random bytes, hex); only its SHA-256 is stored.
    pub async fn create_session(
        &self,
        user: UserId,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<String, CaseError> {
        let token = secret::new_token();
        let hash = secret::token_hash(&token);
        on_backend!(self, b => b.insert_session(&hash, user, now, now + ttl).await?);
        Ok(token)
    }

    /// The (enabled) user of a session that has not expired at `now`.
    pub async fn session_user(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, CaseError> {
        let hash = secret::token_hash(token);
        on_backend!(self, b => b.session_user(&hash, now).await)
    }

    /// Ends a session (logout); an unknown token is not an error.
    pub async fn end_session(&self, token: &str) -> Result<(), CaseError> {
        let hash = secret::token_hash(token);
        on_backend!(self, b => b.delete_session(&hash).await)
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

/// The row limit of a search: 100 by default (0), at most 1000.
pub(crate) fn search_limit(limit: u32) -> u32 {
    match limit {
        0 => 100,
        n => n.min(1000),
    }
}

fn field(field: &'static str, reason: &str) -> CaseError {
    CaseError::InvalidField {
        field,
        reason: reason.to_owned(),
    }
}

fn check_extension(ext: &str) -> Result<(), CaseError> {
    if is_valid_extension(ext) {
        Ok(())
    } else {
        Err(CaseError::InvalidExtension(ext.to_owned()))
    }
}

/// The URL with the password of its user info (`user:password@`) replaced by `***`,
/// fit for logs and error messages. Anything without one is returned unchanged.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match user_info.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_owned(),
    }
}

/// A non-empty relative path made only of normal components (no `..`, no root, no `.`).
fn is_contained_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && !path.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
}

mod desk;
pub use desk::AgentTally;
pub(crate) mod recovery;
mod registrations;
mod security;

#[cfg(test)]
mod tests;
