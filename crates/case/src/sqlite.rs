//! The SQLite backend: every SQL statement the store runs on SQLite lives here.
//!
//! Writes run in `BEGIN IMMEDIATE` transactions, so a transaction takes the write lock
//! before its first read and waits (busy_timeout) instead of failing when another
//! writer holds it. The ticket sequence is bumped by an UPSERT ... RETURNING inside the
//! transaction that inserts the case: two calls can never get the same number, and a
//! rolled-back case does not use one up.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection as Conn, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Sqlite as Db;

type Backend = SqliteBackend;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the pool; SQLite runs one writer at a time, readers in parallel (WAL).
const MAX_CONNECTIONS: u32 = 8;
/// How a write transaction starts: it takes the database's write lock at once.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// How a read transaction starts: its reads see one snapshot (WAL).
const BEGIN_READ: &str = "BEGIN";
/// Appended to the read of a row about to change (`BEGIN IMMEDIATE` already holds the
/// write lock).
const LOCK_ROW: &str = "";
/// Appended to an `ORDER BY` of text: SQLite sorts text byte by byte already.
const BYTE_ORDER: &str = "";

mod callbacks;
mod calls;
mod desk;
mod recovery;
mod registrations;
mod report;
mod security;
#[cfg(test)]
mod tests;
mod work;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// A pool of connections to one SQLite database file.
#[derive(Debug, Clone)]
pub(crate) struct SqliteBackend {
    pool: SqlitePool,
    /// For the writer's own connection (`spawn_writer`).
    options: SqliteConnectOptions,
}

impl SqliteBackend {
    /// Opens (creating if missing) the file named by a `sqlite:` URL or a plain path,
    /// and brings its schema up to date.
    pub(crate) async fn open(url_or_path: &str) -> Result<Self, CaseError> {
        let options = if url_or_path.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url_or_path)?
        } else {
            SqliteConnectOptions::new().filename(url_or_path)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed case survives a power cut, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        create_parent_dir(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .after_release(|conn, _| Box::pin(settle_released(conn)))
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteBackend { pool, options })
    }

    /// The journal mode SQLite reports, for tests.
    #[cfg(test)]
    pub(crate) async fn journal_mode(&self) -> Result<String, CaseError> {
        Ok(sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?)
    }
}

include!("twin/backend.rs");

/// Decides whether a connection going back to the pool may be used again: not if it is
/// still inside a transaction.
///
/// A full disk (or an I/O error) while SQLite writes the WAL, at COMMIT or when a
/// statement spills pages, makes it roll the whole transaction back by itself. sqlx does
/// not see that: the ROLLBACK it sends when the failed `Transaction` is dropped fails ("no
/// transaction is active"), so its own count of open transactions stays at 1. Such a connection, put back in the pool,
/// refuses every later `begin_with("BEGIN IMMEDIATE")` ("attempted to call begin_with at
/// non-zero transaction depth") — every write on it fails until the process restarts,
/// long after the disk has space again. Closing it instead lets the pool open a fresh one,
/// whatever write path (here, `sqlite/*.rs`, `twin/*.rs`) left it so.
async fn settle_released(conn: &mut Conn) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // A `Transaction` dropped without commit only queued its ROLLBACK; the ping goes down
    // the same queue, so once it is answered the ROLLBACK has run (or failed).
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!(
            "closing a database connection whose transaction SQLite already rolled back \
             (disk full or I/O error); the pool opens a new one"
        );
        return Ok(false);
    }
    Ok(true)
}

fn create_parent_dir(file: &Path) -> Result<(), CaseError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|source| CaseError::CreateDir {
                path: dir.to_path_buf(),
                source,
            }),
        _ => Ok(()),
    }
}
