//! Work orders (工单, "cases") of the 12345 hotline, and the calls, recordings and audit
//! trail linked to them, stored through sqlx on SQLite (the default) or PostgreSQL.
//!
//! # Cases are written early and durably
//!
//! Every answered call becomes a case *before* anything else happens to it:
//! [`CaseStore::open_call`] runs when the call controller answers the INVITE, before the
//! IVR greets the caller and long before an agent's phone rings. So
//!
//! - the ticket number exists to be announced to the caller and shown on the agent's
//!   screen at ring time;
//! - a call that is dropped, abandoned in the queue, or cut off by a crash still leaves a
//!   case, a call row (without `ended_at`) and its audit trail — nothing a citizen said
//!   to 12345 is lost, which is what the city's rule books ask for;
//! - recordings (files under the recordings directory) always have a row to hang on.
//!
//! "Durably" means a call to [`CaseStore::open_call`] that returned `Ok` survives a
//! process crash or power cut: SQLite runs in WAL mode with `synchronous=FULL`,
//! PostgreSQL commits once the WAL is flushed (`synchronous_commit`, on by default).
//!
//! The call path's writes (calls opened and ended, missed calls, ACD steps, recordings,
//! agent state changes) go through one writer per database ([`writer`]): it writes
//! whatever queued while its previous commit was flushing in one transaction (group
//! commit), so the answer waits for a batch's flush, not for its own, and the disk's flush
//! rate does not bound the call rate. Ticket numbers ([`ticket`]) are reserved inside
//! that transaction, one upsert per day per batch, so concurrent calls never share one and a
//! failed batch leaves neither half a case nor a used-up number behind. A write that must
//! land (a call's end, a recording) is kept in memory and retried until it does; a new
//! call whose row cannot be written is refused (the caller is told 503, not answered into
//! a lost case). [`WriterStats`] says how far behind the writer is: admission control
//! reads it. Other operations (an agent's edits, transitions) are one transaction each.
//!
//! # Layout: two backends
//!
//! [`CaseStore`] is the API, the same whichever database [`CaseStore::open`] was given
//! (a `sqlite:` URL or file path, or a `postgres://` URL; [`CaseStore::backend_name`]
//! tells which). It dispatches every call to one backend module holding all of that
//! database's SQL — `sqlite` or `postgres`. What is the same text on both (most of it:
//! `$n` placeholders work on both) is written once, in `twin/`, and included by each;
//! a backend's own files keep only what differs (connection options, pragmas, how
//! transactions start, row locks, collation). Each backend has its own schema
//! migrations, `migrations/sqlite/` and `migrations/postgres/` (twins: a schema change is
//! written for both), embedded at build time and applied on open. Both decode into the
//! same raw rows (`rows`), so the API types and checks are shared; the ACD step logic
//! and credential hashing are backend-independent too. [`model`] has the types,
//! [`ticket`] the pure ticket-number helpers.
//!
//! # Agents and the ACD
//!
//! Seated agents (extension, skills, ring and wrap-up times) live here too, with their
//! credentials: an argon2id hash for the desktop login and the SIP digest HA1 values the
//! registrar checks softphones against; plaintext passwords are never stored. Agents are
//! never deleted, only marked removed, so the calls and the append-only state history
//! (`agent_events`) that name them stay meaningful. Each call row carries its ACD facts
//! (queue, offers, answering agent, wait / talk / wrap-up times), written step by step
//! by the call controller, from which [`CaseStore::queue_stats`] computes the day's
//! service level.

//!
//! # Work orders
//!
//! A case is a work order (工单) with fields the agent fills in
//! ([`CaseStore::update_case_fields`]) and a life the lifecycle whitelist governs
//! ([`lifecycle`]): [`CaseStore::transition`] applies an action in one transaction —
//! state, department (a tree of network units, [`CaseStore::departments`]), the
//! working-day deadline ([`calendar`]), counters, extension requests and an audit event
//! naming who did it. The rules that need no SQL live in one place (`workflow`), so both
//! backends apply them alike. Users and login sessions for the HTTP API are kept here
//! too (argon2id password hashes; only a SHA-256 of each session token).

mod acd;
pub use acd::CallNote;
pub mod calendar;
pub mod callback;
mod error;
pub mod lifecycle;
pub mod model;
mod postgres;
pub mod registration;
pub mod report;
mod rows;
mod secret;
pub mod security;
mod sqlite;
mod store;
pub mod ticket;
mod workflow;
pub mod writer;

pub use callback::{
    CallbackAttempt, CallbackMode, CallbackReason, CallbackResult, CallbackStatus, CallbackTask,
    CallbackTaskId, CallingHours,
};
pub use error::CaseError;
pub use model::NewAgentEvent;
pub use model::{
    AcdResult, Actor, Agent, AgentEvent, AgentSecrets, CallId, CallRow, CaseDetail, CaseEvent,
    CaseFields, CaseId, CaseQuery, CaseStatus, CaseSummary, Category, Channel, Department,
    DepartmentId, Direction, ExtensionRequest, ExtensionStatus, HandlingMode, MissedCall, NewAgent,
    NewCall, NewCase, NewDepartment, NewOutboundCall, NewRecording, NewUser, OpenedCall,
    QueueStats, RecordingId, RecordingKind, RecordingRow, Skill, User, UserId, WorkOrder,
    SERVICE_LEVEL_WAIT_MS,
};
pub use registration::StoredBinding;
pub use report::DailyReport;
pub use security::SecurityEvent;
pub use store::{redact_password, CaseStore};
pub use writer::{WriterSnapshot, WriterStats};
