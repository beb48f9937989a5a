//! Every path of the agent side on a simulated clock: no sockets, no tasks, no sleeps.

use super::*;

const RING: Duration = Duration::from_secs(15);

fn agent(ext: &str) -> AgentId {
    AgentId(ext.into())
}

/// Everything the machine asked for since the last drain.
fn drain(c: &mut Control) -> Vec<Action> {
    std::iter::from_fn(|| c.poll_action()).collect()
}

fn pair(other: LegId) -> Action {
    Action::Media(Topology {
        parties: vec![
            (CITIZEN, Hears::Everyone, true),
            (other, Hears::Everyone, true),
        ],
    })
}

/// A call answered by agent 1001 (ACD key 1) on leg 1 at `t0`.
fn talking(t0: Instant) -> Control {
    let mut c = Control::new();
    c.queued("consult");
    c.handle_offer(agent("1001"), CallKey(1), RING, t0);
    c.handle_leg(1, LegEvent::Answered, t0 + Duration::from_secs(2));
    drain(&mut c);
    c
}

#[test]
fn an_offer_rings_and_the_answer_bridges_the_agent() {
    let t0 = Instant::now();
    let mut c = Control::new();
    c.queued("consult");
    c.handle_offer(agent("1001"), CallKey(1), RING, t0);
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Ring {
                leg: 1,
                dial: Dial::Agent(agent("1001"))
            },
            Action::Record(Record::Offered(agent("1001"))),
            Action::Flow(FlowNote::Ringing),
        ]
    );
    assert_eq!(c.poll_timeout(), Some(t0 + RING));
    c.handle_leg(1, LegEvent::Answered, t0 + Duration::from_secs(3));
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Acd(AcdOp::Answered(CallKey(1))),
            Action::Record(Record::Answered {
                agent: agent("1001"),
                leg: 1
            }),
            Action::Flow(FlowNote::Answered),
            Action::Live("answered"),
            pair(1),
        ]
    );
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.conversation_leg(), Some(1));
}

#[test]
fn ring_no_answer_cancels_and_gives_the_call_back_to_the_queue() {
    let t0 = Instant::now();
    let mut c = Control::new();
    c.handle_offer(agent("1001"), CallKey(1), RING, t0);
    drain(&mut c);
    c.handle_timeout(t0 + RING - Duration::from_millis(1));
    assert!(drain(&mut c).is_empty(), "cancelled before its ring time");
    c.handle_timeout(t0 + RING);
    assert_eq!(drain(&mut c), vec![Action::Cancel(1)]);
    assert_eq!(c.poll_timeout(), None, "cancelled once");
    // The 487 (or a 200 that crossed the CANCEL, which the leg hangs up) ends the leg.
    c.handle_leg(1, LegEvent::Failed("no answer".into()), t0 + RING);
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Record(Record::OfferRejected {
                agent: agent("1001"),
                reason: "no answer".into()
            }),
            Action::Acd(AcdOp::OfferFailed(CallKey(1), "no answer".into())),
        ]
    );
    // The ACD offers the call to the next agent: a new leg rings.
    c.handle_offer(agent("1002"), CallKey(1), RING, t0 + RING);
    assert_eq!(
        drain(&mut c)[0],
        Action::Ring {
            leg: 2,
            dial: Dial::Agent(agent("1002"))
        }
    );
}

#[test]
fn a_late_answer_of_a_forgotten_leg_is_hung_up_and_a_second_offer_refused() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    // A leg the machine gave up long ago answers after all.
    c.handle_leg(7, LegEvent::Answered, t0 + Duration::from_secs(5));
    assert_eq!(drain(&mut c), vec![Action::HangUp(7)]);
    // An offer while talking is failed back, the conversation untouched.
    c.handle_offer(agent("1002"), CallKey(5), RING, t0);
    assert_eq!(
        drain(&mut c),
        vec![Action::Acd(AcdOp::OfferFailed(
            CallKey(5),
            "call busy".into()
        ))]
    );
    assert_eq!(c.conversation_leg(), Some(1));
}

#[test]
fn hold_plays_music_and_the_trail_gets_the_hold_time() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    c.handle_leg(1, LegEvent::Held(true), t0 + Duration::from_secs(10));
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Music(true)), "{acts:?}");
    assert!(acts.contains(&Action::Live("on_hold")));
    assert_eq!(
        c.conversation_leg(),
        None,
        "the citizen's keys go nowhere on hold"
    );
    c.handle_leg(1, LegEvent::Held(false), t0 + Duration::from_secs(17));
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Record(Record::Held(Duration::from_secs(7)))));
    assert!(acts.contains(&Action::Music(false)));
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Media(_))),
        "hold keeps the bridge (and its recording): {acts:?}"
    );
    // The desk's hold and resume do the same.
    c.hold(t0 + Duration::from_secs(20)).unwrap();
    c.resume(t0 + Duration::from_secs(21)).unwrap();
    assert!(drain(&mut c).contains(&Action::Record(Record::Held(Duration::from_secs(1)))));
}

#[test]
fn the_agent_hanging_up_starts_wrap_up_and_the_survey() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    c.handle_leg(1, LegEvent::HungUp, t0 + Duration::from_secs(60));
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Acd(AcdOp::ConversationEnded(CallKey(1))),
            Action::Record(Record::AgentEnded),
            Action::Flow(FlowNote::HungUp),
            Action::Media(Topology::default()),
        ]
    );
    assert!(!c.is_talking());
}

#[test]
fn blind_transfer_to_an_agent_rings_them_with_music_and_they_take_over() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    let to = Destination::Agent {
        agent: agent("1002"),
        key: CallKey(2),
    };
    c.transfer(to, Some(1), RING, t0).unwrap();
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Record(Record::Transferred("agent 1002".into())),
            Action::Live("transferred"),
            Action::Notify { leg: 1, code: 200 },
            Action::HangUp(1),
            Action::Acd(AcdOp::ConversationEnded(CallKey(1))),
            Action::Record(Record::AgentEnded),
            Action::Ring {
                leg: 2,
                dial: Dial::Agent(agent("1002"))
            },
            Action::Media(Topology::default()),
            Action::Music(true),
        ]
    );
    c.handle_leg(2, LegEvent::Answered, t0 + Duration::from_secs(4));
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Acd(AcdOp::Answered(CallKey(2))),
            Action::Record(Record::TransferAnswered("agent 1002".into())),
            Action::Live("answered"),
            pair(2),
            Action::Music(false),
        ]
    );
    // The second agent hangs up: their own wrap-up, then the survey.
    c.handle_leg(2, LegEvent::HungUp, t0 + Duration::from_secs(30));
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Acd(AcdOp::ConversationEnded(CallKey(2)))));
    assert!(
        !acts.contains(&Action::Record(Record::AgentEnded)),
        "the row's agent ended once"
    );
    assert!(acts.contains(&Action::Flow(FlowNote::HungUp)));
}

#[test]
fn a_transfer_target_that_does_not_answer_puts_the_citizen_back_at_the_head_of_the_queue() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    let to = Destination::Agent {
        agent: agent("1002"),
        key: CallKey(2),
    };
    c.transfer(to, None, RING, t0).unwrap();
    drain(&mut c);
    c.handle_timeout(t0 + RING);
    assert_eq!(drain(&mut c), vec![Action::Cancel(2)]);
    c.handle_leg(2, LegEvent::Failed("no answer".into()), t0 + RING);
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Acd(AcdOp::OfferFailed(CallKey(2), "no answer".into())),
            Action::Acd(AcdOp::Requeue("consult".into())),
        ],
        "music goes on, the call is not dropped"
    );
    // The queue's next agent takes it.
    c.handle_offer(agent("1003"), CallKey(3), RING, t0 + RING);
    assert_eq!(
        drain(&mut c),
        vec![Action::Ring {
            leg: 3,
            dial: Dial::Agent(agent("1003"))
        }]
    );
    c.handle_leg(3, LegEvent::Answered, t0 + RING);
    assert!(drain(&mut c).contains(&pair(3)));

    // An outside number that is busy: the same.
    let mut c = talking(t0);
    c.transfer(Destination::Number("110".into()), None, RING, t0)
        .unwrap();
    drain(&mut c);
    c.handle_leg(2, LegEvent::Failed("486".into()), t0);
    assert_eq!(
        drain(&mut c),
        vec![Action::Acd(AcdOp::Requeue("consult".into()))]
    );
}

#[test]
fn transfer_to_a_queue_or_the_survey() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    c.transfer(Destination::Queue("complaint".into()), Some(1), RING, t0)
        .unwrap();
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Acd(AcdOp::Requeue("complaint".into()))));
    assert!(acts.contains(&Action::Music(true)));
    assert!(!acts.contains(&Action::Flow(FlowNote::HungUp)));

    let mut c = talking(t0);
    c.transfer(Destination::Survey, Some(1), RING, t0).unwrap();
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Flow(FlowNote::HungUp)));
    assert!(!acts.iter().any(|a| matches!(a, Action::Music(true))));
    // Nothing to transfer once the agent is gone.
    assert_eq!(
        c.transfer(Destination::Survey, None, RING, t0),
        Err(Refused::NotTalking)
    );
}

#[test]
fn consult_then_complete_is_an_attended_transfer() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    let to = Destination::Agent {
        agent: agent("1002"),
        key: CallKey(2),
    };
    c.consult(to, RING, t0).unwrap();
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Music(true)), "the citizen holds");
    assert_eq!(
        c.complete_transfer(t0),
        Err(Refused::NotAnswered),
        "cannot complete before the consulted party answers"
    );
    c.handle_leg(2, LegEvent::Answered, t0 + Duration::from_secs(3));
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Acd(AcdOp::Answered(CallKey(2)))));
    // The agent and the consulted party hear each other; the citizen hears music only.
    assert!(acts.contains(&Action::Media(Topology {
        parties: vec![
            (CITIZEN, Hears::Nobody, true),
            (1, Hears::Only(vec![2]), true),
            (2, Hears::Only(vec![1]), true),
        ]
    })));
    c.complete_transfer(t0 + Duration::from_secs(20)).unwrap();
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::HangUp(1)));
    assert!(acts.contains(&Action::Acd(AcdOp::ConversationEnded(CallKey(1)))));
    assert!(acts.contains(&Action::Record(Record::Held(Duration::from_secs(20)))));
    assert!(acts.contains(&pair(2)));
    assert!(acts.contains(&Action::Music(false)));
}

#[test]
fn consult_and_return_or_give_up_before_an_answer() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    c.consult(Destination::Number("88001234".into()), RING, t0)
        .unwrap();
    assert_eq!(
        drain(&mut c)[0],
        Action::Ring {
            leg: 2,
            dial: Dial::Number("88001234".into())
        }
    );
    c.handle_leg(2, LegEvent::Answered, t0);
    drain(&mut c);
    c.cancel_consult(t0 + Duration::from_secs(5)).unwrap();
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::HangUp(2)));
    assert!(acts.contains(&pair(1)));

    // An agent who has not answered yet is released (withdrawn), not wrapped up.
    let mut c = talking(t0);
    let to = Destination::Agent {
        agent: agent("1002"),
        key: CallKey(2),
    };
    c.consult(to, RING, t0).unwrap();
    drain(&mut c);
    c.cancel_consult(t0).unwrap();
    let acts = drain(&mut c);
    assert!(
        acts.contains(&Action::Acd(AcdOp::Withdraw(CallKey(2)))),
        "{acts:?}"
    );
    assert!(!acts.contains(&Action::Acd(AcdOp::ConversationEnded(CallKey(2)))));
    assert_eq!(c.cancel_consult(t0), Err(Refused::NoConsultation));
    // A consultation that rings out is cancelled and the citizen stays held.
    let to = Destination::Agent {
        agent: agent("1003"),
        key: CallKey(3),
    };
    c.consult(to, RING, t0).unwrap();
    drain(&mut c);
    c.handle_timeout(t0 + RING);
    assert_eq!(drain(&mut c), vec![Action::Cancel(3)]);
    c.handle_leg(3, LegEvent::Failed("no answer".into()), t0 + RING);
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Acd(AcdOp::OfferFailed(
        CallKey(3),
        "no answer".into()
    ))));
    assert_eq!(
        c.conversation_leg(),
        None,
        "still on hold until the agent takes them back"
    );
}

#[test]
fn a_conference_lets_all_three_hear_each_other() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    c.consult(Destination::Number("110".into()), RING, t0)
        .unwrap();
    c.handle_leg(2, LegEvent::Answered, t0);
    drain(&mut c);
    c.conference(t0).unwrap();
    let acts = drain(&mut c);
    assert!(
        acts.contains(&Action::Media(Topology {
            parties: vec![
                (CITIZEN, Hears::Only(vec![1, 2]), true),
                (1, Hears::Only(vec![CITIZEN, 2]), true),
                (2, Hears::Only(vec![CITIZEN, 1]), true),
            ]
        })),
        "{acts:?}"
    );
    // The agent leaves: the third party stays with the citizen.
    c.handle_leg(1, LegEvent::HungUp, t0);
    let acts = drain(&mut c);
    assert!(acts.contains(&pair(2)), "{acts:?}");
    assert!(!acts.contains(&Action::Flow(FlowNote::HungUp)));
}

#[test]
fn a_supervisor_listens_whispers_and_barges_in() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    let s = c.new_leg();
    c.supervise(s, Supervision::Listen).unwrap();
    let media = |c: &mut Control| {
        drain(c)
            .into_iter()
            .find_map(|a| match a {
                Action::Media(t) => Some(t),
                _ => None,
            })
            .expect("a new topology")
    };
    assert_eq!(
        media(&mut c).parties,
        vec![
            (CITIZEN, Hears::Only(vec![1]), true),
            (1, Hears::Only(vec![CITIZEN]), true),
            (s, Hears::Only(vec![CITIZEN, 1]), false),
        ]
    );
    c.supervise(s, Supervision::Whisper).unwrap();
    assert_eq!(
        media(&mut c).parties,
        vec![
            (CITIZEN, Hears::Only(vec![1]), true),
            (1, Hears::Only(vec![CITIZEN, s]), true),
            (s, Hears::Only(vec![CITIZEN, 1]), false),
        ],
        "only the agent hears a whisper"
    );
    c.supervise(s, Supervision::Barge).unwrap();
    assert_eq!(
        media(&mut c).parties,
        vec![
            (CITIZEN, Hears::Only(vec![1, s]), true),
            (1, Hears::Only(vec![CITIZEN, s]), true),
            (s, Hears::Only(vec![CITIZEN, 1]), true),
        ]
    );
    // The supervisor leaves: back to the plain conversation.
    c.handle_leg(s, LegEvent::HungUp, t0);
    assert_eq!(
        media(&mut c),
        Topology {
            parties: vec![(CITIZEN, Hears::Everyone, true), (1, Hears::Everyone, true)]
        }
    );
    // No conversation, nothing to supervise.
    let mut idle = Control::new();
    assert_eq!(
        idle.supervise(9, Supervision::Listen),
        Err(Refused::NotTalking)
    );
}

#[test]
fn the_citizen_hanging_up_ends_every_other_leg() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    c.consult(Destination::Number("110".into()), RING, t0)
        .unwrap();
    c.handle_leg(2, LegEvent::Answered, t0);
    c.conference(t0).unwrap();
    let s = c.new_leg();
    c.supervise(s, Supervision::Listen).unwrap();
    drain(&mut c);
    c.handle_citizen_gone(t0 + Duration::from_secs(9));
    let acts = drain(&mut c);
    for leg in [1, 2, s] {
        assert!(acts.contains(&Action::HangUp(leg)), "leg {leg}: {acts:?}");
    }
    assert!(acts.contains(&Action::Acd(AcdOp::ConversationEnded(CallKey(1)))));
    assert!(acts.contains(&Action::Record(Record::AgentEnded)));

    // While a phone rings: that leg is hung up; a reserved agent released.
    let mut c = talking(t0);
    let to = Destination::Agent {
        agent: agent("1002"),
        key: CallKey(2),
    };
    c.transfer(to, None, RING, t0).unwrap();
    drain(&mut c);
    c.handle_citizen_gone(t0);
    assert_eq!(
        drain(&mut c),
        vec![
            Action::HangUp(2),
            Action::Acd(AcdOp::Withdraw(CallKey(2))),
            Action::Music(false),
        ]
    );
}

#[test]
fn an_attended_transfer_from_the_phone_hands_the_colleague_the_citizen() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    // The agent's phone holds the citizen, calls 1002 itself, then REFERs with Replaces.
    c.handle_leg(1, LegEvent::Held(true), t0);
    drain(&mut c);
    let handed = c.new_leg();
    c.adopt(
        handed,
        Some((agent("1002"), CallKey(2))),
        1,
        t0 + Duration::from_secs(9),
    )
    .unwrap();
    let acts = drain(&mut c);
    assert_eq!(acts[0], Action::Notify { leg: 1, code: 200 });
    for a in [
        Action::Record(Record::Held(Duration::from_secs(9))),
        Action::HangUp(1),
        Action::Acd(AcdOp::ConversationEnded(CallKey(1))),
        Action::Record(Record::AgentEnded),
        Action::Record(Record::Transferred("agent 1002".into())),
        pair(handed),
        Action::Music(false),
    ] {
        assert!(acts.contains(&a), "{a:?} missing: {acts:?}");
    }
    // 1002 hangs up later: its own wrap-up, then the survey.
    c.handle_leg(handed, LegEvent::HungUp, t0 + Duration::from_secs(60));
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Acd(AcdOp::ConversationEnded(CallKey(2)))));
    assert!(acts.contains(&Action::Flow(FlowNote::HungUp)));
}

#[test]
fn a_callback_rings_the_agent_then_dials_the_citizen_and_links_them_once_answered() {
    let t0 = Instant::now();
    let mut c = Control::outbound();
    assert_eq!(
        c.dial_citizen("13800138000", RING, t0),
        Err(Refused::NotTalking),
        "the agent first"
    );
    c.handle_offer(agent("1004"), CallKey(7), RING, t0);
    c.handle_leg(1, LegEvent::Answered, t0);
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Flow(FlowNote::Answered)));
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Media(_))),
        "nothing to link before the citizen answers: {acts:?}"
    );
    c.dial_citizen("13800138000", Duration::from_secs(30), t0)
        .unwrap();
    assert_eq!(
        drain(&mut c),
        vec![Action::Ring {
            leg: CITIZEN,
            dial: Dial::Number("13800138000".into())
        }]
    );
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    c.handle_leg(CITIZEN, LegEvent::Answered, t0 + Duration::from_secs(5));
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::Flow(FlowNote::CitizenAnswered)));
    assert!(acts.contains(&pair(1)), "{acts:?}");
    // The citizen hangs up: the owner is told; then everything ends.
    c.handle_leg(CITIZEN, LegEvent::HungUp, t0 + Duration::from_secs(50));
    assert_eq!(drain(&mut c), vec![Action::Flow(FlowNote::CitizenGone)]);
    c.handle_citizen_gone(t0 + Duration::from_secs(50));
    let acts = drain(&mut c);
    assert!(acts.contains(&Action::HangUp(CITIZEN)));
    assert!(acts.contains(&Action::HangUp(1)));
    assert!(acts.contains(&Action::Acd(AcdOp::ConversationEnded(CallKey(7)))));
}

#[test]
fn a_callback_citizen_who_does_not_answer_is_cancelled_and_reported() {
    let t0 = Instant::now();
    let mut c = Control::outbound();
    c.handle_offer(agent("1004"), CallKey(7), RING, t0);
    c.handle_leg(1, LegEvent::Answered, t0);
    c.dial_citizen("13800138000", Duration::from_secs(30), t0)
        .unwrap();
    drain(&mut c);
    c.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(drain(&mut c), vec![Action::Cancel(CITIZEN)]);
    c.handle_leg(
        CITIZEN,
        LegEvent::Failed("no answer".into()),
        t0 + Duration::from_secs(30),
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::Flow(FlowNote::CitizenUnreached("no answer".into()))]
    );
    // The agent is still on: the owner tells them and ends the call.
    assert!(c.is_talking());
}
