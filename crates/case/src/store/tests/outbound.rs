//! Store tests of outbound calls (callbacks and revisits dialled by the hotline), their
//! attempts and survey answers, the automatic revisit, and the worklist at a restart.
//! Each runs on both backends (listed in `on_both_backends!` in `tests.rs`).

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::backends::Db;
use super::work::{act, cal, departments, dispatched_case, handler, mon};
use super::{day, execute, new_agent, new_call, REALM};
use crate::calendar::DeadlinePolicy;
use crate::callback::{CallbackMode, CallbackReason, CallbackResult, CallbackStatus};
use crate::error::CaseError;
use crate::lifecycle::{Action, CaseState, Satisfaction};
use crate::model::{
    CallId, CaseDetail, CaseId, Direction, NewCall, NewOutboundCall, NewRecording, RecordingId,
    RecordingKind,
};
use crate::store::CaseStore;

/// A test time on a day after the real clock (tasks marked now are due by then).
fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 11, 21, h, m, 0).unwrap()
}

/// An inbound call by caller `n` at `arrived`: (case, ticket, call).
async fn inbound(store: &CaseStore, n: u32, arrived: DateTime<Utc>) -> (CaseId, String, CallId) {
    let c = NewCall {
        arrived_at: arrived,
        answered_at: arrived + Duration::seconds(1),
        ..new_call(n, day(2026, 11, 21))
    };
    let o = store.open_answered_call(c).await.unwrap();
    (o.case, o.ticket, o.call)
}

fn outbound(
    case: CaseId,
    task: Option<crate::CallbackTaskId>,
    agent: Option<&str>,
) -> NewOutboundCall {
    NewOutboundCall {
        case,
        task,
        sip_call_id: format!("out-{}@hotline", case.0),
        from_number: "12345".into(),
        to_number: "13800000001".into(),
        started_at: t(9, 0),
        agent: agent.map(str::to_owned),
    }
}

async fn detail(store: &CaseStore, ticket: &str) -> CaseDetail {
    store.case_by_ticket(ticket).await.unwrap().unwrap()
}

async fn recording(store: &CaseStore, case: CaseId, call: CallId, path: &str) -> RecordingId {
    let r = NewRecording {
        call,
        case,
        kind: RecordingKind::Conversation,
        path: path.into(),
        duration_ms: 12_000,
        bytes: 192_044,
        created_at: t(9, 2),
    };
    store.add_recording(r).await.unwrap()
}

pub(super) async fn outbound_call_is_a_call_row_of_the_case(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", "consult:5"), REALM, Utc::now())
        .await
        .unwrap();
    let (case, ticket, _) = inbound(store, 1, t(1, 0)).await;
    store
        .mark_callback_requested(case, Utc::now())
        .await
        .unwrap();
    let task = store.callback_tasks(0).await.unwrap()[0].clone();
    assert_eq!(
        task.mode,
        CallbackMode::Agent,
        "a callback request is agent first"
    );
    store
        .claim_callback(task.id, "1001", t(9, 0))
        .await
        .unwrap();

    let call = store
        .open_outbound_call(outbound(case, Some(task.id), Some("1001")))
        .await
        .unwrap();
    // Agent first: the agent's leg answers (never queued), then the citizen picks up.
    store
        .call_agent_answered(call, "1001", "agent-leg@hotline", t(9, 0))
        .await
        .unwrap();
    store.call_answered(call, t(9, 1)).await.unwrap();
    let rec = recording(store, case, call, "callbacks/1.wav").await;
    store.call_agent_ended(call, t(9, 3)).await.unwrap();
    store
        .end_call(call, t(9, 3), "agent_bye", "")
        .await
        .unwrap();

    let d = detail(store, &ticket).await;
    assert_eq!(d.calls.len(), 2);
    let c = &d.calls[1];
    assert_eq!(c.id, call);
    assert_eq!(c.direction, Direction::Outbound);
    assert_eq!(
        (c.caller_number.as_str(), c.called_number.as_str()),
        ("12345", "13800000001")
    );
    assert_eq!(
        (c.arrived_at, c.answered_at, c.ended_at),
        (t(9, 0), Some(t(9, 1)), Some(t(9, 3)))
    );
    assert_eq!(c.agent.as_deref(), Some("1001"));
    assert_eq!(c.callback_task, Some(task.id));
    assert_eq!(
        (c.queue.as_deref(), c.acd_result, c.wait_ms),
        (None, None, None)
    );
    assert_eq!(c.talk_ms, Some(180_000));
    assert_eq!(d.recordings[0].id, rec);
    let dialled = d
        .events
        .iter()
        .find(|e| e.event == "callback_dialled")
        .unwrap();
    assert_eq!(dialled.actor, "1001");
    assert_eq!(
        dialled.note.as_deref(),
        Some(format!("outbound call {call} for task {}", task.id).as_str())
    );
    // An outbound call is not a queue figure.
    assert!(store.queue_stats(t(0, 0)).await.unwrap().is_empty());
    // A second agent answer is refused.
    let again = store.call_agent_answered(call, "1001", "x", t(9, 1)).await;
    assert!(
        matches!(again, Err(CaseError::InvalidCallState { .. })),
        "{again:?}"
    );

    // The attempt points at its call.
    let done = store
        .record_callback_attempt(
            task.id,
            CallbackResult::Reached,
            "1001",
            None,
            t(9, 3),
            Duration::minutes(30),
            Some(call),
        )
        .await
        .unwrap();
    assert_eq!(done.status, CallbackStatus::Done);
    let attempts = store.callback_attempts(task.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].call, attempts[0].result),
        (Some(call), CallbackResult::Reached)
    );

    // The IVR dials without an agent or a task: actor `system`.
    let auto = store
        .open_outbound_call(outbound(case, None, None))
        .await
        .unwrap();
    let d = detail(store, &ticket).await;
    let last = d.events.last().unwrap();
    assert_eq!(
        (last.event.as_str(), last.actor.as_str()),
        ("callback_dialled", "system")
    );
    assert_eq!(
        last.note.as_deref(),
        Some(format!("outbound call {auto}").as_str())
    );

    // Refusals write nothing.
    let before = detail(store, &ticket).await.calls.len();
    let r = store
        .open_outbound_call(outbound(CaseId(999), None, None))
        .await;
    assert!(
        matches!(r, Err(CaseError::CaseNotFound(CaseId(999)))),
        "{r:?}"
    );
    let missing = crate::CallbackTaskId(999);
    let r = store
        .open_outbound_call(outbound(case, Some(missing), None))
        .await;
    assert!(matches!(r, Err(CaseError::CallbackNotFound(999))), "{r:?}");
    let r = store
        .open_outbound_call(outbound(case, None, Some("4242")))
        .await;
    assert!(
        matches!(r, Err(CaseError::AgentNotFound(ref a)) if a == "4242"),
        "{r:?}"
    );
    let (other, _, _) = inbound(store, 2, t(1, 5)).await;
    let r = store
        .open_outbound_call(outbound(other, Some(task.id), None))
        .await;
    assert!(
        matches!(r, Err(CaseError::InvalidField { field: "task", .. })),
        "{r:?}"
    );
    assert_eq!(detail(store, &ticket).await.calls.len(), before);
    let r = store.call_answered(CallId(999), t(9, 0)).await;
    assert!(
        matches!(r, Err(CaseError::CallNotFound(CallId(999)))),
        "{r:?}"
    );
}

pub(super) async fn callback_attempts_are_listed_oldest_first_with_their_calls(db: Db) {
    let store = &db.store;
    let (case, _, _) = inbound(store, 1, t(1, 0)).await;
    let (_, _, other_call) = inbound(store, 2, t(1, 1)).await;
    store.mark_voicemail(case, Utc::now()).await.unwrap();
    let id = store.callback_tasks(0).await.unwrap()[0].id;
    assert!(store.callback_attempts(id).await.unwrap().is_empty());
    let sp = Duration::minutes(30);
    // By hand first, then on a call.
    store.claim_callback(id, "1001", t(2, 0)).await.unwrap();
    store
        .record_callback_attempt(
            id,
            CallbackResult::Busy,
            "1001",
            Some("engaged"),
            t(2, 0),
            sp,
            None,
        )
        .await
        .unwrap();
    store.claim_callback(id, "1002", t(3, 0)).await.unwrap();
    // A call of another case is refused, and takes no attempt.
    let r = store
        .record_callback_attempt(
            id,
            CallbackResult::NoAnswer,
            "1002",
            None,
            t(3, 0),
            sp,
            Some(other_call),
        )
        .await;
    assert!(
        matches!(r, Err(CaseError::CallNotInCase { case: c, .. }) if c == case),
        "{r:?}"
    );
    let r = store
        .record_callback_attempt(
            id,
            CallbackResult::NoAnswer,
            "1002",
            None,
            t(3, 0),
            sp,
            Some(CallId(999)),
        )
        .await;
    assert!(
        matches!(r, Err(CaseError::CallNotFound(CallId(999)))),
        "{r:?}"
    );
    assert_eq!(store.callback_task(id).await.unwrap().attempts, 1);
    let call = store
        .open_outbound_call(outbound(case, Some(id), None))
        .await
        .unwrap();
    store
        .record_callback_attempt(
            id,
            CallbackResult::NoAnswer,
            "system",
            None,
            t(3, 0),
            sp,
            Some(call),
        )
        .await
        .unwrap();
    let a = store.callback_attempts(id).await.unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(
        (
            a[0].at,
            a[0].result,
            a[0].agent.as_str(),
            a[0].note.as_deref(),
            a[0].call
        ),
        (t(2, 0), CallbackResult::Busy, "1001", Some("engaged"), None)
    );
    assert_eq!(
        (a[1].at, a[1].result, a[1].agent.as_str(), a[1].call),
        (t(3, 0), CallbackResult::NoAnswer, "system", Some(call))
    );
    let json = serde_json::to_value(&a[1]).unwrap();
    assert_eq!(json["result"], "no_answer");
    assert_eq!(json["call"], call.0);
    let r = store.callback_attempts(crate::CallbackTaskId(999)).await;
    assert!(matches!(r, Err(CaseError::CallbackNotFound(999))), "{r:?}");
}

pub(super) async fn satisfaction_is_kept_on_the_call_and_as_an_event(db: Db) {
    let store = &db.store;
    let (case, ticket, call) = inbound(store, 1, t(1, 0)).await;
    let (_, _, other_call) = inbound(store, 2, t(1, 1)).await;
    store
        .record_satisfaction(case, Some(call), 2, Utc::now())
        .await
        .unwrap();
    let d = detail(store, &ticket).await;
    assert_eq!(d.calls[0].satisfaction, Some(2));
    let ev = d.events.last().unwrap();
    assert_eq!(
        (ev.event.as_str(), ev.note.as_deref()),
        ("satisfaction", Some("2 mostly satisfied"))
    );
    // Without a call: only the event.
    store
        .record_satisfaction(case, None, 3, Utc::now())
        .await
        .unwrap();
    let d = detail(store, &ticket).await;
    assert_eq!(d.calls[0].satisfaction, Some(2));
    assert_eq!(
        d.events.last().unwrap().note.as_deref(),
        Some("3 unsatisfied")
    );
    // Refusals change nothing: not even the event is written.
    let n = d.events.len();
    for (call, score) in [
        (Some(call), 4u8),
        (Some(call), 0),
        (Some(other_call), 1),
        (Some(CallId(999)), 1),
    ] {
        assert!(store
            .record_satisfaction(case, call, score, Utc::now())
            .await
            .is_err());
    }
    let r = store
        .record_satisfaction(case, Some(other_call), 1, Utc::now())
        .await;
    assert!(matches!(r, Err(CaseError::CallNotInCase { .. })), "{r:?}");
    let r = store
        .record_satisfaction(CaseId(999), None, 1, Utc::now())
        .await;
    assert!(matches!(r, Err(CaseError::CaseNotFound(_))), "{r:?}");
    let d = detail(store, &ticket).await;
    assert_eq!((d.events.len(), d.calls[0].satisfaction), (n, Some(2)));
    // The schema itself holds the range.
    assert!(execute(store, "UPDATE calls SET satisfaction = 4")
        .await
        .is_err());
    assert!(
        execute(store, "UPDATE callback_tasks SET mode = 'robot'")
            .await
            .is_ok(),
        "no rows yet"
    );
}

pub(super) async fn released_claims_go_back_to_pending(db: Db) {
    let store = &db.store;
    let mut tasks = Vec::new();
    let mut tickets = Vec::new();
    for n in 1..=3 {
        let (case, ticket, _) = inbound(store, n, t(1, n)).await;
        store.mark_voicemail(case, Utc::now()).await.unwrap();
        tasks.push(
            store
                .callback_tasks(0)
                .await
                .unwrap()
                .into_iter()
                .find(|x| x.case_id == case)
                .unwrap()
                .id,
        );
        tickets.push(ticket);
    }
    let sp = Duration::minutes(30);
    // Task 0: one failed attempt, then claimed again; task 1: claimed; task 2: pending.
    store
        .claim_callback(tasks[0], "1001", t(2, 0))
        .await
        .unwrap();
    store
        .record_callback_attempt(
            tasks[0],
            CallbackResult::NoAnswer,
            "1001",
            None,
            t(2, 0),
            sp,
            None,
        )
        .await
        .unwrap();
    store
        .claim_callback(tasks[0], "1001", t(2, 40))
        .await
        .unwrap();
    store
        .claim_callback(tasks[1], "1002", t(2, 41))
        .await
        .unwrap();
    let before0 = store.callback_task(tasks[0]).await.unwrap();
    let before2 = store.callback_task(tasks[2]).await.unwrap();

    assert_eq!(
        store
            .release_callback_claims("system", t(3, 0))
            .await
            .unwrap(),
        2
    );
    let a = store.callback_task(tasks[0]).await.unwrap();
    assert_eq!(a.status, CallbackStatus::Pending);
    assert_eq!(
        (a.attempts, a.next_attempt_at),
        (1, before0.next_attempt_at)
    );
    assert_eq!(a.updated_at, t(3, 0));
    let b = store.callback_task(tasks[1]).await.unwrap();
    assert_eq!((b.status, b.attempts), (CallbackStatus::Pending, 0));
    assert_eq!(
        store.callback_task(tasks[2]).await.unwrap(),
        before2,
        "untouched"
    );
    for ticket in &tickets[..2] {
        let ev = detail(store, ticket).await.events;
        let last = ev.last().unwrap();
        assert_eq!(
            (
                last.event.as_str(),
                last.actor.as_str(),
                last.note.as_deref()
            ),
            ("callback_released", "system", Some("server restart"))
        );
    }
    assert!(!detail(store, &tickets[2])
        .await
        .events
        .iter()
        .any(|e| e.event == "callback_released"));
    // All three can be claimed again; nothing more to release.
    assert_eq!(store.callback_worklist(t(4, 0), 0).await.unwrap().len(), 3);
    assert_eq!(
        store
            .release_callback_claims("system", t(3, 1))
            .await
            .unwrap(),
        0
    );
}

pub(super) async fn tasks_are_listed_by_status(db: Db) {
    let store = &db.store;
    let v = CallbackReason::Voicemail;
    let ag = CallbackMode::Agent;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let (case, _, _) = inbound(store, n, t(1, n)).await;
        let task = store
            .create_callback_task(case, "13800000001", v, ag, 0, t(2, 0), 1, "sup", Utc::now())
            .await
            .unwrap();
        ids.push(task.id);
    }
    for id in &ids[..2] {
        store.claim_callback(*id, "1001", t(2, 0)).await.unwrap();
        store
            .record_callback_attempt(
                *id,
                CallbackResult::WrongNumber,
                "1001",
                None,
                t(2, 0),
                Duration::minutes(30),
                None,
            )
            .await
            .unwrap();
    }
    let of = |l: Vec<crate::CallbackTask>| l.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        of(store
            .callback_tasks_with_status(CallbackStatus::Failed, 0)
            .await
            .unwrap()),
        ids[..2]
    );
    assert_eq!(
        of(store
            .callback_tasks_with_status(CallbackStatus::Failed, 1)
            .await
            .unwrap()),
        ids[..1]
    );
    assert_eq!(
        of(store
            .callback_tasks_with_status(CallbackStatus::Pending, 0)
            .await
            .unwrap()),
        ids[2..]
    );
    assert!(store
        .callback_tasks_with_status(CallbackStatus::Done, 0)
        .await
        .unwrap()
        .is_empty());
}

/// A case dispatched to `district-a`, accepted and replied to (Monday).
async fn replied_case(store: &CaseStore, n: u32) -> (CaseId, String) {
    let ticket = dispatched_case(store, n).await;
    act(store, &ticket, Action::Accept, &handler(), mon(0, 3))
        .await
        .unwrap();
    let reply = Action::Reply {
        result: "Fixed".into(),
    };
    let d = act(store, &ticket, reply, &handler(), mon(0, 4))
        .await
        .unwrap();
    (d.case.id, ticket)
}

pub(super) async fn revisit_tasks_only_for_replied_cases_one_at_a_time(db: Db) {
    let store = &db.store;
    departments(store).await;
    let pending = dispatched_case(store, 1).await;
    let r = store
        .revisit_task_for(&pending, CallbackMode::Auto, t(9, 0), 2, Utc::now())
        .await;
    assert!(matches!(r, Err(CaseError::Transition { .. })), "{r:?}");
    let (case, ticket) = replied_case(store, 2).await;
    let task = store
        .revisit_task_for(&ticket, CallbackMode::Auto, t(9, 0), 2, Utc::now())
        .await
        .unwrap();
    assert_eq!(task.case_id, case);
    assert_eq!(
        (task.reason, task.mode),
        (CallbackReason::Revisit, CallbackMode::Auto)
    );
    assert_eq!(task.number, "13800000002", "the case's caller");
    assert_eq!(
        (task.status, task.max_attempts, task.earliest_at),
        (CallbackStatus::Pending, 2, t(9, 0))
    );
    assert_eq!(task.next_attempt_at, t(9, 0));
    let ev = detail(store, &ticket).await.events;
    assert_eq!(ev.last().unwrap().event, "callback_created");
    // One open revisit at a time, also while it is being called.
    let r = store
        .revisit_task_for(&ticket, CallbackMode::Agent, t(9, 0), 2, Utc::now())
        .await;
    match r {
        Err(CaseError::CallbackState { task: open, .. }) => assert_eq!(open, task.id.0),
        other => panic!("expected CallbackState, got {other:?}"),
    }
    store
        .claim_callback(task.id, "system", t(9, 0))
        .await
        .unwrap();
    assert!(store
        .revisit_task_for(&ticket, CallbackMode::Agent, t(9, 0), 2, Utc::now())
        .await
        .is_err());
    // Once it is over, another may be created.
    store
        .skip_callback(task.id, "citizen asked for a person", "sup1", Utc::now())
        .await
        .unwrap();
    let again = store
        .revisit_task_for(&ticket, CallbackMode::Agent, t(10, 0), 3, Utc::now())
        .await
        .unwrap();
    assert_eq!(again.mode, CallbackMode::Agent);
    let r = store
        .revisit_task_for("202611219999", CallbackMode::Auto, t(9, 0), 2, Utc::now())
        .await;
    assert!(matches!(r, Err(CaseError::TicketNotFound(_))), "{r:?}");
    let r = store
        .revisit_task_for("nonsense", CallbackMode::Auto, t(9, 0), 2, Utc::now())
        .await;
    assert!(matches!(r, Err(CaseError::TicketNotFound(_))), "{r:?}");
    let r = store
        .revisit_task_for(&ticket, CallbackMode::Auto, t(9, 0), 0, Utc::now())
        .await;
    assert!(
        matches!(
            r,
            Err(CaseError::InvalidField {
                field: "max_attempts",
                ..
            })
        ),
        "{r:?}"
    );
}

pub(super) async fn revisit_by_phone_records_the_verdict_and_redoes_the_unsatisfied(db: Db) {
    let store = &db.store;
    departments(store).await;
    let policy = DeadlinePolicy::default();
    let now = mon(3, 3);

    // Satisfied: revisited, the answer on the call and the case, nothing else.
    let (happy, happy_ticket) = replied_case(store, 1).await;
    let task = store
        .revisit_task_for(&happy_ticket, CallbackMode::Auto, t(9, 0), 2, Utc::now())
        .await
        .unwrap();
    // As the IVR does before it dials (a pending task is skipped once the case is settled).
    store.claim_callback(task.id, "ivr", t(9, 0)).await.unwrap();
    let call = store
        .open_outbound_call(outbound(happy, Some(task.id), None))
        .await
        .unwrap();
    store.call_answered(call, now).await.unwrap();
    let rec = recording(store, happy, call, "revisits/happy.wav").await;
    let d = store
        .revisit_by_phone(happy, 1, call, Some(rec), &cal(), &policy, now)
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Revisited { unsatisfied: false });
    assert_eq!(d.order.satisfaction, Some(Satisfaction::Satisfied));
    assert_eq!(
        d.calls.iter().find(|c| c.id == call).unwrap().satisfaction,
        Some(1)
    );
    let ev = d.events.last().unwrap();
    assert_eq!(
        (ev.event.as_str(), ev.actor.as_str()),
        ("revisited", "system")
    );
    assert_eq!(
        ev.note.as_deref(),
        Some(format!("satisfied — at the automatic revisit; evidence: recording {rec} (revisits/happy.wav)").as_str())
    );
    // Not replied any more: refused, nothing changes.
    let n = d.events.len();
    let r = store
        .revisit_by_phone(happy, 2, call, None, &cal(), &policy, now)
        .await;
    assert!(matches!(r, Err(CaseError::Transition { .. })), "{r:?}");
    assert_eq!(detail(store, &happy_ticket).await.events.len(), n);

    // Unsatisfied: revisited_unsatisfied, then at once back to the department.
    let (sad, _) = replied_case(store, 2).await;
    let call = store
        .open_outbound_call(outbound(sad, None, None))
        .await
        .unwrap();
    let rec = recording(store, sad, call, "revisits/sad.wav").await;
    let d = store
        .revisit_by_phone(sad, 3, call, Some(rec), &cal(), &policy, now)
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Redo);
    assert_eq!(d.order.satisfaction, Some(Satisfaction::Unsatisfied));
    assert_eq!((d.order.redo_count, d.order.resolved_at), (1, None));
    assert_eq!(d.case.department.as_deref(), Some("district-a"));
    assert_eq!(
        d.case.deadline,
        Some(cal().add_working_days(now, 3)),
        "a new phone deadline"
    );
    assert_eq!(
        d.calls.iter().find(|c| c.id == call).unwrap().satisfaction,
        Some(3)
    );
    let tail: Vec<_> = d.events.iter().rev().take(2).rev().collect();
    assert_eq!(
        (tail[0].event.as_str(), tail[0].to_status),
        (
            "revisited",
            Some(CaseState::Revisited { unsatisfied: true })
        )
    );
    assert_eq!(
        (tail[1].event.as_str(), tail[1].to_status),
        ("redo", Some(CaseState::Redo))
    );
    assert!(tail.iter().all(|e| e.actor == "system"));
    // The day's report counts both automatic revisits with their verdicts.
    let tz = chrono_tz::Asia::Shanghai;
    let report = store
        .daily_report(now.with_timezone(&tz).date_naive(), tz, Utc::now())
        .await
        .unwrap();
    assert_eq!(report.cases.revisited, 2);
    let v = &report.cases.revisit_verdicts;
    assert_eq!((v.satisfied, v.mostly_satisfied, v.unsatisfied), (1, 0, 1));
    assert_eq!(
        tail[1].note.as_deref(),
        Some(format!("to district-a — unsatisfied at the automatic revisit; evidence: recording {rec} (revisits/sad.wav)").as_str())
    );

    // Refusals roll everything back: a call or recording of another case, a bad score.
    let (third, third_ticket) = replied_case(store, 3).await;
    let own = store
        .open_outbound_call(outbound(third, None, None))
        .await
        .unwrap();
    let before = detail(store, &third_ticket).await;
    let r = store
        .revisit_by_phone(third, 3, call, None, &cal(), &policy, now)
        .await;
    assert!(matches!(r, Err(CaseError::CallNotInCase { .. })), "{r:?}");
    let r = store
        .revisit_by_phone(third, 3, own, Some(rec), &cal(), &policy, now)
        .await;
    assert!(
        matches!(
            r,
            Err(CaseError::InvalidField {
                field: "recording",
                ..
            })
        ),
        "{r:?}"
    );
    let r = store
        .revisit_by_phone(third, 3, own, Some(RecordingId(999)), &cal(), &policy, now)
        .await;
    assert!(matches!(r, Err(CaseError::RecordingNotFound(_))), "{r:?}");
    for score in [0, 4] {
        let r = store
            .revisit_by_phone(third, score, own, None, &cal(), &policy, now)
            .await;
        assert!(matches!(r, Err(CaseError::OutOfRange(_))), "{r:?}");
    }
    let r = store
        .revisit_by_phone(CaseId(999), 1, own, None, &cal(), &policy, now)
        .await;
    assert!(matches!(r, Err(CaseError::CaseNotFound(_))), "{r:?}");
    assert_eq!(detail(store, &third_ticket).await, before);
    // Without a recording the trail says so.
    let d = store
        .revisit_by_phone(third, 2, own, None, &cal(), &policy, now)
        .await
        .unwrap();
    assert_eq!(d.case.status, CaseState::Revisited { unsatisfied: false });
    assert_eq!(
        d.events.last().unwrap().note.as_deref(),
        Some(
            format!("mostly_satisfied — at the automatic revisit; on call {own}, not recorded")
                .as_str()
        )
    );
}

/// The finding: a revisit task made by the department's reply stayed `pending` after the
/// case was revisited by hand and closed, and the dialler rang an agent and the citizen
/// about the closed case. The change that settles a case skips what it no longer owes, in
/// the same transaction; a claim on the skipped task then fails.
pub(super) async fn a_settled_case_owes_no_revisit(db: Db) {
    let store = &db.store;
    departments(store).await;
    let agent = crate::model::Actor::new("agent7", crate::lifecycle::Role::Agent);
    let sup = crate::model::Actor::new("sup1", crate::lifecycle::Role::Supervisor);
    let (_, by_hand) = replied_case(store, 1).await;
    let (_, closed) = replied_case(store, 2).await;
    let mut tasks = Vec::new();
    for ticket in [&by_hand, &closed] {
        let task = store
            .revisit_task_for(ticket, CallbackMode::Agent, t(9, 0), 2, Utc::now())
            .await
            .unwrap();
        tasks.push(task.id);
    }
    let revisit = Action::Revisit {
        satisfaction: Satisfaction::Satisfied,
    };
    act(store, &by_hand, revisit, &agent, mon(1, 3))
        .await
        .unwrap();
    let close = Action::Close {
        note: Some("citizen unreachable".into()),
    };
    act(store, &closed, close, &sup, mon(1, 4)).await.unwrap();
    for (id, ticket) in tasks.iter().zip([&by_hand, &closed]) {
        let task = store.callback_task(*id).await.unwrap();
        assert_eq!(task.status, CallbackStatus::Skipped, "{ticket}");
        let ev = detail(store, ticket).await.events;
        assert!(
            ev.iter().any(|e| e.event == "callback_skipped"
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.contains("no longer needed"))),
            "{ev:?}"
        );
        assert!(store.claim_callback(*id, "1001", t(9, 0)).await.is_err());
    }
    assert!(store
        .callback_worklist(t(23, 0), 0)
        .await
        .unwrap()
        .is_empty());
}
