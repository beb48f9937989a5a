//! Crashing the server on purpose, and reading what a crash left on disk.
//!
//! [`Crash::kill_9`] is `kill -9` of this test's own `hotline serve` (found by its config
//! path, never by name), leaving the process unreaped until [`Server::restart`] starts
//! it again: the test can look at the files between the crash and the recovery.

use crate::server::Server;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a server test can do to simulate a crash.
pub trait Crash {
    /// Sends SIGKILL to the server process — nothing is flushed, finalized or closed, as
    /// in a crash, an OOM kill or a power cut — and waits (at most 5 s) until it is dead.
    fn kill_9(&self);
}

impl Crash for Server {
    fn kill_9(&self) {
        let pid = serve_pid(&self.config)
            .unwrap_or_else(|| panic!("no running `hotline serve` for {}", self.config.display()));
        let sent = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -KILL {pid}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_alive(pid) {
            assert!(Instant::now() < deadline, "{pid} alive 5 s after SIGKILL");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The pid of the `hotline serve` running with `config`.
fn serve_pid(config: &Path) -> Option<u32> {
    let wanted = config.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let ours = args.iter().any(|a| a == "serve") && args.contains(&wanted);
        (ours && is_alive(pid)).then_some(pid)
    })
}

/// Running (not a zombie waiting to be reaped, not gone).
fn is_alive(pid: u32) -> bool {
    crate::procfs::state(Path::new(&format!("/proc/{pid}"))).is_some_and(|s| s != 'Z' && s != 'X')
}

/// The sizes a WAV header claims and the file's real length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavSizes {
    /// RIFF chunk size (offset 4): the file's length less 8 when right.
    pub riff: u32,
    /// Data chunk size (offset 40 in our 44-byte headers): the length less 44 when right.
    pub data: u32,
    /// The file's length.
    pub len: u64,
}

impl WavSizes {
    /// Reads the two sizes of the 44-byte header of `path`.
    pub fn read(path: &Path) -> WavSizes {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bytes.len() >= 44,
            "{}: {} bytes",
            path.display(),
            bytes.len()
        );
        let at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        WavSizes {
            riff: at(4),
            data: at(40),
            len: bytes.len() as u64,
        }
    }

    /// Both sizes count the whole file.
    pub fn consistent(&self) -> bool {
        u64::from(self.riff) + 8 == self.len && u64::from(self.data) + 44 == self.len
    }
}

/// Every `*-<kind>.wav` under the recordings directory `root` (`YYYY/MM/DD/`), sorted.
pub fn recordings_of_kind(root: &Path, kind: &str) -> Vec<PathBuf> {
    let suffix = format!("-{kind}.wav");
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.to_string_lossy().ends_with(&suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The ticket in a recording's file name (`<ticket>-<call>-<kind>.wav`).
pub fn ticket_of_recording(path: &Path) -> String {
    let name = path.file_name().unwrap().to_string_lossy();
    name.split('-').next().unwrap().to_string()
}
