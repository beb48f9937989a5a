// What `sqlite.rs` and `postgres.rs` themselves share: the statements of the status
// changes, lists and agents, the helpers every backend submodule uses (tickets, audit
// events), and the test hooks. Included by both after their header, which defines what
// differs: `Backend`, `Conn` and `Db`, how transactions start (`write_tx`, `read_tx`),
// `LOCK_ROW` (appended to the read of a row about to change) and `BYTE_ORDER` (appended
// to an `ORDER BY` of text that must sort byte by byte). `$n` placeholders work on both.

use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use sqlx::Transaction;

use crate::error::CaseError;
use crate::lifecycle::{self, Action, Role};
use crate::model::{
    Agent, AgentEvent, AgentSecrets, CaseDetail, CaseId, CaseStatus, CaseSummary, Channel,
    MissedCall, NewAgent, QueueStats, Skill,
};
use crate::rows::{
    self, convert_all, AgentEventRecord, AgentRecord, CaseRecord, SecretsRecord, SkillRecord,
    CASE_SELECT,
};
use crate::secret::AgentHashes;
use crate::ticket;

/// Who the call controller's own audit events are attributed to.
const SYSTEM_ACTOR: &str = "system";

const ACD_COLUMNS: &str = "queue, agent, agent_call_id, queued_at, offered_count, rejected_count, \
     agent_answered_at, agent_ended_at, wrap_up_ended_at, acd_result, wait_ms, talk_ms, wrap_up_ms";
const AGENT_COLUMNS: &str = "extension, name, max_ring_secs, wrap_up_secs, created_at, updated_at";

impl Backend {
    /// Starts the call path's writer ([`crate::writer`]) on its own connection.
    pub(crate) fn spawn_writer(&self, queue: crate::writer::Queue) {
        tokio::spawn(calls::run_writer(self.options.clone(), queue));
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction that writes ([`BEGIN_WRITE`]).
    async fn write_tx(&self) -> Result<Transaction<'static, Db>, CaseError> {
        Ok(self.pool.begin_with(BEGIN_WRITE).await?)
    }

    /// A transaction whose reads see one snapshot ([`BEGIN_READ`]).
    async fn read_tx(&self) -> Result<Transaction<'static, Db>, CaseError> {
        Ok(self.pool.begin_with(BEGIN_READ).await?)
    }

    /// A status change by the call controller (voicemail, callback requested), checked
    /// against the lifecycle as [`Role::System`].
    pub(crate) async fn change_status(
        &self,
        case: CaseId,
        to: CaseStatus,
        action: &Action,
        max_attempts: u32,
        numbers: &crate::callback::NumberPolicy,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let mut tx = self.write_tx().await?;
        let from: Option<String> =
            sqlx::query_scalar(&format!("SELECT status FROM cases WHERE id = $1{LOCK_ROW}"))
                .bind(case.0)
                .fetch_optional(&mut *tx)
                .await?;
        let from = rows::status(&from.ok_or(CaseError::CaseNotFound(case))?)?;
        let t = match lifecycle::apply(from, action, Role::System) {
            Ok(t) if t.to == to => t,
            _ => return Err(CaseError::InvalidTransition { case, from, to }),
        };
        // A voicemail makes it a voicemail case; a callback request keeps the channel.
        let channel =
            matches!(action, Action::LeftVoicemail).then_some(Channel::Voicemail.as_str());
        sqlx::query(
            "UPDATE cases SET status = $1, updated_at = $2, channel = COALESCE($3, channel) \
             WHERE id = $4",
        )
        .bind(to.as_str())
        .bind(at)
        .bind(channel)
        .bind(case.0)
        .execute(&mut *tx)
        .await?;
        let (event, from, to) = (t.event, Some(from), Some(to));
        insert_event(&mut tx, case.0, at, SYSTEM_ACTOR, event, from, to, None).await?;
        // The callback owed goes on the worklist in the same transaction.
        let spec = crate::callback::TaskSpec::owed_for(action, max_attempts, numbers, at);
        callbacks::insert_task(&mut tx, case, &spec, true, at).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn case_by_ticket(
        &self,
        ticket: &str,
    ) -> Result<Option<CaseDetail>, CaseError> {
        // One snapshot of the case and its children.
        self.case_detail(ticket).await
    }

    pub(crate) async fn list_cases(&self, limit: u32) -> Result<Vec<CaseSummary>, CaseError> {
        let rows: Vec<CaseRecord> = sqlx::query_as(&format!(
            "{CASE_SELECT} WHERE c.status <> 'no_request' ORDER BY c.id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        convert_all(rows)
    }

    pub(crate) async fn missed_calls(&self, limit: u32) -> Result<Vec<MissedCall>, CaseError> {
        Ok(sqlx::query_as(
            "SELECT sip_call_id, caller_number, called_number, arrived_at, ended_at, cause \
             FROM missed_calls ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn add_agent(
        &self,
        a: &NewAgent,
        hashes: &AgentHashes<'_>,
        now: DateTime<Utc>,
    ) -> Result<Agent, CaseError> {
        let mut tx = self.write_tx().await?;
        // Locks a removed agent's row, so two revivals of one extension cannot both win.
        // Two first-time inserts race to the primary key instead: the loser gets
        // AgentExists from the unique violation below.
        let existing: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(&format!(
            "SELECT removed_at FROM agents WHERE extension = $1{LOCK_ROW}"
        ))
        .bind(&a.extension)
        .fetch_optional(&mut *tx)
        .await?;
        let sql = match existing {
            Some(None) => return Err(CaseError::AgentExists(a.extension.clone())),
            // A removed agent's extension is given to the new one; its history stays.
            Some(Some(_)) => {
                "UPDATE agents SET name = $2, password_hash = $3, realm = $4, ha1_md5 = $5, \
                 ha1_sha256 = $6, max_ring_secs = $7, wrap_up_secs = $8, created_at = $9, \
                 updated_at = $9, removed_at = NULL WHERE extension = $1"
            }
            None => {
                "INSERT INTO agents (extension, name, password_hash, realm, ha1_md5, ha1_sha256, \
                 max_ring_secs, wrap_up_secs, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
            }
        };
        sqlx::query(sql)
            .bind(&a.extension)
            .bind(&a.name)
            .bind(hashes.password_hash)
            .bind(hashes.realm)
            .bind(hashes.ha1_md5)
            .bind(hashes.ha1_sha256)
            .bind(i64::from(a.max_ring_secs))
            .bind(i64::from(a.wrap_up_secs))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| match kind(&e) {
                Some(ErrorKind::UniqueViolation) => CaseError::AgentExists(a.extension.clone()),
                _ => e.into(),
            })?;
        replace_skills(&mut tx, &a.extension, &a.skills).await?;
        let agent = load_agent(&mut tx, &a.extension)
            .await?
            .ok_or_else(|| CaseError::AgentNotFound(a.extension.clone()))?;
        tx.commit().await?;
        Ok(agent)
    }

    pub(crate) async fn list_agents(&self) -> Result<Vec<Agent>, CaseError> {
        let mut tx = self.read_tx().await?;
        let agents: Vec<AgentRecord> = sqlx::query_as(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE removed_at IS NULL \
             ORDER BY length(extension), extension{BYTE_ORDER}"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let skills: Vec<SkillRecord> = sqlx::query_as(&format!(
            "SELECT s.extension, s.skill, s.level FROM agent_skills s \
             JOIN agents a ON a.extension = s.extension \
             WHERE a.removed_at IS NULL ORDER BY s.skill{BYTE_ORDER}"
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows::agents(agents, skills)
    }

    pub(crate) async fn agent(&self, ext: &str) -> Result<Option<Agent>, CaseError> {
        let mut tx = self.read_tx().await?;
        let agent = load_agent(&mut tx, ext).await?;
        tx.commit().await?;
        Ok(agent)
    }

    pub(crate) async fn set_skills(
        &self,
        ext: &str,
        skills: &[Skill],
        now: DateTime<Utc>,
    ) -> Result<Agent, CaseError> {
        let mut tx = self.write_tx().await?;
        // The UPDATE locks the agent's row: concurrent skill changes apply one by one.
        let done = sqlx::query(
            "UPDATE agents SET updated_at = $1 WHERE extension = $2 AND removed_at IS NULL",
        )
        .bind(now)
        .bind(ext)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(CaseError::AgentNotFound(ext.to_owned()));
        }
        replace_skills(&mut tx, ext, skills).await?;
        let agent = load_agent(&mut tx, ext)
            .await?
            .ok_or_else(|| CaseError::AgentNotFound(ext.to_owned()))?;
        tx.commit().await?;
        Ok(agent)
    }

    pub(crate) async fn remove_agent(
        &self,
        ext: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE agents SET removed_at = $1, updated_at = $1 \
             WHERE extension = $2 AND removed_at IS NULL",
        )
        .bind(now)
        .bind(ext)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(CaseError::AgentNotFound(ext.to_owned()));
        }
        replace_skills(&mut tx, ext, &[]).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn agent_secrets(&self, ext: &str) -> Result<Option<AgentSecrets>, CaseError> {
        let row: Option<SecretsRecord> = sqlx::query_as(
            "SELECT extension, realm, ha1_md5, ha1_sha256 FROM agents \
             WHERE extension = $1 AND removed_at IS NULL",
        )
        .bind(ext)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(AgentSecrets::from))
    }

    pub(crate) async fn password_hash(&self, ext: &str) -> Result<Option<String>, CaseError> {
        Ok(sqlx::query_scalar(
            "SELECT password_hash FROM agents WHERE extension = $1 AND removed_at IS NULL",
        )
        .bind(ext)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn agent_events(
        &self,
        ext: &str,
        limit: u32,
    ) -> Result<Vec<AgentEvent>, CaseError> {
        let rows: Vec<AgentEventRecord> = sqlx::query_as(
            "SELECT id, extension, at, from_state, to_state, reason, sip_call_id, actor \
             FROM agent_events WHERE extension = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(ext)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        convert_all(rows)
    }

    pub(crate) async fn queue_stats(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<QueueStats>, CaseError> {
        // The rows only: the figures are counted as the daily report counts them.
        let rows: Vec<crate::report::QueueCallFacts> =
            sqlx::query_as(crate::report::QUEUE_CALLS_SQL)
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
        Ok(crate::report::queue_stats(rows))
    }

    /// Sets a day's last sequence number, for tests.
    #[cfg(test)]
    pub(crate) async fn set_sequence_for_test(&self, day: &str, last: i64) {
        sqlx::query("INSERT INTO ticket_sequences (day, last) VALUES ($1, $2)")
            .bind(day)
            .bind(last)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    /// Runs one raw statement, for tests.
    #[cfg(test)]
    pub(crate) async fn execute_for_test(&self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(&self.pool).await.map(|_| ())
    }
}

/// Allocates the next ticket of local day `day` inside the caller's transaction (the
/// UPSERT takes the sequence row's lock until it ends): never the same number twice,
/// and a rolled-back case does not use one up.
async fn next_ticket(conn: &mut Conn, day: chrono::NaiveDate) -> Result<String, CaseError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO ticket_sequences (day, last) VALUES ($1, 1) \
         ON CONFLICT (day) DO UPDATE SET last = ticket_sequences.last + 1 \
         RETURNING last",
    )
    .bind(ticket::day_key(day))
    .fetch_one(&mut *conn)
    .await?;
    let seq =
        u32::try_from(seq).map_err(|_| CaseError::Corrupt(format!("ticket sequence {seq}")))?;
    Ok(ticket::format(day, seq))
}

#[allow(clippy::too_many_arguments)]
async fn insert_event(
    conn: &mut Conn,
    case: i64,
    at: DateTime<Utc>,
    actor: &str,
    event: &str,
    from: Option<CaseStatus>,
    to: Option<CaseStatus>,
    note: Option<&str>,
) -> Result<(), CaseError> {
    sqlx::query(
        "INSERT INTO case_events (case_id, at, actor, event, from_status, to_status, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(case)
    .bind(at)
    .bind(actor)
    .bind(event)
    .bind(from.map(CaseStatus::as_str))
    .bind(to.map(CaseStatus::as_str))
    .bind(note)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An agent that has not been removed, with its skills by name.
async fn load_agent(conn: &mut Conn, ext: &str) -> Result<Option<Agent>, CaseError> {
    let record: Option<AgentRecord> = sqlx::query_as(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE extension = $1 AND removed_at IS NULL"
    ))
    .bind(ext)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(record) = record else {
        return Ok(None);
    };
    let skills: Vec<SkillRecord> = sqlx::query_as(&format!(
        "SELECT extension, skill, level FROM agent_skills WHERE extension = $1 \
         ORDER BY skill{BYTE_ORDER}"
    ))
    .bind(ext)
    .fetch_all(&mut *conn)
    .await?;
    rows::agent(record, skills).map(Some)
}

async fn replace_skills(conn: &mut Conn, ext: &str, skills: &[Skill]) -> Result<(), CaseError> {
    sqlx::query("DELETE FROM agent_skills WHERE extension = $1")
        .bind(ext)
        .execute(&mut *conn)
        .await?;
    for s in skills {
        sqlx::query("INSERT INTO agent_skills (extension, skill, level) VALUES ($1, $2, $3)")
            .bind(ext)
            .bind(&s.name)
            .bind(i64::from(s.level))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The kind of a database error (constraint violations), if it is one.
fn kind(e: &sqlx::Error) -> Option<ErrorKind> {
    match e {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    }
}
