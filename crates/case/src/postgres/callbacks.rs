//! PostgreSQL: the callback worklist and the outbound calls made for it (see
//! [`crate::callback`]).
//!
//! Only what differs per backend is here (connection type, how transactions start, row
//! locks); the statements and logic, the same text for both (`$n` placeholders work on
//! both), are in `twin/callbacks.rs`, included below.

/// Appended to a SELECT of a task row about to change: concurrent writers queue up.
const LOCK: &str = " FOR UPDATE OF t";
/// Appended to a SELECT of a case row whose state a write relies on (one writer at a time).
const LOCK_CASE: &str = " FOR NO KEY UPDATE";

include!("../twin/callbacks.rs");
