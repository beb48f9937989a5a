//! The security audit: what the guards in front of the hotline decided (a source or a user
//! locked out after failed passwords, on SIP or HTTP). Append-only, like the case and agent
//! audit trails; written by the server, read by supervisors and operators.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One security decision, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityEvent {
    /// Database id (0 before it is stored).
    pub id: i64,
    pub at: DateTime<Utc>,
    /// What happened, e.g. `sip_auth_locked`, `http_login_locked`.
    pub kind: String,
    /// The source address concerned, if any.
    pub source: Option<String>,
    /// The user (SIP extension or HTTP user name) concerned, if any.
    pub username: Option<String>,
    /// Details: the scope, the failures counted, until when.
    pub note: Option<String>,
}

impl SecurityEvent {
    /// An event to store (its id is given by the database).
    pub fn new(
        at: DateTime<Utc>,
        kind: &str,
        source: Option<String>,
        username: Option<String>,
        note: Option<String>,
    ) -> SecurityEvent {
        SecurityEvent {
            id: 0,
            at,
            kind: kind.to_owned(),
            source,
            username,
            note,
        }
    }
}
