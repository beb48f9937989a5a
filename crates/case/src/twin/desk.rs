// The agent desk's own figures, shared by `sqlite/desk.rs` and `postgres/desk.rs`
// (included after their backend-specific header).

use chrono::{DateTime, Utc};

use super::Backend;
use crate::error::CaseError;
use crate::store::AgentTally;

impl Backend {
    pub(crate) async fn agent_answered_between(
        &self,
        agent: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<AgentTally, CaseError> {
        let (answered, talk_ms): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(talk_ms), 0) AS BIGINT) FROM calls \
             WHERE agent = $1 AND agent_answered_at >= $2 AND agent_answered_at < $3",
        )
        .bind(agent)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        Ok(AgentTally {
            answered: answered.max(0) as u64,
            talk_ms: talk_ms.max(0) as u64,
        })
    }
}
