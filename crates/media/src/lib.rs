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
//! - [`recorder`]: WAV writing on its own thread behind a bounded channel.
//! - [`port`]: the even RTP ports, chosen at random, leased and returned.
//! - [`source`]: whom a leg listens to — the negotiated address, or one latched source
//!   ([`SourceLock`]).
//! - [`stereo`]: the two-channel WAV of a bridged call, on its own thread and clock.
//! - [`session`]: the per-call tokio task tying these together; it also sends DTMF
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
//! the loaded runtime skipped, appears as a timestamp gap and not as audio played late.
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
//! Per call: one UDP socket, one task, a 2 KiB receive buffer, a few small queues (bounded;
//! a full queue drops with a warning rather than grows), and while recording one thread.
//! A bridge adds two queues of [`bridge::RELAY_QUEUE`] frames (one per direction), one
//! copy of each relayed payload, and while recording in stereo one more thread. A mix adds
//! one task, and per party two small queues and 60 ms of decoded audio.
//! Network input never panics the task: datagrams that are not RTP, RTCP on the RTP port,
//! unknown payload types are counted in [`MediaStats::packets_ignored`] and dropped.

pub mod bridge;
pub mod codec;
pub mod dtmf;
pub mod g711;
pub mod mix;
pub mod pacer;
pub mod port;
pub mod prompt;
pub mod recorder;
pub mod rtp;
pub mod session;
pub mod source;
pub mod stereo;
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
