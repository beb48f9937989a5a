//! The reports page (每日报表) in a real browser: a day with known work orders (registered,
//! dispatched to two departments, replied, revisited) and a missed call; the supervisor
//! opens `/reports` from the wallboard, sees the API's figures, the server-drawn charts and the tables, picks
//! another day with the date picker and comes back, and downloads the day as `.xlsx` and
//! `.csv` with the page's session — the workbook is opened again (calamine) and every
//! figure in it checked against `GET /api/reports/daily`. Agents get 403. Screenshots
//! are kept in the test's directory (`HOTLINE_E2E_KEEP=1`).

use calamine::{Data, Reader, Xlsx};
use hotline_e2e::browser::Browser;
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::{Server, ServerOptions, Sipp};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a page or the server may take to show what the test waits for.
const WAIT: Duration = Duration::from_secs(10);

/// The hotline rings this long before it answers (so a caller can cancel: a missed call).
const ANSWER_DELAY_MS: u64 = 1000;

/// A raw HTTP/1.0 exchange: status, headers (lower-case names), body bytes.
struct Fetched {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn fetch(addr: SocketAddr, method: &str, path: &str, cookie: Option<&str>, form: &str) -> Fetched {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let body = if method == "POST" {
        format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )
    } else {
        "\r\n".to_string()
    };
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{cookie}Connection: close\r\n{body}"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Fetched {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// A rate as the page shows it (`87.5%`, `—` for none).
fn percent(v: &Value) -> String {
    v.as_f64()
        .map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// A supervisor registers a case; dispatched to `department` if given. Its ticket.
fn case(server: &Server, category: &str, department: Option<&str>) -> String {
    let (status, made) = server.api_post_sup(
        "/api/cases",
        &json!({
            "caller_number": "13900139000",
            "channel": "phone",
            "category": category,
            "subject": "路灯不亮",
        }),
    );
    assert_eq!(status, 201, "{made}");
    let ticket = made["case"]["ticket"].as_str().unwrap().to_string();
    if let Some(d) = department {
        act(
            server,
            &ticket,
            json!({ "action": "dispatch", "department": d, "mode": "phone" }),
        );
    }
    ticket
}

fn act(server: &Server, ticket: &str, action: Value) {
    let (status, body) = server.api_post_sup(&format!("/api/cases/{ticket}/transitions"), &action);
    assert_eq!(status, 200, "{action}: {body}");
}

/// Accepted, replied (well before its deadline) and revisited with `verdict`.
fn resolve(server: &Server, ticket: &str, verdict: &str) {
    act(server, ticket, json!({ "action": "accept" }));
    act(
        server,
        ticket,
        json!({ "action": "reply", "result": "已修复" }),
    );
    act(
        server,
        ticket,
        json!({ "action": "revisit", "satisfaction": verdict }),
    );
}

/// The session cookie of `username` logged in through the login form.
fn form_login(server: &Server, username: &str, password: &str) -> String {
    let r = fetch(
        server.http,
        "POST",
        "/login",
        None,
        &format!("username={username}&password={password}"),
    );
    assert_eq!(r.status, 303, "login of {username}");
    let set = r.header("set-cookie").expect("a session cookie");
    set.split(';').next().unwrap().to_string()
}

#[test]
fn the_reports_page_shows_the_day_and_downloads_it() {
    let server = Server::start(ServerOptions {
        answer_delay_ms: ANSWER_DELAY_MS,
        ..Default::default()
    });
    for (code, name) in [("housing", "市住建局"), ("water", "市水务局")] {
        server.cli_text(&["department", "add", code, "--name", name, "--level", "1"]);
    }
    // The day's work: four cases, three dispatched (two to housing), two of those
    // replied on time and revisited (one satisfied, one not); one missed call.
    let a = case(&server, "complaint", Some("housing"));
    case(&server, "complaint", Some("housing"));
    let c = case(&server, "consult", Some("water"));
    case(&server, "help", None);
    resolve(&server, &a, "satisfied");
    resolve(&server, &c, "unsatisfied");
    let sink = RtpSink::bind(server.ports.base + 60);
    Sipp::new("uac_cancel.xml")
        .key("sink_port", sink.port)
        .timeout(Duration::from_secs(20))
        .run(&server)
        .assert_success("cancel while ringing");
    drop(sink);
    let deadline = Instant::now() + WAIT;
    let api = loop {
        let (code, r) = server.api_sup("/api/reports/daily");
        assert_eq!(code, 200, "{r:#}");
        if i(&r["calls"]["missed"]) == 1 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (calls, cases) = (&api["calls"], &api["cases"]);
    assert_eq!(i(&calls["missed"]), 1, "{api:#}");
    assert_eq!(i(&cases["registered"]), 4, "{api:#}");
    assert_eq!(i(&cases["dispatched"]), 3, "{api:#}");
    assert_eq!(i(&cases["resolved"]), 2, "{api:#}");
    assert_eq!(cases["on_time_rate"], json!(1.0), "{api:#}");
    assert_eq!(cases["satisfaction_rate"], json!(0.5), "{api:#}");
    let day = api["day"].as_str().unwrap().to_string();
    let yesterday = (chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap()
        - chrono::Duration::days(1))
    .to_string();

    // Agents may not see reports; without a session, the login.
    server.user_token("li", "agent", &[]);
    let agent = form_login(&server, "li", "li-pass-1");
    assert_eq!(
        fetch(server.http, "GET", "/reports", Some(&agent), "").status,
        403
    );
    let r = fetch(server.http, "GET", "/reports/daily.xlsx", Some(&agent), "");
    assert_eq!(r.status, 403);
    let r = fetch(server.http, "GET", "/reports", None, "");
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));

    // The supervisor logs in and opens the reports.
    server.supervisor_token();
    let base = format!("http://{}", server.http);
    let browser = Browser::start();
    let shot = |name: &str| browser.screenshot(&server.dir().join(format!("{name}.png")));
    browser.goto(&format!("{base}/login"));
    browser.fill("form#login input[name=username]", "sup");
    browser.fill("form#login input[name=password]", "sup-pass-1");
    browser.click("form#login button[type=submit]");
    browser.wait_text("#who", "Supervisor", WAIT);
    // From the wallboard's header.
    browser.goto(&format!("{base}/wallboard"));
    browser.wait_text("#wb-reports", "", WAIT);
    browser.click("#wb-reports");
    browser.wait_text("#rep-day", &day, WAIT);
    assert!(
        browser.current_url().ends_with("/reports"),
        "{}",
        browser.current_url()
    );
    let tile = |id: &str| browser.text(&format!("#rep-{id}"));
    assert_eq!(tile("offered"), i(&calls["offered"]).to_string());
    assert_eq!(tile("answered"), i(&calls["answered"]).to_string());
    assert_eq!(tile("answer-rate"), percent(&calls["answer_rate"]));
    assert_eq!(tile("registered"), "4");
    assert_eq!(tile("dispatched"), "3");
    assert_eq!(tile("resolved"), "2");
    assert_eq!(tile("on-time-rate"), "100.0%");
    assert_eq!(tile("satisfaction-rate"), "50.0%");
    assert_eq!(tile("overdue"), i(&cases["overdue"]).to_string());
    // The charts, drawn by the server.
    for id in [
        "rep-hours",
        "rep-categories",
        "rep-departments",
        "rep-trend",
    ] {
        assert!(
            browser.exists(&format!("svg#{id}")),
            "no chart {id}:\n{}",
            browser.source()
        );
    }
    let bars = browser.execute("return document.querySelectorAll('svg#rep-hours rect').length;");
    assert_eq!(bars, json!(24 * 3));
    // Today's point on both trend lines (the last day of the 30).
    let points = browser.execute(
        "return Array.from(document.querySelectorAll('svg#rep-trend circle title'))\
           .map(t => t.textContent);",
    );
    let points: Vec<String> = serde_json::from_value(points).unwrap();
    assert_eq!(points.len(), 2, "{points:?}");
    assert!(points.iter().all(|p| p.starts_with(&day)), "{points:?}");
    let depts = browser.text("#rep-departments-table");
    assert!(
        depts.contains("市住建局") && depts.contains("市水务局"),
        "{depts}"
    );
    shot("1-reports-today");
    for (name, css) in [
        ("2-reports-charts", ".pair"),
        ("3-reports-trend", "svg#rep-trend"),
        ("4-reports-figures", "#rep-summary"),
        ("5-reports-tables", "#rep-departments-table"),
    ] {
        browser.execute(&format!(
            "document.querySelector('{css}').scrollIntoView(); return 0;"
        ));
        shot(name);
    }

    // The date picker: yesterday (nothing happened), then back with 后一天.
    browser.execute(&format!(
        "document.getElementById('rep-date').value = '{yesterday}'; return 0;"
    ));
    browser.click("#rep-show");
    browser.wait_text("#rep-day", &yesterday, WAIT);
    assert!(
        browser
            .current_url()
            .ends_with(&format!("/reports?date={yesterday}")),
        "{}",
        browser.current_url()
    );
    assert_eq!(tile("registered"), "0");
    assert_eq!(tile("on-time-rate"), "—");
    shot("6-reports-yesterday");
    browser.click("#rep-next");
    browser.wait_text("#rep-day", &day, WAIT);
    assert_eq!(tile("registered"), "4");
    assert!(!browser.exists("#rep-next"), "no day after today");

    // The downloads, with the page's session cookie.
    let cookie: Vec<String> = browser
        .cookies()
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    let cookie = cookie.join("; ");
    let xlsx_link =
        browser.execute("return document.getElementById('rep-xlsx').getAttribute('href');");
    assert_eq!(xlsx_link, json!(format!("/reports/daily.xlsx?date={day}")));
    let r = fetch(
        server.http,
        "GET",
        &format!("/reports/daily.xlsx?date={day}"),
        Some(&cookie),
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    let disposition = r.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains(&format!("{day}.xlsx")),
        "{disposition}"
    );
    std::fs::write(server.dir().join("report.xlsx"), &r.body).unwrap();
    let mut book = Xlsx::new(std::io::Cursor::new(r.body)).expect("the workbook opens");
    assert_eq!(
        book.sheet_names(),
        ["概要", "分时段", "分类", "承办单位", "坐席", "近30日"]
    );
    let summary = book.worksheet_range("概要").unwrap();
    let figure = |label: &str| -> Data {
        summary
            .rows()
            .find(|r| r.get(1) == Some(&Data::String(label.into())))
            .unwrap_or_else(|| panic!("no row {label} in 概要"))[2]
            .clone()
    };
    let number = |v: &Value| Data::Float(i(v) as f64);
    let rate = |v: &Value| match v.as_f64() {
        Some(r) => Data::Float(r),
        None => Data::String("—".into()),
    };
    assert_eq!(figure("日期"), Data::String(day.clone()));
    for (label, key) in [
        ("呼入总量", "received"),
        ("转人工", "offered"),
        ("人工接通", "answered"),
        ("振铃未接", "missed"),
    ] {
        assert_eq!(figure(label), number(&calls[key]), "{label}");
    }
    assert_eq!(figure("接通率"), rate(&calls["answer_rate"]));
    for (label, key) in [
        ("受理工单", "registered"),
        ("转办", "dispatched"),
        ("办结", "resolved"),
        ("按时办结", "resolved_on_time"),
        ("超期未办结", "overdue"),
        ("回访", "revisited"),
    ] {
        assert_eq!(figure(label), number(&cases[key]), "{label}");
    }
    assert_eq!(figure("按时办结率"), Data::Float(1.0));
    assert_eq!(figure("满意率"), Data::Float(0.5));
    assert_eq!(figure("电话"), Data::Float(4.0));

    let hours = book.worksheet_range("分时段").unwrap();
    assert_eq!(hours.height(), 1 + 24 + 1);
    for (h, want) in api["hours"].as_array().unwrap().iter().enumerate() {
        let row = h as u32 + 1;
        assert_eq!(
            hours.get_value((row, 0)),
            Some(&Data::String(format!("{h:02}:00-{:02}:00", h + 1)))
        );
        assert_eq!(
            hours.get_value((row, 1)),
            Some(&number(&want["offered"])),
            "{h}"
        );
        assert_eq!(
            hours.get_value((row, 4)),
            Some(&number(&want["missed"])),
            "{h}"
        );
    }
    assert_eq!(hours.get_value((25, 1)), Some(&number(&calls["offered"])));

    let categories = book.worksheet_range("分类").unwrap();
    let count = |label: &str| {
        categories
            .rows()
            .find(|r| r[0] == Data::String(label.into()))
            .map(|r| r[1].clone())
    };
    assert_eq!(count("投诉"), Some(Data::Float(2.0)));
    assert_eq!(count("咨询"), Some(Data::Float(1.0)));
    assert_eq!(count("求助"), Some(Data::Float(1.0)));
    assert_eq!(count("举报"), Some(Data::Float(0.0)));
    assert_eq!(count("合计"), Some(Data::Float(4.0)));

    let departments = book.worksheet_range("承办单位").unwrap();
    let want = cases["by_department"].as_array().unwrap();
    assert_eq!(want.len(), 2, "{api:#}");
    for (n, d) in want.iter().enumerate() {
        let row = n as u32 + 1;
        let cell = |col: u32| departments.get_value((row, col)).cloned();
        assert_eq!(
            cell(0),
            Some(Data::String(d["name"].as_str().unwrap().into()))
        );
        assert_eq!(
            cell(1),
            Some(Data::String(d["department"].as_str().unwrap().into()))
        );
        assert_eq!(cell(2), Some(number(&d["dispatched"])));
        assert_eq!(cell(3), Some(number(&d["resolved"])));
        assert_eq!(cell(4), Some(number(&d["resolved_on_time"])));
        assert_eq!(cell(5), Some(number(&d["overdue"])));
        assert_eq!(cell(6), Some(rate(&d["on_time_rate"])));
    }
    assert_eq!(
        (&want[0]["department"], i(&want[0]["dispatched"])),
        (&json!("housing"), 2)
    );
    let trend = book.worksheet_range("近30日").unwrap();
    assert_eq!(trend.height(), 31);
    assert_eq!(trend.get_value((30, 0)), Some(&Data::String(day.clone())));
    assert_eq!(trend.get_value((30, 3)), Some(&Data::Float(1.0)));
    assert_eq!(trend.get_value((30, 5)), Some(&Data::Float(0.5)));

    // The CSV: UTF-8 with a BOM, the same figures.
    let r = fetch(
        server.http,
        "GET",
        &format!("/reports/daily.csv?date={day}"),
        Some(&cookie),
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(r.body.starts_with(b"\xEF\xBB\xBF"), "a BOM");
    let text = String::from_utf8(r.body).unwrap();
    std::fs::write(server.dir().join("report.csv"), &text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for line in [
        format!("话务,转人工,{}", i(&calls["offered"])),
        "工单,受理工单,4".to_string(),
        "工单,按时办结率,100.00%".to_string(),
        "工单,满意率,50.00%".to_string(),
        "市住建局,housing,2,1,1,0,100.00%".to_string(),
    ] {
        assert!(lines.contains(&line.as_str()), "no {line:?} in:\n{text}");
    }
}
