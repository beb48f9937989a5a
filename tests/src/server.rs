//! One `hotline serve` process per test: its config, ports, data directory and log.
//!
//! [`Server::start`] writes a config with free ports and a private temp directory, starts
//! the binary and waits for `GET /healthz` to answer 200. Dropping the [`Server`] kills the
//! process; if the test is failing (panicking) it first prints the end of the server's
//! log and keeps the temp directory for a look.

use crate::http;
use crate::ports::{free_port, PortBlock};
use serde_json::Value;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (the workspace).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `hotline` binary: `$HOTLINE_BIN`, else `$CARGO_TARGET_DIR/debug/hotline`, else
/// `<workspace>/target/debug/hotline`. Panics if it is not there (build it first:
/// `cargo build -p hotline`).
pub fn hotline_bin() -> PathBuf {
    let path = if let Some(bin) = std::env::var_os("HOTLINE_BIN") {
        PathBuf::from(bin)
    } else {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|t| {
                if t.is_relative() {
                    workspace_dir().join(t)
                } else {
                    t
                }
            })
            .unwrap_or_else(|| workspace_dir().join("target"));
        target.join("debug").join("hotline")
    };
    assert!(
        path.is_file(),
        "hotline binary not found at {} — run `cargo build -p hotline` first (or set HOTLINE_BIN)",
        path.display()
    );
    path
}

/// Which staffed hours the test's IVR flow has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hours {
    /// The shipped `config/ivr.toml` unchanged (depends on the time of day).
    Shipped,
    /// Every day `"24h"`: greeting, then the menu.
    Staffed,
    /// Every day `"closed"`: greeting, closed notice, voicemail.
    Closed,
}

/// What a test may change in the server's config.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub hours: Hours,
    pub t1_ms: u64,
    pub answer_delay_ms: u64,
    /// `[calls] drain_secs`: how long live calls go on after SIGTERM (2 s in tests).
    pub drain_secs: u64,
    pub allowed_sources: Vec<String>,
    pub max_message_bytes: usize,
    /// Agents added with `hotline agent add` before the server starts.
    pub agents: Vec<AgentSpec>,
    /// `[agents] auth_max_failures` and `auth_block_secs`.
    pub auth_max_failures: u32,
    pub auth_block_secs: u64,
    /// `[agents] digest_algorithms`: the challenges a 401 carries, in order.
    pub digest_algorithms: Vec<String>,
    /// TOML appended to the config as is (e.g. `[callbacks]`, `[trunk.outbound]`).
    pub extra_config: String,
}

/// A seated agent as `hotline agent add` creates it.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    pub extension: String,
    pub name: String,
    pub password: String,
    /// `"consult:5,complaint:3"`.
    pub skills: String,
    pub max_ring_secs: u32,
    pub wrap_up_secs: u32,
}

impl AgentSpec {
    /// Agent `extension` with password `secret<extension>`, max ring 20 s, wrap-up 30 s.
    pub fn new(extension: &str, skills: &str) -> AgentSpec {
        AgentSpec {
            extension: extension.into(),
            name: format!("Agent {extension}"),
            password: format!("secret{extension}"),
            skills: skills.into(),
            max_ring_secs: 20,
            wrap_up_secs: 30,
        }
    }

    pub fn max_ring(mut self, secs: u32) -> AgentSpec {
        self.max_ring_secs = secs;
        self
    }

    pub fn wrap_up(mut self, secs: u32) -> AgentSpec {
        self.wrap_up_secs = secs;
        self
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            hours: Hours::Staffed,
            t1_ms: 500,
            answer_delay_ms: 0,
            drain_secs: 2,
            allowed_sources: vec!["127.0.0.1/32".into()],
            max_message_bytes: 16_384,
            agents: Vec::new(),
            auth_max_failures: 5,
            auth_block_secs: 300,
            digest_algorithms: vec!["MD5".into(), "SHA-256".into()],
            extra_config: String::new(),
        }
    }
}

/// A running server and everything that belongs to it.
pub struct Server {
    /// SIP (UDP and TCP) address.
    pub sip: SocketAddr,
    /// HTTP API address.
    pub http: SocketAddr,
    /// This test's port block: the server's RTP range is `base .. base+59`; the test uses
    /// `base+60 ..` for RTP sinks and `base+80 ..` for SIPp's media port.
    pub ports: PortBlock,
    pub config: PathBuf,
    pub log: PathBuf,
    dir: Option<tempfile::TempDir>,
    child: Child,
    /// The session token of the supervisor `sup`, made on first use.
    supervisor: std::sync::OnceLock<String>,
}

impl Server {
    /// Starts a server with `opts` and waits until it is healthy (at most 10 s).
    pub fn start(opts: ServerOptions) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("hotline-e2e-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().to_path_buf();
        let ports = PortBlock::claim();
        let sip: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let ws = workspace_dir();
        let ivr = write_ivr(&root, opts.hours);
        let sources: Vec<String> = opts
            .allowed_sources
            .iter()
            .map(|s| format!("{s:?}"))
            .collect();
        let config = root.join("hotline.toml");
        let text = format!(
            r#"[sip]
listen = "{sip}"
max_message_bytes = {max}
t1_ms = {t1}

[media]
ip = "127.0.0.1"
rtp_port_min = {rmin}
rtp_port_max = {rmax}

[http]
listen = "{http}"

[data]
dir = "{data}"

[trunk]
allowed_sources = [{sources}]
numbers = ["12345"]

[ivr]
flow = "{ivr}"
prompts = "{prompts}"

[calls]
answer_delay_ms = {delay}
max_call_secs = 3600
drain_secs = {drain}
# A test's calls are never refused because the machine running the suite is busy (the
# runtime, the RTP pacer or the socket read late); the overload tests set the bounds they test.
max_runtime_lag_ms = 5000
max_media_lag_ms = 5000
max_receive_wait_ms = 5000

[agents]
realm = "hotline12345"
min_expires = 60
max_expires = 3600
auth_max_failures = {max_fail}
auth_window_secs = 60
auth_block_secs = {block}
digest_algorithms = [{algs}]

{extra}
"#,
            max = opts.max_message_bytes,
            t1 = opts.t1_ms,
            rmin = ports.base,
            rmax = ports.base + 59,
            data = root.join("data").display(),
            sources = sources.join(", "),
            ivr = ivr.display(),
            prompts = ws.join("prompts/zh").display(),
            delay = opts.answer_delay_ms,
            drain = opts.drain_secs,
            max_fail = opts.auth_max_failures,
            block = opts.auth_block_secs,
            algs = opts
                .digest_algorithms
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            extra = opts.extra_config,
        );
        std::fs::write(&config, &text).expect("write config");
        for agent in &opts.agents {
            add_agent(&config, agent);
        }
        let log = root.join("server.log");
        let mut server = Server {
            sip,
            http,
            ports,
            config,
            log,
            dir: Some(dir),
            child: spawn_serve(&root.join("hotline.toml"), &root.join("server.log")),
            supervisor: std::sync::OnceLock::new(),
        };
        if let Err(log) = server.wait_healthy(Duration::from_secs(10)) {
            panic!("{log}");
        }
        server
    }

    /// Stops the server (SIGKILL: nothing is flushed on the way out, as in a crash or a
    /// power cut), lets `edit` change its config text, and starts it again on the same
    /// data directory and ports. The old log is kept beside the new one.
    pub fn restart(&mut self, edit: impl FnOnce(String) -> String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.config).expect("read config");
        std::fs::write(&self.config, edit(text)).expect("write config");
        let old = self.log.with_extension("log.1");
        let _ = std::fs::rename(&self.log, &old);
        self.child = spawn_serve(&self.config, &self.log);
        if let Err(log) = self.wait_healthy(Duration::from_secs(10)) {
            panic!("restart failed: {log}");
        }
    }

    /// Sends SIGTERM, as systemd stops the service, and waits (at most `limit`) for the
    /// process to exit: its exit status, or None if it was still running (then killed).
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.send_sigterm();
        self.wait_exit(limit)
    }

    /// Sends SIGTERM and returns at once (the server drains: see [`Server::wait_exit`]).
    pub fn send_sigterm(&mut self) {
        self.signal("TERM");
    }

    /// The server's process id (for what `/proc` says of it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the signal `name` (`TERM`, `STOP`, `CONT`, ...) to the server process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{name} {pid}");
    }

    /// Stops the server process (SIGSTOP) and returns once every one of its threads is
    /// stopped. `kill` returns when the signal is queued, not when it has taken effect: the
    /// kernel wakes one thread to start the group stop, and until it runs, another thread
    /// woken by a datagram can still read and answer it.
    pub fn pause(&self) {
        self.signal("STOP");
        let tasks = format!("/proc/{}/task", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let states: Vec<char> = std::fs::read_dir(&tasks)
                .expect("read the server's threads")
                .filter_map(|t| crate::procfs::state(&t.ok()?.path()))
                .collect();
            if !states.is_empty() && states.iter().all(|&s| s == 'T' || s == 't') {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server threads not stopped: {states:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits (at most `limit`) for the process to exit: its exit status, or None if it
    /// was still running (then killed).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for `/healthz`; Err with what went wrong (and the log) if the server exits
    /// or is not healthy within `limit`.
    fn wait_healthy(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "hotline exited during start-up ({status}):\n{}",
                    self.log_text()
                ));
            }
            if let Ok((200, _)) = http::get(self.http, "/healthz") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "hotline not healthy after {limit:?}:\n{}",
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The test's temp directory (config, logs, pcaps, SIPp traces).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// The recordings directory (`data/recordings`).
    pub fn recordings_dir(&self) -> PathBuf {
        self.dir().join("data").join("recordings")
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while the process runs and `/healthz` answers 200.
    pub fn is_healthy(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
            && matches!(http::get(self.http, "/healthz"), Ok((200, _)))
    }

    /// GET on the HTTP API, body parsed as JSON.
    pub fn api(&self, path: &str) -> (u16, Value) {
        let (status, body) =
            http::get(self.http, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
        (status, json)
    }

    /// The session token of the supervisor `sup`: created with the CLI and logged in over
    /// HTTP on first use, the same token afterwards.
    pub fn supervisor_token(&self) -> String {
        self.supervisor
            .get_or_init(|| self.new_supervisor_token())
            .clone()
    }

    fn new_supervisor_token(&self) -> String {
        self.cli_text(&[
            "user",
            "add",
            "sup",
            "--name",
            "Supervisor",
            "--role",
            "supervisor",
            "--password",
            "sup-pass-1",
        ]);
        let (status, body) = self.api_post(
            "/api/login",
            &serde_json::json!({ "username": "sup", "password": "sup-pass-1" }),
        );
        assert_eq!(status, 200, "login: {body}");
        body["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {body}"))
            .to_string()
    }

    /// Adds the API user `username` with `role` (and `extra` CLI arguments, e.g.
    /// `--department housing` or `--extension 1001`) and logs them in: their session token.
    /// The password is `<username>-pass-1`.
    pub fn user_token(&self, username: &str, role: &str, extra: &[&str]) -> String {
        let password = format!("{username}-pass-1");
        let mut args = vec![
            "user",
            "add",
            username,
            "--name",
            username,
            "--role",
            role,
            "--password",
        ];
        args.push(&password);
        args.extend_from_slice(extra);
        self.cli_text(&args);
        let (status, body) = self.api_post(
            "/api/login",
            &serde_json::json!({ "username": username, "password": password }),
        );
        assert_eq!(status, 200, "login of {username}: {body}");
        body["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {body}"))
            .to_string()
    }

    /// GET on the HTTP API with a session token.
    pub fn api_authorized(&self, path: &str, token: &str) -> (u16, Value) {
        let (status, body) = http::get_authorized(self.http, path, token)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
        (status, json)
    }

    /// Runs `hotline <args> --config FILE` and parses its stdout as JSON.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = Command::new(hotline_bin())
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .current_dir(workspace_dir())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run hotline CLI");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "hotline {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("hotline {args:?} printed no JSON ({e}): {stdout}"))
    }

    /// POSTs JSON to the API with a session token; (status, JSON body).
    pub fn api_post_authorized(&self, path: &str, body: &Value, token: &str) -> (u16, Value) {
        let (status, text) = http::post_json_authorized(self.http, path, &body.to_string(), token)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Adds an agent with the CLI while the server runs (it reads the DB on each auth).
    pub fn add_agent(&self, agent: &AgentSpec) {
        add_agent(&self.config, agent);
    }

    /// Runs `hotline <args> --config FILE` and returns its stdout (panics on failure).
    pub fn cli_text(&self, args: &[&str]) -> String {
        cli(&self.config, args)
    }

    /// POST of a JSON body on the HTTP API; the status and the body parsed as JSON.
    pub fn api_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, text) = http::post_json(self.http, path, &body.to_string())
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    /// GET on the HTTP API as the supervisor `sup` (every route but `/healthz` needs a login).
    pub fn api_sup(&self, path: &str) -> (u16, Value) {
        self.api_authorized(path, &self.supervisor_token())
    }

    /// POST on the HTTP API as the supervisor `sup`.
    pub fn api_post_sup(&self, path: &str, body: &Value) -> (u16, Value) {
        self.api_post_authorized(path, body, &self.supervisor_token())
    }

    /// The agent `ext` as `GET /api/agents` shows it (panics if it is not listed).
    pub fn api_agent(&self, ext: &str) -> Value {
        let (status, body) = self.api_sup("/api/agents");
        assert_eq!(status, 200, "/api/agents: {body}");
        body["agents"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["extension"] == ext).cloned())
            .unwrap_or_else(|| panic!("agent {ext} not in /api/agents: {body:#}"))
    }

    /// The queue `name` as `GET /api/queues` shows it (panics if it is not listed).
    pub fn api_queue(&self, name: &str) -> Value {
        let (status, body) = self.api_sup("/api/queues");
        assert_eq!(status, 200, "/api/queues: {body}");
        body["queues"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name).cloned())
            .unwrap_or_else(|| panic!("queue {name} not in /api/queues: {body:#}"))
    }

    /// Polls `/api/agents` until agent `ext` satisfies `done` (at most `limit`); returns
    /// its last state either way.
    pub fn wait_agent(&self, ext: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let agent = self.api_agent(ext);
            if done(&agent) || Instant::now() >= deadline {
                return agent;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `hotline case list --all --json`: the case row of every call (work orders and
    /// calls that made no request), newest first.
    pub fn case_list(&self) -> Vec<Value> {
        match self.cli_json(&["case", "list", "--all", "--json"]) {
            Value::Array(a) => a,
            other => panic!("case list is not an array: {other}"),
        }
    }

    /// `hotline case show TICKET --json`.
    pub fn case_show(&self, ticket: &str) -> Value {
        self.cli_json(&["case", "show", ticket, "--json"])
    }

    /// The ticket of the only case there is (panics unless exactly one).
    pub fn only_ticket(&self) -> String {
        let cases = self.case_list();
        assert_eq!(cases.len(), 1, "expected exactly one case, got {cases:#?}");
        ticket_of(&cases[0])
    }

    /// Polls `case show` until `done` holds for it (at most `limit`); returns the last
    /// state either way, so the caller's assertions report what was there.
    pub fn wait_case(&self, ticket: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let case = self.case_show(ticket);
            if done(&case) || Instant::now() >= deadline {
                return case;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the case's first call has `ended_at` (the call is over and written).
    pub fn wait_call_ended(&self, ticket: &str) -> Value {
        self.wait_case(ticket, Duration::from_secs(5), |c| {
            !c["calls"][0]["ended_at"].is_null()
        })
    }
}

/// Starts `hotline serve` with `config`, its output to `log` (truncated).
fn spawn_serve(config: &Path, log: &Path) -> Child {
    let out = File::create(log).expect("create server log");
    Command::new(hotline_bin())
        .args(["serve", "--config"])
        .arg(config)
        .current_dir(workspace_dir())
        .env(
            "RUST_LOG",
            std::env::var("HOTLINE_E2E_LOG").unwrap_or_else(|_| "debug,sqlx=warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("spawn hotline")
}

fn cli(config: &Path, args: &[&str]) -> String {
    let out = Command::new(hotline_bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .current_dir(workspace_dir())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run hotline CLI");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "hotline {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn add_agent(config: &Path, a: &AgentSpec) {
    let (ring, wrap) = (a.max_ring_secs.to_string(), a.wrap_up_secs.to_string());
    cli(
        config,
        &[
            "agent",
            "add",
            &a.extension,
            "--name",
            &a.name,
            "--password",
            &a.password,
            "--skills",
            &a.skills,
            "--max-ring",
            &ring,
            "--wrap-up",
            &wrap,
        ],
    );
}

/// The `ticket` field of a case summary.
pub fn ticket_of(case: &Value) -> String {
    let t = case["ticket"]
        .as_str()
        .or_else(|| case["case"]["ticket"].as_str());
    let t = t.unwrap_or_else(|| panic!("no ticket in {case}"));
    t.to_string()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("HOTLINE_E2E_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("kept test directory {}", dir.keep().display());
            }
        }
        if std::thread::panicking() {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(300)..];
            eprintln!(
                "===== hotline log (last {} lines of {}) =====",
                tail.len(),
                self.log.display()
            );
            for l in tail {
                eprintln!("{l}");
            }
            eprintln!("===== end of hotline log =====");
            if let Some(dir) = self.dir.take() {
                eprintln!("kept test directory {}", dir.keep().display());
            }
        }
    }
}

/// Writes the IVR flow for `hours` into `dir` (a copy of the shipped flow with every
/// weekday set) and returns its path; `Shipped` returns the shipped file itself.
fn write_ivr(dir: &Path, hours: Hours) -> PathBuf {
    let shipped = workspace_dir().join("config/ivr.toml");
    let value = match hours {
        Hours::Shipped => return shipped,
        Hours::Staffed => "24h",
        Hours::Closed => "closed",
    };
    let text = std::fs::read_to_string(&shipped).expect("read config/ivr.toml");
    let mut replaced = 0;
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            let key = line.split('=').next().unwrap_or("").trim();
            if ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].contains(&key) {
                replaced += 1;
                format!("{key} = \"{value}\"")
            } else {
                line.to_string()
            }
        })
        .collect();
    assert_eq!(
        replaced, 7,
        "config/ivr.toml: expected mon..sun lines under [hours]"
    );
    let path = dir.join("ivr.toml");
    std::fs::write(&path, out.join("\n") + "\n").expect("write ivr.toml");
    path
}
