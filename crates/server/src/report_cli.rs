//! `hotline report daily`: the daily report (每日一报) on the command line, read from the
//! database like `GET /api/reports/daily` (the same [`DailyReport`], so `--json` prints
//! exactly what the API returns) and printed as tables. Every figure's definition is in
//! [`hotline_case::report`].

use crate::check;
use crate::config::Config;
use anyhow::Result;
use hotline_case::report::{DailyReport, Verdicts};
use std::fmt::Write as _;
use std::path::Path;

/// Prints the report of local day `date` (today when `None`) in the IVR's time zone.
pub async fn daily(path: &Path, date: Option<chrono::NaiveDate>, json: bool) -> Result<()> {
    let cfg = Config::load(path)?;
    let loaded = check::load_all(&cfg)?;
    let tz = loaded.ivr.timezone;
    let store = cfg.open_store().await?;
    let now = chrono::Utc::now();
    let day = date.unwrap_or_else(|| now.with_timezone(&tz).date_naive());
    let r = store.daily_report(day, tz, now).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", render(&r));
    }
    Ok(())
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn secs(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn opt_secs(v: Option<i64>) -> String {
    v.map(secs).unwrap_or_else(|| "-".into())
}

/// `h:mm:ss` for the agents' times.
fn hms(ms: i64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn verdicts(v: &Verdicts) -> String {
    format!(
        "满意 {} / 基本满意 {} / 不满意 {}",
        v.satisfied, v.mostly_satisfied, v.unsatisfied
    )
}

/// Columns `s` takes in a terminal: CJK characters take two.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if ('\u{2E80}'..='\u{FFEF}').contains(&c) {
                2
            } else {
                1
            }
        })
        .sum()
}

/// The report as text: a title, then one table per part.
pub fn render(r: &DailyReport) -> String {
    let mut out = String::new();
    let o = &mut out;
    let row = |o: &mut String, label: &str, value: String| {
        let pad = 42usize.saturating_sub(width(label));
        let _ = writeln!(o, "  {label}{:pad$} {value:>12}", "");
    };
    let _ = writeln!(o, "12345 daily report 每日一报 {} ({})", r.day, r.time_zone);

    let c = &r.calls;
    let _ = writeln!(o, "\nCalls 话务");
    row(o, "received 呼入 (incl. missed)", c.received.to_string());
    row(
        o,
        "IVR only 自助 (never asked for an agent)",
        c.ivr_only.to_string(),
    );
    row(
        o,
        "offered 人工呼入 (queued + missed)",
        c.offered.to_string(),
    );
    row(o, "  answered 接通", c.answered.to_string());
    row(o, "    within 15 s", c.answered_within_15s.to_string());
    row(o, "  abandoned in queue 放弃", c.abandoned.to_string());
    row(o, "    within 5 s", c.abandoned_within_5s.to_string());
    row(o, "  expired (maximum wait)", c.expired.to_string());
    row(
        o,
        "  turned away (queue full, no agents)",
        c.turned_away.to_string(),
    );
    row(o, "  left for a callback", c.left_for_callback.to_string());
    row(o, "  still waiting", c.waiting.to_string());
    row(
        o,
        "  missed 未接 (hung up while ringing)",
        c.missed.to_string(),
    );
    row(o, "queued (offered − missed)", c.queued.to_string());
    row(
        o,
        "answer rate 接通率 (answered / offered)",
        pct(c.answer_rate),
    );
    row(o, "service level (≤15 s / offered)", pct(c.service_level));
    row(
        o,
        "average speed of answer",
        opt_secs(c.avg_speed_of_answer_ms),
    );
    row(o, "average handling time", opt_secs(c.avg_handling_time_ms));
    row(o, "voicemails 留言", c.voicemails.to_string());
    row(o, "callbacks requested", c.callbacks_requested.to_string());

    let _ = writeln!(o, "\nBy hour 分时段");
    let _ = writeln!(
        o,
        "  {:<11} {:>8} {:>9} {:>10} {:>7}",
        "hour", "offered", "answered", "abandoned", "missed"
    );
    for h in r.hours.iter().filter(|h| h.offered > 0) {
        let _ = writeln!(
            o,
            "  {:02}:00-{:02}:59 {:>8} {:>9} {:>10} {:>7}",
            h.hour, h.hour, h.offered, h.answered, h.abandoned, h.missed
        );
    }

    let _ = writeln!(o, "\nAgents 坐席");
    let _ = writeln!(
        o,
        "  {:<8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "agent", "calls", "talk", "wrap-up", "logged in", "ready", "not ready", "occupancy"
    );
    for a in &r.agents {
        let _ = writeln!(
            o,
            "  {:<8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
            a.agent,
            a.calls,
            hms(a.talk_ms),
            hms(a.wrap_up_ms),
            hms(a.logged_in_ms),
            hms(a.ready_ms),
            hms(a.not_ready_ms),
            pct(a.occupancy)
        );
    }

    let b = &r.callbacks;
    let _ = writeln!(o, "\nCallbacks 回拨");
    row(o, "tasks created", b.tasks_created.to_string());
    row(o, "attempts", b.attempts.to_string());
    for (result, n) in &b.attempts_by_result {
        row(o, &format!("  {result}"), n.to_string());
    }
    row(o, "tasks done (citizen reached)", b.tasks_done.to_string());
    row(
        o,
        "tasks failed (after every attempt)",
        b.tasks_failed.to_string(),
    );
    row(o, "tasks uncallable", b.tasks_uncallable.to_string());
    row(o, "tasks skipped", b.tasks_skipped.to_string());

    let k = &r.cases;
    let _ = writeln!(o, "\nWork orders 工单 (per case)");
    row(o, "registered 受理", k.registered.to_string());
    for (cat, n) in &k.by_category {
        row(o, &format!("  category {cat}"), n.to_string());
    }
    for (ch, n) in &k.by_channel {
        row(o, &format!("  channel {ch}"), n.to_string());
    }
    row(o, "dispatched 转办", k.dispatched.to_string());
    row(o, "resolved 办结 (cases)", k.resolved.to_string());
    row(o, "  on time", k.resolved_on_time.to_string());
    row(o, "on-time rate 按时办结率", pct(k.on_time_rate));
    row(o, "overdue at 24:00 超期", k.overdue.to_string());
    row(o, "urged 催办", k.urged.to_string());
    row(o, "redone 重办", k.redone.to_string());
    row(o, "revisited 回访 (cases)", k.revisited.to_string());
    row(o, "revisit rate 回访率", pct(k.revisit_rate));
    row(
        o,
        "satisfaction 满意率 (latest verdict)",
        pct(k.satisfaction_rate),
    );
    let _ = writeln!(o, "    {}", verdicts(&k.revisit_verdicts));
    row(o, "reply events (every reply)", k.reply_events.to_string());
    row(
        o,
        "revisit events (every revisit)",
        k.revisit_events.to_string(),
    );
    let _ = writeln!(o, "    {}", verdicts(&k.revisit_event_verdicts));
    row(
        o,
        "phone survey 满意率 (per call)",
        pct(k.survey_satisfaction_rate),
    );
    let _ = writeln!(o, "    {}", verdicts(&k.survey_verdicts));
    out
}
