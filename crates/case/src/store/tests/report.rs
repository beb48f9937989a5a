//! The daily report on a fixture day with known answers: Tuesday 2026-03-10 in
//! Asia/Shanghai (UTC+8), i.e. `[2026-03-09T16:00Z, 2026-03-10T16:00Z)`. Rows just
//! before 00:00 and at 24:00 local must not count. Runs on both backends.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

use super::backends::Db;
use super::{new_agent, REALM};
use crate::calendar::{DeadlinePolicy, WorkCalendar};
use crate::callback::{CallbackMode, CallbackReason, CallbackResult};
use crate::lifecycle::{Action, CaseState, DispatchMode, Role, Satisfaction};
use crate::model::{
    Actor, CallId, CaseFields, Category, MissedCall, NewAgentEvent, NewCall, NewDepartment,
};
use crate::report::Verdicts;
use crate::store::CaseStore;

/// Local time in Shanghai on March `d`, 2026 (`d` = 10 is the fixture day).
fn local(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(2026, 3, d, h, m, s)
        .unwrap()
        .with_timezone(&Utc)
}

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

fn supervisor() -> Actor {
    Actor::new("sup1", Role::Supervisor)
}

fn system() -> Actor {
    Actor::new("system", Role::System)
}

async fn act(store: &CaseStore, ticket: &str, action: Action, who: &Actor, now: DateTime<Utc>) {
    let cal = WorkCalendar::weekdays(Shanghai);
    store
        .transition(ticket, action, who, &cal, &DeadlinePolicy::default(), now)
        .await
        .unwrap();
}

/// Opens an inbound call arriving at `at` (the switch answers 250 ms later).
async fn call(store: &CaseStore, n: u32, at: DateTime<Utc>) -> (CallId, String, crate::CaseId) {
    let opened = store
        .open_call(NewCall {
            sip_call_id: format!("r{n}@trunk"),
            caller_number: format!("1390000{n:04}"),
            called_number: "12345".into(),
            arrived_at: at,
            answered_at: at + ms(250),
            local_day: at.with_timezone(&Shanghai).date_naive(),
        })
        .await
        .unwrap();
    (opened.call, opened.ticket, opened.case)
}

async fn categorize(store: &CaseStore, ticket: &str, category: Category) {
    let fields = CaseFields {
        category: Some(category),
        subject: Some("Streetlight out".into()),
        ..CaseFields::default()
    };
    let agent = Actor::new("agent7", Role::Agent);
    store
        .update_case_fields(ticket, fields, &agent, Utc::now())
        .await
        .unwrap();
}

/// Queued at `q`, offered to and answered by agent 1001 after `wait` ms; then talk
/// and wrap-up of `talk` and `wrap` ms if given.
async fn answered(
    store: &CaseStore,
    c: CallId,
    q: DateTime<Utc>,
    wait: i64,
    talk_wrap: Option<(i64, i64)>,
) {
    store.call_queued(c, "consult", q).await.unwrap();
    store.call_offered(c, "1001", q).await.unwrap();
    let a = q + ms(wait);
    let leg = format!("leg-{}", c.0);
    store.call_agent_answered(c, "1001", &leg, a).await.unwrap();
    if let Some((talk, wrap)) = talk_wrap {
        store.call_agent_ended(c, a + ms(talk)).await.unwrap();
        store
            .call_wrap_up_done(c, a + ms(talk + wrap))
            .await
            .unwrap();
    }
}

async fn left(store: &CaseStore, c: CallId, q: DateTime<Utc>, wait: i64, result: &str) {
    store.call_queued(c, "consult", q).await.unwrap();
    store
        .call_left_queue(c, result, q + ms(wait))
        .await
        .unwrap();
}

async fn missed(store: &CaseStore, n: u32, at: DateTime<Utc>) {
    let m = MissedCall {
        sip_call_id: format!("m{n}"),
        caller_number: "13800138000".into(),
        called_number: "12345".into(),
        arrived_at: at,
        ended_at: at + ms(900),
        cause: "caller_cancel".into(),
    };
    store.record_missed_call(&m).await.unwrap();
}

/// A case registered on March `d` at 09:00 (its call answered by agent 1001, which makes
/// it a work order), dispatched by phone to `district-a` at 10:00 (deadline: the end of
/// the third working day after) and accepted at 11:00.
async fn dispatched_on(store: &CaseStore, n: u32, d: u32) -> String {
    dispatched_to(store, n, d, "district-a").await
}

/// [`dispatched_on`], to `department`.
async fn dispatched_to(store: &CaseStore, n: u32, d: u32, department: &str) -> String {
    let (c, ticket, _) = call(store, n, local(d, 9, 0, 0)).await;
    answered(store, c, local(d, 9, 0, 5), 1_000, Some((60_000, 5_000))).await;
    categorize(store, &ticket, Category::Consult).await;
    let dispatch = Action::Dispatch {
        department: department.into(),
        mode: DispatchMode::Phone,
    };
    act(store, &ticket, dispatch, &supervisor(), local(d, 10, 0, 0)).await;
    act(
        store,
        &ticket,
        Action::Accept,
        &supervisor(),
        local(d, 11, 0, 0),
    )
    .await;
    ticket
}

async fn reply(store: &CaseStore, ticket: &str, at: DateTime<Utc>) {
    let result = Action::Reply {
        result: "Done".into(),
    };
    act(store, ticket, result, &supervisor(), at).await;
}

async fn revisit(store: &CaseStore, ticket: &str, s: Satisfaction, at: DateTime<Utc>) {
    let action = Action::Revisit { satisfaction: s };
    act(store, ticket, action, &supervisor(), at).await;
}

async fn deadline(store: &CaseStore, ticket: &str) -> Option<DateTime<Utc>> {
    let d = store.case_by_ticket(ticket).await.unwrap().unwrap();
    d.case.deadline
}

pub(in crate::store::tests) async fn daily_report_on_a_fixture_day(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", "consult:5"), REALM, Utc::now())
        .await
        .unwrap();
    store
        .add_department(
            NewDepartment {
                code: "district-a".into(),
                name: "District A".into(),
                parent: None,
                level: 1,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    store
        .add_department(
            NewDepartment {
                code: "bureau-b".into(),
                name: "住建局".into(),
                parent: None,
                level: 1,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();

    // ----- Calls (times local, on the 10th unless said) -----
    // C1 08:00 queued +10 s, answered after 8 s, talk 300 s, wrap-up 30 s.
    let (c1, t1, _) = call(store, 1, local(10, 8, 0, 0)).await;
    answered(
        store,
        c1,
        local(10, 8, 0, 10),
        8_000,
        Some((300_000, 30_000)),
    )
    .await;
    // C2 09:00: answered after 20 s (outside 15 s), talk 120 s, wrap-up 10 s.
    let (c2, t2, case2) = call(store, 2, local(10, 9, 0, 0)).await;
    answered(
        store,
        c2,
        local(10, 9, 0, 5),
        20_000,
        Some((120_000, 10_000)),
    )
    .await;
    // C3 10:00: abandoned after 3 s (a short abandon). C4 11:00: abandoned after 30 s.
    let (c3, t3, case3) = call(store, 3, local(10, 10, 0, 0)).await;
    left(store, c3, local(10, 10, 0, 5), 3_000, "abandoned").await;
    let (c4, _, _) = call(store, 4, local(10, 11, 0, 0)).await;
    left(store, c4, local(10, 11, 0, 5), 30_000, "abandoned").await;
    // C5 12:00: turned away at once, no agents.
    let (c5, _, _) = call(store, 5, local(10, 12, 0, 0)).await;
    left(store, c5, local(10, 12, 0, 5), 0, "no_agents").await;
    // C6 13:00: answered after 10 s, still talking (not handled yet).
    let (c6, t6, _) = call(store, 6, local(10, 13, 0, 0)).await;
    answered(store, c6, local(10, 13, 0, 5), 10_000, None).await;
    // C7 arrives 23:59:50, answered after 10 s at 00:00:05 on the 11th, talk 60 s,
    // wrap-up 10 s: counts on the 10th, the day it arrived.
    let (c7, _, _) = call(store, 7, local(10, 23, 59, 50)).await;
    answered(
        store,
        c7,
        local(10, 23, 59, 55),
        10_000,
        Some((60_000, 10_000)),
    )
    .await;
    // C8 arrives at 00:00:00 sharp (counts), IVR only, leaves a voicemail at 00:00:30.
    let (_, t8, _) = call(store, 8, local(10, 0, 0, 0)).await;
    act(
        store,
        &t8,
        Action::LeftVoicemail,
        &system(),
        local(10, 0, 0, 30),
    )
    .await;
    // C9 15:00: leaves the queue after 60 s asking for a callback.
    let (c9, t9, _) = call(store, 9, local(10, 15, 0, 0)).await;
    left(store, c9, local(10, 15, 0, 5), 60_000, "callback_requested").await;
    act(
        store,
        &t9,
        Action::RequestCallback,
        &system(),
        local(10, 15, 1, 5),
    )
    .await;
    // Not the 10th: X1 arrives 23:59:59 on the 9th (answered); X2 at 00:00:00 on the
    // 11th, whose voicemail at 00:00:10 on the 11th does not count either.
    let (x1, _, _) = call(store, 10, local(9, 23, 59, 59)).await;
    answered(store, x1, local(9, 23, 59, 59), 1_000, Some((1_000, 1_000))).await;
    let (_, tx2, _) = call(store, 11, local(11, 0, 0, 0)).await;
    act(
        store,
        &tx2,
        Action::LeftVoicemail,
        &system(),
        local(11, 0, 0, 10),
    )
    .await;
    // Missed calls: 16:00 on the 10th counts; 23:59:59.999 on the 9th and 00:00 on the
    // 11th do not.
    missed(store, 1, local(10, 16, 0, 0)).await;
    missed(store, 2, local(9, 23, 59, 59) + ms(999)).await;
    missed(store, 3, local(11, 0, 0, 0)).await;
    // The phone survey, recorded now (November 2026): not on the 10th.
    store
        .record_satisfaction(case2, None, 1, Utc::now())
        .await
        .unwrap();
    store
        .record_satisfaction(case3, None, 3, Utc::now())
        .await
        .unwrap();

    // Categories of the 10th's cases: C1 consult, C2 and C3 complaint, C6 help.
    categorize(store, &t1, Category::Consult).await;
    categorize(store, &t2, Category::Complaint).await;
    categorize(store, &t3, Category::Complaint).await;
    categorize(store, &t6, Category::Help).await;

    // ----- Work orders (registered on earlier days, so not in `registered`) -----
    // A phone dispatch at 10:00 is due at 23:59:59 local of the third working day after.
    // W1: dispatched Mon 2nd (due Thu 5th), replied on the 10th 10:00: late. Revisited
    // 23:59:59 on the 10th: mostly satisfied.
    let w1 = dispatched_on(store, 21, 2).await;
    assert_eq!(deadline(store, &w1).await, Some(local(5, 23, 59, 59)));
    reply(store, &w1, local(10, 10, 0, 0)).await;
    revisit(
        store,
        &w1,
        Satisfaction::MostlySatisfied,
        local(10, 23, 59, 59),
    )
    .await;
    // W2: dispatched Mon 9th to bureau-b (due Thu 12th), replied on the 10th 11:00: on
    // time. Revisited 15:00: satisfied.
    let w2 = dispatched_to(store, 22, 9, "bureau-b").await;
    reply(store, &w2, local(10, 11, 0, 0)).await;
    revisit(store, &w2, Satisfaction::Satisfied, local(10, 15, 0, 0)).await;
    // W3: dispatched Thu 5th (due Tue 10th), replied on the 9th; revisited 09:00 on the
    // 10th: unsatisfied; redone 09:30 with a new deadline (Fri 13th): not overdue.
    let w3 = dispatched_on(store, 23, 5).await;
    reply(store, &w3, local(9, 12, 0, 0)).await;
    revisit(store, &w3, Satisfaction::Unsatisfied, local(10, 9, 0, 0)).await;
    let redo = Action::Redo { department: None };
    act(store, &w3, redo, &supervisor(), local(10, 9, 30, 0)).await;
    assert_eq!(deadline(store, &w3).await, Some(local(13, 23, 59, 59)));
    // W4: dispatched Mon 2nd (due Thu 5th), never replied: overdue. Urged 23:59:59 on
    // the 9th (not counted) and 14:00 on the 10th.
    let w4 = dispatched_on(store, 24, 2).await;
    for at in [local(9, 23, 59, 59), local(10, 14, 0, 0)] {
        let urge = Action::Urge {
            note: String::new(),
        };
        act(store, &w4, urge, &supervisor(), at).await;
    }
    // W5: dispatched Tue 3rd (due Fri 6th), replied only on the 11th: overdue at the
    // end of the 10th all the same; its reply is not the 10th's.
    let w5 = dispatched_on(store, 25, 3).await;
    reply(store, &w5, local(11, 10, 0, 0)).await;
    // W6: C1's case, dispatched 09:00 on the 10th (due Fri 13th): dispatched, not
    // overdue. The other dispatches were on other days.
    let dispatch = Action::Dispatch {
        department: "district-a".into(),
        mode: DispatchMode::Phone,
    };
    act(store, &t1, dispatch, &supervisor(), local(10, 9, 0, 0)).await;
    // W7: dispatched Mon 2nd, replied and revisited (satisfied) on the 9th: nothing.
    let w7 = dispatched_on(store, 27, 2).await;
    reply(store, &w7, local(9, 12, 0, 0)).await;
    revisit(store, &w7, Satisfaction::Satisfied, local(9, 23, 59, 59)).await;
    // W8: dispatched Thu 5th, due Tue 10th 23:59:59, still accepted: overdue (its
    // deadline passed before 24:00).
    let w8 = dispatched_on(store, 28, 5).await;
    assert_eq!(deadline(store, &w8).await, Some(local(10, 23, 59, 59)));
    let d = store.case_by_ticket(&w8).await.unwrap().unwrap();
    assert_eq!(d.case.status, CaseState::Accepted);

    // ----- Agent states -----
    for ext in ["1002", "1003", "1004"] {
        store
            .add_agent(new_agent(ext, "consult:5"), REALM, Utc::now())
            .await
            .unwrap();
    }
    let states = [
        ("1001", local(9, 22, 0, 0), "logged_out", "ready"),
        ("1003", local(9, 20, 0, 0), "logged_out", "ready"),
        ("1001", local(10, 8, 0, 0), "ready", "on_call"),
        ("1001", local(10, 8, 5, 0), "on_call", "wrap_up"),
        ("1001", local(10, 8, 6, 0), "wrap_up", "not_ready"),
        ("1001", local(10, 12, 0, 0), "not_ready", "ready"),
        ("1001", local(10, 23, 0, 0), "ready", "logged_out"),
        ("1002", local(11, 8, 0, 0), "logged_out", "ready"),
        ("1004", local(9, 8, 0, 0), "logged_out", "ready"),
        ("1004", local(9, 17, 0, 0), "ready", "logged_out"),
        ("1001", local(11, 8, 0, 0), "logged_out", "ready"),
    ];
    for (extension, at, from, to) in states {
        store
            .record_agent_event(&NewAgentEvent {
                extension,
                at,
                from,
                to,
                reason: None,
                sip_call_id: None,
                actor: None,
            })
            .await
            .unwrap();
    }

    let r = store.daily_report(day, Shanghai, Utc::now()).await.unwrap();
    assert_eq!((r.day, r.time_zone.as_str()), (day, "Asia/Shanghai"));
    assert_eq!((r.from, r.to), (local(10, 0, 0, 0), local(11, 0, 0, 0)));

    let c = &r.calls;
    assert_eq!(c.received, 10, "C1..C9 and the missed call");
    assert_eq!(c.ivr_only, 1, "C8");
    assert_eq!(c.offered, 9, "C1..C7, C9 (not C8) and the missed call");
    assert_eq!(c.queued, 8, "C1..C7, C9");
    assert_eq!(c.answered, 4, "C1, C2, C6, C7");
    assert_eq!(c.answered_within_15s, 3, "C1 8 s, C6 10 s, C7 10 s");
    assert_eq!(
        (c.abandoned, c.abandoned_within_5s),
        (2, 1),
        "C3 3 s, C4 30 s"
    );
    assert_eq!((c.expired, c.turned_away, c.left_for_callback), (0, 1, 1));
    assert_eq!((c.waiting, c.missed), (0, 1));
    // Every offered call has one outcome.
    assert_eq!(
        c.answered
            + c.abandoned
            + c.expired
            + c.turned_away
            + c.left_for_callback
            + c.waiting
            + c.missed,
        c.offered
    );
    assert_eq!((c.voicemails, c.callbacks_requested), (1, 1), "C8; C9");
    assert_eq!(c.handled, 3, "C1, C2, C7 (C6 still talking)");
    // 4 / 9 = 0.44444…
    assert_eq!(c.answer_rate, Some(0.4444));
    // 3 / 9
    assert_eq!(c.service_level, Some(0.3333));
    // (8000 + 20000 + 10000 + 10000) / 4
    assert_eq!(c.avg_speed_of_answer_ms, Some(12_000));
    // (330000 + 130000 + 70000) / 3 = 176666.67
    assert_eq!(c.avg_handling_time_ms, Some(176_667));

    // Per local hour of arrival: C8 at 0; C1 at 8; C2 at 9; C3 at 10; C4 at 11; C5 at
    // 12; C6 at 13; C9 at 15; the missed call at 16; C7 at 23.
    assert_eq!(r.hours.len(), 24);
    let hour = |h: usize| {
        let x = &r.hours[h];
        assert_eq!(x.hour as usize, h);
        (x.offered, x.answered, x.abandoned, x.missed)
    };
    assert_eq!(hour(0), (0, 0, 0, 0), "C8 asked for no agent");
    assert_eq!(hour(8), (1, 1, 0, 0));
    assert_eq!(hour(9), (1, 1, 0, 0));
    assert_eq!(hour(10), (1, 0, 1, 0));
    assert_eq!(hour(11), (1, 0, 1, 0));
    assert_eq!(hour(12), (1, 0, 0, 0), "turned away");
    assert_eq!(hour(13), (1, 1, 0, 0));
    assert_eq!(hour(15), (1, 0, 0, 0), "left for a callback");
    assert_eq!(hour(16), (1, 0, 0, 1));
    assert_eq!(hour(23), (1, 1, 0, 0));
    let offered: i64 = r.hours.iter().map(|h| h.offered).sum();
    assert_eq!(offered, c.offered, "the hours add up to the day");

    // Agents: 1001 took C1, C2, C6, C7 (talk 300 + 120 + 60 s, C6 still talking; wrap-up
    // 30 + 10 + 10 s). Its states (see above): ready 00:00–08:00 and 12:00–23:00, on a
    // call 08:00–08:05, wrap-up 08:05–08:06, not ready 08:06–12:00, logged out at 23:00.
    // 1003 was ready all day (since the 9th); 1002 only acted on the 11th; 1004 logged
    // out on the 9th and stayed out.
    let h = |x: i64| x * 3_600_000;
    let m = |x: i64| x * 60_000;
    assert_eq!(r.agents.len(), 2, "{:#?}", r.agents);
    let a = &r.agents[0];
    assert_eq!(a.agent, "1001");
    assert_eq!((a.calls, a.inbound), (4, 4));
    assert_eq!((a.talk_ms, a.wrap_up_ms), (480_000, 50_000));
    assert_eq!(a.logged_in_ms, h(23));
    assert_eq!(a.ready_ms, h(19));
    assert_eq!(a.not_ready_ms, h(3) + m(54));
    assert_eq!(a.busy_ms, m(6));
    // 6 min / (23 h − 3 h 54 min)
    assert_eq!(a.occupancy, Some(0.0052));
    let b = &r.agents[1];
    assert_eq!(b.agent, "1003");
    assert_eq!((b.calls, b.talk_ms), (0, 0));
    assert_eq!(
        (b.logged_in_ms, b.ready_ms, b.not_ready_ms),
        (h(24), h(24), 0)
    );
    assert_eq!(b.occupancy, Some(0.0));

    let k = &r.cases;
    // Work orders: C1, C2, C6, C7 (an agent answered), C8 (a voicemail), C9 (a callback
    // request). C3, C4 (abandoned) and C5 (turned away) made no request.
    assert_eq!(k.registered, 6, "C1, C2, C6..C9's cases: {k:#?}");
    let by_category: BTreeMap<String, i64> = [
        ("complaint", 1),
        ("consult", 1),
        ("help", 1),
        ("uncategorized", 3),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(k.by_category, by_category);
    assert_eq!(k.by_channel.values().sum::<i64>(), 6, "{:?}", k.by_channel);
    assert_eq!(k.dispatched, 1, "W6");
    assert_eq!(
        (k.resolved, k.resolved_on_time, k.reply_events),
        (2, 1, 2),
        "W1 late, W2 on time"
    );
    assert_eq!(k.overdue, 3, "W4, W5, W8");
    assert_eq!((k.urged, k.redone, k.revisited), (1, 1, 3));
    let verdicts = Verdicts {
        satisfied: 1,
        mostly_satisfied: 1,
        unsatisfied: 1,
    };
    assert_eq!(k.revisit_verdicts, verdicts, "W2, W1, W3");
    assert_eq!((k.revisit_events, k.revisit_event_verdicts), (3, verdicts));
    assert_eq!(k.survey_verdicts, Verdicts::default());
    // 1 / 2; 3 / 2; (1 + 1) / 3
    assert_eq!(k.on_time_rate, Some(0.5));
    assert_eq!(k.revisit_rate, Some(1.5));
    assert_eq!(k.satisfaction_rate, Some(0.6667));
    assert_eq!(k.survey_satisfaction_rate, None);
    // Per department (by code): bureau-b resolved W2 on time; district-a had W6's
    // dispatch, W1's late reply and the overdue W4, W5, W8.
    let depts: Vec<_> = k
        .by_department
        .iter()
        .map(|d| {
            (
                d.department.as_str(),
                d.name.as_str(),
                (d.dispatched, d.resolved, d.resolved_on_time, d.overdue),
                d.on_time_rate,
            )
        })
        .collect();
    assert_eq!(
        depts,
        [
            ("bureau-b", "住建局", (0, 1, 1, 0), Some(1.0)),
            ("district-a", "District A", (1, 1, 0, 3), Some(0.0)),
        ]
    );
    let sum = |f: fn(&crate::report::DepartmentFigures) -> i64| -> i64 {
        k.by_department.iter().map(f).sum()
    };
    assert_eq!(
        (
            sum(|d| d.dispatched),
            sum(|d| d.resolved),
            sum(|d| d.overdue)
        ),
        (k.dispatched, k.resolved, k.overdue)
    );

    // The rates' trend, one query for many days, gives each day's report's figures:
    // the 9th (W3 and W7 replied, W7 revisited), the 10th, the 11th (W5 late).
    let first = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
    let last = NaiveDate::from_ymd_opt(2026, 3, 11).unwrap();
    let rates = store.daily_rates(first, last, Shanghai).await.unwrap();
    assert_eq!(rates.len(), 4);
    for (d, rate) in first.iter_days().zip(&rates) {
        let k = store
            .daily_report(d, Shanghai, Utc::now())
            .await
            .unwrap()
            .cases;
        assert_eq!(rate.day, d);
        assert_eq!(
            (rate.resolved, rate.resolved_on_time, rate.on_time_rate),
            (k.resolved, k.resolved_on_time, k.on_time_rate),
            "{d}"
        );
        assert_eq!(
            (
                rate.revisited,
                rate.revisit_verdicts,
                rate.satisfaction_rate
            ),
            (k.revisited, k.revisit_verdicts, k.satisfaction_rate),
            "{d}"
        );
    }
    assert_eq!(
        (rates[2].on_time_rate, rates[2].satisfaction_rate),
        (Some(0.5), Some(0.6667))
    );
    assert_eq!((rates[1].resolved, rates[1].revisited), (2, 1));
    assert_eq!((rates[3].resolved, rates[3].on_time_rate), (1, Some(0.0)));
    assert_eq!((rates[0].resolved, rates[0].on_time_rate), (0, None));
    assert!(store
        .daily_rates(last, first, Shanghai)
        .await
        .unwrap()
        .is_empty());

    // The survey answers count on the day they were given: today.
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let r = store
        .daily_report(today, Shanghai, Utc::now())
        .await
        .unwrap();
    if Utc::now().with_timezone(&Shanghai).date_naive() == today {
        let survey = Verdicts {
            satisfied: 1,
            mostly_satisfied: 0,
            unsatisfied: 1,
        };
        assert_eq!(r.cases.survey_verdicts, survey);
        assert_eq!(r.cases.survey_satisfaction_rate, Some(0.5));
        assert_eq!((r.calls.offered, r.cases.resolved), (0, 0));
    }

    // An empty day: counts 0, rates and averages None; and it serializes.
    let r = store
        .daily_report(
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            Shanghai,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.calls.offered, r.cases.registered, r.cases.overdue),
        (0, 0, 0)
    );
    assert_eq!(
        (r.calls.answer_rate, r.calls.avg_speed_of_answer_ms),
        (None, None)
    );
    assert_eq!(
        (r.cases.on_time_rate, r.cases.satisfaction_rate),
        (None, None)
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["day"], "2026-01-01");
    assert!(json["calls"]["answer_rate"].is_null());
}

/// Each body below on both backends (kept here rather than in the list of `tests.rs`).
macro_rules! report_on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use super::super::backends::{run, Kind};
                #[tokio::test]
                async fn sqlite() {
                    run(Kind::Sqlite, super::$name).await;
                }
                #[tokio::test]
                async fn postgres() {
                    run(Kind::Postgres, super::$name).await;
                }
            }
        )+
    };
}

report_on_both_backends!(
    report_counts_resolved_and_revisited_per_case,
    report_offered_includes_missed_calls,
    report_counts_callback_outcomes,
);

/// The finding: one case replied twice was "resolved 2", and an unsatisfied revisit
/// followed (after the redo) by a satisfied one gave 满意率 50 %. 12345 offices count
/// cases: resolved 1, revisited 1, the latest verdict (satisfied) → 100 %.
async fn report_counts_resolved_and_revisited_per_case(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", "consult:5"), REALM, Utc::now())
        .await
        .unwrap();
    store
        .add_department(
            NewDepartment {
                code: "district-a".into(),
                name: "District A".into(),
                parent: None,
                level: 1,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
    // Dispatched Mon 9th (due Thu 12th); on the 10th: replied 09:00, revisited
    // unsatisfied 10:00, redone 10:30 (new deadline), accepted 11:00, replied again
    // 12:00, revisited satisfied 13:00.
    let w = dispatched_on(store, 31, 9).await;
    reply(store, &w, local(10, 9, 0, 0)).await;
    revisit(store, &w, Satisfaction::Unsatisfied, local(10, 10, 0, 0)).await;
    let redo = Action::Redo { department: None };
    act(store, &w, redo, &supervisor(), local(10, 10, 30, 0)).await;
    act(
        store,
        &w,
        Action::Accept,
        &supervisor(),
        local(10, 11, 0, 0),
    )
    .await;
    reply(store, &w, local(10, 12, 0, 0)).await;
    revisit(store, &w, Satisfaction::Satisfied, local(10, 13, 0, 0)).await;

    let r = store.daily_report(day, Shanghai, Utc::now()).await.unwrap();
    let k = &r.cases;
    assert_eq!((k.resolved, k.resolved_on_time), (1, 1), "one case: {k:#?}");
    assert_eq!(k.revisited, 1, "one case revisited: {k:#?}");
    let latest = Verdicts {
        satisfied: 1,
        ..Verdicts::default()
    };
    assert_eq!(k.revisit_verdicts, latest, "the latest verdict counts");
    assert_eq!(k.satisfaction_rate, Some(1.0));
    assert_eq!((k.on_time_rate, k.revisit_rate), (Some(1.0), Some(1.0)));
    assert_eq!((k.redone, k.dispatched), (1, 0));
    // The events stay countable, under their own names.
    assert_eq!((k.reply_events, k.revisit_events), (2, 2));
    let both = Verdicts {
        satisfied: 1,
        mostly_satisfied: 0,
        unsatisfied: 1,
    };
    assert_eq!(k.revisit_event_verdicts, both);
}

/// The finding: a call cancelled while ringing (a missed call) was left out of
/// `offered` but counted against 接通率 (`offered 0 … missed 1 / 接通率 0.0%`). One set
/// of definitions: offered includes it, and both rates divide by offered.
async fn report_offered_includes_missed_calls(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", "consult:5"), REALM, Utc::now())
        .await
        .unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
    missed(store, 1, local(10, 9, 0, 0)).await;
    let r = store.daily_report(day, Shanghai, Utc::now()).await.unwrap();
    let c = &r.calls;
    assert_eq!((c.offered, c.missed, c.answered), (1, 1, 0), "{c:#?}");
    assert_eq!(c.answer_rate, Some(0.0));
    assert_eq!(c.service_level, Some(0.0), "the same denominator as 接通率");

    // Add an answered call (8 s) at 09:30 and an abandoned one (3 s) at 10:15.
    let (c1, _, _) = call(store, 1, local(10, 9, 30, 0)).await;
    answered(store, c1, local(10, 9, 30, 5), 8_000, Some((60_000, 5_000))).await;
    let (c2, _, _) = call(store, 2, local(10, 10, 15, 0)).await;
    left(store, c2, local(10, 10, 15, 5), 3_000, "abandoned").await;
    let r = store.daily_report(day, Shanghai, Utc::now()).await.unwrap();
    let c = &r.calls;
    assert_eq!((c.offered, c.missed, c.answered, c.abandoned), (3, 1, 1, 1));
    assert_eq!(c.answer_rate, Some(0.3333), "1 / 3");
    assert_eq!(c.service_level, Some(0.3333), "1 / 3");
    assert_eq!((c.received, c.queued, c.ivr_only), (3, 2, 0));
    assert_eq!(
        (r.hours[9].offered, r.hours[9].answered, r.hours[9].missed),
        (2, 1, 1)
    );
    assert_eq!((r.hours[10].offered, r.hours[10].abandoned), (1, 1));

    // The wallboard's queue figures count the same calls the same way: the queues'
    // offered add up to the report's queued (offered less the missed, which reached no
    // queue).
    let q = store.queue_stats(local(10, 0, 0, 0)).await.unwrap();
    assert_eq!(q.len(), 1, "{q:#?}");
    let q = &q[0];
    assert_eq!(q.offered as i64, c.queued);
    assert_eq!(
        (
            q.answered as i64,
            q.abandoned as i64,
            q.answered_within_15s as i64
        ),
        (c.answered, c.abandoned, c.answered_within_15s)
    );
}

/// Callback outcomes: attempts by result, tasks done and failed, on the day of the
/// attempt; tasks created on the day they were created.
async fn report_counts_callback_outcomes(db: Db) {
    let store = &db.store;
    let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
    let (_, _, case) = call(store, 1, local(10, 8, 0, 0)).await;
    let task = |max: u32| {
        store.create_callback_task(
            case,
            "13900001111",
            CallbackReason::Voicemail,
            CallbackMode::Agent,
            0,
            local(10, 8, 0, 0),
            max,
            "sup",
            Utc::now(),
        )
    };
    let (a, b) = (task(3).await.unwrap(), task(1).await.unwrap());
    let attempt = |id, result, at| async move {
        store.claim_callback(id, "agent7", at).await.unwrap();
        store
            .record_callback_attempt(id, result, "agent7", None, at, Duration::zero(), None)
            .await
            .unwrap();
    };
    // A: no answer at 09:00, reached at 09:10 (done). B (one attempt): busy (failed).
    attempt(a.id, CallbackResult::NoAnswer, local(10, 9, 0, 0)).await;
    attempt(a.id, CallbackResult::Reached, local(10, 9, 10, 0)).await;
    attempt(b.id, CallbackResult::Busy, local(10, 9, 20, 0)).await;

    let r = store.daily_report(day, Shanghai, Utc::now()).await.unwrap();
    let cb = &r.callbacks;
    assert_eq!(cb.attempts, 3, "{cb:#?}");
    let by_result: BTreeMap<String, i64> = [("busy", 1), ("no_answer", 1), ("reached", 1)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(cb.attempts_by_result, by_result);
    assert_eq!((cb.tasks_done, cb.tasks_failed), (1, 1));
    assert_eq!((cb.tasks_uncallable, cb.tasks_skipped), (0, 0));
    // The tasks were created now (the store stamps them), not on the 10th.
    assert_eq!(cb.tasks_created, 0);
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let r = store
        .daily_report(today, Shanghai, Utc::now())
        .await
        .unwrap();
    if Utc::now().with_timezone(&Shanghai).date_naive() == today {
        assert_eq!((r.callbacks.tasks_created, r.callbacks.attempts), (2, 0));
    }
}
