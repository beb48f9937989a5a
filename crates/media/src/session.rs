//! The per-leg RTP endpoint: a UDP port whose datagrams a receive thread
//! ([`crate::inbound`]) reads and hands to the leg's receive state (source check, digits,
//! recording, relay), and a tokio task that owns the port and takes the controller's
//! commands and runs the leg's timers; its prompts and idle silence are sent by the shared
//! pacer ([`crate::pacer`]), from state the task and the pacer share.
//!
//! The controller talks to it through a [`MediaHandle`] (commands, non-blocking) and hears
//! back through a bounded channel of [`MediaEvent`]s. The task ends when the handle is
//! closed or its last clone dropped; the port goes back to the pool then.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::Instrument;

use crate::bridge::{
    lock_stereo, next_link_event, Link, LinkEvent, LinkRx, RelayFrame, RelayPayload, SharedStereo,
    StereoRec,
};
use crate::codec::{Codec, FRAME_SAMPLES, PTIME_MS};
use crate::dtmf::{digit_to_event, DtmfReceiver, TelephoneEvent};
use crate::inbound::{self, Readable};
use crate::pacer::{self, Outgoing, Slot};
use crate::port::{PortLease, PortPool};
use crate::prompt::Prompt;
use crate::recorder::{Recorder, RecorderError, RecordingInfo};
use crate::rtp::{self, Pt, RtpPacket, Ssrc};
use crate::source::{SourceLock, Verdict};
use crate::stereo::{Side, StereoRecorder};
use crate::totals::{LossCounter, TOTALS};

/// After this long without an accepted RTP packet (valid, and from a trusted source: a
/// stranger's packets cannot keep a dead call alive) the session reports
/// [`MediaEvent::RemoteSilent`].
pub const REMOTE_SILENT_AFTER: Duration = Duration::from_secs(30);
/// The longest stretch of silence written into a recording for one gap in the received
/// timestamps, so a sender's timestamp jump cannot fill the disk.
pub const MAX_GAP_FILL_SAMPLES: u32 = 8000;
/// Commands and events queued per call; both are rare, a full queue means a stuck peer.
const QUEUE: usize = 64;
const FRAME: Duration = Duration::from_millis(PTIME_MS);
/// Outgoing RFC 4733 event: start (marker), three updates, three ends, one per 20 ms;
/// the tone lasts 100 ms (duration 800).
const DTMF_PACKETS: u8 = 7;
const DTMF_UPDATES: u8 = 4;
const DTMF_VOLUME: u8 = 10;
/// Silence between two queued outgoing digits.
const DTMF_PAUSE: Duration = Duration::from_millis(60);
/// Digits waiting to be sent; beyond this `send_dtmf` drops them.
const DTMF_QUEUE: usize = 32;

/// What was negotiated in SDP for this leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaParams {
    /// The codec we send (we decode both G.711 laws on receipt).
    pub codec: Codec,
    /// Where to send; `None` or an unspecified address (`0.0.0.0`) means "learn it from the
    /// first packet received" (symmetric RTP, for callers behind NAT). It is also whom we
    /// listen to: packets from other sources are dropped, under the rule of
    /// [`crate::source`] (which also covers a caller behind NAT).
    pub remote: Option<SocketAddr>,
    /// Payload type of telephone-event (RFC 4733), if negotiated.
    pub dtmf_pt: Option<u8>,
}

/// What the session reports to the call controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A `play` sequence played to its end (not sent when replaced or stopped).
    PlaybackFinished,
    /// A DTMF key arrived as an RFC 4733 event.
    Digit(char),
    /// A recording ended; the WAV is finalized.
    RecordingFinished(RecordingInfo, RecordStop),
    /// A recording could not be created or written; the message names the file.
    RecordingFailed(PathBuf, String),
    /// No RTP for [`REMOTE_SILENT_AFTER`]; sent once until packets flow again.
    RemoteSilent,
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStop {
    /// `stop_recording` (or a new `record`) was called.
    Stopped,
    /// The maximum length passed.
    MaxLength,
    /// The session closed.
    Closed,
    /// A bridge's stereo recording ended: the bridge was dropped or unbridged, either leg
    /// closed, or a leg was bridged anew. Reported on leg `a` of the bridge. A
    /// [mix](mod@crate::mix)'s recording ends with this too (the mix ended, or the party it
    /// reports to left it), reported on that party's leg.
    BridgeEnded,
}

/// Packet counters of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// Bytes sent (UDP payload).
    pub bytes_sent: u64,
    /// Datagrams received.
    pub packets_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Datagrams dropped as not RTP or of a payload type we do not use.
    pub packets_ignored: u64,
    /// RTP packets (audio or DTMF) dropped because they came from a source other than the
    /// negotiated or latched one ([`crate::source`]); also counted in `packets_received`.
    pub packets_foreign: u64,
    /// Packets sent on this leg that came from the other leg of a bridge, or from a mix
    /// (also counted in `packets_sent`).
    pub packets_relayed: u64,
    /// Frames from the other leg (or the mix) not sent on this leg: its queue was full, a
    /// prompt was playing on this leg, or this leg had no remote (hold).
    pub relay_dropped: u64,
    /// Audio packets the remote numbered that never arrived (gaps in its sequence numbers).
    pub packets_lost: u64,
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Every port of the pool is leased or fails to bind.
    #[error("no free RTP port in {min}-{max}")]
    NoFreePort {
        /// Low end of the range.
        min: u16,
        /// High end of the range.
        max: u16,
    },
    /// The bound socket has no local address (should not happen).
    #[error("RTP socket: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) packets_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    packets_received: AtomicU64,
    bytes_received: AtomicU64,
    packets_ignored: AtomicU64,
    packets_foreign: AtomicU64,
    packets_relayed: AtomicU64,
    pub(crate) relay_dropped: AtomicU64,
    packets_lost: AtomicU64,
    /// Payload type of the codec the leg sends, so a mix encodes towards it in it.
    codec: AtomicU8,
}

impl Counters {
    /// A frame of the bridge or mix not sent on this leg.
    pub(crate) fn relay_dropped(&self) {
        self.relay_dropped.fetch_add(1, Relaxed);
        TOTALS.relay_dropped.fetch_add(1, Relaxed);
    }

    /// The codec the leg sends (as last negotiated).
    pub(crate) fn codec(&self) -> Codec {
        Codec::from_payload_type(self.codec.load(Relaxed)).unwrap_or(Codec::Pcmu)
    }
}

enum Command {
    Play(Vec<Arc<Prompt>>),
    StopPlayback,
    Record(PathBuf, Duration),
    StopRecording,
    Bridge(Box<Link>),
    SendDtmf(char),
    IdleSilence(bool),
}

/// Starts per-call media sessions.
pub struct MediaSession;

impl MediaSession {
    /// Binds a port from `pool` and spawns the session task on the current runtime (it
    /// waits for nothing: the bind is a plain syscall).
    pub fn start(
        pool: &PortPool,
        params: MediaParams,
    ) -> Result<(MediaHandle, mpsc::Receiver<MediaEvent>), MediaError> {
        let (socket, lease) = pool.bind().ok_or_else(|| {
            let (min, max) = pool.range();
            MediaError::NoFreePort { min, max }
        })?;
        let local = socket.local_addr()?;
        // Read by a receive thread (crate::inbound), written by the pacer and the relay,
        // all through this one descriptor; the runtime's reactor never sees it.
        socket.set_nonblocking(true)?;
        let socket = Arc::new(socket);
        let (cmd_tx, cmd_rx) = mpsc::channel(QUEUE);
        let (close_tx, close_rx) = watch::channel(false);
        let (ev_tx, ev_rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(Counters::default());
        let out = Outgoing::new(
            params.codec,
            usable(params.remote),
            std::time::Instant::now(),
        );
        let slot = Slot::new(out, socket.clone(), stats.clone(), &ev_tx);
        let task = Task::new(params, socket, lease, ev_tx, stats.clone(), slot.clone());
        let inbound = task.inbound.clone();
        tokio::spawn(
            task.run(cmd_rx, close_rx)
                .instrument(tracing::debug_span!("rtp", %local)),
        );
        let handle = MediaHandle {
            inner: Arc::new(HandleInner {
                local,
                cmd: cmd_tx,
                close: close_tx,
                stats,
                slot,
                inbound,
            }),
        };
        Ok((handle, ev_rx))
    }
}

/// Controls one session. Cheap to clone; the session closes when the last clone drops.
/// Every method returns at once: commands are queued to the session task.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    local: SocketAddr,
    cmd: mpsc::Sender<Command>,
    close: watch::Sender<bool>,
    stats: Arc<Counters>,
    /// The session's outgoing side, where the other leg of a bridge sends.
    slot: Arc<Slot>,
    /// The session's receiving side, which a renegotiation changes at once.
    inbound: Arc<Inbound>,
}

impl std::fmt::Debug for HandleInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandleInner")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Play(_) => "Play",
            Command::StopPlayback => "StopPlayback",
            Command::Record(..) => "Record",
            Command::StopRecording => "StopRecording",
            Command::Bridge(_) => "Bridge",
            Command::SendDtmf(_) => "SendDtmf",
            Command::IdleSilence(_) => "IdleSilence",
        })
    }
}

impl MediaHandle {
    /// Our RTP address, for the SDP answer (with a wildcard pool address, the server
    /// substitutes its advertised IP).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Applies renegotiated parameters (re-INVITE): new remote, codec or DTMF type. Applied
    /// at once, not queued: every packet read after this returns is judged by them.
    pub fn update(&self, params: MediaParams) {
        self.inner.inbound.update(params);
    }

    /// Plays `clips` one after another, replacing whatever is playing. The first packet
    /// carries the marker bit; [`MediaEvent::PlaybackFinished`] follows the last.
    pub fn play(&self, clips: Vec<Arc<Prompt>>) {
        self.send(Command::Play(clips));
    }

    /// Stops playback silently (no `PlaybackFinished`), e.g. on barge-in.
    pub fn stop_playback(&self) {
        self.send(Command::StopPlayback);
    }

    /// Records the audio the remote sends into a WAV at `path`, until
    /// [`MediaHandle::stop_recording`], `max` or close. A recording already running is
    /// finished first.
    pub fn record(&self, path: PathBuf, max: Duration) {
        self.send(Command::Record(path, max));
    }

    /// Ends the recording; [`MediaEvent::RecordingFinished`] follows.
    pub fn stop_recording(&self) {
        self.send(Command::StopRecording);
    }

    /// Sends `digit` (`0`–`9`, `*`, `#`, `A`–`D`) to the remote as an RFC 4733
    /// telephone-event: a start packet with the marker bit, three updates and three end
    /// packets, all with the event's start timestamp, one every 20 ms (100 ms of tone).
    /// Digits sent in a row are queued and sent one after another. Ignored (with a log
    /// line) when no telephone-event payload type was negotiated or the key is not a DTMF
    /// key; nothing is sent while the leg has no remote.
    pub fn send_dtmf(&self, digit: char) {
        self.send(Command::SendDtmf(digit));
    }

    /// Whether the session sends silence while it has nothing else to send (on by
    /// default): one 20 ms frame of encoded digital silence in the negotiated codec per
    /// packet time whenever no prompt is playing — while waiting for keys, while
    /// recording, between prompts, and in a bridge when the other leg has been quiet for
    /// a moment (200 ms). Carriers' session border controllers drop calls whose media has
    /// gone one-way silent; this keeps RTP flowing towards the remote. The stream stays
    /// one stream: sequence numbers and timestamps run on through silence and prompts, and
    /// each prompt still starts with the marker bit. Nothing is sent while the leg has no
    /// remote, nor while an outgoing DTMF digit is being sent.
    pub fn set_idle_silence(&self, on: bool) {
        self.send(Command::IdleSilence(on));
    }

    /// Ends the session (also done when the last handle drops). A running recording is
    /// finalized and reported with [`RecordStop::Closed`]; then the event channel ends.
    pub fn close(&self) {
        self.inner.close.send_replace(true);
    }

    /// Packet counters so far.
    pub fn stats(&self) -> MediaStats {
        let c = &self.inner.stats;
        MediaStats {
            packets_sent: c.packets_sent.load(Relaxed),
            bytes_sent: c.bytes_sent.load(Relaxed),
            packets_received: c.packets_received.load(Relaxed),
            bytes_received: c.bytes_received.load(Relaxed),
            packets_ignored: c.packets_ignored.load(Relaxed),
            packets_foreign: c.packets_foreign.load(Relaxed),
            packets_relayed: c.packets_relayed.load(Relaxed),
            relay_dropped: c.relay_dropped.load(Relaxed),
            packets_lost: c.packets_lost.load(Relaxed),
        }
    }

    pub(crate) fn same_session(&self, other: &MediaHandle) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn counters(&self) -> Arc<Counters> {
        self.inner.stats.clone()
    }

    pub(crate) fn slot(&self) -> Arc<Slot> {
        self.inner.slot.clone()
    }

    pub(crate) fn send_link(&self, link: Link) {
        self.send(Command::Bridge(Box::new(link)));
    }

    fn send(&self, cmd: Command) {
        if let Err(e) = self.inner.cmd.try_send(cmd) {
            tracing::warn!(local = %self.inner.local, "media command dropped: {e}");
        }
    }
}

/// A recording in progress, kept aligned to the sender's RTP clock.
struct Recording {
    recorder: Recorder,
    ssrc: Option<Ssrc>,
    next_ts: Option<u32>,
}

impl Recording {
    /// Writes a packet's audio, first filling a timestamp gap (lost packets, silence
    /// suppression) with silence so the file's length follows the sender's clock.
    fn on_audio(&mut self, codec: Codec, p: &RtpPacket<'_>, pcm: &mut Vec<i16>) {
        if self.ssrc != Some(p.ssrc) {
            self.ssrc = Some(p.ssrc);
            self.next_ts = None;
        }
        if let Some(next) = self.next_ts {
            let gap = p.timestamp.wrapping_sub(next) as i32;
            if gap < 0 && gap > -(MAX_GAP_FILL_SAMPLES as i32) {
                return; // late or duplicate: its place is already written
            }
            if gap > 0 {
                self.recorder
                    .push_silence((gap as u32).min(MAX_GAP_FILL_SAMPLES));
            }
            // A large backwards jump is a restarted clock: continue from it.
        }
        pcm.clear();
        codec.decode(p.payload, pcm);
        self.recorder.push(pcm);
        self.next_ts = Some(p.timestamp.wrapping_add(pcm.len() as u32));
    }
}

/// This leg's side of a bridge (or of a mix).
struct Bridge {
    /// The link's id: the leg a frame is relayed to must still be in it.
    id: u64,
    /// Towards the mixer; in a bridge it only tells the other leg that this one left.
    relay_tx: mpsc::Sender<RelayFrame>,
    /// In a bridge: the other leg's outgoing side, where this leg's audio is sent.
    peer: Option<Arc<Slot>>,
    /// In a recorded bridge: the recording and this leg's side of it.
    stereo: Option<(SharedStereo, Side)>,
    /// The next relayed packet starts a talkspurt (bridge start, after a prompt): of the
    /// other leg's stream in a bridge, of this leg's in a mix.
    marker_pending: bool,
}

impl Bridge {
    /// Audio this leg received: recorded on its side and sent on the other leg (in a
    /// bridge) or handed to the mixer.
    fn on_audio(
        &mut self,
        codec: Codec,
        p: &RtpPacket<'_>,
        arrived: std::time::Instant,
        scratch: &mut Scratch,
    ) {
        if let Some((shared, side)) = &self.stereo {
            if let Some(rec) = lock_stereo(shared).as_mut() {
                rec.push(*side, p.ssrc, p.timestamp, arrived, codec, p.payload);
            }
        }
        if let Some(peer) = &self.peer {
            let f = Relayed {
                codec,
                payload: p.payload,
                marker: p.marker,
            };
            relay(peer, self.id, &mut self.marker_pending, f, arrived, scratch);
            return;
        }
        let Some(payload) = RelayPayload::new(p.payload) else {
            return;
        };
        let frame = RelayFrame {
            codec,
            payload,
            marker: p.marker,
        };
        // Full: the mixer drains every tick, so it is behind; closed: the mix ended and
        // its end reaches us shortly.
        let _ = self.relay_tx.try_send(frame);
    }
}

/// A frame to relay, as it arrived.
struct Relayed<'a> {
    codec: Codec,
    payload: &'a [u8],
    marker: bool,
}

/// Buffers a session reuses for every packet.
struct Scratch {
    pcm: Vec<i16>,
    transcoded: Vec<u8>,
}

/// Sends a relayed frame on `slot`'s leg (the other leg of a bridge, or this leg with the
/// mix's audio) at `now` (a bridged packet's arrival: the clock is read once a packet),
/// unless that leg has left link `link`; dropped and counted there while the leg plays a
/// prompt or has no remote.
fn relay(
    slot: &Slot,
    link: u64,
    marker_pending: &mut bool,
    f: Relayed<'_>,
    now: std::time::Instant,
    scratch: &mut Scratch,
) {
    let stats = slot.stats();
    let mut st = slot.lock();
    if st.out.link != Some(link) {
        return;
    }
    if st.out.playback.is_some() || st.out.remote.is_none() {
        *marker_pending = true;
        stats.relay_dropped();
        return;
    }
    let codec = st.out.codec;
    let start = std::mem::take(marker_pending) || f.marker;
    // The same codec on both legs (the usual case) is sent as it came, with no copy.
    let payload: &[u8] = if f.codec == codec {
        f.payload
    } else {
        scratch.pcm.clear();
        f.codec.decode(f.payload, &mut scratch.pcm);
        scratch.transcoded.clear();
        codec.encode(&scratch.pcm, &mut scratch.transcoded);
        &scratch.transcoded
    };
    let sent = st.send_with(stats, |out, buf| {
        let gap = out.stamp(now, payload.len() as u32);
        if start || gap {
            out.sender.start_talkspurt();
        }
        out.sender
            .build(Pt(codec.payload_type()), payload, payload.len() as u32, buf);
        out.last_relayed = Some(now);
        out.remote
    });
    if sent {
        stats.packets_relayed.fetch_add(1, Relaxed);
    }
}

/// Outgoing RFC 4733 digits.
#[derive(Default)]
struct DtmfOut {
    pending: VecDeque<u8>,
    /// Event code, RTP timestamp and packets sent of the event in progress.
    current: Option<(u8, u32, u8)>,
    /// When the next packet (or the next event) is due.
    next_at: Option<Instant>,
}

/// What a session does with what it receives, shared by its task and handle (commands
/// and renegotiations change it) and a receive thread ([`crate::inbound`], which reads the
/// socket and runs [`Receive::on_datagram`]).
struct Inbound {
    state: Mutex<Receive>,
    /// The span the session was started in (the call's), for what is logged on a receive
    /// thread.
    span: tracing::Span,
}

impl Inbound {
    fn lock(&self) -> MutexGuard<'_, Receive> {
        // Plain data every holder leaves consistent; a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// New SDP parameters.
    fn update(&self, p: MediaParams) {
        let mut rx = self.lock();
        rx.stats.codec.store(p.codec.payload_type(), Relaxed);
        rx.codec = p.codec;
        rx.dtmf_pt = p.dtmf_pt;
        rx.sources.update(p.remote);
        // A refresh re-INVITE repeats the old address; keep a latched one then, or a
        // caller behind NAT would go deaf at every session refresh.
        if p.remote != rx.sdp_remote {
            rx.sdp_remote = p.remote;
            rx.remote = usable(p.remote);
        }
        let mut st = rx.slot.lock();
        st.out.codec = p.codec;
        st.out.remote = rx.remote;
    }
}

impl Readable for Inbound {
    fn readable(&self, buf: &mut [u8]) {
        let mut rx = self.lock();
        let Some(socket) = rx.socket.as_ref() else {
            return; // closed while this wake-up was under way
        };
        // What it logs is the call's, as it was when the call's own task read the socket.
        let _in_call = self.span.enter();
        match socket.recv_from(buf) {
            Ok((n, src)) => rx.on_datagram(&buf[..n], src),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // e.g. ICMP errors surfacing on some platforms; the socket is still fine.
            Err(e) => {
                tracing::debug!(local = ?socket.local_addr().ok(), error = %e, "RTP receive error")
            }
        }
    }
}

/// The receiving side of a session.
struct Receive {
    /// The session's socket, for reading; `None` once the session ended.
    socket: Option<Arc<std::net::UdpSocket>>,
    codec: Codec,
    /// The address SDP gave, as given.
    sdp_remote: Option<SocketAddr>,
    /// Where we send: the SDP address if usable, else the latched source.
    remote: Option<SocketAddr>,
    /// Whom we listen to.
    sources: SourceLock,
    dtmf_pt: Option<u8>,
    /// What the pacer sends from (the remote learned here is set there too).
    slot: Arc<Slot>,
    recording: Option<Recording>,
    bridge: Option<Bridge>,
    dtmf: DtmfReceiver,
    /// The session's events, without keeping the channel open: it ends with the task
    /// (the handle keeps this state alive).
    events: mpsc::WeakSender<MediaEvent>,
    stats: Arc<Counters>,
    /// When the last packet was accepted.
    last_rx: std::time::Instant,
    /// [`MediaEvent::RemoteSilent`] was reported and no packet came since.
    silent_reported: bool,
    loss: LossCounter,
    scratch: Scratch,
}

/// The session's task: commands, timers (recording's end, outgoing digits, the remote's
/// silence) and a mix's audio; what arrives on the socket is handled by [`Inbound`].
struct Task {
    inbound: Arc<Inbound>,
    /// The port goes back to the pool when the task ends.
    _lease: PortLease,
    /// What the pacer sends from: prompt, numbering, silence (shared with the pacer).
    slot: Arc<Slot>,
    /// When the recording in progress must stop.
    rec_deadline: Option<Instant>,
    dtmf_out: DtmfOut,
    events: mpsc::Sender<MediaEvent>,
    stats: Arc<Counters>,
}

/// Reports a recording's end on `events` once its writer thread has finalized it, from a
/// small task: the session never waits on the disk.
fn report_finish(
    events: mpsc::Sender<MediaEvent>,
    path: PathBuf,
    why: RecordStop,
    finished: impl std::future::Future<Output = Result<RecordingInfo, RecorderError>> + Send + 'static,
) {
    tokio::spawn(
        async move {
            let ev = match finished.await {
                Ok(info) => MediaEvent::RecordingFinished(info, why),
                Err(e) => MediaEvent::RecordingFailed(path, e.to_string()),
            };
            if events.send(ev).await.is_err() {
                tracing::debug!(?why, "recording finished after the controller left");
            }
        }
        .in_current_span(),
    );
}

fn usable(addr: Option<SocketAddr>) -> Option<SocketAddr> {
    addr.filter(|a| !a.ip().is_unspecified() && a.port() != 0)
}

impl Task {
    fn new(
        params: MediaParams,
        socket: Arc<std::net::UdpSocket>,
        lease: PortLease,
        events: mpsc::Sender<MediaEvent>,
        stats: Arc<Counters>,
        slot: Arc<Slot>,
    ) -> Task {
        stats.codec.store(params.codec.payload_type(), Relaxed);
        let receive = Receive {
            socket: Some(socket),
            codec: params.codec,
            sdp_remote: params.remote,
            remote: usable(params.remote),
            sources: SourceLock::new(params.remote),
            dtmf_pt: params.dtmf_pt,
            slot: slot.clone(),
            recording: None,
            bridge: None,
            dtmf: DtmfReceiver::new(),
            events: events.downgrade(),
            stats: stats.clone(),
            last_rx: std::time::Instant::now(),
            silent_reported: false,
            loss: LossCounter::default(),
            scratch: Scratch {
                pcm: Vec::with_capacity(FRAME_SAMPLES),
                transcoded: Vec::with_capacity(FRAME_SAMPLES),
            },
        };
        Task {
            inbound: Arc::new(Inbound {
                state: Mutex::new(receive),
                span: tracing::Span::current(),
            }),
            _lease: lease,
            slot,
            rec_deadline: None,
            dtmf_out: DtmfOut::default(),
            events,
            stats,
        }
    }

    fn rx(&self) -> MutexGuard<'_, Receive> {
        self.inbound.lock()
    }

    async fn run(mut self, mut cmds: mpsc::Receiver<Command>, mut close: watch::Receiver<bool>) {
        // Prompts and silence are paced by the shared pacer (crate::pacer), not here.
        let mut link: Option<LinkRx> = None;
        // What was asked before the task first ran takes effect before any packet leaves
        // (silence turned off at once, a prompt played from its first frame): only then
        // does the pacer learn of the session, and only then is anything received.
        while let Ok(cmd) = cmds.try_recv() {
            self.on_command(cmd, &mut link);
        }
        pacer::register(self.slot.clone());
        let fd = self.rx().socket.as_ref().map(|s| s.as_raw_fd());
        let registered = fd.map(|fd| inbound::register(fd, self.inbound.clone()));
        let registration = match registered {
            Some(Ok(r)) => Some(r),
            None => None,
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot receive RTP on this session");
                None
            }
        };
        let far = Instant::now() + Duration::from_secs(86400 * 365);
        let rec_deadline = tokio::time::sleep_until(far);
        let silent_timer = tokio::time::sleep_until(Instant::now() + REMOTE_SILENT_AFTER);
        let dtmf_timer = tokio::time::sleep_until(far);
        tokio::pin!(rec_deadline, silent_timer, dtmf_timer);
        loop {
            if let Some(at) = self.dtmf_out.next_at {
                if dtmf_timer.deadline() != at {
                    dtmf_timer.as_mut().reset(at);
                }
            }
            if let Some(at) = self.rec_deadline {
                if rec_deadline.deadline() != at {
                    rec_deadline.as_mut().reset(at);
                }
            }
            tokio::select! {
                biased;
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd, &mut link),
                    None => break,
                },
                // After the commands: whatever was asked before `close` still happens.
                _ = close.changed() => break,
                () = &mut dtmf_timer, if self.dtmf_out.next_at.is_some() => {
                    self.on_dtmf_timer();
                    self.sync_dtmf_busy();
                }
                () = &mut rec_deadline, if self.rec_deadline.is_some() => {
                    self.finish_recording(RecordStop::MaxLength);
                }
                () = &mut silent_timer => {
                    let next = self.check_silence();
                    silent_timer.as_mut().reset(next);
                }
                ev = next_link_event(&mut link) => match ev {
                    LinkEvent::Frame(f) => self.on_relay(f),
                    LinkEvent::Ended => {
                        link = None;
                        self.end_bridge();
                    }
                },
            }
        }
        // Nothing more is received; the socket closes when the pacer lets go of it too,
        // and the port is returned after that.
        drop(registration);
        let socket = self.rx().socket.take();
        drop(socket);
        self.slot.close();
        self.finish_recording(RecordStop::Closed);
        self.end_bridge();
        let dropped = self.rx().sources.dropped();
        if dropped > 0 {
            tracing::info!(
                dropped,
                "media session closed; RTP from unexpected sources was dropped"
            );
        } else {
            tracing::debug!("media session closed");
        }
    }

    /// Reports [`MediaEvent::RemoteSilent`] once the remote has sent nothing for
    /// [`REMOTE_SILENT_AFTER`]; returns when to look again. The receive thread only notes
    /// each packet's arrival, so this looks at least once a second while silence is
    /// reported (to re-arm when packets come again), and otherwise when it would be due.
    fn check_silence(&mut self) -> Instant {
        let now = std::time::Instant::now();
        let mut rx = self.rx();
        let due = rx.last_rx + REMOTE_SILENT_AFTER;
        if rx.silent_reported {
            return Instant::now() + Duration::from_secs(1);
        }
        if now >= due {
            rx.silent_reported = true;
            drop(rx);
            self.emit(MediaEvent::RemoteSilent);
            return Instant::now() + Duration::from_secs(1);
        }
        Instant::from_std(due)
    }

    fn on_command(&mut self, cmd: Command, link: &mut Option<LinkRx>) {
        match cmd {
            Command::Play(clips) => {
                if !self.slot.lock().out.play(clips) {
                    self.emit(MediaEvent::PlaybackFinished);
                }
            }
            Command::StopPlayback => self.slot.lock().out.playback = None,
            Command::StopRecording => self.finish_recording(RecordStop::Stopped),
            Command::Record(path, max) => self.start_recording(path, max),
            Command::Bridge(l) => {
                self.end_bridge();
                let Link {
                    id,
                    relay_tx,
                    relay_rx,
                    stop,
                    peer,
                    stereo,
                    report_to,
                } = *l;
                if let Some(tx) = report_to {
                    // Refused only if the mix already ended; nothing to report then.
                    let _ = tx.send(self.events.clone());
                }
                let stereo = stereo.map(|s| {
                    if let Some((target, start)) = s.create {
                        match StereoRecorder::create(&target.path, start) {
                            Ok(r) => *lock_stereo(&s.shared) = Some(StereoRec::new(r)),
                            Err(e) => {
                                self.emit(MediaEvent::RecordingFailed(target.path, e.to_string()))
                            }
                        }
                    }
                    (s.shared, s.side)
                });
                self.slot.lock().out.link = Some(id);
                self.rx().bridge = Some(Bridge {
                    id,
                    relay_tx,
                    peer,
                    stereo,
                    marker_pending: true,
                });
                *link = Some(LinkRx { relay_rx, stop });
                tracing::debug!("bridged");
            }
            Command::SendDtmf(digit) => {
                self.queue_dtmf(digit);
                self.sync_dtmf_busy();
            }
            Command::IdleSilence(on) => self.slot.lock().out.idle_silence = on,
        }
    }

    /// Tells the pacer whether a digit is being sent (no silence meanwhile).
    fn sync_dtmf_busy(&self) {
        self.slot.lock().out.dtmf_busy = self.dtmf_out.next_at.is_some();
    }

    /// A frame of the mix's audio, sent on this leg.
    fn on_relay(&mut self, f: RelayFrame) {
        let mut rx = self.rx();
        let Receive {
            bridge, scratch, ..
        } = &mut *rx;
        let Some(b) = bridge.as_mut() else {
            return;
        };
        let f2 = Relayed {
            codec: f.codec,
            payload: f.payload.as_slice(),
            marker: f.marker,
        };
        let now = std::time::Instant::now();
        relay(&self.slot, b.id, &mut b.marker_pending, f2, now, scratch);
    }

    /// Ends this leg's side of the bridge; a stereo recording is finalized and reported
    /// off the task, as [`Task::finish_recording`] does.
    fn end_bridge(&mut self) {
        let Some(b) = self.rx().bridge.take() else {
            return;
        };
        self.slot.lock().out.link = None;
        tracing::debug!("unbridged");
        // Leg `a` finalizes the recording; leg `b` only lets go of it.
        let Some((shared, Side::Left)) = b.stereo else {
            return;
        };
        let Some(rec) = lock_stereo(&shared).take() else {
            return;
        };
        let path = rec.recorder.path().to_path_buf();
        let finished = rec.recorder.finish_async();
        report_finish(self.events.clone(), path, RecordStop::BridgeEnded, finished);
    }

    fn queue_dtmf(&mut self, digit: char) {
        if self.rx().dtmf_pt.is_none() {
            tracing::debug!(%digit, "no telephone-event negotiated; digit not sent");
            return;
        }
        let Some(code) = digit_to_event(digit) else {
            tracing::warn!(?digit, "not a DTMF key; not sent");
            return;
        };
        if self.dtmf_out.pending.len() >= DTMF_QUEUE {
            tracing::warn!(%digit, "too many digits queued; dropped");
            return;
        }
        self.dtmf_out.pending.push_back(code);
        if self.dtmf_out.next_at.is_none() {
            self.dtmf_out.next_at = Some(Instant::now());
        }
    }

    /// Sends the next packet of the outgoing event (starting the next queued one if none
    /// is in progress) and schedules the one after.
    fn on_dtmf_timer(&mut self) {
        let now = Instant::now();
        let Some(pt) = self.rx().dtmf_pt else {
            // Renegotiated away mid-event.
            self.dtmf_out = DtmfOut::default();
            return;
        };
        let (code, ts, n) = match self.dtmf_out.current {
            Some(c) => c,
            None => {
                let Some(code) = self.dtmf_out.pending.pop_front() else {
                    self.dtmf_out.next_at = None;
                    return;
                };
                let mut st = self.slot.lock();
                st.out.stamp(now.into_std(), 0);
                (code, st.out.sender.timestamp(), 0)
            }
        };
        let end = n >= DTMF_UPDATES;
        let ev = TelephoneEvent {
            event: code,
            end,
            volume: DTMF_VOLUME,
            duration: FRAME_SAMPLES as u16 * (u16::from(n.min(DTMF_UPDATES)) + 1),
        };
        // Numbered even without a remote (nothing is sent then).
        self.slot.lock().send_with(&self.stats, |out, buf| {
            out.sender.build_at(Pt(pt), &ev.to_bytes(), ts, n == 0, buf);
            out.remote
        });
        let due = self.dtmf_out.next_at.unwrap_or(now);
        if n + 1 < DTMF_PACKETS {
            self.dtmf_out.current = Some((code, ts, n + 1));
            // Paced even after a stall: never two packets closer than 10 ms.
            self.dtmf_out.next_at = Some((due + FRAME).max(now + FRAME / 2));
        } else {
            self.dtmf_out.current = None;
            self.dtmf_out.next_at = (!self.dtmf_out.pending.is_empty()).then(|| now + DTMF_PAUSE);
        }
    }

    fn start_recording(&mut self, path: PathBuf, max: Duration) {
        self.finish_recording(RecordStop::Stopped);
        match Recorder::create(&path) {
            Ok(recorder) => {
                // Clamped so an absurd `max` cannot overflow the clock.
                self.rec_deadline = Some(Instant::now() + max.min(Duration::from_secs(86_400)));
                self.rx().recording = Some(Recording {
                    recorder,
                    ssrc: None,
                    next_ts: None,
                });
            }
            Err(e) => self.emit(MediaEvent::RecordingFailed(path, e.to_string())),
        }
    }

    /// Hands the recorder to a small task that waits for the writer thread to finalize
    /// the file, then reports; the session itself never waits on the disk.
    fn finish_recording(&mut self, why: RecordStop) {
        self.rec_deadline = None;
        let Some(rec) = self.rx().recording.take() else {
            return;
        };
        let path = rec.recorder.path().to_path_buf();
        report_finish(self.events.clone(), path, why, rec.recorder.finish_async());
    }

    fn emit(&self, ev: MediaEvent) {
        if let Err(e) = self.events.try_send(ev) {
            tracing::warn!("media event dropped: {e}");
        }
    }
}

impl Receive {
    /// A datagram from the socket: counted, checked (RTP, payload type, source), then
    /// heard as a key, recorded, relayed.
    fn on_datagram(&mut self, data: &[u8], src: SocketAddr) {
        self.stats.packets_received.fetch_add(1, Relaxed);
        TOTALS.packets_received.fetch_add(1, Relaxed);
        self.stats
            .bytes_received
            .fetch_add(data.len() as u64, Relaxed);
        let Some(p) = rtp::parse(data) else {
            self.stats.packets_ignored.fetch_add(1, Relaxed);
            return;
        };
        let is_dtmf = self.dtmf_pt == Some(p.pt.0);
        // Either G.711 law is decoded: an answer listing both lets the remote send either.
        let audio = Codec::from_payload_type(p.pt.0).filter(|_| !is_dtmf);
        if !is_dtmf && audio.is_none() {
            self.stats.packets_ignored.fetch_add(1, Relaxed);
            return;
        }
        let arrived = std::time::Instant::now();
        // Before anything is heard, recorded, relayed or taken as a key.
        match self.sources.handle_packet(src, p.ssrc, arrived) {
            Verdict::Accept => {}
            Verdict::Learned => {
                tracing::debug!(%src, sdp = ?self.sources.sdp(), "latched RTP source");
                if self.sources.follows_source() {
                    self.remote = Some(src);
                    self.slot.lock().out.remote = self.remote;
                }
            }
            Verdict::Drop { report } => {
                self.stats.packets_foreign.fetch_add(1, Relaxed);
                if report {
                    tracing::warn!(
                        %src,
                        sdp = ?self.sources.sdp(),
                        latched = ?self.sources.latched(),
                        ssrc = p.ssrc.0,
                        "RTP from an unexpected source dropped (counted, not logged again)"
                    );
                }
                return;
            }
        }
        if self.remote.is_none() {
            tracing::debug!(%src, "sending to the RTP source");
            self.remote = Some(src);
            self.slot.lock().out.remote = self.remote;
        }
        self.last_rx = arrived;
        self.silent_reported = false;
        if is_dtmf {
            if let Some(d) = self.dtmf.on_packet(p.timestamp, p.payload) {
                self.emit(MediaEvent::Digit(d));
            }
        } else if let Some(codec) = audio {
            let lost = self.loss.on_packet(p.ssrc, p.seq);
            if lost > 0 {
                self.stats.packets_lost.fetch_add(lost, Relaxed);
                TOTALS.packets_lost.fetch_add(lost, Relaxed);
            }
            if let Some(rec) = self.recording.as_mut() {
                rec.on_audio(codec, &p, &mut self.scratch.pcm);
            }
            if let Some(b) = self.bridge.as_mut() {
                b.on_audio(codec, &p, arrived, &mut self.scratch);
            }
        }
    }

    fn emit(&self, ev: MediaEvent) {
        let Some(events) = self.events.upgrade() else {
            return; // the session ended
        };
        if let Err(e) = events.try_send(ev) {
            tracing::warn!("media event dropped: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leg's outgoing side with a plain socket as its phone.
    fn leg_out() -> (Arc<Slot>, Arc<Counters>, std::net::UdpSocket) {
        let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        phone
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (events, _) = mpsc::channel(1);
        let stats = Arc::new(Counters::default());
        let out = Outgoing::new(
            Codec::Pcmu,
            Some(phone.local_addr().unwrap()),
            std::time::Instant::now(),
        );
        (
            Slot::new(out, Arc::new(sock), stats.clone(), &events),
            stats,
            phone,
        )
    }

    /// The next packet the phone receives.
    fn next_packet(phone: &std::net::UdpSocket) -> Vec<u8> {
        let mut buf = [0u8; 2048];
        let n = phone.recv(&mut buf).expect("a packet within the timeout");
        buf[..n].to_vec()
    }

    /// The other leg of a bridge sends what this leg relays only while it is still in
    /// the same link: a leg bridged anew (or gone into a mix) gets nothing from its old
    /// partner, even from a packet its partner was handling at that moment.
    #[test]
    fn a_frame_relayed_from_a_link_the_leg_left_is_not_sent() {
        let (slot, stats, phone) = leg_out();
        let mut scratch = Scratch {
            pcm: Vec::new(),
            transcoded: Vec::new(),
        };
        let frame = |payload| Relayed {
            codec: Codec::Pcmu,
            payload,
            marker: false,
        };
        let audio = [0x55u8; FRAME_SAMPLES];
        let send = |slot: &Slot, link, marker: &mut bool, scratch: &mut Scratch| {
            relay(
                slot,
                link,
                marker,
                frame(&audio),
                std::time::Instant::now(),
                scratch,
            )
        };
        let mut marker = true;
        slot.lock().out.link = Some(2);
        send(&slot, 1, &mut marker, &mut scratch);
        assert_eq!(stats.packets_sent.load(Relaxed), 0);
        assert_eq!(stats.packets_relayed.load(Relaxed), 0);
        assert!(marker, "nothing was sent: the talkspurt has not started");

        send(&slot, 2, &mut marker, &mut scratch);
        let got = next_packet(&phone);
        let p = rtp::parse(&got).unwrap();
        assert!(p.marker, "the first frame relayed starts a talkspurt");
        assert_eq!(p.payload, &audio[..]);
        assert_eq!(stats.packets_relayed.load(Relaxed), 1);
        assert!(!marker);

        // Transcoded when the leg sends the other law.
        slot.lock().out.codec = Codec::Pcma;
        send(&slot, 2, &mut marker, &mut scratch);
        let got = next_packet(&phone);
        let p = rtp::parse(&got).unwrap();
        assert_eq!(p.pt, Pt(Codec::Pcma.payload_type()));
        let (mut pcm, mut back) = (Vec::new(), Vec::new());
        Codec::Pcmu.decode(&audio, &mut pcm);
        Codec::Pcma.encode(&pcm, &mut back);
        assert_eq!(p.payload, &back[..]);
        assert_eq!(stats.packets_sent.load(Relaxed), 2);
    }
}
