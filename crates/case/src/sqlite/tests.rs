//! A full disk, then space again: the SQLite backend must write again by itself.
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

use super::{SqliteBackend, MAX_CONNECTIONS};
use crate::model::NewCall;

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
    let b = SqliteBackend::open(&mnt.join("hotline.db").display().to_string())
        .await
        .unwrap();
    b.open_call(new_call(0), None).await.unwrap();

    let filler = mnt.join("filler");
    fill(&filler);
    // Writes fail for want of space; several of them, so that (before the fix) more than
    // one pooled connection was left behind in the broken state.
    for n in 1..=2 * MAX_CONNECTIONS {
        let e = b
            .open_call(new_call(n), None)
            .await
            .expect_err("a write succeeded on a full disk");
        assert!(
            e.to_string().contains("disk is full"),
            "write {n} on a full disk failed, but not for space: {e}"
        );
    }

    // Space is back: every later write succeeds, on whichever connection it gets.
    std::fs::remove_file(&filler).unwrap();
    for n in 100..100 + 4 * MAX_CONNECTIONS {
        if let Err(e) = b.open_call(new_call(n), None).await {
            panic!("write {n} after space came back failed: {e}");
        }
    }
    b.close().await;
}
