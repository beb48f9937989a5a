//! The server's HTML pages in a real browser: headless chromium driven through chromedriver
//! ([`Browser`]). Each step's screenshot is kept in the test's directory (`server.dir()`,
//! kept with `HOTLINE_E2E_KEEP=1` or when the test fails).

use hotline_e2e::agents::{caller, silent_caller_pcap, AgentPhone};
use hotline_e2e::browser::Browser;
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::server::{AgentSpec, Server, ServerOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a page may take to show what the test waits for.
const WAIT: Duration = Duration::from_secs(10);

#[test]
fn login_desk_and_logout_in_a_browser() {
    let server = Server::start(ServerOptions {
        agents: vec![AgentSpec::new("1001", "consult:5")],
        ..Default::default()
    });
    server.user_token("li", "agent", &["--extension", "1001"]);
    let base = format!("http://{}", server.http);
    let browser = Browser::start();
    let shot = |name: &str| browser.screenshot(&server.dir().join(format!("{name}.png")));

    // Not logged in: the root sends the browser to the login form.
    browser.goto(&format!("{base}/"));
    wait_path(&browser, &base, "/login");
    for field in [
        "form#login input[name=username]",
        "form#login input[name=password]",
        "form#login button[type=submit]",
    ] {
        assert!(browser.exists(field), "no {field}:\n{}", browser.source());
    }
    shot("1-login");

    // A wrong password: the form again, with an error in Chinese.
    log_in(&browser, "li", "not-the-password");
    let error = browser.wait_text(".error", "", WAIT);
    assert!(
        error
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "the error is not in Chinese: {error:?}"
    );
    assert!(browser.exists("form#login"), "{}", browser.source());
    assert_eq!(path(&browser, &base), "/login");
    shot("2-login-wrong-password");

    // The right password: the agent's desk, with their name and their agent's state.
    log_in(&browser, "li", "li-pass-1");
    browser.wait_text("#who", "li", WAIT);
    assert_eq!(path(&browser, &base), "/desk");
    let state = browser.text("#state");
    assert!(
        !state.trim().is_empty(),
        "#state is empty:\n{}",
        browser.source()
    );
    shot("3-desk");

    // The session cookie is out of the page's scripts' reach (HttpOnly) and never sent
    // from another site (SameSite=Strict).
    assert_eq!(
        browser.execute("return document.cookie;"),
        serde_json::json!(""),
        "a script in the page can read the session cookie"
    );
    let cookies = browser.cookies();
    assert!(!cookies.is_empty(), "no session cookie after the login");
    for c in &cookies {
        assert!(c.http_only, "cookie {} is not HttpOnly: {c:?}", c.name);
        assert_eq!(c.same_site.as_deref(), Some("Strict"), "cookie {c:?}");
    }
    // The cookie is what opens the desk: with it 200, without it back to the login.
    let header: Vec<String> = cookies
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    let header = header.join("; ");
    assert_eq!(fetch(server.http, "/desk", Some(&header)), (200, None));
    assert_redirected_to_login(fetch(server.http, "/desk", None));

    // Logging out: back to the login form, the desk closed again, the old cookie dead.
    browser.click("form#logout button");
    wait_path(&browser, &base, "/login");
    assert!(browser.exists("form#login"), "{}", browser.source());
    shot("4-logged-out");
    browser.goto(&format!("{base}/desk"));
    wait_path(&browser, &base, "/login");
    assert_redirected_to_login(fetch(server.http, "/desk", Some(&header)));
}

/// Fills the login form and submits it.
fn log_in(browser: &Browser, username: &str, password: &str) {
    browser.fill("form#login input[name=username]", username);
    browser.fill("form#login input[name=password]", password);
    browser.click("form#login button[type=submit]");
}

/// The path of the page shown (without the query).
fn path(browser: &Browser, base: &str) -> String {
    let url = browser.current_url();
    let rest = url.strip_prefix(base).unwrap_or(&url);
    rest.split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Waits (at most [`WAIT`]) until the browser shows `want` (a path).
fn wait_path(browser: &Browser, base: &str, want: &str) {
    let deadline = Instant::now() + WAIT;
    while path(browser, base) != want {
        assert!(
            Instant::now() < deadline,
            "still at {} instead of {want}:\n{}",
            browser.current_url(),
            browser.source()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` with `cookie` (the `Cookie:` header) or none, redirects not followed: the
/// status and the `Location` header.
fn fetch(addr: SocketAddr, path: &str, cookie: Option<&str>) -> (u16, Option<String>) {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{cookie}\r\n").expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad response to GET {path}: {head:?}"));
    let location = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("location")
            .then(|| value.trim().to_string())
    });
    (status, location)
}

fn assert_redirected_to_login((status, location): (u16, Option<String>)) {
    assert!(
        (300..400).contains(&status),
        "GET /desk answered {status}, not a redirect"
    );
    let location = location.unwrap_or_default();
    let to = location.split('?').next().unwrap_or_default();
    assert!(to.ends_with("/login"), "redirected to {location:?}");
}

#[test]
fn the_wallboard_counts_a_call_without_a_reload() {
    let spec = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![spec.clone()],
        ..Default::default()
    });
    server.supervisor_token();
    let base = format!("http://{}", server.http);
    let browser = Browser::start();
    browser.goto(&format!("{base}/login"));
    log_in(&browser, "sup", "sup-pass-1");
    wait_path(&browser, &base, "/desk");
    browser.goto(&format!("{base}/wallboard"));
    browser.wait_text("#wb-offered", "0", WAIT);
    assert!(
        browser.exists("#wb-chart"),
        "no chart:\n{}",
        browser.source()
    );
    browser.screenshot(&server.dir().join("5-wallboard-before.png"));
    // A caller asks for an agent (none is ready: turned away, offered all the same).
    let phone = hotline_e2e::agents::AgentPhone::new(&spec, server.ports.base + 84);
    phone.dial_code(&server, "*2");
    hotline_e2e::agents::silent_caller_pcap(&server);
    let sink = hotline_e2e::rtp::RtpSink::bind(server.ports.base + 60);
    let marker = browser.execute("window.__same_page = 42; return 1;");
    assert_eq!(marker, serde_json::json!(1));
    let run = hotline_e2e::agents::caller('0', 1000, 3000, sink.port, server.ports.base + 80)
        .run(&server);
    run.assert_success("caller");
    // The board follows the live stream: no reload (the page's own variable survives).
    browser.wait_text("#wb-offered", "1", WAIT);
    assert_eq!(
        browser.execute("return window.__same_page;"),
        serde_json::json!(42),
        "the page was reloaded"
    );
    browser.screenshot(&server.dir().join("6-wallboard-after.png"));
}

/// The whole life of a call in the pages, as the issue tells it: the agent goes ready at the
/// desk; a caller presses 0; the desk pops the caller's ticket and earlier open case while
/// the softphone rings (within 1 s of the INVITE reaching it); the agent writes the complaint
/// up and dispatches it; the department's handler sees it in the portal with its deadline and
/// without the caller's number, and replies.
#[test]
fn a_call_pops_at_the_desk_is_dispatched_and_replied_in_the_portal() {
    let spec = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![spec.clone()],
        ..Default::default()
    });
    server.cli_text(&[
        "department",
        "add",
        "housing",
        "--name",
        "市住建局",
        "--level",
        "1",
    ]);
    server.user_token("li", "agent", &["--extension", "1001"]);
    server.user_token("zhou", "department_handler", &["--department", "housing"]);
    // The caller rang before: an open case of theirs, with the department.
    let (status, made) = server.api_post_sup(
        "/api/cases",
        &serde_json::json!({
            "caller_number": CALLER,
            "channel": "phone",
            "category": "help",
            "subject": "路灯不亮",
        }),
    );
    assert_eq!(status, 201, "{made}");
    let earlier = made["case"]["ticket"].as_str().unwrap().to_string();
    let (status, body) = server.api_post_sup(
        &format!("/api/cases/{earlier}/transitions"),
        &serde_json::json!({ "action": "dispatch", "department": "housing", "mode": "phone" }),
    );
    assert_eq!(status, 200, "{body}");
    // And one answered on the spot, settled.
    let (status, made) = server.api_post_sup(
        "/api/cases",
        &serde_json::json!({
            "caller_number": CALLER,
            "channel": "phone",
            "category": "consult",
            "subject": "公积金提取",
        }),
    );
    assert_eq!(status, 201, "{made}");
    let settled = made["case"]["ticket"].as_str().unwrap().to_string();
    let (status, body) = server.api_post_sup(
        &format!("/api/cases/{settled}/transitions"),
        &serde_json::json!({ "action": "answer", "summary": "告知提取条件" }),
    );
    assert_eq!(status, 200, "{body}");

    let base = format!("http://{}", server.http);
    let browser = Browser::start();
    let shot = |name: &str| browser.screenshot(&server.dir().join(format!("{name}.png")));
    browser.goto(&format!("{base}/login"));
    log_in(&browser, "li", "li-pass-1");
    wait_path(&browser, &base, "/desk");
    // The softphone registers (signing in not ready); the desk's button makes it ready.
    let phone = AgentPhone::new(&spec, server.ports.base + 84);
    phone.dial_code(&server, "*2");
    browser.goto(&format!("{base}/desk"));
    browser.click("#go-ready");
    browser.wait_text("#state", "空闲", WAIT);
    assert_eq!(server.api_agent("1001")["state"], "ready");
    shot("7-desk-ready");

    let uas = phone.answer(&server, "agent_ring_answer.xml", 1, Duration::from_secs(60));
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let call = caller('0', 1000, 15_000, sink.port, server.ports.base + 80).spawn(&server);
    // The pop, while the phone still rings.
    let ticket = browser.wait_text("#pop-ticket", "", Duration::from_secs(20));
    let popped = chrono::Local::now();
    assert_eq!(
        server.api_agent("1001")["state"],
        "offered",
        "the pop came after the phone stopped ringing"
    );
    let invite = uas
        .received_so_far_at()
        .into_iter()
        .find(|(_, m)| m.starts_with("INVITE sip:"))
        .map(|(at, _)| at)
        .expect("the phone's INVITE");
    let late = popped.naive_local() - invite;
    assert!(
        late < chrono::Duration::seconds(1),
        "the pop came {late} after the phone rang"
    );
    assert_eq!(browser.text("#pop-caller"), "138****8000");
    assert!(!browser.source().contains(CALLER), "the whole number shows");
    let cases = browser.text("#pop-cases");
    assert!(cases.contains(&earlier), "the earlier case: {cases}");
    assert!(cases.contains("已转办"), "its state: {cases}");
    assert!(
        cases.contains(&settled) && cases.contains("已当即答复"),
        "the recent settled case: {cases}"
    );
    shot("8-desk-pop");

    // The agent writes the complaint up and dispatches it, the deadline shown first.
    server.wait_agent("1001", Duration::from_secs(10), |a| a["state"] == "on_call");
    browser.fill("#case-form input[name=caller_name]", "张三");
    browser.fill("#case-form input[name=location]", "幸福路12号");
    browser.click("#case-form select[name=category] option[value=complaint]");
    browser.fill("#case-form input[name=subject]", "工地夜间施工噪音");
    browser.fill(
        "#case-form textarea[name=description]",
        "幸福路12号旁工地夜间施工,请核查。",
    );
    browser.click("#case-form select[name=action] option[value=dispatch]");
    browser.click("#case-form select[name=department] option[value=housing]");
    browser.click("#case-form select[name=mode] option[value=phone]");
    let preview = browser.wait_text("#deadline", "20", WAIT);
    shot("9-desk-form");
    browser.click("#save-case");
    let saved = browser.wait_text("#case-saved", &ticket, WAIT);
    assert!(
        saved.contains(&preview),
        "saved {saved:?}, preview {preview:?}"
    );
    let case = server.case_show(&ticket);
    assert_eq!(case["case"]["status"], "dispatched", "{case:#}");
    assert_eq!(case["case"]["department"], "housing", "{case:#}");
    shot("10-desk-saved");
    call.wait().assert_success("caller");
    uas.wait().assert_success("agent");
    // The state bar follows by itself: the call counted today, then a pause with a reason.
    browser.wait_text("#calls-today", "1", WAIT);
    browser.wait_text("#state", "话后处理", WAIT);
    let left = browser.text("#wrap-up-left");
    assert!(
        left.starts_with("0:") && left != "0:00",
        "the wrap-up countdown (30 s): {left:?}"
    );
    browser.click("#reason-choice option[value=meal]");
    browser.click("#go-not-ready");
    browser.wait_text("#reason", "用餐", WAIT);
    assert!(
        browser.exists("#case-form"),
        "the pause reloaded the desk: the work order is gone"
    );
    let a = server.api_agent("1001");
    assert_eq!(
        (&a["state"], &a["reason"]),
        (&"not_ready".into(), &"meal".into())
    );
    shot("10b-desk-paused");

    // The handler: the case with its deadline, the complainant hidden, then the reply.
    browser.click("form#logout button");
    wait_path(&browser, &base, "/login");
    log_in(&browser, "zhou", "zhou-pass-1");
    wait_path(&browser, &base, "/portal");
    let row = format!("#case-{ticket}");
    let deadline = browser.text(&format!("{row} .deadline"));
    assert!(
        preview.starts_with(deadline.trim()) || deadline.trim().starts_with(&preview[..10]),
        "portal deadline {deadline:?}, desk preview {preview:?}"
    );
    assert_eq!(browser.text(&format!("{row} .caller")), "保密");
    assert!(
        browser.exists(&format!("#case-{earlier}")),
        "the earlier case too"
    );
    // (The earlier request was no complaint: its number may show; this one's row never.)
    let html = browser.execute(&format!(
        "return document.querySelector('{row}').outerHTML;"
    ));
    let html = html.as_str().unwrap_or_default();
    for hidden in [CALLER, "138****8000", "张三", "幸福路12号"] {
        assert!(!html.contains(hidden), "the portal shows {hidden}: {html}");
    }
    shot("11-portal");
    browser.click(&format!("{row} button[value=accept]"));
    browser.wait_text(&format!("{row} .status"), "已签收", WAIT);
    browser.fill(&format!("{row} input[name=text]"), "已责令工地停止夜间施工");
    browser.click(&format!("{row} button[value=reply]"));
    wait_path(&browser, &base, "/portal");
    let deadline = Instant::now() + WAIT;
    while browser.exists(&row) {
        assert!(
            Instant::now() < deadline,
            "the replied case is still listed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    shot("12-portal-replied");
    let case = server.case_show(&ticket);
    assert_eq!(case["case"]["status"], "replied", "{case:#}");
}

/// The number the e2e callers ring from.
const CALLER: &str = "13800138000";

/// The desk's callback worklist: a voicemail left at night is on it with a player for the
/// recording (served to the page, its reading audited), "call now" says why it cannot dial
/// without an outbound trunk, a call made by hand gets its result recorded, and the task
/// is moved to a new time.
#[test]
fn the_desk_worklist_plays_a_voicemail_records_a_result_and_reschedules() {
    use hotline_e2e::flows::prompts_ms;
    use hotline_e2e::pcap::{self, Segment};
    let spec = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![spec.clone()],
        hours: hotline_e2e::Hours::Closed,
        ..Default::default()
    });
    server.user_token("li", "agent", &["--extension", "1001"]);
    // A citizen leaves a voicemail at night.
    let record_at = prompts_ms(&["welcome", "emergency", "closed", "voicemail", "beep"]);
    pcap::write(
        &server.dir().join("caller.pcap"),
        &[
            Segment::Silence {
                ms: record_at + 600,
            },
            Segment::Tone {
                freq: 1000.0,
                ms: 2000,
            },
        ],
    );
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = hotline_e2e::Sipp::new("uac_hangup_while_recording.xml")
        .key("sink_port", sink.port)
        .key("caller", CALLER)
        .set("bye_at_ms", record_at + 600 + 2400)
        .timeout(Duration::from_secs(90))
        .run(&server);
    run.assert_success("voicemail call");
    let ticket = run.x_ticket().expect("the voicemail's ticket");

    let base = format!("http://{}", server.http);
    let browser = Browser::start();
    browser.goto(&format!("{base}/login"));
    log_in(&browser, "li", "li-pass-1");
    wait_path(&browser, &base, "/desk");
    // The task shows up (its voicemail's row is written as the call ends).
    let deadline = Instant::now() + WAIT;
    while !browser.exists("#worklist tr[id^=task-]") {
        assert!(Instant::now() < deadline, "no task:\n{}", browser.source());
        std::thread::sleep(Duration::from_millis(200));
        browser.goto(&format!("{base}/desk"));
    }
    let row = browser.text("#worklist tbody tr");
    assert!(row.contains(&ticket), "{row}");
    assert!(row.contains("138****8000") && row.contains("留言"), "{row}");
    assert!(!browser.source().contains(CALLER), "the whole number shows");
    // The player's recording: a WAV the browser may fetch with its session.
    let fetched = browser.execute(
        "const a = document.querySelector('#worklist audio'); \
         const x = new XMLHttpRequest(); x.open('GET', a.src, false); x.send(); \
         return [x.status, x.getResponseHeader('content-type'), x.responseText.slice(0, 4)];",
    );
    assert_eq!(fetched[0], 200, "{fetched}");
    assert_eq!(fetched[2], "RIFF", "{fetched}");
    browser.screenshot(&server.dir().join("13-desk-worklist.png"));
    let case = server.case_show(&ticket);
    assert!(
        case["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "recording_read"),
        "the desk's playing is audited: {case:#}"
    );

    // No outbound trunk here: "call now" says so and changes nothing.
    browser.click("#worklist button[value=start]");
    let note = browser.wait_text("#cb-note", "", WAIT);
    assert!(note.contains("trunk.outbound"), "{note}");
    // A call made by hand: no answer, noted.
    browser.click("#worklist select[name=result] option[value=no_answer]");
    browser.fill("#worklist input[name=note]", "下午再打");
    browser.click("#worklist button[value=result]");
    browser.wait_text("#cb-note", "已完成", WAIT);
    let (_, tasks) = server.api_sup("/api/callbacks?all=true");
    let task = tasks[0].clone();
    assert_eq!(
        (&task["attempts"], &task["last_result"]),
        (&1.into(), &"no_answer".into()),
        "{task:#}"
    );
    // A new time, tomorrow 10:00 (the field's local time, the hotline's zone: UTC+8).
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let id = task["id"].as_i64().unwrap();
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .with_timezone(&shanghai)
        .format("%Y-%m-%dT10:00")
        .to_string();
    browser.execute(&format!(
        "document.querySelector('#task-{id} input[name=at]').value = '{tomorrow}'; return 1;"
    ));
    browser.click(&format!("#task-{id} button[value=reschedule]"));
    // (The note already says 已完成 from the result: wait for the row to change.)
    let shown = tomorrow[5..].replace('T', " ");
    browser.wait_text(&format!("#task-{id}.later .due"), &shown, WAIT);
    let (_, task) = server.api_sup(&format!("/api/callbacks/{id}"));
    let due = chrono::DateTime::parse_from_rfc3339(task["next_attempt_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&shanghai)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    assert_eq!(due, tomorrow, "{task:#}");
    browser.screenshot(&server.dir().join("14-desk-worklist-rescheduled.png"));
}
