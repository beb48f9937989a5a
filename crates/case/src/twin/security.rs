// The security audit's statements, shared by `sqlite/security.rs` and
// `postgres/security.rs` (included after their backend-specific header).

use chrono::{DateTime, Utc};

use super::Backend;
use crate::error::CaseError;
use crate::security::SecurityEvent;

impl Backend {
    pub(crate) async fn record_security_event(&self, e: &SecurityEvent) -> Result<i64, CaseError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO security_events (at, kind, source, username, note) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(e.at)
        .bind(&e.kind)
        .bind(&e.source)
        .bind(&e.username)
        .bind(&e.note)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(crate) async fn security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, CaseError> {
        let rows: Vec<SecurityRow> = sqlx::query_as(
            "SELECT id, at, kind, source, username, note FROM security_events \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SecurityEvent {
                id: r.id,
                at: r.at,
                kind: r.kind,
                source: r.source,
                username: r.username,
                note: r.note,
            })
            .collect())
    }
}

#[derive(sqlx::FromRow)]
struct SecurityRow {
    id: i64,
    at: DateTime<Utc>,
    kind: String,
    source: Option<String>,
    username: Option<String>,
    note: Option<String>,
}
