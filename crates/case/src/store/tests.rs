use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, TimeZone, Utc};

use super::*;
use crate::model::{CaseEvent, Channel, RecordingKind};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
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
async fn postgres_url_is_not_supported_yet() {
    let err = CaseStore::open("postgres://localhost/hotline")
        .await
        .unwrap_err();
    assert!(matches!(err, CaseError::UnsupportedBackend(_)), "{err}");
}

#[tokio::test]
async fn tickets_are_sequential_and_restart_each_day() {
    let (_dir, store) = open_temp().await;
    let d1 = day(2026, 11, 21);
    let a = store.open_call(new_call(1, d1)).await.unwrap();
    let b = store.open_call(new_call(2, d1)).await.unwrap();
    assert_eq!(a.ticket, "2026112100001");
    assert_eq!(b.ticket, "2026112100002");
    assert_ne!(a.case, b.case);
    assert_ne!(a.call, b.call);

    let c = store
        .open_call(new_call(3, day(2026, 11, 22)))
        .await
        .unwrap();
    assert_eq!(c.ticket, "2026112200001");
    // The old day's counter is untouched by the new day.
    let d = store.open_call(new_call(4, d1)).await.unwrap();
    assert_eq!(d.ticket, "2026112100003");
}

#[tokio::test]
async fn sequence_widens_past_99999() {
    let (_dir, store) = open_temp().await;
    let Backend::Sqlite(b) = &store.backend;
    b.set_sequence_for_test("20261121", 99_999).await;
    let opened = store
        .open_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    assert_eq!(opened.ticket, "20261121100000");
    assert!(store
        .case_by_ticket(&opened.ticket)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_get_distinct_tickets() {
    let (_dir, store) = open_temp().await;
    let d = day(2026, 11, 21);
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.open_call(new_call(n, d)).await.unwrap() })
        })
        .collect();
    let mut tickets = HashSet::new();
    for t in tasks {
        tickets.insert(t.await.unwrap().ticket);
    }
    let expected: HashSet<String> = (1..=50).map(|s| crate::ticket::format(d, s)).collect();
    assert_eq!(tickets, expected);
    assert_eq!(store.list_cases(100).await.unwrap().len(), 50);
}

#[tokio::test]
async fn open_call_writes_case_call_and_registered_event() {
    let (_dir, store) = open_temp().await;
    let call = new_call(7, day(2026, 11, 21));
    let opened = store.open_call(call.clone()).await.unwrap();
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();

    assert_eq!(detail.case.id, opened.case);
    assert_eq!(detail.case.channel, Channel::Phone);
    assert_eq!(detail.case.status, CaseStatus::Registered);
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
    assert_eq!(ev.event, "registered");
    assert_eq!(ev.from_status, None);
    assert_eq!(ev.to_status, Some(CaseStatus::Registered));
}

#[tokio::test]
async fn end_call_and_recording_show_in_case_detail() {
    let (_dir, store) = open_temp().await;
    let opened = store
        .open_call(new_call(1, day(2026, 11, 21)))
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

#[tokio::test]
async fn add_recording_checks_path_and_ownership() {
    let (_dir, store) = open_temp().await;
    let a = store
        .open_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let b = store
        .open_call(new_call(2, day(2026, 11, 21)))
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

#[tokio::test]
async fn mark_voicemail_changes_status_and_audits() {
    let (_dir, store) = open_temp().await;
    let opened = store
        .open_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    store.mark_voicemail(opened.case).await.unwrap();

    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    assert_eq!(detail.case.status, CaseStatus::CallbackPending);
    assert_eq!(detail.case.channel, Channel::Phone);
    assert_ne!(detail.case.updated_at, detail.case.created_at);
    assert_eq!(detail.events.len(), 2);
    let ev = &detail.events[1];
    assert_eq!(ev.event, "voicemail");
    assert_eq!(ev.actor, "system");
    assert_eq!(ev.from_status, Some(CaseStatus::Registered));
    assert_eq!(ev.to_status, Some(CaseStatus::CallbackPending));

    let again = store.mark_voicemail(opened.case).await.unwrap_err();
    assert!(
        matches!(again, CaseError::InvalidTransition { .. }),
        "{again}"
    );
    let missing = store.mark_voicemail(CaseId(999)).await.unwrap_err();
    assert!(
        matches!(missing, CaseError::CaseNotFound(CaseId(999))),
        "{missing}"
    );
    // The failed attempts wrote nothing.
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    assert_eq!(detail.events.len(), 2);
}

#[tokio::test]
async fn audit_trail_is_append_only() {
    let (_dir, store) = open_temp().await;
    store
        .open_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let Backend::Sqlite(b) = &store.backend;
    assert!(b
        .execute_for_test("UPDATE case_events SET note = 'x'")
        .await
        .is_err());
    assert!(b.execute_for_test("DELETE FROM case_events").await.is_err());
}

#[tokio::test]
async fn reopening_the_file_keeps_data_and_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let path = path.to_str().unwrap();
    let d = day(2026, 11, 21);
    let first = {
        let store = CaseStore::open(path).await.unwrap();
        let opened = store.open_call(new_call(1, d)).await.unwrap();
        store.mark_voicemail(opened.case).await.unwrap();
        store.close().await;
        opened
    };
    let store = CaseStore::open(path).await.unwrap();
    let detail = store.case_by_ticket(&first.ticket).await.unwrap().unwrap();
    assert_eq!(detail.case.status, CaseStatus::CallbackPending);
    assert_eq!(detail.events.len(), 2);
    // The daily sequence continues where it stopped.
    let second = store.open_call(new_call(2, d)).await.unwrap();
    assert_eq!(second.ticket, "2026112100002");
}

#[tokio::test]
async fn unknown_ticket_is_none() {
    let (_dir, store) = open_temp().await;
    store
        .open_call(new_call(1, day(2026, 11, 21)))
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

#[tokio::test]
async fn malformed_ticket_is_none_without_a_query() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn list_cases_is_newest_first_and_limited() {
    let (_dir, store) = open_temp().await;
    assert!(store.list_cases(10).await.unwrap().is_empty());
    for n in 1..=3 {
        store
            .open_call(new_call(n, day(2026, 11, 21)))
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

#[tokio::test]
async fn case_detail_serializes_to_json() {
    let (_dir, store) = open_temp().await;
    let opened = store
        .open_call(new_call(1, day(2026, 11, 21)))
        .await
        .unwrap();
    let detail = store.case_by_ticket(&opened.ticket).await.unwrap().unwrap();
    let json = serde_json::to_value(&detail).unwrap();
    assert_eq!(json["case"]["ticket"], "2026112100001");
    assert_eq!(json["case"]["status"], "registered");
    assert_eq!(json["case"]["channel"], "phone");
    assert_eq!(json["case"]["id"], opened.case.0);
    assert_eq!(json["calls"][0]["direction"], "inbound");
    assert_eq!(json["events"][0]["to_status"], "registered");
}

#[tokio::test]
async fn missed_calls_are_kept_newest_first() {
    let (_dir, store) = open_temp().await;
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
