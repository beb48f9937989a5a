//! The HTTP API: health, live status, and the work orders.

use crate::call::Calls;
use crate::endpoint::EndpointHandle;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::Ordering;

#[derive(Clone)]
struct AppState {
    calls: Calls,
    ep: EndpointHandle,
}

/// The routes, ready to serve.
pub fn router(calls: Calls, ep: EndpointHandle) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/status", get(status))
        .route("/api/cases", get(list_cases))
        .route("/api/cases/{ticket}", get(show_case))
        .route("/api/missed-calls", get(missed_calls))
        .with_state(AppState { calls, ep })
}

fn error(code: StatusCode, message: &str) -> Response {
    (code, Json(json!({ "error": message }))).into_response()
}

async fn status(State(s): State<AppState>) -> Json<serde_json::Value> {
    let c = &s.calls.ctx.stats;
    let sip = &s.ep.stats;
    Json(json!({
        "active_calls": s.calls.active(),
        "calls": {
            "offered": c.offered.load(Ordering::Relaxed),
            "answered": c.answered.load(Ordering::Relaxed),
            "refused": c.refused.load(Ordering::Relaxed),
            "voicemails": c.voicemails.load(Ordering::Relaxed),
            "ended": c.ended.load(Ordering::Relaxed),
        },
        "sip": {
            "received": sip.received.load(Ordering::Relaxed),
            "malformed": sip.malformed.load(Ordering::Relaxed),
            "rejected_sources": sip.rejected_sources.load(Ordering::Relaxed),
        },
        "rtp_ports_in_use": s.calls.ctx.ports.in_use(),
    }))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
}

async fn list_cases(State(s): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(1000);
    match s.calls.ctx.store.list_cases(limit).await {
        Ok(cases) => Json(cases).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn show_case(State(s): State<AppState>, Path(ticket): Path<String>) -> Response {
    if ticket.is_empty() || !ticket.bytes().all(|b| b.is_ascii_digit()) {
        return error(StatusCode::BAD_REQUEST, "a ticket number is digits only");
    }
    match s.calls.ctx.store.case_by_ticket(&ticket).await {
        Ok(Some(c)) => Json(c).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no case with that ticket"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn missed_calls(State(s): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(1000);
    match s.calls.ctx.store.missed_calls(limit).await {
        Ok(calls) => Json(calls).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
