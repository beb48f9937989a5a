//! The PostgreSQL backend: every SQL statement the store runs on PostgreSQL lives here.
//!
//! Transactions run at PostgreSQL's default READ COMMITTED level. Where a write depends
//! on what it read (a case's status, a call's ACD facts, a removed agent), the read takes
//! a row lock (`FOR NO KEY UPDATE`), so concurrent writers of the same row queue up
//! instead of both acting on the same old value — what `BEGIN IMMEDIATE` gives on
//! SQLite. Reads that span several statements run in one `REPEATABLE READ, READ ONLY`
//! transaction, so they see one snapshot.
//!
//! The ticket sequence is bumped by an UPSERT ... RETURNING inside the transaction that
//! inserts the case: the UPSERT locks the day's row until commit, so two calls can never
//! get the same number, and a rolled-back case does not use one up.
//!
//! Times are `TIMESTAMPTZ` (microseconds: finer parts of a `DateTime<Utc>` are dropped),
//! ids and counts `BIGINT`; aggregates are cast so they decode as the same `i64` the
//! SQLite backend returns.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection as Conn, PgPool, PgPoolOptions};
use sqlx::Postgres as Db;

type Backend = PostgresBackend;

/// Connections in the pool. Calls open cases concurrently; each holds a connection only
/// for one short transaction.
const MAX_CONNECTIONS: u32 = 16;
/// How long an operation waits for a free connection (or to connect) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How a write transaction starts (READ COMMITTED; what it changes it locks first).
const BEGIN_WRITE: &str = "BEGIN";
/// Starts a transaction whose statements all read the same snapshot.
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
/// Appended to the read of a row about to change: concurrent writers of the same row
/// queue up instead of acting on the same old value.
const LOCK_ROW: &str = " FOR NO KEY UPDATE";
/// Appended to an `ORDER BY` of text: byte order, as SQLite sorts, whatever the
/// database's locale.
const BYTE_ORDER: &str = " COLLATE \"C\"";

mod callbacks;
mod calls;
mod desk;
mod recovery;
mod registrations;
mod report;
mod security;
mod work;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// A pool of connections to one PostgreSQL database (and the schema its `search_path`
/// names).
#[derive(Debug, Clone)]
pub(crate) struct PostgresBackend {
    pool: PgPool,
    /// For the writer's own connection (`spawn_writer`).
    options: PgConnectOptions,
}

impl PostgresBackend {
    /// Connects to the database a `postgres://` URL names and brings its schema up to
    /// date. The database must exist; the tables go into the first schema of the
    /// connection's `search_path` (normally `public`; a URL may set another with
    /// `options=-c%20search_path%3Dname`).
    pub(crate) async fn open(url: &str) -> Result<Self, CaseError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresBackend { pool, options })
    }

    /// The schema new tables go into (the first of the `search_path`), for tests.
    #[cfg(test)]
    pub(crate) async fn current_schema(&self) -> Result<String, CaseError> {
        Ok(sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&self.pool)
            .await?)
    }
}

include!("twin/backend.rs");
