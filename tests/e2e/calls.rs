//! Normal calls: answered and hung up by the caller (UDP and TCP), and cancelled while ringing.

use hotline_e2e::flows::plain_call;
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::{Server, ServerOptions, Sipp, Transport};
use std::time::Duration;

/// Checks the row a plain call leaves: the caller hung up, the call was answered and went
/// through the greeting; it asked for nothing, so its case is not a work order.
fn check_plain_case(server: &Server, ticket: &str) {
    assert!(
        ticket.bytes().all(|b| b.is_ascii_digit()) && ticket.len() >= 13,
        "ticket {ticket:?}"
    );
    let case = server.wait_call_ended(ticket);
    let call = &case["calls"][0];
    assert_eq!(case["case"]["ticket"], ticket, "{case:#}");
    assert_eq!(case["case"]["status"], "no_request", "{case:#}");
    assert_eq!(call["hangup_cause"], "caller_bye", "{case:#}");
    assert_eq!(call["called_number"], "12345", "{case:#}");
    assert_eq!(call["caller_number"], "13800138000", "{case:#}");
    assert!(
        !call["answered_at"].is_null(),
        "answered_at not set: {case:#}"
    );
    assert!(!call["ended_at"].is_null(), "ended_at not set: {case:#}");
    let path = call["ivr_path"].as_str().unwrap_or_default();
    assert!(path.starts_with("greeting"), "ivr_path {path:?}");
}

#[test]
fn plain_call_answered_and_hung_up_by_caller() {
    let server = Server::start(ServerOptions::default());
    let ticket = plain_call(&server, Transport::Udp, 3000);
    check_plain_case(&server, &ticket);
    assert_eq!(server.only_ticket(), ticket);

    // The work-order API needs a session; with one it shows the same case.
    let (status, _) = server.api(&format!("/api/cases/{ticket}"));
    assert_eq!(status, 401, "cases are not public");
    let token = server.supervisor_token();
    let (status, case) = server.api_authorized(&format!("/api/cases/{ticket}"), &token);
    assert_eq!(status, 200, "{case}");
    assert_eq!(case["case"]["ticket"], ticket.as_str(), "{case:#}");
    assert_eq!(case["calls"][0]["hangup_cause"], "caller_bye", "{case:#}");
    // It asked for nothing: no work order to list, found only by its state.
    let (status, list) = server.api_authorized("/api/cases", &token);
    assert_eq!((status, list), (200, serde_json::json!([])));
    let (status, list) = server.api_authorized("/api/cases?status=no_request", &token);
    assert_eq!(status, 200, "{list}");
    let list = list
        .as_array()
        .unwrap_or_else(|| panic!("/api/cases is not an array: {list}"));
    assert!(
        list.iter().any(|c| c["ticket"] == ticket.as_str()),
        "{list:#?}"
    );
}

#[test]
fn tcp_call() {
    let server = Server::start(ServerOptions::default());
    let ticket = plain_call(&server, Transport::Tcp, 3000);
    check_plain_case(&server, &ticket);
}

#[test]
fn caller_cancels_while_ringing() {
    let mut server = Server::start(ServerOptions {
        answer_delay_ms: 3000,
        ..Default::default()
    });
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = Sipp::new("uac_cancel.xml")
        .key("sink_port", sink.port)
        .timeout(Duration::from_secs(20))
        .run(&server);
    run.assert_success("cancel while ringing");
    // Wait out the answer delay: the cancelled INVITE must not be answered after all.
    std::thread::sleep(Duration::from_millis(3500));
    // No case was opened (the call was never answered) but the missed call is kept.
    assert!(
        server.case_list().is_empty(),
        "a cancelled call opened a case"
    );
    let (code, missed) = server.api_sup("/api/missed-calls");
    assert_eq!(code, 200, "{missed:#}");
    let missed = missed.as_array().expect("a list of missed calls");
    assert_eq!(missed.len(), 1, "{missed:#?}");
    assert_eq!(missed[0]["cause"], "cancelled");
    assert_eq!(missed[0]["called_number"], "12345");
    assert!(server.is_healthy(), "server unhealthy after a CANCEL");
    let ticket = plain_call(&server, Transport::Udp, 2000);
    check_plain_case(&server, &ticket);
}
