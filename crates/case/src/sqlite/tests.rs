//! A full disk, then space again: the SQLite backend must write again by itself, and the
//! end of a call answered before the disk filled must land once there is space.
//!
//! The database lives on a small tmpfs that a filler file fills up. (`PRAGMA
//! max_page_count` is no stand-in: it fails the statement only, whereas a really full disk
//! fails the WAL write at COMMIT, and SQLite then rolls the whole transaction back by
//! itself — which is what used to leave pooled connections unusable.) Mounting needs root;
//! without it the test says so loudly and passes without running.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{NaiveDate, TimeZone, Utc};

use super::MAX_CONNECTIONS;
use crate::model::{NewCall, NewDepartment};
use crate::CaseStore;

fn new_call(n: u32) -> NewCall {
    let arrived = Utc.with_ymd_and_hms(2026, 11, 21, 1, 2, 3).unwrap();
    NewCall {
        sip_call_id: format!("full-{n}@trunk"),
        caller_number: format!("1380000{n:04}"),
        called_number: "12345".into(),
        arrived_at: arrived,
        answered_at: arrived,
        local_day: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
    }
}

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped; `None` if mounting fails.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the filesystem refuses more.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test]
async fn writes_resume_after_the_disk_was_full() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("disk");
    let Some(_disk) = SmallDisk::mount(&mnt, "16m") else {
        eprintln!(
            "!!!!! SKIPPED writes_resume_after_the_disk_was_full: cannot mount a tmpfs \
             (not root?), the disk-full recovery was NOT tested !!!!!"
        );
        return;
    };
    let store = CaseStore::open(&mnt.join("hotline.db").display().to_string())
        .await
        .unwrap();
    let first = store.open_call(new_call(0)).await.unwrap();

    let filler = mnt.join("filler");
    fill(&filler);
    // A new call cannot be written: it is refused (the trunk tries elsewhere).
    let e = store
        .open_call(new_call(1))
        .await
        .expect_err("a call was opened on a full disk");
    assert!(
        e.to_string().contains("disk is full"),
        "not refused for space: {e}"
    );
    // Writes of the pooled connections fail too; several of them, so that (before the
    // fix) more than one pooled connection was left behind in the broken state.
    for n in 1..=2 * MAX_CONNECTIONS {
        let e = store
            .add_department(department(n), Utc::now())
            .await
            .expect_err("a write succeeded on a full disk");
        assert!(
            e.to_string().contains("disk is full"),
            "write {n} on a full disk failed, but not for space: {e}"
        );
    }
    // The end of a call that was answered must land: it is kept and retried.
    let ending = {
        let store = store.clone();
        tokio::spawn(async move {
            let at = Utc.with_ymd_and_hms(2026, 11, 21, 1, 5, 0).unwrap();
            store.end_call(first.call, at, "caller_bye", "main").await
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.writer_stats().snapshot().retries == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the end of the call was never tried"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        !ending.is_finished(),
        "the end of the call was answered on a full disk"
    );

    // Space is back: the kept write lands, and every later write succeeds, on whichever
    // connection it gets.
    std::fs::remove_file(&filler).unwrap();
    ending.await.unwrap().expect("the end of the call was lost");
    let case = store.case_by_ticket(&first.ticket).await.unwrap().unwrap();
    assert!(
        case.calls[0].ended_at.is_some(),
        "the call row was left open"
    );
    for n in 100..100 + 4 * MAX_CONNECTIONS {
        if let Err(e) = store.open_call(new_call(n)).await {
            panic!("write {n} after space came back failed: {e}");
        }
        if let Err(e) = store.add_department(department(n), Utc::now()).await {
            panic!("department {n} after space came back failed: {e}");
        }
    }
    store.close().await;
}

fn department(n: u32) -> NewDepartment {
    NewDepartment {
        code: format!("unit-{n}"),
        name: format!("单位 {n}"),
        parent: None,
        level: 1,
    }
}
