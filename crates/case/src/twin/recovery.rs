// Start-up repairs after a crash (see `store/recovery.rs`), shared by `sqlite/recovery.rs`
// and `postgres/recovery.rs` (included after their backend-specific header).

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{insert_event, Backend};
use crate::error::CaseError;
use crate::lifecycle::ActionKind;
use crate::model::{AcdResult, CallId, CaseId, NewRecording, RecordingId, RecordingKind};
use crate::store::recovery::CRASH_CAUSE;

/// An open call row and every moment it is known to have been alive.
#[derive(sqlx::FromRow)]
struct OpenCallRow {
    id: i64,
    case_id: i64,
    ticket: String,
    arrived_at: DateTime<Utc>,
    answered_at: Option<DateTime<Utc>>,
    queued_at: Option<DateTime<Utc>>,
    agent_answered_at: Option<DateTime<Utc>>,
    agent_ended_at: Option<DateTime<Utc>>,
    wrap_up_ended_at: Option<DateTime<Utc>>,
    acd_result: Option<String>,
}

impl OpenCallRow {
    /// The last moment the call is known to have been alive, its recordings' ends aside.
    fn last_alive(&self) -> DateTime<Utc> {
        [
            self.answered_at,
            self.queued_at,
            self.agent_answered_at,
            self.agent_ended_at,
            self.wrap_up_ended_at,
        ]
        .into_iter()
        .flatten()
        .fold(self.arrived_at, DateTime::max)
    }
}

/// The condition on a call row `c` that makes it the recovering node's (`$1`): its own, or
/// written without a node (before migration 0011, or by a store without one).
const MINE: &str = "(c.node IS NULL OR c.node = $1)";

/// Milliseconds from `from` to `to`; 0 if the clock went backwards.
fn crash_elapsed_ms(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds().max(0)
}

impl Backend {
    pub(crate) async fn oldest_open_call(
        &self,
        node: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>, CaseError> {
        let at: Option<(DateTime<Utc>,)> = sqlx::query_as(&format!(
            "SELECT c.arrived_at FROM calls c WHERE c.ended_at IS NULL AND {MINE} \
             ORDER BY c.arrived_at LIMIT 1"
        ))
        .bind(node)
        .fetch_optional(&self.pool)
        .await?;
        Ok(at.map(|(at,)| at))
    }

    pub(crate) async fn call_node(&self, call: CallId) -> Result<Option<String>, CaseError> {
        let node: Option<(Option<String>,)> =
            sqlx::query_as("SELECT node FROM calls WHERE id = $1")
                .bind(call.0)
                .fetch_optional(&self.pool)
                .await?;
        node.map(|(n,)| n).ok_or(CaseError::CallNotFound(call))
    }

    pub(crate) async fn recording_paths_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<HashSet<String>, CaseError> {
        let paths: Vec<(String,)> =
            sqlx::query_as("SELECT path FROM recordings WHERE created_at >= $1")
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
        Ok(paths.into_iter().map(|(p,)| p).collect())
    }

    pub(crate) async fn recover_recording(
        &self,
        r: &NewRecording,
        node: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<RecordingId>, CaseError> {
        let duration_ms =
            i64::try_from(r.duration_ms).map_err(|_| CaseError::OutOfRange("duration_ms"))?;
        let bytes = i64::try_from(r.bytes).map_err(|_| CaseError::OutOfRange("bytes"))?;
        let mut tx = self.write_tx().await?;
        let known: Option<(i64,)> = sqlx::query_as("SELECT id FROM recordings WHERE path = $1")
            .bind(&r.path)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_some() {
            return Ok(None);
        }
        let owner: Option<(i64, Option<String>)> =
            sqlx::query_as(&format!("SELECT case_id, node FROM calls WHERE id = $1{LOCK}"))
                .bind(r.call.0)
                .fetch_optional(&mut *tx)
                .await?;
        match owner {
            None => return Err(CaseError::CallNotFound(r.call)),
            Some((_, Some(other))) if Some(other.as_str()) != node => {
                return Err(CaseError::CallOfOtherNode {
                    call: r.call,
                    node: other,
                })
            }
            Some((owner, _)) if owner != r.case.0 => {
                return Err(CaseError::CallNotInCase {
                    call: r.call,
                    case: r.case,
                })
            }
            Some(_) => {}
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO recordings (call_id, case_id, kind, path, duration_ms, bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
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
        let note = format!(
            "{} recording of call {} found after a crash: {} ({} ms)",
            r.kind, r.call, r.path, r.duration_ms
        );
        insert_event(
            &mut tx,
            r.case.0,
            now,
            "system",
            "recording_recovered",
            None,
            None,
            Some(&note),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(RecordingId(id)))
    }

    pub(crate) async fn close_crashed_calls(
        &self,
        node: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(CallId, String, DateTime<Utc>)>, CaseError> {
        let mut tx = self.write_tx().await?;
        let open: Vec<OpenCallRow> = sqlx::query_as(&format!(
            "SELECT c.id, c.case_id, k.ticket, c.arrived_at, c.answered_at, c.queued_at, \
             c.agent_answered_at, c.agent_ended_at, c.wrap_up_ended_at, c.acd_result \
             FROM calls c JOIN cases k ON k.id = c.case_id \
             WHERE c.ended_at IS NULL AND {MINE} ORDER BY c.id{LOCK_CALLS}"
        ))
        .bind(node)
        .fetch_all(&mut *tx)
        .await?;
        let mut closed = Vec::with_capacity(open.len());
        for call in open {
            let recorded: Vec<(DateTime<Utc>,)> =
                sqlx::query_as("SELECT created_at FROM recordings WHERE call_id = $1")
                    .bind(call.id)
                    .fetch_all(&mut *tx)
                    .await?;
            let at = recorded
                .into_iter()
                .map(|(t,)| t)
                .fold(call.last_alive(), DateTime::max);
            // Still waiting in the queue: it reached nobody.
            let (acd_result, wait_ms) = match (call.queued_at, &call.acd_result) {
                (Some(queued), None) => (
                    Some(AcdResult::Abandoned.as_str().to_owned()),
                    Some(crash_elapsed_ms(queued, at)),
                ),
                _ => (None, None),
            };
            // Talking to an agent: the conversation ends with the call.
            let talk = match (call.agent_answered_at, call.agent_ended_at) {
                (Some(answered), None) => Some((at, crash_elapsed_ms(answered, at))),
                _ => None,
            };
            let done = sqlx::query(
                "UPDATE calls SET ended_at = $1, hangup_cause = $2, \
                 acd_result = COALESCE(acd_result, $3), wait_ms = COALESCE(wait_ms, $4), \
                 agent_ended_at = COALESCE(agent_ended_at, $5), talk_ms = COALESCE(talk_ms, $6) \
                 WHERE id = $7 AND ended_at IS NULL",
            )
            .bind(at)
            .bind(CRASH_CAUSE)
            .bind(acd_result.as_deref())
            .bind(wait_ms)
            .bind(talk.map(|t| t.0))
            .bind(talk.map(|t| t.1))
            .bind(call.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                continue;
            }
            let mut note = format!(
                "call {} cut off by a crash; closed at {}, the last moment known alive",
                call.id,
                at.to_rfc3339()
            );
            if acd_result.is_some() {
                note.push_str("; it was waiting in the queue (abandoned)");
            }
            if talk.is_some() {
                note.push_str("; it was talking to an agent");
            }
            insert_event(
                &mut tx,
                call.case_id,
                now,
                "system",
                "call_crashed",
                None,
                None,
                Some(&note),
            )
            .await?;
            closed.push((CallId(call.id), call.ticket, at));
        }
        tx.commit().await?;
        Ok(closed)
    }

    /// Voicemail recordings of `node`'s calls closed by a crash, at least `min_ms` long,
    /// whose case was never marked as a voicemail: (case, ticket, end of the recording),
    /// one per case.
    pub(crate) async fn unmarked_crash_voicemails(
        &self,
        node: Option<&str>,
        min_ms: i64,
    ) -> Result<Vec<(CaseId, String, DateTime<Utc>)>, CaseError> {
        let rows: Vec<(i64, String, DateTime<Utc>)> = sqlx::query_as(&format!(
            "SELECT r.case_id, k.ticket, r.created_at FROM recordings r \
             JOIN calls c ON c.id = r.call_id JOIN cases k ON k.id = r.case_id \
             WHERE {MINE} AND r.kind = $2 AND c.hangup_cause = $3 AND r.duration_ms >= $4 \
             AND NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = r.case_id \
             AND e.event = $5) ORDER BY r.id"
        ))
        .bind(node)
        .bind(RecordingKind::Voicemail.as_str())
        .bind(CRASH_CAUSE)
        .bind(min_ms)
        .bind(ActionKind::LeftVoicemail.event())
        .fetch_all(&self.pool)
        .await?;
        let mut seen = HashSet::new();
        Ok(rows
            .into_iter()
            .filter(|(case, _, _)| seen.insert(*case))
            .map(|(case, ticket, at)| (CaseId(case), ticket, at))
            .collect())
    }
}
