//! Hostile and broken input, and calls the hotline must refuse.

use hotline_e2e::flows::plain_call;
use hotline_e2e::sip::{self, header, status, RawSip};
use hotline_e2e::{Server, ServerOptions, Transport};
use std::time::Duration;

const WINDOW: Duration = Duration::from_millis(700);

/// Sends `msg` and returns the status codes of whatever comes back within [`WINDOW`].
fn codes_for(peer: &RawSip, msg: &[u8]) -> Vec<u16> {
    peer.send(msg);
    peer.recv_all(WINDOW)
        .iter()
        .filter_map(|m| status(m))
        .collect()
}

/// A request with every mandatory header, `method` and `cseq` as given.
fn request(peer: &RawSip, method: &str, cseq: &str, call_id: &str) -> String {
    format!(
        "{method} sip:12345@{server} SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:13800138000@{local}>;tag=g{call_id}\r\n\
         To: <sip:12345@{server}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq}\r\n\
         Content-Length: 0\r\n\r\n",
        server = peer.server,
        local = peer.local,
        via = peer.via(call_id),
    )
}

#[test]
fn garbage_and_truncated_messages_then_a_normal_call_works() {
    let mut server = Server::start(ServerOptions::default());
    let peer = RawSip::new(server.sip);
    let no_reply_or_400 = |what: &str, codes: &[u16]| {
        assert!(
            codes.iter().all(|&c| c == 400),
            "{what}: answered {codes:?} (nothing or 400 expected)"
        );
    };

    // Random bytes (a fixed pseudo-random sequence), an empty datagram.
    let mut x: u32 = 0x2545_F491;
    let noise: Vec<u8> = (0..600)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    assert_eq!(
        codes_for(&peer, &noise),
        Vec::<u16>::new(),
        "random bytes must be dropped"
    );
    assert_eq!(
        codes_for(&peer, b""),
        Vec::<u16>::new(),
        "empty datagram must be dropped"
    );
    assert_eq!(
        codes_for(&peer, b"\r\n\r\n"),
        Vec::<u16>::new(),
        "keep-alive must be dropped"
    );

    // Larger than max_message_bytes (16 KiB): a valid OPTIONS with a 20 KB body.
    let body = "a".repeat(20_000);
    let big = request(&peer, "OPTIONS", "1 OPTIONS", "huge-1").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let codes = codes_for(&peer, big.as_bytes());
    assert!(
        codes.iter().all(|&c| c == 400 || c == 413 || c == 513),
        "huge datagram: answered {codes:?}"
    );
    assert!(server.is_healthy());

    // Truncated INVITE: Content-Length larger than the body that arrived.
    let invite = peer.invite(
        "12345",
        "trunc-1",
        "trunc1",
        server.ports.base + 70,
        "0 101",
    );
    let cut = invite.len() - 40;
    let codes = codes_for(&peer, &invite.as_bytes()[..cut]);
    no_reply_or_400("truncated INVITE", &codes);

    // INVITE without Call-ID.
    let invite = peer.invite(
        "12345",
        "nocid-1",
        "nocid1",
        server.ports.base + 70,
        "0 101",
    );
    let no_call_id: String = invite
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("Call-ID:"))
        .collect();
    let codes = codes_for(&peer, no_call_id.as_bytes());
    no_reply_or_400("INVITE without Call-ID", &codes);
    assert!(
        server.case_list().is_empty(),
        "a broken INVITE made a case: {:?}",
        server.case_list()
    );

    // Unknown method: 501. Bad CSeq: 400.
    let codes = codes_for(
        &peer,
        request(&peer, "FROBNICATE", "1 FROBNICATE", "unk-1").as_bytes(),
    );
    assert_eq!(codes, vec![501], "unknown method");
    let codes = codes_for(
        &peer,
        request(&peer, "OPTIONS", "abc OPTIONS", "badcseq-1").as_bytes(),
    );
    assert_eq!(codes, vec![400], "bad CSeq");

    // Sloppy but valid: LF-only line ends, and compact header names.
    let lf_only = request(&peer, "OPTIONS", "1 OPTIONS", "lf-1").replace("\r\n", "\n");
    assert_eq!(
        codes_for(&peer, lf_only.as_bytes()),
        vec![200],
        "LF-only OPTIONS"
    );
    let compact = format!(
        "OPTIONS sip:12345@{s} SIP/2.0\r\nv: {via}\r\nf: <sip:13800138000@{l}>;tag=c1\r\n\
         t: <sip:12345@{s}>\r\ni: compact-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n",
        s = peer.server,
        l = peer.local,
        via = peer.via("compact1"),
    );
    peer.send(compact.as_bytes());
    let reply = peer
        .final_response(WINDOW)
        .expect("compact-header OPTIONS: no answer");
    assert_eq!(status(&reply), Some(200), "compact-header OPTIONS: {reply}");
    assert_eq!(header(&reply, "Call-ID"), Some("compact-1"), "{reply}");

    assert!(server.is_healthy(), "server unhealthy after the garbage");
    let ticket = plain_call(&server, Transport::Udp, 2000);
    let case = server.wait_call_ended(&ticket);
    assert_eq!(case["calls"][0]["hangup_cause"], "caller_bye", "{case:#}");
    assert_eq!(
        server.case_list().len(),
        1,
        "only the normal call makes a case"
    );
}

/// Sends `invite`, expects final response `code`, ACKs it; returns the response.
fn refused(peer: &RawSip, invite: &str, code: u16, what: &str) -> String {
    peer.send(invite.as_bytes());
    let reply = peer
        .final_response(Duration::from_secs(3))
        .unwrap_or_else(|| panic!("{what}: no final response"));
    assert_eq!(status(&reply), Some(code), "{what}: {reply}");
    let line = |name: &str| format!("{name}: {}\r\n", header(invite, name).unwrap());
    let ack = format!(
        "ACK {uri} SIP/2.0\r\n{via}{from}To: {to}\r\n{cid}CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        uri = invite.split_whitespace().nth(1).unwrap(),
        via = line("Via"),
        from = line("From"),
        to = header(&reply, "To").unwrap(),
        cid = line("Call-ID"),
    );
    peer.send(ack.as_bytes());
    reply
}

#[test]
fn refusals() {
    // Not from the trunk: 403.
    let foreign = Server::start(ServerOptions {
        allowed_sources: vec!["10.9.9.9/32".into()],
        ..Default::default()
    });
    let peer = RawSip::new(foreign.sip);
    let invite = peer.invite(
        "12345",
        "refuse-403",
        "r403",
        foreign.ports.base + 70,
        "0 8 101",
    );
    refused(&peer, &invite, 403, "INVITE from a source not allowed");
    assert!(foreign.case_list().is_empty(), "a refused call made a case");
    drop(foreign);

    let server = Server::start(ServerOptions::default());
    let peer = RawSip::new(server.sip);
    // Not our number: 404.
    let invite = peer.invite(
        "99999",
        "refuse-404",
        "r404",
        server.ports.base + 70,
        "0 8 101",
    );
    refused(&peer, &invite, 404, "INVITE to another number");
    // No common codec (G.729 only): 488.
    let invite = peer.invite("12345", "refuse-488", "r488", server.ports.base + 70, "18");
    assert!(invite.contains("m=audio") && sip::sdp(1, "18").contains("G729"));
    refused(&peer, &invite, 488, "INVITE offering only G.729");
    assert!(server.case_list().is_empty(), "a refused call made a case");
    let mut server = server;
    assert!(server.is_healthy());
}
