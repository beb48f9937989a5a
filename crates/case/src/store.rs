//! [`CaseStore`]: the API the server calls, independent of the database behind it.
//!
//! Time comes from the caller: every method that stamps a time takes it (`now`, `at`,
//! `ended_at`), and no store method reads the clock, so the server uses its one clock
//! and tests pass fixed times.
//!
//! Here: the type, opening and closing, and the helpers the domains share. The methods
//! are in one file per domain: `calls`, `agents`, `cases` (work orders and departments),
//! `callbacks`, `reports`, `users`, `desk`, `registrations`, `security`, `recovery`.

use std::path::{Component, Path};

use crate::callback::NumberPolicy;
use crate::error::CaseError;
use crate::model::is_valid_extension;
use crate::postgres::PostgresBackend;
use crate::sqlite::SqliteBackend;
use crate::writer::{Queue, WriterHandle, WriterStats};

/// Runs the same expression on whichever backend the store has (`$b` is bound to it).
macro_rules! on_backend {
    ($self:ident, $b:ident => $e:expr) => {
        match &$self.backend {
            Backend::Sqlite($b) => $e,
            Backend::Postgres($b) => $e,
        }
    };
}

/// The case database. Cheap to clone (a connection pool); share one per process.
#[derive(Debug, Clone)]
pub struct CaseStore {
    backend: Backend,
    /// The call path's writes, batched ([`crate::writer`]).
    writer: WriterHandle,
    /// Attempts of the task a voicemail or callback request creates.
    callback_attempts: u32,
    callback_numbers: std::sync::Arc<NumberPolicy>,
    /// The node (process, machine) this store writes calls for: [`CaseStore::with_node`].
    node: Option<std::sync::Arc<str>>,
}

/// The databases the store can run on. Each variant's module holds all of its SQL.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteBackend),
    Postgres(PostgresBackend),
}

impl CaseStore {
    /// Opens the database and applies pending migrations.
    ///
    /// `url_or_path` is one of
    ///
    /// - a `sqlite:` URL (`sqlite://data/hotline.db`, `sqlite:data/x.db?…`) or a plain file
    ///   path: the file and its parent directory are created if missing;
    /// - a `postgres://` (or `postgresql://`) URL, e.g.
    ///   `postgres://hotline:secret@db/hotline`: the database must exist; the tables go
    ///   into the first schema of the connection's `search_path` (add
    ///   `?options=-c%20search_path%3Dname` for another schema than `public`).
    ///
    /// Either way the backend's migrations (`migrations/sqlite/` or
    /// `migrations/postgres/`, embedded in the binary) are applied. Other URL schemes fail
    /// with [`CaseError::UnsupportedBackend`].
    pub async fn open(url_or_path: &str) -> Result<Self, CaseError> {
        let backend = match url_or_path.split_once("://") {
            Some(("postgres" | "postgresql", _)) => {
                Backend::Postgres(PostgresBackend::open(url_or_path).await?)
            }
            Some((scheme, _)) if scheme != "sqlite" => {
                return Err(CaseError::UnsupportedBackend(redact_password(url_or_path)))
            }
            _ => Backend::Sqlite(SqliteBackend::open(url_or_path).await?),
        };
        let (writer, queue, stats) = WriterHandle::new();
        match &backend {
            Backend::Sqlite(b) => b.spawn_writer(Queue::new(queue, stats)),
            Backend::Postgres(b) => b.spawn_writer(Queue::new(queue, stats)),
        }
        let store = CaseStore {
            backend,
            writer,
            callback_attempts: crate::callback::DEFAULT_MAX_ATTEMPTS,
            callback_numbers: std::sync::Arc::new(NumberPolicy::default()),
            node: None,
        };
        tracing::info!(
            backend = store.backend_name(),
            db = %redact_password(url_or_path),
            "case store open"
        );
        Ok(store)
    }

    /// The same store, letting a new call's write wait up to `window` for others to share
    /// its commit while calls come closer together than that (`[data] commit_window_ms`;
    /// zero: never). See [`crate::writer`].
    pub fn with_commit_window(self, window: std::time::Duration) -> Self {
        self.writer.set_window(window);
        self
    }

    /// The same store, giving the tasks that voicemails and callback requests create
    /// `attempts` attempts (`[callbacks] max_attempts`; clamped to 1–20) instead of
    /// [`DEFAULT_MAX_ATTEMPTS`](crate::callback::DEFAULT_MAX_ATTEMPTS).
    pub fn with_callback_attempts(mut self, attempts: u32) -> Self {
        self.callback_attempts = attempts.clamp(1, 20);
        self
    }

    /// The same store, calling back only the numbers `policy` allows (instead of
    /// [`NumberPolicy::default`]): tasks for others are made `failed` at once.
    pub fn with_callback_numbers(mut self, policy: NumberPolicy) -> Self {
        self.callback_numbers = std::sync::Arc::new(policy);
        self
    }

    /// The same store, writing `node` (the server's `[data] node`, by default its hostname)
    /// on every call row it opens ([`CaseStore::open_call`],
    /// [`CaseStore::open_outbound_call`]): the node that handles the call. The crash
    /// recovery ([`CaseStore::close_crashed_calls`] and the rest of `store/recovery.rs`)
    /// touches only the calls of its node, so several nodes can share one database.
    ///
    /// Without it (the CLI, tests) call rows get no node, as rows written before nodes were
    /// recorded; such rows are every recovering node's.
    pub fn with_node(mut self, node: &str) -> Self {
        self.node = Some(node.into());
        self
    }

    /// The node this store writes calls for ([`CaseStore::with_node`]), if it was given.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The numbers this store's callback tasks may dial.
    pub fn callback_numbers(&self) -> &NumberPolicy {
        &self.callback_numbers
    }

    /// What the call path's writer ([`crate::writer`]) is doing: its backlog (admission
    /// control refuses new calls past a bound), batch sizes and commit times (metrics).
    pub fn writer_stats(&self) -> &WriterStats {
        self.writer.stats()
    }

    /// Which database this store runs on: `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes all connections (checkpointing SQLite's WAL), waiting for those in use to
    /// come back. Later calls fail.
    pub async fn close(&self) {
        self.writer.close().await;
        match &self.backend {
            Backend::Sqlite(b) => b.close().await,
            Backend::Postgres(b) => b.close().await,
        }
    }
}

/// The row limit of a search: 100 by default (0), at most 1000.
pub(crate) fn search_limit(limit: u32) -> u32 {
    match limit {
        0 => 100,
        n => n.min(1000),
    }
}

fn field(field: &'static str, reason: &str) -> CaseError {
    CaseError::InvalidField {
        field,
        reason: reason.to_owned(),
    }
}

fn check_extension(ext: &str) -> Result<(), CaseError> {
    if is_valid_extension(ext) {
        Ok(())
    } else {
        Err(CaseError::InvalidExtension(ext.to_owned()))
    }
}

/// The URL with the password of its user info (`user:password@`) replaced by `***`,
/// fit for logs and error messages. Anything without one is returned unchanged.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match user_info.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_owned(),
    }
}

/// A non-empty relative path made only of normal components (no `..`, no root, no `.`).
fn is_contained_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && !path.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
}

mod agents;
mod callbacks;
mod calls;
mod cases;
mod desk;
pub use desk::AgentTally;
pub(crate) mod recovery;
mod registrations;
mod reports;
mod security;
mod users;

#[cfg(test)]
mod tests;
