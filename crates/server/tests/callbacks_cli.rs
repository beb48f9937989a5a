//! `hotline callbacks list`: the callback worklist on the command line, read from the
//! database (a voicemail and a callback request marked through the store).

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{NaiveDate, TimeZone, Utc};
use hotline_case::{CaseStore, NewCall};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A config whose data directory is `dir/data` (prompts copied into `dir`).
fn config(dir: &Path) -> PathBuf {
    let prompts = dir.join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    for e in std::fs::read_dir(repo().join("prompts/zh")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), prompts.join(e.file_name())).unwrap();
    }
    let text = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\n[media]\nip = \"127.0.0.1\"\nrtp_port_min = 31000\nrtp_port_max = 31010\n\
[http]\nlisten = \"127.0.0.1:0\"\n[data]\ndir = \"{d}/data\"\n[trunk]\nallowed_sources = [\"127.0.0.1/32\"]\nnumbers = [\"12345\"]\n\
[ivr]\nflow = \"{r}/config/ivr.toml\"\nprompts = \"{p}\"\n",
        d = dir.display(),
        r = repo().display(),
        p = prompts.display()
    );
    let path = dir.join("hotline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn hotline(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn callbacks_list_json_shows_the_worklist_oldest_place_first() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let (ok, out, err) = hotline(&["callbacks", "list", "--json", "--config", cfg]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "[]");

    let url = format!("sqlite://{}", dir.path().join("data/hotline.db").display());
    let store = CaseStore::open(&url).await.unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    let call = |n: u32, minute: u32| {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 1, minute, 0).unwrap();
        NewCall {
            sip_call_id: format!("cb-{n}@trunk"),
            caller_number: format!("1390000000{n}"),
            called_number: "12345".into(),
            arrived_at: at,
            answered_at: at,
            local_day: day,
        }
    };
    // The voicemail came later than the callback request: the request keeps its place.
    let later = store.open_call(call(1, 30)).await.unwrap();
    let earlier = store.open_call(call(2, 10)).await.unwrap();
    store.mark_voicemail(later.case, Utc::now()).await.unwrap();
    store
        .mark_callback_requested(earlier.case, Utc::now())
        .await
        .unwrap();
    store.close().await;

    let (ok, out, err) = hotline(&["callbacks", "list", "--json", "--config", cfg]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tasks = v.as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{out}");
    assert_eq!(tasks[0]["ticket"], earlier.ticket.as_str());
    assert_eq!(tasks[0]["reason"], "callback_requested");
    assert_eq!(tasks[0]["number"], "13900000002");
    assert_eq!(tasks[1]["ticket"], later.ticket.as_str());
    assert_eq!(tasks[1]["reason"], "voicemail");
    assert_eq!(tasks[1]["status"], "pending");
    assert_eq!(tasks[1]["attempts"], 0);
    assert_eq!(tasks[1]["max_attempts"], 3);

    let (ok, out, err) = hotline(&["callbacks", "list", "--all", "--config", cfg]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.contains(&later.ticket) && out.contains("voicemail"),
        "{out}"
    );
}
