//! Softphone registrations on the store (see [`crate::registration`]).

use chrono::{DateTime, Utc};

use super::{Backend, CaseStore};
use crate::error::CaseError;
use crate::registration::StoredBinding;

impl CaseStore {
    /// Replaces the stored bindings of `extension` by `bindings` (none: it unregistered).
    pub async fn save_registrations(
        &self,
        extension: &str,
        bindings: &[StoredBinding],
    ) -> Result<(), CaseError> {
        on_backend!(self, b => b.save_registrations(extension, bindings).await)
    }

    /// Every stored binding that has not lapsed at `now`, by extension.
    pub async fn live_registrations(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredBinding>, CaseError> {
        on_backend!(self, b => b.live_registrations(now).await)
    }
}
