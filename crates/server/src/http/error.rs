//! Errors of the API as JSON (`{"error": "..."}`) with the status that fits them, and
//! the JSON body extractor whose refusals name the problem.

use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hotline_case::lifecycle::TransitionError;
use hotline_case::CaseError;
use serde::de::DeserializeOwned;
use serde_json::json;

/// An error answer: a status and a message that names the problem.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
    /// A fault of ours: the details (paths, database messages) go to the log only, the
    /// client gets a reference to find them there.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        let reference = hotline_sip::message::random_token(8);
        tracing::error!(reference = %reference, "HTTP API: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error (reference {reference} in the server log)"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

impl From<CaseError> for ApiError {
    fn from(e: CaseError) -> Self {
        use CaseError as E;
        let status = match &e {
            E::TicketNotFound(_)
            | E::CaseNotFound(_)
            | E::CallNotFound(_)
            | E::UserNotFound(_)
            | E::RecordingNotFound(_)
            | E::CallbackNotFound(_) => StatusCode::NOT_FOUND,
            E::CallbackState { .. } => StatusCode::CONFLICT,
            E::Transition { source, .. } => match source {
                TransitionError::NotAllowed { .. } => StatusCode::CONFLICT,
                TransitionError::Forbidden { .. } => StatusCode::FORBIDDEN,
                TransitionError::Missing { .. } | TransitionError::ZeroDays => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            },
            E::InvalidTransition { .. }
            | E::CaseFinal(_)
            | E::NoPendingExtension(_)
            | E::ExtensionPending(_)
            | E::UserExists(_)
            | E::DepartmentExists(_)
            | E::DepartmentInactive(_) => StatusCode::CONFLICT,
            E::Forbidden(_) | E::NotInSubtree { .. } => StatusCode::FORBIDDEN,
            E::InvalidField { .. }
            | E::DepartmentNotFound(_)
            | E::OutOfRange(_)
            | E::InvalidExtension(_)
            | E::InvalidSkill { .. }
            | E::InvalidAgent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => return ApiError::internal(e),
        };
        ApiError::new(status, e.to_string())
    }
}

/// Every error answer is `{"error": "…"}`: the ones axum's extractors make by themselves
/// (a bad path or query parameter, a wrong method) are plain text, so they are rewrapped here
/// with the same status.
pub async fn json_errors(r: Response) -> Response {
    let status = r.status();
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let mut out = ApiError::new(status, message).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// A JSON request body. Anything that is not JSON, or not the expected shape (unknown
/// or missing fields, wrong types, unknown enum values), is 400 with serde's message,
/// which names the field or value.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
        parse_json(&bytes).map(Body)
    }
}

/// Parses a JSON body; 400 naming the problem.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request(format!("malformed JSON body: {e}"))
            }
            Category::Data => ApiError::bad_request(format!("invalid request body: {e}")),
        }
    })
}
