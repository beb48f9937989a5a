//! Malformed and odd-but-valid messages in the spirit of RFC 4475: the parser answers each
//! with a value (a message or an error), never a panic.

use hotline_sip::framing::StreamFramer;
use hotline_sip::message::{self, ParseError};
use hotline_sip::rsip::message::HasHeaders;
use proptest::prelude::*;

const VALID: &str = "INVITE sip:12345@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK77\r\n\
From: <sip:138@10.0.0.1>;tag=1\r\nTo: <sip:12345@127.0.0.1>\r\nCall-ID: t1\r\n\
CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:138@10.0.0.1:5070>\r\n\
Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";

fn parses(s: &str) -> Result<message::Parsed, ParseError> {
    message::parse(s.as_bytes(), 65535)
}

#[test]
fn tolerated_oddities_parse() {
    // Compact forms, LF-only, folding, extra whitespace around colons, joined Vias.
    let odd = "INVITE sip:12345@127.0.0.1 SIP/2.0\n\
v: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1 , SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\n\
f: <sip:138@10.0.0.1>\n ;tag=1\n\
t  :  <sip:12345@127.0.0.1>\ni: t2\nCSeq: 1 INVITE\nm: <sip:138@10.0.0.1>\nl: 0\n\n";
    let p = parses(odd).unwrap();
    assert_eq!(p.info.call_id, "t2");
    assert_eq!(p.info.from_tag.as_deref(), Some("1"));
    assert_eq!(message::all(p.msg.headers(), "Via").count(), 2);
}

#[test]
fn malformed_messages_are_errors() {
    let cases = [
        String::new(),
        "\r\n\r\n".into(),
        "INVITE".into(),
        VALID.replace("Content-Length: 4", "Content-Length: 400"),
        VALID.replace("Content-Length: 4", "Content-Length: -1"),
        VALID.replace("CSeq: 1 INVITE", "CSeq: 1 BYE"),
        VALID.replace("CSeq: 1 INVITE", "CSeq: 99999999999 INVITE"),
        VALID.replace("Call-ID: t1\r\n", ""),
        VALID.replace("Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK77\r\n", ""),
        VALID.replace(
            "Via: SIP/2.0/UDP 10.0.0.1:5070",
            "Via: SIP/2.0/UDP 10.0.0.1:99999",
        ),
        VALID.replace("SIP/2.0\r\n", "SIP/7.0\r\n"),
        VALID.replace("INVITE sip:", "INVITE  sip:"),
        VALID.replace("sip:12345@127.0.0.1 SIP", "<sip:12345@127.0.0.1> SIP"),
        VALID[..VALID.len() / 2].to_string(),
        "SIP/2.0 999999 Huge\r\nContent-Length: 0\r\n\r\n".into(),
        "\u{0}\u{1}\u{2}".into(),
    ];
    for c in &cases {
        // Any outcome but a panic is acceptable; most must be errors.
        let _ = parses(c);
    }
    assert!(parses(&cases[3]).is_err(), "truncated body");
    assert!(parses(&cases[5]).is_err(), "CSeq method differs");
    assert!(parses(&cases[7]).is_err(), "no Call-ID");
    assert!(parses(&cases[8]).is_err(), "no Via");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = message::parse(&data, 4096);
        let _ = message::raw_error_response(&data, 4096);
        let mut f = StreamFramer::new(4096);
        f.push(&data);
        while let Ok(Some(_)) = f.next_message() {}
    }

    #[test]
    fn mutated_valid_messages_never_panic(pos in 0usize..VALID.len(), byte in any::<u8>(), cut in 0usize..VALID.len()) {
        let mut m = VALID.as_bytes().to_vec();
        m[pos] = byte;
        let _ = message::parse(&m, 4096);
        let _ = message::parse(&m[..cut], 4096);
        let _ = message::raw_error_response(&m[..cut], 4096);
    }
}
