use super::*;
use crate::message::{parse, Transport};
use proptest::prelude::*;

fn request(text: &str) -> Request {
    match parse(text.as_bytes(), 65535).unwrap().msg {
        rsip::SipMessage::Request(r) => r,
        _ => unreachable!(),
    }
}

fn refer_with(headers: &str) -> Request {
    request(&format!(
        "REFER sip:12345@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bKr1\r\n\
From: <sip:1001@10.0.0.5>;tag=ag\r\nTo: <sip:12345@127.0.0.1>;tag=us\r\nCall-ID: c1\r\nCSeq: 3 REFER\r\n\
Contact: <sip:1001@10.0.0.5:5080>\r\n{headers}Content-Length: 0\r\n\r\n"
    ))
}

#[test]
fn blind_transfer_name_addr_and_bare_uri() {
    let r = parse_refer(&refer_with(
        "Refer-To: \"Survey\" <sip:survey@127.0.0.1:5060;user=phone>\r\nReferred-By: <sip:1001@10.0.0.5>\r\n",
    ))
    .unwrap();
    assert_eq!(r.target.uri, "sip:survey@127.0.0.1:5060;user=phone");
    assert_eq!(r.target.user.as_deref(), Some("survey"));
    assert_eq!(r.target.host, "127.0.0.1");
    assert_eq!(r.target.display.as_deref(), Some("Survey"));
    assert_eq!(r.target.replaces, None);
    assert_eq!(r.referred_by.as_deref(), Some("sip:1001@10.0.0.5"));

    let bare = parse_refer(&refer_with(
        "r: sip:12319@[2001:db8::1]:5062;method=INVITE\r\n",
    ))
    .unwrap();
    assert_eq!(bare.target.uri, "sip:12319@[2001:db8::1]:5062");
    assert_eq!(bare.target.user.as_deref(), Some("12319"));
    assert_eq!(bare.target.host, "2001:db8::1");
    assert_eq!(bare.referred_by, None);

    let hostonly: ReferTo = "<sips:gw.example.com>".parse().unwrap();
    assert_eq!(
        (hostonly.user, hostonly.host.as_str()),
        (None, "gw.example.com")
    );
}

#[test]
fn attended_transfer_carries_decoded_replaces() {
    let r = parse_refer(&refer_with(
        "Refer-To: <sip:1002@10.0.0.6?Replaces=abc%40host%3Bto-tag%3Dt1%3Bfrom-tag%3Df1&Require=replaces>\r\n",
    ))
    .unwrap();
    assert_eq!(r.target.uri, "sip:1002@10.0.0.6");
    let rep = r.target.replaces.unwrap();
    assert_eq!(
        rep,
        Replaces {
            call_id: "abc@host".into(),
            to_tag: "t1".into(),
            from_tag: "f1".into(),
            early_only: false
        }
    );
    // The receiver of the INVITE finds its dialog: to-tag is its local tag.
    assert_eq!(
        rep.dialog_id(),
        DialogId {
            call_id: "abc@host".into(),
            local_tag: "t1".into(),
            remote_tag: "f1".into()
        }
    );
    assert_eq!(
        Replaces::for_peer_of(&rep.dialog_id())
            .dialog_id()
            .local_tag,
        "f1"
    );
}

#[test]
fn replaces_header_round_trip_and_early_only() {
    let r: Replaces = "x1@h ; From-Tag=b ;to-tag=a; early-only".parse().unwrap();
    assert!(r.early_only);
    assert_eq!(r.to_string(), "x1@h;to-tag=a;from-tag=b;early-only");
    assert_eq!(r.to_string().parse::<Replaces>().unwrap(), r);
    let invite = request(
        "INVITE sip:1002@10.0.0.6 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bKi\r\n\
From: <sip:1001@10.0.0.5>;tag=n\r\nTo: <sip:1002@10.0.0.6>\r\nCall-ID: new\r\nCSeq: 1 INVITE\r\n\
Replaces: old@h;to-tag=l;from-tag=r\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(replaces_in(&invite).unwrap().unwrap().call_id, "old@h");
    assert_eq!(replaces_in(&refer_with("")).unwrap(), None);
}

#[test]
fn bad_values_are_errors() {
    for bad in [
        "",
        ";to-tag=a;from-tag=b",
        "c;to-tag=a",
        "c;from-tag=b",
        "c;to-tag=;from-tag=b",
        "c;to-tag=a;to-tag=a;from-tag=b",
        "c d;to-tag=a;from-tag=b",
    ] {
        assert!(bad.parse::<Replaces>().is_err(), "{bad:?}");
    }
    for bad in [
        "<sip:a@h",
        "tel:+8613800138000",
        "<mailto:a@b>",
        "sip:",
        "sip:a@",
        "<sip:[::1>",
        "<sip:a@h?Replaces=%zz>",
        "<sip:a@h?Replaces=c%3Bto-tag%3Da>",
        "<sip:a@h?Replaces=%ff%fe>",
        "<sip:a@h?Replaces=c%3Bto-tag%3Da%3Bfrom-tag%3Db&replaces=x>",
        "<sip:a@h?Replaces=%",
        "sip:%4@h",
    ] {
        assert!(bad.parse::<ReferTo>().is_err(), "{bad:?}");
    }
    assert_eq!(
        parse_refer(&refer_with("")).unwrap_err(),
        ReferError::MissingReferTo
    );
    let two = parse_refer(&refer_with(
        "Refer-To: <sip:a@h>\r\nRefer-To: <sip:b@h>\r\n",
    ));
    assert_eq!(two.unwrap_err(), ReferError::SeveralReferTo);
    assert_eq!(ReferError::BadEscape.status(), 400);
    assert_eq!(percent_decode("a%20b%3d").unwrap(), "a b=");
}

#[test]
fn notify_reports_progress_then_terminates() {
    let mut d = crate::dialog::Dialog::uas(
        &refer_with(""),
        &parse(refer_with("").to_string().as_bytes(), 65535)
            .unwrap()
            .info,
        "us",
        "<sip:12345@127.0.0.1:5060>",
        "10.0.0.5:5080".parse().unwrap(),
        Transport::Udp,
    )
    .unwrap();
    let via: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let trying = notify(&mut d, via, 100, SubscriptionState::for_status(100), None).to_string();
    assert!(
        trying.starts_with("NOTIFY sip:1001@10.0.0.5:5080 SIP/2.0\r\n"),
        "{trying}"
    );
    assert!(trying.contains("Event: refer\r\n"), "{trying}");
    assert!(trying.contains("Subscription-State: active;expires=60\r\n"));
    assert!(trying.contains("Content-Type: message/sipfrag;version=2.0\r\n"));
    assert!(
        trying.ends_with("\r\n\r\nSIP/2.0 100 Trying\r\n"),
        "{trying}"
    );
    assert!(trying.contains("CSeq: 1 NOTIFY"));
    let done = notify(
        &mut d,
        via,
        503,
        SubscriptionState::for_status(503),
        Some(7),
    )
    .to_string();
    assert!(done.contains("Event: refer;id=7\r\n"));
    assert!(done.contains("Subscription-State: terminated;reason=noresource\r\n"));
    assert!(done.contains("CSeq: 2 NOTIFY"));
    assert!(done.ends_with("SIP/2.0 503 Service Unavailable\r\n"));
    // What we send parses back.
    let p = parse(done.as_bytes(), 65535).unwrap();
    assert_eq!(p.info.cseq_method, Method::Notify);
    assert_eq!(sipfrag(200), "SIP/2.0 200 OK\r\n");
}

proptest! {
    #[test]
    fn garbage_never_panics(s in "\\PC{0,80}", t in "[<>\"%;=?&@:\\[\\]a-z0-9 ]{0,60}") {
        let _ = s.parse::<ReferTo>();
        let _ = s.parse::<Replaces>();
        let _ = percent_decode(&s);
        let _ = t.parse::<ReferTo>();
        let _ = t.parse::<Replaces>();
        let _ = percent_decode(&t);
    }
}
