//! SQLite: the agent desk's figures (see [`crate::store`]'s `agent_answered_between`). The
//! statements, the same text for both backends, are in `twin/desk.rs`, included below.

use chrono::{DateTime, Utc};

use super::SqliteBackend as Backend;
use crate::error::CaseError;
use crate::store::AgentTally;

include!("../twin/desk.rs");
