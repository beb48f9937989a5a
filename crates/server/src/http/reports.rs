//! Reports: the daily report (每日一报) for the hotline's leadership. The body is the
//! store's [`hotline_case::report::DailyReport`] as it is, which is also what
//! `hotline report daily --json` prints; every figure's formula is in its docs.

use super::auth::Auth;
use super::error::ApiError;
use super::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hotline_case::lifecycle::Role;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyQuery {
    /// The local day, `YYYY-MM-DD`; today when absent.
    date: Option<String>,
}

/// `GET /api/reports/daily?date=YYYY-MM-DD`: supervisors and admins. The day is local to
/// the IVR's time zone.
pub async fn daily(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<DailyQuery>,
) -> Result<Response, ApiError> {
    if !matches!(auth.user.role, Role::Supervisor | Role::Admin) {
        return Err(ApiError::forbidden(
            "reports are for supervisors and admins",
        ));
    }
    let tz = s.calls.ctx.ivr.timezone;
    let now = chrono::Utc::now();
    let day = match q.date.as_deref() {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| ApiError::bad_request(format!("date: `{d}` is not YYYY-MM-DD")))?,
        None => now.with_timezone(&tz).date_naive(),
    };
    let report = s.calls.ctx.store.daily_report(day, tz, now).await?;
    Ok(Json(report).into_response())
}
