//! Gives each test body an empty database on the backend it runs on:
//!
//! - SQLite: a file in a fresh temporary directory;
//! - PostgreSQL: a fresh schema `hotline_test_<random>` on the server named by
//!   `HOTLINE_TEST_POSTGRES` (default [`DEFAULT_POSTGRES`]), selected through the URL's
//!   `options=-c search_path=…`, and dropped (`CASCADE`) when the test ends, passed or
//!   failed.
//!
//! If the PostgreSQL server cannot be reached, the PostgreSQL variants print a loud
//! notice and pass without running — unless `HOTLINE_REQUIRE_POSTGRES=1`, in which case
//! they fail (CI sets it).

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;

use crate::store::{redact_password, Backend, CaseStore};

/// The server the PostgreSQL variants use when `HOTLINE_TEST_POSTGRES` is not set.
pub(super) const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
/// How long to wait for the server before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The backend a test variant runs on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Sqlite,
    Postgres,
}

/// What a test body gets: a store on an empty database, and the URL that opens the same
/// database again.
#[derive(Debug, Clone)]
pub(super) struct Db {
    pub store: CaseStore,
    pub url: String,
}

/// Runs `body` on a fresh database of the `kind` backend.
pub(super) async fn run<F, Fut>(kind: Kind, body: F)
where
    F: FnOnce(Db) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!(
                "sqlite://{}",
                dir.path().join("data").join("hotline.db").display()
            );
            let store = CaseStore::open(&url).await.unwrap();
            assert_eq!(store.backend_name(), "sqlite");
            body(Db { store, url }).await;
        }
        Kind::Postgres => {
            let Some(server) = postgres_server().await else {
                return;
            };
            let schema = format!("hotline_test_{:016x}", rand::random::<u64>());
            let mut admin = PgConnection::connect(server)
                .await
                .expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut admin)
                .await
                .expect("create the test schema");
            let url = with_search_path(server, &schema);
            // The test runs as its own task so that a failed assertion still comes back
            // here and the schema is dropped.
            let outcome = tokio::spawn({
                let schema = schema.clone();
                async move {
                    let store = CaseStore::open(&url).await.unwrap();
                    assert_eq!(store.backend_name(), "postgres");
                    let Backend::Postgres(b) = &store.backend else {
                        unreachable!()
                    };
                    assert_eq!(b.current_schema().await.unwrap(), schema);
                    body(Db {
                        store: store.clone(),
                        url,
                    })
                    .await;
                    store.close().await;
                }
            })
            .await;
            drop_schema(&mut admin, &schema).await;
            let _ = admin.close().await;
            if let Err(e) = outcome {
                match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(e) => panic!("test task failed: {e}"),
                }
            }
        }
    }
}

/// The PostgreSQL server URL if it answers; `None` (after a loud notice) if it does not
/// and PostgreSQL is not required. Decided once per test run.
async fn postgres_server() -> Option<&'static str> {
    static SERVER: OnceCell<Option<String>> = OnceCell::const_new();
    SERVER
        .get_or_init(|| async {
            let url = std::env::var("HOTLINE_TEST_POSTGRES")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| DEFAULT_POSTGRES.to_owned());
            let required = std::env::var("HOTLINE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
            let error =
                match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&url)).await {
                    Ok(Ok(conn)) => {
                        let _ = conn.close().await;
                        return Some(url);
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
                };
            let shown = redact_password(&url);
            if required {
                panic!(
                    "HOTLINE_REQUIRE_POSTGRES=1 but cannot reach PostgreSQL at {shown}: {error}"
                );
            }
            // Straight to stderr: the test harness captures eprintln! of passing tests.
            let bar = "!".repeat(78);
            let _ = writeln!(
                std::io::stderr(),
                "\n{bar}\nPOSTGRES TESTS SKIPPED: cannot reach {shown}: {error}\n\
                 The postgres:: store tests pass WITHOUT RUNNING. Set HOTLINE_TEST_POSTGRES to \
                 a reachable server,\nor HOTLINE_REQUIRE_POSTGRES=1 to make this a failure.\n\
                 {bar}\n"
            );
            None
        })
        .await
        .as_deref()
}

/// `url` with `search_path` set to `schema` for every connection opened from it.
fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Drops the test schema and everything in it. A failure only warns: the test's own
/// outcome is what matters, and a leftover `hotline_test_*` schema harms no other test.
async fn drop_schema(admin: &mut PgConnection, schema: &str) {
    let dropped = async {
        sqlx::query("SET lock_timeout = '30s'")
            .execute(&mut *admin)
            .await?;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut *admin)
            .await
    }
    .await;
    if let Err(e) = dropped {
        let _ = writeln!(
            std::io::stderr(),
            "warning: could not drop test schema {schema}: {e}"
        );
    }
}
