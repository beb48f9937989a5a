//! What `/proc` says of a process or thread: its state and parent (`stat`), a row of
//! `status` or `limits`.

use std::path::Path;

/// The fields of a `stat` file after the command name: state, parent, … (the name is in
/// parentheses and may itself hold spaces or parentheses). `None` if it cannot be read.
pub fn stat_fields(dir: &Path) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The state letter of the process or thread whose `/proc` directory is `dir`.
pub fn state(dir: &Path) -> Option<char> {
    stat_fields(dir)?.first()?.chars().next()
}

/// The number in column `column` (0: the first after the row's name) of the row of
/// `/proc/PID/FILE` that starts with `row`: `status`'s `FDSize:`, `limits`'s soft
/// `Max open files`.
pub fn number(pid: u32, file: &str, row: &str, column: usize) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).expect("read /proc");
    let line = text
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no {row} in /proc/{pid}/{file}"));
    line[row.len()..]
        .split_whitespace()
        .nth(column)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad {line:?}"))
}

/// The names of the threads of process `pid` (`/proc/PID/task/*/comm`), sorted.
pub fn thread_names(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    let mut names: Vec<String> = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim_end().to_owned())
        .collect();
    names.sort();
    names
}
