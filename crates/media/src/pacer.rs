//! One 20 ms tick for every session's outgoing audio.
//!
//! A playing prompt, and the idle silence, need one packet per session every 20 ms. Giving
//! each session its own timer costs, per packet, a timer-wheel entry, a task wake-up, a
//! channel pop and a task switch — most of the CPU a busy IVR spends. Instead one thread
//! per process (the *pacer*, started with the first session) wakes on a shared 20 ms grid
//! and, for every session, asks its outgoing state (`Outgoing`) for the next packet and
//! sends it at once with a non-blocking `sendto` on the session's own socket. No session
//! task runs for an ordinary frame; the pacer tells the controller only when a prompt ends
//! ([`MediaEvent::PlaybackFinished`], through the session's event channel).
//!
//! `Outgoing` is sans-IO: everything needed to number and time the next packet (the
//! prompt position, the RTP sender, idle silence, the remote), driven by
//! `Outgoing::poll_transmit` with the tick's instant passed in, so it is tested with a
//! simulated clock. Each session's `Outgoing` sits behind its own mutex (`Slot`): the
//! session task takes the same lock for what stays on the task — commands, DTMF packets,
//! relayed frames of a bridge or mix — so one stream keeps one numbering, and a packet is
//! sent under the lock that numbered it (packets leave in sequence order).
//!
//! Timing is that of [`crate`]'s "Time" section: each packet's timestamp comes from the
//! tick's instant on the session's 20 ms grid; a stall (the pacer woken late) skips the
//! missed ticks rather than bursting them, leaving a timestamp gap; the first packet of a
//! playback carries the marker bit.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::codec::{Codec, FRAME_SAMPLES, PTIME_MS};
use crate::prompt::Prompt;
use crate::rtp::{Pt, RtpSender};
use crate::session::{Counters, MediaEvent};
use crate::totals::TOTALS;

/// The packet time: one tick.
pub const TICK: Duration = Duration::from_millis(PTIME_MS);
/// A pause longer than this (samples, 40 ms) beyond the previous packet's end makes the
/// next relayed packet the start of a talkspurt (marker bit).
pub(crate) const GAP_SAMPLES: u64 = 2 * FRAME_SAMPLES as u64;
/// In a bridge, silence is sent only after the other leg has given us nothing to relay for
/// this long (its phone suppresses silence, or it is on hold), so relayed audio and
/// silence never interleave at ordinary network jitter.
pub(crate) const RELAY_QUIET: Duration = Duration::from_millis(200);
/// The largest packet built here: an RTP header and a frame of up to 60 ms of G.711.
const MAX_PACKET: usize = 12 + 3 * FRAME_SAMPLES;

/// Position in a `play` sequence.
pub(crate) struct Playback {
    clips: Vec<Arc<Prompt>>,
    clip: usize,
    frame: usize,
}

impl Playback {
    pub fn new(clips: Vec<Arc<Prompt>>) -> Playback {
        Playback {
            clips,
            clip: 0,
            frame: 0,
        }
    }

    /// The next frame for `codec`, skipping empty clips; `None` at the end.
    fn next_frame(&mut self, codec: Codec) -> Option<&[u8]> {
        while let Some(clip) = self.clips.get(self.clip) {
            if self.frame < clip.frame_count() {
                self.frame += 1;
                return self.clips[self.clip].frame(codec, self.frame - 1);
            }
            self.clip += 1;
            self.frame = 0;
        }
        None
    }

    /// Whether no frame is left to send.
    pub fn is_done(&self) -> bool {
        let mut rest = self.clips.iter().skip(self.clip);
        match rest.next() {
            None => true,
            Some(c) => self.frame >= c.frame_count() && rest.all(|c| c.frame_count() == 0),
        }
    }
}

/// What one tick produced for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Transmit {
    /// A packet was built into the buffer, to be sent here.
    pub to: Option<SocketAddr>,
    /// The playback ended with this tick: report [`MediaEvent::PlaybackFinished`].
    pub finished: bool,
}

/// The sans-IO outgoing side of one session: what is needed to produce its next packet.
pub(crate) struct Outgoing {
    /// The codec we send.
    pub codec: Codec,
    /// Where we send; `None` while unknown or on hold.
    pub remote: Option<SocketAddr>,
    pub sender: RtpSender,
    epoch: Instant,
    /// Media time (samples since `epoch`) the next packet may carry at the earliest: the
    /// previous packet's end, so timestamps never go backwards.
    next_ts: Option<u64>,
    pub playback: Option<Playback>,
    /// Send silence frames while nothing else is sent.
    pub idle_silence: bool,
    /// An outgoing DTMF digit is in progress or queued: no silence meanwhile.
    pub dtmf_busy: bool,
    /// The bridge or mix the leg is in ([`next_link_id`](crate::bridge::next_link_id)):
    /// only frames relayed within it are sent, and silence waits for [`RELAY_QUIET`] after
    /// the last one.
    pub link: Option<u64>,
    /// When a frame from the other leg of a bridge was last sent.
    pub last_relayed: Option<Instant>,
}

impl Outgoing {
    pub fn new(codec: Codec, remote: Option<SocketAddr>, epoch: Instant) -> Outgoing {
        Outgoing::with_sender(codec, remote, epoch, RtpSender::new())
    }

    pub fn with_sender(
        codec: Codec,
        remote: Option<SocketAddr>,
        epoch: Instant,
        sender: RtpSender,
    ) -> Outgoing {
        Outgoing {
            codec,
            remote,
            sender,
            epoch,
            next_ts: None,
            playback: None,
            idle_silence: true,
            dtmf_busy: false,
            link: None,
            last_relayed: None,
        }
    }

    /// Starts playing `clips` (replacing any playback) with a marker on the first packet;
    /// `false` if there is nothing to play (finished at once).
    pub fn play(&mut self, clips: Vec<Arc<Prompt>>) -> bool {
        let pb = Playback::new(clips);
        if pb.is_done() {
            self.playback = None;
            return false;
        }
        self.playback = Some(pb);
        self.sender.start_talkspurt();
        true
    }

    /// Sets the sender's timestamp for a packet of `samples` sent at `at`: the wall time
    /// since the session began, on the 20 ms grid, but never before the previous packet's
    /// end. Returns whether a pause (more than [`GAP_SAMPLES`]) precedes the packet.
    pub fn stamp(&mut self, at: Instant, samples: u32) -> bool {
        let frame_us = TICK.as_micros() as u64;
        let elapsed = at.saturating_duration_since(self.epoch).as_micros() as u64;
        let mut ts = (elapsed + frame_us / 2) / frame_us * FRAME_SAMPLES as u64;
        let gap = match self.next_ts {
            None => true,
            Some(next) => {
                let gap = ts > next + GAP_SAMPLES;
                ts = ts.max(next);
                gap
            }
        };
        self.next_ts = Some(ts + u64::from(samples));
        self.sender.set_frame(ts, 1);
        gap
    }

    /// The packet due at the tick `now`: the next frame of the playback (timestamped from
    /// `now`), or a frame of silence when nothing plays and silence is due; built into
    /// `out`. Call once per tick.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> Transmit {
        if self.playback.is_none() {
            return Transmit {
                to: self.silence(now, out),
                finished: false,
            };
        }
        self.stamp(now, FRAME_SAMPLES as u32);
        let codec = self.codec;
        let Some(pb) = self.playback.as_mut() else {
            return Transmit::default();
        };
        let Some(payload) = pb.next_frame(codec) else {
            self.playback = None;
            return Transmit {
                to: None,
                finished: true,
            };
        };
        self.sender
            .build(Pt(codec.payload_type()), payload, FRAME_SAMPLES as u32, out);
        let finished = pb.is_done();
        if finished {
            self.playback = None;
        }
        // Without a remote yet the prompt still advances in time, unheard.
        Transmit {
            to: self.remote,
            finished,
        }
    }

    /// One frame of encoded silence (a constant), unless silence is off, there is nowhere
    /// to send, a digit is being sent, or the other leg of a bridge is talking.
    fn silence(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<SocketAddr> {
        if !self.idle_silence || self.dtmf_busy {
            return None;
        }
        let remote = self.remote?;
        if self.link.is_some()
            && self
                .last_relayed
                .is_some_and(|at| now.saturating_duration_since(at) < RELAY_QUIET)
        {
            return None;
        }
        self.stamp(now, FRAME_SAMPLES as u32);
        let codec = self.codec;
        self.sender.build(
            Pt(codec.payload_type()),
            codec.silence_frame(),
            FRAME_SAMPLES as u32,
            out,
        );
        Some(remote)
    }
}

/// A session as the pacer (and the session's task) sees it.
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    stats: Arc<Counters>,
    /// The session's event channel, without keeping it open: it ends when the session does.
    events: mpsc::WeakSender<MediaEvent>,
}

pub(crate) struct SlotState {
    pub out: Outgoing,
    /// The session's socket (shared with its receive side); `None` once the session ended.
    socket: Option<Arc<UdpSocket>>,
    buf: Vec<u8>,
}

impl Slot {
    pub fn new(
        out: Outgoing,
        socket: Arc<UdpSocket>,
        stats: Arc<Counters>,
        events: &mpsc::Sender<MediaEvent>,
    ) -> Arc<Slot> {
        Arc::new(Slot {
            state: Mutex::new(SlotState {
                out,
                socket: Some(socket),
                buf: Vec::with_capacity(MAX_PACKET),
            }),
            stats,
            events: events.downgrade(),
        })
    }

    /// The leg's counters.
    pub fn stats(&self) -> &Counters {
        &self.stats
    }

    pub fn lock(&self) -> MutexGuard<'_, SlotState> {
        // Plain data every holder leaves consistent; a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the slot: the socket closes now, the pacer forgets the slot at its next tick.
    pub fn close(&self) {
        let mut st = self.lock();
        st.socket = None;
        st.out.playback = None;
        st.out.idle_silence = false;
    }

    /// One tick for this session; `false` once the session has ended.
    fn tick(&self, now: Instant) -> bool {
        let mut st = self.lock();
        let SlotState { out, socket, buf } = &mut *st;
        if socket.is_none() {
            return false;
        }
        let t = out.poll_transmit(now, buf);
        if let (Some(to), Some(sock)) = (t.to, socket.as_ref()) {
            send(sock, buf, to, &self.stats);
        }
        if t.finished {
            // Under the lock: a `play` that replaces the playback is either before this
            // (nothing finished) or after it (the event precedes the new playback).
            if let Some(events) = self.events.upgrade() {
                if let Err(e) = events.try_send(MediaEvent::PlaybackFinished) {
                    tracing::warn!("media event dropped: {e}");
                }
            }
        }
        true
    }
}

impl SlotState {
    /// Builds a packet with `build` and sends it on the session's socket, under the lock
    /// that numbered it. Returns whether it was sent.
    pub fn send_with(
        &mut self,
        stats: &Counters,
        build: impl FnOnce(&mut Outgoing, &mut Vec<u8>) -> Option<SocketAddr>,
    ) -> bool {
        let SlotState { out, socket, buf } = self;
        let Some(sock) = socket.as_ref() else {
            return false;
        };
        match build(out, buf) {
            Some(to) => send(sock, buf, to, stats),
            None => false,
        }
    }
}

/// A non-blocking `sendto`; a full socket buffer drops the packet (as the network would).
fn send(sock: &UdpSocket, packet: &[u8], to: SocketAddr, stats: &Counters) -> bool {
    match sock.send_to(packet, to) {
        Ok(n) => {
            stats.packets_sent.fetch_add(1, Relaxed);
            stats.bytes_sent.fetch_add(n as u64, Relaxed);
            TOTALS.packets_sent.fetch_add(1, Relaxed);
            true
        }
        Err(e) => {
            TOTALS.send_failed.fetch_add(1, Relaxed);
            tracing::debug!(remote = %to, error = %e, "RTP send failed");
            false
        }
    }
}

/// The process's pacer: sessions registered, and the thread that ticks them.
struct Pacer {
    added: Mutex<Vec<Arc<Slot>>>,
    wake: Condvar,
}

static PACER: OnceLock<Pacer> = OnceLock::new();

/// Hands a session's slot to the pacer (started on first use), which ticks it until the
/// session closes it.
pub(crate) fn register(slot: Arc<Slot>) {
    let mut started = false;
    let pacer = PACER.get_or_init(|| {
        started = true;
        Pacer {
            added: Mutex::new(Vec::new()),
            wake: Condvar::new(),
        }
    });
    if started {
        let spawned = std::thread::Builder::new()
            .name("rtp-pacer".into())
            .spawn(move || run(pacer));
        if let Err(e) = spawned {
            // Without a thread nothing would be paced; there is no sensible way on.
            panic!("cannot start the RTP pacer thread: {e}");
        }
    }
    pacer
        .added
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(slot);
    pacer.wake.notify_one();
}

/// The pacer thread: every [`TICK`] on one grid, one packet (at most) per session.
fn run(pacer: &Pacer) {
    let mut slots: Vec<Arc<Slot>> = Vec::new();
    let base = Instant::now();
    let mut grid = Grid::new(base);
    loop {
        {
            let mut added = pacer.added.lock().unwrap_or_else(|e| e.into_inner());
            // Idle (no session): sleep until one registers rather than tick for nothing.
            while slots.is_empty() && added.is_empty() {
                added = pacer.wake.wait(added).unwrap_or_else(|e| e.into_inner());
            }
            slots.append(&mut added);
        }
        let (now, skipped) = grid.wait_next(Instant::now(), std::thread::sleep);
        // Sessions that ended are forgotten (their handles may outlive them a while).
        slots.retain(|s| s.tick(now));
        TOTALS.observe_tick(now.elapsed());
        if skipped > 0 {
            TOTALS.ticks_skipped.fetch_add(skipped, Relaxed);
        }
    }
}

/// The shared 20 ms grid: which tick is next, skipping (not bursting) ticks missed in a
/// stall.
pub(crate) struct Grid {
    base: Instant,
    /// The last tick served, as a count of ticks since `base`.
    last: Option<u64>,
}

impl Grid {
    pub fn new(base: Instant) -> Grid {
        Grid { base, last: None }
    }

    /// The next tick to serve after the last one, given the time `now`: the first grid
    /// point after the last tick, or, when that has long passed (a stall), the latest grid
    /// point not after `now`. Returns the tick's instant and how long to wait for it.
    pub fn next(&self, now: Instant) -> (Instant, Duration) {
        let tick = TICK.as_nanos() as u64;
        let current = now.saturating_duration_since(self.base).as_nanos() as u64 / tick;
        let k = match self.last {
            Some(last) => (last + 1).max(current),
            None => current + 1,
        };
        let at = self.base + Duration::from_nanos(k * tick);
        (at, at.saturating_duration_since(now))
    }

    /// Waits (with `sleep`) for the next tick; returns its instant and how many ticks
    /// before it were skipped.
    fn wait_next(&mut self, now: Instant, sleep: impl FnOnce(Duration)) -> (Instant, u64) {
        let (at, wait) = self.next(now);
        if !wait.is_zero() {
            sleep(wait);
        }
        let tick = TICK.as_nanos() as u64;
        let k = at.saturating_duration_since(self.base).as_nanos() as u64 / tick;
        let skipped = self.last.map_or(0, |last| k.saturating_sub(last + 1));
        self.last = Some(k);
        (at, skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{parse, Seq, Ssrc};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn out_at(epoch: Instant) -> Outgoing {
        Outgoing::with_sender(
            Codec::Pcmu,
            Some("127.0.0.1:4000".parse().unwrap()),
            epoch,
            RtpSender::with_initial(Ssrc(7), Seq(100), 1000),
        )
    }

    /// A clip of `frames` 20 ms frames of a constant non-silent sample.
    fn clip(frames: usize) -> Arc<Prompt> {
        Arc::new(Prompt::from_samples(vec![1000; frames * FRAME_SAMPLES]))
    }

    #[test]
    fn playback_is_paced_stamped_and_finished() {
        let t0 = Instant::now();
        let mut o = out_at(t0);
        o.idle_silence = false;
        let mut buf = Vec::new();
        assert!(o.play(vec![clip(2), clip(0), clip(1)]));
        let mut got = Vec::new();
        for i in 0..5u64 {
            let t = o.poll_transmit(t0 + ms(20 * i), &mut buf);
            got.push(t);
            if t.to.is_some() {
                let p = parse(&buf).unwrap();
                assert_eq!(p.seq, Seq(100 + i as u16));
                assert_eq!(p.timestamp, 1000 + 160 * i as u32);
                assert_eq!(p.marker, i == 0, "marker on the first packet only");
                assert_eq!(p.payload.len(), 160);
            }
        }
        // Three frames, the third ends the playback; then nothing (silence is off).
        assert!(got[..3].iter().all(|t| t.to.is_some()));
        assert_eq!(
            got.iter().map(|t| t.finished).collect::<Vec<_>>(),
            [false, false, true, false, false]
        );
        assert!(got[3..].iter().all(|t| t.to.is_none()));
        // Nothing to play finishes at once.
        assert!(!o.play(vec![clip(0)]));
    }

    #[test]
    fn silence_when_idle_keeps_one_stream_and_prompts_get_a_marker() {
        let t0 = Instant::now();
        let mut o = out_at(t0);
        let mut buf = Vec::new();
        let t = o.poll_transmit(t0, &mut buf);
        assert!(t.to.is_some());
        let p = parse(&buf).unwrap();
        assert_eq!((p.timestamp, p.payload), (1000, &[0xFF; 160][..]));
        o.poll_transmit(t0 + ms(20), &mut buf);
        o.play(vec![clip(1)]);
        let t = o.poll_transmit(t0 + ms(40), &mut buf);
        assert!(t.finished);
        let p = parse(&buf).unwrap();
        assert!(p.marker);
        assert_eq!((p.seq, p.timestamp), (Seq(102), 1000 + 320));
        let t = o.poll_transmit(t0 + ms(60), &mut buf);
        let p = parse(&buf).unwrap();
        assert!(t.to.is_some() && !p.marker);
        assert_eq!(p.timestamp, 1000 + 480);
        // No silence while a digit is sent, nor without a remote, nor when turned off.
        o.dtmf_busy = true;
        assert!(o.poll_transmit(t0 + ms(80), &mut buf).to.is_none());
        o.dtmf_busy = false;
        o.remote = None;
        assert!(o.poll_transmit(t0 + ms(100), &mut buf).to.is_none());
        o.remote = Some("127.0.0.1:4000".parse().unwrap());
        o.idle_silence = false;
        assert!(o.poll_transmit(t0 + ms(120), &mut buf).to.is_none());
    }

    #[test]
    fn a_stall_is_a_timestamp_gap_not_a_burst() {
        let t0 = Instant::now();
        let mut o = out_at(t0);
        let mut buf = Vec::new();
        o.play(vec![clip(10)]);
        o.poll_transmit(t0, &mut buf);
        // The next tick comes 100 ms late: one frame, stamped at its wall time.
        o.poll_transmit(t0 + ms(120), &mut buf);
        let p = parse(&buf).unwrap();
        assert_eq!(p.timestamp, 1000 + 6 * 160);
        assert_eq!(p.seq, Seq(101), "one packet, not the missed ones");
        // Jitter in the tick's instant (9 ms late) stays on the 20 ms grid.
        o.poll_transmit(t0 + ms(149), &mut buf);
        assert_eq!(parse(&buf).unwrap().timestamp, 1000 + 7 * 160);
        // An early tick never moves time backwards.
        o.poll_transmit(t0 + ms(150), &mut buf);
        assert_eq!(parse(&buf).unwrap().timestamp, 1000 + 8 * 160);
    }

    #[test]
    fn in_a_bridge_silence_waits_for_the_other_leg_to_be_quiet() {
        let t0 = Instant::now();
        let mut o = out_at(t0);
        let mut buf = Vec::new();
        o.link = Some(1);
        o.last_relayed = Some(t0);
        assert!(o.poll_transmit(t0 + ms(100), &mut buf).to.is_none());
        assert!(o.poll_transmit(t0 + ms(200), &mut buf).to.is_some());
    }

    #[test]
    fn prompt_advances_without_a_remote() {
        let t0 = Instant::now();
        let mut o = out_at(t0);
        o.remote = None;
        let mut buf = Vec::new();
        o.play(vec![clip(2)]);
        assert_eq!(o.poll_transmit(t0, &mut buf), Transmit::default());
        let t = o.poll_transmit(t0 + ms(20), &mut buf);
        assert_eq!((t.to, t.finished), (None, true));
    }

    #[test]
    fn grid_ticks_every_20_ms_and_skips_after_a_stall() {
        let base = Instant::now();
        let mut g = Grid::new(base);
        let mut slept = Duration::ZERO;
        let t = g.wait_next(base + ms(5), |d| slept = d);
        assert_eq!((t, slept), ((base + ms(20), 0), ms(15)));
        // Woken a little late: the next tick is still the next grid point.
        let t = g.wait_next(base + ms(23), |d| slept = d);
        assert_eq!((t, slept), ((base + ms(40), 0), ms(17)));
        // Work overran a tick: the next one is served at once, not skipped.
        let t = g.wait_next(base + ms(61), |_| panic!("no wait"));
        assert_eq!(t, (base + ms(60), 0));
        // A long stall: the missed ticks (80, 100, 120) are skipped, not burst, and counted.
        let t = g.wait_next(base + ms(150), |_| panic!("no wait"));
        assert_eq!(t, (base + ms(140), 3));
        let t = g.wait_next(base + ms(151), |d| slept = d);
        assert_eq!((t, slept), ((base + ms(160), 0), ms(9)));
    }
}
