//! What `deploy/` ships, run as shipped: Kamailio with `deploy/kamailio-dispatcher.cfg` in
//! front of two `hotline` nodes (calls spread over both, each answered with a ticket, and
//! answered by the other node when one is down), and the systemd unit with the production
//! config it names.
//!
//! Kamailio runs as the current user in the foreground (`-DD -E`), with its runtime
//! directory, pid file, control socket and dispatcher list in the test's temp directory;
//! the listen address and the list are given with `-A` defines, so the file under test is
//! `deploy/kamailio-dispatcher.cfg` itself. Without Kamailio installed these tests print
//! `KAMAILIO TESTS SKIPPED` and pass, unless `HOTLINE_REQUIRE_KAMAILIO` is set
//! (`scripts/test` installs it).

use hotline_e2e::ports::free_port;
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::server::workspace_dir;
use hotline_e2e::sipp::SippRun;
use hotline_e2e::{sip, Server, ServerOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Kamailio binary, or None (after saying so) when the tests should be skipped.
fn kamailio_bin() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join("kamailio"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("HOTLINE_REQUIRE_KAMAILIO").is_none(),
            "kamailio is not installed but HOTLINE_REQUIRE_KAMAILIO is set \
             (apt-get install kamailio, or run scripts/test)"
        );
        eprintln!(
            "KAMAILIO TESTS SKIPPED: kamailio is not installed (apt-get install kamailio; \
             set HOTLINE_REQUIRE_KAMAILIO=1 to make this a failure)"
        );
    }
    found
}

fn shipped_cfg() -> PathBuf {
    workspace_dir().join("deploy/kamailio-dispatcher.cfg")
}

/// `kamailio -c` (parse, load every module, check every function and route) passes on the
/// shipped file. Before issue 10 it failed on Debian 12's 5.6: `has_totag` and `is_method`
/// unknown (siputils, textops not loaded).
#[test]
fn deploy_kamailio_config_checks() {
    let Some(bin) = kamailio_bin() else { return };
    let out = Command::new(&bin)
        .arg("-c")
        .arg("-f")
        .arg(shipped_cfg())
        .output()
        .expect("run kamailio -c");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("config file ok"),
        "kamailio -c -f deploy/kamailio-dispatcher.cfg failed ({}):\n{text}",
        out.status
    );
}

/// Kamailio running the shipped config, in front of `nodes` (dispatcher sets 1 and 2).
struct Kamailio {
    child: Child,
    sip: SocketAddr,
    log: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl Kamailio {
    /// Starts Kamailio on a free loopback port with the nodes in its dispatcher list and
    /// waits until it accepts TCP connections (its UDP receivers are up by then).
    fn start(bin: &Path, nodes: &[SocketAddr]) -> Kamailio {
        let dir = tempfile::Builder::new()
            .prefix("hotline-kamailio-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path();
        let list = root.join("dispatcher.list");
        let mut text = String::new();
        for set in [1, 2] {
            for n in nodes {
                text += &format!("{set} sip:{n}\n");
            }
        }
        std::fs::write(&list, text).expect("write dispatcher.list");
        let run = root.join("run");
        std::fs::create_dir_all(&run).expect("runtime dir");
        let port = free_port();
        let sip: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = root.join("kamailio.log");
        let out = std::fs::File::create(&log).expect("kamailio log");
        let child = Command::new(bin)
            .arg("-f")
            .arg(shipped_cfg())
            // Foreground, logging to stderr, as this user, everything of its own in `root`.
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-Y")
            .arg(&run)
            .arg("-P")
            .arg(root.join("kamailio.pid"))
            .arg("-w")
            .arg(root)
            .args(["-A", &format!("LISTEN_UDP=udp:{sip}")])
            .args(["-A", &format!("LISTEN_TCP=tcp:{sip}")])
            .args(["-A", &format!("DISPATCHER_LIST=\"{}\"", list.display())])
            .args([
                "-A",
                &format!("CTL_SOCKET=\"unix:{}\"", run.join("ctl").display()),
            ])
            .args(["-A", "CHILDREN=2"])
            // Ping every second, and take a silent node as down after 2 s, to keep the
            // test short (the shipped defaults are 10 s and 3 s).
            .args(["-A", "PING_INTERVAL=1"])
            .args(["-A", "NODE_TIMEOUT_MS=2000"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            // Its own process group: the workers it forks are stopped with it.
            .process_group(0)
            .spawn()
            .expect("spawn kamailio");
        let mut k = Kamailio {
            child,
            sip,
            log,
            dir: Some(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = k.child.try_wait() {
                panic!("kamailio exited at start ({status}):\n{}", k.log_text());
            }
            if TcpStream::connect_timeout(&sip, Duration::from_millis(200)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "kamailio not listening on {sip} after 15 s:\n{}",
                k.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        k
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Places `calls` calls (2 a second, each held `hold_ms` then hung up by the caller)
    /// through Kamailio with SIPp, and returns the run.
    fn place_calls(&self, calls: u32, hold_ms: u32, media_port: u16) -> SippRun {
        let scenario = self.dir().join("uac_via_proxy.xml");
        std::fs::write(&scenario, UAC_VIA_PROXY).expect("write scenario");
        let sink = RtpSink::bind(media_port);
        let n = std::fs::read_dir(self.dir())
            .map(|d| d.count())
            .unwrap_or(0);
        let base = self.dir().join(format!("sipp-{n}"));
        let file = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
        let started = Instant::now();
        let limit = Duration::from_secs(60);
        let mut child = Command::new("sipp")
            .arg(self.sip.to_string())
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-s", "12345"])
            .args(["-m", &calls.to_string(), "-r", "2", "-rp", "1000"])
            .args(["-l", &calls.to_string(), "-nostdin", "-t", "u1"])
            .args(["-p", &free_port().to_string()])
            .args(["-mp", &(media_port + 20).to_string()])
            .args(["-key", "sink_port", &sink.port.to_string()])
            .args(["-set", "hold_ms", &hold_ms.to_string()])
            .args([
                "-timeout",
                &format!("{}s", limit.as_secs()),
                "-timeout_error",
            ])
            .args(["-trace_err", "-error_file"])
            .arg(file("errors"))
            .args(["-trace_msg", "-message_file"])
            .arg(file("messages"))
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(file("out")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sipp (is SIPp installed?)");
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait sipp") {
                break s;
            }
            if started.elapsed() > limit + Duration::from_secs(10) {
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

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM to the whole group (main process and workers), SIGKILL if still there.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("===== kamailio log ({}) =====", self.log.display());
            eprintln!("{}", self.log_text());
            eprintln!("===== end of kamailio log =====");
            if let Some(dir) = self.dir.take() {
                eprintln!("kept kamailio directory {}", dir.keep().display());
            }
        }
    }
}

/// A citizen's call through a proxy: as `tests/sipp/uac_plain.xml`, but the ACK and BYE
/// follow the dialog (Request-URI the node's Contact, Route from the Record-Route), as
/// any phone behind Kamailio does.
const UAC_VIA_PROXY: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="uac_via_proxy">
  <Global variables="hold_ms"/>
  <nop>
    <action>
      <assignstr assign_to="hold_s" value="[$hold_ms]"/>
      <todouble assign_to="hold" variable="hold_s"/>
    </action>
  </nop>
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "13800138000" <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:13800138000@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [sink_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true">
    <action>
      <ereg regexp="^ *[0-9]+$" search_in="hdr" header="X-Ticket:" check_it="true" assign_to="ticket"/>
    </action>
  </recv>
  <Reference variables="ticket"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:13800138000@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause variable="hold"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:13800138000@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"#;

/// For every call of the run: its Call-ID → (ticket, the SIP port of the node whose
/// Contact answered), from the 200 OKs to INVITE in SIPp's trace.
fn answered_calls(run: &SippRun) -> BTreeMap<String, (String, u16)> {
    let mut calls = BTreeMap::new();
    for m in run.received() {
        if sip::status(&m) != Some(200)
            || !sip::header(&m, "CSeq").is_some_and(|c| c.ends_with("INVITE"))
        {
            continue;
        }
        let call_id = sip::header(&m, "Call-ID").expect("Call-ID").to_string();
        let ticket = sip::header(&m, "X-Ticket")
            .unwrap_or_else(|| panic!("200 OK without X-Ticket:\n{m}"))
            .to_string();
        let contact = sip::header(&m, "Contact").expect("Contact in the 200 OK");
        let port = contact
            .trim_start_matches(|c| c != '@')
            .trim_start_matches('@')
            .split([';', '>'])
            .next()
            .and_then(|hp| hp.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in Contact {contact}"));
        calls.insert(call_id, (ticket, port));
    }
    calls
}

/// Two nodes behind the shipped Kamailio config, on one database (SQLite here, standing in
/// for the shared PostgreSQL of `deploy/postgres.md`): calls are spread over both, each is
/// answered with a 200 carrying a ticket, the tickets are distinct, and the caller's BYE
/// reaches the node that has the call (Record-Route). With one node stopped, every call is
/// answered by the other.
#[test]
fn deploy_kamailio_spreads_calls_over_two_nodes_and_fails_over() {
    let Some(bin) = kamailio_bin() else { return };
    let a = Server::start(ServerOptions::default());
    let mut b = Server::start(ServerOptions {
        // Dial the callback worklist from one node only (deploy/postgres.md).
        extra_config: "[callbacks]\nenabled = false\n".into(),
        ..Default::default()
    });
    let shared = a.dir().join("data/hotline.db");
    b.restart(|text| {
        text.replacen(
            "[data]\n",
            &format!("[data]\ndatabase = \"sqlite://{}\"\n", shared.display()),
            1,
        )
    });
    let kamailio = Kamailio::start(&bin, &[a.sip, b.sip]);
    // Let a round of OPTIONS pings pass: a node that did not answer them would be out of
    // the rotation, and the calls below would all go to the other.
    std::thread::sleep(Duration::from_millis(2500));

    let run = kamailio.place_calls(6, 1500, a.ports.base + 60);
    run.assert_success("6 calls through kamailio");
    let calls = answered_calls(&run);
    assert_eq!(calls.len(), 6, "every call answered with a 200: {calls:?}");
    let per_node = |port: u16| calls.values().filter(|(_, p)| *p == port).count();
    let (on_a, on_b) = (per_node(a.sip.port()), per_node(b.sip.port()));
    eprintln!("6 calls: node A answered {on_a}, node B {on_b}");
    assert_eq!(on_a + on_b, 6, "answered by a node we know: {calls:?}");
    assert!(
        on_a >= 2 && on_b >= 2,
        "round robin over both nodes: A {on_a}, B {on_b}\n{}",
        kamailio.log_text()
    );
    let tickets: BTreeSet<&String> = calls.values().map(|(t, _)| t).collect();
    assert_eq!(
        tickets.len(),
        6,
        "one ticket per call, none twice: {calls:?}"
    );
    // Every case is in the one database (read through node A's CLI), its call ended by
    // the caller's BYE, which reached the node that had the call through Kamailio.
    for (ticket, _) in calls.values() {
        let case = a.wait_call_ended(ticket);
        assert_eq!(
            case["calls"][0]["hangup_cause"], "caller_bye",
            "the caller's BYE reached the node through kamailio: {case:#}"
        );
    }

    // Node B goes away (killed: no goodbye). New calls still get answered, by node A.
    let b_sip = b.sip;
    drop(b);
    let run = kamailio.place_calls(4, 1000, a.ports.base + 60);
    run.assert_success("4 calls with node B down");
    let calls = answered_calls(&run);
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(
        calls.values().all(|(_, p)| *p == a.sip.port()),
        "node A answered them all (B was {b_sip}): {calls:?}"
    );
    for (ticket, _) in calls.values() {
        let case = a.wait_call_ended(ticket);
        assert_eq!(case["calls"][0]["hangup_cause"], "caller_bye", "{case:#}");
    }
    let log = kamailio.log_text();
    assert!(
        log.contains(&format!("node sip:{b_sip} is down")),
        "kamailio took node B out of the rotation:\n{log}"
    );
    assert!(
        !log.contains(&format!("node sip:{} is down", a.sip)),
        "node A answers the OPTIONS pings and stays in the rotation:\n{log}"
    );
    let how = if log.contains("tried again on node") {
        "a call sent to B timed out and was tried again on A (failure_route)"
    } else {
        "B was out of the rotation (OPTIONS ping) before any call reached it"
    };
    eprintln!("failover: {how}");
    let mut kamailio = kamailio;
    assert!(kamailio.is_running(), "kamailio still up:\n{log}");
}
