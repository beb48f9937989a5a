//! Dialogs (RFC 3261 §12): the state two user agents share after an INVITE is answered.
//!
//! Sans-IO data: a [`Dialog`] is created from the INVITE we answer (UAS side), checks the
//! CSeq of in-dialog requests, and builds our in-dialog requests (BYE, re-INVITE) with the
//! right Request-URI, Route set, tags and CSeq. The call controller owns one per leg.

use crate::message::{self, Info, Transport};
use rsip::headers::untyped::UntypedHeader;
use rsip::{Header, Headers, Method, Request};
use std::net::SocketAddr;

/// Identifies a dialog: Call-ID with local and remote tags (§12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

/// Why a dialog could not be set up or a request not accepted in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// An INVITE must carry a Contact (§8.1.1.8) and a From tag.
    #[error("INVITE without {0}")]
    Missing(&'static str),
    /// In-dialog request with a CSeq not above the last one (§12.2.2): answer 500.
    #[error("CSeq {got} not above {last}")]
    CSeqOutOfOrder { got: u32, last: u32 },
}

/// One side's view of a dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub id: DialogId,
    /// Our From/To value without tag (e.g. `<sip:12345@127.0.0.1>`).
    pub local_uri: String,
    /// Their From/To value without tag.
    pub remote_uri: String,
    pub local_seq: u32,
    pub remote_seq: u32,
    /// Where in-dialog requests go (their Contact URI).
    pub remote_target: String,
    /// Record-Route URIs as Route headers for our requests (§12.1.1: in order for the UAS).
    pub route_set: Vec<String>,
    /// Our Contact header value.
    pub local_contact: String,
    /// Where their INVITE came from, used when the target is not an IP address.
    pub peer: SocketAddr,
    pub transport: Transport,
}

fn strip_tag(v: &str) -> String {
    match v.rfind('>') {
        Some(i) => v[..=i].trim().to_string(),
        None => v.split(';').next().unwrap_or(v).trim().to_string(),
    }
}

impl Dialog {
    /// The UAS dialog created by answering `invite` with To tag `local_tag` (§12.1.1).
    pub fn uas(
        invite: &Request,
        info: &Info,
        local_tag: &str,
        local_contact: &str,
        peer: SocketAddr,
        transport: Transport,
    ) -> Result<Dialog, DialogError> {
        let h = &invite.headers;
        let contact = message::first(h, "Contact").ok_or(DialogError::Missing("Contact"))?;
        let remote_tag = info
            .from_tag
            .clone()
            .ok_or(DialogError::Missing("From tag"))?;
        let route_set = message::all(h, "Record-Route")
            .flat_map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(Dialog {
            id: DialogId {
                call_id: info.call_id.clone(),
                local_tag: local_tag.to_string(),
                remote_tag,
            },
            local_uri: strip_tag(message::first(h, "To").unwrap_or("")),
            remote_uri: strip_tag(message::first(h, "From").unwrap_or("")),
            local_seq: 0,
            remote_seq: info.cseq,
            remote_target: message::addr_uri(contact).to_string(),
            route_set,
            local_contact: local_contact.to_string(),
            peer,
            transport,
        })
    }

    /// The UAC dialog created by a 2xx to our `invite` (§12.1.2): remote target from the
    /// response's Contact, route set from its Record-Route in reverse, remote tag from its To.
    pub fn uac(
        invite: &Request,
        ok: &rsip::Response,
        info: &Info,
        local_contact: &str,
        peer: SocketAddr,
        transport: Transport,
    ) -> Result<Dialog, DialogError> {
        let h = &ok.headers;
        let contact = message::first(h, "Contact").ok_or(DialogError::Missing("Contact"))?;
        let remote_tag = info.to_tag.clone().ok_or(DialogError::Missing("To tag"))?;
        let local_tag = info
            .from_tag
            .clone()
            .ok_or(DialogError::Missing("From tag"))?;
        let mut route_set: Vec<String> = message::all(h, "Record-Route")
            .flat_map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        route_set.reverse();
        let cseq = message::first(&invite.headers, "CSeq")
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        Ok(Dialog {
            id: DialogId {
                call_id: info.call_id.clone(),
                local_tag,
                remote_tag,
            },
            local_uri: strip_tag(message::first(&invite.headers, "From").unwrap_or("")),
            remote_uri: strip_tag(message::first(&invite.headers, "To").unwrap_or("")),
            local_seq: cseq,
            remote_seq: 0,
            remote_target: message::addr_uri(contact).to_string(),
            route_set,
            local_contact: local_contact.to_string(),
            peer,
            transport,
        })
    }

    /// The ACK for the 2xx that created this UAC dialog (§13.2.2.4): same CSeq number as the
    /// INVITE, a new branch, sent to the remote target.
    pub fn ack(&self, via_host: SocketAddr) -> Request {
        self.ack_for(self.local_seq, via_host)
    }

    /// The ACK for a 2xx to our (re-)INVITE of CSeq `cseq` (§13.2.2.4), which may be below
    /// the dialog's current CSeq when other requests went out since.
    pub fn ack_for(&self, cseq: u32, via_host: SocketAddr) -> Request {
        let mut ack = self.build(Method::Ack, cseq, via_host);
        ack.headers.retain(|h| !matches!(h, Header::Contact(_)));
        ack
    }

    /// Whether an incoming request belongs to this dialog (their From tag, our To tag).
    pub fn matches(&self, info: &Info) -> bool {
        info.call_id == self.id.call_id
            && info.from_tag.as_deref() == Some(&self.id.remote_tag)
            && info.to_tag.as_deref() == Some(&self.id.local_tag)
    }

    /// Accepts the CSeq of an in-dialog request (ACK and CANCEL carry the INVITE's).
    pub fn accept_remote_cseq(&mut self, method: Method, cseq: u32) -> Result<(), DialogError> {
        if matches!(method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if cseq <= self.remote_seq {
            return Err(DialogError::CSeqOutOfOrder {
                got: cseq,
                last: self.remote_seq,
            });
        }
        self.remote_seq = cseq;
        Ok(())
    }

    /// Where our in-dialog requests go: the first route, else the remote target; a host
    /// name we cannot use without DNS falls back on where their INVITE came from.
    pub fn destination(&self) -> SocketAddr {
        let uri = self
            .route_set
            .first()
            .map(|r| message::addr_uri(r))
            .unwrap_or(&self.remote_target);
        uri_socket_addr(uri).unwrap_or(self.peer)
    }

    /// Builds an in-dialog request (§12.2.1.1) with a fresh branch from `via_host`.
    pub fn request(&mut self, method: Method, via_host: SocketAddr) -> Request {
        self.local_seq = if self.local_seq == 0 {
            1
        } else {
            self.local_seq + 1
        };
        self.build(method, self.local_seq, via_host)
    }

    fn build(&self, method: Method, cseq: u32, via_host: SocketAddr) -> Request {
        let branch = message::new_branch();
        let mut headers = Headers::default();
        headers.push(Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.transport.as_via(),
            via_host
        ))));
        headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
        for r in &self.route_set {
            headers.push(Header::Route(rsip::headers::Route::new(r.clone())));
        }
        headers.push(Header::From(rsip::headers::From::new(format!(
            "{};tag={}",
            self.local_uri, self.id.local_tag
        ))));
        headers.push(Header::To(rsip::headers::To::new(format!(
            "{};tag={}",
            self.remote_uri, self.id.remote_tag
        ))));
        headers.push(Header::CallId(rsip::headers::CallId::new(
            self.id.call_id.clone(),
        )));
        headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
            "{cseq} {method}"
        ))));
        headers.push(Header::Contact(rsip::headers::Contact::new(
            self.local_contact.clone(),
        )));
        headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
            "0",
        )));
        let uri = rsip::Uri::try_from(self.remote_target.as_str()).unwrap_or_else(|_| {
            rsip::Uri::try_from(format!("sip:{}", self.peer).as_str()).unwrap_or_default()
        });
        Request {
            method,
            uri,
            version: rsip::Version::V2,
            headers,
            body: vec![],
        }
    }
}

/// The CANCEL of a pending INVITE we sent (§9.1): same Request-URI, top Via (branch), From,
/// To, Call-ID and CSeq number, method CANCEL.
pub fn cancel_for(invite: &Request) -> Request {
    let mut headers = Headers::default();
    let mut via_done = false;
    for h in invite.headers.iter() {
        match h {
            Header::Via(_) if !via_done => {
                via_done = true;
                headers.push(h.clone());
            }
            Header::From(_)
            | Header::To(_)
            | Header::CallId(_)
            | Header::Route(_)
            | Header::MaxForwards(_) => headers.push(h.clone()),
            Header::CSeq(c) => {
                let n = c
                    .value()
                    .split_whitespace()
                    .next()
                    .unwrap_or("1")
                    .to_string();
                headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
                    "{n} CANCEL"
                ))));
            }
            _ => {}
        }
    }
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        "0",
    )));
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        version: rsip::Version::V2,
        headers,
        body: vec![],
    }
}

/// `sip:user@1.2.3.4:5070;transport=udp` → 1.2.3.4:5070 (default port 5060); None for names.
pub fn uri_socket_addr(uri: &str) -> Option<SocketAddr> {
    let rest = uri.split_once(':')?.1;
    let hostport = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let hostport = hostport.split([';', '?', '>']).next()?;
    if let Ok(sa) = hostport.parse::<SocketAddr>() {
        return Some(sa);
    }
    let ip = hostport
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, 5060))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;

    const INVITE: &str = "INVITE sip:12345@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc\r\n\
Record-Route: <sip:10.0.0.9;lr>, <sip:10.0.0.8;lr>\r\n\
From: \"Li Si\" <sip:139@10.0.0.1>;tag=f1\r\nTo: <sip:12345@127.0.0.1>\r\n\
Call-ID: d1\r\nCSeq: 10 INVITE\r\nContact: <sip:139@10.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n";

    fn dialog() -> Dialog {
        let p = parse(INVITE.as_bytes(), 9999).unwrap();
        let rsip::SipMessage::Request(r) = p.msg else {
            unreachable!()
        };
        Dialog::uas(
            &r,
            &p.info,
            "us1",
            "<sip:12345@127.0.0.1:5060>",
            "10.0.0.1:5070".parse().unwrap(),
            Transport::Udp,
        )
        .unwrap()
    }

    #[test]
    fn builds_bye_with_route_set_tags_and_cseq() {
        let mut d = dialog();
        let bye = d
            .request(Method::Bye, "127.0.0.1:5060".parse().unwrap())
            .to_string();
        assert!(
            bye.starts_with("BYE sip:139@10.0.0.1:5070 SIP/2.0\r\n"),
            "{bye}"
        );
        assert!(bye.contains("Route: <sip:10.0.0.9;lr>\r\nRoute: <sip:10.0.0.8;lr>\r\n"));
        assert!(bye.contains("From: <sip:12345@127.0.0.1>;tag=us1\r\n"));
        assert!(bye.contains("To: \"Li Si\" <sip:139@10.0.0.1>;tag=f1\r\n"));
        assert!(bye.contains("CSeq: 1 BYE\r\n"));
        assert_eq!(d.destination(), "10.0.0.9:5060".parse().unwrap());
        let p = parse(bye.as_bytes(), 9999).unwrap();
        assert_eq!(p.info.via.transport, "UDP");
    }

    #[test]
    fn remote_cseq_must_grow() {
        let mut d = dialog();
        assert!(d.accept_remote_cseq(Method::Bye, 11).is_ok());
        assert_eq!(
            d.accept_remote_cseq(Method::Info, 11),
            Err(DialogError::CSeqOutOfOrder { got: 11, last: 11 })
        );
        assert!(d.accept_remote_cseq(Method::Ack, 10).is_ok());
    }

    #[test]
    fn uac_dialog_from_2xx_acks_and_byes() {
        let invite_text = "INVITE sip:1001@10.0.0.5:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKout\r\n\
From: \"138\" <sip:138@127.0.0.1>;tag=us2\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: a1\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:12345@127.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n";
        let rsip::SipMessage::Request(inv) = parse(invite_text.as_bytes(), 9999).unwrap().msg
        else {
            unreachable!()
        };
        let ok_text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKout\r\n\
Record-Route: <sip:10.0.0.7;lr>\r\nFrom: \"138\" <sip:138@127.0.0.1>;tag=us2\r\nTo: <sip:1001@127.0.0.1>;tag=ag9\r\n\
Call-ID: a1\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@10.0.0.5:5080>\r\nContent-Length: 0\r\n\r\n";
        let p = parse(ok_text.as_bytes(), 9999).unwrap();
        let rsip::SipMessage::Response(ok) = p.msg else {
            unreachable!()
        };
        let mut d = Dialog::uac(
            &inv,
            &ok,
            &p.info,
            "<sip:12345@127.0.0.1:5060>",
            "10.0.0.5:5080".parse().unwrap(),
            Transport::Udp,
        )
        .unwrap();
        let ack = d.ack("127.0.0.1:5060".parse().unwrap()).to_string();
        assert!(
            ack.starts_with("ACK sip:1001@10.0.0.5:5080 SIP/2.0"),
            "{ack}"
        );
        assert!(
            ack.contains("CSeq: 1 ACK")
                && ack.contains("To: <sip:1001@127.0.0.1>;tag=ag9")
                && ack.contains("Route: <sip:10.0.0.7;lr>")
        );
        assert!(
            !ack.contains("z9hG4bKout"),
            "the ACK of a 2xx has its own branch"
        );
        let bye = d
            .request(Method::Bye, "127.0.0.1:5060".parse().unwrap())
            .to_string();
        assert!(
            bye.contains("CSeq: 2 BYE")
                && bye.contains("From: \"138\" <sip:138@127.0.0.1>;tag=us2"),
            "{bye}"
        );
        let cancel = cancel_for(&inv).to_string();
        assert!(
            cancel.starts_with("CANCEL sip:1001@10.0.0.5:5080")
                && cancel.contains("branch=z9hG4bKout")
                && cancel.contains("CSeq: 1 CANCEL"),
            "{cancel}"
        );
    }

    #[test]
    fn uri_addresses() {
        assert_eq!(
            uri_socket_addr("sip:a@1.2.3.4:5070;transport=udp"),
            Some("1.2.3.4:5070".parse().unwrap())
        );
        assert_eq!(
            uri_socket_addr("sip:1.2.3.4"),
            Some("1.2.3.4:5060".parse().unwrap())
        );
        assert_eq!(uri_socket_addr("sip:a@example.com"), None);
    }
}
