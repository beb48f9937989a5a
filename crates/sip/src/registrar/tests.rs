//! Registrar on a fake clock: `base + Duration`, never a real wait.

use super::*;
use crate::message::parse;
use rsip::SipMessage;

const SRC: &str = "10.0.0.7:5060";

fn request(call_id: &str, cseq: u32, extra: &str) -> (Request, Info) {
    let text = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {SRC};branch=z9hG4bK{call_id}{cseq}\r\n\
From: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
CSeq: {cseq} REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    let p = parse(text.as_bytes(), 65535).unwrap();
    let SipMessage::Request(r) = p.msg else {
        panic!("not a request")
    };
    (r, p.info)
}

struct Fixture {
    reg: Registrar,
    base: Instant,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            reg: Registrar::new(RegistrarConfig::default()),
            base: Instant::now(),
        }
    }

    fn at(&self, secs: u64) -> Instant {
        self.base + Duration::from_secs(secs)
    }

    /// Sends a REGISTER at `secs`; returns the status, the Contact values and the outcome.
    fn send(
        &mut self,
        secs: u64,
        call_id: &str,
        cseq: u32,
        extra: &str,
    ) -> (u16, Vec<String>, RegisterOutcome) {
        let (req, info) = request(call_id, cseq, extra);
        let (resp, out) = self.reg.register(
            self.at(secs),
            &req,
            &info,
            SRC.parse().unwrap(),
            Transport::Udp,
        );
        let text = resp.to_string();
        assert!(text.contains("To: <sip:1001@127.0.0.1>;tag="), "{text}");
        assert!(text.contains("Content-Length: 0\r\n"), "{text}");
        let contacts = message::all(&resp.headers, "Contact")
            .map(str::to_string)
            .collect();
        (u16::from(resp.status_code), contacts, out)
    }

    fn live(&self, secs: u64) -> Vec<String> {
        self.reg
            .contacts("1001", self.at(secs))
            .into_iter()
            .map(|b| b.contact)
            .collect()
    }
}

fn updated(contacts: usize, was_registered: bool) -> RegisterOutcome {
    RegisterOutcome::Updated {
        aor_user: "1001".into(),
        contacts,
        was_registered,
    }
}

fn removed() -> RegisterOutcome {
    RegisterOutcome::Removed {
        aor_user: "1001".into(),
    }
}

const PHONE: &str = "Contact: <sip:1001@10.0.0.7:5060;transport=udp>\r\n";

#[test]
fn register_refresh_query() {
    let mut f = Fixture::new();
    let (code, contacts, out) = f.send(0, "c1", 1, PHONE);
    assert_eq!(code, 200);
    assert_eq!(
        contacts,
        ["<sip:1001@10.0.0.7:5060;transport=udp>;expires=3600"]
    );
    assert_eq!(out, updated(1, false));
    let b = &f.reg.contacts("1001", f.at(0))[0];
    assert_eq!((b.call_id.as_str(), b.cseq), ("c1", 1));
    assert_eq!(b.source, SRC.parse().unwrap());
    assert_eq!(b.expires_at, f.at(3600));

    // Refresh with a shorter interval, 100 s later.
    let (code, contacts, out) = f.send(100, "c1", 2, &format!("{PHONE}Expires: 600\r\n"));
    assert_eq!(code, 200);
    assert_eq!(
        contacts,
        ["<sip:1001@10.0.0.7:5060;transport=udp>;expires=600"]
    );
    assert_eq!(out, updated(1, true));

    // A query (no Contact) lists with the remaining time and changes nothing.
    let (code, contacts, out) = f.send(400, "c1", 3, "");
    assert_eq!(code, 200);
    assert_eq!(
        contacts,
        ["<sip:1001@10.0.0.7:5060;transport=udp>;expires=300"]
    );
    assert_eq!(out, updated(1, true));
    assert_eq!(f.reg.users(), ["1001"]);
}

#[test]
fn expires_param_beats_header_beats_default_and_is_capped() {
    let mut f = Fixture::new();
    let (_, c, _) = f.send(
        0,
        "c1",
        1,
        "Contact: <sip:a@h>;expires=120, <sip:b@h>, sip:c@h;expires=99999\r\nExpires: 300\r\n",
    );
    assert_eq!(
        c,
        [
            "<sip:c@h>;expires=3600",
            "<sip:b@h>;expires=300",
            "<sip:a@h>;expires=120"
        ]
    );
}

#[test]
fn bindings_lapse_and_the_controller_hears_once() {
    let mut f = Fixture::new();
    f.send(
        0,
        "c1",
        1,
        "Contact: <sip:a@h>;expires=60, <sip:b@h>;expires=120\r\n",
    );
    assert_eq!(f.reg.poll_timeout(), Some(f.at(60)));
    assert!(f.reg.handle_timeout(f.at(59)).is_empty());
    assert!(f.reg.handle_timeout(f.at(60)).is_empty(), "b is still live");
    assert_eq!(f.live(60), ["sip:b@h"]);
    assert_eq!(f.reg.poll_timeout(), Some(f.at(120)));
    // Past expiry but not yet reaped: no longer live.
    assert!(f.live(120).is_empty());
    assert_eq!(f.reg.handle_timeout(f.at(125)), ["1001"]);
    assert!(f.reg.users().is_empty());
    assert_eq!(f.reg.poll_timeout(), None);
    assert!(f.reg.handle_timeout(f.at(999)).is_empty());
}

#[test]
fn lapsed_but_unreaped_user_is_reported_by_the_register() {
    let mut f = Fixture::new();
    f.send(0, "c1", 1, "Contact: <sip:a@h>;expires=60\r\n");
    // Re-registers after lapsing, before handle_timeout: still the same login.
    assert_eq!(
        f.send(70, "c1", 2, "Contact: <sip:a@h>;expires=60\r\n").2,
        updated(1, true)
    );
    // Lapses again, then a query: the logout is reported here, not lost.
    assert_eq!(f.send(200, "c1", 3, "").2, removed());
    assert!(f.reg.handle_timeout(f.at(300)).is_empty());
}

#[test]
fn unregister_one_then_the_last() {
    let mut f = Fixture::new();
    f.send(0, "c1", 1, "Contact: <sip:a@h>, <sip:b@h>\r\n");
    let (code, c, out) = f.send(10, "c1", 2, "Contact: <sip:a@h>;expires=0\r\n");
    assert_eq!((code, out), (200, updated(1, true)));
    assert_eq!(c, ["<sip:b@h>;expires=3590"]);
    // Expires header 0 removes too; case-insensitive host matches.
    let (code, c, out) = f.send(20, "c1", 3, "Contact: <sip:b@H>\r\nExpires: 0\r\n");
    assert_eq!((code, out), (200, removed()));
    assert!(c.is_empty());
    assert!(f.reg.users().is_empty());
    // Removing what is not there is fine and reports nothing new.
    assert_eq!(
        f.send(30, "c1", 4, "Contact: <sip:b@h>;expires=0\r\n").2,
        updated(0, false)
    );
}

#[test]
fn star_removes_all_only_with_expires_zero() {
    let mut f = Fixture::new();
    f.send(0, "c1", 1, "Contact: <sip:a@h>, <sip:b@h>\r\n");
    f.send(0, "c2", 1, "Contact: <sip:c@h>\r\n");
    for bad in [
        "Contact: *\r\n",
        "Contact: *\r\nExpires: 60\r\n",
        "Contact: *, <sip:a@h>\r\nExpires: 0\r\n",
        "Contact: *\r\nContact: <sip:a@h>\r\nExpires: 0\r\n",
    ] {
        assert_eq!(f.send(5, "c3", 1, bad).0, 400, "{bad}");
    }
    assert_eq!(f.live(5).len(), 3);
    let (code, c, out) = f.send(10, "c1", 2, "Contact: *\r\nExpires: 0\r\n");
    assert_eq!((code, out), (200, removed()));
    assert!(c.is_empty());
    assert!(f.live(10).is_empty());
}

#[test]
fn too_brief_gets_423_with_min_expires() {
    let mut f = Fixture::new();
    let (req, info) = request(
        "c1",
        1,
        "Contact: <sip:a@h>;expires=0, <sip:b@h>;expires=30\r\n",
    );
    let (resp, out) = f
        .reg
        .register(f.at(0), &req, &info, SRC.parse().unwrap(), Transport::Udp);
    let text = resp.to_string();
    // rsip writes its variant name as the reason phrase ("IntervalTooBrief"); the code counts.
    assert_eq!(u16::from(resp.status_code), 423);
    assert!(text.contains("Min-Expires: 60\r\n"), "{text}");
    assert_eq!(out, RegisterOutcome::Rejected);
    assert!(f.reg.users().is_empty());
    assert_eq!(
        f.send(0, "c1", 2, "Contact: <sip:b@h>\r\nExpires: 59\r\n")
            .0,
        423
    );
    assert_eq!(
        f.send(0, "c1", 3, "Contact: <sip:b@h>\r\nExpires: 60\r\n")
            .0,
        200
    );
}

#[test]
fn several_contacts_ordered_by_q_then_recency() {
    let mut f = Fixture::new();
    f.send(0, "c1", 1, "Contact: <sip:low@h>;q=0.1\r\n");
    f.send(1, "c2", 1, "Contact: <sip:old@h>\r\n");
    f.send(2, "c3", 1, "Contact: <sip:new@h>\r\n");
    f.send(3, "c4", 1, "Contact: <sip:mid@h>;q=0.5\r\n");
    assert_eq!(
        f.live(3),
        ["sip:new@h", "sip:old@h", "sip:mid@h", "sip:low@h"]
    );
    // Refreshing `old` makes it the most recent.
    let (_, c, out) = f.send(4, "c2", 2, "Contact: <sip:old@h>\r\n");
    assert_eq!(out, updated(4, true));
    assert_eq!(c[0], "<sip:old@h>;expires=3600");
    assert_eq!(c[2], "<sip:mid@h>;expires=3599;q=0.5");
    assert_eq!(
        f.live(4),
        ["sip:old@h", "sip:new@h", "sip:mid@h", "sip:low@h"]
    );
}

#[test]
fn cseq_order_per_call_id() {
    let mut f = Fixture::new();
    assert_eq!(f.send(0, "c1", 5, PHONE).0, 200);
    // A retransmission or a late, older request of the same Call-ID is refused whole.
    assert_eq!(
        f.send(1, "c1", 5, PHONE),
        (500, vec![], RegisterOutcome::Rejected)
    );
    assert_eq!(
        f.send(
            1,
            "c1",
            4,
            "Contact: <sip:1001@10.0.0.7:5060;transport=udp>;expires=0\r\n"
        )
        .0,
        500
    );
    assert_eq!(f.send(1, "c1", 4, "Contact: *\r\nExpires: 0\r\n").0, 500);
    assert_eq!(f.live(1).len(), 1);
    // Another contact is not affected by this Call-ID's old CSeq.
    assert_eq!(f.send(1, "c1", 3, "Contact: <sip:other@h>\r\n").0, 200);
    // The same contact from a new Call-ID (the phone restarted) replaces the binding.
    assert_eq!(f.send(2, "c9", 1, PHONE).0, 200);
    let b = f.reg.contacts("1001", f.at(2));
    assert_eq!(b.len(), 2);
    let phone = b.iter().find(|b| b.contact.contains("10.0.0.7")).unwrap();
    assert_eq!((phone.call_id.as_str(), phone.cseq), ("c9", 1));
}

#[test]
fn contacts_per_aor_are_bounded() {
    let mut f = Fixture::new();
    for i in 0..(MAX_CONTACTS_PER_AOR + 2) {
        f.send(
            i as u64,
            &format!("c{i}"),
            1,
            &format!("Contact: <sip:p{i}@h>\r\n"),
        );
    }
    let live = f.live(20);
    assert_eq!(live.len(), MAX_CONTACTS_PER_AOR);
    assert_eq!(live[0], format!("sip:p{}@h", MAX_CONTACTS_PER_AOR + 1));
    assert!(!live.contains(&"sip:p0@h".to_string()));
    assert!(!live.contains(&"sip:p1@h".to_string()));
}

#[test]
fn malformed_requests_get_400() {
    let mut f = Fixture::new();
    for bad in [
        "Contact: <sip:a@h>\r\nExpires: soon\r\n",
        "Contact: <sip:a@h>;expires=-1\r\n",
        "Contact: <tel:+8612345>\r\n",
        "Contact: <>\r\n",
        "Contact: <sip:a@h>;q=2\r\n",
        "Contact: <sip:a@h>;q=high\r\n",
    ] {
        assert_eq!(
            f.send(0, "c1", 1, bad),
            (400, vec![], RegisterOutcome::Rejected),
            "{bad}"
        );
    }
    // Commas inside a display name do not split contacts.
    let (code, c, _) = f.send(
        0,
        "c1",
        1,
        "Contact: \"Li, Desk 3\" <sip:a@h>;expires=60\r\n",
    );
    assert_eq!((code, c.len()), (200, 1));
    // A To without a user part.
    let (req, info) = request("c2", 1, PHONE);
    let mut req = req;
    for h in req.headers.iter_mut() {
        if let Header::To(t) = h {
            *t = rsip::headers::To::new("<sip:127.0.0.1>");
        }
    }
    let (resp, out) = f
        .reg
        .register(f.at(0), &req, &info, SRC.parse().unwrap(), Transport::Udp);
    assert_eq!(
        (u16::from(resp.status_code), out),
        (400, RegisterOutcome::Rejected)
    );
}

#[test]
fn restored_bindings_are_live_until_they_lapse_and_a_register_since_wins() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let now = Instant::now();
    let kept = |contact: &str, secs: u64| Binding {
        contact: contact.into(),
        expires_at: now + Duration::from_secs(secs),
        source: "127.0.0.1:5070".parse().unwrap(),
        transport: Transport::Udp,
        call_id: "reg-1@phone".into(),
        cseq: 3,
        q: None,
    };
    assert!(r.restore("1001", kept("sip:1001@127.0.0.1:5070", 600), now));
    // Lapsed while the node was down: not restored.
    let lapsed = Binding {
        expires_at: now,
        ..kept("sip:1001@127.0.0.1:5071", 0)
    };
    assert!(!r.restore("1001", lapsed, now));
    // The same contact again (already there): the live one stays.
    assert!(!r.restore("1001", kept("sip:1001@127.0.0.1:5070", 10), now));
    let live = r.contacts("1001", now);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].expires_at, now + Duration::from_secs(600));
    // It lapses like any binding, and the agent is reported gone.
    assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(600)));
    assert_eq!(r.handle_timeout(now + Duration::from_secs(601)), ["1001"]);
}
