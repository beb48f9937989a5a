//! The daily report (每日一报): what the hotline did on one local day, as raw counts and
//! the rates and averages derived from them, each figure's formula in its doc comment.
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
//!   answered at 00:00:05 counts on the day it arrived; inbound calls only;
//! - a missed call: when it arrived (`missed_calls.arrived_at`);
//! - a case: when it was registered (`cases.created_at`);
//! - dispatches, replies, urges, redos, revisits, voicemails, callback requests and survey
//!   answers: the time of their audit event (`case_events.at`), so a case counts on each
//!   day something happened to it, and past days' figures do not move later.
//!
//! Rates are `Option<f64>`: `None` when the denominator is 0, else rounded to 4 decimals
//! (half away from zero). Averages are whole milliseconds, rounded the same way (as
//! [`crate::CaseStore::queue_stats`] does).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::lifecycle::{ActionKind, CaseState, Satisfaction};
use crate::model::SERVICE_LEVEL_WAIT_MS;

/// An abandoned call that waited at most this long (5 s) is a short abandon: the caller
/// hung up almost at once, which says little about the service.
pub const SHORT_ABANDON_MS: i64 = 5_000;

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
    /// Work orders.
    pub cases: CaseFigures,
}

/// The day's calls. Raw counts first, then the figures derived from them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallFigures {
    /// Calls offered: inbound calls that arrived and were answered by the switch (each
    /// has a case). Calls that hung up before that are [`CallFigures::missed`].
    pub offered: i64,
    /// Calls that asked for an agent: offered calls that entered an ACD queue
    /// (`queued_at` set), including those turned away at once (`queue_full`,
    /// `no_agents`) — they asked; not having an agent for them is the hotline's failure.
    /// Calls handled by the IVR alone or sent to voicemail outside staffed hours never
    /// asked.
    pub asked_for_agent: i64,
    /// Answered by an agent: `acd_result = answered`.
    pub answered: i64,
    /// Answered within 15 s: answered with `wait_ms ≤ 15000` ([`SERVICE_LEVEL_WAIT_MS`]).
    pub answered_within_15s: i64,
    /// Abandoned in the queue: `acd_result = abandoned`.
    pub abandoned: i64,
    /// Short abandons: abandoned with `wait_ms ≤ 5000` ([`SHORT_ABANDON_MS`]); part of
    /// [`CallFigures::abandoned`], and not taken out of any denominator.
    pub abandoned_within_5s: i64,
    /// Reached the maximum wait in the queue: `acd_result = expired`.
    pub expired: i64,
    /// Turned away at once: `acd_result` `queue_full` or `no_agents`.
    pub turned_away: i64,
    /// Left the queue choosing a callback: `acd_result = callback_requested`.
    pub left_for_callback: i64,
    /// Missed calls: rows of `missed_calls` (the caller hung up before the switch
    /// answered; no case was opened).
    pub missed: i64,
    /// Voicemails left: audit events `voicemail`.
    pub voicemails: i64,
    /// Callbacks requested: audit events `callback_requested`.
    pub callbacks_requested: i64,
    /// Answered calls whose talk and wrap-up have both ended (`talk_ms` and `wrap_up_ms`
    /// known): the denominator of [`CallFigures::avg_handling_time_ms`].
    pub handled: i64,
    /// 接通率, answer rate = `answered / (asked_for_agent + missed)`. Missed calls count
    /// against it (a citizen dialled 12345 and reached nobody), as the `missed_calls`
    /// table promises; short abandons are not excused.
    pub answer_rate: Option<f64>,
    /// Service level = `answered_within_15s / asked_for_agent` (the wallboard's
    /// figure, over the same calls as [`crate::CaseStore::queue_stats`]).
    pub service_level: Option<f64>,
    /// Average speed of answer (ms) = mean `wait_ms` of the answered calls (wait from
    /// first queuing to the agent's answer).
    pub avg_speed_of_answer_ms: Option<i64>,
    /// Average handling time (ms) = mean `talk_ms + wrap_up_ms` of the
    /// [`CallFigures::handled`] calls.
    pub avg_handling_time_ms: Option<i64>,
}

/// The day's work orders. Raw counts first, then the figures derived from them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseFigures {
    /// Cases registered (受理): `cases.created_at` in the day.
    pub registered: i64,
    /// Registered cases by category (`consult`, `complaint`…; `uncategorized` when the
    /// agent set none). Sums to [`CaseFigures::registered`].
    pub by_category: BTreeMap<String, i64>,
    /// Registered cases by channel (`phone`, `voicemail`, `callback`, `web`). Sums to
    /// [`CaseFigures::registered`].
    pub by_channel: BTreeMap<String, i64>,
    /// Dispatched (转办): audit events `dispatched` (first dispatches; redispatches and
    /// redos are not counted again).
    pub dispatched: i64,
    /// Resolved (办结): audit events `replied`. A redone case that replies again counts
    /// again on the day of that reply.
    pub resolved: i64,
    /// Resolved on time: replies at or before the case's deadline. The deadline is the
    /// case's current one, which is the one the reply answered unless the case has been
    /// redone since (a redo starts a new deadline; the audit trail does not keep the old).
    pub resolved_on_time: i64,
    /// Overdue at the end of the day: cases held by a department at local 24:00 (their
    /// last status change before then led to `dispatched`, `accepted` or `redo`) whose
    /// deadline is before 24:00. Uses the case's current deadline, as above.
    pub overdue: i64,
    /// Urged (催办): audit events `urged`.
    pub urged: i64,
    /// Redone (重办): audit events `redo`.
    pub redone: i64,
    /// Revisited (回访): audit events `revisited`.
    pub revisited: i64,
    /// The verdicts given at those revisits (each revisit records one).
    pub revisit_verdicts: Verdicts,
    /// The answers to the phone survey after talking to an agent (audit events
    /// `satisfaction`). They judge the call, not the case's result, so they are kept
    /// apart from [`CaseFigures::satisfaction_rate`].
    pub survey_verdicts: Verdicts,
    /// 按时办结率, on-time rate = `resolved_on_time / resolved`.
    pub on_time_rate: Option<f64>,
    /// 回访率, revisit rate = `revisited / resolved`, both of the day (revisits usually
    /// follow replies of earlier days, so a day's rate can exceed 1).
    pub revisit_rate: Option<f64>,
    /// 满意率, satisfaction rate = `(satisfied + mostly_satisfied) / (satisfied +
    /// mostly_satisfied + unsatisfied)` of [`CaseFigures::revisit_verdicts`], i.e. over
    /// the revisits with an answer.
    pub satisfaction_rate: Option<f64>,
    /// The phone survey's rate, same formula over [`CaseFigures::survey_verdicts`].
    pub survey_satisfaction_rate: Option<f64>,
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

/// Inbound calls that arrived in `[$1, $2)`.
pub(crate) const CALLS_SQL: &str = "SELECT queued_at, acd_result, wait_ms, talk_ms, wrap_up_ms \
     FROM calls WHERE direction = 'inbound' AND arrived_at >= $1 AND arrived_at < $2";

/// Missed calls that arrived in `[$1, $2)`.
pub(crate) const MISSED_SQL: &str =
    "SELECT COUNT(*) FROM missed_calls WHERE arrived_at >= $1 AND arrived_at < $2";

/// Cases registered in `[$1, $2)`.
pub(crate) const CASES_SQL: &str =
    "SELECT category, channel FROM cases WHERE created_at >= $1 AND created_at < $2";

/// The audit events in `[$1, $2)` the report counts, with their case's deadline.
pub(crate) const EVENTS_SQL: &str = "SELECT e.event, e.at, e.note, c.deadline \
     FROM case_events e JOIN cases c ON c.id = e.case_id \
     WHERE e.at >= $1 AND e.at < $2 AND e.event IN ('dispatched', 'replied', 'urged', \
       'redo', 'revisited', 'voicemail', 'callback_requested', 'satisfaction')";

/// For each case that may have been overdue at `$1` — a deadline before it, and held by
/// a department now or changed since `$1` — its status changes before `$1`, in order.
pub(crate) const STATUS_SQL: &str = "SELECT e.case_id, e.to_status \
     FROM case_events e JOIN cases c ON c.id = e.case_id \
     WHERE c.deadline < $1 \
       AND (c.status IN ('dispatched', 'accepted', 'redo') OR c.updated_at >= $1) \
       AND e.to_status IS NOT NULL AND e.at < $1 \
     ORDER BY e.case_id, e.at, e.id";

/// A call of the day.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CallFacts {
    pub queued_at: Option<DateTime<Utc>>,
    pub acd_result: Option<String>,
    pub wait_ms: Option<i64>,
    pub talk_ms: Option<i64>,
    pub wrap_up_ms: Option<i64>,
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
    pub event: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
}

/// A status change of a case that may have been overdue.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StatusFacts {
    pub case_id: i64,
    pub to_status: String,
}

/// Everything a backend selects for one day.
#[derive(Debug)]
pub(crate) struct DayRows {
    pub calls: Vec<CallFacts>,
    pub missed: i64,
    pub cases: Vec<CaseFacts>,
    pub events: Vec<EventFacts>,
    pub statuses: Vec<StatusFacts>,
}

/// The report from the day's rows: every formula of [`DailyReport`] is applied here.
pub(crate) fn compute(
    day: NaiveDate,
    tz: Tz,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    rows: DayRows,
) -> DailyReport {
    DailyReport {
        day,
        time_zone: tz.name().to_owned(),
        from,
        to,
        calls: call_figures(&rows),
        cases: case_figures(&rows),
    }
}

fn count_events(rows: &DayRows, kind: ActionKind) -> i64 {
    count_named(rows, kind.event())
}

fn count_named(rows: &DayRows, name: &str) -> i64 {
    rows.events.iter().filter(|e| e.event == name).count() as i64
}

fn call_figures(rows: &DayRows) -> CallFigures {
    let result_is = |c: &CallFacts, r: &str| c.acd_result.as_deref() == Some(r);
    let count = |f: &dyn Fn(&CallFacts) -> bool| rows.calls.iter().filter(|c| f(c)).count() as i64;
    let answered_calls: Vec<&CallFacts> = rows
        .calls
        .iter()
        .filter(|c| result_is(c, "answered"))
        .collect();
    let waits: Vec<i64> = answered_calls.iter().filter_map(|c| c.wait_ms).collect();
    let handling: Vec<i64> = answered_calls
        .iter()
        .filter_map(|c| Some(c.talk_ms? + c.wrap_up_ms?))
        .collect();
    let sl = SERVICE_LEVEL_WAIT_MS as i64;

    let offered = rows.calls.len() as i64;
    let asked_for_agent = count(&|c| c.queued_at.is_some());
    let answered = answered_calls.len() as i64;
    let answered_within_15s = waits.iter().filter(|w| **w <= sl).count() as i64;
    let abandoned = count(&|c| result_is(c, "abandoned"));
    let abandoned_within_5s =
        count(&|c| result_is(c, "abandoned") && c.wait_ms.is_some_and(|w| w <= SHORT_ABANDON_MS));
    CallFigures {
        offered,
        asked_for_agent,
        answered,
        answered_within_15s,
        abandoned,
        abandoned_within_5s,
        expired: count(&|c| result_is(c, "expired")),
        turned_away: count(&|c| result_is(c, "queue_full") || result_is(c, "no_agents")),
        left_for_callback: count(&|c| result_is(c, "callback_requested")),
        missed: rows.missed,
        voicemails: count_events(rows, ActionKind::LeftVoicemail),
        callbacks_requested: count_events(rows, ActionKind::RequestCallback),
        handled: handling.len() as i64,
        answer_rate: ratio(answered, asked_for_agent + rows.missed),
        service_level: ratio(answered_within_15s, asked_for_agent),
        avg_speed_of_answer_ms: mean(&waits),
        avg_handling_time_ms: mean(&handling),
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

fn verdicts(rows: &DayRows, event: &str) -> Verdicts {
    let mut v = Verdicts::default();
    rows.events
        .iter()
        .filter(|e| e.event == event)
        .filter_map(|e| parse_verdict(e.note.as_deref()?))
        .for_each(|s| v.add(s));
    v
}

fn case_figures(rows: &DayRows) -> CaseFigures {
    let mut by_category = BTreeMap::new();
    let mut by_channel = BTreeMap::new();
    for c in &rows.cases {
        let cat = c.category.as_deref().unwrap_or("uncategorized");
        *by_category.entry(cat.to_owned()).or_insert(0) += 1;
        *by_channel.entry(c.channel.clone()).or_insert(0) += 1;
    }
    let replied = ActionKind::Reply.event();
    let resolved = count_named(rows, replied);
    let resolved_on_time = rows
        .events
        .iter()
        .filter(|e| e.event == replied && e.deadline.is_some_and(|d| e.at <= d))
        .count() as i64;

    // The last status change before 24:00 of each candidate (rows come ordered).
    let mut last: BTreeMap<i64, &str> = BTreeMap::new();
    for s in &rows.statuses {
        last.insert(s.case_id, &s.to_status);
    }
    let held = [CaseState::Dispatched, CaseState::Accepted, CaseState::Redo];
    let overdue = last
        .values()
        .filter(|s| held.iter().any(|h| h.as_str() == **s))
        .count() as i64;

    let revisited = count_events(rows, ActionKind::Revisit);
    let revisit_verdicts = verdicts(rows, ActionKind::Revisit.event());
    let survey_verdicts = verdicts(rows, "satisfaction");
    CaseFigures {
        registered: rows.cases.len() as i64,
        by_category,
        by_channel,
        dispatched: count_events(rows, ActionKind::Dispatch),
        resolved,
        resolved_on_time,
        overdue,
        urged: count_events(rows, ActionKind::Urge),
        redone: count_events(rows, ActionKind::Redo),
        revisited,
        revisit_verdicts,
        survey_verdicts,
        on_time_rate: ratio(resolved_on_time, resolved),
        revisit_rate: ratio(revisited, resolved),
        satisfaction_rate: revisit_verdicts.rate(),
        survey_satisfaction_rate: survey_verdicts.rate(),
    }
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
