//! Two ways to stop every call, and that they no longer do: a flood of TCP connections
//! (idle or trickling a message in), and a data disk that fills up and is freed again.
//!
//! Everything stays on the loopback: the floods come from other addresses of 127.0.0.0/8
//! (127.0.0.2, ...), so they are not the trunk (127.0.0.1) and are held to the per-source
//! caps, while the test's calls and API requests come from 127.0.0.1.

use hotline_e2e::flows::plain_call;
use hotline_e2e::sip::{header, status, RawSip};
use hotline_e2e::{Server, ServerOptions, Transport};
use serde_json::Value;
use socket2::{Domain, Socket, Type};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Connections each flood opens.
const FLOOD: usize = 3000;

/// A TCP connection from `src` (an address of 127.0.0.0/8) to `to`.
fn connect_from(src: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    sock.bind(&SocketAddr::from((src, 0)).into())?;
    sock.connect_timeout(&to.into(), Duration::from_secs(2))?;
    Ok(sock.into())
}

/// Opens up to `n` idle connections from `src` to `to`. A server that no longer accepts
/// (its backlog full) ends the flood early: what was opened is returned either way.
fn flood(src: Ipv4Addr, to: SocketAddr, n: usize) -> Vec<TcpStream> {
    let started = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        match connect_from(src, to) {
            Ok(c) => conns.push(c),
            Err(e) => {
                eprintln!(
                    "connection {i} from {src} to {to} failed ({e}): the server no longer accepts"
                );
                break;
            }
        }
    }
    eprintln!(
        "{} connections from {src} to {to} opened in {:?}",
        conns.len(),
        started.elapsed()
    );
    conns
}

/// Whether the server has closed `s` (EOF or reset), without waiting.
fn closed(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 256];
    let gone = loop {
        match (&mut &*s).read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    s.set_nonblocking(false).unwrap();
    gone
}

/// Waits (at most `limit`) until at most `left` of `conns` are still open; returns how
/// many are.
fn wait_open_at_most(conns: &[TcpStream], left: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let open = conns.iter().filter(|s| !closed(s)).count();
        if open <= left || Instant::now() >= deadline {
            return open;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sets this process's soft descriptor limit to `soft` (within the hard one); the old one.
fn set_soft_nofile(soft: u64) -> u64 {
    let (old, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    rlimit::setrlimit(rlimit::Resource::NOFILE, soft.min(hard), hard).unwrap();
    old
}

/// A server started with the soft descriptor limit of a default shell (1024), as an
/// operator's `hotline serve` would get it: it must raise its own limit and keep its
/// descriptors for calls. The test itself then gets as many as the hard limit allows.
fn start_with_default_ulimit(opts: ServerOptions) -> Server {
    let old = set_soft_nofile(1024);
    let server = Server::start(opts);
    set_soft_nofile(u64::MAX);
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    assert!(
        soft >= 2 * FLOOD as u64 + 256,
        "the test needs {} descriptors, the hard limit allows {soft} (was {old})",
        2 * FLOOD + 256
    );
    server
}

/// `sip.tcp` of `/api/status` (as a supervisor: the status needs a login).
fn tcp_status(server: &Server, token: &str) -> Value {
    let (code, body) = server.api_authorized("/api/status", token);
    assert_eq!(code, 200, "/api/status: {body}");
    body["sip"]["tcp"].clone()
}

#[test]
fn idle_connection_floods_leave_calls_and_the_api_working() {
    let mut server = start_with_default_ulimit(ServerOptions::default());
    let token = server.supervisor_token();

    // 3,000 idle connections from one source that is not the trunk, to the SIP port and
    // to the API's.
    let sip_flood = flood(Ipv4Addr::new(127, 0, 0, 2), server.sip, FLOOD);
    let http_flood = flood(Ipv4Addr::new(127, 0, 0, 3), server.http, FLOOD);

    // While they are connected, the API answers and a normal call is answered.
    assert!(
        server.is_healthy(),
        "the API does not answer during the floods"
    );
    let ticket = plain_call(&server, Transport::Udp, 1000);
    server.wait_call_ended(&ticket);
    assert!(server.is_healthy());
    let log = server.log_text();
    assert!(
        !log.contains("no free RTP port") && !log.contains("no RTP socket"),
        "a call could not get an RTP socket during the flood"
    );

    // Because each source was held to its share: every connection was accepted, only 64
    // of each flood kept, the rest closed at once, counted, and logged once.
    assert_eq!(sip_flood.len(), FLOOD, "SIP connections not accepted");
    assert_eq!(http_flood.len(), FLOOD, "HTTP connections not accepted");
    let open = wait_open_at_most(&sip_flood, 64, Duration::from_secs(10));
    assert!(
        open <= 64,
        "{open} of {FLOOD} SIP connections from one source kept open"
    );
    let open = wait_open_at_most(&http_flood, 64, Duration::from_secs(10));
    assert!(
        open <= 64,
        "{open} of {FLOOD} HTTP connections from one source kept open"
    );
    let tcp = tcp_status(&server, &token);
    assert!(
        tcp["refused_per_source"].as_u64() >= Some((FLOOD - 64) as u64),
        "refusals not counted: {tcp}"
    );
    assert!(tcp["open"].as_u64() <= Some(64), "{tcp}");
    let lines = log
        .lines()
        .filter(|l| l.contains("connection refused"))
        .count();
    assert!(
        (2..=4).contains(&lines),
        "{lines} refusal log lines for two sources"
    );
}

/// `[sip.tcp]` and `[http.connections]` with short timeouts, so a test sees them act.
const SHORT_TIMEOUTS: &str = "[sip.tcp]\nfirst_message_secs = 2\nmessage_secs = 1\n\n\
    [http.connections]\nheader_secs = 1\n";

/// Sends `msg` a byte every `every` until the server closes the connection or the message
/// is out; returns how long the server took to close it, if it did within `limit`.
fn trickle(s: &mut TcpStream, msg: &[u8], every: Duration, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    for b in msg {
        if closed(s) || s.write_all(&[*b]).is_err() {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(every);
    }
    // The whole message went out: the server must not have answered or kept it.
    let deadline = started + limit;
    while Instant::now() < deadline {
        if closed(s) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn silent_and_trickling_connections_are_closed() {
    let server = Server::start(ServerOptions {
        extra_config: SHORT_TIMEOUTS.into(),
        ..Default::default()
    });
    let token = server.supervisor_token();
    let every = Duration::from_millis(100);
    let limit = Duration::from_secs(8);

    // A SIP connection that never says anything: closed after first_message_secs (2 s).
    let silent = connect_from(Ipv4Addr::new(127, 0, 0, 4), server.sip).unwrap();
    // An INVITE trickled in a byte every 100 ms (40 s in all): cut off after
    // message_secs (1 s) although no byte is more than 100 ms late.
    let peer = RawSip::new(server.sip);
    let invite = peer
        .invite(
            "12345",
            "slowloris-1",
            "slow1",
            server.ports.base + 70,
            "0 101",
        )
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let mut slow = connect_from(Ipv4Addr::new(127, 0, 0, 5), server.sip).unwrap();
    let took = trickle(&mut slow, invite.as_bytes(), every, limit)
        .expect("a SIP message trickled in byte by byte was not cut off");
    eprintln!("slow SIP message cut off after {took:?}");
    assert!(took < Duration::from_secs(4), "cut off only after {took:?}");
    let waited = Instant::now();
    while !closed(&silent) {
        assert!(
            waited.elapsed() < limit,
            "a silent SIP connection stays open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // An HTTP request head trickled in: cut off after header_secs (1 s).
    let mut slow = connect_from(Ipv4Addr::new(127, 0, 0, 6), server.http).unwrap();
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nUser-Agent: slowloris/1.0 (a very slow client)\r\nAccept: */*\r\n\r\n",
        server.http
    );
    let took = trickle(&mut slow, request.as_bytes(), every, limit)
        .expect("an HTTP request head trickled in byte by byte was not cut off");
    eprintln!("slow HTTP request cut off after {took:?}");
    assert!(took < Duration::from_secs(4), "cut off only after {took:?}");
    // An HTTP connection that never sends a request.
    let silent = connect_from(Ipv4Addr::new(127, 0, 0, 6), server.http).unwrap();
    let waited = Instant::now();
    while !closed(&silent) {
        assert!(
            waited.elapsed() < limit,
            "a silent HTTP connection stays open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    assert!(
        server.case_list().is_empty(),
        "the trickled INVITE made a case"
    );
    let tcp = tcp_status(&server, &token);
    assert!(tcp["timed_out"].as_u64() >= Some(2), "{tcp}");
}

/// A tmpfs of `size` mounted on `dir`, unmounted (lazily) when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the filesystem is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

/// Sends an INVITE for 12345, ACKs the final response and returns its code.
fn invite_code(server: &Server, call_id: &str) -> u16 {
    let peer = RawSip::new(server.sip);
    let invite = peer.invite("12345", call_id, call_id, server.ports.base + 70, "0 101");
    peer.send(invite.as_bytes());
    let reply = peer
        .final_response(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{call_id}: no final response"));
    let code = status(&reply).unwrap();
    let line = |name: &str| format!("{name}: {}\r\n", header(&invite, name).unwrap());
    let to = header(&reply, "To").unwrap();
    let ack = format!(
        "ACK sip:12345@{s} SIP/2.0\r\n{via}{from}To: {to}\r\n{cid}CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        s = server.sip,
        via = line("Via"),
        from = line("From"),
        cid = line("Call-ID"),
    );
    peer.send(ack.as_bytes());
    code
}

#[test]
fn calls_are_answered_again_once_a_full_disk_has_room() {
    // Declared before the server, so dropped after it: the server stops, then the disk is
    // unmounted, then its directory goes.
    let root = tempfile::Builder::new()
        .prefix("hotline-e2e-disk-")
        .tempdir()
        .unwrap();
    let disk_dir = root.path().join("disk");
    let Some(_disk) = SmallDisk::mount(&disk_dir, "32m") else {
        eprintln!(
            "!!!!! SKIPPED calls_are_answered_again_once_a_full_disk_has_room: cannot mount a \
             tmpfs (not root?) — disk-full recovery was NOT tested !!!!!"
        );
        return;
    };
    let mut server = Server::start(ServerOptions::default());
    // The same server, its data directory now on the small disk.
    let data = disk_dir.join("data");
    server.restart(|config| {
        config
            .lines()
            .map(|l| {
                if l.starts_with("dir = ") {
                    format!("dir = \"{}\"", data.display())
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let first = plain_call(&server, Transport::Udp, 500);
    server.wait_call_ended(&first);

    // The disk fills: calls are refused (503), not answered into a lost case.
    let filler = disk_dir.join("filler");
    fill(&filler);
    for i in 0..3 {
        let code = invite_code(&server, &format!("diskfull-{i}"));
        assert!(
            code == 503 || code == 500,
            "INVITE on a full disk answered {code}"
        );
    }
    assert!(server.is_healthy(), "unhealthy on a full disk");

    // Room again: calls are answered, without a restart.
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..3 {
        let ticket = plain_call(&server, Transport::Udp, 500);
        server.wait_call_ended(&ticket);
    }
    assert!(server.is_healthy());
}
