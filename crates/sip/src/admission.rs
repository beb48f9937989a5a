//! Connection admission: how many connections one source, and all sources together, may
//! hold open, and how often a refusal or a failed accept is logged.
//!
//! Every accepted connection costs a file descriptor, the resource calls also need, so a
//! listener counts what is open and refuses (closes at once) what would pass a cap. A flood
//! would also flood the log, so refusals are logged once a minute per source, with how many
//! went unlogged in between, and a failing `accept` every 10 s at most.
//!
//! One implementation for every listener (SIP over TCP here, the HTTP API in the server):
//! what differs between them — exempt sources, room kept for the trunk, connections we open
//! ourselves — is only which [`Caps`] a connection is held to, chosen by the caller.
//!
//! The decisions take the time as an argument ([`Admission::refused`]) and read no clock,
//! so tests step through minutes at once. The only I/O is [`AcceptErrors::failed`]'s pause.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The caps one new connection is held to; `None` is no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Refused when its source already holds this many open connections.
    pub per_source: Option<usize>,
    /// Refused when this many connections, from all sources, are open.
    pub total: Option<usize>,
}

impl Caps {
    /// Counted, never refused: for connections we open ourselves, which the work that
    /// needs them (calls) bounds already.
    pub const NONE: Caps = Caps {
        per_source: None,
        total: None,
    };
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its source already held its share ([`Caps::per_source`]).
    PerSource,
    /// All connections together were at the cap ([`Caps::total`]).
    Total,
}

/// The open connections of one listener (or several sharing caps) by source, and when
/// refusals were last logged.
///
/// Cheap to clone: clones share the counts. Each counted connection holds a [`Slot`], and
/// dropping it gives the count back, so a connection's task cannot forget to.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    /// Only sources with an open connection: bounded by what is open.
    per_source: HashMap<IpAddr, usize>,
    next_id: u64,
    refusals: RefusalLog,
}

/// A counted connection; dropping it gives the count back.
#[derive(Debug)]
pub struct Slot {
    admission: Admission,
    ip: IpAddr,
    id: u64,
}

impl Slot {
    /// A number no other slot of the same [`Admission`] has had: tells a connection from a
    /// later one to the same peer, and is never 0.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The source it is counted for.
    pub fn source(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.admission.lock();
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.per_source.get_mut(&self.ip) {
            *n -= 1;
            // Forgotten at zero, so the table holds only sources with connections open.
            if *n == 0 {
                s.per_source.remove(&self.ip);
            }
        }
    }
}

impl Admission {
    /// No connection open, no refusal logged.
    pub fn new() -> Admission {
        Admission::default()
    }

    /// Counts a connection from `ip` unless it would pass `caps`; the per-source cap is
    /// checked first, so a flood from one source is told apart from a full listener.
    pub fn take(&self, ip: IpAddr, caps: Caps) -> Result<Slot, Refusal> {
        let mut s = self.lock();
        let from_ip = s.per_source.get(&ip).copied().unwrap_or(0);
        if caps.per_source.is_some_and(|cap| from_ip >= cap) {
            return Err(Refusal::PerSource);
        }
        if caps.total.is_some_and(|cap| s.total >= cap) {
            return Err(Refusal::Total);
        }
        s.total += 1;
        s.per_source.insert(ip, from_ip + 1);
        s.next_id += 1;
        Ok(Slot {
            admission: self.clone(),
            ip,
            id: s.next_id,
        })
    }

    /// Notes a refusal of a connection from `ip` at `now`: `Some(n)` if it is to be logged,
    /// `n` being how many of its refusals went unlogged since its last log line; `None` if
    /// it was logged within the last minute, or so many sources were that a line for each
    /// would flood the log (the caller's counters tell the rest).
    pub fn refused(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        self.lock().refusals.note(ip, now)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Connections open now from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.lock().per_source.get(&ip).copied().unwrap_or(0)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain counters and tables that every holder leaves consistent: a panic elsewhere
        // while holding the lock must not stop admission.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One log line per refused source per this long, however many connections it tries.
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);
/// Sources remembered for rate-limiting refusal logs; beyond it, stale entries go, and
/// refusals of new sources go unlogged (but counted by the caller) until some are stale.
pub const REFUSAL_LOG_SOURCES: usize = 4096;

/// When each source's refusals were last logged, and how many since.
#[derive(Debug, Default)]
struct RefusalLog {
    by_source: HashMap<IpAddr, (Instant, u64)>,
}

impl RefusalLog {
    /// Whether to log this refusal now, and how many went unlogged before it.
    fn note(&mut self, ip: IpAddr, now: Instant) -> Option<u64> {
        if self.by_source.len() >= REFUSAL_LOG_SOURCES {
            self.by_source
                .retain(|_, (at, _)| now.duration_since(*at) < REFUSAL_LOG_EVERY);
        }
        let full = self.by_source.len() >= REFUSAL_LOG_SOURCES;
        match self.by_source.get_mut(&ip) {
            Some((at, quiet)) if now.duration_since(*at) < REFUSAL_LOG_EVERY => {
                *quiet += 1;
                None
            }
            Some((at, quiet)) => {
                *at = now;
                Some(std::mem::take(quiet))
            }
            // So many sources refused within a minute that their log lines would flood:
            // the counters tell the rest.
            None if full => None,
            None => {
                self.by_source.insert(ip, (now, 0));
                Some(0)
            }
        }
    }
}

/// A failing `accept` (out of descriptors, EMFILE/ENFILE, and the like) is logged this
/// often at most: it fails again at once for as long as the cause lasts.
pub const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);
/// How long to wait after a failed `accept` before the next: without it the accept loop
/// would spin on the same error.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The accept loop's memory of failed accepts, so it says so without flooding the log.
#[derive(Debug, Default)]
pub struct AcceptErrors {
    last_logged: Option<Instant>,
}

impl AcceptErrors {
    /// Nothing failed yet: the first failure is logged.
    pub fn new() -> AcceptErrors {
        AcceptErrors::default()
    }

    /// After an `accept` failed at `now`: calls `log` unless it was called within
    /// [`ACCEPT_ERROR_LOG_EVERY`], then waits [`ACCEPT_ERROR_PAUSE`].
    ///
    /// The caller logs, so the line keeps its own wording and the caller's module as its
    /// target.
    pub async fn failed(&mut self, now: Instant, log: impl FnOnce()) {
        if self.note(now) {
            log();
        }
        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
    }

    /// Whether a failure at `now` is to be logged (and, if so, that it was).
    fn note(&mut self, now: Instant) -> bool {
        let quiet = match self.last_logged {
            Some(at) => now.duration_since(at) >= ACCEPT_ERROR_LOG_EVERY,
            None => true,
        };
        if quiet {
            self.last_logged = Some(now);
        }
        quiet
    }
}

#[cfg(test)]
mod tests;
