//! Figures: the queues' service level today, the daily report (每日一报) and the daily
//! rates over a span of days ([`crate::report`]).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::{Backend, CaseStore};
use crate::error::CaseError;
use crate::model::QueueStats;
use crate::report::{self, DailyReport};

impl CaseStore {
    /// Per queue (by name), the calls that entered it at or after `since` (the
    /// controller passes local midnight): offered, answered, answered within 15 s,
    /// abandoned, expired, turned away, still waiting, and wait times.
    pub async fn queue_stats(&self, since: DateTime<Utc>) -> Result<Vec<QueueStats>, CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.queue_stats(since).await,
            Backend::Postgres(b) => b.queue_stats(since).await,
        }
    }

    /// The daily report (每日一报) of local day `day` in `tz`, `[00:00, 24:00)`: calls
    /// (the day and each hour), agents, callbacks and work orders, with each figure's
    /// formula in [`DailyReport`]'s docs. For today, agents' state times run up to now.
    pub async fn daily_report(
        &self,
        day: NaiveDate,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<DailyReport, CaseError> {
        let bounds = report::day_bounds(day, tz);
        let rows = on_backend!(self, b => b.report_rows(bounds.0, bounds.1).await?);
        Ok(report::compute(day, tz, bounds, rows, now))
    }

    /// The 按时办结率 and 满意率 (with their counts) of each local day from `first` to
    /// `last` in `tz`, oldest first, one query for all of them: each day's figures are
    /// those of its [`DailyReport`]'s [`report::CaseFigures`]. Empty if `last` is before
    /// `first`.
    pub async fn daily_rates(
        &self,
        first: NaiveDate,
        last: NaiveDate,
        tz: Tz,
    ) -> Result<Vec<report::DayRates>, CaseError> {
        if last < first {
            return Ok(Vec::new());
        }
        let (from, _) = report::day_bounds(first, tz);
        let (_, to) = report::day_bounds(last, tz);
        let rows = on_backend!(self, b => b.rate_rows(from, to).await?);
        Ok(report::day_rates(first, last, tz, rows))
    }
}
