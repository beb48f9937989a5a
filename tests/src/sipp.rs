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
    local_port: Option<u16>,
    calls: u32,
    no_retrans: bool,
    args: Vec<String>,
}

/// A SIPp process started by [`Sipp::spawn`], running in the background.
pub struct SippChild {
    child: std::process::Child,
    base: PathBuf,
    started: Instant,
    limit: Duration,
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
    /// A run of `tests/sipp/<scenario>`. The key `caller` (the citizen's number, for the
    /// scenarios that use `[caller]`) is `13800138000` unless set.
    pub fn new(scenario: &str) -> Sipp {
        Sipp {
            scenario: scenario.into(),
            keys: vec![("caller".into(), "13800138000".into())],
            sets: Vec::new(),
            transport: Transport::Udp,
            timeout: Duration::from_secs(60),
            media_port: None,
            local_port: None,
            calls: 1,
            no_retrans: false,
            args: Vec::new(),
        }
    }

    /// Passes `-key name value` (replacing an earlier value of `name`).
    pub fn key(mut self, name: &str, value: impl ToString) -> Sipp {
        self.keys.retain(|(k, _)| k != name);
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

    /// SIPp's own SIP port (`-p`); by default a free one. An agent's softphone keeps one
    /// port for its REGISTER and the calls it then receives.
    pub fn local_port(mut self, port: u16) -> Sipp {
        self.local_port = Some(port);
        self
    }

    /// Digest credentials for the scenario's `[authentication]` (`-au`, `-ap`).
    pub fn auth(mut self, user: &str, password: &str) -> Sipp {
        self.args
            .extend(["-au".into(), user.into(), "-ap".into(), password.into()]);
        self
    }

    /// How many calls SIPp makes or takes before it exits (`-m`, default 1).
    pub fn calls(mut self, n: u32) -> Sipp {
        self.calls = n;
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
        self.spawn(server).wait()
    }

    /// Starts SIPp against `server` in the background (a UAS waiting for calls, or a
    /// caller running while the test does something else).
    pub fn spawn(self, server: &Server) -> SippChild {
        let dir = server.dir().to_path_buf();
        let stem = self.scenario.trim_end_matches(".xml").to_string();
        // Claim the run's name by creating its screen log (runs may start from several
        // threads at once).
        let (base, out) = (0..)
            .find_map(|i| {
                let base = dir.join(format!("sipp-{stem}-{i}"));
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(format!("{}.out", base.display()))
                    .ok()
                    .map(|f| (base, f))
            })
            .unwrap();
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
                &self.calls.to_string(),
                "-nostdin",
            ])
            .args(["-p", &self.local_port.unwrap_or_else(free_port).to_string()])
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
        cmd.args(&self.args);
        for (k, v) in &self.sets {
            cmd.args(["-set", k, v]);
        }
        let started = Instant::now();
        let child = cmd
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn sipp (is SIPp installed?)");
        SippChild {
            child,
            base,
            started,
            limit: self.timeout + Duration::from_secs(10),
        }
    }
}

impl SippChild {
    /// Waits for SIPp to exit (killing it past its timeout + 10 s) and reports the run.
    pub fn wait(mut self) -> SippRun {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait sipp") {
                break status;
            }
            if self.started.elapsed() > self.limit {
                let _ = self.child.kill();
                break self.child.wait().expect("wait sipp");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.report(status.code().unwrap_or(-1))
    }

    /// Asks SIPp to quit (SIGUSR1, as the `q` key: its traces are flushed), kills it if it
    /// is still there 3 s later, and reports the run.
    pub fn stop(mut self) -> SippRun {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-USR1", &self.child.id().to_string()])
                .status();
            let end = Instant::now() + Duration::from_secs(3);
            while Instant::now() < end && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
        }
        let status = self.child.wait().expect("wait sipp");
        self.report(status.code().unwrap_or(-1))
    }

    /// The run so far (SIPp's message trace is written as it goes).
    pub fn received_so_far(&self) -> Vec<String> {
        self.report(0).received()
    }

    /// [`SippRun::received_at`] of what the running SIPp has traced so far.
    pub fn received_so_far_at(&self) -> Vec<(chrono::NaiveDateTime, String)> {
        self.report(0).received_at()
    }

    fn report(&self, code: i32) -> SippRun {
        let file = |ext: &str| PathBuf::from(format!("{}.{ext}", self.base.display()));
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        SippRun {
            code,
            took: self.started.elapsed(),
            stdout: read(file("out")),
            errors: read(file("errors")),
            messages: read(file("messages")),
        }
    }
}

impl Drop for SippChild {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
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
        self.received_at().into_iter().map(|(_, m)| m).collect()
    }

    /// The SIP messages SIPp received with when it received them (the trace's local time).
    pub fn received_at(&self) -> Vec<(chrono::NaiveDateTime, String)> {
        self.messages
            .split("----------------------------------------------- ")
            .filter_map(|block| {
                let (head, msg) = block.split_once(":\n\n")?;
                if !head.contains("message received") {
                    return None;
                }
                let stamp = head.get(..26).unwrap_or_default();
                let at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S%.f")
                    .unwrap_or_default();
                Some((at, msg.trim().to_string()))
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
