//! Both sides of an INVITE session driven by text messages and a fake clock. Transaction
//! keys come from a real [`TransactionLayer`], as the server gets them.

use super::*;
use crate::message::{self, parse, Info, Transport};
use crate::transaction::{Event, TimerConfig, TransactionLayer};
use rsip::{Method, SipMessage};
use std::time::{Duration, Instant};

mod client;
mod usage;

const PHONE: &str = "10.0.0.5:5080";
const US: &str = "127.0.0.1:5060";

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

const OURS: &str = "v=0\r\no=hotline 7 1 IN IP4 127.0.0.1\r\ns=12345\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 20000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Headers text (ending in CRLF) plus a body with its Content-Length.
fn with_body(head: &str, ctype: &str, body: &str) -> String {
    let ct = if body.is_empty() || ctype.is_empty() {
        String::new()
    } else {
        format!("Content-Type: {ctype}\r\n")
    };
    format!("{head}{ct}Content-Length: {}\r\n\r\n{body}", body.len())
}

/// A request that arrives from the phone, with the key the transaction layer gives it.
fn arrive(text: &str) -> (ServerKey, Request, Info) {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let p = parse(text.as_bytes(), 65535).unwrap_or_else(|e| panic!("{e}: {text}"));
    let now = Instant::now();
    l.handle_message(now, p, PHONE.parse().unwrap(), Transport::Udp, now);
    match l.poll_event() {
        Some(Event::Request { key, req, info, .. }) => (key, req, info),
        other => panic!("{other:?}"),
    }
}

/// An ACK that arrives from the phone.
fn ack_from(text: &str) -> (Request, Info) {
    let p = parse(text.as_bytes(), 65535).unwrap();
    match p.msg {
        SipMessage::Request(r) => (r, p.info),
        _ => unreachable!(),
    }
}

/// The key our request gets when it leaves through the transaction layer.
fn sent(req: &Request) -> ClientKey {
    let mut l = TransactionLayer::new(TimerConfig::default());
    l.send_request(
        Instant::now(),
        req.clone(),
        PHONE.parse().unwrap(),
        Transport::Udp,
    )
    .unwrap()
}

/// The phone's response `code` to our `req`, with To tag `tag` and extra headers and body.
fn answer(
    req: &Request,
    code: u16,
    tag: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> (Response, Info) {
    let mut r = message::response(req, code, Some(tag));
    for (n, v) in extra {
        r.headers
            .push(rsip::Header::Other((*n).into(), (*v).into()));
    }
    if !body.is_empty() {
        message::set_body(
            &mut r.headers,
            &mut r.body,
            "application/sdp",
            body.as_bytes().to_vec(),
        );
    } else {
        message::fix_content_length(&mut r.headers, 0);
    }
    let p = parse(r.to_string().as_bytes(), 65535).unwrap();
    match p.msg {
        SipMessage::Response(r) => (r, p.info),
        _ => unreachable!(),
    }
}

/// Every output, as (kind, text): "respond", "request" or "ack".
fn outs(next: impl FnMut() -> Option<Output>) -> Vec<(&'static str, String)> {
    std::iter::from_fn(next)
        .map(|o| match o {
            Output::Respond { response, .. } => ("respond", response.to_string()),
            Output::Request { request, .. } => ("request", request.to_string()),
            Output::Ack { request, .. } => ("ack", request.to_string()),
        })
        .collect()
}

/// The status line of each response output.
fn codes(o: &[(&str, String)]) -> Vec<u16> {
    o.iter()
        .filter(|(k, _)| *k == "respond")
        .map(|(_, t)| t[8..11].parse().unwrap())
        .collect()
}

fn request_of(o: &[(&str, String)], method: &str) -> Request {
    let text = &o
        .iter()
        .find(|(k, t)| *k != "respond" && t.starts_with(method))
        .unwrap_or_else(|| panic!("no {method} in {o:?}"))
        .1;
    match parse(text.as_bytes(), 65535).unwrap().msg {
        SipMessage::Request(r) => r,
        _ => unreachable!(),
    }
}

#[test]
fn dtmf_bodies_and_replaces_lookup() {
    assert_eq!(parse_dtmf(b"Signal=5\r\nDuration=160\r\n"), Some('5'));
    assert_eq!(parse_dtmf(b"signal= #\nDuration= 100"), Some('#'));
    assert_eq!(parse_dtmf(b"11"), Some('#'));
    assert_eq!(parse_dtmf(b"10"), Some('*'));
    assert_eq!(parse_dtmf(b"12"), Some('A'));
    assert_eq!(parse_dtmf(b"*"), Some('*'));
    for bad in [&b""[..], b"Signal=", b"99", b"xy", b"\xff", b"Duration=160"] {
        assert_eq!(parse_dtmf(bad), None, "{bad:?}");
    }
    let (_, inv, _) = arrive(&with_body(
        "INVITE sip:12345@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bKrp\r\n\
From: <sip:1002@10.0.0.5>;tag=n\r\nTo: <sip:12345@127.0.0.1>\r\nCall-ID: new\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:1002@10.0.0.5>\r\nReplaces: old@h;to-tag=ours;from-tag=theirs\r\n",
        "",
        "",
    ));
    let id = replaced_dialog(&inv).unwrap().unwrap();
    assert_eq!(
        (
            id.call_id.as_str(),
            id.local_tag.as_str(),
            id.remote_tag.as_str()
        ),
        ("old@h", "ours", "theirs")
    );
}
