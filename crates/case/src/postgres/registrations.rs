//! PostgreSQL: softphone registrations (see [`crate::registration`]). The statements, the same
//! text for both backends, are in `twin/registrations.rs`, included below.

use chrono::{DateTime, Utc};

use super::PostgresBackend as Backend;
use crate::error::CaseError;
use crate::registration::StoredBinding;

include!("../twin/registrations.rs");
