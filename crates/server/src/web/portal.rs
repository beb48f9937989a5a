//! The department portal (承办单位): a handler's subtree's cases sorted by deadline with a
//! countdown (red overdue, amber within one working day), and accept / return with a
//! reason / reply / ask for more time. It shows exactly what the API lets a handler see:
//! the list is the API's handler search (confidential callers taken out), the actions the
//! API's transitions (the lifecycle's rules, the revisit a reply owes).

use super::messages::{m, Messages};
use super::session::PageUser;
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use hotline_case::lifecycle::{allowed_actions, Action, ActionKind, CaseState, Role};
use hotline_case::CaseQuery;
use serde::Deserialize;

/// One case as the portal lists it.
struct Row {
    ticket: String,
    category: String,
    status: String,
    subject: String,
    description: String,
    /// The number, or 保密 when the case hides its caller from departments.
    caller: String,
    location: String,
    deadline: String,
    countdown: String,
    /// `overdue`, `soon` (within one working day) or empty.
    urgency: &'static str,
    /// What the handler may do now: `accept`, `reply`, `return`, `request_extension`.
    actions: Vec<&'static str>,
}

impl Row {
    fn may(&self, action: &str) -> bool {
        self.actions.contains(&action)
    }
}

#[derive(Template)]
#[template(path = "portal.html")]
struct Portal<'a> {
    m: &'a Messages,
    name: &'a str,
    department: String,
    /// Cases the department holds, and how many of them the page shows.
    held: usize,
    shown: usize,
    csrf: String,
    cases: Vec<Row>,
    error: Option<String>,
}

/// How many cases the portal shows (the soonest due).
const PAGE: usize = 50;

/// The cases a department still holds: dispatched, accepted or sent back to be redone.
const HELD: [CaseState; 3] = [CaseState::Dispatched, CaseState::Accepted, CaseState::Redo];

async fn render(s: &AppState, user: &PageUser, error: Option<String>) -> Response {
    if user.user.role != Role::DepartmentHandler {
        return (
            StatusCode::FORBIDDEN,
            "the portal is for department handlers",
        )
            .into_response();
    }
    let auth = user.auth();
    let ctx = &s.calls.ctx;
    let now = Utc::now();
    let mut found = Vec::new();
    for status in HELD {
        let query = CaseQuery {
            status: Some(status),
            limit: 500,
            ..Default::default()
        };
        // The summaries only (cheap); the cases shown are read in full below.
        let scoped = match crate::http::cases::handler_scope(s, &auth, query).await {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(error = %e.message, "portal: cannot list the cases");
                None
            }
        };
        if let Some(q) = scoped {
            match ctx.store.search_cases(&q).await {
                Ok(v) => found.extend(
                    v.iter()
                        .map(|c| serde_json::to_value(c).unwrap_or_default()),
                ),
                Err(e) => tracing::error!(error = %e, "portal: cannot list the cases"),
            }
        }
    }
    let deadline_of = |v: &serde_json::Value| {
        v["deadline"]
            .as_str()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&Utc))
    };
    found.sort_by_key(|v| deadline_of(v).unwrap_or(DateTime::<Utc>::MAX_UTC));
    // A big bureau holds hundreds: the page shows the soonest due, and says how many.
    let held = found.len();
    found.truncate(PAGE);
    let tz = ctx.ivr.timezone;
    // The whole cases as the API shows this handler (the caller taken out when hidden),
    // read at once.
    let tickets: Vec<String> = found
        .iter()
        .filter_map(|v| v["ticket"].as_str().map(str::to_owned))
        .collect();
    let mut views: std::collections::HashMap<String, serde_json::Value> =
        match crate::http::cases::case_views(s, &auth, &tickets).await {
            Ok(v) => v.into_iter().collect(),
            Err(e) => {
                tracing::error!(error = %e.message, "portal: cannot read the cases");
                Default::default()
            }
        };
    let mut cases = Vec::with_capacity(found.len());
    for summary in &found {
        let ticket = summary["ticket"].as_str().unwrap_or_default();
        let Some(v) = views.remove(ticket) else {
            continue;
        };
        let text = |k: &str| v["order"][k].as_str().unwrap_or_default().to_string();
        let deadline = deadline_of(summary);
        let (countdown, urgency) = match deadline {
            Some(d) if ctx.calendar.is_overdue(d, now) => (m().portal_overdue.clone(), "overdue"),
            Some(d) => {
                let hours = (d - now).num_hours().max(0);
                let soon = ctx.calendar.working_days_between(now, d) <= 1;
                let left = if hours >= 24 {
                    format!("{} {} {} {}", hours / 24, m().days, hours % 24, m().hours)
                } else {
                    format!("{hours} {}", m().hours)
                };
                (
                    format!("{} {left}", m().portal_left),
                    if soon { "soon" } else { "" },
                )
            }
            None => (String::new(), ""),
        };
        let state = summary["status"].as_str().unwrap_or_default();
        let actions = CaseState::parse(state)
            .map(|st| allowed_actions(st, Role::DepartmentHandler))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| match a {
                ActionKind::Accept => Some("accept"),
                ActionKind::Reply => Some("reply"),
                ActionKind::Return => Some("return"),
                ActionKind::RequestExtension => Some("request_extension"),
                _ => None,
            })
            .collect();
        cases.push(Row {
            ticket: ticket.to_string(),
            category: summary["category"]
                .as_str()
                .map(|c| m().category_label(c).to_string())
                .unwrap_or_default(),
            status: m().status_label(state).to_string(),
            subject: text("subject"),
            description: text("description"),
            caller: match v["case"]["caller_number"].as_str() {
                Some(n) if v["redacted"] != true => n.to_string(),
                _ => m().portal_hidden.clone(),
            },
            location: text("location"),
            deadline: deadline
                .map(|d| d.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            countdown,
            urgency,
            actions,
        });
    }
    let department = match &user.user.department {
        Some(code) => match ctx.store.departments().await {
            Ok(all) => all
                .into_iter()
                .find(|d| &d.code == code)
                .map_or_else(|| code.clone(), |d| d.name),
            Err(_) => code.clone(),
        },
        None => String::new(),
    };
    let cases_len = cases.len();
    let page = Portal {
        m: m(),
        name: &user.user.name,
        department,
        held,
        shown: cases_len,
        csrf: user.csrf(),
        cases,
        error,
    };
    match page.render() {
        Ok(h) => Html(h).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "page error").into_response(),
    }
}

/// `GET /portal`.
pub async fn page(State(s): State<AppState>, user: PageUser) -> Response {
    render(&s, &user, None).await
}

#[derive(Deserialize)]
pub struct ActForm {
    csrf: String,
    action: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    days: Option<u32>,
}

/// `POST /portal/case/{ticket}`: accept, return (reason), reply (result), ask for more
/// time (days, reason) — then the portal again.
pub async fn act(
    State(s): State<AppState>,
    user: PageUser,
    Path(ticket): Path<String>,
    Form(f): Form<ActForm>,
) -> Response {
    if !user.check_csrf(&f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    let text = f.text.trim().to_string();
    let action = match f.action.as_str() {
        "accept" => Action::Accept,
        "reply" => Action::Reply { result: text },
        "return" => Action::Return { reason: text },
        "request_extension" => Action::RequestExtension {
            days: f.days.unwrap_or(0),
            reason: text,
        },
        other => return render(&s, &user, Some(format!("action `{other}`"))).await,
    };
    match crate::http::cases::act(&s, &user.auth(), &ticket, action).await {
        Ok(_) => Redirect::to("/portal").into_response(),
        Err(e) => render(&s, &user, Some(e.message)).await,
    }
}
