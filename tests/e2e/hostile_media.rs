//! Hostile media: RTP from a source that is not the caller's must not reach a call.
//!
//! A citizen leaves a voicemail (SIPp replaying a timed capture: key `0`, silence, a 1 kHz
//! tone, then `#`). While the recording runs, a stranger on another port of the same host
//! learns nothing but the hotline's RTP address (here taken from the 200 OK's SDP, as an
//! eavesdropper on signalling or a port scan would find it) and sends a 2500 Hz tone and
//! then the RFC 4733 events of `#` — the `#` even with the caller's own SSRC. The voicemail
//! must run to the caller's own `#` and hold the caller's audio only.

use hotline_e2e::audio::power_share_at;
use hotline_e2e::flows::{check_voicemail, prompts_ms};
use hotline_e2e::pcap::{self, Segment};
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::sipp::SippChild;
use hotline_e2e::{Hours, Server, ServerOptions, Sipp};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Silence between the expected end of the beep and the caller's tone.
const MARGIN_MS: u32 = 600;
const KEY_MS: u32 = 100;
const TONE_HZ: f64 = 1000.0;
const FORGED_HZ: f64 = 2500.0;
/// How long the stranger's tone lasts; its `#` follows at once.
const FORGED_TONE_MS: u32 = 1500;
/// The SSRC of the caller's capture (`hotline_e2e::pcap`).
const CALLER_SSRC: u32 = 0x1234_5678;
/// The SSRC the stranger uses for its tone (it cannot know the caller's).
const STRANGER_SSRC: u32 = 0x0BAD_F00D;

/// The hotline's RTP address from the first 200 OK (to the INVITE) SIPp received, waiting
/// for it at most `limit`.
fn answer_rtp_addr(caller: &SippChild, limit: Duration) -> SocketAddr {
    let deadline = Instant::now() + limit;
    loop {
        let ok = caller.received_so_far().into_iter().find(|m| {
            hotline_e2e::sip::status(m) == Some(200)
                && hotline_e2e::sip::header(m, "CSeq").is_some_and(|c| c.ends_with("INVITE"))
        });
        if let Some(ok) = ok {
            let line = |prefix: &str| {
                ok.lines()
                    .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_string))
                    .unwrap_or_else(|| panic!("no {prefix:?} line in the 200 OK:\n{ok}"))
            };
            let ip = line("c=IN IP4 ");
            let port = line("m=audio ");
            let port = port.split_whitespace().next().unwrap_or_default();
            return format!("{}:{port}", ip.trim())
                .parse()
                .unwrap_or_else(|e| panic!("bad media address in the 200 OK ({e}):\n{ok}"));
        }
        assert!(
            Instant::now() < deadline,
            "no 200 OK to the INVITE within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first file that appears under `dir` (searched recursively), waiting at most `limit`.
fn first_file_under(dir: &Path, limit: Duration) -> PathBuf {
    fn find(dir: &Path) -> Option<PathBuf> {
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if let Some(found) = find(&path) {
                    return Some(found);
                }
            } else {
                return Some(path);
            }
        }
        None
    }
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = find(dir) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no recording started under {} within {limit:?}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The stranger's packets: a 2500 Hz tone under its own SSRC, then `#` as RFC 4733 events
/// under the caller's SSRC, each with its send time (µs from the start).
fn forged_packets() -> Vec<(u64, Vec<u8>)> {
    let mut packets = pcap::rtp_packets(&[
        Segment::Tone {
            freq: FORGED_HZ,
            ms: FORGED_TONE_MS,
        },
        Segment::Key {
            key: '#',
            ms: KEY_MS,
        },
    ]);
    for (_, p) in &mut packets {
        let ssrc = if p[1] & 0x7F == pcap::TELEPHONE_EVENT_PT {
            CALLER_SSRC
        } else {
            STRANGER_SSRC
        };
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }
    packets
}

/// Sends `packets` to `to` from `from`, paced by their send times.
fn send_paced(from: &UdpSocket, to: SocketAddr, packets: &[(u64, Vec<u8>)]) {
    let start = Instant::now();
    for (at_us, p) in packets {
        let due = start + Duration::from_micros(*at_us);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        from.send_to(p, to).expect("send forged RTP");
    }
}

#[test]
fn forged_dtmf_and_audio_from_another_address_do_not_reach_a_voicemail() {
    let server = Server::start(ServerOptions {
        hours: Hours::Staffed,
        ..Default::default()
    });
    let key_at = 2000;
    let tone_ms = 6000;
    let wait = prompts_ms(&["agents_busy", "voicemail", "beep"]) + MARGIN_MS;
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
    // The stranger: another port on the caller's host (loopback only).
    let stranger = UdpSocket::bind("127.0.0.1:0").expect("bind the stranger's socket");
    let caller = Sipp::new("uac_voicemail_keys.xml")
        .key("sink_port", sink.port)
        .timeout(Duration::from_secs(90))
        .spawn(&server);

    let hotline_rtp = answer_rtp_addr(&caller, Duration::from_secs(10));
    // The recording starts when the beep ends; the caller's tone follows MARGIN_MS later
    // and lasts tone_ms, so the whole attack (about 1.7 s) falls inside the recording.
    let wav = first_file_under(&server.recordings_dir(), Duration::from_secs(60));
    eprintln!(
        "recording {} started; attacking {hotline_rtp} from {}",
        wav.display(),
        stranger.local_addr().unwrap()
    );
    let forged = forged_packets();
    send_paced(&stranger, hotline_rtp, &forged);

    let run = caller.wait();
    run.assert_success("voicemail call under attack");
    match sink.check_heard_audio(200) {
        Ok(summary) => eprintln!("caller heard: {summary}"),
        Err(e) => panic!("the caller did not hear the prompts: {e}"),
    }
    let ticket = run.x_ticket().expect("no X-Ticket in the 200 OK");
    let case = server.wait_call_ended(&ticket);
    let call = &case["calls"][0];
    assert_eq!(call["hangup_cause"], "hotline_bye", "{case:#}");
    let path = call["ivr_path"].as_str().unwrap_or_default();
    assert!(path.contains("voicemail:hash"), "ivr_path {path:?}");

    // Full length: from the beep to the caller's own '#' (silence, then the whole tone),
    // not cut at the stranger's '#' and not stretched by the stranger's packets.
    let expect_secs = f64::from(MARGIN_MS + tone_ms) / 1000.0;
    let wav = check_voicemail(&server, &case, expect_secs, f64::from(tone_ms) / 1000.0);
    // Had the stranger's '#' been taken, the recording would end about FORGED_TONE_MS after
    // it started; the caller's own '#' comes some 6.6 s in (less only by how late the
    // prompts ran on a loaded machine, which check_voicemail bounds).
    let secs = wav.secs();
    let cut_at = f64::from(FORGED_TONE_MS) / 1000.0;
    assert!(
        secs >= cut_at + 2.0,
        "voicemail lasts {secs:.2} s: ended near the stranger's '#' ({cut_at} s in)"
    );
    let forged_share = power_share_at(&wav.samples, FORGED_HZ);
    assert!(
        forged_share < 0.01,
        "{forged_share:.3} of the voicemail's power is at the stranger's {FORGED_HZ} Hz"
    );

    // The hotline never answered the stranger either.
    stranger.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        stranger.recv_from(&mut buf).is_err(),
        "the hotline sent media to the stranger"
    );
}
