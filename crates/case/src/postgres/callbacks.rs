//! PostgreSQL: the callback worklist (see [`crate::callback`]).
//!
//! Only what differs per backend is here (connection type, how transactions start, row
//! locks); the statements and logic, the same text for both (`$n` placeholders work on
//! both), are in `twin/callbacks.rs`, included below.

use chrono::{DateTime, Duration, Utc};
use sqlx::postgres::PgConnection as Conn;

use super::{insert_event, PostgresBackend as Backend};
use crate::callback::{
    plan_attempt, CallbackReason, CallbackResult, CallbackStatus, CallbackTask, CallbackTaskId,
    TaskSpec,
};
use crate::error::CaseError;
use crate::model::CaseId;

/// How a write transaction starts (READ COMMITTED; rows changed are locked first).
const BEGIN_WRITE: &str = "BEGIN";
/// Appended to a SELECT of a task row about to change: concurrent writers queue up.
const LOCK: &str = " FOR UPDATE OF t";

include!("../twin/callbacks.rs");
