//! Agents hand calls on and supervisors join them: a blind transfer from the phone (REFER)
//! to another agent, one to a target that does not exist (refused, the call stays), the
//! desk's consultation, conference and attended transfer, and a supervisor who listens,
//! whispers, barges in and ends the call — each checked by what the parties heard and
//! what was recorded.

use hotline_e2e::agents::{caller, ready_all, s, AgentPhone};
use hotline_e2e::audio::{power_share_at, rms, ulaw_decode, Wav};
use hotline_e2e::baresip::Baresip;
use hotline_e2e::pcap::{self, Segment};
use hotline_e2e::rtp::{RtpPacket, RtpSink};
use hotline_e2e::sipp::Sipp;
use hotline_e2e::{AgentSpec, Server, ServerOptions};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CITIZEN_HZ: f64 = 1000.0;
const AGENT_HZ: f64 = 400.0;
const SUPERVISOR_HZ: f64 = 2000.0;

/// The citizen says a long 1 kHz tone, every agent answering with a tone a 400 Hz one.
fn voices(server: &Server) {
    let tone = |freq, ms| vec![Segment::Silence { ms: 300 }, Segment::Tone { freq, ms }];
    pcap::write(&server.dir().join("caller.pcap"), &tone(CITIZEN_HZ, 14_000));
    pcap::write(&server.dir().join("agent.pcap"), &tone(AGENT_HZ, 14_000));
    pcap::write(
        &server.dir().join("supervisor.pcap"),
        &tone(SUPERVISOR_HZ, 14_000),
    );
}

fn two_agents() -> (Server, AgentPhone, AgentPhone) {
    let (a1, a2) = (
        AgentSpec::new("1001", "agent:3"),
        AgentSpec::new("1002", "agent:3"),
    );
    let server = Server::start(ServerOptions {
        agents: vec![a1.clone(), a2.clone()],
        ..Default::default()
    });
    let (p1, p2) = (
        AgentPhone::new(&a1, server.ports.base + 84),
        AgentPhone::new(&a2, server.ports.base + 88),
    );
    // 1001 first: the longest idle takes the call, 1002 is the one sent to.
    p1.ready(&server);
    std::thread::sleep(Duration::from_millis(300));
    p2.ready(&server);
    voices(&server);
    (server, p1, p2)
}

fn events(case: &Value) -> Vec<(String, String)> {
    case["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or("").to_string(),
                e["note"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The case's conversation recordings, oldest first, once `n` are stored.
fn conversations(server: &Server, ticket: &str, n: usize) -> Vec<Wav> {
    let case = server.wait_case(ticket, Duration::from_secs(10), |c| {
        c["recordings"]
            .as_array()
            .is_some_and(|r| r.iter().filter(|x| x["kind"] == "conversation").count() >= n)
    });
    let mut recs: Vec<Value> = case["recordings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r["kind"] == "conversation")
        .collect();
    assert_eq!(recs.len(), n, "conversation recordings: {case:#}");
    recs.sort_by_key(|r| r["id"].as_i64());
    recs.iter()
        .map(|r| Wav::read(&server.recordings_dir().join(r["path"].as_str().unwrap())))
        .collect()
}

fn channels(wav: &Wav) -> (Vec<i16>, Vec<i16>) {
    assert_eq!(wav.spec.channels, 2);
    let left = wav.samples.iter().step_by(2).copied().collect();
    let right = wav.samples.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

/// Share of `freq` in the loudest 1 s window of `pcm` that holds it, and that window's RMS.
fn heard(pcm: &[i16], freq: f64) -> f64 {
    pcm.chunks(8000)
        .filter(|w| w.len() == 8000 && rms(w) > 300.0)
        .map(|w| power_share_at(w, freq))
        .fold(0.0, f64::max)
}

/// What a sink received between `from` and `to`, decoded.
fn pcm_between(packets: &[RtpPacket], from: Instant, to: Instant) -> Vec<i16> {
    packets
        .iter()
        .filter(|p| p.pt == 0 && p.at >= from && p.at < to)
        .flat_map(|p| p.payload.iter().map(|&b| ulaw_decode(b)))
        .collect()
}

/// The one case in the list (registered once an agent answered).
fn live_ticket(server: &Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(c) = server.case_list().first() {
            return c["ticket"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no case opened");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// POSTs `body` to a call-control route until it is not 409 (the leg it needs has not
/// answered yet), at most 10 s.
fn post_until_done(server: &Server, path: &str, body: &Value, token: &str) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = server.api_post_authorized(path, body, token);
        if status != 409 || Instant::now() > deadline {
            return (status, v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_blind_transfer_from_the_phone_rings_the_other_agent_who_hears_the_citizen() {
    let (server, p1, p2) = two_agents();
    let first = p1
        .sipp("agent_transfer.xml")
        .key("target", "1002")
        .set("hold_ms", 2000)
        .timeout(Duration::from_secs(40))
        .spawn(&server);
    let second = p2.answer(&server, "agent_answer_tone.xml", 1, Duration::from_secs(40));
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('0', 1000, 9000, sink.port, server.ports.base + 80).run(&server);
    run.assert_success("caller");
    let r1 = first.wait();
    r1.assert_success("1001 transfers to 1002 and is hung up on");
    second
        .wait()
        .assert_success("1002 takes the transferred call");
    let ticket = run.x_ticket().unwrap();
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        events(c).iter().any(|(e, _)| e == "transfer_answered")
    });
    let ev = events(&case);
    assert!(
        ev.contains(&("transferred".into(), "to agent 1002".into())),
        "{ev:?}"
    );
    // The call row keeps the first agent; 1001 wraps up, 1002 took the citizen.
    assert_eq!(s(&case["calls"][0], "agent"), "1001", "{case:#}");
    // The second conversation: the citizen's tone on the left, 1002's on the right.
    let wavs = conversations(&server, &ticket, 2);
    let (left, right) = channels(&wavs[1]);
    let (l, r) = (heard(&left, CITIZEN_HZ), heard(&right, AGENT_HZ));
    eprintln!("after the transfer: citizen {l:.2} left, agent 1002 {r:.2} right");
    assert!(l > 0.7, "1002's recording lacks the citizen: {l:.2}");
    assert!(r > 0.7, "1002's recording lacks 1002: {r:.2}");
    let log = server.log_text();
    assert!(
        !log.contains("transfer to an unknown target ignored"),
        "{log}"
    );
}

#[test]
fn a_transfer_to_an_unknown_target_is_refused_and_the_call_stays_up() {
    let (server, p1, _p2) = two_agents();
    let first = p1
        .sipp("agent_transfer_refused.xml")
        .key("target", "9999")
        .set("hold_ms", 1500)
        .set("talk_ms", 2000)
        .timeout(Duration::from_secs(40))
        .spawn(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('0', 1000, 12_000, sink.port, server.ports.base + 80).run(&server);
    run.assert_success("caller");
    let r1 = first.wait();
    // The scenario's own BYE after the refusal is answered 200: the call was still up.
    r1.assert_success("1001's transfer refused, then 1001 hangs up");
    let frag = r1
        .received()
        .iter()
        .filter(|m| m.starts_with("NOTIFY"))
        .filter_map(|m| {
            m.lines()
                .find(|l| l.starts_with("SIP/2.0 "))
                .map(str::to_string)
        })
        .collect::<Vec<_>>();
    assert_eq!(
        frag,
        vec![
            "SIP/2.0 100 Trying".to_string(),
            "SIP/2.0 404 Not Found".to_string()
        ],
        "NOTIFY bodies"
    );
    let ticket = run.x_ticket().unwrap();
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        !c["calls"][0]["ended_at"].is_null()
    });
    assert!(
        !events(&case).iter().any(|(e, _)| e == "transferred"),
        "{case:#}"
    );
    // The agent hung up after the refusal, so the citizen reached the survey.
    assert!(server
        .log_text()
        .contains("transfer refused; the call stays"));
}

#[test]
fn the_desk_consults_conferences_and_completes_an_attended_transfer() {
    let (server, p1, p2) = two_agents();
    let zhang = server.user_token("zhang", "agent", &["--extension", "1001"]);
    let li = server.user_token("li", "agent", &["--extension", "1002"]);
    let first = p1.answer(&server, "agent_answer.xml", 1, Duration::from_secs(60));
    let second = p2.answer(&server, "agent_answer_tone.xml", 1, Duration::from_secs(60));
    let sink = RtpSink::bind(server.ports.base + 60);
    let citizen = caller('0', 1000, 16_000, sink.port, server.ports.base + 80).spawn(&server);
    server.wait_agent("1001", Duration::from_secs(10), |a| a["state"] == "on_call");
    let ticket = live_ticket(&server);
    let control = format!("/api/calls/{ticket}/control");
    // Only the agent on the call controls it.
    let (status, body) = server.api_post_authorized(&control, &json!({"action": "hold"}), &li);
    assert_eq!(status, 403, "{body}");
    let (status, body) = server.api_post_authorized(
        &control,
        &json!({"action": "consult", "target": "7777"}),
        &zhang,
    );
    assert_eq!(status, 409, "an unknown target: {body}");
    let (status, body) = server.api_post_authorized(
        &control,
        &json!({"action": "consult", "target": "1002"}),
        &zhang,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        post_until_done(&server, &control, &json!({"action": "conference"}), &zhang);
    assert_eq!(status, 200, "conference once 1002 answered: {body}");
    let conference = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let (status, body) =
        server.api_post_authorized(&control, &json!({"action": "complete"}), &zhang);
    assert_eq!(status, 409, "nothing to complete in a conference: {body}");
    // The citizen hangs up at the end: every leg is hung up.
    let heard_in_conference = pcm_between(&sink.packets(), conference, Instant::now());
    let run = citizen.wait();
    run.assert_success("citizen");
    first.wait().assert_success("1001");
    second.wait().assert_success("1002");
    let agent_share = heard(&heard_in_conference, AGENT_HZ);
    eprintln!("the citizen heard 1002 in the conference: {agent_share:.2}");
    assert!(
        agent_share > 0.5,
        "the citizen did not hear 1002 in the conference"
    );
    // One bridge, then the mix: the mix's recording has the citizen left and 1002 right.
    let wavs = conversations(&server, &ticket, 2);
    let (left, right) = channels(&wavs[1]);
    assert!(
        heard(&left, CITIZEN_HZ) > 0.7,
        "citizen missing on the left"
    );
    assert!(heard(&right, AGENT_HZ) > 0.7, "1002 missing on the right");
    let case = server.case_show(&ticket);
    let ev = events(&case);
    assert!(
        ev.iter().any(|(e, _)| e == "held"),
        "hold time on the trail: {ev:?}"
    );
}

#[test]
fn a_supervisor_listens_whispers_barges_in_and_ends_the_call() {
    let (a1, sv) = (
        AgentSpec::new("1001", "agent:3"),
        AgentSpec::new("1009", "agent:3"),
    );
    let server = Server::start(ServerOptions {
        agents: vec![a1.clone(), sv.clone()],
        ..Default::default()
    });
    let (p1, ps) = (
        AgentPhone::new(&a1, server.ports.base + 84),
        AgentPhone::new(&sv, server.ports.base + 88),
    );
    ready_all(&server, &[&p1]);
    // The supervisor's phone is registered, not ready: calls never go to it.
    ps.dial_code(&server, "*2");
    voices(&server);
    let sup = server.supervisor_token();
    let agent = p1.answer(&server, "agent_answer_tone.xml", 1, Duration::from_secs(60));
    let sup_sink = RtpSink::bind(server.ports.base + 64);
    let supervisor = ps
        .sipp("supervisor_answer.xml")
        .key("sink_port", sup_sink.port)
        .calls(1)
        .timeout(Duration::from_secs(60))
        .spawn(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let citizen = Sipp::new("uac_agent_call_until_bye.xml")
        .key("sink_port", sink.port)
        .key("key", '0')
        .key("caller", "13800138000")
        .set("key_at_ms", 1000)
        .media_port(server.ports.base + 80)
        .timeout(Duration::from_secs(60))
        .spawn(&server);
    server.wait_agent("1001", Duration::from_secs(10), |a| a["state"] == "on_call");
    let ticket = live_ticket(&server);
    let supervise = format!("/api/calls/{ticket}/supervise");
    // Agents may not supervise.
    let zhang = server.user_token("zhang", "agent", &["--extension", "1001"]);
    let (status, _) = server.api_post_authorized(
        &supervise,
        &json!({"extension": "1009", "mode": "listen"}),
        &zhang,
    );
    assert_eq!(status, 403);
    let (status, body) = server.api_post_authorized(
        &supervise,
        &json!({"extension": "1009", "mode": "listen"}),
        &sup,
    );
    assert_eq!(status, 200, "{body}");
    // Listening: the supervisor hears the citizen and the agent; the citizen hears the
    // agent and never the supervisor.
    let wait_heard = |sink: &RtpSink, since: Instant, freq: f64| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pcm = pcm_between(&sink.packets(), since, Instant::now());
            let share = heard(&pcm, freq);
            if share > 0.2 || Instant::now() > deadline {
                return share;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let t0 = Instant::now();
    assert!(
        wait_heard(&sup_sink, t0, CITIZEN_HZ) > 0.2,
        "supervisor does not hear the citizen"
    );
    assert!(
        wait_heard(&sup_sink, t0, AGENT_HZ) > 0.2,
        "supervisor does not hear the agent"
    );
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = server.api_post_authorized(
        &supervise,
        &json!({"extension": "1009", "mode": "whisper"}),
        &sup,
    );
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_secs(3));
    let before_barge = Instant::now();
    let private = pcm_between(&sink.packets(), t0, before_barge);
    let leaked = heard(&private, SUPERVISOR_HZ);
    assert!(
        leaked < 0.05,
        "the citizen heard the supervisor while listening/whispering: {leaked:.2}"
    );
    let (status, body) = server.api_post_authorized(
        &supervise,
        &json!({"extension": "1009", "mode": "barge"}),
        &sup,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        wait_heard(&sink, before_barge, SUPERVISOR_HZ) > 0.2,
        "the citizen does not hear the supervisor who barged in"
    );
    let (status, body) =
        server.api_post_authorized(&format!("/api/calls/{ticket}/hangup"), &json!({}), &sup);
    assert_eq!(status, 200, "{body}");
    citizen
        .wait()
        .assert_success("citizen hung up on by the supervisor");
    agent.wait().assert_success("agent");
    supervisor.wait().assert_success("supervisor");
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        !c["calls"][0]["ended_at"].is_null()
    });
    assert_eq!(
        s(&case["calls"][0], "hangup_cause"),
        "supervisor_hangup",
        "{case:#}"
    );
    let ev = events(&case);
    for (e, n) in [
        ("supervised", "listen by sup"),
        ("supervised", "whisper by sup"),
        ("supervised", "barge by sup"),
        ("force_hangup", "by sup"),
    ] {
        assert!(ev.contains(&(e.into(), n.into())), "{e} {n}: {ev:?}");
    }
}

#[test]
fn a_baresip_agent_holds_resumes_and_transfers_to_another_agent() {
    let (a3, a2) = (
        AgentSpec::new("1003", "agent:3"),
        AgentSpec::new("1002", "agent:3"),
    );
    // baresip 1.0 gives up on a 401 offering an algorithm it lacks: MD5 only.
    let server = Server::start(ServerOptions {
        agents: vec![a3.clone(), a2.clone()],
        digest_algorithms: vec!["MD5".into()],
        ..Default::default()
    });
    let base = server.ports.base;
    let phone = Baresip::start(
        &server,
        "1003",
        &a3.password,
        AGENT_HZ,
        60,
        (base + 70, base + 79),
        Duration::from_secs(60),
    );
    server.wait_agent("1003", Duration::from_secs(10), |a| {
        a["registered_contacts"].as_u64().unwrap_or(0) >= 1
    });
    phone
        .command("dial", &format!("sip:*1@{}", server.sip))
        .expect("dial *1");
    let a = server.wait_agent("1003", Duration::from_secs(10), |a| a["state"] == "ready");
    assert_eq!(a["state"], "ready", "{a:#}\n{}", phone.log());
    std::thread::sleep(Duration::from_millis(300));
    let p2 = AgentPhone::new(&a2, base + 88);
    p2.ready(&server);
    voices(&server);
    let second = p2.answer(&server, "agent_answer_tone.xml", 1, Duration::from_secs(40));
    let sink = RtpSink::bind(base + 60);
    let citizen = caller('0', 1000, 14_000, sink.port, base + 80).spawn(&server);
    server.wait_agent("1003", Duration::from_secs(10), |a| a["state"] == "on_call");
    std::thread::sleep(Duration::from_secs(1));
    // The softphone's hold: the citizen hears music, then is taken back.
    phone.command("hold", "").expect("hold");
    let held = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    phone.command("resume", "").expect("resume");
    std::thread::sleep(Duration::from_secs(1));
    let music = pcm_between(&sink.packets(), held, held + Duration::from_secs(3));
    let chime = heard(&music, 523.25) + heard(&music, 659.25);
    eprintln!("hold music share {chime:.2}");
    assert!(
        chime > 0.5,
        "no hold music while baresip held\n{}",
        phone.log()
    );
    // The softphone's blind transfer to 1002.
    let t = phone.command("transfer", &format!("sip:1002@{}", server.sip));
    eprintln!("baresip transfer: {t:?}");
    let run = citizen.wait();
    run.assert_success("citizen");
    second
        .wait()
        .assert_success("1002 takes the transferred call");
    let ticket = run.x_ticket().unwrap();
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        events(c).iter().any(|(e, _)| e == "transfer_answered")
    });
    let ev = events(&case);
    assert!(
        ev.contains(&("transferred".into(), "to agent 1002".into())),
        "{ev:?}\n{}",
        phone.log()
    );
    assert!(ev.iter().any(|(e, _)| e == "held"), "{ev:?}");
    let wavs = conversations(&server, &ticket, 2);
    let (left, _) = channels(&wavs[1]);
    assert!(
        heard(&left, CITIZEN_HZ) > 0.7,
        "1002's recording lacks the citizen"
    );
}

#[test]
fn an_agent_sends_an_emergency_to_110_through_the_trunk() {
    let gw_port = hotline_e2e::ports::free_port();
    let a1 = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![a1.clone()],
        extra_config: format!(
            "[trunk.outbound]\ngateway = \"127.0.0.1:{gw_port}\"\ncaller_id = \"12345\"\nusername = \"hotline\"\npassword = \"gw-secret-1\"\n"
        ),
        ..Default::default()
    });
    let p1 = AgentPhone::new(&a1, server.ports.base + 84);
    p1.ready(&server);
    voices(&server);
    pcap::write(
        &server.dir().join("gateway.pcap"),
        &[
            Segment::Silence { ms: 200 },
            Segment::Tone {
                freq: SUPERVISOR_HZ,
                ms: 4000,
            },
        ],
    );
    // 110 (the gateway) answers and hangs up 5 s later.
    let gateway = Sipp::new("gw_challenge_answer.xml")
        .local_port(gw_port)
        .media_port(server.ports.base + 92)
        .key("user", "hotline")
        .key("password", "gw-secret-1")
        .set("hold_ms", 5000)
        .timeout(Duration::from_secs(60))
        .spawn(&server);
    let agent = p1
        .sipp("agent_transfer.xml")
        .key("target", "110")
        .set("hold_ms", 1500)
        .timeout(Duration::from_secs(40))
        .spawn(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('0', 1000, 12_000, sink.port, server.ports.base + 80).run(&server);
    run.assert_success("caller");
    agent.wait().assert_success("1001 transfers to 110");
    let gw = gateway.wait();
    gw.assert_success("110 answers");
    let invite = gw
        .received()
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .cloned()
        .expect("the gateway got an INVITE");
    assert!(invite.starts_with("INVITE sip:110@"), "{invite}");
    let ticket = run.x_ticket().unwrap();
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        !c["calls"][0]["ended_at"].is_null()
    });
    let ev = events(&case);
    assert!(
        ev.contains(&("transferred".into(), "to number 110".into())),
        "{ev:?}"
    );
    assert!(ev.iter().any(|(e, _)| e == "transfer_answered"), "{ev:?}");
    let wavs = conversations(&server, &ticket, 2);
    let (left, right) = channels(&wavs[1]);
    assert!(
        heard(&left, CITIZEN_HZ) > 0.7,
        "110's recording lacks the citizen"
    );
    assert!(
        heard(&right, SUPERVISOR_HZ) > 0.7,
        "110's recording lacks 110"
    );
}

#[test]
fn a_supervisor_listens_from_the_phone_with_a_feature_code() {
    let (a1, sv, other) = (
        AgentSpec::new("1001", "agent:3"),
        AgentSpec::new("1009", "agent:3"),
        AgentSpec::new("1002", "agent:3"),
    );
    let server = Server::start(ServerOptions {
        agents: vec![a1.clone(), sv.clone(), other.clone()],
        ..Default::default()
    });
    let (p1, ps, po) = (
        AgentPhone::new(&a1, server.ports.base + 84),
        AgentPhone::new(&sv, server.ports.base + 88),
        AgentPhone::new(&other, server.ports.base + 92),
    );
    ready_all(&server, &[&p1]);
    // The supervisor's and the other agent's phones are registered, not ready.
    ps.dial_code(&server, "*2");
    po.dial_code(&server, "*2");
    // 1009 is the supervisor "wang"'s extension; 1002 belongs to no supervisor.
    server.user_token("wang", "supervisor", &["--extension", "1009"]);
    voices(&server);
    let agent = p1.answer(&server, "agent_answer_tone.xml", 1, Duration::from_secs(60));
    let sink = RtpSink::bind(server.ports.base + 60);
    let citizen = caller('0', 1000, 16_000, sink.port, server.ports.base + 80).spawn(&server);
    server.wait_agent("1001", Duration::from_secs(10), |a| a["state"] == "on_call");
    let ticket = live_ticket(&server);
    // An agent's phone cannot listen in.
    let refused = po
        .sipp("supervisor_dial.xml")
        .key("code", "*411001")
        .key("sink_port", server.ports.base + 68)
        .set("listen_ms", 1000)
        .timeout(Duration::from_secs(20))
        .run(&server);
    refused.assert_success("the other agent's attempt");
    assert!(
        refused
            .received()
            .iter()
            .any(|m| hotline_e2e::sip::status(m) == Some(403)),
        "no 403 for an agent's phone"
    );
    // The supervisor listens for 5 s, playing a 2 kHz tone nobody must hear.
    let sup_sink = RtpSink::bind(server.ports.base + 64);
    let t0 = Instant::now();
    let listen = ps
        .sipp("supervisor_dial.xml")
        .key("code", "*411001")
        .key("sink_port", sup_sink.port)
        .set("listen_ms", 5000)
        .timeout(Duration::from_secs(30))
        .run(&server);
    listen.assert_success("the supervisor listens, then hangs up");
    let heard_by_sup = pcm_between(&sup_sink.packets(), t0, Instant::now());
    let (c, a) = (
        heard(&heard_by_sup, CITIZEN_HZ),
        heard(&heard_by_sup, AGENT_HZ),
    );
    eprintln!("the supervisor heard the citizen {c:.2}, the agent {a:.2}");
    assert!(
        c > 0.2 && a > 0.2,
        "the supervisor does not hear both sides"
    );
    let leaked = heard(
        &pcm_between(&sink.packets(), t0, Instant::now()),
        SUPERVISOR_HZ,
    );
    assert!(
        leaked < 0.05,
        "the citizen heard the listening supervisor: {leaked:.2}"
    );
    // The call goes on after the supervisor left, until the citizen hangs up.
    citizen.wait().assert_success("citizen");
    agent.wait().assert_success("agent");
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        !c["calls"][0]["ended_at"].is_null()
    });
    assert_eq!(
        s(&case["calls"][0], "hangup_cause"),
        "caller_bye",
        "{case:#}"
    );
    let ev = events(&case);
    assert!(
        ev.contains(&("supervised".into(), "listen by wang".into())),
        "{ev:?}"
    );
}

#[test]
fn calls_from_phones_are_challenged_alike_so_scanners_learn_no_extensions() {
    // A scanner (svwar) is not a trunk: whatever extension it dials, the same challenge.
    let a1 = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![a1],
        allowed_sources: vec!["10.9.9.9/32".into()],
        ..Default::default()
    });
    let peer = hotline_e2e::sip::RawSip::new(server.sip);
    let mut codes = Vec::new();
    for (i, number) in ["1001", "9999", "110", "100"].iter().enumerate() {
        let branch = format!("scan{i}");
        let invite = peer.invite(
            number,
            &format!("scan-{i}"),
            &branch,
            server.ports.base + 70,
            "0 101",
        );
        peer.send(invite.as_bytes());
        let reply = peer
            .final_response(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no answer for {number}"));
        codes.push(hotline_e2e::sip::status(&reply).unwrap());
    }
    assert_eq!(
        codes,
        vec![401; 4],
        "answers differ by extension: {codes:?}"
    );
}
