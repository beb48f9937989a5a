//! The wallboard (大屏) for a TV on the floor: today's figures against their targets, the
//! queues as they are now, calls per hour today against the same weekday last week as an
//! SVG chart drawn here. The page refetches its board whenever the live stream says
//! something changed (htmx SSE; it reconnects by itself) and every 30 s.

use super::messages::{m, Messages};
use super::session::PageUser;
use crate::http::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use hotline_case::lifecycle::Role;

/// 接通率 target: green at or above, amber within 10 points, red below.
pub const ANSWER_RATE_TARGET: f64 = 0.90;
/// Service level (answered within 15 s / offered) target.
pub const SERVICE_LEVEL_TARGET: f64 = 0.80;

#[derive(Template)]
#[template(path = "wallboard.html")]
struct Wall<'a> {
    m: &'a Messages,
    name: &'a str,
    /// Whether the viewer may open the reports (a link in the header).
    reports: bool,
    board: String,
}

#[derive(Template)]
#[template(path = "board.html")]
struct Board<'a> {
    m: &'a Messages,
    offered: i64,
    answered: i64,
    abandoned: i64,
    within15: i64,
    /// (text, colour class)
    answer_rate: (String, &'static str),
    service_level: (String, &'static str),
    answer_target: String,
    service_target: String,
    overdue: i64,
    /// (department's name, overdue cases) of those holding any, most first.
    overdue_by_department: Vec<(String, i64)>,
    /// (name, waiting, longest wait s, ready, on call, wrap-up, not ready)
    queues: Vec<(String, usize, u64, usize, usize, usize, usize)>,
    chart: String,
}

/// The floor's people (agents, supervisors, admins) see the wallboard; others get 403.
fn floor(user: &PageUser) -> Result<(), (StatusCode, &'static str)> {
    match user.user.role {
        Role::Agent | Role::Supervisor | Role::Admin => Ok(()),
        _ => Err((StatusCode::FORBIDDEN, "the wallboard is for the floor")),
    }
}

fn percent(v: Option<f64>) -> String {
    v.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// Green at or above the target, amber within 10 points below, red under that.
pub fn colour(v: Option<f64>, target: f64) -> &'static str {
    match v {
        Some(r) if r >= target => "green",
        Some(r) if r >= target - 0.10 => "amber",
        Some(_) => "red",
        None => "",
    }
}

/// Bars per hour: today (solid) next to the same weekday last week (light).
pub fn hourly_chart(today: &[i64], last_week: &[i64]) -> String {
    use super::chart::{columns, Series, Slot, BLUE, PALE};
    let slots: Vec<Slot> = (0..24)
        .map(|hour| Slot {
            tick: (hour % 3 == 0).then(|| hour.to_string()),
            name: format!("{hour}:00"),
        })
        .collect();
    let series = [
        Series {
            name: "",
            colour: PALE,
            values: last_week,
        },
        Series {
            name: "",
            colour: BLUE,
            values: today,
        },
    ];
    columns("wb-chart", &slots, &series)
}

/// The longest a rendered board is shown again while nothing happened (the overdue count
/// moves with the clock, not with events).
const BOARD_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// The board as last rendered: when, at which count of live events, and the HTML. Every
/// TV on the floor asking at the same count shares one reading of the day's figures.
static BOARD: tokio::sync::Mutex<Option<(std::time::Instant, u64, String)>> =
    tokio::sync::Mutex::const_new(None);

/// Last week's calls per hour, by day: a past day's figures do not change.
static LAST_WEEK: std::sync::Mutex<Option<(chrono::NaiveDate, Vec<i64>)>> =
    std::sync::Mutex::new(None);

/// The board: rendered again once a live event was published since the last reading (the
/// count is read before rendering, so an event during it makes the next ask render again)
/// or after [`BOARD_FRESH`]; one reading at a time, the others wait for it.
async fn board_html(s: &AppState) -> String {
    let mut cached = BOARD.lock().await;
    let changes = s.calls.ctx.acd.changes();
    if let Some((at, seen, html)) = cached.as_ref() {
        if *seen == changes && at.elapsed() < BOARD_FRESH {
            return html.clone();
        }
    }
    let html = render_board(s).await;
    *cached = Some((std::time::Instant::now(), changes, html.clone()));
    html
}

/// Calls per hour on `day` (a past day: read once, then kept).
async fn past_hours(s: &AppState, day: chrono::NaiveDate) -> Vec<i64> {
    if let Ok(g) = LAST_WEEK.lock() {
        if let Some((d, hours)) = g.as_ref() {
            if *d == day {
                return hours.clone();
            }
        }
    }
    let ctx = &s.calls.ctx;
    let hours: Vec<i64> = match ctx
        .store
        .daily_report(day, ctx.ivr.timezone, chrono::Utc::now())
        .await
    {
        Ok(r) => r.hours.iter().map(|h| h.offered).collect(),
        Err(e) => {
            tracing::error!(error = %e, "wallboard: cannot read last week's figures");
            return Vec::new();
        }
    };
    if let Ok(mut g) = LAST_WEEK.lock() {
        *g = Some((day, hours.clone()));
    }
    hours
}

async fn render_board(s: &AppState) -> String {
    let ctx = &s.calls.ctx;
    let tz = ctx.ivr.timezone;
    let now = chrono::Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    let report = ctx.store.daily_report(today, tz, now).await;
    let last_week = past_hours(s, today - chrono::Duration::days(7)).await;
    let hours: Vec<i64> = report
        .as_ref()
        .map(|r| r.hours.iter().map(|h| h.offered).collect())
        .unwrap_or_default();
    let chart = hourly_chart(&hours, &last_week);
    let snap = ctx.acd.snapshot();
    let queues = snap
        .queues
        .iter()
        .map(|q| {
            (
                q.name.clone(),
                q.waiting,
                q.longest_wait_ms / 1000,
                q.ready,
                q.on_call + q.offered,
                q.wrap_up,
                q.not_ready,
            )
        })
        .collect();
    let (c, overdue) = match &report {
        Ok(r) => (Some(&r.calls), r.cases.overdue),
        Err(e) => {
            tracing::error!(error = %e, "wallboard: cannot read today's figures");
            (None, 0)
        }
    };
    // The departments holding overdue cases, most first.
    let mut overdue_by_department: Vec<(String, i64)> = report
        .as_ref()
        .map(|r| {
            r.cases
                .by_department
                .iter()
                .filter(|d| d.overdue > 0)
                .map(|d| (d.name.clone(), d.overdue))
                .collect()
        })
        .unwrap_or_default();
    overdue_by_department.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let board = Board {
        m: m(),
        offered: c.map_or(0, |c| c.offered),
        answered: c.map_or(0, |c| c.answered),
        abandoned: c.map_or(0, |c| c.abandoned),
        within15: c.map_or(0, |c| c.answered_within_15s),
        answer_rate: (
            percent(c.and_then(|c| c.answer_rate)),
            colour(c.and_then(|c| c.answer_rate), ANSWER_RATE_TARGET),
        ),
        service_level: (
            percent(c.and_then(|c| c.service_level)),
            colour(c.and_then(|c| c.service_level), SERVICE_LEVEL_TARGET),
        ),
        answer_target: percent(Some(ANSWER_RATE_TARGET)),
        service_target: percent(Some(SERVICE_LEVEL_TARGET)),
        overdue,
        overdue_by_department,
        queues,
        chart,
    };
    board.render().unwrap_or_default()
}

/// `GET /wallboard`.
pub async fn page(State(s): State<AppState>, user: PageUser) -> Response {
    if let Err(r) = floor(&user) {
        return r.into_response();
    }
    let wall = Wall {
        m: m(),
        name: &user.user.name,
        reports: matches!(user.user.role, Role::Supervisor | Role::Admin),
        board: board_html(&s).await,
    };
    match wall.render() {
        Ok(h) => Html(h).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "page error").into_response(),
    }
}

/// `GET /wallboard/board`: the board alone, refetched live.
pub async fn board(State(s): State<AppState>, user: PageUser) -> Response {
    if let Err(r) = floor(&user) {
        return r.into_response();
    }
    Html(board_html(&s).await).into_response()
}

/// `GET /wallboard/events`: `change` whenever an agent or a call moves.
pub async fn events(
    State(s): State<AppState>,
    user: PageUser,
) -> Result<
    axum::response::sse::Sse<
        impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    (StatusCode, &'static str),
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    floor(&user)?;
    let mut rx = s.calls.ctx.acd.live.subscribe();
    let stream = async_stream::stream! {
        while let Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) = rx.recv().await {
            yield Ok(Event::default().event("change").data("1"));
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_colour_the_figures_and_the_chart_has_both_days() {
        assert_eq!(colour(Some(0.95), 0.9), "green");
        assert_eq!(colour(Some(0.85), 0.9), "amber");
        assert_eq!(colour(Some(0.5), 0.9), "red");
        assert_eq!(colour(None, 0.9), "");
        let mut today = vec![0; 24];
        today[9] = 12;
        let svg = hourly_chart(&today, &[3; 24]);
        assert_eq!(svg.matches("<rect").count(), 48);
        assert!(svg.contains("<title>9:00 12</title>") && svg.contains("<title>9:00 3</title>"));
    }

    #[test]
    fn overdue_cases_are_listed_by_department_only_when_there_are_some() {
        use askama::Template;
        let board = |overdue_by_department| super::Board {
            m: super::m(),
            offered: 0,
            answered: 0,
            abandoned: 0,
            within15: 0,
            answer_rate: (String::new(), ""),
            service_level: (String::new(), ""),
            answer_target: String::new(),
            service_target: String::new(),
            overdue: 3,
            overdue_by_department,
            queues: Vec::new(),
            chart: String::new(),
        };
        let html = board(vec![("市住建局".into(), 2), ("市水务局".into(), 1)])
            .render()
            .unwrap();
        let table = html
            .split("wb-overdue-departments")
            .nth(1)
            .expect("the table");
        let (a, b) = (
            table.find("市住建局").unwrap(),
            table.find("市水务局").unwrap(),
        );
        assert!(a < b, "most first: {table}");
        assert!(table.contains("<td class=\"bad\">2</td>"), "{table}");
        let html = board(Vec::new()).render().unwrap();
        assert!(!html.contains("wb-overdue-departments"), "{html}");
    }
}
