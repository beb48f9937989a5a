//! Raw rows as the database returns them, and their checked conversion into the API
//! types. Column types are the ones both backends decode (`i64`, `String`,
//! `DateTime<Utc>`), so these structs serve both SQLite and PostgreSQL (whose queries
//! cast aggregates to `BIGINT` to match).

use chrono::{DateTime, Utc};

use crate::callback::CallbackTaskId;
use crate::error::CaseError;
use crate::lifecycle::{CaseState, DispatchMode, Role, Satisfaction};
use crate::model::{
    AcdResult, Agent, AgentEvent, AgentSecrets, CallId, CallRow, CaseEvent, CaseId, CaseStatus,
    CaseSummary, Category, Channel, Department, DepartmentId, Direction, ExtensionRequest,
    ExtensionStatus, HandlingMode, RecordingId, RecordingKind, RecordingRow, Skill, User, UserId,
    WorkOrder,
};

/// Selects [`CaseRecord`]s: a case (alias `c`) with its department (alias `d`). The
/// same text on both backends; add `WHERE`, `ORDER BY`, and on PostgreSQL
/// `FOR NO KEY UPDATE OF c` to lock the case row.
pub(crate) const CASE_SELECT: &str = "SELECT c.id, c.ticket, c.channel, c.status, \
     c.caller_number, c.created_at, c.updated_at, c.caller_name, c.location, c.category, \
     c.subject, c.description, c.handling_mode, c.department_id, d.code AS department_code, \
     d.name AS department_name, d.active AS department_active, c.dispatch_mode, c.deadline, \
     c.confidential, c.satisfaction, c.urge_count, c.redo_count, c.returned_reason, \
     c.resolved_at, c.closed_at \
     FROM cases c LEFT JOIN departments d ON d.id = c.department_id";

/// Selects [`DepartmentRecord`]s (alias `d`, its parent `p`).
pub(crate) const DEPARTMENT_SELECT: &str = "SELECT d.id, d.code, d.name, \
     p.code AS parent_code, d.level, d.active \
     FROM departments d LEFT JOIN departments p ON p.id = d.parent_id";

/// Selects [`UserRecord`]s (alias `u`, its department `d`).
pub(crate) const USER_SELECT: &str = "SELECT u.id, u.username, u.name, u.role, \
     d.code AS department_code, u.extension, u.disabled, u.created_at \
     FROM users u LEFT JOIN departments d ON d.id = u.department_id";

/// Selects [`ExtensionRecord`]s.
pub(crate) const EXTENSION_SELECT: &str = "SELECT id, days, reason, status, \
     requested_by, requested_at, decided_by, decided_at FROM extension_requests";

/// A row of `cases`, with its department's code, name and whether it is active.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CaseRecord {
    pub id: i64,
    pub ticket: String,
    pub channel: String,
    pub status: String,
    pub caller_number: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub caller_name: Option<String>,
    pub location: Option<String>,
    pub category: Option<String>,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub handling_mode: Option<String>,
    pub department_id: Option<i64>,
    pub department_code: Option<String>,
    pub department_name: Option<String>,
    pub department_active: Option<bool>,
    pub dispatch_mode: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    pub confidential: bool,
    pub satisfaction: Option<i64>,
    pub urge_count: i64,
    pub redo_count: i64,
    pub returned_reason: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A row of `departments`, with its parent's code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DepartmentRecord {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub level: i64,
    pub active: bool,
}

/// A row of `extension_requests`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ExtensionRecord {
    pub id: i64,
    pub days: i64,
    pub reason: String,
    pub status: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// A row of `users`, without its password hash, with its department's code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct UserRecord {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub role: String,
    pub department_code: Option<String>,
    pub extension: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A row of `calls`.
#[derive(sqlx::FromRow)]
pub(crate) struct CallRecord {
    pub id: i64,
    pub case_id: i64,
    pub sip_call_id: String,
    pub caller_number: String,
    pub called_number: String,
    pub direction: String,
    pub arrived_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub hangup_cause: Option<String>,
    pub ivr_path: Option<String>,
    pub satisfaction: Option<i64>,
    pub callback_task_id: Option<i64>,
    #[sqlx(flatten)]
    pub acd: AcdRecord,
}

/// The ACD columns of a row of `calls`: what happened to the call in the queue and with
/// the agent. [`crate::acd`] moves it from step to step.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct AcdRecord {
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub agent_call_id: Option<String>,
    pub queued_at: Option<DateTime<Utc>>,
    pub offered_count: i64,
    pub rejected_count: i64,
    pub agent_answered_at: Option<DateTime<Utc>>,
    pub agent_ended_at: Option<DateTime<Utc>>,
    pub wrap_up_ended_at: Option<DateTime<Utc>>,
    pub acd_result: Option<String>,
    pub wait_ms: Option<i64>,
    pub talk_ms: Option<i64>,
    pub wrap_up_ms: Option<i64>,
}

/// A call's case and its ACD columns, read before an ACD step.
#[derive(sqlx::FromRow)]
pub(crate) struct AcdState {
    pub case_id: i64,
    /// `inbound` or `outbound`: an outbound call is never queued (see [`crate::acd`]).
    pub direction: String,
    #[sqlx(flatten)]
    pub acd: AcdRecord,
}

/// A row of `agents`, without its secrets.
#[derive(sqlx::FromRow)]
pub(crate) struct AgentRecord {
    pub extension: String,
    pub name: String,
    pub max_ring_secs: i64,
    pub wrap_up_secs: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A row of `agent_skills`.
#[derive(sqlx::FromRow)]
pub(crate) struct SkillRecord {
    pub extension: String,
    pub skill: String,
    pub level: i64,
}

/// The digest secrets of a row of `agents`.
#[derive(sqlx::FromRow)]
pub(crate) struct SecretsRecord {
    pub extension: String,
    pub realm: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
}

/// A row of `agent_events`.
#[derive(sqlx::FromRow)]
pub(crate) struct AgentEventRecord {
    pub id: i64,
    pub extension: String,
    pub at: DateTime<Utc>,
    pub from_state: String,
    pub to_state: String,
    pub reason: Option<String>,
    pub sip_call_id: Option<String>,
    pub actor: Option<String>,
}

/// A row of `recordings`.
#[derive(sqlx::FromRow)]
pub(crate) struct RecordingRecord {
    pub id: i64,
    pub call_id: i64,
    pub case_id: i64,
    pub kind: String,
    pub path: String,
    pub duration_ms: i64,
    pub bytes: i64,
    pub created_at: DateTime<Utc>,
}

/// A row of `case_events`.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRecord {
    pub id: i64,
    pub case_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub event: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub note: Option<String>,
}

fn known<T>(parsed: Option<T>, what: &str, text: &str) -> Result<T, CaseError> {
    parsed.ok_or_else(|| CaseError::Corrupt(format!("unknown {what} {text:?}")))
}

pub(crate) fn status(text: &str) -> Result<CaseStatus, CaseError> {
    known(CaseState::parse(text), "case status", text)
}

fn optional_status(text: Option<String>) -> Result<Option<CaseStatus>, CaseError> {
    text.as_deref().map(status).transpose()
}

pub(crate) fn acd_result(text: &str) -> Result<AcdResult, CaseError> {
    known(AcdResult::parse(text), "ACD result", text)
}

fn unsigned(value: i64, what: &str) -> Result<u64, CaseError> {
    u64::try_from(value).map_err(|_| CaseError::Corrupt(format!("negative {what} {value}")))
}

fn optional_unsigned(value: Option<i64>, what: &str) -> Result<Option<u64>, CaseError> {
    value.map(|v| unsigned(v, what)).transpose()
}

fn small(value: i64, what: &str) -> Result<u32, CaseError> {
    u32::try_from(value).map_err(|_| CaseError::Corrupt(format!("{what} {value}")))
}

/// An agent from its row and its skills (in the order given).
pub(crate) fn agent(r: AgentRecord, skills: Vec<SkillRecord>) -> Result<Agent, CaseError> {
    let skills = skills
        .into_iter()
        .map(|s| {
            let level = u8::try_from(s.level)
                .ok()
                .filter(|l| (1..=5).contains(l))
                .ok_or_else(|| CaseError::Corrupt(format!("skill level {}", s.level)))?;
            Ok(Skill {
                name: s.skill,
                level,
            })
        })
        .collect::<Result<_, CaseError>>()?;
    Ok(Agent {
        skills,
        max_ring_secs: small(r.max_ring_secs, "max_ring_secs")?,
        wrap_up_secs: small(r.wrap_up_secs, "wrap_up_secs")?,
        extension: r.extension,
        name: r.name,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Agents from their rows and all their skills (grouped by extension, in any order).
pub(crate) fn agents(
    records: Vec<AgentRecord>,
    skills: Vec<SkillRecord>,
) -> Result<Vec<Agent>, CaseError> {
    let mut by_ext: std::collections::HashMap<String, Vec<SkillRecord>> = Default::default();
    for s in skills {
        by_ext.entry(s.extension.clone()).or_default().push(s);
    }
    records
        .into_iter()
        .map(|r| {
            let skills = by_ext.remove(&r.extension).unwrap_or_default();
            agent(r, skills)
        })
        .collect()
}

impl TryFrom<CaseRecord> for CaseSummary {
    type Error = CaseError;

    fn try_from(r: CaseRecord) -> Result<Self, CaseError> {
        summary(&r)
    }
}

/// The listing fields of a case row.
pub(crate) fn summary(r: &CaseRecord) -> Result<CaseSummary, CaseError> {
    Ok(CaseSummary {
        id: CaseId(r.id),
        channel: known(Channel::parse(&r.channel), "channel", &r.channel)?,
        status: status(&r.status)?,
        ticket: r.ticket.clone(),
        caller_number: r.caller_number.clone(),
        category: r.category.as_deref().map(category).transpose()?,
        department: r.department_code.clone(),
        deadline: r.deadline,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// The work-order fields of a case row.
pub(crate) fn work_order(r: &CaseRecord) -> Result<WorkOrder, CaseError> {
    let handling_mode = r
        .handling_mode
        .as_deref()
        .map(|t| known(HandlingMode::parse(t), "handling mode", t))
        .transpose()?;
    let dispatch_mode = r
        .dispatch_mode
        .as_deref()
        .map(|t| known(DispatchMode::parse(t), "dispatch mode", t))
        .transpose()?;
    let satisfaction = r
        .satisfaction
        .map(|v| {
            u8::try_from(v)
                .ok()
                .and_then(Satisfaction::from_score)
                .ok_or_else(|| CaseError::Corrupt(format!("satisfaction {v}")))
        })
        .transpose()?;
    Ok(WorkOrder {
        caller_name: r.caller_name.clone(),
        location: r.location.clone(),
        subject: r.subject.clone(),
        description: r.description.clone(),
        handling_mode,
        department_name: r.department_name.clone(),
        dispatch_mode,
        confidential: r.confidential,
        satisfaction,
        urge_count: small(r.urge_count, "urge_count")?,
        redo_count: small(r.redo_count, "redo_count")?,
        returned_reason: r.returned_reason.clone(),
        resolved_at: r.resolved_at,
        closed_at: r.closed_at,
    })
}

pub(crate) fn category(text: &str) -> Result<Category, CaseError> {
    known(Category::parse(text), "category", text)
}

pub(crate) fn role(text: &str) -> Result<Role, CaseError> {
    known(
        Role::ALL.into_iter().find(|r| r.as_str() == text),
        "role",
        text,
    )
}

impl TryFrom<DepartmentRecord> for Department {
    type Error = CaseError;

    fn try_from(r: DepartmentRecord) -> Result<Self, CaseError> {
        Ok(Department {
            id: DepartmentId(r.id),
            level: u8::try_from(r.level)
                .ok()
                .filter(|l| (1..=3).contains(l))
                .ok_or_else(|| CaseError::Corrupt(format!("department level {}", r.level)))?,
            code: r.code,
            name: r.name,
            parent: r.parent_code,
            active: r.active,
        })
    }
}

/// Departments in tree order: each unit followed by the units below it, siblings by
/// code (byte order, the same on both databases).
pub(crate) fn tree_order(all: Vec<Department>) -> Vec<Department> {
    let mut children: std::collections::BTreeMap<Option<String>, Vec<Department>> =
        Default::default();
    for d in all {
        children.entry(d.parent.clone()).or_default().push(d);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| a.code.cmp(&b.code));
    }
    let mut out = Vec::new();
    let mut stack: Vec<Department> = children.remove(&None).unwrap_or_default();
    stack.reverse();
    while let Some(d) = stack.pop() {
        if let Some(mut below) = children.remove(&Some(d.code.clone())) {
            below.reverse();
            stack.extend(below);
        }
        out.push(d);
    }
    out
}

impl TryFrom<ExtensionRecord> for ExtensionRequest {
    type Error = CaseError;

    fn try_from(r: ExtensionRecord) -> Result<Self, CaseError> {
        Ok(ExtensionRequest {
            id: r.id,
            days: small(r.days, "extension days")?,
            status: known(
                ExtensionStatus::parse(&r.status),
                "extension status",
                &r.status,
            )?,
            reason: r.reason,
            requested_by: r.requested_by,
            requested_at: r.requested_at,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
        })
    }
}

impl TryFrom<UserRecord> for User {
    type Error = CaseError;

    fn try_from(r: UserRecord) -> Result<Self, CaseError> {
        Ok(User {
            id: UserId(r.id),
            role: role(&r.role)?,
            username: r.username,
            name: r.name,
            department: r.department_code,
            extension: r.extension,
            disabled: r.disabled,
            created_at: r.created_at,
        })
    }
}

impl TryFrom<CallRecord> for CallRow {
    type Error = CaseError;

    fn try_from(r: CallRecord) -> Result<Self, CaseError> {
        Ok(CallRow {
            id: CallId(r.id),
            case_id: CaseId(r.case_id),
            direction: known(Direction::parse(&r.direction), "direction", &r.direction)?,
            sip_call_id: r.sip_call_id,
            caller_number: r.caller_number,
            called_number: r.called_number,
            arrived_at: r.arrived_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
            hangup_cause: r.hangup_cause,
            ivr_path: r.ivr_path,
            acd_result: r.acd.acd_result.as_deref().map(acd_result).transpose()?,
            offered_count: small(r.acd.offered_count, "offered_count")?,
            rejected_count: small(r.acd.rejected_count, "rejected_count")?,
            wait_ms: optional_unsigned(r.acd.wait_ms, "wait_ms")?,
            talk_ms: optional_unsigned(r.acd.talk_ms, "talk_ms")?,
            wrap_up_ms: optional_unsigned(r.acd.wrap_up_ms, "wrap_up_ms")?,
            queue: r.acd.queue,
            agent: r.acd.agent,
            agent_call_id: r.acd.agent_call_id,
            queued_at: r.acd.queued_at,
            agent_answered_at: r.acd.agent_answered_at,
            agent_ended_at: r.acd.agent_ended_at,
            wrap_up_ended_at: r.acd.wrap_up_ended_at,
            satisfaction: r
                .satisfaction
                .map(|v| {
                    u8::try_from(v)
                        .map_err(|_| CaseError::Corrupt(format!("call satisfaction {v}")))
                })
                .transpose()?,
            callback_task: r.callback_task_id.map(CallbackTaskId),
        })
    }
}

impl From<SecretsRecord> for AgentSecrets {
    fn from(r: SecretsRecord) -> Self {
        AgentSecrets {
            extension: r.extension,
            realm: r.realm,
            ha1_md5: r.ha1_md5,
            ha1_sha256: r.ha1_sha256,
        }
    }
}

impl TryFrom<AgentEventRecord> for AgentEvent {
    type Error = CaseError;

    fn try_from(r: AgentEventRecord) -> Result<Self, CaseError> {
        Ok(AgentEvent {
            id: r.id,
            extension: r.extension,
            at: r.at,
            from_state: r.from_state,
            to_state: r.to_state,
            reason: r.reason,
            sip_call_id: r.sip_call_id,
            actor: r.actor,
        })
    }
}

impl TryFrom<RecordingRecord> for RecordingRow {
    type Error = CaseError;

    fn try_from(r: RecordingRecord) -> Result<Self, CaseError> {
        Ok(RecordingRow {
            id: RecordingId(r.id),
            call_id: CallId(r.call_id),
            case_id: CaseId(r.case_id),
            kind: known(RecordingKind::parse(&r.kind), "recording kind", &r.kind)?,
            path: r.path,
            duration_ms: unsigned(r.duration_ms, "duration_ms")?,
            bytes: unsigned(r.bytes, "bytes")?,
            created_at: r.created_at,
        })
    }
}

impl TryFrom<EventRecord> for CaseEvent {
    type Error = CaseError;

    fn try_from(r: EventRecord) -> Result<Self, CaseError> {
        Ok(CaseEvent {
            id: r.id,
            case_id: CaseId(r.case_id),
            at: r.at,
            actor: r.actor,
            event: r.event,
            from_status: optional_status(r.from_status)?,
            to_status: optional_status(r.to_status)?,
            note: r.note,
        })
    }
}

/// Converts every row, failing on the first one this version cannot read.
pub(crate) fn convert_all<R, T>(rows: Vec<R>) -> Result<Vec<T>, CaseError>
where
    T: TryFrom<R, Error = CaseError>,
{
    rows.into_iter().map(T::try_from).collect()
}
