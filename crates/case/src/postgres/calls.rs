//! PostgreSQL: the call path's writer (group commit, see [`crate::writer`]).
//!
//! Only what differs per backend is here; the writer task and its statements are in
//! `twin/calls.rs`, included below.

use sqlx::postgres::PgConnectOptions as Options;

/// Appended to the read of a call row about to change: another writer of the same row
/// (the crash recovery of this node) queues up instead of acting on the old row.
const LOCK_CALL: &str = " FOR NO KEY UPDATE";

include!("../twin/calls.rs");
