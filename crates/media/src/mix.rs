//! Mixing two or more call legs (three-way conference, supervisor listen, whisper and
//! barge-in), with a "who hears whom" matrix that can change while the mix runs, and an
//! optional stereo recording.
//!
//! A [`bridge`](crate::bridge::bridge) relays packets between exactly two legs; as soon as
//! a third party joins (another agent, a department's number, 110, a supervisor) each
//! listener needs its *own* sum of the others' voices, without its own voice, so audio has
//! to be decoded, added and encoded again. [`mix`] starts one tokio task, the mixer, and
//! returns a [`MixHandle`] to add, re-arrange and remove parties:
//!
//! | situation | parties and [`Hearing`] |
//! |---|---|
//! | three-way conference | citizen, agent, third party: all [`Hearing::Everyone`] |
//! | supervisor listens (监听) | citizen and agent `Only` each other, supervisor `Everyone` |
//! | whisper (耳语) | citizen `Only(agent)`, agent `Everyone`, supervisor `Everyone` |
//! | barge-in (强插) | everyone [`Hearing::Everyone`] |
//!
//! Going from listen to whisper to barge is [`MixHandle::set_hears`] on a running mix: no
//! leg is relinked, the recording runs on.
//!
//! - **Links.** Each party's leg is linked to the mixer the way a bridge links two legs
//!   (a leg has one link at a time): the leg's task hands every audio packet it receives
//!   to the mixer and sends to its remote, at once, every frame the mixer gives it, under
//!   its own SSRC, numbering, timestamps (its 20 ms wall-clock grid) and codec. So what
//!   the [bridge](mod@crate::bridge) documents holds here too: **prompts win** (a party
//!   put on hold hears the music its own leg plays while the others go on mixing),
//!   **DTMF is not mixed** (each leg reports its digits), a leg with no remote drops
//!   what it would send, and a leg that hears nothing for 200 ms sends its own
//!   **comfort silence** ([`MediaHandle::set_idle_silence`]).
//! - **Mixing.** The mixer runs on one 20 ms tick. On each tick it takes what each party
//!   sent (decoded from PCMU or PCMA to 16-bit PCM, kept in a small per-party queue: a
//!   packet arriving a little late is still played in order, and more than
//!   [`JITTER_FRAMES`] frames queued drops the oldest, so latency cannot grow), one frame
//!   per party; a party that sent nothing contributes silence. Each listener gets the sum
//!   (saturated to 16 bits) of the parties it hears, never itself, encoded in the codec
//!   its leg sends. A listener none of whose heard parties sent anything this tick gets
//!   no frame (its leg fills with silence after 200 ms, as in a bridge). The mixer adds
//!   latency a bridge does not: up to one tick (20 ms) of waiting, plus up to 40 ms that
//!   network jitter may leave queued, shed again (20 ms a second) once the jitter is
//!   gone. Packets of 20 ms (what we negotiate) mix best; others are cut into 20 ms
//!   frames.
//! - **Stereo recording** (optional, [`StereoTarget`]): one WAV, 8 kHz, 16-bit, on a clock
//!   that starts at [`mix`]; left = the sum of the voices of the parties added with
//!   [`Side::Left`] (the citizen), right = those with [`Side::Right`] (agents, a
//!   department, a supervisor who barges in, if the caller wants them recorded); a party
//!   added with `None` is not recorded. Each tick's sums are placed at the tick's own
//!   position, so a stall or a silent party is silence at its place. It is written by a
//!   [`StereoRecorder`] on one of the process's writer threads.
//! - **Leaving.** [`MixHandle::remove`] unlinks a party: its leg goes back to being
//!   unlinked (it may be bridged, mixed again, or play prompts). A leg that closes, or is
//!   bridged or mixed anew, leaves the mix the same way (noticed within one tick) and the
//!   others go on.
//!
//! The mix ends when the [`MixHandle`] is dropped (or [`MixHandle::end`]); the legs are
//! unlinked then, not closed. The recording is finalized when the mix ends, or earlier
//! when the party it reports to leaves the mix, and reported on **the leg of the first
//! party added with [`Side::Left`]** (the citizen) as
//! [`MediaEvent::RecordingFinished`]`(info, `[`RecordStop::BridgeEnded`]`)` (or
//! [`MediaEvent::RecordingFailed`]) — as a bridge reports on leg `a`, so a controller
//! waiting for the citizen's recording handles a bridge and a mix alike. After that the
//! mix goes on unrecorded. A recording with no left party at all is finalized, but
//! reported only in the log.
//!
//! Cost: one task and, per party, two queues (its leg's [`RELAY_QUEUE`] towards the mixer,
//! [`JITTER_FRAMES`] towards the leg), a queue of [`JITTER_FRAMES`] frames of PCM and a
//! frame of PCM; a tick does `O(parties × heard parties × 160)` additions and allocates
//! nothing (the recording copies each side's frame into its writer's queue).
//!
//! [`MediaHandle::set_idle_silence`]: crate::MediaHandle::set_idle_silence
//! [`MediaEvent::RecordingFinished`]: crate::MediaEvent::RecordingFinished
//! [`MediaEvent::RecordingFailed`]: crate::MediaEvent::RecordingFailed
//! [`RecordStop::BridgeEnded`]: crate::RecordStop::BridgeEnded
//! [`RELAY_QUEUE`]: crate::bridge::RELAY_QUEUE

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

use crate::bridge::{next_link_id, Link, RelayFrame, RelayPayload, StereoTarget, RELAY_QUEUE};
use crate::codec::{Codec, FRAME_SAMPLES, PTIME_MS};
use crate::g711;
use crate::session::{Counters, MediaEvent, MediaHandle, RecordStop};
use crate::stereo::{Side, StereoRecorder};

/// A party's name in a mix, chosen by the caller (e.g. 0 the citizen, 1 the agent, 2 the
/// supervisor); unique within one mix.
pub type PartyId = u32;

/// Frames of a party's audio the mixer keeps queued at most (60 ms): room for network
/// jitter; beyond it the oldest audio is dropped so latency cannot grow.
pub const JITTER_FRAMES: usize = 3;
const JITTER_SAMPLES: usize = JITTER_FRAMES * FRAME_SAMPLES;
/// Ticks (1 s) over which a party's queue never ran below some level: that much audio
/// waited without need (left over from a burst), and is dropped to cut the latency.
const SHRINK_TICKS: u32 = 50;
/// Commands queued to the mixer; they are rare, a full queue means a stuck mixer.
const COMMANDS: usize = 64;
const FRAME: Duration = Duration::from_millis(PTIME_MS);

/// Whom a party hears: the sum of these parties' voices is what its leg sends to its
/// phone. A party never hears itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hearing {
    /// Every other party (a conference, a barge-in, a supervisor listening).
    Everyone,
    /// These parties only (a citizen who must not hear a whispering supervisor); an id
    /// not in the mix (yet) is simply not heard until it joins.
    Only(Vec<PartyId>),
    /// No one (the leg sends its comfort silence, or plays prompts).
    Nobody,
}

impl Hearing {
    /// Whether `listener`, hearing this way, hears `speaker`.
    pub fn hears(&self, listener: PartyId, speaker: PartyId) -> bool {
        listener != speaker
            && match self {
                Hearing::Everyone => true,
                Hearing::Only(ids) => ids.contains(&speaker),
                Hearing::Nobody => false,
            }
    }
}

/// Controls a running mix; dropping it (or [`MixHandle::end`]) ends the mix. It does not
/// keep the legs alive, and ending the mix does not close them. Every method returns at
/// once: commands are queued to the mixer task (and the links to the legs' tasks).
#[derive(Debug)]
pub struct MixHandle {
    cmds: mpsc::Sender<Command>,
    parties: watch::Receiver<Vec<PartyId>>,
}

/// Starts a mix with no parties, recording into `recording` if given (see the
/// [module docs](self)). Must be called on a tokio runtime: the mixer is a task.
pub fn mix(recording: Option<StereoTarget>) -> MixHandle {
    let start = Instant::now();
    let (cmds, cmd_rx) = mpsc::channel(COMMANDS);
    let (parties_tx, parties) = watch::channel(Vec::new());
    let mixer = Mixer {
        start,
        parties: Vec::new(),
        rec: Rec::None,
        members: parties_tx,
        scratch: Vec::with_capacity(FRAME_SAMPLES),
        all: [0; FRAME_SAMPLES],
        acc: [0; FRAME_SAMPLES],
        pcm: [0; FRAME_SAMPLES],
    };
    tokio::spawn(
        mixer
            .run(cmd_rx, recording)
            .instrument(tracing::debug_span!("mix")),
    );
    MixHandle { cmds, parties }
}

impl MixHandle {
    /// Adds `leg` as party `id`, hearing `hears`; its voice goes to `side` of the
    /// recording (`None`: not recorded, e.g. a listening supervisor). The leg's earlier
    /// bridge or mix ends first. A party already named `id` is replaced (as
    /// [`MixHandle::remove`] then `add`). The first party added with [`Side::Left`] is the
    /// one the recording is reported to.
    pub fn add(&self, id: PartyId, leg: &MediaHandle, hears: Hearing, side: Option<Side>) {
        let (leg_tx, from_leg) = mpsc::channel(RELAY_QUEUE);
        let (to_leg, leg_rx) = mpsc::channel(JITTER_FRAMES);
        let (stop, stop_rx) = watch::channel(false);
        let (report_to, reporter) = match side {
            Some(Side::Left) => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            _ => (None, None),
        };
        self.send(Command::Add(Box::new(NewParty {
            id,
            hears,
            side,
            from_leg,
            to_leg,
            stop,
            stats: leg.counters(),
            reporter,
        })));
        leg.send_link(Link {
            id: next_link_id(),
            relay_tx: leg_tx,
            relay_rx: leg_rx,
            stop: stop_rx,
            peer: None,
            stereo: None,
            report_to,
        });
    }

    /// Changes whom party `id` hears, from the next tick on (ignored for an id not in
    /// the mix).
    pub fn set_hears(&self, id: PartyId, hears: Hearing) {
        self.send(Command::SetHears(id, hears));
    }

    /// Takes party `id` out of the mix; its leg is unlinked (not closed). If it is the
    /// party the recording reports to, the recording is finalized and reported.
    pub fn remove(&self, id: PartyId) {
        self.send(Command::Remove(id));
    }

    /// The parties in the mix, in the order they were added, as the mixer last saw them
    /// (a party whose leg closed disappears within a tick or so).
    pub fn parties(&self) -> Vec<PartyId> {
        self.parties.borrow().clone()
    }

    /// Ends the mix: every leg is unlinked, the recording finalized and reported.
    pub fn end(self) {}

    fn send(&self, cmd: Command) {
        if let Err(e) = self.cmds.try_send(cmd) {
            tracing::warn!("mix command dropped: {e}");
        }
    }
}

enum Command {
    Add(Box<NewParty>),
    SetHears(PartyId, Hearing),
    Remove(PartyId),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Add(p) => write!(f, "Add({})", p.id),
            Command::SetHears(id, h) => write!(f, "SetHears({id}, {h:?})"),
            Command::Remove(id) => write!(f, "Remove({id})"),
        }
    }
}

/// The leg's event channel, once its task has taken its place in the mix.
type Reporter = oneshot::Receiver<mpsc::Sender<MediaEvent>>;

/// The mixer's ends of a new party's link.
struct NewParty {
    id: PartyId,
    hears: Hearing,
    side: Option<Side>,
    from_leg: mpsc::Receiver<RelayFrame>,
    to_leg: mpsc::Sender<RelayFrame>,
    stop: watch::Sender<bool>,
    stats: Arc<Counters>,
    reporter: Option<Reporter>,
}

struct Party {
    id: PartyId,
    hears: Hearing,
    side: Option<Side>,
    /// What the leg received.
    from_leg: mpsc::Receiver<RelayFrame>,
    /// What the leg sends.
    to_leg: mpsc::Sender<RelayFrame>,
    /// Dropped with the party: the leg's link ends.
    _stop: watch::Sender<bool>,
    /// The leg's counters: its codec, and the frames its queue had to drop.
    stats: Arc<Counters>,
    /// Decoded audio received and not mixed yet, at most [`JITTER_SAMPLES`].
    queue: VecDeque<i16>,
    /// The least audio left in `queue` after a tick, over the current [`SHRINK_TICKS`].
    low: usize,
    /// Ticks of the current window.
    window: u32,
    /// This tick's voice (silence after what was received).
    voice: [i16; FRAME_SAMPLES],
    /// Whether the party sent anything for this tick.
    spoke: bool,
    /// Whether a frame went to the leg on the previous tick (else the next one starts a
    /// talkspurt).
    sent_last: bool,
    /// The leg's link closed.
    gone: bool,
}

impl Party {
    /// Takes what the leg received since the last tick, then this tick's frame from the
    /// queue. Marks the party gone when its leg let go of the link.
    fn gather(&mut self, scratch: &mut Vec<i16>) {
        loop {
            match self.from_leg.try_recv() {
                Ok(f) => {
                    scratch.clear();
                    f.codec.decode(f.payload.as_slice(), scratch);
                    self.queue.extend(scratch.iter().copied());
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.gone = true;
                    break;
                }
            }
        }
        let excess = self.queue.len().saturating_sub(JITTER_SAMPLES);
        if excess > 0 {
            self.queue.drain(..excess);
        }
        let n = self.queue.len().min(FRAME_SAMPLES);
        self.spoke = n > 0;
        for (v, s) in self.voice.iter_mut().zip(self.queue.drain(..n)) {
            *v = s;
        }
        self.voice[n..].fill(0);
        // A queue that never emptied for a second holds latency a past burst left.
        self.low = self.low.min(self.queue.len());
        self.window += 1;
        if self.window == SHRINK_TICKS {
            let standing = self.low.min(FRAME_SAMPLES);
            self.queue.drain(..standing);
            self.low = usize::MAX;
            self.window = 0;
        }
    }
}

/// The mix's recording.
enum Rec {
    /// None asked for, or already finalized.
    None,
    /// The file could not be created; reported to the first left party.
    Failed(PathBuf, String),
    Running {
        recorder: StereoRecorder,
        /// The first left party and where its leg's events go.
        reporter: Option<(PartyId, Reporter)>,
    },
}

struct Mixer {
    /// Position 0 of the recording; tick `k` is `k` frames after it.
    start: Instant,
    parties: Vec<Party>,
    rec: Rec,
    /// The ids of `parties`, for [`MixHandle::parties`].
    members: watch::Sender<Vec<PartyId>>,
    scratch: Vec<i16>,
    /// Sum of every voice of this tick.
    all: [i32; FRAME_SAMPLES],
    /// One listener's (or one recorded side's) sum.
    acc: [i32; FRAME_SAMPLES],
    pcm: [i16; FRAME_SAMPLES],
}

impl Mixer {
    async fn run(mut self, mut cmds: mpsc::Receiver<Command>, recording: Option<StereoTarget>) {
        if let Some(target) = recording {
            self.rec = match StereoRecorder::create(&target.path, self.start) {
                Ok(recorder) => Rec::Running {
                    recorder,
                    reporter: None,
                },
                Err(e) => Rec::Failed(target.path, e.to_string()),
            };
        }
        let first = tokio::time::Instant::from_std(self.start) + FRAME;
        let mut ticker = tokio::time::interval_at(first, FRAME);
        // After a stall, no burst: the parties' queues hold what came meanwhile.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        tracing::debug!("mix started");
        loop {
            tokio::select! {
                biased;
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                t = ticker.tick() => self.on_tick(t.into_std()),
            }
        }
        self.parties.clear();
        self.finish_recording();
        tracing::debug!("mix ended");
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Add(p) => {
                let NewParty {
                    id,
                    hears,
                    side,
                    from_leg,
                    to_leg,
                    stop,
                    stats,
                    reporter,
                } = *p;
                self.leave(id);
                if let Some(reporter) = reporter {
                    self.take_reporter(id, reporter);
                }
                self.parties.push(Party {
                    id,
                    hears,
                    side,
                    from_leg,
                    to_leg,
                    _stop: stop,
                    stats,
                    queue: VecDeque::with_capacity(JITTER_SAMPLES + 2 * FRAME_SAMPLES),
                    low: usize::MAX,
                    window: 0,
                    voice: [0; FRAME_SAMPLES],
                    spoke: false,
                    sent_last: false,
                    gone: false,
                });
                self.publish();
                tracing::debug!(id, "party joined");
            }
            Command::SetHears(id, hears) => match self.parties.iter_mut().find(|p| p.id == id) {
                Some(p) => p.hears = hears,
                None => tracing::debug!(id, "set_hears: no such party"),
            },
            Command::Remove(id) => {
                if self.leave(id) {
                    self.publish();
                }
            }
        }
    }

    /// A left party was added: the first one is whom the recording reports to.
    fn take_reporter(&mut self, id: PartyId, reporter: Reporter) {
        match std::mem::replace(&mut self.rec, Rec::None) {
            Rec::Failed(path, msg) => {
                tokio::spawn(
                    deliver(Some(reporter), MediaEvent::RecordingFailed(path, msg))
                        .in_current_span(),
                );
            }
            Rec::Running {
                recorder,
                reporter: None,
            } => {
                self.rec = Rec::Running {
                    recorder,
                    reporter: Some((id, reporter)),
                };
            }
            // Not the first left party, or no recording: its leg's channel is not needed.
            other => self.rec = other,
        }
    }

    /// Takes party `id` out, if present; the recording ends if it reports to it.
    fn leave(&mut self, id: PartyId) -> bool {
        let Some(i) = self.parties.iter().position(|p| p.id == id) else {
            return false;
        };
        self.parties.remove(i);
        tracing::debug!(id, "party left");
        if matches!(&self.rec, Rec::Running { reporter: Some((r, _)), .. } if *r == id) {
            self.finish_recording();
        }
        true
    }

    fn publish(&self) {
        let ids: Vec<PartyId> = self.parties.iter().map(|p| p.id).collect();
        self.members.send_replace(ids);
    }

    fn on_tick(&mut self, tick: Instant) {
        for p in &mut self.parties {
            p.gather(&mut self.scratch);
        }
        self.drop_gone();
        let frame =
            (tick.saturating_duration_since(self.start).as_micros() / FRAME.as_micros()) as u64;
        self.record(frame.saturating_sub(1));
        self.send_mixes();
        self.drop_gone();
    }

    fn drop_gone(&mut self) {
        while let Some(p) = self.parties.iter().find(|p| p.gone) {
            let id = p.id;
            tracing::debug!(id, "a party's leg let go of the mix");
            self.leave(id);
            self.publish();
        }
    }

    /// Each side's sum of voices into the recording, at `frame`.
    fn record(&mut self, frame: u64) {
        let Rec::Running { recorder, .. } = &mut self.rec else {
            return;
        };
        for side in [Side::Left, Side::Right] {
            self.acc.fill(0);
            let mut any = false;
            for p in self
                .parties
                .iter()
                .filter(|p| p.spoke && p.side == Some(side))
            {
                any = true;
                add(&mut self.acc, &p.voice);
            }
            if any {
                saturate(&self.acc, &mut self.pcm);
                recorder.push(side, frame * FRAME_SAMPLES as u64, &self.pcm);
            }
        }
    }

    /// Each listener's mix, encoded in its leg's codec, to its leg.
    fn send_mixes(&mut self) {
        let Mixer {
            parties, all, acc, ..
        } = self;
        all.fill(0);
        let mut speakers = 0;
        for p in parties.iter().filter(|p| p.spoke) {
            speakers += 1;
            add(all, &p.voice);
        }
        for li in 0..parties.len() {
            let l = &parties[li];
            let heard = match &l.hears {
                Hearing::Everyone => {
                    let others = speakers - usize::from(l.spoke);
                    if others > 0 {
                        acc.copy_from_slice(all);
                        if l.spoke {
                            for (a, &v) in acc.iter_mut().zip(&l.voice) {
                                *a -= i32::from(v);
                            }
                        }
                    }
                    others > 0
                }
                Hearing::Only(_) => {
                    acc.fill(0);
                    let mut any = false;
                    for s in parties
                        .iter()
                        .filter(|s| s.spoke && l.hears.hears(l.id, s.id))
                    {
                        any = true;
                        add(acc, &s.voice);
                    }
                    any
                }
                Hearing::Nobody => false,
            };
            let l = &mut parties[li];
            if !heard {
                l.sent_last = false;
                continue;
            }
            let codec = l.stats.codec();
            let mut payload = [0u8; FRAME_SAMPLES];
            let encode = match codec {
                Codec::Pcmu => g711::ulaw_encode,
                Codec::Pcma => g711::alaw_encode,
            };
            for (b, &a) in payload.iter_mut().zip(acc.iter()) {
                *b = encode(clamp(a));
            }
            let f = RelayFrame {
                codec,
                payload: RelayPayload::frame(payload),
                marker: !l.sent_last,
            };
            l.sent_last = match l.to_leg.try_send(f) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    l.stats.relay_dropped();
                    false
                }
                Err(TrySendError::Closed(_)) => {
                    l.gone = true;
                    false
                }
            };
        }
    }

    /// Finalizes the recording off the task and reports it (see the module docs).
    fn finish_recording(&mut self) {
        match std::mem::replace(&mut self.rec, Rec::None) {
            Rec::None => {}
            Rec::Failed(path, msg) => {
                tracing::warn!(path = %path.display(), error = %msg,
                    "mix recording failed, and no party recorded on the left to report it to");
            }
            Rec::Running { recorder, reporter } => {
                let path = recorder.path().to_path_buf();
                tokio::spawn(
                    async move {
                        let ev = match recorder.finish_async().await {
                            Ok(info) => {
                                MediaEvent::RecordingFinished(info, RecordStop::BridgeEnded)
                            }
                            Err(e) => MediaEvent::RecordingFailed(path, e.to_string()),
                        };
                        deliver(reporter.map(|(_, r)| r), ev).await;
                    }
                    .in_current_span(),
                );
            }
        }
    }
}

/// Sends `ev` on the reporting leg's event channel, once its task has handed it over.
async fn deliver(reporter: Option<Reporter>, ev: MediaEvent) {
    let Some(reporter) = reporter else {
        tracing::warn!(
            ?ev,
            "mix recording ended with no party recorded on the left to report it to"
        );
        return;
    };
    match reporter.await {
        Ok(events) => {
            if events.send(ev).await.is_err() {
                tracing::debug!("mix recording finished after the controller left");
            }
        }
        Err(_) => tracing::warn!(
            ?ev,
            "the reporting leg closed before it joined the mix; recording not reported"
        ),
    }
}

fn add(acc: &mut [i32; FRAME_SAMPLES], voice: &[i16; FRAME_SAMPLES]) {
    for (a, &v) in acc.iter_mut().zip(voice) {
        *a += i32::from(v);
    }
}

fn clamp(a: i32) -> i16 {
    a.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

fn saturate(acc: &[i32; FRAME_SAMPLES], out: &mut [i16; FRAME_SAMPLES]) {
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = clamp(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hearing_never_includes_oneself() {
        assert!(Hearing::Everyone.hears(1, 2));
        assert!(!Hearing::Everyone.hears(1, 1));
        assert!(Hearing::Only(vec![2, 3]).hears(1, 3));
        assert!(!Hearing::Only(vec![1, 2]).hears(1, 1));
        assert!(!Hearing::Only(vec![2]).hears(1, 3));
        assert!(!Hearing::Nobody.hears(1, 2));
    }

    fn party(from_leg: mpsc::Receiver<RelayFrame>) -> Party {
        let (to_leg, _) = mpsc::channel(1);
        Party {
            id: 1,
            hears: Hearing::Everyone,
            side: None,
            from_leg,
            to_leg,
            _stop: watch::channel(false).0,
            stats: Arc::default(),
            queue: VecDeque::new(),
            low: usize::MAX,
            window: 0,
            voice: [0; FRAME_SAMPLES],
            spoke: false,
            sent_last: false,
            gone: false,
        }
    }

    fn frame(codec: Codec, value: i16, samples: usize) -> RelayFrame {
        let mut payload = Vec::new();
        codec.encode(&vec![value; samples], &mut payload);
        RelayFrame {
            codec,
            payload: RelayPayload::new(&payload).unwrap(),
            marker: false,
        }
    }

    /// One frame per tick, a late packet still in order, and never more than
    /// [`JITTER_FRAMES`] queued: a burst loses its oldest audio.
    #[test]
    fn gather_takes_a_frame_per_tick_and_bounds_the_queue() {
        let (tx, rx) = mpsc::channel(16);
        let mut p = party(rx);
        let mut scratch = Vec::new();
        let value = |c| g711::ulaw_decode(g711::ulaw_encode(c));
        p.gather(&mut scratch);
        assert!(!p.spoke && p.voice.iter().all(|&s| s == 0));
        // Two frames in one tick (jitter): both are played, one per tick.
        tx.try_send(frame(Codec::Pcmu, 1000, 160)).unwrap();
        tx.try_send(frame(Codec::Pcma, 2000, 160)).unwrap();
        p.gather(&mut scratch);
        assert!(p.spoke && p.voice.iter().all(|&s| s == value(1000)));
        p.gather(&mut scratch);
        let a2000 = g711::alaw_decode(g711::alaw_encode(2000));
        assert!(p.spoke && p.voice.iter().all(|&s| s == a2000));
        p.gather(&mut scratch);
        assert!(!p.spoke);
        // A burst of five: the two oldest are dropped.
        for v in 1..=5 {
            tx.try_send(frame(Codec::Pcmu, v * 100, 160)).unwrap();
        }
        for v in 3..=5 {
            p.gather(&mut scratch);
            assert!(p.voice.iter().all(|&s| s == value(v * 100)), "{v}");
        }
        // A 30 ms packet: a full frame, then half a frame and silence.
        tx.try_send(frame(Codec::Pcmu, 700, 240)).unwrap();
        p.gather(&mut scratch);
        assert!(p.voice.iter().all(|&s| s == value(700)));
        p.gather(&mut scratch);
        assert!(p.spoke && p.voice[..80].iter().all(|&s| s == value(700)));
        assert!(p.voice[80..].iter().all(|&s| s == 0));
        assert!(!p.gone);
        drop(tx);
        p.gather(&mut scratch);
        assert!(p.gone);
    }

    /// After a burst, a steady sender keeps two frames waiting in the queue; within
    /// two windows they are shed, one frame per window.
    #[test]
    fn standing_latency_is_shed() {
        let (tx, rx) = mpsc::channel(16);
        let mut p = party(rx);
        let mut scratch = Vec::new();
        for _ in 0..3 {
            tx.try_send(frame(Codec::Pcmu, 1000, 160)).unwrap();
        }
        let mut queued = Vec::new();
        for _ in 0..3 * SHRINK_TICKS {
            tx.try_send(frame(Codec::Pcmu, 1000, 160)).unwrap();
            p.gather(&mut scratch);
            assert!(p.spoke);
            queued.push(p.queue.len());
        }
        assert_eq!(queued[0], 2 * FRAME_SAMPLES);
        assert_eq!(*queued.last().unwrap(), 0);
        assert!(queued.windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn sums_saturate() {
        let mut acc = [0; FRAME_SAMPLES];
        add(&mut acc, &[30_000; FRAME_SAMPLES]);
        add(&mut acc, &[30_000; FRAME_SAMPLES]);
        let mut out = [0; FRAME_SAMPLES];
        saturate(&acc, &mut out);
        assert!(out.iter().all(|&s| s == i16::MAX));
        acc = [-70_000; FRAME_SAMPLES];
        saturate(&acc, &mut out);
        assert!(out.iter().all(|&s| s == i16::MIN));
        assert_eq!(clamp(-5), -5);
    }
}
