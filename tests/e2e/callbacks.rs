//! Callbacks and revisits going out over the trunk: SIPp plays the carrier's gateway (a
//! UAS on loopback answering the hotline's outbound INVITE and sending audio) and the
//! agents' softphones. Time is controlled through the config — calling hours that exclude
//! or include "now", retry spacing and ring times of seconds — never by long sleeps.

use hotline_e2e::agents::{invites, AgentPhone};
use hotline_e2e::audio::Wav;
use hotline_e2e::flows::{loud_secs, prompts_ms};
use hotline_e2e::pcap::{self, Segment};
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::sip::{header, method};
use hotline_e2e::sipp::SippChild;
use hotline_e2e::{AgentSpec, Hours, Server, ServerOptions, Sipp};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The number the voicemail scenario calls from.
const CITIZEN: &str = "13800138000";
const GW_USER: &str = "hotline";
const GW_PASSWORD: &str = "gw-secret-1";

/// `[trunk.outbound]` to the gateway at `gw_port` and `[callbacks]` with `hours`, polling
/// every second, retries 3 s apart, the citizen's phone ringing 3 s.
fn callback_config(gw_port: u16, hours: &str, revisit: &str) -> String {
    format!(
        r#"[trunk.outbound]
gateway = "127.0.0.1:{gw_port}"
caller_id = "12345"
username = "{GW_USER}"
password = "{GW_PASSWORD}"

[callbacks]
calling_hours = "{hours}"
poll_secs = 1
retry_after_secs = 3
ring_secs = 3
revisit = "{revisit}"
survey_wait_secs = 5
"#
    )
}

/// Calling hours that do not include the present moment (Asia/Shanghai, UTC+8).
fn hours_excluding_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let local_hour = (secs / 3600 + 8) % 24;
    if local_hour <= 20 {
        format!("{:02}:00-{:02}:00", local_hour + 2, local_hour + 3)
    } else {
        "03:00-04:00".into()
    }
}

/// Calling hours that include any moment of the day.
const ALL_DAY: &str = "00:00-23:59";

/// A caller outside staffed hours leaves a 2 s message and hangs up; returns the ticket.
fn leave_voicemail(server: &Server) -> String {
    leave_voicemail_from(server, CITIZEN)
}

/// [`leave_voicemail`] from the caller ID `number`.
fn leave_voicemail_from(server: &Server, number: &str) -> String {
    let record_at = prompts_ms(&["welcome", "emergency", "closed", "voicemail", "beep"]);
    let segments = [
        Segment::Silence {
            ms: record_at + 600,
        },
        Segment::Tone {
            freq: 1000.0,
            ms: 2000,
        },
    ];
    pcap::write(&server.dir().join("caller.pcap"), &segments);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_hangup_while_recording.xml")
        .key("sink_port", sink.port)
        .key("caller", number)
        .set("bye_at_ms", record_at + 600 + 2400)
        .timeout(Duration::from_secs(90))
        .run(server);
    run.assert_success("voicemail call");
    run.x_ticket().expect("no X-Ticket in the 200 OK")
}

/// Registers the agent's phone (no feature code), starts its answering UAS for `calls`
/// calls, and only then makes it ready through the API: the dialler may ring it at once.
fn agent_ready_to_answer(server: &Server, phone: &AgentPhone, calls: u32) -> SippChild {
    let uas = phone.sipp("agent_answer.xml").calls(calls);
    agent_ready_with(server, phone, uas)
}

/// [`agent_ready_to_answer`] with the agent's UAS given.
fn agent_ready_with(server: &Server, phone: &AgentPhone, uas: Sipp) -> SippChild {
    let (_, code) = phone.register_once(
        server,
        &phone.extension,
        &phone.extension,
        &phone.password,
        3600,
    );
    assert_eq!(code, Some(200), "agent REGISTER");
    let uas = uas.timeout(Duration::from_secs(120)).spawn(server);
    std::thread::sleep(Duration::from_millis(300));
    let (status, body) = server.api_post_sup(
        &format!("/api/agents/{}/state", phone.extension),
        &json!({ "state": "ready" }),
    );
    assert_eq!(status, 200, "agent ready: {body}");
    uas
}

/// SIPp as the carrier's gateway at `gw_port`, running `scenario`.
fn gateway(server: &Server, gw_port: u16, scenario: &str) -> Sipp {
    Sipp::new(scenario)
        .local_port(gw_port)
        .media_port(server.ports.base + 88)
        .timeout(Duration::from_secs(60))
}

/// The gateway challenges, then the citizen answers, says `tone_ms` of tone and hangs up
/// `hold_ms` after answering.
fn answering_gateway(server: &Server, gw_port: u16, tone_ms: u32, hold_ms: u32) -> SippChild {
    pcap::write(
        &server.dir().join("gateway.pcap"),
        &[Segment::Tone {
            freq: 1000.0,
            ms: tone_ms,
        }],
    );
    gateway(server, gw_port, "gw_challenge_answer.xml")
        .key("user", GW_USER)
        .key("password", GW_PASSWORD)
        .set("hold_ms", hold_ms)
        .timeout(Duration::from_secs(120))
        .spawn(server)
}

/// The only callback task (all statuses), via the API. The caller's BYE is answered
/// before the call's task has written the voicemail and its task: wait (bounded) for it.
fn only_task(server: &Server, token: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, tasks) = server.api_authorized("/api/callbacks?all=true", token);
        assert_eq!(status, 200, "{tasks}");
        let list = tasks.as_array().expect("a list of tasks");
        if list.len() == 1 {
            return list[0].clone();
        }
        assert!(
            list.is_empty() && Instant::now() < deadline,
            "tasks: {tasks:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `GET /api/callbacks/{id}` until `done` (at most `limit`).
fn wait_task(
    server: &Server,
    token: &str,
    id: i64,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, t) = server.api_authorized(&format!("/api/callbacks/{id}"), token);
        assert_eq!(status, 200, "{t}");
        if done(&t) || Instant::now() >= deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Seconds from the time `a` to the time `b` (RFC 3339, as the API prints them).
fn secs_between(a: &Value, b: &Value) -> f64 {
    let t = |v: &Value| {
        let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
        chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    };
    (t(b) - t(a)).num_milliseconds() as f64 / 1000.0
}

#[test]
fn night_voicemail_is_called_back_agent_first_in_the_morning_after_a_restart() {
    let gw_port = hotline_e2e::ports::free_port();
    let agent = AgentSpec::new("1001", "callback:3").max_ring(10).wrap_up(1);
    let night = hours_excluding_now();
    let mut server = Server::start(ServerOptions {
        hours: Hours::Closed,
        agents: vec![agent.clone()],
        extra_config: callback_config(gw_port, &night, "off"),
        ..Default::default()
    });
    let token = server.supervisor_token();
    // The gateway listens from the start: at night it must hear nothing.
    let gateway = answering_gateway(&server, gw_port, 3000, 4000);
    // An agent with the callback skill is ready at night, so only the calling hours
    // keep the task from being dialled.
    let phone = AgentPhone::new(&agent, server.ports.base + 84);
    let (_, code) = phone.register_once(&server, "1001", "1001", &agent.password, 3600);
    assert_eq!(code, Some(200));
    let (status, _) = server.api_post_sup("/api/agents/1001/state", &json!({ "state": "ready" }));
    assert_eq!(status, 200);

    let ticket = leave_voicemail(&server);
    let task = only_task(&server, &token);
    assert_eq!(task["status"], "pending", "{task:#}");
    assert_eq!(task["reason"], "voicemail");
    assert_eq!(task["mode"], "agent");
    assert_eq!(task["number"], CITIZEN);
    assert_eq!(task["ticket"], ticket.as_str());
    let id = task["id"].as_i64().unwrap();
    // Several polls of the worklist pass: nothing is dialled outside calling hours.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        gateway.received_so_far().is_empty(),
        "the gateway was called at night"
    );
    assert_eq!(server.api_agent("1001")["state"], "ready");
    assert_eq!(only_task(&server, &token)["attempts"], 0);

    // Morning: the server restarts (killed, as in a crash) with calling hours that
    // include now. The worklist was in the database.
    server.restart(|cfg| {
        let hours = format!("calling_hours = \"{night}\"");
        assert!(cfg.contains(&hours), "{cfg}");
        cfg.replace(&hours, &format!("calling_hours = \"{ALL_DAY}\""))
    });
    // Sessions live in the database too: the supervisor's token still works.
    let task = only_task(&server, &token);
    assert_eq!(task["status"], "pending");
    let agent_uas = agent_ready_to_answer(&server, &phone, 1);

    let done = wait_task(&server, &token, id, Duration::from_secs(40), |t| {
        t["status"] != "pending" && t["status"] != "in_progress"
    });
    let gw = gateway.wait();
    gw.assert_success("gateway: challenge, answer, hang up");
    let agent_run = agent_uas.wait();
    agent_run.assert_success("agent answers the callback");
    assert_eq!(done["status"], "done", "{done:#}");
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["last_result"], "reached");
    assert_eq!(done["agent"], "1001");
    let attempt = &done["attempts_made"][0];
    assert_eq!(attempt["result"], "reached");
    assert!(
        attempt["call"].is_i64(),
        "attempt without its call: {done:#}"
    );

    // The agent's phone showed the task before it was answered.
    let offer = invites(&agent_run)
        .into_iter()
        .next()
        .expect("no INVITE to the agent");
    assert_eq!(header(&offer, "X-Ticket"), Some(ticket.as_str()));
    assert_eq!(
        header(&offer, "X-Callback-Task"),
        Some(id.to_string().as_str())
    );
    assert_eq!(header(&offer, "X-Callback-Number"), Some(CITIZEN));
    assert_eq!(header(&offer, "X-Callback-Reason"), Some("voicemail"));
    let vm = header(&offer, "X-Voicemail").expect("no voicemail link");
    assert!(
        vm.contains(&format!("/api/cases/{ticket}/recordings/")),
        "{vm}"
    );

    // The carrier was dialled with the hotline's number and answered after a challenge.
    let gw_invites: Vec<String> = gw
        .received()
        .into_iter()
        .filter(|m| method(m) == Some("INVITE"))
        .collect();
    assert_eq!(gw_invites.len(), 2, "challenge, then authorized INVITE");
    assert!(gw_invites[0].starts_with(&format!("INVITE sip:{CITIZEN}@127.0.0.1:{gw_port}")));
    assert!(header(&gw_invites[0], "From").is_some_and(|f| f.contains("sip:12345@")));
    let auth = header(&gw_invites[1], "Authorization").expect("no Authorization");
    assert!(auth.contains("username=\"hotline\""), "{auth}");

    // The case: called back (back to registered), the outbound call and its recording.
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        c["calls"].as_array().is_some_and(|calls| {
            calls
                .iter()
                .any(|k| k["direction"] == "outbound" && !k["ended_at"].is_null())
        }) && c["recordings"].as_array().is_some_and(|r| r.len() >= 2)
    });
    assert_eq!(case["case"]["status"], "registered", "{case:#}");
    let out = case["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["direction"] == "outbound")
        .expect("no outbound call")
        .clone();
    assert_eq!(out["called_number"], CITIZEN);
    assert_eq!(out["caller_number"], "12345");
    assert_eq!(out["agent"], "1001");
    assert!(!out["answered_at"].is_null(), "{out:#}");
    assert_eq!(out["hangup_cause"], "citizen_bye");
    let rec = case["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["call_id"] == out["id"])
        .expect("no recording of the callback")
        .clone();
    assert_eq!(rec["kind"], "conversation");
    let wav = Wav::read(&server.recordings_dir().join(rec["path"].as_str().unwrap()));
    assert_eq!(wav.spec.channels, 2, "left the citizen, right the agent");
    let left: Vec<i16> = wav.samples.iter().step_by(2).copied().collect();
    let heard = loud_secs(&left);
    assert!(
        (2.0..=4.0).contains(&heard),
        "the citizen's 3 s tone on the left channel: {heard:.2} s loud"
    );
    let events: Vec<&str> = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    for e in [
        "voicemail",
        "callback_claimed",
        "callback_dialled",
        "callback_attempt",
    ] {
        assert!(events.contains(&e), "no {e} in {events:?}");
    }
}

#[test]
fn busy_then_no_answer_then_wrong_number_fails_with_spaced_retries() {
    let gw_port = hotline_e2e::ports::free_port();
    let agent = AgentSpec::new("1002", "callback:3").max_ring(10).wrap_up(1);
    let server = Server::start(ServerOptions {
        hours: Hours::Closed,
        agents: vec![agent.clone()],
        extra_config: callback_config(gw_port, ALL_DAY, "off"),
        ..Default::default()
    });
    let token = server.supervisor_token();
    let phone = AgentPhone::new(&agent, server.ports.base + 84);
    let agent_uas = agent_ready_to_answer(&server, &phone, 3);
    let gw = |scenario: &str| gateway(&server, gw_port, scenario);
    let busy = gw("gw_reject.xml").set("busy", 1).spawn(&server);
    let ticket = leave_voicemail(&server);
    busy.wait().assert_success("gateway: 486");
    let ringing = gw("gw_no_answer.xml").spawn(&server);
    ringing.wait().assert_success("gateway: rings until CANCEL");
    let unknown = gw("gw_reject.xml").set("busy", 0).spawn(&server);
    unknown.wait().assert_success("gateway: 404");
    agent_uas
        .wait()
        .assert_success("agent answered three callback attempts");

    let id = only_task(&server, &token)["id"].as_i64().unwrap();
    let t = wait_task(&server, &token, id, Duration::from_secs(10), |t| {
        t["status"] == "failed"
    });
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["attempts"], 3);
    let made = t["attempts_made"].as_array().unwrap();
    let results: Vec<&str> = made.iter().map(|a| a["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["busy", "no_answer", "wrong_number"]);
    // Each retry waited the configured 3 s after the failure, and not much longer (a poll,
    // the agent's wrap-up, ringing the agent, and 3 s of the citizen's phone ringing).
    for pair in made.windows(2) {
        let gap = secs_between(&pair[0]["at"], &pair[1]["at"]);
        eprintln!(
            "attempt {} -> {}: {gap:.2} s",
            pair[0]["result"], pair[1]["result"]
        );
        assert!((3.0..15.0).contains(&gap), "retry after {gap:.1} s: {t:#}");
    }
    // Supervisors see it among the failed tasks; the case records it.
    let (status, failed) = server.api_authorized("/api/callbacks?status=failed", &token);
    assert_eq!(status, 200);
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{failed:#}");
    // The last attempt failed while the agent was still hearing "not reached": its call
    // row ends when that call does.
    let outbound_ended = |case: &Value| {
        case["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["direction"] == "outbound" && !k["ended_at"].is_null())
            .count()
    };
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| outbound_ended(c) == 3);
    assert!(
        case["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "callback_failed"),
        "{case:#}"
    );
    let causes: Vec<&str> = case["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["direction"] == "outbound")
        .filter_map(|k| k["hangup_cause"].as_str())
        .collect();
    assert_eq!(causes, ["busy", "no_answer", "wrong_number"]);

    // An agent cannot bring a failed task back; a supervisor can, with one more attempt.
    let agent_token = server.user_token("li", "agent", &["--extension", "1002"]);
    let now = chrono::Utc::now().to_rfc3339();
    let reschedule = format!("/api/callbacks/{id}/reschedule");
    let (status, body) =
        server.api_post_authorized(&reschedule, &json!({ "at": now }), &agent_token);
    assert_eq!(status, 403, "{body}");
    let gateway = answering_gateway(&server, gw_port, 1000, 1500);
    let agent_uas = agent_ready_to_answer(&server, &phone, 1);
    let (status, body) = server.api_post_sup(&reschedule, &json!({ "at": now, "attempts": 1 }));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["status"], &body["max_attempts"]),
        (&json!("pending"), &json!(4))
    );
    // The dialler calls the citizen again, and this time they answer.
    let t = wait_task(&server, &token, id, Duration::from_secs(30), |t| {
        t["status"] == "done"
    });
    gateway
        .wait()
        .assert_success("gateway answers the reopened task");
    agent_uas
        .wait()
        .assert_success("agent takes the reopened task");
    assert_eq!(
        (&t["status"], &t["attempts"]),
        (&json!("done"), &json!(4)),
        "{t:#}"
    );

    // A supervisor puts another call on the worklist by hand (for tomorrow)…
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (status, made) = server.api_post_sup(
        "/api/callbacks",
        &json!({ "ticket": ticket, "at": tomorrow, "max_attempts": 2 }),
    );
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["status"], "pending", "{made:#}");
    assert_eq!(made["number"], CITIZEN, "{made:#}");
    assert_eq!(made["reason"], "callback_requested", "{made:#}");
    let (status, body) =
        server.api_post_authorized("/api/callbacks", &json!({ "ticket": ticket }), &agent_token);
    assert_eq!(status, 403, "agents do not create tasks by hand: {body}");
    // …then the case is closed: the task is no longer owed, and none can be added.
    let (status, body) = server.api_post_sup(
        &format!("/api/cases/{ticket}/transitions"),
        &json!({ "action": "close", "note": "reached on the reopened callback" }),
    );
    assert_eq!(status, 200, "close: {body}");
    let (_, t) = server.api_sup(&format!("/api/callbacks/{}", made["id"]));
    assert_eq!(t["status"], "skipped", "{t:#}");
    let (status, body) = server.api_post_sup("/api/callbacks", &json!({ "ticket": ticket }));
    assert_eq!(status, 409, "a task for a closed case: {body}");
    let case = server.case_show(&ticket);
    let by_sup: Vec<&str> = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "sup")
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(
        by_sup,
        ["callback_reopened", "callback_created", "closed"],
        "{case:#}"
    );
}

#[test]
fn automatic_revisit_unsatisfied_sends_the_case_to_redo_with_the_recording() {
    let gw_port = hotline_e2e::ports::free_port();
    let server = Server::start(ServerOptions {
        extra_config: callback_config(gw_port, ALL_DAY, "auto"),
        ..Default::default()
    });
    let token = server.user_token("admin", "admin", &[]);
    let ticket = hotline_e2e::flows::accepted_case(&server, &token);
    let act = |body: Value| {
        let path = format!("/api/cases/{ticket}/transitions");
        let (code, out) = server.api_post_authorized(&path, &body, &token);
        assert!((200..300).contains(&code), "POST {path}: {code} {out}");
    };
    // The citizen answers, hears the question and presses 3 (不满意).
    pcap::write(
        &server.dir().join("gateway.pcap"),
        &[
            Segment::Silence { ms: 1500 },
            Segment::Key { key: '3', ms: 100 },
            Segment::Silence { ms: 500 },
        ],
    );
    let gateway = gateway(&server, gw_port, "gw_revisit.xml").spawn(&server);
    std::thread::sleep(Duration::from_millis(300));
    act(json!({ "action": "reply", "result": "已修复" }));

    gateway
        .wait()
        .assert_success("citizen answers the revisit and is hung up on");
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        c["case"]["status"] == "redo" && c["recordings"].as_array().is_some_and(|r| !r.is_empty())
    });
    assert_eq!(case["case"]["status"], "redo", "{case:#}");
    let call = &case["calls"][0];
    assert_eq!(call["direction"], "outbound");
    assert_eq!(call["called_number"], "13900139000");
    assert_eq!(call["satisfaction"], 3, "{call:#}");
    let rec = &case["recordings"][0];
    assert_eq!(rec["call_id"], call["id"]);
    let wav = Wav::read(&server.recordings_dir().join(rec["path"].as_str().unwrap()));
    assert!(
        wav.secs() > 1.0,
        "the revisit is recorded: {:.2} s",
        wav.secs()
    );
    let redo = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "redo")
        .unwrap_or_else(|| panic!("no redo event: {case:#}"));
    let note = redo["note"].as_str().unwrap_or_default();
    assert!(
        note.contains(&format!("recording {}", rec["id"])),
        "the redo names the recording as evidence: {note}"
    );
    let (_, tasks) = server.api_authorized("/api/callbacks?all=true", &token);
    assert_eq!(tasks[0]["mode"], "auto");
    assert_eq!(tasks[0]["status"], "done", "{tasks:#}");
}

/// A caller asks for an agent (0), the agent ends its part with `agent_scenario` 2 s after
/// answering, and the caller keys `score` during the survey prompt; returns the case.
fn survey_after(agent_scenario: &str, ext: &str, score: char) -> Value {
    let agent = AgentSpec::new(ext, "agent:3").wrap_up(1);
    let server = Server::start(ServerOptions {
        hours: Hours::Staffed,
        agents: vec![agent.clone()],
        ..Default::default()
    });
    let phone = AgentPhone::new(&agent, server.ports.base + 84);
    let uas = agent_ready_with(
        &server,
        &phone,
        phone
            .sipp(agent_scenario)
            .set("hold_ms", 2000)
            .key("target", "survey"),
    );
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_survey.xml")
        .key("sink_port", sink.port)
        .key("caller", "13700137000")
        .key("key", '0')
        .key("score", score)
        .set("key_at_ms", 1500)
        .set("score_at_ms", 5500)
        .timeout(Duration::from_secs(60))
        .run(&server);
    run.assert_success("caller answers the survey and is hung up on");
    uas.wait().assert_success(agent_scenario);
    let ticket = run.x_ticket().expect("X-Ticket");
    server.wait_case(&ticket, Duration::from_secs(5), |c| {
        !c["calls"][0]["satisfaction"].is_null()
    })
}

fn satisfaction_event(case: &Value) -> &Value {
    let events = case["events"].as_array().unwrap();
    let survey = events.iter().find(|e| e["event"] == "satisfaction");
    let survey = survey.unwrap_or_else(|| panic!("no satisfaction event: {case:#}"));
    &survey["note"]
}

#[test]
fn after_call_survey_answer_is_stored_on_the_call_and_the_case() {
    // The agent hangs up first; the caller keys 3 (不满意) while the survey plays.
    let case = survey_after("agent_answer_hangup.xml", "1003", '3');
    assert_eq!(case["calls"][0]["satisfaction"], 3, "{case:#}");
    assert_eq!(satisfaction_event(&case), "3 unsatisfied");
}

#[test]
fn agent_transfers_the_caller_to_the_survey() {
    // The agent's softphone transfers (REFER to sip:survey@…) instead of hanging up.
    let case = survey_after("agent_transfer.xml", "1005", '2');
    assert_eq!(case["calls"][0]["satisfaction"], 2, "{case:#}");
    assert_eq!(satisfaction_event(&case), "2 mostly satisfied");
}

#[test]
fn a_callback_cut_off_by_a_crash_is_released_and_called_again_after_restart() {
    let gw_port = hotline_e2e::ports::free_port();
    let agent = AgentSpec::new("1004", "callback:3").max_ring(10).wrap_up(1);
    let mut server = Server::start(ServerOptions {
        hours: Hours::Closed,
        agents: vec![agent.clone()],
        // The citizen's phone may ring long enough for the crash to come mid-ring.
        extra_config: callback_config(gw_port, ALL_DAY, "off")
            .replace("ring_secs = 3", "ring_secs = 30"),
        ..Default::default()
    });
    let token = server.supervisor_token();
    let phone = AgentPhone::new(&agent, server.ports.base + 84);
    let agent_uas = agent_ready_to_answer(&server, &phone, 1);
    let ringing = gateway(&server, gw_port, "gw_no_answer.xml").spawn(&server);
    let ticket = leave_voicemail(&server);
    let id = only_task(&server, &token)["id"].as_i64().unwrap();
    let t = wait_task(&server, &token, id, Duration::from_secs(15), |t| {
        t["status"] == "in_progress"
    });
    assert_eq!(t["status"], "in_progress", "claimed by the agent: {t:#}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ringing
        .received_so_far()
        .iter()
        .any(|m| method(m) == Some("INVITE"))
    {
        assert!(Instant::now() < deadline, "the gateway was never called");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Killed while the citizen's phone rings: no CANCEL, no BYE, the claim stays behind.
    server.restart(|cfg| cfg);
    drop(ringing);
    drop(agent_uas);
    let t = only_task(&server, &token);
    assert_eq!(t["status"], "pending", "released at start: {t:#}");
    assert_eq!(
        t["attempts"], 0,
        "an attempt cut off by a crash is not counted"
    );
    let case = server.case_show(&ticket);
    let released = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "callback_released")
        .unwrap_or_else(|| panic!("no callback_released: {case:#}"));
    assert_eq!(released["note"], "server restart");

    // The dialler calls it again: this time the citizen answers.
    let gateway = answering_gateway(&server, gw_port, 1000, 1500);
    let agent_uas = agent_ready_to_answer(&server, &phone, 1);
    let t = wait_task(&server, &token, id, Duration::from_secs(30), |t| {
        t["status"] == "done"
    });
    gateway
        .wait()
        .assert_success("gateway answers the second time");
    agent_uas
        .wait()
        .assert_success("agent takes the callback again");
    assert_eq!(t["status"], "done", "{t:#}");
    assert_eq!(t["attempts"], 1);
    assert_eq!(t["last_result"], "reached");
}

#[test]
fn an_agent_starts_a_task_from_the_desktop_and_their_phone_rings_first() {
    let gw_port = hotline_e2e::ports::free_port();
    // No agent has the callback skill: only the desktop's start can dial the task.
    let agent = AgentSpec::new("1006", "agent:3").max_ring(10).wrap_up(1);
    let server = Server::start(ServerOptions {
        hours: Hours::Closed,
        agents: vec![agent.clone()],
        extra_config: callback_config(gw_port, ALL_DAY, "off"),
        ..Default::default()
    });
    let token = server.supervisor_token();
    let ticket = leave_voicemail(&server);
    let id = only_task(&server, &token)["id"].as_i64().unwrap();
    let start = |ext: &str| {
        server.api_post_authorized(
            &format!("/api/callbacks/{id}/start"),
            &json!({ "extension": ext }),
            &token,
        )
    };
    // Nobody registered as 1006 yet: refused, naming the extension.
    let (status, body) = start("1006");
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap_or_default().contains("1006"),
        "{body}"
    );

    let gateway = answering_gateway(&server, gw_port, 1000, 1500);
    let phone = AgentPhone::new(&agent, server.ports.base + 84);
    let (_, code) = phone.register_once(&server, "1006", "1006", &agent.password, 3600);
    assert_eq!(code, Some(200));
    let uas = phone
        .sipp("agent_answer.xml")
        .timeout(Duration::from_secs(60))
        .spawn(&server);
    std::thread::sleep(Duration::from_millis(300));
    let (status, body) = start("1006");
    assert_eq!(status, 202, "{body}");
    // A second start while it rings is refused.
    let (status, body) = start("1006");
    assert_eq!(status, 409, "{body}");

    let t = wait_task(&server, &token, id, Duration::from_secs(30), |t| {
        t["status"] == "done"
    });
    gateway.wait().assert_success("gateway answers");
    let agent_run = uas.wait();
    agent_run.assert_success("agent takes the callback they started");
    assert_eq!(t["status"], "done", "{t:#}");
    assert_eq!(t["agent"], "1006");
    let offer = invites(&agent_run)
        .into_iter()
        .next()
        .expect("no INVITE to the agent");
    assert_eq!(header(&offer, "X-Ticket"), Some(ticket.as_str()));
    // Done: starting it again is a conflict.
    let (status, body) = start("1006");
    assert_eq!(status, 409, "{body}");
}

/// The finding: a voicemail from `00882123456789` (international premium) was called back
/// through the carrier. Its task is `failed` at once with the reason and the gateway never
/// hears of it; a city number left next is dialled as usual (so the dialler was running).
#[test]
fn a_voicemail_from_an_international_number_is_never_dialled() {
    let gw_port = hotline_e2e::ports::free_port();
    let agent = AgentSpec::new("1001", "callback:3").max_ring(10).wrap_up(1);
    let server = Server::start(ServerOptions {
        hours: Hours::Closed,
        agents: vec![agent.clone()],
        extra_config: callback_config(gw_port, ALL_DAY, "off"),
        ..Default::default()
    });
    let token = server.supervisor_token();
    // The gateway: a bare socket that keeps whatever the hotline sends it.
    let gw = std::net::UdpSocket::bind(("127.0.0.1", gw_port)).expect("gateway port");
    let phone = AgentPhone::new(&agent, server.ports.base + 84);
    let uas = agent_ready_to_answer(&server, &phone, 1);

    let foreign = leave_voicemail_from(&server, "00882123456789");
    // The voicemail is stored just after the caller's BYE: wait for its task.
    let deadline = Instant::now() + Duration::from_secs(10);
    let task = loop {
        let (status, tasks) = server.api_authorized("/api/callbacks?all=true", &token);
        assert_eq!(status, 200, "{tasks}");
        let mine = tasks
            .as_array()
            .and_then(|l| l.iter().find(|t| t["ticket"] == foreign.as_str()).cloned());
        match mine {
            Some(t) => break t,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            None => panic!("no task for {foreign}: {tasks:#}"),
        }
    };
    assert_eq!(task["status"], "failed", "{task:#}");
    assert_eq!(task["attempts"], 0, "{task:#}");
    assert!(
        task["number_problem"]
            .as_str()
            .is_some_and(|p| p.contains("international")),
        "{task:#}"
    );

    leave_voicemail(&server);
    gw.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut heard = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline
        && !heard
            .iter()
            .any(|m: &String| method(m) == Some("INVITE") && m.contains(CITIZEN))
    {
        if let Ok((n, _)) = gw.recv_from(&mut buf) {
            heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert!(
        heard.iter().any(|m| m.contains(CITIZEN)),
        "the city number was not dialled: {heard:#?}"
    );
    assert!(
        !heard.iter().any(|m| m.contains("00882123456789")),
        "the international number reached the gateway: {heard:#?}"
    );
    drop(uas);
}

#[test]
fn an_agent_on_a_callback_has_the_same_call_control() {
    // The callback runs on the inbound call's model: the desk holds and resumes it, and
    // the hold is on the case's trail.
    let gw_port = hotline_e2e::ports::free_port();
    let agent = AgentSpec::new("1004", "callback:3").max_ring(10).wrap_up(1);
    let server = Server::start(ServerOptions {
        hours: Hours::Closed,
        agents: vec![agent.clone()],
        extra_config: callback_config(gw_port, ALL_DAY, "off"),
        ..Default::default()
    });
    let token = server.supervisor_token();
    let zhao = server.user_token("zhao", "agent", &["--extension", "1004"]);
    let phone = AgentPhone::new(&agent, server.ports.base + 84);
    // The citizen answers and stays 8 s.
    let gateway = answering_gateway(&server, gw_port, 6000, 8000);
    let agent_uas = agent_ready_to_answer(&server, &phone, 1);
    let ticket = leave_voicemail(&server);
    let id = only_task(&server, &token)["id"].as_i64().unwrap();
    // Once the citizen answered (the attempt is `reached`), the desk controls the call.
    let t = wait_task(&server, &token, id, Duration::from_secs(30), |t| {
        t["attempts"].as_i64().unwrap_or(0) >= 1
    });
    assert_eq!(t["status"], "done", "{t:#}");
    let control = format!("/api/calls/{ticket}/control");
    let (status, body) = server.api_post_authorized(&control, &json!({"action": "hold"}), &zhao);
    assert_eq!(status, 200, "hold on a callback: {body}");
    std::thread::sleep(Duration::from_millis(1500));
    let (status, body) = server.api_post_authorized(&control, &json!({"action": "resume"}), &zhao);
    assert_eq!(status, 200, "resume on a callback: {body}");
    gateway
        .wait()
        .assert_success("the citizen talks and hangs up");
    agent_uas
        .wait()
        .assert_success("the agent takes the callback");
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        c["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["event"] == "held"))
    });
    let held = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "held")
        .cloned()
        .unwrap();
    assert!(
        held["note"].as_str().is_some_and(|n| n.ends_with(" s")),
        "{held:#}"
    );
}

/// The finding: the agent of a callback heard "回拨任务,正在接通市民" and then the citizen,
/// without having heard what the citizen's voicemail said. Now the voicemail plays to the
/// agent while the citizen's phone rings: here the citizen never answers (the gateway lets
/// it ring), and the agent's phone receives the voicemail's 2 s of 1 kHz tone.
#[test]
fn the_callback_agent_hears_the_voicemail_while_the_citizen_rings() {
    use hotline_e2e::audio::{power_share_at, rms, ulaw_decode};
    use hotline_e2e::uac::Phone;
    let gw_port = hotline_e2e::ports::free_port();
    let agent = AgentSpec::new("1006", "agent:3").max_ring(10).wrap_up(1);
    let server = Server::start(ServerOptions {
        hours: Hours::Closed,
        agents: vec![agent.clone()],
        // The citizen's phone rings long enough for the whole voicemail.
        extra_config: callback_config(gw_port, ALL_DAY, "off")
            .replace("ring_secs = 3", "ring_secs = 12"),
        ..Default::default()
    });
    let token = server.supervisor_token();
    leave_voicemail(&server);
    let id = only_task(&server, &token)["id"].as_i64().unwrap();
    let gateway = gateway(&server, gw_port, "gw_no_answer.xml").spawn(&server);
    let media = RtpSink::bind(server.ports.base + 64);
    let mut phone = Phone::bind(server.sip, "1006", &agent.password, 0, media.port);
    assert_eq!(phone.register(300), Some(200), "{}", phone.trace_text());
    let (status, body) = server.api_post_authorized(
        &format!("/api/callbacks/{id}/start"),
        &json!({ "extension": "1006" }),
        &token,
    );
    assert_eq!(status, 202, "{body}");
    let call = phone
        .answer(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the agent's phone did not ring\n{}", phone.trace_text()));
    assert!(
        phone.wait_ended(&[call], Duration::from_secs(40)),
        "the callback did not end\n{}",
        phone.trace_text()
    );
    gateway
        .wait()
        .assert_success("the citizen's phone rang unanswered");
    // 50 ms blocks of the agent's audio that are the voicemail's tone.
    let pcm: Vec<i16> = media
        .packets()
        .iter()
        .filter(|p| p.pt == 0)
        .flat_map(|p| p.payload.iter().map(|&b| ulaw_decode(b)))
        .collect();
    let tone_secs = pcm
        .chunks(400)
        .filter(|f| f.len() == 400 && rms(f) > 300.0 && power_share_at(f, 1000.0) > 0.8)
        .count() as f64
        * 0.05;
    assert!(
        (1.5..=2.5).contains(&tone_secs),
        "the agent heard {tone_secs:.2} s of the voicemail's 2 s tone (of {:.1} s received)",
        pcm.len() as f64 / 8000.0
    );
    let t = wait_task(&server, &token, id, Duration::from_secs(10), |t| {
        t["last_result"] == "no_answer"
    });
    assert_eq!(t["last_result"], "no_answer", "{t:#}");
}
