//! What the guards decided, into the security audit (`security_events`), shared by the
//! SIP desk (digest lockouts) and the HTTP API (login lockouts).

use hotline_case::{CaseStore, SecurityEvent};
use hotline_sip::lockout::Lock;
use std::net::SocketAddr;
use std::time::Instant;

/// Stores a lockout that just started, in the background: the answer to the attacker (or
/// the agent) does not wait for the disk, and a failed write is logged, not fatal.
pub fn audit_lock(store: &CaseStore, kind: &'static str, l: &Lock, source: SocketAddr, user: &str) {
    let secs = l.until.saturating_duration_since(Instant::now()).as_secs();
    let until = chrono::Utc::now() + chrono::Duration::seconds(secs as i64);
    let event = SecurityEvent::new(
        chrono::Utc::now(),
        kind,
        Some(source.to_string()),
        Some(user.to_owned()),
        Some(format!(
            "{} locked out after {} failed attempts until {}",
            l.scope,
            l.failures,
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )),
    );
    let store = store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.record_security_event(&event).await {
            tracing::error!(error = %e, kind = %event.kind, "cannot store the security event");
        }
    });
}
