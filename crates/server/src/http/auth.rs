//! Logging in and out, the bearer-token extractor, and users (admins only).
//!
//! A session is a random token from [`CaseStore::create_session`](hotline_case::CaseStore::create_session)
//! (only its SHA-256 is stored) that lasts `http.session_ttl_hours`. Every authenticated
//! route takes an [`Auth`]: no token, an unknown, expired or ended one, or a disabled
//! user is 401.
//!
//! Logins go through the same lockout as agents' softphones ([`hotline_sip::lockout`]):
//! counted before the password is checked, per source address and per user name, slowed
//! down, then refused with 429 for a while, each lockout a security event.
//!
//! The local operator: at start the server writes a random token into
//! `<data dir>/operator.token` (mode 0600), and a request bearing it acts as the admin
//! `operator`. Whoever can read that file can read the database too; it lets the CLI
//! (`hotline status`) read the live view without a password.

use super::error::{ApiError, Body};
use super::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use hotline_case::lifecycle::Role;
use hotline_case::{Actor, NewUser, User};
use hotline_sip::lockout::Verdict;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Instant;

/// The user a request bearing the local operator's token acts as.
pub const OPERATOR: &str = "operator";

/// The logged-in user of a request.
pub struct Auth {
    pub user: User,
    pub token: String,
}

impl Auth {
    /// The user as the store's actor (audit trail name and role).
    pub fn actor(&self) -> Actor {
        Actor::new(self.user.username.clone(), self.user.role)
    }

    /// Whether the user works for a department (sees only its cases, never the
    /// identity of a confidential caller).
    pub fn is_handler(&self) -> bool {
        self.user.role == Role::DepartmentHandler
    }

    /// 403 for department handlers: the floor's live view (queues, agents, status) is for
    /// agents, supervisors and admins.
    pub fn require_floor(&self) -> Result<(), ApiError> {
        match self.user.role {
            Role::Agent | Role::Supervisor | Role::Admin => Ok(()),
            _ => Err(ApiError::forbidden(format!(
                "the live view is for agents and supervisors ({} is {})",
                self.user.username, self.user.role
            ))),
        }
    }

    /// 403 unless the user is a supervisor or an admin.
    pub fn require_supervisor(&self) -> Result<(), ApiError> {
        match self.user.role {
            Role::Supervisor | Role::Admin => Ok(()),
            _ => Err(ApiError::forbidden(format!(
                "only a supervisor may do this ({} is {})",
                self.user.username, self.user.role
            ))),
        }
    }

    /// 403 unless the user may change agent `ext`'s state: an agent for the extension it
    /// works at, supervisors and admins for anyone.
    pub fn require_agent_control(&self, ext: &str) -> Result<(), ApiError> {
        match self.user.role {
            Role::Supervisor | Role::Admin => Ok(()),
            Role::Agent if self.user.extension.as_deref() == Some(ext) => Ok(()),
            Role::Agent => Err(ApiError::forbidden(format!(
                "{} may change only the state of the agent they work at ({})",
                self.user.username,
                self.user.extension.as_deref().unwrap_or("none set")
            ))),
            _ => Err(ApiError::forbidden(format!(
                "only agents and supervisors change agents' states ({} is {})",
                self.user.username, self.user.role
            ))),
        }
    }

    /// 403 unless the user is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "only an admin may do this ({} is {})",
                self.user.username, self.user.role
            )))
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "log in first: POST /api/login, then send Authorization: Bearer <token>",
                )
            })?;
        if s.operator.matches(token) {
            return Ok(Auth {
                user: operator_user(),
                token: token.to_owned(),
            });
        }
        match s.calls.ctx.store.session_user(token, Utc::now()).await {
            Ok(Some(user)) => Ok(Auth {
                user,
                token: token.to_owned(),
            }),
            Ok(None) => Err(ApiError::unauthorized(
                "the session token is unknown, expired or ended: log in again",
            )),
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
}

/// The admin a request with the local operator's token acts as.
fn operator_user() -> User {
    User {
        id: hotline_case::UserId(0),
        username: OPERATOR.into(),
        name: "local operator (CLI)".into(),
        role: Role::Admin,
        department: None,
        extension: None,
        disabled: false,
        created_at: Utc::now(),
    }
}

/// Why a login was not granted.
pub enum LoginRefused {
    /// The source or the user is locked out for this many seconds.
    Locked(u64),
    /// Wrong user name or password (counted).
    Wrong,
}

/// A granted login: the user, its new session token and when the session expires.
pub struct Granted {
    pub user: User,
    pub token: String,
    pub expires_at: chrono::DateTime<Utc>,
}

/// Checks a login through the lockout (counted before the password is checked, audited
/// when it locks) and opens a session: what `POST /api/login` and the login page share.
pub async fn check_login(
    s: &AppState,
    source: SocketAddr,
    username: &str,
    password: &str,
) -> Result<Result<Granted, LoginRefused>, ApiError> {
    let store = &s.calls.ctx.store;
    let verdict = s.logins().begin(source, username, false, Instant::now());
    let attempt = match verdict {
        Verdict::Allow(a) => a,
        Verdict::Delay(d, a) => {
            tokio::time::sleep(d).await;
            a
        }
        Verdict::Block(scope) => {
            tracing::info!(%source, user = %username, %scope, "login refused: locked out");
            return Ok(Err(LoginRefused::Locked(
                s.calls.ctx.cfg.http.login_block_secs,
            )));
        }
        Verdict::Busy(scope) => {
            tracing::info!(%source, user = %username, %scope,
                "login deferred: too many attempts under way");
            return Ok(Err(LoginRefused::Locked(u64::from(
                crate::desk::BUSY_RETRY_SECS,
            ))));
        }
    };
    let found = match store.verify_login(username, password).await {
        Ok(found) => found,
        Err(e) => {
            s.logins().forgive(attempt, Instant::now());
            return Err(e.into());
        }
    };
    let Some(user) = found else {
        tracing::info!(%source, user = %username, "login failed");
        let locks = s.logins().failed(attempt, Instant::now());
        for l in locks {
            tracing::warn!(%source, user = %username, scope = %l.scope, failures = l.failures,
                "HTTP login locked out");
            crate::security::audit_lock(store, "http_login_locked", &l, source, username);
        }
        return Ok(Err(LoginRefused::Wrong));
    };
    s.logins().succeeded(attempt, Instant::now());
    let now = Utc::now();
    let ttl = chrono::Duration::hours(i64::from(s.calls.ctx.cfg.http.session_ttl_hours));
    let token = store.create_session(user.id, now, ttl).await?;
    tracing::info!(user = %user.username, role = %user.role, "logged in");
    Ok(Ok(Granted {
        user,
        token,
        expires_at: now + ttl,
    }))
}

/// `POST /api/login`: a session token and the user. Counted by the login lockout before
/// the password is checked; 429 with `Retry-After` while the source or the user is locked.
pub async fn login(
    State(s): State<AppState>,
    ConnectInfo(source): ConnectInfo<SocketAddr>,
    Body(b): Body<Login>,
) -> Result<Response, ApiError> {
    match check_login(&s, source, &b.username, &b.password).await? {
        Ok(g) => Ok(
            Json(json!({ "token": g.token, "expires_at": g.expires_at, "user": g.user }))
                .into_response(),
        ),
        Err(LoginRefused::Locked(secs)) => {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins: try again later",
            )
            .into_response();
            if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(r)
        }
        Err(LoginRefused::Wrong) => Err(ApiError::unauthorized("wrong user name or password")),
    }
}

/// `POST /api/logout`: ends the session of the token sent.
pub async fn logout(State(s): State<AppState>, auth: Auth) -> Result<StatusCode, ApiError> {
    s.calls.ctx.store.end_session(&auth.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/users` (admin).
pub async fn list_users(State(s): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    auth.require_admin()?;
    Ok(Json(s.calls.ctx.store.users().await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddUser {
    username: String,
    name: String,
    role: Role,
    password: String,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    extension: Option<String>,
}

/// `POST /api/users` (admin): 201 with the user.
pub async fn add_user(
    State(s): State<AppState>,
    auth: Auth,
    Body(b): Body<AddUser>,
) -> Result<Response, ApiError> {
    auth.require_admin()?;
    let user = s
        .calls
        .ctx
        .store
        .add_user(
            NewUser {
                username: b.username,
                name: b.name,
                role: b.role,
                department: b.department,
                extension: b.extension,
                password: b.password,
            },
            Utc::now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}
