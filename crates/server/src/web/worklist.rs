//! The desk's callback worklist (回拨任务): the voicemails and callback requests due, each
//! with its voicemail to play in the browser, "call now" (agent first: the desk user's
//! softphone rings, then the citizen is dialled), the result of a call made by hand, and a
//! new time. Every action is the callback API's own handler, with the API's checks.

use super::askama_escape;
use super::desk::mask_number;
use super::messages::{m, Messages};
use super::session::PageUser;
use crate::http::callbacks::{self, AttemptBody, RescheduleBody, StartBody};
use crate::http::error::Body;
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use hotline_case::lifecycle::Role;
use hotline_case::{CallbackReason, CallbackStatus, CallbackTask, RecordingKind};
use serde::Deserialize;

/// The worklist's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/desk/callbacks", get(list))
        .route("/desk/callbacks/{id}", post(act))
        .route("/desk/recording/{ticket}/{id}", get(recording))
}

/// One task as the desk lists it.
struct Row {
    id: i64,
    ticket: String,
    number: String,
    reason: String,
    /// How long the citizen has waited (hours, or minutes under an hour).
    waited: String,
    due: String,
    attempts: String,
    last: String,
    status: String,
    /// Due now (else later: shown after the due ones).
    due_now: bool,
    /// The voicemail recording's id, to play.
    voicemail: Option<i64>,
}

#[derive(Template)]
#[template(path = "worklist.html")]
struct Worklist<'a> {
    m: &'a Messages,
    csrf: String,
    rows: Vec<Row>,
    /// A line about the last action (done, or why not).
    note: Option<(bool, String)>,
}

fn allowed(user: &PageUser) -> bool {
    matches!(user.user.role, Role::Agent | Role::Supervisor | Role::Admin)
}

async fn render(s: &AppState, user: &PageUser, note: Option<(bool, String)>) -> Response {
    if !allowed(user) {
        return (
            StatusCode::FORBIDDEN,
            "callbacks are for agents and supervisors",
        )
            .into_response();
    }
    let ctx = &s.calls.ctx;
    let now = Utc::now();
    let tz = ctx.ivr.timezone;
    // Due now (in the worklist's order), then those being called, then the ones due
    // later, soonest first.
    let mut tasks = ctx
        .store
        .callback_worklist(now, 50)
        .await
        .unwrap_or_default();
    let store = &ctx.store;
    if let Ok(busy) = store
        .callback_tasks_with_status(CallbackStatus::InProgress, 50)
        .await
    {
        tasks.extend(busy);
    }
    if let Ok(mut later) = store
        .callback_tasks_with_status(CallbackStatus::Pending, 200)
        .await
    {
        later.retain(|t| t.next_attempt_at > now);
        later.sort_by_key(|t| t.next_attempt_at);
        tasks.extend(later.into_iter().take(50));
    }
    let mut seen = std::collections::HashSet::new();
    tasks.retain(|t| seen.insert(t.id.0));
    let mut rows = Vec::with_capacity(tasks.len());
    for t in tasks {
        rows.push(row(s, t, now, tz).await);
    }
    let page = Worklist {
        m: m(),
        csrf: user.csrf(),
        rows,
        note,
    };
    match page.render() {
        Ok(h) => Html(h).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "page error").into_response(),
    }
}

async fn row(s: &AppState, t: CallbackTask, now: chrono::DateTime<Utc>, tz: chrono_tz::Tz) -> Row {
    let voicemail = match t.reason {
        CallbackReason::Voicemail => s
            .calls
            .ctx
            .store
            .case_by_ticket(&t.ticket)
            .await
            .ok()
            .flatten()
            .and_then(|d| {
                d.recordings
                    .iter()
                    .rev()
                    .find(|r| r.kind == RecordingKind::Voicemail)
                    .map(|r| r.id.0)
            }),
        _ => None,
    };
    let waited = (now - t.place_at).num_minutes().max(0);
    let waited = if waited >= 60 {
        format!("{} {}", waited / 60, m().hours)
    } else {
        format!("{waited} {}", m().minutes)
    };
    Row {
        id: t.id.0,
        ticket: t.ticket,
        number: mask_number(&t.number),
        reason: m().callback_reason(t.reason.as_str()).to_string(),
        waited,
        due: t
            .next_attempt_at
            .with_timezone(&tz)
            .format("%m-%d %H:%M")
            .to_string(),
        attempts: format!("{}/{}", t.attempts, t.max_attempts),
        last: t
            .last_result
            .map(|r| m().callback_result(r.as_str()).to_string())
            .unwrap_or_default(),
        status: t.status.as_str().to_string(),
        due_now: t.next_attempt_at <= now,
        voicemail,
    }
}

/// `GET /desk/callbacks`: the worklist (the desk loads it and refreshes it).
async fn list(State(s): State<AppState>, user: PageUser) -> Response {
    render(&s, &user, None).await
}

#[derive(Deserialize)]
struct ActForm {
    csrf: String,
    action: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    note: String,
    /// `datetime-local` (local time of the hotline), for a new time.
    #[serde(default)]
    at: String,
}

/// `POST /desk/callbacks/{id}`: `start` (call now, agent first), `result` (of a call
/// made by hand: the task is taken first if nobody has it), `reschedule` — then the list.
async fn act(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<i64>,
    Form(f): Form<ActForm>,
) -> Response {
    if !user.check_csrf(&f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    let done = match f.action.as_str() {
        "start" => start(&s, &user, id).await,
        "result" => result(&s, &user, id, &f).await,
        "reschedule" => reschedule(&s, &user, id, &f).await,
        other => Err(format!("action `{}`", askama_escape(other))),
    };
    let note = match done {
        Ok(()) => (true, m().cb_done.clone()),
        Err(why) => (false, why),
    };
    render(&s, &user, Some(note)).await
}

async fn start(s: &AppState, user: &PageUser, id: i64) -> Result<(), String> {
    let Some(extension) = user.user.extension.clone() else {
        return Err(m().no_extension.clone());
    };
    callbacks::start(
        State(s.clone()),
        user.auth(),
        Path(id),
        Body(StartBody { extension }),
    )
    .await
    .map(|_| ())
    .map_err(|e| e.message)
}

async fn result(s: &AppState, user: &PageUser, id: i64, f: &ActForm) -> Result<(), String> {
    let store = &s.calls.ctx.store;
    let task = store
        .callback_task(hotline_case::CallbackTaskId(id))
        .await
        .map_err(|e| e.to_string())?;
    if task.status == CallbackStatus::Pending {
        let _claimed = callbacks::claim(State(s.clone()), user.auth(), Path(id))
            .await
            .map_err(|e| e.message)?;
    }
    let note = f.note.trim();
    callbacks::attempt(
        State(s.clone()),
        user.auth(),
        Path(id),
        Body(AttemptBody {
            result: f.result.clone(),
            note: (!note.is_empty()).then(|| note.to_string()),
            retry_minutes: None,
        }),
    )
    .await
    .map(|_| ())
    .map_err(|e| e.message)
}

async fn reschedule(s: &AppState, user: &PageUser, id: i64, f: &ActForm) -> Result<(), String> {
    let tz = s.calls.ctx.ivr.timezone;
    let at = chrono::NaiveDateTime::parse_from_str(f.at.trim(), "%Y-%m-%dT%H:%M")
        .ok()
        .and_then(|t| t.and_local_timezone(tz).earliest())
        .ok_or_else(|| m().cb_bad_time.clone())?;
    callbacks::reschedule(
        State(s.clone()),
        user.auth(),
        Path(id),
        Body(RescheduleBody {
            at: at.with_timezone(&Utc),
            attempts: None,
        }),
    )
    .await
    .map(|_| ())
    .map_err(|e| e.message)
}

/// `GET /desk/recording/{ticket}/{id}`: a recording for the browser's player — the API's
/// download (the same visibility rules, the access audited).
async fn recording(
    State(s): State<AppState>,
    user: PageUser,
    Path((ticket, id)): Path<(String, String)>,
) -> Response {
    match crate::http::cases::recording(State(s), user.auth(), Path((ticket, id))).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
