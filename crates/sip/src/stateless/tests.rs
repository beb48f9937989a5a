use std::net::SocketAddr;

use proptest::prelude::*;

use super::*;
use crate::message::{self, Parsed};

const INVITE: &str = "INVITE sip:12345@10.0.0.9 SIP/2.0\r\n\
v: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa1;rport\r\n\
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKb2\r\n\
From: \"Zhang San\" <sip:13800138000@10.0.0.1>;tag=f1\r\n\
t: <sip:12345@10.0.0.9>\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 7 INVITE\r\n\
Max-Forwards: 70\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

fn source() -> SocketAddr {
    "10.0.0.1:40000".parse().unwrap()
}

fn parse(bytes: &[u8]) -> Parsed {
    message::parse(bytes, 9999).expect("our answer parses")
}

fn ack_for(answer: &[u8], branch: &str) -> String {
    let to = parse(answer).info.to_tag.expect("the answer has a To-tag");
    format!(
        "ACK sip:12345@10.0.0.9 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch={branch};rport\r\n\
From: \"Zhang San\" <sip:13800138000@10.0.0.1>;tag=f1\r\n\
To: <sip:12345@10.0.0.9>;tag={to}\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 7 ACK\r\n\
Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_new_invite_gets_a_503_carrying_what_a_response_must_copy() {
    let r = Refuser::new();
    let peek = r
        .peek_invite(INVITE.as_bytes())
        .expect("a plain new INVITE");
    assert_eq!(peek.called, "12345");
    assert_eq!(peek.call_id, "c1@10.0.0.1");
    let (bytes, dest) = r.answer(&peek, source(), 5);
    // rport (RFC 3581): back to where it came from, not to the Via's port, and the
    // top Via says so.
    assert_eq!(dest, source());
    let p = parse(&bytes);
    let rsip::SipMessage::Response(resp) = &p.msg else {
        panic!("not a response")
    };
    assert_eq!(u16::from(resp.status_code.clone()), 503);
    assert_eq!(p.info.call_id, "c1@10.0.0.1");
    assert_eq!((p.info.cseq, p.info.cseq_method), (7, rsip::Method::Invite));
    assert_eq!(p.info.from_tag.as_deref(), Some("f1"));
    assert!(p.info.to_tag.as_deref().unwrap().starts_with(TAG_PREFIX));
    let vias: Vec<&str> = message::all(&resp.headers, "Via").collect();
    assert_eq!(
        vias,
        [
            "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa1;received=10.0.0.1;rport=40000",
            "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKb2"
        ]
    );
    let retry: Vec<&str> = message::all(&resp.headers, "Retry-After").collect();
    assert_eq!(retry, ["5"]);
    let length: Vec<&str> = message::all(&resp.headers, "Content-Length").collect();
    assert_eq!(length, ["0"]);
    assert!(bytes.ends_with(b"\r\n\r\n"), "no body");
}

#[test]
fn a_via_without_rport_is_answered_at_its_sent_by_with_received() {
    let invite = INVITE.replace(";rport\r\n", "\r\n");
    let r = Refuser::new();
    let peek = r.peek_invite(invite.as_bytes()).unwrap();
    let (bytes, dest) = r.answer(&peek, source(), 5);
    assert_eq!(dest, "10.0.0.1:5070".parse::<SocketAddr>().unwrap());
    let text = String::from_utf8(bytes).unwrap();
    // The host is the source's address, so no `received` is needed (§18.2.1).
    assert!(
        text.contains("Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa1\r\n"),
        "{text}"
    );
}

#[test]
fn a_retransmission_gets_the_same_answer_and_its_ack_is_known() {
    let r = Refuser::new();
    let first = r.answer(&r.peek_invite(INVITE.as_bytes()).unwrap(), source(), 5);
    let again = r.answer(&r.peek_invite(INVITE.as_bytes()).unwrap(), source(), 5);
    assert_eq!(first, again);
    let ack = ack_for(&first.0, "z9hG4bKa1");
    assert!(r.is_ack_of_answer(ack.as_bytes()));
    // Not ours: another branch (another transaction), another endpoint's key, a tag we
    // did not make, or not an ACK at all.
    assert!(!r.is_ack_of_answer(ack_for(&first.0, "z9hG4bKzz").as_bytes()));
    assert!(!Refuser::new().is_ack_of_answer(ack.as_bytes()));
    let forged = ack.replace(";tag=sl", ";tag=sl0");
    assert!(!r.is_ack_of_answer(forged.as_bytes()));
    assert!(!r.is_ack_of_answer(INVITE.as_bytes()));
    let bye = ack.replacen("ACK ", "BYE ", 1);
    assert!(!r.is_ack_of_answer(bye.as_bytes()));
}

#[test]
fn anything_unusual_is_left_to_the_full_path() {
    let r = Refuser::new();
    let cases = [
        // In dialog: a re-INVITE has a To-tag.
        INVITE.replace("t: <sip:12345@10.0.0.9>", "t: <sip:12345@10.0.0.9>;tag=x"),
        // No From-tag (§8.1.1.3 requires one).
        INVITE.replace(";tag=f1", ""),
        // An RFC 2543 branch: its transaction is matched another way.
        INVITE.replace("branch=z9hG4bKa1", "branch=a1"),
        // Folded header.
        INVITE.replace("CSeq: 7 INVITE", "CSeq: 7\r\n INVITE"),
        // A header given twice.
        INVITE.replace("Call-ID: c1@10.0.0.1\r\n", "Call-ID: c1\r\ni: c2\r\n"),
        // CSeq of another method.
        INVITE.replace("CSeq: 7 INVITE", "CSeq: 7 OPTIONS"),
        // Missing Call-ID.
        INVITE.replace("Call-ID: c1@10.0.0.1\r\n", ""),
        // Another method, another version, no header end.
        INVITE.replacen("INVITE ", "OPTIONS ", 1),
        INVITE.replace("SIP/2.0\r\nv:", "SIP/3.0\r\nv:"),
        INVITE.split("\r\n\r\n").next().unwrap().to_string(),
        // Request-URI without a user.
        INVITE.replace("sip:12345@10.0.0.9 SIP", "sip:10.0.0.9 SIP"),
    ];
    for c in &cases {
        assert!(r.peek_invite(c.as_bytes()).is_none(), "{c}");
    }
    assert!(r.peek_invite(b"INVITE \xff\xfe SIP/2.0\r\n\r\n").is_none());
}

proptest! {
    /// Whatever arrives, peeking and answering never panic.
    #[test]
    fn never_panics_on_what_the_network_sends(
        cut in 0usize..INVITE.len(),
        at in 0usize..INVITE.len(),
        byte in any::<u8>(),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let r = Refuser::new();
        let mut bytes = INVITE.as_bytes()[..cut].to_vec();
        bytes.extend_from_slice(b"\r\n\r\n");
        let mut mutated = INVITE.as_bytes().to_vec();
        mutated[at] = byte;
        let mut noisy = b"INVITE ".to_vec();
        noisy.extend_from_slice(&noise);
        for b in [bytes, mutated, noisy] {
            if let Some(p) = r.peek_invite(&b) {
                let _ = r.answer(&p, source(), 5);
            }
            let _ = r.is_ack_of_answer(&b);
        }
    }
}
