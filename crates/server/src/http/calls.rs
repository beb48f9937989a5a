//! Call control of live calls, for the agent desk and supervisors: hold, resume, blind
//! and attended transfer, conference (the agent on the call, or a supervisor), and
//! listen / whisper / barge-in / force hang-up (监听 / 耳语 / 强插 / 强拆, supervisors
//! only). The call carries it out ([`crate::call::Command`]); these routes check who
//! asks, and supervisors' acts are on the case's trail with their name.

use super::auth::Auth;
use super::error::{ApiError, Body};
use super::AppState;
use crate::call::{Command, CommandError, Supervision};
use axum::extract::{Path, State};
use axum::Json;
use hotline_case::lifecycle::Role;
use serde::Deserialize;
use serde_json::{json, Value};

/// `POST /api/calls/{ticket}/control`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlBody {
    /// hold, resume, transfer, consult, complete, return, conference.
    action: String,
    /// For transfer and consult: an extension, a queue, an allowed number, `survey`.
    target: Option<String>,
}

fn command_error(e: CommandError) -> ApiError {
    match e {
        CommandError::NoCall => ApiError::not_found(e.to_string()),
        CommandError::NotYours(m) => ApiError::forbidden(m),
        CommandError::Refused(m) => ApiError::conflict(m),
    }
}

/// Who may control a call: the agent on it (checked by the call against the user's
/// extension), supervisors and admins.
fn controller(auth: &Auth) -> Result<Option<String>, ApiError> {
    match auth.user.role {
        Role::Supervisor | Role::Admin => Ok(None),
        Role::Agent => match auth.user.extension.clone() {
            Some(ext) => Ok(Some(ext)),
            None => Err(ApiError::forbidden(format!(
                "{} works at no extension",
                auth.user.username
            ))),
        },
        _ => Err(ApiError::forbidden(
            "call control is for agents and supervisors",
        )),
    }
}

/// Hold, resume, transfer, consult, complete, return or conference on the call of
/// `ticket`. 404 when no call of that ticket is live, 403 for an agent not on it, 409
/// when the call cannot do it now (no agent, no consultation) or the target is refused
/// (unknown, not ready, not an allowed number) — the call stays as it was.
pub async fn control(
    State(s): State<AppState>,
    auth: Auth,
    Path(ticket): Path<String>,
    Body(b): Body<ControlBody>,
) -> Result<Json<Value>, ApiError> {
    let agent = controller(&auth)?;
    let target = || {
        b.target
            .clone()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| ApiError::bad_request("target: required for transfer and consult"))
    };
    let cmd = match b.action.as_str() {
        "hold" => Command::Hold,
        "resume" => Command::Resume,
        "transfer" => Command::Transfer(target()?),
        "consult" => Command::Consult(target()?),
        "complete" => Command::Complete,
        "return" => Command::Return,
        "conference" => Command::Conference,
        other => {
            return Err(ApiError::bad_request(format!(
                "action: `{other}` is not hold, resume, transfer, consult, complete, return or conference"
            )))
        }
    };
    tracing::info!(user = %auth.user.username, %ticket, action = %b.action, "call control");
    s.calls
        .command(&ticket, cmd, agent)
        .await
        .map_err(command_error)?;
    Ok(Json(json!({ "ticket": ticket, "done": b.action })))
}

/// `POST /api/calls/{ticket}/supervise`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuperviseBody {
    /// The supervisor's softphone, rung into the call.
    extension: String,
    /// listen, whisper or barge.
    mode: String,
}

/// Rings the supervisor's softphone into the call of `ticket` to listen, whisper to the
/// agent or barge in; asked again with another mode, changes how it takes part.
pub async fn supervise(
    State(s): State<AppState>,
    auth: Auth,
    Path(ticket): Path<String>,
    Body(b): Body<SuperviseBody>,
) -> Result<Json<Value>, ApiError> {
    auth.require_supervisor()?;
    let how = match b.mode.as_str() {
        "listen" => Supervision::Listen,
        "whisper" => Supervision::Whisper,
        "barge" => Supervision::Barge,
        other => {
            return Err(ApiError::bad_request(format!(
                "mode: `{other}` is not listen, whisper or barge"
            )))
        }
    };
    let cmd = Command::Supervise {
        extension: b.extension.clone(),
        how,
        who: auth.user.username.clone(),
    };
    tracing::info!(user = %auth.user.username, %ticket, extension = %b.extension, mode = %b.mode, "supervision");
    s.calls
        .command(&ticket, cmd, None)
        .await
        .map_err(command_error)?;
    Ok(Json(
        json!({ "ticket": ticket, "extension": b.extension, "mode": b.mode }),
    ))
}

/// A supervisor ends the call of `ticket` (强拆): BYE to everyone, the case keeps the
/// recording and the trail says who.
pub async fn hang_up(
    State(s): State<AppState>,
    auth: Auth,
    Path(ticket): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_supervisor()?;
    let cmd = Command::ForceHangUp {
        who: auth.user.username.clone(),
    };
    s.calls
        .command(&ticket, cmd, None)
        .await
        .map_err(command_error)?;
    Ok(Json(json!({ "ticket": ticket, "done": "hangup" })))
}
