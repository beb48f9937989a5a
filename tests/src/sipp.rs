//! Runs one SIPp process (one call, `-m 1`) against a [`Server`] and reports how it ended.
//!
//! Scenarios live in `tests/sipp/`. SIPp runs in the test's directory, so a scenario's
//! `play_pcap_audio="caller.pcap"` (SIPp reads the file when it loads the scenario, so it
//! cannot take a `-key`) names the pcap the test wrote there. Values such as the RTP sink's
//! port are passed with `-key name value` and used as `[name]`. Every run is bounded by
//! SIPp's own `-timeout` and, as a backstop, by killing the process.

use crate::ports::free_port;
use crate::server::{workspace_dir, Server};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// SIP transport for the SIPp run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A SIPp invocation being built.
pub struct Sipp {
    scenario: String,
    keys: Vec<(String, String)>,
    sets: Vec<(String, String)>,
    transport: Transport,
    timeout: Duration,
    media_port: Option<u16>,
    no_retrans: bool,
}

/// How a SIPp run ended.
#[derive(Debug)]
pub struct SippRun {
    /// SIPp's exit code: 0 when every call succeeded.
    pub code: i32,
    pub took: Duration,
    /// Screen output, error log and message trace.
    pub stdout: String,
    pub errors: String,
    pub messages: String,
}

impl Sipp {
    /// A run of `tests/sipp/<scenario>`.
    pub fn new(scenario: &str) -> Sipp {
        Sipp {
            scenario: scenario.into(),
            keys: Vec::new(),
            sets: Vec::new(),
            transport: Transport::Udp,
            timeout: Duration::from_secs(60),
            media_port: None,
            no_retrans: false,
        }
    }

    /// Passes `-key name value`.
    pub fn key(mut self, name: &str, value: impl ToString) -> Sipp {
        self.keys.push((name.into(), value.to_string()));
        self
    }

    /// Passes `-set name value` (a scenario `<Global>` variable, e.g. a pause length).
    pub fn set(mut self, name: &str, value: impl ToString) -> Sipp {
        self.sets.push((name.into(), value.to_string()));
        self
    }

    pub fn transport(mut self, t: Transport) -> Sipp {
        self.transport = t;
        self
    }

    /// SIPp's global timeout (the call fails when it is reached).
    pub fn timeout(mut self, t: Duration) -> Sipp {
        self.timeout = t;
        self
    }

    /// SIPp's own media port (`-mp`); by default `base+80` of the server's port block.
    pub fn media_port(mut self, port: u16) -> Sipp {
        self.media_port = Some(port);
        self
    }

    /// Passes `-nr`: no UDP retransmissions by SIPp, and no automatic handling of the
    /// peer's retransmissions either (SIPp would otherwise answer a retransmitted response
    /// by re-sending its last request, which with a retransmitted INVITE ping-pongs).
    pub fn no_retrans(mut self) -> Sipp {
        self.no_retrans = true;
        self
    }

    /// Runs SIPp to completion against `server`.
    pub fn run(self, server: &Server) -> SippRun {
        let dir = server.dir().to_path_buf();
        let stem = self.scenario.trim_end_matches(".xml").to_string();
        let n = (0..)
            .find(|i| !dir.join(format!("sipp-{stem}-{i}.out")).exists())
            .unwrap();
        let base = dir.join(format!("sipp-{stem}-{n}"));
        let file = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
        let scenario = workspace_dir().join("tests/sipp").join(&self.scenario);
        assert!(scenario.is_file(), "no scenario {}", scenario.display());
        let mut cmd = Command::new("sipp");
        cmd.arg(server.sip.to_string())
            .arg("-sf")
            .arg(&scenario)
            .args([
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
                "-s",
                "12345",
                "-m",
                "1",
                "-nostdin",
            ])
            .args(["-p", &free_port().to_string()])
            .args([
                "-mp",
                &self
                    .media_port
                    .unwrap_or(server.ports.base + 80)
                    .to_string(),
            ])
            .args([
                "-t",
                if self.transport == Transport::Tcp {
                    "t1"
                } else {
                    "u1"
                },
            ])
            .args([
                "-timeout",
                &format!("{}s", self.timeout.as_secs()),
                "-timeout_error",
            ])
            .args(["-trace_err", "-error_file"])
            .arg(file("errors"))
            .args(["-trace_msg", "-message_file"])
            .arg(file("messages"));
        if self.no_retrans {
            cmd.arg("-nr");
        }
        for (k, v) in &self.keys {
            cmd.args(["-key", k, v]);
        }
        for (k, v) in &self.sets {
            cmd.args(["-set", k, v]);
        }
        let out = std::fs::File::create(file("out")).unwrap();
        let started = Instant::now();
        let mut child = cmd
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn sipp (is SIPp installed?)");
        let limit = self.timeout + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait sipp") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                break child.wait().expect("wait sipp");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        SippRun {
            code: status.code().unwrap_or(-1),
            took: started.elapsed(),
            stdout: read(file("out")),
            errors: read(file("errors")),
            messages: read(file("messages")),
        }
    }
}

impl SippRun {
    /// Panics with SIPp's logs unless the call succeeded (exit code 0).
    pub fn assert_success(&self, what: &str) {
        assert_eq!(
            self.code,
            0,
            "SIPp {what}: exit code {} after {:?}\n--- errors ---\n{}\n--- messages ---\n{}\n--- screen (tail) ---\n{}",
            self.code,
            self.took,
            self.errors,
            self.messages,
            tail(&self.stdout, 60)
        );
    }

    /// The SIP messages SIPp received, as in its message trace.
    pub fn received(&self) -> Vec<String> {
        self.messages
            .split("----------------------------------------------- ")
            .filter_map(|block| {
                let (head, msg) = block.split_once(":\n\n")?;
                head.contains("message received")
                    .then(|| msg.trim().to_string())
            })
            .collect()
    }
}

impl SippRun {
    /// The `X-Ticket` of the first 200 OK to the INVITE that SIPp received.
    pub fn x_ticket(&self) -> Option<String> {
        self.received().iter().find_map(|m| {
            if crate::sip::status(m) != Some(200) {
                return None;
            }
            crate::sip::header(m, "X-Ticket").map(str::to_string)
        })
    }

    /// How many responses with `code` to an INVITE SIPp received (retransmissions included).
    pub fn invite_responses(&self, code: u16) -> usize {
        self.received()
            .iter()
            .filter(|m| crate::sip::status(m) == Some(code))
            .filter(|m| crate::sip::header(m, "CSeq").is_some_and(|c| c.ends_with("INVITE")))
            .count()
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
