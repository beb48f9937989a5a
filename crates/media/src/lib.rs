//! # hotline-media: the media plane of a call
//!
//! Every call's audio passes through us (the B2BUA anchors media), and this crate is what
//! handles it: one RTP endpoint per call leg that plays IVR prompts, hears and sends DTMF,
//! records voicemail, relays (and records in stereo) a citizen's leg to an agent's, and mixes
//! three or more legs (conference, supervisor listen, whisper, barge-in). It knows nothing
//! of SIP. The server's call controller reads the SDP, then
//! hands us a [`MediaParams`] (codec, remote address, telephone-event payload type) and
//! puts our [`MediaHandle::local_addr`] in its answer; DTMF that arrives by SIP INFO is
//! parsed here too ([`parse_dtmf_relay`]) but delivered by the controller.
//!
//! ## Pieces, bottom up
//! - [`g711`]: µ-law and A-law by hand, bit-exact with the ITU-T G.191 reference.
//! - [`codec`]: PCMU/PCMA as negotiated (payload types 0 and 8, 8 kHz, 20 ms frames).
//! - [`rtp`]: parsing (garbage is `None`, never a panic) and the sender's numbering.
//! - [`dtmf`]: RFC 4733 events, reported once per key press; SIP INFO bodies.
//! - [`prompt`]: WAV prompts decoded once at start, pre-encoded for both codecs and shared
//!   by `Arc` — a call holds pointers, never copies of audio.
//! - [`writer`]: the process's few recording writer threads, each behind one bounded
//!   channel of fixed-size frames, shared by every recording.
//! - [`recorder`]: mono WAV writing (voicemail) on a writer thread.
//! - [`port`]: the even RTP ports, chosen at random, leased and returned.
//! - [`source`]: whom a leg listens to — the negotiated address, or one latched source
//!   ([`SourceLock`]).
//! - [`stereo`]: the two-channel WAV of a bridged call, on a writer thread, on its own
//!   clock.
//! - [`pacer`](mod@pacer): the one 20 ms tick of the process: a thread that sends every
//!   session's next prompt or silence frame with a non-blocking `sendto`, from a sans-IO
//!   per-session core (prompt position, RTP numbering, timestamps).
//! - [`inbound`]: the receive side of the process: two threads, each on one epoll set of
//!   RTP sockets, that read what arrives and hand it to the session's receive state.
//! - [`session`]: one call leg's endpoint tying these together: its receive state (source,
//!   digits, recording, relay; run on a receive thread), and a tokio task that takes the
//!   controller's commands, runs the leg's timers and sends DTMF
//!   ([`MediaHandle::send_dtmf`]).
//! - [`bridge`](mod@bridge): relaying two sessions (citizen and agent legs) to each other, with the
//!   optional stereo recording ([`bridge()`], [`BridgeHandle`], [`StereoTarget`]).
//! - [`mix`](mod@mix): two or more sessions mixed on a 20 ms tick, with a "who hears whom"
//!   matrix that may change while the mix runs (three-way conference, supervisor listen,
//!   whisper, barge-in) and the same optional stereo recording ([`mix()`], [`MixHandle`],
//!   [`Hearing`]).
//!
//! ## Time
//! RTP timestamps are media time, and media time must follow the wall clock even when
//! nothing is sent: the sender derives each packet's timestamp from the tick's instant
//! (frames of 20 ms since the session began), so a silence between two prompts, or a tick
//! the loaded machine skipped, appears as a timestamp gap and not as audio played late
//! (the [pacer](mod@pacer) skips missed ticks, it never bursts them). All sessions share
//! the pacer's 20 ms grid, so a prompt starts at the next tick (within 20 ms).
//! The first packet of every playback carries the marker bit (a new talkspurt). A session
//! with nothing to play sends a frame of encoded silence every 20 ms (while the caller
//! records a message or keys digits, between prompts), so no carrier's session border
//! controller sees one-way silence and drops the call
//! ([`MediaHandle::set_idle_silence`]). On the receiving side the recorder trusts the *sender's*
//! timestamps: a gap (lost packets, silence suppression) is written as silence, at most one
//! second per gap, so a voicemail lasts as long as the caller spoke.
//!
//! ## Who may talk into a call
//! Only the peer: RTP (audio and RFC 4733 DTMF alike) is accepted from the address SDP
//! negotiated, or from the one source latched from the call's first packets when that
//! address is unusable, behind a NAT, or on the same host with another port; once a packet
//! has been accepted the leg is locked, and a new source is learned only with the same SSRC
//! after [`source::RELEARN_AFTER`] of silence. The rule is in [`source`]. Refused packets
//! are counted in [`MediaStats::packets_foreign`] and each refused source is logged once.
//! RTP ports are drawn at random ([`port`]), so a stranger cannot predict a call's port.
//!
//! ## Cost and failure
//! Per process: one pacer thread (it sleeps while no session exists),
//! [`inbound::THREADS`] receive threads (started with the first session) and
//! [`writer::WRITERS`] recording writer threads (started with the first recording).
//! Per call leg: one UDP socket, one descriptor (in a receive thread's epoll set, and
//! shared by `Arc` with the pacer's and the relay's sends), one task, a few small queues
//! (bounded; a full queue drops with a warning rather than grows), and a slot in the pacer.
//! A prompt or silence frame costs the pacer one uncontended lock and one non-blocking
//! `sendto` (a full socket buffer drops the frame): no timer, no task wake-up, no channel, no
//! allocation. A received packet costs a receive thread its share of one `epoll_wait`,
//! one `recvfrom` and the session's lock; the session's task runs only for commands,
//! timers and a mix's audio. Recording puts frames (160 samples inline) on its writer's
//! channel (at most [`writer::QUEUE`] frames, shared by the recordings of that thread;
//! past it, audio is dropped and counted), which the writer takes every 20 ms: queuing
//! wakes no thread, and there is no thread per recording. A bridge relays each packet
//! straight out of the other leg's socket, on the receive thread that read it (no queue,
//! no copy beyond the packet's own), and while recording in stereo puts frames on a
//! writer's channel. A mix adds one task, and per party two small queues (of
//! [`bridge::RELAY_QUEUE`] frames, each payload inline, up to
//! [`bridge::MAX_RELAY_PAYLOAD`] bytes) and 60 ms of decoded audio.
//! Network input never panics a receive thread: datagrams that are not RTP, RTCP on the RTP port,
//! unknown payload types are counted in [`MediaStats::packets_ignored`] and dropped.

pub mod bridge;
pub mod codec;
pub mod dtmf;
pub mod g711;
pub mod inbound;
pub mod mix;
pub mod pacer;
pub mod port;
pub mod prompt;
pub mod recorder;
pub mod rtp;
pub mod session;
pub mod source;
pub mod stereo;
pub mod totals;
pub mod writer;

pub use bridge::{bridge, BridgeHandle, StereoTarget};
pub use codec::Codec;
pub use dtmf::{parse_dtmf_relay, DtmfReceiver, TelephoneEvent};
pub use mix::{mix, Hearing, MixHandle, PartyId};
pub use port::{PortLease, PortPool};
pub use prompt::{Prompt, PromptError, PromptSet, PromptStore};
pub use recorder::{Recorder, RecorderError, RecordingInfo};
pub use rtp::{Pt, Seq, Ssrc};
pub use session::{
    MediaError, MediaEvent, MediaHandle, MediaParams, MediaSession, MediaStats, RecordStop,
};
pub use source::{SourceLock, Verdict};
pub use stereo::{Side, StereoRecorder};
pub use totals::{pacer_lag, totals, MediaTotals};
