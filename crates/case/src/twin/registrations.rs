// Softphone registrations, shared by `sqlite/registrations.rs` and
// `postgres/registrations.rs` (included after their backend-specific header).

use chrono::{DateTime, Utc};

use super::Backend;
use crate::error::CaseError;
use crate::registration::StoredBinding;

#[derive(sqlx::FromRow)]
struct BindingRow {
    extension: String,
    contact: String,
    source: String,
    transport: String,
    call_id: String,
    cseq: i64,
    q: Option<f64>,
    expires_at: DateTime<Utc>,
}

impl Backend {
    pub(crate) async fn save_registrations(
        &self,
        extension: &str,
        bindings: &[StoredBinding],
    ) -> Result<(), CaseError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM registrations WHERE extension = $1")
            .bind(extension)
            .execute(&mut *tx)
            .await?;
        for b in bindings {
            sqlx::query(
                "INSERT INTO registrations (extension, contact, source, transport, call_id, \
                 cseq, q, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(extension)
            .bind(&b.contact)
            .bind(&b.source)
            .bind(&b.transport)
            .bind(&b.call_id)
            .bind(i64::from(b.cseq))
            .bind(b.q.map(f64::from))
            .bind(b.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn live_registrations(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredBinding>, CaseError> {
        let rows: Vec<BindingRow> = sqlx::query_as(
            "SELECT extension, contact, source, transport, call_id, cseq, q, expires_at \
             FROM registrations WHERE expires_at > $1 ORDER BY extension, contact",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredBinding {
                extension: r.extension,
                contact: r.contact,
                source: r.source,
                transport: r.transport,
                call_id: r.call_id,
                cseq: u32::try_from(r.cseq).unwrap_or(0),
                q: r.q.map(|q| q as f32),
                expires_at: r.expires_at,
            })
            .collect())
    }
}
