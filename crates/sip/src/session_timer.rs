//! Session timers (RFC 4028): a keep-alive for calls, so a call whose far end vanished
//! without a BYE does not stay up (and hold an agent) for ever.
//!
//! We never ask for timers ourselves; we honour them when the peer asks (a carrier's
//! gateway usually does). One side, the *refresher*, re-sends a re-INVITE or UPDATE every
//! half interval; the other side sends BYE when no refresh came in time.
//!
//! ```text
//! INVITE Session-Expires: 1800 ─> uas_decide ─┬─ below our Min-SE: 422 + Min-SE (UAC retries)
//!                                             └─ 2xx Session-Expires: 1800;refresher=uac|uas
//! SessionTimer:  refreshed ──(interval/2, if we refresh)──> Refresh ─(re-INVITE/UPDATE 2xx)─┐
//!                    ▲  └──(interval − min(32 s, interval/3), no refresh)──> Expire: BYE    │
//!                    └──────────────────────── handle_refreshed(now) ───────────────────────┘
//! ```
//! No clock reads: `now` comes in with each input, so tests run a 30-minute session instantly.

use crate::message;
use rsip::Headers;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The smallest interval RFC 4028 allows anyone to ask for (§4), and our default Min-SE.
pub const MIN_SE: u32 = 90;

/// Why a Session-Expires or Min-SE value is unusable: answer 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionTimerError {
    /// Not `delta-seconds *(;param)`, or a refresher other than `uac`/`uas`.
    #[error("malformed Session-Expires")]
    BadSessionExpires,
    /// Not `delta-seconds *(;param)`.
    #[error("malformed Min-SE")]
    BadMinSe,
}

/// Which side of the transaction that carried the header refreshes (RFC 4028 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The side that sent the request carrying the header.
    Uac,
    /// The side that answers it.
    Uas,
}

/// A Session-Expires value: the interval in seconds and, maybe, who refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    /// Session interval in seconds.
    pub interval: u32,
    /// Who refreshes; None when the header does not say.
    pub refresher: Option<Refresher>,
}

fn delta_seconds(v: &str) -> Option<u32> {
    let v = v.trim();
    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
}

impl FromStr for SessionExpires {
    type Err = SessionTimerError;

    /// `1800`, `1800;refresher=uac`; other parameters are ignored.
    fn from_str(value: &str) -> Result<SessionExpires, SessionTimerError> {
        let mut parts = value.split(';');
        let interval = parts
            .next()
            .and_then(delta_seconds)
            .ok_or(SessionTimerError::BadSessionExpires)?;
        let mut refresher = None;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("refresher") {
                let r = match v.trim().to_ascii_lowercase().as_str() {
                    "uac" => Refresher::Uac,
                    "uas" => Refresher::Uas,
                    _ => return Err(SessionTimerError::BadSessionExpires),
                };
                refresher = Some(r);
            }
        }
        Ok(SessionExpires {
            interval,
            refresher,
        })
    }
}

impl fmt::Display for SessionExpires {
    /// The header value: `1800;refresher=uas` (or `1800`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.interval)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac"),
            Some(Refresher::Uas) => f.write_str(";refresher=uas"),
            None => Ok(()),
        }
    }
}

/// Reads a Min-SE value (`90`, maybe with parameters).
pub fn parse_min_se(value: &str) -> Result<u32, SessionTimerError> {
    value
        .split(';')
        .next()
        .and_then(delta_seconds)
        .ok_or(SessionTimerError::BadMinSe)
}

/// The Session-Expires of a message's headers (`Session-Expires` or compact `x`), if any.
pub fn session_expires(headers: &Headers) -> Result<Option<SessionExpires>, SessionTimerError> {
    message::first(headers, "Session-Expires")
        .or_else(|| message::first(headers, "x"))
        .map(str::parse)
        .transpose()
}

/// Whether the headers list `option` in any Supported (or Require) header.
pub fn supports(headers: &Headers, option: &str) -> bool {
    ["Supported", "Require"].iter().any(|name| {
        message::all(headers, name)
            .flat_map(|v| v.split(','))
            .any(|o| o.trim().eq_ignore_ascii_case(option))
    })
}

/// What a UAS does with the session-timer request of an INVITE (or UPDATE) it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UasDecision {
    /// The request asks for no timer: none runs, the 2xx carries no Session-Expires.
    NotAsked,
    /// The interval is below our Min-SE: answer 422 with this `Min-SE` (§6).
    TooSmall { min_se: u32 },
    /// Put `header` in the 2xx (and `Require: timer` when `require`); we refresh when
    /// `we_refresh` (the refresher is the UAS), otherwise we expire the session.
    Accept {
        header: SessionExpires,
        require: bool,
        we_refresh: bool,
    },
}

/// Decides for a UAS answering a request with `headers`, given our minimum `min_se`
/// (§9): keep the interval asked for; keep its refresher; when none is named, let the UAC
/// refresh if it supports timers, else refresh ourselves.
pub fn uas_decide(headers: &Headers, min_se: u32) -> Result<UasDecision, SessionTimerError> {
    let Some(se) = session_expires(headers)? else {
        return Ok(UasDecision::NotAsked);
    };
    let their_min = message::first(headers, "Min-SE")
        .map(parse_min_se)
        .transpose()?
        .unwrap_or(0);
    let floor = min_se.max(MIN_SE);
    if se.interval < floor {
        return Ok(UasDecision::TooSmall {
            min_se: floor.max(their_min),
        });
    }
    let uac_supports = supports(headers, "timer");
    let refresher = match (se.refresher, uac_supports) {
        (Some(r), true) => r,
        (None, true) => Refresher::Uac,
        // A UAC without the extension cannot refresh (a proxy asked on its behalf).
        (_, false) => Refresher::Uas,
    };
    Ok(UasDecision::Accept {
        header: SessionExpires {
            interval: se.interval,
            refresher: Some(refresher),
        },
        require: uac_supports,
        we_refresh: refresher == Refresher::Uas,
    })
}

/// For a UAC that got a 2xx with `headers`: the interval and whether we refresh (the 2xx
/// names `refresher=uac`), or None when the answer runs no timer (§7.2).
pub fn uac_decide(headers: &Headers) -> Result<Option<(u32, bool)>, SessionTimerError> {
    Ok(session_expires(headers)?.map(|se| (se.interval, se.refresher == Some(Refresher::Uac))))
}

/// What a session timer asks for when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    /// We are the refresher: send a re-INVITE or UPDATE now (half the interval passed).
    Refresh,
    /// No refresh in time: the session is over, send BYE (§10).
    Expire,
}

/// The running timer of one session.
#[derive(Debug, Clone)]
pub struct SessionTimer {
    interval: Duration,
    we_refresh: bool,
    refreshed_at: Instant,
    refresh_sent: bool,
    expired: bool,
}

impl SessionTimer {
    /// A timer of `interval_secs` that starts at `now` (the 2xx that set it up).
    pub fn new(interval_secs: u32, we_refresh: bool, now: Instant) -> SessionTimer {
        SessionTimer {
            interval: Duration::from_secs(u64::from(interval_secs)),
            we_refresh,
            refreshed_at: now,
            refresh_sent: false,
            expired: false,
        }
    }

    /// The session interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether we are the refresher.
    pub fn we_refresh(&self) -> bool {
        self.we_refresh
    }

    /// A refresh completed at `now` (a 2xx to a re-INVITE/UPDATE, either way): start over.
    pub fn handle_refreshed(&mut self, now: Instant) {
        self.refreshed_at = now;
        self.refresh_sent = false;
        self.expired = false;
    }

    /// A refresh renegotiated the timer: new interval and refresher, starting at `now`.
    pub fn renegotiated(&mut self, interval_secs: u32, we_refresh: bool, now: Instant) {
        *self = SessionTimer::new(interval_secs, we_refresh, now);
    }

    fn expiry(&self) -> Instant {
        let guard = Duration::from_secs(32).min(self.interval / 3);
        self.refreshed_at + (self.interval - guard)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, and what will
    /// happen then; None once expired.
    pub fn poll_timeout(&self) -> Option<(Instant, TimerAction)> {
        if self.expired {
            None
        } else if self.we_refresh && !self.refresh_sent {
            Some((self.refreshed_at + self.interval / 2, TimerAction::Refresh))
        } else {
            Some((self.expiry(), TimerAction::Expire))
        }
    }

    /// Time passed: the action due at `now`, if any (each is returned once).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        let (at, action) = self.poll_timeout()?;
        if now < at {
            return None;
        }
        match action {
            TimerAction::Refresh => self.refresh_sent = true,
            TimerAction::Expire => self.expired = true,
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests;
