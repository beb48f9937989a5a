//! The SQLite backend: every SQL statement the store runs on SQLite lives here.
//!
//! Writes run in `BEGIN IMMEDIATE` transactions, so a transaction takes the write lock
//! before its first read and waits (busy_timeout) instead of failing when another
//! writer holds it. The ticket sequence is bumped by an UPSERT ... RETURNING inside the
//! transaction that inserts the case: two calls can never get the same number, and a
//! rolled-back case does not use one up.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::CaseError;
use crate::model::{
    CallId, CaseDetail, CaseId, CaseStatus, CaseSummary, Channel, Direction, MissedCall, NewCall,
    NewRecording, OpenedCall, RecordingId,
};
use crate::rows::{self, convert_all, CallRecord, CaseRecord, EventRecord, RecordingRecord};
use crate::ticket;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the pool; SQLite runs one writer at a time, readers in parallel (WAL).
const MAX_CONNECTIONS: u32 = 8;
/// Who the call controller's own audit events are attributed to.
const SYSTEM_ACTOR: &str = "system";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

const CASE_COLUMNS: &str = "id, ticket, channel, status, caller_number, created_at, updated_at";

/// A pool of connections to one SQLite database file.
#[derive(Debug, Clone)]
pub(crate) struct SqliteBackend {
    pool: SqlitePool,
}

impl SqliteBackend {
    /// Opens (creating if missing) the file named by a `sqlite:` URL or a plain path,
    /// and brings its schema up to date.
    pub(crate) async fn open(url_or_path: &str) -> Result<Self, CaseError> {
        let options = if url_or_path.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url_or_path)?
        } else {
            SqliteConnectOptions::new().filename(url_or_path)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed case survives a power cut, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        create_parent_dir(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteBackend { pool })
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) async fn open_call(&self, c: NewCall) -> Result<OpenedCall, CaseError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO ticket_sequences (day, last) VALUES (?, 1) \
             ON CONFLICT (day) DO UPDATE SET last = ticket_sequences.last + 1 \
             RETURNING last",
        )
        .bind(ticket::day_key(c.local_day))
        .fetch_one(&mut *tx)
        .await?;
        let seq =
            u32::try_from(seq).map_err(|_| CaseError::Corrupt(format!("ticket sequence {seq}")))?;
        let ticket = ticket::format(c.local_day, seq);

        let case: i64 = sqlx::query_scalar(
            "INSERT INTO cases (ticket, channel, status, caller_number, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&ticket)
        .bind(Channel::Phone.as_str())
        .bind(CaseStatus::Registered.as_str())
        .bind(&c.caller_number)
        .bind(c.answered_at)
        .bind(c.answered_at)
        .fetch_one(&mut *tx)
        .await?;

        let call: i64 = sqlx::query_scalar(
            "INSERT INTO calls (case_id, sip_call_id, caller_number, called_number, direction, \
             arrived_at, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(case)
        .bind(&c.sip_call_id)
        .bind(&c.caller_number)
        .bind(&c.called_number)
        .bind(Direction::Inbound.as_str())
        .bind(c.arrived_at)
        .bind(c.answered_at)
        .fetch_one(&mut *tx)
        .await?;

        insert_event(
            &mut tx,
            case,
            c.answered_at,
            "registered",
            None,
            Some(CaseStatus::Registered),
            Some(&format!("call {}", c.sip_call_id)),
        )
        .await?;
        tx.commit().await?;
        Ok(OpenedCall {
            call: CallId(call),
            case: CaseId(case),
            ticket,
        })
    }

    pub(crate) async fn end_call(
        &self,
        call: CallId,
        ended_at: DateTime<Utc>,
        cause: &str,
        ivr_path: &str,
    ) -> Result<(), CaseError> {
        let done = sqlx::query(
            "UPDATE calls SET ended_at = ?, hangup_cause = ?, ivr_path = ? \
             WHERE id = ? AND ended_at IS NULL",
        )
        .bind(ended_at)
        .bind(cause)
        .bind(ivr_path)
        .bind(call.0)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM calls WHERE id = ?")
            .bind(call.0)
            .fetch_optional(&self.pool)
            .await?;
        Err(match exists {
            Some(_) => CaseError::CallAlreadyEnded(call),
            None => CaseError::CallNotFound(call),
        })
    }

    pub(crate) async fn change_status(
        &self,
        case: CaseId,
        to: CaseStatus,
        event: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let from: Option<String> = sqlx::query_scalar("SELECT status FROM cases WHERE id = ?")
            .bind(case.0)
            .fetch_optional(&mut *tx)
            .await?;
        let from = rows::status(&from.ok_or(CaseError::CaseNotFound(case))?)?;
        if !from.may_become(to) {
            return Err(CaseError::InvalidTransition { case, from, to });
        }
        sqlx::query("UPDATE cases SET status = ?, updated_at = ? WHERE id = ?")
            .bind(to.as_str())
            .bind(at)
            .bind(case.0)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, case.0, at, event, Some(from), Some(to), None).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn add_recording(&self, r: &NewRecording) -> Result<RecordingId, CaseError> {
        let duration_ms =
            i64::try_from(r.duration_ms).map_err(|_| CaseError::OutOfRange("duration_ms"))?;
        let bytes = i64::try_from(r.bytes).map_err(|_| CaseError::OutOfRange("bytes"))?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let owner: Option<i64> = sqlx::query_scalar("SELECT case_id FROM calls WHERE id = ?")
            .bind(r.call.0)
            .fetch_optional(&mut *tx)
            .await?;
        match owner {
            None => return Err(CaseError::CallNotFound(r.call)),
            Some(owner) if owner != r.case.0 => {
                return Err(CaseError::CallNotInCase {
                    call: r.call,
                    case: r.case,
                })
            }
            Some(_) => {}
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO recordings (call_id, case_id, kind, path, duration_ms, bytes, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(r.call.0)
        .bind(r.case.0)
        .bind(r.kind.as_str())
        .bind(&r.path)
        .bind(duration_ms)
        .bind(bytes)
        .bind(r.created_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RecordingId(id))
    }

    pub(crate) async fn case_by_ticket(
        &self,
        ticket: &str,
    ) -> Result<Option<CaseDetail>, CaseError> {
        // One read transaction: a consistent snapshot of the case and its children.
        let mut tx = self.pool.begin().await?;
        let case: Option<CaseRecord> = sqlx::query_as(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE ticket = ?"
        ))
        .bind(ticket)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(case) = case else {
            return Ok(None);
        };
        let calls: Vec<CallRecord> = sqlx::query_as(
            "SELECT id, case_id, sip_call_id, caller_number, called_number, direction, \
             arrived_at, answered_at, ended_at, hangup_cause, ivr_path \
             FROM calls WHERE case_id = ? ORDER BY id",
        )
        .bind(case.id)
        .fetch_all(&mut *tx)
        .await?;
        let recordings: Vec<RecordingRecord> = sqlx::query_as(
            "SELECT id, call_id, case_id, kind, path, duration_ms, bytes, created_at \
             FROM recordings WHERE case_id = ? ORDER BY id",
        )
        .bind(case.id)
        .fetch_all(&mut *tx)
        .await?;
        let events: Vec<EventRecord> = sqlx::query_as(
            "SELECT id, case_id, at, actor, event, from_status, to_status, note \
             FROM case_events WHERE case_id = ? ORDER BY id",
        )
        .bind(case.id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(CaseDetail {
            case: case.try_into()?,
            calls: convert_all(calls)?,
            recordings: convert_all(recordings)?,
            events: convert_all(events)?,
        }))
    }

    pub(crate) async fn list_cases(&self, limit: u32) -> Result<Vec<CaseSummary>, CaseError> {
        let rows: Vec<CaseRecord> = sqlx::query_as(&format!(
            "SELECT {CASE_COLUMNS} FROM cases ORDER BY id DESC LIMIT ?"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        convert_all(rows)
    }

    pub(crate) async fn record_missed_call(&self, m: &MissedCall) -> Result<(), CaseError> {
        sqlx::query(
            "INSERT INTO missed_calls (sip_call_id, caller_number, called_number, arrived_at, \
             ended_at, cause) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&m.sip_call_id)
        .bind(&m.caller_number)
        .bind(&m.called_number)
        .bind(m.arrived_at)
        .bind(m.ended_at)
        .bind(&m.cause)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn missed_calls(&self, limit: u32) -> Result<Vec<MissedCall>, CaseError> {
        Ok(sqlx::query_as(
            "SELECT sip_call_id, caller_number, called_number, arrived_at, ended_at, cause \
             FROM missed_calls ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The journal mode SQLite reports, for tests.
    #[cfg(test)]
    pub(crate) async fn journal_mode(&self) -> Result<String, CaseError> {
        Ok(sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Sets a day's last sequence number, for tests.
    #[cfg(test)]
    pub(crate) async fn set_sequence_for_test(&self, day: &str, last: i64) {
        sqlx::query("INSERT INTO ticket_sequences (day, last) VALUES (?, ?)")
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

async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    case: i64,
    at: DateTime<Utc>,
    event: &str,
    from: Option<CaseStatus>,
    to: Option<CaseStatus>,
    note: Option<&str>,
) -> Result<(), CaseError> {
    sqlx::query(
        "INSERT INTO case_events (case_id, at, actor, event, from_status, to_status, note) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(case)
    .bind(at)
    .bind(SYSTEM_ACTOR)
    .bind(event)
    .bind(from.map(CaseStatus::as_str))
    .bind(to.map(CaseStatus::as_str))
    .bind(note)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn create_parent_dir(file: &Path) -> Result<(), CaseError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|source| CaseError::CreateDir {
                path: dir.to_path_buf(),
                source,
            }),
        _ => Ok(()),
    }
}
