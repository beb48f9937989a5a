//! An attended transfer done from the agent's own phone (RFC 5589 §7): agent 1001 (a
//! scripted phone, [`Phone`]) takes a citizen's call, places a consultation call to agent
//! 1002 (an INVITE to the extension, digest-authenticated), then REFERs the citizen's
//! dialog with `Refer-To: <sip:1002@hotline?Replaces=…>` naming the consultation dialog.
//! The hotline hands 1002 over to the citizen, reports the transfer by NOTIFY and hangs up
//! both of 1001's dialogs; 1002's conversation with the citizen is recorded.

use hotline_e2e::agents::{caller, AgentPhone};
use hotline_e2e::audio::{power_share_at, rms, ulaw_decode, Wav};
use hotline_e2e::pcap::{self, Segment};
use hotline_e2e::rtp::{RtpPacket, RtpSink};
use hotline_e2e::uac::Phone;
use hotline_e2e::{AgentSpec, Server, ServerOptions};
use serde_json::Value;
use std::time::{Duration, Instant};

const CITIZEN_HZ: f64 = 1000.0;
const AGENT_HZ: f64 = 400.0;

/// Share of `freq` in the 1 s windows of `pcm` that hold sound (the best one).
fn heard(pcm: &[i16], freq: f64) -> f64 {
    pcm.chunks(8000)
        .filter(|w| w.len() == 8000 && rms(w) > 300.0)
        .map(|w| power_share_at(w, freq))
        .fold(0.0, f64::max)
}

/// What a sink received since `from`, decoded.
fn pcm_since(packets: &[RtpPacket], from: Instant) -> Vec<i16> {
    packets
        .iter()
        .filter(|p| p.pt == 0 && p.at >= from)
        .flat_map(|p| p.payload.iter().map(|&b| ulaw_decode(b)))
        .collect()
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

fn conversations(case: &Value) -> Vec<Value> {
    let mut recs: Vec<Value> = case["recordings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r["kind"] == "conversation")
        .collect();
    recs.sort_by_key(|r| r["id"].as_i64());
    recs
}

#[test]
fn an_agent_phone_consults_another_agent_then_transfers_the_citizen_with_replaces() {
    let (a1, a2) = (
        AgentSpec::new("1001", "agent:3"),
        AgentSpec::new("1002", "agent:3"),
    );
    let server = Server::start(ServerOptions {
        agents: vec![a1.clone(), a2.clone()],
        ..Default::default()
    });
    let base = server.ports.base;
    // 1001's RTP: the citizen's call and *1 land in one sink, the consultation in another.
    let media1 = RtpSink::bind(base + 64);
    let media2 = RtpSink::bind(base + 68);
    let mut phone = Phone::bind(server.sip, "1001", &a1.password, 0, media1.port);
    let trace = |p: &Phone| format!("--- 1001's SIP ---\n{}", p.trace_text());

    // 1001 first (the longest idle takes the citizen), then 1002.
    assert_eq!(phone.register(300), Some(200), "{}", trace(&phone));
    let ready = phone
        .call("*1")
        .unwrap_or_else(|r| panic!("*1 refused: {r}\n{}", trace(&phone)));
    assert!(
        phone.wait_ended(&[ready], Duration::from_secs(15)),
        "the hotline did not hang up *1\n{}",
        trace(&phone)
    );
    let a = server.wait_agent("1001", Duration::from_secs(5), |a| a["state"] == "ready");
    assert_eq!(a["state"], "ready", "1001 after *1: {a:#}");
    std::thread::sleep(Duration::from_millis(300));
    let p2 = AgentPhone::new(&a2, base + 88);
    p2.ready(&server);

    let tone = |freq, ms| vec![Segment::Silence { ms: 300 }, Segment::Tone { freq, ms }];
    pcap::write(&server.dir().join("caller.pcap"), &tone(CITIZEN_HZ, 14_000));
    pcap::write(&server.dir().join("agent.pcap"), &tone(AGENT_HZ, 14_000));
    let second = p2.answer(&server, "agent_answer_tone.xml", 1, Duration::from_secs(60));
    let sink = RtpSink::bind(base + 60);
    let citizen = caller('0', 1000, 14_000, sink.port, base + 80).spawn(&server);

    // The citizen's call is offered to 1001, who answers and talks a moment.
    let d1 = phone
        .answer(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no call offered to 1001\n{}", trace(&phone)));
    phone.pump(Duration::from_millis(1500));

    // The consultation: 1001 calls 1002, who answers; 1001 hears 1002's tone.
    phone.media_port = media2.port;
    let d2 = phone
        .call("1002")
        .unwrap_or_else(|r| panic!("consultation call to 1002 refused: {r}\n{}", trace(&phone)));
    let consulting = Instant::now();
    phone.pump(Duration::from_millis(1500));
    let deadline = consulting + Duration::from_secs(6);
    let mut consult_share = heard(&pcm_since(&media2.packets(), consulting), AGENT_HZ);
    while consult_share < 0.5 && Instant::now() < deadline {
        phone.pump(Duration::from_millis(200));
        consult_share = heard(&pcm_since(&media2.packets(), consulting), AGENT_HZ);
    }
    eprintln!("1001 heard 1002 in the consultation: {consult_share:.2}");
    assert!(
        consult_share > 0.5,
        "1001 does not hear 1002 on the consultation call"
    );

    // The attended transfer: REFER on the citizen's dialog, replacing the consultation.
    let resp = phone
        .refer_replaces(d1, "1002", d2)
        .unwrap_or_else(|| panic!("no answer to REFER\n{}", trace(&phone)));
    assert_eq!(
        hotline_e2e::sip::status(&resp),
        Some(202),
        "REFER: {resp}\n{}",
        trace(&phone)
    );
    assert!(
        phone.wait_notifies(2, Duration::from_secs(10)),
        "NOTIFYs: {:?}\n{}",
        phone.notify_bodies(),
        trace(&phone)
    );
    let frags: Vec<&str> = phone
        .notify_bodies()
        .iter()
        .map(|b| b.lines().next().unwrap_or(""))
        .collect();
    assert_eq!(
        frags,
        ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"],
        "NOTIFY bodies\n{}",
        trace(&phone)
    );
    assert!(
        phone.wait_ended(&[d1, d2], Duration::from_secs(10)),
        "the hotline did not hang up both of 1001's dialogs\n{}",
        trace(&phone)
    );

    // The citizen talks with 1002 until hanging up; the hotline then hangs up on 1002.
    let run = citizen.wait();
    run.assert_success("citizen");
    second
        .wait()
        .assert_success("1002 consulted, then talking with the citizen");
    let ticket = run.x_ticket().expect("X-Ticket on the citizen's 200");
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        !c["calls"][0]["ended_at"].is_null()
            && conversations(c).len() >= 2
            && events(c).iter().any(|(e, _)| e == "transferred")
    });
    let ev = events(&case);
    assert!(
        ev.contains(&("transferred".into(), "to agent 1002".into())),
        "{ev:?}\n{case:#}"
    );
    // The last conversation recorded: the citizen on the left, 1002 on the right.
    let recs = conversations(&case);
    let last = recs.last().expect("a conversation recording");
    let wav = Wav::read(&server.recordings_dir().join(last["path"].as_str().unwrap()));
    assert_eq!(wav.spec.channels, 2);
    let left: Vec<i16> = wav.samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = wav.samples.iter().skip(1).step_by(2).copied().collect();
    let (l, r) = (heard(&left, CITIZEN_HZ), heard(&right, AGENT_HZ));
    eprintln!("after the transfer: citizen {l:.2} left, agent 1002 {r:.2} right");
    assert!(l > 0.7, "the last recording lacks the citizen: {l:.2}");
    assert!(r > 0.7, "the last recording lacks 1002: {r:.2}");
}
