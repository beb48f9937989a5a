use super::*;
use std::net::Ipv4Addr;

fn ip(last: u8) -> IpAddr {
    Ipv4Addr::new(192, 0, 2, last).into()
}

fn both(per_source: usize, total: usize) -> Caps {
    Caps {
        per_source: Some(per_source),
        total: Some(total),
    }
}

#[test]
fn caps_per_source_and_in_total() {
    let a = Admission::new();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(a.take(ip(1), both(3, 5)).unwrap());
    }
    assert_eq!(a.take(ip(1), both(3, 5)).unwrap_err(), Refusal::PerSource);
    held.push(a.take(ip(2), both(3, 5)).unwrap());
    held.push(a.take(ip(3), both(3, 5)).unwrap());
    assert_eq!(a.take(ip(4), both(3, 5)).unwrap_err(), Refusal::Total);
    // A source at its share is told so even when the total is reached too.
    assert_eq!(a.take(ip(1), both(3, 5)).unwrap_err(), Refusal::PerSource);
    assert_eq!(a.open(), 5);
    assert_eq!(a.open_from(ip(1)), 3);
    assert_eq!(a.open_from(ip(4)), 0);
}

#[test]
fn an_exempt_source_meets_the_total_only_and_ours_no_cap() {
    let a = Admission::new();
    let exempt = Caps {
        per_source: None,
        total: Some(4),
    };
    let mut held: Vec<Slot> = (0..4).map(|_| a.take(ip(1), exempt).unwrap()).collect();
    assert_eq!(a.take(ip(1), exempt).unwrap_err(), Refusal::Total);
    // Past every cap: still counted.
    for _ in 0..3 {
        held.push(a.take(ip(1), Caps::NONE).unwrap());
    }
    assert_eq!(a.open(), 7);
    assert_eq!(a.open_from(ip(1)), 7);
}

#[test]
fn dropping_a_slot_gives_the_count_back() {
    let a = Admission::new();
    let first = a.take(ip(1), both(1, 2)).unwrap();
    let second = a.take(ip(2), both(1, 2)).unwrap();
    assert_eq!(first.source(), ip(1));
    assert_ne!(first.id(), second.id());
    assert_ne!(first.id(), 0);
    assert_eq!(a.take(ip(1), both(1, 2)).unwrap_err(), Refusal::PerSource);
    drop(first);
    assert_eq!(a.open(), 1);
    assert_eq!(a.open_from(ip(1)), 0);
    // The source is forgotten at zero: the table holds only open connections' sources.
    assert!(!a.lock().per_source.contains_key(&ip(1)));
    let again = a.take(ip(1), both(1, 2)).unwrap();
    assert!(again.id() > second.id(), "ids are not reused");
    // Clones share the counts.
    let clone = a.clone();
    drop(second);
    drop(again);
    assert_eq!(clone.open(), 0);
    assert!(a.lock().per_source.is_empty());
}

#[test]
fn refusals_are_logged_once_a_minute_per_source() {
    let a = Admission::new();
    let t0 = Instant::now();
    assert_eq!(a.refused(ip(2), t0), Some(0));
    for _ in 0..1000 {
        assert_eq!(a.refused(ip(2), t0 + Duration::from_secs(1)), None);
    }
    // Another source has its own minute.
    assert_eq!(a.refused(ip(3), t0 + Duration::from_secs(2)), Some(0));
    assert_eq!(a.refused(ip(2), t0 + Duration::from_secs(59)), None);
    assert_eq!(a.refused(ip(2), t0 + Duration::from_secs(61)), Some(1001));
    assert_eq!(a.refused(ip(2), t0 + Duration::from_secs(62)), None);
    assert_eq!(a.refused(ip(2), t0 + Duration::from_secs(121)), Some(1));
}

#[test]
fn the_refusal_log_stays_bounded() {
    let a = Admission::new();
    let t0 = Instant::now();
    let many = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
    let mut logged = 0;
    for i in 0..5_000u32 {
        if a.refused(many(i), t0).is_some() {
            logged += 1;
        }
    }
    assert_eq!(
        logged, REFUSAL_LOG_SOURCES,
        "one line each, up to the bound"
    );
    assert!(a.lock().refusals.by_source.len() <= REFUSAL_LOG_SOURCES);
    // A source already remembered is counted, not logged, within its minute.
    assert_eq!(a.refused(many(0), t0 + Duration::from_secs(30)), None);
    // Once the minute has passed, stale sources make room for new ones.
    let later = t0 + REFUSAL_LOG_EVERY;
    assert_eq!(a.refused(many(20_000), later), Some(0));
    assert!(a.lock().refusals.by_source.len() <= REFUSAL_LOG_SOURCES);
}

#[test]
fn accept_errors_are_logged_every_ten_seconds_at_most() {
    let mut e = AcceptErrors::new();
    let t0 = Instant::now();
    assert!(e.note(t0));
    assert!(!e.note(t0 + Duration::from_secs(1)));
    assert!(!e.note(t0 + Duration::from_millis(9_999)));
    assert!(e.note(t0 + Duration::from_secs(10)));
    assert!(!e.note(t0 + Duration::from_secs(19)));
    assert!(e.note(t0 + Duration::from_secs(25)));
}

// Real time (tokio's test-util, for a paused clock, is not enabled): 0.2 s.
#[tokio::test]
async fn a_failed_accept_is_logged_then_paused() {
    let mut e = AcceptErrors::new();
    let t0 = Instant::now();
    let mut lines = 0;
    let started = tokio::time::Instant::now();
    e.failed(t0, || lines += 1).await;
    e.failed(t0 + Duration::from_secs(1), || lines += 1).await;
    assert_eq!(lines, 1);
    assert!(started.elapsed() >= 2 * ACCEPT_ERROR_PAUSE);
}
