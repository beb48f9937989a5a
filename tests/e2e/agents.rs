//! Seated agents take calls: digest registration and feature codes, routing by skill,
//! the stereo conversation recording, queueing, ring-no-answer, abandoned calls, a blocked
//! password guesser, a real softphone (baresip), and the supervisor's views.

use hotline_e2e::agents::{
    caller, invites, ready_all, s, silent_caller_pcap, AgentPhone, EventStream,
};
use hotline_e2e::audio::{power_share_at, rms, Wav};
use hotline_e2e::baresip::Baresip;
use hotline_e2e::pcap::{self, Segment};
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::sip::header;
use hotline_e2e::sipp::Sipp;
use hotline_e2e::{AgentSpec, Server, ServerOptions};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Waits until the case's call has ended and its ACD outcome is written.
fn wait_acd_done(server: &Server, ticket: &str) -> Value {
    let case = server.wait_case(ticket, Duration::from_secs(8), |c| {
        let call = &c["calls"][0];
        !call["ended_at"].is_null() && !call["acd_result"].is_null()
    });
    case["calls"][0].clone()
}

/// The stereo conversation recording of a case: its path, checked to be 8 kHz 2-channel.
fn conversation_wav(server: &Server, ticket: &str) -> Wav {
    let case = server.wait_case(ticket, Duration::from_secs(8), |c| {
        c["recordings"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["kind"] == "conversation"))
    });
    let recs = case["recordings"].as_array().cloned().unwrap_or_default();
    let rec = recs
        .iter()
        .find(|r| r["kind"] == "conversation")
        .unwrap_or_else(|| panic!("no conversation recording: {case:#}"));
    let rel = rec["path"].as_str().expect("recording path");
    let path = server.recordings_dir().join(rel);
    assert!(path.is_file(), "recording {} missing", path.display());
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with(ticket) && name.ends_with("-conversation.wav"),
        "recording name {name}"
    );
    let wav = Wav::read(&path);
    assert_eq!(
        (
            wav.spec.sample_rate,
            wav.spec.channels,
            wav.spec.bits_per_sample
        ),
        (8000, 2, 16),
        "conversation WAV format ({rel})"
    );
    wav
}

/// Left and right channels of a stereo WAV.
fn channels(wav: &Wav) -> (Vec<i16>, Vec<i16>) {
    let left = wav.samples.iter().step_by(2).copied().collect();
    let right = wav.samples.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

#[test]
fn agent_registers_with_digest_and_takes_a_call_routed_by_skill() {
    let a1 = AgentSpec::new("1001", "consult:5");
    let a2 = AgentSpec::new("1002", "complaint:5");
    let server = Server::start(ServerOptions {
        agents: vec![a1.clone(), a2.clone()],
        ..Default::default()
    });
    let (p1, p2) = (
        AgentPhone::new(&a1, server.ports.base + 84),
        AgentPhone::new(&a2, server.ports.base + 88),
    );
    ready_all(&server, &[&p1, &p2]);
    let reg = server.api_agent("1002");
    assert!(
        reg["registered_contacts"].as_u64().unwrap_or(0) >= 1,
        "1002 registered: {reg:#}"
    );
    let uas1 = p1.answer(&server, "agent_answer.xml", 1, Duration::from_secs(40));
    let uas2 = p2.answer(&server, "agent_answer.xml", 1, Duration::from_secs(40));
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('2', 1000, 3000, sink.port, server.ports.base + 80).run(&server);
    run.assert_success("caller choosing complaint");
    let ticket = run.x_ticket().expect("X-Ticket in the caller's 200 OK");

    let run2 = uas2.wait();
    run2.assert_success("agent 1002 answering");
    let inv = invites(&run2);
    assert_eq!(inv.len(), 1, "1002 got {} INVITEs", inv.len());
    let inv = &inv[0];
    assert_eq!(header(inv, "X-Ticket"), Some(ticket.as_str()), "{inv}");
    let from = header(inv, "From").unwrap_or_default();
    assert!(
        from.contains("13800138000"),
        "From of the agent's INVITE: {from}"
    );
    let pai = header(inv, "P-Asserted-Identity").unwrap_or_default();
    assert!(pai.contains("13800138000"), "P-Asserted-Identity: {pai:?}");
    let run1 = uas1.stop();
    assert!(
        invites(&run1).is_empty(),
        "1001 (consult only) was offered the complaint: {}",
        run1.messages
    );

    let call = wait_acd_done(&server, &ticket);
    assert_eq!(s(&call, "agent"), "1002", "{call:#}");
    assert_eq!(s(&call, "queue"), "complaint", "{call:#}");
    assert_eq!(s(&call, "acd_result"), "answered", "{call:#}");
    assert_eq!(call["offered_count"], 1, "{call:#}");
    assert!(call["talk_ms"].as_u64().unwrap_or(0) > 1000, "{call:#}");
    assert!(!call["agent_answered_at"].is_null(), "{call:#}");
    assert_eq!(server.api_agent("1002")["answered_calls"], 1);
    assert_eq!(server.api_agent("1001")["answered_calls"], 0);
    // After the call the agent wraps up.
    let a = server.wait_agent("1002", Duration::from_secs(3), |a| a["state"] == "wrap_up");
    assert_eq!(a["state"], "wrap_up", "{a:#}");
}

#[test]
fn stereo_recording_has_caller_left_and_agent_right() {
    let a = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![a.clone()],
        ..Default::default()
    });
    let phone = AgentPhone::new(&a, server.ports.base + 84);
    phone.ready(&server);
    pcap::write(
        &server.dir().join("caller.pcap"),
        &[
            Segment::Silence { ms: 500 },
            Segment::Tone {
                freq: 1000.0,
                ms: 5000,
            },
        ],
    );
    pcap::write(
        &server.dir().join("agent.pcap"),
        &[
            Segment::Silence { ms: 300 },
            Segment::Tone {
                freq: 400.0,
                ms: 5000,
            },
        ],
    );
    let uas = phone.answer(&server, "agent_answer_tone.xml", 1, Duration::from_secs(40));
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('0', 1000, 6500, sink.port, server.ports.base + 80).run(&server);
    run.assert_success("caller");
    uas.wait().assert_success("agent answering with a tone");
    let ticket = run.x_ticket().unwrap();
    let call = wait_acd_done(&server, &ticket);
    assert_eq!(s(&call, "acd_result"), "answered", "{call:#}");

    let wav = conversation_wav(&server, &ticket);
    let (left, right) = channels(&wav);
    let (l_rms, r_rms) = (rms(&left), rms(&right));
    let l = (power_share_at(&left, 1000.0), power_share_at(&left, 400.0));
    let r = (
        power_share_at(&right, 400.0),
        power_share_at(&right, 1000.0),
    );
    eprintln!(
        "conversation {:.2} s: left RMS {l_rms:.0} (1 kHz {:.2}, 400 Hz {:.2}); right RMS {r_rms:.0} (400 Hz {:.2}, 1 kHz {:.2})",
        wav.secs(),
        l.0,
        l.1,
        r.0,
        r.1
    );
    assert!(wav.secs() > 3.0, "conversation only {:.2} s", wav.secs());
    assert!(
        l_rms > 1000.0,
        "left (citizen) channel about silent: RMS {l_rms:.0}"
    );
    assert!(
        r_rms > 1000.0,
        "right (agent) channel about silent: RMS {r_rms:.0}"
    );
    assert!(
        l.0 > 0.7 && l.1 < 0.1,
        "left channel is not the caller's 1 kHz: {l:?}"
    );
    assert!(
        r.0 > 0.7 && r.1 < 0.1,
        "right channel is not the agent's 400 Hz: {r:?}"
    );
}

#[test]
fn third_caller_waits_hears_position_and_gets_first_free_agent() {
    let specs = [
        AgentSpec::new("1001", "agent:3").wrap_up(2),
        AgentSpec::new("1002", "agent:3").wrap_up(2),
    ];
    let server = Server::start(ServerOptions {
        agents: specs.to_vec(),
        ..Default::default()
    });
    let base = server.ports.base;
    let phones = [
        AgentPhone::new(&specs[0], base + 84),
        AgentPhone::new(&specs[1], base + 88),
    ];
    ready_all(&server, &[&phones[0], &phones[1]]);
    let limit = Duration::from_secs(45);
    let uas: Vec<_> = phones
        .iter()
        .map(|p| p.answer(&server, "agent_answer.xml", 2, limit))
        .collect();
    silent_caller_pcap(&server);
    let sinks = [
        RtpSink::bind(base + 60),
        RtpSink::bind(base + 64),
        RtpSink::bind(base + 68),
    ];
    // Caller 1 talks ~7 s, caller 2 ~14 s; caller 3 (1 s after 2) waits for the first free agent.
    let c1 = caller('0', 1000, 7000, sinks[0].port, base + 80).spawn(&server);
    std::thread::sleep(Duration::from_secs(1));
    let c2 = caller('0', 1000, 14_000, sinks[1].port, base + 92).spawn(&server);
    std::thread::sleep(Duration::from_secs(1));
    let c3_start = Instant::now();
    let c3 = caller('0', 1000, 14_000, sinks[2].port, base + 96).spawn(&server);
    let (r1, r2, r3) = (c1.wait(), c2.wait(), c3.wait());
    r1.assert_success("caller 1");
    r2.assert_success("caller 2");
    r3.assert_success("caller 3");
    for u in uas {
        u.stop();
    }
    let t: Vec<String> = [&r1, &r2, &r3]
        .iter()
        .map(|r| r.x_ticket().unwrap())
        .collect();
    let calls: Vec<Value> = t.iter().map(|t| wait_acd_done(&server, t)).collect();
    for c in &calls {
        assert_eq!(s(c, "acd_result"), "answered", "{c:#}");
    }
    let (a1, a2, a3) = (
        s(&calls[0], "agent"),
        s(&calls[1], "agent"),
        s(&calls[2], "agent"),
    );
    assert!(
        a1 != a2 && !a1.is_empty() && !a2.is_empty(),
        "callers 1 and 2: agents {a1:?} {a2:?}"
    );
    assert_eq!(
        a3, a1,
        "caller 3 should get caller 1's agent (free first): {:#}",
        calls[2]
    );
    // Caller 1's agent wrapped up (2 s) before caller 3 was put through.
    let wrap = calls[0]["wrap_up_ms"].as_u64().unwrap_or(0);
    assert!(
        (1500..4000).contains(&wrap),
        "wrap-up {wrap} ms: {:#}",
        calls[0]
    );
    assert!(
        s(&calls[2], "agent_answered_at") >= s(&calls[0], "wrap_up_ended_at"),
        "caller 3 answered before the agent's wrap-up ended: {:#} {:#}",
        calls[0],
        calls[2]
    );
    let path = s(&calls[2], "ivr_path");
    assert!(
        path.contains("queued>position:1"),
        "caller 3 ivr_path {path:?}"
    );
    let wait = calls[2]["wait_ms"].as_u64().unwrap_or(0);
    assert!(
        (5000..12_000).contains(&wait),
        "caller 3 waited {wait} ms: {:#}",
        calls[2]
    );
    // Callers 1 and 2 were put through at once (an immediate offer is "queued>position:1"
    // too: the comfort prompt plays while the agent's phone rings).
    for c in &calls[..2] {
        let w = c["wait_ms"].as_u64().unwrap_or(u64::MAX);
        assert!(w < 2000, "caller put through at once waited {w} ms: {c:#}");
    }
    // While queued (2.5 s .. 5 s after its INVITE) caller 3 heard prompts/music.
    let pkts = sinks[2].packets();
    let window: Vec<i16> = pkts
        .iter()
        .filter(|p| p.pt == 0)
        .filter(|p| {
            let at = p.at.saturating_duration_since(c3_start);
            at > Duration::from_millis(2500) && at < Duration::from_millis(5000)
        })
        .flat_map(|p| {
            p.payload
                .iter()
                .map(|&b| hotline_e2e::audio::ulaw_decode(b))
        })
        .collect();
    let level = rms(&window);
    assert!(
        window.len() >= 100 * 160 && level > 300.0,
        "caller 3 heard {} samples at RMS {level:.0} while queued",
        window.len()
    );
}

#[test]
fn ring_no_answer_requeues_to_next_agent() {
    let s1 = AgentSpec::new("1001", "agent:3").max_ring(2);
    let s2 = AgentSpec::new("1002", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![s1.clone(), s2.clone()],
        ..Default::default()
    });
    let (p1, p2) = (
        AgentPhone::new(&s1, server.ports.base + 84),
        AgentPhone::new(&s2, server.ports.base + 88),
    );
    // 1001 first: the longest idle is offered the call first.
    p1.ready(&server);
    std::thread::sleep(Duration::from_millis(300));
    p2.ready(&server);
    let uas1 = p1.answer(&server, "agent_no_answer.xml", 1, Duration::from_secs(30));
    let uas2 = p2.answer(&server, "agent_answer.xml", 1, Duration::from_secs(30));
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('0', 1000, 6000, sink.port, server.ports.base + 80).run(&server);
    run.assert_success("caller");
    let r1 = uas1.wait();
    r1.assert_success("1001 ringing, cancelled");
    uas2.wait().assert_success("1002 answering");
    assert!(
        r1.received()
            .iter()
            .any(|m| hotline_e2e::sip::method(m) == Some("ACK")),
        "the hotline did not ACK the 487"
    );
    let ticket = run.x_ticket().unwrap();
    let call = wait_acd_done(&server, &ticket);
    assert_eq!(s(&call, "agent"), "1002", "{call:#}");
    assert_eq!(s(&call, "acd_result"), "answered", "{call:#}");
    assert_eq!(call["offered_count"], 2, "{call:#}");
    assert_eq!(call["rejected_count"], 1, "{call:#}");
    let a = server.api_agent("1001");
    assert_eq!(a["state"], "not_ready", "{a:#}");
    assert_eq!(a["reason"], "no answer", "{a:#}");
}

#[test]
fn caller_abandons_while_queued() {
    let spec = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![spec.clone()],
        ..Default::default()
    });
    let phone = AgentPhone::new(&spec, server.ports.base + 84);
    phone.ready(&server);
    phone.dial_code(&server, "*2");
    let a = server.wait_agent("1001", Duration::from_secs(3), |a| {
        a["state"] == "not_ready"
    });
    assert_eq!(a["state"], "not_ready", "after *2: {a:#}");
    let uas = phone.answer(&server, "agent_answer.xml", 1, Duration::from_secs(30));
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('0', 1000, 3000, sink.port, server.ports.base + 80).run(&server);
    run.assert_success("caller");
    let ticket = run.x_ticket().unwrap();
    let call = wait_acd_done(&server, &ticket);
    let paused = uas.stop();
    assert!(
        invites(&paused).is_empty(),
        "the paused agent was offered the call: {}",
        paused.messages
    );
    assert_eq!(s(&call, "acd_result"), "abandoned", "{call:#}");
    assert_eq!(s(&call, "queue"), "agent", "{call:#}");
    assert!(
        call["agent"].is_null() || s(&call, "agent").is_empty(),
        "{call:#}"
    );
    let q = server.api_queue("agent");
    assert_eq!(q["today"]["abandoned"], 1, "{q:#}");
    assert_eq!(q["waiting"], 0, "{q:#}");
}

#[test]
fn wrong_password_gets_no_registration_and_is_blocked() {
    let spec = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![spec.clone()],
        auth_max_failures: 3,
        ..Default::default()
    });
    let phone = AgentPhone::new(&spec, server.ports.base + 84);
    let attempt = |ext: &str, password: &str| phone.register_once(&server, ext, ext, password, 300);
    let challenge = |run: &hotline_e2e::sipp::SippRun| -> Vec<String> {
        // The last 401's challenges without their nonces.
        let last = run
            .received()
            .into_iter()
            .rfind(|m| hotline_e2e::sip::status(m) == Some(401))
            .unwrap_or_default();
        last.lines()
            .filter(|l| l.starts_with("WWW-Authenticate:"))
            .map(|l| {
                l.split(',')
                    .filter(|p| !p.contains("nonce="))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    };
    // Wrong password and unknown user: the same fresh challenge again.
    let (wrong, code) = attempt("1001", "wrong");
    assert_eq!(code, Some(401), "{}", wrong.messages);
    let (unknown, code) = attempt("1009", "secret1009");
    assert_eq!(code, Some(401), "{}", unknown.messages);
    assert_eq!(
        challenge(&wrong),
        challenge(&unknown),
        "wrong password vs unknown user"
    );
    assert!(!challenge(&wrong).is_empty());
    let a = server.api_agent("1001");
    assert_eq!(a["registered_contacts"], 0, "{a:#}");
    assert_eq!(a["state"], "logged_out", "{a:#}");
    // More failures from this address: slowed down, then refused.
    let mut codes = Vec::new();
    let started = Instant::now();
    for _ in 0..5 {
        let code = attempt("1001", "wrong2").1;
        codes.push(code);
        if code == Some(403) {
            break;
        }
    }
    assert_eq!(
        codes.last(),
        Some(&Some(403)),
        "attempts after 2 failures: {codes:?}"
    );
    assert!(
        codes.len() <= 3,
        "blocked only after {} more failures: {codes:?}",
        codes.len()
    );
    eprintln!("codes {codes:?} in {:?}", started.elapsed());
    // Blocked: even the right password is refused now.
    assert_eq!(attempt("1001", "secret1001").1, Some(403));
    let a = server.api_agent("1001");
    assert_eq!(a["registered_contacts"], 0, "{a:#}");
}

#[test]
fn supervisor_sees_queues_agents_and_live_events() {
    let spec = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![spec.clone()],
        ..Default::default()
    });
    let phone = AgentPhone::new(&spec, server.ports.base + 84);
    let mut events = EventStream::open(&server);
    phone.dial_code(&server, "*1");
    let mut seen = Vec::new();
    let ready = events.wait_for(Duration::from_secs(5), &mut seen, |e| {
        e["type"] == "agent" && e["agent"] == "1001" && e["to"] == "ready"
    });
    assert!(ready.is_some(), "no agent event to ready; saw {seen:#?}");

    let uas = phone.answer(&server, "agent_answer.xml", 1, Duration::from_secs(30));
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let call = caller('0', 1000, 6000, sink.port, server.ports.base + 80).spawn(&server);
    let answered = events.wait_for(Duration::from_secs(8), &mut seen, |e| {
        e["type"] == "call" && e["what"] == "answered"
    });
    assert!(answered.is_some(), "no call answered event; saw {seen:#?}");
    let a = server.wait_agent("1001", Duration::from_secs(2), |a| a["state"] == "on_call");
    assert_eq!(a["state"], "on_call", "{a:#}");
    assert!(a["registered_contacts"].as_u64().unwrap_or(0) >= 1, "{a:#}");
    let q = server.api_queue("agent");
    assert_eq!(q["agents"]["on_call"], 1, "{q:#}");
    assert_eq!(q["waiting"], 0, "{q:#}");
    let status = server.cli_text(&["status"]);
    assert!(
        status
            .lines()
            .any(|l| l.contains("1001") && l.contains("on_call")),
        "hotline status:\n{status}"
    );
    let on_call = events.wait_for(Duration::from_secs(1), &mut seen, |e| {
        e["type"] == "agent" && e["to"] == "on_call"
    });
    assert!(
        on_call.is_some() || seen.iter().any(|e| e["to"] == "on_call"),
        "no agent event to on_call; saw {seen:#?}"
    );
    call.wait().assert_success("caller");
    uas.wait().assert_success("agent");
    // A pause is refused while the call is up (409, never silently dropped) and taken in
    // wrap-up: wait for the server to have seen the end of the call.
    let wrap_up = events.wait_for(Duration::from_secs(10), &mut seen, |e| {
        e["type"] == "agent" && e["agent"] == "1001" && e["to"] == "wrap_up"
    });
    assert!(
        wrap_up.is_some(),
        "no agent event to wrap_up; saw {seen:#?}"
    );
    // Only the configured reason codes: an unknown one names the choices.
    let (code, body) = server.api_post_sup(
        "/api/agents/1001/state",
        &json!({"state": "not_ready", "reason": "lunch"}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("meal"), "{body}");
    assert_eq!(server.api_agent("1001")["state"], "wrap_up");
    let (code, body) = server.api_post_sup(
        "/api/agents/1001/state",
        &json!({"state": "not_ready", "reason": "meal"}),
    );
    assert!((200..300).contains(&code), "POST state: {code} {body}");
    let a = server.api_agent("1001");
    assert_eq!(
        (a["state"].as_str(), a["reason"].as_str()),
        (Some("not_ready"), Some("meal")),
        "{a:#}"
    );
}

#[test]
fn baresip_softphone_takes_the_call() {
    let spec = AgentSpec::new("1003", "agent:3");
    // baresip 1.0 (libre) gives up on a 401 that also offers an algorithm it does not
    // know ("Register: Function not implemented"): challenge with MD5 only.
    let server = Server::start(ServerOptions {
        agents: vec![spec.clone()],
        digest_algorithms: vec!["MD5".into()],
        ..Default::default()
    });
    let base = server.ports.base;
    let phone = Baresip::start(
        &server,
        "1003",
        &spec.password,
        400.0,
        60,
        (base + 70, base + 79),
        Duration::from_secs(60),
    );
    let a = server.wait_agent("1003", Duration::from_secs(10), |a| {
        a["registered_contacts"].as_u64().unwrap_or(0) >= 1
    });
    assert_eq!(
        a["registered_contacts"],
        1,
        "baresip registered: {a:#}\n{}",
        phone.log()
    );
    // The agent dials *1 from the softphone (digest-authenticated INVITE).
    let dial = phone.command("dial", &format!("sip:*1@{}", server.sip));
    eprintln!("baresip dial: {dial:?}");
    let a = server.wait_agent("1003", Duration::from_secs(10), |a| a["state"] == "ready");
    assert_eq!(
        a["state"],
        "ready",
        "baresip agent after *1: {a:#}\n{}",
        phone.log()
    );

    silent_caller_pcap(&server);
    let sink = RtpSink::bind(base + 60);
    let run = caller('0', 1000, 5000, sink.port, base + 80).run(&server);
    run.assert_success("caller");
    let ticket = run.x_ticket().unwrap();
    let call = wait_acd_done(&server, &ticket);
    assert_eq!(s(&call, "agent"), "1003", "{call:#}\n{}", phone.log());
    assert_eq!(s(&call, "acd_result"), "answered", "{call:#}");
    let wav = conversation_wav(&server, &ticket);
    let (_, right) = channels(&wav);
    let (level, share) = (rms(&right), power_share_at(&right, 400.0));
    eprintln!("baresip's side: RMS {level:.0}, 400 Hz share {share:.2}");
    assert!(level > 1000.0, "agent channel about silent: RMS {level:.0}");
    assert!(
        share > 0.7,
        "agent channel is not baresip's 400 Hz: {share:.2}"
    );
}

#[test]
fn unregister_logs_out_and_a_foreign_aor_is_refused() {
    let s1 = AgentSpec::new("1001", "agent:3");
    let s2 = AgentSpec::new("1002", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![s1.clone(), s2],
        ..Default::default()
    });
    let phone = AgentPhone::new(&s1, server.ports.base + 84);
    // 1001's credentials may not register 1002's address of record.
    let (run, code) = phone.register_once(&server, "1002", "1001", &s1.password, 300);
    assert_eq!(code, Some(403), "{}", run.messages);
    assert_eq!(server.api_agent("1002")["registered_contacts"], 0);
    phone.ready(&server);
    // Unregistering (Expires: 0) logs the agent out.
    let (run, code) = phone.register_once(&server, "1001", "1001", &s1.password, 0);
    assert_eq!(code, Some(200), "{}", run.messages);
    let a = server.wait_agent("1001", Duration::from_secs(3), |a| {
        a["state"] == "logged_out"
    });
    assert_eq!(a["state"], "logged_out", "{a:#}");
    assert_eq!(a["registered_contacts"], 0, "{a:#}");
    // Not registered: it cannot be made ready through the API.
    let (code, body) = server.api_post_sup("/api/agents/1001/state", &json!({"state": "ready"}));
    assert_eq!(code, 409, "{body}");
}

#[test]
fn calls_that_ask_for_nothing_are_no_work_orders_and_agents_are_not_shown_them() {
    let a1 = AgentSpec::new("1001", "consult:5");
    let server = Server::start(ServerOptions {
        agents: vec![a1.clone()],
        ..Default::default()
    });
    // 13800138000 hangs up in the greeting, then calls to ask about that ticket (key 4).
    let hung_up = hotline_e2e::flows::plain_call(&server, hotline_e2e::Transport::Udp, 1000);
    server.wait_call_ended(&hung_up);
    let sink = RtpSink::bind(server.ports.base + 61);
    let mut query = hotline_e2e::Sipp::new("uac_status_query.xml")
        .key("sink_port", sink.port)
        .key("caller", "13800138000");
    for (i, d) in hung_up.chars().enumerate() {
        query = query.key(&format!("t{}", i + 1), d);
    }
    let run = query.timeout(Duration::from_secs(90)).run(&server);
    run.assert_success("status query");
    let asked = run.x_ticket().expect("X-Ticket of the status query");
    server.wait_call_ended(&asked);
    drop(sink);

    // Two calls, no work order: nothing registered, nothing listed.
    let (status, cases) = server.api_sup("/api/cases");
    assert_eq!(status, 200, "{cases}");
    assert_eq!(cases, json!([]), "calls that asked for nothing are listed");
    for t in [&hung_up, &asked] {
        let case = server.case_show(t);
        assert_eq!(case["case"]["status"], "no_request", "{case:#}");
    }

    // The same number now asks for a person: the agent's phone rings with the call's own
    // ticket and no list of "open cases" made of the two calls that asked for nothing.
    let p1 = AgentPhone::new(&a1, server.ports.base + 84);
    ready_all(&server, &[&p1]);
    let uas1 = p1.answer(&server, "agent_answer.xml", 1, Duration::from_secs(40));
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('1', 1000, 3000, sink.port, server.ports.base + 80).run(&server);
    run.assert_success("caller asking for an agent");
    let ticket = run.x_ticket().expect("X-Ticket in the caller's 200 OK");
    let answered = uas1.wait();
    answered.assert_success("agent 1001 answering");
    let inv = invites(&answered);
    assert_eq!(inv.len(), 1, "{}", answered.messages);
    assert_eq!(
        header(&inv[0], "X-Ticket"),
        Some(ticket.as_str()),
        "{}",
        inv[0]
    );
    assert_eq!(header(&inv[0], "X-Open-Tickets"), None, "{}", inv[0]);

    // The agent's answer made that call a work order, the only one.
    wait_acd_done(&server, &ticket);
    let case = server.case_show(&ticket);
    assert_eq!(case["case"]["status"], "registered", "{case:#}");
    let (_, cases) = server.api_sup("/api/cases");
    let tickets: Vec<&str> = cases
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["ticket"].as_str())
        .collect();
    assert_eq!(tickets, [ticket.as_str()], "{cases:#}");
}

#[test]
fn a_phone_registered_before_a_restart_is_rung_after_it() {
    let a1 = AgentSpec::new("1001", "consult:5");
    let mut server = Server::start(ServerOptions {
        agents: vec![a1.clone()],
        ..Default::default()
    });
    let p1 = AgentPhone::new(&a1, server.ports.base + 84);
    let (_, code) = p1.register_once(&server, "1001", "1001", &p1.password, 3600);
    assert_eq!(code, Some(200), "REGISTER for an hour");

    // The node restarts; the phone believes it is registered for most of an hour yet.
    server.restart(|config| config);
    let reg = server.api_agent("1001");
    assert_eq!(reg["registered_contacts"], 1, "after the restart: {reg:#}");

    // Made ready, the agent's phone is rung for the next caller without registering again.
    let uas = p1.answer(&server, "agent_answer.xml", 1, Duration::from_secs(40));
    std::thread::sleep(Duration::from_millis(300));
    let (status, body) =
        server.api_post_sup("/api/agents/1001/state", &json!({ "state": "ready" }));
    assert_eq!(status, 200, "{body}");
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('1', 1000, 3000, sink.port, server.ports.base + 80).run(&server);
    run.assert_success("caller asking for an agent");
    uas.wait()
        .assert_success("the phone registered before the restart answers");
}

#[test]
fn a_phone_that_is_not_registered_cannot_make_its_agent_ready() {
    let a1 = AgentSpec::new("1001", "consult:5");
    let server = Server::start(ServerOptions {
        agents: vec![a1.clone()],
        ..Default::default()
    });
    let p1 = AgentPhone::new(&a1, server.ports.base + 84);
    // The phone unregisters (or was forgotten), then dials *1: told so, and not made ready —
    // no caller waits for a phone that is never rung.
    p1.register_and_dial(&server, 0, "*1");
    let a = server.api_agent("1001");
    assert_eq!(a["registered_contacts"], 0, "{a:#}");
    assert_ne!(a["state"], "ready", "{a:#}");
    assert!(
        server
            .log_text()
            .contains("ready refused: the softphone is not registered"),
        "{}",
        server.log_text()
    );
    // Registered, the same code makes it ready.
    p1.ready(&server);
}

#[test]
fn a_caller_put_on_hold_hears_music_and_is_taken_back() {
    let a1 = AgentSpec::new("1001", "consult:5");
    let server = Server::start(ServerOptions {
        agents: vec![a1.clone()],
        ..Default::default()
    });
    let p1 = AgentPhone::new(&a1, server.ports.base + 84);
    ready_all(&server, &[&p1]);
    // The agent answers, holds 1.5 s later for 5 s, then takes the caller back.
    let uas = p1
        .sipp("agent_answer_hold.xml")
        .set("hold_at_ms", 1500)
        .set("hold_ms", 5000)
        .calls(1)
        .timeout(Duration::from_secs(60))
        .spawn(&server);
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('1', 1000, 10_000, sink.port, server.ports.base + 80).run(&server);
    run.assert_success("caller put on hold");
    uas.wait()
        .assert_success("agent holds, resumes, and is hung up on");

    // What the caller heard, 2 s at a time: somewhere the hold music (the chime's two
    // notes, 523 and 659 Hz), where before the fix there was only silence.
    let pcm: Vec<i16> = sink
        .packets()
        .iter()
        .filter(|p| p.pt == 0)
        .flat_map(|p| {
            p.payload
                .iter()
                .map(|&b| hotline_e2e::audio::ulaw_decode(b))
        })
        .collect();
    let windows: Vec<(f64, f64)> = pcm
        .chunks(16_000)
        .filter(|w| w.len() == 16_000)
        .map(|w| {
            let notes = power_share_at(w, 523.25) + power_share_at(w, 659.25);
            (notes, rms(w))
        })
        .collect();
    eprintln!("2 s windows (share of the chime's notes, RMS): {windows:.2?}");
    assert!(
        windows
            .iter()
            .any(|&(notes, level)| notes > 0.8 && level > 100.0),
        "no hold music heard: {windows:.2?}"
    );
    let log = server.log_text();
    assert!(log.contains("agent put the caller on hold"), "{log}");
    assert!(log.contains("agent took the caller back"), "{log}");
}

/// `max_calls` bounds calls, not Call-IDs: a citizen's call bridged to an agent routes two
/// (its own and the agent leg's) but is one call. With `max_calls = 2`, while one citizen
/// talks to the agent a second citizen is still answered, and `/api/status` counts one
/// active call, then two. Counting Call-IDs refused the second with 503 ("at max_calls"),
/// so a node refused bridged calls at half its `max_calls` (1,126 with 2,200 in
/// `bench/bridged.sh 1200`).
#[test]
fn a_call_and_its_agent_leg_count_once_against_max_calls() {
    let a1 = AgentSpec::new("1001", "complaint:5");
    let mut server = Server::start(ServerOptions {
        agents: vec![a1.clone()],
        ..Default::default()
    });
    server.restart(|config| config.replacen("[calls]\n", "[calls]\nmax_calls = 2\n", 1));
    let p1 = AgentPhone::new(&a1, server.ports.base + 84);
    ready_all(&server, &[&p1]);
    let uas = p1.answer(&server, "agent_answer.xml", 1, Duration::from_secs(40));
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let talking = caller('2', 1000, 6000, sink.port, server.ports.base + 80).spawn(&server);
    server.wait_agent("1001", Duration::from_secs(15), |a| a["state"] == "on_call");
    let active = || {
        let (code, status) = server.api_sup("/api/status");
        assert_eq!(code, 200, "{status}");
        status["active_calls"].as_u64().expect("active_calls")
    };
    assert_eq!(active(), 1, "one call, bridged to its agent");

    let sink2 = RtpSink::bind(server.ports.base + 61);
    let second = Sipp::new("uac_plain.xml")
        .key("sink_port", sink2.port)
        .set("hold_ms", 2000)
        .media_port(server.ports.base + 92)
        .timeout(Duration::from_secs(30))
        .spawn(&server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while active() < 2 {
        assert!(
            Instant::now() < deadline,
            "the second call never came up:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    second
        .wait()
        .assert_success("a second citizen while the first talks to the agent");
    talking
        .wait()
        .assert_success("the citizen talking to the agent");
    uas.wait().assert_success("the agent answering");
}
