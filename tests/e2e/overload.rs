//! Overload and what operators watch (issue 13): while the case store cannot keep up, a new
//! call is refused at once with 503 and Retry-After (the trunk or Kamailio tries another
//! node) instead of being answered seconds late; `/api/status` and `/metrics` say so; and
//! `/metrics` counts what the calls did. An INVITE that waited unread in the server's socket
//! (a flood, a stall) is refused too, by the kernel's stamp of when it arrived.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hotline_e2e::flows::plain_call;
use hotline_e2e::http;
use hotline_e2e::procfs;
use hotline_e2e::rtp::RtpSink;
use hotline_e2e::sip::{header, status, RawSip};
use hotline_e2e::sipp::{Sipp, Transport};
use hotline_e2e::{Server, ServerOptions};
use sqlx::Connection;

/// `/metrics` as name-with-labels → value.
fn scrape(server: &Server) -> HashMap<String, f64> {
    let (code, body) = http::get(server.http, "/metrics").expect("GET /metrics");
    assert_eq!(code, 200, "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, v) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            let v = v.parse().unwrap_or_else(|_| panic!("bad value in {l:?}"));
            (name.to_string(), v)
        })
        .collect()
}

fn metric(m: &HashMap<String, f64>, name: &str) -> f64 {
    *m.get(name)
        .unwrap_or_else(|| panic!("no {name} in /metrics: {:?}", m.keys()))
}

#[test]
fn metrics_count_calls_setup_time_writes_and_rtp() {
    let mut server = Server::start(ServerOptions::default());
    let before = scrape(&server);
    assert_eq!(metric(&before, "hotline_calls_active"), 0.0);
    assert_eq!(metric(&before, "hotline_call_setup_seconds_count"), 0.0);

    let ticket = plain_call(&server, Transport::Udp, 1000);
    server.wait_call_ended(&ticket);
    let after = scrape(&server);
    assert_eq!(
        metric(&after, "hotline_calls_total{result=\"answered\"}"),
        1.0
    );
    assert_eq!(metric(&after, "hotline_calls_total{result=\"ended\"}"), 1.0);
    assert_eq!(metric(&after, "hotline_calls_active"), 0.0);
    // The answer was timed, and it fell in some bucket below +Inf like every observation.
    assert_eq!(metric(&after, "hotline_call_setup_seconds_count"), 1.0);
    assert_eq!(
        metric(&after, "hotline_call_setup_seconds_bucket{le=\"+Inf\"}"),
        1.0
    );
    // The call's rows went through the writer: opened and ended at least, none failed.
    assert!(metric(&after, "hotline_store_writes_total") >= 2.0);
    assert!(metric(&after, "hotline_store_batch_writes_count") >= 1.0);
    assert_eq!(metric(&after, "hotline_store_write_failures_total"), 0.0);
    assert_eq!(metric(&after, "hotline_store_writes_pending"), 0.0);
    // The caller heard the greeting (plain_call checked ~50 packets a second).
    assert!(metric(&after, "hotline_rtp_packets_sent_total") >= 30.0);
    // The pacer timed its ticks: at least one per packet time of that second of greeting.
    assert!(metric(&after, "hotline_rtp_tick_lateness_seconds_count") >= 30.0);
    assert_eq!(
        metric(
            &after,
            "hotline_rtp_tick_lateness_seconds_bucket{le=\"+Inf\"}"
        ),
        metric(&after, "hotline_rtp_tick_lateness_seconds_count")
    );
    assert_eq!(metric(&after, "hotline_overload_refusing"), 0.0);

    // Served only to the networks of `[http] metrics_from`: not to loopback once it is left out.
    server.restart(|config| {
        config.replacen("[http]\n", "[http]\nmetrics_from = [\"10.0.0.0/8\"]\n", 1)
    });
    let (code, body) = http::get(server.http, "/metrics").expect("GET /metrics");
    assert_eq!(code, 403, "{body}");
}

/// Holds SQLite's write lock on the server's database, as a stalled disk or a long
/// maintenance transaction would, until dropped.
struct WriteLock {
    rt: tokio::runtime::Runtime,
    conn: Option<sqlx::SqliteConnection>,
}

impl WriteLock {
    fn take(server: &Server) -> WriteLock {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let db = server.dir().join("data/hotline.db");
        let conn = rt.block_on(async {
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
                .await
                .expect("open the server's database");
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut c)
                .await
                .expect("take the write lock");
            c
        });
        WriteLock {
            rt,
            conn: Some(conn),
        }
    }

    fn release(mut self) {
        let mut c = self.conn.take().unwrap();
        self.rt.block_on(async {
            sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            c.close().await.unwrap();
        });
    }
}

#[test]
fn a_stalled_database_turns_new_calls_away_with_503_at_once_then_calls_are_taken_again() {
    let server = Server::start(ServerOptions::default());
    // Warm up: the schema is there and a call goes through.
    let first = plain_call(&server, Transport::Udp, 300);
    server.wait_call_ended(&first);
    // Logged in before the lock (a login writes its session).
    server.supervisor_token();

    let lock = WriteLock::take(&server);
    // A caller arrives: its call row cannot be written, so it is not answered yet.
    let sink = RtpSink::bind(server.ports.base + 61);
    let stalled = Sipp::new("uac_plain.xml")
        .key("sink_port", sink.port)
        .set("hold_ms", 300)
        .timeout(Duration::from_secs(30))
        .spawn(&server);
    // Once that write has waited past `max_write_wait_ms` (200 ms), the server says it refuses.
    let deadline = Instant::now() + Duration::from_secs(10);
    let overload = loop {
        let (code, s) = server.api_sup("/api/status");
        assert_eq!(code, 200, "{s}");
        if s["overload"]["refusing"] == true {
            break s["overload"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "never refusing while the database is locked: {s:#}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(overload["reason"], "write_wait", "{overload:#}");
    assert!(
        overload["writes_pending"].as_u64().unwrap() >= 1,
        "{overload:#}"
    );

    // The next caller is refused while the lock is still held: the 503 did not wait for it.
    let peer = RawSip::new(server.sip);
    let invite = peer.invite(
        "12345",
        "overloaded-1",
        "ov1",
        server.ports.base + 70,
        "0 101",
    );
    peer.send(invite.as_bytes());
    let reply = peer
        .final_response(Duration::from_secs(5))
        .expect("no final response to an INVITE while overloaded");
    assert_eq!(status(&reply), Some(503), "{reply}");
    let retry: u32 = header(&reply, "Retry-After")
        .expect("503 without Retry-After")
        .trim()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry >= 1, "{reply}");
    let metrics = scrape(&server);
    assert_eq!(metric(&metrics, "hotline_overload_refusing"), 1.0);
    assert_eq!(
        metric(
            &metrics,
            "hotline_overload_refused_total{reason=\"write_wait\"}"
        ),
        1.0
    );

    // The database comes back: the waiting caller is answered and its call row is written
    // and closed; new calls are taken again.
    lock.release();
    let run = stalled.wait();
    run.assert_success("the call that waited for the database");
    let waited = run.x_ticket().expect("X-Ticket of the call that waited");
    let case = server.wait_call_ended(&waited);
    assert!(!case["calls"][0]["ended_at"].is_null(), "{case:#}");
    let again = plain_call(&server, Transport::Udp, 300);
    server.wait_call_ended(&again);
    let (_, s) = server.api_sup("/api/status");
    assert_eq!(s["overload"]["refusing"], false, "{s:#}");
    assert_eq!(s["overload"]["refused"]["write_wait"], 1, "{s:#}");
}

/// Waits until `/api/status` says new calls are taken.
fn wait_not_refusing(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, s) = server.api_sup("/api/status");
        assert_eq!(code, 200, "{s}");
        if s["overload"]["refusing"] == false {
            return;
        }
        assert!(Instant::now() < deadline, "still refusing: {s:#}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_invite_left_unread_in_the_socket_is_refused_by_its_arrival_time() {
    let mut server = Server::start(ServerOptions::default());
    server.restart(|config| {
        config.replacen("max_receive_wait_ms = 5000", "max_receive_wait_ms = 100", 1)
    });
    let first = plain_call(&server, Transport::Udp, 300);
    server.wait_call_ended(&first);

    // The server stops reading (as when a flood keeps it busy) while an INVITE arrives and
    // waits in its socket for 300 ms, past `max_receive_wait_ms` (100 ms here).
    let peer = RawSip::new(server.sip);
    let invite = peer.invite("12345", "unread-1", "ur1", server.ports.base + 70, "0 101");
    server.pause();
    peer.send(invite.as_bytes());
    std::thread::sleep(Duration::from_millis(300));
    server.signal("CONT");
    // Read at once on waking, it is refused at once: the server goes by when the kernel
    // received it, not by when it got round to reading it.
    let reply = peer
        .final_response(Duration::from_secs(5))
        .expect("no final response to the INVITE that waited");
    assert_eq!(status(&reply), Some(503), "{reply}");
    assert!(header(&reply, "Retry-After").is_some(), "{reply}");
    let metrics = scrape(&server);
    assert_eq!(
        metric(
            &metrics,
            "hotline_overload_refused_total{reason=\"receive_wait\"}"
        ),
        1.0,
        "{metrics:?}"
    );

    // It said nothing about the calls after it: once the runtime has caught up with its own
    // timers, the next caller is answered.
    wait_not_refusing(&server);
    let next = plain_call(&server, Transport::Udp, 300);
    server.wait_call_ended(&next);
    // Timed from its arrival: it waited at least the 300 ms it lay unread.
    assert_eq!(metric(&metrics, "hotline_call_refusal_seconds_count"), 1.0);
    assert!(metric(&metrics, "hotline_call_refusal_seconds_sum") >= 0.3);
    assert_eq!(
        metric(&metrics, "hotline_call_refusal_seconds_bucket{le=\"0.2\"}"),
        0.0
    );
    let (_, s) = server.api_sup("/api/status");
    assert_eq!(s["overload"]["refused"]["receive_wait"], 1, "{s:#}");
}

#[test]
fn calls_past_max_calls_per_sec_are_refused_at_once() {
    let mut server = Server::start(ServerOptions::default());
    server.restart(|config| config.replacen("[calls]\n", "[calls]\nmax_calls_per_sec = 1\n", 1));
    // Two callers in the same instant: the node takes one call a second, so the second is
    // refused at once rather than queued behind the first.
    let peer = RawSip::new(server.sip);
    let first = peer.invite("12345", "rate-1", "rt1", server.ports.base + 70, "0 101");
    let second = peer.invite("12345", "rate-2", "rt2", server.ports.base + 71, "0 101");
    peer.send(first.as_bytes());
    peer.send(second.as_bytes());
    let mut finals = HashMap::new();
    while finals.len() < 2 {
        let reply = peer
            .final_response(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("final responses so far {finals:?}"));
        let call_id = header(&reply, "Call-ID").unwrap().trim().to_string();
        finals.insert(call_id, reply);
    }
    assert_eq!(status(&finals["rate-1"]), Some(200), "{}", finals["rate-1"]);
    let refused = &finals["rate-2"];
    assert_eq!(status(refused), Some(503), "{refused}");
    assert!(header(refused, "Retry-After").is_some(), "{refused}");
    let metrics = scrape(&server);
    assert_eq!(
        metric(
            &metrics,
            "hotline_overload_refused_total{reason=\"call_rate\"}"
        ),
        1.0
    );
    let (_, s) = server.api_sup("/api/status");
    assert_eq!(s["overload"]["refused"]["call_rate"], 1, "{s:#}");
}

/// A refused INVITE is answered statelessly (RFC 3261 §8.2.7): one 503 and nothing else —
/// no 100 Trying before it, no retransmission of it, no transaction kept — while the
/// retransmission of an INVITE already taken goes on to its call, not to a refusal.
#[test]
fn refusals_are_stateless_and_a_taken_calls_retransmission_is_not_refused() {
    let mut server = Server::start(ServerOptions::default());
    server.restart(|config| config.replacen("[calls]\n", "[calls]\nmax_calls_per_sec = 1\n", 1));
    let taken = RawSip::new(server.sip);
    let invite = taken.invite("12345", "taken-1", "tk1", server.ports.base + 70, "0 101");
    taken.send(invite.as_bytes());
    let answer = taken
        .final_response(Duration::from_secs(5))
        .expect("no answer to the first call");
    assert_eq!(status(&answer), Some(200), "{answer}");
    // Its INVITE again, within the same second, when a new call would be refused: the
    // call's transaction absorbs it (the 200 is repeated), no 503.
    taken.send(invite.as_bytes());
    let after = taken.recv_all(Duration::from_millis(300));
    assert!(
        after.iter().all(|m| status(m) != Some(503)),
        "the taken call's INVITE was refused: {after:?}"
    );

    let refused = RawSip::new(server.sip);
    let invite = refused.invite("12345", "refused-1", "rf1", server.ports.base + 72, "0 101");
    refused.send(invite.as_bytes());
    let first = refused
        .recv(Duration::from_secs(2))
        .expect("no answer to the INVITE past the rate");
    // The first thing back is the 503: no 100 Trying before it.
    assert_eq!(status(&first), Some(503), "{first}");
    assert_eq!(header(&first, "Retry-After").map(str::trim), Some("5"));
    assert!(
        header(&first, "Via").is_some_and(|v| v.contains("rport=")),
        "{first}"
    );
    // Its retransmission (still within the second the rate is spent) gets the same
    // answer, To-tag and all.
    refused.send(invite.as_bytes());
    let again = refused
        .recv(Duration::from_secs(2))
        .expect("no answer to the retransmitted INVITE");
    assert_eq!(again, first);
    // Not ACKed yet: a stateful 503 would come again after T1 (500 ms, Timer G).
    let more = refused.recv_all(Duration::from_millis(1200));
    assert!(more.is_empty(), "sent again: {more:?}");
    let got = [first];
    // Its ACK is taken in silence.
    let to = header(&got[0], "To").unwrap().trim();
    let ack = format!(
        "ACK sip:12345@{server} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
         From: \"13800138000\" <sip:13800138000@{local}>;tag=rawrf1\r\nTo: {to}\r\n\
         Call-ID: refused-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        server = server.sip,
        local = refused.local,
        via = refused.via("rf1"),
    );
    refused.send(ack.as_bytes());
    assert_eq!(refused.recv(Duration::from_millis(300)), None);

    // Both were counted as refusals (a stateless server cannot tell a retransmission).
    let metrics = scrape(&server);
    assert_eq!(
        metric(
            &metrics,
            "hotline_overload_refused_total{reason=\"call_rate\"}"
        ),
        2.0,
        "{metrics:?}"
    );
}

#[test]
fn the_descriptor_table_is_grown_at_start_so_no_call_waits_for_it() {
    // Growing the table later stalls the thread that opens a descriptor for an RCU grace
    // period (10–30 ms): at 200 calls/s the calls that opened the 256th, 512th, 1024th…
    // RTP socket held up the runtime, and INVITEs were refused for `receive_wait`. So the
    // table is grown at start to hold what the descriptor budget shares out: every call
    // of `max_calls` (2000 in the default configuration, 5 descriptors each) and the
    // connection caps, within the process's limit.
    let server = Server::start(ServerOptions::default());
    let limit = procfs::number(server.pid(), "limits", "Max open files", 0);
    let table = procfs::number(server.pid(), "status", "FDSize:", 0);
    let wanted = (256 + 5 * 2000 + 4096 + 512).min(limit);
    assert!(
        table >= wanted,
        "descriptor table of {table} slots at start; the budget needs {wanted} (limit {limit})"
    );
    // What the server logged says the same.
    assert!(
        server.log_text().contains("descriptor table grown"),
        "{}",
        server.log_text()
    );
}

#[test]
fn pages_are_served_on_threads_of_their_own_apart_from_the_call_plane() {
    // The call plane runs on one worker (two spent their time waking each other). A page
    // computing a day's report takes 60–130 ms of CPU: on that worker it would leave
    // INVITEs waiting in the socket past `max_receive_wait_ms`, refused. So HTTP has a
    // runtime of its own.
    let server = Server::start(ServerOptions::default());
    let (code, _) = http::get(server.http, "/metrics").unwrap();
    assert_eq!(code, 200);
    let ticket = plain_call(&server, Transport::Udp, 500);
    server.wait_call_ended(&ticket);
    let names = procfs::thread_names(server.pid());
    let count = |name: &str| names.iter().filter(|n| *n == name).count();
    assert!(count("http") >= 1, "no HTTP thread: {names:?}");
    assert!(count("calls") >= 1, "no call-plane thread: {names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("tokio-runtime")),
        "a runtime of unnamed workers: {names:?}"
    );
}
