//! The INVITE session usage (RFC 3261 §13–§15, RFC 3311, RFC 3515, RFC 4028), sans-IO.
//!
//! Sits on the [`transaction`](crate::transaction) layer: the driver hands it the layer's
//! events (with their transaction keys) and sends what it asks for; it never touches a
//! socket or a clock. Two machines:
//!
//! - [`InviteClient`]: we call (an agent's softphone, or a citizen through the carrier's
//!   gateway). It builds the INVITE, answers one 401/407, reports ringing and the answer,
//!   ACKs the 2xx, and handles CANCEL and its race with the 200.
//! - [`DialogUsage`]: an established call, the same for both sides (the UAS one is made by
//!   [`DialogUsage::accept`] from the INVITE we answer). It answers in-dialog requests —
//!   BYE, re-INVITE/UPDATE offers (hold), INFO digits, REFER with its NOTIFYs, OPTIONS —
//!   sends ours (BYE, re-INVITE), and runs session timers where the peer asked for them.
//!
//! ```text
//! InviteClient:
//!   new ─> INVITE ─> 1xx: Ringing ─> 2xx: ACK, Answered ─> DialogUsage (connected)
//!            │   └─ 401/407 (once, with credentials) ─> INVITE + Authorization ─> …
//!            ├─ cancel/hang_up ─> CANCEL (after the first 1xx) ─> 487: Failed(NoAnswer)
//!            │                                        └─ 2xx anyway: ACK + BYE, Failed(NoAnswer)
//!            └─ 3xx–6xx: Failed(Status) · Timer B: Failed(NoResponse) · bad 2xx: Failed(Unusable)
//! DialogUsage:
//!   confirmed ─ re-INVITE/UPDATE with SDP ─> ReInvite event ─ answer_offer / reject_offer ─┐
//!       ▲  ▲ └─ without SDP (refresh) ─> 200 with our current SDP ────────────────────────┤
//!       │  └──────────────────────────────────────────────────────────────────────────────┘
//!       ├─ INFO (digit) · REFER (202 + NOTIFY 100, later notify_refer) · OPTIONS: stays
//!       └─ BYE (either way), session expired, 408/481 to ours ─> terminated
//! ```
//!
//! # Driving it
//!
//! After every input (`handle_*`, `cancel`, `hang_up`, `reinvite`, `bye`, `notify_refer`,
//! `answer_offer`…) drain [`poll_output`](DialogUsage::poll_output) and send each
//! [`Output`]; then ask [`poll_timeout`](DialogUsage::poll_timeout) when to call
//! `handle_timeout` next. Outputs map one to one on the transaction layer's user calls:
//! [`Output::Respond`] → `respond`, [`Output::Request`] → `send_request`,
//! [`Output::Ack`] → `send_ack_for_2xx`.
//!
//! Glare and races handled here: a re-INVITE/UPDATE while ours is pending gets 491 (and
//! ours, on 491, is retried after RFC 3261 §14.1's random wait); a second one while theirs
//! awaits our answer gets 500 with Retry-After; a BYE while theirs awaits our answer gets
//! 200 and the re-INVITE 487; a 2xx to an INVITE we cancelled is ACKed then BYEd.

mod client;
mod usage;

pub use client::{ClientEvent, Failure, InviteClient, Target};
pub use usage::{AcceptError, DialogUsage, Local, UsageError};

use crate::dialog::DialogId;
use crate::message::Transport;
use crate::refer::{Refer, ReferError};
use crate::transaction::{ClientKey, ServerKey};
use rsip::{Request, Response};
use std::net::SocketAddr;

/// The methods we accept in a dialog: the Allow header of our INVITEs, 2xx, 405s and
/// OPTIONS answers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY";

/// The extensions we support: the Supported header of our INVITEs and 2xx.
pub const SUPPORTED: &str = "replaces, timer";

/// Something the driver must send.
#[derive(Debug, Clone)]
pub enum Output {
    /// A response on the server transaction `key` (transaction layer: `respond`).
    Respond { key: ServerKey, response: Response },
    /// A request in a new client transaction (transaction layer: `send_request`).
    Request {
        request: Request,
        dest: SocketAddr,
        transport: Transport,
    },
    /// The ACK to a 2xx of our INVITE `invite`, sent outside any transaction (transaction
    /// layer: `send_ack_for_2xx`).
    Ack {
        invite: ClientKey,
        request: Request,
        dest: SocketAddr,
        transport: Transport,
    },
}

/// What happened in an established dialog that the call must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The far end hung up (our 200 is sent). The dialog is over.
    Bye,
    /// A re-INVITE (or an UPDATE when `update`) offers new SDP. `held`: the offer is
    /// `sendonly` or `inactive` (the far end holds). Answer with
    /// [`DialogUsage::answer_offer`] (our SDP) or [`DialogUsage::reject_offer`] (e.g. 488).
    ReInvite {
        held: bool,
        offer: Vec<u8>,
        update: bool,
    },
    /// A key sent by SIP INFO (`application/dtmf-relay` or `application/dtmf`); 200 sent.
    Dtmf(char),
    /// A transfer was asked (202 and NOTIFY "100 Trying" are sent). Report its outcome
    /// with [`DialogUsage::notify_refer`].
    Refer(Refer),
    /// The SDP answer to our re-INVITE (or in the ACK of a 2xx where we offered).
    Answer { sdp: Vec<u8> },
    /// Our re-INVITE was refused with this status; the session stays as it was.
    OfferRejected(u16),
    /// The dialog ended on its own; a BYE was sent when one was due.
    Ended(EndReason),
}

/// Why a dialog ended without a BYE from the far end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// No session refresh in time (RFC 4028 §10): we sent BYE.
    SessionExpired,
    /// Our in-dialog request got 408 or 481: the dialog is gone (§12.2.1.2).
    Status(u16),
    /// Our re-INVITE got no response at all (Timer B): we sent BYE.
    NoResponse,
}

/// The dialog an INVITE with a Replaces header (RFC 3891, attended transfer) wants to
/// replace, as the receiver finds it: local tag = the header's to-tag, remote tag = its
/// from-tag. `Ok(None)` when the INVITE has no Replaces.
pub fn replaced_dialog(invite: &Request) -> Result<Option<DialogId>, ReferError> {
    Ok(crate::refer::replaces_in(invite)?.map(|r| r.dialog_id()))
}

/// The key of a SIP INFO body: `application/dtmf-relay` (`Signal=5`) or `application/dtmf`
/// (`5`, or an event code such as `11` for `#`).
pub fn parse_dtmf(body: &[u8]) -> Option<char> {
    let body = std::str::from_utf8(body).ok()?;
    let token = if body.contains('=') {
        body.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("signal"))?
            .1
    } else {
        body
    }
    .trim();
    let mut chars = token.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => match c.to_ascii_uppercase() {
            c @ ('0'..='9' | '*' | '#' | 'A'..='D') => Some(c),
            _ => None,
        },
        _ => match token.parse::<u8>().ok()? {
            n @ 0..=9 => char::from_digit(u32::from(n), 10),
            10 => Some('*'),
            11 => Some('#'),
            n @ 12..=15 => Some((b'A' + n - 12) as char),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests;
