//! The callback worklist for the agent desktop: list, claim, record an attempt,
//! reschedule, skip. Agents, supervisors and admins (not department handlers). Dialling
//! is not done here: the agent (or the dialler) reports each attempt's result.

use super::auth::Auth;
use super::error::ApiError;
use super::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use hotline_case::lifecycle::Role;
use hotline_case::{CallbackResult, CallbackTask, CallbackTaskId};
use serde::Deserialize;

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
    let tasks = if q.all {
        store.callback_tasks(limit).await?
    } else {
        store.callback_worklist(Utc::now(), limit).await?
    };
    Ok(Json(tasks))
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
    result: String,
    note: Option<String>,
    /// Minutes until the next attempt after a failed one (default 30).
    retry_minutes: Option<u32>,
}

/// `POST /api/callbacks/{id}/attempt`: how the attempt on a claimed task ended.
pub async fn attempt(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(b): Json<AttemptBody>,
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
        )
        .await?;
    Ok(Json(t))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    /// When to call, RFC 3339.
    at: DateTime<Utc>,
}

/// `POST /api/callbacks/{id}/reschedule`: due again at `at`.
pub async fn reschedule(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(b): Json<RescheduleBody>,
) -> Result<Json<CallbackTask>, ApiError> {
    allowed(&auth)?;
    let t = s
        .calls
        .ctx
        .store
        .reschedule_callback(CallbackTaskId(id), b.at, &auth.user.username)
        .await?;
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
    Json(b): Json<SkipBody>,
) -> Result<Json<CallbackTask>, ApiError> {
    allowed(&auth)?;
    let t = s
        .calls
        .ctx
        .store
        .skip_callback(CallbackTaskId(id), &b.reason, &auth.user.username)
        .await?;
    Ok(Json(t))
}
