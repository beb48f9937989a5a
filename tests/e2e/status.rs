//! Case status by phone: the caller keys 4, then a ticket and `#`; the hotline reads the
//! status back — only to the number that opened the case.

use hotline_e2e::flows::plain_call;
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::server::{Hours, Server, ServerOptions};
use hotline_e2e::sipp::{Sipp, Transport};
use std::time::Duration;

/// Runs `uac_status_query.xml` from `caller` keying `ticket`; returns the new call's ticket.
fn query(server: &Server, caller: &str, ticket: &str) -> String {
    let sink = RtpSink::bind(server.ports.base + 61);
    let mut sipp = Sipp::new("uac_status_query.xml")
        .key("sink_port", sink.port)
        .key("caller", caller);
    assert_eq!(ticket.len(), 13, "the scenario keys 13 digits");
    for (i, d) in ticket.chars().enumerate() {
        sipp = sipp.key(&format!("t{}", i + 1), d);
    }
    let run = sipp.timeout(Duration::from_secs(90)).run(server);
    run.assert_success("status query");
    run.x_ticket().expect("X-Ticket of the query call")
}

#[test]
fn status_by_phone_reads_the_callers_case_and_refuses_a_stranger() {
    let server = Server::start(ServerOptions {
        hours: Hours::Staffed,
        ..Default::default()
    });
    // A plain call asks for nothing: its ticket was never told and is no work order, so
    // asking about it finds nothing.
    let empty = plain_call(&server, Transport::Udp, 1000);
    server.wait_call_ended(&empty);
    let own = query(&server, "13800138000", &empty);
    let case = server.wait_call_ended(&own);
    let path = case["calls"][0]["ivr_path"].as_str().unwrap_or_default();
    assert!(path.contains("status:not_found"), "{path}");

    // 13800138000's work order, registered by an agent.
    let (status, made) = server.api_post_sup(
        "/api/cases",
        &serde_json::json!({
            "caller_number": "13800138000",
            "channel": "phone",
            "category": "consult",
            "subject": "路灯不亮",
        }),
    );
    assert_eq!(status, 201, "{made}");
    let ticket = made["case"]["ticket"].as_str().unwrap().to_string();

    // The same number asks about it: found, read back, then the hotline hangs up.
    let own = query(&server, "13800138000", &ticket);
    let case = server.wait_call_ended(&own);
    let path = case["calls"][0]["ivr_path"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        path.contains("status") && path.contains("status:found"),
        "{path}"
    );
    assert_eq!(case["calls"][0]["hangup_cause"], "hotline_bye", "{case:#}");

    // Another number keys the same ticket: refused, nothing read.
    let other = query(&server, "13911112222", &ticket);
    let case = server.wait_call_ended(&other);
    let path = case["calls"][0]["ivr_path"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        path.contains("status:not_yours") && !path.contains("status:found"),
        "{path}"
    );
}
