//! Random event sequences: after every event the indexes agree with the records and no
//! ready agent idles while a call it can serve waits.

use std::collections::HashSet;

use proptest::prelude::{
    any, prop_assert, prop_assert_eq, prop_oneof, proptest, ProptestConfig, Strategy as Gen,
    TestCaseError,
};

use crate::*;

const QUEUES: [&str; 4] = ["consult", "complaint", "agent", "en"];

fn router() -> Router {
    let mut r = Router::new();
    let step = |after_ms, min_level, overflow: Option<&str>| WideningStep {
        after_ms,
        min_level,
        overflow_to: overflow.map(String::from),
    };
    r.add_queue(QueueConfig {
        min_level: 3,
        max_len: 5,
        max_wait_ms: Some(120_000),
        widening: vec![
            step(30_000, Some(2), None),
            step(60_000, Some(1), Some("agent")),
        ],
        ..QueueConfig::new("consult")
    });
    r.add_queue(QueueConfig {
        strategy: Strategy::MostSkilled,
        min_level: 2,
        widening: vec![step(20_000, None, Some("en"))],
        ..QueueConfig::new("complaint")
    });
    r.add_queue(QueueConfig {
        strategy: Strategy::RoundRobin,
        max_wait_ms: Some(90_000),
        ..QueueConfig::new("agent")
    });
    r.add_queue(QueueConfig {
        strategy: Strategy::FewestCalls,
        min_level: 4,
        max_len: 3,
        widening: vec![step(10_000, Some(3), None)],
        ..QueueConfig::new("en")
    });
    r
}

#[derive(Debug, Clone)]
enum Op {
    Login(u8, Vec<(usize, u8)>),
    Logout(u8),
    SetSkills(u8, Vec<(usize, u8)>),
    Ready(u8),
    NotReady(u8),
    Enqueue(usize, u8),
    Answer(usize),
    Fail(usize),
    End(usize),
    Abandon(usize),
    Wait(u64),
}

fn skills() -> impl Gen<Value = Vec<(usize, u8)>> {
    proptest::collection::vec((0..QUEUES.len(), 1u8..=5), 0..3)
}

fn op() -> impl Gen<Value = Op> {
    let agent = 0u8..6;
    prop_oneof![
        1 => (agent.clone(), skills()).prop_map(|(a, s)| Op::Login(a, s)),
        1 => agent.clone().prop_map(Op::Logout),
        1 => (agent.clone(), skills()).prop_map(|(a, s)| Op::SetSkills(a, s)),
        3 => agent.clone().prop_map(Op::Ready),
        1 => agent.prop_map(Op::NotReady),
        3 => (0..QUEUES.len(), 0u8..3).prop_map(|(q, p)| Op::Enqueue(q, p)),
        2 => any::<usize>().prop_map(Op::Answer),
        1 => any::<usize>().prop_map(Op::Fail),
        2 => any::<usize>().prop_map(Op::End),
        1 => any::<usize>().prop_map(Op::Abandon),
        1 => (0u64..70_000).prop_map(Op::Wait),
    ]
}

fn id(n: u8) -> AgentId {
    AgentId(format!("10{n:02}"))
}

fn named(s: &[(usize, u8)]) -> Vec<(String, u8)> {
    s.iter().map(|&(q, l)| (QUEUES[q].to_string(), l)).collect()
}

/// Checks one event's decisions: every offer is distinct and now rings at its agent.
fn check_decisions(r: &Router, ds: &[Decision]) -> Result<(), TestCaseError> {
    let (mut calls, mut agents) = (HashSet::new(), HashSet::new());
    for d in ds {
        match d {
            Decision::Offer { call, agent } => {
                prop_assert!(calls.insert(*call), "{call:?} offered twice");
                prop_assert!(agents.insert(agent.clone()), "{agent:?} offered two calls");
                prop_assert_eq!(r.agent_state(agent), Some(&AgentState::Offered(*call)));
            }
            Decision::Queued { call, position, .. } => {
                prop_assert_eq!(r.position(*call), Some(*position));
            }
            Decision::Refused { call, .. } | Decision::Expired { call } => {
                prop_assert_eq!(r.position(*call), None);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn invariants_hold_after_every_event(ops in proptest::collection::vec(op(), 1..150)) {
        let mut r = router();
        let mut now: Millis = 0;
        let mut calls: Vec<CallKey> = Vec::new();
        let pick = |calls: &Vec<CallKey>, i: usize| calls.get(i % calls.len().max(1)).copied();
        for op in ops {
            now += 500;
            // The controller fires due timers before handling the next input.
            if r.poll_timeout().is_some_and(|t| t <= now) {
                let ds = r.handle_timeout(now);
                check_decisions(&r, &ds)?;
                r.check().map_err(TestCaseError::fail)?;
                prop_assert!(r.poll_timeout().is_none_or(|t| t > now), "a due timer was left");
            }
            let ds = match &op {
                Op::Login(a, s) => { r.login(id(*a), &named(s), now); vec![] }
                Op::Logout(a) => r.logout(&id(*a), now),
                Op::SetSkills(a, s) => r.set_skills(&id(*a), &named(s), now),
                Op::Ready(a) => r.set_ready(&id(*a), now),
                Op::NotReady(a) => { r.set_not_ready(&id(*a), "break", now); vec![] }
                Op::Enqueue(q, p) => {
                    let key = CallKey(calls.len() as u64 + 1);
                    calls.push(key);
                    vec![r.enqueue(key, QUEUES[*q], *p, now)]
                }
                Op::Answer(i) => { if let Some(c) = pick(&calls, *i) { r.offer_answered(c, now) } vec![] }
                Op::Fail(i) => pick(&calls, *i).map(|c| r.offer_failed(c, "no answer", now)).unwrap_or_default(),
                Op::End(i) => { if let Some(c) = pick(&calls, *i) { r.call_ended(c, now) } vec![] }
                Op::Abandon(i) => pick(&calls, *i).map(|c| r.abandon(c, now)).unwrap_or_default(),
                Op::Wait(ms) => {
                    now += ms;
                    let ds = r.handle_timeout(now);
                    prop_assert!(r.poll_timeout().is_none_or(|t| t > now), "a due timer was left");
                    ds
                }
            };
            check_decisions(&r, &ds)?;
            r.check().map_err(|e| TestCaseError::fail(format!("after {op:?} at {now}: {e}")))?;
        }
    }
}
