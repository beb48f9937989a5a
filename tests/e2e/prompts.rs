//! What a caller hears, checked frame by frame over real RTP: the closed notice reads the
//! configured staffed hours, the menu ends within 12 s of the answer and the night tone
//! within 20 s, a revisit names its ticket, and the hotline keeps sending RTP (silence)
//! while it records a voicemail.
//!
//! The prompts are sent as G.711 frames cut from the WAV files, so the test computes the
//! exact bytes each prompt puts on the wire and finds them in what the caller received:
//! which prompts were played, in which order, and when each ended, without guessing from
//! audio levels.

use hotline_e2e::flows::{check_voicemail, prompts_ms};
use hotline_e2e::pcap::{self, Segment};
use hotline_e2e::rtp::{RtpPacket, RtpSink};
use hotline_e2e::server::workspace_dir;
use hotline_e2e::sip::{header, status, RawSip};
use hotline_e2e::{Hours, Server, ServerOptions, Sipp};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const FRAME: usize = 160;
type Frame = [u8; FRAME];

/// µ-law as the hotline encodes (ITU-T G.191: a negative sample's magnitude is its one's
/// complement), so the expected frames are the bytes on the wire.
fn ulaw(s: i16) -> u8 {
    let (mag, mask) = if s < 0 {
        (i32::from(!s) >> 2, 0x7F)
    } else {
        (i32::from(s) >> 2, 0xFF)
    };
    let biased = (mag + (0x84 >> 2)).min(0x1FFF) as u32;
    let exponent = 32 - (biased >> 6).leading_zeros();
    let mantissa = (biased >> (exponent + 1)) & 0x0F;
    (((exponent << 4) | mantissa) as u8) ^ mask
}

/// The PCMU frames prompt `name` is sent as (the last one padded with silence).
fn frames_of(name: &str) -> Vec<Frame> {
    let path = workspace_dir()
        .join("prompts/zh")
        .join(format!("{name}.wav"));
    let mut reader =
        hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    samples
        .chunks(FRAME)
        .map(|c| {
            let mut f = [0xFF; FRAME];
            for (b, &s) in f.iter_mut().zip(c) {
                *b = ulaw(s);
            }
            f
        })
        .collect()
}

/// The frames of several prompts played in one sequence.
fn frames(names: &[&str]) -> Vec<Frame> {
    names.iter().flat_map(|n| frames_of(n)).collect()
}

fn is_silence(p: &RtpPacket) -> bool {
    p.payload.iter().all(|&b| b == 0xFF)
}

/// The received PCMU packets, in order of arrival.
fn audio(sink: &RtpSink) -> Vec<RtpPacket> {
    sink.packets()
        .into_iter()
        .filter(|p| p.pt == 0 && p.payload.len() == FRAME)
        .collect()
}

/// Where `want` starts as consecutive packets of `got`, at or after `from`.
fn find(got: &[RtpPacket], want: &[Frame], from: usize) -> Option<usize> {
    (from..=got.len().checked_sub(want.len())?).find(|&i| {
        got[i..i + want.len()]
            .iter()
            .zip(want)
            .all(|(p, f)| p.payload == f[..])
    })
}

/// Checks that the caller heard the `sequences` (each one `play` of the hotline) one after
/// another, each exactly, separated by at most a few frames of silence; returns the index
/// of each sequence's first packet.
fn heard_in_order(got: &[RtpPacket], sequences: &[&[&str]]) -> Vec<usize> {
    let mut at = Vec::new();
    let mut next = 0;
    for (k, names) in sequences.iter().enumerate() {
        let want = frames(names);
        let i = find(got, &want, next).unwrap_or_else(|| {
            panic!(
                "the caller did not hear {names:?} ({} frames) after packet {next} of {}",
                want.len(),
                got.len()
            )
        });
        if k > 0 {
            // Between two plays the hotline sends silence while its controller reacts
            // (a few frames; up to half a second on a loaded machine), nothing else.
            let between = &got[next..i];
            assert!(
                between.len() <= 25 && between.iter().all(is_silence),
                "{} packets ({} not silence) between the previous sequence and {names:?}",
                between.len(),
                between.iter().filter(|p| !is_silence(p)).count()
            );
        }
        at.push(i);
        next = i + want.len();
    }
    at
}

/// A citizen's call over raw SIP: INVITE offering PCMU and telephone-event with `sink` as
/// the media address, ACK, listen for `listen`, BYE. Returns when the 200 OK arrived.
fn call(server: &Server, sink: &RtpSink, call_id: &str, listen: Duration) -> Instant {
    let peer = RawSip::new(server.sip);
    let invite = peer.invite(
        "12345",
        call_id,
        &format!("{call_id}-1"),
        sink.port,
        "0 101",
    );
    peer.send(invite.as_bytes());
    let ok = peer
        .final_response(Duration::from_secs(10))
        .expect("no final response to the INVITE");
    let answered = Instant::now();
    assert_eq!(status(&ok), Some(200), "{ok}");
    let line = |name: &str| format!("{name}: {}\r\n", header(&invite, name).unwrap());
    let to = header(&ok, "To").unwrap().to_string();
    let uri = header(&ok, "Contact")
        .and_then(|c| Some(c.split_once('<')?.1.split_once('>')?.0.to_string()))
        .unwrap_or_else(|| invite.split_whitespace().nth(1).unwrap().to_string());
    let request = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: {via}\r\n{from}To: {to}\r\n{cid}CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            via = peer.via(branch),
            from = line("From"),
            cid = line("Call-ID"),
        )
    };
    peer.send(request("ACK", 1, &format!("{call_id}-2")).as_bytes());
    std::thread::sleep(listen);
    peer.send(request("BYE", 2, &format!("{call_id}-3")).as_bytes());
    let bye = peer.final_response(Duration::from_secs(5));
    assert!(
        bye.as_deref().and_then(status) == Some(200),
        "BYE not answered: {bye:?}"
    );
    answered
}

/// `[hours]`-free copy of the shipped flow with `timezone` and each weekday's hours
/// replaced, written over the test server's flow; the server is restarted to read it.
fn use_flow(server: &mut Server, timezone: &str, days: [&str; 7]) {
    let shipped = std::fs::read_to_string(workspace_dir().join("config/ivr.toml")).unwrap();
    let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let text: Vec<String> = shipped
        .lines()
        .map(|line| {
            let key = line.split('=').next().unwrap_or("").trim();
            if key == "timezone" {
                format!("timezone = \"{timezone}\"")
            } else if let Some(i) = names.iter().position(|d| *d == key) {
                format!("{key} = \"{}\"", days[i])
            } else {
                line.to_string()
            }
        })
        .collect();
    std::fs::write(server.dir().join("ivr.toml"), text.join("\n") + "\n").unwrap();
    server.restart(|config| config);
}

/// A fixed-offset zone (IANA `Etc/GMT±N`, whose sign is inverted) in which it is now about
/// 03:00: outside every span the tests configure, whatever the UTC hour.
fn zone_at_3am() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let utc_hour = (secs / 3600 % 24) as i64;
    let mut offset = 3 - utc_hour;
    if offset < -12 {
        offset += 24;
    }
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

const GREETING: &[&str] = &["welcome", "emergency"];
const TO_THE_TONE: &[&str] = &["voicemail", "beep"];

#[test]
fn staffed_caller_hears_the_whole_menu_within_12_s_of_the_answer() {
    let server = Server::start(ServerOptions {
        hours: Hours::Staffed,
        ..Default::default()
    });
    let sink = RtpSink::bind(server.ports.base + 60);
    let menu_ms = prompts_ms(&["welcome", "emergency", "menu", "menu_status"]);
    let answered = call(
        &server,
        &sink,
        "prompts-menu",
        Duration::from_millis(u64::from(menu_ms) + 2500),
    );
    let got = audio(&sink);
    let at = heard_in_order(&got, &[GREETING, &["menu", "menu_status"]]);
    let last = at[1] + frames(&["menu", "menu_status"]).len() - 1;
    let first_sound = got[0].at - answered;
    let menu_end = got[last].at - answered;
    eprintln!(
        "200 OK -> first RTP {:.3} s, -> end of the menu {:.3} s (prompts {:.3} s)",
        secs(first_sound),
        secs(menu_end),
        f64::from(menu_ms) / 1000.0
    );
    assert!(
        menu_end <= Duration::from_secs(12),
        "the caller heard the end of the menu {:.2} s after the 200 OK (at most 12 s)",
        secs(menu_end)
    );
}

#[test]
fn night_caller_hears_the_hours_and_the_tone_within_20_s_of_the_answer() {
    let mut server = Server::start(ServerOptions {
        hours: Hours::Closed,
        ..Default::default()
    });
    // The shipped hours (every day 08:00-22:00), at 03:00.
    use_flow(&mut server, &zone_at_3am(), ["08:00-22:00"; 7]);
    let hours: &[&str] = &[
        "closed",
        "closed_hours",
        "every_day",
        "num_8",
        "hour",
        "hours_to",
        "num_2",
        "num_10",
        "num_2",
        "hour",
    ];
    let sink = RtpSink::bind(server.ports.base + 60);
    let tone_ms = prompts_ms(GREETING) + prompts_ms(hours) + prompts_ms(TO_THE_TONE);
    let answered = call(
        &server,
        &sink,
        "prompts-night",
        Duration::from_millis(u64::from(tone_ms) + 1500),
    );
    let got = audio(&sink);
    let at = heard_in_order(&got, &[GREETING, hours, TO_THE_TONE]);
    let beep_start = at[2] + frames(&["voicemail"]).len();
    let beep_end = at[2] + frames(TO_THE_TONE).len() - 1;
    let (start, end) = (got[beep_start].at - answered, got[beep_end].at - answered);
    eprintln!(
        "200 OK -> the tone {:.3} s .. {:.3} s (prompts {:.3} s)",
        secs(start),
        secs(end),
        f64::from(tone_ms) / 1000.0
    );
    assert!(
        end <= Duration::from_secs(20),
        "the tone ended {:.2} s after the 200 OK (at most 20 s)",
        secs(end)
    );
}

#[test]
fn closed_notice_reads_the_configured_weekly_hours() {
    let mut server = Server::start(ServerOptions {
        hours: Hours::Closed,
        ..Default::default()
    });
    let weekday = "08:30-12:00,13:30-17:30";
    use_flow(
        &mut server,
        &zone_at_3am(),
        [
            weekday,
            weekday,
            weekday,
            weekday,
            weekday,
            "09:00-12:00",
            "closed",
        ],
    );
    // 现在是非工作时间。人工服务时间为 周一至周五 八点三十分至十二点 和 十三点三十分至
    // 十七点三十分, 周六 九点至十二点, 周日 休息。
    let hours: &[&str] = &[
        "closed",
        "closed_hours",
        "weekday_1",
        "hours_to",
        "weekday_5",
        "num_8",
        "hour",
        "num_3",
        "num_10",
        "minute",
        "hours_to",
        "num_10",
        "num_2",
        "hour",
        "hours_and",
        "num_10",
        "num_3",
        "hour",
        "num_3",
        "num_10",
        "minute",
        "hours_to",
        "num_10",
        "num_7",
        "hour",
        "num_3",
        "num_10",
        "minute",
        "weekday_6",
        "num_9",
        "hour",
        "hours_to",
        "num_10",
        "num_2",
        "hour",
        "weekday_7",
        "day_off",
    ];
    let sink = RtpSink::bind(server.ports.base + 60);
    let listen = prompts_ms(GREETING) + prompts_ms(hours) + prompts_ms(TO_THE_TONE) + 1500;
    call(
        &server,
        &sink,
        "prompts-hours",
        Duration::from_millis(u64::from(listen)),
    );
    let got = audio(&sink);
    // Exactly these pieces, in this order, and nothing else between the greeting and the
    // voicemail prompt.
    let at = heard_in_order(&got, &[GREETING, hours, TO_THE_TONE]);
    let heard = at[2] - at[1];
    let expected = frames(hours).len();
    assert!(
        heard >= expected && heard <= expected + 10,
        "{heard} frames between the start of the closed notice and the voicemail prompt, \
         the hours make {expected}"
    );
}

#[test]
fn rtp_flows_while_a_voicemail_is_recorded_and_the_message_is_kept() {
    let server = Server::start(ServerOptions {
        hours: Hours::Closed,
        ..Default::default()
    });
    // Every day closed: no hours to read, the closed notice alone.
    let record_at = prompts_ms(&["welcome", "emergency", "closed", "voicemail", "beep"]);
    let tone_ms = 3000;
    let margin = 600;
    let silence_after = 2000;
    pcap::write(
        &server.dir().join("caller.pcap"),
        &[
            Segment::Silence {
                ms: record_at + margin,
            },
            Segment::Tone {
                freq: 1000.0,
                ms: tone_ms,
            },
            // The caller thinks for a moment, then ends the message with '#'.
            Segment::Silence { ms: silence_after },
            Segment::Key { key: '#', ms: 100 },
            Segment::Silence { ms: 400 },
        ],
    );
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_voicemail_keys.xml")
        .key("sink_port", sink.port)
        .timeout(Duration::from_secs(90))
        .run(&server);
    run.assert_success("voicemail call");
    let ticket = run.x_ticket().expect("no X-Ticket in the 200 OK");
    let got = audio(&sink);
    let at = heard_in_order(&got, &[GREETING, &["closed"], TO_THE_TONE]);
    let recording_from = at[2] + frames(TO_THE_TONE).len();
    let recorded = find(&got, &frames(&["recorded"]), recording_from)
        .expect("the caller did not hear that the message was recorded");
    // While recording (from the end of the tone to the "recorded" prompt) the caller keeps
    // receiving RTP: a silence frame every 20 ms.
    let recording = &got[recording_from..recorded];
    assert!(
        recording.len() > 2,
        "{} packets while recording",
        recording.len()
    );
    let span = recording.last().unwrap().at - recording[0].at;
    let gaps: Vec<Duration> = recording.windows(2).map(|w| w[1].at - w[0].at).collect();
    let max_gap = gaps.iter().max().copied().unwrap_or_default();
    eprintln!(
        "while recording: {} packets over {:.2} s, longest gap {:?}",
        recording.len(),
        secs(span),
        max_gap
    );
    assert!(
        span >= Duration::from_millis(u64::from(tone_ms + silence_after)),
        "recording lasted only {span:?} on the caller's side"
    );
    assert!(
        recording.iter().all(is_silence),
        "the hotline sends silence while recording"
    );
    assert!(
        max_gap <= Duration::from_millis(250),
        "the caller got no RTP for {max_gap:?} while recording"
    );
    assert!(
        recording.len() as f64 >= 0.8 * secs(span) * 50.0,
        "{} packets in {:.2} s: not one every 20 ms",
        recording.len(),
        secs(span)
    );
    // The whole call: never a long hole in the hotline's stream.
    let all = sink.packets();
    let worst = all
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .max()
        .unwrap_or_default();
    assert!(
        worst <= Duration::from_millis(250),
        "the caller got no RTP for {worst:?} during the call"
    );
    // The recording and the '#' were not disturbed.
    let case = server.wait_call_ended(&ticket);
    let path = case["calls"][0]["ivr_path"].as_str().unwrap_or_default();
    assert!(path.contains("voicemail:hash"), "ivr_path {path:?}");
    let sent_after_beep = f64::from(margin + tone_ms + silence_after) / 1000.0;
    check_voicemail(&server, &case, sent_after_beep, f64::from(tone_ms) / 1000.0);
}

/// The gateway scenario's port; the gateway's media go to an RTP sink.
fn revisit_config(gw_port: u16) -> String {
    format!(
        r#"[trunk.outbound]
gateway = "127.0.0.1:{gw_port}"
caller_id = "12345"
username = "hotline"
password = "gw-secret-1"

[callbacks]
calling_hours = "00:00-23:59"
poll_secs = 1
retry_after_secs = 3
ring_secs = 3
revisit = "auto"
survey_wait_secs = 5
"#
    )
}

#[test]
fn revisit_names_the_ticket_before_the_question() {
    let gw_port = hotline_e2e::ports::free_port();
    let server = Server::start(ServerOptions {
        extra_config: revisit_config(gw_port),
        ..Default::default()
    });
    let token = server.user_token("admin", "admin", &[]);
    let ticket = hotline_e2e::flows::accepted_case(&server, &token);
    let act = |body: Value| {
        let path = format!("/api/cases/{ticket}/transitions");
        let (code, out) = server.api_post_authorized(&path, &body, &token);
        assert!((200..300).contains(&code), "POST {path}: {code} {out}");
    };

    let digits: Vec<String> = ticket
        .chars()
        .filter(char::is_ascii_digit)
        .map(|d| format!("digit_{d}"))
        .collect();
    let mut said: Vec<&str> = vec!["revisit_intro", "ticket_is"];
    said.extend(digits.iter().map(String::as_str));
    said.push("revisit_question");
    // The citizen listens to the whole question, then presses 1 (满意).
    pcap::write(
        &server.dir().join("gateway.pcap"),
        &[
            Segment::Silence {
                ms: prompts_ms(&said) + 800,
            },
            Segment::Key { key: '1', ms: 100 },
            Segment::Silence { ms: 500 },
        ],
    );
    let sink = RtpSink::bind(server.ports.base + 60);
    let gateway = Sipp::new("gw_revisit_listen.xml")
        .local_port(gw_port)
        .media_port(server.ports.base + 88)
        .key("sink_port", sink.port)
        .timeout(Duration::from_secs(90))
        .spawn(&server);
    std::thread::sleep(Duration::from_millis(300));
    act(json!({ "action": "reply", "result": "已修复" }));
    gateway
        .wait()
        .assert_success("citizen hears the revisit and answers it");
    let got = audio(&sink);
    let at = heard_in_order(&got, &[&said])[0];
    let asked = at + frames(&said).len();
    // The citizen took a moment to press 1 (we sent silence meanwhile); then thanks.
    let thanks = find(&got, &frames(&["thanks"]), asked).expect("no thanks after the key");
    assert!(got[asked..thanks].iter().all(is_silence));
    let case = server.wait_case(&ticket, Duration::from_secs(10), |c| {
        c["calls"][0]["satisfaction"] == 1
    });
    assert_eq!(case["calls"][0]["satisfaction"], 1, "{case:#}");
}
