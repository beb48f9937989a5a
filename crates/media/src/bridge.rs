//! Relaying two call legs to each other (the B2BUA's media bridge), with an optional
//! stereo recording.
//!
//! A call with an agent has two legs, each its own [`MediaSession`](crate::MediaSession)
//! with its own socket, SSRC, sequence numbers, timestamps and codec. [`bridge`] links
//! them:
//!
//! - **Relay.** Every audio packet a leg receives is sent at once — no jitter buffer, no
//!   queue — on the other leg's socket, by the receiving leg's task, under the other leg's
//!   *own* SSRC and sequence number, with a timestamp from its own wall clock (20 ms grid,
//!   never going backwards), and the marker bit on the first packet after a gap (bridge
//!   start, a pause of more than 40 ms, a prompt, or a marker from the source). Handing
//!   each packet to the other leg's task instead (a queue, a task wake-up) cost about a
//!   third more per relayed packet. The payload
//!   passes through untouched when both legs use the same codec and is transcoded
//!   (decode, encode) between PCMU and PCMA otherwise.
//! - **Prompts win.** While a leg plays a prompt, the audio relayed *towards* that leg is
//!   dropped (the prompt replaces it; counted in [`MediaStats::relay_dropped`]); the
//!   relay resumes, with a marker, when the prompt ends. The other direction is not
//!   affected.
//! - **DTMF is not relayed** as packets: each leg still reports [`MediaEvent::Digit`],
//!   and the controller forwards it with [`MediaHandle::send_dtmf`] on the other leg
//!   (whose telephone-event payload type may differ, or be absent).
//! - **Hold.** A leg whose remote sends nothing relays nothing; a leg with no remote
//!   (`update` with `remote: None`) drops what it would send. The recording shows such a
//!   side as silence.
//! - **Silence.** When the other leg has given nothing to relay for 200 ms (its phone
//!   suppresses silence, or holds), a leg sends frames of encoded silence to its own
//!   remote until relayed audio comes again, so neither phone's carrier sees one-way
//!   silence ([`MediaHandle::set_idle_silence`](crate::MediaHandle::set_idle_silence)).
//! - **Stereo recording** (optional, [`StereoTarget`]): one WAV, 8 kHz, 16-bit, left =
//!   what leg `a` received (the citizen), right = what leg `b` received (the agent), both
//!   placed on one clock that starts at [`bridge`]. A side's packets are placed by their
//!   RTP timestamps, anchored to the arrival time of the first packet and re-anchored
//!   when they run more than 100 ms ahead of arrival time, or fall behind it by more than
//!   the writer waits (new SSRC, restarted or stalled clock); whatever no packet covers
//!   is silence. It is written by
//!   [`StereoRecorder`] on one of the process's writer threads; each leg's task puts in
//!   the side it receives, and leg `a`'s creates and finalizes it.
//!
//! The bridge ends when [`BridgeHandle`] is dropped (or [`BridgeHandle::unbridge`]), when
//! either leg closes, or when either leg is bridged anew or added to a
//! [`mix`](crate::mix::mix) (a leg has one link at a time). Then the recording is finalized
//! and reported on **leg `a`'s** event channel as
//! [`MediaEvent::RecordingFinished`]`(info, `[`RecordStop::BridgeEnded`]`)` (or
//! [`MediaEvent::RecordingFailed`]).
//!
//! [`MediaStats::relay_dropped`]: crate::MediaStats::relay_dropped
//! [`MediaEvent::Digit`]: crate::MediaEvent::Digit
//! [`MediaEvent::RecordingFinished`]: crate::MediaEvent::RecordingFinished
//! [`MediaEvent::RecordingFailed`]: crate::MediaEvent::RecordingFailed
//! [`RecordStop::BridgeEnded`]: crate::RecordStop::BridgeEnded
//! [`MediaHandle::send_dtmf`]: crate::MediaHandle::send_dtmf
//! [`StereoRecorder`]: crate::stereo::StereoRecorder

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use tokio::sync::oneshot;

use crate::codec::{Codec, FRAME_SAMPLES};
use crate::pacer::Slot;
use crate::rtp::Ssrc;
use crate::session::{MediaEvent, MediaHandle};
use crate::stereo::{samples_since, Side, StereoRecorder, WRITE_DELAY_SAMPLES};

/// Frames queued from a leg towards a mix before newer ones are dropped (200 ms).
pub const RELAY_QUEUE: usize = 10;
/// A side whose timestamps run ahead of arrival time by more than this (samples, 100 ms)
/// is re-anchored to arrival time in the stereo recording: its sender jumped.
const EARLY_SAMPLES: i64 = 800;
/// A side whose packets arrive later than their timestamps say by up to this still lands
/// in place: the recording's writer is [`WRITE_DELAY_SAMPLES`] behind, so a late packet
/// (a busy server, a jittery network) fills its own slot instead of being moved past a
/// hole. Only later than that is the side re-anchored (its clock stood still).
const LATE_SAMPLES: i64 = (WRITE_DELAY_SAMPLES - FRAME_SAMPLES as u64) as i64;

/// Where a bridge's stereo recording goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StereoTarget {
    /// The WAV file to create (its directory must exist).
    pub path: PathBuf,
}

impl StereoTarget {
    /// A recording into `path`.
    pub fn new(path: impl Into<PathBuf>) -> StereoTarget {
        StereoTarget { path: path.into() }
    }
}

/// Keeps two legs bridged; dropping it (or [`BridgeHandle::unbridge`]) ends the bridge.
/// It does not keep the sessions alive: closing a leg ends the bridge too.
#[derive(Debug)]
pub struct BridgeHandle {
    stop: watch::Sender<bool>,
}

impl BridgeHandle {
    /// Stops relaying; a stereo recording is finalized and reported on leg `a`.
    pub fn unbridge(self) {}

    /// Whether either leg still holds the bridge (false once both let go, e.g. after
    /// both legs closed).
    pub fn is_active(&self) -> bool {
        self.stop.receiver_count() > 0
    }
}

impl Drop for BridgeHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Bridges leg `a` (the citizen) and leg `b` (the agent): what one receives is sent on the
/// other, and with `recording` both are written into one stereo WAV (left `a`, right
/// `b`). See the [module docs](self). Either leg's earlier bridge ends first. Returns at
/// once: the legs' tasks pick the bridge up from their command queues.
pub fn bridge(a: &MediaHandle, b: &MediaHandle, recording: Option<StereoTarget>) -> BridgeHandle {
    let (stop, stop_rx) = watch::channel(false);
    if a.same_session(b) {
        tracing::warn!(local = %a.local_addr(), "a leg cannot be bridged to itself");
        return BridgeHandle { stop };
    }
    let start = Instant::now();
    let id = next_link_id();
    // No frame travels on these: each leg's end tells the other that it left.
    let (a_to_b, b_from_a) = mpsc::channel(1);
    let (b_to_a, a_from_b) = mpsc::channel(1);
    let shared = recording.as_ref().map(|_| SharedStereo::default());
    a.send_link(Link {
        id,
        relay_tx: a_to_b,
        relay_rx: a_from_b,
        stop: stop_rx.clone(),
        peer: Some(b.slot()),
        stereo: shared.clone().map(|shared| StereoLink {
            shared,
            side: Side::Left,
            create: recording.map(|t| (t, start)),
        }),
        report_to: None,
    });
    b.send_link(Link {
        id,
        relay_tx: b_to_a,
        relay_rx: b_from_a,
        stop: stop_rx,
        peer: Some(a.slot()),
        stereo: shared.map(|shared| StereoLink {
            shared,
            side: Side::Right,
            create: None,
        }),
        report_to: None,
    });
    BridgeHandle { stop }
}

/// The largest payload relayed: 60 ms of G.711 (we offer 20 ms; a peer may still send up
/// to `maxptime`). A larger packet is not relayed (counted as dropped).
pub const MAX_RELAY_PAYLOAD: usize = 3 * FRAME_SAMPLES;

/// A relayed packet's payload, inline: relaying allocates nothing per packet.
#[derive(Debug)]
pub(crate) struct RelayPayload {
    len: u16,
    buf: [u8; MAX_RELAY_PAYLOAD],
}

impl RelayPayload {
    /// A copy of `payload`; `None` beyond [`MAX_RELAY_PAYLOAD`] bytes.
    pub fn new(payload: &[u8]) -> Option<RelayPayload> {
        let mut buf = [0; MAX_RELAY_PAYLOAD];
        buf.get_mut(..payload.len())?.copy_from_slice(payload);
        Some(RelayPayload {
            len: payload.len() as u16,
            buf,
        })
    }

    /// One 20 ms frame.
    pub fn frame(frame: [u8; FRAME_SAMPLES]) -> RelayPayload {
        let mut buf = [0; MAX_RELAY_PAYLOAD];
        buf[..FRAME_SAMPLES].copy_from_slice(&frame);
        RelayPayload {
            len: FRAME_SAMPLES as u16,
            buf,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

/// One received audio packet on its way to the other leg (or to or from a mix).
#[derive(Debug)]
pub(crate) struct RelayFrame {
    pub codec: Codec,
    pub payload: RelayPayload,
    pub marker: bool,
}

/// A fresh id for a [`Link`]: a leg's outgoing side carries the id of the link it is in,
/// so a frame relayed from a link the leg has left is not sent.
pub(crate) fn next_link_id() -> u64 {
    static IDS: AtomicU64 = AtomicU64::new(1);
    IDS.fetch_add(1, Relaxed)
}

/// A leg's half of a bridge (or its place in a mix), as handed to its task.
pub(crate) struct Link {
    /// This bridge's or mix's id ([`next_link_id`]).
    pub id: u64,
    /// In a mix: what the leg receives goes here, to the mixer. In a bridge no frame
    /// travels on it; its closing tells the other leg that this one left.
    pub relay_tx: mpsc::Sender<RelayFrame>,
    /// What arrives here the leg sends to its remote (from a mix); its closing ends the link.
    pub relay_rx: mpsc::Receiver<RelayFrame>,
    pub stop: watch::Receiver<bool>,
    /// In a bridge: the other leg's outgoing side, where what this leg receives is sent.
    pub peer: Option<Arc<Slot>>,
    /// In a recorded bridge: the recording, and which side this leg writes.
    pub stereo: Option<StereoLink>,
    /// In a mix, on a party recorded on the left: the leg hands its event channel back,
    /// so the mix's recording can be reported there.
    pub report_to: Option<oneshot::Sender<mpsc::Sender<MediaEvent>>>,
}

/// The receiving half of a [`Link`], polled by the session loop.
pub(crate) struct LinkRx {
    pub relay_rx: mpsc::Receiver<RelayFrame>,
    pub stop: watch::Receiver<bool>,
}

#[allow(clippy::large_enum_variant)] // a frame inline, on the stack: no allocation
pub(crate) enum LinkEvent {
    Frame(RelayFrame),
    Ended,
}

/// The next frame from the other leg, or the end of the bridge; pending without a bridge.
pub(crate) async fn next_link_event(link: &mut Option<LinkRx>) -> LinkEvent {
    let Some(l) = link.as_mut() else {
        return std::future::pending().await;
    };
    tokio::select! {
        f = l.relay_rx.recv() => f.map_or(LinkEvent::Ended, LinkEvent::Frame),
        _ = l.stop.changed() => LinkEvent::Ended,
    }
}

/// Places one side's packets on the recording's clock: by RTP timestamp relative to an
/// anchor, re-anchored to arrival time when the two disagree too much.
#[derive(Debug, Default)]
struct Placer {
    ssrc: Option<Ssrc>,
    anchor: Option<(u32, u64)>,
}

impl Placer {
    fn place(&mut self, ssrc: Ssrc, ts: u32, wall: u64) -> u64 {
        if self.ssrc != Some(ssrc) {
            self.ssrc = Some(ssrc);
            self.anchor = None;
        }
        if let Some((ats, apos)) = self.anchor {
            let pos = apos as i64 + i64::from(ts.wrapping_sub(ats) as i32);
            let ahead = pos - wall as i64;
            if pos >= 0 && (-LATE_SAMPLES..=EARLY_SAMPLES).contains(&ahead) {
                return pos as u64;
            }
        }
        self.anchor = Some((ts, wall));
        wall
    }
}

/// A bridge's stereo recording, shared by its two legs' tasks: `None` until leg `a` has
/// created the file, and again once it has taken it to finalize.
pub(crate) type SharedStereo = Arc<Mutex<Option<StereoRec>>>;

/// Locks a bridge's recording (plain data every holder leaves consistent).
pub(crate) fn lock_stereo(shared: &SharedStereo) -> MutexGuard<'_, Option<StereoRec>> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// A leg's part in a bridge's stereo recording.
pub(crate) struct StereoLink {
    pub shared: SharedStereo,
    /// The side this leg's received audio goes to: left on leg `a`, right on leg `b`.
    pub side: Side,
    /// Leg `a` only: the file to create and the bridge's start.
    pub create: Option<(StereoTarget, Instant)>,
}

/// The stereo recording of a bridge.
#[derive(Debug)]
pub(crate) struct StereoRec {
    pub recorder: StereoRecorder,
    sides: [Placer; 2],
}

impl StereoRec {
    pub fn new(recorder: StereoRecorder) -> StereoRec {
        StereoRec {
            recorder,
            sides: Default::default(),
        }
    }

    /// One side's packet of G.711 audio, decoded into its place (found from the packet's
    /// timestamp and arrival).
    pub fn push(
        &mut self,
        side: Side,
        ssrc: Ssrc,
        ts: u32,
        arrived: Instant,
        codec: Codec,
        payload: &[u8],
    ) {
        let wall = samples_since(self.recorder.start(), arrived);
        let pos = self.sides[side as usize].place(ssrc, ts, wall);
        self.recorder
            .push_encoded(side, pos, payload, codec.decode_table());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placer_follows_timestamps_and_reanchors() {
        let mut p = Placer::default();
        let s = Ssrc(1);
        assert_eq!(p.place(s, 1000, 500), 500);
        // Jitter: arrival a bit late or early, the timestamp decides.
        assert_eq!(p.place(s, 1160, 700), 660);
        assert_eq!(p.place(s, 1320, 800), 820);
        // A gap with the timestamp following: placed by timestamp.
        assert_eq!(p.place(s, 1000 + 4160, 4700), 4660);
        // A sender whose clock stood still over a pause: arrival time wins.
        assert_eq!(p.place(s, 1000 + 4320, 9000), 9000);
        assert_eq!(p.place(s, 1000 + 4480, 9170), 9160);
        // A new SSRC starts from its arrival.
        assert_eq!(p.place(Ssrc(2), 7, 9400), 9400);
        // Timestamps jumping ahead of time: arrival time wins.
        assert_eq!(p.place(Ssrc(2), 7 + 160 + 1600, 9560), 9560);
        // Timestamp wrap.
        let mut p = Placer::default();
        assert_eq!(p.place(s, u32::MAX - 79, 100), 100);
        assert_eq!(p.place(s, 80, 260), 260);
    }

    /// Packets handled 150 ms late (a busy server) keep their timestamp's place, so the
    /// recording has no hole; re-anchoring them to arrival left one of at least 100 ms.
    #[test]
    fn late_packets_land_in_their_own_place() {
        let mut p = Placer::default();
        let s = Ssrc(1);
        assert_eq!(p.place(s, 0, 1000), 1000);
        assert_eq!(p.place(s, 160, 1160), 1160);
        // The next five frames are read 150 ms (1200 samples) late, then the backlog drains.
        for i in 2..7u32 {
            let ts = 160 * i;
            assert_eq!(
                p.place(s, ts, 1000 + u64::from(ts) + 1200),
                1000 + u64::from(ts)
            );
        }
        assert_eq!(p.place(s, 160 * 7, 1000 + 160 * 7), 1000 + 160 * 7);
        // Later than the writer waits: the slot is gone, the side follows arrival.
        assert_eq!(
            p.place(s, 160 * 8, 1000 + 160 * 8 + 2400),
            1000 + 160 * 8 + 2400
        );
    }
}
