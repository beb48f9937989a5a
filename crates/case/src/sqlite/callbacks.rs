//! SQLite: the callback worklist (see [`crate::callback`]).
//!
//! Only what differs per backend is here (connection type, how transactions start, row
//! locks); the statements and logic, the same text for both (`$n` placeholders work on
//! both), are in `twin/callbacks.rs`, included below.

use chrono::{DateTime, Duration, Utc};
use sqlx::sqlite::SqliteConnection as Conn;

use super::{insert_event, SqliteBackend as Backend};
use crate::callback::{
    plan_attempt, CallbackReason, CallbackResult, CallbackStatus, CallbackTask, CallbackTaskId,
    TaskSpec,
};
use crate::error::CaseError;
use crate::model::CaseId;

/// How a write transaction starts (SQLite: take the write lock at once).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// Appended to a SELECT of a row about to change (SQLite's write lock already covers it).
const LOCK: &str = "";

include!("../twin/callbacks.rs");
