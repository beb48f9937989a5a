//! Work orders (工单, "cases") of the 12345 hotline, and the calls, recordings and audit
//! trail linked to them, stored through sqlx: SQLite by default, PostgreSQL later.
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
//! process crash or power cut: SQLite runs in WAL mode with `synchronous=FULL`, and each
//! operation is one transaction. Ticket numbers ([`ticket`]) are allocated inside that
//! same transaction, so concurrent calls never share one, and a failed insert leaves
//! neither half a case nor a used-up number behind.
//!
//! # Layout
//!
//! [`CaseStore`] is the API; it dispatches to one backend module holding all of that
//! database's SQL (`sqlite` now; a `postgres` module with the schema in
//! `migrations/postgres/` comes next). [`model`] has the types, [`ticket`] the pure
//! ticket-number helpers.

mod error;
pub mod model;
mod rows;
mod sqlite;
mod store;
pub mod ticket;

pub use error::CaseError;
pub use model::{
    CallId, CallRow, CaseDetail, CaseEvent, CaseId, CaseStatus, CaseSummary, Channel, Direction,
    MissedCall, NewCall, NewRecording, OpenedCall, RecordingId, RecordingKind, RecordingRow,
};
pub use store::CaseStore;
