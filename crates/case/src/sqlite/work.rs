//! SQLite: departments, work-order fields and transitions, search, users and sessions.
//!
//! Only what differs per backend is here (connection type, how transactions start, row
//! locks); the statements and logic, the same text for both (`$n` placeholders work on
//! both), are in `twin/work.rs`, included below.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteConnection as Conn;
use sqlx::{QueryBuilder, Sqlite as Db, Transaction};

use super::{insert_event, kind, next_ticket, SqliteBackend as Backend};
use crate::calendar::{DeadlinePolicy, WorkCalendar};
use crate::error::CaseError;
use crate::lifecycle::{Action, CaseState, Role, Satisfaction};
use crate::model::{
    Actor, CallId, CaseDetail, CaseFields, CaseId, CaseQuery, CaseSummary, Category, Department,
    NewDepartment, NewUser, RecordingId, User, UserId,
};
use crate::rows::{
    self, convert_all, CallRecord, CaseRecord, DepartmentRecord, EventRecord, ExtensionRecord,
    RecordingRecord, UserRecord, CASE_SELECT, DEPARTMENT_SELECT, EXTENSION_SELECT, USER_SELECT,
};
use crate::workflow::{self, CheckedCase, ExtensionChange, Lookups};

/// Appended to a [`CASE_SELECT`] that reads a case it will change (SQLite's
/// `BEGIN IMMEDIATE` already holds the write lock).
const LOCK_CASE: &str = "";

/// The states in which nothing more happens to a case.
const FINAL_STATES: &str = "('answered', 'forwarded', 'closed')";

impl Backend {
    /// A transaction that writes: it holds the database's write lock from the start.
    async fn write_tx(&self) -> Result<Transaction<'static, Db>, CaseError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// A transaction whose reads see one snapshot.
    async fn read_tx(&self) -> Result<Transaction<'static, Db>, CaseError> {
        Ok(self.pool.begin().await?)
    }
}

include!("../twin/work.rs");
