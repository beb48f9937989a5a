//! Voicemail: keys by RFC 4733 and by SIP INFO in staffed hours, and a caller hanging up
//! mid-recording outside staffed hours. Each caller's audio is a pcap timed from the
//! prompts' measured lengths: the tone starts [`MARGIN_MS`] after the beep should end.

use hotline_e2e::flows::{check_voicemail, prompts_ms};
use hotline_e2e::pcap::{self, Segment};
use hotline_e2e::rtp::RtpSink;
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
