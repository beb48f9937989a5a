//! A crash loses no citizen: `kill -9` of the server with twelve callers leaving a
//! voicemail and a few more in the greeting, then a start on the same data. The
//! recordings are playable right after the kill (their headers are kept up to date as
//! they grow), and the start-up recovery closes every call row, registers each
//! recording, and puts each voicemail on the callback worklist and in the daily report.

use hotline_e2e::crash::{recordings_of_kind, ticket_of_recording, Crash, WavSizes};
use hotline_e2e::flows::prompts_ms;
use hotline_e2e::pcap::{self, Segment};
use hotline_e2e::ports::PortBlock;
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::{Hours, Server, ServerOptions, Sipp};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// Callers leaving a message when the server is killed.
const VOICEMAILS: usize = 12;
/// Callers still in the greeting when it is killed.
const IN_GREETING: usize = 3;
/// Audio each message holds, at least, when the server is killed: past a checkpoint of the
/// header (every second), so that the file usually holds more than its header says.
const SPOKEN_MS: u64 = 2300;

/// Polls `done` every 100 ms until it holds; panics with `what` after `limit`.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn active_calls(server: &Server) -> u64 {
    let (code, status) = server.api_sup("/api/status");
    assert_eq!(code, 200, "{status}");
    status["active_calls"].as_u64().expect("active_calls")
}

/// Seconds of audio in a WAV as a player reads it (its header's data size).
fn playable_secs(path: &Path) -> f64 {
    let r = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("{} is not a playable WAV: {e}", path.display()));
    f64::from(r.duration()) / f64::from(r.spec().sample_rate)
}

#[test]
fn kill_9_loses_no_voicemail_and_leaves_no_call_open() {
    let mut server = Server::start(ServerOptions {
        hours: Hours::Closed,
        ..Default::default()
    });
    let record_at = prompts_ms(&["welcome", "emergency", "closed", "voicemail", "beep"]);
    // Every caller speaks (a tone) from just after the beep, far longer than the test.
    pcap::write(
        &server.dir().join("caller.pcap"),
        &[
            Segment::Silence {
                ms: record_at + 600,
            },
            Segment::Tone {
                freq: 1000.0,
                ms: 60_000,
            },
        ],
    );
    // Many SIPp processes at once: each its own media ports (4) and RTP sink.
    let media = PortBlock::claim();
    let mut sinks = Vec::new();
    let mut callers = Vec::new();
    let mut call = |i: usize| {
        let sink = RtpSink::bind(media.base + 60 + 2 * i as u16);
        let caller = Sipp::new("uac_wait_for_bye.xml")
            .key("sink_port", sink.port)
            .key("caller", format!("1380013{i:04}"))
            .media_port(media.base + 4 * i as u16)
            .timeout(Duration::from_secs(90))
            .spawn(&server);
        sinks.push(sink);
        callers.push(caller);
    };
    for i in 0..VOICEMAILS {
        call(i);
    }
    // All twelve recording, each with some seconds of message in its file.
    let recordings = server.recordings_dir();
    let min_len = 44 + SPOKEN_MS * 16;
    wait_for(
        Duration::from_millis(u64::from(record_at) + 30_000),
        "twelve voicemails being recorded",
        || {
            let files = recordings_of_kind(&recordings, "voicemail");
            files.len() == VOICEMAILS
                && files
                    .iter()
                    .all(|f| std::fs::metadata(f).is_ok_and(|m| m.len() >= min_len))
        },
    );
    for i in VOICEMAILS..VOICEMAILS + IN_GREETING {
        call(i);
    }
    // Answered: their case and call rows are written (the 200 OK waits for them).
    wait_for(Duration::from_secs(10), "the late callers answered", || {
        server.case_list().len() == VOICEMAILS + IN_GREETING
    });
    assert_eq!(active_calls(&server), (VOICEMAILS + IN_GREETING) as u64);

    server.kill_9();
    drop(callers); // they would wait for a BYE that never comes
    drop(sinks);

    // Right after the crash, before any recovery: each message plays, up to about its
    // last second.
    let files = recordings_of_kind(&recordings, "voicemail");
    assert_eq!(files.len(), VOICEMAILS, "{files:?}");
    for f in &files {
        let secs = playable_secs(f);
        let in_file = (std::fs::metadata(f).unwrap().len() - 44) as f64 / 16_000.0;
        eprintln!(
            "after kill -9: {} plays {secs:.2} s of {in_file:.2} s",
            f.display()
        );
        assert!(
            secs >= SPOKEN_MS as f64 / 1000.0 - 1.2,
            "{}: plays {secs:.2} s of {in_file:.2} s",
            f.display()
        );
        assert!(
            in_file - secs < 1.5,
            "{}: {secs:.2} of {in_file:.2} s",
            f.display()
        );
    }

    let started = Instant::now();
    server.restart(|config| config);
    eprintln!(
        "restart with recovery: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let log = server.log_text();
    assert!(
        log.contains("calls_closed=15")
            && log.contains("recordings_registered=12")
            && log.contains("voicemails=12"),
        "no recovery summary as expected:\n{log}"
    );

    // Twelve playable recordings, their headers counting the whole file, with their rows.
    let mut voicemail_tickets = BTreeSet::new();
    let mut day = String::new();
    for f in &files {
        let sizes = WavSizes::read(f);
        assert!(sizes.consistent(), "{}: {sizes:?}", f.display());
        let secs = playable_secs(f);
        assert!(
            secs >= SPOKEN_MS as f64 / 1000.0,
            "{}: {secs:.2} s",
            f.display()
        );
        let ticket = ticket_of_recording(f);
        let case = server.case_show(&ticket);
        let rel = f.strip_prefix(&recordings).unwrap().to_string_lossy();
        let recs = case["recordings"].as_array().expect("recordings");
        assert_eq!(recs.len(), 1, "{case:#}");
        assert_eq!(recs[0]["kind"], "voicemail", "{case:#}");
        assert_eq!(recs[0]["path"], *rel, "{case:#}");
        let row_secs = recs[0]["duration_ms"].as_f64().unwrap() / 1000.0;
        assert!(
            (row_secs - secs).abs() < 0.01,
            "row {row_secs} s, file {secs} s"
        );
        assert_eq!(case["case"]["status"], "callback_pending", "{case:#}");
        assert_eq!(case["case"]["channel"], "voicemail", "{case:#}");
        day = rel[..10].replace('/', "-");
        voicemail_tickets.insert(ticket);
    }
    assert_eq!(voicemail_tickets.len(), VOICEMAILS);

    // No call row left open: each of the fifteen ended, by the crash.
    let cases = server.case_list();
    assert_eq!(cases.len(), VOICEMAILS + IN_GREETING, "{cases:#?}");
    for c in &cases {
        let ticket = hotline_e2e::server::ticket_of(c);
        let case = server.case_show(&ticket);
        let calls = case["calls"].as_array().expect("calls");
        assert_eq!(calls.len(), 1, "{case:#}");
        assert!(!calls[0]["ended_at"].is_null(), "{case:#}");
        assert_eq!(calls[0]["hangup_cause"], "crash", "{case:#}");
        if !voicemail_tickets.contains(&ticket) {
            assert_eq!(case["case"]["status"], "no_request", "{case:#}");
            assert!(case["recordings"].as_array().unwrap().is_empty());
        }
    }

    // Twelve callbacks owed, one per message.
    let callback_tickets = |server: &Server| -> Vec<String> {
        let (code, tasks) = server.api_sup("/api/callbacks?all=true");
        assert_eq!(code, 200, "{tasks}");
        let tasks = tasks.as_array().cloned().unwrap_or_default();
        tasks
            .iter()
            .filter(|t| t["reason"] == "voicemail")
            .map(|t| t["ticket"].as_str().unwrap().to_string())
            .collect()
    };
    let tasks = callback_tickets(&server);
    assert_eq!(
        tasks.iter().cloned().collect::<BTreeSet<_>>(),
        voicemail_tickets,
        "{tasks:?}"
    );
    assert_eq!(tasks.len(), VOICEMAILS);

    // The daily report counts them, on the CLI and the API alike.
    let report = server.cli_json(&["report", "daily", "--date", &day, "--json"]);
    assert_eq!(report["calls"]["voicemails"], VOICEMAILS, "{report:#}");
    assert_eq!(
        report["calls"]["received"],
        VOICEMAILS + IN_GREETING,
        "{report:#}"
    );
    let (code, api) = server.api_sup(&format!("/api/reports/daily?date={day}"));
    assert_eq!(code, 200, "{api}");
    assert_eq!(api, report);

    // A second start finds nothing left to repair.
    server.restart(|config| config);
    let log = server.log_text();
    assert!(
        log.contains("calls_closed=0 recordings_repaired=0 recordings_registered=0 files_skipped=0 voicemails=0"),
        "the second recovery changed something:\n{log}"
    );
    assert_eq!(callback_tickets(&server).len(), VOICEMAILS);
    let again = server.cli_json(&["report", "daily", "--date", &day, "--json"]);
    assert_eq!(again["calls"]["voicemails"], VOICEMAILS);
    let _: &Value = &again;
}
