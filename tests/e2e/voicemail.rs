//! Voicemail: keys by RFC 4733 and by SIP INFO in staffed hours, and a caller hanging up
//! mid-recording outside staffed hours. Each caller's audio is a pcap timed from the
//! prompts' measured lengths: the tone starts [`MARGIN_MS`] after the beep should end.

use hotline_e2e::flows::{check_voicemail, prompts_ms};
use hotline_e2e::pcap::{self, Segment};
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::sip::{header, status, RawSip};
use hotline_e2e::{Hours, Server, ServerOptions, Sipp};
use std::time::Duration;

/// Silence between the expected end of the beep and the caller's tone (slack for the
/// server's reaction times; it ends up in the recording).
const MARGIN_MS: u32 = 600;
/// How long a key is held (RFC 4733: 5 updates + 3 end packets = 160 ms on the wire).
const KEY_MS: u32 = 100;
const TONE_HZ: f64 = 1000.0;

/// From a menu choice of the agent queue to the end of the beep: agents busy, then the
/// voicemail prompt and the beep.
fn busy_to_beep_ms() -> u32 {
    prompts_ms(&["agents_busy", "voicemail", "beep"])
}

fn checked_ticket(server: &Server, run: &hotline_e2e::sipp::SippRun, sink: &RtpSink) -> String {
    run.assert_success("voicemail call");
    match sink.check_heard_audio(200) {
        Ok(summary) => eprintln!("caller heard: {summary}"),
        Err(e) => panic!("the caller did not hear the prompts: {e}"),
    }
    let ticket = run.x_ticket().expect("no X-Ticket in the 200 OK");
    assert_eq!(server.only_ticket(), ticket);
    ticket
}

#[test]
fn rfc4733_digit_chooses_voicemail_and_message_is_recorded() {
    let server = Server::start(ServerOptions {
        hours: Hours::Staffed,
        ..Default::default()
    });
    let key_at = 2000;
    let tone_ms = 4000;
    let wait = busy_to_beep_ms() + MARGIN_MS;
    let segments = [
        Segment::Silence { ms: key_at },
        Segment::Key {
            key: '0',
            ms: KEY_MS,
        },
        Segment::Silence { ms: wait },
        Segment::Tone {
            freq: TONE_HZ,
            ms: tone_ms,
        },
        Segment::Key {
            key: '#',
            ms: KEY_MS,
        },
        Segment::Silence { ms: 400 },
    ];
    pcap::write(&server.dir().join("caller.pcap"), &segments);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_voicemail_keys.xml")
        .key("sink_port", sink.port)
        .timeout(Duration::from_secs(90))
        .run(&server);
    let ticket = checked_ticket(&server, &run, &sink);

    let case = server.wait_call_ended(&ticket);
    let call = &case["calls"][0];
    assert_eq!(call["hangup_cause"], "hotline_bye", "{case:#}");
    let path = call["ivr_path"].as_str().unwrap_or_default();
    assert!(path.starts_with("greeting"), "ivr_path {path:?}");
    assert!(path.contains("menu:0"), "ivr_path {path:?}");
    assert!(path.contains("voicemail:hash"), "ivr_path {path:?}");
    check_voicemail(
        &server,
        &case,
        f64::from(tone_ms) / 1000.0,
        f64::from(tone_ms) / 1000.0,
    );
}

#[test]
fn info_dtmf_chooses_voicemail() {
    let server = Server::start(ServerOptions {
        hours: Hours::Staffed,
        ..Default::default()
    });
    let tone_ms = 4000;
    pcap::write(
        &server.dir().join("caller.pcap"),
        &[Segment::Tone {
            freq: TONE_HZ,
            ms: tone_ms,
        }],
    );
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_voicemail_info.xml")
        .key("sink_port", sink.port)
        .set("key_at_ms", 2000)
        .set("tone_at_ms", busy_to_beep_ms() + MARGIN_MS)
        .set("tone_ms", tone_ms + 100)
        .timeout(Duration::from_secs(90))
        .run(&server);
    let ticket = checked_ticket(&server, &run, &sink);

    let case = server.wait_call_ended(&ticket);
    let call = &case["calls"][0];
    assert_eq!(call["hangup_cause"], "hotline_bye", "{case:#}");
    let path = call["ivr_path"].as_str().unwrap_or_default();
    assert!(path.contains("menu:0"), "ivr_path {path:?}");
    assert!(path.contains("voicemail:hash"), "ivr_path {path:?}");
    check_voicemail(
        &server,
        &case,
        f64::from(tone_ms) / 1000.0,
        f64::from(tone_ms) / 1000.0,
    );
}

#[test]
fn closed_hours_voicemail_finalized_on_hangup() {
    let server = Server::start(ServerOptions {
        hours: Hours::Closed,
        ..Default::default()
    });
    // Closed: greeting, closed notice, voicemail prompt, beep, then recording.
    let record_at = prompts_ms(&["welcome", "emergency", "closed", "voicemail", "beep"]);
    let tone_ms = 3000;
    let bye_at = record_at + MARGIN_MS + tone_ms + 400;
    let segments = [
        Segment::Silence {
            ms: record_at + MARGIN_MS,
        },
        Segment::Tone {
            freq: TONE_HZ,
            ms: tone_ms,
        },
    ];
    pcap::write(&server.dir().join("caller.pcap"), &segments);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_hangup_while_recording.xml")
        .key("sink_port", sink.port)
        .set("bye_at_ms", bye_at)
        .timeout(Duration::from_secs(90))
        .run(&server);
    let ticket = checked_ticket(&server, &run, &sink);

    let case = server.wait_case(&ticket, Duration::from_secs(5), |c| {
        !c["calls"][0]["ended_at"].is_null()
            && !c["recordings"].as_array().is_none_or(|r| r.is_empty())
    });
    let call = &case["calls"][0];
    assert_eq!(call["hangup_cause"], "caller_bye", "{case:#}");
    let path = call["ivr_path"].as_str().unwrap_or_default();
    assert!(path.contains("closed"), "ivr_path {path:?}");
    assert!(
        !path.contains("menu"),
        "closed hours offer no menu: ivr_path {path:?}"
    );
    let sent_after_beep = f64::from(bye_at - record_at) / 1000.0;
    check_voicemail(&server, &case, sent_after_beep, f64::from(tone_ms) / 1000.0);
}

#[test]
fn sigterm_drains_then_hangs_up_and_keeps_three_voicemails_being_recorded() {
    const DRAIN_SECS: u64 = 4;
    let mut server = Server::start(ServerOptions {
        hours: Hours::Closed,
        drain_secs: DRAIN_SECS,
        ..Default::default()
    });
    let record_at = prompts_ms(&["welcome", "emergency", "closed", "voicemail", "beep"]);
    // Three callers speak (a tone) from just after the beep until the hotline hangs up.
    let segments = [
        Segment::Silence {
            ms: record_at + MARGIN_MS,
        },
        Segment::Tone {
            freq: TONE_HZ,
            ms: 30_000,
        },
    ];
    pcap::write(&server.dir().join("caller.pcap"), &segments);
    let sink = RtpSink::bind(server.ports.base + 60);
    let callers = Sipp::new("uac_wait_for_bye.xml")
        .key("sink_port", sink.port)
        .calls(3)
        .timeout(Duration::from_secs(90))
        .spawn(&server);
    // Three seconds into the messages, the service is stopped as systemd stops it.
    std::thread::sleep(Duration::from_millis(u64::from(
        record_at + MARGIN_MS + 3000,
    )));
    let asked = std::time::Instant::now();
    server.send_sigterm();
    // While the live calls drain, a new call is refused at once, for the trunk (or
    // Kamailio) to send it to another node.
    std::thread::sleep(Duration::from_millis(300));
    let peer = RawSip::new(server.sip);
    let invite = peer.invite(
        "12345",
        "during-drain",
        "drain1",
        server.ports.base + 70,
        "0 101",
    );
    peer.send(invite.as_bytes());
    let reply = peer
        .final_response(Duration::from_secs(2))
        .unwrap_or_else(|| {
            panic!(
                "no answer to an INVITE while draining:\n{}",
                server.log_text()
            )
        });
    assert_eq!(status(&reply), Some(503), "{reply}");
    assert!(header(&reply, "Retry-After").is_some(), "{reply}");
    let status = server
        .wait_exit(Duration::from_secs(DRAIN_SECS + 15))
        .unwrap_or_else(|| panic!("still running after SIGTERM:\n{}", server.log_text()));
    let took = asked.elapsed();
    assert!(status.success(), "exit {status}:\n{}", server.log_text());
    eprintln!("SIGTERM -> exit in {:.2} s", took.as_secs_f64());
    // The calls went on through the drain, then were hung up well before systemd's limit.
    assert!(
        took >= Duration::from_secs(DRAIN_SECS) && took < Duration::from_secs(DRAIN_SECS + 5),
        "stopping took {took:?}"
    );

    // The callers were hung up on (BYE), not left with dead air.
    let run = callers.wait();
    run.assert_success("the callers get the hotline's BYE");
    let tickets: Vec<String> = run
        .received()
        .iter()
        .filter(|m| {
            m.starts_with("SIP/2.0 200") && header(m, "CSeq").is_some_and(|c| c.ends_with("INVITE"))
        })
        .filter_map(|m| header(m, "X-Ticket").map(str::to_string))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(tickets.len(), 3, "{tickets:?}");

    // Every call row is closed, every message kept as a voicemail to call back.
    for ticket in &tickets {
        let case = server.case_show(ticket);
        let call = &case["calls"][0];
        assert_eq!(call["hangup_cause"], "hotline_shutdown", "{case:#}");
        assert!(!call["ended_at"].is_null(), "{case:#}");
        assert_eq!(case["case"]["status"], "callback_pending", "{case:#}");
        let recs = case["recordings"].as_array().expect("recordings");
        assert_eq!(recs.len(), 1, "{case:#}");
        let path = server
            .recordings_dir()
            .join(recs[0]["path"].as_str().expect("recording path"));
        let wav = hotline_e2e::audio::Wav::read(&path);
        let row_secs = recs[0]["duration_ms"].as_f64().unwrap() / 1000.0;
        assert!(
            (wav.secs() - row_secs).abs() < 0.2,
            "row {row_secs} s, file {:.2} s",
            wav.secs()
        );
        let loud = hotline_e2e::flows::loud_secs(&wav.samples);
        let share = hotline_e2e::audio::power_share_at(&wav.samples, TONE_HZ);
        eprintln!(
            "{ticket}: voicemail kept: {:.2} s, {loud:.2} s of tone, 1 kHz share {share:.3}",
            wav.secs()
        );
        // 3 s before SIGTERM plus the drain.
        assert!(loud > 5.0, "only {loud:.2} s of the caller's message kept");
        assert!(share > 0.8, "1 kHz share {share:.2}");
    }
}
