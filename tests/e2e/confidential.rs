//! A complainant is never exposed to the department that handles the complaint (no
//! retaliation): a handler can neither find a confidential case by the caller's number
//! nor read the caller's number, name, address or call identity anywhere in what the API
//! answers them — case, list, search, audit trail.

use hotline_e2e::flows::plain_call;
use hotline_e2e::{Server, ServerOptions, Transport};
use serde_json::{json, Value};

const COMPLAINANT: &str = "13800138000";
const NAME: &str = "王小明";
const ADDRESS: &str = "幸福路8号3单元";
const NEIGHBOUR: &str = "13700137000";

/// A supervisor registers a case and dispatches it to `housing`; returns its ticket.
fn dispatched(server: &Server, case: Value) -> String {
    let (status, made) = server.api_post_sup("/api/cases", &case);
    assert_eq!(status, 201, "{made}");
    let ticket = made["case"]["ticket"].as_str().unwrap().to_string();
    let (status, body) = server.api_post_sup(
        &format!("/api/cases/{ticket}/transitions"),
        &json!({ "action": "dispatch", "department": "housing", "mode": "phone" }),
    );
    assert_eq!(status, 200, "dispatch: {body}");
    ticket
}

#[test]
fn a_handler_cannot_learn_who_complained() {
    let server = Server::start(ServerOptions::default());
    server.cli_text(&[
        "department",
        "add",
        "housing",
        "--name",
        "市住建局",
        "--level",
        "1",
    ]);

    // The complainant's call reaches the hotline; the agent writes the complaint up and
    // joins the call (with its SIP Call-ID) to it.
    let call_ticket = plain_call(&server, Transport::Udp, 1000);
    let call = server.wait_call_ended(&call_ticket)["calls"][0].clone();
    let call_id = call["sip_call_id"].as_str().unwrap().to_string();
    assert_eq!(call["caller_number"], COMPLAINANT, "{call:#}");
    let complaint = dispatched(
        &server,
        json!({
            "caller_number": COMPLAINANT,
            "caller_name": NAME,
            "location": ADDRESS,
            "channel": "phone",
            "category": "complaint",
            "subject": "工地夜间施工噪音",
            "description": format!("{NAME}反映{ADDRESS}旁工地夜间施工,请核查。"),
        }),
    );
    let (status, body) = server.api_post_sup(
        &format!("/api/cases/{complaint}/calls"),
        &json!({ "call": call["id"] }),
    );
    assert_eq!(status, 200, "link the call: {body}");
    // A consultation of someone else, not confidential, for the same department.
    let consult = dispatched(
        &server,
        json!({
            "caller_number": NEIGHBOUR,
            "channel": "phone",
            "category": "consult",
            "subject": "公租房申请条件",
        }),
    );

    let token = server.user_token("wang", "department_handler", &["--department", "housing"]);
    let get = |path: &str| {
        let (status, body) = server.api_authorized(path, &token);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    };

    // Looking the complainant's number up finds exactly what an unknown number finds,
    // however the search is narrowed.
    for extra in [
        "",
        "&department=housing",
        "&subtree=true",
        "&category=complaint",
    ] {
        let known = get(&format!("/api/cases?number={COMPLAINANT}{extra}"));
        let unknown = get(&format!("/api/cases?number=13911112222{extra}"));
        assert_eq!(known, unknown, "search by number{extra}");
        assert_eq!(known, json!([]), "search by number{extra}");
    }
    // A number on a case that is not confidential is found as before.
    let found = get(&format!("/api/cases?number={NEIGHBOUR}"));
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found:#}");
    assert_eq!(found[0]["ticket"], consult.as_str());

    // Everything the handler can read of their department's cases: nothing names the
    // complainant or their call.
    let pages = [
        get("/api/cases"),
        get("/api/cases?department=housing&subtree=true"),
        get(&format!("/api/cases/{complaint}")),
        get(&format!("/api/cases/{complaint}/events")),
    ];
    let listed = pages[0].as_array().unwrap();
    assert_eq!(listed.len(), 2, "the handler sees both cases: {listed:#?}");
    let shown = &pages[2];
    assert_eq!(shown["redacted"], true, "{shown:#}");
    assert_eq!(shown["order"]["subject"], "工地夜间施工噪音", "{shown:#}");
    for page in &pages {
        let text = page.to_string();
        for secret in [COMPLAINANT, NAME, ADDRESS, call_id.as_str()] {
            assert!(
                !text.contains(secret),
                "{secret:?} shown to the handler: {text}"
            );
        }
    }
    // The supervisor still sees who it was and which call (nothing was lost).
    let (_, full) = server.api_sup(&format!("/api/cases/{complaint}"));
    assert_eq!(full["case"]["caller_number"], COMPLAINANT, "{full:#}");
    assert!(full.to_string().contains(&call_id), "{full:#}");
}
