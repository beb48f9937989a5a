//! The brute-force lockout in front of every password check (SIP digest and HTTP login),
//! sans-IO: time comes in with each call.
//!
//! # The rule
//!
//! Every attempt that carries credentials is counted **before** they are verified, in one
//! step that decides and reserves ([`Lockout::begin`]): an attempt under way counts as a
//! failure until it ends ([`Lockout::succeeded`], [`Lockout::failed`],
//! [`Lockout::forgive`]). Sixty guesses sent at once therefore see the earlier ones: at most
//! `max_failures` of them are ever verified in a window, whatever the concurrency, and no
//! request that waited out a delay needs to be checked again. Those past the allowance
//! while the others are still under way are refused for the moment ([`Verdict::Busy`]),
//! not locked out: none of them has failed.
//!
//! Attempts are counted in two scopes at once:
//! - per **source address**: one host guessing many users' passwords;
//! - per **user**: many hosts guessing one user's password (`user_max_failures`, usually
//!   higher, since agents behind one office NAT share a source).
//!
//! Reaching the limit in either scope refuses that scope for `block_for` (403 without a
//! challenge, nothing verified), and [`Lockout::failed`] returns the [`Lock`] just started so
//! the driver can audit it.
//!
//! A **trusted device** — the exact address (IP and port) a user's live registration came
//! from — is counted in a scope of its own instead (that address and that user), so that
//! someone else on the same IP (an office NAT, a spoofed source) cannot lock a working agent
//! out of its own phone by failing on purpose. Over UDP a forger can send from that exact
//! address but cannot read the answers, so it never holds a nonce of ours; the driver drops
//! credentials with a nonce we did not issue before they reach the lockout.
//!
//! After one free failure answers are delayed (0.5 s, 1 s, 2 s, … up to 8 s); the driver
//! sleeps, the core does not. Memory is bounded: at most [`MAX_TRACKED`] keys per scope,
//! idle ones dropped first, then the least recently seen unblocked ones.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// At most this many keys are remembered per scope.
pub const MAX_TRACKED: usize = 10_000;

/// Failures in the window answered without delay.
const FREE_FAILURES: usize = 1;
/// The first delay; it doubles with each further failure, up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(8);

/// The limits of a [`Lockout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures from one source (or one trusted device) within `window` that block it.
    pub max_failures: u32,
    /// Failures for one user, from anywhere, within `window` that block the user.
    pub user_max_failures: u32,
    /// The sliding window failures are counted in.
    pub window: Duration,
    /// How long a block lasts.
    pub block_for: Duration,
}

/// Which scope a block is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every attempt from this address.
    Source(IpAddr),
    /// Every attempt for this user, except from its trusted devices.
    User(String),
    /// This user from this exact address (its registered phone).
    Device(SocketAddr, String),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Source(ip) => write!(f, "source {ip}"),
            Scope::User(u) => write!(f, "user {u}"),
            Scope::Device(a, u) => write!(f, "user {u} at {a}"),
        }
    }
}

/// A block that has just started: what to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub scope: Scope,
    /// The failures that led to it.
    pub failures: u32,
    pub until: Instant,
}

/// What [`Lockout::begin`] allows for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Verify now.
    Allow(Attempt),
    /// Verify only after this long (the driver sleeps, then verifies: no second check).
    Delay(Duration, Attempt),
    /// Refuse (403) without verifying anything: the scope is locked.
    Block(Scope),
    /// Refuse for now, without verifying anything: the scope's allowance is taken by
    /// attempts still under way, and no lock was started. The driver answers with a
    /// temporary refusal (SIP 503 with `Retry-After`, HTTP 429), so a burst of good phones
    /// behind one address — an office after a power cut — retries in a moment instead of
    /// being told it is forbidden, and a burst of guesses gets no more verified.
    Busy(Scope),
}

/// One attempt under way: hand it back to exactly one of [`Lockout::succeeded`],
/// [`Lockout::failed`] or [`Lockout::forgive`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an attempt counts as a failure until it is ended"]
pub struct Attempt {
    charged: Charged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Charged {
    SourceAndUser(IpAddr, String),
    Device(SocketAddr, String),
}

/// Failures and attempts under way for one key.
#[derive(Debug)]
struct Count {
    /// Times of finished failures within the window, oldest first.
    failures: VecDeque<Instant>,
    /// When each attempt begun and not yet ended began. An attempt never ended (its task
    /// was dropped) stops counting once it leaves the window, like a failure.
    pending: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    last_seen: Instant,
}

impl Count {
    fn new(now: Instant) -> Count {
        Count {
            failures: VecDeque::new(),
            pending: VecDeque::new(),
            blocked_until: None,
            last_seen: now,
        }
    }

    fn forget_old(&mut self, now: Instant, window: Duration) {
        if self.blocked_until.is_some_and(|u| now >= u) {
            self.blocked_until = None;
        }
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.failures.pop_front();
        }
        while self
            .pending
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.pending.pop_front();
        }
    }

    fn is_idle(&self) -> bool {
        self.failures.is_empty() && self.pending.is_empty() && self.blocked_until.is_none()
    }

    /// Failures counted for a decision: finished ones and those under way.
    fn counted(&self) -> usize {
        self.failures.len() + self.pending.len()
    }
}

/// One scope's counts, bounded in memory.
#[derive(Debug)]
struct Counts<K> {
    max: u32,
    keys: HashMap<K, Count>,
    max_keys: usize,
}

impl<K: Eq + Hash + Clone> Counts<K> {
    fn new(max: u32) -> Counts<K> {
        Counts {
            max: max.max(1),
            keys: HashMap::new(),
            max_keys: MAX_TRACKED,
        }
    }

    /// The key's count with old failures forgotten (`None`: nothing is known of it).
    fn current(&mut self, key: &K, now: Instant, window: Duration) -> Option<&mut Count> {
        let c = self.keys.get_mut(key)?;
        c.forget_old(now, window);
        Some(c)
    }

    fn blocked(&mut self, key: &K, now: Instant, window: Duration) -> bool {
        self.current(key, now, window)
            .is_some_and(|c| c.blocked_until.is_some())
    }

    /// How many are counted against `key` now (0 when unknown).
    fn counted(&mut self, key: &K, now: Instant, window: Duration) -> usize {
        self.current(key, now, window).map_or(0, |c| c.counted())
    }

    fn entry(&mut self, key: &K, now: Instant, window: Duration) -> &mut Count {
        if !self.keys.contains_key(key) {
            self.make_room(now, window);
        }
        let c = self
            .keys
            .entry(key.clone())
            .or_insert_with(|| Count::new(now));
        c.forget_old(now, window);
        c.last_seen = now;
        c
    }

    fn begin(&mut self, key: &K, now: Instant, window: Duration) {
        self.entry(key, now, window).pending.push_back(now);
    }

    /// Ends an attempt as a failure; `Some(failures)` when that starts a block.
    fn fail(&mut self, key: &K, now: Instant, p: &LockoutPolicy) -> Option<u32> {
        let max = self.max as usize;
        let c = self.entry(key, now, p.window);
        c.pending.pop_front();
        if c.blocked_until.is_some() {
            return None;
        }
        c.failures.push_back(now);
        if c.failures.len() < max {
            return None;
        }
        let n = c.failures.len() as u32;
        c.failures.clear();
        c.blocked_until = Some(now + p.block_for);
        Some(n)
    }

    /// Ends an attempt that is not a failure; `clear` forgets the key's failures too.
    fn end(&mut self, key: &K, now: Instant, window: Duration, clear: bool) {
        if let Some(c) = self.current(key, now, window) {
            c.pending.pop_front();
            if clear {
                c.failures.clear();
            }
            if c.is_idle() {
                self.keys.remove(key);
            }
        }
    }

    fn make_room(&mut self, now: Instant, window: Duration) {
        if self.keys.len() < self.max_keys {
            return;
        }
        self.keys.retain(|_, c| {
            c.forget_old(now, window);
            !c.is_idle()
        });
        while self.keys.len() >= self.max_keys {
            // Least recently seen unblocked key with nothing under way; else the soonest
            // unblocked.
            let victim = self
                .keys
                .iter()
                .filter(|(_, c)| c.blocked_until.is_none() && c.pending.is_empty())
                .min_by_key(|(_, c)| c.last_seen)
                .or_else(|| self.keys.iter().min_by_key(|(_, c)| c.blocked_until))
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => self.keys.remove(&k),
                None => break,
            };
        }
    }
}

/// The delay before verifying an attempt when `counted` failures are already counted.
fn delay_for(counted: usize) -> Option<Duration> {
    if counted <= FREE_FAILURES {
        return None;
    }
    let doublings = (counted - FREE_FAILURES - 1).min(16) as u32;
    Some((FIRST_DELAY * (1u32 << doublings)).min(MAX_DELAY))
}

/// Counts authentication attempts per source, per user and per trusted device, and decides
/// each one before its credentials are verified (see the module's docs for the rule).
#[derive(Debug)]
pub struct Lockout {
    policy: LockoutPolicy,
    sources: Counts<IpAddr>,
    users: Counts<String>,
    devices: Counts<(SocketAddr, String)>,
}

impl Lockout {
    /// E.g. 5 per source, 10 per user, in 60 s, blocked for 300 s.
    pub fn new(policy: LockoutPolicy) -> Lockout {
        Lockout {
            policy,
            sources: Counts::new(policy.max_failures),
            users: Counts::new(policy.user_max_failures),
            devices: Counts::new(policy.max_failures),
        }
    }

    /// Lowers the memory bound per scope (tests).
    pub fn with_max_tracked(mut self, max: usize) -> Lockout {
        let max = max.max(1);
        self.sources.max_keys = max;
        self.users.max_keys = max;
        self.devices.max_keys = max;
        self
    }

    /// Whether `source` is blocked: a request from it without credentials gets 403, not a
    /// challenge.
    pub fn source_blocked(&mut self, source: IpAddr, now: Instant) -> bool {
        self.sources.blocked(&source, now, self.policy.window)
    }

    /// Decides an attempt by `user` from `source` and, unless blocked, counts it as a
    /// failure until it ends. `trusted`: `source` is the exact address of one of the user's
    /// live registrations.
    pub fn begin(
        &mut self,
        source: SocketAddr,
        user: &str,
        trusted: bool,
        now: Instant,
    ) -> Verdict {
        let w = self.policy.window;
        let user = user.to_owned();
        let (counted, charged) = if trusted {
            let key = (source, user);
            if self.devices.blocked(&key, now, w) {
                return Verdict::Block(Scope::Device(key.0, key.1));
            }
            let counted = self.devices.counted(&key, now, w);
            if counted >= self.devices.max as usize {
                return Verdict::Busy(Scope::Device(key.0, key.1));
            }
            self.devices.begin(&key, now, w);
            (counted, Charged::Device(key.0, key.1))
        } else {
            let ip = source.ip();
            if self.sources.blocked(&ip, now, w) {
                return Verdict::Block(Scope::Source(ip));
            }
            if self.users.blocked(&user, now, w) {
                return Verdict::Block(Scope::User(user));
            }
            let by_source = self.sources.counted(&ip, now, w);
            let by_user = self.users.counted(&user, now, w);
            // Attempts under way fill the allowance too: the next one must not be verified
            // while they may all still fail.
            if by_source >= self.sources.max as usize {
                return Verdict::Busy(Scope::Source(ip));
            }
            if by_user >= self.users.max as usize {
                return Verdict::Busy(Scope::User(user));
            }
            self.sources.begin(&ip, now, w);
            self.users.begin(&user, now, w);
            (by_source.max(by_user), Charged::SourceAndUser(ip, user))
        };
        let attempt = Attempt { charged };
        match delay_for(counted) {
            None => Verdict::Allow(attempt),
            Some(d) => Verdict::Delay(d, attempt),
        }
    }

    /// The credentials verified: the attempt is not a failure, and the source's (or
    /// device's) failures are forgotten. The user's failures from elsewhere stay until they
    /// leave the window, so an agent's own refreshes do not wipe out a distributed attack.
    pub fn succeeded(&mut self, a: Attempt, now: Instant) {
        let w = self.policy.window;
        match a.charged {
            Charged::SourceAndUser(ip, user) => {
                self.sources.end(&ip, now, w, true);
                self.users.end(&user, now, w, false);
            }
            Charged::Device(addr, user) => self.devices.end(&(addr, user), now, w, true),
        }
    }

    /// The attempt ended without a verdict on the password (a stale nonce, our own error):
    /// not a failure.
    pub fn forgive(&mut self, a: Attempt, now: Instant) {
        let w = self.policy.window;
        match a.charged {
            Charged::SourceAndUser(ip, user) => {
                self.sources.end(&ip, now, w, false);
                self.users.end(&user, now, w, false);
            }
            Charged::Device(addr, user) => self.devices.end(&(addr, user), now, w, false),
        }
    }

    /// The credentials did not verify (wrong password, unknown user, replayed nonce). Returns
    /// the blocks this failure starts, to be audited.
    pub fn failed(&mut self, a: Attempt, now: Instant) -> Vec<Lock> {
        let p = self.policy;
        let until = now + p.block_for;
        let mut locks = Vec::new();
        match a.charged {
            Charged::SourceAndUser(ip, user) => {
                if let Some(failures) = self.sources.fail(&ip, now, &p) {
                    locks.push(Lock {
                        scope: Scope::Source(ip),
                        failures,
                        until,
                    });
                }
                if let Some(failures) = self.users.fail(&user, now, &p) {
                    locks.push(Lock {
                        scope: Scope::User(user),
                        failures,
                        until,
                    });
                }
            }
            Charged::Device(addr, user) => {
                let key = (addr, user);
                if let Some(failures) = self.devices.fail(&key, now, &p) {
                    locks.push(Lock {
                        scope: Scope::Device(key.0, key.1),
                        failures,
                        until,
                    });
                }
            }
        }
        locks
    }

    /// How many keys are remembered, all scopes together.
    pub fn tracked(&self) -> usize {
        self.sources.keys.len() + self.users.keys.len() + self.devices.keys.len()
    }
}

#[cfg(test)]
mod tests;
