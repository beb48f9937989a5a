//! Start-up recovery: what a crash (`kill -9`, a power cut, an OOM kill) left half done is
//! repaired before the first call is accepted, so that no citizen who reached 12345 is
//! lost.
//!
//! A process that dies in the middle of calls leaves
//!
//! - WAV files whose header counts only the audio up to the recorder's last checkpoint
//!   (about a second before the end), and no recording row;
//! - call rows without an end, and ACD facts that say "still waiting" or "still talking";
//! - voicemails never marked as such: no callback task, the citizen never called back.
//!
//! [`recover`] walks the recordings directory (`YYYY/MM/DD/<ticket>-<call>-<kind>.wav`,
//! see `Ctx::recording_file`), repairs the header of each file that has no row from the
//! file's length (never cutting audio), registers it on the call and case its name
//! gives, closes the open call rows with cause `crash`, and marks the voicemails so left,
//! with their callback task, as the normal voicemail path does. Each step is idempotent
//! (a second run finds nothing to do) and audited on its case; one log line sums it up.
//!
//! Only the days that can hold a crashed call's recording are walked: the last two, or
//! back to the day before the oldest call row still open. A row that failed to be
//! written for a call that ended normally, older than that, is not looked for.
//!
//! Several nodes may share one database: every call row names its node (`[data] node`),
//! and the store closes only this node's open calls (and those written before nodes were
//! recorded, which have none; see `hotline_case`'s `store/recovery.rs`). Each node has
//! its recordings directory, but if they share storage a file without a row may be
//! another node's recording in progress: a file whose call is another node's is left
//! untouched (not repaired, not registered) and logged.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use hotline_case::{CallId, CaseStore, NewRecording, RecordingKind};

/// What one recovery pass did, for the summary log line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Call rows closed with cause `crash`.
    pub calls_closed: usize,
    /// WAV headers rewritten to count the audio the file holds.
    pub recordings_repaired: usize,
    /// Recording rows written for files that had none.
    pub recordings_registered: usize,
    /// Files without a row that could not be registered (logged one by one).
    pub files_skipped: usize,
    /// Files without a row whose call another node handles, left to it (logged one by
    /// one; not counted in `files_skipped`).
    pub files_of_other_nodes: usize,
    /// Cases marked as voicemail, each with its callback task.
    pub voicemails: usize,
}

/// Runs the recovery pass on `store` and the recordings under `recordings` (days in
/// `tz`, the IVR's zone); voicemails shorter than `min_voicemail` are "no message", as in
/// the IVR. Fails only if the database does; a file that cannot be read is logged and
/// skipped.
pub async fn recover(
    store: &CaseStore,
    recordings: &Path,
    tz: Tz,
    min_voicemail: std::time::Duration,
) -> Result<Summary> {
    let mut summary = Summary::default();
    let now = Utc::now();
    let mut since = now - Duration::days(2);
    if let Some(oldest) = store.oldest_open_call().await? {
        since = since.min(oldest - Duration::days(1));
    }
    let first_day = since.with_timezone(&tz).date_naive();
    // A file's day is when it started; its row was written when it ended, later.
    let known = store
        .recording_paths_since(since - Duration::days(1))
        .await?;
    for (rel, path) in recording_files(recordings, first_day) {
        if known.contains(&rel) {
            continue;
        }
        register_file(store, &rel, &path, &mut summary).await?;
    }
    for (call, ticket, at) in store.close_crashed_calls(now).await? {
        tracing::info!(%call, %ticket, ended_at = %at, "call cut off by a crash closed");
        summary.calls_closed += 1;
    }
    let min_ms = u64::try_from(min_voicemail.as_millis()).unwrap_or(u64::MAX);
    for ticket in store.recover_voicemails(min_ms).await? {
        tracing::info!(%ticket, "voicemail left before a crash put on the callback worklist");
        summary.voicemails += 1;
    }
    tracing::info!(
        calls_closed = summary.calls_closed,
        recordings_repaired = summary.recordings_repaired,
        recordings_registered = summary.recordings_registered,
        files_skipped = summary.files_skipped,
        voicemails = summary.voicemails,
        files_of_other_nodes = summary.files_of_other_nodes,
        "crash recovery done"
    );
    Ok(summary)
}

/// Repairs one file without a row and registers it if its name matches a call.
async fn register_file(
    store: &CaseStore,
    rel: &str,
    path: &Path,
    summary: &mut Summary,
) -> Result<()> {
    let Some((ticket, call, kind)) = parse_name(rel) else {
        tracing::warn!(file = %rel, "recording without a row and with a name that names no call; skipped");
        summary.files_skipped += 1;
        return Ok(());
    };
    // Before the file is touched: on shared storage it may be growing on another node.
    if let Some(node) = other_node(store, call).await? {
        tracing::info!(file = %rel, %call, %node, "recording without a row is another node's call; left to it");
        summary.files_of_other_nodes += 1;
        return Ok(());
    }
    let facts = match repair_header(path) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(file = %rel, error = %e, "recording without a row is not a WAV that can be repaired; skipped");
            summary.files_skipped += 1;
            return Ok(());
        }
    };
    if facts.repaired {
        tracing::info!(file = %rel, duration_ms = facts.duration_ms, "recording header repaired");
        summary.recordings_repaired += 1;
    }
    let case = store
        .case_by_ticket(ticket)
        .await?
        .filter(|d| d.calls.iter().any(|c| c.id == call))
        .map(|d| d.case.id);
    let Some(case) = case else {
        tracing::warn!(file = %rel, %ticket, %call, "recording without a row names no call of that ticket; skipped");
        summary.files_skipped += 1;
        return Ok(());
    };
    let row = NewRecording {
        call,
        case,
        kind,
        path: rel.to_owned(),
        duration_ms: facts.duration_ms,
        bytes: facts.bytes,
        created_at: facts.modified,
    };
    match store.recover_recording(row, Utc::now()).await {
        Ok(Some(id)) => {
            tracing::info!(file = %rel, recording = %id, "recording found after a crash registered");
            summary.recordings_registered += 1;
        }
        Ok(None) => {}
        Err(hotline_case::CaseError::CallOfOtherNode { node, .. }) => {
            tracing::info!(file = %rel, %call, %node, "recording without a row is another node's call; left to it");
            summary.files_of_other_nodes += 1;
        }
        Err(e) => {
            tracing::warn!(file = %rel, error = %e, "recording found after a crash not registered; skipped");
            summary.files_skipped += 1;
        }
    }
    Ok(())
}

/// The node that handles `call` if it is not this store's (nor unknown: a row from before
/// nodes were recorded is anyone's). A call that does not exist is not another node's.
async fn other_node(store: &CaseStore, call: CallId) -> Result<Option<String>> {
    match store.call_node(call).await {
        Ok(Some(node)) if Some(node.as_str()) != store.node() => Ok(Some(node)),
        Ok(_) | Err(hotline_case::CaseError::CallNotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every `.wav` under `YYYY/MM/DD/` directories of `root` from `first_day` on, as its path
/// relative to `root` and its full path; anything else is ignored.
fn recording_files(root: &Path, first_day: NaiveDate) -> Vec<(String, std::path::PathBuf)> {
    let mut files = Vec::new();
    for (year, ydir) in numbered_dirs(root, 4) {
        for (month, mdir) in numbered_dirs(&ydir, 2) {
            for (day, ddir) in numbered_dirs(&mdir, 2) {
                let Some(date) = NaiveDate::from_ymd_opt(year as i32, month, day) else {
                    continue;
                };
                if date < first_day {
                    continue;
                }
                let Ok(entries) = std::fs::read_dir(&ddir) else {
                    continue;
                };
                for e in entries.flatten() {
                    let name = e.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if name.ends_with(".wav") && e.file_type().is_ok_and(|t| t.is_file()) {
                        let rel = format!("{year:04}/{month:02}/{day:02}/{name}");
                        files.push((rel, e.path()));
                    }
                }
            }
        }
    }
    files.sort();
    files
}

/// Subdirectories of `dir` named by exactly `width` digits, with their number.
fn numbered_dirs(dir: &Path, width: usize) -> Vec<(u32, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let all_digits = name.len() == width && name.bytes().all(|b| b.is_ascii_digit());
            all_digits.then(|| Some((name.parse().ok()?, e.path())))?
        })
        .collect()
}

/// Ticket, call and kind from `…/<ticket>-<call>-<kind>.wav`. `callback` and `revisit`
/// files are the conversation recordings of outbound calls (as their rows say).
fn parse_name(rel: &str) -> Option<(&str, CallId, RecordingKind)> {
    let name = rel.rsplit('/').next()?.strip_suffix(".wav")?;
    let mut parts = name.splitn(3, '-');
    let (ticket, call, kind) = (parts.next()?, parts.next()?, parts.next()?);
    if ticket.is_empty() || !ticket.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let call: i64 = call.parse().ok().filter(|&c| c > 0)?;
    let kind = match kind {
        "voicemail" => RecordingKind::Voicemail,
        "conversation" | "callback" | "revisit" => RecordingKind::Conversation,
        _ => return None,
    };
    Some((ticket, CallId(call), kind))
}

/// What a WAV file holds, once its header is right.
#[derive(Debug, PartialEq, Eq)]
struct WavFacts {
    duration_ms: u64,
    bytes: u64,
    modified: DateTime<Utc>,
    /// The header's sizes were wrong and have been rewritten.
    repaired: bool,
}

/// Makes the RIFF and data sizes of the WAV at `path` count every whole frame the file
/// holds (rewriting the two 4-byte fields only if they differ; the audio is never
/// touched, a partial last frame stays in the file past the data size).
fn repair_header(path: &Path) -> std::io::Result<WavFacts> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let meta = file.metadata()?;
    let len = meta.len();
    let mut head = Vec::with_capacity(512);
    (&file).take(512).read_to_end(&mut head)?;
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
    let mut pos = 12;
    let mut format = None; // (sample rate, block align)
    let data = loop {
        if pos + 8 > head.len() {
            return Err(bad("no data chunk in the header"));
        }
        let (id, size) = (&head[pos..pos + 4], u32_at(pos + 4) as usize);
        if id == b"data" {
            break pos;
        }
        if id == b"fmt " && pos + 8 + 16 <= head.len() {
            format = Some((u32_at(pos + 12), u16_at(pos + 20)));
        }
        pos += 8 + size + size % 2;
    };
    let (rate, align) = format
        .filter(|&(rate, align)| rate > 0 && align > 0)
        .ok_or_else(|| bad("no usable fmt chunk"))?;
    let data_start = data as u64 + 8;
    if len < data_start {
        return Err(bad("shorter than its header"));
    }
    let data_size = (len - data_start) / u64::from(align) * u64::from(align);
    let riff_size = data_start - 8 + data_size;
    let (Ok(data32), Ok(riff32)) = (u32::try_from(data_size), u32::try_from(riff_size)) else {
        return Err(bad("too long for a WAV header"));
    };
    let repaired = u32_at(4) != riff32 || u32_at(data + 4) != data32;
    if repaired {
        file.write_all_at(&riff32.to_le_bytes(), 4)?;
        file.write_all_at(&data32.to_le_bytes(), data as u64 + 4)?;
        file.sync_data()?;
    }
    let frames = data_size / u64::from(align);
    Ok(WavFacts {
        duration_ms: frames * 1000 / u64::from(rate),
        bytes: len,
        modified: meta
            .modified()
            .map(DateTime::<Utc>::from)
            .unwrap_or_else(|_| Utc::now()),
        repaired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(path: &Path, channels: u16, frames: usize) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..frames * usize::from(channels) {
            w.write_sample(i as i16).unwrap();
        }
        w.finalize().unwrap();
    }

    /// As a crash leaves it: sizes counting less than the file holds.
    fn zero_sizes(path: &Path) {
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.write_all_at(&[0; 4], 4).unwrap();
        f.write_all_at(&[0; 4], 40).unwrap();
    }

    #[test]
    fn recovery_repairs_a_header_from_the_file_length_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        wav(&path, 1, 16_000);
        let fine = repair_header(&path).unwrap();
        assert!(!fine.repaired);
        assert_eq!((fine.duration_ms, fine.bytes), (2000, 44 + 32_000));
        zero_sizes(&path);
        assert_eq!(hound::WavReader::open(&path).unwrap().len(), 0);
        let fixed = repair_header(&path).unwrap();
        assert!(fixed.repaired);
        assert_eq!(fixed.duration_ms, 2000);
        let r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.len(), 16_000);
        assert!(!repair_header(&path).unwrap().repaired);
    }

    #[test]
    fn recovery_keeps_a_partial_last_frame_and_refuses_non_wavs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        wav(&path, 2, 8000);
        zero_sizes(&path);
        // Half a stereo frame written when the process died.
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all_at(&[1, 2], 44 + 32_000).unwrap();
        let fixed = repair_header(&path).unwrap();
        assert_eq!((fixed.duration_ms, fixed.bytes), (1000, 44 + 32_002));
        assert_eq!(hound::WavReader::open(&path).unwrap().len(), 16_000);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 44 + 32_002);

        let junk = dir.path().join("j.wav");
        std::fs::write(&junk, b"not a wav at all").unwrap();
        assert!(repair_header(&junk).is_err());
        std::fs::write(&junk, b"").unwrap();
        assert!(repair_header(&junk).is_err());
    }

    #[test]
    fn recovery_reads_ticket_call_and_kind_from_the_name() {
        let p = |s| parse_name(s).map(|(t, c, k)| (t.to_owned(), c.0, k));
        assert_eq!(
            p("2026/11/21/2026112100001-17-voicemail.wav"),
            Some(("2026112100001".into(), 17, RecordingKind::Voicemail))
        );
        assert_eq!(
            p("2026/11/21/2026112100001-3-callback.wav").map(|x| x.2),
            Some(RecordingKind::Conversation)
        );
        for bad in [
            "2026/11/21/x-17-voicemail.wav",
            "2026/11/21/2026112100001-0-voicemail.wav",
            "2026/11/21/2026112100001-17-music.wav",
            "2026/11/21/2026112100001-17-voicemail.mp3",
            "2026/11/21/notes.wav",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn recovery_walks_only_dated_directories_from_the_first_day() {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "2026/11/20",
            "2026/11/21",
            "2026/11/22",
            "tmp/11/21",
            "2026/1/21",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
            std::fs::write(dir.path().join(d).join("1-2-voicemail.wav"), b"").unwrap();
        }
        std::fs::write(dir.path().join("2026/11/21/x.txt"), b"").unwrap();
        let first = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let rels: Vec<String> = recording_files(dir.path(), first)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(
            rels,
            [
                "2026/11/21/1-2-voicemail.wav",
                "2026/11/22/1-2-voicemail.wav"
            ]
        );
    }

    /// Two nodes on one database and one recordings directory (shared storage): node B's
    /// start closes and repairs only B's call, and leaves node A's live call and the file
    /// A is still writing exactly as they are; A's own start repairs A's.
    #[tokio::test]
    async fn recovery_leaves_another_nodes_calls_and_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hotline.db").display());
        let db = CaseStore::open(&url).await.unwrap();
        let (a, b) = (
            db.clone().with_node("node-a"),
            db.clone().with_node("node-b"),
        );
        let tz = chrono_tz::Asia::Shanghai;
        let now = Utc::now();
        let day = now.with_timezone(&tz).date_naive();
        let new_call = |n: u32| hotline_case::NewCall {
            sip_call_id: format!("node-{n}@trunk"),
            caller_number: format!("1390000{n:04}"),
            called_number: "12345".into(),
            arrived_at: now - Duration::seconds(10),
            answered_at: now - Duration::seconds(9),
            local_day: day,
        };
        let on_a = a.open_call(new_call(1)).await.unwrap();
        let on_b = b.open_call(new_call(2)).await.unwrap();
        let recordings = dir.path().join("recordings");
        let day_dir = recordings.join(day.format("%Y/%m/%d").to_string());
        std::fs::create_dir_all(&day_dir).unwrap();
        let file = |c: &hotline_case::OpenedCall| {
            day_dir.join(format!("{}-{}-voicemail.wav", c.ticket, c.call))
        };
        // Both callers leaving a message; the headers count less than the files hold.
        for c in [&on_a, &on_b] {
            wav(&file(c), 1, 3 * 8000);
            zero_sizes(&file(c));
        }
        let a_bytes = std::fs::read(file(&on_a)).unwrap();
        let min_vm = std::time::Duration::from_secs(2);

        let done = recover(&b, &recordings, tz, min_vm).await.unwrap();
        let want = Summary {
            calls_closed: 1,
            recordings_repaired: 1,
            recordings_registered: 1,
            files_skipped: 0,
            files_of_other_nodes: 1,
            voicemails: 1,
        };
        assert_eq!(done, want);
        assert_eq!(
            std::fs::read(file(&on_a)).unwrap(),
            a_bytes,
            "A's file untouched"
        );
        let a_case = db.case_by_ticket(&on_a.ticket).await.unwrap().unwrap();
        assert_eq!(a_case.calls[0].ended_at, None, "A's call is live");
        assert!(a_case.recordings.is_empty());
        let b_case = db.case_by_ticket(&on_b.ticket).await.unwrap().unwrap();
        assert_eq!(b_case.calls[0].hangup_cause.as_deref(), Some("crash"));
        assert_eq!(b_case.recordings.len(), 1);

        // A's next start repairs A's; B's finds nothing left.
        let done = recover(&a, &recordings, tz, min_vm).await.unwrap();
        let want = Summary {
            files_of_other_nodes: 0,
            ..want
        };
        assert_eq!(done, want);
        assert_eq!(hound::WavReader::open(file(&on_a)).unwrap().len(), 3 * 8000);
        let a_case = db.case_by_ticket(&on_a.ticket).await.unwrap().unwrap();
        assert_eq!(a_case.calls[0].hangup_cause.as_deref(), Some("crash"));
        assert_eq!(a_case.recordings.len(), 1);
        let again = recover(&b, &recordings, tz, min_vm).await.unwrap();
        assert_eq!(again, Summary::default());
        db.close().await;
    }
}
