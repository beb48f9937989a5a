//! The HTTP API: health, live status, and the work orders.
//!
//! Only `/healthz` and `POST /api/login` are open. Every other route returns personal data
//! or changes state (or describes them) and needs a session token from `POST /api/login`,
//! sent as `Authorization: Bearer <token>` ([`auth`]), with role rules on top:
//!
//! - the live view (`/api/status`, `/api/queues`, `/api/agents`, `/api/events`): agents,
//!   supervisors and admins (not department handlers);
//! - `/api/missed-calls` (citizens' numbers): supervisors and admins;
//! - `POST /api/agents/{ext}/state`: an agent for the extension it works at, supervisors
//!   and admins for anyone; the audit trail names who asked.
//!
//! The local operator's CLI (`hotline status`) uses the token the server writes at start
//! into its data directory, readable only by the account that runs it ([`auth`]).
//!
//! Every route is listed once in [`routes`], which builds the router and which the
//! OpenAPI document (`crates/server/openapi.json`) is tested against.

pub(crate) mod auth;
pub(crate) mod callbacks;
mod calls;
pub(crate) mod cases;
mod departments;
pub(crate) mod error;
mod listener;
mod openapi;
mod operator;
mod reports;

use crate::acd::By;
use crate::call::Calls;
use crate::endpoint::EndpointHandle;
use auth::Auth;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, MethodRouter};
use axum::{Json, Router};
use error::{ApiError, Body};
use hotline_sip::lockout::Lockout;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

pub use operator::OperatorToken;

pub use listener::{serve, HttpLimits};

#[derive(Clone)]
pub(crate) struct AppState {
    pub calls: Calls,
    pub ep: EndpointHandle,
    /// The local operator's token (see [`operator`]).
    pub operator: OperatorToken,
    /// The lockout in front of `POST /api/login`.
    logins: Arc<Mutex<Lockout>>,
}

impl AppState {
    /// The login lockout (held only for one decision, never across an `.await`).
    pub fn logins(&self) -> std::sync::MutexGuard<'_, Lockout> {
        self.logins.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One route: method, path (axum syntax, the same as OpenAPI's), whether it needs a
/// session token, and its handler.
pub(crate) struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub authenticated: bool,
    pub handler: MethodRouter<AppState>,
}

/// Every route of the API. The router is built from this table, and a test checks the
/// OpenAPI document describes exactly these.
pub(crate) fn routes() -> Vec<Route> {
    let open = |method, path, handler| Route {
        method,
        path,
        authenticated: false,
        handler,
    };
    let authed = |method, path, handler| Route {
        method,
        path,
        authenticated: true,
        handler,
    };
    vec![
        open("get", "/healthz", get(|| async { "ok" })),
        authed("get", "/api/openapi.json", get(openapi::document)),
        authed("get", "/api/status", get(status)),
        authed("get", "/api/missed-calls", get(missed_calls)),
        authed("get", "/api/queues", get(queues)),
        authed("get", "/api/agents", get(agents)),
        authed("post", "/api/agents/{ext}/state", post(set_agent_state)),
        authed("get", "/api/events", get(events)),
        authed("get", "/api/security-events", get(security_events)),
        open("post", "/api/login", post(auth::login)),
        authed("post", "/api/logout", post(auth::logout)),
        authed("get", "/api/users", get(auth::list_users)),
        authed("post", "/api/users", post(auth::add_user)),
        authed("get", "/api/departments", get(departments::tree)),
        authed("post", "/api/departments", post(departments::add)),
        authed("get", "/api/cases", get(cases::search)),
        authed("post", "/api/cases", post(cases::create)),
        authed("get", "/api/cases/{ticket}", get(cases::show)),
        authed("patch", "/api/cases/{ticket}", patch(cases::update)),
        authed(
            "post",
            "/api/cases/{ticket}/transitions",
            post(cases::transition),
        ),
        authed("post", "/api/cases/{ticket}/calls", post(cases::link_call)),
        authed("get", "/api/cases/{ticket}/events", get(cases::events)),
        authed(
            "get",
            "/api/cases/{ticket}/recordings/{id}",
            get(cases::recording),
        ),
        authed("get", "/api/reports/daily", get(reports::daily)),
        authed("post", "/api/calls/{ticket}/control", post(calls::control)),
        authed(
            "post",
            "/api/calls/{ticket}/supervise",
            post(calls::supervise),
        ),
        authed("post", "/api/calls/{ticket}/hangup", post(calls::hang_up)),
        authed("get", "/api/callbacks", get(callbacks::list)),
        authed("post", "/api/callbacks", post(callbacks::create)),
        authed("get", "/api/callbacks/{id}", get(callbacks::show)),
        authed("post", "/api/callbacks/{id}/start", post(callbacks::start)),
        authed("post", "/api/callbacks/{id}/claim", post(callbacks::claim)),
        authed(
            "post",
            "/api/callbacks/{id}/attempt",
            post(callbacks::attempt),
        ),
        authed(
            "post",
            "/api/callbacks/{id}/reschedule",
            post(callbacks::reschedule),
        ),
        authed("post", "/api/callbacks/{id}/skip", post(callbacks::skip)),
    ]
}

/// The routes, ready to serve (with `ConnectInfo<SocketAddr>`: logins are counted per
/// source).
pub fn router(calls: Calls, ep: EndpointHandle, operator: OperatorToken) -> Router {
    let logins = Arc::new(Mutex::new(Lockout::new(
        calls.ctx.cfg.http.login_lockout_policy(),
    )));
    routes()
        .into_iter()
        .fold(Router::new(), |r, route| {
            tracing::debug!(
                method = route.method,
                path = route.path,
                authenticated = route.authenticated,
                "route"
            );
            r.route(route.path, route.handler)
        })
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .layer(axum::middleware::map_response(error::json_errors))
        // The pages answer in HTML: outside the API's JSON error layer.
        .merge(crate::web::router())
        .route("/metrics", get(metrics))
        .with_state(AppState {
            calls,
            ep,
            operator,
            logins,
        })
}

/// `GET /metrics` (see [`crate::metrics`]): no token, but only from `[http] metrics_from`.
async fn metrics(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
) -> Response {
    let allowed = s.calls.ctx.cfg.metrics_networks();
    if !allowed.iter().any(|n| n.contains(peer.ip())) {
        return (
            StatusCode::FORBIDDEN,
            "metrics are not served to this address\n",
        )
            .into_response();
    }
    let body = crate::metrics::render(&s.calls, &s.ep);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

fn error(code: StatusCode, message: &str) -> Response {
    (code, Json(json!({ "error": message }))).into_response()
}

async fn status(State(s): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    auth.require_floor()?;
    let c = &s.calls.ctx.stats;
    let sip = &s.ep.stats;
    Ok(Json(json!({
        "active_calls": s.calls.active(),
        "calls": {
            "invites": c.invites.load(Ordering::Relaxed),
            "answered_by_ivr": c.answered_by_ivr.load(Ordering::Relaxed),
            "refused": c.refused.load(Ordering::Relaxed),
            "voicemails": c.voicemails.load(Ordering::Relaxed),
            "ended": c.ended.load(Ordering::Relaxed),
        },
        "sip": {
            "received": sip.received.load(Ordering::Relaxed),
            "malformed": sip.malformed.load(Ordering::Relaxed),
            "rejected_sources": sip.rejected_sources.load(Ordering::Relaxed),
            "tcp": {
                "open": sip.tcp.open.load(Ordering::Relaxed),
                "accepted": sip.tcp.accepted.load(Ordering::Relaxed),
                "refused_per_source": sip.tcp.refused_per_source.load(Ordering::Relaxed),
                "refused_total": sip.tcp.refused_total.load(Ordering::Relaxed),
                "timed_out": sip.tcp.timed_out.load(Ordering::Relaxed),
            },
        },
        "rtp_ports_in_use": s.calls.ctx.ports.in_use(),
        "overload": overload_status(&s.calls.ctx),
    }))
    .into_response())
}

/// Whether new calls are refused for overload, why, and the backlogs it looks at.
fn overload_status(ctx: &crate::call::Ctx) -> serde_json::Value {
    use crate::overload::Reason;
    let writer = ctx.store.writer_stats();
    let reason = ctx.overload.reason(writer, std::time::Instant::now());
    json!({
        "refusing": reason.is_some(),
        "reason": reason.map(Reason::as_str),
        "refused": Reason::ALL
            .iter()
            .map(|r| (r.as_str().to_owned(), json!(ctx.overload.refused(*r))))
            .collect::<serde_json::Map<_, _>>(),
        "writes_pending": writer.pending(),
        "oldest_write_wait_ms": writer.oldest_pending_us() / 1000,
        "runtime_lag_ms": ctx.overload.runtime_lag().as_millis() as u64,
    })
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
}

/// `GET /api/security-events`: lockouts on SIP and HTTP, newest first (supervisors).
async fn security_events(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    auth.require_supervisor()?;
    let limit = q.limit.unwrap_or(100).min(1000);
    Ok(Json(s.calls.ctx.store.security_events(limit).await?).into_response())
}

async fn missed_calls(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    auth.require_supervisor()?;
    let limit = q.limit.unwrap_or(100).min(1000);
    Ok(Json(s.calls.ctx.store.missed_calls(limit).await?).into_response())
}

/// Local midnight of today in the hotline's zone, as UTC: "today" of the supervisor's figures.
fn start_of_today(calls: &Calls) -> chrono::DateTime<chrono::Utc> {
    let tz = calls.ctx.ivr.timezone;
    let local = chrono::Utc::now().with_timezone(&tz).date_naive();
    local
        .and_hms_opt(0, 0, 0)
        .and_then(|m| m.and_local_timezone(tz).earliest())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now)
}

async fn queues(State(s): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    auth.require_floor()?;
    let snap = s.calls.ctx.acd.snapshot();
    let today = s
        .calls
        .ctx
        .store
        .queue_stats(start_of_today(&s.calls))
        .await?;
    let list: Vec<_> = snap
        .queues
        .iter()
        .map(|q| {
            let t = today.iter().find(|t| t.queue == q.name);
            json!({
                "name": q.name,
                "waiting": q.waiting,
                "longest_wait_secs": q.longest_wait_ms / 1000,
                "agents": { "ready": q.ready, "not_ready": q.not_ready, "offered": q.offered, "on_call": q.on_call, "wrap_up": q.wrap_up },
                "today": t,
            })
        })
        .collect();
    Ok(Json(json!({ "queues": list })).into_response())
}

async fn agents(State(s): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    auth.require_floor()?;
    let ctx = &s.calls.ctx;
    let records = ctx.store.list_agents().await?;
    // The desk users bound to each extension (`hotline user add … --extension`).
    let users = ctx.store.users().await?;
    let snap = ctx.acd.snapshot();
    let now = ctx.acd.now();
    let list: Vec<_> = records
        .iter()
        .map(|a| {
            let live = snap.agents.iter().find(|l| l.id.0 == a.extension);
            let (state, reason) = live
                .map(|l| crate::acd::state_name(&l.state))
                .unwrap_or(("logged_out", None));
            json!({
                "extension": a.extension,
                "name": a.name,
                "state": state,
                "reason": reason,
                "state_secs": live.map(|l| now.saturating_sub(l.since) / 1000),
                "answered_calls": live.map(|l| l.answered_calls).unwrap_or(0),
                "skills": a.skills,
                "registered_contacts": ctx.desk.contacts(&a.extension).len(),
                // The ticket of the call the agent is on (talking, held, consulting).
                "ticket": s.calls.agents_on_call.get(&a.extension).map(|t| t.clone()),
                "user": users
                    .iter()
                    .find(|u| u.extension.as_deref() == Some(a.extension.as_str()))
                    .map(|u| u.username.clone()),
            })
        })
        .collect();
    Ok(Json(json!({ "agents": list })).into_response())
}

#[derive(Deserialize)]
struct StateChange {
    state: String,
    reason: Option<String>,
}

async fn set_agent_state(
    State(s): State<AppState>,
    auth: Auth,
    Path(ext): Path<String>,
    Body(body): Body<StateChange>,
) -> Result<Response, ApiError> {
    auth.require_agent_control(&ext)?;
    let by = By::User(&auth.user.username);
    let (state, reason) =
        change_agent_state(&s.calls.ctx, &ext, &body.state, body.reason.as_deref(), by).await?;
    Ok(Json(json!({ "extension": ext, "state": state, "reason": reason })).into_response())
}

/// Makes agent `ext` ready, not ready (`reason`: one of `[agents] not_ready_reasons`, the
/// first by default) or logged out, as the API and the agent desk page ask: the state
/// afterwards. Ready needs a registered softphone; a pause is refused while a call rings
/// or talks (409).
pub(crate) async fn change_agent_state(
    ctx: &crate::call::Ctx,
    ext: &str,
    state: &str,
    reason: Option<&str>,
    by: By<'_>,
) -> Result<(&'static str, Option<String>), ApiError> {
    let Some(rec) = ctx.store.agent(ext).await? else {
        return Err(ApiError::not_found("no agent with that extension"));
    };
    let agent = hotline_acd::AgentId(ext.to_string());
    match state {
        "ready" => {
            if ctx.desk.contacts(ext).is_empty() {
                return Err(ApiError::conflict(
                    "the agent's softphone is not registered",
                ));
            }
            let skills: Vec<(String, u8)> = rec
                .skills
                .iter()
                .map(|k| (k.name.clone(), k.level))
                .collect();
            let settings = crate::acd::AgentSettings {
                max_ring: std::time::Duration::from_secs(u64::from(rec.max_ring_secs)),
                wrap_up: std::time::Duration::from_secs(u64::from(rec.wrap_up_secs)),
            };
            ctx.acd.login(&agent, &skills, settings, by);
            ctx.acd.set_ready(&agent, by);
        }
        "not_ready" => {
            if matches!(
                ctx.acd.agent_state(&agent),
                None | Some(hotline_acd::AgentState::LoggedOut)
            ) {
                return Err(ApiError::conflict("the agent is logged out"));
            }
            let reasons = &ctx.cfg.agents;
            let reason = match reason {
                None => reasons.default_reason(),
                Some(r) if reasons.reason(r).is_some() => r,
                Some(r) => {
                    let known: Vec<&str> = reasons
                        .not_ready_reasons
                        .iter()
                        .map(|x| x.code.as_str())
                        .collect();
                    return Err(ApiError::bad_request(format!(
                        "reason `{r}`: use one of {} ([agents] not_ready_reasons)",
                        known.join(", ")
                    )));
                }
            };
            if !ctx.acd.set_not_ready(&agent, reason, by) {
                return Err(ApiError::conflict(
                    "the agent is on a call: pause during its wrap-up or after",
                ));
            }
        }
        "logged_out" => ctx.acd.logout(&agent, by),
        other => {
            return Err(ApiError::bad_request(format!(
                "state `{other}`: use ready, not_ready or logged_out"
            )))
        }
    }
    Ok(ctx
        .acd
        .agent_state(&agent)
        .map(|st| crate::acd::state_name(&st))
        .unwrap_or(("logged_out", None)))
}

/// Server-sent events: every agent state change and queue movement as it happens.
async fn events(
    State(s): State<AppState>,
    auth: Auth,
) -> Result<Sse<impl futures::Stream<Item = Result<SseEvent, std::convert::Infallible>>>, ApiError>
{
    auth.require_floor()?;
    let mut rx = s.calls.ctx.acd.live.subscribe();
    let stream = async_stream::stream! {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let data = serde_json::to_string(&ev).unwrap_or_default();
                    yield Ok(SseEvent::default().event("change").data(data));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    yield Ok(SseEvent::default().event("lagged").data(n.to_string()));
                }
                Err(_) => break,
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
