//! The pages people work in, served by `hotline serve` on the HTTP listener: server-side
//! templates (askama, compiled into the binary) with their words in one messages file, a
//! small vendored client library (htmx 2.0.4 and its SSE extension, from their npm
//! packages, in `static/`) and a stylesheet — nothing from outside the binary.
//!
//! Logged-in pages use the session cookie and CSRF tokens of [`session`]; every action goes
//! through the same checks as the API (`require_agent_control`…).
//!
//! - `/` → the desk (or `/login`).
//! - `/login` (GET, POST), `/logout` (POST).
//! - `/desk`: the agent desk (坐席工作台, [`desk`]).
//! - `/wallboard`: the floor's 大屏 ([`wallboard`]).
//! - `/portal`: the departments' 承办单位 page ([`portal`]).
//! - `/static/…`: the vendored assets, cached a day.

pub mod chart;
pub mod desk;
pub mod messages;
pub mod portal;
pub mod reports;
pub mod session;
pub mod wallboard;
pub mod worklist;

use crate::http::auth::{check_login, LoginRefused};
use crate::http::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use messages::{m, Messages};
use serde::Deserialize;
use session::PageUser;
use std::net::SocketAddr;

/// The pages' routes (merged into the HTTP router, outside the API's JSON error layer).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .merge(desk::routes())
        .route("/portal", get(portal::page))
        .route("/portal/case/{ticket}", post(portal::act))
        .route("/wallboard", get(wallboard::page))
        .route("/wallboard/board", get(wallboard::board))
        .route("/wallboard/events", get(wallboard::events))
        .route("/reports", get(reports::page))
        .route("/reports/daily.csv", get(reports::daily_csv))
        .route("/reports/daily.xlsx", get(reports::daily_xlsx))
        .route("/static/{file}", get(asset))
}

fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page error").into_response()
        }
    }
}

async fn index(user: Result<PageUser, Response>) -> Response {
    match user {
        Ok(u) if u.user.role == hotline_case::lifecycle::Role::DepartmentHandler => {
            Redirect::to("/portal").into_response()
        }
        Ok(_) => Redirect::to("/desk").into_response(),
        Err(_) => Redirect::to("/login").into_response(),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    m: &'a Messages,
    error: Option<&'a str>,
    username: &'a str,
}

async fn login_page() -> Response {
    render(LoginPage {
        m: m(),
        error: None,
        username: "",
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login_submit(
    State(s): State<AppState>,
    ConnectInfo(source): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    // Served over TLS by the proxy in front (the listener itself speaks plain HTTP): the
    // cookie is then Secure.
    let tls = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let refused = |msg: &str, code: StatusCode| {
        let page = render(LoginPage {
            m: m(),
            error: Some(msg),
            username: &f.username,
        });
        (code, page).into_response()
    };
    match check_login(&s, source, &f.username, &f.password).await {
        Ok(Ok(g)) => {
            let ttl = (g.expires_at - chrono::Utc::now()).num_seconds().max(0);
            let cookie = session::set_cookie(&g.token, ttl, tls);
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Ok(Err(LoginRefused::Wrong)) => refused(&m().login_wrong, StatusCode::UNAUTHORIZED),
        Ok(Err(LoginRefused::Locked(_))) => {
            refused(&m().login_locked, StatusCode::TOO_MANY_REQUESTS)
        }
        Err(e) => {
            tracing::error!(error = ?e, "login page");
            (StatusCode::INTERNAL_SERVER_ERROR, "error").into_response()
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(State(s): State<AppState>, user: PageUser, Form(f): Form<CsrfForm>) -> Response {
    if !user.check_csrf(&f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if let Err(e) = s.calls.ctx.store.end_session(&user.token).await {
        tracing::error!(error = %e, "cannot end the session");
    }
    (
        [(header::SET_COOKIE, session::clear_cookie())],
        Redirect::to("/login"),
    )
        .into_response()
}

/// The vendored assets, from the binary.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind): (&'static str, &str) = match file.as_str() {
        "htmx-2.0.4.min.js" => (
            include_str!("../../static/htmx-2.0.4.min.js"),
            "text/javascript",
        ),
        "htmx-ext-sse-2.2.2.js" => (
            include_str!("../../static/htmx-ext-sse-2.2.2.js"),
            "text/javascript",
        ),
        "hotline.css" => (include_str!("../../static/hotline.css"), "text/css"),
        "desk.js" => (include_str!("../../static/desk.js"), "text/javascript"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// HTML-escapes text put into a fragment by hand.
pub(crate) fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
