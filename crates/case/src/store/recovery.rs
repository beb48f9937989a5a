//! Start-up repairs after a crash (`kill -9`, power cut): what a process that died in the
//! middle of calls left half done. The server runs these before it accepts calls
//! (`crates/server/src/recovery.rs` walks the recordings directory and calls them).
//!
//! Each step is idempotent — what it repairs no longer matches what it looks for — so a
//! start that dies during recovery is repaired by the next one, and a second run changes
//! nothing. Every change is an audit event on its case, attributed to `system`.
//!
//! Several nodes may share one database (PostgreSQL behind Kamailio): each call row names
//! the node that handles it ([`CaseStore::with_node`]), and these repairs touch only the
//! calls of this store's node — another node's open calls are live, not crashed. Rows
//! without a node (written before migration 0011, or by a store given none) are every
//! node's: the first recovery closes them. (So across that migration, start the first
//! upgraded node only once every node is stopped: a node still running the old version
//! writes rows without a node, and its live calls would be closed.) Two processes must
//! never run under the same node name on one database.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{Backend, CaseStore};
use crate::error::CaseError;
use crate::lifecycle::Action;
use crate::model::{CallId, CaseStatus, NewRecording, RecordingId};

/// The hangup cause written on a call row that a crash left open.
pub(crate) const CRASH_CAUSE: &str = "crash";

impl CaseStore {
    /// When the oldest call row of this node (or of none) still open (no `ended_at`)
    /// arrived: recordings older than that day cannot belong to a call cut off by a crash,
    /// so the scan of the recordings directory can stop there. `None` if every such call
    /// is closed.
    pub async fn oldest_open_call(&self) -> Result<Option<DateTime<Utc>>, CaseError> {
        on_backend!(self, b => b.oldest_open_call(self.node()).await)
    }

    /// The node that handles (or handled) `call`, as its row says: `None` for a row
    /// written without one (see the module's notes). [`CaseError::CallNotFound`].
    ///
    /// The recovery checks it before it touches a recording file without a row: on
    /// shared storage the file may be another node's recording in progress.
    pub async fn call_node(&self, call: CallId) -> Result<Option<String>, CaseError> {
        on_backend!(self, b => b.call_node(call).await)
    }

    /// The paths of the recording rows finalized at or after `since`: what the recovery
    /// compares the files on disk with (one query, not one per file).
    pub async fn recording_paths_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<HashSet<String>, CaseError> {
        on_backend!(self, b => b.recording_paths_since(since).await)
    }

    /// Registers a recording file that has no row (its call was cut off before the row
    /// was written), with an audit event `recording_recovered` on its case, in one
    /// transaction. `r.created_at` is when the file was last written; the event is
    /// stamped `now`.
    ///
    /// `Ok(None)` if a row already names this path (nothing done). The same checks as
    /// [`CaseStore::add_recording`]: a contained relative path, a call that exists and
    /// belongs to the case; and a call of this node (or of none), else
    /// [`CaseError::CallOfOtherNode`].
    pub async fn recover_recording(
        &self,
        r: NewRecording,
        now: DateTime<Utc>,
    ) -> Result<Option<RecordingId>, CaseError> {
        if !super::is_contained_relative(&r.path) {
            return Err(CaseError::InvalidRecordingPath(r.path));
        }
        on_backend!(self, b => b.recover_recording(&r, self.node(), now).await)
    }

    /// Closes every call row of this node (or of none, see the module's notes) left open,
    /// with cause [`CRASH_CAUSE`], at the last moment it is known to have been alive: the
    /// end of its latest recording, else its latest ACD timestamp, else its answer or
    /// arrival. Its ACD facts are closed at the same moment, so the reports neither count
    /// it as still waiting nor as talking forever: a call still queued is `abandoned`
    /// (offered, never answered — it counts against the answer rate), a conversation
    /// under way ends (talk time up to then); it is answered by an agent only if an agent
    /// did answer. One audit event `call_crashed` per call. Other nodes' open calls are
    /// live: left alone.
    ///
    /// Returns each call closed, with its ticket and end. The audit events are stamped
    /// `now` (when the repair runs).
    pub async fn close_crashed_calls(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(CallId, String, DateTime<Utc>)>, CaseError> {
        on_backend!(self, b => b.close_crashed_calls(self.node(), now).await)
    }

    /// Voicemails that a crash kept from being marked: each voicemail recording of at
    /// least `min_duration_ms` (the IVR's `voicemail.min_secs`: shorter is "no message")
    /// on a call of this node (or of none) closed by [`CaseStore::close_crashed_calls`],
    /// whose case has no `voicemail` event, is marked exactly as
    /// [`CaseStore::mark_voicemail`] marks it — `callback_pending`, channel `voicemail`, a
    /// callback task — at the end of the recording, so it counts on the day it was left.
    /// A case whose state no longer allows it is logged and left alone.
    ///
    /// Returns the tickets marked.
    pub async fn recover_voicemails(&self, min_duration_ms: u64) -> Result<Vec<String>, CaseError> {
        let min = i64::try_from(min_duration_ms).unwrap_or(i64::MAX);
        let found = on_backend!(self, b => b.unmarked_crash_voicemails(self.node(), min).await?);
        let mut marked = Vec::new();
        for (case, ticket, at) in found {
            let (to, action) = (CaseStatus::CallbackPending, Action::LeftVoicemail);
            let r = on_backend!(self, b => {
                b.change_status(case, to, &action, self.callback_attempts, &self.callback_numbers, at).await
            });
            match r {
                Ok(()) => marked.push(ticket),
                Err(CaseError::InvalidTransition { from, .. }) => {
                    tracing::warn!(%ticket, %from, "voicemail left before a crash not marked: the case moved on");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(marked)
    }
}

// The store tests' harness (a fresh database per backend), compiled again here: its
// items are private to `store::tests`.
#[cfg(test)]
#[allow(clippy::duplicate_mod)]
#[path = "tests/backends.rs"]
mod backends;

#[cfg(test)]
mod tests {
    //! Each test body runs on both backends (`sqlite_*` and `postgres_*`), as the other
    //! store tests do.

    use chrono::{Duration, NaiveDate, TimeZone};

    use super::backends::{run, Db, Kind};
    use super::*;
    use crate::callback::CallbackReason;
    use crate::model::{
        AcdResult, Channel, NewAgent, NewCall, NewOutboundCall, OpenedCall, RecordingKind, Skill,
    };

    macro_rules! on_both {
        ($($name:ident),+ $(,)?) => {
            mod sqlite {
                $(#[tokio::test]
                async fn $name() {
                    super::run(super::Kind::Sqlite, super::$name).await;
                })+
            }
            mod postgres {
                $(#[tokio::test]
                async fn $name() {
                    super::run(super::Kind::Postgres, super::$name).await;
                })+
            }
        };
    }

    on_both!(
        recovery_closes_open_calls_at_their_last_moment,
        recovery_registers_files_once_and_checks_their_call,
        recovery_marks_crashed_voicemails_once,
        recovery_leaves_other_nodes_calls_alone,
    );

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 1, 2, 3).unwrap()
    }

    async fn call(store: &CaseStore, n: u32) -> OpenedCall {
        let at = t0() + Duration::seconds(i64::from(n));
        store
            .open_call(NewCall {
                sip_call_id: format!("crash-{n}@trunk"),
                caller_number: format!("1380000{n:04}"),
                called_number: "12345".into(),
                arrived_at: at,
                answered_at: at + Duration::milliseconds(200),
                local_day: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            })
            .await
            .unwrap()
    }

    fn file(c: &OpenedCall, kind: RecordingKind, ms: u64, end: DateTime<Utc>) -> NewRecording {
        NewRecording {
            call: c.call,
            case: c.case,
            kind,
            path: format!("2026/11/21/{}-{}-{kind}.wav", c.ticket, c.call),
            duration_ms: ms,
            bytes: 44 + ms * 16,
            created_at: end,
        }
    }

    async fn call_row(store: &CaseStore, c: &OpenedCall) -> crate::model::CallRow {
        let detail = store.case_by_ticket(&c.ticket).await.unwrap().unwrap();
        detail.calls.into_iter().find(|r| r.id == c.call).unwrap()
    }

    async fn recovery_closes_open_calls_at_their_last_moment(db: Db) {
        let store = &db.store;
        let ivr = call(store, 1).await; // greeting or menu: only its answer is known
        let queued = call(store, 2).await;
        let talking = call(store, 3).await;
        let recorded = call(store, 4).await;
        let ended = call(store, 5).await;
        let q_at = t0() + Duration::seconds(10);
        store
            .call_queued(queued.call, "consult", q_at)
            .await
            .unwrap();
        store
            .add_agent(
                NewAgent {
                    extension: "1001".into(),
                    name: "Agent".into(),
                    password: "s3cret".into(),
                    skills: Skill::parse_list("consult:5").unwrap(),
                    max_ring_secs: 20,
                    wrap_up_secs: 30,
                },
                "hotline12345",
                Utc::now(),
            )
            .await
            .unwrap();
        store
            .call_queued(talking.call, "consult", q_at)
            .await
            .unwrap();
        store
            .call_offered(talking.call, "1001", q_at)
            .await
            .unwrap();
        let a_at = q_at + Duration::seconds(4);
        store
            .call_agent_answered(talking.call, "1001", "agent-leg", a_at)
            .await
            .unwrap();
        let rec_end = t0() + Duration::seconds(95);
        store
            .add_recording(file(&recorded, RecordingKind::Voicemail, 60_000, rec_end))
            .await
            .unwrap();
        store
            .end_call(
                ended.call,
                t0() + Duration::seconds(30),
                "caller_bye",
                "menu",
            )
            .await
            .unwrap();
        assert_eq!(
            store.oldest_open_call().await.unwrap(),
            Some(t0() + Duration::seconds(1))
        );

        let closed = store.close_crashed_calls(Utc::now()).await.unwrap();
        let ids: Vec<CallId> = closed.iter().map(|c| c.0).collect();
        assert_eq!(ids, [ivr.call, queued.call, talking.call, recorded.call]);
        assert_eq!(closed[0].1, ivr.ticket);

        let row = call_row(store, &ivr).await;
        assert_eq!(row.hangup_cause.as_deref(), Some("crash"));
        assert_eq!(row.ended_at, row.answered_at);
        assert_eq!(row.acd_result, None); // never asked for an agent: not offered

        let row = call_row(store, &queued).await;
        assert_eq!(row.ended_at, Some(q_at));
        assert_eq!(row.acd_result, Some(AcdResult::Abandoned));
        assert_eq!(row.wait_ms, Some(0));

        let row = call_row(store, &talking).await;
        assert_eq!(row.ended_at, Some(a_at));
        assert_eq!(row.acd_result, Some(AcdResult::Answered));
        assert_eq!((row.agent_ended_at, row.talk_ms), (Some(a_at), Some(0)));

        let row = call_row(store, &recorded).await;
        assert_eq!(row.ended_at, Some(rec_end));

        let row = call_row(store, &ended).await;
        assert_eq!(row.hangup_cause.as_deref(), Some("caller_bye"));

        let detail = store.case_by_ticket(&queued.ticket).await.unwrap().unwrap();
        let crashed: Vec<_> = detail
            .events
            .iter()
            .filter(|e| e.event == "call_crashed")
            .collect();
        assert_eq!(crashed.len(), 1);
        assert!(crashed[0].note.as_deref().unwrap().contains("abandoned"));

        // Idempotent: nothing is open any more, also for the next process.
        assert!(store
            .close_crashed_calls(Utc::now())
            .await
            .unwrap()
            .is_empty());
        let reopened = CaseStore::open(&db.url).await.unwrap();
        assert!(reopened
            .close_crashed_calls(Utc::now())
            .await
            .unwrap()
            .is_empty());
        assert_eq!(reopened.oldest_open_call().await.unwrap(), None);
        reopened.close().await;
    }

    async fn recovery_registers_files_once_and_checks_their_call(db: Db) {
        let store = &db.store;
        let a = call(store, 1).await;
        let b = call(store, 2).await;
        let end = t0() + Duration::seconds(40);
        let r = file(&a, RecordingKind::Conversation, 12_340, end);
        let id = store
            .recover_recording(r.clone(), Utc::now())
            .await
            .unwrap();
        assert!(id.is_some());
        assert_eq!(
            store
                .recover_recording(r.clone(), Utc::now())
                .await
                .unwrap(),
            None
        );
        // The file names a call of another case, or no call at all: refused, nothing kept.
        let wrong = NewRecording {
            case: b.case,
            path: "2026/11/21/x.wav".into(),
            ..r.clone()
        };
        assert!(matches!(
            store.recover_recording(wrong, Utc::now()).await,
            Err(CaseError::CallNotInCase { .. })
        ));
        let missing = NewRecording {
            call: CallId(999_999),
            path: "2026/11/21/y.wav".into(),
            ..r.clone()
        };
        assert!(matches!(
            store.recover_recording(missing, Utc::now()).await,
            Err(CaseError::CallNotFound(_))
        ));
        let outside = NewRecording {
            path: "../etc/passwd".into(),
            ..r.clone()
        };
        assert!(matches!(
            store.recover_recording(outside, Utc::now()).await,
            Err(CaseError::InvalidRecordingPath(_))
        ));

        let detail = store.case_by_ticket(&a.ticket).await.unwrap().unwrap();
        assert_eq!(detail.recordings.len(), 1);
        let row = &detail.recordings[0];
        assert_eq!((row.duration_ms, row.created_at), (12_340, end));
        assert_eq!(row.path, r.path);
        let audit: Vec<_> = detail
            .events
            .iter()
            .filter(|e| e.event == "recording_recovered")
            .collect();
        assert_eq!(audit.len(), 1);
        assert!(store
            .case_by_ticket(&b.ticket)
            .await
            .unwrap()
            .unwrap()
            .recordings
            .is_empty());

        let since = store.recording_paths_since(end).await.unwrap();
        assert!(since.contains(&r.path));
        assert!(store
            .recording_paths_since(end + Duration::seconds(1))
            .await
            .unwrap()
            .is_empty());
    }

    async fn recovery_marks_crashed_voicemails_once(db: Db) {
        let store = &db.store;
        let vm = call(store, 1).await; // cut off while leaving a message
        let short = call(store, 2).await; // cut off after half a second: no message
        let normal = call(store, 3).await; // ended normally, marked by the normal path
        let end = t0() + Duration::seconds(70);
        for (c, ms) in [(&vm, 31_000), (&short, 500), (&normal, 9_000)] {
            store
                .recover_recording(file(c, RecordingKind::Voicemail, ms, end), Utc::now())
                .await
                .unwrap()
                .unwrap();
        }
        store
            .end_call(normal.call, end, "caller_bye", "vm")
            .await
            .unwrap();
        store.mark_voicemail(normal.case, Utc::now()).await.unwrap();
        // Not before the calls are closed: a live call's message is the normal path's.
        assert!(store.recover_voicemails(2_000).await.unwrap().is_empty());

        store.close_crashed_calls(Utc::now()).await.unwrap();
        let marked = store.recover_voicemails(2_000).await.unwrap();
        assert_eq!(marked, std::slice::from_ref(&vm.ticket));

        let detail = store.case_by_ticket(&vm.ticket).await.unwrap().unwrap();
        assert_eq!(detail.case.channel, Channel::Voicemail);
        assert_eq!(detail.case.status, CaseStatus::CallbackPending);
        let marked: Vec<_> = detail
            .events
            .iter()
            .filter(|e| e.event == "voicemail")
            .collect();
        assert_eq!(marked.len(), 1);
        assert_eq!(marked[0].at, end); // counted on the day it was left
        let tasks = store.callback_tasks(100).await.unwrap();
        let mine: Vec<_> = tasks.iter().filter(|t| t.case_id == vm.case).collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].reason, CallbackReason::Voicemail);
        let short_case = store.case_by_ticket(&short.ticket).await.unwrap().unwrap();
        assert_eq!(short_case.case.status, CaseStatus::NoRequest);
        assert!(!tasks.iter().any(|t| t.case_id == short.case));
        assert_eq!(tasks.iter().filter(|t| t.case_id == normal.case).count(), 1);

        // Idempotent.
        assert!(store.recover_voicemails(2_000).await.unwrap().is_empty());
        assert_eq!(store.callback_tasks(100).await.unwrap().len(), tasks.len());
    }

    /// Two nodes on one database (as behind Kamailio on one PostgreSQL): node B's start
    /// after a crash closes B's open calls and those of no node (rows from before
    /// migration 0011: nobody knows whose they were, so whoever recovers first closes
    /// them), never node A's live ones, nor registers a file of A's calls or marks A's
    /// voicemails; A's own recovery does that.
    async fn recovery_leaves_other_nodes_calls_alone(db: Db) {
        let unnamed = &db.store;
        let a = db.store.clone().with_node("node-a");
        let b = db.store.clone().with_node("node-b");
        assert_eq!((unnamed.node(), a.node()), (None, Some("node-a")));
        let a_live = call(&a, 1).await;
        let b_cut = call(&b, 2).await;
        let legacy = call(unnamed, 3).await; // before the migration: no node
        let a_vm = call(&a, 4).await; // A dies while this caller leaves a message
        let out = a
            .open_outbound_call(NewOutboundCall {
                case: a_live.case,
                task: None,
                sip_call_id: "out-1@hotline".into(),
                from_number: "12345".into(),
                to_number: "13800000001".into(),
                started_at: t0() + Duration::seconds(5),
                agent: None,
            })
            .await
            .unwrap();
        for (c, node) in [
            (a_live.call, Some("node-a")),
            (b_cut.call, Some("node-b")),
            (legacy.call, None),
            (a_vm.call, Some("node-a")),
            (out, Some("node-a")),
        ] {
            assert_eq!(b.call_node(c).await.unwrap().as_deref(), node, "{c}");
        }
        assert!(matches!(
            b.call_node(CallId(999_999)).await,
            Err(CaseError::CallNotFound(_))
        ));
        let end = t0() + Duration::seconds(80);
        // The legacy caller was leaving a message too; A's file is A's to register.
        b.recover_recording(
            file(&legacy, RecordingKind::Voicemail, 30_000, end),
            Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
        let a_file = file(&a_vm, RecordingKind::Voicemail, 30_000, end);
        match b.recover_recording(a_file.clone(), Utc::now()).await {
            Err(CaseError::CallOfOtherNode { call, node }) => {
                assert_eq!((call, node.as_str()), (a_vm.call, "node-a"));
            }
            other => panic!("B registered A's file: {other:?}"),
        }
        assert!(!b
            .recording_paths_since(t0())
            .await
            .unwrap()
            .contains(&a_file.path));
        // Each node sees its own open calls and those of no node.
        let at = |n: i64| Some(t0() + Duration::seconds(n));
        assert_eq!(b.oldest_open_call().await.unwrap(), at(2));
        assert_eq!(a.oldest_open_call().await.unwrap(), at(1));

        // Node B restarts after a crash.
        let closed: Vec<CallId> = b
            .close_crashed_calls(Utc::now())
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(closed, [b_cut.call, legacy.call]);
        assert_eq!(
            b.recover_voicemails(2_000).await.unwrap(),
            std::slice::from_ref(&legacy.ticket)
        );
        for c in [&a_live, &a_vm] {
            let row = call_row(&b, c).await;
            assert_eq!((row.ended_at, row.hangup_cause), (None, None), "{}", c.call);
        }
        let detail = b.case_by_ticket(&a_live.ticket).await.unwrap().unwrap();
        assert!(detail.calls.iter().all(|c| c.ended_at.is_none()));
        assert!(!detail.events.iter().any(|e| e.event == "call_crashed"));
        assert_eq!(
            call_row(&b, &legacy).await.hangup_cause.as_deref(),
            Some("crash")
        );
        assert!(b.close_crashed_calls(Utc::now()).await.unwrap().is_empty());
        assert_eq!(b.oldest_open_call().await.unwrap(), None);

        // Node A's calls are closed by node A's own recovery, and only then its voicemail
        // is called back; not by B's next start either.
        a.recover_recording(a_file, Utc::now())
            .await
            .unwrap()
            .unwrap();
        a.end_call(
            a_live.call,
            t0() + Duration::seconds(60),
            "caller_bye",
            "menu",
        )
        .await
        .unwrap();
        let closed: Vec<CallId> = a
            .close_crashed_calls(Utc::now())
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(closed, [a_vm.call, out]);
        assert!(b.recover_voicemails(2_000).await.unwrap().is_empty());
        assert_eq!(
            a.recover_voicemails(2_000).await.unwrap(),
            std::slice::from_ref(&a_vm.ticket)
        );
        let row = call_row(&a, &a_vm).await;
        assert_eq!(
            (row.ended_at, row.hangup_cause.as_deref()),
            (Some(end), Some("crash"))
        );
        assert_eq!(unnamed.oldest_open_call().await.unwrap(), None);
    }
}
