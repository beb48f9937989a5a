//! # hotline-sip — the SIP stack of Hotline 12345
//!
//! Layered like PJSIP and built like quinn-proto: everything that decides is sans-IO.
//!
//! - [`normalize`] and [`message`]: a lenient front door that rewrites what real peers send
//!   (compact names, folded lines, LF-only, joined Vias) into what `rsip` parses, then the
//!   few facts every layer needs ([`message::Info`]) and response building.
//! - [`framing`]: Content-Length framing of TCP streams.
//! - [`transaction`]: RFC 3261 §17 client and server transactions with timers A–M, as one
//!   [`transaction::TransactionLayer`] driven by `handle_*` inputs and drained by `poll_*`.
//!   No clock reads: time comes in with each input, so tests jump 32 s instantly.
//! - [`registrar`] and [`lockout`]: registrations (§10.3) and the brute-force lockout in
//!   front of every password check (atomic, per source, per user and per trusted device).
//! - [`dialog`]: dialog state and in-dialog request building (§12).
//! - [`invite`]: the INVITE session usage, sans-IO: [`invite::InviteClient`] (we call) and
//!   [`invite::DialogUsage`] (an established call, either side: BYE, hold re-INVITE/UPDATE,
//!   INFO digits, REFER, OPTIONS, glare, session timers), so the server builds no SIP by hand.
//! - [`sdp`]: offer/answer for one audio stream (RFC 3264).
//! - [`session_timer`]: session timers (RFC 4028) where the peer asks for them.
//! - [`refer`]: call transfer — REFER and its NOTIFYs (RFC 3515), Replaces (RFC 3891).
//! - [`transport`]: the only I/O — UDP and TCP on one address.
//! - [`admission`]: connection caps per source and in total, and rate-limited refusal and
//!   accept-error logs, for SIP's TCP listener and the server's HTTP one alike.
//!
//! The crate knows no IVR, queue or case: the server's call controller is its user.
//! Network input never panics here: anything malformed becomes an error value.

pub mod admission;
pub mod dialog;
pub mod digest;
pub mod framing;
pub mod invite;
pub mod lockout;
pub mod message;
pub mod normalize;
pub mod refer;
pub mod registrar;
pub mod sdp;
pub mod session_timer;
pub mod stateless;
pub mod transaction;
pub mod transport;
#[cfg(target_os = "linux")]
pub mod udp_recv;

/// The message syntax crate our types are built on, for users that build headers.
pub use rsip;
