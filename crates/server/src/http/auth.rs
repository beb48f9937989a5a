//! Logging in and out, the bearer-token extractor, and users (admins only).
//!
//! A session is a random token from [`CaseStore::create_session`](hotline_case::CaseStore::create_session)
//! (only its SHA-256 is stored) that lasts `http.session_ttl_hours`. Every authenticated
//! route takes an [`Auth`]: no token, an unknown, expired or ended one, or a disabled
//! user is 401.

use super::error::{ApiError, Body};
use super::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use hotline_case::lifecycle::Role;
use hotline_case::{Actor, NewUser, User};
use serde::Deserialize;
use serde_json::json;

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

/// `POST /api/login`: a session token and the user.
pub async fn login(State(s): State<AppState>, Body(b): Body<Login>) -> Result<Response, ApiError> {
    let store = &s.calls.ctx.store;
    let Some(user) = store.verify_login(&b.username, &b.password).await? else {
        return Err(ApiError::unauthorized("wrong user name or password"));
    };
    let now = Utc::now();
    let ttl = chrono::Duration::hours(i64::from(s.calls.ctx.cfg.http.session_ttl_hours));
    let token = store.create_session(user.id, now, ttl).await?;
    tracing::info!(user = %user.username, role = %user.role, "logged in");
    Ok(Json(json!({ "token": token, "expires_at": now + ttl, "user": user })).into_response())
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
        .add_user(NewUser {
            username: b.username,
            name: b.name,
            role: b.role,
            department: b.department,
            password: b.password,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}
