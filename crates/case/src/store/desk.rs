//! What the agent desk shows of an agent's own work (calls today, talk time).

use chrono::{DateTime, Utc};

use super::{Backend, CaseStore};
use crate::error::CaseError;

/// An agent's answered calls over a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentTally {
    /// Calls the agent answered (counted when answered).
    pub answered: u64,
    /// Their talk time so far (calls still up count from when they end).
    pub talk_ms: u64,
}

impl CaseStore {
    /// The calls agent `ext` answered from `from` (inclusive) to `to` (exclusive).
    pub async fn agent_answered_between(
        &self,
        ext: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<AgentTally, CaseError> {
        on_backend!(self, b => b.agent_answered_between(ext, from, to).await)
    }
}
