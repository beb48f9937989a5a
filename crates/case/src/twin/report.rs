// The statements and logic shared by `sqlite/report.rs` and `postgres/report.rs`, included
// by both after their backend-specific header (types, locks, how transactions start).

use crate::error::CaseError;
use crate::report::{
    CallFacts, CaseFacts, DayRows, EventFacts, StatusFacts, CALLS_SQL, CASES_SQL, EVENTS_SQL,
    MISSED_SQL, STATUS_SQL,
};

impl Backend {
    /// The calls, missed calls, cases and audit events of `[from, to)`, and the status
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
        let missed: i64 = sqlx::query_scalar(MISSED_SQL)
            .bind(from)
            .bind(to)
            .fetch_one(&self.pool)
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
        Ok(DayRows {
            calls,
            missed,
            cases,
            events,
            statuses,
        })
    }
}
