//! Two sessions bridged over real loopback UDP, with plain sockets as the two phones
//! (the citizen's and the agent's).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_media::codec::Codec;
use hotline_media::dtmf::{DtmfReceiver, TelephoneEvent};
use hotline_media::port::PortPool;
use hotline_media::prompt::Prompt;
use hotline_media::rtp::{self, Pt, RtpSender, Seq, Ssrc};
use hotline_media::session::{MediaEvent, MediaHandle, MediaParams, MediaSession, RecordStop};
use hotline_media::{bridge, g711, RecordingInfo, StereoTarget};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);
const DTMF_PT: u8 = 101;

fn pool() -> PortPool {
    PortPool::new(LO, 45000, 45998)
}

/// A leg that sends only prompts and relayed audio (the tests count packets); its
/// silence is tested in [`silence_fills_only_when_the_other_leg_is_quiet`].
async fn leg(codec: Codec, remote: Option<SocketAddr>) -> (MediaHandle, Receiver<MediaEvent>) {
    let (h, ev) = filling_leg(codec, remote).await;
    h.set_idle_silence(false);
    (h, ev)
}

/// A leg as the server starts one: silence whenever it has nothing else to send.
async fn filling_leg(
    codec: Codec,
    remote: Option<SocketAddr>,
) -> (MediaHandle, Receiver<MediaEvent>) {
    let params = MediaParams {
        codec,
        remote,
        dtmf_pt: Some(DTMF_PT),
    };
    MediaSession::start(&pool(), params).unwrap()
}

async fn phone() -> UdpSocket {
    UdpSocket::bind((LO, 0)).await.unwrap()
}

async fn next_event(rx: &mut Receiver<MediaEvent>) -> MediaEvent {
    timeout(WAIT, rx.recv())
        .await
        .expect("event in time")
        .expect("channel open")
}

async fn recording_finished(rx: &mut Receiver<MediaEvent>) -> RecordingInfo {
    loop {
        match next_event(rx).await {
            MediaEvent::RecordingFinished(info, RecordStop::BridgeEnded) => return info,
            MediaEvent::RemoteSilent | MediaEvent::Digit(_) | MediaEvent::PlaybackFinished => {}
            e => panic!("unexpected {e:?}"),
        }
    }
}

/// Sends frames `frames` of `clip` as a phone does: one per 20 ms, timestamps from
/// `ts_frame + i` (the phone's own clock). Returns when the first packet left.
async fn talk(
    sock: &UdpSocket,
    to: SocketAddr,
    tx: &mut RtpSender,
    codec: Codec,
    clip: &Prompt,
    frames: std::ops::Range<usize>,
    ts_frame: u64,
) -> Instant {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut out = Vec::new();
    let mut first = None;
    for (n, i) in frames.enumerate() {
        tick.tick().await;
        tx.set_frame(ts_frame + n as u64, 160);
        tx.build(
            Pt(codec.payload_type()),
            clip.frame(codec, i).unwrap(),
            160,
            &mut out,
        );
        sock.send_to(&out, to).await.unwrap();
        first.get_or_insert_with(Instant::now);
    }
    first.unwrap()
}

/// Everything `sock` receives until `QUIET` passes without a packet (the first may take
/// up to `WAIT`).
async fn collect(sock: &UdpSocket) -> Vec<(Instant, Vec<u8>)> {
    collect_n(sock, usize::MAX).await
}

/// Like [`collect`], but returns as soon as `n` packets arrived.
async fn collect_n(sock: &UdpSocket, n: usize) -> Vec<(Instant, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut wait = WAIT;
    while got.len() < n {
        let Ok(r) = timeout(wait, sock.recv(&mut buf)).await else {
            break;
        };
        let n = r.unwrap();
        got.push((Instant::now(), buf[..n].to_vec()));
        wait = QUIET;
    }
    got
}

async fn nothing_arrives(sock: &UdpSocket, within: Duration) {
    let mut buf = vec![0u8; 2048];
    assert!(
        timeout(within, sock.recv(&mut buf)).await.is_err(),
        "unexpected packet"
    );
}

fn decode(codec: Codec, payload: &[u8]) -> Vec<i16> {
    let mut v = Vec::new();
    codec.decode(payload, &mut v);
    v
}

fn rms(s: &[i16]) -> f64 {
    (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

/// Power of `s` at `freq` (Goertzel), normalized by length.
fn power_at(s: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in s {
        let s0 = f64::from(x) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) / (s.len() as f64).powi(2)
}

fn assert_tone(s: &[i16], freq: f64, other: f64) {
    let r = rms(s);
    // Amplitude 0.5 of full scale: RMS 0.5 * 32767 / sqrt(2) ≈ 11585.
    assert!((10_000.0..13_000.0).contains(&r), "rms {r}");
    let (p, q) = (power_at(s, freq), power_at(s, other));
    assert!(p > 100.0 * q, "{freq} Hz {p} vs {other} Hz {q}");
}

/// Checks one leg's outgoing stream: one SSRC, sequence +1, timestamps on the 20 ms grid
/// and increasing, the marker on the first packet. Returns the SSRC and the audio.
fn check_stream(pkts: &[(Instant, Vec<u8>)], pt: u8) -> (Ssrc, Vec<u8>) {
    let parsed: Vec<_> = pkts.iter().map(|(_, p)| rtp::parse(p).unwrap()).collect();
    let mut audio = Vec::new();
    for (i, p) in parsed.iter().enumerate() {
        assert_eq!(p.pt, Pt(pt));
        assert_eq!(p.ssrc, parsed[0].ssrc);
        assert_eq!(p.payload.len(), 160);
        if i > 0 {
            let prev = &parsed[i - 1];
            assert_eq!(p.seq.0, prev.seq.0.wrapping_add(1), "seq +1");
            let dts = p.timestamp.wrapping_sub(prev.timestamp);
            assert!(
                dts >= 160 && dts % 160 == 0 && dts <= 160 * 20,
                "ts step {dts}"
            );
        }
        audio.extend_from_slice(p.payload);
    }
    assert!(parsed[0].marker, "first relayed packet starts a talkspurt");
    // A stall of the loaded test machine may show as a gap, hence a marker, now and then.
    assert!(parsed.iter().filter(|p| p.marker).count() <= 3);
    (parsed[0].ssrc, audio)
}

/// The payloads, in order, are frames of `clip` (possibly with some dropped).
fn assert_frames_of(audio: &[u8], clip: &Prompt, codec: Codec) {
    let mut k = 0;
    for chunk in audio.chunks(160) {
        while clip.frame(codec, k).expect("frame in order") != chunk {
            k += 1;
        }
        k += 1;
    }
}

#[tokio::test]
async fn relays_both_ways_with_own_numbering() {
    let (caller, agent) = (phone().await, phone().await);
    let (a, _aev) = leg(Codec::Pcmu, Some(caller.local_addr().unwrap())).await;
    let (b, mut bev) = leg(Codec::Pcmu, Some(agent.local_addr().unwrap())).await;
    // Leg b's own stream, seen first through a prompt.
    b.play(vec![Arc::new(Prompt::silence(20))]);
    let (_, p) = &collect(&agent).await[0];
    let b_first = rtp::parse(p).unwrap();
    assert_eq!(next_event(&mut bev).await, MediaEvent::PlaybackFinished);
    let br = bridge(&a, &b, None);
    assert!(br.is_active());

    let tone = Prompt::tone(1000.0, 1000, 0.5);
    let mut ctx = RtpSender::with_initial(Ssrc(0xCA11), Seq(7), 1234);
    let (_, got) = tokio::join!(
        talk(
            &caller,
            a.local_addr(),
            &mut ctx,
            Codec::Pcmu,
            &tone,
            0..50,
            0
        ),
        collect(&agent),
    );
    assert!((45..=50).contains(&got.len()), "{} packets", got.len());
    let (ssrc, audio) = check_stream(&got, 0);
    assert_eq!(ssrc, b_first.ssrc, "leg b's SSRC");
    let first = rtp::parse(&got[0].1).unwrap();
    assert_eq!(
        first.seq.0,
        b_first.seq.0.wrapping_add(1),
        "numbering continues"
    );
    assert!(first.timestamp.wrapping_sub(b_first.timestamp) >= 160);
    // Same codec: the payload passes through untouched.
    assert_frames_of(&audio, &tone, Codec::Pcmu);
    assert_tone(&decode(Codec::Pcmu, &audio), 1000.0, 400.0);
    assert_eq!(b.stats().packets_relayed, got.len() as u64);

    let tone = Prompt::tone(400.0, 1000, 0.5);
    let mut gtx = RtpSender::with_initial(Ssrc(0xA6E7), Seq(65530), u32::MAX - 500);
    let (_, got) = tokio::join!(
        talk(
            &agent,
            b.local_addr(),
            &mut gtx,
            Codec::Pcmu,
            &tone,
            0..50,
            0
        ),
        collect(&caller),
    );
    assert!((45..=50).contains(&got.len()), "{} packets", got.len());
    let (ssrc, audio) = check_stream(&got, 0);
    assert_ne!(ssrc, Ssrc(0xA6E7));
    assert_ne!(ssrc, b_first.ssrc);
    assert_frames_of(&audio, &tone, Codec::Pcmu);
    assert_tone(&decode(Codec::Pcmu, &audio), 400.0, 1000.0);
    assert_eq!(a.stats().packets_relayed, got.len() as u64);
}

#[tokio::test]
async fn transcodes_between_pcmu_and_pcma() {
    let (caller, agent) = (phone().await, phone().await);
    let (a, _aev) = leg(Codec::Pcmu, Some(caller.local_addr().unwrap())).await;
    let (b, _bev) = leg(Codec::Pcma, Some(agent.local_addr().unwrap())).await;
    let _br = bridge(&a, &b, None);

    let tone = Prompt::tone(1000.0, 1000, 0.5);
    let mut ctx = RtpSender::with_initial(Ssrc(1), Seq(1), 0);
    let (_, got) = tokio::join!(
        talk(
            &caller,
            a.local_addr(),
            &mut ctx,
            Codec::Pcmu,
            &tone,
            0..50,
            0
        ),
        collect(&agent),
    );
    assert!((45..=50).contains(&got.len()), "{} packets", got.len());
    let (_, audio) = check_stream(&got, 8);
    let pcm = decode(Codec::Pcma, &audio);
    assert_tone(&pcm, 1000.0, 400.0);
    // Sample by sample: the tone through µ-law then A-law, within both laws' steps.
    let first = tone
        .samples()
        .chunks(160)
        .position(|f| {
            let want: Vec<i16> = f
                .iter()
                .map(|&x| {
                    g711::alaw_decode(g711::alaw_encode(g711::ulaw_decode(g711::ulaw_encode(x))))
                })
                .collect();
            want == pcm[..160]
        })
        .expect("first relayed frame is a frame of the tone");
    for (got, want) in pcm.iter().zip(&tone.samples()[first * 160..]).take(1600) {
        let err = (i32::from(*got) - i32::from(*want)).abs();
        assert!(
            err <= i32::from(want.unsigned_abs() / 8) + 32,
            "{got} vs {want}"
        );
    }

    let tone = Prompt::tone(400.0, 1000, 0.5);
    let mut gtx = RtpSender::with_initial(Ssrc(2), Seq(1), 0);
    let (_, got) = tokio::join!(
        talk(
            &agent,
            b.local_addr(),
            &mut gtx,
            Codec::Pcma,
            &tone,
            0..50,
            0
        ),
        collect(&caller),
    );
    assert!((45..=50).contains(&got.len()), "{} packets", got.len());
    let (_, audio) = check_stream(&got, 0);
    assert_tone(&decode(Codec::Pcmu, &audio), 400.0, 1000.0);
}

fn read_stereo(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let r = hound::WavReader::open(path).expect("finalized WAV");
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let s: Vec<i16> = r.into_samples().map(Result::unwrap).collect();
    let left = s.iter().step_by(2).copied().collect();
    let right = s.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

/// Samples between two instants of a recording (ms).
fn ms(s: &[i16], from: u64, to: u64) -> &[i16] {
    &s[(from * 8) as usize..(to * 8) as usize]
}

#[tokio::test]
async fn stereo_recording_left_citizen_right_agent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("call.wav");
    let (caller, agent) = (phone().await, phone().await);
    let (a, mut aev) = leg(Codec::Pcmu, Some(caller.local_addr().unwrap())).await;
    let (b, _bev) = leg(Codec::Pcma, Some(agent.local_addr().unwrap())).await;
    let br = bridge(&a, &b, Some(StereoTarget::new(&path)));

    // The citizen speaks for 1 s while the agent is silent, then the other way round.
    let mut ctx = RtpSender::with_initial(Ssrc(1), Seq(1), 0);
    let mut gtx = RtpSender::with_initial(Ssrc(2), Seq(1), 0);
    let t1 = Prompt::tone(1000.0, 1000, 0.5);
    let t2 = Prompt::tone(400.0, 1000, 0.5);
    let (_, to_agent) = tokio::join!(
        talk(
            &caller,
            a.local_addr(),
            &mut ctx,
            Codec::Pcmu,
            &t1,
            0..50,
            0
        ),
        collect_n(&agent, 50),
    );
    let (_, to_caller) = tokio::join!(
        talk(&agent, b.local_addr(), &mut gtx, Codec::Pcma, &t2, 0..50, 0),
        async {
            // What the agent says reaches the citizen while the agent speaks.
            let mut buf = vec![0u8; 2048];
            let n = timeout(WAIT, caller.recv(&mut buf)).await.unwrap().unwrap();
            buf.truncate(n);
            buf
        },
    );
    // A silent side relays nothing: the agent heard only the citizen's second.
    assert!(to_agent.len() <= 50);
    assert_eq!(rtp::parse(&to_caller).unwrap().pt, Pt(0));
    br.unbridge();

    let info = recording_finished(&mut aev).await;
    assert_eq!(info.path, path);
    let (left, right) = read_stereo(&path);
    let len_ms = left.len() as u64 / 8;
    assert!((1800..=2200).contains(&len_ms), "{len_ms} ms");
    assert_eq!(info.duration_ms, len_ms);
    assert_eq!(info.bytes, 44 + 4 * left.len() as u64);
    assert_tone(ms(&left, 100, 900), 1000.0, 400.0);
    assert!(rms(ms(&right, 0, 900)) < 1.0, "agent silent at first");
    assert!(rms(ms(&left, 1100, len_ms)) < 1.0, "citizen silent later");
    let onset = right.iter().position(|&x| x.abs() > 1000).unwrap() as u64 / 8;
    assert!(
        (900..=1150).contains(&onset),
        "agent starts after the citizen: {onset} ms"
    );
    assert_tone(ms(&right, onset + 50, onset + 900), 400.0, 1000.0);
    // The agent's last packets may still be in flight when the bridge ends.
    assert!(
        len_ms >= onset + 900,
        "agent's second recorded: {onset} + {len_ms}"
    );
    if onset + 1050 < len_ms {
        assert!(rms(ms(&right, onset + 1050, len_ms)) < 1.0);
    }
}

/// The citizen talks 500 ms, pauses 500 ms, talks 500 ms more; the pause must be silence
/// at its place in the left channel.
async fn gap_is_silence_in_place(ts_follows_wall: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gap.wav");
    let (caller, agent) = (phone().await, phone().await);
    let (a, mut aev) = leg(Codec::Pcmu, Some(caller.local_addr().unwrap())).await;
    let (b, _bev) = leg(Codec::Pcmu, Some(agent.local_addr().unwrap())).await;
    let t0 = Instant::now();
    let br = bridge(&a, &b, Some(StereoTarget::new(&path)));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let tone = Prompt::tone(1000.0, 1500, 0.5);
    let mut ctx = RtpSender::with_initial(Ssrc(0x5EED), Seq(1), 99);
    let to = a.local_addr();
    let first = talk(&caller, to, &mut ctx, Codec::Pcmu, &tone, 0..25, 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resume_frame = if ts_follows_wall { 50 } else { 25 };
    let second = talk(
        &caller,
        to,
        &mut ctx,
        Codec::Pcmu,
        &tone,
        25..50,
        resume_frame,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(br);

    recording_finished(&mut aev).await;
    let (left, right) = read_stereo(&path);
    assert!(rms(&right) < 1.0);
    let onset = left.iter().position(|&x| x.abs() > 1000).unwrap();
    let expect = (first - t0).as_micros() as i64 * 8 / 1000;
    assert!(
        (onset as i64 - expect).abs() <= 320,
        "onset {onset} vs {expect}"
    );
    // The first talkspurt is 500 ms long, then silence until the second.
    let silence = onset
        + left[onset..]
            .windows(400)
            .position(|w| w.iter().all(|&x| x == 0))
            .unwrap();
    assert!(
        (silence as i64 - onset as i64 - 4000).abs() <= 320,
        "first spurt {}",
        silence - onset
    );
    let resumed = silence
        + left[silence..]
            .iter()
            .position(|&x| x.abs() > 1000)
            .unwrap();
    let expect = (second - t0).as_micros() as i64 * 8 / 1000;
    assert!(
        (resumed as i64 - expect).abs() <= 320,
        "resumed at {resumed} vs {expect}"
    );
    assert!(rms(&left[silence..resumed - 8]) < 1.0);
    assert!(rms(&left[resumed..resumed + 3600]) > 10_000.0);
    // After the spurt, silence to the end (on a loaded machine the file may end soon
    // after it: the bridge is dropped on a real clock).
    assert!(rms(&left[(resumed + 4400).min(left.len())..]) < 1.0);
}

#[tokio::test]
async fn gap_in_stream_is_silence_at_its_place() {
    gap_is_silence_in_place(true).await;
}

#[tokio::test]
async fn gap_without_timestamp_jump_is_placed_by_arrival() {
    gap_is_silence_in_place(false).await;
}

fn telephone_events(pkts: &[(Instant, Vec<u8>)]) -> Vec<(u32, bool, TelephoneEvent)> {
    pkts.iter()
        .map(|(_, p)| rtp::parse(p).unwrap())
        .filter(|p| p.pt == Pt(DTMF_PT))
        .map(|p| {
            (
                p.timestamp,
                p.marker,
                TelephoneEvent::parse(p.payload).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn send_dtmf_sends_paced_rfc4733_events() {
    let far = phone().await;
    let (h, _ev) = leg(Codec::Pcmu, Some(far.local_addr().unwrap())).await;
    h.send_dtmf('7');
    let got = collect(&far).await;
    let evs = telephone_events(&got);
    assert_eq!(evs.len(), got.len(), "only telephone-events");
    assert_eq!(evs.len(), 7, "start, 3 updates, 3 ends");
    assert!(evs.iter().all(|(ts, _, e)| *ts == evs[0].0 && e.event == 7));
    assert_eq!(evs.iter().filter(|(_, m, _)| *m).count(), 1);
    assert!(evs[0].1, "marker on the start");
    assert_eq!(evs.iter().filter(|(_, _, e)| e.end).count(), 3);
    assert!(evs[4..].iter().all(|(_, _, e)| e.end && e.duration == 800));
    assert!(evs.windows(2).all(|w| w[0].2.duration <= w[1].2.duration));
    let span = got.last().unwrap().0 - got[0].0;
    assert!(
        span >= Duration::from_millis(90),
        "paced, not a burst: {span:?}"
    );
    let mut rx = DtmfReceiver::new();
    let digits: String = evs
        .iter()
        .filter_map(|(ts, _, e)| rx.on_packet(*ts, &e.to_bytes()))
        .collect();
    assert_eq!(digits, "7");

    // Several in a row are queued and sent one after another, each its own event.
    h.send_dtmf('1');
    h.send_dtmf('#');
    h.send_dtmf('x'); // not a key: ignored
    let evs = telephone_events(&collect(&far).await);
    assert_eq!(evs.len(), 14);
    assert_ne!(evs[0].0, evs[7].0);
    let mut rx = DtmfReceiver::new();
    let digits: String = evs
        .iter()
        .filter_map(|(ts, _, e)| rx.on_packet(*ts, &e.to_bytes()))
        .collect();
    assert_eq!(digits, "1#");

    // Without a negotiated telephone-event nothing is sent.
    h.update(MediaParams {
        codec: Codec::Pcmu,
        remote: Some(far.local_addr().unwrap()),
        dtmf_pt: None,
    });
    h.send_dtmf('5');
    nothing_arrives(&far, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn digits_are_forwarded_not_relayed() {
    let (caller, agent) = (phone().await, phone().await);
    let (a, mut aev) = leg(Codec::Pcmu, Some(caller.local_addr().unwrap())).await;
    let (b, _bev) = leg(Codec::Pcmu, Some(agent.local_addr().unwrap())).await;
    let _br = bridge(&a, &b, None);
    // The citizen presses 5 (start three times, two updates, end three times).
    let mut tx = RtpSender::with_initial(Ssrc(3), Seq(1), 8000);
    let mut out = Vec::new();
    for (end, d) in [
        (false, 0),
        (false, 0),
        (false, 0),
        (false, 160),
        (false, 320),
        (true, 800),
        (true, 800),
        (true, 800),
    ] {
        let ev = TelephoneEvent {
            event: 5,
            end,
            volume: 10,
            duration: d,
        };
        tx.build(Pt(DTMF_PT), &ev.to_bytes(), 0, &mut out);
        caller.send_to(&out, a.local_addr()).await.unwrap();
    }
    assert_eq!(next_event(&mut aev).await, MediaEvent::Digit('5'));
    // The controller forwards it.
    b.send_dtmf('5');
    let evs = telephone_events(&collect(&agent).await);
    assert_eq!(
        evs.len(),
        7,
        "our own event only, the caller's packets are not relayed"
    );
    let mut rx = DtmfReceiver::new();
    let digits: String = evs
        .iter()
        .filter_map(|(ts, _, e)| rx.on_packet(*ts, &e.to_bytes()))
        .collect();
    assert_eq!(digits, "5");
}

#[tokio::test]
async fn prompt_on_a_leg_pauses_relaying_towards_it() {
    let (caller, agent) = (phone().await, phone().await);
    let (a, _aev) = leg(Codec::Pcmu, Some(caller.local_addr().unwrap())).await;
    let (b, mut bev) = leg(Codec::Pcmu, Some(agent.local_addr().unwrap())).await;
    let _br = bridge(&a, &b, None);
    let tone = Prompt::tone(1000.0, 1000, 0.5);
    let mut ctx = RtpSender::with_initial(Ssrc(4), Seq(1), 0);
    let (_, got) = tokio::join!(
        async {
            tokio::join!(
                talk(
                    &caller,
                    a.local_addr(),
                    &mut ctx,
                    Codec::Pcmu,
                    &tone,
                    0..50,
                    0
                ),
                async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    b.play(vec![Arc::new(Prompt::silence(200))]);
                }
            )
        },
        collect(&agent),
    );
    assert_eq!(next_event(&mut bev).await, MediaEvent::PlaybackFinished);
    let parsed: Vec<_> = got.iter().map(|(_, p)| rtp::parse(p).unwrap()).collect();
    let prompt: Vec<usize> = (0..parsed.len())
        .filter(|&i| parsed[i].payload.iter().all(|&x| x == 0xFF))
        .collect();
    assert_eq!(prompt.len(), 10, "the whole prompt");
    assert_eq!(
        prompt[9] - prompt[0],
        9,
        "no relayed audio during the prompt"
    );
    assert!(parsed[prompt[0]].marker, "the prompt starts a talkspurt");
    let after = prompt[9] + 1;
    assert!(after < parsed.len(), "relay resumed");
    assert!(parsed[after].marker, "and starts a talkspurt again");
    for w in parsed.windows(2) {
        assert_eq!(w[1].seq.0, w[0].seq.0.wrapping_add(1));
        assert!(w[1].timestamp.wrapping_sub(w[0].timestamp) as i32 > 0);
    }
    assert!(b.stats().relay_dropped >= 5, "{:?}", b.stats());
}

#[tokio::test]
async fn hold_relays_nothing_towards_the_held_leg() {
    let (caller, agent) = (phone().await, phone().await);
    let (a, _aev) = leg(Codec::Pcmu, Some(caller.local_addr().unwrap())).await;
    let (b, _bev) = leg(Codec::Pcmu, Some(agent.local_addr().unwrap())).await;
    let _br = bridge(&a, &b, None);
    b.update(MediaParams {
        codec: Codec::Pcmu,
        remote: None,
        dtmf_pt: Some(DTMF_PT),
    });
    let tone = Prompt::tone(1000.0, 200, 0.5);
    let mut ctx = RtpSender::with_initial(Ssrc(5), Seq(1), 0);
    talk(
        &caller,
        a.local_addr(),
        &mut ctx,
        Codec::Pcmu,
        &tone,
        0..10,
        0,
    )
    .await;
    nothing_arrives(&agent, Duration::from_millis(300)).await;
    assert_eq!(b.stats().relay_dropped, 10);
    // Retrieved: relaying resumes, as a new talkspurt.
    b.update(MediaParams {
        codec: Codec::Pcmu,
        remote: Some(agent.local_addr().unwrap()),
        dtmf_pt: Some(DTMF_PT),
    });
    let (_, got) = tokio::join!(
        talk(
            &caller,
            a.local_addr(),
            &mut ctx,
            Codec::Pcmu,
            &tone,
            0..10,
            20
        ),
        collect(&agent),
    );
    assert_eq!(got.len(), 10);
    check_stream(&got, 0);
}

#[tokio::test]
async fn unbridge_stops_relaying() {
    let (caller, agent) = (phone().await, phone().await);
    let (a, mut aev) = leg(Codec::Pcmu, Some(caller.local_addr().unwrap())).await;
    let (b, _bev) = leg(Codec::Pcmu, Some(agent.local_addr().unwrap())).await;
    let br = bridge(&a, &b, None);
    let tone = Prompt::tone(1000.0, 200, 0.5);
    let mut ctx = RtpSender::with_initial(Ssrc(6), Seq(1), 0);
    let (_, got) = tokio::join!(
        talk(
            &caller,
            a.local_addr(),
            &mut ctx,
            Codec::Pcmu,
            &tone,
            0..10,
            0
        ),
        collect(&agent),
    );
    assert_eq!(got.len(), 10);
    br.unbridge();
    tokio::time::sleep(Duration::from_millis(50)).await;
    talk(
        &caller,
        a.local_addr(),
        &mut ctx,
        Codec::Pcmu,
        &tone,
        0..10,
        20,
    )
    .await;
    nothing_arrives(&agent, Duration::from_millis(300)).await;
    // No recording, so no recording event.
    assert!(timeout(Duration::from_millis(100), aev.recv())
        .await
        .is_err());
    assert_eq!(b.stats().packets_relayed, 10);
}

#[tokio::test]
async fn closing_a_leg_ends_the_bridge_and_finalizes_the_recording() {
    for close_a in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.wav");
        let (caller, agent) = (phone().await, phone().await);
        let (a, mut aev) = leg(Codec::Pcmu, Some(caller.local_addr().unwrap())).await;
        let (b, _bev) = leg(Codec::Pcma, Some(agent.local_addr().unwrap())).await;
        let br = bridge(&a, &b, Some(StereoTarget::new(&path)));
        let tone = Prompt::tone(1000.0, 300, 0.5);
        let mut ctx = RtpSender::with_initial(Ssrc(7), Seq(1), 0);
        talk(
            &caller,
            a.local_addr(),
            &mut ctx,
            Codec::Pcmu,
            &tone,
            0..15,
            0,
        )
        .await;
        if close_a {
            a.close();
        } else {
            b.close();
        }
        let info = recording_finished(&mut aev).await;
        let (left, _) = read_stereo(&info.path);
        assert!(rms(&left) > 5000.0, "the citizen is in it");
        assert!(info.duration_ms >= 250, "{info:?}");
        if close_a {
            assert!(
                timeout(WAIT, aev.recv()).await.unwrap().is_none(),
                "channel ends"
            );
        }
        // Both legs let go of the bridge.
        for _ in 0..100 {
            if !br.is_active() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!br.is_active());
    }
}

#[tokio::test]
async fn silence_fills_only_when_the_other_leg_is_quiet() {
    let (caller, agent) = (phone().await, phone().await);
    let (a, _aev) = filling_leg(Codec::Pcmu, Some(caller.local_addr().unwrap())).await;
    let (b, _bev) = filling_leg(Codec::Pcmu, Some(agent.local_addr().unwrap())).await;
    let _br = bridge(&a, &b, None);
    // The caller talks 1 s: the agent hears the caller's frames, no silence slipped in
    // between them (the first may follow silence sent before the caller began).
    let tone = Prompt::tone(1000.0, 1000, 0.5);
    let mut ctx = RtpSender::with_initial(Ssrc(0xCA11), Seq(7), 1234);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 2048];
    let talking = talk(
        &caller,
        a.local_addr(),
        &mut ctx,
        Codec::Pcmu,
        &tone,
        0..50,
        0,
    );
    let listening = async {
        // Until 600 ms after the caller's last frame.
        let end = tokio::time::Instant::now() + Duration::from_millis(1600);
        while let Ok(Ok(n)) = tokio::time::timeout_at(end, agent.recv(&mut buf)).await {
            got.push(rtp::parse(&buf[..n]).unwrap().payload.to_vec());
        }
    };
    tokio::join!(talking, listening);
    let silent = |p: &Vec<u8>| p.iter().all(|&x| x == 0xFF);
    let first = got.iter().position(|p| !silent(p)).expect("relayed audio");
    let last = got.iter().rposition(|p| !silent(p)).unwrap();
    assert!(
        got[first..=last].iter().all(|p| !silent(p)),
        "silence interleaved with relayed audio"
    );
    assert!(
        (45..=50).contains(&(last - first + 1)),
        "{}",
        last - first + 1
    );
    // Then the caller is quiet: silence resumes after a moment (200 ms) and keeps flowing.
    let after = got.len() - last - 1;
    assert!(
        (10..=25).contains(&after),
        "{after} silence packets in the 600 ms after the caller stopped"
    );
    assert!(got[last + 1..].iter().all(silent));
}
