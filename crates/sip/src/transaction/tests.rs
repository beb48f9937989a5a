//! Deterministic tests with a fake clock: 32-second timers run instantly.

use super::*;
use crate::message::parse;

const SRC: &str = "10.0.0.1:5070";

fn invite(branch: &str) -> String {
    format!(
        "INVITE sip:12345@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch={branch}\r\n\
From: <sip:138@10.0.0.1>;tag=f1\r\nTo: <sip:12345@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
}

fn feed(l: &mut TransactionLayer, now: Instant, text: &str) {
    let p = parse(text.as_bytes(), 65535).unwrap();
    l.handle_message(now, p, SRC.parse().unwrap(), Transport::Udp, now);
}

fn transmits(l: &mut TransactionLayer) -> Vec<String> {
    std::iter::from_fn(|| l.poll_transmit())
        .map(|t| String::from_utf8(t.data.to_vec()).unwrap())
        .collect()
}

fn events(l: &mut TransactionLayer) -> Vec<Event> {
    std::iter::from_fn(|| l.poll_event()).collect()
}

/// Runs the clock forward to `until`, firing timers, collecting what was sent.
fn run_until(l: &mut TransactionLayer, until: Instant) -> Vec<(Duration, String)> {
    let start = Instant::now();
    let mut out = Vec::new();
    while let Some(t) = l.poll_timeout() {
        if t > until {
            break;
        }
        l.handle_timeout(t);
        for s in transmits(l) {
            out.push((t.saturating_duration_since(start), s));
        }
    }
    out
}

fn server_key(evs: &[Event]) -> ServerKey {
    evs.iter()
        .find_map(|e| match e {
            Event::Request { key, .. } => Some(key.clone()),
            _ => None,
        })
        .unwrap()
}

fn request_of(evs: &[Event]) -> Request {
    evs.iter()
        .find_map(|e| match e {
            Event::Request { req, .. } => Some(req.clone()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn invite_gets_100_and_retransmission_is_absorbed() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let now = Instant::now();
    feed(&mut l, now, &invite("z9hG4bK1"));
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with("SIP/2.0 100 Trying"));
    assert_eq!(events(&mut l).len(), 1);
    // The caller retransmits: the 100 is repeated, the user hears nothing new.
    feed(
        &mut l,
        now + Duration::from_millis(500),
        &invite("z9hG4bK1"),
    );
    assert!(transmits(&mut l)[0].starts_with("SIP/2.0 100"));
    assert!(events(&mut l).is_empty());
}

#[test]
fn an_invite_with_a_transaction_is_known_by_its_top_via() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let via = |branch: &str| {
        let p = message::parse(invite(branch).as_bytes(), 9999).unwrap();
        p.info.via
    };
    assert!(!l.has_invite(&via("z9hG4bK1")));
    feed(&mut l, Instant::now(), &invite("z9hG4bK1"));
    assert!(l.has_invite(&via("z9hG4bK1")));
    assert!(!l.has_invite(&via("z9hG4bK2")));
}

#[test]
fn non_2xx_final_retransmits_on_g_until_ack_then_i() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    feed(&mut l, t0, &invite("z9hG4bK2"));
    transmits(&mut l);
    let evs = events(&mut l);
    let req = request_of(&evs);
    l.respond(
        t0,
        &server_key(&evs),
        message::response(&req, 486, Some("t")),
    )
    .unwrap();
    assert!(transmits(&mut l)[0].starts_with("SIP/2.0 486"));
    // No ACK: G fires at 0.5, 1.5, 3.5, 7.5, 11.5… then H at 32 s ends it.
    let sent = run_until(&mut l, t0 + Duration::from_secs(40));
    let times: Vec<u128> = sent.iter().map(|(d, _)| d.as_millis()).collect();
    assert!(sent.iter().all(|(_, s)| s.starts_with("SIP/2.0 486")));
    assert!(times.len() >= 8, "{times:?}");
    assert!(l.is_empty(), "timer H terminates the transaction");
}

#[test]
fn ack_to_non_2xx_stops_retransmissions() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    feed(&mut l, t0, &invite("z9hG4bK3"));
    transmits(&mut l);
    let evs = events(&mut l);
    l.respond(
        t0,
        &server_key(&evs),
        message::response(&request_of(&evs), 404, Some("t")),
    )
    .unwrap();
    transmits(&mut l);
    let ack = invite("z9hG4bK3")
        .replace("INVITE sip", "ACK sip")
        .replace("1 INVITE", "1 ACK");
    feed(&mut l, t0 + Duration::from_millis(100), &ack);
    assert!(
        events(&mut l).is_empty(),
        "ACK of a non-2xx is transaction business"
    );
    let sent = run_until(&mut l, t0 + Duration::from_secs(10));
    assert!(sent.is_empty(), "{sent:?}");
    assert!(l.is_empty());
}

#[test]
fn accepted_2xx_is_retransmitted_until_ack_and_reports_ack() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    feed(&mut l, t0, &invite("z9hG4bK4"));
    transmits(&mut l);
    let evs = events(&mut l);
    l.respond(
        t0,
        &server_key(&evs),
        message::response(&request_of(&evs), 200, Some("t")),
    )
    .unwrap();
    transmits(&mut l);
    let sent = run_until(&mut l, t0 + Duration::from_millis(1600));
    assert_eq!(sent.len(), 2, "2xx resent at 0.5 s and 1.5 s");
    // A retransmitted INVITE before the ACK gets the 2xx again.
    feed(
        &mut l,
        t0 + Duration::from_millis(1700),
        &invite("z9hG4bK4"),
    );
    assert!(transmits(&mut l)[0].starts_with("SIP/2.0 200"));
    // The ACK has its own branch; it matches by Call-ID and CSeq.
    let ack = invite("z9hG4bKack")
        .replace("INVITE sip", "ACK sip")
        .replace("1 INVITE", "1 ACK");
    feed(&mut l, t0 + Duration::from_millis(1800), &ack);
    assert!(matches!(events(&mut l).as_slice(), [Event::Ack { .. }]));
    assert!(run_until(&mut l, t0 + Duration::from_secs(40)).is_empty());
    assert!(events(&mut l).is_empty(), "no AckTimeout once ACKed");
    assert!(l.is_empty());
}

#[test]
fn lost_ack_ends_in_ack_timeout_after_64_t1() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    feed(&mut l, t0, &invite("z9hG4bK5"));
    transmits(&mut l);
    let evs = events(&mut l);
    l.respond(
        t0,
        &server_key(&evs),
        message::response(&request_of(&evs), 200, Some("t")),
    )
    .unwrap();
    transmits(&mut l);
    let sent = run_until(&mut l, t0 + Duration::from_secs(33));
    assert!(
        sent.len() >= 9,
        "2xx retransmitted, capped at T2: {}",
        sent.len()
    );
    assert!(matches!(
        events(&mut l).as_slice(),
        [Event::AckTimeout { cseq: 1, .. }]
    ));
}

#[test]
fn cancel_gets_200_and_reports_then_487_is_acked() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    feed(&mut l, t0, &invite("z9hG4bK6"));
    transmits(&mut l);
    let evs = events(&mut l);
    let cancel = invite("z9hG4bK6")
        .replace("INVITE sip", "CANCEL sip")
        .replace("1 INVITE", "1 CANCEL");
    feed(&mut l, t0, &cancel);
    let sent = transmits(&mut l);
    assert!(
        sent[0].starts_with("SIP/2.0 200") && sent[0].contains("CSeq: 1 CANCEL"),
        "{sent:?}"
    );
    let evs2 = events(&mut l);
    assert!(matches!(evs2.as_slice(), [Event::Cancelled { .. }]));
    l.respond(
        t0,
        &server_key(&evs),
        message::response(&request_of(&evs), 487, Some("t")),
    )
    .unwrap();
    assert!(transmits(&mut l)[0].starts_with("SIP/2.0 487"));
    // A CANCEL for nothing gets 481.
    feed(&mut l, t0, &cancel.replace("z9hG4bK6", "z9hG4bK7"));
    assert!(transmits(&mut l)[0].starts_with("SIP/2.0 481"));
}

#[test]
fn second_final_is_refused() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    feed(&mut l, t0, &invite("z9hG4bK8"));
    let evs = events(&mut l);
    let k = server_key(&evs);
    l.respond(t0, &k, message::response(&request_of(&evs), 200, Some("t")))
        .unwrap();
    assert_eq!(
        l.respond(t0, &k, message::response(&request_of(&evs), 500, Some("t"))),
        Err(TxError::AlreadyFinal)
    );
}

fn bye_request(branch: &str) -> Request {
    let text = format!(
        "BYE sip:138@10.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
From: <sip:12345@127.0.0.1>;tag=t\r\nTo: <sip:138@10.0.0.1>;tag=f1\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes(), 9999).unwrap().msg {
        SipMessage::Request(r) => r,
        _ => unreachable!(),
    }
}

#[test]
fn non_invite_client_retransmits_e_and_times_out_f() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    l.send_request(
        t0,
        bye_request("z9hG4bKc1"),
        SRC.parse().unwrap(),
        Transport::Udp,
    )
    .unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    let sent = run_until(&mut l, t0 + Duration::from_secs(40));
    // E: 0.5, 1.5, 3.5, 7.5, then every T2: 11.5 … 31.5 → 10 retransmissions before F at 32 s.
    assert_eq!(
        sent.len(),
        10,
        "{:?}",
        sent.iter().map(|s| s.0).collect::<Vec<_>>()
    );
    assert!(matches!(events(&mut l).as_slice(), [Event::Timeout { .. }]));
    assert!(l.is_empty());
}

#[test]
fn non_invite_client_completes_on_final_and_absorbs_retransmission() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    l.send_request(
        t0,
        bye_request("z9hG4bKc2"),
        SRC.parse().unwrap(),
        Transport::Udp,
    )
    .unwrap();
    transmits(&mut l);
    let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc2\r\n\
From: <sip:12345@127.0.0.1>;tag=t\r\nTo: <sip:138@10.0.0.1>;tag=f1\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    feed(&mut l, t0 + Duration::from_millis(10), ok);
    feed(&mut l, t0 + Duration::from_millis(20), ok);
    assert_eq!(
        events(&mut l).len(),
        1,
        "one Response, retransmission absorbed"
    );
    assert!(run_until(&mut l, t0 + Duration::from_secs(10)).is_empty());
    assert!(l.is_empty(), "Timer K ends it");
}

#[test]
fn invite_client_acks_failure_itself() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let text = invite("z9hG4bKc3").replace("10.0.0.1:5070;branch", "127.0.0.1:5060;branch");
    let SipMessage::Request(req) = parse(text.as_bytes(), 9999).unwrap().msg else {
        unreachable!()
    };
    l.send_request(t0, req, SRC.parse().unwrap(), Transport::Udp)
        .unwrap();
    transmits(&mut l);
    let busy = "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc3\r\n\
From: <sip:138@10.0.0.1>;tag=f1\r\nTo: <sip:12345@127.0.0.1>;tag=u\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    feed(&mut l, t0, busy);
    let sent = transmits(&mut l);
    assert!(
        sent[0].starts_with("ACK sip:12345@127.0.0.1 SIP/2.0")
            && sent[0].contains("CSeq: 1 ACK")
            && sent[0].contains(";tag=u"),
        "{sent:?}"
    );
    feed(&mut l, t0, busy);
    assert_eq!(
        transmits(&mut l).len(),
        1,
        "ACK resent for the retransmitted 486"
    );
    assert_eq!(events(&mut l).len(), 1);
}

#[test]
fn invite_client_timer_b() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let text = invite("z9hG4bKc4");
    let SipMessage::Request(req) = parse(text.as_bytes(), 9999).unwrap().msg else {
        unreachable!()
    };
    l.send_request(t0, req, SRC.parse().unwrap(), Transport::Udp)
        .unwrap();
    transmits(&mut l);
    let sent = run_until(&mut l, t0 + Duration::from_secs(40));
    // A: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 → 6 retransmissions.
    assert_eq!(sent.len(), 6);
    assert!(matches!(events(&mut l).as_slice(), [Event::Timeout { .. }]));
}

#[test]
fn tcp_needs_no_retransmissions() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    l.send_request(
        t0,
        bye_request("z9hG4bKc5"),
        SRC.parse().unwrap(),
        Transport::Tcp,
    )
    .unwrap();
    transmits(&mut l);
    assert!(run_until(&mut l, t0 + Duration::from_secs(40)).is_empty());
    assert!(matches!(events(&mut l).as_slice(), [Event::Timeout { .. }]));
}

/// A peak of 10,000 INVITEs refused at once: once their transactions have ended, the layer
/// holds no room for them (its maps and timer heap shrink back), and it keeps working.
#[test]
fn room_taken_by_a_peak_is_given_back_when_its_transactions_end() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(TimerConfig::default());
    for i in 0..10_000 {
        feed(&mut l, t0, &invite(&format!("z9hG4bKpeak{i}")));
        let evs = events(&mut l);
        let resp = message::response(&request_of(&evs), 503, Some("t"));
        l.respond(t0, &server_key(&evs), resp).unwrap();
    }
    let _ = transmits(&mut l);
    let peak = l.heap.capacity();
    assert!(peak >= 10_000, "{peak}");
    // Timer H (64·T1) ends the unACKed ones; nothing is left.
    let _ = run_until(&mut l, t0 + Duration::from_secs(40));
    let _ = events(&mut l);
    assert!(l.is_empty());
    assert!(
        l.heap.capacity() < 4096,
        "timer heap kept {}",
        l.heap.capacity()
    );
    // A new call still goes through.
    feed(
        &mut l,
        t0 + Duration::from_secs(41),
        &invite("z9hG4bKafter"),
    );
    assert!(transmits(&mut l)[0].starts_with("SIP/2.0 100"));
}
