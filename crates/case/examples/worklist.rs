//! How the callback worklist holds up after a busy night: N voicemails (each a case, a call
//! and a task, written as the call controller writes them), then the dialler's read of the
//! due tasks (`callback_worklist`, 200 at a time, oldest place first) timed many times.
//!
//! ```sh
//! cargo run --release -p hotline-case --example worklist -- 20000
//! cargo run --release -p hotline-case --example worklist -- 20000 postgres://postgres@127.0.0.1:5432/test
//! ```
//! With a PostgreSQL URL the tables go into a fresh schema that is dropped at the end.

use chrono::{Duration, TimeZone, Utc};
use hotline_case::{CaseStore, NewCall};
use sqlx::{Connection, PgConnection};
use std::time::Instant;

/// Runs one statement on a PostgreSQL server (schema set-up and clean-up).
async fn pg(url: &str, sql: &str) {
    let mut c = PgConnection::connect(url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(sql).execute(&mut c).await.expect(sql);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let url = args.next();
    let dir = tempfile::tempdir().expect("temp dir");
    let schema = format!("worklist_bench_{}", std::process::id());
    let url = match url {
        Some(u) => {
            pg(&u, &format!("CREATE SCHEMA {schema}")).await;
            let sep = if u.contains('?') { '&' } else { '?' };
            format!("{u}{sep}options=-c%20search_path%3D{schema}")
        }
        None => dir.path().join("bench.db").display().to_string(),
    };
    let store = CaseStore::open(&url).await.expect("open store");
    let night = Utc.with_ymd_and_hms(2026, 11, 21, 14, 0, 0).unwrap();
    let day = night.date_naive();
    let started = Instant::now();
    for i in 0..n {
        let arrived = night + Duration::milliseconds(i64::from(i) * 1500);
        let opened = store
            .open_call(NewCall {
                sip_call_id: format!("bench-{i}@trunk"),
                caller_number: format!("139{i:08}"),
                called_number: "12345".into(),
                arrived_at: arrived,
                answered_at: arrived,
                local_day: day,
            })
            .await
            .expect("open call");
        store
            .mark_voicemail(opened.case, Utc::now())
            .await
            .expect("voicemail");
    }
    let wrote = started.elapsed();
    let morning = Utc::now() + Duration::days(1);
    let mut samples = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let due = store
            .callback_worklist(morning, 200)
            .await
            .expect("worklist");
        samples.push(t.elapsed());
        assert_eq!(due.len(), 200.min(n as usize));
        assert!(due.windows(2).all(|w| w[0].place_at <= w[1].place_at));
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "{} backend, {n} voicemail tasks written in {:.1} s ({:.0}/s); worklist of 200: p50 {:?}, p99 {:?}",
        store.backend_name(),
        wrote.as_secs_f64(),
        f64::from(n) / wrote.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
    let postgres = store.backend_name() == "postgres";
    store.close().await;
    if postgres {
        let server = url.split('?').next().unwrap_or(&url);
        pg(server, &format!("DROP SCHEMA {schema} CASCADE")).await;
    }
}
