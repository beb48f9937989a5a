//! The daily report (每日一报) of a day whose calls the test placed itself through the real
//! binary with SIPp, every figure checked against values worked out by hand from what
//! the test did (and, for times, from the call rows and the test's own clock):
//!
//! 1. a caller cancels while the hotline still rings (a missed call);
//! 2. with no agent logged in, a caller keys 0 (turned away: no agents) and leaves a
//!    voicemail, whose callback task is then attempted twice by hand (no answer,
//!    reached);
//! 3. agent 1001 logs in and answers a caller (talk, then a 2 s wrap-up);
//! 4. the agent goes not ready; two callers key 0 and hang up in the queue after about
//!    3 s and 7 s (abandoned, one within 5 s);
//! 5. the agent logs out.
//!
//! `GET /api/reports/daily` and `hotline report daily --json` must be the same JSON, and
//! the CLI's tables must show the same figures.

use hotline_e2e::agents::{caller, silent_caller_pcap, AgentPhone};
use hotline_e2e::flows::prompts_ms;
use hotline_e2e::pcap::{self, Segment};
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::{AgentSpec, Hours, Server, ServerOptions, Sipp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The hotline rings this long before it answers (so a caller can cancel: a missed call).
const ANSWER_DELAY_MS: u64 = 1000;

/// The local (Asia/Shanghai, UTC+8 all year) date and hour of an RFC 3339 time.
fn local(at: &Value) -> (String, u32) {
    let t = chrono::DateTime::parse_from_rfc3339(at.as_str().expect("a time"))
        .unwrap_or_else(|e| panic!("{at}: {e}"));
    let east8 = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let l = t.with_timezone(&east8);
    (l.format("%Y-%m-%d").to_string(), chrono::Timelike::hour(&l))
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The ticket's call row once its ACD outcome (and, if `wrapped`, its wrap-up) is written.
fn acd_call(server: &Server, ticket: &str, wrapped: bool) -> Value {
    let case = server.wait_case(ticket, Duration::from_secs(10), |c| {
        let call = &c["calls"][0];
        !call["ended_at"].is_null()
            && !call["acd_result"].is_null()
            && (!wrapped || !call["wrap_up_ms"].is_null())
    });
    case["calls"][0].clone()
}

/// A caller who keys 0 (the agent queue) a second after the answer and hangs up
/// `hold_ms` later; returns the ticket.
fn queue_caller(server: &Server, hold_ms: u32) -> String {
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('0', 1000, hold_ms, sink.port, server.ports.base + 80).run(server);
    run.assert_success("caller keying 0");
    run.x_ticket().expect("X-Ticket")
}

/// The row `label` of the CLI's tables: its value (the last word).
fn cli_row<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{text}"))
}

#[test]
fn report_of_a_day_of_known_calls() {
    let spec = AgentSpec::new("1001", "agent:3").wrap_up(2);
    let server = Server::start(ServerOptions {
        hours: Hours::Staffed,
        answer_delay_ms: ANSWER_DELAY_MS,
        agents: vec![spec.clone()],
        ..Default::default()
    });

    // 1. Missed: cancelled while ringing.
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_cancel.xml")
        .key("sink_port", sink.port)
        .timeout(Duration::from_secs(20))
        .run(&server);
    run.assert_success("cancel while ringing");
    drop(sink);
    std::thread::sleep(Duration::from_millis(ANSWER_DELAY_MS + 300));
    let (code, missed) = server.api_sup("/api/missed-calls");
    assert_eq!(code, 200, "{missed:#}");
    assert_eq!(missed.as_array().map(Vec::len), Some(1), "{missed:#}");
    let (day, missed_hour) = local(&missed[0]["arrived_at"]);

    // 2. Voicemail, nobody logged in: the queue turns the caller away, who leaves a 3 s
    // message after the beep.
    let tone_ms = 3000;
    pcap::write(
        &server.dir().join("caller.pcap"),
        &[Segment::Tone {
            freq: 1000.0,
            ms: tone_ms,
        }],
    );
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_voicemail_info.xml")
        .key("sink_port", sink.port)
        .set("key_at_ms", 2000)
        .set(
            "tone_at_ms",
            prompts_ms(&["agents_busy", "voicemail", "beep"]) + 600,
        )
        .set("tone_ms", tone_ms + 100)
        .timeout(Duration::from_secs(90))
        .run(&server);
    run.assert_success("voicemail call");
    drop(sink);
    let vm_ticket = run.x_ticket().expect("X-Ticket of the voicemail call");
    let vm = server.wait_case(&vm_ticket, Duration::from_secs(10), |c| {
        c["case"]["status"] == "callback_pending" && !c["calls"][0]["ended_at"].is_null()
    });
    let vm_call = vm["calls"][0].clone();
    assert_eq!(vm_call["acd_result"], "no_agents", "{vm:#}");

    // 3. Agent 1001 logs in and answers a caller who talks about 4 s and hangs up.
    let phone = AgentPhone::new(&spec, server.ports.base + 84);
    let login_outer = Instant::now();
    phone.ready(&server);
    let login_inner = Instant::now();
    let uas = phone.answer(&server, "agent_answer.xml", 1, Duration::from_secs(40));
    silent_caller_pcap(&server);
    let answered_ticket = queue_caller(&server, 5000);
    uas.wait().assert_success("agent 1001 answering");
    // Its wrap-up (2 s) ends by itself; then the agent is ready again.
    let answered = acd_call(&server, &answered_ticket, true);
    assert_eq!(answered["acd_result"], "answered", "{answered:#}");
    assert_eq!(answered["agent"], "1001", "{answered:#}");
    let a = server.wait_agent("1001", Duration::from_secs(5), |a| a["state"] == "ready");
    assert_eq!(a["state"], "ready", "after wrap-up: {a:#}");

    // 4. Not ready; two callers give up waiting after about 3 s and 7 s.
    let not_ready_outer = Instant::now();
    phone.dial_code(&server, "*2");
    let a = server.wait_agent("1001", Duration::from_secs(3), |a| {
        a["state"] == "not_ready"
    });
    assert_eq!(a["state"], "not_ready", "after *2: {a:#}");
    let not_ready_inner = Instant::now();
    let short_ticket = queue_caller(&server, 3000);
    let long_ticket = queue_caller(&server, 7000);
    let short = acd_call(&server, &short_ticket, false);
    let long = acd_call(&server, &long_ticket, false);
    for c in [&short, &long] {
        assert_eq!(c["acd_result"], "abandoned", "{c:#}");
    }
    assert!(i(&short["wait_ms"]) <= 5000, "{short:#}");
    assert!(i(&long["wait_ms"]) > 5000, "{long:#}");

    // 5. Logged out.
    let logout_inner = Instant::now();
    phone.dial_code(&server, "*3");
    let a = server.wait_agent("1001", Duration::from_secs(3), |a| {
        a["state"] == "logged_out"
    });
    assert_eq!(a["state"], "logged_out", "after *3: {a:#}");
    let logout_outer = Instant::now();

    // The voicemail's callback task: no answer, then reached.
    let (code, tasks) = server.api_sup("/api/callbacks?all=true");
    assert_eq!(code, 200, "{tasks:#}");
    let tasks = tasks.as_array().cloned().unwrap_or_default();
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    let id = i(&tasks[0]["id"]);
    for result in ["no_answer", "reached"] {
        let (code, t) = server.api_post_sup(&format!("/api/callbacks/{id}/claim"), &json!({}));
        assert_eq!(code, 200, "claim: {t:#}");
        let body = json!({ "result": result, "retry_minutes": 0 });
        let (code, t) = server.api_post_sup(&format!("/api/callbacks/{id}/attempt"), &body);
        assert_eq!(code, 200, "attempt {result}: {t:#}");
    }

    // ----- The report -----
    let (code, r) = server.api_sup(&format!("/api/reports/daily?date={day}"));
    assert_eq!(code, 200, "{r:#}");
    eprintln!("report: {r:#}");
    let all_calls = [&vm_call, &answered, &short, &long];
    for c in all_calls {
        assert_eq!(local(&c["arrived_at"]).0, day, "the test ran over midnight");
    }
    assert_eq!(r["day"], day.as_str());
    assert_eq!(r["time_zone"], "Asia/Shanghai");

    // Calls: 4 the switch answered + 1 missed; all 4 asked for an agent.
    let c = &r["calls"];
    let expect = [
        ("received", 5),
        ("ivr_only", 0),
        ("offered", 5),
        ("queued", 4),
        ("answered", 1),
        ("answered_within_15s", 1),
        ("abandoned", 2),
        ("abandoned_within_5s", 1),
        ("expired", 0),
        ("turned_away", 1),
        ("left_for_callback", 0),
        ("waiting", 0),
        ("missed", 1),
        ("voicemails", 1),
        ("callbacks_requested", 0),
        ("handled", 1),
    ];
    for (k, v) in expect {
        assert_eq!(c[k], v, "calls.{k}: {c:#}");
    }
    // 1 / 5, both of them.
    assert_eq!(c["answer_rate"], 0.2, "{c:#}");
    assert_eq!(c["service_level"], 0.2, "{c:#}");
    let (wait, talk, wrap) = (
        i(&answered["wait_ms"]),
        i(&answered["talk_ms"]),
        i(&answered["wrap_up_ms"]),
    );
    assert!(wait < 15_000, "{answered:#}");
    assert!(
        (3_000..6_000).contains(&talk),
        "talk {talk} ms for a 5 s hold"
    );
    assert!((1_500..4_000).contains(&wrap), "wrap-up {wrap} ms for 2 s");
    assert_eq!(i(&c["avg_speed_of_answer_ms"]), wait);
    assert_eq!(i(&c["avg_handling_time_ms"]), talk + wrap);

    // Hours: each call in the local hour it arrived.
    let hours = r["hours"].as_array().expect("hours");
    assert_eq!(hours.len(), 24);
    let mut want = vec![[0i64; 4]; 24];
    want[missed_hour as usize][0] += 1;
    want[missed_hour as usize][3] += 1;
    for c in all_calls {
        let h = local(&c["arrived_at"]).1 as usize;
        want[h][0] += 1;
        match c["acd_result"].as_str() {
            Some("answered") => want[h][1] += 1,
            Some("abandoned") => want[h][2] += 1,
            _ => {}
        }
    }
    for (h, row) in hours.iter().enumerate() {
        assert_eq!(i(&row["hour"]), h as i64);
        let got = [
            i(&row["offered"]),
            i(&row["answered"]),
            i(&row["abandoned"]),
            i(&row["missed"]),
        ];
        assert_eq!(got, want[h], "hour {h}: {row}");
    }

    // Agents: 1001 took one call; its state times against the test's clock (the state
    // changes happen between the "outer" and "inner" instants).
    let agents = r["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 1, "{agents:#?}");
    let a = &agents[0];
    assert_eq!(a["agent"], "1001");
    assert_eq!((i(&a["calls"]), i(&a["inbound"])), (1, 1));
    assert_eq!((i(&a["talk_ms"]), i(&a["wrap_up_ms"])), (talk, wrap));
    let ms = |d: Duration| d.as_millis() as i64;
    let within = |what: &str, v: i64, lo: Duration, hi: Duration| {
        assert!(
            ms(lo) - 300 <= v && v <= ms(hi) + 300,
            "{what} {v} ms, expected {}..{} ms: {a:#}",
            ms(lo),
            ms(hi)
        );
    };
    let (logged_in, ready, not_ready, busy) = (
        i(&a["logged_in_ms"]),
        i(&a["ready_ms"]),
        i(&a["not_ready_ms"]),
        i(&a["busy_ms"]),
    );
    within(
        "logged in",
        logged_in,
        logout_inner - login_inner,
        logout_outer - login_outer,
    );
    within(
        "not ready",
        not_ready,
        logout_inner - not_ready_inner,
        logout_outer - not_ready_outer,
    );
    assert!(
        (talk + wrap - 1_000..=talk + wrap + 2_000).contains(&busy),
        "busy {busy} ms: ringing + talk {talk} + wrap-up {wrap}"
    );
    assert_eq!(ready + not_ready + busy, logged_in, "{a:#}");
    let occupancy = round4(busy as f64 / (logged_in - not_ready) as f64);
    assert_eq!(a["occupancy"].as_f64(), Some(occupancy), "{a:#}");

    // Callbacks: one task (the voicemail's), two attempts, done.
    let b = &r["callbacks"];
    assert_eq!(i(&b["tasks_created"]), 1, "{b:#}");
    assert_eq!(i(&b["attempts"]), 2, "{b:#}");
    assert_eq!(
        b["attempts_by_result"],
        json!({ "no_answer": 1, "reached": 1 })
    );
    let outcomes = [
        ("tasks_done", 1),
        ("tasks_failed", 0),
        ("tasks_uncallable", 0),
        ("tasks_skipped", 0),
    ];
    for (k, v) in outcomes {
        assert_eq!(b[k], v, "callbacks.{k}: {b:#}");
    }

    // Work orders: the answered call's and the voicemail's; the abandoned calls made no
    // request, the missed one opened no case.
    let k = &r["cases"];
    assert_eq!(i(&k["registered"]), 2, "{k:#}");
    assert_eq!(k["by_category"], json!({ "uncategorized": 2 }), "{k:#}");
    assert_eq!(
        k["by_channel"],
        json!({ "phone": 1, "voicemail": 1 }),
        "{k:#}"
    );
    for f in [
        "dispatched",
        "resolved",
        "resolved_on_time",
        "reply_events",
        "overdue",
        "urged",
        "redone",
        "revisited",
        "revisit_events",
    ] {
        assert_eq!(k[f], 0, "cases.{f}: {k:#}");
    }
    let none = json!({ "satisfied": 0, "mostly_satisfied": 0, "unsatisfied": 0 });
    for f in [
        "revisit_verdicts",
        "revisit_event_verdicts",
        "survey_verdicts",
    ] {
        assert_eq!(k[f], none, "cases.{f}: {k:#}");
    }
    for f in [
        "on_time_rate",
        "revisit_rate",
        "satisfaction_rate",
        "survey_satisfaction_rate",
    ] {
        assert!(k[f].is_null(), "cases.{f}: {k:#}");
    }

    // The CLI: --json is exactly the API's body; the tables show the same figures.
    let cli = server.cli_json(&["report", "daily", "--date", &day, "--json"]);
    assert_eq!(cli, r, "hotline report daily --json differs from the API");
    let text = server.cli_text(&["report", "daily", "--date", &day]);
    eprintln!("{text}");
    let rows = [
        ("received 呼入", "5"),
        ("offered 人工呼入", "5"),
        ("answered 接通", "1"),
        ("abandoned in queue", "2"),
        ("within 5 s", "1"),
        ("missed 未接", "1"),
        ("answer rate 接通率", "20.0%"),
        ("service level", "20.0%"),
        ("registered 受理", "2"),
        ("attempts", "2"),
        ("tasks done", "1"),
    ];
    for (label, value) in rows {
        assert_eq!(cli_row(&text, label), value, "row {label:?} in:\n{text}");
    }
    let agent_row = text
        .lines()
        .find(|l| l.trim_start().starts_with("1001 "))
        .unwrap_or_else(|| panic!("no agent row in:\n{text}"));
    assert_eq!(
        agent_row.split_whitespace().nth(1),
        Some("1"),
        "{agent_row}"
    );
}
