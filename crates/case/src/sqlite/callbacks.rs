//! SQLite: the callback worklist and the outbound calls made for it (see [`crate::callback`]).
//!
//! Only what differs per backend is here (connection type, how transactions start, row
//! locks); the statements and logic, the same text for both (`$n` placeholders work on
//! both), are in `twin/callbacks.rs`, included below.

use chrono::{DateTime, Duration, Utc};
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteConnection as Conn;

use super::{insert_event, kind, SqliteBackend as Backend};
use crate::callback::{
    plan_attempt, CallbackAttempt, CallbackMode, CallbackReason, CallbackResult, CallbackStatus,
    CallbackTask, CallbackTaskId, NumberPolicy, TaskSpec, DEFAULT_PRIORITY,
};
use crate::error::CaseError;
use crate::lifecycle::{ActionKind, CaseState, TransitionError};
use crate::model::{CallId, CaseId, NewOutboundCall};
use crate::rows;

/// How a write transaction starts (SQLite: take the write lock at once).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// Appended to a SELECT of a row about to change (SQLite's write lock already covers it).
const LOCK: &str = "";
/// Appended to a SELECT of a case row about to be relied on (the write lock covers it).
const LOCK_CASE: &str = "";

include!("../twin/callbacks.rs");
