//! The UAC side: [`InviteClient`].

use super::*;

fn target(credentials: bool) -> Target {
    Target {
        uri: rsip::Uri::try_from("sip:1001@10.0.0.5:5080").unwrap(),
        dest: PHONE.parse().unwrap(),
        transport: Transport::Udp,
        from: "\"13800138000\" <sip:13800138000@127.0.0.1>".into(),
        to: "<sip:1001@127.0.0.1>".into(),
        asserted: Some("<sip:13800138000@127.0.0.1>".into()),
        extra: vec![rsip::Header::Other("X-Ticket".into(), "20250101001".into())],
        credentials: credentials.then(|| ("hotline".to_string(), "s3cret".to_string())),
        contact: "<sip:12345@127.0.0.1:5060>".into(),
        via_host: US.parse().unwrap(),
    }
}

/// A client and its INVITE (as sent, with its transaction key).
fn start(credentials: bool) -> (InviteClient, Request, ClientKey) {
    let mut c =
        InviteClient::with_ids(target(credentials), OURS.into(), "out1".into(), "me".into());
    let o = outs(|| c.poll_output());
    assert_eq!(o.len(), 1);
    let inv = request_of(&o, "INVITE");
    let key = sent(&inv);
    (c, inv, key)
}

/// The phone's answer to `inv`: 200 with its Contact and SDP (tag `ag`).
fn ok(inv: &Request, extra: &[(&str, &str)], body: &str) -> (Response, Info) {
    let mut e = vec![("Contact", "<sip:1001@10.0.0.5:5080>")];
    e.extend_from_slice(extra);
    answer(inv, 200, "ag", &e, body)
}

/// A request from the phone in the answered dialog (theirs `ag`, ours `me`).
fn from_agent(method: &str, cseq: u32) -> String {
    with_body(
        &format!(
            "{method} sip:12345@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bKa{cseq}\r\n\
From: <sip:1001@127.0.0.1>;tag=ag\r\nTo: \"13800138000\" <sip:13800138000@127.0.0.1>;tag=me\r\nCall-ID: out1\r\n\
CSeq: {cseq} {method}\r\nContact: <sip:1001@10.0.0.5:5080>\r\n"
        ),
        "",
        "",
    )
}

fn connected(t0: Instant, extra: &[(&str, &str)]) -> InviteClient {
    let (mut c, inv, key) = start(false);
    let (r, info) = ok(&inv, extra, OFFER);
    assert!(matches!(
        c.handle_response(&key, &r, &info, t0),
        Some(ClientEvent::Answered { .. })
    ));
    outs(|| c.poll_output());
    c
}

#[test]
fn invite_rings_answers_acks_and_hangs_up() {
    let t0 = Instant::now();
    let (mut c, inv, key) = start(false);
    assert_eq!(c.call_id(), "out1");
    let text = inv.to_string();
    for want in [
        "INVITE sip:1001@10.0.0.5:5080 SIP/2.0\r\n",
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK",
        "From: \"13800138000\" <sip:13800138000@127.0.0.1>;tag=me\r\n",
        "To: <sip:1001@127.0.0.1>\r\n",
        "Call-ID: out1\r\n",
        "CSeq: 1 INVITE\r\n",
        "Contact: <sip:12345@127.0.0.1:5060>\r\n",
        "P-Asserted-Identity: <sip:13800138000@127.0.0.1>\r\n",
        "X-Ticket: 20250101001\r\n",
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n",
        "Supported: replaces, timer\r\n",
        "Content-Type: application/sdp\r\n",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    assert!(text.ends_with(OURS));
    let (trying, info) = answer(&inv, 100, "ag", &[], "");
    assert_eq!(c.handle_response(&key, &trying, &info, t0), None);
    let (ringing, info) = answer(&inv, 180, "ag", &[], "");
    assert_eq!(
        c.handle_response(&key, &ringing, &info, t0),
        Some(ClientEvent::Ringing)
    );
    assert_eq!(
        c.handle_response(&key, &ringing, &info, t0),
        None,
        "reported once"
    );
    let (r, info) = ok(&inv, &[], OFFER);
    assert_eq!(
        c.handle_response(&key, &r, &info, t0),
        Some(ClientEvent::Answered {
            sdp: OFFER.as_bytes().to_vec()
        })
    );
    assert!(c.is_connected());
    let o: Vec<Output> = std::iter::from_fn(|| c.poll_output()).collect();
    let [Output::Ack {
        invite,
        request,
        dest,
        ..
    }] = &o[..]
    else {
        panic!("{o:?}")
    };
    assert_eq!(invite, &key);
    assert_eq!(*dest, PHONE.parse().unwrap());
    let ack = request.to_string();
    assert!(
        ack.starts_with("ACK sip:1001@10.0.0.5:5080 SIP/2.0") && ack.contains("CSeq: 1 ACK"),
        "{ack}"
    );
    assert!(ack.contains("To: <sip:1001@127.0.0.1>;tag=ag"));
    // The same 200 again changes nothing.
    assert_eq!(c.handle_response(&key, &r, &info, t0), None);
    assert!(outs(|| c.poll_output()).is_empty());

    c.hang_up(t0);
    let bye = request_of(&outs(|| c.poll_output()), "BYE").to_string();
    assert!(
        bye.contains("CSeq: 2 BYE") && bye.contains("Call-ID: out1"),
        "{bye}"
    );
    assert!(c.is_ended() && !c.is_connected());
}

#[test]
fn one_digest_retry_then_failure() {
    let t0 = Instant::now();
    for (code, challenge, authz) in [
        (
            401,
            "WWW-Authenticate",
            "Authorization: Digest username=\"hotline\"",
        ),
        (
            407,
            "Proxy-Authenticate",
            "Proxy-Authorization: Digest username=\"hotline\"",
        ),
    ] {
        let (mut c, inv, key) = start(true);
        let ch = [(
            challenge,
            "Digest realm=\"carrier\", nonce=\"n1\", qop=\"auth\"",
        )];
        let (r, info) = answer(&inv, code, "gw", &ch, "");
        assert_eq!(c.handle_response(&key, &r, &info, t0), None);
        let again = request_of(&outs(|| c.poll_output()), "INVITE");
        let text = again.to_string();
        assert!(
            text.contains("CSeq: 2 INVITE") && text.contains(authz),
            "{text}"
        );
        assert!(text.contains("Call-ID: out1") && text.contains(";tag=me"));
        assert_ne!(
            message::first(&again.headers, "Via"),
            message::first(&inv.headers, "Via"),
            "a new branch"
        );
        let key2 = sent(&again);
        let (r, info) = answer(&again, code, "gw", &ch, "");
        assert_eq!(
            c.handle_response(&key2, &r, &info, t0),
            Some(ClientEvent::Failed(Failure::Status(code)))
        );
        assert!(c.is_ended());
    }
    // No credentials: the challenge is the failure.
    let (mut c, inv, key) = start(false);
    let (r, info) = answer(
        &inv,
        401,
        "gw",
        &[("WWW-Authenticate", "Digest realm=\"c\", nonce=\"n\"")],
        "",
    );
    assert_eq!(
        c.handle_response(&key, &r, &info, t0),
        Some(ClientEvent::Failed(Failure::Status(401)))
    );
}

#[test]
fn busy_and_no_response() {
    let t0 = Instant::now();
    let (mut c, inv, key) = start(false);
    let (r, info) = answer(&inv, 486, "ag", &[], "");
    assert_eq!(
        c.handle_response(&key, &r, &info, t0),
        Some(ClientEvent::Failed(Failure::Status(486)))
    );
    assert_eq!(Failure::Status(486).to_string(), "486");
    let (mut c, _, key) = start(false);
    assert_eq!(
        c.handle_tx_timeout(&key),
        Some(ClientEvent::Failed(Failure::NoResponse))
    );
    assert!(c.is_ended());
}

#[test]
fn cancel_waits_for_a_provisional_then_487_is_no_answer() {
    let t0 = Instant::now();
    let (mut c, inv, key) = start(false);
    c.cancel(t0);
    assert!(
        outs(|| c.poll_output()).is_empty(),
        "no CANCEL before a 1xx (§9.1)"
    );
    let (ringing, info) = answer(&inv, 180, "ag", &[], "");
    assert_eq!(c.handle_response(&key, &ringing, &info, t0), None);
    let cancel = request_of(&outs(|| c.poll_output()), "CANCEL").to_string();
    assert!(
        cancel.contains("CSeq: 1 CANCEL") && cancel.contains("Call-ID: out1"),
        "{cancel}"
    );
    let (gone, info) = answer(&inv, 487, "ag", &[], "");
    assert_eq!(
        c.handle_response(&key, &gone, &info, t0),
        Some(ClientEvent::Failed(Failure::NoAnswer))
    );
    assert_eq!(c.poll_timeout(), None);

    // A CANCEL never answered: give up after 32 s.
    let (mut c, inv, key) = start(false);
    let (ringing, info) = answer(&inv, 183, "ag", &[], "");
    c.handle_response(&key, &ringing, &info, t0);
    c.hang_up(t0);
    request_of(&outs(|| c.poll_output()), "CANCEL");
    assert_eq!(c.poll_timeout(), Some(t0 + secs(32)));
    assert_eq!(c.handle_timeout(t0 + secs(31)), None);
    assert_eq!(
        c.handle_timeout(t0 + secs(32)),
        Some(ClientEvent::Failed(Failure::NoAnswer))
    );
}

#[test]
fn a_200_crossing_our_cancel_is_acked_then_byed() {
    let t0 = Instant::now();
    let (mut c, inv, key) = start(false);
    let (ringing, info) = answer(&inv, 180, "ag", &[], "");
    c.handle_response(&key, &ringing, &info, t0);
    c.cancel(t0);
    outs(|| c.poll_output());
    let (r, info) = ok(&inv, &[], OFFER);
    assert_eq!(
        c.handle_response(&key, &r, &info, t0),
        Some(ClientEvent::Failed(Failure::NoAnswer))
    );
    let o = outs(|| c.poll_output());
    assert_eq!(
        o.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        ["ack", "request"]
    );
    assert!(o[1].1.starts_with("BYE sip:1001@10.0.0.5:5080") && o[1].1.contains("CSeq: 2 BYE"));
    assert!(c.is_ended());
    // The 487 to the INVITE that follows changes nothing.
    let (gone, info) = answer(&inv, 487, "ag", &[], "");
    assert_eq!(c.handle_response(&key, &gone, &info, t0), None);
}

#[test]
fn unusable_answers() {
    let t0 = Instant::now();
    let (mut c, inv, key) = start(false);
    let (r, info) = ok(&inv, &[], "");
    assert_eq!(
        c.handle_response(&key, &r, &info, t0),
        Some(ClientEvent::Failed(Failure::Unusable("no SDP answer")))
    );
    let o = outs(|| c.poll_output());
    assert_eq!(
        o.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        ["ack", "request"]
    );
    assert!(o[1].1.starts_with("BYE"));

    let (mut c, inv, key) = start(false);
    let (r, info) = answer(&inv, 200, "ag", &[], OFFER); // no Contact
    assert_eq!(
        c.handle_response(&key, &r, &info, t0),
        Some(ClientEvent::Failed(Failure::Unusable("bad 2xx")))
    );
}

#[test]
fn in_dialog_requests_reach_the_session() {
    let t0 = Instant::now();
    let (mut c, inv, _) = start(false);
    let (key, req, info) = arrive(&from_agent("BYE", 1));
    assert_eq!(c.handle_request(&key, &req, &info, t0), None);
    assert_eq!(codes(&outs(|| c.poll_output())), [481], "no dialog yet");
    drop(inv);

    let mut c = connected(t0, &[]);
    let (key, req, info) = arrive(&from_agent("OPTIONS", 2));
    c.handle_request(&key, &req, &info, t0);
    assert_eq!(codes(&outs(|| c.poll_output())), [200]);
    let (key, req, info) = arrive(&from_agent("BYE", 3));
    assert_eq!(
        c.handle_request(&key, &req, &info, t0),
        Some(SessionEvent::Bye)
    );
    assert_eq!(codes(&outs(|| c.poll_output())), [200]);
    assert!(c.is_ended());
    c.hang_up(t0);
    assert!(outs(|| c.poll_output()).is_empty(), "no BYE after theirs");
}

#[test]
fn hold_from_our_side_and_its_answer() {
    let t0 = Instant::now();
    let mut c = connected(t0, &[]);
    let hold = OURS.replace("a=sendrecv", "a=sendonly");
    c.session().unwrap().reinvite(hold).unwrap();
    let re = request_of(&outs(|| c.poll_output()), "INVITE");
    assert!(re.to_string().contains("CSeq: 2 INVITE"));
    let key = sent(&re);
    let (r, info) = answer(
        &re,
        200,
        "ag",
        &[("Contact", "<sip:1001@10.0.0.5:5080>")],
        OFFER,
    );
    assert!(matches!(
        c.handle_response(&key, &r, &info, t0),
        Some(ClientEvent::Session(SessionEvent::Answer { .. }))
    ));
    let ack = request_of(&outs(|| c.poll_output()), "ACK").to_string();
    assert!(ack.contains("CSeq: 2 ACK"), "{ack}");
    // 491 on a re-INVITE of ours: we made the Call-ID, so we wait 2.1–4 s.
    c.session().unwrap().reinvite(OURS.into()).unwrap();
    let re = request_of(&outs(|| c.poll_output()), "INVITE");
    let (r, info) = answer(&re, 491, "ag", &[], "");
    assert_eq!(c.handle_response(&sent(&re), &r, &info, t0), None);
    let at = c.poll_timeout().unwrap();
    assert!(at >= t0 + Duration::from_millis(2100) && at < t0 + secs(4));
    // A re-INVITE's Timer B is the dialog's business, not a failed call.
    c.handle_timeout(at);
    let re = request_of(&outs(|| c.poll_output()), "INVITE");
    assert_eq!(
        c.handle_tx_timeout(&sent(&re)),
        Some(ClientEvent::Session(SessionEvent::Ended(
            EndReason::NoResponse
        )))
    );
}

#[test]
fn session_timer_asked_by_the_answer() {
    let t0 = Instant::now();
    let mut c = connected(
        t0,
        &[
            ("Session-Expires", "120;refresher=uac"),
            ("Require", "timer"),
        ],
    );
    assert_eq!(c.poll_timeout(), Some(t0 + secs(60)));
    assert_eq!(c.handle_timeout(t0 + secs(60)), None);
    let re = request_of(&outs(|| c.poll_output()), "INVITE");
    let text = re.to_string();
    assert!(
        text.contains("Session-Expires: 120;refresher=uac") && text.ends_with(OURS),
        "{text}"
    );
    let (r, info) = answer(
        &re,
        200,
        "ag",
        &[("Session-Expires", "120;refresher=uac")],
        OFFER,
    );
    assert_eq!(
        c.handle_response(&sent(&re), &r, &info, t0 + secs(61)),
        None,
        "a refresh is silent"
    );
    assert_eq!(c.poll_timeout(), Some(t0 + secs(121)));

    // The phone refreshes: we only watch, and end the call when it stops.
    let mut c = connected(t0, &[("Session-Expires", "120;refresher=uas")]);
    assert_eq!(c.poll_timeout(), Some(t0 + secs(88)));
    assert_eq!(
        c.handle_timeout(t0 + secs(88)),
        Some(ClientEvent::Session(SessionEvent::Ended(
            EndReason::SessionExpired
        )))
    );
    request_of(&outs(|| c.poll_output()), "BYE");
}

#[test]
fn a_second_fork_answering_is_acked_and_byed() {
    let t0 = Instant::now();
    let (mut c, inv, key) = start(false);
    let (r, info) = ok(&inv, &[], OFFER);
    c.handle_response(&key, &r, &info, t0);
    outs(|| c.poll_output());
    let (r2, info2) = answer(
        &inv,
        200,
        "fork2",
        &[("Contact", "<sip:1001@10.0.0.7>")],
        OFFER,
    );
    assert_eq!(c.handle_response(&key, &r2, &info2, t0), None);
    let o = outs(|| c.poll_output());
    assert_eq!(
        o.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        ["ack", "request"]
    );
    assert!(o[1].1.starts_with("BYE sip:1001@10.0.0.7") && o[1].1.contains("tag=fork2"));
    assert!(c.is_connected(), "the first answer stays");
}
