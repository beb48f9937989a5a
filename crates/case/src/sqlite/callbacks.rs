//! SQLite: the callback worklist and the outbound calls made for it (see [`crate::callback`]).
//!
//! Only what differs per backend is here (connection type, how transactions start, row
//! locks); the statements and logic, the same text for both (`$n` placeholders work on
//! both), are in `twin/callbacks.rs`, included below.

/// Appended to a SELECT of a row about to change (SQLite's write lock already covers it).
const LOCK: &str = "";
/// Appended to a SELECT of a case row about to be relied on (the write lock covers it).
const LOCK_CASE: &str = "";

include!("../twin/callbacks.rs");
