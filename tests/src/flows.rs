//! Pieces of calls that several tests share: the prompts' lengths (for timing a caller's
//! capture), a plain answered call, and the checks on a stored voicemail.

use crate::audio::{power_share_at, rms, Wav};
use crate::rtp::RtpSink;
use crate::server::{workspace_dir, Server};
use crate::sipp::{Sipp, Transport};
use serde_json::Value;
use std::time::Duration;

/// Length of prompt `name` (`prompts/zh/<name>.wav`) in milliseconds.
pub fn prompt_ms(name: &str) -> u32 {
    let path = workspace_dir()
        .join("prompts/zh")
        .join(format!("{name}.wav"));
    let reader =
        hound::WavReader::open(&path).unwrap_or_else(|e| panic!("prompt {}: {e}", path.display()));
    (u64::from(reader.duration()) * 1000 / u64::from(reader.spec().sample_rate)) as u32
}

/// Total length of several prompts in milliseconds.
pub fn prompts_ms(names: &[&str]) -> u32 {
    names.iter().map(|n| prompt_ms(n)).sum()
}

/// One normal call with `uac_plain.xml`: answered, the caller listens `hold_ms` (the test
/// checks it hears the greeting on an RTP sink), then hangs up. Returns the ticket from
/// the 200 OK's `X-Ticket`.
pub fn plain_call(server: &Server, transport: Transport, hold_ms: u32) -> String {
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_plain.xml")
        .key("sink_port", sink.port)
        .set("hold_ms", hold_ms)
        .transport(transport)
        .timeout(Duration::from_secs(30))
        .run(server);
    run.assert_success("plain call");
    // 50 packets a second: expect most of them.
    let min = (hold_ms / 20) as usize * 2 / 3;
    match sink.check_heard_audio(min) {
        Ok(summary) => eprintln!("caller heard: {summary}"),
        Err(e) => panic!("the caller did not hear the greeting: {e}"),
    }
    run.x_ticket()
        .expect("no X-Ticket in the 200 OK (SIPp trace)")
}

/// Seconds of `samples` (8 kHz) that are loud: 20 ms blocks with RMS above 2000.
pub fn loud_secs(samples: &[i16]) -> f64 {
    samples
        .chunks_exact(160)
        .filter(|b| rms(b) > 2000.0)
        .count() as f64
        * 0.02
}

/// Checks the case's voicemail: status `callback_pending`, one recording of kind
/// `voicemail` whose row and WAV agree, 8 kHz mono 16-bit, lasting `expect_secs` (±1.5 s)
/// and holding `tone_secs` (±0.5 s) of the caller's 1 kHz tone. Returns the WAV.
pub fn check_voicemail(server: &Server, case: &Value, expect_secs: f64, tone_secs: f64) -> Wav {
    assert_eq!(
        case["case"]["status"], "callback_pending",
        "case after a voicemail: {case:#}"
    );
    let recs = case["recordings"].as_array().expect("recordings array");
    assert_eq!(recs.len(), 1, "one recording expected: {case:#}");
    let rec = &recs[0];
    assert_eq!(rec["kind"], "voicemail", "{rec}");
    let rel = rec["path"].as_str().expect("recording path");
    let path = server.recordings_dir().join(rel);
    assert!(
        path.is_file(),
        "recording {} (from {rel:?}) does not exist",
        path.display()
    );
    let file_len = std::fs::metadata(&path).unwrap().len();
    let wav = Wav::read(&path);
    let spec = wav.spec;
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16),
        "voicemail WAV format"
    );
    let secs = wav.secs();
    let row_secs = rec["duration_ms"].as_f64().expect("duration_ms") / 1000.0;
    assert!(
        (secs - row_secs).abs() < 0.2,
        "row says {row_secs} s, the WAV holds {secs:.2} s"
    );
    let bytes = rec["bytes"].as_u64().expect("bytes");
    assert!(
        bytes == file_len || bytes == file_len - 44 || bytes == 2 * wav.samples.len() as u64,
        "row says {bytes} bytes; file is {file_len} bytes with {} samples",
        wav.samples.len()
    );
    assert!(
        (secs - expect_secs).abs() <= 1.5,
        "voicemail lasts {secs:.2} s, expected about {expect_secs:.2} s"
    );
    let loud = loud_secs(&wav.samples);
    let level = rms(&wav.samples);
    let share = power_share_at(&wav.samples, 1000.0);
    assert!(
        (loud - tone_secs).abs() <= 0.5,
        "voicemail holds {loud:.2} s of sound, the caller sent {tone_secs} s of tone (RMS {level:.0}, 1 kHz share {share:.2})"
    );
    eprintln!(
        "voicemail {rel}: {secs:.2} s (expected ~{expect_secs:.2}), {loud:.2} s of tone, RMS {level:.0}, 1 kHz share {share:.3}"
    );
    assert!(level > 1500.0, "voicemail RMS {level:.0}: about silence");
    assert!(
        share > 0.8,
        "only {share:.2} of the voicemail's power is at 1 kHz"
    );
    wav
}

/// A web case of 13900139000 that an admin (`token`) dispatched to a new department
/// `district-a`, which accepted it: the state a department's reply (and then the
/// revisit) starts from. Its ticket.
pub fn accepted_case(server: &Server, token: &str) -> String {
    let post = |path: &str, body: serde_json::Value| {
        let (code, out) = server.api_post_authorized(path, &body, token);
        assert!((200..300).contains(&code), "POST {path}: {code} {out}");
        out
    };
    post(
        "/api/departments",
        serde_json::json!({ "code": "district-a", "name": "A区城管局", "level": 1 }),
    );
    let case = post(
        "/api/cases",
        serde_json::json!({ "channel": "web", "caller_number": "13900139000", "subject": "路灯不亮" }),
    );
    let ticket = crate::server::ticket_of(&case);
    let act = |body: serde_json::Value| post(&format!("/api/cases/{ticket}/transitions"), body);
    act(serde_json::json!({ "action": "dispatch", "department": "district-a", "mode": "phone" }));
    act(serde_json::json!({ "action": "accept" }));
    ticket
}
