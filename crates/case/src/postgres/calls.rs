//! PostgreSQL: the call path's writer (group commit, see [`crate::writer`]).
//!
//! Only what differs per backend is here; the writer task and its statements are in
//! `twin/calls.rs`, included below.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use sqlx::postgres::{PgConnectOptions as Options, PgConnection as Conn};
use sqlx::{Connection, Postgres as Db, QueryBuilder};

use super::{insert_event, kind, ACD_COLUMNS, SYSTEM_ACTOR};
use crate::acd::AcdStep;
use crate::error::CaseError;
use crate::model::{
    CallId, CaseId, CaseStatus, Channel, Direction, NewCall, NewRecording, OpenedCall, RecordingId,
};
use crate::rows::AcdState;
use crate::ticket;
use crate::writer::{Done, Job, Outcome, OwnedAgentEvent, Queue, Write};

/// READ COMMITTED; what the batch changes it locks row by row.
const BEGIN_WRITE: &str = "BEGIN";
/// Appended to the read of a call row about to change: another writer of the same row
/// (the crash recovery of this node) queues up instead of acting on the old row.
const LOCK_CALL: &str = " FOR NO KEY UPDATE";

include!("../twin/calls.rs");
