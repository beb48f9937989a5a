//! Deadlines in working days (工作日) on a zoned calendar. Pure: no clock reads, "now" is
//! always an argument.
//!
//! # The rules
//!
//! - **Working days.** Monday to Friday, except public holidays (法定节假日); Saturdays and
//!   Sundays are not, except the weekend days that are worked in exchange for a long
//!   holiday (调休上班, "workday swaps"). Both lists come from config and change every
//!   year (the State Council publishes them each autumn).
//! - **Local dates.** Which day something happened is decided on the hotline's local
//!   clock (Asia/Shanghai by default), never on UTC: a case dispatched at 00:30 in
//!   Shanghai belongs to that day, although it is still the day before in UTC.
//! - **Deadline of N working days** (办理时限): the end (23:59:59 local) of the Nth
//!   working day *after* the day of dispatch. The day of dispatch itself never counts,
//!   whatever the hour, so a case dispatched on a Friday evening with 3 working days is
//!   due at the end of Wednesday (Mon 1, Tue 2, Wed 3).
//! - **0 working days** (urgent, 当日办结 / 即时办理): the end of the day of dispatch if
//!   that is a working day, else the end of the next working day.
//! - **Overdue** (超期): strictly after the deadline.
//! - **Default time limits** ([`DeadlinePolicy`]): dispatched by phone 3 working days,
//!   in writing 7, urgent the same day; a category may set its own (not for urgent).
//!
//! Where a zone has daylight saving time, "23:59:59 local" that occurs twice means the
//! later one, and if it does not exist (a jump over midnight) the last second that does.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::lifecycle::DispatchMode;

/// The most working days a deadline may be counted over; larger requests are clamped
/// (a bad config value must not loop for ages or run off the end of the calendar).
pub const MAX_WORKING_DAYS: u32 = 3660;

/// Why a calendar's config was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A date is listed both as a holiday and as a worked weekend day.
    #[error("{0} is listed both as a holiday and as a workday swap")]
    HolidayAndSwap(NaiveDate),
    /// A workday swap (调休) that is not a Saturday or Sunday means nothing.
    #[error("workday swap {0} is a {1}, not a Saturday or Sunday")]
    SwapNotWeekend(NaiveDate, Weekday),
}

/// Which days are working days, in which time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    tz: Tz,
    holidays: BTreeSet<NaiveDate>,
    /// 调休: weekend dates that are worked.
    workday_swaps: BTreeSet<NaiveDate>,
}

impl WorkCalendar {
    /// A calendar for zone `tz` with the given public holidays and worked weekend days.
    /// Refuses a date that is both, and a "swap" that is not a Saturday or Sunday.
    pub fn from_config(
        tz: Tz,
        holidays: impl IntoIterator<Item = NaiveDate>,
        workday_swaps: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, CalendarError> {
        let holidays: BTreeSet<NaiveDate> = holidays.into_iter().collect();
        let workday_swaps: BTreeSet<NaiveDate> = workday_swaps.into_iter().collect();
        for &d in &workday_swaps {
            if holidays.contains(&d) {
                return Err(CalendarError::HolidayAndSwap(d));
            }
            if !is_weekend(d) {
                return Err(CalendarError::SwapNotWeekend(d, d.weekday()));
            }
        }
        Ok(WorkCalendar {
            tz,
            holidays,
            workday_swaps,
        })
    }

    /// A calendar with no holidays: Monday to Friday in zone `tz`.
    pub fn weekdays(tz: Tz) -> Self {
        WorkCalendar {
            tz,
            holidays: BTreeSet::new(),
            workday_swaps: BTreeSet::new(),
        }
    }

    /// The time zone local dates are taken in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The public holidays.
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    /// The weekend days that are worked (调休).
    pub fn workday_swaps(&self) -> &BTreeSet<NaiveDate> {
        &self.workday_swaps
    }

    /// Monday to Friday unless a holiday; Saturday and Sunday only if swapped.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.workday_swaps.contains(&date) {
            return true;
        }
        !is_weekend(date) && !self.holidays.contains(&date)
    }

    /// The local date of an instant, in this calendar's zone.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The first working day strictly after `date`.
    pub fn next_working_day(&self, date: NaiveDate) -> NaiveDate {
        let mut d = date;
        loop {
            d = next_day(d);
            if self.is_working_day(d) {
                return d;
            }
        }
    }

    /// The last second of a local day: 23:59:59 local, as an instant (see the module
    /// docs for days where daylight saving time moves the clock around midnight).
    pub fn end_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let last = date.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"));
        // Step back a minute at a time out of a gap; a gap is at most a few hours.
        for back in 0..=24 * 60 {
            let local = last - Duration::minutes(back);
            match self.tz.from_local_datetime(&local) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(_, later) => return later.with_timezone(&Utc),
                LocalResult::None => continue,
            }
        }
        // No zone skips a whole day around midnight; fall back to the UTC reading.
        Utc.from_utc_datetime(&last)
    }

    /// The deadline `days` working days after `from`: the end (23:59:59 local) of the
    /// `days`th working day after the local day of `from` (that day itself never
    /// counts). `0` is the end of that same day if it is a working day, else of the next
    /// working day. `days` is clamped to [`MAX_WORKING_DAYS`].
    pub fn add_working_days(&self, from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let start = self.local_date(from);
        let mut due = if days == 0 && self.is_working_day(start) {
            start
        } else {
            self.next_working_day(start)
        };
        for _ in 1..days.min(MAX_WORKING_DAYS) {
            due = self.next_working_day(due);
        }
        self.end_of_day(due)
    }

    /// The working days after the local day of `a` up to and including the local day of
    /// `b` (negative when `b` is earlier). So for `n ≥ 1`,
    /// `working_days_between(t, add_working_days(t, n)) == n`, and an overdue case's
    /// `working_days_between(deadline, now)` is how many working days late it is.
    pub fn working_days_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
        let (da, db) = (self.local_date(a), self.local_date(b));
        if db < da {
            return -self.working_days_between(b, a);
        }
        let mut n = 0;
        let mut d = da;
        while d < db {
            d = next_day(d);
            if self.is_working_day(d) {
                n += 1;
            }
        }
        n
    }

    /// Whether a case due at `deadline` is overdue (超期) at `now`: strictly after it.
    /// (It does not depend on the calendar; it lives here so the deadline rules are in
    /// one place.)
    pub fn is_overdue(&self, deadline: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now > deadline
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The next date; at the (unreachable in practice) end of chrono's range, the same date.
fn next_day(d: NaiveDate) -> NaiveDate {
    d.succ_opt().unwrap_or(d)
}

/// How many working days a department has to reply (办理时限), by dispatch mode and
/// case category. Deserializes from config; missing fields take the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlinePolicy {
    /// Dispatched by phone (电话转办): 3 working days.
    pub phone_days: u32,
    /// Dispatched in writing (书面转办): 7 working days.
    pub written_days: u32,
    /// Urgent (紧急): 0, the same working day.
    pub urgent_days: u32,
    /// Categories with their own limit (e.g. planning matters need longer), used for
    /// phone and written dispatch alike; urgent stays urgent.
    pub per_category: BTreeMap<String, u32>,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        DeadlinePolicy {
            phone_days: 3,
            written_days: 7,
            urgent_days: 0,
            per_category: BTreeMap::new(),
        }
    }
}

impl DeadlinePolicy {
    /// The working days for a case dispatched in `mode` with `category`: urgent is
    /// always [`urgent_days`](Self::urgent_days); otherwise the category's own limit if
    /// it has one, else the mode's.
    pub fn days_for(&self, mode: DispatchMode, category: Option<&str>) -> u32 {
        match mode {
            DispatchMode::Urgent => self.urgent_days,
            DispatchMode::Phone | DispatchMode::Written => {
                if let Some(&days) = category.and_then(|c| self.per_category.get(c)) {
                    return days;
                }
                match mode {
                    DispatchMode::Phone => self.phone_days,
                    _ => self.written_days,
                }
            }
        }
    }

    /// The deadline of a case dispatched at `at`: [`days_for`](Self::days_for) working
    /// days on `calendar`.
    pub fn deadline(
        &self,
        calendar: &WorkCalendar,
        at: DateTime<Utc>,
        mode: DispatchMode,
        category: Option<&str>,
    ) -> DateTime<Utc> {
        calendar.add_working_days(at, self.days_for(mode, category))
    }
}

#[cfg(test)]
mod tests;
