//! PostgreSQL: start-up repairs after a crash (see `store/recovery.rs`). Only what differs
//! per backend is here (how transactions start, row locks); the statements, the same text
//! for both, are in `twin/recovery.rs`, included below.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{insert_event, PostgresBackend as Backend};
use crate::error::CaseError;
use crate::lifecycle::ActionKind;
use crate::model::{AcdResult, CallId, CaseId, NewRecording, RecordingId, RecordingKind};
use crate::store::recovery::CRASH_CAUSE;

/// How a write transaction starts (READ COMMITTED; rows relied on are locked first).
const BEGIN_WRITE: &str = "BEGIN";
/// Appended to a SELECT of a call row about to be relied on: its case cannot change.
const LOCK: &str = " FOR SHARE";
/// Appended to the SELECT of the open calls about to be closed: one closer at a time.
const LOCK_CALLS: &str = " FOR NO KEY UPDATE OF c";

include!("../twin/recovery.rs");
