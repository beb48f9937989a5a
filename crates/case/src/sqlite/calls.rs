//! SQLite: the call path's writer (group commit, see [`crate::writer`]).
//!
//! Only what differs per backend is here; the writer task and its statements are in
//! `twin/calls.rs`, included below.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use sqlx::sqlite::{SqliteConnectOptions as Options, SqliteConnection as Conn};
use sqlx::{Connection, QueryBuilder, Sqlite as Db};

use super::{insert_event, kind, ACD_COLUMNS, SYSTEM_ACTOR};
use crate::acd::AcdStep;
use crate::error::CaseError;
use crate::model::{
    CallId, CaseId, CaseStatus, Channel, Direction, NewCall, NewRecording, OpenedCall, RecordingId,
};
use crate::rows::AcdState;
use crate::ticket;
use crate::writer::{Done, Job, Outcome, OwnedAgentEvent, Queue, Write};

/// Takes the write lock at once: the batch is all writes.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// Appended to the read of a call row about to change (`BEGIN IMMEDIATE` already holds
/// the write lock).
const LOCK_CALL: &str = "";

include!("../twin/calls.rs");
