//! The HTTP API of work orders against the real binary: login and tokens, a case's life
//! over HTTP with its audit trail, refusals that change nothing, department handlers
//! who see only their cases and never a confidential caller, audited recording
//! downloads, and the OpenAPI document. Cases (with a call and a recording) are placed
//! through the store itself, as the call controller would.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NUMBER: &str = "13912345678";
const NAME: &str = "Zhang Wei";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    http: SocketAddr,
    config: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl Server {
    fn config(dir: &Path, http: u16) -> PathBuf {
        let sip = free_udp_port();
        let rtp = 33000 + (std::process::id() % 500) as u16 * 40;
        let text = format!(
            "[sip]\nlisten = \"127.0.0.1:{sip}\"\n[media]\nip = \"127.0.0.1\"\nrtp_port_min = {rtp}\nrtp_port_max = {}\n\
[http]\nlisten = \"127.0.0.1:{http}\"\n[data]\ndir = \"{d}/data\"\n[trunk]\nallowed_sources = [\"127.0.0.1/32\"]\nnumbers = [\"12345\"]\n\
[ivr]\nflow = \"{r}/config/ivr.toml\"\nprompts = \"{r}/prompts/zh\"\n\
[calendar]\nholidays = [\"2030-10-01\"]\ndeadline_days = {{ phone = 3, written = 7, urgent = 0 }}\n",
            rtp + 30,
            d = dir.display(),
            r = repo().display(),
        );
        let path = dir.join("hotline.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn cli(config: &Path, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(args)
            .arg("--config")
            .arg(config)
            .current_dir(repo())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "hotline {args:?}: {text}");
        text
    }

    fn start(dir: tempfile::TempDir) -> Server {
        let http_port = free_tcp_port();
        let config = Self::config(dir.path(), http_port);
        let child = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(repo())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
            config,
            dir,
        };
        let t0 = Instant::now();
        while server.try_req("GET", "/healthz", None, None).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn try_req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> std::io::Result<Reply> {
        let mut s = TcpStream::connect_timeout(&self.http, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.http
        );
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        let body = body.unwrap_or("");
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        s.write_all(req.as_bytes())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of headers");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut body = raw[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        Ok(Reply { status, head, body })
    }

    fn req(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let body = body.map(|b| b.to_string());
        self.try_req(method, path, token, body.as_deref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn login(&self, user: &str, password: &str) -> String {
        let r = self.req(
            "POST",
            "/api/login",
            None,
            Some(json!({ "username": user, "password": password })),
        );
        assert_eq!(r.status, 200, "login {user}: {}", r.text());
        r.json()["token"].as_str().unwrap().to_owned()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..line_end]).unwrap().trim(), 16).unwrap();
        b = &b[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// An agent (`4000`, added once) answers the call, as the ACD would: the call's case
/// becomes a work order (`registered`).
async fn answered_by_agent(store: &hotline_case::CaseStore, call: hotline_case::CallId) {
    if store.agent("4000").await.unwrap().is_none() {
        let agent = hotline_case::NewAgent {
            extension: "4000".into(),
            name: "Agent 4000".into(),
            password: "agent-4000".into(),
            skills: hotline_case::Skill::parse_list("consult:5").unwrap(),
            max_ring_secs: 20,
            wrap_up_secs: 30,
        };
        store
            .add_agent(agent, "hotline", chrono::Utc::now())
            .await
            .unwrap();
    }
    let now = chrono::Utc::now();
    store.call_queued(call, "consult", now).await.unwrap();
    store
        .call_agent_answered(call, "4000", "agent-leg@127.0.0.1", now)
        .await
        .unwrap();
}

/// Places two phone cases through the store, the second with a conversation recording.
/// Returns their tickets and the recording's id and bytes.
fn place_cases(dir: &Path) -> (String, String, String, i64, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = format!("sqlite://{}/data/hotline.db", dir.display());
        let store = hotline_case::CaseStore::open(&db).await.unwrap();
        let mut tickets = Vec::new();
        let mut last = None;
        for i in 0..3 {
            let now = chrono::Utc::now();
            let opened = store
                .open_call(hotline_case::NewCall {
                    sip_call_id: format!("test-call-{i}@127.0.0.1"),
                    // Only the confidential complaint (the third) is from NUMBER.
                    caller_number: if i == 2 {
                        NUMBER.into()
                    } else {
                        format!("1370000000{i}")
                    },
                    called_number: "12345".into(),
                    arrived_at: now,
                    answered_at: now,
                    local_day: now.date_naive(),
                })
                .await
                .unwrap();
            answered_by_agent(&store, opened.call).await;
            store
                .end_call(opened.call, chrono::Utc::now(), "caller_bye", "greeting")
                .await
                .unwrap();
            tickets.push(opened.ticket.clone());
            last = Some(opened);
        }
        let opened = last.unwrap();
        // A small stereo WAV, as the recorder writes it.
        let rel = format!("test/{}.wav", opened.ticket);
        let path = dir.join("data/recordings").join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..16000i32 {
            w.write_sample((i % 300) as i16).unwrap();
        }
        w.finalize().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let rec = store
            .add_recording(hotline_case::NewRecording {
                call: opened.call,
                case: opened.case,
                kind: hotline_case::RecordingKind::Conversation,
                path: rel,
                duration_ms: 1000,
                bytes: bytes.len() as u64,
                created_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
        store.close().await;
        (
            tickets[0].clone(),
            tickets[1].clone(),
            tickets[2].clone(),
            rec.0,
            bytes,
        )
    })
}

/// Places one answered phone call from `number` through the store (as the call
/// controller would, while the server runs): its case's ticket and the call's id.
fn place_call(dir: &Path, sip_call_id: &str, number: &str) -> (String, i64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = format!("sqlite://{}/data/hotline.db", dir.display());
        let store = hotline_case::CaseStore::open(&db).await.unwrap();
        let now = chrono::Utc::now();
        let opened = store
            .open_call(hotline_case::NewCall {
                sip_call_id: sip_call_id.into(),
                caller_number: number.into(),
                called_number: "12345".into(),
                arrived_at: now,
                answered_at: now,
                local_day: now.date_naive(),
            })
            .await
            .unwrap();
        answered_by_agent(&store, opened.call).await;
        store.close().await;
        (opened.ticket, opened.call.0)
    })
}

fn events(server: &Server, token: &str, ticket: &str) -> Vec<Value> {
    let r = server.req(
        "GET",
        &format!("/api/cases/{ticket}/events"),
        Some(token),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().as_array().unwrap().clone()
}

fn transition(server: &Server, token: &str, ticket: &str, body: Value) -> Reply {
    server.req(
        "POST",
        &format!("/api/cases/{ticket}/transitions"),
        Some(token),
        Some(body),
    )
}

#[test]
fn work_orders_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let config = Server::config(dir.path(), http);
    // Bootstrap by CLI: migrate, the first admin, an agent.
    let out = Server::cli(&config, &["migrate"]);
    assert!(out.contains("sqlite"), "{out}");
    Server::cli(
        &config,
        &[
            "user",
            "add",
            "root",
            "--name",
            "Admin",
            "--role",
            "admin",
            "--password",
            "rootpass1",
        ],
    );
    Server::cli(
        &config,
        &[
            "user",
            "add",
            "li",
            "--name",
            "Li Na",
            "--role",
            "agent",
            "--password",
            "agentpass1",
        ],
    );
    let listed = Server::cli(&config, &["user", "list", "--json"]);
    assert!(listed.contains("\"li\""), "{listed}");
    let (a, b, c, rec_id, wav) = place_cases(dir.path());
    let server = Server::start(dir);
    let s = &server;

    // --- Authentication ---
    let r = s.req("GET", "/api/cases", None, None);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("log in"));
    assert!(r
        .head
        .to_ascii_lowercase()
        .contains("www-authenticate: bearer"));
    assert_eq!(
        s.req("GET", &format!("/api/cases/{a}"), Some("nonsense"), None)
            .status,
        401
    );
    assert_eq!(s.req("GET", "/api/departments", None, None).status, 401);
    assert_eq!(s.req("GET", "/api/users", None, None).status, 401);
    let r = s.req(
        "POST",
        "/api/login",
        None,
        Some(json!({"username": "root", "password": "wrong-pass"})),
    );
    assert_eq!(r.status, 401);
    // Only /healthz is open: the live view, missed calls (citizens' numbers), agents'
    // states and the API's description all need a login.
    assert_eq!(s.req("GET", "/healthz", None, None).status, 200);
    for (method, path) in [
        ("GET", "/api/queues"),
        ("GET", "/api/agents"),
        ("GET", "/api/status"),
        ("GET", "/api/events"),
        ("GET", "/api/missed-calls"),
        ("GET", "/api/openapi.json"),
    ] {
        let r = s.req(method, path, None, None);
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text());
    }
    let r = s.req(
        "POST",
        "/api/agents/1001/state",
        None,
        Some(json!({"state": "logged_out"})),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let root = s.login("root", "rootpass1");
    let agent = s.login("li", "agentpass1");
    assert_eq!(s.req("GET", "/api/queues", Some(&agent), None).status, 200);
    // Every error body is JSON, also those axum's extractors make (the finding: reschedule
    // without `at` answered plain text).
    for (method, path, body, status) in [
        ("POST", "/api/callbacks/1/reschedule", Some(json!({})), 400),
        ("GET", "/api/callbacks/abc", None, 400),
        ("GET", "/api/missed-calls?limit=many", None, 400),
        ("DELETE", "/api/cases", None, 405),
    ] {
        let r = s.req(method, path, Some(&root), body);
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        let e = r.json();
        assert!(
            e["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{method} {path}: {e}"
        );
    }
    let r = s.req("GET", "/api/missed-calls", Some(&agent), None);
    assert_eq!(
        r.status,
        403,
        "an agent reads no missed calls: {}",
        r.text()
    );
    assert_eq!(
        s.req("GET", "/api/missed-calls", Some(&root), None).status,
        200
    );

    // --- Departments and handlers (admin) ---
    for d in [
        json!({"code": "housing", "name": "Housing Bureau", "level": 1}),
        json!({"code": "housing.east", "name": "Housing East", "level": 2, "parent": "housing"}),
        json!({"code": "traffic", "name": "Traffic Bureau", "level": 1}),
    ] {
        let r = s.req("POST", "/api/departments", Some(&root), Some(d));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = s.req(
        "POST",
        "/api/departments",
        Some(&agent),
        Some(json!({"code": "x", "name": "X", "level": 1})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let tree = s.req("GET", "/api/departments", Some(&agent), None).json();
    assert_eq!(tree["departments"][0]["code"], "housing", "{tree}");
    assert_eq!(
        tree["departments"][0]["children"][0]["code"],
        "housing.east"
    );
    for (u, d) in [("wang", "housing"), ("zhao", "traffic")] {
        let r = s.req(
            "POST",
            "/api/users",
            Some(&root),
            Some(
                json!({"username": u, "name": u, "role": "department_handler",
                        "department": d, "password": "handler-pass"}),
            ),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = s.req(
        "POST",
        "/api/users",
        Some(&root),
        Some(json!({"username": "bad", "name": "b", "role": "wizard", "password": "12345678"})),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("wizard"), "{}", r.text());
    let wang = s.login("wang", "handler-pass");
    let zhao = s.login("zhao", "handler-pass");

    // --- Bad input names the problem, changes nothing ---
    let r = s
        .try_req(
            "POST",
            &format!("/api/cases/{a}/transitions"),
            Some(&agent),
            Some("{not json"),
        )
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{}",
        r.text()
    );
    let r = transition(s, &agent, &a, json!({"action": "teleport"}));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("teleport"), "{}", r.text());
    let r = transition(
        s,
        &agent,
        &a,
        json!({"action": "dispatch", "department": "housing", "mode": "fax"}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("fax"), "{}", r.text());
    let r = s.req(
        "PATCH",
        &format!("/api/cases/{a}"),
        Some(&agent),
        Some(json!({"colour": "red"})),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("colour"), "{}", r.text());
    let r = s.req(
        "PATCH",
        &format!("/api/cases/{a}"),
        Some(&agent),
        Some(json!({"category": "gossip"})),
    );
    assert_eq!(r.status, 422);
    assert!(r.text().contains("gossip"), "{}", r.text());
    let r = transition(
        s,
        &agent,
        &a,
        json!({"action": "dispatch", "department": "nowhere", "mode": "phone"}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("nowhere"), "{}", r.text());
    let r = s.req("GET", "/api/cases/99999999999999", Some(&agent), None);
    assert_eq!(r.status, 404);
    let r = s.req("GET", "/api/cases?colour=red", Some(&agent), None);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("colour"));
    let case_a = s
        .req("GET", &format!("/api/cases/{a}"), Some(&agent), None)
        .json();
    assert_eq!(case_a["case"]["status"], "registered", "{case_a}");
    // Opened by the switch, made a work order by the agent's answer; refusals wrote nothing.
    let trail: Vec<&str> = case_a["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(
        trail,
        ["opened", "queued", "agent_answered", "registered"],
        "{case_a}"
    );

    // --- A case's whole life over HTTP ---
    let r = s.req(
        "PATCH",
        &format!("/api/cases/{a}"),
        Some(&agent),
        Some(json!({"category": "consult", "subject": "Street light out"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = transition(
        s,
        &agent,
        &a,
        json!({"action": "dispatch", "department": "housing", "mode": "phone"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["case"]["status"], "dispatched");
    assert!(r.json()["case"]["deadline"].is_string());
    // Another department's handler: as if it did not exist.
    let r = s.req("GET", &format!("/api/cases/{a}"), Some(&zhao), None);
    assert_eq!(r.status, 404);
    assert_eq!(
        transition(s, &zhao, &a, json!({"action": "accept"})).status,
        404
    );
    let list = s.req("GET", "/api/cases", Some(&zhao), None).json();
    assert_eq!(list, json!([]));
    // The right handler: not confidential, sees it all; may not edit it.
    let r = s.req("GET", &format!("/api/cases/{a}"), Some(&wang), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["case"]["caller_number"], "13700000000");
    let r = s.req(
        "PATCH",
        &format!("/api/cases/{a}"),
        Some(&wang),
        Some(json!({"subject": "x"})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    // A handler may not revisit (403), then the life goes on.
    assert_eq!(
        transition(s, &wang, &a, json!({"action": "accept"})).status,
        200
    );
    assert_eq!(
        transition(
            s,
            &wang,
            &a,
            json!({"action": "reply", "result": "Fixed the lamp"})
        )
        .status,
        200
    );
    let r = transition(
        s,
        &wang,
        &a,
        json!({"action": "revisit", "satisfaction": "satisfied"}),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        transition(
            s,
            &agent,
            &a,
            json!({"action": "revisit", "satisfaction": "satisfied"})
        )
        .status,
        200
    );
    let r = transition(s, &agent, &a, json!({"action": "close"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["case"]["status"], "closed");
    let trail = events(s, &agent, &a);
    let names: Vec<_> = trail.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for want in [
        "registered",
        "updated",
        "dispatched",
        "accepted",
        "replied",
        "revisited",
        "closed",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(trail
        .iter()
        .any(|e| e["event"] == "accepted" && e["actor"] == "wang"));
    assert!(trail
        .iter()
        .any(|e| e["event"] == "replied" && e["note"].as_str().unwrap_or("").contains("Fixed")));

    // Illegal transition: 409 with the store's message, nothing changes.
    let r = transition(s, &wang, &a, json!({"action": "accept"}));
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.json()["error"].as_str().unwrap().contains("cannot"),
        "{}",
        r.text()
    );
    assert_eq!(events(s, &agent, &a).len(), trail.len());
    let r = s.req(
        "PATCH",
        &format!("/api/cases/{a}"),
        Some(&agent),
        Some(json!({"subject": "late"})),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(events(s, &agent, &a).len(), trail.len());

    // --- A confidential complaint, dispatched below the handler's department ---
    let r = s.req(
        "PATCH",
        &format!("/api/cases/{c}"),
        Some(&agent),
        Some(
            json!({"category": "complaint", "subject": "Noisy building site",
                    "caller_name": NAME, "location": "Flat 3, 12 Elm Road"}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = transition(
        s,
        &agent,
        &c,
        json!({"action": "dispatch", "department": "housing.east", "mode": "written"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        transition(
            s,
            &agent,
            &c,
            json!({"action": "urge", "note": format!("caller {NUMBER} called again")})
        )
        .status,
        200
    );
    for path in [
        format!("/api/cases/{c}"),
        format!("/api/cases/{c}/events"),
        "/api/cases".into(),
        "/api/cases?department=housing.east&category=complaint".to_string(),
    ] {
        let r = s.req("GET", &path, Some(&wang), None);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let text = r.text();
        assert!(
            !text.contains(NUMBER),
            "{path} shows the caller's number: {text}"
        );
        assert!(
            !text.contains(NAME),
            "{path} shows the caller's name: {text}"
        );
        assert!(
            !text.contains("Elm Road"),
            "{path} shows the address: {text}"
        );
        assert!(!text.contains(".wav"), "{path} shows a recording: {text}");
    }
    let seen = s
        .req("GET", &format!("/api/cases/{c}"), Some(&wang), None)
        .json();
    assert_eq!(seen["redacted"], true);
    assert_eq!(seen["recordings"], json!([]));
    assert_eq!(seen["order"]["subject"], "Noisy building site");
    let listed = s.req("GET", "/api/cases", Some(&wang), None).json();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["ticket"] == c.as_str()),
        "{listed}"
    );
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["ticket"] == b.as_str()),
        "{listed}"
    );
    assert_eq!(
        s.req("GET", &format!("/api/cases/{c}"), Some(&zhao), None)
            .status,
        404
    );
    let rec = format!("/api/cases/{c}/recordings/{rec_id}");
    let r = s.req("GET", &rec, Some(&wang), None);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!r.text().contains(NUMBER));
    assert_eq!(s.req("GET", &rec, Some(&zhao), None).status, 404);
    assert!(!events(s, &agent, &c)
        .iter()
        .any(|e| e["event"] == "recording_read"));
    // Staff see everything, and every download is audited.
    let full = s
        .req("GET", &format!("/api/cases/{c}"), Some(&agent), None)
        .json();
    assert_eq!(full["case"]["caller_number"], NUMBER);
    assert_eq!(full["order"]["caller_name"], NAME);
    assert_eq!(full["recordings"][0]["id"], rec_id);
    let r = s.req("GET", &rec, Some(&agent), None);
    assert_eq!(r.status, 200);
    assert!(
        r.head
            .to_ascii_lowercase()
            .contains("content-type: audio/wav"),
        "{}",
        r.head
    );
    assert_eq!(r.body, wav);
    let reads: Vec<_> = events(s, &agent, &c)
        .into_iter()
        .filter(|e| e["event"] == "recording_read")
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0]["actor"], "li");
    assert_eq!(
        s.req(
            "GET",
            &format!("/api/cases/{c}/recordings/999"),
            Some(&agent),
            None
        )
        .status,
        404
    );
    // The finding: a missing recording file answered 500 with the server's file path. Now
    // 404 saying what is missing, and no path or internals in the body.
    let recordings = s.dir.path().join("data/recordings");
    let file = std::fs::read_dir(recordings.join("test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "wav"))
        .unwrap();
    std::fs::rename(&file, file.with_extension("moved")).unwrap();
    let r = s.req("GET", &rec, Some(&agent), None);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("missing"), "{}", r.text());
    for leak in [s.dir.path().to_str().unwrap(), "/", ".wav", "No such file"] {
        assert!(!r.text().contains(leak), "{leak:?} in {}", r.text());
    }
    std::fs::rename(file.with_extension("moved"), &file).unwrap();

    // Search by number and status (staff).
    let r = s.req(
        "GET",
        &format!("/api/cases?number={NUMBER}&status=dispatched"),
        Some(&agent),
        None,
    );
    assert_eq!(r.status, 200);
    let hits = r.json();
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(hits[0]["ticket"], c.as_str());
    assert_eq!(
        s.req("GET", "/api/cases?status=flying", Some(&agent), None)
            .status,
        400
    );

    // --- Registering a case by hand ---
    const REPEAT: &str = "13700001234";
    let web = json!({
        "channel": "web",
        "caller_number": REPEAT,
        "caller_name": "Sun Li",
        "location": "8 Heping St",
        "category": "help",
        "subject": "Water pressure low",
        "description": "Third floor and up",
    });
    let r = s.req("POST", "/api/cases", Some(&agent), Some(web.clone()));
    assert_eq!(r.status, 201, "{}", r.text());
    let made = r.json();
    let older = made["case"]["ticket"].as_str().unwrap().to_owned();
    assert!(
        older.len() >= 13 && older.bytes().all(|b| b.is_ascii_digit()),
        "{made}"
    );
    assert!(
        r.head
            .to_ascii_lowercase()
            .contains(&format!("location: /api/cases/{older}")),
        "{}",
        r.head
    );
    assert_eq!(made["case"]["channel"], "web", "{made}");
    assert_eq!(made["case"]["status"], "registered");
    assert_eq!(made["case"]["caller_number"], REPEAT);
    assert_eq!(made["order"]["subject"], "Water pressure low");
    assert_eq!(made["events"][0]["event"], "registered");
    assert_eq!(made["events"][0]["actor"], "li");
    let number_hits = |s: &Server| {
        s.req(
            "GET",
            &format!("/api/cases?number={REPEAT}"),
            Some(&agent),
            None,
        )
        .json()
        .as_array()
        .unwrap()
        .len()
    };
    assert_eq!(number_hits(s), 1);
    // Refusals name the problem and register nothing.
    let r = s.req("POST", "/api/cases", Some(&wang), Some(web.clone()));
    assert_eq!(r.status, 403, "{}", r.text());
    for (field, value, status) in [
        ("category", json!("weather"), 422),
        ("channel", json!("voicemail"), 422),
        ("caller_number", json!("call me"), 422),
        ("subject", json!("  "), 422),
        ("colour", json!("red"), 400),
    ] {
        let mut body = web.clone();
        body[field] = value;
        let r = s.req("POST", "/api/cases", Some(&agent), Some(body));
        assert_eq!(r.status, status, "{field}: {}", r.text());
        let msg = r.json()["error"].as_str().unwrap().to_owned();
        assert!(msg.contains(field), "{field}: {msg}");
    }
    let mut body = web.clone();
    body["confidential"] = json!("yes");
    let r = s.req("POST", "/api/cases", Some(&agent), Some(body));
    assert_eq!(r.status, 400, "{}", r.text());
    let mut body = web.clone();
    body.as_object_mut().unwrap().remove("subject");
    let r = s.req("POST", "/api/cases", Some(&agent), Some(body));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("subject"), "{}", r.text());
    assert_eq!(number_hits(s), 1);

    // --- A repeat caller's new call joins the older open case ---
    let (newer, call) = place_call(s.dir.path(), "repeat-call@127.0.0.1", REPEAT);
    assert_ne!(newer, older);
    assert_eq!(number_hits(s), 2);
    let link = |token: &str, ticket: &str, call: i64| {
        s.req(
            "POST",
            &format!("/api/cases/{ticket}/calls"),
            Some(token),
            Some(json!({ "call": call })),
        )
    };
    assert_eq!(link(&wang, &older, call).status, 403);
    let r = link(&agent, &older, 999_999);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = link(&agent, "2099010199999", call);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s.req(
        "POST",
        &format!("/api/cases/{older}/calls"),
        Some(&agent),
        Some(json!({ "call": "x" })),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = link(&agent, &older, call);
    assert_eq!(r.status, 200, "{}", r.text());
    let joined = r.json();
    assert_eq!(joined["case"]["ticket"], older.as_str());
    assert_eq!(joined["calls"][0]["id"], call, "{joined}");
    let last = joined["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "call_linked", "{joined}");
    assert_eq!(last["actor"], "li");
    let dup = s
        .req("GET", &format!("/api/cases/{newer}"), Some(&agent), None)
        .json();
    assert_eq!(dup["case"]["status"], "closed", "{dup}");
    assert!(dup["calls"].as_array().unwrap().is_empty(), "{dup}");
    let last = dup["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "merged", "{dup}");
    // Not into a final case: 409, and the call stays where it is.
    let r = s.req("POST", "/api/cases", Some(&agent), Some(web.clone()));
    assert_eq!(r.status, 201, "{}", r.text());
    let done = r.json()["case"]["ticket"].as_str().unwrap().to_owned();
    let r = transition(
        s,
        &agent,
        &done,
        json!({"action": "answer", "summary": "Told"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = link(&agent, &done, call);
    assert_eq!(r.status, 409, "{}", r.text());
    let still = s
        .req("GET", &format!("/api/cases/{older}"), Some(&agent), None)
        .json();
    assert_eq!(still["calls"].as_array().unwrap().len(), 1, "{still}");

    // --- OpenAPI ---
    let r = s.req("GET", "/api/openapi.json", Some(&agent), None);
    assert_eq!(r.status, 200);
    let doc = r.json();
    for p in [
        "/api/login",
        "/api/cases",
        "/api/cases/{ticket}/transitions",
        "/api/cases/{ticket}/calls",
        "/api/departments",
        "/api/users",
        "/api/cases/{ticket}/recordings/{id}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} undocumented");
    }
    assert!(doc["paths"]["/api/cases"]["post"].is_object());
    assert!(doc["components"]["schemas"]["NewCase"].is_object());

    // --- CLI on the same database ---
    let out = Server::cli(
        &s.config,
        &[
            "case",
            "dispatch",
            &b,
            "--department",
            "traffic",
            "--mode",
            "urgent",
        ],
    );
    assert!(out.contains("dispatched by cli"), "{out}");
    assert_eq!(
        transition(s, &zhao, &b, json!({"action": "accept"})).status,
        200
    );
    let out = Server::cli(
        &s.config,
        &[
            "case",
            "reply",
            &b,
            "--result",
            "Signals fixed",
            "--as",
            "zhao",
        ],
    );
    assert!(out.contains("replied by zhao"), "{out}");
    let out = Server::cli(
        &s.config,
        &["case", "close", &b, "--note", "citizen unreachable"],
    );
    assert!(out.contains("closed"), "{out}");
    let seen = s
        .req("GET", &format!("/api/cases/{b}"), Some(&zhao), None)
        .json();
    assert_eq!(seen["case"]["status"], "closed", "{seen}");

    // --- Logout ends the token ---
    assert_eq!(s.req("POST", "/api/logout", Some(&agent), None).status, 204);
    assert_eq!(s.req("GET", "/api/cases", Some(&agent), None).status, 401);
    let _ = &s.dir;
}

/// The callback worklist over HTTP: a voicemail's task is listed, claimed once, its
/// attempts recorded with retries, rescheduled and skipped; department handlers are
/// refused.
#[test]
fn callbacks_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let config = Server::config(dir.path(), http);
    Server::cli(&config, &["migrate"]);
    for (user, role, pass) in [
        ("li", "agent", "agentpass1"),
        ("wang", "agent", "agentpass2"),
    ] {
        Server::cli(
            &config,
            &[
                "user",
                "add",
                user,
                "--name",
                user,
                "--role",
                role,
                "--password",
                pass,
            ],
        );
    }
    // Two voicemails, marked as the call controller does.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tickets: Vec<String> = rt.block_on(async {
        let db = format!("sqlite://{}/data/hotline.db", dir.path().display());
        let store = hotline_case::CaseStore::open(&db).await.unwrap();
        let mut tickets = Vec::new();
        for i in 0..2 {
            let now = chrono::Utc::now() - chrono::Duration::minutes(10 - i);
            let o = store
                .open_call(hotline_case::NewCall {
                    sip_call_id: format!("cb-{i}@127.0.0.1"),
                    caller_number: format!("1360000000{i}"),
                    called_number: "12345".into(),
                    arrived_at: now,
                    answered_at: now,
                    local_day: now.date_naive(),
                })
                .await
                .unwrap();
            store
                .mark_voicemail(o.case, chrono::Utc::now())
                .await
                .unwrap();
            tickets.push(o.ticket);
        }
        store.close().await;
        tickets
    });
    let server = Server::start(dir);
    let s = &server;
    assert_eq!(s.req("GET", "/api/callbacks", None, None).status, 401);
    let li = s.login("li", "agentpass1");
    let wang = s.login("wang", "agentpass2");
    let r = s.req("GET", "/api/callbacks", Some(&li), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["ticket"], tickets[0].as_str(), "oldest place first");
    let id = list[0]["id"].as_i64().unwrap();
    let other = list[1]["id"].as_i64().unwrap();

    let claim = format!("/api/callbacks/{id}/claim");
    let r = s.req("POST", &claim, Some(&li), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "in_progress");
    assert_eq!(r.json()["agent"], "li");
    assert_eq!(s.req("POST", &claim, Some(&wang), None).status, 409);

    let attempt = format!("/api/callbacks/{id}/attempt");
    let r = s.req(
        "POST",
        &attempt,
        Some(&li),
        Some(json!({ "result": "maybe" })),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let body = json!({ "result": "busy", "note": "line busy", "retry_minutes": 30 });
    let r = s.req("POST", &attempt, Some(&li), Some(body));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()["status"].clone(), r.json()["attempts"].clone()),
        (json!("pending"), json!(1))
    );
    // Not due for 30 minutes: only the other task is listed; --all shows both.
    let due = s.req("GET", "/api/callbacks", Some(&li), None).json();
    assert_eq!(due.as_array().unwrap().len(), 1);
    let all = s
        .req("GET", "/api/callbacks?all=true", Some(&li), None)
        .json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    // Attempt without a claim: 409.
    assert_eq!(
        s.req(
            "POST",
            &attempt,
            Some(&li),
            Some(json!({ "result": "busy" }))
        )
        .status,
        409
    );

    let r = s.req(
        "POST",
        &format!("/api/callbacks/{other}/reschedule"),
        Some(&wang),
        Some(json!({ "at": "2030-01-01T00:00:00Z" })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["next_attempt_at"], "2030-01-01T00:00:00Z");
    let r = s.req(
        "POST",
        &format!("/api/callbacks/{other}/skip"),
        Some(&wang),
        Some(json!({ "reason": "duplicate" })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "skipped");
    assert_eq!(
        s.req("POST", "/api/callbacks/999/claim", Some(&li), None)
            .status,
        404
    );
    let ev = events(s, &li, &tickets[0]);
    assert!(
        ev.iter().any(|e| e["event"] == "callback_attempt"),
        "{ev:?}"
    );
}
