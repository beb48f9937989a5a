//! The UAS side and the in-dialog paths shared by both sides.

use super::*;

fn invite(extra: &str, body: &str) -> String {
    with_body(
        &format!(
            "INVITE sip:12345@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bKinv\r\n\
Record-Route: <sip:10.0.0.9;lr>\r\nFrom: \"138\" <sip:138@10.0.0.5>;tag=ph\r\nTo: <sip:12345@127.0.0.1>\r\n\
Call-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:138@10.0.0.5:5080>\r\n{extra}"
        ),
        "application/sdp",
        body,
    )
}

/// A request from the phone in the dialog `c1` (our tag `us`, theirs `ph`).
fn from_phone(method: &str, cseq: u32, extra: &str, ctype: &str, body: &str) -> String {
    with_body(
        &format!(
            "{method} sip:12345@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bK{method}{cseq}\r\n\
From: \"138\" <sip:138@10.0.0.5>;tag=ph\r\nTo: <sip:12345@127.0.0.1>;tag=us\r\nCall-ID: c1\r\n\
CSeq: {cseq} {method}\r\nContact: <sip:138@10.0.0.5:5080>\r\n{extra}"
        ),
        ctype,
        body,
    )
}

fn local() -> Local {
    Local {
        tag: "us".into(),
        contact: "<sip:12345@127.0.0.1:5060>".into(),
        via_host: US.parse().unwrap(),
        peer: PHONE.parse().unwrap(),
        transport: Transport::Udp,
        min_se: 90,
    }
}

fn accepted(extra: &str, t0: Instant) -> (Response, DialogUsage) {
    let (_, req, info) = arrive(&invite(extra, OFFER));
    DialogUsage::accept(&req, &info, local(), OURS.into(), t0).unwrap()
}

/// Feeds a request from the phone; returns its event and every output.
fn feed(
    u: &mut DialogUsage,
    text: &str,
    now: Instant,
) -> (Option<SessionEvent>, Vec<(&'static str, String)>) {
    let (key, req, info) = arrive(text);
    let ev = u.handle_request(&key, &req, &info, now);
    (ev, outs(|| u.poll_output()))
}

#[test]
fn accept_builds_the_200_and_honours_timers() {
    let t0 = Instant::now();
    let (ok, u) = accepted(
        "Supported: replaces, timer\r\nSession-Expires: 1800\r\n",
        t0,
    );
    let ok = ok.to_string();
    for want in [
        "SIP/2.0 200 OK\r\n",
        "To: <sip:12345@127.0.0.1>;tag=us\r\n",
        "Record-Route: <sip:10.0.0.9;lr>\r\n",
        "Contact: <sip:12345@127.0.0.1:5060>\r\n",
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n",
        "Supported: replaces, timer\r\n",
        "Require: timer\r\n",
        "Session-Expires: 1800;refresher=uac\r\n",
        "Content-Type: application/sdp\r\n",
    ] {
        assert!(ok.contains(want), "{want} in {ok}");
    }
    assert!(ok.ends_with(OURS));
    assert_eq!(u.dialog().id.remote_tag, "ph");
    // The phone refreshes; we end the call 32 s before expiry if it does not.
    assert_eq!(u.poll_timeout(), Some(t0 + secs(1768)));
    assert!(!u.session_timer().unwrap().we_refresh());

    // No timer asked: none runs, no Session-Expires.
    let (ok, u) = accepted("", t0);
    assert!(!ok.to_string().contains("Session-Expires"));
    assert_eq!(u.poll_timeout(), None);

    // Too small: 422 with our Min-SE.
    let (_, req, info) = arrive(&invite("Session-Expires: 30\r\n", OFFER));
    let e = DialogUsage::accept(&req, &info, local(), OURS.into(), t0).unwrap_err();
    assert_eq!(e, AcceptError::IntervalTooSmall { min_se: 90 });
    let r = e.response(&req, Some("us")).to_string();
    assert!(
        r.starts_with("SIP/2.0 422 Session Interval Too Small") && r.contains("Min-SE: 90\r\n"),
        "{r}"
    );

    // No Contact: 400.
    let (_, req, info) =
        arrive(&invite("", OFFER).replace("Contact: <sip:138@10.0.0.5:5080>\r\n", ""));
    let e = DialogUsage::accept(&req, &info, local(), OURS.into(), t0).unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn offerless_invite_gets_our_offer_and_the_answer_comes_in_the_ack() {
    let t0 = Instant::now();
    let (_, req, info) = arrive(&invite("", ""));
    let (ok, mut u) = DialogUsage::accept(&req, &info, local(), OURS.into(), t0).unwrap();
    assert!(ok.to_string().ends_with(OURS));
    let (ack, ainfo) = ack_from(&from_phone("ACK", 1, "", "application/sdp", OFFER));
    assert_eq!(
        u.handle_ack(&ack, &ainfo),
        Some(SessionEvent::Answer {
            sdp: OFFER.as_bytes().to_vec()
        })
    );
    assert_eq!(u.handle_ack(&ack, &ainfo), None);
}

#[test]
fn bye_ends_the_dialog_and_later_requests_get_481() {
    let t0 = Instant::now();
    let (_, mut u) = accepted("", t0);
    let (ev, o) = feed(&mut u, &from_phone("BYE", 2, "", "", ""), t0);
    assert_eq!(ev, Some(SessionEvent::Bye));
    assert_eq!(codes(&o), [200]);
    assert!(u.is_terminated());
    let (ev, o) = feed(&mut u, &from_phone("INFO", 3, "", "", ""), t0);
    assert_eq!((ev, codes(&o)), (None, vec![481]));
    assert_eq!(u.reinvite(OURS.into()), Err(UsageError::Terminated));
}

#[test]
fn foreign_and_out_of_order_requests() {
    let t0 = Instant::now();
    let (_, mut u) = accepted("", t0);
    let other = from_phone("BYE", 2, "", "", "").replace("tag=us", "tag=nope");
    let (ev, o) = feed(&mut u, &other, t0);
    assert_eq!((ev, codes(&o)), (None, vec![481]));
    assert!(!u.is_terminated());
    let (ev, o) = feed(&mut u, &from_phone("INFO", 1, "", "", ""), t0);
    assert_eq!((ev, codes(&o)), (None, vec![500]));
    let (_, o) = feed(&mut u, &from_phone("OPTIONS", 2, "", "", ""), t0);
    assert_eq!(codes(&o), [200]);
    assert!(o[0].1.contains(&format!("Allow: {ALLOW}\r\n")));
    let (_, o) = feed(
        &mut u,
        &from_phone("MESSAGE", 3, "", "text/plain", "hi"),
        t0,
    );
    assert_eq!(codes(&o), [405]);
    assert!(o[0].1.contains(&format!("Allow: {ALLOW}\r\n")));
}

#[test]
fn hold_and_resume_by_reinvite_and_update() {
    let t0 = Instant::now();
    let (_, mut u) = accepted("", t0);
    let hold = OFFER.replace("a=sendrecv", "a=sendonly");
    let (ev, o) = feed(
        &mut u,
        &from_phone("INVITE", 2, "", "application/sdp", &hold),
        t0,
    );
    assert_eq!(
        ev,
        Some(SessionEvent::ReInvite {
            held: true,
            offer: hold.clone().into_bytes(),
            update: false
        })
    );
    assert!(o.is_empty(), "the answer waits for the caller: {o:?}");
    let ours_held = OURS.replace("a=sendrecv", "a=recvonly");
    u.answer_offer(ours_held.clone(), t0).unwrap();
    let o = outs(|| u.poll_output());
    assert_eq!(codes(&o), [200]);
    assert!(
        o[0].1.contains("CSeq: 2 INVITE") && o[0].1.contains("Contact: <sip:12345@127.0.0.1:5060>")
    );
    assert!(o[0].1.ends_with(&ours_held));
    assert_eq!(u.local_sdp(), ours_held);
    assert_eq!(u.answer_offer(OURS.into(), t0), Err(UsageError::NoOffer));

    let inactive = OFFER.replace("a=sendrecv", "a=inactive");
    let (ev, _) = feed(
        &mut u,
        &from_phone("UPDATE", 3, "", "application/sdp", &inactive),
        t0,
    );
    assert!(matches!(
        ev,
        Some(SessionEvent::ReInvite {
            held: true,
            update: true,
            ..
        })
    ));
    u.reject_offer(488).unwrap();
    assert_eq!(codes(&outs(|| u.poll_output())), [488]);

    let (ev, _) = feed(
        &mut u,
        &from_phone("INVITE", 4, "", "application/sdp", OFFER),
        t0,
    );
    assert!(matches!(
        ev,
        Some(SessionEvent::ReInvite { held: false, .. })
    ));
    u.answer_offer(OURS.into(), t0).unwrap();
    assert_eq!(codes(&outs(|| u.poll_output())), [200]);

    // Not SDP, or SDP without audio.
    let (_, o) = feed(
        &mut u,
        &from_phone("INVITE", 5, "", "text/plain", "hello"),
        t0,
    );
    assert_eq!(codes(&o), [415]);
    let video = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n";
    let (_, o) = feed(
        &mut u,
        &from_phone("INVITE", 6, "", "application/sdp", video),
        t0,
    );
    assert_eq!(codes(&o), [488]);
}

#[test]
fn refresh_without_sdp_gets_current_sdp_and_restarts_the_timer() {
    let t0 = Instant::now();
    let (_, mut u) = accepted("Supported: timer\r\nSession-Expires: 600\r\n", t0);
    assert_eq!(u.poll_timeout(), Some(t0 + secs(568)));
    let (ev, o) = feed(
        &mut u,
        &from_phone(
            "INVITE",
            2,
            "Supported: timer\r\nSession-Expires: 600;refresher=uac\r\n",
            "",
            "",
        ),
        t0 + secs(300),
    );
    assert_eq!(ev, None);
    assert_eq!(codes(&o), [200]);
    assert!(o[0].1.contains("Session-Expires: 600;refresher=uac\r\n"));
    assert!(o[0].1.ends_with(OURS));
    assert_eq!(u.poll_timeout(), Some(t0 + secs(868)));
    let (ev, o) = feed(
        &mut u,
        &from_phone("UPDATE", 3, "k: timer\r\nx: 600\r\n", "", ""),
        t0 + secs(600),
    );
    assert_eq!(ev, None);
    assert_eq!(codes(&o), [200]);
    assert!(!o[0].1.contains("application/sdp"), "{}", o[0].1);
    assert_eq!(u.poll_timeout(), Some(t0 + secs(1168)));
    // A refresh asking for too small an interval gets 422.
    let (_, o) = feed(
        &mut u,
        &from_phone("UPDATE", 4, "Session-Expires: 10\r\n", "", ""),
        t0,
    );
    assert_eq!(codes(&o), [422]);
}

#[test]
fn session_expires_without_refresh_sends_bye() {
    let t0 = Instant::now();
    let (_, mut u) = accepted("Supported: timer\r\nSession-Expires: 90\r\n", t0);
    assert_eq!(u.handle_timeout(t0 + secs(59)), None);
    assert_eq!(
        u.handle_timeout(t0 + secs(60)),
        Some(SessionEvent::Ended(EndReason::SessionExpired))
    );
    let o = outs(|| u.poll_output());
    let bye = request_of(&o, "BYE");
    assert_eq!(bye.uri.to_string(), "sip:138@10.0.0.5:5080");
    assert!(u.is_terminated());
    assert_eq!(u.poll_timeout(), None);
}

#[test]
fn we_refresh_when_asked_and_ack_the_2xx() {
    let t0 = Instant::now();
    let (_, mut u) = accepted(
        "Supported: timer\r\nSession-Expires: 1800;refresher=uas\r\n",
        t0,
    );
    assert_eq!(u.poll_timeout(), Some(t0 + secs(900)));
    // A REFER's NOTIFY goes out first, so the re-INVITE's CSeq is not the first.
    feed(
        &mut u,
        &from_phone("REFER", 2, "Refer-To: <sip:survey@127.0.0.1>\r\n", "", ""),
        t0,
    );
    assert_eq!(u.handle_timeout(t0 + secs(900)), None);
    let o = outs(|| u.poll_output());
    let re = request_of(&o, "INVITE");
    let text = re.to_string();
    assert!(
        text.contains("CSeq: 2 INVITE") && text.contains("Session-Expires: 1800;refresher=uac"),
        "{text}"
    );
    assert!(text.ends_with(OURS));
    u.notify_refer(200).unwrap(); // CSeq 3 NOTIFY
    let key = sent(&re);
    let (ok, info) = answer(
        &re,
        200,
        "ph",
        &[("Session-Expires", "1800;refresher=uac")],
        OFFER,
    );
    assert_eq!(u.handle_response(&key, &ok, &info, t0 + secs(901)), None);
    let o = outs(|| u.poll_output());
    let ack = request_of(&o, "ACK").to_string();
    assert!(
        ack.contains("CSeq: 2 ACK") && !ack.contains("z9hG4bKINVITE"),
        "{ack}"
    );
    assert_eq!(u.poll_timeout(), Some(t0 + secs(1801)));
}

#[test]
fn our_hold_reinvite_answer_rejection_and_failures() {
    let t0 = Instant::now();
    let (_, mut u) = accepted("", t0);
    let hold = OURS.replace("a=sendrecv", "a=sendonly");
    u.reinvite(hold.clone()).unwrap();
    assert_eq!(u.reinvite(OURS.into()), Err(UsageError::Pending));
    let re = request_of(&outs(|| u.poll_output()), "INVITE");
    assert!(re.to_string().contains("Supported: replaces, timer"));
    let key = sent(&re);
    let (ringing, info) = answer(&re, 100, "ph", &[], "");
    assert_eq!(u.handle_response(&key, &ringing, &info, t0), None);
    let recv = OFFER.replace("a=sendrecv", "a=recvonly");
    let (ok, info) = answer(&re, 200, "ph", &[], &recv);
    assert_eq!(
        u.handle_response(&key, &ok, &info, t0),
        Some(SessionEvent::Answer {
            sdp: recv.into_bytes()
        })
    );
    assert_eq!(u.local_sdp(), hold);
    assert_eq!(
        request_of(&outs(|| u.poll_output()), "ACK").method,
        Method::Ack
    );

    u.reinvite(OURS.into()).unwrap();
    let re = request_of(&outs(|| u.poll_output()), "INVITE");
    let (no, info) = answer(&re, 488, "ph", &[], "");
    assert_eq!(
        u.handle_response(&sent(&re), &no, &info, t0),
        Some(SessionEvent::OfferRejected(488))
    );
    assert_eq!(u.local_sdp(), hold, "a refused offer changes nothing");
    assert!(
        outs(|| u.poll_output()).is_empty(),
        "no ACK for a non-2xx here"
    );

    u.reinvite(OURS.into()).unwrap();
    let re = request_of(&outs(|| u.poll_output()), "INVITE");
    assert_eq!(
        u.handle_tx_timeout(&sent(&re)),
        Some(SessionEvent::Ended(EndReason::NoResponse))
    );
    request_of(&outs(|| u.poll_output()), "BYE");
    assert!(u.is_terminated());

    let (_, mut u) = accepted("", t0);
    u.reinvite(OURS.into()).unwrap();
    let re = request_of(&outs(|| u.poll_output()), "INVITE");
    let (gone, info) = answer(&re, 481, "ph", &[], "");
    assert_eq!(
        u.handle_response(&sent(&re), &gone, &info, t0),
        Some(SessionEvent::Ended(EndReason::Status(481)))
    );
    assert!(u.is_terminated());
    assert!(
        outs(|| u.poll_output()).is_empty(),
        "no BYE into a dialog that is gone"
    );
}

#[test]
fn reinvite_glare_491_both_ways_then_retry() {
    let t0 = Instant::now();
    let (_, mut u) = accepted("", t0);
    let hold = OURS.replace("a=sendrecv", "a=sendonly");
    u.reinvite(hold.clone()).unwrap();
    let re = request_of(&outs(|| u.poll_output()), "INVITE");
    // Theirs crosses ours: 491.
    let (ev, o) = feed(
        &mut u,
        &from_phone("INVITE", 2, "", "application/sdp", OFFER),
        t0,
    );
    assert_eq!((ev, codes(&o)), (None, vec![491]));
    // Ours gets 491 too: retried within 2 s (we did not make the Call-ID).
    let (pending, info) = answer(&re, 491, "ph", &[], "");
    assert_eq!(u.handle_response(&sent(&re), &pending, &info, t0), None);
    let at = u.poll_timeout().unwrap();
    assert!(at >= t0 && at < t0 + secs(2), "{:?}", at - t0);
    assert_eq!(u.reinvite(OURS.into()), Err(UsageError::Pending));
    assert_eq!(u.handle_timeout(at), None);
    let again = request_of(&outs(|| u.poll_output()), "INVITE").to_string();
    assert!(
        again.contains("CSeq: 2 INVITE") && again.ends_with(&hold),
        "{again}"
    );
}

#[test]
fn second_offer_while_theirs_is_unanswered_gets_500_and_bye_gets_487() {
    let t0 = Instant::now();
    let (_, mut u) = accepted("", t0);
    let (first_key, _, _) = arrive(&from_phone("INVITE", 2, "", "application/sdp", OFFER));
    let (ev, _) = feed(
        &mut u,
        &from_phone("INVITE", 2, "", "application/sdp", OFFER),
        t0,
    );
    assert!(matches!(ev, Some(SessionEvent::ReInvite { .. })));
    let (ev, o) = feed(
        &mut u,
        &from_phone("UPDATE", 3, "", "application/sdp", OFFER),
        t0,
    );
    assert_eq!((ev, codes(&o)), (None, vec![500]));
    assert!(o[0].1.contains("Retry-After: "));
    // BYE while the re-INVITE waits for our answer: 487 to it, 200 to the BYE.
    let (key, req, info) = arrive(&from_phone("BYE", 4, "", "", ""));
    assert_eq!(
        u.handle_request(&key, &req, &info, t0),
        Some(SessionEvent::Bye)
    );
    let o: Vec<Output> = std::iter::from_fn(|| u.poll_output()).collect();
    let got: Vec<(ServerKey, u16)> = o
        .into_iter()
        .map(|o| match o {
            Output::Respond { key, response } => (key, response.status_code.code()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, [(first_key, 487), (key, 200)]);
    assert_eq!(u.answer_offer(OURS.into(), t0), Err(UsageError::NoOffer));

    // Our own hang-up while theirs waits: 487 then BYE.
    let (_, mut u) = accepted("", t0);
    feed(
        &mut u,
        &from_phone("INVITE", 2, "", "application/sdp", OFFER),
        t0,
    );
    u.bye();
    let o = outs(|| u.poll_output());
    assert_eq!(codes(&o), [487]);
    request_of(&o, "BYE");
    u.bye();
    assert!(outs(|| u.poll_output()).is_empty(), "BYE once");
}

#[test]
fn info_digits_and_keep_alives() {
    let t0 = Instant::now();
    let (_, mut u) = accepted("", t0);
    let cases = [
        (
            "application/dtmf-relay",
            "Signal=5\r\nDuration=160\r\n",
            Some('5'),
            200,
        ),
        ("application/dtmf", "11", Some('#'), 200),
        ("", "", None, 200),
        ("application/dtmf-relay", "Signal=Z\r\n", None, 400),
        ("text/plain", "5", None, 415),
    ];
    for (i, (ctype, body, digit, code)) in cases.into_iter().enumerate() {
        let (ev, o) = feed(
            &mut u,
            &from_phone("INFO", 2 + i as u32, "", ctype, body),
            t0,
        );
        assert_eq!(ev, digit.map(SessionEvent::Dtmf), "{ctype} {body}");
        assert_eq!(codes(&o), [code], "{ctype} {body}");
    }
}

#[test]
fn refer_is_accepted_with_notifies() {
    let t0 = Instant::now();
    let (_, mut u) = accepted("", t0);
    let (ev, o) = feed(
        &mut u,
        &from_phone(
            "REFER",
            2,
            "Refer-To: <sip:1002@10.0.0.6?Replaces=x%40h%3Bto-tag%3Da%3Bfrom-tag%3Db>\r\nReferred-By: <sip:138@10.0.0.5>\r\n",
            "",
            "",
        ),
        t0,
    );
    let Some(SessionEvent::Refer(r)) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(r.target.user.as_deref(), Some("1002"));
    assert_eq!(r.target.replaces.unwrap().call_id, "x@h");
    assert_eq!(r.referred_by.as_deref(), Some("sip:138@10.0.0.5"));
    assert_eq!(codes(&o), [202]);
    let trying = request_of(&o, "NOTIFY").to_string();
    assert!(
        trying.contains("Event: refer\r\n")
            && trying.contains("Subscription-State: active;expires=60")
    );
    assert!(trying.ends_with("SIP/2.0 100 Trying\r\n"));
    u.notify_refer(200).unwrap();
    let done = request_of(&outs(|| u.poll_output()), "NOTIFY").to_string();
    assert!(done.contains("terminated;reason=noresource") && done.ends_with("SIP/2.0 200 OK\r\n"));
    assert_eq!(u.notify_refer(200), Err(UsageError::NoSubscription));

    // A second REFER in the dialog: NOTIFYs carry its CSeq as id.
    feed(
        &mut u,
        &from_phone("REFER", 3, "Refer-To: sip:survey@127.0.0.1\r\n", "", ""),
        t0,
    );
    u.notify_refer(503).unwrap();
    let o = outs(|| u.poll_output());
    assert!(o
        .iter()
        .all(|(_, t)| !t.starts_with("NOTIFY") || t.contains("Event: refer;id=3")));
    assert!(o
        .last()
        .unwrap()
        .1
        .ends_with("SIP/2.0 503 Service Unavailable\r\n"));

    let (ev, o) = feed(&mut u, &from_phone("REFER", 4, "", "", ""), t0);
    assert_eq!((ev, codes(&o)), (None, vec![400]));
    let (ev, o) = feed(
        &mut u,
        &from_phone("REFER", 5, "Refer-To: <tel:110>\r\n", "", ""),
        t0,
    );
    assert_eq!((ev, codes(&o)), (None, vec![400]));
}
