//! PostgreSQL: start-up repairs after a crash (see `store/recovery.rs`). Only what differs
//! per backend is here (how transactions start, row locks); the statements, the same text
//! for both, are in `twin/recovery.rs`, included below.

/// Appended to a SELECT of a call row about to be relied on: its case cannot change.
const LOCK: &str = " FOR SHARE";
/// Appended to the SELECT of the open calls about to be closed: one closer at a time.
const LOCK_CALLS: &str = " FOR NO KEY UPDATE OF c";

include!("../twin/recovery.rs");
