//! The error type of the store.

use std::path::PathBuf;

use crate::lifecycle::TransitionError;
use crate::model::{CallId, CaseId, CaseStatus, RecordingId};

/// Everything a [`CaseStore`](crate::CaseStore) operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The URL names a database this build cannot use (e.g. `mysql://`). The URL is kept
    /// with its password, if any, replaced by `***`.
    #[error(
        "unsupported database url {0:?} (expected a sqlite: or postgres:// URL, or a file path)"
    )]
    UnsupportedBackend(String),
    /// The directory that should hold the database file could not be created.
    #[error("cannot create database directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Applying the embedded schema migrations failed (e.g. the file was changed by a
    /// newer version, or an applied migration was edited).
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database failed: connection, I/O, constraint, or still busy after the timeout.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The call path's writer could not write (the database failed for the batch this
    /// write was in, or the store is closed); see [`crate::CaseStore::open_call`].
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// No case has this id.
    #[error("case {0} not found")]
    CaseNotFound(CaseId),
    /// No call has this id.
    #[error("call {0} not found")]
    CallNotFound(CallId),
    /// `end_call` on a call that already has an end time.
    #[error("call {0} already ended")]
    CallAlreadyEnded(CallId),
    /// A recording names a call that belongs to another case.
    #[error("call {call} does not belong to case {case}")]
    CallNotInCase {
        /// The call named.
        call: CallId,
        /// The case named.
        case: CaseId,
    },
    /// The crash recovery of one node was asked to repair a call another node handles
    /// (several nodes sharing one database): it is left to that node.
    #[error("call {call} is handled by node {node:?}, not this one")]
    CallOfOtherNode {
        /// The call named.
        call: CallId,
        /// The node its row names.
        node: String,
    },
    /// The case's current status does not allow the requested change.
    #[error("case {case}: cannot go from {from} to {to}")]
    InvalidTransition {
        /// The case.
        case: CaseId,
        /// Its current status.
        from: CaseStatus,
        /// The status asked for.
        to: CaseStatus,
    },
    /// A recording path is empty, absolute, or leaves the recordings directory (`..`).
    #[error("recording path {0:?} must be relative to the recordings directory")]
    InvalidRecordingPath(String),
    /// `add_agent` with an extension that already has an agent.
    #[error("agent {0} already exists")]
    AgentExists(String),
    /// No (current) agent has this extension.
    #[error("agent {0} not found")]
    AgentNotFound(String),
    /// An extension that is not 1 to 16 digits.
    #[error("invalid extension {0:?}: expected 1 to 16 digits")]
    InvalidExtension(String),
    /// A skill with a bad name or level, or listed twice; `item` is the offending item
    /// as written (e.g. `"Consult:7"`).
    #[error("invalid skill {item:?}: {reason}")]
    InvalidSkill {
        /// The item.
        item: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another field of a new agent is not acceptable (empty name or password, zero ring
    /// time).
    #[error("invalid agent: {0}")]
    InvalidAgent(&'static str),
    /// Hashing or verifying a password failed (not a wrong password: that is `Ok(false)`).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// An ACD step that does not fit the call's queue history (e.g. answered twice, or
    /// offered before it was queued). A bug in the caller, not in the data.
    #[error("call {call}: {reason}")]
    InvalidCallState {
        /// The call.
        call: CallId,
        /// What does not fit.
        reason: &'static str,
    },
    /// `call_left_queue` with a result that is not a way of leaving the queue.
    #[error("invalid queue result {0:?}: expected abandoned, expired, queue_full, no_agents or callback_requested")]
    InvalidAcdResult(String),
    /// A number does not fit the database column (e.g. a size above `i64::MAX`).
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    /// No case has this ticket number.
    #[error("no case with ticket {0}")]
    TicketNotFound(String),
    /// The lifecycle refused the action (wrong state, wrong role, missing data).
    #[error("case {ticket}: {source}")]
    Transition {
        /// The case.
        ticket: String,
        /// Why.
        source: TransitionError,
    },
    /// A field of a work order (or of a new department or user) is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field, e.g. `subject`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Who tried may not do this (e.g. a department handler editing a work order).
    #[error("{0}")]
    Forbidden(String),
    /// The case is final (answered, forwarded, closed): it cannot change any more.
    #[error("case {0} is final and cannot change")]
    CaseFinal(String),
    /// No callback task has this id.
    #[error("callback task {0} not found")]
    CallbackNotFound(i64),
    /// The callback task is not in a state that allows this (e.g. claiming a task that
    /// another agent claimed first, or recording an attempt on an unclaimed task).
    #[error("callback task {task} is {status}: cannot {action}")]
    CallbackState {
        /// The task.
        task: i64,
        /// Its status.
        status: String,
        /// What was tried.
        action: &'static str,
    },
    /// No department has this code.
    #[error("department {0:?} not found")]
    DepartmentNotFound(String),
    /// The department exists but no longer takes cases.
    #[error("department {0:?} is not active")]
    DepartmentInactive(String),
    /// A department code is taken.
    #[error("department {0:?} already exists")]
    DepartmentExists(String),
    /// A department handler may only pass a case down to a unit below its own.
    #[error("department {department:?} is not below {current:?}")]
    NotInSubtree {
        /// The department asked for.
        department: String,
        /// The department holding the case.
        current: String,
    },
    /// Approving or refusing more time with no pending request.
    #[error("case {0} has no pending extension request")]
    NoPendingExtension(String),
    /// Asking for more time while a request is still pending.
    #[error("case {0} already has a pending extension request")]
    ExtensionPending(String),
    /// A user name is taken.
    #[error("user {0:?} already exists")]
    UserExists(String),
    /// No user has this id or name.
    #[error("user {0} not found")]
    UserNotFound(String),
    /// No recording has this id.
    #[error("recording {0} not found")]
    RecordingNotFound(RecordingId),
    /// A stored value is not one this version understands (e.g. a status written by a
    /// newer version, or a negative size).
    #[error("unexpected value in the database: {0}")]
    Corrupt(String),
}
