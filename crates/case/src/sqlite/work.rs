//! SQLite: departments, work-order fields and transitions, search, users and sessions.
//!
//! Only what differs per backend is here (connection type, how transactions start, row
//! locks); the statements and logic, the same text for both (`$n` placeholders work on
//! both), are in `twin/work.rs`, included below.

/// Appended to a [`CASE_SELECT`] that reads a case it will change (SQLite's
/// `BEGIN IMMEDIATE` already holds the write lock).
const LOCK_CASE: &str = "";

include!("../twin/work.rs");
