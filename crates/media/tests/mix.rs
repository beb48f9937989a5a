//! Sessions mixed over real loopback UDP, with plain sockets as the phones (citizen,
//! agent, a third party or a supervisor). Each phone talks a tone of its own frequency;
//! what a phone receives is classified frame by frame by the tones it carries, so "who
//! hears whom" is read off the frames. Every wait is on a condition, capped at 5 s.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotline_media::codec::Codec;
use hotline_media::port::PortPool;
use hotline_media::prompt::Prompt;
use hotline_media::rtp::{self, Pt, RtpSender};
use hotline_media::session::{MediaEvent, MediaHandle, MediaParams, MediaSession, RecordStop};
use hotline_media::{bridge, mix, Hearing, RecordingInfo, Side, StereoTarget};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(5);

/// The three talkers' tones: whole cycles in a 20 ms frame, so they do not leak into
/// each other's bins.
const A: f64 = 500.0;
const B: f64 = 1000.0;
const C: f64 = 1500.0;
const TONES: [f64; 3] = [A, B, C];

fn pool() -> PortPool {
    PortPool::new(LO, 47000, 47998)
}

/// A leg that sends only what the mix (or a prompt) gives it, so what its phone receives
/// is exactly what it hears.
async fn leg(codec: Codec, phone: &Phone) -> (MediaHandle, Receiver<MediaEvent>) {
    let (h, ev) = filling_leg(codec, phone).await;
    h.set_idle_silence(false);
    (h, ev)
}

/// A leg as the server starts one: silence whenever it has nothing else to send.
async fn filling_leg(codec: Codec, phone: &Phone) -> (MediaHandle, Receiver<MediaEvent>) {
    let params = MediaParams {
        codec,
        remote: Some(phone.addr),
        dtmf_pt: Some(101),
    };
    MediaSession::start(&pool(), params).unwrap()
}

/// Aborts a background task when dropped.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One received audio frame: which of [`TONES`] it carries (bit `i` for `TONES[i]`), its
/// payload type, and whether it is silent.
#[derive(Debug, Clone, Copy)]
struct Frame {
    tones: u8,
    pt: u8,
    silent: bool,
}

/// A phone: a socket that talks (a tone, in the background) and logs what it hears.
struct Phone {
    sock: Arc<UdpSocket>,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Frame>>>,
    _listener: Task,
}

impl Phone {
    async fn new() -> Phone {
        let sock = Arc::new(UdpSocket::bind((LO, 0)).await.unwrap());
        let addr = sock.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (sock.clone(), log.clone());
        let listener = tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut pcm = Vec::new();
            while let Ok(n) = s.recv(&mut buf).await {
                let Some(p) = rtp::parse(&buf[..n]) else {
                    continue;
                };
                let Some(codec) = Codec::from_payload_type(p.pt.0) else {
                    continue;
                };
                pcm.clear();
                codec.decode(p.payload, &mut pcm);
                l.lock().unwrap().push(classify(&pcm, p.pt.0));
            }
        });
        Phone {
            sock,
            addr,
            log,
            _listener: Task(listener),
        }
    }

    /// Sends a tone of `freq` Hz to `to` in `codec`, one 20 ms frame at a time (own SSRC,
    /// numbering and timestamps), until the returned task is dropped.
    fn talk(&self, to: SocketAddr, codec: Codec, freq: f64) -> Task {
        let sock = self.sock.clone();
        Task(tokio::spawn(async move {
            let tone = Prompt::tone(freq as f32, 1000, 0.25);
            let mut tx = RtpSender::new();
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut out = Vec::new();
            for n in 0u64.. {
                tick.tick().await;
                let frame = tone.frame(codec, n as usize % tone.frame_count()).unwrap();
                tx.set_frame(n, 160);
                tx.build(Pt(codec.payload_type()), frame, 160, &mut out);
                let _ = sock.send_to(&out, to).await;
            }
        }))
    }

    /// A position in the log, to count what arrives after it.
    fn mark(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// Frames since `mark` that carry `freq`.
    fn heard(&self, mark: usize, freq: f64) -> usize {
        let bit = tone_bit(freq);
        self.log.lock().unwrap()[mark..]
            .iter()
            .filter(|f| f.tones & bit != 0)
            .count()
    }

    fn frames_since(&self, mark: usize) -> Vec<Frame> {
        self.log.lock().unwrap()[mark..].to_vec()
    }
}

fn tone_bit(freq: f64) -> u8 {
    1 << TONES.iter().position(|&f| f == freq).expect("one of TONES")
}

/// Power of `s` at `freq` (Goertzel), normalized by length: (amplitude / 2)² for a tone.
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

fn classify(pcm: &[i16], pt: u8) -> Frame {
    // A talker's tone is 0.25 of full scale (amplitude 8191: power 16.8e6); anything
    // above amplitude 2000 counts as heard.
    let mut tones = 0;
    for (i, &f) in TONES.iter().enumerate() {
        if power_at(pcm, f) > 1.0e6 {
            tones |= 1 << i;
        }
    }
    Frame {
        tones,
        pt,
        silent: pcm.iter().all(|&x| x.abs() < 16),
    }
}

/// Waits until `cond` holds, polling; fails the test with `what` after [`WAIT`].
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `phone` has heard `freq` in `n` frames since `mark`.
async fn hears(phone: &Phone, mark: usize, freq: f64, n: usize, who: &str) {
    until(&format!("{who} hears {freq} Hz"), || {
        phone.heard(mark, freq) >= n
    })
    .await;
}

async fn recording_finished(rx: &mut Receiver<MediaEvent>) -> RecordingInfo {
    loop {
        let ev = timeout(WAIT, rx.recv())
            .await
            .expect("event in time")
            .expect("channel open");
        match ev {
            MediaEvent::RecordingFinished(info, RecordStop::BridgeEnded) => return info,
            MediaEvent::RemoteSilent | MediaEvent::Digit(_) | MediaEvent::PlaybackFinished => {}
            e => panic!("unexpected {e:?}"),
        }
    }
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

/// `s` carries `freq` strongly and the other tones hardly.
fn assert_only_tone(s: &[i16], freq: f64, what: &str) {
    let p = power_at(s, freq);
    for other in TONES.into_iter().filter(|&f| f != freq) {
        let q = power_at(s, other);
        assert!(p > 50.0 * q, "{what}: {freq} Hz {p} vs {other} Hz {q}");
    }
}

#[tokio::test]
async fn conference_everyone_hears_everyone_else_never_itself() {
    let (pa, pb, pc) = (Phone::new().await, Phone::new().await, Phone::new().await);
    let (a, _aev) = leg(Codec::Pcmu, &pa).await;
    let (b, _bev) = leg(Codec::Pcma, &pb).await;
    let (c, _cev) = leg(Codec::Pcmu, &pc).await;
    let m = mix(None);
    m.add(0, &a, Hearing::Everyone, Some(Side::Left));
    m.add(1, &b, Hearing::Everyone, Some(Side::Right));
    m.add(2, &c, Hearing::Everyone, Some(Side::Right));

    // A talks alone: B and C hear it, A hears nothing of itself.
    let mark = (pa.mark(), pb.mark(), pc.mark());
    let ta = pa.talk(a.local_addr(), Codec::Pcmu, A);
    hears(&pb, mark.1, A, 25, "B").await;
    hears(&pc, mark.2, A, 25, "C").await;
    assert_eq!(m.parties(), vec![0, 1, 2]);
    assert!(
        pa.frames_since(mark.0).iter().all(|f| f.silent),
        "A's voice echoed back to A"
    );
    // Each hears in its own codec.
    assert!(pb.frames_since(mark.1).iter().all(|f| f.pt == 8));
    assert!(pc.frames_since(mark.2).iter().all(|f| f.pt == 0));

    // A and B talk: C hears both in the same frames, each of them only the other.
    let mark = (pa.mark(), pb.mark(), pc.mark());
    let _tb = pb.talk(b.local_addr(), Codec::Pcma, B);
    until("C hears A and B at once", || {
        pc.frames_since(mark.2)
            .iter()
            .filter(|f| f.tones == tone_bit(A) | tone_bit(B))
            .count()
            >= 25
    })
    .await;
    hears(&pa, mark.0, B, 25, "A").await;
    hears(&pb, mark.1, A, 25, "B").await;
    assert_eq!(pa.heard(mark.0, A), 0, "A hears itself");
    assert_eq!(pb.heard(mark.1, B), 0, "B hears itself");
    assert!(a.stats().packets_relayed >= 25);
    drop(ta);
}

/// Listen, then whisper, then barge-in, on one running mix, with one recording.
#[tokio::test]
async fn supervisor_listens_whispers_then_barges_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("call.wav");
    let (pa, pb, ps) = (Phone::new().await, Phone::new().await, Phone::new().await);
    let (a, mut aev) = leg(Codec::Pcmu, &pa).await;
    let (b, mut bev) = leg(Codec::Pcma, &pb).await;
    let (s, mut sev) = leg(Codec::Pcmu, &ps).await;
    let m = mix(Some(StereoTarget::new(&path)));
    // Citizen and agent hear each other; the supervisor listens, unrecorded.
    m.add(0, &a, Hearing::Only(vec![1]), Some(Side::Left));
    m.add(1, &b, Hearing::Only(vec![0]), Some(Side::Right));
    m.add(2, &s, Hearing::Everyone, None);
    let _ta = pa.talk(a.local_addr(), Codec::Pcmu, A);
    let _tb = pb.talk(b.local_addr(), Codec::Pcma, B);
    let _ts = ps.talk(s.local_addr(), Codec::Pcmu, C);

    // Listen (监听): S hears both; nobody hears S.
    let mark = (pa.mark(), pb.mark(), ps.mark());
    until("S hears A and B at once", || {
        ps.frames_since(mark.2)
            .iter()
            .filter(|f| f.tones == tone_bit(A) | tone_bit(B))
            .count()
            >= 25
    })
    .await;
    hears(&pa, mark.0, B, 25, "A").await;
    hears(&pb, mark.1, A, 25, "B").await;
    assert_eq!(
        pa.heard(mark.0, C),
        0,
        "the citizen hears the listening supervisor"
    );
    assert_eq!(
        pb.heard(mark.1, C),
        0,
        "the agent hears the listening supervisor"
    );

    // Whisper (耳语): the agent hears the supervisor, the citizen still does not.
    let mark = (pa.mark(), pb.mark());
    m.set_hears(1, Hearing::Everyone);
    hears(&pb, mark.1, C, 25, "B").await;
    until("A goes on hearing B", || pa.heard(mark.0, B) >= 25).await;
    assert_eq!(pa.heard(mark.0, C), 0, "the citizen hears the whisper");
    assert!(
        pb.frames_since(mark.1)
            .iter()
            .any(|f| f.tones == tone_bit(A) | tone_bit(C)),
        "the agent hears citizen and supervisor together"
    );

    // Barge-in (强插): the citizen hears the supervisor too.
    let mark = pa.mark();
    m.set_hears(0, Hearing::Everyone);
    until("A hears B and S at once", || {
        pa.frames_since(mark)
            .iter()
            .filter(|f| f.tones == tone_bit(B) | tone_bit(C))
            .count()
            >= 25
    })
    .await;

    m.end();
    let info = recording_finished(&mut aev).await;
    assert_eq!(info.path, path);
    let (left, right) = read_stereo(&path);
    assert_eq!(info.duration_ms, left.len() as u64 / 8);
    assert_eq!(info.bytes, 44 + 4 * left.len() as u64);
    assert!(left.len() >= 8000, "{} samples", left.len());
    // Left the citizen's voice, right the agent's; the supervisor is in neither.
    assert_only_tone(&left, A, "left");
    assert_only_tone(&right, B, "right");
    // Reported on the citizen's leg only.
    for ev in [&mut bev, &mut sev] {
        assert!(ev.try_recv().is_err());
    }
}

#[tokio::test]
async fn removed_party_is_unlinked_and_the_others_go_on() {
    let (pa, pb, pc) = (Phone::new().await, Phone::new().await, Phone::new().await);
    let (a, _aev) = leg(Codec::Pcmu, &pa).await;
    let (b, _bev) = leg(Codec::Pcmu, &pb).await;
    let (c, _cev) = leg(Codec::Pcma, &pc).await;
    let m = mix(None);
    for (id, l) in [(0, &a), (1, &b), (2, &c)] {
        m.add(id, l, Hearing::Everyone, None);
    }
    let _ta = pa.talk(a.local_addr(), Codec::Pcmu, A);
    let _tc = pc.talk(c.local_addr(), Codec::Pcma, C);
    let mark = (pa.mark(), pc.mark());
    hears(&pa, mark.0, C, 10, "A").await;
    hears(&pc, mark.1, A, 10, "C").await;

    m.remove(2);
    until("C is out", || m.parties() == vec![0, 1]).await;
    // What was already on its way drains, then: B still hears A, nobody hears C, and C
    // hears nothing.
    let mark = pb.mark();
    hears(&pb, mark, A, 5, "B").await;
    let mark = (pa.mark(), pb.mark(), pc.mark());
    hears(&pb, mark.1, A, 25, "B").await;
    assert_eq!(pa.heard(mark.0, C), 0, "A hears the removed party");
    assert_eq!(pb.heard(mark.1, C), 0, "B hears the removed party");
    assert_eq!(
        pc.frames_since(mark.2).len(),
        0,
        "the removed leg is still fed"
    );

    // The leg is free again: added back, it hears A again.
    m.add(2, &c, Hearing::Everyone, None);
    let mark = pc.mark();
    hears(&pc, mark, A, 10, "C").await;
}

#[tokio::test]
async fn a_closed_leg_drops_out_without_ending_the_mix() {
    let (pa, pb, pc) = (Phone::new().await, Phone::new().await, Phone::new().await);
    let (a, _aev) = leg(Codec::Pcmu, &pa).await;
    let (b, _bev) = leg(Codec::Pcmu, &pb).await;
    let (c, _cev) = leg(Codec::Pcmu, &pc).await;
    let pd = Phone::new().await;
    let (d, _dev) = leg(Codec::Pcmu, &pd).await;
    let m = mix(None);
    for (id, l) in [(0, &a), (1, &b), (2, &c)] {
        m.add(id, l, Hearing::Everyone, None);
    }
    until("all joined", || m.parties() == vec![0, 1, 2]).await;
    c.close();
    until("C dropped out", || m.parties() == vec![0, 1]).await;
    let _ta = pa.talk(a.local_addr(), Codec::Pcmu, A);
    let mark = pb.mark();
    hears(&pb, mark, A, 25, "B").await;

    // A leg bridged elsewhere leaves the mix too.
    let _br = bridge(&b, &d, None);
    until("B dropped out", || m.parties() == vec![0]).await;
    let _tb = pb.talk(b.local_addr(), Codec::Pcmu, B);
    let mark = (pa.mark(), pd.mark());
    hears(&pd, mark.1, B, 25, "D, bridged to B").await;
    assert_eq!(pa.heard(mark.0, B), 0, "A hears B, who left");
}

#[tokio::test]
async fn citizen_leaving_finalizes_the_recording_on_its_leg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.wav");
    let (pa, pb, pc) = (Phone::new().await, Phone::new().await, Phone::new().await);
    let (a, mut aev) = leg(Codec::Pcmu, &pa).await;
    let (b, _bev) = leg(Codec::Pcmu, &pb).await;
    let (c, _cev) = leg(Codec::Pcmu, &pc).await;
    let m = mix(Some(StereoTarget::new(&path)));
    m.add(0, &a, Hearing::Everyone, Some(Side::Left));
    m.add(1, &b, Hearing::Everyone, Some(Side::Right));
    m.add(2, &c, Hearing::Everyone, Some(Side::Right));
    let ta = pa.talk(a.local_addr(), Codec::Pcmu, A);
    let mark = pb.mark();
    hears(&pb, mark, A, 25, "B").await;
    // Quiet first: the closed leg's port may go to another test's leg at once, and a
    // stray stream would be latched there.
    drop(ta);
    a.close();
    let info = recording_finished(&mut aev).await;
    let (left, right) = read_stereo(&info.path);
    assert_only_tone(&left, A, "left");
    assert!(right.iter().all(|&x| x == 0), "nobody on the right spoke");
    assert!(
        timeout(WAIT, aev.recv()).await.unwrap().is_none(),
        "then the citizen's channel ends"
    );
    // The others go on.
    until("A dropped out", || m.parties() == vec![1, 2]).await;
    let _tb = pb.talk(b.local_addr(), Codec::Pcmu, B);
    let mark = pc.mark();
    hears(&pc, mark, B, 25, "C").await;
}

#[tokio::test]
async fn ending_the_mix_frees_the_legs() {
    let (pa, pb) = (Phone::new().await, Phone::new().await);
    let (a, mut aev) = leg(Codec::Pcmu, &pa).await;
    let (b, _bev) = leg(Codec::Pcma, &pb).await;
    let m = mix(None);
    m.add(0, &a, Hearing::Everyone, Some(Side::Left));
    m.add(1, &b, Hearing::Everyone, Some(Side::Right));
    let _ta = pa.talk(a.local_addr(), Codec::Pcmu, A);
    let mark = pb.mark();
    hears(&pb, mark, A, 10, "B").await;
    drop(m);
    // Both legs are alive and unlinked: a prompt plays, and they can be bridged.
    a.play(vec![Arc::new(Prompt::silence(40))]);
    let ev = timeout(WAIT, aev.recv()).await.unwrap();
    assert_eq!(ev, Some(MediaEvent::PlaybackFinished));
    let _br = bridge(&a, &b, None);
    let mark = pb.mark();
    hears(&pb, mark, A, 10, "B, bridged").await;
}

#[tokio::test]
async fn a_party_hearing_nobody_gets_comfort_silence() {
    let (pa, ps) = (Phone::new().await, Phone::new().await);
    let (a, _aev) = leg(Codec::Pcmu, &pa).await;
    let (s, _sev) = filling_leg(Codec::Pcma, &ps).await;
    let m = mix(None);
    m.add(0, &a, Hearing::Everyone, None);
    m.add(1, &s, Hearing::Nobody, None);
    let _ta = pa.talk(a.local_addr(), Codec::Pcmu, A);
    let _ts = ps.talk(s.local_addr(), Codec::Pcma, C);
    let mark = (pa.mark(), ps.mark());
    hears(&pa, mark.0, C, 25, "A").await;
    until("S gets 25 frames of silence", || {
        ps.frames_since(mark.1)
            .iter()
            .filter(|f| f.silent && f.pt == 8)
            .count()
            >= 25
    })
    .await;
    assert_eq!(ps.heard(mark.1, A), 0);
}
