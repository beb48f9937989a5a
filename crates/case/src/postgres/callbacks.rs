//! PostgreSQL: the callback worklist and the outbound calls made for it (see
//! [`crate::callback`]).
//!
//! Only what differs per backend is here (connection type, how transactions start, row
//! locks); the statements and logic, the same text for both (`$n` placeholders work on
//! both), are in `twin/callbacks.rs`, included below.

use chrono::{DateTime, Duration, Utc};
use sqlx::error::ErrorKind;
use sqlx::postgres::PgConnection as Conn;

use super::{insert_event, kind, PostgresBackend as Backend};
use crate::callback::{
    plan_attempt, CallbackAttempt, CallbackMode, CallbackReason, CallbackResult, CallbackStatus,
    CallbackTask, CallbackTaskId, NumberPolicy, TaskSpec, DEFAULT_PRIORITY,
};
use crate::error::CaseError;
use crate::lifecycle::{ActionKind, CaseState, TransitionError};
use crate::model::{CallId, CaseId, NewOutboundCall};
use crate::rows;

/// How a write transaction starts (READ COMMITTED; rows changed are locked first).
const BEGIN_WRITE: &str = "BEGIN";
/// Appended to a SELECT of a task row about to change: concurrent writers queue up.
const LOCK: &str = " FOR UPDATE OF t";
/// Appended to a SELECT of a case row whose state a write relies on (one writer at a time).
const LOCK_CASE: &str = " FOR NO KEY UPDATE";

include!("../twin/callbacks.rs");
