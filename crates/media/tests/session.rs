//! The session over real loopback UDP, driven from a plain socket acting as the remote.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hotline_media::codec::Codec;
use hotline_media::dtmf::TelephoneEvent;
use hotline_media::port::PortPool;
use hotline_media::prompt::Prompt;
use hotline_media::rtp::{self, Pt, RtpSender, Seq, Ssrc};
use hotline_media::session::{MediaEvent, MediaHandle, MediaParams, MediaSession, RecordStop};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(5);
const DTMF_PT: u8 = 101;

fn pool() -> PortPool {
    // Another test process may hold some of these; the pool skips them.
    PortPool::new(LO, 41000, 41998)
}

/// A session that sends only what it plays (the tests below count packets exactly); the
/// silence it sends by default is tested on its own ([`start_filling`]).
async fn start(remote: Option<SocketAddr>) -> (MediaHandle, Receiver<MediaEvent>) {
    let (h, ev) = start_filling(remote).await;
    // Queued before the task first runs (this runtime has one thread): no silence leaves.
    h.set_idle_silence(false);
    (h, ev)
}

/// A session as the server starts one: silence whenever no prompt plays.
async fn start_filling(remote: Option<SocketAddr>) -> (MediaHandle, Receiver<MediaEvent>) {
    let params = MediaParams {
        codec: Codec::Pcmu,
        remote,
        dtmf_pt: Some(DTMF_PT),
    };
    MediaSession::start(&pool(), params).unwrap()
}

async fn next_event(rx: &mut Receiver<MediaEvent>) -> MediaEvent {
    timeout(WAIT, rx.recv())
        .await
        .expect("event in time")
        .expect("channel open")
}

async fn recv_packet(sock: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let n = timeout(WAIT, sock.recv(&mut buf))
        .await
        .expect("packet in time")
        .unwrap();
    buf.truncate(n);
    buf
}

/// Waits until the session has read `n` datagrams.
async fn handled(h: &MediaHandle, n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while h.stats().packets_received < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {:?} read",
            h.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends one key press as a phone does: start three times, two updates, end three times.
async fn press(sock: &UdpSocket, to: SocketAddr, tx: &mut RtpSender, event: u8) {
    let mut out = Vec::new();
    let mut send = |end, duration, tx: &mut RtpSender| {
        let ev = TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        };
        tx.build(Pt(DTMF_PT), &ev.to_bytes(), 0, &mut out);
        out.clone()
    };
    let mut pkts = Vec::new();
    tx.start_talkspurt();
    for d in [0, 0, 0, 160, 320] {
        pkts.push(send(false, d, tx));
    }
    for _ in 0..3 {
        pkts.push(send(true, 800, tx));
    }
    for p in pkts {
        sock.send_to(&p, to).await.unwrap();
    }
}

#[tokio::test]
async fn plays_a_prompt_as_paced_rtp() {
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start(Some(peer.local_addr().unwrap())).await;
    assert_eq!(h.local_addr().ip(), LO);
    assert_eq!(h.local_addr().port() % 2, 0);
    let prompt = Arc::new(Prompt::tone(440.0, 190, 0.3)); // 1520 samples: 10 frames, last padded
    assert_eq!(prompt.frame_count(), 10);
    h.play(vec![prompt.clone()]);

    let mut pkts = Vec::new();
    for _ in 0..10 {
        pkts.push(recv_packet(&peer).await);
    }
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlaybackFinished);
    let parsed: Vec<_> = pkts.iter().map(|p| rtp::parse(p).unwrap()).collect();
    let mut payload = Vec::new();
    for (i, p) in parsed.iter().enumerate() {
        assert_eq!(p.pt, Pt(0));
        assert_eq!(p.ssrc, parsed[0].ssrc);
        assert_eq!(p.marker, i == 0, "marker only on the first packet");
        assert_eq!(p.payload.len(), 160);
        if i > 0 {
            let prev = &parsed[i - 1];
            assert_eq!(p.seq.0, prev.seq.0.wrapping_add(1));
            // 160 per 20 ms; a loaded machine may skip a tick, which shows as 320.
            let dts = p.timestamp.wrapping_sub(prev.timestamp);
            assert!(
                dts >= 160 && dts % 160 == 0 && dts <= 160 * 10,
                "ts step {dts}"
            );
        }
        payload.extend_from_slice(p.payload);
    }
    let mut decoded = Vec::new();
    Codec::Pcmu.decode(&payload, &mut decoded);
    for (got, want) in decoded.iter().zip(prompt.samples()) {
        let want = hotline_media::g711::ulaw_decode(hotline_media::g711::ulaw_encode(*want));
        assert_eq!(*got, want);
    }
    assert!(
        decoded[1520..].iter().all(|&s| s == 0),
        "padding is silence"
    );

    // A second playback is a new talkspurt: marker again, numbering continues.
    h.play(vec![Arc::new(Prompt::silence(40))]);
    let a = recv_packet(&peer).await;
    let b = recv_packet(&peer).await;
    let (a, b) = (rtp::parse(&a).unwrap(), rtp::parse(&b).unwrap());
    assert!(a.marker && !b.marker);
    assert_eq!(a.seq.0, parsed[9].seq.0.wrapping_add(1));
    assert!(a.timestamp.wrapping_sub(parsed[9].timestamp) >= 160);
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlaybackFinished);
    assert_eq!(h.stats().packets_sent, 12);
    assert_eq!(h.stats().bytes_sent, 12 * 172);
}

/// Many sessions at once share the one pacer: each stream is whole and numbered on its own.
#[tokio::test]
async fn many_sessions_are_paced_together() {
    let prompt = Arc::new(Prompt::tone(440.0, 200, 0.3));
    let mut calls = Vec::new();
    for _ in 0..40 {
        let peer = UdpSocket::bind((LO, 0)).await.unwrap();
        let (h, ev) = start(Some(peer.local_addr().unwrap())).await;
        h.play(vec![prompt.clone()]);
        calls.push((peer, h, ev));
    }
    let mut ssrcs = std::collections::HashSet::new();
    for (peer, h, ev) in &mut calls {
        let mut prev: Option<rtp::RtpPacket<'_>> = None;
        let pkts: Vec<Vec<u8>> = {
            let mut v = Vec::new();
            for _ in 0..10 {
                v.push(recv_packet(peer).await);
            }
            v
        };
        for (i, raw) in pkts.iter().enumerate() {
            let p = rtp::parse(raw).unwrap();
            assert_eq!(p.marker, i == 0);
            if let Some(q) = prev {
                assert_eq!((p.ssrc, p.seq.0), (q.ssrc, q.seq.0.wrapping_add(1)));
                let dts = p.timestamp.wrapping_sub(q.timestamp);
                assert!(dts >= 160 && dts % 160 == 0, "ts step {dts}");
            }
            prev = Some(p);
        }
        ssrcs.insert(prev.unwrap().ssrc);
        assert_eq!(next_event(ev).await, MediaEvent::PlaybackFinished);
        assert_eq!(h.stats().packets_sent, 10);
    }
    assert_eq!(ssrcs.len(), 40, "one stream per session");
}

#[tokio::test]
async fn stop_playback_and_replace() {
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start(Some(peer.local_addr().unwrap())).await;
    h.play(vec![Arc::new(Prompt::silence(10_000))]);
    recv_packet(&peer).await;
    h.play(vec![Arc::new(Prompt::silence(20))]);
    // Only the replacement finishing is reported.
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlaybackFinished);
    h.play(vec![Arc::new(Prompt::silence(10_000))]);
    h.stop_playback();
    h.play(vec![]);
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlaybackFinished);
    assert!(timeout(Duration::from_millis(100), ev.recv())
        .await
        .is_err());
}

#[tokio::test]
async fn rfc4733_press_gives_one_digit_and_latches_remote() {
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start(None).await;
    let mut tx = RtpSender::with_initial(Ssrc(7), Seq(100), 16000);
    press(&peer, h.local_addr(), &mut tx, 5).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('5'));
    // Same key again, a new press (new timestamp).
    tx.set_frame(100, 160);
    press(&peer, h.local_addr(), &mut tx, 5).await;
    tx.set_frame(200, 160);
    press(&peer, h.local_addr(), &mut tx, 11).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('5'));
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('#'));
    assert!(timeout(Duration::from_millis(100), ev.recv())
        .await
        .is_err());

    // Symmetric RTP: with no remote in SDP we answer to where the packets came from.
    h.play(vec![Arc::new(Prompt::silence(20))]);
    let p = recv_packet(&peer).await;
    assert!(rtp::parse(&p).unwrap().marker);
}

#[tokio::test]
async fn garbage_datagrams_are_ignored() {
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start(None).await;
    let to = h.local_addr();
    let junk: [&[u8]; 6] = [
        b"",
        b"hello",
        &[0x80; 11],
        &[0xA0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9, 200],
        &[0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0], // RTCP
        &[0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3],     // unknown PT
    ];
    for j in junk {
        peer.send_to(j, to).await.unwrap();
    }
    // A telephone-event too short to parse.
    peer.send_to(&[0x80, DTMF_PT, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 5], to)
        .await
        .unwrap();
    let mut tx = RtpSender::with_initial(Ssrc(9), Seq(1), 0);
    press(&peer, to, &mut tx, 1).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('1'));
    // The junk went first, so it has all been counted by the time the digit arrives.
    let st = h.stats();
    assert!(st.packets_received > 7, "junk plus the digit: {st:?}");
    assert_eq!(st.packets_ignored, 6);
}

fn rms(s: &[i16]) -> f64 {
    (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

#[tokio::test]
async fn records_remote_audio_with_gaps_filled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.wav");
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start(None).await;
    let to = h.local_addr();
    h.record(path.clone(), Duration::from_secs(30));

    // 1 s of a 1 kHz tone, but packets 20..25 are lost: the gap must become silence.
    let tone = Prompt::tone(1000.0, 1000, 0.5);
    let mut tx = RtpSender::with_initial(Ssrc(0xABCD), Seq(500), 4_294_960_000);
    let mut out = Vec::new();
    for i in 0..tone.frame_count() {
        tx.set_frame(i as u64, 160);
        tx.build(Pt(0), tone.frame(Codec::Pcmu, i).unwrap(), 160, &mut out);
        if !(20..25).contains(&i) {
            peer.send_to(&out, to).await.unwrap();
        }
        if i == 30 {
            peer.send_to(&out, to).await.unwrap(); // a duplicate is dropped
        }
    }
    // A digit after the audio proves every earlier datagram was handled.
    let mut dt = RtpSender::with_initial(Ssrc(0xABCD), Seq(600), 1);
    press(&peer, to, &mut dt, 11).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('#'));
    h.stop_recording();

    let MediaEvent::RecordingFinished(info, RecordStop::Stopped) = next_event(&mut ev).await else {
        panic!("expected RecordingFinished");
    };
    assert_eq!(info.path, path);
    assert_eq!(info.duration_ms, 1000);
    assert_eq!(info.bytes, 44 + 16000);
    let r = hound::WavReader::open(&path).unwrap();
    assert_eq!(r.spec().sample_rate, 8000);
    let samples: Vec<i16> = r.into_samples().map(Result::unwrap).collect();
    assert_eq!(samples.len(), 8000);
    assert!(
        rms(&samples[..3200]) > 8000.0,
        "tone present: {}",
        rms(&samples[..3200])
    );
    assert!(
        rms(&samples[3200..4000]) < 1.0,
        "lost packets became silence"
    );
    assert!(rms(&samples[4000..]) > 8000.0);
}

#[tokio::test]
async fn recording_stops_at_max_length_and_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let (h, mut ev) = start(None).await;
    h.record(dir.path().join("a.wav"), Duration::from_millis(100));
    match next_event(&mut ev).await {
        MediaEvent::RecordingFinished(info, RecordStop::MaxLength) => assert_eq!(info.bytes, 44),
        e => panic!("unexpected {e:?}"),
    }
    // Commands queued before `close` are carried out first.
    h.record(dir.path().join("b.wav"), Duration::from_secs(60));
    h.close();
    match next_event(&mut ev).await {
        MediaEvent::RecordingFinished(info, RecordStop::Closed) => {
            assert!(info.path.ends_with("b.wav"));
            hound::WavReader::open(&info.path).unwrap();
        }
        e => panic!("unexpected {e:?}"),
    }
    assert!(
        timeout(WAIT, ev.recv()).await.unwrap().is_none(),
        "channel ends"
    );
}

#[tokio::test]
async fn bad_recording_path_is_reported() {
    let (h, mut ev) = start(None).await;
    h.record("/nonexistent-dir/x.wav".into(), Duration::from_secs(1));
    match next_event(&mut ev).await {
        MediaEvent::RecordingFailed(p, msg) => {
            assert!(p.ends_with("x.wav"));
            assert!(msg.contains("/nonexistent-dir/x.wav"), "{msg}");
        }
        e => panic!("unexpected {e:?}"),
    }
}

#[tokio::test]
async fn dropping_the_handle_ends_the_session_and_frees_the_port() {
    let pool = PortPool::new(LO, 43000, 43998);
    let params = MediaParams {
        codec: Codec::Pcma,
        remote: None,
        dtmf_pt: None,
    };
    let (h, mut ev) = MediaSession::start(&pool, params).unwrap();
    assert_eq!(pool.in_use(), 1);
    let h2 = h.clone();
    drop(h);
    assert!(
        timeout(Duration::from_millis(100), ev.recv())
            .await
            .is_err(),
        "clone keeps it"
    );
    drop(h2);
    assert!(timeout(WAIT, ev.recv()).await.unwrap().is_none());
    // The task drops its lease right after the channel closes.
    for _ in 0..100 {
        if pool.in_use() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("port not released");
}

/// Descriptors of this process open on the UDP socket bound to 127.0.0.1:`port`.
fn descriptors_on(port: u16) -> usize {
    let local = format!("0100007F:{port:04X}");
    let udp = std::fs::read_to_string("/proc/net/udp").unwrap();
    let sockets: Vec<String> = udp
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1] == local)
        .map(|f| format!("socket:[{}]", f[9]))
        .collect();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|link| sockets.iter().any(|s| link.to_string_lossy() == *s))
        .count()
}

/// A leg reads and sends (the pacer, the relay) through one descriptor, not a duplicate
/// for each side: a node's descriptors bound how many calls it carries. It is closed when
/// the session ends.
#[tokio::test]
async fn a_session_holds_one_descriptor_and_closes_it() {
    let (h, mut ev) = start(None).await;
    let port = h.local_addr().port();
    // Counted once its task has run (registered with the pacer and a receive thread).
    tokio::task::yield_now().await;
    assert_eq!(descriptors_on(port), 1);
    drop(h);
    assert!(timeout(WAIT, ev.recv()).await.unwrap().is_none());
    for _ in 0..100 {
        if descriptors_on(port) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the session's socket is still open");
}

#[tokio::test]
async fn update_switches_codec_and_remote() {
    let a = UdpSocket::bind((LO, 0)).await.unwrap();
    let b = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start(Some(a.local_addr().unwrap())).await;
    h.update(MediaParams {
        codec: Codec::Pcma,
        remote: Some(b.local_addr().unwrap()),
        dtmf_pt: None,
    });
    h.play(vec![Arc::new(Prompt::silence(20))]);
    let p = recv_packet(&b).await;
    let p = rtp::parse(&p).unwrap();
    assert_eq!(p.pt, Pt(8));
    assert!(p.payload.iter().all(|&x| x == 0xD5));
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlaybackFinished);
}

/// Sends `frames` 20 ms frames of `tone` (from frame `first`) as PCMU from `sock`.
async fn send_tone(
    sock: &UdpSocket,
    to: SocketAddr,
    tx: &mut RtpSender,
    tone: &Prompt,
    first: usize,
    frames: usize,
) {
    let mut out = Vec::new();
    for i in first..first + frames {
        tx.set_frame(i as u64, 160);
        tx.build(Pt(0), tone.frame(Codec::Pcmu, i).unwrap(), 160, &mut out);
        sock.send_to(&out, to).await.unwrap();
    }
}

/// Share of the power of `s` at `freq` Hz (Goertzel over the whole slice).
fn share_at(s: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in s {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2.0 / s.len() as f64;
    let energy: f64 = s.iter().map(|&x| f64::from(x).powi(2)).sum();
    power / energy.max(1.0)
}

#[tokio::test]
async fn rtp_and_dtmf_from_a_stranger_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.wav");
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    // Another host (127.0.0.2 is loopback too on Linux) and another port of the peer's.
    let far = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 2), 0))
        .await
        .unwrap();
    let near = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start(Some(peer.local_addr().unwrap())).await;
    let to = h.local_addr();
    h.record(path.clone(), Duration::from_secs(30));
    let caller = Ssrc(0xCA11);
    let tone = Prompt::tone(1000.0, 1000, 0.5);
    let forged = Prompt::tone(2500.0, 1000, 0.5);

    // Before the caller's first packet: another host is refused outright.
    let mut ftx = RtpSender::with_initial(Ssrc(0xBAD), Seq(1), 0);
    send_tone(&far, to, &mut ftx, &forged, 0, 10).await;
    let mut dt = RtpSender::with_initial(caller, Seq(9000), 90_000);
    press(&far, to, &mut dt, 11).await;
    // The caller talks; mid-way the stranger on the caller's host sends its tone and a
    // '#' under the caller's own SSRC.
    let mut tx = RtpSender::with_initial(caller, Seq(500), 1000);
    send_tone(&peer, to, &mut tx, &tone, 0, 25).await;
    let mut ntx = RtpSender::with_initial(Ssrc(0xBAD), Seq(100), 50_000);
    send_tone(&near, to, &mut ntx, &forged, 10, 25).await;
    let mut dt = RtpSender::with_initial(caller, Seq(9100), 95_000);
    press(&near, to, &mut dt, 11).await;
    send_tone(&peer, to, &mut tx, &tone, 25, 25).await;
    // The caller's own key, after everything else: the first digit reported.
    let mut dt = RtpSender::with_initial(caller, Seq(700), 7000);
    press(&peer, to, &mut dt, 5).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('5'));
    h.stop_recording();
    let MediaEvent::RecordingFinished(info, RecordStop::Stopped) = next_event(&mut ev).await else {
        panic!("expected RecordingFinished");
    };
    // The caller's 50 frames, nothing more.
    assert_eq!(info.duration_ms, 1000);
    let samples: Vec<i16> = hound::WavReader::open(&path)
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect();
    assert!(share_at(&samples, 1000.0) > 0.9);
    assert!(share_at(&samples, 2500.0) < 0.01);
    let st = h.stats();
    assert_eq!(st.packets_foreign, 10 + 8 + 25 + 8, "{st:?}");
    assert!(timeout(Duration::from_millis(100), ev.recv())
        .await
        .is_err());
}

#[tokio::test]
async fn renegotiation_moves_whom_we_listen_to() {
    let a = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 3), 0))
        .await
        .unwrap();
    let b = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start(Some(a.local_addr().unwrap())).await;
    let to = h.local_addr();
    let mut tx = RtpSender::with_initial(Ssrc(1), Seq(1), 0);
    press(&a, to, &mut tx, 1).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('1'));
    // Refused from b until the SDP names it (a's next key proves b's was handled)...
    tx.set_frame(100, 160);
    press(&b, to, &mut tx, 2).await;
    tx.set_frame(150, 160);
    press(&a, to, &mut tx, 3).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('3'));
    // The key is reported at its first packet: the rest of a's are read before b is named
    // (a receive thread reads them, apart from this task).
    handled(&h, 3 * 8).await;
    // ...then a is refused.
    h.update(MediaParams {
        codec: Codec::Pcmu,
        remote: Some(b.local_addr().unwrap()),
        dtmf_pt: Some(DTMF_PT),
    });
    tx.set_frame(200, 160);
    press(&a, to, &mut tx, 5).await;
    tx.set_frame(300, 160);
    press(&b, to, &mut tx, 4).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('4'));
    assert_eq!(h.stats().packets_foreign, 16);
}

#[tokio::test]
async fn caller_behind_nat_is_latched_and_answered() {
    // The SDP names the phone's private address; its packets come from the NAT (here
    // the test's socket).
    let nat = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start(Some("192.168.77.1:4000".parse().unwrap())).await;
    let mut tx = RtpSender::with_initial(Ssrc(42), Seq(1), 0);
    press(&nat, h.local_addr(), &mut tx, 7).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('7'));
    // We answer to the NAT's address, not the unreachable private one.
    h.play(vec![Arc::new(Prompt::silence(20))]);
    let p = recv_packet(&nat).await;
    assert!(rtp::parse(&p).is_some());
    // Locked: another source is refused.
    let other = UdpSocket::bind((LO, 0)).await.unwrap();
    tx.set_frame(100, 160);
    press(&other, h.local_addr(), &mut tx, 8).await;
    tx.set_frame(200, 160);
    press(&nat, h.local_addr(), &mut tx, 9).await;
    loop {
        match next_event(&mut ev).await {
            MediaEvent::Digit(d) => {
                assert_eq!(d, '9');
                break;
            }
            MediaEvent::PlaybackFinished => {}
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(h.stats().packets_foreign, 8);
}

/// Receives packets for `d` and returns them with their arrival times.
async fn receive_for(sock: &UdpSocket, d: Duration) -> Vec<(tokio::time::Instant, Vec<u8>)> {
    let end = tokio::time::Instant::now() + d;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Ok(Ok(n)) = tokio::time::timeout_at(end, sock.recv(&mut buf)).await {
        got.push((tokio::time::Instant::now(), buf[..n].to_vec()));
    }
    got
}

#[tokio::test]
async fn idle_session_sends_silence_around_prompts_in_one_stream() {
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start_filling(Some(peer.local_addr().unwrap())).await;
    // Nothing plays: a frame of µ-law silence every 20 ms.
    let idle = receive_for(&peer, Duration::from_millis(300)).await;
    assert!(idle.len() >= 8, "{} packets in 300 ms", idle.len());
    for (_, p) in &idle {
        let p = rtp::parse(p).unwrap();
        assert_eq!(p.pt, Pt(0));
        assert_eq!(p.payload, &[0xFF; 160][..]);
    }
    let tone = Arc::new(Prompt::tone(440.0, 100, 0.3)); // 5 frames
    h.play(vec![tone.clone()]);
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlaybackFinished);
    let after = receive_for(&peer, Duration::from_millis(200)).await;
    h.set_idle_silence(false);
    let all: Vec<_> = idle.iter().chain(&after).map(|(_, p)| p.clone()).collect();
    let parsed: Vec<_> = all.iter().map(|p| rtp::parse(p).unwrap()).collect();
    // One stream: same SSRC, sequence +1, timestamps on the 20 ms grid, never backwards.
    for w in parsed.windows(2) {
        assert_eq!(w[1].ssrc, w[0].ssrc);
        assert_eq!(w[1].seq.0, w[0].seq.0.wrapping_add(1));
        let dts = w[1].timestamp.wrapping_sub(w[0].timestamp);
        assert!(
            dts >= 160 && dts % 160 == 0 && dts < 160 * 20,
            "ts step {dts}"
        );
    }
    // The prompt's frames are consecutive, the first with the marker, silence on both sides.
    let first = parsed
        .iter()
        .position(|p| p.payload != [0xFF; 160])
        .expect("the prompt was sent");
    for (k, p) in parsed[first..first + 5].iter().enumerate() {
        assert_eq!(p.payload, tone.frame(Codec::Pcmu, k).unwrap(), "frame {k}");
        assert_eq!(p.marker, k == 0);
    }
    assert!(
        parsed[first + 5..].len() >= 5,
        "silence again after the prompt"
    );
    assert!(parsed[first + 5..]
        .iter()
        .all(|p| p.payload == [0xFF; 160] && !p.marker));
    assert!(parsed[1..first].iter().all(|p| !p.marker));
    // Switched off: nothing more (a packet already on its way may still arrive).
    let _ = receive_for(&peer, Duration::from_millis(60)).await;
    assert!(receive_for(&peer, Duration::from_millis(200))
        .await
        .is_empty());
}

#[tokio::test]
async fn silence_follows_the_codec_and_waits_for_a_remote() {
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    // No address from SDP: nothing to send to, so nothing is sent.
    let (h, mut ev) = start_filling(None).await;
    assert!(receive_for(&peer, Duration::from_millis(200))
        .await
        .is_empty());
    // The caller's first packet gives the address: silence follows at once.
    let mut tx = RtpSender::with_initial(Ssrc(9), Seq(1), 0);
    press(&peer, h.local_addr(), &mut tx, 5).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('5'));
    let got = receive_for(&peer, Duration::from_millis(200)).await;
    assert!(got.len() >= 5, "{} packets", got.len());
    // A-law renegotiated: A-law silence.
    h.update(MediaParams {
        codec: Codec::Pcma,
        remote: Some(peer.local_addr().unwrap()),
        dtmf_pt: Some(DTMF_PT),
    });
    let _ = receive_for(&peer, Duration::from_millis(60)).await;
    for (_, p) in receive_for(&peer, Duration::from_millis(200)).await {
        let p = rtp::parse(&p).unwrap();
        assert_eq!(p.pt, Pt(8));
        assert_eq!(p.payload, &[0xD5; 160][..]);
    }
}

#[tokio::test]
async fn silence_while_recording_leaves_the_message_and_the_keys_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.wav");
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    let (h, mut ev) = start_filling(Some(peer.local_addr().unwrap())).await;
    let to = h.local_addr();
    h.record(path.clone(), Duration::from_secs(30));
    // The caller speaks 0.5 s (paced), keys '#'; meanwhile we keep sending silence.
    let tone = Prompt::tone(1000.0, 500, 0.5);
    let mut tx = RtpSender::with_initial(Ssrc(77), Seq(10), 1000);
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..tone.frame_count() {
        tick.tick().await;
        tx.set_frame(i as u64, 160);
        tx.build(Pt(0), tone.frame(Codec::Pcmu, i).unwrap(), 160, &mut out);
        peer.send_to(&out, to).await.unwrap();
    }
    tx.set_frame(100, 160);
    press(&peer, to, &mut tx, 11).await;
    assert_eq!(next_event(&mut ev).await, MediaEvent::Digit('#'));
    h.stop_recording();
    let MediaEvent::RecordingFinished(info, RecordStop::Stopped) = next_event(&mut ev).await else {
        panic!("expected RecordingFinished");
    };
    assert_eq!(info.duration_ms, 500, "the caller's audio, nothing of ours");
    let samples: Vec<i16> = hound::WavReader::open(&path)
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect();
    assert!(rms(&samples) > 8000.0);
    // What we sent meanwhile: silence, about one packet per 20 ms, no long hole.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Ok(Ok(n)) = timeout(Duration::from_millis(1), peer.recv(&mut buf)).await {
        got.push(buf[..n].to_vec());
    }
    assert!(
        got.len() >= 20,
        "{} silence packets during 0.5 s",
        got.len()
    );
    assert!(got
        .iter()
        .all(|p| rtp::parse(p).unwrap().payload == [0xFF; 160]));
}
