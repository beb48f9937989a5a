//! SQLite: the agent desk's figures (see [`crate::store`]'s `agent_answered_between`). The
//! statements, the same text for both backends, are in `twin/desk.rs`, included below.

include!("../twin/desk.rs");
