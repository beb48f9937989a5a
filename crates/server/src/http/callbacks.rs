//! The callback worklist for the agent desktop: list, claim, record an attempt,
//! reschedule, skip. Agents, supervisors and admins (not department handlers). Dialling
//! is not done here: the agent (or the dialler) reports each attempt's result.
//!
//! Supervisors (and admins) also put a task on the worklist by hand and reopen a failed
//! one (reschedule it, or start it at once) with more attempts; each is audited on the
//! case with who did it. A task is never created or reopened for a case that is over.

use super::auth::Auth;
use super::error::{ApiError, Body};
use super::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use hotline_case::lifecycle::Role;
use hotline_case::{
    CallbackAttempt, CallbackMode, CallbackReason, CallbackResult, CallbackStatus, CallbackTask,
    CallbackTaskId,
};
use serde::Deserialize;
use serde::Serialize;

/// Retry spacing when the request names none (minutes).
const DEFAULT_RETRY_MINUTES: i64 = 30;

fn allowed(auth: &Auth) -> Result<(), ApiError> {
    match auth.user.role {
        Role::Agent | Role::Supervisor | Role::Admin => Ok(()),
        _ => Err(ApiError::forbidden(
            "callbacks are for agents, supervisors and admins",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Every task, whatever its status or due time (default: only the due ones).
    #[serde(default)]
    all: bool,
    /// Only tasks in this status (pending, in_progress, done, failed, skipped), due or not.
    status: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// `GET /api/callbacks[?all=true&limit=n]`: the due tasks, higher priority then oldest
/// place first.
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<CallbackTask>>, ApiError> {
    allowed(&auth)?;
    let store = &s.calls.ctx.store;
    let limit = q.limit.unwrap_or(0);
    let status = match q.status.as_deref() {
        None => None,
        Some(v) => Some(CallbackStatus::parse(v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status: `{v}` is not pending, in_progress, done, failed or skipped"
            ))
        })?),
    };
    let tasks = if let Some(st) = status {
        store.callback_tasks_with_status(st, limit).await?
    } else if q.all {
        store.callback_tasks(limit).await?
    } else {
        store.callback_worklist(Utc::now(), limit).await?
    };
    Ok(Json(tasks))
}

/// A task with its attempts.
#[derive(Serialize)]
pub struct TaskDetail {
    #[serde(flatten)]
    task: CallbackTask,
    attempts_made: Vec<CallbackAttempt>,
}

/// `GET /api/callbacks/{id}`: one task and its attempts, oldest first.
pub async fn show(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<TaskDetail>, ApiError> {
    allowed(&auth)?;
    let store = &s.calls.ctx.store;
    let task = store.callback_task(CallbackTaskId(id)).await?;
    let attempts_made = store.callback_attempts(task.id).await?;
    Ok(Json(TaskDetail {
        task,
        attempts_made,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// The agent whose softphone rings first (the one at the desktop).
    pub(crate) extension: String,
}

/// `POST /api/callbacks/{id}/start`: call this pending task now, agent first: the named
/// agent's softphone rings at once (outside the queue), then the citizen is dialled.
/// 409 if the task is not pending or already being called, 422 if the agent's softphone
/// is not registered, 503 if the hotline has no outbound trunk. A supervisor may start a
/// failed task: it is reopened with one more attempt first (audited); an agent gets 409.
pub async fn start(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Body(b): Body<StartBody>,
) -> Result<(axum::http::StatusCode, Json<CallbackTask>), ApiError> {
    allowed(&auth)?;
    let ctx = &s.calls.ctx;
    let Some(dialler) = ctx.dialler.get() else {
        return Err(ApiError::unavailable(
            "callbacks are not dialled here (no [trunk.outbound], or callbacks.enabled = false)",
        ));
    };
    let mut task = ctx.store.callback_task(CallbackTaskId(id)).await?;
    if task.status == CallbackStatus::Failed {
        if auth.require_supervisor().is_err() {
            return Err(ApiError::conflict(format!(
                "callback task {id} is failed: a supervisor can start it again (it is then \
                 given one more attempt)"
            )));
        }
        let now = Utc::now();
        task = ctx
            .store
            .reopen_callback(task.id, now, 1, &auth.user.username, now)
            .await?;
    }
    if task.status != CallbackStatus::Pending {
        return Err(ApiError::conflict(format!(
            "callback task {id} is {}, not pending",
            task.status
        )));
    }
    if let Err(problem) = ctx.store.callback_numbers().check(&task.number) {
        let t = ctx
            .store
            .mark_callback_uncallable(task.id, &problem.to_string(), Utc::now())
            .await?;
        return Err(ApiError::conflict(format!(
            "callback task {id}: {:?} is not called back ({problem}); the task is now {}",
            task.number, t.status
        )));
    }
    if ctx.desk.contacts(&b.extension).is_empty() {
        return Err(ApiError::unprocessable(format!(
            "extension: no softphone registered for `{}`",
            b.extension
        )));
    }
    if !dialler.start_now(task.clone(), &b.extension) {
        return Err(ApiError::conflict(format!(
            "callback task {id} is already being called (waiting for an agent or ringing)"
        )));
    }
    Ok((axum::http::StatusCode::ACCEPTED, Json(task)))
}

/// `POST /api/callbacks/{id}/claim`: the caller takes a pending task (409 if another
/// agent was first).
pub async fn claim(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<CallbackTask>, ApiError> {
    allowed(&auth)?;
    let t = s
        .calls
        .ctx
        .store
        .claim_callback(CallbackTaskId(id), &auth.user.username, Utc::now())
        .await?;
    Ok(Json(t))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptBody {
    /// reached, no_answer, busy, rejected or wrong_number.
    pub(crate) result: String,
    pub(crate) note: Option<String>,
    /// Minutes until the next attempt after a failed one (default 30).
    pub(crate) retry_minutes: Option<u32>,
}

/// `POST /api/callbacks/{id}/attempt`: how the attempt on a claimed task ended.
pub async fn attempt(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Body(b): Body<AttemptBody>,
) -> Result<Json<CallbackTask>, ApiError> {
    allowed(&auth)?;
    let result = CallbackResult::parse(&b.result).ok_or_else(|| {
        ApiError::bad_request("result: reached, no_answer, busy, rejected or wrong_number")
    })?;
    let minutes = b.retry_minutes.map_or(DEFAULT_RETRY_MINUTES, i64::from);
    let t = s
        .calls
        .ctx
        .store
        .record_callback_attempt(
            CallbackTaskId(id),
            result,
            &auth.user.username,
            b.note.as_deref(),
            Utc::now(),
            chrono::Duration::minutes(minutes),
            None,
        )
        .await?;
    Ok(Json(t))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    /// When to call, RFC 3339.
    pub(crate) at: DateTime<Utc>,
    /// For a failed task: how many more attempts it gets (default 1, at most 20).
    pub(crate) attempts: Option<u32>,
}

/// `POST /api/callbacks/{id}/reschedule`: due again at `at`. A failed task is reopened
/// by a supervisor with `attempts` more attempts (default 1; 403 for agents), its number
/// checked again (422 if it still may not be dialled); 409 if its case is over.
pub async fn reschedule(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Body(b): Body<RescheduleBody>,
) -> Result<Json<CallbackTask>, ApiError> {
    allowed(&auth)?;
    let store = &s.calls.ctx.store;
    let task = store.callback_task(CallbackTaskId(id)).await?;
    let t = if task.status == CallbackStatus::Failed {
        auth.require_supervisor().map_err(|_| {
            ApiError::forbidden("a failed callback task is reopened by a supervisor")
        })?;
        let more = b.attempts.unwrap_or(1);
        store
            .reopen_callback(task.id, b.at, more, &auth.user.username, Utc::now())
            .await?
    } else {
        if b.attempts.is_some() {
            return Err(ApiError::unprocessable(format!(
                "attempts: only a failed task is given more attempts (task {id} is {})",
                task.status
            )));
        }
        store
            .reschedule_callback(task.id, b.at, &auth.user.username, Utc::now())
            .await?
    };
    if let Some(d) = s.calls.ctx.dialler.get() {
        d.poke();
    }
    Ok(Json(t))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipBody {
    reason: String,
}

/// `POST /api/callbacks/{id}/skip`: off the worklist, with a reason.
pub async fn skip(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Body(b): Body<SkipBody>,
) -> Result<Json<CallbackTask>, ApiError> {
    allowed(&auth)?;
    let t = s
        .calls
        .ctx
        .store
        .skip_callback(
            CallbackTaskId(id),
            &b.reason,
            &auth.user.username,
            Utc::now(),
        )
        .await?;
    Ok(Json(t))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// The case the call is about.
    ticket: String,
    /// The number to call (default: the case's caller number).
    number: Option<String>,
    /// voicemail, callback_requested (default) or revisit.
    reason: Option<String>,
    /// agent (default: an agent's phone rings first) or auto (the IVR asks the revisit
    /// question).
    mode: Option<String>,
    /// Higher is called first (default 0).
    priority: Option<i32>,
    /// When to call, RFC 3339 (default now).
    at: Option<DateTime<Utc>>,
    /// How many attempts (default `[callbacks] max_attempts`, 1 to 20).
    max_attempts: Option<u32>,
}

/// `POST /api/callbacks`: a supervisor puts a task on the worklist by hand (201), audited
/// `callback_created` on the case by them. 404 for an unknown ticket, 409 for a case that
/// is over, 422 naming a bad field (a number that may not be dialled, among others).
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    Body(b): Body<CreateBody>,
) -> Result<(axum::http::StatusCode, Json<CallbackTask>), ApiError> {
    auth.require_supervisor()?;
    let ctx = &s.calls.ctx;
    let reason = match b.reason.as_deref() {
        None => CallbackReason::CallbackRequested,
        Some(r) => CallbackReason::parse(r).ok_or_else(|| {
            ApiError::unprocessable(format!(
                "reason: `{r}` is not voicemail, callback_requested or revisit"
            ))
        })?,
    };
    let mode = match b.mode.as_deref() {
        None => CallbackMode::Agent,
        Some(m) => CallbackMode::parse(m)
            .ok_or_else(|| ApiError::unprocessable(format!("mode: `{m}` is not agent or auto")))?,
    };
    let ticket = b.ticket.trim();
    if ticket.is_empty() || !ticket.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::unprocessable(
            "ticket: a ticket number is digits only",
        ));
    }
    let case = ctx
        .store
        .case_by_ticket(ticket)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case with ticket {ticket}")))?;
    let number = b.number.unwrap_or_else(|| case.case.caller_number.clone());
    let max_attempts = b.max_attempts.unwrap_or(ctx.cfg.callbacks.max_attempts);
    let task = ctx
        .store
        .create_callback_task(
            case.case.id,
            &number,
            reason,
            mode,
            b.priority.unwrap_or(0),
            b.at.unwrap_or_else(Utc::now),
            max_attempts,
            &auth.user.username,
            Utc::now(),
        )
        .await?;
    if let Some(d) = ctx.dialler.get() {
        d.poke();
    }
    Ok((axum::http::StatusCode::CREATED, Json(task)))
}
