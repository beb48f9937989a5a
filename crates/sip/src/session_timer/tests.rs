//! Fake-clock tests: a 30-minute session runs instantly.

use super::*;
use crate::message::parse;
use proptest::prelude::*;

fn headers(extra: &str) -> Headers {
    let text = format!(
        "INVITE sip:12345@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKst\r\n\
From: <sip:138@10.0.0.1>;tag=f1\r\nTo: <sip:12345@127.0.0.1>\r\nCall-ID: st1\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:138@10.0.0.1:5070>\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes(), 65535).unwrap().msg {
        rsip::SipMessage::Request(r) => r.headers,
        _ => unreachable!(),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn parses_and_formats_values() {
    let se: SessionExpires = "1800;refresher=UAC;x=1".parse().unwrap();
    assert_eq!(
        se,
        SessionExpires {
            interval: 1800,
            refresher: Some(Refresher::Uac)
        }
    );
    assert_eq!(se.to_string(), "1800;refresher=uac");
    assert_eq!(" 90 ".parse::<SessionExpires>().unwrap().refresher, None);
    for bad in ["", "x", "-5", "1800;refresher=both", "99999999999", "1 800"] {
        assert!(bad.parse::<SessionExpires>().is_err(), "{bad:?}");
    }
    assert_eq!(parse_min_se("120;ext"), Ok(120));
    assert_eq!(parse_min_se("soon"), Err(SessionTimerError::BadMinSe));
    assert_eq!(
        session_expires(&headers("x: 600;refresher=uas\r\n")).unwrap(),
        Some(SessionExpires {
            interval: 600,
            refresher: Some(Refresher::Uas)
        })
    );
}

#[test]
fn uas_decides_like_rfc_4028() {
    assert_eq!(uas_decide(&headers(""), 90), Ok(UasDecision::NotAsked));
    // Too small for us: 422 with the larger of both minimums.
    assert_eq!(
        uas_decide(&headers("Session-Expires: 60\r\nMin-SE: 60\r\n"), 90),
        Ok(UasDecision::TooSmall { min_se: 90 })
    );
    assert_eq!(
        uas_decide(&headers("Session-Expires: 100\r\n"), 120),
        Ok(UasDecision::TooSmall { min_se: 120 })
    );
    // A timer-capable UAC that names no refresher refreshes itself.
    assert_eq!(
        uas_decide(
            &headers("Supported: replaces, timer\r\nSession-Expires: 1800\r\n"),
            90
        ),
        Ok(UasDecision::Accept {
            header: SessionExpires {
                interval: 1800,
                refresher: Some(Refresher::Uac)
            },
            require: true,
            we_refresh: false
        })
    );
    // It may ask us to refresh.
    let d = uas_decide(
        &headers("k: timer\r\nSession-Expires: 600;refresher=uas\r\n"),
        90,
    );
    assert!(matches!(
        d,
        Ok(UasDecision::Accept {
            we_refresh: true,
            require: true,
            ..
        })
    ));
    // A proxy asked for a UAC that knows nothing of timers: we refresh, no Require.
    assert_eq!(
        uas_decide(&headers("Session-Expires: 600;refresher=uac\r\n"), 90),
        Ok(UasDecision::Accept {
            header: SessionExpires {
                interval: 600,
                refresher: Some(Refresher::Uas)
            },
            require: false,
            we_refresh: true
        })
    );
    assert_eq!(
        uas_decide(&headers("Session-Expires: soon\r\n"), 90),
        Err(SessionTimerError::BadSessionExpires)
    );
    assert_eq!(
        uac_decide(&headers("Session-Expires: 900;refresher=uac\r\n")),
        Ok(Some((900, true)))
    );
    assert_eq!(
        uac_decide(&headers("Session-Expires: 900\r\n")),
        Ok(Some((900, false)))
    );
    assert_eq!(uac_decide(&headers("")), Ok(None));
}

#[test]
fn refresher_refreshes_at_half_then_expires_without_answer() {
    let t0 = Instant::now();
    let mut t = SessionTimer::new(1800, true, t0);
    assert_eq!(
        t.poll_timeout(),
        Some((t0 + secs(900), TimerAction::Refresh))
    );
    assert_eq!(t.handle_timeout(t0 + secs(899)), None);
    assert_eq!(t.handle_timeout(t0 + secs(900)), Some(TimerAction::Refresh));
    // Sent once; now waiting for the refresh to complete, or expiry 32 s before the end.
    assert_eq!(
        t.poll_timeout(),
        Some((t0 + secs(1768), TimerAction::Expire))
    );
    t.handle_refreshed(t0 + secs(901));
    assert_eq!(
        t.poll_timeout(),
        Some((t0 + secs(1801), TimerAction::Refresh))
    );
    t.handle_timeout(t0 + secs(1801));
    assert_eq!(t.handle_timeout(t0 + secs(2669)), Some(TimerAction::Expire));
    assert_eq!(t.poll_timeout(), None);
    assert_eq!(t.handle_timeout(t0 + secs(99_999)), None);
}

#[test]
fn non_refresher_expires_unless_refreshed() {
    let t0 = Instant::now();
    let mut t = SessionTimer::new(90, false, t0);
    // One third of 90 s is less than 32 s.
    assert_eq!(t.poll_timeout(), Some((t0 + secs(60), TimerAction::Expire)));
    t.handle_refreshed(t0 + secs(50));
    assert_eq!(t.handle_timeout(t0 + secs(60)), None);
    assert_eq!(t.handle_timeout(t0 + secs(110)), Some(TimerAction::Expire));
    t.renegotiated(1800, true, t0 + secs(200));
    assert_eq!(t.interval(), secs(1800));
    assert!(t.we_refresh());
    assert_eq!(
        t.poll_timeout(),
        Some((t0 + secs(1100), TimerAction::Refresh))
    );
}

proptest! {
    #[test]
    fn garbage_never_panics(s in "\\PC{0,40}") {
        let _ = s.parse::<SessionExpires>();
        let _ = parse_min_se(&s);
    }
}
