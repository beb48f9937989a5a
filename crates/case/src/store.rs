//! [`CaseStore`]: the API the server calls, independent of the database behind it.

use std::path::{Component, Path};

use chrono::{DateTime, Utc};

use crate::acd::AcdStep;
use crate::error::CaseError;
use crate::model::{
    check_skills, is_valid_extension, AcdResult, Agent, AgentEvent, AgentSecrets, CallId,
    CaseDetail, CaseId, CaseStatus, CaseSummary, MissedCall, NewAgent, NewCall, NewRecording,
    OpenedCall, QueueStats, RecordingId, Skill,
};
use crate::postgres::PostgresBackend;
use crate::secret::{self, AgentHashes};
use crate::sqlite::SqliteBackend;
use crate::ticket;

/// The case database. Cheap to clone (a connection pool); share one per process.
#[derive(Debug, Clone)]
pub struct CaseStore {
    backend: Backend,
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
        let store = CaseStore { backend };
        tracing::info!(
            backend = store.backend_name(),
            db = %redact_password(url_or_path),
            "case store open"
        );
        Ok(store)
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
        match &self.backend {
            Backend::Sqlite(b) => b.close().await,
            Backend::Postgres(b) => b.close().await,
        }
    }

    /// Registers an answered inbound call: in one transaction, allocates the day's next
    /// ticket number, inserts the case (channel `phone`, status `registered`), the call
    /// row, and the audit event `registered`.
    pub async fn open_call(&self, c: NewCall) -> Result<OpenedCall, CaseError> {
        let opened = match &self.backend {
            Backend::Sqlite(b) => b.open_call(c).await?,
            Backend::Postgres(b) => b.open_call(c).await?,
        };
        tracing::debug!(ticket = %opened.ticket, case = %opened.case, "case registered");
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
        match &self.backend {
            Backend::Sqlite(b) => b.end_call(call, ended_at, cause, ivr_path).await,
            Backend::Postgres(b) => b.end_call(call, ended_at, cause, ivr_path).await,
        }
    }

    /// Marks that the caller left a voicemail: the case (channel still `phone`) goes to
    /// `callback_pending`, with an audit event `voicemail`.
    ///
    /// Allowed from `registered` (or `voicemail`); otherwise
    /// [`CaseError::InvalidTransition`]. Unknown case: [`CaseError::CaseNotFound`].
    pub async fn mark_voicemail(&self, case: CaseId) -> Result<(), CaseError> {
        let to = CaseStatus::CallbackPending;
        match &self.backend {
            Backend::Sqlite(b) => b.change_status(case, to, "voicemail", Utc::now()).await,
            Backend::Postgres(b) => b.change_status(case, to, "voicemail", Utc::now()).await,
        }
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
        match &self.backend {
            Backend::Sqlite(b) => b.add_recording(&r).await,
            Backend::Postgres(b) => b.add_recording(&r).await,
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

    /// Keeps a call that ended before it was answered.
    pub async fn record_missed_call(&self, m: &MissedCall) -> Result<(), CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.record_missed_call(m).await,
            Backend::Postgres(b) => b.record_missed_call(m).await,
        }
    }

    /// The `limit` most recent missed calls, newest first.
    pub async fn missed_calls(&self, limit: u32) -> Result<Vec<MissedCall>, CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.missed_calls(limit).await,
            Backend::Postgres(b) => b.missed_calls(limit).await,
        }
    }

    /// The `limit` most recently registered cases, newest first.
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
    pub async fn add_agent(&self, a: NewAgent, realm: &str) -> Result<Agent, CaseError> {
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
        let agent = match &self.backend {
            Backend::Sqlite(b) => b.add_agent(&a, &hashes, Utc::now()).await?,
            Backend::Postgres(b) => b.add_agent(&a, &hashes, Utc::now()).await?,
        };
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
    pub async fn set_skills(&self, ext: &str, skills: Vec<Skill>) -> Result<Agent, CaseError> {
        check_extension(ext)?;
        check_skills(&skills)?;
        match &self.backend {
            Backend::Sqlite(b) => b.set_skills(ext, &skills, Utc::now()).await,
            Backend::Postgres(b) => b.set_skills(ext, &skills, Utc::now()).await,
        }
    }

    /// Removes an agent: it can no longer log in or register, and is no longer listed;
    /// its history stays. [`CaseError::AgentNotFound`] if there is no current agent.
    pub async fn remove_agent(&self, ext: &str) -> Result<(), CaseError> {
        check_extension(ext)?;
        match &self.backend {
            Backend::Sqlite(b) => b.remove_agent(ext, Utc::now()).await?,
            Backend::Postgres(b) => b.remove_agent(ext, Utc::now()).await?,
        }
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

    /// Appends one state change of an agent to its history (`from` and `to` are the ACD's
    /// state names; `call` the SIP Call-ID involved). [`CaseError::AgentNotFound`] if the
    /// extension was never an agent.
    pub async fn record_agent_event(
        &self,
        ext: &str,
        at: DateTime<Utc>,
        from: &str,
        to: &str,
        reason: Option<&str>,
        call: Option<&str>,
    ) -> Result<(), CaseError> {
        check_extension(ext)?;
        match &self.backend {
            Backend::Sqlite(b) => b.record_agent_event(ext, at, from, to, reason, call).await,
            Backend::Postgres(b) => b.record_agent_event(ext, at, from, to, reason, call).await,
        }
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
    /// event `satisfaction`. Other scores: [`CaseError::OutOfRange`].
    pub async fn record_satisfaction(&self, case: CaseId, score: u8) -> Result<(), CaseError> {
        let label = match score {
            1 => "1 satisfied",
            2 => "2 mostly satisfied",
            3 => "3 unsatisfied",
            _ => return Err(CaseError::OutOfRange("satisfaction score (1 to 3)")),
        };
        match &self.backend {
            Backend::Sqlite(b) => b.note_event(case, "satisfaction", label, Utc::now()).await,
            Backend::Postgres(b) => b.note_event(case, "satisfaction", label, Utc::now()).await,
        }
    }

    /// The caller chose to be called back instead of waiting: the case goes to
    /// `callback_pending` with an audit event `callback_requested`. Same rules as
    /// [`CaseStore::mark_voicemail`].
    pub async fn mark_callback_requested(&self, case: CaseId) -> Result<(), CaseError> {
        let to = CaseStatus::CallbackPending;
        match &self.backend {
            Backend::Sqlite(b) => {
                b.change_status(case, to, "callback_requested", Utc::now())
                    .await
            }
            Backend::Postgres(b) => {
                b.change_status(case, to, "callback_requested", Utc::now())
                    .await
            }
        }
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

    async fn acd_step(
        &self,
        call: CallId,
        step: AcdStep<'_>,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.acd_step(call, step, at).await,
            Backend::Postgres(b) => b.acd_step(call, step, at).await,
        }
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
pub(crate) fn redact_password(url: &str) -> String {
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

#[cfg(test)]
mod tests;
