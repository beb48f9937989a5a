//! The local operator's token: written by `hotline serve` into its data directory, readable
//! only by the account that runs the server, and sent by the CLI (`hotline status`) as its
//! bearer token. Whoever can read it can read the database in the same directory anyway.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file's name inside `[data] dir`.
const FILE: &str = "operator.token";

/// The token of this server's run.
#[derive(Clone)]
pub struct OperatorToken {
    token: String,
}

impl std::fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorToken(…)")
    }
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

impl OperatorToken {
    /// A fresh token, written (mode 0600, replacing the last run's) into `data_dir`.
    pub fn create(data_dir: &Path) -> std::io::Result<OperatorToken> {
        let token = hotline_sip::message::random_token(48);
        let file = path(data_dir);
        let tmp = file.with_extension("token.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &file)?;
        Ok(OperatorToken { token })
    }

    /// The token the running server wrote into `data_dir`, for the CLI.
    pub fn read(data_dir: &Path) -> std::io::Result<String> {
        Ok(std::fs::read_to_string(path(data_dir))?.trim().to_owned())
    }

    /// Whether `candidate` is this token (compared in constant time).
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.token.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}
