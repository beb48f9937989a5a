//! The server's HTML pages in a real browser: headless chromium driven through chromedriver
//! ([`Browser`]). Each step's screenshot is kept in the test's directory (`server.dir()`,
//! kept with `HOTLINE_E2E_KEEP=1` or when the test fails).

use hotline_e2e::browser::Browser;
use hotline_e2e::server::{AgentSpec, Server, ServerOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a page may take to show what the test waits for.
const WAIT: Duration = Duration::from_secs(10);

#[test]
fn login_desk_and_logout_in_a_browser() {
    let server = Server::start(ServerOptions {
        agents: vec![AgentSpec::new("1001", "consult:5")],
        ..Default::default()
    });
    server.user_token("li", "agent", &["--extension", "1001"]);
    let base = format!("http://{}", server.http);
    let browser = Browser::start();
    let shot = |name: &str| browser.screenshot(&server.dir().join(format!("{name}.png")));

    // Not logged in: the root sends the browser to the login form.
    browser.goto(&format!("{base}/"));
    wait_path(&browser, &base, "/login");
    for field in [
        "form#login input[name=username]",
        "form#login input[name=password]",
        "form#login button[type=submit]",
    ] {
        assert!(browser.exists(field), "no {field}:\n{}", browser.source());
    }
    shot("1-login");

    // A wrong password: the form again, with an error in Chinese.
    log_in(&browser, "li", "not-the-password");
    let error = browser.wait_text(".error", "", WAIT);
    assert!(
        error
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "the error is not in Chinese: {error:?}"
    );
    assert!(browser.exists("form#login"), "{}", browser.source());
    assert_eq!(path(&browser, &base), "/login");
    shot("2-login-wrong-password");

    // The right password: the agent's desk, with their name and their agent's state.
    log_in(&browser, "li", "li-pass-1");
    browser.wait_text("#who", "li", WAIT);
    assert_eq!(path(&browser, &base), "/desk");
    let state = browser.text("#state");
    assert!(
        !state.trim().is_empty(),
        "#state is empty:\n{}",
        browser.source()
    );
    shot("3-desk");

    // The session cookie is out of the page's scripts' reach (HttpOnly) and never sent
    // from another site (SameSite=Strict).
    assert_eq!(
        browser.execute("return document.cookie;"),
        serde_json::json!(""),
        "a script in the page can read the session cookie"
    );
    let cookies = browser.cookies();
    assert!(!cookies.is_empty(), "no session cookie after the login");
    for c in &cookies {
        assert!(c.http_only, "cookie {} is not HttpOnly: {c:?}", c.name);
        assert_eq!(c.same_site.as_deref(), Some("Strict"), "cookie {c:?}");
    }
    // The cookie is what opens the desk: with it 200, without it back to the login.
    let header: Vec<String> = cookies
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    let header = header.join("; ");
    assert_eq!(fetch(server.http, "/desk", Some(&header)), (200, None));
    assert_redirected_to_login(fetch(server.http, "/desk", None));

    // Logging out: back to the login form, the desk closed again, the old cookie dead.
    browser.click("form#logout button");
    wait_path(&browser, &base, "/login");
    assert!(browser.exists("form#login"), "{}", browser.source());
    shot("4-logged-out");
    browser.goto(&format!("{base}/desk"));
    wait_path(&browser, &base, "/login");
    assert_redirected_to_login(fetch(server.http, "/desk", Some(&header)));
}

/// Fills the login form and submits it.
fn log_in(browser: &Browser, username: &str, password: &str) {
    browser.fill("form#login input[name=username]", username);
    browser.fill("form#login input[name=password]", password);
    browser.click("form#login button[type=submit]");
}

/// The path of the page shown (without the query).
fn path(browser: &Browser, base: &str) -> String {
    let url = browser.current_url();
    let rest = url.strip_prefix(base).unwrap_or(&url);
    rest.split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Waits (at most [`WAIT`]) until the browser shows `want` (a path).
fn wait_path(browser: &Browser, base: &str, want: &str) {
    let deadline = Instant::now() + WAIT;
    while path(browser, base) != want {
        assert!(
            Instant::now() < deadline,
            "still at {} instead of {want}:\n{}",
            browser.current_url(),
            browser.source()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` with `cookie` (the `Cookie:` header) or none, redirects not followed: the
/// status and the `Location` header.
fn fetch(addr: SocketAddr, path: &str, cookie: Option<&str>) -> (u16, Option<String>) {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{cookie}\r\n").expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad response to GET {path}: {head:?}"));
    let location = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("location")
            .then(|| value.trim().to_string())
    });
    (status, location)
}

fn assert_redirected_to_login((status, location): (u16, Option<String>)) {
    assert!(
        (300..400).contains(&status),
        "GET /desk answered {status}, not a redirect"
    );
    let location = location.unwrap_or_default();
    let to = location.split('?').next().unwrap_or_default();
    assert!(to.ends_with("/login"), "redirected to {location:?}");
}

#[test]
fn the_wallboard_counts_a_call_without_a_reload() {
    let spec = AgentSpec::new("1001", "agent:3");
    let server = Server::start(ServerOptions {
        agents: vec![spec.clone()],
        ..Default::default()
    });
    server.supervisor_token();
    let base = format!("http://{}", server.http);
    let browser = Browser::start();
    browser.goto(&format!("{base}/login"));
    log_in(&browser, "sup", "sup-pass-1");
    wait_path(&browser, &base, "/desk");
    browser.goto(&format!("{base}/wallboard"));
    browser.wait_text("#wb-offered", "0", WAIT);
    assert!(
        browser.exists("#wb-chart"),
        "no chart:\n{}",
        browser.source()
    );
    browser.screenshot(&server.dir().join("5-wallboard-before.png"));
    // A caller asks for an agent (none is ready: turned away, offered all the same).
    let phone = hotline_e2e::agents::AgentPhone::new(&spec, server.ports.base + 84);
    phone.dial_code(&server, "*2");
    hotline_e2e::agents::silent_caller_pcap(&server);
    let sink = hotline_e2e::rtp::RtpSink::bind(server.ports.base + 60);
    let marker = browser.execute("window.__same_page = 42; return 1;");
    assert_eq!(marker, serde_json::json!(1));
    let run = hotline_e2e::agents::caller('0', 1000, 3000, sink.port, server.ports.base + 80)
        .run(&server);
    run.assert_success("caller");
    // The board follows the live stream: no reload (the page's own variable survives).
    browser.wait_text("#wb-offered", "1", WAIT);
    assert_eq!(
        browser.execute("return window.__same_page;"),
        serde_json::json!(42),
        "the page was reloaded"
    );
    browser.screenshot(&server.dir().join("6-wallboard-after.png"));
}
