//! The daily report (每日一报) as a page, and as the files a 12345 office passes to the
//! city's leaders: `GET /reports?date=YYYY-MM-DD` (a date picker, the headline figures,
//! charts drawn here — calls by hour, cases by category and by department, 按时办结率 and
//! 满意率 over the 30 days up to the day — and the tables), `GET /reports/daily.csv`
//! (UTF-8 with a BOM, so Excel reads the Chinese right) and `GET /reports/daily.xlsx`
//! (a sheet per table). Supervisors and admins, as `GET /api/reports/daily`; others get
//! 403.
//!
//! Every figure is the store's [`DailyReport`] (the API's body) and
//! [`hotline_case::CaseStore::daily_rates`] for the trend; the page, the CSV and the
//! workbook are all drawn from the same [`Table`]s, so they cannot disagree.

use super::chart::{self, Series, Slot};
use super::messages::{m, Messages};
use super::session::PageUser;
use crate::http::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Duration, NaiveDate};
use hotline_case::lifecycle::Role;
use hotline_case::report::{DailyReport, DayRates};
use serde::Deserialize;

/// Days in the trend of 按时办结率 and 满意率: the day shown and the 29 before it.
pub const TREND_DAYS: i64 = 30;

/// The channels a case comes in by.
const CHANNELS: [&str; 4] = ["phone", "voicemail", "callback", "web"];

/// Why a request gets no report: the status and a line in Chinese.
type Refusal = (StatusCode, String);

/// Reports are for supervisors and admins (the rule of `GET /api/reports/daily`).
fn reporters(user: &PageUser) -> Result<(), Refusal> {
    match user.user.role {
        Role::Supervisor | Role::Admin => Ok(()),
        _ => Err((StatusCode::FORBIDDEN, m().rep_forbidden.clone())),
    }
}

#[derive(Deserialize)]
pub struct DayQuery {
    /// The local day, `YYYY-MM-DD`; today when absent or empty.
    #[serde(default)]
    date: String,
}

/// The day asked for (today if none); 400 for anything but a date from 1970 to 9999.
fn day_of(q: &DayQuery, today: NaiveDate) -> Result<NaiveDate, Refusal> {
    let d = q.date.trim();
    if d.is_empty() {
        return Ok(today);
    }
    match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
        Ok(day) if (1970..=9999).contains(&day.year()) => Ok(day),
        _ => Err((StatusCode::BAD_REQUEST, m().rep_bad_date.clone())),
    }
}

/// A cell of a table: shown on the page, written to the CSV and the workbook.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A rate (0 to 1); `None` when its denominator is 0.
    Rate(Option<f64>),
    /// A time in ms, shown in seconds; `None` when there is nothing to average.
    Secs(Option<i64>),
    /// A time in ms, shown in minutes.
    Mins(i64),
}

/// What a figure that cannot be computed shows.
const NONE: &str = "—";

impl Cell {
    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    /// As the page shows it.
    pub fn show(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Rate(Some(r)) => format!("{:.1}%", r * 100.0),
            Cell::Secs(Some(ms)) => format!("{:.1}", *ms as f64 / 1000.0),
            Cell::Mins(ms) => format!("{:.1}", *ms as f64 / 60_000.0),
            Cell::Rate(None) | Cell::Secs(None) => NONE.to_owned(),
        }
    }

    /// As a CSV field: rates to the report's precision (two decimals of a percent),
    /// text escaped ([`csv_text`]).
    fn csv(&self) -> String {
        match self {
            Cell::Text(s) => csv_text(s),
            Cell::Rate(Some(r)) => format!("{:.2}%", r * 100.0),
            Cell::Secs(Some(ms)) => format!("{:.3}", *ms as f64 / 1000.0),
            other => other.show(),
        }
    }

    /// Whether the page aligns it right (a number).
    pub fn numeric(&self) -> bool {
        !matches!(self, Cell::Text(_))
    }
}

/// A text field of a CSV: a leading `=`, `+`, `-`, `@`, tab or CR (which a spreadsheet
/// would take for a formula) is defused with a `'`; a field with a comma, quote or line
/// break is quoted, its quotes doubled (RFC 4180).
pub fn csv_text(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A table of the report: a sheet of the workbook, a section of the CSV.
#[derive(Debug, Clone)]
pub struct Table {
    /// Its name (the sheet's).
    pub name: String,
    /// Its id on the page.
    pub id: &'static str,
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Whether the last row is the total (合计).
    pub total: bool,
}

impl Table {
    /// Whether column `col` holds numbers (by its first row), to align its header.
    pub fn numeric(&self, col: &usize) -> bool {
        self.rows
            .first()
            .and_then(|r| r.get(*col))
            .is_some_and(Cell::numeric)
    }
}

/// The day's report and the rates of the days up to it.
#[derive(Clone)]
pub struct Data {
    pub report: DailyReport,
    pub rates: Vec<DayRates>,
}

/// How long a past day's figures are shown again (they change only through late edits,
/// such as a deadline extended afterwards), and today's while no live event happened.
const PAST_FRESH: std::time::Duration = std::time::Duration::from_secs(60);
const TODAY_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Recently read days: (when, count of live events then, the figures).
type Recent = std::collections::HashMap<NaiveDate, (std::time::Instant, u64, Data)>;
static RECENT: std::sync::Mutex<Option<Recent>> = std::sync::Mutex::new(None);

/// The figures of `day`: read again unless read recently ([`PAST_FRESH`] for a past day;
/// for today, [`TODAY_FRESH`] and no live event since), so supervisors paging through
/// days and the downloads after a look at the page do not each read the database again.
async fn load(s: &AppState, day: NaiveDate) -> Result<Data, Refusal> {
    let changes = s.calls.ctx.acd.changes();
    let today = chrono::Utc::now()
        .with_timezone(&s.calls.ctx.ivr.timezone)
        .date_naive();
    if let Ok(g) = RECENT.lock() {
        if let Some((at, seen, data)) = g.as_ref().and_then(|m| m.get(&day)) {
            let fresh = if day < today {
                at.elapsed() < PAST_FRESH
            } else {
                *seen == changes && at.elapsed() < TODAY_FRESH
            };
            if fresh {
                return Ok(data.clone());
            }
        }
    }
    let data = read(s, day).await?;
    if let Ok(mut g) = RECENT.lock() {
        let m = g.get_or_insert_with(Default::default);
        if m.len() >= 32 {
            m.clear();
        }
        m.insert(day, (std::time::Instant::now(), changes, data.clone()));
    }
    Ok(data)
}

async fn read(s: &AppState, day: NaiveDate) -> Result<Data, Refusal> {
    let ctx = &s.calls.ctx;
    let tz = ctx.ivr.timezone;
    let fail = |e: hotline_case::CaseError| {
        tracing::error!(error = %e, %day, "reports page");
        (StatusCode::INTERNAL_SERVER_ERROR, m().rep_failed.clone())
    };
    let report = ctx
        .store
        .daily_report(day, tz, chrono::Utc::now())
        .await
        .map_err(fail)?;
    let first = day - Duration::days(TREND_DAYS - 1);
    let rates = ctx.store.daily_rates(first, day, tz).await.map_err(fail)?;
    Ok(Data { report, rates })
}

fn category_label(m: &Messages, c: &str) -> String {
    if hotline_case::Category::parse(c).is_some() {
        m.category_label(c).to_owned()
    } else if c == "uncategorized" {
        m.rep_uncategorized.clone()
    } else {
        c.to_owned()
    }
}

fn channel_label(m: &Messages, c: &str) -> String {
    match c {
        "phone" => m.rep_ch_phone.clone(),
        "voicemail" => m.rep_ch_voicemail.clone(),
        "callback" => m.rep_ch_callback.clone(),
        "web" => m.rep_ch_web.clone(),
        other => other.to_owned(),
    }
}

/// The categories as rows: the six the desk offers (0 if none), then any other key of
/// the report's (`uncategorized`), with their counts.
fn categories(r: &DailyReport) -> Vec<(String, i64)> {
    let m = m();
    let by = &r.cases.by_category;
    let known = hotline_case::Category::ALL.iter().map(|c| c.as_str());
    let others = by
        .keys()
        .map(String::as_str)
        .filter(|c| hotline_case::Category::parse(c).is_none());
    known
        .chain(others)
        .map(|c| (category_label(m, c), by.get(c).copied().unwrap_or(0)))
        .collect()
}

/// The headline figures by section: (section, [(figure, value)]).
pub fn summary(r: &DailyReport) -> Vec<(String, Vec<(String, Cell)>)> {
    let m = m();
    let c = &r.calls;
    let k = &r.cases;
    let b = &r.callbacks;
    let row = |label: &String, cell: Cell| (label.clone(), cell);
    let channels = CHANNELS
        .iter()
        .copied()
        .chain(
            k.by_channel
                .keys()
                .map(String::as_str)
                .filter(|ch| !CHANNELS.contains(ch)),
        )
        .map(|ch| {
            let n = k.by_channel.get(ch).copied().unwrap_or(0);
            (channel_label(m, ch), Cell::Int(n))
        })
        .collect();
    vec![
        (
            m.rep_sec_basic.clone(),
            vec![
                row(&m.rep_date, Cell::Text(r.day.to_string())),
                row(&m.rep_time_zone, Cell::Text(r.time_zone.clone())),
            ],
        ),
        (
            m.rep_sec_calls.clone(),
            vec![
                row(&m.rep_received, Cell::Int(c.received)),
                row(&m.rep_ivr_only, Cell::Int(c.ivr_only)),
                row(&m.rep_offered, Cell::Int(c.offered)),
                row(&m.rep_answered, Cell::Int(c.answered)),
                row(&m.rep_within15, Cell::Int(c.answered_within_15s)),
                row(&m.rep_abandoned, Cell::Int(c.abandoned)),
                row(&m.rep_abandoned5, Cell::Int(c.abandoned_within_5s)),
                row(&m.rep_expired, Cell::Int(c.expired)),
                row(&m.rep_turned_away, Cell::Int(c.turned_away)),
                row(&m.rep_left_for_callback, Cell::Int(c.left_for_callback)),
                row(&m.rep_missed, Cell::Int(c.missed)),
                row(&m.rep_voicemails, Cell::Int(c.voicemails)),
                row(&m.rep_callbacks_requested, Cell::Int(c.callbacks_requested)),
                row(&m.rep_answer_rate, Cell::Rate(c.answer_rate)),
                row(&m.rep_service_level, Cell::Rate(c.service_level)),
                row(&m.rep_asa, Cell::Secs(c.avg_speed_of_answer_ms)),
                row(&m.rep_aht, Cell::Secs(c.avg_handling_time_ms)),
            ],
        ),
        (
            m.rep_sec_cases.clone(),
            vec![
                row(&m.rep_registered, Cell::Int(k.registered)),
                row(&m.rep_dispatched, Cell::Int(k.dispatched)),
                row(&m.rep_resolved, Cell::Int(k.resolved)),
                row(&m.rep_resolved_on_time, Cell::Int(k.resolved_on_time)),
                row(&m.rep_on_time_rate, Cell::Rate(k.on_time_rate)),
                row(&m.rep_overdue, Cell::Int(k.overdue)),
                row(&m.rep_urged, Cell::Int(k.urged)),
                row(&m.rep_redone, Cell::Int(k.redone)),
                row(&m.rep_revisited, Cell::Int(k.revisited)),
                row(&m.rep_revisit_rate, Cell::Rate(k.revisit_rate)),
                row(&m.rep_satisfied, Cell::Int(k.revisit_verdicts.satisfied)),
                row(
                    &m.rep_mostly_satisfied,
                    Cell::Int(k.revisit_verdicts.mostly_satisfied),
                ),
                row(
                    &m.rep_unsatisfied,
                    Cell::Int(k.revisit_verdicts.unsatisfied),
                ),
                row(&m.rep_satisfaction_rate, Cell::Rate(k.satisfaction_rate)),
                row(&m.rep_survey_rate, Cell::Rate(k.survey_satisfaction_rate)),
            ],
        ),
        (m.rep_sec_channels.clone(), channels),
        (
            m.rep_sec_callbacks.clone(),
            vec![
                row(&m.rep_tasks_created, Cell::Int(b.tasks_created)),
                row(&m.rep_attempts, Cell::Int(b.attempts)),
                row(&m.rep_tasks_done, Cell::Int(b.tasks_done)),
                row(&m.rep_tasks_failed, Cell::Int(b.tasks_failed)),
                row(&m.rep_tasks_uncallable, Cell::Int(b.tasks_uncallable)),
                row(&m.rep_tasks_skipped, Cell::Int(b.tasks_skipped)),
            ],
        ),
    ]
}

/// `09:00-10:00`.
fn hour_span(h: u32) -> String {
    format!("{h:02}:00-{:02}:00", h + 1)
}

/// Every table of the report, in the workbook's order: 概要, 分时段, 分类, 承办单位,
/// 坐席, 近30日.
pub fn tables(d: &Data) -> Vec<Table> {
    let m = m();
    let r = &d.report;
    let k = &r.cases;
    let mut out = Vec::new();

    let rows = summary(r)
        .into_iter()
        .flat_map(|(section, figures)| {
            figures
                .into_iter()
                .map(move |(label, v)| vec![Cell::Text(section.clone()), Cell::Text(label), v])
        })
        .collect();
    out.push(Table {
        name: m.rep_sheet_summary.clone(),
        id: "rep-summary",
        head: vec![m.rep_group.clone(), m.rep_item.clone(), m.rep_value.clone()],
        rows,
        total: false,
    });

    let mut rows: Vec<Vec<Cell>> = r
        .hours
        .iter()
        .map(|h| {
            vec![
                Cell::Text(hour_span(h.hour)),
                Cell::Int(h.offered),
                Cell::Int(h.answered),
                Cell::Int(h.abandoned),
                Cell::Int(h.missed),
            ]
        })
        .collect();
    let sum = |f: fn(&hotline_case::report::HourFigures) -> i64| r.hours.iter().map(f).sum();
    rows.push(vec![
        Cell::text(&m.rep_total),
        Cell::Int(sum(|h| h.offered)),
        Cell::Int(sum(|h| h.answered)),
        Cell::Int(sum(|h| h.abandoned)),
        Cell::Int(sum(|h| h.missed)),
    ]);
    out.push(Table {
        name: m.rep_sheet_hours.clone(),
        id: "rep-hours-table",
        head: vec![
            m.rep_hour.clone(),
            m.rep_offered.clone(),
            m.rep_answered.clone(),
            m.rep_abandoned.clone(),
            m.rep_missed.clone(),
        ],
        rows,
        total: true,
    });

    let mut rows: Vec<Vec<Cell>> = categories(r)
        .into_iter()
        .map(|(label, n)| vec![Cell::Text(label), Cell::Int(n)])
        .collect();
    rows.push(vec![Cell::text(&m.rep_total), Cell::Int(k.registered)]);
    out.push(Table {
        name: m.rep_sheet_categories.clone(),
        id: "rep-categories-table",
        head: vec![m.category.clone(), m.rep_cases.clone()],
        rows,
        total: true,
    });

    let mut rows: Vec<Vec<Cell>> = k
        .by_department
        .iter()
        .map(|d| {
            vec![
                Cell::Text(d.name.clone()),
                Cell::Text(d.department.clone()),
                Cell::Int(d.dispatched),
                Cell::Int(d.resolved),
                Cell::Int(d.resolved_on_time),
                Cell::Int(d.overdue),
                Cell::Rate(d.on_time_rate),
            ]
        })
        .collect();
    rows.push(vec![
        Cell::text(&m.rep_total),
        Cell::text(""),
        Cell::Int(k.dispatched),
        Cell::Int(k.resolved),
        Cell::Int(k.resolved_on_time),
        Cell::Int(k.overdue),
        Cell::Rate(k.on_time_rate),
    ]);
    out.push(Table {
        name: m.rep_sheet_departments.clone(),
        id: "rep-departments-table",
        head: vec![
            m.department.clone(),
            m.rep_code.clone(),
            m.rep_dispatched.clone(),
            m.rep_resolved.clone(),
            m.rep_resolved_on_time.clone(),
            m.rep_overdue.clone(),
            m.rep_on_time_rate.clone(),
        ],
        rows,
        total: true,
    });

    let rows = r
        .agents
        .iter()
        .map(|a| {
            vec![
                Cell::Text(a.agent.clone()),
                Cell::Int(a.calls),
                Cell::Int(a.inbound),
                Cell::Mins(a.talk_ms),
                Cell::Mins(a.wrap_up_ms),
                Cell::Mins(a.logged_in_ms),
                Cell::Mins(a.ready_ms),
                Cell::Mins(a.not_ready_ms),
                Cell::Mins(a.busy_ms),
                Cell::Rate(a.occupancy),
            ]
        })
        .collect();
    out.push(Table {
        name: m.rep_sheet_agents.clone(),
        id: "rep-agents-table",
        head: vec![
            m.rep_agent.clone(),
            m.rep_agent_calls.clone(),
            m.rep_agent_inbound.clone(),
            m.rep_talk_min.clone(),
            m.rep_wrap_min.clone(),
            m.rep_logged_in_min.clone(),
            m.rep_ready_min.clone(),
            m.rep_not_ready_min.clone(),
            m.rep_busy_min.clone(),
            m.rep_occupancy.clone(),
        ],
        rows,
        total: false,
    });

    let rows = d
        .rates
        .iter()
        .map(|t| {
            vec![
                Cell::Text(t.day.to_string()),
                Cell::Int(t.resolved),
                Cell::Int(t.resolved_on_time),
                Cell::Rate(t.on_time_rate),
                Cell::Int(t.revisited),
                Cell::Rate(t.satisfaction_rate),
            ]
        })
        .collect();
    out.push(Table {
        name: m.rep_sheet_trend.clone(),
        id: "rep-trend-table",
        head: vec![
            m.rep_date.clone(),
            m.rep_resolved.clone(),
            m.rep_resolved_on_time.clone(),
            m.rep_on_time_rate.clone(),
            m.rep_revisited.clone(),
            m.rep_satisfaction_rate.clone(),
        ],
        rows,
        total: false,
    });
    out
}

/// The report's title: `12345 政务服务便民热线 每日一报 2026-03-10`.
fn title(day: NaiveDate) -> String {
    format!("{} {} {day}", m().site, m().rep_daily)
}

/// The CSV: a BOM, the title line, then each table after a blank line (its name, its
/// header, its rows); CRLF line ends.
pub fn csv(day: NaiveDate, tables: &[Table]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&csv_text(&title(day)));
    out.push_str("\r\n");
    for t in tables {
        out.push_str("\r\n");
        out.push_str(&csv_text(&t.name));
        out.push_str("\r\n");
        let head: Vec<String> = t.head.iter().map(|h| csv_text(h)).collect();
        out.push_str(&head.join(","));
        out.push_str("\r\n");
        for row in &t.rows {
            let fields: Vec<String> = row.iter().map(Cell::csv).collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

/// How wide a column of these texts should be, in Excel's character widths (a Chinese
/// character is two).
fn column_width(texts: impl Iterator<Item = String>) -> f64 {
    let widest = texts
        .map(|t| {
            t.chars()
                .map(|c| if c.is_ascii() { 1 } else { 2 })
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    (widest as f64 + 2.0).clamp(8.0, 40.0)
}

/// The workbook (`.xlsx`): a sheet per table, its header bold and frozen; counts as
/// numbers, rates as numbers formatted as percentages, times in seconds or minutes.
pub fn xlsx(day: NaiveDate, tables: &[Table]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{DocProperties, Format, FormatAlign, FormatBorder, Workbook};
    let mut book = Workbook::new();
    book.set_properties(&DocProperties::new().set_title(title(day)));
    let head = Format::new()
        .set_bold()
        .set_align(FormatAlign::Center)
        .set_border_bottom(FormatBorder::Thin)
        .set_background_color("#E8EEF7");
    let percent = Format::new().set_num_format("0.0%");
    let tenths = Format::new().set_num_format("0.0");
    let none = Format::new().set_align(FormatAlign::Right);
    for t in tables {
        let sheet = book.add_worksheet();
        sheet.set_name(&t.name)?;
        for (col, h) in (0u16..).zip(&t.head) {
            sheet.write_string_with_format(0, col, h, &head)?;
            let width = column_width(
                std::iter::once(h.clone()).chain(
                    t.rows
                        .iter()
                        .filter_map(|r| r.get(usize::from(col)))
                        .map(Cell::show),
                ),
            );
            sheet.set_column_width(col, width)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        for (row, cells) in (1u32..).zip(&t.rows) {
            for (col, cell) in (0u16..).zip(cells) {
                match cell {
                    Cell::Text(s) => sheet.write_string(row, col, s)?,
                    Cell::Int(n) => sheet.write_number(row, col, *n as f64)?,
                    Cell::Rate(Some(r)) => {
                        sheet.write_number_with_format(row, col, *r, &percent)?
                    }
                    Cell::Secs(Some(ms)) => {
                        sheet.write_number_with_format(row, col, *ms as f64 / 1000.0, &tenths)?
                    }
                    Cell::Mins(ms) => {
                        sheet.write_number_with_format(row, col, *ms as f64 / 60_000.0, &tenths)?
                    }
                    Cell::Rate(None) | Cell::Secs(None) => {
                        sheet.write_string_with_format(row, col, NONE, &none)?
                    }
                };
            }
        }
    }
    book.save_to_buffer()
}

/// `attachment` with an ASCII name and the Chinese one (RFC 6266, RFC 5987).
fn attachment(day: NaiveDate, ext: &str) -> String {
    let chinese = format!("12345{}-{day}.{ext}", m().rep_daily);
    let encoded: String = chinese
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"12345-daily-{day}.{ext}\"; filename*=UTF-8''{encoded}")
}

#[derive(Template)]
#[template(path = "reports.html")]
struct Page<'a> {
    m: &'a Messages,
    name: &'a str,
    date: String,
    weekday: &'a str,
    today: String,
    prev: String,
    /// The next day, unless the day shown is today or later.
    next: Option<String>,
    /// (id, label, value, colour class)
    tiles: Vec<(&'static str, String, String, &'static str)>,
    hours_legend: String,
    hours_chart: String,
    categories_chart: String,
    departments_legend: String,
    departments_chart: Option<String>,
    trend_legend: String,
    trend_chart: String,
    /// The summary by section.
    summary: Vec<(String, Vec<(String, Cell)>)>,
    /// The departments' and the agents' tables.
    lists: Vec<Table>,
}

fn charts(d: &Data) -> (String, String, Option<String>, String) {
    let m = m();
    let r = &d.report;
    let slots: Vec<Slot> = r
        .hours
        .iter()
        .map(|h| Slot {
            tick: (h.hour % 2 == 0).then(|| h.hour.to_string()),
            name: hour_span(h.hour),
        })
        .collect();
    let offered: Vec<i64> = r.hours.iter().map(|h| h.offered).collect();
    let answered: Vec<i64> = r.hours.iter().map(|h| h.answered).collect();
    let lost: Vec<i64> = r.hours.iter().map(|h| h.abandoned + h.missed).collect();
    let hours = chart::columns(
        "rep-hours",
        &slots,
        &[
            Series {
                name: &m.rep_offered,
                colour: chart::PALE,
                values: &offered,
            },
            Series {
                name: &m.rep_answered,
                colour: chart::BLUE,
                values: &answered,
            },
            Series {
                name: &lost_label(m),
                colour: chart::RED,
                values: &lost,
            },
        ],
    );

    let (labels, counts): (Vec<String>, Vec<i64>) = categories(r).into_iter().unzip();
    let categories = chart::hbars(
        "rep-categories",
        &labels,
        &[Series {
            name: &m.rep_cases,
            colour: chart::BLUE,
            values: &counts,
        }],
    );

    let k = &r.cases;
    let departments = (!k.by_department.is_empty()).then(|| {
        let names: Vec<String> = k.by_department.iter().map(|d| d.name.clone()).collect();
        let col = |f: fn(&hotline_case::report::DepartmentFigures) -> i64| -> Vec<i64> {
            k.by_department.iter().map(f).collect()
        };
        chart::hbars(
            "rep-departments",
            &names,
            &[
                Series {
                    name: &m.rep_dispatched,
                    colour: chart::BLUE,
                    values: &col(|d| d.dispatched),
                },
                Series {
                    name: &m.rep_resolved,
                    colour: chart::GREEN,
                    values: &col(|d| d.resolved),
                },
                Series {
                    name: &m.rep_overdue,
                    colour: chart::RED,
                    values: &col(|d| d.overdue),
                },
            ],
        )
    });

    let names: Vec<String> = d.rates.iter().map(|t| t.day.to_string()).collect();
    let last = d.rates.len().saturating_sub(1);
    let ticks: Vec<String> = d
        .rates
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if (last - i).is_multiple_of(5) {
                t.day.format("%m-%d").to_string()
            } else {
                String::new()
            }
        })
        .collect();
    let on_time: Vec<Option<f64>> = d.rates.iter().map(|t| t.on_time_rate).collect();
    let satisfaction: Vec<Option<f64>> = d.rates.iter().map(|t| t.satisfaction_rate).collect();
    let trend = chart::lines(
        "rep-trend",
        &ticks,
        &names,
        &[
            Series {
                name: &m.rep_on_time_rate,
                colour: chart::GREEN,
                values: &on_time,
            },
            Series {
                name: &m.rep_satisfaction_rate,
                colour: chart::AMBER,
                values: &satisfaction,
            },
        ],
    );
    (hours, categories, departments, trend)
}

/// "排队放弃 + 振铃未接".
fn lost_label(m: &Messages) -> String {
    format!("{} + {}", m.rep_abandoned, m.rep_missed)
}

/// `GET /reports?date=YYYY-MM-DD`.
pub async fn page(
    State(s): State<AppState>,
    user: PageUser,
    Query(q): Query<DayQuery>,
) -> Response {
    if let Err(r) = reporters(&user) {
        return r.into_response();
    }
    let today = chrono::Utc::now()
        .with_timezone(&s.calls.ctx.ivr.timezone)
        .date_naive();
    let day = match day_of(&q, today) {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let data = match load(&s, day).await {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let m = m();
    let (hours_chart, categories_chart, departments_chart, trend_chart) = charts(&data);
    let mut tables = tables(&data);
    let r = &data.report;
    let (c, k) = (&r.calls, &r.cases);
    use super::wallboard::{colour, ANSWER_RATE_TARGET, SERVICE_LEVEL_TARGET};
    let tiles = vec![
        ("offered", m.rep_offered.clone(), c.offered.to_string(), ""),
        (
            "answered",
            m.rep_answered.clone(),
            c.answered.to_string(),
            "",
        ),
        (
            "answer-rate",
            m.rep_answer_rate.clone(),
            Cell::Rate(c.answer_rate).show(),
            colour(c.answer_rate, ANSWER_RATE_TARGET),
        ),
        (
            "service-level",
            m.wb_service_level.clone(),
            Cell::Rate(c.service_level).show(),
            colour(c.service_level, SERVICE_LEVEL_TARGET),
        ),
        (
            "registered",
            m.rep_registered.clone(),
            k.registered.to_string(),
            "",
        ),
        (
            "dispatched",
            m.rep_dispatched.clone(),
            k.dispatched.to_string(),
            "",
        ),
        (
            "resolved",
            m.rep_resolved.clone(),
            k.resolved.to_string(),
            "",
        ),
        (
            "on-time-rate",
            m.rep_on_time_rate.clone(),
            Cell::Rate(k.on_time_rate).show(),
            "",
        ),
        (
            "satisfaction-rate",
            m.rep_satisfaction_rate.clone(),
            Cell::Rate(k.satisfaction_rate).show(),
            "",
        ),
        (
            "overdue",
            m.rep_overdue.clone(),
            k.overdue.to_string(),
            if k.overdue > 0 { "red" } else { "" },
        ),
    ];
    // 概要, 分时段, 分类, 承办单位, 坐席, 近30日: the page shows the department and
    // agent tables whole.
    let agents = tables.swap_remove(4);
    let mut departments = tables.swap_remove(3);
    if k.by_department.is_empty() {
        // Only the total row: nothing to show.
        departments.rows.clear();
    }
    let weekday = m
        .rep_weekdays
        .get(day.weekday().num_days_from_monday() as usize)
        .map_or("", String::as_str);
    let page = Page {
        m,
        name: &user.user.name,
        date: day.to_string(),
        weekday,
        today: today.to_string(),
        prev: day.pred_opt().unwrap_or(day).to_string(),
        next: (day < today).then(|| day.succ_opt().unwrap_or(day).to_string()),
        tiles,
        hours_legend: chart::legend(&[
            (&m.rep_offered, chart::PALE),
            (&m.rep_answered, chart::BLUE),
            (&lost_label(m), chart::RED),
        ]),
        hours_chart,
        categories_chart,
        departments_legend: chart::legend(&[
            (&m.rep_dispatched, chart::BLUE),
            (&m.rep_resolved, chart::GREEN),
            (&m.rep_overdue, chart::RED),
        ]),
        departments_chart,
        trend_legend: chart::legend(&[
            (&m.rep_on_time_rate, chart::GREEN),
            (&m.rep_satisfaction_rate, chart::AMBER),
        ]),
        trend_chart,
        // The day and time zone are in the heading.
        summary: summary(r).into_iter().skip(1).collect(),
        lists: vec![departments, agents],
    };
    super::render(page)
}

/// The day's tables for a download, or the refusal.
async fn download(
    s: &AppState,
    user: &PageUser,
    q: &DayQuery,
) -> Result<(NaiveDate, Vec<Table>), Refusal> {
    reporters(user)?;
    let today = chrono::Utc::now()
        .with_timezone(&s.calls.ctx.ivr.timezone)
        .date_naive();
    let day = day_of(q, today)?;
    let data = load(s, day).await?;
    Ok((day, tables(&data)))
}

/// `GET /reports/daily.csv?date=YYYY-MM-DD`.
pub async fn daily_csv(
    State(s): State<AppState>,
    user: PageUser,
    Query(q): Query<DayQuery>,
) -> Response {
    match download(&s, &user, &q).await {
        Ok((day, tables)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, attachment(day, "csv")),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            csv(day, &tables),
        )
            .into_response(),
        Err(r) => r.into_response(),
    }
}

/// `GET /reports/daily.xlsx?date=YYYY-MM-DD`.
pub async fn daily_xlsx(
    State(s): State<AppState>,
    user: PageUser,
    Query(q): Query<DayQuery>,
) -> Response {
    let (day, tables) = match download(&s, &user, &q).await {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    match xlsx(day, &tables) {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
                ),
                (header::CONTENT_DISPOSITION, attachment(day, "xlsx")),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, %day, "reports: cannot write the workbook");
            (StatusCode::INTERNAL_SERVER_ERROR, m().rep_failed.clone()).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_case::report::DepartmentFigures;

    /// The report of an empty day from a fresh store, then the figures the tests set.
    async fn data() -> Data {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/rep.db", dir.path().display());
        let store = hotline_case::CaseStore::open(&url).await.unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let tz = chrono_tz::Asia::Shanghai;
        let mut report = store
            .daily_report(day, tz, chrono::Utc::now())
            .await
            .unwrap();
        let rates = store
            .daily_rates(day - Duration::days(TREND_DAYS - 1), day, tz)
            .await
            .unwrap();
        let c = &mut report.calls;
        (c.offered, c.answered, c.answer_rate) = (9, 4, Some(0.4444));
        c.avg_speed_of_answer_ms = Some(12_345);
        report.hours[9].offered = 5;
        report.hours[9].answered = 3;
        let k = &mut report.cases;
        k.registered = 3;
        k.by_category.insert("complaint".into(), 2);
        k.by_category.insert("uncategorized".into(), 1);
        k.by_channel.insert("phone".into(), 3);
        k.by_department.push(DepartmentFigures {
            department: "housing".into(),
            name: "=市住建局, \"一处\"".into(),
            dispatched: 2,
            resolved: 1,
            resolved_on_time: 1,
            overdue: 0,
            on_time_rate: Some(1.0),
        });
        (k.dispatched, k.resolved, k.resolved_on_time) = (2, 1, 1);
        k.on_time_rate = Some(1.0);
        Data { report, rates }
    }

    #[test]
    fn csv_text_is_quoted_and_defused() {
        assert_eq!(csv_text("市住建局"), "市住建局");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_text("=1+1"), "'=1+1");
        assert_eq!(csv_text("-2"), "'-2");
        assert_eq!(csv_text("@x,y"), "\"'@x,y\"");
        assert_eq!(Cell::Rate(Some(0.4444)).csv(), "44.44%");
        assert_eq!(Cell::Rate(Some(0.4444)).show(), "44.4%");
        assert_eq!(Cell::Rate(None).show(), "—");
        assert_eq!(Cell::Secs(Some(12_345)).show(), "12.3");
        assert_eq!(Cell::Mins(90_000).show(), "1.5");
    }

    #[test]
    fn the_day_is_a_date_or_today() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let q = |d: &str| DayQuery { date: d.into() };
        assert_eq!(day_of(&q(""), today).unwrap(), today);
        assert_eq!(
            day_of(&q("2026-02-28"), today).unwrap(),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        for bad in [
            "2026-02-30",
            "yesterday",
            "0000-01-01",
            "+262142-12-31",
            "2026/03/10",
        ] {
            let (status, _) = day_of(&q(bad), today).unwrap_err();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn downloads_are_attachments_named_by_the_day() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        assert_eq!(
            attachment(day, "xlsx"),
            "attachment; filename=\"12345-daily-2026-03-10.xlsx\"; \
             filename*=UTF-8''12345%E6%AF%8F%E6%97%A5%E4%B8%80%E6%8A%A5-2026-03-10.xlsx"
        );
    }

    #[tokio::test]
    async fn the_csv_has_a_bom_chinese_headers_and_every_table() {
        let d = data().await;
        let text = csv(d.report.day, &tables(&d));
        assert!(text.starts_with("\u{feff}12345 政务服务便民热线 每日一报 2026-03-10\r\n"));
        let lines: Vec<&str> = text.split("\r\n").collect();
        for name in ["概要", "分时段", "分类", "承办单位", "坐席", "近30日"] {
            let at = lines.iter().position(|l| *l == name).expect(name);
            assert_eq!(lines[at - 1], "", "a blank line before {name}");
        }
        assert!(lines.contains(&"分组,项目,数值"));
        assert!(lines.contains(&"话务,转人工,9"));
        assert!(lines.contains(&"话务,接通率,44.44%"));
        assert!(lines.contains(&"话务,平均应答时长(秒),12.345"));
        assert!(lines.contains(&"09:00-10:00,5,3,0,0"));
        assert!(lines.contains(&"23:00-24:00,0,0,0,0"));
        assert!(lines.contains(&"合计,5,3,0,0"));
        assert!(lines.contains(&"投诉,2"));
        assert!(lines.contains(&"未分类,1"));
        assert!(lines.contains(&"\"'=市住建局, \"\"一处\"\"\",housing,2,1,1,0,100.00%"));
        assert!(lines.contains(&"2026-03-10,0,0,—,0,—"));
        assert!(lines.contains(&"2026-02-09,0,0,—,0,—"), "30 days");
    }

    #[tokio::test]
    async fn the_workbook_is_a_zip_with_a_sheet_per_table() {
        use calamine::{Data as X, Reader, Xlsx};
        let d = data().await;
        let bytes = xlsx(d.report.day, &tables(&d)).unwrap();
        assert!(bytes.starts_with(b"PK\x03\x04"), "a zip");
        let mut book = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(
            book.sheet_names(),
            ["概要", "分时段", "分类", "承办单位", "坐席", "近30日"]
        );
        let summary = book.worksheet_range("概要").unwrap();
        let row = |label: &str| -> X {
            summary
                .rows()
                .find(|r| r[1] == X::String(label.into()))
                .unwrap_or_else(|| panic!("no {label}"))[2]
                .clone()
        };
        assert_eq!(row("日期"), X::String("2026-03-10".into()));
        assert_eq!(row("转人工"), X::Float(9.0));
        assert_eq!(row("接通率"), X::Float(0.4444));
        assert_eq!(row("服务水平(15秒接通率)"), X::String("—".into()));
        assert_eq!(row("平均应答时长(秒)"), X::Float(12.345));
        let hours = book.worksheet_range("分时段").unwrap();
        assert_eq!(hours.height(), 1 + 24 + 1);
        assert_eq!(hours.get((10, 0)), Some(&X::String("09:00-10:00".into())));
        assert_eq!(hours.get((10, 1)), Some(&X::Float(5.0)));
        let depts = book.worksheet_range("承办单位").unwrap();
        assert_eq!(
            depts.get((1, 0)),
            Some(&X::String("=市住建局, \"一处\"".into()))
        );
        assert_eq!(depts.get((1, 6)), Some(&X::Float(1.0)));
        assert_eq!(book.worksheet_range("近30日").unwrap().height(), 31);
    }

    #[tokio::test]
    async fn the_page_has_the_charts_and_tables() {
        let d = data().await;
        let (hours, categories, departments, trend) = charts(&d);
        assert!(hours.contains(r#"id="rep-hours""#));
        assert!(hours.contains("<title>09:00-10:00 人工接通 3</title>"));
        assert_eq!(hours.matches("<rect").count(), 24 * 3);
        // Six categories and the uncategorized one.
        assert_eq!(categories.matches("<rect").count(), 7);
        assert!(categories.contains("<title>未分类 工单数 1</title>"));
        let departments = departments.expect("a department");
        assert!(departments.contains("&quot;一处&quot;"), "{departments}");
        assert_eq!(departments.matches("<rect").count(), 3);
        assert!(trend.contains(r#"id="rep-trend""#));
        // No day of the 30 had a reply or a revisit: no points.
        assert_eq!(trend.matches("<circle").count(), 0);
        // The empty day has no department chart.
        let mut empty = d;
        empty.report.cases.by_department.clear();
        assert!(charts(&empty).2.is_none());
    }
}
