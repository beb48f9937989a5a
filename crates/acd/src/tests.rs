//! One test per routing rule, on a simulated clock.

use crate::*;

fn a(s: &str) -> AgentId {
    AgentId(s.into())
}

fn sk(list: &[(&str, u8)]) -> Vec<(String, u8)> {
    list.iter().map(|(n, l)| (n.to_string(), *l)).collect()
}

fn offer(call: u64, agent: &str) -> Decision {
    Decision::Offer {
        call: CallKey(call),
        agent: a(agent),
    }
}

fn queued(call: u64, queue: &str, position: usize) -> Decision {
    Decision::Queued {
        call: CallKey(call),
        queue: queue.into(),
        position,
    }
}

fn refused(call: u64, reason: Refusal) -> Decision {
    Decision::Refused {
        call: CallKey(call),
        reason,
    }
}

fn queue(name: &str, strategy: Strategy) -> QueueConfig {
    QueueConfig {
        strategy,
        ..QueueConfig::new(name)
    }
}

/// consult and complaint, longest idle, unbounded.
fn router() -> Router {
    let mut r = Router::new();
    for q in QueueConfig::defaults() {
        r.add_queue(q);
    }
    r
}

/// Logs in and readies an agent at `now`.
fn ready(r: &mut Router, id: &str, skills: &[(&str, u8)], now: Millis) -> Vec<Decision> {
    r.login(a(id), &sk(skills), now);
    r.set_ready(&a(id), now)
}

#[test]
fn no_agents_or_unknown_queue_is_refused_at_once() {
    let mut r = router();
    assert_eq!(
        r.enqueue(CallKey(1), "consult", 0, 0),
        refused(1, Refusal::NoAgents)
    );
    assert_eq!(
        r.enqueue(CallKey(2), "nope", 0, 0),
        refused(2, Refusal::UnknownQueue)
    );
    // A logged-in agent who is not ready is staffing: the call waits for them.
    r.login(a("1001"), &sk(&[("consult", 3)]), 0);
    assert_eq!(
        r.enqueue(CallKey(3), "consult", 0, 0),
        queued(3, "consult", 1)
    );
    // After logout the queue is unstaffed again.
    r.logout(&a("1001"), 5);
    assert_eq!(
        r.enqueue(CallKey(4), "consult", 0, 5),
        refused(4, Refusal::NoAgents)
    );
    assert_eq!(r.agent_state(&a("1001")), Some(&AgentState::LoggedOut));
}

#[test]
fn login_is_not_ready_until_set_ready() {
    let mut r = router();
    r.login(a("1001"), &sk(&[("consult", 3)]), 0);
    assert_eq!(
        r.agent_state(&a("1001")),
        Some(&AgentState::NotReady("login".into()))
    );
    assert!(r.set_ready(&a("1001"), 1).is_empty());
    assert_eq!(r.agent_state(&a("1001")), Some(&AgentState::Ready));
    assert_eq!(r.enqueue(CallKey(1), "consult", 0, 2), offer(1, "1001"));
}

#[test]
fn waiting_calls_go_by_priority_then_arrival() {
    let mut r = router();
    r.login(a("1"), &sk(&[("consult", 1)]), 0);
    assert_eq!(
        r.enqueue(CallKey(1), "consult", 0, 10),
        queued(1, "consult", 1)
    );
    assert_eq!(
        r.enqueue(CallKey(2), "consult", 0, 20),
        queued(2, "consult", 2)
    );
    assert_eq!(
        r.enqueue(CallKey(3), "consult", 5, 30),
        queued(3, "consult", 1)
    );
    assert_eq!(r.position(CallKey(1)), Some(2));
    assert_eq!(r.position(CallKey(2)), Some(3));
    assert_eq!(r.set_ready(&a("1"), 40), vec![offer(3, "1")]);
    assert_eq!(r.position(CallKey(3)), None);
    assert_eq!(r.position(CallKey(2)), Some(2));
    r.offer_answered(CallKey(3), 41);
    r.call_ended(CallKey(3), 50);
    assert_eq!(r.agent_state(&a("1")), Some(&AgentState::WrapUp));
    // Wrap-up, then ready: the next waiting call.
    assert_eq!(r.set_ready(&a("1"), 60), vec![offer(1, "1")]);
    assert_eq!(r.position(CallKey(2)), Some(1));
}

#[test]
fn fairness_across_queues_highest_priority_then_longest_waiting() {
    let mut r = router();
    r.login(
        a("1"),
        &sk(&[("consult", 3), ("complaint", 3), ("en", 3)]),
        0,
    );
    r.enqueue(CallKey(1), "consult", 0, 10);
    r.enqueue(CallKey(2), "complaint", 0, 5);
    r.enqueue(CallKey(3), "en", 0, 20);
    // complaint's caller waited longest.
    assert_eq!(r.set_ready(&a("1"), 30), vec![offer(2, "1")]);
    r.offer_answered(CallKey(2), 31);
    r.call_ended(CallKey(2), 32);
    r.enqueue(CallKey(4), "en", 9, 40);
    // A higher priority beats a longer wait.
    assert_eq!(r.set_ready(&a("1"), 50), vec![offer(4, "1")]);
}

#[test]
fn longest_idle_then_highest_level() {
    let mut r = router();
    ready(&mut r, "low", &[("consult", 1)], 100);
    ready(&mut r, "high", &[("consult", 5)], 100);
    ready(&mut r, "oldest", &[("consult", 2)], 50);
    assert_eq!(r.enqueue(CallKey(1), "consult", 0, 200), offer(1, "oldest"));
    assert_eq!(r.enqueue(CallKey(2), "consult", 0, 200), offer(2, "high"));
    assert_eq!(r.enqueue(CallKey(3), "consult", 0, 200), offer(3, "low"));
}

#[test]
fn most_skilled_then_longest_idle() {
    let mut r = Router::new();
    r.add_queue(queue("consult", Strategy::MostSkilled));
    ready(&mut r, "l3-late", &[("consult", 3)], 90);
    ready(&mut r, "l5", &[("consult", 5)], 100);
    ready(&mut r, "l3-early", &[("consult", 3)], 10);
    assert_eq!(r.enqueue(CallKey(1), "consult", 0, 200), offer(1, "l5"));
    assert_eq!(
        r.enqueue(CallKey(2), "consult", 0, 200),
        offer(2, "l3-early")
    );
    assert_eq!(
        r.enqueue(CallKey(3), "consult", 0, 200),
        offer(3, "l3-late")
    );
}

#[test]
fn round_robin_rotates_through_agents() {
    let mut r = Router::new();
    r.add_queue(queue("consult", Strategy::RoundRobin));
    for id in ["a", "b", "c"] {
        ready(&mut r, id, &[("consult", 1)], 0);
    }
    let mut got = Vec::new();
    for (i, t) in (1..=6u64).zip(10..) {
        let Decision::Offer { agent, call } = r.enqueue(CallKey(i), "consult", 0, t) else {
            panic!("no offer");
        };
        got.push(agent.0.clone());
        r.offer_answered(call, t);
        r.call_ended(call, t);
        r.set_ready(&agent, t);
    }
    assert_eq!(got, ["a", "b", "c", "a", "b", "c"]);
}

#[test]
fn fewest_calls_then_longest_idle() {
    let mut r = Router::new();
    r.add_queue(queue("consult", Strategy::FewestCalls));
    ready(&mut r, "busy", &[("consult", 5)], 0);
    assert_eq!(r.enqueue(CallKey(1), "consult", 0, 1), offer(1, "busy"));
    r.offer_answered(CallKey(1), 2);
    r.call_ended(CallKey(1), 3);
    r.set_ready(&a("busy"), 4);
    ready(&mut r, "fresh-late", &[("consult", 1)], 20);
    ready(&mut r, "fresh-early", &[("consult", 1)], 10);
    // "busy" idled longest but answered one call.
    assert_eq!(
        r.enqueue(CallKey(2), "consult", 0, 30),
        offer(2, "fresh-early")
    );
    assert_eq!(
        r.enqueue(CallKey(3), "consult", 0, 30),
        offer(3, "fresh-late")
    );
    assert_eq!(r.enqueue(CallKey(4), "consult", 0, 30), offer(4, "busy"));
}

#[test]
fn widening_lowers_the_level_after_a_while() {
    let mut r = Router::new();
    r.add_queue(QueueConfig {
        min_level: 3,
        widening: vec![WideningStep {
            after_ms: 30_000,
            min_level: Some(1),
            overflow_to: None,
        }],
        ..QueueConfig::new("consult")
    });
    ready(&mut r, "junior", &[("consult", 1)], 0);
    assert_eq!(
        r.enqueue(CallKey(1), "consult", 0, 1_000),
        queued(1, "consult", 1)
    );
    assert_eq!(r.poll_timeout(), Some(31_000));
    assert!(r.handle_timeout(30_999).is_empty());
    assert_eq!(r.handle_timeout(31_000), vec![offer(1, "junior")]);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn widening_overflows_to_another_queues_agents() {
    let mut r = router();
    r.add_queue(QueueConfig {
        widening: vec![WideningStep {
            after_ms: 60_000,
            min_level: None,
            overflow_to: Some("agent".into()),
        }],
        ..QueueConfig::new("enterprise")
    });
    r.login(a("specialist"), &sk(&[("enterprise", 5)]), 0);
    ready(&mut r, "general", &[("agent", 2)], 0);
    assert_eq!(
        r.enqueue(CallKey(1), "enterprise", 0, 0),
        queued(1, "enterprise", 1)
    );
    assert_eq!(r.handle_timeout(60_000), vec![offer(1, "general")]);

    // An overflowed call waiting when a general agent becomes ready is theirs too, but a
    // general caller who waited longer comes first.
    r.enqueue(CallKey(2), "enterprise", 0, 70_000);
    r.handle_timeout(130_000);
    r.enqueue(CallKey(3), "agent", 0, 65_000);
    r.login(a("g2"), &sk(&[("agent", 1)]), 0);
    assert_eq!(r.set_ready(&a("g2"), 140_000), vec![offer(3, "g2")]);
    r.offer_answered(CallKey(3), 140_000);
    r.call_ended(CallKey(3), 140_000);
    assert_eq!(r.set_ready(&a("g2"), 150_000), vec![offer(2, "g2")]);
}

#[test]
fn overflow_counts_as_staffing() {
    let mut r = router();
    r.add_queue(QueueConfig {
        widening: vec![WideningStep {
            after_ms: 0,
            min_level: None,
            overflow_to: Some("agent".into()),
        }],
        ..QueueConfig::new("enterprise")
    });
    ready(&mut r, "general", &[("agent", 2)], 0);
    // after_ms 0: the overflow applies on arrival.
    assert_eq!(
        r.enqueue(CallKey(1), "enterprise", 0, 5),
        offer(1, "general")
    );
}

#[test]
fn ring_no_answer_returns_the_call_to_the_head_and_pauses_the_agent() {
    let mut r = router();
    ready(&mut r, "sleepy", &[("consult", 3)], 0);
    assert_eq!(r.enqueue(CallKey(1), "consult", 0, 10), offer(1, "sleepy"));
    r.enqueue(CallKey(2), "consult", 0, 20);
    r.enqueue(CallKey(3), "consult", 0, 30);
    assert_eq!(r.position(CallKey(2)), Some(1));
    assert_eq!(
        r.offer_failed(CallKey(1), "no answer", 40),
        vec![queued(1, "consult", 1)]
    );
    assert_eq!(
        r.agent_state(&a("sleepy")),
        Some(&AgentState::NotReady("no answer".into()))
    );
    assert_eq!(r.position(CallKey(2)), Some(2));
    // Offered again at once when another agent is ready.
    r.login(a("awake"), &sk(&[("consult", 3)]), 0);
    assert_eq!(r.set_ready(&a("awake"), 50), vec![offer(1, "awake")]);
    assert_eq!(
        r.offer_failed(CallKey(1), "busy", 60),
        vec![queued(1, "consult", 1)]
    );
    r.set_ready(&a("sleepy"), 80);
    assert_eq!(
        r.agent_state(&a("sleepy")),
        Some(&AgentState::Offered(CallKey(1)))
    );
}

#[test]
fn failed_offer_goes_straight_to_another_ready_agent() {
    let mut r = router();
    ready(&mut r, "x", &[("consult", 3)], 0);
    ready(&mut r, "y", &[("consult", 3)], 5);
    assert_eq!(r.enqueue(CallKey(1), "consult", 0, 10), offer(1, "x"));
    assert_eq!(
        r.offer_failed(CallKey(1), "no answer", 30),
        vec![offer(1, "y")]
    );
}

#[test]
fn queue_length_is_limited() {
    let mut r = Router::new();
    r.add_queue(QueueConfig {
        max_len: 2,
        ..QueueConfig::new("consult")
    });
    r.login(a("1"), &sk(&[("consult", 1)]), 0);
    r.enqueue(CallKey(1), "consult", 0, 0);
    r.enqueue(CallKey(2), "consult", 0, 0);
    assert_eq!(
        r.enqueue(CallKey(3), "consult", 0, 0),
        refused(3, Refusal::QueueFull)
    );
    assert_eq!(r.position(CallKey(3)), None);
    r.abandon(CallKey(1), 1);
    assert_eq!(
        r.enqueue(CallKey(4), "consult", 0, 2),
        queued(4, "consult", 2)
    );
}

#[test]
fn max_wait_expires_to_voicemail() {
    let mut r = Router::new();
    r.add_queue(QueueConfig {
        max_wait_ms: Some(120_000),
        ..QueueConfig::new("consult")
    });
    r.login(a("1"), &sk(&[("consult", 1)]), 0);
    r.enqueue(CallKey(1), "consult", 0, 0);
    r.enqueue(CallKey(2), "consult", 0, 10_000);
    assert_eq!(r.poll_timeout(), Some(120_000));
    assert_eq!(
        r.handle_timeout(200_000),
        vec![
            Decision::Expired { call: CallKey(1) },
            Decision::Expired { call: CallKey(2) }
        ]
    );
    assert_eq!(r.position(CallKey(1)), None);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn abandon_while_waiting_shrinks_positions() {
    let mut r = router();
    r.login(a("1"), &sk(&[("consult", 1)]), 0);
    for i in 1..=3 {
        r.enqueue(CallKey(i), "consult", 0, i);
    }
    assert!(r.abandon(CallKey(1), 10).is_empty());
    assert_eq!(r.position(CallKey(2)), Some(1));
    assert_eq!(r.position(CallKey(3)), Some(2));
    assert_eq!(r.set_ready(&a("1"), 20), vec![offer(2, "1")]);
}

#[test]
fn abandon_while_offered_frees_the_agent_for_the_next_call() {
    let mut r = router();
    ready(&mut r, "1", &[("consult", 1)], 0);
    assert_eq!(r.enqueue(CallKey(1), "consult", 0, 10), offer(1, "1"));
    r.enqueue(CallKey(2), "consult", 0, 11);
    assert_eq!(r.abandon(CallKey(1), 12), vec![offer(2, "1")]);
    assert!(r.abandon(CallKey(2), 13).is_empty());
    assert_eq!(r.agent_state(&a("1")), Some(&AgentState::Ready));
}

#[test]
fn logout_while_offered_returns_the_call() {
    let mut r = router();
    ready(&mut r, "x", &[("consult", 1)], 0);
    r.login(a("y"), &sk(&[("consult", 1)]), 0);
    assert_eq!(r.enqueue(CallKey(1), "consult", 0, 10), offer(1, "x"));
    assert_eq!(r.logout(&a("x"), 20), vec![queued(1, "consult", 1)]);
    assert_eq!(r.set_ready(&a("y"), 30), vec![offer(1, "y")]);
}

#[test]
fn set_skills_rematches_a_ready_agent() {
    let mut r = router();
    ready(&mut r, "x", &[("consult", 1)], 0);
    r.login(a("y"), &sk(&[("complaint", 1)]), 0);
    r.enqueue(CallKey(1), "complaint", 0, 5);
    assert_eq!(
        r.set_skills(&a("x"), &sk(&[("complaint", 2)]), 10),
        vec![offer(1, "x")]
    );
}

#[test]
fn snapshot_counts_agents_by_state_per_queue() {
    let mut r = router();
    ready(&mut r, "x", &[("consult", 4), ("en", 2)], 0);
    r.login(a("y"), &sk(&[("consult", 1)]), 0);
    r.enqueue(CallKey(1), "complaint", 0, 0); // refused: nobody
    r.enqueue(CallKey(2), "consult", 0, 10); // offered to x
    r.enqueue(CallKey(3), "consult", 0, 20); // waits
    let s = r.snapshot(50);
    let consult = s.queues.iter().find(|q| q.name == "consult").unwrap();
    assert_eq!((consult.waiting, consult.longest_wait_ms), (1, 30));
    assert_eq!(
        (consult.ready, consult.not_ready, consult.offered),
        (0, 1, 1)
    );
    let en = s.queues.iter().find(|q| q.name == "en").unwrap();
    assert_eq!((en.offered, en.waiting, en.longest_wait_ms), (1, 0, 0));
    assert_eq!(s.agents[0].id, a("x"));
    assert_eq!(s.agents[0].state, AgentState::Offered(CallKey(2)));
    assert_eq!(s.agents[0].since, 10);
    r.offer_answered(CallKey(2), 60);
    assert_eq!(r.snapshot(60).agents[0].answered_calls, 1);
}

#[test]
fn a_call_enqueued_with_an_earlier_arrival_keeps_its_place() {
    let mut r = router();
    r.login(a("1"), &sk(&[("consult", 1)]), 0);
    // Call 1 arrives at 5 s; call 2 is put in at 10 s but has waited since 2 s elsewhere
    // (a callback task keeping its caller's place): it is served first.
    assert_eq!(
        r.enqueue(CallKey(1), "consult", 0, 5_000),
        queued(1, "consult", 1)
    );
    assert_eq!(
        r.enqueue_since(CallKey(2), "consult", 0, 2_000, 10_000),
        queued(2, "consult", 1)
    );
    assert_eq!(r.position(CallKey(1)), Some(2));
    assert_eq!(r.set_ready(&a("1"), 11_000), vec![offer(2, "1")]);
    // An arrival "in the future" is taken as now.
    assert_eq!(
        r.enqueue_since(CallKey(3), "consult", 0, 99_000, 12_000),
        queued(3, "consult", 2)
    );
}

#[test]
fn a_direct_offer_reserves_a_ready_agent_and_is_never_queued() {
    let mut r = router();
    ready(&mut r, "1001", &[("consult", 3)], 0);
    ready(&mut r, "1002", &[("consult", 3)], 0);
    // Only a Ready agent can be reserved.
    assert_eq!(
        r.offer_direct(CallKey(90), &a("1999"), 5),
        Err(DirectRefusal::UnknownAgent)
    );
    r.offer_direct(CallKey(90), &a("1002"), 5).unwrap();
    assert_eq!(
        r.agent_state(&a("1002")),
        Some(&AgentState::Offered(CallKey(90)))
    );
    assert_eq!(
        r.offer_direct(CallKey(91), &a("1002"), 6),
        Err(DirectRefusal::Busy)
    );
    // A queue's call meanwhile goes to the other agent, not the reserved one.
    assert_eq!(r.enqueue(CallKey(1), "consult", 0, 7), offer(1, "1001"));
    // It fails: the agent pauses and nobody else is offered the call.
    assert!(r.offer_failed(CallKey(90), "no answer", 20).is_empty());
    assert_eq!(
        r.agent_state(&a("1002")),
        Some(&AgentState::NotReady("no answer".into()))
    );
    assert_eq!(r.position(CallKey(90)), None);
    // Reserved again, answered, ended: wrap-up as for a queue's call.
    r.set_ready(&a("1002"), 30);
    r.offer_direct(CallKey(92), &a("1002"), 31).unwrap();
    r.offer_answered(CallKey(92), 32);
    assert_eq!(
        r.agent_state(&a("1002")),
        Some(&AgentState::OnCall(CallKey(92)))
    );
    r.call_ended(CallKey(92), 40);
    assert_eq!(r.agent_state(&a("1002")), Some(&AgentState::WrapUp));
    // Withdrawn before it answers: the agent is Ready again.
    r.set_ready(&a("1002"), 50);
    r.offer_direct(CallKey(93), &a("1002"), 51).unwrap();
    r.abandon(CallKey(93), 52);
    assert_eq!(r.agent_state(&a("1002")), Some(&AgentState::Ready));
    r.logout(&a("1002"), 60);
    assert_eq!(
        r.offer_direct(CallKey(94), &a("1002"), 61),
        Err(DirectRefusal::LoggedOut)
    );
}
