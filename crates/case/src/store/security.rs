//! The security audit on the store (see [`crate::security`]).

use super::{search_limit, Backend, CaseStore};
use crate::error::CaseError;
use crate::security::SecurityEvent;

impl CaseStore {
    /// Appends a security event; returns its id.
    pub async fn record_security_event(&self, e: &SecurityEvent) -> Result<i64, CaseError> {
        on_backend!(self, b => b.record_security_event(e).await)
    }

    /// The latest security events, newest first, at most `limit` (0: 100).
    pub async fn security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, CaseError> {
        on_backend!(self, b => b.security_events(search_limit(limit)).await)
    }
}
