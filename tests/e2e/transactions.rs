//! SIP transaction behaviour seen from outside: a retransmitted INVITE makes one call, and
//! a lost ACK ends the call after 64*T1.

use hotline_e2e::rtp::RtpSink;
use hotline_e2e::sip;
use hotline_e2e::{Server, ServerOptions, Sipp};
use std::time::Duration;

#[test]
fn retransmitted_invite_gets_one_call() {
    let server = Server::start(ServerOptions {
        answer_delay_ms: 1000,
        ..Default::default()
    });
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_invite_twice.xml")
        .key("sink_port", sink.port)
        .no_retrans()
        .timeout(Duration::from_secs(20))
        .run(&server);
    run.assert_success("INVITE sent twice");
    let invites = run.messages.matches("message sent").count();
    assert!(
        invites <= 6,
        "SIPp sent {invites} messages: a retransmission loop?"
    );
    let ticket = server.only_ticket();
    assert_eq!(run.x_ticket().as_deref(), Some(ticket.as_str()));
    // One dialog: every 200 OK to the INVITE has the same To tag.
    let mut tags: Vec<String> = run
        .received()
        .iter()
        .filter(|m| sip::status(m) == Some(200))
        .filter(|m| sip::header(m, "CSeq").is_some_and(|c| c.ends_with("INVITE")))
        .filter_map(|m| {
            sip::header(m, "To")
                .and_then(|t| t.split(";tag=").nth(1))
                .map(String::from)
        })
        .collect();
    tags.dedup();
    assert_eq!(tags.len(), 1, "200 OKs with To tags {tags:?}");
    let case = server.wait_call_ended(&ticket);
    assert_eq!(case["calls"].as_array().map(Vec::len), Some(1), "{case:#}");
    assert_eq!(case["calls"][0]["hangup_cause"], "caller_bye", "{case:#}");
}

#[test]
fn lost_ack_ends_call_after_64_t1() {
    // T1 = 50 ms: 200 OK retransmitted at 50, 100, 200 ... ms; given up at 64*T1 = 3.2 s.
    let server = Server::start(ServerOptions {
        t1_ms: 50,
        ..Default::default()
    });
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_no_ack.xml")
        .key("sink_port", sink.port)
        .timeout(Duration::from_secs(15))
        .run(&server);
    run.assert_success("no ACK");
    let oks = run.invite_responses(200);
    assert!(
        oks >= 2,
        "200 OK to the INVITE received {oks} time(s); it must be retransmitted until ACKed"
    );
    assert!(
        run.took < Duration::from_secs(7),
        "BYE came late: SIPp ran {:?}",
        run.took
    );
    let ticket = server.only_ticket();
    let case = server.wait_call_ended(&ticket);
    assert_eq!(case["calls"][0]["hangup_cause"], "ack_timeout", "{case:#}");
}
