//! Raw rows as the database returns them, and their checked conversion into the API
//! types. Column types are the ones both backends decode (`i64`, `String`,
//! `DateTime<Utc>`), so these structs serve SQLite now and PostgreSQL later.

use chrono::{DateTime, Utc};

use crate::error::CaseError;
use crate::model::{
    CallId, CallRow, CaseEvent, CaseId, CaseStatus, CaseSummary, Channel, Direction, RecordingId,
    RecordingKind, RecordingRow,
};

/// A row of `cases`.
#[derive(sqlx::FromRow)]
pub(crate) struct CaseRecord {
    pub id: i64,
    pub ticket: String,
    pub channel: String,
    pub status: String,
    pub caller_number: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
    known(CaseStatus::parse(text), "case status", text)
}

fn optional_status(text: Option<String>) -> Result<Option<CaseStatus>, CaseError> {
    text.as_deref().map(status).transpose()
}

fn unsigned(value: i64, what: &str) -> Result<u64, CaseError> {
    u64::try_from(value).map_err(|_| CaseError::Corrupt(format!("negative {what} {value}")))
}

impl TryFrom<CaseRecord> for CaseSummary {
    type Error = CaseError;

    fn try_from(r: CaseRecord) -> Result<Self, CaseError> {
        Ok(CaseSummary {
            id: CaseId(r.id),
            channel: known(Channel::parse(&r.channel), "channel", &r.channel)?,
            status: status(&r.status)?,
            ticket: r.ticket,
            caller_number: r.caller_number,
            created_at: r.created_at,
            updated_at: r.updated_at,
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
