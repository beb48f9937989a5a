//! PostgreSQL: the security audit (see [`crate::security`]). The statements, the same text for
//! both backends, are in `twin/security.rs`, included below.

use chrono::{DateTime, Utc};

use super::PostgresBackend as Backend;
use crate::error::CaseError;
use crate::security::SecurityEvent;

include!("../twin/security.rs");
