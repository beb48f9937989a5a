//! The agent desk (坐席工作台): the state bar (ready / not ready with a reason / signed
//! out, time in state, wrap-up countdown, calls today) bound to the user's extension — the
//! softphone's state is the same state —, the screen pop while the phone rings, the work
//! order form on the call's ticket, and the call controls. Every action goes through the
//! API's own checks.

use super::messages::{m, Messages};
use super::session::PageUser;
use super::{askama_escape, render};
use crate::acd::By;
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

/// The desk's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/desk", get(desk))
        .route("/desk/state", post(desk_state))
        .route("/desk/statebar", get(statebar))
        .route("/desk/events", get(desk_events))
        .route("/desk/case/{ticket}", post(save_case))
        .route("/desk/deadline", get(deadline_preview))
        .route("/desk/call/{ticket}", post(call_control))
        .route("/desk/link/{ticket}", post(link_case))
        .merge(super::worklist::routes())
}

#[derive(Template)]
#[template(path = "desk.html")]
struct DeskPage<'a> {
    m: &'a Messages,
    name: &'a str,
    csrf: String,
    /// The state bar, rendered by [`StateBar`].
    statebar: String,
}

/// The state bar: the agent's state and what it has done today. Re-fetched whenever the
/// agent's state changes (the desk's live stream).
#[derive(Template)]
#[template(path = "statebar.html")]
struct StateBar<'a> {
    m: &'a Messages,
    csrf: String,
    extension: Option<&'a str>,
    state: &'a str,
    state_label: &'a str,
    /// The not-ready reason's name (configured), or the system's code.
    reason: Option<String>,
    /// (code, name) of the configured not-ready reasons.
    reasons: Vec<(String, String)>,
    /// When the state began (Unix ms), for the page's clock; and how long ago (m:ss).
    since_ms: i64,
    in_state: String,
    /// When the wrap-up ends (Unix ms) and how long is left (m:ss), during wrap-up.
    wrap_up_until: Option<(i64, String)>,
    /// Calls answered today and their talk time (minutes).
    calls_today: u64,
    talk_minutes: u64,
    error: Option<String>,
}

/// m:ss.
fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

async fn statebar_html(s: &AppState, user: &PageUser, error: Option<String>) -> String {
    let ctx = &s.calls.ctx;
    let ext = user.user.extension.as_deref();
    let live = ext.and_then(|e| ctx.acd.agent_snapshot(&hotline_acd::AgentId(e.to_string())));
    let (state, reason) = live
        .as_ref()
        .map(|a| crate::acd::state_name(&a.state))
        .unwrap_or(("logged_out", None));
    let agents = &ctx.cfg.agents;
    let reason = reason.map(|r| agents.reason(&r).map_or(r, |x| x.name.clone()));
    let now = chrono::Utc::now();
    let in_state_ms = live
        .as_ref()
        .map_or(0, |a| ctx.acd.now().saturating_sub(a.since) as i64);
    let since_ms = now.timestamp_millis() - in_state_ms;
    let wrap_up_until = (state == "wrap_up").then(|| {
        let total = ext.map_or(0, |e| {
            ctx.acd
                .wrap_up(&hotline_acd::AgentId(e.to_string()))
                .as_millis() as i64
        });
        let left = (total - in_state_ms).max(0);
        (now.timestamp_millis() + left, clock(left))
    });
    // Today, from local midnight.
    let tz = ctx.ivr.timezone;
    let midnight = now
        .with_timezone(&tz)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(tz).earliest())
        .map_or(now, |t| t.with_timezone(&chrono::Utc));
    let tally = match ext {
        Some(e) => ctx
            .store
            .agent_answered_between(e, midnight, now + chrono::Duration::seconds(1))
            .await
            .unwrap_or_default(),
        None => Default::default(),
    };
    StateBar {
        m: m(),
        csrf: user.csrf(),
        extension: ext,
        state,
        state_label: m().state_label(state),
        reason,
        reasons: agents
            .not_ready_reasons
            .iter()
            .map(|r| (r.code.clone(), r.name.clone()))
            .collect(),
        since_ms,
        in_state: clock(in_state_ms),
        wrap_up_until,
        calls_today: tally.answered,
        talk_minutes: tally.talk_ms / 60_000,
        error,
    }
    .render()
    .unwrap_or_default()
}

async fn desk_page(s: &AppState, user: &PageUser, error: Option<String>) -> Response {
    render(DeskPage {
        m: m(),
        name: &user.user.name,
        csrf: user.csrf(),
        statebar: statebar_html(s, user, error).await,
    })
}

async fn desk(State(s): State<AppState>, user: PageUser) -> Response {
    desk_page(&s, &user, None).await
}

/// `GET /desk/statebar`: the state bar alone (fetched when the state changes).
async fn statebar(State(s): State<AppState>, user: PageUser) -> Response {
    Html(statebar_html(&s, &user, None).await).into_response()
}

#[derive(Deserialize)]
struct StateForm {
    csrf: String,
    state: String,
    #[serde(default)]
    reason: String,
}

/// The desk's state buttons: the API's checks, then the state bar again (htmx, the rest of
/// the desk untouched: a form being filled in stays) or the whole desk (no script).
async fn desk_state(
    State(s): State<AppState>,
    user: PageUser,
    headers: axum::http::HeaderMap,
    Form(f): Form<StateForm>,
) -> Response {
    if !user.check_csrf(&f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    let refused = change_state(&s, &user, &f).await.err();
    if headers.contains_key("hx-request") {
        return Html(statebar_html(&s, &user, refused).await).into_response();
    }
    match refused {
        None => Redirect::to("/desk").into_response(),
        Some(why) => desk_page(&s, &user, Some(why)).await,
    }
}

/// Changes the desk user's agent as the form asks; the refusal in the desk's words.
async fn change_state(s: &AppState, user: &PageUser, f: &StateForm) -> Result<(), String> {
    let Some(ext) = user.user.extension.clone() else {
        return Err(m().no_extension.clone());
    };
    let auth = user.auth();
    auth.require_agent_control(&ext).map_err(|e| e.message)?;
    let reason = (!f.reason.is_empty()).then_some(f.reason.as_str());
    let by = By::User(&user.user.username);
    match crate::http::change_agent_state(&s.calls.ctx, &ext, &f.state, reason, by).await {
        Ok(_) => Ok(()),
        Err(e) if e.status == StatusCode::CONFLICT && f.state == "ready" => {
            Err(m().not_registered.clone())
        }
        Err(e) if e.status == StatusCode::CONFLICT && f.state == "not_ready" => {
            let logged_out = s
                .calls
                .ctx
                .acd
                .agent_state(&hotline_acd::AgentId(ext.clone()))
                .is_none_or(|st| st == hotline_acd::AgentState::LoggedOut);
            Err(if logged_out {
                m().state_logged_out.clone()
            } else {
                m().cannot_pause.clone()
            })
        }
        Err(e) => Err(e.message),
    }
}

#[derive(Template)]
#[template(path = "pop.html")]
struct Pop<'a> {
    m: &'a Messages,
    csrf: String,
    /// (code, label) of the categories; (code, name) of the departments cases go to.
    categories: Vec<(&'static str, String)>,
    departments: Vec<(String, String)>,
    caller: String,
    ticket: &'a str,
    queue: &'a str,
    path: &'a str,
    waited: String,
    /// The caller's other open cases, then their latest settled ones.
    cases: Vec<PopCase>,
}

/// How many settled cases of the caller the pop shows besides the open ones.
const RECENT_CASES: usize = 3;

/// One of the caller's earlier cases in the screen pop.
struct PopCase {
    ticket: String,
    status: String,
    deadline: String,
    /// Its recordings (ids), to play (`/desk/recording/{ticket}/{id}`).
    recordings: Vec<i64>,
}

/// A number as the desk shows it: the middle digits hidden (138****8000).
pub fn mask_number(n: &str) -> String {
    let chars: Vec<char> = n.chars().collect();
    if chars.len() >= 8 {
        let (head, tail) = (&chars[..3], &chars[chars.len() - 4..]);
        format!(
            "{}****{}",
            head.iter().collect::<String>(),
            tail.iter().collect::<String>()
        )
    } else if chars.len() > 2 {
        format!(
            "{}{}",
            "*".repeat(chars.len() - 2),
            chars[chars.len() - 2..].iter().collect::<String>()
        )
    } else {
        n.to_string()
    }
}

/// The screen pop of a call ringing at this agent's phone.
async fn pop_html(
    s: &AppState,
    csrf: String,
    (ticket, queue, path): (&str, &str, &str),
    waited_ms: u64,
) -> String {
    let store = &s.calls.ctx.store;
    let tz = s.calls.ctx.ivr.timezone;
    let number = match store.case_by_ticket(ticket).await {
        Ok(Some(d)) => d.case.caller_number,
        _ => String::new(),
    };
    // The caller's open cases, then their latest settled ones; each with its recordings.
    let mut found = store
        .open_cases_for_number(&number)
        .await
        .unwrap_or_default();
    if !number.is_empty() {
        let recent = store
            .search_cases(&hotline_case::CaseQuery {
                caller_number: Some(number.clone()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap_or_default();
        found.extend(
            recent
                .into_iter()
                .filter(|c| c.status.is_final())
                .take(RECENT_CASES),
        );
    }
    let mut cases = Vec::new();
    for c in found.into_iter().filter(|c| c.ticket != ticket) {
        let deadline = c
            .deadline
            .map(|d| d.with_timezone(&tz).format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let recordings = match store.case_by_ticket(&c.ticket).await {
            Ok(Some(d)) => d.recordings.iter().map(|r| r.id.0).collect(),
            _ => Vec::new(),
        };
        cases.push(PopCase {
            status: m().status_label(c.status.as_str()).to_string(),
            ticket: c.ticket,
            deadline,
            recordings,
        });
    }
    let departments = match store.departments().await {
        Ok(list) => list
            .into_iter()
            .filter(|d| d.active)
            .map(|d| (d.code, d.name))
            .collect(),
        Err(_) => Vec::new(),
    };
    let pop = Pop {
        m: m(),
        csrf,
        categories: hotline_case::Category::ALL
            .iter()
            .map(|c| (c.as_str(), m().category_label(c.as_str()).to_string()))
            .collect(),
        departments,
        caller: mask_number(&number),
        ticket,
        queue,
        path,
        waited: format!("{} {}", waited_ms / 1000, m().seconds),
        cases,
    };
    pop.render().unwrap_or_default()
}

/// The desk's live stream (htmx SSE): the screen pop when the agent's phone rings (`pop`)
/// and the agent's state as it changes (`state`). The browser reconnects by itself.
async fn desk_events(
    State(s): State<AppState>,
    user: PageUser,
) -> axum::response::sse::Sse<
    impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use crate::acd::LiveEvent;
    use axum::response::sse::{Event, KeepAlive, Sse};
    let mut rx = s.calls.ctx.acd.live.subscribe();
    let ext = user.user.extension.clone().unwrap_or_default();
    let stream = async_stream::stream! {
        loop {
            match rx.recv().await {
                Ok(LiveEvent::Offer { agent, ticket, queue, path, waited_ms, .. }) if agent == ext => {
                    let html = pop_html(&s, user.csrf(), (&ticket, &queue, &path), waited_ms).await;
                    yield Ok(Event::default().event("pop").data(html.replace('\n', "")));
                }
                Ok(LiveEvent::Agent { agent, to, .. }) if agent == ext => {
                    yield Ok(Event::default().event("state").data(m().state_label(&to)));
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    };
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
struct CaseForm {
    csrf: String,
    #[serde(default)]
    caller_name: String,
    #[serde(default)]
    location: String,
    category: String,
    subject: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    confidential: Option<String>,
    action: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    mode: String,
}

/// The 403 for users who do not write work orders (department handlers), if this is one.
fn not_the_floor(user: &PageUser) -> Option<Response> {
    use hotline_case::lifecycle::Role;
    (!matches!(user.user.role, Role::Agent | Role::Supervisor | Role::Admin)).then(|| {
        (
            StatusCode::FORBIDDEN,
            "only agents and supervisors write work orders",
        )
            .into_response()
    })
}

/// A form's refusal, as a line the form shows (htmx swaps it in).
fn refused(e: impl AsRef<str>) -> Response {
    (
        StatusCode::CONFLICT,
        Html(format!(
            "<p class=\"error\">{}: {}</p>",
            m().refused,
            askama_escape(e.as_ref())
        )),
    )
        .into_response()
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The desk's work-order form: the fields, then 当即答复 / 转办 / 转阅 — the API's store
/// calls and checks; answers with a line for the form (htmx).
async fn save_case(
    State(s): State<AppState>,
    user: PageUser,
    Path(ticket): Path<String>,
    Form(f): Form<CaseForm>,
) -> Response {
    use hotline_case::lifecycle::{Action, DispatchMode};
    if !user.check_csrf(&f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if let Some(no) = not_the_floor(&user) {
        return no;
    }
    let ctx = &s.calls.ctx;
    let actor = hotline_case::Actor::new(user.user.username.clone(), user.user.role);
    let Some(category) = hotline_case::Category::parse(&f.category) else {
        return refused(format!("category `{}`", f.category));
    };
    let fields = hotline_case::CaseFields {
        caller_name: non_empty(f.caller_name),
        location: non_empty(f.location),
        category: Some(category),
        subject: non_empty(f.subject),
        description: non_empty(f.description.clone()),
        confidential: Some(f.confidential.is_some()),
    };
    if let Err(e) = ctx
        .store
        .update_case_fields(&ticket, fields, &actor, chrono::Utc::now())
        .await
    {
        return refused(e.to_string());
    }
    let action = match f.action.as_str() {
        "answer" => Action::Answer {
            summary: f.description.trim().to_string(),
        },
        "dispatch" | "forward" if f.department.is_empty() => {
            return refused(m().department.clone());
        }
        "dispatch" => Action::Dispatch {
            department: f.department.clone(),
            mode: DispatchMode::parse(&f.mode).unwrap_or(DispatchMode::Phone),
        },
        "forward" => Action::Forward {
            department: f.department.clone(),
        },
        other => return refused(format!("action `{other}`")),
    };
    match ctx
        .store
        .transition(
            &ticket,
            action,
            &actor,
            &ctx.calendar,
            &ctx.policy,
            chrono::Utc::now(),
        )
        .await
    {
        Ok(d) => {
            let deadline = d
                .case
                .deadline
                .map(|t| {
                    t.with_timezone(&ctx.ivr.timezone)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default();
            Html(format!(
                "<p id=\"case-saved\" class=\"saved\">{} · {} · {} {}</p>",
                m().saved,
                askama_escape(&ticket),
                m().deadline_preview,
                deadline
            ))
            .into_response()
        }
        Err(e) => refused(e.to_string()),
    }
}

#[derive(Deserialize)]
struct LinkForm {
    csrf: String,
    /// The existing case the call belongs to.
    to: String,
}

/// The pop's "this is about an earlier case": the call of `ticket` joins the case `to`
/// (the API's `POST /api/cases/{to}/calls`: the empty new case is closed as merged).
async fn link_case(
    State(s): State<AppState>,
    user: PageUser,
    Path(ticket): Path<String>,
    Form(f): Form<LinkForm>,
) -> Response {
    if !user.check_csrf(&f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if let Some(no) = not_the_floor(&user) {
        return no;
    }
    let store = &s.calls.ctx.store;
    // The call this desk is on: the latest of the new ticket's calls.
    let call = match store.case_by_ticket(&ticket).await {
        Ok(Some(d)) => d.calls.last().map(|c| c.id),
        Ok(None) => None,
        Err(e) => return refused(e.to_string()),
    };
    let Some(call) = call else {
        return refused(format!("no call on {ticket}"));
    };
    let actor = hotline_case::Actor::new(user.user.username.clone(), user.user.role);
    match store
        .link_call_to_case(call, f.to.trim(), &actor, chrono::Utc::now())
        .await
    {
        Ok(d) => Html(format!(
            "<p id=\"case-linked\" class=\"saved\">{} {}</p>",
            m().linked,
            askama_escape(&d.case.ticket)
        ))
        .into_response(),
        Err(e) => refused(e.to_string()),
    }
}

#[derive(Deserialize)]
struct DeadlineQuery {
    mode: String,
    #[serde(default)]
    category: String,
}

/// The deadline a dispatch made now would get, shown before saving.
async fn deadline_preview(
    State(s): State<AppState>,
    _user: PageUser,
    axum::extract::Query(q): axum::extract::Query<DeadlineQuery>,
) -> Response {
    let ctx = &s.calls.ctx;
    let mode = hotline_case::lifecycle::DispatchMode::parse(&q.mode)
        .unwrap_or(hotline_case::lifecycle::DispatchMode::Phone);
    let category = (!q.category.is_empty()).then_some(q.category.as_str());
    let at = ctx
        .policy
        .deadline(&ctx.calendar, chrono::Utc::now(), mode, category)
        .with_timezone(&ctx.ivr.timezone);
    Html(at.format("%Y-%m-%d %H:%M").to_string()).into_response()
}

#[derive(Deserialize)]
struct ControlForm {
    csrf: String,
    action: String,
    #[serde(default)]
    target: String,
}

/// The desk's call-control buttons: the same commands as `POST /api/calls/{ticket}/control`
/// (an agent controls only the call it is on).
async fn call_control(
    State(s): State<AppState>,
    user: PageUser,
    Path(ticket): Path<String>,
    Form(f): Form<ControlForm>,
) -> Response {
    use crate::call::{Command, CommandError};
    use hotline_case::lifecycle::Role;
    if !user.check_csrf(&f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    let agent = match user.user.role {
        Role::Supervisor | Role::Admin => None,
        Role::Agent => match user.user.extension.clone() {
            Some(ext) => Some(ext),
            None => return (StatusCode::FORBIDDEN, m().no_extension.clone()).into_response(),
        },
        _ => return (StatusCode::FORBIDDEN, "call control is for agents").into_response(),
    };
    let target = f.target.trim().to_string();
    let cmd = match f.action.as_str() {
        "hold" => Command::Hold,
        "resume" => Command::Resume,
        "transfer" if !target.is_empty() => Command::Transfer(target),
        "consult" if !target.is_empty() => Command::Consult(target),
        "complete" => Command::Complete,
        "return" => Command::Return,
        "conference" => Command::Conference,
        // The agent's part ends; the citizen goes on to the satisfaction survey.
        "hangup" => Command::Transfer(s.calls.ctx.cfg.agents.survey_transfer.clone()),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Html(format!("<span class=\"error\">{}</span>", m().ctl_target)),
            )
                .into_response()
        }
    };
    match s.calls.command(&ticket, cmd, agent).await {
        Ok(()) => {
            Html(format!("<span id=\"control-done\">{}</span>", m().ctl_done)).into_response()
        }
        Err(e) => {
            let code = match e {
                CommandError::NoCall => StatusCode::NOT_FOUND,
                CommandError::NotYours(_) => StatusCode::FORBIDDEN,
                CommandError::Refused(_) => StatusCode::CONFLICT,
            };
            (
                code,
                Html(format!(
                    "<span class=\"error\">{}: {}</span>",
                    m().refused,
                    askama_escape(&e.to_string())
                )),
            )
                .into_response()
        }
    }
}
