// The statements and logic shared by `sqlite/report.rs` and `postgres/report.rs`, included
// by both after their backend-specific header (types, locks, how transactions start).

use chrono::{DateTime, Utc};

use super::Backend;
use crate::error::CaseError;
use crate::report::{
    AgentEventFacts, AttemptFacts, CallFacts, CaseFacts, DayRows, EventFacts, MissedFacts,
    StatusFacts, AGENT_EVENTS_SQL, ATTEMPTS_SQL, CALLS_SQL, CASES_SQL, EVENTS_SQL, MISSED_SQL,
    RATES_SQL, STATUS_SQL, TASKS_SQL,
};

impl Backend {
    /// The calls, missed calls, cases, audit events, agent state changes and callback
    /// attempts and tasks of `[from, to)`, each agent's state at `from`, and the status
    /// changes before `to` of the cases that may have been overdue at `to`.
    pub(crate) async fn report_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<DayRows, CaseError> {
        let calls: Vec<CallFacts> = sqlx::query_as(CALLS_SQL)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        let missed: Vec<MissedFacts> = sqlx::query_as(MISSED_SQL)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        let cases: Vec<CaseFacts> = sqlx::query_as(CASES_SQL)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        let events: Vec<EventFacts> = sqlx::query_as(EVENTS_SQL)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        let statuses: Vec<StatusFacts> = sqlx::query_as(STATUS_SQL)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        let agent_events: Vec<AgentEventFacts> = sqlx::query_as(AGENT_EVENTS_SQL)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        let attempts: Vec<AttemptFacts> = sqlx::query_as(ATTEMPTS_SQL)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        let tasks_created: i64 = sqlx::query_scalar(TASKS_SQL)
            .bind(from)
            .bind(to)
            .fetch_one(&self.pool)
            .await?;
        Ok(DayRows {
            calls,
            missed,
            cases,
            events,
            statuses,
            agent_events,
            attempts,
            tasks_created,
        })
    }

    /// The replies and revisits of `[from, to)`, in time order (for the rates' trend).
    pub(crate) async fn rate_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<EventFacts>, CaseError> {
        Ok(sqlx::query_as(RATES_SQL)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?)
    }
}
