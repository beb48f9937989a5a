//! Call transfer: REFER (RFC 3515), its implicit subscription's NOTIFYs, and the Replaces
//! header (RFC 3891) that makes a transfer *attended*.
//!
//! Pure parsing and building. An agent's phone transfers the citizen with a REFER whose
//! `Refer-To` names the new target; for an attended transfer the phone has first called the
//! target itself and adds `?Replaces=<that dialog>` to the Refer-To URI, so the new INVITE
//! replaces the consultation call.
//!
//! ```text
//! REFER ─> 202 Accepted ─> NOTIFY "SIP/2.0 100 Trying"   (Subscription-State: active)
//!                       └─> NOTIFY "SIP/2.0 200 OK" / "503 …" (terminated;reason=noresource)
//! ```
//! Everything here reads network input: a malformed value is an error, never a panic.

use crate::dialog::{Dialog, DialogId};
use crate::message;
use rsip::{Header, Method, Request};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// How long the implicit subscription of a REFER lives unless told otherwise (seconds).
pub const DEFAULT_EXPIRES: u32 = 60;

/// Why a REFER, a Refer-To or a Replaces value is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferError {
    /// A REFER must carry exactly one Refer-To (RFC 3515 §2.4.1): answer 400.
    #[error("REFER without a Refer-To")]
    MissingReferTo,
    /// More than one Refer-To (RFC 3515 §2.4.1): answer 400.
    #[error("REFER with several Refer-To headers")]
    SeveralReferTo,
    /// The Refer-To value is not a SIP URI we can call (no `sip:`/`sips:`, no host, or an
    /// unterminated `<`).
    #[error("unusable Refer-To URI: {0}")]
    BadUri(&'static str),
    /// A `%` escape that is not two hex digits, or one that decodes to invalid UTF-8.
    #[error("bad percent escape")]
    BadEscape,
    /// A Replaces value without a Call-ID or without both tags (RFC 3891 §6.1).
    #[error("malformed Replaces: {0}")]
    BadReplaces(&'static str),
}

impl ReferError {
    /// The SIP status to answer the REFER (or the INVITE with Replaces) with.
    pub fn status(&self) -> u16 {
        400
    }
}

/// A Replaces header (RFC 3891 §6.1): the dialog the new INVITE takes the place of.
///
/// Tags are from the point of view of the UA that receives the header: `to_tag` is its own
/// (local) tag, `from_tag` the remote one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Replaces {
    /// Call-ID of the dialog to replace (percent-decoded when it came inside a Refer-To).
    pub call_id: String,
    /// The receiver's own tag in that dialog.
    pub to_tag: String,
    /// The other party's tag in that dialog.
    pub from_tag: String,
    /// `early-only`: replace only a dialog that is not yet confirmed (486 otherwise).
    pub early_only: bool,
}

impl Replaces {
    /// The [`DialogId`] the receiver looks its dialogs up by (to-tag is its local tag).
    pub fn dialog_id(&self) -> DialogId {
        DialogId {
            call_id: self.call_id.clone(),
            local_tag: self.to_tag.clone(),
            remote_tag: self.from_tag.clone(),
        }
    }

    /// The Replaces value naming `dialog` as seen by the *other* UA of that dialog (the one
    /// that will receive it): their local tag is our remote tag.
    pub fn for_peer_of(dialog: &DialogId) -> Replaces {
        Replaces {
            call_id: dialog.call_id.clone(),
            to_tag: dialog.remote_tag.clone(),
            from_tag: dialog.local_tag.clone(),
            early_only: false,
        }
    }
}

impl FromStr for Replaces {
    type Err = ReferError;

    /// `callid;to-tag=a;from-tag=b[;early-only]`; parameter names are case-insensitive,
    /// unknown parameters are ignored, a parameter repeated is an error.
    fn from_str(value: &str) -> Result<Replaces, ReferError> {
        let mut parts = value.split(';');
        let call_id = parts.next().unwrap_or("").trim();
        if call_id.is_empty() || call_id.contains(char::is_whitespace) {
            return Err(ReferError::BadReplaces("Call-ID"));
        }
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for p in parts {
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (p.trim(), None),
            };
            let slot = if k.eq_ignore_ascii_case("to-tag") {
                &mut to_tag
            } else if k.eq_ignore_ascii_case("from-tag") {
                &mut from_tag
            } else {
                if k.eq_ignore_ascii_case("early-only") {
                    early_only = true;
                }
                continue;
            };
            let v = v
                .filter(|v| !v.is_empty())
                .ok_or(ReferError::BadReplaces("empty tag"))?;
            if slot.replace(v.to_string()).is_some() {
                return Err(ReferError::BadReplaces("tag repeated"));
            }
        }
        Ok(Replaces {
            call_id: call_id.to_string(),
            to_tag: to_tag.ok_or(ReferError::BadReplaces("no to-tag"))?,
            from_tag: from_tag.ok_or(ReferError::BadReplaces("no from-tag"))?,
            early_only,
        })
    }
}

impl fmt::Display for Replaces {
    /// The header value: `callid;to-tag=a;from-tag=b` and `;early-only` when set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        )?;
        if self.early_only {
            f.write_str(";early-only")?;
        }
        Ok(())
    }
}

/// The Replaces header of a request (an INVITE of an attended transfer), if it has one.
pub fn replaces_in(req: &Request) -> Result<Option<Replaces>, ReferError> {
    message::first(&req.headers, "Replaces")
        .map(str::parse)
        .transpose()
}

/// A Refer-To value, read (RFC 3515 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferTo {
    /// The URI to call, without its `?headers` part (e.g. `sip:1002@10.0.0.5`).
    pub uri: String,
    /// Its user part (`1002`), if any.
    pub user: Option<String>,
    /// Its host (without port; IPv6 without brackets).
    pub host: String,
    /// Display name of a name-addr, unquoted.
    pub display: Option<String>,
    /// The embedded `Replaces` header of an attended transfer, percent-decoded and parsed.
    pub replaces: Option<Replaces>,
}

impl FromStr for ReferTo {
    type Err = ReferError;

    /// A name-addr (`"B" <sip:b@h?Replaces=…>;p=1`) or a bare addr-spec (`sip:b@h`).
    fn from_str(value: &str) -> Result<ReferTo, ReferError> {
        let value = value.trim();
        let (display, raw) = match value.find('<') {
            Some(a) => {
                let b = value[a..]
                    .find('>')
                    .map(|b| a + b)
                    .ok_or(ReferError::BadUri("unterminated <"))?;
                let d = value[..a].trim().trim_matches('"').trim();
                ((!d.is_empty()).then(|| d.to_string()), &value[a + 1..b])
            }
            // A bare addr-spec cannot carry `;` parameters of its own: they are the header's.
            None => (None, value.split(';').next().unwrap_or("")),
        };
        let raw = raw.trim();
        let (uri, headers) = match raw.split_once('?') {
            Some((u, h)) => (u, Some(h)),
            None => (raw, None),
        };
        let (scheme, rest) = uri.split_once(':').ok_or(ReferError::BadUri("no scheme"))?;
        if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
            return Err(ReferError::BadUri("not a SIP URI"));
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => {
                let u = u.split(';').next().unwrap_or(u);
                let u = percent_decode(u.split(':').next().unwrap_or(u))?;
                ((!u.is_empty()).then_some(u), h)
            }
            None => (None, rest),
        };
        let hostport = hostport.split(';').next().unwrap_or("");
        let host = if let Some(v6) = hostport.strip_prefix('[') {
            v6.split_once(']')
                .ok_or(ReferError::BadUri("unterminated ["))?
                .0
        } else {
            hostport.split(':').next().unwrap_or("")
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(ReferError::BadUri("no host"));
        }
        let mut replaces = None;
        for h in headers.into_iter().flat_map(|h| h.split('&')) {
            let (name, v) = h.split_once('=').unwrap_or((h, ""));
            if percent_decode(name)?.eq_ignore_ascii_case("replaces") {
                if replaces.is_some() {
                    return Err(ReferError::BadReplaces("Replaces repeated"));
                }
                replaces = Some(percent_decode(v)?.parse()?);
            }
        }
        Ok(ReferTo {
            uri: uri.to_string(),
            user,
            host: host.to_string(),
            display,
            replaces,
        })
    }
}

/// A REFER, read: where to transfer and who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refer {
    /// Where to transfer (with Replaces for an attended transfer).
    pub target: ReferTo,
    /// The Referred-By URI (RFC 3892), if given.
    pub referred_by: Option<String>,
}

/// Reads a REFER's Refer-To (exactly one) and Referred-By.
pub fn parse_refer(req: &Request) -> Result<Refer, ReferError> {
    let mut refer_to = message::all(&req.headers, "Refer-To");
    let first = refer_to.next().ok_or(ReferError::MissingReferTo)?;
    if refer_to.next().is_some() {
        return Err(ReferError::SeveralReferTo);
    }
    let referred_by = message::first(&req.headers, "Referred-By")
        .map(|v| message::addr_uri(v).trim().to_string())
        .filter(|v| !v.is_empty());
    Ok(Refer {
        target: first.parse()?,
        referred_by,
    })
}

/// Decodes `%XX` escapes (RFC 3986 §2.1); anything else passes as it is.
pub fn percent_decode(s: &str) -> Result<String, ReferError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(ReferError::BadEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| ReferError::BadEscape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ReferError::BadEscape)?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ReferError::BadEscape)
}

/// The state of the implicit subscription a NOTIFY reports (RFC 3515 §2.4.5, RFC 6665).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionState {
    /// The transfer is under way: `active;expires=N`.
    Active { expires: u32 },
    /// The final report: `terminated;reason=noresource`.
    Terminated,
}

impl SubscriptionState {
    /// What a NOTIFY carrying `status` reports: active for 1xx, terminated for finals.
    pub fn for_status(status: u16) -> SubscriptionState {
        if status < 200 {
            SubscriptionState::Active {
                expires: DEFAULT_EXPIRES,
            }
        } else {
            SubscriptionState::Terminated
        }
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscriptionState::Active { expires } => write!(f, "active;expires={expires}"),
            SubscriptionState::Terminated => f.write_str("terminated;reason=noresource"),
        }
    }
}

/// A message/sipfrag body reporting `status`: `SIP/2.0 200 OK\r\n`.
pub fn sipfrag(status: u16) -> String {
    format!("SIP/2.0 {status} {}\r\n", message::reason_phrase(status))
}

/// The NOTIFY reporting a REFER's progress with the status line of `status` (RFC 3515
/// §2.4.4), in `dialog`, with a fresh branch from `via_host`. `refer_cseq` adds the
/// `;id=` Event parameter, needed from the second REFER of a dialog on (§2.4.6).
pub fn notify(
    dialog: &mut Dialog,
    via_host: SocketAddr,
    status: u16,
    state: SubscriptionState,
    refer_cseq: Option<u32>,
) -> Request {
    let mut req = dialog.request(Method::Notify, via_host);
    let event = match refer_cseq {
        Some(id) => format!("refer;id={id}"),
        None => "refer".to_string(),
    };
    req.headers.push(Header::Other("Event".into(), event));
    req.headers.push(Header::Other(
        "Subscription-State".into(),
        state.to_string(),
    ));
    message::set_body(
        &mut req.headers,
        &mut req.body,
        "message/sipfrag;version=2.0",
        sipfrag(status).into_bytes(),
    );
    req
}

#[cfg(test)]
mod tests;
