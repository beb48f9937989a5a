// The statements and logic shared by `sqlite/callbacks.rs` and `postgres/callbacks.rs`, included
// by both after their backend-specific header (types, locks, how transactions start).

use chrono::{DateTime, Duration, Utc};
use sqlx::error::ErrorKind;

use super::{insert_event, kind, Backend, Conn};
use crate::callback::{
    plan_attempt, CallbackAttempt, CallbackMode, CallbackReason, CallbackResult, CallbackStatus,
    CallbackTask, CallbackTaskId, NumberPolicy, TaskSpec, DEFAULT_PRIORITY,
};
use crate::error::CaseError;
use crate::lifecycle::{ActionKind, CaseState, TransitionError};
use crate::model::{CallId, CaseId, NewOutboundCall};
use crate::rows;

/// Columns of [`TaskRecord`], the task table aliased `t` joined to `cases c`.
const TASK_SELECT: &str = "SELECT t.id, t.case_id, c.ticket, t.number, t.reason, t.mode, t.priority, \
     t.place_at, t.earliest_at, t.status, t.attempts, t.max_attempts, t.next_attempt_at, \
     t.last_result, t.agent, t.created_at, t.updated_at, t.number_problem \
     FROM callback_tasks t JOIN cases c ON c.id = t.case_id";

#[derive(sqlx::FromRow)]
struct TaskRecord {
    id: i64,
    case_id: i64,
    ticket: String,
    number: String,
    reason: String,
    mode: String,
    priority: i32,
    place_at: DateTime<Utc>,
    earliest_at: DateTime<Utc>,
    status: String,
    attempts: i32,
    max_attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_result: Option<String>,
    agent: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    number_problem: Option<String>,
}

impl TaskRecord {
    fn convert(self) -> Result<CallbackTask, CaseError> {
        let bad = |what: &str, v: &str| CaseError::Corrupt(format!("callback {what} {v:?}"));
        Ok(CallbackTask {
            id: CallbackTaskId(self.id),
            case_id: CaseId(self.case_id),
            ticket: self.ticket,
            number: self.number,
            reason: CallbackReason::parse(&self.reason)
                .ok_or_else(|| bad("reason", &self.reason))?,
            mode: CallbackMode::parse(&self.mode).ok_or_else(|| bad("mode", &self.mode))?,
            priority: self.priority,
            place_at: self.place_at,
            earliest_at: self.earliest_at,
            status: CallbackStatus::parse(&self.status)
                .ok_or_else(|| bad("status", &self.status))?,
            attempts: self.attempts.max(0) as u32,
            max_attempts: self.max_attempts.max(0) as u32,
            next_attempt_at: self.next_attempt_at,
            last_result: match self.last_result {
                Some(r) => Some(CallbackResult::parse(&r).ok_or_else(|| bad("result", &r))?),
                None => None,
            },
            agent: self.agent,
            created_at: self.created_at,
            updated_at: self.updated_at,
            number_problem: self.number_problem,
        })
    }
}

/// Inserts a task for `case` inside the caller's transaction (the case must exist), with
/// the case's caller number unless `spec.number` is given. With `only_if_none_open`,
/// nothing is inserted if the case already has a pending or in-progress task, or has no
/// number. A number `spec.numbers` refuses is kept as received on a task made `failed`
/// at once, with its `number_problem` and a `callback_uncallable` event: listed for a
/// person to handle, never dialled. Returns the new task's id, if any.
pub(super) async fn insert_task(
    conn: &mut Conn,
    case: CaseId,
    spec: &TaskSpec<'_>,
    only_if_none_open: bool,
    now: DateTime<Utc>,
) -> Result<Option<i64>, CaseError> {
    let row: Option<(String, DateTime<Utc>)> =
        sqlx::query_as("SELECT caller_number, created_at FROM cases WHERE id = $1")
            .bind(case.0)
            .fetch_optional(&mut *conn)
            .await?;
    let (caller, created) = row.ok_or(CaseError::CaseNotFound(case))?;
    let first_call: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT arrived_at FROM calls WHERE case_id = $1 ORDER BY arrived_at LIMIT 1",
    )
    .bind(case.0)
    .fetch_optional(&mut *conn)
    .await?;
    let raw = spec.number.unwrap_or(&caller).trim().to_owned();
    if only_if_none_open {
        if raw.is_empty() {
            return Ok(None);
        }
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM callback_tasks WHERE case_id = $1 \
             AND status IN ('pending', 'in_progress') LIMIT 1",
        )
        .bind(case.0)
        .fetch_optional(&mut *conn)
        .await?;
        if open.is_some() {
            return Ok(None);
        }
    }
    let (number, problem) = match spec.numbers.check(&raw) {
        Ok(n) => (n, None),
        Err(p) => (raw.clone(), Some(p.to_string())),
    };
    let status = if problem.is_some() {
        CallbackStatus::Failed
    } else {
        CallbackStatus::Pending
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO callback_tasks (case_id, number, reason, mode, priority, place_at, \
         earliest_at, status, attempts, max_attempts, next_attempt_at, created_at, updated_at, \
         number_problem) \
         VALUES ($1, $2, $3, $9, $4, $5, $6, $10, 0, $7, $6, $8, $8, $11) RETURNING id",
    )
    .bind(case.0)
    .bind(&number)
    .bind(spec.reason.as_str())
    .bind(spec.priority)
    .bind(first_call.unwrap_or(created))
    .bind(spec.earliest_at)
    .bind(spec.max_attempts as i32)
    .bind(now)
    .bind(spec.mode.as_str())
    .bind(status.as_str())
    .bind(&problem)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(problem) = problem {
        let note = format!("task {id}: {raw:?} is not called back: {problem}");
        insert_event(
            &mut *conn,
            case.0,
            now,
            "system",
            "callback_uncallable",
            None,
            None,
            Some(&note),
        )
        .await?;
    }
    Ok(Some(id))
}

async fn load_task(conn: &mut Conn, task: i64, lock: bool) -> Result<CallbackTask, CaseError> {
    let sql = format!(
        "{TASK_SELECT} WHERE t.id = $1{}",
        if lock { LOCK } else { "" }
    );
    let r: Option<TaskRecord> = sqlx::query_as(&sql)
        .bind(task)
        .fetch_optional(&mut *conn)
        .await?;
    r.ok_or(CaseError::CallbackNotFound(task))?.convert()
}

/// Fails unless `call` exists ([`CaseError::CallNotFound`]) and belongs to `case`
/// ([`CaseError::CallNotInCase`]).
async fn call_of_case(conn: &mut Conn, case: CaseId, call: CallId) -> Result<(), CaseError> {
    let owner: Option<i64> = sqlx::query_scalar("SELECT case_id FROM calls WHERE id = $1")
        .bind(call.0)
        .fetch_optional(&mut *conn)
        .await?;
    match owner {
        None => Err(CaseError::CallNotFound(call)),
        Some(owner) if owner != case.0 => Err(CaseError::CallNotInCase { call, case }),
        Some(_) => Ok(()),
    }
}

/// Stores a survey answer on a call of `case`, inside the caller's transaction.
pub(super) async fn set_call_satisfaction(
    conn: &mut Conn,
    case: CaseId,
    call: CallId,
    score: u8,
) -> Result<(), CaseError> {
    call_of_case(conn, case, call).await?;
    sqlx::query("UPDATE calls SET satisfaction = $1 WHERE id = $2")
        .bind(i64::from(score))
        .bind(call.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One row of `callback_attempts`.
#[derive(sqlx::FromRow)]
struct AttemptRecord {
    at: DateTime<Utc>,
    result: String,
    agent: String,
    note: Option<String>,
    call_id: Option<i64>,
}

impl AttemptRecord {
    fn convert(self) -> Result<CallbackAttempt, CaseError> {
        Ok(CallbackAttempt {
            at: self.at,
            result: CallbackResult::parse(&self.result).ok_or_else(|| {
                CaseError::Corrupt(format!("callback attempt result {:?}", self.result))
            })?,
            agent: self.agent,
            note: self.note,
            call: self.call_id.map(CallId),
        })
    }
}

/// Fails unless the task's case still owes the citizen this call: a final case owes
/// none ([`CaseError::CaseFinal`]), and a revisit is owed only while the case is
/// `replied` ([`CaseError::CallbackState`]).
async fn still_owed(conn: &mut Conn, t: &CallbackTask) -> Result<(), CaseError> {
    let status: String = sqlx::query_scalar("SELECT status FROM cases WHERE id = $1")
        .bind(t.case_id.0)
        .fetch_one(&mut *conn)
        .await?;
    let status = rows::status(&status)?;
    if status.is_final() {
        return Err(CaseError::CaseFinal(t.ticket.clone()));
    }
    if t.reason == CallbackReason::Revisit && status != CaseState::Replied {
        return Err(CaseError::CallbackState {
            task: t.id.0,
            status: format!("a revisit of a case that is {status}"),
            action: "reopen",
        });
    }
    Ok(())
}

fn state_error(t: &CallbackTask, action: &'static str) -> CaseError {
    CaseError::CallbackState {
        task: t.id.0,
        status: t.status.as_str().to_owned(),
        action,
    }
}

impl Backend {
    pub(crate) async fn create_callback_task(
        &self,
        case: CaseId,
        spec: &TaskSpec<'_>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        let mut tx = self.write_tx().await?;
        let status: Option<(String, String)> =
            sqlx::query_as("SELECT status, ticket FROM cases WHERE id = $1")
                .bind(case.0)
                .fetch_optional(&mut *tx)
                .await?;
        let (status, ticket) = status.ok_or(CaseError::CaseNotFound(case))?;
        // Nobody is rung about a case that is over.
        if rows::status(&status)?.is_final() {
            return Err(CaseError::CaseFinal(ticket));
        }
        let id = insert_task(&mut tx, case, spec, false, now)
            .await?
            .expect("always inserted");
        // The number is on the task; the trail, shown to department handlers, names none.
        let note = format!("task {id}: {}", spec.reason);
        insert_event(
            &mut tx,
            case.0,
            now,
            actor,
            "callback_created",
            None,
            None,
            Some(&note),
        )
        .await?;
        let task = load_task(&mut tx, id, false).await?;
        tx.commit().await?;
        Ok(task)
    }

    pub(crate) async fn callback_worklist(
        &self,
        now: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<CallbackTask>, CaseError> {
        let order = "ORDER BY t.priority DESC, t.place_at, t.id";
        let limit = i64::from(limit);
        let records: Vec<TaskRecord> = match now {
            Some(now) => {
                let sql = format!(
                    "{TASK_SELECT} WHERE t.status = 'pending' AND t.next_attempt_at <= $1 \
                     {order} LIMIT $2"
                );
                sqlx::query_as(&sql)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("{TASK_SELECT} {order} LIMIT $1");
                sqlx::query_as(&sql)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        records.into_iter().map(TaskRecord::convert).collect()
    }

    pub(crate) async fn callback_task(&self, task: i64) -> Result<CallbackTask, CaseError> {
        let mut conn = self.pool.acquire().await?;
        load_task(&mut conn, task, false).await
    }

    pub(crate) async fn claim_callback(
        &self,
        task: i64,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        let mut tx = self.write_tx().await?;
        // The status test in the WHERE makes it one winner on both databases: the second
        // UPDATE waits for the first one's row lock, then sees `in_progress`.
        let done = sqlx::query(
            "UPDATE callback_tasks SET status = 'in_progress', agent = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'pending'",
        )
        .bind(agent)
        .bind(now)
        .bind(task)
        .execute(&mut *tx)
        .await?;
        let t = load_task(&mut tx, task, false).await?;
        if done.rows_affected() != 1 {
            return Err(state_error(&t, "claim"));
        }
        let note = format!("task {task} by {agent}");
        insert_event(
            &mut tx,
            t.case_id.0,
            now,
            agent,
            "callback_claimed",
            None,
            None,
            Some(&note),
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_callback_attempt(
        &self,
        task: i64,
        result: CallbackResult,
        agent: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
        spacing: Duration,
        call: Option<CallId>,
    ) -> Result<CallbackTask, CaseError> {
        let mut tx = self.write_tx().await?;
        let t = load_task(&mut tx, task, true).await?;
        if t.status != CallbackStatus::InProgress {
            return Err(state_error(&t, "record an attempt"));
        }
        if let Some(call) = call {
            // The attempt's call must be one of the case's (normally the outbound call
            // opened for this task), so its recording is evidence about this case.
            call_of_case(&mut tx, t.case_id, call).await?;
        }
        let o = plan_attempt(t.attempts, t.max_attempts, result, now, spacing);
        sqlx::query(
            "UPDATE callback_tasks SET status = $1, attempts = $2, next_attempt_at = $3, \
             last_result = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(o.status.as_str())
        .bind(o.attempts as i32)
        .bind(o.next_attempt_at)
        .bind(result.as_str())
        .bind(now)
        .bind(task)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO callback_attempts (task_id, at, result, agent, note, call_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(task)
        .bind(now)
        .bind(result.as_str())
        .bind(agent)
        .bind(note)
        .bind(call.map(|c| c.0))
        .execute(&mut *tx)
        .await?;
        let mut text = format!(
            "task {task} attempt {}/{}: {result}",
            o.attempts, t.max_attempts
        );
        if let Some(n) = note.filter(|n| !n.trim().is_empty()) {
            text.push_str(" — ");
            text.push_str(n.trim());
        }
        let case = t.case_id.0;
        insert_event(
            &mut tx,
            case,
            now,
            agent,
            "callback_attempt",
            None,
            None,
            Some(&text),
        )
        .await?;
        if o.status == CallbackStatus::Failed {
            let text = format!("task {task}: no success after {} attempts", o.attempts);
            insert_event(
                &mut tx,
                case,
                now,
                "system",
                "callback_failed",
                None,
                None,
                Some(&text),
            )
            .await?;
        }
        let t = load_task(&mut tx, task, false).await?;
        tx.commit().await?;
        Ok(t)
    }

    pub(crate) async fn reschedule_callback(
        &self,
        task: i64,
        at: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        let mut tx = self.write_tx().await?;
        let t = load_task(&mut tx, task, true).await?;
        if !matches!(
            t.status,
            CallbackStatus::Pending | CallbackStatus::InProgress
        ) {
            return Err(state_error(&t, "reschedule"));
        }
        sqlx::query(
            "UPDATE callback_tasks SET status = 'pending', next_attempt_at = $1, updated_at = $2 \
             WHERE id = $3",
        )
        .bind(at)
        .bind(now)
        .bind(task)
        .execute(&mut *tx)
        .await?;
        let text = format!("task {task} to {}", at.to_rfc3339());
        insert_event(
            &mut tx,
            t.case_id.0,
            now,
            actor,
            "callback_rescheduled",
            None,
            None,
            Some(&text),
        )
        .await?;
        let t = load_task(&mut tx, task, false).await?;
        tx.commit().await?;
        Ok(t)
    }

    pub(crate) async fn reopen_callback(
        &self,
        task: i64,
        at: DateTime<Utc>,
        more_attempts: u32,
        numbers: &NumberPolicy,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        let mut tx = self.write_tx().await?;
        let t = load_task(&mut tx, task, true).await?;
        if t.status != CallbackStatus::Failed {
            return Err(state_error(&t, "reopen (only a failed task is reopened)"));
        }
        still_owed(&mut tx, &t).await?;
        // Today's policy: a number refused when the task failed may be allowed now, and
        // the other way round.
        numbers
            .check(&t.number)
            .map_err(|p| CaseError::InvalidField {
                field: "number",
                reason: p.to_string(),
            })?;
        sqlx::query(
            "UPDATE callback_tasks SET status = 'pending', next_attempt_at = $1, \
             max_attempts = attempts + $2, number_problem = NULL, agent = NULL, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(at)
        .bind(i64::from(more_attempts))
        .bind(now)
        .bind(task)
        .execute(&mut *tx)
        .await?;
        let text = format!(
            "task {task}: {more_attempts} more attempt(s) from {}",
            at.to_rfc3339()
        );
        insert_event(
            &mut tx,
            t.case_id.0,
            now,
            actor,
            "callback_reopened",
            None,
            None,
            Some(&text),
        )
        .await?;
        let t = load_task(&mut tx, task, false).await?;
        tx.commit().await?;
        Ok(t)
    }

    pub(crate) async fn skip_callback(
        &self,
        task: i64,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        let mut tx = self.write_tx().await?;
        let t = load_task(&mut tx, task, true).await?;
        if !matches!(
            t.status,
            CallbackStatus::Pending | CallbackStatus::InProgress
        ) {
            return Err(state_error(&t, "skip"));
        }
        sqlx::query("UPDATE callback_tasks SET status = 'skipped', updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(task)
            .execute(&mut *tx)
            .await?;
        let text = format!("task {task}: {}", reason.trim());
        insert_event(
            &mut tx,
            t.case_id.0,
            now,
            actor,
            "callback_skipped",
            None,
            None,
            Some(&text),
        )
        .await?;
        let t = load_task(&mut tx, task, false).await?;
        tx.commit().await?;
        Ok(t)
    }
    pub(crate) async fn mark_callback_uncallable(
        &self,
        task: i64,
        problem: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        let mut tx = self.write_tx().await?;
        let t = load_task(&mut tx, task, true).await?;
        if t.status != CallbackStatus::Pending {
            return Err(state_error(&t, "mark as not callable"));
        }
        sqlx::query(
            "UPDATE callback_tasks SET status = 'failed', number_problem = $1, updated_at = $2 \
             WHERE id = $3",
        )
        .bind(problem)
        .bind(now)
        .bind(task)
        .execute(&mut *tx)
        .await?;
        let note = format!("task {task}: {:?} is not called back: {problem}", t.number);
        insert_event(
            &mut tx,
            t.case_id.0,
            now,
            "system",
            "callback_uncallable",
            None,
            None,
            Some(&note),
        )
        .await?;
        let t = load_task(&mut tx, task, false).await?;
        tx.commit().await?;
        Ok(t)
    }

    pub(crate) async fn callback_tasks_with_status(
        &self,
        status: CallbackStatus,
        limit: u32,
    ) -> Result<Vec<CallbackTask>, CaseError> {
        let sql = format!(
            "{TASK_SELECT} WHERE t.status = $1 ORDER BY t.priority DESC, t.place_at, t.id \
             LIMIT $2"
        );
        let records: Vec<TaskRecord> = sqlx::query_as(&sql)
            .bind(status.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        records.into_iter().map(TaskRecord::convert).collect()
    }

    pub(crate) async fn callback_attempts(
        &self,
        task: i64,
    ) -> Result<Vec<CallbackAttempt>, CaseError> {
        let mut tx = self.pool.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM callback_tasks WHERE id = $1")
            .bind(task)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(CaseError::CallbackNotFound(task));
        }
        let records: Vec<AttemptRecord> = sqlx::query_as(
            "SELECT at, result, agent, note, call_id FROM callback_attempts \
             WHERE task_id = $1 ORDER BY at, id",
        )
        .bind(task)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        records.into_iter().map(AttemptRecord::convert).collect()
    }

    pub(crate) async fn release_callback_claims(
        &self,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, CaseError> {
        let mut tx = self.write_tx().await?;
        let held: Vec<(i64, i64)> = sqlx::query_as(&format!(
            "SELECT t.id, t.case_id FROM callback_tasks t WHERE t.status = 'in_progress' \
             ORDER BY t.id{LOCK}"
        ))
        .fetch_all(&mut *tx)
        .await?;
        for (task, case) in &held {
            // Only the status: the attempts made and when the next one is due stay, so the
            // task keeps its place and its count towards max_attempts.
            sqlx::query(
                "UPDATE callback_tasks SET status = 'pending', updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(task)
            .execute(&mut *tx)
            .await?;
            insert_event(
                &mut tx,
                *case,
                now,
                actor,
                "callback_released",
                None,
                None,
                Some("server restart"),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(held.len() as u64)
    }

    pub(crate) async fn revisit_task_for(
        &self,
        ticket: &str,
        mode: CallbackMode,
        earliest_at: DateTime<Utc>,
        max_attempts: u32,
        numbers: &NumberPolicy,
        now: DateTime<Utc>,
    ) -> Result<CallbackTask, CaseError> {
        let mut tx = self.write_tx().await?;
        // The case row is locked so that two requests cannot both find no open revisit.
        let found: Option<(i64, String, String)> = sqlx::query_as(&format!(
            "SELECT id, status, caller_number FROM cases WHERE ticket = $1{LOCK_CASE}"
        ))
        .bind(ticket)
        .fetch_optional(&mut *tx)
        .await?;
        let (case, status, caller) =
            found.ok_or_else(|| CaseError::TicketNotFound(ticket.to_owned()))?;
        let state = rows::status(&status)?;
        if state != CaseState::Replied {
            return Err(CaseError::Transition {
                ticket: ticket.to_owned(),
                source: TransitionError::NotAllowed {
                    from: state,
                    action: ActionKind::Revisit,
                },
            });
        }
        if caller.trim().is_empty() {
            return Err(CaseError::InvalidField {
                field: "number",
                reason: format!("case {ticket} has no caller number to call"),
            });
        }
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM callback_tasks WHERE case_id = $1 AND reason = 'revisit' \
             AND status IN ('pending', 'in_progress') ORDER BY id LIMIT 1",
        )
        .bind(case)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(open) = open {
            let t = load_task(&mut tx, open, false).await?;
            return Err(state_error(&t, "add a second open revisit task to its case"));
        }
        let spec = TaskSpec {
            number: None,
            numbers,
            reason: CallbackReason::Revisit,
            mode,
            priority: DEFAULT_PRIORITY,
            earliest_at,
            max_attempts,
        };
        let id = insert_task(&mut tx, CaseId(case), &spec, false, now)
            .await?
            .expect("always inserted");
        let note = format!("task {id}: revisit by {mode}");
        insert_event(
            &mut tx,
            case,
            now,
            "system",
            "callback_created",
            None,
            None,
            Some(&note),
        )
        .await?;
        let task = load_task(&mut tx, id, false).await?;
        tx.commit().await?;
        Ok(task)
    }

    pub(crate) async fn open_outbound_call(
        &self,
        c: &NewOutboundCall,
        node: Option<&str>,
    ) -> Result<CallId, CaseError> {
        let mut tx = self.write_tx().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM cases WHERE id = $1")
            .bind(c.case.0)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(CaseError::CaseNotFound(c.case));
        }
        if let Some(task) = c.task {
            let owner: Option<i64> =
                sqlx::query_scalar("SELECT case_id FROM callback_tasks WHERE id = $1")
                    .bind(task.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            match owner {
                None => return Err(CaseError::CallbackNotFound(task.0)),
                Some(owner) if owner != c.case.0 => {
                    return Err(CaseError::InvalidField {
                        field: "task",
                        reason: format!("callback task {task} is not for case {}", c.case),
                    })
                }
                Some(_) => {}
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO calls (case_id, sip_call_id, caller_number, called_number, direction, \
             arrived_at, agent, callback_task_id, node) \
             VALUES ($1, $2, $3, $4, 'outbound', $5, $6, $7, $8) RETURNING id",
        )
        .bind(c.case.0)
        .bind(&c.sip_call_id)
        .bind(&c.from_number)
        .bind(&c.to_number)
        .bind(c.started_at)
        .bind(&c.agent)
        .bind(c.task.map(|t| t.0))
        .bind(node)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match (kind(&e), &c.agent) {
            (Some(ErrorKind::ForeignKeyViolation), Some(agent)) => {
                CaseError::AgentNotFound(agent.clone())
            }
            _ => e.into(),
        })?;
        let note = match c.task {
            // The number dialled is on the call's row; the trail, shown to department
            // handlers, names no number.
            Some(task) => format!("outbound call {id} for task {task}"),
            None => format!("outbound call {id}"),
        };
        let actor = c.agent.as_deref().unwrap_or("system");
        insert_event(
            &mut tx,
            c.case.0,
            c.started_at,
            actor,
            "callback_dialled",
            None,
            None,
            Some(&note),
        )
        .await?;
        tx.commit().await?;
        Ok(CallId(id))
    }

    pub(crate) async fn call_answered(
        &self,
        call: CallId,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let done = sqlx::query("UPDATE calls SET answered_at = $1 WHERE id = $2")
            .bind(at)
            .bind(call.0)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(CaseError::CallNotFound(call));
        }
        Ok(())
    }

    pub(crate) async fn record_satisfaction(
        &self,
        case: CaseId,
        call: Option<CallId>,
        score: u8,
        label: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let mut tx = self.write_tx().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM cases WHERE id = $1")
            .bind(case.0)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(CaseError::CaseNotFound(case));
        }
        if let Some(call) = call {
            set_call_satisfaction(&mut tx, case, call, score).await?;
        }
        insert_event(
            &mut tx,
            case.0,
            at,
            "system",
            "satisfaction",
            None,
            None,
            Some(label),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
