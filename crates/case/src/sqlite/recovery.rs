//! SQLite: start-up repairs after a crash (see `store/recovery.rs`). Only what differs per
//! backend is here (how transactions start, row locks); the statements, the same text for
//! both, are in `twin/recovery.rs`, included below.

/// Appended to a SELECT of a call row about to be relied on (the write lock covers it).
const LOCK: &str = "";
/// Appended to the SELECT of the open calls about to be closed (the write lock covers them).
const LOCK_CALLS: &str = "";

include!("../twin/recovery.rs");
