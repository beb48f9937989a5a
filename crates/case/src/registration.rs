//! Softphone registrations kept across restarts: the registrar lives in memory (in the
//! server), and a node that restarts would otherwise forget every agent's phone until it
//! registers again (up to its re-register interval), while the phones believe they are
//! registered. The server writes an agent's bindings after each REGISTER and reads the
//! live ones back at start.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One registered contact of an agent's extension, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredBinding {
    /// The agent's extension (the AOR's user).
    pub extension: String,
    /// The Contact URI, as registered.
    pub contact: String,
    /// Where the REGISTER came from (`ip:port`): requests to the phone go there.
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: String,
    /// The REGISTER's Call-ID and CSeq (a later REGISTER must carry a higher CSeq).
    pub call_id: String,
    pub cseq: u32,
    /// The Contact's `q`, if it gave one.
    pub q: Option<f32>,
    /// When the binding lapses.
    pub expires_at: DateTime<Utc>,
}
