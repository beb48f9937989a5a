//! Who a page request is: the session cookie, and the CSRF token its forms carry.
//!
//! A page session is an ordinary API session (`CaseStore::create_session`, the same
//! lifetime and logout), carried in an `HttpOnly; SameSite=Strict` cookie instead of a
//! bearer header, so scripts on the page never see it and other sites cannot send it.
//! Every form also carries a token derived from the session (SHA-256 of a fixed label and
//! the session token): a POST without the session's own token is refused, whatever its
//! origin.

use crate::http::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use hotline_case::User;
use sha2::{Digest, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "hotline_session";

/// The logged-in user of a page request; without a valid session the page redirects to
/// `/login`.
pub struct PageUser {
    pub user: User,
    pub token: String,
}

impl PageUser {
    /// The same user as the API sees it, for the API's checks and handlers.
    pub fn auth(&self) -> crate::http::auth::Auth {
        crate::http::auth::Auth {
            user: self.user.clone(),
            token: self.token.clone(),
        }
    }

    /// The token this session's forms must carry.
    pub fn csrf(&self) -> String {
        csrf_for(&self.token)
    }

    /// Whether a form's token is this session's.
    pub fn check_csrf(&self, sent: &str) -> bool {
        let want = self.csrf();
        // Same length, compared without an early exit.
        want.len() == sent.len()
            && want
                .bytes()
                .zip(sent.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"hotline-csrf:");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// The session token in a request's cookies.
fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/login").into_response();
        let token = cookie_token(parts).ok_or_else(to_login)?;
        match s.calls.ctx.store.session_user(&token, Utc::now()).await {
            Ok(Some(user)) => Ok(PageUser { user, token }),
            Ok(None) => Err(to_login()),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the session");
                Err(to_login())
            }
        }
    }
}

/// The `Set-Cookie` value that keeps session `token` for `max_age_secs` (`Secure` when the
/// pages are served over TLS).
pub fn set_cookie(token: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("hotline_session=; Path=/; Max-Age=0"))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("hotline_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let a = csrf_for("session-a");
        assert_eq!(a.len(), 64);
        assert_ne!(a, csrf_for("session-b"));
        let cookie = set_cookie("abc", 3600, false);
        let c = cookie.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(set_cookie("abc", 1, true)
            .to_str()
            .unwrap()
            .ends_with("; Secure"));
    }
}
