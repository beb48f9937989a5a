//! SQLite: start-up repairs after a crash (see `store/recovery.rs`). Only what differs per
//! backend is here (how transactions start, row locks); the statements, the same text for
//! both, are in `twin/recovery.rs`, included below.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{insert_event, SqliteBackend as Backend};
use crate::error::CaseError;
use crate::lifecycle::ActionKind;
use crate::model::{AcdResult, CallId, CaseId, NewRecording, RecordingId, RecordingKind};
use crate::store::recovery::CRASH_CAUSE;

/// How a write transaction starts (SQLite: take the write lock at once).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// Appended to a SELECT of a call row about to be relied on (the write lock covers it).
const LOCK: &str = "";
/// Appended to the SELECT of the open calls about to be closed (the write lock covers them).
const LOCK_CALLS: &str = "";

include!("../twin/recovery.rs");
