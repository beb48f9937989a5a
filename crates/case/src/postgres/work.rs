//! PostgreSQL: departments, work-order fields and transitions, search, users and
//!
//! Only what differs per backend is here (connection type, how transactions start, row
//! locks); the statements and logic, the same text for both (`$n` placeholders work on
//! both), are in `twin/work.rs`, included below.

/// Appended to a [`CASE_SELECT`] that reads a case it will change: concurrent writers of
/// the same case queue up instead of acting on the same old row.
const LOCK_CASE: &str = " FOR NO KEY UPDATE OF c";

include!("../twin/work.rs");
