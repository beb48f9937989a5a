//! The store's tests. Almost every test is an `async fn(Db)` run once per backend by
//! `on_both_backends!` (as `sqlite::name` and `postgres::name`); see [`backends`] for
//! how each gets an empty database, and when the PostgreSQL ones are skipped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::*;
use crate::model::{
    AcdResult, Agent, CallId, CaseEvent, CaseId, CaseQuery, CaseStatus, Channel, MissedCall,
    NewAgent, NewCall, NewRecording, OpenedCall, RecordingKind, Skill,
};
use crate::ticket;

mod backends;
mod callbacks;
mod outbound;
mod report;
mod work;

use backends::Db;
use callbacks::*;
use outbound::*;
use report::*;
use work::*;

/// Instantiates generic test bodies for each backend: `sqlite::name` and `postgres::name`,
/// each with the given test attribute.
macro_rules! on_both_backends {
    ($(#[$test:meta] $($name:ident),+ $(,)?;)+) => {
        mod sqlite {
            $($(
                #[$test]
                async fn $name() {
                    super::backends::run(super::backends::Kind::Sqlite, super::$name).await;
                }
            )+)+
        }
        mod postgres {
            $($(
                #[$test]
                async fn $name() {
                    super::backends::run(super::backends::Kind::Postgres, super::$name).await;
                }
            )+)+
        }
    };
}

on_both_backends! {
    #[tokio::test]
    tickets_are_sequential_and_restart_each_day,
    calls_answered_together_share_one_commit,
    sequence_widens_past_99999,
    open_call_writes_case_call_and_registered_event,
    migration_0009_leaves_only_real_requests_registered,
    registrations_are_kept_replaced_and_lapse,
    end_call_and_recording_show_in_case_detail,
    add_recording_checks_path_and_ownership,
    mark_voicemail_changes_status_and_audits,
    audit_trail_is_append_only,
    reopening_keeps_data_and_sequence,
    unknown_ticket_is_none,
    malformed_ticket_is_none_without_a_query,
    list_cases_is_newest_first_and_limited,
    case_detail_serializes_to_json,
    missed_calls_are_kept_newest_first,
    times_round_trip,
    agents_add_list_get_set_skills_remove,
    duplicate_agent_is_agent_exists_and_removed_extension_is_reusable,
    add_agent_checks_its_input,
    agent_secrets_are_digest_ha1_and_never_serialized,
    verify_agent_password,
    agent_events_are_append_only_and_newest_first,
    acd_lifecycle_computes_wait_talk_and_wrap_up,
    acd_steps_check_order_and_inputs,
    left_queue_results_set_wait,
    queue_stats_count_per_queue_since,
    callback_requested_changes_status_and_audits,
    departments_form_a_tree,
    full_life_of_a_dispatched_case,
    returned_case_is_redispatched,
    unsatisfied_revisit_is_redone_with_a_new_deadline,
    case_details_match_case_by_ticket,
    urges_and_extensions,
    refused_actions_change_nothing,
    department_handlers_are_limited,
    update_case_fields_checks_every_field,
    search_filters,
    repeat_caller_is_recognised_and_linked,
    create_case_shares_the_ticket_sequence,
    create_case_refusals_change_nothing,
    voicemail_makes_a_voicemail_case,
    users_login_and_sessions,
    recording_access_is_audited,
    daily_report_on_a_fixture_day,
    voicemail_and_callback_request_create_tasks,
    worklist_is_due_tasks_oldest_place_first,
    attempts_retry_with_spacing_then_fail,
    reached_is_done_and_reschedule_and_skip,
    worklist_survives_reopening,
    outbound_call_is_a_call_row_of_the_case,
    callback_attempts_are_listed_oldest_first_with_their_calls,
    satisfaction_is_kept_on_the_call_and_as_an_event,
    released_claims_go_back_to_pending,
    tasks_are_listed_by_status,
    uncallable_numbers_are_failed_at_once_and_never_due,
    a_settled_case_owes_no_revisit,
    revisit_tasks_only_for_replied_cases_one_at_a_time,
    revisit_by_phone_records_the_verdict_and_redoes_the_unsatisfied;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_calls_get_distinct_tickets,
    concurrent_changes_to_one_call_and_case_serialize,
    concurrent_agent_adds_of_one_extension_admit_one,
    concurrent_transitions_serialize,
    concurrent_claims_admit_one;
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// An agent event to record.
fn ev<'a>(
    extension: &'a str,
    at: DateTime<Utc>,
    from: &'a str,
    to: &'a str,
    reason: Option<&'a str>,
    sip_call_id: Option<&'a str>,
    actor: Option<&'a str>,
) -> crate::model::NewAgentEvent<'a> {
    crate::model::NewAgentEvent {
        extension,
        at,
        from,
        to,
        reason,
        sip_call_id,
        actor,
    }
}

fn new_call(n: u32, local_day: NaiveDate) -> NewCall {
    let arrived = Utc.with_ymd_and_hms(2026, 11, 21, 1, 2, 3).unwrap();
    NewCall {
        sip_call_id: format!("call-{n}@trunk"),
        caller_number: format!("1380000{n:04}"),
        called_number: "12345".into(),
        arrived_at: arrived,
        answered_at: arrived + chrono::Duration::milliseconds(250),
        local_day,
    }
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("data").join("hotline.db")
}

async fn open_temp() -> (tempfile::TempDir, CaseStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db_path(dir.path()).display());
    let store = CaseStore::open(&url).await.unwrap();
    (dir, store)
}

async fn journal_mode(store: &CaseStore) -> String {
    match &store.backend {
        Backend::Sqlite(b) => b.journal_mode().await.unwrap(),
        Backend::Postgres(_) => panic!("PostgreSQL has no journal mode"),
    }
}

/// Sets a day's last ticket sequence number.
async fn set_sequence(store: &CaseStore, day: &str, last: i64) {
    match &store.backend {
        Backend::Sqlite(b) => b.set_sequence_for_test(day, last).await,
        Backend::Postgres(b) => b.set_sequence_for_test(day, last).await,
    }
}

/// Runs one raw SQL statement.
async fn execute(store: &CaseStore, sql: &str) -> Result<(), sqlx::Error> {
    match &store.backend {
        Backend::Sqlite(b) => b.execute_for_test(sql).await,
        Backend::Postgres(b) => b.execute_for_test(sql).await,
    }
}

/// The stored login hash of a current agent.
async fn password_hash(store: &CaseStore, ext: &str) -> Option<String> {
    match &store.backend {
        Backend::Sqlite(b) => b.password_hash(ext).await.unwrap(),
        Backend::Postgres(b) => b.password_hash(ext).await.unwrap(),
    }
}

#[tokio::test]
async fn open_creates_file_and_parent_dir_in_wal_mode() {
    let (dir, store) = open_temp().await;
    assert!(db_path(dir.path()).is_file());
    assert_eq!(journal_mode(&store).await, "wal");
    store.close().await;

    // A plain path works too.
    let plain = dir.path().join("other").join("cases.db");
    let store = CaseStore::open(plain.to_str().unwrap()).await.unwrap();
    assert!(plain.is_file());
    assert_eq!(journal_mode(&store).await, "wal");
}

#[tokio::test]
async fn other_url_schemes_are_unsupported() {
    let err = CaseStore::open("mysql://hotline:pw@localhost/hotline")
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::UnsupportedBackend(_)), "{err}");
    // The password does not end up in the message (nor in logs).
    assert!(!err.to_string().contains("pw"), "{err}");
}

#[test]
fn redact_password_hides_only_the_password() {
    for (url, shown) in [
        (
            "postgres://hotline:s3cret@db:5432/hotline?sslmode=require",
            "postgres://hotline:***@db:5432/hotline?sslmode=require",
        ),
        ("postgres://u:p@ss@db/x", "postgres://u:***@db/x"),
        (
            "postgres://hotline@db/hotline",
            "postgres://hotline@db/hotline",
        ),
        ("postgres://db/x?user=a@b", "postgres://db/x?user=a@b"),
        ("sqlite://data/hotline.db", "sqlite://data/hotline.db"),
        ("data/hotline.db", "data/hotline.db"),
    ] {
        assert_eq!(redact_password(url), shown, "{url}");
    }
}

#[tokio::test]
async fn backend_name_of_a_sqlite_store() {
    let (_dir, store) = open_temp().await;
    assert_eq!(store.backend_name(), "sqlite");
    // A postgres:// URL gives "postgres": checked before every `postgres::` test.
}

async fn tickets_are_sequential_and_restart_each_day(db: Db) {
    let store = &db.store;
    let d1 = day(2026, 11, 21);
    let a = store.open_answered_call(new_call(1, d1)).await.unwrap();
    let b = store.open_answered_call(new_call(2, d1)).await.unwrap();
    assert_eq!(a.ticket, "2026112100001");
    assert_eq!(b.ticket, "2026112100002");
    assert_ne!(a.case, b.case);
    assert_ne!(a.call, b.call);

    let c = store
        .open_answered_call(new_call(3, day(2026, 11, 22)))
        .await
        .unwrap();
    assert_eq!(c.ticket, "2026112200001");
    // The old day's counter is untouched by the new day.
    let d = store.open_answered_call(new_call(4, d1)).await.unwrap();
    assert_eq!(d.ticket, "2026112100003");
}

/// Calls answered at the same moment share one transaction (one fsync), across two local
/// days, and still get their own consecutive tickets, cases and call rows; each end lands
/// and a second end of the same call is refused without failing its batch.
async fn calls_answered_together_share_one_commit(db: Db) {
    let store = &db.store;
    let (d1, d2) = (day(2026, 11, 21), day(2026, 11, 22));
    let before = store.writer_stats().snapshot();
    let opened = futures::future::join_all(
        (0..120).map(|n| store.open_call(new_call(n, if n % 3 == 0 { d2 } else { d1 }))),
    )
    .await;
    let opened: Vec<OpenedCall> = opened.into_iter().map(Result::unwrap).collect();
    let after = store.writer_stats().snapshot();
    assert_eq!(after.writes - before.writes, 120);
    assert_eq!(
        after.batches - before.batches,
        1,
        "not one commit: {after:?}"
    );
    let mut tickets: Vec<&str> = opened.iter().map(|o| o.ticket.as_str()).collect();
    tickets.sort();
    let want: Vec<String> = (1..=40)
        .map(|s| ticket::format(d2, s))
        .chain((1..=80).map(|s| ticket::format(d1, s)))
        .collect();
    let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(tickets, want);
    for (n, o) in opened.iter().enumerate() {
        let case = store.case_by_ticket(&o.ticket).await.unwrap().unwrap();
        assert_eq!(case.case.id, o.case);
        assert_eq!(case.calls.len(), 1);
        assert_eq!(case.calls[0].id, o.call);
        assert_eq!(
            case.calls[0].sip_call_id,
            new_call(n as u32, d1).sip_call_id
        );
    }

    // The ends share a commit too (one statement for all), each with its own figures; a
    // second end of a call and the end of an unknown call are refused, each for its reason.
    let at = |n: usize| {
        Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, n as u32 % 60)
            .unwrap()
    };
    let figures: Vec<(String, String)> = (0..opened.len())
        .map(|n| (format!("cause{n}"), format!("path{n}")))
        .collect();
    let before = store.writer_stats().snapshot();
    let ends = futures::future::join_all(
        opened
            .iter()
            .zip(&figures)
            .enumerate()
            .map(|(n, (o, (cause, path)))| store.end_call(o.call, at(n), cause, path))
            .chain([
                store.end_call(opened[0].call, at(0), "caller_bye", "main"),
                store.end_call(CallId(999_999), at(0), "caller_bye", "main"),
            ]),
    )
    .await;
    let after = store.writer_stats().snapshot();
    let (unknown, rest) = ends.split_last().unwrap();
    let (again, first) = rest.split_last().unwrap();
    assert!(first.iter().all(Result::is_ok), "{first:?}");
    assert!(
        matches!(again, Err(CaseError::CallAlreadyEnded(_))),
        "{again:?}"
    );
    assert!(
        matches!(unknown, Err(CaseError::CallNotFound(_))),
        "{unknown:?}"
    );
    assert_eq!(
        after.batches - before.batches,
        1,
        "the ends took more than one commit: {after:?}"
    );
    for n in [0, 7, 119] {
        let case = store
            .case_by_ticket(&opened[n].ticket)
            .await
            .unwrap()
            .unwrap();
        let call = &case.calls[0];
        assert_eq!(
            (
                call.ended_at,
                call.hangup_cause.as_deref(),
                call.ivr_path.as_deref()
            ),
            (
                Some(at(n)),
                Some(format!("cause{n}").as_str()),
                Some(format!("path{n}").as_str())
            ),
        );
    }
    assert_eq!(store.writer_stats().snapshot().pending, 0);
}

async fn sequence_widens_past_99999(db: Db) {
    let store = &db.store;
    set_sequence(store, "20261121", 99_999).await;
    let opened = store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    assert_eq!(opened.ticket, "20261121100000");
    assert!(store
        .case_by_ticket(&opened.ticket)
        .await
        .unwrap()
        .is_some());
}

async fn concurrent_calls_get_distinct_tickets(db: Db) {
    let store = &db.store;
    let d = day(2026, 11, 21);
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.open_answered_call(new_call(n, d)).await.unwrap() })
        })
        .collect();
    let mut tickets = Vec::new();
    for t in tasks {
        tickets.push(t.await.unwrap().ticket);
    }
    let distinct: HashSet<String> = tickets.iter().cloned().collect();
    assert_eq!(distinct.len(), 100, "duplicate tickets handed out");
    let expected: HashSet<String> = (1..=100).map(|s| crate::ticket::format(d, s)).collect();
    assert_eq!(distinct, expected);
    assert_eq!(store.list_cases(1000).await.unwrap().len(), 100);
    // The sequence stopped at exactly 100.
    let next = store.open_answered_call(new_call(100, d)).await.unwrap();
    assert_eq!(next.ticket, crate::ticket::format(d, 101));
}

/// Read-modify-write operations on one row do not lose updates under concurrency: each
/// ACD step sees the previous one's result, and of several status changes from the same
/// state only one wins.
async fn concurrent_changes_to_one_call_and_case_serialize(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", ""), REALM, Utc::now())
        .await
        .unwrap();
    let opened = store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 1, 2, 10).unwrap();
    store.call_queued(opened.call, "consult", t0).await.unwrap();

    let offers: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.call_offered(opened.call, "1001", t0).await })
        })
        .collect();
    let changes: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.mark_voicemail(opened.case, Utc::now()).await })
        })
        .collect();
    for t in offers {
        t.await.unwrap().unwrap();
    }
    let mut won = 0;
    for t in changes {
        match t.await.unwrap() {
            Ok(()) => won += 1,
            Err(CaseError::InvalidTransition { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
    let row = call_row(store, &opened).await;
    assert_eq!(row.offered_count, 20);
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    let count = |name: &str| detail.events.iter().filter(|e| e.event == name).count();
    assert_eq!((count("offered"), count("voicemail")), (20, 1));
    assert_eq!(detail.case.status, CaseStatus::CallbackPending);
}

/// Several adds of one extension at once, new or revived: exactly one agent results.
async fn concurrent_agent_adds_of_one_extension_admit_one(db: Db) {
    let store = &db.store;
    for revive in [false, true] {
        if revive {
            store.remove_agent("1001", Utc::now()).await.unwrap();
        }
        let adds: Vec<_> = (0..4)
            .map(|i| {
                let store = store.clone();
                let a = NewAgent {
                    name: format!("Person {i}"),
                    ..new_agent("1001", "en:1")
                };
                tokio::spawn(async move { store.add_agent(a, REALM, Utc::now()).await })
            })
            .collect();
        let mut added = 0;
        for t in adds {
            match t.await.unwrap() {
                Ok(_) => added += 1,
                Err(CaseError::AgentExists(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(added, 1, "revive: {revive}");
        assert_eq!(store.list_agents().await.unwrap().len(), 1);
    }
}

async fn open_call_writes_case_call_and_registered_event(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", "consult:5"), REALM, Utc::now())
        .await
        .unwrap();
    let call = new_call(7, day(2026, 11, 21));
    let opened = store.open_call(call.clone()).await.unwrap();
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();

    // Answered by the switch, nothing asked yet: a row, not a work order.
    assert_eq!(detail.case.id, opened.case);
    assert_eq!(detail.case.channel, Channel::Phone);
    assert_eq!(detail.case.status, CaseStatus::NoRequest);
    assert_eq!(detail.case.caller_number, call.caller_number);
    assert_eq!(detail.case.created_at, call.answered_at);

    assert_eq!(detail.calls.len(), 1);
    let row = &detail.calls[0];
    assert_eq!(row.id, opened.call);
    assert_eq!(row.sip_call_id, call.sip_call_id);
    assert_eq!(row.called_number, "12345");
    assert_eq!(row.arrived_at, call.arrived_at);
    assert_eq!(row.answered_at, Some(call.answered_at));
    assert_eq!(row.ended_at, None);

    assert!(detail.recordings.is_empty());
    assert_eq!(detail.events.len(), 1);
    let ev: &CaseEvent = &detail.events[0];
    assert_eq!(ev.event, "opened");
    assert_eq!(ev.from_status, None);
    assert_eq!(ev.to_status, Some(CaseStatus::NoRequest));
    // The trail, shown to department handlers, carries no SIP Call-ID.
    assert_eq!(ev.note, None);

    // Listed to no one, found only by its state.
    let number = call.caller_number.as_str();
    assert!(store.list_cases(10).await.unwrap().is_empty());
    assert!(store
        .open_cases_for_number(number)
        .await
        .unwrap()
        .is_empty());
    let by_number = CaseQuery {
        caller_number: Some(number.into()),
        ..CaseQuery::default()
    };
    assert!(store.search_cases(&by_number).await.unwrap().is_empty());
    let no_request = CaseQuery {
        status: Some(CaseStatus::NoRequest),
        ..CaseQuery::default()
    };
    let found = store.search_cases(&no_request).await.unwrap();
    assert_eq!(found.len(), 1);

    // An agent answers: now it is a work order (受理), audited.
    let t0 = call.answered_at + secs(20);
    store.call_queued(opened.call, "consult", t0).await.unwrap();
    store.call_offered(opened.call, "1001", t0).await.unwrap();
    store
        .call_agent_answered(opened.call, "1001", "leg@hotline", t0 + secs(3))
        .await
        .unwrap();
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    assert_eq!(detail.case.status, CaseStatus::Registered);
    let registered = detail
        .events
        .iter()
        .find(|e| e.event == "registered")
        .expect("a registered event");
    assert_eq!(registered.from_status, Some(CaseStatus::NoRequest));
    assert_eq!(registered.to_status, Some(CaseStatus::Registered));
    assert_eq!(registered.at, t0 + secs(3));
    assert_eq!(store.list_cases(10).await.unwrap().len(), 1);
    let open = store.open_cases_for_number(number).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(store.search_cases(&by_number).await.unwrap().len(), 1);

    // A voicemail or a callback request makes one too, straight from no request.
    let vm = store
        .open_call(new_call(8, day(2026, 11, 21)))
        .await
        .unwrap();
    store.mark_voicemail(vm.case, Utc::now()).await.unwrap();
    let cb = store
        .open_call(new_call(9, day(2026, 11, 21)))
        .await
        .unwrap();
    store
        .mark_callback_requested(cb.case, Utc::now())
        .await
        .unwrap();
    for (t, want) in [
        (&vm.ticket, CaseStatus::CallbackPending),
        (&cb.ticket, CaseStatus::CallbackPending),
    ] {
        let d = store.case_by_ticket(t).await.unwrap().unwrap();
        assert_eq!(d.case.status, want);
    }
    assert_eq!(store.list_cases(10).await.unwrap().len(), 3);
}

/// Migration 0009 run on rows written before it: only the empty phone cases — no agent
/// answered, nobody acted, nothing written — leave `registered`, audited.
async fn migration_0009_leaves_only_real_requests_registered(db: Db) {
    let store = &db.store;
    let d = day(2026, 11, 21);
    let empty = store.open_call(new_call(1, d)).await.unwrap();
    let taken = store.open_call(new_call(2, d)).await.unwrap();
    let touched = store.open_call(new_call(3, d)).await.unwrap();
    let written = store.open_call(new_call(4, d)).await.unwrap();
    // As the server before 0009 left them: every call's case registered.
    execute(store, "UPDATE cases SET status = 'registered'")
        .await
        .unwrap();
    let sql = |q: String| async move { execute(store, &q).await.unwrap() };
    sql(format!(
        "UPDATE calls SET agent_answered_at = answered_at WHERE id = {}",
        taken.call.0
    ))
    .await;
    sql(format!(
        "INSERT INTO case_events (case_id, at, actor, event) \
         SELECT id, updated_at, 'wang', 'updated' FROM cases WHERE id = {}",
        touched.case.0
    ))
    .await;
    sql(format!(
        "UPDATE cases SET subject = 'street light' WHERE id = {}",
        written.case.0
    ))
    .await;

    let migration = match store.backend_name() {
        "postgres" => include_str!("../../../../migrations/postgres/0009_no_request.sql"),
        _ => include_str!("../../../../migrations/sqlite/0009_no_request.sql"),
    };
    let code: String = migration
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let statements: Vec<String> = code
        .split(';')
        .filter(|st| !st.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(statements.len(), 2, "{statements:#?}");
    for st in statements {
        sql(st).await;
    }

    let status = |t: String| async move {
        let c = store.case_by_ticket(&t).await.unwrap().unwrap();
        (c.case.status, c.events.last().map(|e| e.event.clone()))
    };
    let (st, last) = status(empty.ticket.clone()).await;
    assert_eq!(
        (st, last.as_deref()),
        (CaseStatus::NoRequest, Some("no_request"))
    );
    for opened in [&taken, &touched, &written] {
        let (st, _) = status(opened.ticket.clone()).await;
        assert_eq!(st, CaseStatus::Registered, "{}", opened.ticket);
    }
}

/// Softphone bindings written after REGISTERs are read back (the live ones) at start.
async fn registrations_are_kept_replaced_and_lapse(db: Db) {
    use crate::registration::StoredBinding;
    let store = &db.store;
    let now = Utc.with_ymd_and_hms(2026, 12, 3, 8, 0, 0).unwrap();
    let b = |ext: &str, contact: &str, secs: i64| StoredBinding {
        extension: ext.into(),
        contact: contact.into(),
        source: "127.0.0.1:5070".into(),
        transport: "udp".into(),
        call_id: format!("reg-{ext}@phone"),
        cseq: 7,
        q: Some(0.5),
        expires_at: now + chrono::Duration::seconds(secs),
    };
    let phone = b("1001", "sip:1001@127.0.0.1:5070", 600);
    let old = b("1001", "sip:1001@127.0.0.1:5071", -5);
    store
        .save_registrations("1001", &[phone.clone(), old])
        .await
        .unwrap();
    store
        .save_registrations("1002", &[b("1002", "sip:1002@127.0.0.1:5080", 60)])
        .await
        .unwrap();
    let live = store.live_registrations(now).await.unwrap();
    assert_eq!(live.len(), 2, "{live:#?}");
    assert_eq!(live[0], phone);
    // A REGISTER with Expires: 0 leaves none for that extension; the other is kept.
    store.save_registrations("1001", &[]).await.unwrap();
    let live = store.live_registrations(now).await.unwrap();
    let exts: Vec<&str> = live.iter().map(|b| b.extension.as_str()).collect();
    assert_eq!(exts, ["1002"]);
    assert!(store
        .live_registrations(now + chrono::Duration::seconds(61))
        .await
        .unwrap()
        .is_empty());
}

async fn end_call_and_recording_show_in_case_detail(db: Db) {
    let store = &db.store;
    let opened = store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let ended = Utc.with_ymd_and_hms(2026, 11, 21, 1, 7, 0).unwrap();
    store
        .end_call(opened.call, ended, "caller_bye", "greeting>1>agent")
        .await
        .unwrap();

    let rec = NewRecording {
        call: opened.call,
        case: opened.case,
        kind: RecordingKind::Conversation,
        path: "2026/11/21/2026112100001-1.wav".into(),
        duration_ms: 293_500,
        bytes: 4_696_044,
        created_at: ended,
    };
    let rec_id = store.add_recording(rec.clone()).await.unwrap();

    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    let call = &detail.calls[0];
    assert_eq!(call.ended_at, Some(ended));
    assert_eq!(call.hangup_cause.as_deref(), Some("caller_bye"));
    assert_eq!(call.ivr_path.as_deref(), Some("greeting>1>agent"));

    assert_eq!(detail.recordings.len(), 1);
    let r = &detail.recordings[0];
    assert_eq!(r.id, rec_id);
    assert_eq!((r.call_id, r.case_id), (opened.call, opened.case));
    assert_eq!(r.kind, RecordingKind::Conversation);
    assert_eq!(r.path, rec.path);
    assert_eq!((r.duration_ms, r.bytes), (293_500, 4_696_044));
    assert_eq!(r.created_at, ended);

    // Ending twice, or a call that does not exist, is an error.
    let again = store
        .end_call(opened.call, ended, "x", "")
        .await
        .unwrap_err();
    assert!(
        matches!(again, CaseError::CallAlreadyEnded(c) if c == opened.call),
        "{again}"
    );
    let missing = store
        .end_call(CallId(999), ended, "x", "")
        .await
        .unwrap_err();
    assert!(
        matches!(missing, CaseError::CallNotFound(CallId(999))),
        "{missing}"
    );
}

async fn add_recording_checks_path_and_ownership(db: Db) {
    let store = &db.store;
    let a = store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let b = store
        .open_answered_call(new_call(2, day(2026, 11, 21)))
        .await
        .unwrap();
    let rec = |path: &str, call: CallId, case: CaseId| NewRecording {
        call,
        case,
        kind: RecordingKind::Voicemail,
        path: path.into(),
        duration_ms: 1,
        bytes: 1,
        created_at: Utc::now(),
    };
    for bad in [
        "",
        "/etc/passwd",
        "../x.wav",
        "a/../../x.wav",
        "./x.wav",
        "a\\..\\x.wav",
    ] {
        let err = store
            .add_recording(rec(bad, a.call, a.case))
            .await
            .unwrap_err();
        assert!(
            matches!(err, CaseError::InvalidRecordingPath(_)),
            "{bad:?}: {err}"
        );
    }
    let err = store
        .add_recording(rec("x.wav", a.call, b.case))
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::CallNotInCase { .. }), "{err}");
    let err = store
        .add_recording(rec("x.wav", CallId(999), a.case))
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::CallNotFound(_)), "{err}");
    let err = store
        .add_recording(NewRecording {
            bytes: u64::MAX,
            ..rec("x.wav", a.call, a.case)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::OutOfRange("bytes")), "{err}");
    let detail = store.case_by_ticket(&a.ticket).await.unwrap().unwrap();
    assert!(detail.recordings.is_empty());
}

async fn mark_voicemail_changes_status_and_audits(db: Db) {
    let store = &db.store;
    let opened = store
        .open_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    store.mark_voicemail(opened.case, Utc::now()).await.unwrap();

    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    assert_eq!(detail.case.status, CaseStatus::CallbackPending);
    assert_eq!(detail.case.channel, Channel::Voicemail);
    assert_ne!(detail.case.updated_at, detail.case.created_at);
    assert_eq!(detail.events.len(), 2);
    let ev = &detail.events[1];
    assert_eq!(ev.event, "voicemail");
    assert_eq!(ev.actor, "system");
    assert_eq!(ev.from_status, Some(CaseStatus::NoRequest));
    assert_eq!(ev.to_status, Some(CaseStatus::CallbackPending));

    let again = store
        .mark_voicemail(opened.case, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(again, CaseError::InvalidTransition { .. }),
        "{again}"
    );
    let missing = store
        .mark_voicemail(CaseId(999), Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(missing, CaseError::CaseNotFound(CaseId(999))),
        "{missing}"
    );
    // The failed attempts wrote nothing.
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    assert_eq!(detail.events.len(), 2);
}

async fn audit_trail_is_append_only(db: Db) {
    let store = &db.store;
    store
        .open_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    assert!(execute(store, "UPDATE case_events SET note = 'x'")
        .await
        .is_err());
    assert!(execute(store, "DELETE FROM case_events").await.is_err());
    if store.backend_name() == "postgres" {
        assert!(execute(store, "TRUNCATE case_events").await.is_err());
    }
    let detail = store
        .case_by_ticket("2026112100001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.events.len(), 1);
}

async fn reopening_keeps_data_and_sequence(db: Db) {
    let d = day(2026, 11, 21);
    let first = {
        let store = &db.store;
        let opened = store.open_call(new_call(1, d)).await.unwrap();
        store.mark_voicemail(opened.case, Utc::now()).await.unwrap();
        store.close().await;
        opened
    };
    // Opening again finds the migrations applied and runs none.
    let store = CaseStore::open(&db.url).await.unwrap();
    let detail = store.case_by_ticket(&first.ticket).await.unwrap().unwrap();
    assert_eq!(detail.case.status, CaseStatus::CallbackPending);
    assert_eq!(detail.events.len(), 2);
    // The daily sequence continues where it stopped.
    let second = store.open_call(new_call(2, d)).await.unwrap();
    assert_eq!(second.ticket, "2026112100002");
    store.close().await;
}

async fn unknown_ticket_is_none(db: Db) {
    let store = &db.store;
    store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    assert!(store
        .case_by_ticket("2026112100002")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .case_by_ticket("2026112200001")
        .await
        .unwrap()
        .is_none());
}

async fn malformed_ticket_is_none_without_a_query(db: Db) {
    let store = &db.store;
    // With the pool closed any query would fail, so Ok(None) proves none was made.
    store.close().await;
    for bad in [
        "",
        "abc",
        "2026-11-21-00001",
        "2026112100001'; DROP TABLE cases; --",
        "12345",
    ] {
        assert!(
            store.case_by_ticket(bad).await.unwrap().is_none(),
            "{bad:?}"
        );
    }
    assert!(store.case_by_ticket("2026112100001").await.is_err());
}

async fn list_cases_is_newest_first_and_limited(db: Db) {
    let store = &db.store;
    assert!(store.list_cases(10).await.unwrap().is_empty());
    for n in 1..=3 {
        store
            .open_answered_call(new_call(n, day(2026, 11, 21)))
            .await
            .unwrap();
    }
    let tickets: Vec<_> = store
        .list_cases(2)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.ticket)
        .collect();
    assert_eq!(tickets, ["2026112100003", "2026112100002"]);
    assert!(store.list_cases(0).await.unwrap().is_empty());
}

async fn case_detail_serializes_to_json(db: Db) {
    let store = &db.store;
    let opened = store
        .open_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    let json = serde_json::to_value(&detail).unwrap();
    assert_eq!(json["case"]["ticket"], "2026112100001");
    assert_eq!(json["case"]["status"], "no_request");
    assert_eq!(json["case"]["channel"], "phone");
    assert_eq!(json["case"]["id"], opened.case.0);
    assert_eq!(json["calls"][0]["direction"], "inbound");
    assert_eq!(json["events"][0]["to_status"], "no_request");
}

async fn missed_calls_are_kept_newest_first(db: Db) {
    let store = &db.store;
    let at = Utc::now();
    for (i, cause) in ["cancelled", "cancelled"].iter().enumerate() {
        let m = MissedCall {
            sip_call_id: format!("m{i}"),
            caller_number: "13800138000".into(),
            called_number: "12345".into(),
            arrived_at: at,
            ended_at: at,
            cause: cause.to_string(),
        };
        store.record_missed_call(&m).await.unwrap();
    }
    let missed = store.missed_calls(10).await.unwrap();
    assert_eq!(missed.len(), 2);
    assert_eq!(missed[0].sip_call_id, "m1");
    assert_eq!(missed[1].caller_number, "13800138000");
    assert!(
        store.list_cases(10).await.unwrap().is_empty(),
        "a missed call opens no case"
    );
}

/// Times come back as they went in, to the microsecond on both backends; SQLite keeps
/// nanoseconds too, PostgreSQL's TIMESTAMPTZ drops them.
async fn times_round_trip(db: Db) {
    let store = &db.store;
    let base = Utc.with_ymd_and_hms(2026, 11, 21, 23, 59, 59).unwrap();
    let micros = base + chrono::Duration::microseconds(123_456);
    let nanos = micros + chrono::Duration::nanoseconds(789);
    let opened = store
        .open_answered_call(NewCall {
            arrived_at: micros,
            answered_at: nanos,
            ..new_call(1, day(2026, 11, 22))
        })
        .await
        .unwrap();
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    assert_eq!(detail.calls[0].arrived_at, micros);
    let answered = detail.calls[0].answered_at.unwrap();
    match store.backend_name() {
        "sqlite" => assert_eq!(answered, nanos),
        _ => assert_eq!(answered, micros),
    }
    assert_eq!(detail.case.created_at, answered);
}

// ---- Agents ----

const REALM: &str = "hotline.local";

fn new_agent(ext: &str, skills: &str) -> NewAgent {
    NewAgent {
        extension: ext.into(),
        name: format!("Agent {ext}"),
        password: "s3cret".into(),
        skills: Skill::parse_list(skills).unwrap(),
        max_ring_secs: 20,
        wrap_up_secs: 30,
    }
}

fn skill_names(a: &Agent) -> Vec<(String, u8)> {
    a.skills.iter().map(|s| (s.name.clone(), s.level)).collect()
}

async fn agents_add_list_get_set_skills_remove(db: Db) {
    let store = &db.store;
    assert!(store.list_agents().await.unwrap().is_empty());

    let a = store
        .add_agent(
            new_agent("1001", "consult:5, complaint:3,en:4"),
            REALM,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(a.extension, "1001");
    assert_eq!(a.name, "Agent 1001");
    assert_eq!((a.max_ring_secs, a.wrap_up_secs), (20, 30));
    // Skills come back by name.
    assert_eq!(
        skill_names(&a),
        [
            ("complaint".into(), 3),
            ("consult".into(), 5),
            ("en".into(), 4)
        ]
    );
    let b = store
        .add_agent(
            NewAgent {
                max_ring_secs: 15,
                wrap_up_secs: 0,
                ..new_agent("999", "")
            },
            REALM,
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(b.skills.is_empty());
    assert_eq!((b.max_ring_secs, b.wrap_up_secs), (15, 0));

    let all = store.list_agents().await.unwrap();
    assert_eq!(all, [b.clone(), a.clone()], "shorter extensions first");
    assert_eq!(store.agent("1001").await.unwrap(), Some(a.clone()));
    assert_eq!(store.agent("1002").await.unwrap(), None);
    assert_eq!(store.agent("not-digits").await.unwrap(), None);

    let changed = store
        .set_skills(
            "1001",
            Skill::parse_list("enterprise:2").unwrap(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(skill_names(&changed), [("enterprise".into(), 2)]);
    assert!(changed.updated_at >= a.updated_at);
    assert_eq!(changed.created_at, a.created_at);
    assert_eq!(store.agent("1001").await.unwrap(), Some(changed));

    store.remove_agent("999", Utc::now()).await.unwrap();
    assert_eq!(store.agent("999").await.unwrap(), None);
    let left: Vec<_> = store
        .list_agents()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.extension)
        .collect();
    assert_eq!(left, ["1001"]);

    for err in [
        store.remove_agent("999", Utc::now()).await.unwrap_err(),
        store.remove_agent("1002", Utc::now()).await.unwrap_err(),
        store
            .set_skills("999", vec![], Utc::now())
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, CaseError::AgentNotFound(_)), "{err}");
    }
    let err = store
        .set_skills("10x", vec![], Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::InvalidExtension(_)), "{err}");
    let dup = vec![Skill::new("en", 3).unwrap(), Skill::new("en", 4).unwrap()];
    let err = store.set_skills("1001", dup, Utc::now()).await.unwrap_err();
    assert!(matches!(err, CaseError::InvalidSkill { .. }), "{err}");
    let bad = vec![Skill {
        name: "en".into(),
        level: 9,
    }];
    let err = store.set_skills("1001", bad, Utc::now()).await.unwrap_err();
    assert!(
        matches!(&err, CaseError::InvalidSkill { item, .. } if item == "en:9"),
        "{err}"
    );
    // Failed changes changed nothing.
    assert_eq!(
        skill_names(&store.agent("1001").await.unwrap().unwrap()),
        [("enterprise".into(), 2)]
    );
}

async fn duplicate_agent_is_agent_exists_and_removed_extension_is_reusable(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", "consult:5"), REALM, Utc::now())
        .await
        .unwrap();
    store
        .record_agent_event(&ev(
            "1001",
            Utc::now(),
            "logged_out",
            "ready",
            None,
            None,
            None,
        ))
        .await
        .unwrap();
    let err = store
        .add_agent(new_agent("1001", ""), REALM, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CaseError::AgentExists(e) if e == "1001"),
        "{err}"
    );

    store.remove_agent("1001", Utc::now()).await.unwrap();
    let again = store
        .add_agent(
            NewAgent {
                name: "New person".into(),
                password: "other".into(),
                ..new_agent("1001", "en:2")
            },
            REALM,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(again.name, "New person");
    assert_eq!(skill_names(&again), [("en".into(), 2)]);
    assert!(store.verify_agent_password("1001", "other").await.unwrap());
    assert!(!store.verify_agent_password("1001", "s3cret").await.unwrap());
    // The seat's history stays.
    assert_eq!(store.agent_events("1001", 10).await.unwrap().len(), 1);
}

async fn add_agent_checks_its_input(db: Db) {
    let store = &db.store;
    for ext in ["", "10a1", "1001 ", "12345678901234567"] {
        let err = store
            .add_agent(new_agent(ext, ""), REALM, Utc::now())
            .await
            .unwrap_err();
        assert!(
            matches!(err, CaseError::InvalidExtension(_)),
            "{ext:?}: {err}"
        );
    }
    let mut bad_skill = new_agent("1001", "");
    bad_skill.skills = vec![Skill {
        name: "Consult".into(),
        level: 3,
    }];
    let err = store
        .add_agent(bad_skill, REALM, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CaseError::InvalidSkill { item, .. } if item == "Consult:3"),
        "{err}"
    );
    for a in [
        NewAgent {
            password: String::new(),
            ..new_agent("1001", "")
        },
        NewAgent {
            name: " ".into(),
            ..new_agent("1001", "")
        },
        NewAgent {
            max_ring_secs: 0,
            ..new_agent("1001", "")
        },
    ] {
        let err = store.add_agent(a, REALM, Utc::now()).await.unwrap_err();
        assert!(matches!(err, CaseError::InvalidAgent(_)), "{err}");
    }
    assert!(store.list_agents().await.unwrap().is_empty());
}

async fn agent_secrets_are_digest_ha1_and_never_serialized(db: Db) {
    let store = &db.store;
    let agent = store
        .add_agent(new_agent("1001", "consult:5"), REALM, Utc::now())
        .await
        .unwrap();
    let s = store.agent_secrets("1001").await.unwrap().unwrap();
    assert_eq!(s.extension, "1001");
    assert_eq!(s.realm, REALM);
    // hex(MD5("1001:hotline.local:s3cret")), hex(SHA-256(...)), cross-checked with hashlib.
    assert_eq!(s.ha1_md5, "adb0e30a79aaeca76f6de8a8b87226ef");
    assert_eq!(
        s.ha1_sha256,
        "cf1d90c4e7121976990da1ce22432f64abc4bf956dba9f80a88508277f595d96"
    );
    assert_eq!(store.agent_secrets("1002").await.unwrap(), None);
    assert_eq!(store.agent_secrets("x").await.unwrap(), None);

    let json = serde_json::to_string(&agent).unwrap();
    for secret in ["s3cret", "argon2", &s.ha1_md5, &s.ha1_sha256, "hash", "ha1"] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }
    let json = serde_json::to_value(&agent).unwrap();
    assert_eq!(json["skills"][0]["name"], "consult");
    assert_eq!(json["skills"][0]["level"], 5);

    // The stored login hash is argon2id, not the password.
    let hash = password_hash(store, "1001").await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    store.remove_agent("1001", Utc::now()).await.unwrap();
    assert_eq!(store.agent_secrets("1001").await.unwrap(), None);
}

async fn verify_agent_password(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", ""), REALM, Utc::now())
        .await
        .unwrap();
    assert!(store.verify_agent_password("1001", "s3cret").await.unwrap());
    assert!(!store
        .verify_agent_password("1001", "s3cret ")
        .await
        .unwrap());
    assert!(!store.verify_agent_password("1001", "").await.unwrap());
    assert!(!store.verify_agent_password("1002", "s3cret").await.unwrap());
    assert!(!store
        .verify_agent_password("bad ext", "s3cret")
        .await
        .unwrap());
    store.remove_agent("1001", Utc::now()).await.unwrap();
    assert!(!store.verify_agent_password("1001", "s3cret").await.unwrap());
}

async fn agent_events_are_append_only_and_newest_first(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", ""), REALM, Utc::now())
        .await
        .unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
    let steps = [
        ("logged_out", "ready", None, None),
        ("ready", "ringing", None, Some("call-1@trunk")),
        (
            "ringing",
            "not_ready",
            Some("no_answer"),
            Some("call-1@trunk"),
        ),
    ];
    for (i, (from, to, reason, call)) in steps.iter().enumerate() {
        let at = t0 + chrono::Duration::seconds(i as i64);
        store
            .record_agent_event(&ev("1001", at, from, to, *reason, *call, Some("phone")))
            .await
            .unwrap();
    }
    let events = store.agent_events("1001", 10).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].to_state, "not_ready");
    assert_eq!(events[0].reason.as_deref(), Some("no_answer"));
    assert_eq!(events[0].sip_call_id.as_deref(), Some("call-1@trunk"));
    assert_eq!(events[0].at, t0 + chrono::Duration::seconds(2));
    assert_eq!(events[2].from_state, "logged_out");
    assert_eq!(events[2].sip_call_id, None);
    assert_eq!(events[2].actor.as_deref(), Some("phone"));
    assert!(events[0].id > events[1].id);
    assert_eq!(store.agent_events("1001", 1).await.unwrap().len(), 1);
    assert!(store.agent_events("1002", 10).await.unwrap().is_empty());

    let err = store
        .record_agent_event(&ev("1002", t0, "a", "b", None, None, None))
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::AgentNotFound(_)), "{err}");

    assert!(execute(store, "UPDATE agent_events SET reason = 'x'")
        .await
        .is_err());
    assert!(execute(store, "DELETE FROM agent_events").await.is_err());
    if store.backend_name() == "postgres" {
        assert!(execute(store, "TRUNCATE agent_events").await.is_err());
    }
    assert_eq!(store.agent_events("1001", 10).await.unwrap().len(), 3);
}

// ---- ACD facts on the call row ----

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(s * 1000)
}

async fn call_row(store: &CaseStore, opened: &OpenedCall) -> crate::model::CallRow {
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    detail
        .calls
        .into_iter()
        .find(|c| c.id == opened.call)
        .unwrap()
}

async fn acd_lifecycle_computes_wait_talk_and_wrap_up(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", "consult:5"), REALM, Utc::now())
        .await
        .unwrap();
    let opened = store
        .open_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let c = opened.call;
    let row = call_row(store, &opened).await;
    assert_eq!((row.queue.as_deref(), row.offered_count), (None, 0));
    assert_eq!((row.acd_result, row.wait_ms), (None, None));

    let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 1, 2, 10).unwrap();
    store.call_queued(c, "consult", t0).await.unwrap();
    store.call_offered(c, "1001", t0 + secs(1)).await.unwrap();
    store
        .call_offer_rejected(c, "1001", "no_answer", t0 + secs(21))
        .await
        .unwrap();
    store.call_offered(c, "1001", t0 + secs(22)).await.unwrap();
    let answered = t0 + secs(25) + chrono::Duration::milliseconds(400);
    store
        .call_agent_answered(c, "1001", "agent-leg-1@hotline", answered)
        .await
        .unwrap();
    store
        .call_agent_ended(c, answered + secs(180))
        .await
        .unwrap();
    store
        .call_wrap_up_done(c, answered + secs(210))
        .await
        .unwrap();

    let row = call_row(store, &opened).await;
    assert_eq!(row.queue.as_deref(), Some("consult"));
    assert_eq!(row.queued_at, Some(t0));
    assert_eq!((row.offered_count, row.rejected_count), (2, 1));
    assert_eq!(row.agent.as_deref(), Some("1001"));
    assert_eq!(row.agent_call_id.as_deref(), Some("agent-leg-1@hotline"));
    assert_eq!(row.agent_answered_at, Some(answered));
    assert_eq!(row.agent_ended_at, Some(answered + secs(180)));
    assert_eq!(row.wrap_up_ended_at, Some(answered + secs(210)));
    assert_eq!(row.acd_result, Some(AcdResult::Answered));
    assert_eq!(row.wait_ms, Some(25_400));
    assert_eq!(row.talk_ms, Some(180_000));
    assert_eq!(row.wrap_up_ms, Some(30_000));

    // The desk's "calls today": counted by when the agent answered, the span's end excluded.
    let tally = |from, to| store.agent_answered_between("1001", from, to);
    assert_eq!(
        tally(t0, answered + secs(1)).await.unwrap(),
        AgentTally {
            answered: 1,
            talk_ms: 180_000
        }
    );
    assert_eq!(tally(t0, answered).await.unwrap(), AgentTally::default());
    assert_eq!(
        store
            .agent_answered_between("1002", t0, answered + secs(1))
            .await
            .unwrap(),
        AgentTally::default()
    );

    // The case's audit trail tells the story, with the agent and the reason.
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    let trail: Vec<(&str, Option<&str>)> = detail
        .events
        .iter()
        .map(|e| (e.event.as_str(), e.note.as_deref()))
        .collect();
    assert_eq!(
        trail[1..],
        [
            ("queued", Some("queue consult")),
            ("offered", Some("agent 1001")),
            ("offer_rejected", Some("agent 1001: no_answer")),
            ("offered", Some("agent 1001")),
            ("agent_answered", Some("agent 1001")),
            // The agent's answer made the call a work order.
            ("registered", None),
        ]
    );

    // Shown in `hotline case show --json`.
    let json = serde_json::to_value(&detail).unwrap();
    let call = &json["calls"][0];
    assert_eq!(call["acd_result"], "answered");
    assert_eq!(call["wait_ms"], 25_400);
    assert_eq!(call["offered_count"], 2);
    assert_eq!(call["agent"], "1001");

    // Steps out of order are refused and change nothing.
    for err in [
        store.call_agent_ended(c, answered).await.unwrap_err(),
        store.call_wrap_up_done(c, answered).await.unwrap_err(),
        store.call_offered(c, "1001", answered).await.unwrap_err(),
        store
            .call_agent_answered(c, "1001", "x", answered)
            .await
            .unwrap_err(),
        store
            .call_left_queue(c, "abandoned", answered)
            .await
            .unwrap_err(),
        store.call_queued(c, "consult", answered).await.unwrap_err(),
    ] {
        assert!(matches!(err, CaseError::InvalidCallState { .. }), "{err}");
    }
    assert_eq!(call_row(store, &opened).await, row);
}

async fn acd_steps_check_order_and_inputs(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", ""), REALM, Utc::now())
        .await
        .unwrap();
    let opened = store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let c = opened.call;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 1, 2, 10).unwrap();

    // Nothing before the call is queued.
    for err in [
        store.call_offered(c, "1001", t0).await.unwrap_err(),
        store
            .call_agent_answered(c, "1001", "x", t0)
            .await
            .unwrap_err(),
        store.call_left_queue(c, "abandoned", t0).await.unwrap_err(),
        store.call_agent_ended(c, t0).await.unwrap_err(),
    ] {
        assert!(matches!(err, CaseError::InvalidCallState { .. }), "{err}");
    }
    for err in [
        store
            .call_queued(CallId(999), "consult", t0)
            .await
            .unwrap_err(),
        store.call_wrap_up_done(CallId(999), t0).await.unwrap_err(),
    ] {
        assert!(matches!(err, CaseError::CallNotFound(CallId(999))), "{err}");
    }

    store.call_queued(c, "consult", t0).await.unwrap();
    // Moved to another queue: the wait still counts from the first.
    store
        .call_queued(c, "complaint", t0 + secs(5))
        .await
        .unwrap();
    let err = store
        .call_offer_rejected(c, "1001", "busy", t0)
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::InvalidCallState { .. }), "{err}");
    let err = store.call_offered(c, "10x", t0).await.unwrap_err();
    assert!(matches!(err, CaseError::InvalidExtension(_)), "{err}");
    // An answering agent must exist.
    let err = store
        .call_agent_answered(c, "4242", "x", t0 + secs(6))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CaseError::AgentNotFound(a) if a == "4242"),
        "{err}"
    );
    for bad in ["answered", "hung_up", ""] {
        let err = store.call_left_queue(c, bad, t0).await.unwrap_err();
        assert!(
            matches!(err, CaseError::InvalidAcdResult(_)),
            "{bad:?}: {err}"
        );
    }
    let row = call_row(store, &opened).await;
    assert_eq!(row.queue.as_deref(), Some("complaint"));
    assert_eq!(row.queued_at, Some(t0));
    assert_eq!((row.agent.as_deref(), row.acd_result), (None, None));
}

async fn left_queue_results_set_wait(db: Db) {
    let store = &db.store;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 1, 2, 10).unwrap();
    let results = [
        ("abandoned", AcdResult::Abandoned, 42_000),
        ("expired", AcdResult::Expired, 300_000),
        ("queue_full", AcdResult::QueueFull, 0),
        ("no_agents", AcdResult::NoAgents, 0),
        ("callback_requested", AcdResult::CallbackRequested, 61_500),
    ];
    for (n, (text, result, wait)) in results.into_iter().enumerate() {
        let opened = store
            .open_answered_call(new_call(n as u32, day(2026, 11, 21)))
            .await
            .unwrap();
        store.call_queued(opened.call, "consult", t0).await.unwrap();
        let at = t0 + chrono::Duration::milliseconds(wait);
        store.call_left_queue(opened.call, text, at).await.unwrap();
        let row = call_row(store, &opened).await;
        assert_eq!(row.acd_result, Some(result), "{text}");
        assert_eq!(row.wait_ms, Some(wait as u64), "{text}");
        assert_eq!((row.agent, row.talk_ms), (None, None));
        let err = store
            .call_left_queue(opened.call, text, at)
            .await
            .unwrap_err();
        assert!(matches!(err, CaseError::InvalidCallState { .. }), "{err}");
        let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
        let last = detail.events.last().unwrap();
        assert_eq!(
            (last.event.as_str(), last.note.as_deref()),
            ("left_queue", Some(text))
        );
    }
}

async fn queue_stats_count_per_queue_since(db: Db) {
    let store = &db.store;
    store
        .add_agent(new_agent("1001", ""), REALM, Utc::now())
        .await
        .unwrap();
    let midnight = Utc.with_ymd_and_hms(2026, 11, 20, 16, 0, 0).unwrap();
    assert!(store.queue_stats(midnight).await.unwrap().is_empty());

    // (queue, queued this many seconds after midnight, outcome, wait in ms)
    let calls: [(&str, i64, Option<&str>, i64); 8] = [
        ("consult", 60, Some("answered"), 5_000),
        ("consult", 120, Some("answered"), 15_000), // exactly 15 s still counts
        ("consult", 180, Some("answered"), 15_001),
        ("consult", 240, Some("abandoned"), 30_000),
        ("consult", 300, Some("expired"), 300_000),
        ("consult", 360, None, 0), // still waiting
        ("complaint", 60, Some("queue_full"), 0),
        ("consult", -60, Some("answered"), 1_000), // yesterday: not counted
    ];
    let mut n = 0;
    for (queue, after, outcome, wait) in calls {
        n += 1;
        let opened = store
            .open_answered_call(new_call(n, day(2026, 11, 21)))
            .await
            .unwrap();
        let queued = midnight + secs(after);
        let done = queued + chrono::Duration::milliseconds(wait);
        store.call_queued(opened.call, queue, queued).await.unwrap();
        match outcome {
            Some("answered") => store
                .call_agent_answered(opened.call, "1001", "leg", done)
                .await
                .unwrap(),
            Some(result) => store
                .call_left_queue(opened.call, result, done)
                .await
                .unwrap(),
            None => {}
        }
    }
    // A call that never asked for an agent is not in any queue.
    store
        .open_answered_call(new_call(99, day(2026, 11, 21)))
        .await
        .unwrap();

    let stats = store.queue_stats(midnight).await.unwrap();
    assert_eq!(stats.len(), 2);
    let complaint = &stats[0];
    assert_eq!(complaint.queue, "complaint");
    assert_eq!((complaint.offered, complaint.queue_full), (1, 1));
    assert_eq!((complaint.answered, complaint.avg_answer_ms), (0, None));
    assert_eq!(complaint.avg_wait_ms, Some(0));

    let consult = &stats[1];
    assert_eq!(consult.queue, "consult");
    assert_eq!(consult.offered, 6);
    assert_eq!(consult.answered, 3);
    assert_eq!(consult.answered_within_15s, 2);
    assert_eq!(consult.abandoned, 1);
    assert_eq!(consult.expired, 1);
    assert_eq!(consult.waiting, 1);
    assert_eq!((consult.queue_full, consult.no_agents), (0, 0));
    assert_eq!(consult.callback_requested, 0);
    // (5000 + 15000 + 15001 + 30000 + 300000) / 5 = 73000.2
    assert_eq!(consult.avg_wait_ms, Some(73_000));
    // (5000 + 15000 + 15001) / 3 = 11667
    assert_eq!(consult.avg_answer_ms, Some(11_667));
    assert_eq!(consult.max_wait_ms, Some(300_000));

    // Since yesterday, the earlier call counts too.
    let stats = store.queue_stats(midnight - secs(3600)).await.unwrap();
    assert_eq!((stats[1].offered, stats[1].answered_within_15s), (7, 3));
    let json = serde_json::to_value(&stats[1]).unwrap();
    assert_eq!(json["answered_within_15s"], 3);
}

async fn callback_requested_changes_status_and_audits(db: Db) {
    let store = &db.store;
    let opened = store
        .open_answered_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 1, 2, 10).unwrap();
    store.call_queued(opened.call, "consult", t0).await.unwrap();
    store
        .call_left_queue(opened.call, "callback_requested", t0 + secs(40))
        .await
        .unwrap();
    store
        .mark_callback_requested(opened.case, Utc::now())
        .await
        .unwrap();

    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    assert_eq!(detail.case.status, CaseStatus::CallbackPending);
    let ev = detail.events.last().unwrap();
    assert_eq!(ev.event, "callback_requested");
    assert_eq!(ev.actor, "system");
    assert_eq!(ev.from_status, Some(CaseStatus::Registered));
    assert_eq!(ev.to_status, Some(CaseStatus::CallbackPending));
    assert_eq!(
        detail.calls[0].acd_result,
        Some(AcdResult::CallbackRequested)
    );

    let err = store
        .mark_callback_requested(opened.case, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::InvalidTransition { .. }), "{err}");
    let err = store
        .mark_callback_requested(CaseId(999), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::CaseNotFound(CaseId(999))), "{err}");
}
