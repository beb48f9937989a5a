//! Work orders over HTTP: create, search, show, update fields, transitions, linking a
//! repeat caller's call, audit trail and recordings — with the confidentiality rules of the 12345 rule books.
//!
//! # Who sees what
//!
//! - Agents, supervisors and admins see every case in full.
//! - A department handler sees only the cases whose department is theirs or lies below
//!   it; any other ticket is 404, exactly as if it did not exist.
//! - For a confidential case ([`CaseDetail::is_confidential`]: the flag, or any
//!   complaint or report) a handler gets the case without the caller's number, name and
//!   address, without the numbers and Call-IDs of its calls and without its recordings
//!   ([`redact`]); as a last guard, every string of the answer that still contains
//!   the caller's number or name (e.g. in a note) has it replaced by `***`. Downloading
//!   one of its recordings is 403.
//! - Every recording download is audited (`recording_read` on the case) before a byte
//!   is sent.

use super::auth::Auth;
use super::error::{parse_json, ApiError, Body};
use super::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use hotline_case::lifecycle::{Action, CaseState};
use hotline_case::{
    CallId, CaseDetail, CaseFields, CaseQuery, Category, Channel, NewCase, RecordingId,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The actions a client may send, with the fields each takes (besides `action`).
pub(crate) const ACTIONS: &[(&str, &[&str])] = &[
    ("answer", &["summary"]),
    ("forward", &["department"]),
    ("dispatch", &["department", "mode"]),
    ("accept", &[]),
    ("return", &["reason"]),
    ("request_extension", &["days", "reason"]),
    ("approve_extension", &[]),
    ("refuse_extension", &[]),
    ("urge", &["note"]),
    ("reply", &["result"]),
    ("revisit", &["satisfaction"]),
    ("redo", &["department"]),
    ("close", &["note"]),
    ("redispatch", &["department"]),
    ("called_back", &[]),
];

/// The search parameters `GET /api/cases` takes.
pub(crate) const SEARCH_PARAMS: &[&str] = &[
    "ticket",
    "number",
    "status",
    "department",
    "subtree",
    "category",
    "from",
    "to",
    "overdue",
    "limit",
    "offset",
];

fn check_ticket(ticket: &str) -> Result<(), ApiError> {
    if ticket.is_empty() || !ticket.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request("a ticket number is digits only"));
    }
    Ok(())
}

fn no_case(ticket: &str) -> ApiError {
    ApiError::not_found(format!("no case with ticket {ticket}"))
}

/// Whether the user may see the case at all.
async fn visible(s: &AppState, auth: &Auth, detail: &CaseDetail) -> Result<bool, ApiError> {
    if !auth.is_handler() {
        return Ok(true);
    }
    let (Some(mine), Some(theirs)) = (&auth.user.department, &detail.case.department) else {
        return Ok(false);
    };
    Ok(s.calls.ctx.store.is_within(theirs, mine).await?)
}

/// The case if it exists and the user may see it; 404 alike otherwise.
async fn load(s: &AppState, auth: &Auth, ticket: &str) -> Result<CaseDetail, ApiError> {
    check_ticket(ticket)?;
    let detail = s
        .calls
        .ctx
        .store
        .case_by_ticket(ticket)
        .await?
        .ok_or_else(|| no_case(ticket))?;
    if !visible(s, auth, &detail).await? {
        return Err(no_case(ticket));
    }
    Ok(detail)
}

/// Whether this user must not learn who the caller of this case is.
fn hide_caller(auth: &Auth, detail: &CaseDetail) -> bool {
    auth.is_handler() && detail.is_confidential()
}

/// The case as this user may see it, with `confidential` (the effective flag) and
/// `redacted` (whether the caller's details were taken out) at the top.
fn view(auth: &Auth, detail: &CaseDetail) -> Value {
    let mut v = serde_json::to_value(detail).unwrap_or_default();
    let hide = hide_caller(auth, detail);
    if hide {
        redact(&mut v, detail);
    }
    v["confidential"] = json!(detail.is_confidential());
    v["redacted"] = json!(hide);
    v
}

/// Takes the caller's identity out of a case's JSON (see the module docs).
pub(crate) fn redact(v: &mut Value, detail: &CaseDetail) {
    v["case"]["caller_number"] = Value::Null;
    v["order"]["caller_name"] = Value::Null;
    v["order"]["location"] = Value::Null;
    v["recordings"] = json!([]);
    if let Some(calls) = v["calls"].as_array_mut() {
        for c in calls {
            for k in [
                "caller_number",
                "called_number",
                "sip_call_id",
                "agent_call_id",
            ] {
                c[k] = Value::Null;
            }
        }
    }
    if let Some(events) = v["events"].as_array_mut() {
        for e in events {
            if e["event"] == "recording_read" {
                e["note"] = Value::Null;
            }
        }
    }
    scrub(v, &secrets(detail));
}

/// What identifies the caller of a case, longest first: the numbers, name and address,
/// and the SIP Call-IDs of its calls (which tie the case to one person's call in the
/// switch's and the carrier's logs).
fn secrets(detail: &CaseDetail) -> Vec<String> {
    let mut secrets: Vec<String> = vec![detail.case.caller_number.clone()];
    for c in &detail.calls {
        secrets.push(c.caller_number.clone());
        secrets.push(c.sip_call_id.clone());
        secrets.extend(c.agent_call_id.clone());
    }
    secrets.extend(detail.order.caller_name.clone());
    secrets.extend(detail.order.location.clone());
    secrets.retain(|s| s.trim().chars().count() >= 2);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// Replaces every occurrence of each secret in every string of `v` by `***`.
fn scrub(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => {
            for secret in secrets {
                if s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), "***");
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, secrets)),
        Value::Object(o) => o.values_mut().for_each(|x| scrub(x, secrets)),
        _ => {}
    }
}

/// `GET /api/cases/{ticket}`.
pub async fn show(
    State(s): State<AppState>,
    auth: Auth,
    Path(ticket): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(case_view(&s, &auth, &ticket).await?).into_response())
}

/// The case `ticket` as `auth`'s user may see it (404 outside their view): what
/// `GET /api/cases/{ticket}` answers and the department portal shows.
pub(crate) async fn case_view(s: &AppState, auth: &Auth, ticket: &str) -> Result<Value, ApiError> {
    let detail = load(s, auth, ticket).await?;
    Ok(view(auth, &detail))
}

/// [`case_view`] for many tickets at once (read together, each department's place in
/// the tree looked up once), in their order; those the user may not see, or that do not
/// exist, are left out. What the department portal shows.
pub(crate) async fn case_views(
    s: &AppState,
    auth: &Auth,
    tickets: &[String],
) -> Result<Vec<(String, Value)>, ApiError> {
    let details = s.calls.ctx.store.case_details(tickets).await?;
    let mut seen: HashMap<Option<String>, bool> = HashMap::new();
    let mut out = Vec::with_capacity(details.len());
    for detail in details {
        let dept = detail.case.department.clone();
        let ok = match seen.get(&dept) {
            Some(&ok) => ok,
            None => {
                let ok = visible(s, auth, &detail).await?;
                seen.insert(dept, ok);
                ok
            }
        };
        if ok {
            out.push((detail.case.ticket.clone(), view(auth, &detail)));
        }
    }
    Ok(out)
}

/// `GET /api/cases/{ticket}/events`: the audit trail, oldest first.
pub async fn events(
    State(s): State<AppState>,
    auth: Auth,
    Path(ticket): Path<String>,
) -> Result<Response, ApiError> {
    let detail = load(&s, &auth, &ticket).await?;
    let mut v = view(&auth, &detail);
    Ok(Json(v["events"].take()).into_response())
}

/// Parses a search parameter; 400 naming it.
fn param<T>(
    q: &HashMap<String, String>,
    name: &str,
    expected: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse(v)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{name}: `{v}` is not {expected}"))),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `GET /api/cases?…`: search, newest first. Handlers get only their department's
/// subtree, with the caller's number hidden on confidential cases.
pub async fn search(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if let Some(unknown) = q.keys().find(|k| !SEARCH_PARAMS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown search parameter `{unknown}` (expected one of {})",
            SEARCH_PARAMS.join(", ")
        )));
    }
    let cal = &s.calls.ctx.calendar;
    // A date is the local day: `from` its start, `to` the start of the next day.
    let instant = |end: bool| {
        move |v: &str| -> Option<DateTime<Utc>> {
            if let Ok(t) = DateTime::parse_from_rfc3339(v) {
                return Some(t.with_timezone(&Utc));
            }
            let d = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
            let d = if end { d.succ_opt()? } else { d };
            d.and_hms_opt(0, 0, 0)?
                .and_local_timezone(cal.tz())
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }
    };
    let date = "a date (YYYY-MM-DD) or an RFC 3339 time";
    let query = CaseQuery {
        ticket: param(&q, "ticket", "a ticket number", |v| {
            v.bytes().all(|b| b.is_ascii_digit()).then(|| v.to_owned())
        })?,
        caller_number: param(&q, "number", "a number", |v| Some(v.to_owned()))?,
        status: param(&q, "status", "a case status", CaseState::parse)?,
        department: param(&q, "department", "a department code", |v| {
            Some(v.to_owned())
        })?,
        include_subtree: param(&q, "subtree", "true or false", parse_bool)?.unwrap_or(false),
        category: param(
            &q,
            "category",
            "a category (consult, help, complaint, report, suggestion, praise)",
            Category::parse,
        )?,
        from: param(&q, "from", date, instant(false))?,
        to: param(&q, "to", date, instant(true))?,
        overdue_at: param(&q, "overdue", "true or false", parse_bool)?
            .unwrap_or(false)
            .then(Utc::now),
        limit: param(&q, "limit", "a count", |v| v.parse().ok())?.unwrap_or(0),
        offset: param(&q, "offset", "a count", |v| v.parse().ok())?.unwrap_or(0),
        exclude_confidential: false,
    };
    if !auth.is_handler() {
        return Ok(Json(s.calls.ctx.store.search_cases(&query).await?).into_response());
    }
    Ok(Json(handler_search(&s, &auth, query).await?).into_response())
}

/// `query` narrowed to what a department handler may search: its subtree, and never the
/// confidential cases by the caller's number; `None` when nothing can match.
pub(crate) async fn handler_scope(
    s: &AppState,
    auth: &Auth,
    mut query: CaseQuery,
) -> Result<Option<CaseQuery>, ApiError> {
    let Some(mine) = auth.user.department.clone() else {
        return Ok(None);
    };
    // A handler may look a number up among the cases whose caller is not hidden from
    // them, never among the confidential ones: not even that one exists may show.
    query.exclude_confidential = query.caller_number.is_some();
    match &query.department {
        Some(d) if !s.calls.ctx.store.is_within(d, &mine).await? => return Ok(None),
        Some(_) => {}
        None => {
            query.department = Some(mine);
            query.include_subtree = true;
        }
    }
    Ok(Some(query))
}

/// A department handler's search: only its subtree, never a confidential case by the
/// caller's number, the caller's identity taken out of the confidential ones — what
/// `GET /api/cases` answers a handler and the department portal shows.
pub(crate) async fn handler_search(
    s: &AppState,
    auth: &Auth,
    query: CaseQuery,
) -> Result<Vec<Value>, ApiError> {
    let store = &s.calls.ctx.store;
    let Some(query) = handler_scope(s, auth, query).await? else {
        return Ok(Vec::new());
    };
    let found = store.search_cases(&query).await?;
    // Every case found in full, read at once (not one case at a time).
    let tickets: Vec<String> = found.iter().map(|c| c.ticket.clone()).collect();
    let details: HashMap<String, CaseDetail> = store
        .case_details(&tickets)
        .await?
        .into_iter()
        .map(|d| (d.case.ticket.clone(), d))
        .collect();
    let mut out = Vec::with_capacity(found.len());
    for summary in found {
        let mut v = serde_json::to_value(&summary).unwrap_or_default();
        let detail = details.get(&summary.ticket);
        let hide = detail.is_none_or(|d| hide_caller(auth, d));
        if hide {
            v["caller_number"] = Value::Null;
            if let Some(d) = detail {
                scrub(&mut v, &secrets(d));
            }
        }
        v["redacted"] = json!(hide);
        out.push(v);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    caller_name: Option<String>,
    location: Option<String>,
    category: Option<String>,
    subject: Option<String>,
    description: Option<String>,
    confidential: Option<bool>,
}

/// `PATCH /api/cases/{ticket}`: changes the fields given (not department handlers).
pub async fn update(
    State(s): State<AppState>,
    auth: Auth,
    Path(ticket): Path<String>,
    Body(p): Body<Patch>,
) -> Result<Response, ApiError> {
    load(&s, &auth, &ticket).await?;
    let category = p.category.as_deref().map(parse_category).transpose()?;
    let fields = CaseFields {
        caller_name: p.caller_name,
        location: p.location,
        category,
        subject: p.subject,
        description: p.description,
        confidential: p.confidential,
    };
    let detail = s
        .calls
        .ctx
        .store
        .update_case_fields(&ticket, fields, &auth.actor(), Utc::now())
        .await?;
    Ok(Json(view(&auth, &detail)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    channel: String,
    caller_number: String,
    #[serde(default)]
    caller_name: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    category: Option<String>,
    subject: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    confidential: bool,
}

fn parse_category(c: &str) -> Result<Category, ApiError> {
    Category::parse(c).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "category: `{c}` is not consult, help, complaint, report, suggestion or praise"
        ))
    })
}

/// `POST /api/cases`: registers a work order by hand (web or phone), with the day's
/// next ticket; 201 with the case. Agents, supervisors and admins only.
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    Body(b): Body<Create>,
) -> Result<Response, ApiError> {
    if auth.is_handler() {
        return Err(ApiError::forbidden(
            "department handlers cannot register work orders",
        ));
    }
    let channel = match Channel::parse(&b.channel) {
        Some(c @ (Channel::Web | Channel::Phone)) => c,
        _ => {
            return Err(ApiError::unprocessable(format!(
                "channel: `{}` is not web or phone",
                b.channel
            )))
        }
    };
    let category = b.category.as_deref().map(parse_category).transpose()?;
    let ctx = &s.calls.ctx;
    let now = Utc::now();
    let local_day = now.with_timezone(&ctx.ivr.timezone).date_naive();
    let new = NewCase {
        channel,
        caller_number: b.caller_number,
        caller_name: b.caller_name,
        location: b.location,
        category,
        subject: b.subject,
        description: b.description,
        confidential: b.confidential,
    };
    let detail = ctx
        .store
        .create_case(new, &auth.actor(), local_day, now)
        .await?;
    let location = format!("/api/cases/{}", detail.case.ticket);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view(&auth, &detail)),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCall {
    call: i64,
}

/// `POST /api/cases/{ticket}/calls`: a repeat caller's call (`{"call": <call id>}`,
/// the id in a case's `calls`) joins the case `ticket`, with its recordings, instead of
/// the case opened for it; that case is closed as `merged` if it is still `registered`
/// and has no call left, else it keeps its state (audit `call_moved`). The caller's
/// number need not match (a citizen may call from another phone). Linking a call to
/// the case it is already in changes nothing. Agents, supervisors and admins only (403);
/// unknown ticket or call 404; a final target case (answered, forwarded, closed) 409.
/// Answers with the target case afterwards.
pub async fn link_call(
    State(s): State<AppState>,
    auth: Auth,
    Path(ticket): Path<String>,
    Body(b): Body<LinkCall>,
) -> Result<Response, ApiError> {
    if auth.is_handler() {
        return Err(ApiError::forbidden(
            "department handlers cannot link calls to work orders",
        ));
    }
    check_ticket(&ticket)?;
    let detail = s
        .calls
        .ctx
        .store
        .link_call_to_case(CallId(b.call), &ticket, &auth.actor(), Utc::now())
        .await?;
    Ok(Json(view(&auth, &detail)).into_response())
}

/// Reads a transition request: `{"action": "...", ...fields}`. Unknown actions and
/// fields are 400 naming them.
pub(crate) fn parse_action(body: &[u8]) -> Result<Action, ApiError> {
    let mut v: Value = parse_json(body)?;
    let Some(obj) = v.as_object_mut() else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let kinds = || {
        ACTIONS
            .iter()
            .map(|(a, _)| *a)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let name = match obj.get("action") {
        Some(Value::String(a)) => a.clone(),
        Some(_) => return Err(ApiError::bad_request("action: must be a string")),
        None => {
            return Err(ApiError::bad_request(format!(
                "missing field `action` (one of {})",
                kinds()
            )))
        }
    };
    let Some((_, fields)) = ACTIONS.iter().find(|(a, _)| *a == name) else {
        return Err(ApiError::bad_request(format!(
            "unknown action `{name}` (expected one of {})",
            kinds()
        )));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| k.as_str() != "action" && !fields.contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown field `{k}` for action `{name}` (it takes {})",
            if fields.is_empty() {
                "no fields".to_owned()
            } else {
                fields.join(", ")
            }
        )));
    }
    if name == "urge" {
        obj.entry("note").or_insert(json!(""));
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("action `{name}`: {e}")))
}

/// `POST /api/cases/{ticket}/transitions`: does an action; the case afterwards.
pub async fn transition(
    State(s): State<AppState>,
    auth: Auth,
    Path(ticket): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let action = parse_action(&body)?;
    Ok(Json(act(&s, &auth, &ticket, action).await?).into_response())
}

/// Does `action` on the case `ticket` as `auth`'s user — visibility, the lifecycle's
/// rules, the revisit a reply owes — and the case afterwards as that user may see it:
/// what `POST /api/cases/{ticket}/transitions` and the department portal share.
pub(crate) async fn act(
    s: &AppState,
    auth: &Auth,
    ticket: &str,
    action: hotline_case::lifecycle::Action,
) -> Result<Value, ApiError> {
    load(s, auth, ticket).await?;
    let replied = matches!(action, hotline_case::lifecycle::Action::Reply { .. });
    let ctx = &s.calls.ctx;
    let detail = ctx
        .store
        .transition(
            ticket,
            action,
            &auth.actor(),
            &ctx.calendar,
            &ctx.policy,
            Utc::now(),
        )
        .await?;
    if replied {
        schedule_revisit(ctx, ticket).await;
    }
    // The case may have left the handler's subtree (redispatched elsewhere): show it
    // only if still visible.
    if !visible(s, auth, &detail).await? {
        return Ok(json!({ "ticket": ticket, "status": detail.case.status }));
    }
    Ok(view(auth, &detail))
}

/// A department replied: the citizen is owed a revisit (回访), made by an agent or by the
/// IVR as `[callbacks] revisit` says. A failure is logged; the reply stands.
async fn schedule_revisit(ctx: &crate::call::Ctx, ticket: &str) {
    let cb = &ctx.cfg.callbacks;
    let mode = match cb.revisit.as_str() {
        "auto" => hotline_case::CallbackMode::Auto,
        "agent" => hotline_case::CallbackMode::Agent,
        _ => return,
    };
    let now = Utc::now();
    let due = now + chrono::Duration::seconds(cb.revisit_after_secs as i64);
    match ctx
        .store
        .revisit_task_for(ticket, mode, due, cb.max_attempts, now)
        .await
    {
        Ok(t) => tracing::info!(%ticket, task = %t.id, %mode, "revisit scheduled"),
        Err(e) => tracing::warn!(%ticket, error = %e, "no revisit scheduled"),
    }
}

/// `GET /api/cases/{ticket}/recordings/{id}`: the WAV file, audited.
pub async fn recording(
    State(s): State<AppState>,
    auth: Auth,
    Path((ticket, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let detail = load(&s, &auth, &ticket).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("recording id `{id}` is not a number")))?;
    let Some(rec) = detail.recordings.iter().find(|r| r.id.0 == id) else {
        return Err(ApiError::not_found(format!(
            "case {ticket} has no recording {id}"
        )));
    };
    if hide_caller(&auth, &detail) {
        return Err(ApiError::forbidden(
            "recordings of a confidential case are not available to department handlers",
        ));
    }
    let ctx = &s.calls.ctx;
    let path = ctx.recordings.join(&rec.path);
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            tracing::error!(recording = id, path = %path.display(), "recording file missing");
            ApiError::not_found(format!(
                "the file of recording {id} is missing on the server (logged for the operator)"
            ))
        } else {
            ApiError::internal(format!("recording {id}: {}: {e}", path.display()))
        }
    })?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    ctx.store
        .record_recording_access(RecordingId(id), &auth.user.username, Utc::now())
        .await?;
    let stream = async_stream::stream! {
        use tokio::io::AsyncReadExt;
        let mut file = file;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => yield Ok(bytes::Bytes::copy_from_slice(&buf[..n])),
                Err(e) => {
                    yield Err(e);
                    break;
                }
            }
        }
    };
    let mut r = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{ticket}-{id}.wav\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response();
    if let Some(len) = len {
        r.headers_mut().insert(header::CONTENT_LENGTH, len.into());
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_errors_name_the_problem() {
        let a = parse_action(br#"{"action":"dispatch","department":"housing","mode":"phone"}"#)
            .unwrap();
        assert!(matches!(a, Action::Dispatch { .. }));
        assert!(matches!(
            parse_action(br#"{"action":"urge"}"#).unwrap(),
            Action::Urge { .. }
        ));
        for (body, needle) in [
            (&br#"{"action":"fly"}"#[..], "unknown action `fly`"),
            (br#"{"action":"accept","x":1}"#, "unknown field `x`"),
            (
                br#"{"action":"dispatch","department":"h","mode":"fax"}"#,
                "fax",
            ),
            (br#"{"action":"dispatch","mode":"phone"}"#, "department"),
            (br#"{"action":"#, "malformed JSON"),
            (br#"[1]"#, "JSON object"),
            (br#"{}"#, "missing field `action`"),
        ] {
            let e = parse_action(body).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    }

    #[test]
    fn every_listed_action_is_an_action() {
        for (name, fields) in ACTIONS {
            let mut v = json!({ "action": name });
            for f in *fields {
                v[*f] = match *f {
                    "days" => json!(2),
                    "mode" => json!("phone"),
                    "satisfaction" => json!("satisfied"),
                    _ => json!("x"),
                };
            }
            let body = serde_json::to_vec(&v).unwrap();
            let a = parse_action(&body).unwrap_or_else(|e| panic!("{name}: {}", e.message));
            assert!(!a.kind().event().is_empty(), "{name}");
        }
    }

    #[test]
    fn scrub_replaces_secrets_everywhere() {
        let mut v = json!({"a": ["call from 13800138000"], "b": {"c": "13800138000"}});
        scrub(&mut v, &["13800138000".to_owned()]);
        assert!(!v.to_string().contains("13800138000"), "{v}");
    }
}
