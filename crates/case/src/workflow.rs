//! The backend-independent part of changing a work order: what a transition or a field
//! update does to a case row, decided in Rust from what the backend read (the case row,
//! the department an action names, the pending extension request). Each backend reads,
//! calls [`plan_transition`] or [`plan_fields`], and writes the result back in the same
//! transaction, so the rules are written once.

use chrono::{DateTime, Utc};

use crate::calendar::{DeadlinePolicy, WorkCalendar};
use crate::error::CaseError;
use crate::lifecycle::{self, Action, CaseState, DeadlineEffect, DispatchMode, Role};
use crate::model::{Actor, CaseFields, Category, Channel, ExtensionStatus, HandlingMode, NewCase};
use crate::rows::{self, CaseRecord, DepartmentRecord, ExtensionRecord};

/// The department code an action names, if any (to be looked up before planning).
pub(crate) fn named_department(action: &Action) -> Option<&str> {
    match action {
        Action::Forward { department }
        | Action::Dispatch { department, .. }
        | Action::Redispatch { department }
        | Action::Redo {
            department: Some(department),
        } => Some(department.trim()),
        _ => None,
    }
}

/// Whether the action needs the case's pending extension request (if any).
/// The lifecycle's step that makes a call's case a work order when an agent answers
/// (`no_request` → `registered`, by the system).
pub(crate) fn register_transition() -> lifecycle::Transition {
    lifecycle::apply(CaseState::NoRequest, &Action::Register, Role::System)
        .expect("the lifecycle lets the system register a call's case")
}

pub(crate) fn needs_pending_extension(action: &Action) -> bool {
    matches!(
        action,
        Action::RequestExtension { .. } | Action::ApproveExtension | Action::RefuseExtension
    )
}

/// What the backend looked up for a transition.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    /// The department [`named_department`] names: `None` if the action names none or no
    /// department has that code.
    pub target: Option<DepartmentRecord>,
    /// Whether `target` lies strictly below the case's current department.
    pub target_below_current: bool,
    /// The case's pending extension request, if [`needs_pending_extension`].
    pub pending: Option<ExtensionRecord>,
}

/// What to do with the extension requests of the case.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ExtensionChange {
    None,
    /// Insert a pending request.
    Request {
        days: u32,
        reason: String,
    },
    /// Decide the pending request `id`.
    Decide {
        id: i64,
        status: ExtensionStatus,
    },
}

/// The result of planning a transition: the case row to write, the audit event, and the
/// change to the extension requests.
#[derive(Debug)]
pub(crate) struct Plan {
    pub record: CaseRecord,
    pub from: CaseState,
    pub to: CaseState,
    pub event: &'static str,
    pub note: Option<String>,
    pub extension: ExtensionChange,
}

/// Applies `action` by `actor` to the case row `r` at `now`: the lifecycle's verdict
/// first (state, role, data), then the department and extension checks, then the new
/// row. Nothing is written here.
pub(crate) fn plan_transition(
    r: &CaseRecord,
    action: &Action,
    actor: &Actor,
    found: Lookups,
    calendar: &WorkCalendar,
    policy: &DeadlinePolicy,
    now: DateTime<Utc>,
) -> Result<Plan, CaseError> {
    let from = rows::status(&r.status)?;
    let t = lifecycle::apply(from, action, actor.role).map_err(|source| CaseError::Transition {
        ticket: r.ticket.clone(),
        source,
    })?;
    let mut next = r.clone();
    let mut note: Option<String> = None;
    let mut extension = ExtensionChange::None;

    // The department the case goes to, for the actions that name or keep one.
    let target = match named_department(action) {
        Some(code) => {
            let d = found
                .target
                .ok_or_else(|| CaseError::DepartmentNotFound(code.to_owned()))?;
            if !d.active {
                return Err(CaseError::DepartmentInactive(d.code));
            }
            Some(d)
        }
        None => None,
    };
    if let (Action::Redispatch { .. }, Role::DepartmentHandler, Some(d)) =
        (action, actor.role, &target)
    {
        if !found.target_below_current {
            return Err(CaseError::NotInSubtree {
                department: d.code.clone(),
                current: r.department_code.clone().unwrap_or_default(),
            });
        }
    }
    if let Action::Redo { department: None } = action {
        match (&r.department_code, r.department_active) {
            (Some(code), Some(false)) => return Err(CaseError::DepartmentInactive(code.clone())),
            (None, _) => return Err(CaseError::DepartmentNotFound(String::new())),
            _ => {}
        }
    }
    let moved_to = |next: &mut CaseRecord, d: &DepartmentRecord| {
        next.department_id = Some(d.id);
        next.department_code = Some(d.code.clone());
        next.department_name = Some(d.name.clone());
        next.department_active = Some(d.active);
    };

    match action {
        Action::Answer { summary } => {
            next.handling_mode = Some(HandlingMode::Answered.as_str().to_owned());
            next.closed_at = Some(now);
            note = Some(summary.trim().to_owned());
        }
        Action::Forward { .. } => {
            let d = target.as_ref().expect("checked above");
            moved_to(&mut next, d);
            next.handling_mode = Some(HandlingMode::Forwarded.as_str().to_owned());
            next.closed_at = Some(now);
            note = Some(format!("to {}", d.code));
        }
        Action::Dispatch { .. } => {
            let d = target.as_ref().expect("checked above");
            moved_to(&mut next, d);
            next.handling_mode = Some(HandlingMode::Dispatched.as_str().to_owned());
        }
        Action::Redispatch { .. } => {
            let d = target.as_ref().expect("checked above");
            note = Some(format!(
                "from {} to {}",
                r.department_code.as_deref().unwrap_or("-"),
                d.code
            ));
            moved_to(&mut next, d);
        }
        Action::Accept => {}
        Action::Return { reason } => {
            next.returned_reason = Some(reason.trim().to_owned());
            note = Some(reason.trim().to_owned());
        }
        Action::RequestExtension { days, reason } => {
            if found.pending.is_some() {
                return Err(CaseError::ExtensionPending(r.ticket.clone()));
            }
            extension = ExtensionChange::Request {
                days: *days,
                reason: reason.trim().to_owned(),
            };
            note = Some(format!("{days} working days: {}", reason.trim()));
        }
        Action::ApproveExtension | Action::RefuseExtension => {
            let pending = found
                .pending
                .as_ref()
                .ok_or_else(|| CaseError::NoPendingExtension(r.ticket.clone()))?;
            let status = if matches!(action, Action::ApproveExtension) {
                ExtensionStatus::Approved
            } else {
                ExtensionStatus::Refused
            };
            extension = ExtensionChange::Decide {
                id: pending.id,
                status,
            };
            note = Some(format!("{} working days: {}", pending.days, pending.reason));
        }
        Action::Urge { note: text } => {
            next.urge_count += 1;
            note = Some(text.trim().to_owned()).filter(|n| !n.is_empty());
        }
        Action::Reply { result } => {
            next.resolved_at = Some(now);
            note = Some(result.trim().to_owned());
        }
        Action::Revisit { satisfaction } => {
            next.satisfaction = Some(i64::from(satisfaction.score()));
            note = Some(satisfaction.as_str().to_owned());
        }
        Action::Redo { .. } => {
            if let Some(d) = &target {
                moved_to(&mut next, d);
            }
            next.redo_count += 1;
            next.resolved_at = None;
            note = next.department_code.as_ref().map(|c| format!("to {c}"));
        }
        Action::Close { note: text } => {
            next.closed_at = Some(now);
            note = text.as_deref().map(str::trim).map(str::to_owned);
        }
        Action::CalledBack | Action::LeftVoicemail | Action::RequestCallback | Action::Register => {
        }
    }

    // The deadline.
    let category = r.category.as_deref();
    match t.deadline {
        DeadlineEffect::Keep | DeadlineEffect::Stop => {}
        DeadlineEffect::Start(mode) => {
            next.dispatch_mode = Some(mode.as_str().to_owned());
            let due = policy.deadline(calendar, now, mode, category);
            next.deadline = Some(due);
            let code = next.department_code.as_deref().unwrap_or("-");
            note = Some(format!(
                "to {code} by {}, due {}",
                mode.as_str(),
                due.to_rfc3339()
            ));
        }
        DeadlineEffect::Restart => {
            let mode = r
                .dispatch_mode
                .as_deref()
                .and_then(DispatchMode::parse)
                .unwrap_or(DispatchMode::Phone);
            next.dispatch_mode = Some(mode.as_str().to_owned());
            next.deadline = Some(policy.deadline(calendar, now, mode, category));
        }
        DeadlineEffect::Extend => {
            let days = found.pending.as_ref().map_or(0, |p| p.days);
            let days = u32::try_from(days).unwrap_or(0);
            let base = r.deadline.unwrap_or(now);
            next.deadline = Some(calendar.add_working_days(base, days));
        }
    }
    next.status = t.to.as_str().to_owned();
    next.updated_at = now;
    Ok(Plan {
        record: next,
        from: t.from,
        to: t.to,
        event: t.event,
        note,
        extension,
    })
}

/// Longest caller name, location, subject and description accepted (in characters).
const MAX_NAME: usize = 64;
const MAX_LOCATION: usize = 200;
const MAX_SUBJECT: usize = 200;
const MAX_DESCRIPTION: usize = 5000;

/// Checks `f` and applies it to the case row `r`: the new row and the names of the
/// fields that changed (empty: nothing to write). The first bad field is the error;
/// nothing is applied then.
pub(crate) fn plan_fields(
    r: &CaseRecord,
    f: &CaseFields,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(CaseRecord, Vec<&'static str>), CaseError> {
    if matches!(actor.role, Role::DepartmentHandler | Role::System) {
        return Err(CaseError::Forbidden(format!(
            "{} cannot change the fields of a work order",
            actor.role
        )));
    }
    if rows::status(&r.status)?.is_final() {
        return Err(CaseError::CaseFinal(r.ticket.clone()));
    }
    let Texts {
        caller_name,
        location,
        subject,
        description,
    } = check_texts(f)?;

    let mut next = r.clone();
    let mut changed = Vec::new();
    let mut set = |slot: &mut Option<String>, value: Option<Option<String>>, name| {
        if let Some(v) = value {
            if *slot != v {
                *slot = v;
                changed.push(name);
            }
        }
    };
    set(&mut next.caller_name, caller_name, "caller_name");
    set(&mut next.location, location, "location");
    set(
        &mut next.category,
        f.category.map(|c| Some(c.as_str().to_owned())),
        "category",
    );
    set(&mut next.subject, subject, "subject");
    set(&mut next.description, description, "description");
    if let Some(c) = f.confidential {
        if next.confidential != c {
            next.confidential = c;
            changed.push("confidential");
        }
    }
    // Once a complainant is protected, an agent cannot expose them (by clearing the flag or
    // turning a complaint into a consultation): only a supervisor may, and it is audited
    // with the fields changed.
    if is_confidential_row(r)
        && !is_confidential_row(&next)
        && !matches!(actor.role, Role::Supervisor | Role::Admin)
    {
        return Err(CaseError::Forbidden(format!(
            "case {} is confidential: only a supervisor may make it not confidential \
             ({} is {})",
            r.ticket, actor.user, actor.role
        )));
    }
    if !changed.is_empty() {
        next.updated_at = now;
    }
    Ok((next, changed))
}

/// Whether a case row is confidential: the flag, or a complaint or report (as
/// [`crate::CaseDetail::is_confidential`]).
fn is_confidential_row(r: &CaseRecord) -> bool {
    r.confidential
        || matches!(
            r.category.as_deref(),
            Some(c) if c == Category::Complaint.as_str() || c == Category::Report.as_str()
        )
}

/// The checked text fields of a [`CaseFields`] (see [`text`]).
struct Texts {
    caller_name: Option<Option<String>>,
    location: Option<Option<String>>,
    subject: Option<Option<String>>,
    description: Option<Option<String>>,
}

/// The rules of the text fields, in this order; a blank subject is refused.
fn check_texts(f: &CaseFields) -> Result<Texts, CaseError> {
    let caller_name = text(f.caller_name.as_deref(), "caller_name", MAX_NAME, false)?;
    let location = text(f.location.as_deref(), "location", MAX_LOCATION, false)?;
    let subject = text(f.subject.as_deref(), "subject", MAX_SUBJECT, false)?;
    if let Some(None) = subject {
        return Err(invalid("subject", "must not be empty"));
    }
    let description = text(
        f.description.as_deref(),
        "description",
        MAX_DESCRIPTION,
        true,
    )?;
    Ok(Texts {
        caller_name,
        location,
        subject,
        description,
    })
}

/// Longest caller number accepted (digits, after an optional `+`).
const MAX_NUMBER: usize = 32;

/// A checked [`NewCase`], ready to insert.
#[derive(Debug)]
pub(crate) struct CheckedCase {
    pub channel: Channel,
    pub caller_number: String,
    pub caller_name: Option<String>,
    pub location: Option<String>,
    pub category: Option<Category>,
    pub subject: String,
    pub description: Option<String>,
    pub confidential: bool,
}

/// Checks a case registered by hand: who may (not department handlers, not the call
/// controller: [`CaseError::Forbidden`]), then the channel, the caller number and the
/// text fields by the rules of [`plan_fields`] (the first bad one is
/// [`CaseError::InvalidField`] naming it).
pub(crate) fn plan_new_case(n: &NewCase, actor: &Actor) -> Result<CheckedCase, CaseError> {
    if matches!(actor.role, Role::DepartmentHandler | Role::System) {
        return Err(CaseError::Forbidden(format!(
            "{} cannot register a work order",
            actor.role
        )));
    }
    if !matches!(n.channel, Channel::Web | Channel::Phone) {
        return Err(invalid(
            "channel",
            format!(
                "`{}`: a case registered by hand comes by web or phone",
                n.channel.as_str()
            ),
        ));
    }
    let number = n.caller_number.trim();
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty() {
        return Err(invalid("caller_number", "must not be empty"));
    }
    if digits.len() > MAX_NUMBER || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "caller_number",
            format!("1 to {MAX_NUMBER} digits, optionally after a leading '+'"),
        ));
    }
    let f = CaseFields {
        caller_name: n.caller_name.clone(),
        location: n.location.clone(),
        category: n.category,
        subject: Some(n.subject.clone()),
        description: n.description.clone(),
        confidential: Some(n.confidential),
    };
    let t = check_texts(&f)?;
    Ok(CheckedCase {
        channel: n.channel,
        caller_number: number.to_owned(),
        caller_name: t.caller_name.flatten(),
        location: t.location.flatten(),
        category: n.category,
        subject: t.subject.flatten().expect("checked non-blank"),
        description: t.description.flatten(),
        confidential: n.confidential,
    })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CaseError {
    CaseError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// A checked text field: `None` if not given, `Some(None)` if given blank (clears it),
/// else the trimmed text.
fn text(
    value: Option<&str>,
    field: &'static str,
    max: usize,
    multiline: bool,
) -> Result<Option<Option<String>>, CaseError> {
    let Some(v) = value else {
        return Ok(None);
    };
    let v = v.trim();
    if v.chars().count() > max {
        return Err(invalid(field, format!("longer than {max} characters")));
    }
    if v.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\t')))
    {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(Some(Some(v.to_owned()).filter(|v| !v.is_empty())))
}
