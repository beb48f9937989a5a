//! SQLite: the call path's writer (group commit, see [`crate::writer`]).
//!
//! Only what differs per backend is here; the writer task and its statements are in
//! `twin/calls.rs`, included below.

use sqlx::sqlite::SqliteConnectOptions as Options;

/// Appended to the read of a call row about to change (`BEGIN IMMEDIATE` already holds
/// the write lock).
const LOCK_CALL: &str = "";

include!("../twin/calls.rs");
