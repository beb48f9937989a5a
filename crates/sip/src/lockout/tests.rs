use super::*;

fn policy() -> LockoutPolicy {
    LockoutPolicy {
        max_failures: 5,
        user_max_failures: 10,
        window: Duration::from_secs(60),
        block_for: Duration::from_secs(300),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn attempt(v: Verdict) -> Attempt {
    match v {
        Verdict::Allow(a) | Verdict::Delay(_, a) => a,
        Verdict::Block(s) | Verdict::Busy(s) => panic!("refused on {s}"),
    }
}

#[test]
fn delays_then_blocks_then_unblocks() {
    let base = Instant::now();
    let at = |ms: u64| base + Duration::from_millis(ms);
    let mut l = Lockout::new(policy());
    let a = addr("192.0.2.1:5060");
    let mut verdicts = Vec::new();
    let mut locks = Vec::new();
    for i in 0..5 {
        let v = l.begin(a, "1001", false, at(i * 1000));
        verdicts.push(match &v {
            Verdict::Allow(_) => None,
            Verdict::Delay(d, _) => Some(*d),
            Verdict::Block(_) | Verdict::Busy(_) => panic!("refused too early"),
        });
        locks.extend(l.failed(attempt(v), at(i * 1000)));
    }
    let ms = Duration::from_millis;
    assert_eq!(
        verdicts,
        [None, None, Some(ms(500)), Some(ms(1000)), Some(ms(2000))]
    );
    assert_eq!(
        locks,
        [Lock {
            scope: Scope::Source(a.ip()),
            failures: 5,
            until: at(4000) + Duration::from_secs(300)
        }]
    );
    assert_eq!(
        l.begin(a, "1002", false, at(5000)),
        Verdict::Block(Scope::Source(a.ip()))
    );
    assert!(l.source_blocked(a.ip(), at(303_999)));
    // Another address is unaffected.
    assert!(matches!(
        l.begin(addr("192.0.2.2:5060"), "1003", false, at(6000)),
        Verdict::Allow(_)
    ));
    // The block ends, and the count starts afresh.
    assert!(!l.source_blocked(a.ip(), at(304_000)));
    assert!(matches!(
        l.begin(a, "1002", false, at(304_000)),
        Verdict::Allow(_)
    ));
}

/// The finding: 60 guesses sent at once on one nonce got 59 × 401 and one 200. Begun
/// together, only `max_failures` of them may ever be verified; the rest are told to come
/// back (busy, not locked: none has failed yet), then the failures lock the source.
#[test]
fn concurrent_attempts_count_before_they_are_verified() {
    let now = Instant::now();
    let mut l = Lockout::new(policy());
    let a = addr("192.0.2.7:40000");
    let mut verified = Vec::new();
    let mut blocked = 0;
    for _ in 0..60 {
        match l.begin(a, "1001", false, now) {
            Verdict::Allow(t) | Verdict::Delay(_, t) => verified.push(t),
            Verdict::Busy(Scope::Source(_)) => blocked += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((verified.len(), blocked), (5, 55));
    assert!(!l.source_blocked(a.ip(), now), "nothing has failed yet");
    // They all fail: the source is blocked, with one lock to audit.
    let locks: Vec<Lock> = verified
        .into_iter()
        .flat_map(|t| l.failed(t, now))
        .collect();
    assert_eq!(locks.len(), 1);
    assert!(l.source_blocked(a.ip(), now));
}

#[test]
fn a_user_is_blocked_for_guesses_from_many_sources() {
    let now = Instant::now();
    let mut l = Lockout::new(policy());
    let mut locks = Vec::new();
    for i in 0..10u8 {
        let src = SocketAddr::from(([198, 51, 100, i], 5060));
        let t = attempt(l.begin(src, "1001", false, now));
        locks.extend(l.failed(t, now));
    }
    assert_eq!(
        locks.iter().map(|l| l.scope.clone()).collect::<Vec<_>>(),
        [Scope::User("1001".into())]
    );
    // A fresh source is refused for that user, not for another one.
    let fresh = addr("203.0.113.9:5060");
    assert_eq!(
        l.begin(fresh, "1001", false, now),
        Verdict::Block(Scope::User("1001".into()))
    );
    assert!(matches!(
        l.begin(fresh, "1002", false, now),
        Verdict::Allow(_)
    ));
}

/// The finding: five bad REGISTERs from the agent's own IP locked the agent out for 300 s.
/// Its registered phone (the exact address of its live binding) is counted on its own.
#[test]
fn a_trusted_device_is_not_locked_out_by_others_on_its_address() {
    let now = Instant::now();
    let mut l = Lockout::new(policy());
    let phone = addr("127.0.0.1:5070");
    let attacker = addr("127.0.0.1:40123");
    for _ in 0..10 {
        if let Verdict::Allow(t) | Verdict::Delay(_, t) = l.begin(attacker, "1001", false, now) {
            let _ = l.failed(t, now);
        }
    }
    assert!(l.source_blocked(attacker.ip(), now));
    assert!(matches!(
        l.begin(attacker, "1001", false, now),
        Verdict::Block(_)
    ));
    let t = attempt(l.begin(phone, "1001", true, now));
    l.succeeded(t, now);
    // A trusted device that fails on its own is blocked on its own.
    for i in 0..5 {
        let t = attempt(l.begin(phone, "1001", true, now + Duration::from_secs(i)));
        let _ = l.failed(t, now + Duration::from_secs(i));
    }
    assert_eq!(
        l.begin(phone, "1001", true, now + Duration::from_secs(6)),
        Verdict::Block(Scope::Device(phone, "1001".into()))
    );
}

#[test]
fn success_clears_the_source_and_forgiven_attempts_do_not_count() {
    let base = Instant::now();
    let at = |s: u64| base + Duration::from_secs(s);
    let mut l = Lockout::new(policy());
    let a = addr("[2001:db8::1]:5060");
    for s in [0, 10, 20, 30] {
        let t = attempt(l.begin(a, "1001", false, at(s)));
        let _ = l.failed(t, at(s));
    }
    // At 65 s the failure at 0 has left the window: 3 remain.
    assert!(matches!(
        l.begin(a, "1001", false, at(65)),
        Verdict::Delay(d, _) if d == Duration::from_secs(1)
    ));
    let mut l = Lockout::new(policy());
    for _ in 0..20 {
        let t = attempt(l.begin(a, "1001", false, at(0)));
        l.forgive(t, at(0));
    }
    let t = attempt(l.begin(a, "1001", false, at(1)));
    l.succeeded(t, at(1));
    assert_eq!(l.tracked(), 0, "nothing left to remember");
}

#[test]
fn memory_is_bounded_and_keeps_blocks() {
    let now = Instant::now();
    let p = LockoutPolicy {
        max_failures: 2,
        ..policy()
    };
    let mut l = Lockout::new(p).with_max_tracked(3);
    let blocked = addr("198.51.100.1:5060");
    for _ in 0..2 {
        let t = attempt(l.begin(blocked, "x", false, now));
        let _ = l.failed(t, now);
    }
    for i in 0..50u8 {
        let src = SocketAddr::from(([203, 0, 113, i], 5060));
        let t = attempt(l.begin(src, &format!("u{i}"), false, now));
        let _ = l.failed(t, now);
        assert!(l.tracked() <= 9);
    }
    assert!(l.source_blocked(blocked.ip(), now));
}
