//! Store tests of the callback worklist. Each runs on both backends (listed in
//! `on_both_backends!` in `tests.rs`).

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::backends::Db;
use super::{day, new_call};
use crate::callback::{CallbackMode, CallbackReason, CallbackResult, CallbackStatus, CallbackTask};
use crate::error::CaseError;
use crate::model::{CaseId, NewCall};
use crate::store::CaseStore;

/// A test time on a day after the real clock (tasks marked now are due by then).
fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 11, 21, h, m, 0).unwrap()
}

/// A call that arrived at `arrived` (the caller's place), answered 1 s later.
async fn call_at(store: &CaseStore, n: u32, arrived: DateTime<Utc>) -> (CaseId, String) {
    let c = NewCall {
        arrived_at: arrived,
        answered_at: arrived + Duration::seconds(1),
        ..new_call(n, day(2026, 11, 21))
    };
    let o = store.open_answered_call(c).await.unwrap();
    (o.case, o.ticket)
}

async fn task_of(store: &CaseStore, case: CaseId) -> CallbackTask {
    let all = store.callback_tasks(0).await.unwrap();
    let mut mine: Vec<_> = all.into_iter().filter(|t| t.case_id == case).collect();
    assert_eq!(mine.len(), 1, "one task for case {case}");
    mine.remove(0)
}

async fn events(store: &CaseStore, ticket: &str) -> Vec<(String, Option<String>)> {
    let d = store.case_by_ticket(ticket).await.unwrap().unwrap();
    d.events.into_iter().map(|e| (e.event, e.note)).collect()
}

pub(super) async fn voicemail_and_callback_request_create_tasks(db: Db) {
    let store = &db.store;
    let (vm, _) = call_at(store, 1, t(1, 0)).await;
    let (cb, _) = call_at(store, 2, t(1, 5)).await;
    let before = Utc::now();
    store.mark_voicemail(vm, Utc::now()).await.unwrap();
    store.mark_callback_requested(cb, Utc::now()).await.unwrap();
    let a = task_of(store, vm).await;
    assert_eq!(a.reason, CallbackReason::Voicemail);
    assert_eq!(a.mode, CallbackMode::Agent, "a voicemail needs a person");
    assert_eq!(a.number, "13800000001");
    assert_eq!(a.status, CallbackStatus::Pending);
    assert_eq!((a.attempts, a.max_attempts, a.priority), (0, 3, 0));
    assert_eq!(a.place_at, t(1, 0), "place = arrival of the call");
    assert!(a.earliest_at >= before - Duration::seconds(1) && a.next_attempt_at == a.earliest_at);
    assert!(a.last_result.is_none() && a.agent.is_none());
    let b = task_of(store, cb).await;
    assert_eq!(b.reason, CallbackReason::CallbackRequested);
    // `[callbacks] max_attempts` reaches the tasks created afterwards.
    let five = store.clone().with_callback_attempts(5);
    let (vm5, _) = call_at(store, 3, t(1, 10)).await;
    five.mark_voicemail(vm5, Utc::now()).await.unwrap();
    assert_eq!(task_of(store, vm5).await.max_attempts, 5);
    // A refused status change creates no task.
    assert!(store.mark_voicemail(CaseId(999), Utc::now()).await.is_err());
    assert_eq!(store.callback_tasks(0).await.unwrap().len(), 3);
}

pub(super) async fn worklist_is_due_tasks_oldest_place_first(db: Db) {
    let store = &db.store;
    let (late, _) = call_at(store, 1, t(2, 0)).await;
    let (early, _) = call_at(store, 2, t(1, 0)).await;
    let (future, _) = call_at(store, 3, t(0, 30)).await;
    let (urgent, _) = call_at(store, 4, t(3, 0)).await;
    let v = CallbackReason::Voicemail;
    let ag = CallbackMode::Agent;
    let a = store
        .create_callback_task(late, "13800000001", v, ag, 0, t(4, 0), 3, "sup", Utc::now())
        .await
        .unwrap();
    let b = store
        .create_callback_task(
            early,
            "+8613800000002",
            v,
            ag,
            0,
            t(5, 0),
            3,
            "sup",
            Utc::now(),
        )
        .await
        .unwrap();
    let c = store
        .create_callback_task(
            future,
            "13800000003",
            v,
            ag,
            0,
            t(9, 0),
            3,
            "sup",
            Utc::now(),
        )
        .await
        .unwrap();
    let d = store
        .create_callback_task(
            urgent,
            "13800000004",
            v,
            ag,
            5,
            t(4, 0),
            3,
            "sup",
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(b.place_at, t(1, 0));
    let ids = |l: Vec<CallbackTask>| l.into_iter().map(|t| t.id).collect::<Vec<_>>();
    // Earlier call first even though its task became due later; not-yet-due excluded;
    // higher priority before all.
    let due = ids(store.callback_worklist(t(6, 0), 0).await.unwrap());
    assert_eq!(due, vec![d.id, b.id, a.id]);
    assert_eq!(
        ids(store.callback_worklist(t(4, 30), 0).await.unwrap()),
        vec![d.id, a.id]
    );
    assert_eq!(
        ids(store.callback_worklist(t(6, 0), 1).await.unwrap()),
        vec![d.id]
    );
    assert_eq!(store.callback_tasks(0).await.unwrap().len(), 4);
    assert!(ids(store.callback_worklist(t(10, 0), 0).await.unwrap()).contains(&c.id));
    // Claimed tasks leave the worklist.
    store.claim_callback(d.id, "1001", t(6, 0)).await.unwrap();
    assert_eq!(
        ids(store.callback_worklist(t(6, 0), 0).await.unwrap()),
        vec![b.id, a.id]
    );
    let bad = store
        .create_callback_task(late, "12a", v, ag, 0, t(4, 0), 3, "sup", Utc::now())
        .await;
    assert!(matches!(
        bad,
        Err(CaseError::InvalidField {
            field: "number",
            ..
        })
    ));
    let bad = store
        .create_callback_task(late, "13800000009", v, ag, 0, t(4, 0), 0, "sup", Utc::now())
        .await;
    assert!(matches!(
        bad,
        Err(CaseError::InvalidField {
            field: "max_attempts",
            ..
        })
    ));
    let none = store
        .create_callback_task(
            CaseId(999),
            "13800000009",
            v,
            ag,
            0,
            t(4, 0),
            3,
            "sup",
            Utc::now(),
        )
        .await;
    assert!(matches!(none, Err(CaseError::CaseNotFound(_))));
}

pub(super) async fn concurrent_claims_admit_one(db: Db) {
    let store = &db.store;
    let (case, _) = call_at(store, 1, t(1, 0)).await;
    store.mark_voicemail(case, Utc::now()).await.unwrap();
    let task = task_of(store, case).await.id;
    let claims: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim_callback(task, &format!("100{i}"), t(2, 0))
                    .await
            })
        })
        .collect();
    let (mut won, mut winner) = (0, None);
    for c in claims {
        match c.await.unwrap() {
            Ok(t) => {
                won += 1;
                winner = t.agent;
            }
            Err(CaseError::CallbackState { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(won, 1);
    let t = store.callback_task(task).await.unwrap();
    assert_eq!(t.status, CallbackStatus::InProgress);
    assert_eq!(t.agent, winner);
}

pub(super) async fn attempts_retry_with_spacing_then_fail(db: Db) {
    let store = &db.store;
    let (case, ticket) = call_at(store, 1, t(1, 0)).await;
    store.mark_voicemail(case, Utc::now()).await.unwrap();
    let id = task_of(store, case).await.id;
    let spacing = Duration::minutes(30);
    let no = CallbackResult::NoAnswer;
    // An unclaimed task takes no attempt.
    let r = store
        .record_callback_attempt(id, no, "1001", None, t(2, 0), spacing, None)
        .await;
    assert!(matches!(r, Err(CaseError::CallbackState { .. })));
    let mut now = t(2, 0);
    for n in 1..=3u32 {
        assert_eq!(
            store.callback_worklist(now, 0).await.unwrap().len(),
            1,
            "due at attempt {n}"
        );
        store.claim_callback(id, "1001", now).await.unwrap();
        let after = store
            .record_callback_attempt(id, no, "1001", Some("rang out"), now, spacing, None)
            .await
            .unwrap();
        assert_eq!(after.attempts, n);
        assert_eq!(after.last_result, Some(no));
        if n < 3 {
            assert_eq!(after.status, CallbackStatus::Pending);
            assert_eq!(after.next_attempt_at, now + spacing);
            // Not due again before the spacing has passed.
            let early = now + Duration::minutes(29);
            assert!(store.callback_worklist(early, 0).await.unwrap().is_empty());
            now += spacing;
        } else {
            assert_eq!(after.status, CallbackStatus::Failed);
        }
    }
    assert!(store
        .callback_worklist(now + Duration::days(1), 0)
        .await
        .unwrap()
        .is_empty());
    let ev = events(store, &ticket).await;
    let attempts: Vec<_> = ev.iter().filter(|e| e.0 == "callback_attempt").collect();
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        attempts[2].1.as_deref(),
        Some(format!("task {id} attempt 3/3: no_answer — rang out").as_str())
    );
    assert_eq!(ev.iter().filter(|e| e.0 == "callback_failed").count(), 1);
    assert_eq!(ev.last().unwrap().0, "callback_failed");
    // A failed task can be neither claimed nor skipped.
    assert!(store.claim_callback(id, "1001", now).await.is_err());
    assert!(store
        .skip_callback(id, "x", "1001", Utc::now())
        .await
        .is_err());

    // A supervisor reopens it with two more attempts: due then, audited as theirs.
    let later = now + Duration::hours(2);
    for bad in [0, 21] {
        let r = store
            .reopen_callback(id, later, bad, "sup", Utc::now())
            .await;
        assert!(
            matches!(
                r,
                Err(CaseError::InvalidField {
                    field: "attempts",
                    ..
                })
            ),
            "{r:?}"
        );
    }
    let t = store
        .reopen_callback(id, later, 2, "sup", Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (t.status, t.attempts, t.max_attempts, t.next_attempt_at),
        (CallbackStatus::Pending, 3, 5, later)
    );
    assert!(store.callback_worklist(now, 0).await.unwrap().is_empty());
    assert_eq!(store.callback_worklist(later, 0).await.unwrap().len(), 1);
    let again = store.reopen_callback(id, later, 1, "sup", Utc::now()).await;
    assert!(
        matches!(again, Err(CaseError::CallbackState { .. })),
        "{again:?}"
    );
    let ev = events(store, &ticket).await;
    assert_eq!(
        ev.last().unwrap(),
        &(
            "callback_reopened".to_owned(),
            Some(format!(
                "task {id}: 2 more attempt(s) from {}",
                later.to_rfc3339()
            ))
        )
    );
    // Used up again, then the case is closed: a failed task of a closed case stays failed.
    store.claim_callback(id, "1001", later).await.unwrap();
    store
        .record_callback_attempt(id, no, "1001", None, later, spacing, None)
        .await
        .unwrap();
    store
        .claim_callback(id, "1001", later + spacing)
        .await
        .unwrap();
    let failed = store
        .record_callback_attempt(id, no, "1001", None, later + spacing, spacing, None)
        .await
        .unwrap();
    assert_eq!(failed.status, CallbackStatus::Failed);
    let sup = crate::model::Actor::new("sup", crate::lifecycle::Role::Supervisor);
    let close = crate::lifecycle::Action::Close {
        note: Some("unreachable".into()),
    };
    super::work::act(store, &ticket, close, &sup, later + spacing)
        .await
        .unwrap();
    let r = store.reopen_callback(id, later, 1, "sup", Utc::now()).await;
    assert!(matches!(r, Err(CaseError::CaseFinal(_))), "{r:?}");
    let r = store
        .create_callback_task(
            case,
            "13800000001",
            CallbackReason::CallbackRequested,
            CallbackMode::Agent,
            0,
            later,
            1,
            "sup",
            Utc::now(),
        )
        .await;
    assert!(matches!(r, Err(CaseError::CaseFinal(_))), "{r:?}");
}

pub(super) async fn reached_is_done_and_reschedule_and_skip(db: Db) {
    let store = &db.store;
    let (a, ticket) = call_at(store, 1, t(1, 0)).await;
    let (b, ticket_b) = call_at(store, 2, t(1, 1)).await;
    let (c, _) = call_at(store, 3, t(1, 2)).await;
    for case in [a, b, c] {
        store
            .mark_callback_requested(case, Utc::now())
            .await
            .unwrap();
    }
    let (ta, tb, tc) = (
        task_of(store, a).await.id,
        task_of(store, b).await.id,
        task_of(store, c).await.id,
    );
    let sp = Duration::minutes(30);
    store.claim_callback(ta, "1001", t(2, 0)).await.unwrap();
    let busy = CallbackResult::Busy;
    store
        .record_callback_attempt(ta, busy, "1001", None, t(2, 0), sp, None)
        .await
        .unwrap();
    store.claim_callback(ta, "1002", t(2, 30)).await.unwrap();
    let done = store
        .record_callback_attempt(
            ta,
            CallbackResult::Reached,
            "1002",
            None,
            t(2, 30),
            sp,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (done.status, done.attempts, done.agent.as_deref()),
        (CallbackStatus::Done, 2, Some("1002"))
    );
    assert!(!events(store, &ticket)
        .await
        .iter()
        .any(|e| e.0 == "callback_failed"));
    // Reschedule: out of the worklist until then; also from in_progress.
    let r = store
        .reschedule_callback(tb, t(8, 0), "1001", Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.next_attempt_at),
        (CallbackStatus::Pending, t(8, 0))
    );
    let due: Vec<_> = store
        .callback_worklist(t(7, 0), 0)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(due, vec![tc]);
    store.claim_callback(tb, "1001", t(8, 0)).await.unwrap();
    store
        .reschedule_callback(tb, t(9, 0), "1001", Utc::now())
        .await
        .unwrap();
    assert!(events(store, &ticket_b)
        .await
        .iter()
        .any(|e| e.0 == "callback_rescheduled"));
    // Skip.
    assert!(matches!(
        store.skip_callback(tc, " ", "1001", Utc::now()).await,
        Err(CaseError::InvalidField { .. })
    ));
    let s = store
        .skip_callback(tc, "duplicate of another case", "1001", Utc::now())
        .await
        .unwrap();
    assert_eq!(s.status, CallbackStatus::Skipped);
    assert!(store
        .callback_worklist(t(10, 0), 0)
        .await
        .unwrap()
        .iter()
        .all(|t| t.id != tc));
    assert!(store
        .reschedule_callback(tc, t(9, 0), "1001", Utc::now())
        .await
        .is_err());
    assert!(
        store
            .reschedule_callback(ta, t(9, 0), "1001", Utc::now())
            .await
            .is_err(),
        "done is final"
    );
    let missing = crate::callback::CallbackTaskId(999);
    assert!(matches!(
        store.claim_callback(missing, "1", t(1, 0)).await,
        Err(CaseError::CallbackNotFound(999))
    ));
}

pub(super) async fn worklist_survives_reopening(db: Db) {
    let (case, _) = call_at(&db.store, 1, t(1, 0)).await;
    db.store.mark_voicemail(case, Utc::now()).await.unwrap();
    let (case2, _) = call_at(&db.store, 2, t(0, 0)).await;
    db.store
        .mark_callback_requested(case2, Utc::now())
        .await
        .unwrap();
    let id = task_of(&db.store, case).await.id;
    db.store.claim_callback(id, "1001", t(2, 0)).await.unwrap();
    let spacing = Duration::minutes(30);
    let no = CallbackResult::NoAnswer;
    db.store
        .record_callback_attempt(id, no, "1001", None, t(2, 0), spacing, None)
        .await
        .unwrap();
    let before = db.store.callback_tasks(0).await.unwrap();
    db.store.close().await;
    let store = CaseStore::open(&db.url).await.unwrap();
    assert_eq!(store.callback_tasks(0).await.unwrap(), before);
    let due = store.callback_worklist(t(3, 0), 0).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].case_id, case2, "older place first");
    assert_eq!((due[1].id, due[1].attempts), (id, 1));
    store.close().await;
}

/// The finding: a voicemail from `00882123456789` (international premium) was called
/// back through the carrier; `anonymous`, 40 digits and `12345` were queued as numbers.
/// Such tasks are made `failed` at once with the reason, for a person: never due.
pub(super) async fn uncallable_numbers_are_failed_at_once_and_never_due(db: Db) {
    let store = &db.store;
    let long = "1".repeat(40);
    let mut cases = Vec::new();
    for (n, number) in ["00882123456789", "anonymous", long.as_str(), "12345", "110"]
        .into_iter()
        .enumerate()
    {
        let c = NewCall {
            caller_number: number.into(),
            arrived_at: t(1, n as u32),
            answered_at: t(1, n as u32) + Duration::seconds(1),
            ..new_call(n as u32 + 1, day(2026, 11, 21))
        };
        let o = store.open_answered_call(c).await.unwrap();
        store.mark_voicemail(o.case, Utc::now()).await.unwrap();
        cases.push((o.case, o.ticket, number));
    }
    for (case, ticket, number) in &cases {
        let task = task_of(store, *case).await;
        assert_eq!(task.status, CallbackStatus::Failed, "{number}");
        assert_eq!(task.attempts, 0, "{number}");
        let problem = task.number_problem.unwrap_or_default();
        assert!(!problem.is_empty(), "{number}: no reason kept");
        let ev = events(store, ticket).await;
        assert!(
            ev.iter().any(|(e, note)| e == "callback_uncallable"
                && note.as_deref().is_some_and(|n| n.contains(&problem))),
            "{number}: {ev:?}"
        );
    }
    assert!(store
        .callback_worklist(t(23, 0), 0)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .callback_tasks_with_status(CallbackStatus::Failed, 0)
            .await
            .unwrap()
            .len(),
        5
    );
    // A person giving such a number by hand is told why.
    let bad = store
        .create_callback_task(
            cases[0].0,
            "00882123456789",
            CallbackReason::Voicemail,
            CallbackMode::Agent,
            0,
            t(4, 0),
            3,
            "sup",
            Utc::now(),
        )
        .await;
    match bad {
        Err(CaseError::InvalidField { field, reason }) => {
            assert_eq!(field, "number");
            assert!(reason.contains("international"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A pending task found uncallable later (older than the check, or a changed policy)
    // is taken off the worklist the same way.
    let (ok, ticket) = call_at(store, 9, t(2, 0)).await;
    store.mark_voicemail(ok, Utc::now()).await.unwrap();
    let task = task_of(store, ok).await;
    assert_eq!(task.status, CallbackStatus::Pending);
    let t2 = store
        .mark_callback_uncallable(
            task.id,
            "not a local or mobile number of the city",
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(t2.status, CallbackStatus::Failed);
    assert!(events(store, &ticket)
        .await
        .iter()
        .any(|(e, _)| e == "callback_uncallable"));
    assert!(store
        .mark_callback_uncallable(task.id, "again", Utc::now())
        .await
        .is_err());
}
