//! Seated agents' softphones played by SIPp, callers who choose a queue, and the
//! supervisor's live event stream.
//!
//! One SIPp run is one Call-ID, so an agent is several SIPp runs sharing one SIP port (the
//! hotline sends calls to the address the REGISTER came from): [`AgentPhone::dial_code`]
//! registers and dials a feature code (`agent_register.xml`), then [`AgentPhone::answer`]
//! starts a UAS in the background (`agent_answer.xml`, `agent_no_answer.xml`, …).

use crate::pcap::{self, Segment};
use crate::ports::free_port;
use crate::server::{AgentSpec, Server};
use crate::sip::header;
use crate::sipp::{Sipp, SippChild, SippRun};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// An agent's softphone: its extension, password, SIP port and SIPp media port.
#[derive(Debug, Clone)]
pub struct AgentPhone {
    pub extension: String,
    pub password: String,
    pub sip_port: u16,
    pub media_port: u16,
}

impl AgentPhone {
    /// A phone for `agent` whose SIPp media port is `media_port` (give each SIPp process
    /// running at the same time its own, 4 apart: e.g. `server.ports.base + 84`).
    pub fn new(agent: &AgentSpec, media_port: u16) -> AgentPhone {
        AgentPhone {
            extension: agent.extension.clone(),
            password: agent.password.clone(),
            sip_port: free_port(),
            media_port,
        }
    }

    /// A SIPp run of `scenario` from this phone's port, with the `ext` key and the credentials.
    pub fn sipp(&self, scenario: &str) -> Sipp {
        Sipp::new(scenario)
            .local_port(self.sip_port)
            .media_port(self.media_port)
            .key("ext", &self.extension)
            .auth(&self.extension, &self.password)
    }

    /// Registers (digest) and dials feature `code` (`*1` ready, `*2` not ready, `*3` log
    /// out); panics unless the whole exchange succeeded.
    pub fn dial_code(&self, server: &Server, code: &str) -> SippRun {
        self.register_and_dial(server, 300, code)
    }

    /// [`AgentPhone::dial_code`] with the REGISTER asking for `expires` seconds (0: the
    /// phone unregisters, then dials the code).
    pub fn register_and_dial(&self, server: &Server, expires: u32, code: &str) -> SippRun {
        let run = self
            .sipp("agent_register.xml")
            .key("code", code)
            .key("expires", expires)
            .timeout(Duration::from_secs(20))
            .run(server);
        run.assert_success(&format!("agent {} REGISTER + {code}", self.extension));
        run
    }

    /// Registers, dials `*1` and waits until `/api/agents` shows the agent ready.
    pub fn ready(&self, server: &Server) {
        self.dial_code(server, "*1");
        let a = server.wait_agent(&self.extension, Duration::from_secs(5), |a| {
            a["state"] == "ready"
        });
        assert_eq!(a["state"], "ready", "agent after *1: {a:#}");
    }

    /// One REGISTER exchange (`agent_register_once.xml`) from this phone's port: the AOR
    /// `aor_user`, credentials `user`/`password`, `expires`. Returns the run and the last
    /// final response to a REGISTER (200, 401, 403…).
    pub fn register_once(
        &self,
        server: &Server,
        aor_user: &str,
        user: &str,
        password: &str,
        expires: u32,
    ) -> (SippRun, Option<u16>) {
        let run = Sipp::new("agent_register_once.xml")
            .local_port(self.sip_port)
            .media_port(self.media_port)
            .key("ext", aor_user)
            .key("expires", expires)
            .auth(user, password)
            .timeout(Duration::from_secs(30))
            .run(server);
        run.assert_success("registration attempt");
        let code = run
            .received()
            .iter()
            .filter(|m| header(m, "CSeq").is_some_and(|c| c.ends_with("REGISTER")))
            .filter_map(|m| crate::sip::status(m))
            .rfind(|&c| c >= 200);
        (run, code)
    }

    /// Starts `scenario` (a UAS) in the background for `calls` calls, for at most `limit`.
    pub fn answer(
        &self,
        server: &Server,
        scenario: &str,
        calls: u32,
        limit: Duration,
    ) -> SippChild {
        self.sipp(scenario)
            .calls(calls)
            .timeout(limit)
            .spawn(server)
    }
}

/// The INVITEs a UAS run received (each message as text).
pub fn invites(run: &SippRun) -> Vec<String> {
    run.received()
        .into_iter()
        .filter(|m| crate::sip::method(m) == Some("INVITE"))
        .collect()
}

/// A caller (`uac_agent_call.xml`) who presses `key` by INFO `key_at_ms` after the answer,
/// replays `caller.pcap` from then on and hangs up `hold_ms` later. Its RTP goes to the
/// sink at `sink_port`; its SIPp media port is `media_port`.
pub fn caller(key: char, key_at_ms: u32, hold_ms: u32, sink_port: u16, media_port: u16) -> Sipp {
    Sipp::new("uac_agent_call.xml")
        .key("sink_port", sink_port)
        .key("key", key)
        .key("caller", "13800138000")
        .set("key_at_ms", key_at_ms)
        .set("hold_ms", hold_ms)
        .media_port(media_port)
        .timeout(Duration::from_secs(
            u64::from(key_at_ms + hold_ms) / 1000 + 20,
        ))
}

/// Writes `caller.pcap` as silence (for callers whose voice the test does not check).
pub fn silent_caller_pcap(server: &Server) {
    pcap::write(
        &server.dir().join("caller.pcap"),
        &[Segment::Silence { ms: 200 }],
    );
}

/// The value of `key` in a call row, as a string ("" when missing).
pub fn s<'a>(call: &'a Value, key: &str) -> &'a str {
    call[key].as_str().unwrap_or_default()
}

/// A subscription to `GET /api/events` (server-sent events) read with a timeout.
pub struct EventStream {
    reader: BufReader<TcpStream>,
}

impl EventStream {
    /// Connects as the supervisor and reads the response head (panics unless 200).
    pub fn open(server: &Server) -> EventStream {
        let addr = server.http;
        let token = server.supervisor_token();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write!(
            s,
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\
             Authorization: Bearer {token}\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(s);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => panic!("/api/events closed during its head: {head:?}"),
                Ok(_) => {
                    if line.trim().is_empty() {
                        break;
                    }
                    head.push(line.trim().to_string());
                }
                Err(_) => assert!(Instant::now() < deadline, "/api/events: no head"),
            }
        }
        assert!(
            head.first().is_some_and(|l| l.contains(" 200")),
            "/api/events: {head:?}"
        );
        EventStream { reader }
    }

    /// Reads `change` events until one satisfies `want` (returned) or `limit` passes
    /// (None); `seen` collects every event's data read meanwhile.
    pub fn wait_for(
        &mut self,
        limit: Duration,
        seen: &mut Vec<Value>,
        want: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + limit;
        let mut partial = String::new();
        while Instant::now() < deadline {
            match self.reader.read_line(&mut partial) {
                Ok(0) => return None,
                Ok(_) if partial.ends_with('\n') => {
                    let line = std::mem::take(&mut partial);
                    // Chunked transfer: size lines and blank lines carry no "data:".
                    if let Some(data) = line.trim().strip_prefix("data:") {
                        if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                            seen.push(v.clone());
                            if want(&v) {
                                return Some(v);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// Makes every phone ready at once (register + `*1` each, in parallel).
pub fn ready_all(server: &Server, phones: &[&AgentPhone]) {
    std::thread::scope(|s| {
        let handles: Vec<_> = phones.iter().map(|p| s.spawn(|| p.ready(server))).collect();
        for h in handles {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
}
