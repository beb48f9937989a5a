use std::collections::BTreeSet;

use super::*;

const UNSAT: CaseState = CaseState::Revisited { unsatisfied: true };
const SAT: CaseState = CaseState::Revisited { unsatisfied: false };

/// A valid action of each kind (with all required data filled in).
fn sample(kind: ActionKind) -> Action {
    match kind {
        ActionKind::Answer => Action::Answer {
            summary: "told the opening hours".into(),
        },
        ActionKind::Forward => Action::Forward {
            department: "housing".into(),
        },
        ActionKind::Dispatch => Action::Dispatch {
            department: "housing".into(),
            mode: DispatchMode::Phone,
        },
        ActionKind::Accept => Action::Accept,
        ActionKind::Return => Action::Return {
            reason: "not our district".into(),
        },
        ActionKind::RequestExtension => Action::RequestExtension {
            days: 5,
            reason: "needs a site visit".into(),
        },
        ActionKind::ApproveExtension => Action::ApproveExtension,
        ActionKind::RefuseExtension => Action::RefuseExtension,
        ActionKind::Urge => Action::Urge {
            note: String::new(),
        },
        ActionKind::Reply => Action::Reply {
            result: "street light repaired".into(),
        },
        ActionKind::Revisit => Action::Revisit {
            satisfaction: Satisfaction::Satisfied,
        },
        ActionKind::Redo => Action::Redo { department: None },
        ActionKind::Close => Action::Close {
            note: Some("duplicate of 202510010001".into()),
        },
        ActionKind::Redispatch => Action::Redispatch {
            department: "housing-east".into(),
        },
        ActionKind::CalledBack => Action::CalledBack,
        ActionKind::LeftVoicemail => Action::LeftVoicemail,
        ActionKind::RequestCallback => Action::RequestCallback,
        ActionKind::Register => Action::Register,
    }
}

use ActionKind as A;
use CaseState as S;
use Role::{Admin as Ad, Agent as Ag, DepartmentHandler as Dh, Supervisor as Su, System as Sy};

/// The whitelist as the 12345 rules state it, written out independently of [`RULES`]:
/// (from, action, to, who).
fn expected() -> Vec<(CaseState, ActionKind, CaseState, Vec<Role>)> {
    let hot = vec![Ag, Su, Ad];
    let dep = vec![Dh, Su, Ad];
    let sup = vec![Su, Ad];
    let sys = vec![Sy];
    let cb = vec![Sy, Ag, Su, Ad];
    // The automatic revisit: the IVR records the verdict and redoes an unsatisfied case.
    let rev = vec![Ag, Su, Ad, Sy];
    vec![
        // A call's row becomes a work order only by the call.
        (S::NoRequest, A::Register, S::Registered, sys.clone()),
        (
            S::NoRequest,
            A::LeftVoicemail,
            S::CallbackPending,
            sys.clone(),
        ),
        (
            S::NoRequest,
            A::RequestCallback,
            S::CallbackPending,
            sys.clone(),
        ),
        (S::Registered, A::Answer, S::Answered, hot.clone()),
        (S::Registered, A::Forward, S::Forwarded, hot.clone()),
        (S::Registered, A::Dispatch, S::Dispatched, hot.clone()),
        (
            S::Registered,
            A::LeftVoicemail,
            S::CallbackPending,
            sys.clone(),
        ),
        (
            S::Registered,
            A::RequestCallback,
            S::CallbackPending,
            cb.clone(),
        ),
        (S::Registered, A::Close, S::Closed, hot.clone()),
        (S::Voicemail, A::LeftVoicemail, S::CallbackPending, sys),
        (S::Voicemail, A::RequestCallback, S::CallbackPending, cb),
        (S::Voicemail, A::CalledBack, S::Registered, hot.clone()),
        (S::Voicemail, A::Answer, S::Answered, hot.clone()),
        (S::Voicemail, A::Forward, S::Forwarded, hot.clone()),
        (S::Voicemail, A::Dispatch, S::Dispatched, hot.clone()),
        (S::Voicemail, A::Close, S::Closed, sup.clone()),
        (
            S::CallbackPending,
            A::CalledBack,
            S::Registered,
            hot.clone(),
        ),
        (S::CallbackPending, A::Answer, S::Answered, hot.clone()),
        (S::CallbackPending, A::Forward, S::Forwarded, hot.clone()),
        (S::CallbackPending, A::Dispatch, S::Dispatched, hot.clone()),
        (S::CallbackPending, A::Close, S::Closed, sup.clone()),
        (S::Dispatched, A::Accept, S::Accepted, dep.clone()),
        (S::Dispatched, A::Return, S::Returned, dep.clone()),
        (S::Dispatched, A::Urge, S::Dispatched, hot.clone()),
        (S::Dispatched, A::Redispatch, S::Dispatched, dep.clone()),
        (S::Accepted, A::Reply, S::Replied, dep.clone()),
        (S::Accepted, A::RequestExtension, S::Accepted, dep.clone()),
        (S::Accepted, A::ApproveExtension, S::Accepted, sup.clone()),
        (S::Accepted, A::RefuseExtension, S::Accepted, sup.clone()),
        (S::Accepted, A::Urge, S::Accepted, hot.clone()),
        (S::Accepted, A::Redispatch, S::Dispatched, dep.clone()),
        (S::Returned, A::Redispatch, S::Dispatched, hot.clone()),
        (S::Returned, A::Close, S::Closed, sup.clone()),
        // The sample revisit is "satisfied"; the unsatisfied one is tested below.
        (S::Replied, A::Revisit, SAT, rev.clone()),
        (S::Replied, A::Close, S::Closed, sup.clone()),
        (SAT, A::Close, S::Closed, hot.clone()),
        (UNSAT, A::Redo, S::Redo, rev),
        (UNSAT, A::Close, S::Closed, sup),
        (S::Redo, A::Accept, S::Accepted, dep.clone()),
        (S::Redo, A::Return, S::Returned, dep.clone()),
        (S::Redo, A::Urge, S::Redo, hot),
        (S::Redo, A::Redispatch, S::Dispatched, dep),
    ]
}

#[test]
fn the_table_is_exactly_the_expected_whitelist() {
    let key = |s: CaseState, a: ActionKind| (s.as_str(), a.event());
    let want: BTreeSet<_> = expected().iter().map(|(s, a, ..)| key(*s, *a)).collect();
    let have: BTreeSet<_> = RULES.iter().map(|r| key(r.from, r.action)).collect();
    assert_eq!(have, want);
    assert_eq!(RULES.len(), want.len(), "a (state, action) appears twice");
}

#[test]
fn every_row_applies_for_its_roles_and_is_forbidden_for_the_others() {
    for (from, kind, to, who) in expected() {
        for role in Role::ALL {
            let got = apply(from, &sample(kind), role);
            if who.contains(&role) {
                let t = got.unwrap_or_else(|e| panic!("{from} {kind} by {role}: {e}"));
                assert_eq!(t.from, from);
                assert_eq!(t.to, to, "{from} {kind}");
                assert_eq!(t.event, kind.event());
            } else {
                assert_eq!(
                    got,
                    Err(TransitionError::Forbidden {
                        from,
                        action: kind,
                        who: role
                    }),
                    "{from} {kind} by {role}"
                );
            }
        }
    }
}

#[test]
fn every_pair_not_in_the_table_is_refused_for_everyone() {
    let listed: BTreeSet<_> = expected()
        .iter()
        .map(|(s, a, ..)| (s.as_str(), a.event()))
        .collect();
    let mut refused = 0;
    for from in CaseState::ALL {
        for kind in ActionKind::ALL {
            if listed.contains(&(from.as_str(), kind.event())) {
                continue;
            }
            for role in Role::ALL {
                assert_eq!(
                    apply(from, &sample(kind), role),
                    Err(TransitionError::NotAllowed { from, action: kind }),
                    "{from} {kind} by {role}"
                );
            }
            refused += 1;
        }
    }
    assert_eq!(refused, 14 * 18 - 42);
}

#[test]
fn final_states_allow_nothing() {
    for state in CaseState::ALL {
        let none = ActionKind::ALL.iter().all(|&k| rule(state, k).is_none());
        assert_eq!(state.is_final(), none, "{state}");
    }
}

#[test]
fn the_store_status_changes_of_today_are_in_the_table() {
    // The statuses stored before the lifecycle read back as the same states.
    for text in ["registered", "voicemail", "callback_pending"] {
        assert_eq!(CaseState::parse(text).unwrap().as_str(), text);
    }
    let t = apply(S::Registered, &Action::LeftVoicemail, Sy).unwrap();
    assert_eq!((t.to, t.event), (S::CallbackPending, "voicemail"));
    let t = apply(S::Registered, &Action::RequestCallback, Sy).unwrap();
    assert_eq!((t.to, t.event), (S::CallbackPending, "callback_requested"));
}

#[test]
fn the_automatic_revisit_may_revisit_and_redo_but_not_close() {
    let unsatisfied = Action::Revisit {
        satisfaction: Satisfaction::Unsatisfied,
    };
    let t = apply(S::Replied, &unsatisfied, Sy).unwrap();
    assert_eq!((t.to, t.event), (UNSAT, "revisited"));
    let t = apply(UNSAT, &Action::Redo { department: None }, Sy).unwrap();
    assert_eq!((t.to, t.deadline), (S::Redo, DeadlineEffect::Restart));
    // Closing stays with people, also after a satisfied answer on the phone.
    assert_eq!(allowed_actions(SAT, Sy), Vec::<ActionKind>::new());
    assert_eq!(allowed_actions(UNSAT, Sy), vec![ActionKind::Redo]);
    assert_eq!(allowed_actions(S::Replied, Sy), vec![ActionKind::Revisit]);
}

#[test]
fn unsatisfied_revisit_leads_to_redo_or_a_supervisor_close_with_a_note() {
    let revisit = |satisfaction| Action::Revisit { satisfaction };
    let t = apply(S::Replied, &revisit(Satisfaction::Unsatisfied), Ag).unwrap();
    assert_eq!(t.to, UNSAT);
    assert_eq!(t.event, "revisited");
    assert_eq!(
        allowed_actions(UNSAT, Ag),
        vec![ActionKind::Redo],
        "an agent's only way on is a redo"
    );
    assert_eq!(
        allowed_actions(UNSAT, Su),
        vec![ActionKind::Redo, ActionKind::Close]
    );

    let close = |note: Option<&str>| Action::Close {
        note: note.map(str::to_owned),
    };
    assert!(matches!(
        apply(UNSAT, &close(Some("x")), Ag),
        Err(TransitionError::Forbidden { .. })
    ));
    let missing = Err(TransitionError::Missing {
        action: ActionKind::Close,
        field: "note",
    });
    assert_eq!(apply(UNSAT, &close(None), Su), missing);
    assert_eq!(apply(UNSAT, &close(Some("  ")), Su), missing);
    let t = apply(UNSAT, &close(Some("citizen wants the impossible")), Su).unwrap();
    assert_eq!(t.to, S::Closed);

    let t = apply(UNSAT, &Action::Redo { department: None }, Ag).unwrap();
    assert_eq!((t.to, t.deadline), (S::Redo, DeadlineEffect::Restart));

    for s in [Satisfaction::Satisfied, Satisfaction::MostlySatisfied] {
        let t = apply(S::Replied, &revisit(s), Ag).unwrap();
        assert_eq!(t.to, SAT);
        // After a satisfied revisit an agent closes without a note.
        assert_eq!(apply(SAT, &close(None), Ag).unwrap().to, S::Closed);
        assert!(matches!(
            apply(SAT, &Action::Redo { department: None }, Su),
            Err(TransitionError::NotAllowed { .. })
        ));
    }
}

#[test]
fn a_whole_life_with_return_extension_urge_and_redo() {
    let steps: Vec<(Action, Role, CaseState, DeadlineEffect)> = vec![
        (
            sample(A::Dispatch),
            Ag,
            S::Dispatched,
            DeadlineEffect::Start(DispatchMode::Phone),
        ),
        (sample(A::Return), Dh, S::Returned, DeadlineEffect::Stop),
        (
            sample(A::Redispatch),
            Su,
            S::Dispatched,
            DeadlineEffect::Restart,
        ),
        (sample(A::Urge), Ag, S::Dispatched, DeadlineEffect::Keep),
        (sample(A::Accept), Dh, S::Accepted, DeadlineEffect::Keep),
        (
            sample(A::RequestExtension),
            Dh,
            S::Accepted,
            DeadlineEffect::Keep,
        ),
        (
            sample(A::ApproveExtension),
            Su,
            S::Accepted,
            DeadlineEffect::Extend,
        ),
        (sample(A::Urge), Ag, S::Accepted, DeadlineEffect::Keep),
        (sample(A::Urge), Ag, S::Accepted, DeadlineEffect::Keep),
        (sample(A::Reply), Dh, S::Replied, DeadlineEffect::Stop),
        (
            Action::Revisit {
                satisfaction: Satisfaction::Unsatisfied,
            },
            Ag,
            UNSAT,
            DeadlineEffect::Keep,
        ),
        (
            Action::Redo {
                department: Some("housing-west".into()),
            },
            Ag,
            S::Redo,
            DeadlineEffect::Restart,
        ),
        (sample(A::Urge), Su, S::Redo, DeadlineEffect::Keep),
        (sample(A::Accept), Dh, S::Accepted, DeadlineEffect::Keep),
        (sample(A::Reply), Dh, S::Replied, DeadlineEffect::Stop),
        (
            Action::Revisit {
                satisfaction: Satisfaction::MostlySatisfied,
            },
            Ag,
            SAT,
            DeadlineEffect::Keep,
        ),
        (
            Action::Close { note: None },
            Ag,
            S::Closed,
            DeadlineEffect::Stop,
        ),
    ];
    let mut state = S::Registered;
    for (action, who, to, deadline) in steps {
        let t = apply(state, &action, who).unwrap_or_else(|e| panic!("{action:?}: {e}"));
        assert_eq!((t.to, t.deadline), (to, deadline), "{action:?}");
        assert_eq!(t.changes_state(), state != to);
        state = t.to;
    }
    assert!(state.is_final());
}

#[test]
fn callbacks_lead_back_to_normal_handling() {
    let t = apply(S::CallbackPending, &Action::CalledBack, Ag).unwrap();
    assert_eq!((t.to, t.event), (S::Registered, "called_back"));
    let t = apply(S::CallbackPending, &sample(A::Dispatch), Ag).unwrap();
    assert_eq!(t.to, S::Dispatched);
    assert!(matches!(
        apply(S::CallbackPending, &Action::CalledBack, Sy),
        Err(TransitionError::Forbidden { .. })
    ));
}

#[test]
fn missing_data_is_refused() {
    let cases: Vec<(CaseState, Action, Role, TransitionError)> = vec![
        (
            S::Registered,
            Action::Answer {
                summary: " ".into(),
            },
            Ag,
            TransitionError::Missing {
                action: A::Answer,
                field: "summary",
            },
        ),
        (
            S::Registered,
            Action::Dispatch {
                department: String::new(),
                mode: DispatchMode::Urgent,
            },
            Ag,
            TransitionError::Missing {
                action: A::Dispatch,
                field: "department",
            },
        ),
        (
            S::Dispatched,
            Action::Return {
                reason: String::new(),
            },
            Dh,
            TransitionError::Missing {
                action: A::Return,
                field: "reason",
            },
        ),
        (
            S::Accepted,
            Action::RequestExtension {
                days: 0,
                reason: "x".into(),
            },
            Dh,
            TransitionError::ZeroDays,
        ),
        (
            S::Accepted,
            Action::RequestExtension {
                days: 2,
                reason: "\n".into(),
            },
            Dh,
            TransitionError::Missing {
                action: A::RequestExtension,
                field: "reason",
            },
        ),
        (
            S::Accepted,
            Action::Reply {
                result: String::new(),
            },
            Dh,
            TransitionError::Missing {
                action: A::Reply,
                field: "result",
            },
        ),
        (
            UNSAT,
            Action::Redo {
                department: Some(String::new()),
            },
            Ag,
            TransitionError::Missing {
                action: A::Redo,
                field: "department",
            },
        ),
        (
            S::Registered,
            Action::Close { note: None },
            Ag,
            TransitionError::Missing {
                action: A::Close,
                field: "note",
            },
        ),
    ];
    for (state, action, who, err) in cases {
        assert_eq!(apply(state, &action, who), Err(err), "{action:?}");
    }
}

#[test]
fn the_state_is_checked_before_the_role_and_the_role_before_the_data() {
    // Wrong state and wrong role: the state wins.
    assert!(matches!(
        apply(S::Registered, &sample(A::Reply), Ag),
        Err(TransitionError::NotAllowed { .. })
    ));
    // Right state, wrong role, missing data: the role wins.
    assert!(matches!(
        apply(
            S::Accepted,
            &Action::Reply {
                result: String::new()
            },
            Ag
        ),
        Err(TransitionError::Forbidden { .. })
    ));
}

#[test]
fn error_messages_say_what_to_do() {
    let msg = |s, k: ActionKind, r| apply(s, &sample(k), r).unwrap_err().to_string();
    assert_eq!(
        msg(S::Registered, A::Reply, Dh),
        "cannot reply to a case that is registered (it must be dispatched and accepted first)"
    );
    assert_eq!(
        msg(S::Dispatched, A::Reply, Dh),
        "cannot reply to a case that is dispatched (it must be accepted first)"
    );
    assert_eq!(
        msg(S::Accepted, A::Revisit, Ag),
        "cannot revisit a case that is accepted (it must be replied to first)"
    );
    assert_eq!(
        msg(S::Returned, A::Accept, Dh),
        "cannot accept a case that is returned (it must be redispatched first)"
    );
    assert_eq!(
        msg(S::CallbackPending, A::Urge, Ag),
        "cannot urge a case that is awaiting a callback (it must be dispatched first)"
    );
    assert_eq!(
        msg(S::Replied, A::Redo, Ag),
        "cannot redo a case that is replied (it must be revisited first)"
    );
    assert_eq!(
        msg(S::Closed, A::Dispatch, Ag),
        "cannot dispatch a case that is closed (it is final)"
    );
    assert_eq!(
        msg(S::Dispatched, A::Answer, Ag),
        "cannot answer a case that is dispatched"
    );
    assert_eq!(
        msg(S::Registered, A::Dispatch, Dh),
        "a department handler cannot dispatch a case that is registered \
         (allowed for: agent, supervisor, admin)"
    );
    assert_eq!(
        msg(S::Accepted, A::ApproveExtension, Ag),
        "an agent cannot approve an extension for a case that is accepted \
         (allowed for: supervisor, admin)"
    );
    let e = apply(
        S::Dispatched,
        &Action::Return {
            reason: String::new(),
        },
        Dh,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "to return a case, give the reason");
    // Every refusal has a message (the hint search terminates for every pair).
    for s in CaseState::ALL {
        for k in ActionKind::ALL {
            if let Err(e) = apply(s, &sample(k), Ag) {
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn states_round_trip_through_text_and_json() {
    let mut texts = BTreeSet::new();
    for s in CaseState::ALL {
        assert_eq!(CaseState::parse(s.as_str()), Some(s));
        assert_eq!(s.to_string(), s.as_str());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, format!("\"{}\"", s.as_str()));
        assert_eq!(serde_json::from_str::<CaseState>(&json).unwrap(), s);
        assert!(texts.insert(s.as_str()));
    }
    assert_eq!(CaseState::parse("escalated"), None);
    assert!(serde_json::from_str::<CaseState>("\"escalated\"").is_err());
    assert_eq!(
        serde_json::to_string(&UNSAT).unwrap(),
        "\"revisited_unsatisfied\""
    );
}

#[test]
fn actions_and_transitions_serialize_as_tagged_json() {
    let a = Action::Dispatch {
        department: "water".into(),
        mode: DispatchMode::Urgent,
    };
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"action": "dispatch", "department": "water", "mode": "urgent"})
    );
    assert_eq!(serde_json::from_value::<Action>(json).unwrap(), a);
    for k in ActionKind::ALL {
        let a = sample(k);
        let back: Action = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        assert_eq!(a.kind(), k);
    }
    let t = apply(S::Registered, &a, Ag).unwrap();
    assert_eq!(
        serde_json::to_value(t).unwrap(),
        serde_json::json!({
            "from": "registered", "to": "dispatched", "event": "dispatched",
            "deadline": {"start": "urgent"}
        })
    );
}

#[test]
fn satisfaction_scores_match_the_survey_keys() {
    for s in [
        Satisfaction::Satisfied,
        Satisfaction::MostlySatisfied,
        Satisfaction::Unsatisfied,
    ] {
        assert_eq!(Satisfaction::from_score(s.score()), Some(s));
    }
    assert_eq!(Satisfaction::from_score(0), None);
    assert_eq!(Satisfaction::from_score(4), None);
    assert_eq!(Satisfaction::MostlySatisfied.as_str(), "mostly_satisfied");
}

#[test]
fn urges_are_possible_exactly_while_a_department_holds_the_case() {
    for s in CaseState::ALL {
        assert_eq!(rule(s, A::Urge).is_some(), s.with_department(), "{s}");
    }
}
