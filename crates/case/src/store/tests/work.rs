//! Store tests of work orders through their life: departments, fields, transitions,
//! deadlines, extensions, search, repeat callers, users and sessions, recording audit.
//! Each runs on both backends (listed in `on_both_backends!` in `tests.rs`).

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::backends::Db;
use super::{day, new_call};
use crate::calendar::{DeadlinePolicy, WorkCalendar};
use crate::error::CaseError;
use crate::lifecycle::{Action, CaseState, DispatchMode, Role, Satisfaction, TransitionError};
use crate::model::{
    Actor, CaseDetail, CaseFields, CaseQuery, Category, Channel, ExtensionStatus, HandlingMode,
    NewCase, NewDepartment, NewRecording, NewUser, RecordingKind,
};
use crate::store::CaseStore;
use crate::ticket;

pub(super) fn cal() -> WorkCalendar {
    WorkCalendar::weekdays(chrono_tz::Asia::Shanghai)
}

/// Monday 2026-11-23 at `h`:00 UTC (+8 h in Shanghai), plus `days` calendar days.
pub(super) fn mon(days: i64, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, h, 0, 0).unwrap() + Duration::days(days)
}

fn agent() -> Actor {
    Actor::new("agent7", Role::Agent)
}
fn supervisor() -> Actor {
    Actor::new("sup1", Role::Supervisor)
}
pub(super) fn handler() -> Actor {
    Actor::new("handler-a", Role::DepartmentHandler)
}

fn dept(code: &str, parent: Option<&str>, level: u8) -> NewDepartment {
    NewDepartment {
        code: code.into(),
        name: format!("Unit {code}"),
        parent: parent.map(Into::into),
        level,
    }
}

/// district-a (1) > district-a.s1 (2) > district-a.s1.c1 (3); district-a.s2 (2);
/// housing (1).
pub(super) async fn departments(store: &CaseStore) {
    for d in [
        dept("housing", None, 1),
        dept("district-a", None, 1),
        dept("district-a.s2", Some("district-a"), 2),
        dept("district-a.s1", Some("district-a"), 2),
        dept("district-a.s1.c1", Some("district-a.s1"), 3),
    ] {
        store.add_department(d, Utc::now()).await.unwrap();
    }
}

pub(super) async fn act(
    store: &CaseStore,
    ticket: &str,
    action: Action,
    who: &Actor,
    now: DateTime<Utc>,
) -> Result<CaseDetail, CaseError> {
    store
        .transition(ticket, action, who, &cal(), &DeadlinePolicy::default(), now)
        .await
}

fn dispatch(code: &str, mode: DispatchMode) -> Action {
    Action::Dispatch {
        department: code.into(),
        mode,
    }
}

fn events(d: &CaseDetail) -> Vec<&str> {
    d.events.iter().map(|e| e.event.as_str()).collect()
}

/// A registered case with category `consult`, dispatched by phone to `district-a` on
/// Monday 10:00 Shanghai.
pub(super) async fn dispatched_case(store: &CaseStore, n: u32) -> String {
    let opened = store
        .open_answered_call(new_call(n, day(2026, 11, 21)))
        .await
        .unwrap();
    let fields = CaseFields {
        category: Some(Category::Consult),
        subject: Some("Streetlight out".into()),
        ..CaseFields::default()
    };
    store
        .update_case_fields(&opened.ticket, fields, &agent(), Utc::now())
        .await
        .unwrap();
    act(
        store,
        &opened.ticket,
        dispatch("district-a", DispatchMode::Phone),
        &agent(),
        mon(0, 2),
    )
    .await
    .unwrap();
    opened.ticket
}

/// What must not change when an action is refused.
async fn snapshot(store: &CaseStore, ticket: &str) -> (CaseState, Option<DateTime<Utc>>, usize) {
    let d = store.case_by_ticket(ticket).await.unwrap().unwrap();
    (d.case.status, d.case.deadline, d.events.len())
}

pub(super) async fn departments_form_a_tree(db: Db) {
    let store = &db.store;
    departments(store).await;
    let codes: Vec<String> = store
        .departments()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.code)
        .collect();
    assert_eq!(
        codes,
        [
            "district-a",
            "district-a.s1",
            "district-a.s1.c1",
            "district-a.s2",
            "housing"
        ]
    );
    let c1 = store.department("district-a.s1.c1").await.unwrap().unwrap();
    assert_eq!((c1.level, c1.parent.as_deref()), (3, Some("district-a.s1")));
    assert!(c1.active);
    assert!(store.department("nope").await.unwrap().is_none());

    assert!(store
        .is_within("district-a.s1.c1", "district-a")
        .await
        .unwrap());
    assert!(store
        .is_within("district-a.s1", "district-a.s1")
        .await
        .unwrap());
    assert!(!store
        .is_within("district-a", "district-a.s1")
        .await
        .unwrap());
    assert!(!store
        .is_within("district-a.s2", "district-a.s1")
        .await
        .unwrap());
    assert!(!store.is_within("housing", "district-a").await.unwrap());
    assert!(!store.is_within("nope", "district-a").await.unwrap());

    let err = store
        .add_department(dept("housing", None, 1), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::DepartmentExists(_)), "{err}");
    for (bad, field) in [
        (dept("x", None, 2), "parent"),
        (dept("x", Some("housing"), 1), "parent"),
        (dept("x", Some("district-a.s1"), 2), "level"),
        (dept("X y", None, 1), "code"),
        (dept("x", Some("housing"), 4), "level"),
    ] {
        match store.add_department(bad, Utc::now()).await.unwrap_err() {
            CaseError::InvalidField { field: f, .. } => assert_eq!(f, field),
            other => panic!("{other}"),
        }
    }
    let err = store
        .add_department(dept("x", Some("nope"), 2), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::DepartmentNotFound(_)), "{err}");
    assert_eq!(store.departments().await.unwrap().len(), 5);

    let off = store.set_department_active("housing", false).await.unwrap();
    assert!(!off.active);
}

pub(super) async fn full_life_of_a_dispatched_case(db: Db) {
    let store = &db.store;
    departments(store).await;
    let ticket = dispatched_case(store, 1).await;

    let d = store.case_by_ticket(&ticket).await.unwrap().unwrap();
    assert_eq!(d.case.status, CaseState::Dispatched);
    assert_eq!(d.case.department.as_deref(), Some("district-a"));
    assert_eq!(d.order.handling_mode, Some(HandlingMode::Dispatched));
    assert_eq!(d.order.dispatch_mode, Some(DispatchMode::Phone));
    // Monday 10:00 Shanghai + 3 working days: the end of Thursday, Shanghai time.
    let due = Utc.with_ymd_and_hms(2026, 11, 26, 15, 59, 59).unwrap();
    assert_eq!(d.case.deadline, Some(due));

    let d = act(store, &ticket, Action::Accept, &handler(), mon(0, 3))
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Accepted);
    let reply = Action::Reply {
        result: "Fixed the light".into(),
    };
    let d = act(store, &ticket, reply, &handler(), mon(1, 3))
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Replied);
    assert_eq!(d.order.resolved_at, Some(mon(1, 3)));
    assert_eq!(
        d.case.deadline,
        Some(due),
        "the deadline is kept for the record"
    );
    let revisit = Action::Revisit {
        satisfaction: Satisfaction::Satisfied,
    };
    let d = act(store, &ticket, revisit, &agent(), mon(2, 3))
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Revisited { unsatisfied: false });
    assert_eq!(d.order.satisfaction, Some(Satisfaction::Satisfied));
    let d = act(
        store,
        &ticket,
        Action::Close { note: None },
        &agent(),
        mon(2, 4),
    )
    .await
    .unwrap();
    assert_eq!(d.case.status, CaseState::Closed);
    assert_eq!(d.order.closed_at, Some(mon(2, 4)));

    assert_eq!(
        events(&d),
        [
            "opened",
            "registered",
            "updated",
            "dispatched",
            "accepted",
            "replied",
            "revisited",
            "closed"
        ]
    );
    let trail: Vec<_> = d.events[3..]
        .iter()
        .map(|e| (e.actor.as_str(), e.from_status, e.to_status, e.at))
        .collect();
    use CaseState::*;
    assert_eq!(
        trail,
        [
            ("agent7", Some(Registered), Some(Dispatched), mon(0, 2)),
            ("handler-a", Some(Dispatched), Some(Accepted), mon(0, 3)),
            ("handler-a", Some(Accepted), Some(Replied), mon(1, 3)),
            (
                "agent7",
                Some(Replied),
                Some(Revisited { unsatisfied: false }),
                mon(2, 3)
            ),
            (
                "agent7",
                Some(Revisited { unsatisfied: false }),
                Some(Closed),
                mon(2, 4)
            ),
        ]
    );
    assert!(d.events[3].note.as_deref().unwrap().contains("district-a"));
    assert_eq!(d.events[5].note.as_deref(), Some("Fixed the light"));

    // Answered on the call: final at once.
    let opened = store
        .open_answered_call(new_call(2, day(2026, 11, 21)))
        .await
        .unwrap();
    let answer = Action::Answer {
        summary: "Told them the opening hours".into(),
    };
    let d = act(store, &opened.ticket, answer, &agent(), mon(0, 5))
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Answered);
    assert_eq!(d.order.handling_mode, Some(HandlingMode::Answered));
    assert_eq!(d.order.closed_at, Some(mon(0, 5)));
}

pub(super) async fn returned_case_is_redispatched(db: Db) {
    let store = &db.store;
    departments(store).await;
    let ticket = dispatched_case(store, 1).await;
    let ret = Action::Return {
        reason: "Not ours: a housing matter".into(),
    };
    let d = act(store, &ticket, ret, &handler(), mon(0, 4))
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Returned);
    assert_eq!(
        d.order.returned_reason.as_deref(),
        Some("Not ours: a housing matter")
    );
    let redispatch = Action::Redispatch {
        department: "housing".into(),
    };
    let d = act(store, &ticket, redispatch, &agent(), mon(1, 2))
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Dispatched);
    assert_eq!(d.case.department.as_deref(), Some("housing"));
    assert_eq!(d.order.department_name.as_deref(), Some("Unit housing"));
    // A new deadline, by phone again, from Tuesday: the end of Friday.
    assert_eq!(
        d.case.deadline,
        Some(Utc.with_ymd_and_hms(2026, 11, 27, 15, 59, 59).unwrap())
    );
    let last = d.events.last().unwrap();
    assert_eq!(last.event, "redispatched");
    assert_eq!(last.note.as_deref(), Some("from district-a to housing"));
    assert_eq!(
        (last.from_status, last.to_status),
        (Some(CaseState::Returned), Some(CaseState::Dispatched))
    );
}

pub(super) async fn unsatisfied_revisit_is_redone_with_a_new_deadline(db: Db) {
    let store = &db.store;
    departments(store).await;
    let ticket = dispatched_case(store, 1).await;
    act(store, &ticket, Action::Accept, &handler(), mon(0, 3))
        .await
        .unwrap();
    let reply = Action::Reply {
        result: "Done".into(),
    };
    act(store, &ticket, reply, &handler(), mon(0, 4))
        .await
        .unwrap();
    let revisit = Action::Revisit {
        satisfaction: Satisfaction::Unsatisfied,
    };
    let d = act(store, &ticket, revisit, &agent(), mon(3, 2))
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Revisited { unsatisfied: true });
    assert_eq!(d.order.satisfaction, Some(Satisfaction::Unsatisfied));
    // An agent may not close it now; a supervisor may, with a note. Neither here.
    let err = act(
        store,
        &ticket,
        Action::Close { note: None },
        &agent(),
        mon(3, 3),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CaseError::Transition { .. }), "{err}");

    let d = act(
        store,
        &ticket,
        Action::Redo { department: None },
        &agent(),
        mon(3, 3),
    )
    .await
    .unwrap();
    assert_eq!(d.case.status, CaseState::Redo);
    assert_eq!(d.order.redo_count, 1);
    assert_eq!(d.order.resolved_at, None);
    assert_eq!(d.case.department.as_deref(), Some("district-a"));
    // Redone on Thursday: 3 working days → the end of the next Tuesday.
    let due = cal().add_working_days(mon(3, 3), 3);
    assert_eq!(due, Utc.with_ymd_and_hms(2026, 12, 1, 15, 59, 59).unwrap());
    assert_eq!(d.case.deadline, Some(due));
    let d = act(store, &ticket, Action::Accept, &handler(), mon(3, 4))
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Accepted);
}

pub(super) async fn urges_and_extensions(db: Db) {
    let store = &db.store;
    departments(store).await;
    let ticket = dispatched_case(store, 1).await;
    let due = store
        .case_by_ticket(&ticket)
        .await
        .unwrap()
        .unwrap()
        .case
        .deadline;
    for i in 0..2 {
        let urge = Action::Urge {
            note: format!("reminder {i}"),
        };
        act(store, &ticket, urge, &agent(), mon(0, 5))
            .await
            .unwrap();
    }
    let d = store.case_by_ticket(&ticket).await.unwrap().unwrap();
    assert_eq!(d.order.urge_count, 2);
    assert_eq!(d.case.status, CaseState::Dispatched);
    let urged = d.events.last().unwrap();
    assert_eq!((urged.event.as_str(), urged.from_status), ("urged", None));

    act(store, &ticket, Action::Accept, &handler(), mon(0, 6))
        .await
        .unwrap();
    let before = snapshot(store, &ticket).await;
    let err = act(
        store,
        &ticket,
        Action::ApproveExtension,
        &supervisor(),
        mon(0, 7),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CaseError::NoPendingExtension(_)), "{err}");
    assert_eq!(snapshot(store, &ticket).await, before);

    let ask = |days| Action::RequestExtension {
        days,
        reason: "Waiting for a contractor".into(),
    };
    act(store, &ticket, ask(2), &handler(), mon(0, 7))
        .await
        .unwrap();
    let err = act(store, &ticket, ask(5), &handler(), mon(0, 7))
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::ExtensionPending(_)), "{err}");
    let err = act(
        store,
        &ticket,
        Action::ApproveExtension,
        &handler(),
        mon(0, 8),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            CaseError::Transition {
                source: TransitionError::Forbidden { .. },
                ..
            }
        ),
        "{err}"
    );
    let d = act(
        store,
        &ticket,
        Action::ApproveExtension,
        &supervisor(),
        mon(0, 8),
    )
    .await
    .unwrap();
    // Thursday's end + 2 working days: the end of the next Monday.
    let extended = Utc.with_ymd_and_hms(2026, 11, 30, 15, 59, 59).unwrap();
    assert_eq!(d.case.deadline, Some(extended));
    assert_eq!(cal().add_working_days(due.unwrap(), 2), extended);

    act(store, &ticket, ask(1), &handler(), mon(1, 2))
        .await
        .unwrap();
    let d = act(
        store,
        &ticket,
        Action::RefuseExtension,
        &supervisor(),
        mon(1, 3),
    )
    .await
    .unwrap();
    assert_eq!(d.case.deadline, Some(extended));
    let ext: Vec<_> = d
        .extensions
        .iter()
        .map(|e| (e.days, e.status, e.decided_by.as_deref()))
        .collect();
    assert_eq!(
        ext,
        [
            (2, ExtensionStatus::Approved, Some("sup1")),
            (1, ExtensionStatus::Refused, Some("sup1"))
        ]
    );
    assert_eq!(d.extensions[0].requested_by, "handler-a");
    let tail: Vec<&str> = events(&d).into_iter().rev().take(4).collect();
    assert_eq!(
        tail,
        [
            "extension_refused",
            "extension_requested",
            "extension_approved",
            "extension_requested"
        ]
    );
}

pub(super) async fn refused_actions_change_nothing(db: Db) {
    let store = &db.store;
    departments(store).await;
    let opened = store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let ticket = opened.ticket;
    let before = snapshot(store, &ticket).await;
    let refused = [
        (Action::Accept, agent()),
        (Action::Accept, handler()),
        (Action::Reply { result: "x".into() }, supervisor()),
        (dispatch("nope", DispatchMode::Phone), agent()),
        (dispatch("  ", DispatchMode::Phone), agent()),
        (Action::Close { note: None }, agent()),
        (Action::ApproveExtension, supervisor()),
    ];
    for (action, who) in refused {
        let shown = format!("{action:?} by {}", who.role);
        assert!(
            act(store, &ticket, action, &who, mon(0, 2)).await.is_err(),
            "{shown}"
        );
        assert_eq!(snapshot(store, &ticket).await, before, "{shown}");
    }
    store.set_department_active("housing", false).await.unwrap();
    let err = act(
        store,
        &ticket,
        dispatch("housing", DispatchMode::Written),
        &agent(),
        mon(0, 2),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CaseError::DepartmentInactive(_)), "{err}");
    assert_eq!(snapshot(store, &ticket).await, before);
    let err = act(store, "2026112199999", Action::Accept, &agent(), mon(0, 2))
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::TicketNotFound(_)), "{err}");

    // A closed case refuses everything, with the state named in the message.
    let close = Action::Close {
        note: Some("silent call".into()),
    };
    act(store, &ticket, close, &agent(), mon(0, 3))
        .await
        .unwrap();
    let before = snapshot(store, &ticket).await;
    let err = act(
        store,
        &ticket,
        dispatch("district-a", DispatchMode::Phone),
        &agent(),
        mon(0, 4),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    assert_eq!(snapshot(store, &ticket).await, before);
}

pub(super) async fn department_handlers_are_limited(db: Db) {
    let store = &db.store;
    departments(store).await;
    let opened = store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let ticket = opened.ticket;
    let forbidden = |e: &CaseError| {
        matches!(
            e,
            CaseError::Transition {
                source: TransitionError::Forbidden { .. },
                ..
            }
        )
    };
    let err = act(
        store,
        &ticket,
        dispatch("district-a", DispatchMode::Phone),
        &handler(),
        mon(0, 2),
    )
    .await
    .unwrap_err();
    assert!(forbidden(&err), "{err}");
    let err = store
        .update_case_fields(
            &ticket,
            CaseFields {
                subject: Some("x".into()),
                ..CaseFields::default()
            },
            &handler(),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::Forbidden(_)), "{err}");

    act(
        store,
        &ticket,
        dispatch("district-a", DispatchMode::Phone),
        &agent(),
        mon(0, 2),
    )
    .await
    .unwrap();
    let urge = Action::Urge {
        note: String::new(),
    };
    let err = act(store, &ticket, urge, &handler(), mon(0, 3))
        .await
        .unwrap_err();
    assert!(forbidden(&err), "{err}");

    // Down its own subtree only, and not to itself or a unit outside it.
    let before = snapshot(store, &ticket).await;
    for code in ["housing", "district-a"] {
        let to = Action::Redispatch {
            department: code.into(),
        };
        let err = act(store, &ticket, to, &handler(), mon(0, 3))
            .await
            .unwrap_err();
        assert!(
            matches!(err, CaseError::NotInSubtree { .. }),
            "{code}: {err}"
        );
        assert_eq!(snapshot(store, &ticket).await, before);
    }
    let down = |code: &str| Action::Redispatch {
        department: code.into(),
    };
    let d = act(store, &ticket, down("district-a.s1"), &handler(), mon(0, 3))
        .await
        .unwrap();
    assert_eq!(d.case.department.as_deref(), Some("district-a.s1"));
    let err = act(store, &ticket, down("district-a.s2"), &handler(), mon(0, 4))
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::NotInSubtree { .. }), "{err}");
    let d = act(
        store,
        &ticket,
        down("district-a.s1.c1"),
        &handler(),
        mon(0, 4),
    )
    .await
    .unwrap();
    assert_eq!(d.case.department.as_deref(), Some("district-a.s1.c1"));
}

pub(super) async fn update_case_fields_checks_every_field(db: Db) {
    let store = &db.store;
    let opened = store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let ticket = opened.ticket;
    let before = store.case_by_ticket(&ticket).await.unwrap().unwrap();
    let good = CaseFields {
        caller_name: Some(" Wang ".into()),
        location: Some("1 Renmin Rd".into()),
        category: Some(Category::Complaint),
        subject: Some("Noise at night".into()),
        description: Some("Line one\nLine two".into()),
        confidential: None,
    };
    for (bad, field) in [
        (
            CaseFields {
                subject: Some("   ".into()),
                ..good.clone()
            },
            "subject",
        ),
        (
            CaseFields {
                location: Some("x".repeat(201)),
                ..good.clone()
            },
            "location",
        ),
        (
            CaseFields {
                caller_name: Some("a\u{7}b".into()),
                ..good.clone()
            },
            "caller_name",
        ),
        (
            CaseFields {
                description: Some("y".repeat(5001)),
                ..good.clone()
            },
            "description",
        ),
    ] {
        match store
            .update_case_fields(&ticket, bad, &agent(), Utc::now())
            .await
        {
            Err(CaseError::InvalidField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
        let now = store.case_by_ticket(&ticket).await.unwrap().unwrap();
        assert_eq!(now, before, "{field}: nothing changed");
    }

    let d = store
        .update_case_fields(&ticket, good.clone(), &agent(), Utc::now())
        .await
        .unwrap();
    assert_eq!(d.order.caller_name.as_deref(), Some("Wang"));
    assert_eq!(d.order.description.as_deref(), Some("Line one\nLine two"));
    assert_eq!(d.case.category, Some(Category::Complaint));
    assert!(!d.order.confidential);
    assert!(
        d.is_confidential(),
        "complaints are confidential by default"
    );
    let ev = d.events.last().unwrap();
    assert_eq!(
        (ev.event.as_str(), ev.actor.as_str()),
        ("updated", "agent7")
    );
    assert_eq!(
        ev.note.as_deref(),
        Some("caller_name, location, category, subject, description")
    );
    // The same values again: nothing to record.
    let again = store
        .update_case_fields(&ticket, good, &agent(), Utc::now())
        .await
        .unwrap();
    assert_eq!(again.events.len(), d.events.len());

    // The finding: an agent turned a complaint into 咨询 and cleared `confidential`, after
    // which handlers saw the number. Only a supervisor may make a confidential case not
    // confidential; the agent's attempt changes nothing.
    let expose = CaseFields {
        category: Some(Category::Consult),
        location: Some(String::new()),
        ..CaseFields::default()
    };
    let before = store.case_by_ticket(&ticket).await.unwrap().unwrap();
    match store
        .update_case_fields(&ticket, expose.clone(), &agent(), Utc::now())
        .await
    {
        Err(CaseError::Forbidden(m)) => assert!(m.contains("supervisor"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.case_by_ticket(&ticket).await.unwrap().unwrap(),
        before
    );
    let d = store
        .update_case_fields(&ticket, expose, &supervisor(), Utc::now())
        .await
        .unwrap();
    assert!(!d.is_confidential());
    let ev = d.events.last().unwrap();
    assert_eq!((ev.event.as_str(), ev.actor.as_str()), ("updated", "sup1"));
    assert_eq!(d.order.location, None, "an empty value clears a field");
    let d = store
        .update_case_fields(
            &ticket,
            CaseFields {
                confidential: Some(true),
                ..CaseFields::default()
            },
            &agent(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(d.is_confidential());
    assert_eq!(
        d.events.last().unwrap().note.as_deref(),
        Some("confidential")
    );
    let clear = CaseFields {
        confidential: Some(false),
        ..CaseFields::default()
    };
    assert!(matches!(
        store
            .update_case_fields(&ticket, clear, &agent(), Utc::now())
            .await,
        Err(CaseError::Forbidden(_))
    ));

    let close = Action::Close {
        note: Some("duplicate".into()),
    };
    act(store, &ticket, close, &agent(), mon(0, 2))
        .await
        .unwrap();
    let err = store
        .update_case_fields(&ticket, CaseFields::default(), &agent(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::CaseFinal(_)), "{err}");
}

pub(super) async fn search_filters(db: Db) {
    let store = &db.store;
    departments(store).await;
    let t1 = dispatched_case(store, 1).await; // district-a, consult, deadline Thu
    let t2 = {
        let o = store
            .open_answered_call(new_call(2, day(2026, 11, 21)))
            .await
            .unwrap();
        let f = CaseFields {
            category: Some(Category::Complaint),
            ..CaseFields::default()
        };
        store
            .update_case_fields(&o.ticket, f, &agent(), Utc::now())
            .await
            .unwrap();
        let to = dispatch("district-a.s1", DispatchMode::Written);
        act(store, &o.ticket, to, &agent(), mon(0, 2))
            .await
            .unwrap();
        o.ticket
    };
    let t3 = store
        .open_answered_call(new_call(3, day(2026, 11, 22)))
        .await
        .unwrap()
        .ticket;
    let tickets = |found: Vec<crate::model::CaseSummary>| -> Vec<String> {
        found.into_iter().map(|c| c.ticket).collect()
    };
    let search = |q: CaseQuery| async move { tickets(store.search_cases(&q).await.unwrap()) };

    assert_eq!(
        search(CaseQuery::default()).await,
        [t3.as_str(), t2.as_str(), t1.as_str()]
    );
    let q = CaseQuery {
        ticket: Some(t2.clone()),
        ..CaseQuery::default()
    };
    assert_eq!(search(q).await, [t2.as_str()]);
    let q = CaseQuery {
        caller_number: Some(new_call(3, day(2026, 11, 22)).caller_number),
        ..CaseQuery::default()
    };
    assert_eq!(search(q).await, [t3.as_str()]);
    let q = CaseQuery {
        status: Some(CaseState::Dispatched),
        ..CaseQuery::default()
    };
    assert_eq!(search(q).await, [t2.as_str(), t1.as_str()]);
    let by_dept = |subtree| CaseQuery {
        department: Some("district-a".into()),
        include_subtree: subtree,
        ..CaseQuery::default()
    };
    assert_eq!(search(by_dept(false)).await, [t1.as_str()]);
    assert_eq!(search(by_dept(true)).await, [t2.as_str(), t1.as_str()]);
    let q = CaseQuery {
        category: Some(Category::Complaint),
        ..CaseQuery::default()
    };
    assert_eq!(search(q).await, [t2.as_str()]);
    // Without the confidential ones (the complaint t2): what a handler's search by number
    // is limited to.
    let q = CaseQuery {
        exclude_confidential: true,
        ..CaseQuery::default()
    };
    assert_eq!(search(q).await, [t3.as_str(), t1.as_str()]);
    let q = CaseQuery {
        caller_number: Some(new_call(2, day(2026, 11, 21)).caller_number),
        exclude_confidential: true,
        ..CaseQuery::default()
    };
    assert!(search(q).await.is_empty());
    // All three cases were created at the same instant (new_call's answer time).
    let created = new_call(1, day(2026, 11, 21)).answered_at;
    let q = CaseQuery {
        from: Some(created),
        to: Some(created + Duration::seconds(1)),
        ..CaseQuery::default()
    };
    assert_eq!(search(q).await.len(), 3);
    let q = CaseQuery {
        to: Some(created),
        ..CaseQuery::default()
    };
    assert!(search(q).await.is_empty());
    // Overdue: the phone case is due Thursday, the written one a week later.
    let overdue = |at| CaseQuery {
        overdue_at: Some(at),
        ..CaseQuery::default()
    };
    assert!(search(overdue(mon(3, 12))).await.is_empty());
    assert_eq!(search(overdue(mon(3, 16))).await, [t1.as_str()]);
    assert_eq!(
        search(overdue(mon(30, 0))).await,
        [t2.as_str(), t1.as_str()]
    );
    let page = CaseQuery {
        limit: 1,
        offset: 1,
        ..CaseQuery::default()
    };
    assert_eq!(search(page).await, [t2.as_str()]);
    let summary = &store.search_cases(&by_dept(false)).await.unwrap()[0];
    assert_eq!(summary.category, Some(Category::Consult));
    assert_eq!(summary.status, CaseState::Dispatched);
    assert!(summary.deadline.is_some());

    let err = store
        .search_cases(&CaseQuery {
            department: Some("nope".into()),
            ..CaseQuery::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::DepartmentNotFound(_)), "{err}");
}

pub(super) async fn repeat_caller_is_recognised_and_linked(db: Db) {
    let store = &db.store;
    let number = "13912345678";
    let call = |n: u32| crate::model::NewCall {
        caller_number: number.into(),
        ..new_call(n, day(2026, 11, 21))
    };
    let first = store.open_answered_call(call(1)).await.unwrap();
    let answered = store.open_answered_call(call(2)).await.unwrap();
    let answer = Action::Answer {
        summary: "Explained".into(),
    };
    act(store, &answered.ticket, answer, &agent(), mon(0, 2))
        .await
        .unwrap();
    let second = store.open_answered_call(call(3)).await.unwrap();
    store
        .open_answered_call(new_call(4, day(2026, 11, 21)))
        .await
        .unwrap();

    let open: Vec<_> = store
        .open_cases_for_number(number)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.ticket)
        .collect();
    assert_eq!(open, [second.ticket.as_str(), first.ticket.as_str()]);

    let rec = store
        .add_recording(NewRecording {
            call: second.call,
            case: second.case,
            kind: RecordingKind::Conversation,
            path: "2026/11/21/x.wav".into(),
            duration_ms: 1000,
            bytes: 8044,
            created_at: mon(0, 3),
        })
        .await
        .unwrap();
    let d = store
        .link_call_to_case(second.call, &first.ticket, &agent(), Utc::now())
        .await
        .unwrap();
    assert_eq!(d.calls.len(), 2);
    assert_eq!(d.recordings.len(), 1);
    assert_eq!(d.recordings[0].id, rec);
    let ev = d.events.last().unwrap();
    assert_eq!(ev.event, "call_linked");
    assert_eq!(ev.actor, "agent7");
    assert!(ev.note.as_deref().unwrap().contains(&second.ticket));

    let dup = store.case_by_ticket(&second.ticket).await.unwrap().unwrap();
    assert_eq!(dup.case.status, CaseState::Closed);
    assert!(dup.calls.is_empty());
    assert_eq!(dup.events.last().unwrap().event, "merged");
    let open: Vec<_> = store
        .open_cases_for_number(number)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.ticket)
        .collect();
    assert_eq!(open, [first.ticket.as_str()]);

    // Not to a final case.
    let third = store.open_answered_call(call(5)).await.unwrap();
    let err = store
        .link_call_to_case(third.call, &answered.ticket, &agent(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::CaseFinal(_)), "{err}");
    // Not by a department handler; unknown calls and tickets are named.
    let err = store
        .link_call_to_case(third.call, &first.ticket, &handler(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::Forbidden(_)), "{err}");
    let err = store
        .link_call_to_case(
            crate::model::CallId(999_999),
            &first.ticket,
            &agent(),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::CallNotFound(_)), "{err}");
    let err = store
        .link_call_to_case(third.call, "2026112199999", &agent(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::TicketNotFound(_)), "{err}");
    // Into the case it is in already: nothing changes.
    let before = store.case_by_ticket(&third.ticket).await.unwrap().unwrap();
    let same = store
        .link_call_to_case(third.call, &third.ticket, &agent(), Utc::now())
        .await
        .unwrap();
    assert_eq!(same, before);
}

fn new_user(name: &str, role: Role, department: Option<&str>) -> NewUser {
    NewUser {
        username: name.into(),
        name: format!("Person {name}"),
        role,
        department: department.map(Into::into),
        extension: None,
        password: "correct horse".into(),
    }
}

pub(super) async fn users_login_and_sessions(db: Db) {
    let store = &db.store;
    departments(store).await;
    let sup = store
        .add_user(new_user("li", Role::Supervisor, None), Utc::now())
        .await
        .unwrap();
    let h = store
        .add_user(
            new_user("wang", Role::DepartmentHandler, Some("district-a")),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(h.department.as_deref(), Some("district-a"));
    assert_eq!(h.role, Role::DepartmentHandler);
    for (bad, field) in [
        (new_user("x", Role::DepartmentHandler, None), "department"),
        (new_user("x", Role::Agent, Some("housing")), "department"),
        (new_user("x", Role::System, None), "role"),
        (new_user("Bad Name", Role::Agent, None), "username"),
        (
            NewUser {
                password: "short".into(),
                ..new_user("x", Role::Agent, None)
            },
            "password",
        ),
    ] {
        match store.add_user(bad, Utc::now()).await.unwrap_err() {
            CaseError::InvalidField { field: f, .. } => assert_eq!(f, field),
            other => panic!("{field}: {other}"),
        }
    }
    let err = store
        .add_user(new_user("li", Role::Agent, None), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::UserExists(_)), "{err}");
    let err = store
        .add_user(
            new_user("zhao", Role::DepartmentHandler, Some("nope")),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::DepartmentNotFound(_)), "{err}");
    let all = store.users().await.unwrap();
    assert_eq!(all, [sup.clone(), h.clone()]);
    let json = serde_json::to_string(&all).unwrap();
    assert!(
        !json.contains("argon2") && !json.contains("correct"),
        "{json}"
    );

    assert_eq!(
        store.verify_login("li", "correct horse").await.unwrap(),
        Some(sup.clone())
    );
    assert_eq!(store.verify_login("li", "wrong horse").await.unwrap(), None);
    assert_eq!(
        store.verify_login("nobody", "correct horse").await.unwrap(),
        None
    );
    assert_eq!(store.verify_login("", "").await.unwrap(), None);

    let t0 = mon(0, 1);
    let token = store
        .create_session(sup.id, t0, Duration::hours(8))
        .await
        .unwrap();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let other = store
        .create_session(sup.id, t0, Duration::hours(8))
        .await
        .unwrap();
    assert_ne!(token, other);
    assert_eq!(
        store
            .session_user(&token, t0 + Duration::hours(7))
            .await
            .unwrap(),
        Some(sup.clone())
    );
    assert_eq!(
        store
            .session_user(&token, t0 + Duration::hours(8))
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(store.session_user("f00d", t0).await.unwrap(), None);
    store.end_session(&token).await.unwrap();
    assert_eq!(store.session_user(&token, t0).await.unwrap(), None);
    assert_eq!(store.session_user(&other, t0).await.unwrap(), Some(sup));

    // Disabled: no login, no sessions.
    store.set_user_disabled("li", true).await.unwrap();
    assert_eq!(
        store.verify_login("li", "correct horse").await.unwrap(),
        None
    );
    assert_eq!(store.session_user(&other, t0).await.unwrap(), None);
    store.set_user_disabled("li", false).await.unwrap();
    assert!(store
        .verify_login("li", "correct horse")
        .await
        .unwrap()
        .is_some());
}

pub(super) async fn recording_access_is_audited(db: Db) {
    let store = &db.store;
    let opened = store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let rec = store
        .add_recording(NewRecording {
            call: opened.call,
            case: opened.case,
            kind: RecordingKind::Conversation,
            path: "2026/11/21/a.wav".into(),
            duration_ms: 1000,
            bytes: 8044,
            created_at: mon(0, 1),
        })
        .await
        .unwrap();
    store
        .record_recording_access(rec, "sup1", mon(0, 2))
        .await
        .unwrap();
    let d = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    let ev = d.events.last().unwrap();
    assert_eq!(
        (ev.event.as_str(), ev.actor.as_str(), ev.at),
        ("recording_read", "sup1", mon(0, 2))
    );
    assert!(ev.note.as_deref().unwrap().contains("2026/11/21/a.wav"));
    let err = store
        .record_recording_access(crate::model::RecordingId(999), "sup1", mon(0, 2))
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::RecordingNotFound(_)), "{err}");
}

/// Concurrent changes to one case serialize (the row is locked on PostgreSQL, the
/// database on SQLite): no urge is lost, and of several accepts exactly one wins.
pub(super) async fn concurrent_transitions_serialize(db: Db) {
    let store = &db.store;
    departments(store).await;
    let ticket = dispatched_case(store, 1).await;
    let urges: Vec<_> = (0..8)
        .map(|i| {
            let (store, ticket) = (store.clone(), ticket.clone());
            tokio::spawn(async move {
                let urge = Action::Urge {
                    note: format!("{i}"),
                };
                act(&store, &ticket, urge, &agent(), mon(0, 5)).await
            })
        })
        .collect();
    for u in urges {
        u.await.unwrap().unwrap();
    }
    let accepts: Vec<_> = (0..5)
        .map(|_| {
            let (store, ticket) = (store.clone(), ticket.clone());
            tokio::spawn(async move {
                act(&store, &ticket, Action::Accept, &handler(), mon(0, 6)).await
            })
        })
        .collect();
    let mut won = 0;
    for a in accepts {
        match a.await.unwrap() {
            Ok(_) => won += 1,
            Err(CaseError::Transition { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
    let d = store.case_by_ticket(&ticket).await.unwrap().unwrap();
    assert_eq!(d.order.urge_count, 8);
    assert_eq!(events(&d).iter().filter(|e| **e == "urged").count(), 8);
    assert_eq!(events(&d).iter().filter(|e| **e == "accepted").count(), 1);
}

fn web_case() -> NewCase {
    NewCase {
        channel: Channel::Web,
        caller_number: " +8613800001111 ".into(),
        caller_name: Some(" Chen ".into()),
        location: Some("5 Jiefang Rd".into()),
        category: Some(Category::Help),
        subject: "Street light out".into(),
        description: Some("Since Monday\nnear the school".into()),
        confidential: true,
    }
}

pub(super) async fn create_case_shares_the_ticket_sequence(db: Db) {
    let store = &db.store;
    let d = day(2026, 11, 21);
    let first = store.open_answered_call(new_call(1, d)).await.unwrap();
    assert_eq!(first.ticket, ticket::format(d, 1));
    let made = store
        .create_case(web_case(), &agent(), d, mon(0, 2))
        .await
        .unwrap();
    assert_eq!(made.case.ticket, ticket::format(d, 2));
    assert_eq!(made.case.channel, Channel::Web);
    assert_eq!(made.case.status, CaseState::Registered);
    assert_eq!(made.case.caller_number, "+8613800001111");
    assert_eq!(made.case.category, Some(Category::Help));
    assert_eq!(made.case.created_at, mon(0, 2));
    assert_eq!(made.order.caller_name.as_deref(), Some("Chen"));
    assert_eq!(made.order.location.as_deref(), Some("5 Jiefang Rd"));
    assert_eq!(made.order.subject.as_deref(), Some("Street light out"));
    assert_eq!(
        made.order.description.as_deref(),
        Some("Since Monday\nnear the school")
    );
    assert!(made.order.confidential);
    assert!(made.calls.is_empty() && made.recordings.is_empty());
    assert_eq!(events(&made), ["registered"]);
    let ev = &made.events[0];
    assert_eq!(ev.actor, "agent7");
    assert_eq!(
        (ev.from_status, ev.to_status),
        (None, Some(CaseState::Registered))
    );
    // Read back the same.
    let again = store.case_by_ticket(&made.case.ticket).await.unwrap();
    assert_eq!(again.as_ref(), Some(&made));

    let phone = NewCase {
        channel: Channel::Phone,
        caller_name: None,
        location: Some("  ".into()),
        category: None,
        description: None,
        confidential: false,
        ..web_case()
    };
    let by_phone = store
        .create_case(phone, &supervisor(), d, mon(0, 3))
        .await
        .unwrap();
    assert_eq!(by_phone.case.ticket, ticket::format(d, 3));
    assert_eq!(by_phone.case.channel, Channel::Phone);
    assert_eq!(by_phone.order.location, None);
    let next = store.open_answered_call(new_call(2, d)).await.unwrap();
    assert_eq!(next.ticket, ticket::format(d, 4));
    // Another day starts at 1.
    let other = store
        .create_case(web_case(), &agent(), day(2026, 11, 22), mon(1, 2))
        .await
        .unwrap();
    assert_eq!(other.case.ticket, ticket::format(day(2026, 11, 22), 1));
    // It is a work order like any other: the lifecycle applies.
    let answered = act(
        store,
        &made.case.ticket,
        Action::Answer {
            summary: "Reported to the lighting office".into(),
        },
        &agent(),
        mon(0, 4),
    )
    .await
    .unwrap();
    assert_eq!(answered.case.status, CaseState::Answered);
}

pub(super) async fn create_case_refusals_change_nothing(db: Db) {
    let store = &db.store;
    let d = day(2026, 11, 21);
    let good = web_case();
    let cases: Vec<(NewCase, &str)> = vec![
        (
            NewCase {
                channel: Channel::Voicemail,
                ..good.clone()
            },
            "channel",
        ),
        (
            NewCase {
                channel: Channel::Callback,
                ..good.clone()
            },
            "channel",
        ),
        (
            NewCase {
                caller_number: "  ".into(),
                ..good.clone()
            },
            "caller_number",
        ),
        (
            NewCase {
                caller_number: "138-0000".into(),
                ..good.clone()
            },
            "caller_number",
        ),
        (
            NewCase {
                caller_number: "1".repeat(33),
                ..good.clone()
            },
            "caller_number",
        ),
        (
            NewCase {
                caller_name: Some("n".repeat(65)),
                ..good.clone()
            },
            "caller_name",
        ),
        (
            NewCase {
                location: Some("a\u{7}b".into()),
                ..good.clone()
            },
            "location",
        ),
        (
            NewCase {
                subject: " ".into(),
                ..good.clone()
            },
            "subject",
        ),
        (
            NewCase {
                subject: "line\nbreak".into(),
                ..good.clone()
            },
            "subject",
        ),
        (
            NewCase {
                description: Some("d".repeat(5001)),
                ..good.clone()
            },
            "description",
        ),
    ];
    for (bad, field) in cases {
        let err = store
            .create_case(bad, &agent(), d, mon(0, 2))
            .await
            .unwrap_err();
        match &err {
            CaseError::InvalidField { field: f, .. } => assert_eq!(*f, field, "{err}"),
            other => panic!("{field}: {other}"),
        }
        assert!(err.to_string().contains(field), "{err}");
    }
    for who in [handler(), Actor::new("system", Role::System)] {
        let err = store
            .create_case(good.clone(), &who, d, mon(0, 2))
            .await
            .unwrap_err();
        assert!(matches!(err, CaseError::Forbidden(_)), "{err}");
    }
    assert!(store.list_cases(10).await.unwrap().is_empty());
    // No ticket number was used up.
    let made = store
        .create_case(good, &agent(), d, mon(0, 2))
        .await
        .unwrap();
    assert_eq!(made.case.ticket, ticket::format(d, 1));
}

pub(super) async fn voicemail_makes_a_voicemail_case(db: Db) {
    let store = &db.store;
    let d = day(2026, 11, 21);
    let vm = store.open_call(new_call(1, d)).await.unwrap();
    let cb = store.open_call(new_call(2, d)).await.unwrap();
    store.mark_voicemail(vm.case, Utc::now()).await.unwrap();
    store
        .mark_callback_requested(cb.case, Utc::now())
        .await
        .unwrap();
    let vm = store.case_by_ticket(&vm.ticket).await.unwrap().unwrap();
    assert_eq!(vm.case.channel, Channel::Voicemail);
    assert_eq!(vm.case.status, CaseState::CallbackPending);
    assert_eq!(events(&vm), ["opened", "voicemail"]);
    let cb = store.case_by_ticket(&cb.ticket).await.unwrap().unwrap();
    assert_eq!(cb.case.channel, Channel::Phone);
    // A refused voicemail mark changes nothing, the channel included.
    let answered = store.open_answered_call(new_call(3, d)).await.unwrap();
    act(
        store,
        &answered.ticket,
        Action::Answer {
            summary: "Done".into(),
        },
        &agent(),
        mon(0, 2),
    )
    .await
    .unwrap();
    assert!(store
        .mark_voicemail(answered.case, Utc::now())
        .await
        .is_err());
    let answered = store
        .case_by_ticket(&answered.ticket)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answered.case.channel, Channel::Phone);
    assert_eq!(answered.case.status, CaseState::Answered);
}

/// `case_details` answers what `case_by_ticket` answers for each ticket, in the order
/// asked, with every child (calls, recordings, events, extension requests) on its own
/// case; unknown and malformed tickets are left out, and more tickets than one batch
/// holds come back whole.
pub(super) async fn case_details_match_case_by_ticket(db: Db) {
    let store = &db.store;
    departments(store).await;
    let a = dispatched_case(store, 1).await;
    let b = dispatched_case(store, 2).await;
    act(store, &b, Action::Accept, &handler(), mon(0, 6))
        .await
        .unwrap();
    let ask = Action::RequestExtension {
        days: 2,
        reason: "Waiting for a contractor".into(),
    };
    act(store, &b, ask, &handler(), mon(0, 7)).await.unwrap();
    let second = store
        .open_answered_call(new_call(3, day(2026, 11, 21)))
        .await
        .unwrap();
    store
        .add_recording(NewRecording {
            call: second.call,
            case: second.case,
            kind: RecordingKind::Conversation,
            path: "2026/11/21/details.wav".into(),
            duration_ms: 1000,
            bytes: 8044,
            created_at: mon(0, 3),
        })
        .await
        .unwrap();
    store
        .link_call_to_case(second.call, &a, &agent(), Utc::now())
        .await
        .unwrap();
    let bare = store
        .open_call(new_call(4, day(2026, 11, 21)))
        .await
        .unwrap()
        .ticket;

    let asked = [
        b.clone(),
        "2026112199999".to_string(),
        a.clone(),
        "not-a-ticket".to_string(),
        bare.clone(),
    ];
    let got = store.case_details(&asked).await.unwrap();
    let mut want = Vec::new();
    for t in [&b, &a, &bare] {
        want.push(store.case_by_ticket(t).await.unwrap().unwrap());
    }
    assert_eq!(got, want);
    assert_eq!(got[0].extensions.len(), 1);
    assert_eq!(got[1].calls.len(), 2);
    assert!(store.case_details(&[]).await.unwrap().is_empty());

    // Past one batch of tickets: 501 asked (the same ones again and again), 3 answered
    // once each in the order of their first mention.
    let many: Vec<String> = (0..501).map(|i| asked[i % asked.len()].clone()).collect();
    let got = store.case_details(&many).await.unwrap();
    let tickets: Vec<&str> = got.iter().map(|d| d.case.ticket.as_str()).collect();
    assert_eq!(tickets, [b.as_str(), a.as_str(), bare.as_str()]);
}
