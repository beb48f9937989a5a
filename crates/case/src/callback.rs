//! Callback tasks: the database worklist of citizens the hotline owes a call.
//!
//! A task is created with the case's voicemail or callback request (same transaction,
//! [`CaseStore::mark_voicemail`](crate::CaseStore::mark_voicemail),
//! [`CaseStore::mark_callback_requested`](crate::CaseStore::mark_callback_requested)) or by
//! hand ([`CaseStore::create_callback_task`](crate::CaseStore::create_callback_task)).
//!
//! **Calling hours.** The store does not apply them: a task created at the end of a call
//! has `earliest_at` = the time it was marked, and the dialler (or whoever reads the
//! worklist) passes [`CallingHours::next_allowed`] of "now" as the worklist's `now`, or
//! reschedules. [`CallingHours`] is the pure helper for `[callbacks] calling_hours`.
//!
//! **Place.** Every task keeps `place_at`, the arrival time of the case's first call
//! (the case's creation time if it has no call): a caller who chose a callback instead of
//! waiting keeps their place. The worklist is ordered by priority (higher first), then
//! `place_at`, then id.
//!
//! Life of a task: `pending` → (claim) `in_progress` → (attempt) `done` if reached, else
//! `pending` again at `now + spacing`, or `failed` after `max_attempts`; `pending` or
//! `in_progress` can be rescheduled (→ `pending`) or skipped (→ `skipped`). A claim held
//! by a dialler that died with the process is given back at the next start
//! ([`CaseStore::release_callback_claims`](crate::CaseStore::release_callback_claims)).
//!
//! **Calls.** An attempt made by dialling out has a call row of its own
//! ([`CaseStore::open_outbound_call`](crate::CaseStore::open_outbound_call), direction
//! `outbound`, naming the task), which the attempt points at, so its recording is the
//! evidence of what the citizen said. A task's [`CallbackMode`] says whether an agent is
//! rung first or the IVR asks the revisit question itself
//! ([`CaseStore::revisit_by_phone`](crate::CaseStore::revisit_by_phone) records the
//! answer).

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::lifecycle::Action;
use crate::model::{CallId, CaseId};

pub mod number;
pub use number::{NumberPolicy, NumberProblem};

/// Why the citizen is to be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackReason {
    /// The caller left a voicemail.
    Voicemail,
    /// The caller chose to be called back instead of waiting.
    CallbackRequested,
    /// A revisit (回访) of a replied case.
    Revisit,
}

/// How a task is dialled. Kept on the task so that the dialler and the worklist agree on
/// who speaks first to the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackMode {
    /// Agent first: an agent's phone rings, and the citizen is dialled once the agent
    /// answers (voicemails, callback requests, revisits that need a conversation).
    Agent,
    /// The IVR dials the citizen itself and asks the survey question (automatic revisit,
    /// 自动回访): no agent's time is spent on the common "satisfied" answer.
    Auto,
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatus {
    /// Waiting to be claimed (due from `next_attempt_at`).
    Pending,
    /// Claimed by an agent who is calling.
    InProgress,
    /// The citizen was reached.
    Done,
    /// Every attempt failed.
    Failed,
    /// Skipped by staff.
    Skipped,
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackResult {
    /// The citizen answered.
    Reached,
    /// Nobody answered.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The call was rejected.
    Rejected,
    /// The number is not the citizen's.
    WrongNumber,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            /// The text stored in the database and shown in the API.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            /// The value of a stored or given text.
            #[allow(clippy::should_implement_trait)]
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(CallbackMode { Agent => "agent", Auto => "auto" });
text_enum!(CallbackReason { Voicemail => "voicemail", CallbackRequested => "callback_requested", Revisit => "revisit" });
text_enum!(CallbackStatus { Pending => "pending", InProgress => "in_progress", Done => "done", Failed => "failed", Skipped => "skipped" });
text_enum!(CallbackResult { Reached => "reached", NoAnswer => "no_answer", Busy => "busy", Rejected => "rejected", WrongNumber => "wrong_number" });

/// The id of a callback task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CallbackTaskId(pub i64);

impl std::fmt::Display for CallbackTaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One callback task, with its case's ticket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallbackTask {
    pub id: CallbackTaskId,
    pub case_id: CaseId,
    pub ticket: String,
    pub number: String,
    pub reason: CallbackReason,
    /// Agent first, or dialled by the IVR (automatic revisit).
    pub mode: CallbackMode,
    /// Higher first in the worklist.
    pub priority: i32,
    /// The arrival of the case's first call: the caller's place.
    pub place_at: DateTime<Utc>,
    pub earliest_at: DateTime<Utc>,
    pub status: CallbackStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    /// When the task is due (again).
    pub next_attempt_at: DateTime<Utc>,
    pub last_result: Option<CallbackResult>,
    /// The agent who claimed it last.
    pub agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why the number is not dialled (the task was made `failed` at once for a person to
    /// handle), e.g. "an international number".
    pub number_problem: Option<String>,
}

/// One attempt on a task, as [`CaseStore::callback_attempts`](crate::CaseStore::callback_attempts)
/// lists them: the history behind a task's `attempts` and `last_result`, for the agent
/// who calls next and for supervisors checking a failed task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallbackAttempt {
    /// When the attempt was recorded.
    pub at: DateTime<Utc>,
    /// How it ended.
    pub result: CallbackResult,
    /// Who made it (an agent's user name or extension, or `system` for the IVR).
    pub agent: String,
    /// What the caller noted, if anything.
    pub note: Option<String>,
    /// The outbound call it was made on; `None` when it was reported by hand.
    pub call: Option<CallId>,
}

/// Attempts of a task created with a voicemail or callback request.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Priority of a task created with a voicemail or callback request.
pub const DEFAULT_PRIORITY: i32 = 0;

/// A new task's settings.
pub(crate) struct TaskSpec<'a> {
    pub number: Option<&'a str>,
    /// Which numbers may be dialled: a task for any other is made `failed` at once.
    pub numbers: &'a NumberPolicy,
    pub reason: CallbackReason,
    pub mode: CallbackMode,
    pub priority: i32,
    pub earliest_at: DateTime<Utc>,
    pub max_attempts: u32,
}

impl<'a> TaskSpec<'a> {
    /// The task a voicemail or callback request at `at` owes: the case's number, due at
    /// once (calling hours are the dialler's, see [`crate::callback`]), default priority,
    /// `max_attempts` attempts.
    pub(crate) fn owed_for(
        action: &Action,
        max_attempts: u32,
        numbers: &'a NumberPolicy,
        at: DateTime<Utc>,
    ) -> Self {
        let reason = match action {
            Action::LeftVoicemail => CallbackReason::Voicemail,
            _ => CallbackReason::CallbackRequested,
        };
        TaskSpec {
            number: None,
            numbers,
            reason,
            // A voicemail or callback request needs a person to listen.
            mode: CallbackMode::Agent,
            priority: DEFAULT_PRIORITY,
            earliest_at: at,
            max_attempts,
        }
    }
}

/// What one attempt does to a task (pure; both backends apply it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttemptOutcome {
    pub status: CallbackStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
}

/// Attempt number `attempts + 1` ended with `result` at `now`: reached → `done`; else
/// `pending` again at `now + spacing`, or `failed` once `max_attempts` are used up.
pub(crate) fn plan_attempt(
    attempts: u32,
    max_attempts: u32,
    result: CallbackResult,
    now: DateTime<Utc>,
    spacing: Duration,
) -> AttemptOutcome {
    let attempts = attempts + 1;
    let (status, next) = if result == CallbackResult::Reached {
        (CallbackStatus::Done, now)
    } else if attempts >= max_attempts {
        (CallbackStatus::Failed, now)
    } else {
        (CallbackStatus::Pending, now + spacing)
    };
    AttemptOutcome {
        status,
        attempts,
        next_attempt_at: next,
    }
}

/// Daily calling hours in a time zone, e.g. `"08:00-21:00"` (`[callbacks] calling_hours`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallingHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl CallingHours {
    /// Parses `"HH:MM-HH:MM"` with start before end; `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.split_once('-')?;
        let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
        let end = NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
        (start < end).then_some(CallingHours { start, end })
    }

    /// `at` itself if it lies within the hours (local time in `tz`), else the next start
    /// of calling hours.
    pub fn next_allowed(&self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = at.with_timezone(&tz);
        let t = local.time();
        if t >= self.start && t < self.end {
            return at;
        }
        let day = if t < self.start {
            local.date_naive()
        } else {
            local.date_naive() + Duration::days(1)
        };
        let naive = day.and_time(self.start);
        tz.from_local_datetime(&naive)
            .earliest()
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calling_hours_next_allowed() {
        let h = CallingHours::parse("08:00-21:00").unwrap();
        let tz = chrono_tz::Asia::Shanghai;
        // 22:30 local (14:30 UTC) → next day 08:00 local (00:00 UTC).
        let late = Utc.with_ymd_and_hms(2026, 11, 21, 14, 30, 0).unwrap();
        assert_eq!(
            h.next_allowed(late, tz),
            Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap()
        );
        // 06:00 local (22:00 UTC the day before) → 08:00 local same day.
        let early = Utc.with_ymd_and_hms(2026, 11, 21, 22, 0, 0).unwrap();
        assert_eq!(
            h.next_allowed(early, tz),
            Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap()
        );
        let inside = Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap();
        assert_eq!(h.next_allowed(inside, tz), inside);
        assert!(CallingHours::parse("21:00-08:00").is_none());
        assert!(CallingHours::parse("8h-9h").is_none());
    }

    #[test]
    fn attempts_retry_then_fail() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap();
        let sp = Duration::minutes(30);
        let a = plan_attempt(0, 3, CallbackResult::NoAnswer, now, sp);
        assert_eq!(
            (a.status, a.attempts, a.next_attempt_at),
            (CallbackStatus::Pending, 1, now + sp)
        );
        let c = plan_attempt(2, 3, CallbackResult::Busy, now, sp);
        assert_eq!((c.status, c.attempts), (CallbackStatus::Failed, 3));
        let r = plan_attempt(2, 3, CallbackResult::Reached, now, sp);
        assert_eq!(r.status, CallbackStatus::Done);
    }
}
