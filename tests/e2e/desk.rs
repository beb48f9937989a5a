//! The agent desk page as a browser uses it, over plain HTTP: the session cookie from the
//! login form, the desk's live stream and its screen pop while the agent's phone rings.
//! (The same pages in a real browser: `pages.rs`.)

use hotline_e2e::agents::{caller, silent_caller_pcap, AgentPhone};
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::{AgentSpec, Server, ServerOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Logs in through the login form: the session cookie's value.
fn login_cookie(server: &Server, user: &str, password: &str) -> String {
    let body = format!("username={user}&password={password}");
    let mut s = TcpStream::connect(server.http).expect("connect");
    write!(
        s,
        "POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.http,
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 303"), "login: {text}");
    let cookie = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {text}"));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie
        .split_once("hotline_session=")
        .and_then(|(_, v)| v.split(';').next())
        .unwrap()
        .to_string()
}

/// The desk's event stream, read as the browser's EventSource does.
struct DeskEvents(BufReader<TcpStream>);

impl DeskEvents {
    fn open(server: &Server, cookie: &str) -> DeskEvents {
        let mut s = TcpStream::connect(server.http).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write!(
            s,
            "GET /desk/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\
             Cookie: hotline_session={cookie}\r\n\r\n",
            server.http
        )
        .unwrap();
        DeskEvents(BufReader::new(s))
    }

    /// The data of the next event named `name`, within `limit`.
    fn next(&mut self, name: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut event = String::new();
        let mut data = String::new();
        while Instant::now() < deadline {
            let mut line = String::new();
            match self.0.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {
                    let line = line.trim_end();
                    if let Some(e) = line.strip_prefix("event:") {
                        event = e.trim().to_string();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    } else if line.is_empty() {
                        if event == name {
                            return Some(data);
                        }
                        event.clear();
                        data.clear();
                    }
                }
                Err(_) => {}
            }
        }
        None
    }
}

#[test]
fn the_desk_pops_up_the_callers_case_while_the_phone_rings() {
    let spec = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![spec.clone()],
        ..Default::default()
    });
    server.cli_text(&[
        "department",
        "add",
        "housing",
        "--name",
        "市住建局",
        "--level",
        "1",
    ]);
    server.user_token("li", "agent", &["--extension", "1001"]);
    let cookie = login_cookie(&server, "li", "li-pass-1");
    let mut events = DeskEvents::open(&server, &cookie);
    let phone = AgentPhone::new(&spec, server.ports.base + 84);
    phone.ready(&server);
    // Going ready shows on the desk too (after the sign-in's 示忙).
    let mut seen = Vec::new();
    while let Some(state) = events.next("state", Duration::from_secs(5)) {
        let ready = state == "空闲";
        seen.push(state);
        if ready {
            break;
        }
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("空闲"),
        "state events: {seen:?}"
    );
    let uas = phone.answer(&server, "agent_answer.xml", 1, Duration::from_secs(30));
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    let run = caller('0', 1000, 8000, sink.port, server.ports.base + 80).spawn(&server);
    let pop = events
        .next("pop", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no screen pop:\n{}", server.log_text()));
    // The desk's call controls: hold and take back, as the API does.
    server.wait_agent("1001", Duration::from_secs(10), |a| a["state"] == "on_call");
    let ticket_now = pop
        .split("id=\"pop-ticket\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the pop's ticket")
        .to_string();
    let csrf = pop
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the form's CSRF token")
        .to_string();
    for action in ["hold", "resume"] {
        let (status, body) = post_form(
            &server,
            &format!("/desk/call/{ticket_now}"),
            &format!("csrf={csrf}&action={action}&target="),
            &cookie,
        );
        assert_eq!(status, 200, "{action}: {body}");
        assert!(body.contains("control-done"), "{action}: {body}");
    }
    let run = run.wait();
    run.assert_success("caller");
    uas.wait().assert_success("agent");
    let ticket = run.x_ticket().unwrap();
    assert!(pop.contains(&ticket), "the pop names the ticket: {pop}");
    assert!(
        pop.contains("138****8000"),
        "the caller's number, masked: {pop}"
    );
    assert!(!pop.contains("13800138000"), "the full number: {pop}");
    assert!(pop.contains("menu:0"), "the IVR path: {pop}");
    assert_eq!(ticket_now, ticket);
    let case = server.case_show(&ticket);
    assert!(
        case["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "held"),
        "the desk's hold on the trail: {case:#}"
    );
    // The work-order form in the pop: 转办 to a department, the deadline shown first.
    let (status, deadline) = get_with_cookie(
        &server,
        "/desk/deadline?mode=phone&category=complaint",
        &cookie,
    );
    assert_eq!(status, 200, "{deadline}");
    assert!(
        deadline.trim().starts_with("20"),
        "deadline preview: {deadline}"
    );
    let form = format!(
        "csrf={csrf}&caller_name=%E5%BC%A0%E4%B8%89&location=&category=complaint&subject=noise\
         &description=night+works&action=dispatch&department=housing&mode=phone"
    );
    let (status, saved) = post_form(&server, &format!("/desk/case/{ticket}"), &form, &cookie);
    assert_eq!(status, 200, "{saved}");
    assert!(
        saved.contains("case-saved") && saved.contains(deadline.trim()),
        "{saved} vs {deadline}"
    );
    let case = server.case_show(&ticket);
    assert_eq!(case["case"]["status"], "dispatched", "{case:#}");
    assert_eq!(case["case"]["department"], "housing", "{case:#}");
    assert_eq!(case["order"]["caller_name"], "张三", "{case:#}");
    // A form without the session's token is refused.
    let (status, _) = post_form(
        &server,
        &format!("/desk/case/{ticket}"),
        "csrf=forged&category=help&subject=x&action=answer",
        &cookie,
    );
    assert_eq!(status, 403);
    // Without the cookie the desk is the login page.
    let (status, _) = hotline_e2e::http::get(server.http, "/desk").unwrap();
    assert_eq!(status, 303);
}

/// A GET with the session cookie: status and body.
fn get_with_cookie(server: &Server, path: &str, cookie: &str) -> (u16, String) {
    request(server, &format!("GET {path} HTTP/1.1\r\nHost: {}\r\nCookie: hotline_session={cookie}\r\nConnection: close\r\n\r\n", server.http))
}

/// A form POST with the session cookie: status and body.
fn post_form(server: &Server, path: &str, form: &str, cookie: &str) -> (u16, String) {
    request(
        server,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nCookie: hotline_session={cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{form}",
            server.http,
            form.len()
        ),
    )
}

fn request(server: &Server, raw: &str) -> (u16, String) {
    let mut s = TcpStream::connect(server.http).expect("connect");
    s.write_all(raw.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A repeat caller: the pop offers the caller's open case, the agent links the call to it
/// (the new empty case is merged away), then hangs up from the desk and the caller goes
/// on to the satisfaction survey.
#[test]
fn the_desk_links_a_repeat_call_to_its_case_and_hangs_up_to_the_survey() {
    let spec = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![spec.clone()],
        ..Default::default()
    });
    server.user_token("li", "agent", &["--extension", "1001"]);
    let (status, made) = server.api_post_sup(
        "/api/cases",
        &serde_json::json!({
            "caller_number": "13800138000",
            "channel": "phone",
            "category": "help",
            "subject": "路灯不亮",
        }),
    );
    assert_eq!(status, 201, "{made}");
    let earlier = made["case"]["ticket"].as_str().unwrap().to_string();
    let cookie = login_cookie(&server, "li", "li-pass-1");
    let mut events = DeskEvents::open(&server, &cookie);
    let phone = AgentPhone::new(&spec, server.ports.base + 84);
    phone.ready(&server);
    let uas = phone.answer(&server, "agent_answer.xml", 1, Duration::from_secs(40));
    silent_caller_pcap(&server);
    let sink = RtpSink::bind(server.ports.base + 60);
    // The caller stays until the hotline hangs up (after the survey).
    let run = hotline_e2e::Sipp::new("uac_agent_call_until_bye.xml")
        .key("sink_port", sink.port)
        .key("key", '0')
        .key("caller", "13800138000")
        .set("key_at_ms", 1000)
        .media_port(server.ports.base + 80)
        .timeout(Duration::from_secs(60))
        .spawn(&server);
    let pop = events
        .next("pop", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no screen pop:\n{}", server.log_text()));
    assert!(pop.contains("link-form") && pop.contains(&earlier), "{pop}");
    let field = |name: &str| {
        pop.split(&format!("id=\"{name}\">"))
            .nth(1)
            .or_else(|| pop.split(&format!("name=\"{name}\" value=\"")).nth(1))
            .and_then(|r| r.split(['<', '"']).next())
            .unwrap_or_else(|| panic!("no {name} in {pop}"))
            .to_string()
    };
    let (ticket, csrf) = (field("pop-ticket"), field("csrf"));
    server.wait_agent("1001", Duration::from_secs(10), |a| a["state"] == "on_call");

    let (status, body) = post_form(
        &server,
        &format!("/desk/link/{ticket}"),
        &format!("csrf={csrf}&to={earlier}"),
        &cookie,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("case-linked") && body.contains(&earlier),
        "{body}"
    );
    let case = server.case_show(&earlier);
    assert_eq!(case["calls"].as_array().unwrap().len(), 1, "{case:#}");

    // The agent hangs up from the desk: their phone gets the BYE at once, and the caller
    // goes on to the survey (then the hotline hangs up).
    let asked = Instant::now();
    let (status, body) = post_form(
        &server,
        &format!("/desk/call/{ticket}"),
        &format!("csrf={csrf}&action=hangup&target="),
        &cookie,
    );
    assert_eq!(status, 200, "{body}");
    uas.wait()
        .assert_success("the agent's phone, hung up by the desk");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the agent's leg ended {:?} after the desk's hang-up",
        asked.elapsed()
    );
    run.wait().assert_success("caller");
    let case = server.wait_case(&earlier, Duration::from_secs(10), |c| {
        !c["calls"][0]["ended_at"].is_null()
    });
    let log = server.log_text();
    assert!(
        log.contains(">agent>survey:"),
        "the caller was not sent to the survey: {case:#}\n{log}"
    );
}
