//! The daily report (每日一报): what the hotline did on one local day, as raw counts and
//! the rates and averages derived from them, each figure's formula in its doc comment.
//!
//! # The call figures, defined once
//!
//! Offered, answered, abandoned (and within 5 s), missed, 接通率 and service level are
//! defined in one place, [`CallTally`]: every table of the report (the day, each local
//! hour) and the wallboard's per-queue figures of [`crate::CaseStore::queue_stats`]
//! (`GET /api/queues`, `hotline status`) count calls with it, so a figure of the same
//! name means the same thing everywhere. (`GET /api/status` counts SIP INVITEs, refused
//! ones included, as `invites`: not a call figure.) In short:
//!
//! - **offered** = calls that asked for an agent (entered an ACD queue) + missed calls
//!   (the caller hung up while the hotline was still ringing, before the switch
//!   answered: a citizen who dialled 12345 and reached nobody);
//! - every offered call has exactly one outcome: `offered = answered + abandoned +
//!   expired + turned_away + left_for_callback + waiting + missed`;
//! - **接通率** (answer rate) = `answered / offered`; **service level** =
//!   `answered_within_15s / offered`: one denominator for both, and missed calls are
//!   in it because they are in `offered`;
//! - calls the switch answered that never asked for an agent (IVR self-service such as a
//!   status query, a hang-up in the greeting or menu, a voicemail outside staffed hours)
//!   are **received** but not offered: they are nobody's to answer.
//!
//! Per queue a missed call counts nowhere (it never reached a queue), so the queues'
//! `offered` add up to the day's `offered − missed`, which the report shows as
//! [`CallFigures::queued`].
//!
//! # How it is computed
//!
//! The day is the local day `[00:00, 24:00)` in the given time zone, turned into a UTC
//! range `[from, to)`. Each backend only *selects the day's rows* by that range (the
//! statements below, the same text on SQLite and PostgreSQL); every count, rate and
//! average is then computed here in Rust, so both backends give identical figures.
//! A day's volume (thousands of calls) is small enough to load.
//!
//! Which time places a row in the day:
//!
//! - a call: when it **arrived** (`calls.arrived_at`), so a call arriving at 23:59:50 and
//!   answered at 00:00:05 counts on the day it arrived; inbound calls for the call
//!   figures, inbound and outbound (callbacks) for the agents' calls; the hour table
//!   uses the local hour of arrival;
//! - a missed call: when it arrived (`missed_calls.arrived_at`);
//! - a case: when it was opened (`cases.created_at`), if it is a work order (not
//!   `no_request`: a call that asked for nothing is not one);
//! - dispatches, replies, urges, redos, revisits, voicemails, callback requests, survey
//!   answers and callback task outcomes: the time of their audit event
//!   (`case_events.at`), so a case counts on each day something happened to it, and past
//!   days' figures do not move later;
//! - callback attempts: `callback_attempts.at`; callback tasks created:
//!   `callback_tasks.created_at`;
//! - agents' state times: the part of each state (from `agent_events`) that falls in the
//!   day, up to now for today.
//!
//! Work-order results are counted **per case** (12345 offices report cases, not events):
//! a case replied twice in a day is resolved once, and a case revisited twice counts the
//! latest verdict of the day. The event counts are kept beside them under their own
//! names ([`CaseFigures::reply_events`], [`CaseFigures::revisit_events`]).
//!
//! Rates are `Option<f64>`: `None` when the denominator is 0, else rounded to 4 decimals
//! (half away from zero). Averages are whole milliseconds, rounded the same way.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::lifecycle::{ActionKind, CaseState, Satisfaction};
use crate::model::{QueueStats, SERVICE_LEVEL_WAIT_MS};

/// An abandoned call that waited at most this long (5 s) is a short abandon: the caller
/// hung up almost at once, which says little about the service.
pub const SHORT_ABANDON_MS: i64 = 5_000;

/// The offered calls of some set (a day, an hour, a queue) by outcome: **the** definition
/// of the call figures, used by the daily report and by the wallboard's queue figures.
/// Add each call that reached the hotline with [`CallTally::add_call`] or
/// [`CallTally::add_missed`]; calls that never asked for an agent are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallTally {
    /// Offered: calls that asked for an agent (entered an ACD queue: `queued_at` set,
    /// including those turned away at once) plus missed calls. Equals the sum of the
    /// outcomes below, each call counted in exactly one.
    pub offered: i64,
    /// Answered by an agent: `acd_result = answered`.
    pub answered: i64,
    /// Abandoned in the queue: the caller hung up waiting, `acd_result = abandoned`.
    pub abandoned: i64,
    /// Reached the queue's maximum wait: `acd_result = expired`.
    pub expired: i64,
    /// Turned away at once: `acd_result` `queue_full` or `no_agents`.
    pub turned_away: i64,
    /// Left the queue choosing a callback: `acd_result = callback_requested`.
    pub left_for_callback: i64,
    /// Still waiting (queued, no result yet).
    pub waiting: i64,
    /// Missed: the caller hung up while the hotline was ringing, before the switch
    /// answered (a row of `missed_calls`; no queue, no case).
    pub missed: i64,
    /// Answered within 15 s: answered with `wait_ms ≤ 15000` ([`SERVICE_LEVEL_WAIT_MS`]);
    /// part of [`CallTally::answered`].
    pub answered_within_15s: i64,
    /// Short abandons: abandoned with `wait_ms ≤ 5000` ([`SHORT_ABANDON_MS`]); part of
    /// [`CallTally::abandoned`], and not taken out of any denominator.
    pub abandoned_within_5s: i64,
}

impl CallTally {
    /// Counts one call answered by the switch: `queued` says whether it asked for an agent
    /// (else it is not offered and changes nothing), `acd_result` and `wait_ms` are the
    /// call row's. An unknown result counts as still waiting.
    pub fn add_call(&mut self, queued: bool, acd_result: Option<&str>, wait_ms: Option<i64>) {
        if !queued {
            return;
        }
        self.offered += 1;
        let within = |limit: i64| wait_ms.is_some_and(|w| w <= limit);
        match acd_result {
            Some("answered") => {
                self.answered += 1;
                if within(SERVICE_LEVEL_WAIT_MS as i64) {
                    self.answered_within_15s += 1;
                }
            }
            Some("abandoned") => {
                self.abandoned += 1;
                if within(SHORT_ABANDON_MS) {
                    self.abandoned_within_5s += 1;
                }
            }
            Some("expired") => self.expired += 1,
            Some("queue_full" | "no_agents") => self.turned_away += 1,
            Some("callback_requested") => self.left_for_callback += 1,
            _ => self.waiting += 1,
        }
    }

    /// Counts one missed call (offered, never answered by the switch).
    pub fn add_missed(&mut self) {
        self.offered += 1;
        self.missed += 1;
    }

    /// 接通率, answer rate = `answered / offered`. Missed calls and short abandons count
    /// against it (a citizen dialled 12345 and reached nobody).
    pub fn answer_rate(&self) -> Option<f64> {
        ratio(self.answered, self.offered)
    }

    /// Service level = `answered_within_15s / offered` (the same denominator as the
    /// answer rate).
    pub fn service_level(&self) -> Option<f64> {
        ratio(self.answered_within_15s, self.offered)
    }
}

/// One local day's report. See the module docs for which time places a row in the day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyReport {
    /// The local day reported.
    pub day: NaiveDate,
    /// The time zone the day is local to (IANA name, e.g. `Asia/Shanghai`).
    pub time_zone: String,
    /// Start of the day (local 00:00), UTC; included.
    pub from: DateTime<Utc>,
    /// End of the day (local 24:00, the next day's 00:00), UTC; excluded.
    pub to: DateTime<Utc>,
    /// Calls and the ACD.
    pub calls: CallFigures,
    /// The call figures per local hour of arrival, hours 0 to 23 (all 24, in order).
    pub hours: Vec<HourFigures>,
    /// Per agent who had a call or a state change that day, by extension.
    pub agents: Vec<AgentFigures>,
    /// The callback worklist's outcomes.
    pub callbacks: CallbackFigures,
    /// Work orders.
    pub cases: CaseFigures,
}

/// The day's calls. Raw counts first, then the figures derived from them. The ACD
/// figures are those of [`CallTally`] over the day's calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallFigures {
    /// Received: every inbound call that reached the hotline's number = calls the switch
    /// answered + [`CallFigures::missed`].
    pub received: i64,
    /// Calls the switch answered that never asked for an agent (IVR self-service, a
    /// hang-up in the greeting or menu, voicemail outside staffed hours):
    /// `received − offered`.
    pub ivr_only: i64,
    /// Offered ([`CallTally::offered`]): asked for an agent + missed.
    pub offered: i64,
    /// Entered an ACD queue: `offered − missed` (the sum of the queues' `offered`).
    pub queued: i64,
    /// [`CallTally::answered`].
    pub answered: i64,
    /// [`CallTally::answered_within_15s`].
    pub answered_within_15s: i64,
    /// [`CallTally::abandoned`].
    pub abandoned: i64,
    /// [`CallTally::abandoned_within_5s`].
    pub abandoned_within_5s: i64,
    /// [`CallTally::expired`].
    pub expired: i64,
    /// [`CallTally::turned_away`].
    pub turned_away: i64,
    /// [`CallTally::left_for_callback`].
    pub left_for_callback: i64,
    /// [`CallTally::waiting`].
    pub waiting: i64,
    /// [`CallTally::missed`].
    pub missed: i64,
    /// Voicemails left: audit events `voicemail`.
    pub voicemails: i64,
    /// Callbacks requested: audit events `callback_requested`.
    pub callbacks_requested: i64,
    /// Answered calls whose talk and wrap-up have both ended (`talk_ms` and `wrap_up_ms`
    /// known): the denominator of [`CallFigures::avg_handling_time_ms`].
    pub handled: i64,
    /// 接通率 = `answered / offered` ([`CallTally::answer_rate`]).
    pub answer_rate: Option<f64>,
    /// Service level = `answered_within_15s / offered` ([`CallTally::service_level`]).
    pub service_level: Option<f64>,
    /// Average speed of answer (ms) = mean `wait_ms` of the answered calls (wait from
    /// first queuing to the agent's answer).
    pub avg_speed_of_answer_ms: Option<i64>,
    /// Average handling time (ms) = mean `talk_ms + wrap_up_ms` of the
    /// [`CallFigures::handled`] calls.
    pub avg_handling_time_ms: Option<i64>,
}

/// The calls of one local hour (by arrival), counted as [`CallTally`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HourFigures {
    /// The local hour, 0 to 23 (`9` is 09:00–09:59).
    pub hour: u32,
    /// [`CallTally::offered`].
    pub offered: i64,
    /// [`CallTally::answered`].
    pub answered: i64,
    /// [`CallTally::abandoned`].
    pub abandoned: i64,
    /// [`CallTally::missed`] (part of `offered`).
    pub missed: i64,
}

/// One agent's day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentFigures {
    /// The agent's extension.
    pub agent: String,
    /// Calls the agent talked on: call rows of the day naming the agent with
    /// `agent_answered_at` set (inbound calls answered from the queue, and outbound
    /// callbacks).
    pub calls: i64,
    /// Of [`AgentFigures::calls`], the inbound ones (the ACD's `answered`).
    pub inbound: i64,
    /// Talk time (ms): the sum of those calls' `talk_ms` (ended calls).
    pub talk_ms: i64,
    /// Wrap-up time (ms): the sum of those calls' `wrap_up_ms` (finished wrap-ups).
    pub wrap_up_ms: i64,
    /// Logged-in time (ms): time in any state but `logged_out` (from `agent_events`).
    pub logged_in_ms: i64,
    /// Ready time (ms): time in `ready`, waiting for a call.
    pub ready_ms: i64,
    /// Not-ready time (ms): time in `not_ready` (breaks, a missed ring…).
    pub not_ready_ms: i64,
    /// Busy time (ms): time in `offered` (ringing), `on_call` and `wrap_up`.
    pub busy_ms: i64,
    /// Occupancy = `busy_ms / (logged_in_ms − not_ready_ms)`: the share of the time the
    /// agent was available for calls that went to calls (ringing, talking, wrap-up).
    pub occupancy: Option<f64>,
}

/// The callback worklist's day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallbackFigures {
    /// Tasks created (`callback_tasks.created_at` in the day): voicemails, callback
    /// requests, revisits.
    pub tasks_created: i64,
    /// Attempts made (`callback_attempts.at` in the day).
    pub attempts: i64,
    /// Those attempts by result (`reached`, `no_answer`, `busy`, `rejected`,
    /// `wrong_number`).
    pub attempts_by_result: BTreeMap<String, i64>,
    /// Tasks done: the citizen was reached (attempts `reached`; a task is reached once).
    pub tasks_done: i64,
    /// Tasks failed after their last attempt: audit events `callback_failed`.
    pub tasks_failed: i64,
    /// Tasks failed at once because the number may not be dialled (never attempted):
    /// audit events `callback_uncallable`.
    pub tasks_uncallable: i64,
    /// Tasks skipped by staff or because the case no longer needs them: audit events
    /// `callback_skipped`.
    pub tasks_skipped: i64,
}

/// The day's work orders. Raw counts first, then the figures derived from them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseFigures {
    /// Cases registered (受理): work orders opened in the day (`cases.created_at`; a call
    /// that made no request, `no_request`, is not a work order).
    pub registered: i64,
    /// Registered cases by category (`consult`, `complaint`…; `uncategorized` when the
    /// agent set none). Sums to [`CaseFigures::registered`].
    pub by_category: BTreeMap<String, i64>,
    /// Registered cases by channel (`phone`, `voicemail`, `callback`, `web`). Sums to
    /// [`CaseFigures::registered`].
    pub by_channel: BTreeMap<String, i64>,
    /// Per department (承办单位) with a dispatch, a reply or an overdue case in the day,
    /// by code: the [`CaseFigures::dispatched`], [`CaseFigures::resolved`],
    /// [`CaseFigures::resolved_on_time`] and [`CaseFigures::overdue`] cases that are
    /// now at it. A case counts for its **current** department (as for its deadline: a
    /// case redispatched since counts for where it went), the department itself, not
    /// its parent. Dispatched, resolved and overdue each add up to the day's figure.
    pub by_department: Vec<DepartmentFigures>,
    /// Dispatched (转办): audit events `dispatched` (first dispatches; redispatches and
    /// redos are not counted again).
    pub dispatched: i64,
    /// Resolved (办结): cases with at least one reply (audit event `replied`) in the day,
    /// each counted once however often it replied.
    pub resolved: i64,
    /// Of the resolved cases, those whose latest reply of the day was at or before the
    /// case's deadline. The deadline is the case's current one, which is the one the
    /// reply answered unless the case has been redone since (a redo starts a new
    /// deadline; the audit trail does not keep the old).
    pub resolved_on_time: i64,
    /// Reply events: audit events `replied` (a case replied twice counts twice here, once
    /// in [`CaseFigures::resolved`]).
    pub reply_events: i64,
    /// Overdue at the end of the day: cases held by a department at local 24:00 (their
    /// last status change before then led to `dispatched`, `accepted` or `redo`) whose
    /// deadline is before 24:00. Uses the case's current deadline, as above.
    pub overdue: i64,
    /// Urged (催办): audit events `urged`.
    pub urged: i64,
    /// Redone (重办): audit events `redo`.
    pub redone: i64,
    /// Revisited (回访): cases revisited in the day (audit events `revisited`), each
    /// counted once.
    pub revisited: i64,
    /// The verdicts of the revisited cases: per case, the **latest** revisit of the day
    /// (an unsatisfied case redone and then found satisfied counts as satisfied).
    pub revisit_verdicts: Verdicts,
    /// Revisit events: audit events `revisited` (every revisit of every case).
    pub revisit_events: i64,
    /// The verdicts of every revisit event (one per event).
    pub revisit_event_verdicts: Verdicts,
    /// The answers to the phone survey after talking to an agent (audit events
    /// `satisfaction`, one per call). They judge the call, not the case's result, so
    /// they are kept apart from [`CaseFigures::satisfaction_rate`].
    pub survey_verdicts: Verdicts,
    /// 按时办结率, on-time rate = `resolved_on_time / resolved` (cases).
    pub on_time_rate: Option<f64>,
    /// 回访率, revisit rate = `revisited / resolved`, cases of the day (revisits usually
    /// follow replies of earlier days, so a day's rate can exceed 1).
    pub revisit_rate: Option<f64>,
    /// 满意率, satisfaction rate = `(satisfied + mostly_satisfied) / (satisfied +
    /// mostly_satisfied + unsatisfied)` of [`CaseFigures::revisit_verdicts`]: over the
    /// revisited cases with an answer, the latest verdict of each.
    pub satisfaction_rate: Option<f64>,
    /// The phone survey's rate, same formula over [`CaseFigures::survey_verdicts`].
    pub survey_satisfaction_rate: Option<f64>,
}

/// One department's part of the day's work orders ([`CaseFigures::by_department`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepartmentFigures {
    /// The department's code.
    pub department: String,
    /// Its name.
    pub name: String,
    /// Dispatch events of the day of the cases now at it.
    pub dispatched: i64,
    /// Resolved cases of the day now at it.
    pub resolved: i64,
    /// Of those, resolved on time.
    pub resolved_on_time: i64,
    /// Overdue cases at the end of the day held by it.
    pub overdue: i64,
    /// 按时办结率 = `resolved_on_time / resolved`.
    pub on_time_rate: Option<f64>,
}

/// One day's 按时办结率 and 满意率, for a trend over many days
/// ([`crate::CaseStore::daily_rates`]): the same figures, by the same rules, as the day's
/// [`DailyReport`] has in [`CaseFigures`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DayRates {
    /// The local day.
    pub day: NaiveDate,
    /// [`CaseFigures::resolved`].
    pub resolved: i64,
    /// [`CaseFigures::resolved_on_time`].
    pub resolved_on_time: i64,
    /// [`CaseFigures::on_time_rate`].
    pub on_time_rate: Option<f64>,
    /// [`CaseFigures::revisited`].
    pub revisited: i64,
    /// [`CaseFigures::revisit_verdicts`].
    pub revisit_verdicts: Verdicts,
    /// [`CaseFigures::satisfaction_rate`].
    pub satisfaction_rate: Option<f64>,
}

/// Counts of the three satisfaction answers (满意 / 基本满意 / 不满意).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Verdicts {
    /// 满意.
    pub satisfied: i64,
    /// 基本满意.
    pub mostly_satisfied: i64,
    /// 不满意.
    pub unsatisfied: i64,
}

impl Verdicts {
    /// `(satisfied + mostly_satisfied) / (satisfied + mostly_satisfied + unsatisfied)`.
    pub fn rate(&self) -> Option<f64> {
        let content = self.satisfied + self.mostly_satisfied;
        ratio(content, content + self.unsatisfied)
    }

    fn add(&mut self, s: Satisfaction) {
        match s {
            Satisfaction::Satisfied => self.satisfied += 1,
            Satisfaction::MostlySatisfied => self.mostly_satisfied += 1,
            Satisfaction::Unsatisfied => self.unsatisfied += 1,
        }
    }
}

/// `num / den` rounded to 4 decimals; `None` when `den` is 0.
pub(crate) fn ratio(num: i64, den: i64) -> Option<f64> {
    (den != 0).then(|| round4(num as f64 / den as f64))
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The mean, rounded to a whole number (half away from zero); `None` for no values.
fn mean(values: &[i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let sum: i64 = values.iter().sum();
    Some((sum as f64 / values.len() as f64).round() as i64)
}

/// The UTC range `[from, to)` of local day `day` in `tz`. A midnight that does not exist
/// (a daylight-saving gap) is taken as the first local time after it that does.
pub(crate) fn day_bounds(day: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |d: NaiveDate| {
        let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        (0..=24 * 4)
            .find_map(|q| {
                tz.from_local_datetime(&(midnight + chrono::Duration::minutes(15 * q)))
                    .earliest()
            })
            .expect("a local day has some valid time")
            .with_timezone(&Utc)
    };
    let next = day.succ_opt().expect("day before the end of time");
    (start(day), start(next))
}

// ----- The day's rows, as both backends select them -----

/// Calls (inbound and outbound) that arrived in `[$1, $2)`.
pub(crate) const CALLS_SQL: &str = "SELECT direction, arrived_at, queued_at, acd_result, \
     wait_ms, agent, agent_answered_at, talk_ms, wrap_up_ms \
     FROM calls WHERE arrived_at >= $1 AND arrived_at < $2";

/// Missed calls that arrived in `[$1, $2)`.
pub(crate) const MISSED_SQL: &str =
    "SELECT arrived_at FROM missed_calls WHERE arrived_at >= $1 AND arrived_at < $2";

/// Work orders opened in `[$1, $2)` (not the calls that made no request).
pub(crate) const CASES_SQL: &str = "SELECT category, channel FROM cases \
     WHERE created_at >= $1 AND created_at < $2 AND status <> 'no_request'";

/// The audit events in `[$1, $2)` the report counts, with their case's deadline, in the
/// order they happened.
pub(crate) const EVENTS_SQL: &str = "SELECT e.case_id, e.event, e.at, e.note, c.deadline, \
       d.code AS department, d.name AS department_name \
     FROM case_events e JOIN cases c ON c.id = e.case_id \
       LEFT JOIN departments d ON d.id = c.department_id \
     WHERE e.at >= $1 AND e.at < $2 AND e.event IN ('dispatched', 'replied', 'urged', \
       'redo', 'revisited', 'voicemail', 'callback_requested', 'satisfaction', \
       'callback_failed', 'callback_uncallable', 'callback_skipped') \
     ORDER BY e.at, e.id";

/// For each case that may have been overdue at `$1` — a deadline before it, and held by
/// a department now or changed since `$1` — its status changes before `$1`, in order.
/// The cases are found first, by `status` and by `updated_at` (both indexed), then their
/// events: never every event before `$1` (SQLite would otherwise walk `case_events_at`).
pub(crate) const STATUS_SQL: &str = "SELECT e.case_id, e.to_status, \
       d.code AS department, d.name AS department_name \
     FROM case_events e JOIN cases c ON c.id = e.case_id \
       LEFT JOIN departments d ON d.id = c.department_id \
     WHERE c.id IN (SELECT id FROM cases \
           WHERE status IN ('dispatched', 'accepted', 'redo') AND deadline < $1 \
         UNION SELECT id FROM cases WHERE updated_at >= $1 AND deadline < $1) \
       AND e.to_status IS NOT NULL AND e.at < $1 \
     ORDER BY e.case_id, e.at, e.id";

/// The agents' state changes in `[$1, $2)`, and each agent's last one before `$1` (the
/// state it was in at 00:00: the latest by time, then id), in order. The last one is
/// looked up once per agent (index `agent_events_extension_at`), not once per state
/// change ever made.
pub(crate) const AGENT_EVENTS_SQL: &str = "SELECT extension, at, to_state FROM ( \
       SELECT e.extension, e.at, e.to_state, e.id \
       FROM agent_events e WHERE e.at >= $1 AND e.at < $2 \
       UNION ALL SELECT e.extension, e.at, e.to_state, e.id \
       FROM agent_events e WHERE e.id IN (SELECT (SELECT p.id FROM agent_events p \
         WHERE p.extension = a.extension AND p.at < $1 ORDER BY p.at DESC, p.id DESC LIMIT 1) \
         FROM agents a)) day \
     ORDER BY extension, at, id";

/// The replies and revisits in `[$1, $2)` (the rates' events over many days), with
/// their case's deadline, in the order they happened: [`EVENTS_SQL`] narrowed to them.
pub(crate) const RATES_SQL: &str = "SELECT e.case_id, e.event, e.at, e.note, c.deadline, \
       CAST(NULL AS TEXT) AS department, CAST(NULL AS TEXT) AS department_name \
     FROM case_events e JOIN cases c ON c.id = e.case_id \
     WHERE e.at >= $1 AND e.at < $2 AND e.event IN ('replied', 'revisited') \
     ORDER BY e.at, e.id";

/// Callback attempts made in `[$1, $2)`.
pub(crate) const ATTEMPTS_SQL: &str =
    "SELECT result FROM callback_attempts WHERE at >= $1 AND at < $2";

/// Callback tasks created in `[$1, $2)`.
pub(crate) const TASKS_SQL: &str =
    "SELECT COUNT(*) FROM callback_tasks WHERE created_at >= $1 AND created_at < $2";

/// A call of the day.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CallFacts {
    pub direction: String,
    pub arrived_at: DateTime<Utc>,
    pub queued_at: Option<DateTime<Utc>>,
    pub acd_result: Option<String>,
    pub wait_ms: Option<i64>,
    pub agent: Option<String>,
    pub agent_answered_at: Option<DateTime<Utc>>,
    pub talk_ms: Option<i64>,
    pub wrap_up_ms: Option<i64>,
}

/// A missed call of the day.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MissedFacts {
    pub arrived_at: DateTime<Utc>,
}

/// A case registered that day.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CaseFacts {
    pub category: Option<String>,
    pub channel: String,
}

/// An audit event of the day, with its case's current deadline.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventFacts {
    pub case_id: i64,
    pub event: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// The case's current department (code, name).
    pub department: Option<String>,
    pub department_name: Option<String>,
}

/// A status change of a case that may have been overdue.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StatusFacts {
    pub case_id: i64,
    pub to_status: String,
    /// The case's current department (code, name).
    pub department: Option<String>,
    pub department_name: Option<String>,
}

/// An agent's state change.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AgentEventFacts {
    pub extension: String,
    pub at: DateTime<Utc>,
    pub to_state: String,
}

/// A callback attempt of the day.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AttemptFacts {
    pub result: String,
}

/// Everything a backend selects for one day.
#[derive(Debug)]
pub(crate) struct DayRows {
    pub calls: Vec<CallFacts>,
    pub missed: Vec<MissedFacts>,
    pub cases: Vec<CaseFacts>,
    pub events: Vec<EventFacts>,
    pub statuses: Vec<StatusFacts>,
    pub agent_events: Vec<AgentEventFacts>,
    pub attempts: Vec<AttemptFacts>,
    pub tasks_created: i64,
}

/// The report from the day's rows: every formula of [`DailyReport`] is applied here.
/// State times of agents still in a state run up to `now` (or 24:00 if earlier).
pub(crate) fn compute(
    day: NaiveDate,
    tz: Tz,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    rows: DayRows,
    now: DateTime<Utc>,
) -> DailyReport {
    DailyReport {
        day,
        time_zone: tz.name().to_owned(),
        from,
        to,
        calls: call_figures(&rows),
        hours: hour_figures(&rows, tz),
        agents: agent_figures(&rows, from, to.min(now)),
        callbacks: callback_figures(&rows),
        cases: case_figures(&rows),
    }
}

fn count_events(rows: &DayRows, kind: ActionKind) -> i64 {
    count_named(rows, kind.event())
}

fn count_named(rows: &DayRows, name: &str) -> i64 {
    rows.events.iter().filter(|e| e.event == name).count() as i64
}

fn inbound(rows: &DayRows) -> impl Iterator<Item = &CallFacts> {
    rows.calls.iter().filter(|c| c.direction == "inbound")
}

fn tally_call(t: &mut CallTally, c: &CallFacts) {
    t.add_call(c.queued_at.is_some(), c.acd_result.as_deref(), c.wait_ms);
}

fn call_figures(rows: &DayRows) -> CallFigures {
    let mut t = CallTally::default();
    for c in inbound(rows) {
        tally_call(&mut t, c);
    }
    for _ in &rows.missed {
        t.add_missed();
    }
    let answered: Vec<&CallFacts> = inbound(rows)
        .filter(|c| c.queued_at.is_some() && c.acd_result.as_deref() == Some("answered"))
        .collect();
    let waits: Vec<i64> = answered.iter().filter_map(|c| c.wait_ms).collect();
    let handling: Vec<i64> = answered
        .iter()
        .filter_map(|c| Some(c.talk_ms? + c.wrap_up_ms?))
        .collect();
    let received = inbound(rows).count() as i64 + t.missed;
    CallFigures {
        received,
        ivr_only: received - t.offered,
        offered: t.offered,
        queued: t.offered - t.missed,
        answered: t.answered,
        answered_within_15s: t.answered_within_15s,
        abandoned: t.abandoned,
        abandoned_within_5s: t.abandoned_within_5s,
        expired: t.expired,
        turned_away: t.turned_away,
        left_for_callback: t.left_for_callback,
        waiting: t.waiting,
        missed: t.missed,
        voicemails: count_events(rows, ActionKind::LeftVoicemail),
        callbacks_requested: count_events(rows, ActionKind::RequestCallback),
        handled: handling.len() as i64,
        answer_rate: t.answer_rate(),
        service_level: t.service_level(),
        avg_speed_of_answer_ms: mean(&waits),
        avg_handling_time_ms: mean(&handling),
    }
}

fn hour_figures(rows: &DayRows, tz: Tz) -> Vec<HourFigures> {
    let mut hours = [CallTally::default(); 24];
    let hour = |at: &DateTime<Utc>| at.with_timezone(&tz).hour() as usize;
    for c in inbound(rows) {
        tally_call(&mut hours[hour(&c.arrived_at)], c);
    }
    for m in &rows.missed {
        hours[hour(&m.arrived_at)].add_missed();
    }
    hours
        .iter()
        .zip(0..)
        .map(|(t, hour)| HourFigures {
            hour,
            offered: t.offered,
            answered: t.answered,
            abandoned: t.abandoned,
            missed: t.missed,
        })
        .collect()
}

#[derive(Default)]
struct AgentTimes {
    calls: i64,
    inbound: i64,
    talk_ms: i64,
    wrap_up_ms: i64,
    logged_in_ms: i64,
    ready_ms: i64,
    not_ready_ms: i64,
    busy_ms: i64,
}

/// Per agent: calls from the call rows, state times by replaying `agent_events` over
/// `[from, end)`.
fn agent_figures(rows: &DayRows, from: DateTime<Utc>, end: DateTime<Utc>) -> Vec<AgentFigures> {
    let mut agents: BTreeMap<&str, AgentTimes> = BTreeMap::new();
    for c in &rows.calls {
        let (Some(agent), Some(_)) = (c.agent.as_deref(), c.agent_answered_at) else {
            continue;
        };
        let a = agents.entry(agent).or_default();
        a.calls += 1;
        if c.direction == "inbound" {
            a.inbound += 1;
        }
        a.talk_ms += c.talk_ms.unwrap_or(0);
        a.wrap_up_ms += c.wrap_up_ms.unwrap_or(0);
    }
    // Rows come ordered by agent, then time; the first of an agent may be before `from`.
    let mut i = 0;
    let evs = &rows.agent_events;
    while i < evs.len() {
        let ext = evs[i].extension.as_str();
        let n = evs[i..].iter().take_while(|e| e.extension == ext).count();
        let a = agents.entry(ext).or_default();
        for (k, e) in evs[i..i + n].iter().enumerate() {
            let start = e.at.max(from);
            let stop = evs[i..i + n]
                .get(k + 1)
                .map_or(end, |next| next.at.min(end))
                .max(start);
            let ms = (stop - start).num_milliseconds();
            match e.to_state.as_str() {
                "logged_out" => continue,
                "ready" => a.ready_ms += ms,
                "not_ready" => a.not_ready_ms += ms,
                "offered" | "on_call" | "wrap_up" => a.busy_ms += ms,
                _ => {}
            }
            a.logged_in_ms += ms;
        }
        i += n;
    }
    agents
        .into_iter()
        // An agent logged out all day (its last change before 00:00 was a log-out).
        .filter(|(_, a)| a.calls > 0 || a.logged_in_ms > 0)
        .map(|(agent, a)| AgentFigures {
            agent: agent.to_owned(),
            calls: a.calls,
            inbound: a.inbound,
            talk_ms: a.talk_ms,
            wrap_up_ms: a.wrap_up_ms,
            logged_in_ms: a.logged_in_ms,
            ready_ms: a.ready_ms,
            not_ready_ms: a.not_ready_ms,
            busy_ms: a.busy_ms,
            occupancy: ratio(a.busy_ms, a.logged_in_ms - a.not_ready_ms),
        })
        .collect()
}

fn callback_figures(rows: &DayRows) -> CallbackFigures {
    let mut attempts_by_result = BTreeMap::new();
    for a in &rows.attempts {
        *attempts_by_result.entry(a.result.clone()).or_insert(0) += 1;
    }
    CallbackFigures {
        tasks_created: rows.tasks_created,
        attempts: rows.attempts.len() as i64,
        tasks_done: attempts_by_result.get("reached").copied().unwrap_or(0),
        attempts_by_result,
        tasks_failed: count_named(rows, "callback_failed"),
        tasks_uncallable: count_named(rows, "callback_uncallable"),
        tasks_skipped: count_named(rows, "callback_skipped"),
    }
}

/// The survey's label (`1 satisfied`…) or the revisit's note (`satisfied`…, possibly
/// followed by more, as `unsatisfied — at the automatic revisit; evidence: …`): the first
/// word, a score or a verdict's name.
fn parse_verdict(note: &str) -> Option<Satisfaction> {
    let first = note.split_whitespace().next()?;
    [
        Satisfaction::Satisfied,
        Satisfaction::MostlySatisfied,
        Satisfaction::Unsatisfied,
    ]
    .into_iter()
    .find(|s| s.as_str() == first || s.score().to_string() == first)
}

fn verdicts<'a>(events: impl Iterator<Item = &'a EventFacts>) -> Verdicts {
    let mut v = Verdicts::default();
    events
        .filter_map(|e| parse_verdict(e.note.as_deref()?))
        .for_each(|s| v.add(s));
    v
}

/// The latest event named `name` of each case (events come in time order).
fn latest_per_case<'a>(
    events: impl IntoIterator<Item = &'a EventFacts>,
    name: &str,
) -> BTreeMap<i64, &'a EventFacts> {
    let mut latest = BTreeMap::new();
    for e in events.into_iter().filter(|e| e.event == name) {
        latest.insert(e.case_id, e);
    }
    latest
}

/// Whether a reply was at or before its case's deadline.
fn on_time(reply: &EventFacts) -> bool {
    reply.deadline.is_some_and(|d| reply.at <= d)
}

/// The resolved cases (the latest reply of each) and the revisited ones (the latest
/// revisit of each) among one day's events.
struct Results<'a> {
    replies: BTreeMap<i64, &'a EventFacts>,
    revisits: BTreeMap<i64, &'a EventFacts>,
}

impl<'a> Results<'a> {
    fn of(events: &'a [EventFacts]) -> Self {
        Results {
            replies: latest_per_case(events, ActionKind::Reply.event()),
            revisits: latest_per_case(events, ActionKind::Revisit.event()),
        }
    }

    fn resolved_on_time(&self) -> i64 {
        self.replies.values().filter(|e| on_time(e)).count() as i64
    }

    fn revisit_verdicts(&self) -> Verdicts {
        verdicts(self.revisits.values().copied())
    }
}

/// The 按时办结率 and 满意率 of each day from `first` to `last` (local to `tz`), from the
/// replies and revisits of `[first's 00:00, the day after last's 00:00)` in time order
/// ([`RATES_SQL`]): the same rules as [`case_figures`].
pub(crate) fn day_rates(
    first: NaiveDate,
    last: NaiveDate,
    tz: Tz,
    events: Vec<EventFacts>,
) -> Vec<DayRates> {
    let mut out = Vec::new();
    let mut rest = events.as_slice();
    for day in first.iter_days().take_while(|d| *d <= last) {
        let (_, to) = day_bounds(day, tz);
        let n = rest.iter().take_while(|e| e.at < to).count();
        let (today, later) = rest.split_at(n);
        rest = later;
        let r = Results::of(today);
        let resolved = r.replies.len() as i64;
        let resolved_on_time = r.resolved_on_time();
        let revisit_verdicts = r.revisit_verdicts();
        out.push(DayRates {
            day,
            resolved,
            resolved_on_time,
            on_time_rate: ratio(resolved_on_time, resolved),
            revisited: r.revisits.len() as i64,
            revisit_verdicts,
            satisfaction_rate: revisit_verdicts.rate(),
        });
    }
    out
}

#[derive(Default)]
struct DepartmentTally {
    name: String,
    dispatched: i64,
    resolved: i64,
    resolved_on_time: i64,
    overdue: i64,
}

/// The tally of department `code` (named `name`), if the case has one.
fn department<'r, 'm>(
    map: &'m mut BTreeMap<&'r str, DepartmentTally>,
    code: &'r Option<String>,
    name: &Option<String>,
) -> Option<&'m mut DepartmentTally> {
    let code = code.as_deref()?;
    Some(map.entry(code).or_insert_with(|| DepartmentTally {
        name: name.clone().unwrap_or_default(),
        ..DepartmentTally::default()
    }))
}

fn case_figures(rows: &DayRows) -> CaseFigures {
    let mut by_category = BTreeMap::new();
    let mut by_channel = BTreeMap::new();
    for c in &rows.cases {
        let cat = c.category.as_deref().unwrap_or("uncategorized");
        *by_category.entry(cat.to_owned()).or_insert(0) += 1;
        *by_channel.entry(c.channel.clone()).or_insert(0) += 1;
    }
    let results = Results::of(&rows.events);
    let resolved = results.replies.len() as i64;
    let resolved_on_time = results.resolved_on_time();

    // The last status change before 24:00 of each candidate (rows come ordered).
    let mut last: BTreeMap<i64, &StatusFacts> = BTreeMap::new();
    for s in &rows.statuses {
        last.insert(s.case_id, s);
    }
    let held = [CaseState::Dispatched, CaseState::Accepted, CaseState::Redo];
    let overdue_cases: Vec<&StatusFacts> = last
        .values()
        .filter(|s| held.iter().any(|h| h.as_str() == s.to_status))
        .copied()
        .collect();

    let mut departments: BTreeMap<&str, DepartmentTally> = BTreeMap::new();
    let dispatch = ActionKind::Dispatch.event();
    for e in rows.events.iter().filter(|e| e.event == dispatch) {
        if let Some(t) = department(&mut departments, &e.department, &e.department_name) {
            t.dispatched += 1;
        }
    }
    for e in results.replies.values() {
        if let Some(t) = department(&mut departments, &e.department, &e.department_name) {
            t.resolved += 1;
            t.resolved_on_time += i64::from(on_time(e));
        }
    }
    for s in &overdue_cases {
        if let Some(t) = department(&mut departments, &s.department, &s.department_name) {
            t.overdue += 1;
        }
    }
    let by_department = departments
        .into_iter()
        .map(|(code, t)| DepartmentFigures {
            department: code.to_owned(),
            name: t.name,
            dispatched: t.dispatched,
            resolved: t.resolved,
            resolved_on_time: t.resolved_on_time,
            overdue: t.overdue,
            on_time_rate: ratio(t.resolved_on_time, t.resolved),
        })
        .collect();
    let revisit = ActionKind::Revisit.event();
    let revisit_verdicts = results.revisit_verdicts();
    let survey_verdicts = verdicts(rows.events.iter().filter(|e| e.event == "satisfaction"));
    let revisited = results.revisits.len() as i64;
    CaseFigures {
        registered: rows.cases.len() as i64,
        by_category,
        by_channel,
        by_department,
        dispatched: count_events(rows, ActionKind::Dispatch),
        resolved,
        resolved_on_time,
        reply_events: count_named(rows, ActionKind::Reply.event()),
        overdue: overdue_cases.len() as i64,
        urged: count_events(rows, ActionKind::Urge),
        redone: count_events(rows, ActionKind::Redo),
        revisited,
        revisit_verdicts,
        revisit_events: count_named(rows, revisit),
        revisit_event_verdicts: verdicts(rows.events.iter().filter(|e| e.event == revisit)),
        survey_verdicts,
        on_time_rate: ratio(resolved_on_time, resolved),
        revisit_rate: ratio(revisited, resolved),
        satisfaction_rate: revisit_verdicts.rate(),
        survey_satisfaction_rate: survey_verdicts.rate(),
    }
}

// ----- The wallboard's queues -----

/// The calls that entered a queue at or after `$1` (for the wallboard's "today").
pub(crate) const QUEUE_CALLS_SQL: &str = "SELECT queue, acd_result, wait_ms FROM calls \
     WHERE queue IS NOT NULL AND queued_at >= $1";

/// A call that entered a queue.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct QueueCallFacts {
    pub queue: String,
    pub acd_result: Option<String>,
    pub wait_ms: Option<i64>,
}

/// Per queue (by name, in byte order), its calls counted by [`CallTally`] — the same
/// definitions as the daily report's (a missed call reached no queue, so a queue's
/// `offered` is its queued calls) — with turned-away calls split into `queue_full` and
/// `no_agents`, and the waits: the mean of every known wait, the mean wait of the
/// answered calls, the longest wait.
pub(crate) fn queue_stats(rows: Vec<QueueCallFacts>) -> Vec<QueueStats> {
    #[derive(Default)]
    struct Queue {
        tally: CallTally,
        queue_full: i64,
        waits: Vec<i64>,
        answer_waits: Vec<i64>,
    }
    let mut queues: BTreeMap<String, Queue> = BTreeMap::new();
    for c in rows {
        let result = c.acd_result.as_deref();
        let q = queues.entry(c.queue).or_default();
        q.tally.add_call(true, result, c.wait_ms);
        if result == Some("queue_full") {
            q.queue_full += 1;
        }
        if let Some(w) = c.wait_ms {
            q.waits.push(w);
            if result == Some("answered") {
                q.answer_waits.push(w);
            }
        }
    }
    let n = |v: i64| v.max(0) as u64;
    queues
        .into_iter()
        .map(|(queue, q)| {
            let t = q.tally;
            QueueStats {
                queue,
                offered: n(t.offered),
                answered: n(t.answered),
                answered_within_15s: n(t.answered_within_15s),
                abandoned: n(t.abandoned),
                expired: n(t.expired),
                queue_full: n(q.queue_full),
                no_agents: n(t.turned_away - q.queue_full),
                callback_requested: n(t.left_for_callback),
                waiting: n(t.waiting),
                avg_wait_ms: mean(&q.waits).map(n),
                avg_answer_ms: mean(&q.answer_waits).map(n),
                max_wait_ms: q.waits.iter().max().copied().map(n),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn verdicts_are_read_from_survey_labels_and_revisit_notes() {
        use super::parse_verdict;
        use crate::lifecycle::Satisfaction::*;
        assert_eq!(parse_verdict("1 satisfied"), Some(Satisfied));
        assert_eq!(parse_verdict("2 mostly satisfied"), Some(MostlySatisfied));
        assert_eq!(parse_verdict("mostly_satisfied"), Some(MostlySatisfied));
        assert_eq!(
            parse_verdict("unsatisfied — at the automatic revisit; evidence: recording 4 (a.wav)"),
            Some(Unsatisfied)
        );
        assert_eq!(parse_verdict(""), None);
        assert_eq!(parse_verdict("4 what"), None);
    }

    use super::*;

    #[test]
    fn report_ratio_rounds_to_four_decimals_and_is_none_without_denominator() {
        assert_eq!(ratio(2, 3), Some(0.6667));
        assert_eq!(ratio(1, 8), Some(0.125));
        assert_eq!(ratio(0, 0), None);
        assert_eq!(mean(&[1, 2]), Some(2));
        assert_eq!(mean(&[]), None);
    }

    #[test]
    fn report_day_bounds_are_local_midnights() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let (from, to) = day_bounds(d, chrono_tz::Asia::Shanghai);
        assert_eq!(from.to_rfc3339(), "2026-03-09T16:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-03-10T16:00:00+00:00");
        // São Paulo skipped 2018-11-04 00:00 (clocks went to 01:00).
        let d = NaiveDate::from_ymd_opt(2018, 11, 4).unwrap();
        let (from, to) = day_bounds(d, chrono_tz::America::Sao_Paulo);
        assert_eq!(from.to_rfc3339(), "2018-11-04T03:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2018-11-05T02:00:00+00:00");
    }

    #[test]
    fn report_verdicts_parse_survey_labels_and_revisit_notes() {
        assert_eq!(parse_verdict("1 satisfied"), Some(Satisfaction::Satisfied));
        assert_eq!(
            parse_verdict("2 mostly satisfied"),
            Some(Satisfaction::MostlySatisfied)
        );
        assert_eq!(
            parse_verdict("unsatisfied"),
            Some(Satisfaction::Unsatisfied)
        );
        assert_eq!(
            parse_verdict("mostly_satisfied"),
            Some(Satisfaction::MostlySatisfied)
        );
        assert_eq!(parse_verdict("9 maybe"), None);
    }
}
