//! Stateless answers (RFC 3261 §8.2.7): under overload a new INVITE is refused with a 503
//! built from its raw bytes — no parse into a message, no transaction — and the ACK of
//! such a 503 is recognised and dropped the same way. A flood then costs a scan of the
//! headers per message instead of a parse, a transaction kept for 32 s and its timers,
//! and a 100 Trying sent before the refusal.
//!
//! As §8.2.7 asks of a stateless UAS: no 1xx, no retransmission (a retransmitted INVITE
//! is answered again, with the same To-tag, which is derived from the request), and the
//! ACK is ignored. Anything unusual in a message (a folded header, an RFC 2543 branch, a
//! header given twice) leaves it to the full parser and the transaction layer.
//!
//! ```
//! use hotline_sip::stateless::Refuser;
//! let invite = b"INVITE sip:12345@10.0.0.9 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa1;rport\r\n\
//! From: <sip:13800138000@10.0.0.1>;tag=f1\r\nTo: <sip:12345@10.0.0.9>\r\n\
//! Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
//! let refuser = Refuser::new();
//! let peek = refuser.peek_invite(invite).unwrap();
//! assert_eq!(peek.called, "12345");
//! let (bytes, dest) = refuser.answer(&peek, "10.0.0.1:5070".parse().unwrap(), 5);
//! assert!(bytes.starts_with(b"SIP/2.0 503 Service Unavailable\r\n"));
//! assert_eq!(dest, "10.0.0.1:5070".parse().unwrap());
//! ```

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;

use crate::message::{self, TopVia, MAGIC_COOKIE};
use crate::normalize;

/// The prefix of the To-tags of stateless answers, so their ACKs are told apart cheaply.
const TAG_PREFIX: &str = "sl";

/// Builds stateless refusals and recognises their ACKs; one per endpoint (its key makes
/// the To-tags).
#[derive(Debug, Clone, Default)]
pub struct Refuser {
    /// Keys the To-tag hash: a retransmission gets the same tag, an outsider cannot
    /// forge one that matches.
    keys: RandomState,
}

/// The parts of a new INVITE a stateless answer needs, borrowed from its bytes.
#[derive(Debug)]
pub struct InvitePeek<'a> {
    /// The user part of the Request-URI: the number called.
    pub called: &'a str,
    /// The Call-ID.
    pub call_id: &'a str,
    /// The top Via, parsed.
    pub via: TopVia,
    head: Head<'a>,
    from_tag: String,
}

/// The start line and the headers an answer copies (§8.2.6.2), as they came.
#[derive(Debug, Default)]
struct Head<'a> {
    method: &'a str,
    uri: &'a str,
    vias: Vec<&'a str>,
    from: &'a str,
    to: &'a str,
    call_id: &'a str,
    cseq: &'a str,
}

impl Refuser {
    /// A refuser with a fresh random key.
    pub fn new() -> Self {
        Self::default()
    }

    /// The parts of `buf` if it is a plain new INVITE (no To-tag, a From-tag, an RFC 3261
    /// branch, each copied header once); None for anything else, which then takes the
    /// full path.
    pub fn peek_invite<'a>(&self, buf: &'a [u8]) -> Option<InvitePeek<'a>> {
        if !buf.starts_with(b"INVITE ") {
            return None;
        }
        let head = Head::scan(buf)?;
        if head.method != "INVITE" {
            return None;
        }
        let (_, cseq_method) = head.cseq.split_once(char::is_whitespace)?;
        if cseq_method.trim() != "INVITE" || message::tag_param(head.to).is_some() {
            return None;
        }
        let from_tag = message::tag_param(head.from)?;
        let via = head.top_via()?;
        if !via.branch.as_deref()?.starts_with(MAGIC_COOKIE) {
            return None;
        }
        Some(InvitePeek {
            called: message::uri_user(head.uri)?,
            call_id: head.call_id,
            via,
            head,
            from_tag,
        })
    }

    /// A `503 Service Unavailable` to the INVITE `peek` came from, sent by `source`, with
    /// `Retry-After`; and where it goes (§18.2.2, rport).
    pub fn answer(
        &self,
        peek: &InvitePeek<'_>,
        source: SocketAddr,
        retry_after_secs: u32,
    ) -> (Vec<u8>, SocketAddr) {
        let h = &peek.head;
        let tag = self.tag(h.call_id, &peek.from_tag, peek.via.branch.as_deref());
        let mut out = String::with_capacity(256 + h.vias.iter().map(|v| v.len()).sum::<usize>());
        out.push_str("SIP/2.0 503 Service Unavailable\r\n");
        for (i, v) in h.vias.iter().enumerate() {
            out.push_str("Via: ");
            if i == 0 {
                let (top, rest) = match v.split_once(',') {
                    Some((top, rest)) => (top, Some(rest)),
                    None => (*v, None),
                };
                out.push_str(&message::stamped_via(top, &peek.via, source));
                if let Some(rest) = rest {
                    out.push(',');
                    out.push_str(rest);
                }
            } else {
                out.push_str(v);
            }
            out.push_str("\r\n");
        }
        for (name, value) in [
            ("From: ", h.from),
            ("\r\nTo: ", h.to),
            (";tag=", &tag),
            ("\r\nCall-ID: ", h.call_id),
            ("\r\nCSeq: ", h.cseq),
        ] {
            out.push_str(name);
            out.push_str(value);
        }
        out.push_str(&format!(
            "\r\nRetry-After: {retry_after_secs}\r\nContent-Length: 0\r\n\r\n"
        ));
        let dest = message::response_destination(&peek.via, source);
        (out.into_bytes(), dest)
    }

    /// Whether `buf` is the ACK of one of this refuser's answers (then it is dropped: a
    /// stateless UAS ignores it).
    pub fn is_ack_of_answer(&self, buf: &[u8]) -> bool {
        if !buf.starts_with(b"ACK ") {
            return false;
        }
        let Some(head) = Head::scan(buf).filter(|h| h.method == "ACK") else {
            return false;
        };
        let Some(to_tag) = message::tag_param(head.to) else {
            return false;
        };
        if !to_tag.starts_with(TAG_PREFIX) {
            return false;
        }
        let (Some(from_tag), Some(via)) = (message::tag_param(head.from), head.top_via()) else {
            return false;
        };
        to_tag == self.tag(head.call_id, &from_tag, via.branch.as_deref())
    }

    /// The To-tag of the answer to the INVITE with these identifiers: the same for its
    /// retransmissions and its ACK (which carries the INVITE's branch, §17.1.1.3).
    fn tag(&self, call_id: &str, from_tag: &str, branch: Option<&str>) -> String {
        let mut h = self.keys.build_hasher();
        for part in [call_id, from_tag, branch.unwrap_or("")] {
            h.write(part.as_bytes());
            h.write_u8(0);
        }
        format!("{TAG_PREFIX}{:016x}", h.finish())
    }
}

impl<'a> Head<'a> {
    /// The first Via value (of a line that may hold several), parsed.
    fn top_via(&self) -> Option<TopVia> {
        TopVia::parse(self.vias.first()?.split(',').next()?)
    }

    /// Scans the start line and the headers an answer copies; None if something is
    /// missing, given twice, folded or not text.
    fn scan(buf: &'a [u8]) -> Option<Head<'a>> {
        let (_, end) = normalize::find_header_end(buf)?;
        let text = std::str::from_utf8(&buf[..end]).ok()?;
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let mut words = lines.next()?.split(' ');
        let mut head = Head {
            method: words.next()?,
            uri: words.next()?,
            ..Head::default()
        };
        if words.next()? != "SIP/2.0" || words.next().is_some() {
            return None;
        }
        for line in lines {
            if line.starts_with([' ', '\t']) {
                return None;
            }
            let (name, value) = line.split_once(':')?;
            let name = normalize::expand_compact(name.trim());
            let value = value.trim();
            let slot = if name.eq_ignore_ascii_case("Via") {
                head.vias.push(value);
                continue;
            } else if name.eq_ignore_ascii_case("From") {
                &mut head.from
            } else if name.eq_ignore_ascii_case("To") {
                &mut head.to
            } else if name.eq_ignore_ascii_case("Call-ID") {
                &mut head.call_id
            } else if name.eq_ignore_ascii_case("CSeq") {
                &mut head.cseq
            } else {
                continue;
            };
            if !slot.is_empty() || value.is_empty() {
                return None;
            }
            *slot = value;
        }
        let complete = [head.from, head.to, head.call_id, head.cseq]
            .iter()
            .all(|v| !v.is_empty());
        (complete && !head.vias.is_empty()).then_some(head)
    }
}

#[cfg(test)]
mod tests;
