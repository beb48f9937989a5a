//! [`CaseStore`]: the API the server calls, independent of the database behind it.

use std::path::{Component, Path};

use chrono::{DateTime, Utc};

use crate::error::CaseError;
use crate::model::{
    CallId, CaseDetail, CaseId, CaseStatus, CaseSummary, MissedCall, NewCall, NewRecording,
    OpenedCall, RecordingId,
};
use crate::sqlite::SqliteBackend;
use crate::ticket;

/// The case database. Cheap to clone (a connection pool); share one per process.
#[derive(Debug, Clone)]
pub struct CaseStore {
    backend: Backend,
}

/// The databases the store can run on. A PostgreSQL variant joins later.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteBackend),
}

impl CaseStore {
    /// Opens the database and applies pending migrations.
    ///
    /// `url_or_path` is a `sqlite:` URL (`sqlite://data/hotline.db`, `sqlite:data/x.db?…`)
    /// or a plain file path. The file and its parent directory are created if missing.
    /// Other URL schemes (e.g. `postgres://`) fail with [`CaseError::UnsupportedBackend`].
    pub async fn open(url_or_path: &str) -> Result<Self, CaseError> {
        let backend = match url_or_path.split_once("://") {
            Some((scheme, _)) if scheme != "sqlite" => {
                return Err(CaseError::UnsupportedBackend(url_or_path.to_owned()))
            }
            _ => Backend::Sqlite(SqliteBackend::open(url_or_path).await?),
        };
        tracing::info!(db = url_or_path, "case store open");
        Ok(CaseStore { backend })
    }

    /// Closes all connections (checkpointing SQLite's WAL). Later calls fail.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(b) => b.close().await,
        }
    }

    /// Registers an answered inbound call: in one transaction, allocates the day's next
    /// ticket number, inserts the case (channel `phone`, status `registered`), the call
    /// row, and the audit event `registered`.
    pub async fn open_call(&self, c: NewCall) -> Result<OpenedCall, CaseError> {
        let opened = match &self.backend {
            Backend::Sqlite(b) => b.open_call(c).await?,
        };
        tracing::debug!(ticket = %opened.ticket, case = %opened.case, "case registered");
        Ok(opened)
    }

    /// Records the end of a call: its end time, hangup cause and the IVR path taken.
    ///
    /// Fails with [`CaseError::CallNotFound`] or, if it was already ended,
    /// [`CaseError::CallAlreadyEnded`].
    pub async fn end_call(
        &self,
        call: CallId,
        ended_at: DateTime<Utc>,
        cause: &str,
        ivr_path: &str,
    ) -> Result<(), CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.end_call(call, ended_at, cause, ivr_path).await,
        }
    }

    /// Marks that the caller left a voicemail: the case (channel still `phone`) goes to
    /// `callback_pending`, with an audit event `voicemail`.
    ///
    /// Allowed from `registered` (or `voicemail`); otherwise
    /// [`CaseError::InvalidTransition`]. Unknown case: [`CaseError::CaseNotFound`].
    pub async fn mark_voicemail(&self, case: CaseId) -> Result<(), CaseError> {
        let to = CaseStatus::CallbackPending;
        match &self.backend {
            Backend::Sqlite(b) => b.change_status(case, to, "voicemail", Utc::now()).await,
        }
    }

    /// Attaches a finalized recording file to a call and its case.
    ///
    /// The path must be relative to the recordings directory and stay inside it
    /// ([`CaseError::InvalidRecordingPath`]); the call must exist
    /// ([`CaseError::CallNotFound`]) and belong to the case ([`CaseError::CallNotInCase`]).
    pub async fn add_recording(&self, r: NewRecording) -> Result<RecordingId, CaseError> {
        if !is_contained_relative(&r.path) {
            return Err(CaseError::InvalidRecordingPath(r.path));
        }
        match &self.backend {
            Backend::Sqlite(b) => b.add_recording(&r).await,
        }
    }

    /// Looks a case up by its ticket number, with its calls, recordings and audit trail.
    ///
    /// Anything that is not a well-formed ticket (see [`ticket::parse`]) is `Ok(None)`
    /// without touching the database, as is a ticket no case has.
    pub async fn case_by_ticket(&self, ticket: &str) -> Result<Option<CaseDetail>, CaseError> {
        if ticket::parse(ticket).is_none() {
            return Ok(None);
        }
        match &self.backend {
            Backend::Sqlite(b) => b.case_by_ticket(ticket).await,
        }
    }

    /// Keeps a call that ended before it was answered.
    pub async fn record_missed_call(&self, m: &MissedCall) -> Result<(), CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.record_missed_call(m).await,
        }
    }

    /// The `limit` most recent missed calls, newest first.
    pub async fn missed_calls(&self, limit: u32) -> Result<Vec<MissedCall>, CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.missed_calls(limit).await,
        }
    }

    /// The `limit` most recently registered cases, newest first.
    pub async fn list_cases(&self, limit: u32) -> Result<Vec<CaseSummary>, CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.list_cases(limit).await,
        }
    }
}

/// A non-empty relative path made only of normal components (no `..`, no root, no `.`).
fn is_contained_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && !path.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests;
