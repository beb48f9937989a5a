//! Overload: refusing a new call at once with 503 instead of answering it late.
//!
//! A call answered four seconds late is a failed call, and one that is answered while the
//! CPU is full makes every other call's audio late too. So before a new INVITE costs
//! anything (an RTP port, a task, a case row), [`Overload::check`] looks at the two
//! backlogs the answer path waits on and refuses the call with `503 Service Unavailable`
//! and `Retry-After` while either is past its bound (`[calls]` in the config); the trunk
//! or Kamailio sends it to another node. Calls already up are never touched.
//!
//! - **The case store**: writes waiting for the group-commit writer
//!   ([`hotline_case::WriterStats`]) — how many, and how long the oldest has waited. A
//!   slow or stalled disk shows here first.
//! - **The runtime**: how late a task that asks to wake every [`PROBE_EVERY`] actually
//!   wakes ([`Overload::spawn_probe`]). When both cores are busy, everything scheduled —
//!   RTP pacing, SIP retransmissions, answers — runs that late.
//! - **The media**: how late the RTP pacer finishes its 20 ms ticks
//!   ([`hotline_media::pacer_lag`]). Every playing call's audio waits on it; past
//!   `max_media_lag_ms` (two packet times, what a phone's jitter buffer absorbs) the calls
//!   already up start to break up, and a new call would add its greeting to the same tick.
//! - **The socket**: how long the INVITE itself waited between the kernel receiving it and
//!   the endpoint reading it (the kernel's stamp, `hotline_sip::udp_recv`). Under a flood
//!   this is the first wait to grow, and the only one the caller feels before anything
//!   else: refusing what already waited is cheap, so the endpoint catches up within a few
//!   milliseconds instead of answering everything behind it late.
//! - **The call rate**: new calls admitted per second (`max_calls_per_sec`, a token bucket
//!   holding a tenth of a second's worth). The signals above see a backlog only once it has
//!   formed, and a call accepted now costs its greeting's RTP for seconds to come: under a
//!   flood they would let calls in by bursts, each burst making the next wait. A node's
//!   rate is what `bench/capacity.sh` measured it to carry cleanly; the excess is refused
//!   evenly, at once, the way carriers cap a trunk's call attempts per second.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_case::WriterStats;

use crate::config::CallConfig;

/// How often the runtime probe asks to wake.
pub const PROBE_EVERY: Duration = Duration::from_millis(10);

/// Why new calls are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Too many writes wait for the case store.
    WriteBacklog,
    /// The oldest write has waited too long.
    WriteWait,
    /// The runtime runs tasks late (CPU full).
    RuntimeLag,
    /// The INVITE waited too long in the socket's buffer before it was read.
    ReceiveWait,
    /// The RTP pacer finishes its ticks late (every call's audio is late).
    MediaLag,
    /// More new calls this second than `max_calls_per_sec`.
    CallRate,
}

impl Reason {
    /// The reason's name in logs, `/api/status` and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::WriteBacklog => "write_backlog",
            Reason::WriteWait => "write_wait",
            Reason::RuntimeLag => "runtime_lag",
            Reason::ReceiveWait => "receive_wait",
            Reason::MediaLag => "media_lag",
            Reason::CallRate => "call_rate",
        }
    }

    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [Reason; 6] = [
        Reason::WriteBacklog,
        Reason::WriteWait,
        Reason::RuntimeLag,
        Reason::MediaLag,
        Reason::ReceiveWait,
        Reason::CallRate,
    ];
}

/// The bounds and what was last seen.
#[derive(Debug)]
pub struct Overload {
    max_write_backlog: u64,
    max_write_wait_us: u64,
    max_lag_us: u64,
    max_media_lag: Duration,
    /// Where the media's lag is read (the pacer's; a test's own).
    media_lag: fn() -> Duration,
    max_receive_wait: Duration,
    rate: Option<CallRate>,
    /// How late the probe woke recently (µs): the latest lateness, or a decaying
    /// earlier peak if that was higher, so one lucky wake-up does not hide a busy CPU.
    lag_us: AtomicU64,
    /// Calls refused, per [`Reason::ALL`].
    refused: [AtomicU64; Reason::ALL.len()],
    /// The second (since `started`) of the last refusal logged.
    logged_second: AtomicU64,
    started: std::time::Instant,
}

impl Overload {
    pub fn new(cfg: &CallConfig) -> Self {
        Overload {
            max_write_backlog: cfg.max_write_backlog,
            max_write_wait_us: cfg.max_write_wait_ms.saturating_mul(1000),
            max_lag_us: cfg.max_runtime_lag_ms.saturating_mul(1000),
            max_media_lag: Duration::from_millis(cfg.max_media_lag_ms),
            media_lag: hotline_media::pacer_lag,
            max_receive_wait: Duration::from_millis(cfg.max_receive_wait_ms),
            rate: (cfg.max_calls_per_sec > 0).then(|| CallRate::new(cfg.max_calls_per_sec)),
            lag_us: AtomicU64::new(0),
            refused: Default::default(),
            logged_second: AtomicU64::new(u64::MAX),
            started: std::time::Instant::now(),
        }
    }

    /// Logs a refusal, at most once a second (a flood of refusals must not become a flood
    /// of log lines).
    pub fn warn_throttled(&self, reason: Reason) {
        let second = self.started.elapsed().as_secs();
        if self.logged_second.swap(second, Relaxed) != second {
            tracing::warn!(
                reason = reason.as_str(),
                refused = self.refused(reason),
                lag_ms = self.runtime_lag().as_millis() as u64,
                "overload: refusing new calls with 503"
            );
        }
    }

    /// Whether a new call whose INVITE waited `waited` before it was read must be refused
    /// at `now`, and why; counts the refusal. A call let in takes its place in the rate.
    pub fn check(&self, writer: &WriterStats, waited: Duration, now: Instant) -> Option<Reason> {
        self.judge(writer, waited, now, true)
    }

    /// [`Overload::check`] for an INVITE not yet parsed (the endpoint's stateless
    /// refusal): the same refusals, counted, but a call that would be let in takes no
    /// place in the rate — [`Overload::check`] takes it once the call is set up.
    pub fn check_early(
        &self,
        writer: &WriterStats,
        waited: Duration,
        now: Instant,
    ) -> Option<Reason> {
        self.judge(writer, waited, now, false)
    }

    fn judge(
        &self,
        writer: &WriterStats,
        waited: Duration,
        now: Instant,
        take_place: bool,
    ) -> Option<Reason> {
        let over_rate = |r: &CallRate| {
            if take_place {
                !r.admit(now)
            } else {
                !r.would_admit(now)
            }
        };
        let reason = if waited > self.max_receive_wait {
            Some(Reason::ReceiveWait)
        } else if let Some(r) = self.backlog(writer) {
            Some(r)
        } else if self.rate.as_ref().is_some_and(over_rate) {
            Some(Reason::CallRate)
        } else {
            None
        }?;
        self.refused[reason as usize].fetch_add(1, Relaxed);
        Some(reason)
    }

    /// Why new calls would be refused at `now` (nothing counted, no place taken).
    pub fn reason(&self, writer: &WriterStats, now: Instant) -> Option<Reason> {
        self.backlog(writer).or_else(|| {
            self.rate
                .as_ref()
                .is_some_and(|r| !r.would_admit(now))
                .then_some(Reason::CallRate)
        })
    }

    /// Which backlog is past its bound, if any.
    fn backlog(&self, writer: &WriterStats) -> Option<Reason> {
        if writer.pending() > self.max_write_backlog {
            Some(Reason::WriteBacklog)
        } else if writer.oldest_pending_us() > self.max_write_wait_us {
            Some(Reason::WriteWait)
        } else if self.lag_us.load(Relaxed) > self.max_lag_us {
            Some(Reason::RuntimeLag)
        } else if (self.media_lag)() > self.max_media_lag {
            Some(Reason::MediaLag)
        } else {
            None
        }
    }

    /// Calls refused for `reason` since the start.
    pub fn refused(&self, reason: Reason) -> u64 {
        self.refused[reason as usize].load(Relaxed)
    }

    /// How late the runtime ran a task recently.
    pub fn runtime_lag(&self) -> Duration {
        Duration::from_micros(self.lag_us.load(Relaxed))
    }

    /// Records one wake-up of the probe that came `late` after it was due.
    fn observe_lag(&self, late: Duration) {
        let late = late.as_micros() as u64;
        // A peak decays by 1/4 per probe (about 40 ms to halve).
        let decayed = self.lag_us.load(Relaxed) * 3 / 4;
        self.lag_us.store(late.max(decayed), Relaxed);
    }

    /// Starts the runtime probe on the current runtime, for as long as `self` lives
    /// elsewhere.
    pub fn spawn_probe(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut due = tokio::time::Instant::now() + PROBE_EVERY;
            loop {
                tokio::time::sleep_until(due).await;
                let Some(me) = me.upgrade() else { break };
                let now = tokio::time::Instant::now();
                me.observe_lag(now.saturating_duration_since(due));
                due = now + PROBE_EVERY;
            }
        });
    }
}

/// New calls per second at most: a token bucket that refills continuously and holds a
/// tenth of a second's worth (so a burst is let in up to that, not a whole second's).
#[derive(Debug)]
struct CallRate {
    per_sec: f64,
    burst: f64,
    /// Tokens left and when they were counted.
    bucket: Mutex<(f64, Option<Instant>)>,
}

impl CallRate {
    fn new(per_sec: u32) -> Self {
        let per_sec = f64::from(per_sec);
        let burst = (per_sec / 10.0).max(1.0);
        CallRate {
            per_sec,
            burst,
            bucket: Mutex::new((burst, None)),
        }
    }

    /// The tokens at `now` (never more than the burst; a clock read out of order adds none).
    fn refill(&self, tokens: f64, since: Option<Instant>, now: Instant) -> f64 {
        let earned = since.map_or(self.burst, |t| {
            now.saturating_duration_since(t).as_secs_f64() * self.per_sec
        });
        (tokens + earned).min(self.burst)
    }

    /// Takes a place at `now` if there is one.
    fn admit(&self, now: Instant) -> bool {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let tokens = self.refill(b.0, b.1, now);
        let since = b.1.map_or(now, |t| t.max(now));
        if tokens >= 1.0 {
            *b = (tokens - 1.0, Some(since));
            true
        } else {
            *b = (tokens, Some(since));
            false
        }
    }

    fn would_admit(&self, now: Instant) -> bool {
        let b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        self.refill(b.0, b.1, now) >= 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overload() -> Overload {
        Overload::new(&CallConfig {
            max_write_backlog: 10,
            max_write_wait_ms: 100,
            max_runtime_lag_ms: 40,
            max_media_lag_ms: 40,
            max_receive_wait_ms: 5,
            ..CallConfig::default()
        })
    }

    #[test]
    fn a_late_runtime_refuses_until_it_catches_up() {
        let o = overload();
        let writer = WriterStats::default();
        assert_eq!(o.check(&writer, Duration::ZERO, Instant::now()), None);
        o.observe_lag(Duration::from_millis(200));
        assert_eq!(
            o.check(&writer, Duration::ZERO, Instant::now()),
            Some(Reason::RuntimeLag)
        );
        assert_eq!(o.refused(Reason::RuntimeLag), 1);
        // On time again: the peak decays below the bound within a few probes, not at once.
        o.observe_lag(Duration::ZERO);
        assert_eq!(o.reason(&writer, Instant::now()), Some(Reason::RuntimeLag));
        for _ in 0..6 {
            o.observe_lag(Duration::from_millis(1));
        }
        assert_eq!(
            o.reason(&writer, Instant::now()),
            None,
            "lag {:?}",
            o.runtime_lag()
        );
    }

    /// The pacer finishing its ticks 60 ms late refuses new calls; on time, it lets them in.
    #[test]
    fn a_late_media_pacer_refuses_new_calls() {
        static LAG_MS: AtomicU64 = AtomicU64::new(0);
        let o = Overload {
            media_lag: || Duration::from_millis(LAG_MS.load(Relaxed)),
            ..overload()
        };
        let writer = WriterStats::default();
        assert_eq!(o.check(&writer, Duration::ZERO, Instant::now()), None);
        LAG_MS.store(60, Relaxed);
        assert_eq!(
            o.check(&writer, Duration::ZERO, Instant::now()),
            Some(Reason::MediaLag)
        );
        assert_eq!(o.reason(&writer, Instant::now()), Some(Reason::MediaLag));
        assert_eq!(o.refused(Reason::MediaLag), 1);
        LAG_MS.store(40, Relaxed);
        assert_eq!(o.check(&writer, Duration::ZERO, Instant::now()), None);
    }

    #[test]
    fn an_invite_that_waited_in_the_socket_is_refused_alone() {
        let o = overload();
        let writer = WriterStats::default();
        assert_eq!(
            o.check(&writer, Duration::from_millis(5), Instant::now()),
            None
        );
        assert_eq!(
            o.check(&writer, Duration::from_millis(6), Instant::now()),
            Some(Reason::ReceiveWait)
        );
        assert_eq!(o.refused(Reason::ReceiveWait), 1);
        // It says nothing of the next call, which may have been read at once.
        assert_eq!(o.reason(&writer, Instant::now()), None);
        assert_eq!(o.check(&writer, Duration::ZERO, Instant::now()), None);
    }

    #[test]
    fn calls_past_the_rate_are_refused_evenly_and_the_rate_refills() {
        let o = Overload::new(&CallConfig {
            max_calls_per_sec: 100,
            ..CallConfig::default()
        });
        let writer = WriterStats::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // A burst: a tenth of a second's worth (10) is let in, the rest refused.
        let admitted = (0..50)
            .filter(|_| o.check(&writer, Duration::ZERO, at(0)).is_none())
            .count();
        assert_eq!(admitted, 10);
        assert_eq!(o.refused(Reason::CallRate), 40);
        assert_eq!(o.reason(&writer, at(0)), Some(Reason::CallRate));
        // Offered at 500 a second for a second: 100 let in, spread over it.
        let mut admitted = Vec::new();
        for i in 0..500u64 {
            let now = at(2 + i * 2);
            if o.check(&writer, Duration::ZERO, now).is_none() {
                admitted.push(i * 2);
            }
        }
        assert!((99..=101).contains(&admitted.len()), "{}", admitted.len());
        let in_first_half = admitted.iter().filter(|&&ms| ms < 500).count();
        assert!((45..=55).contains(&in_first_half), "{admitted:?}");
        // Quiet for a while: a burst's worth again, no more.
        assert_eq!(o.reason(&writer, at(5000)), None);
        let admitted = (0..50)
            .filter(|_| o.check(&writer, Duration::ZERO, at(5000)).is_none())
            .count();
        assert_eq!(admitted, 10);
    }

    /// The early check (before a parse) refuses what the full one would, but a call it
    /// lets through takes no place: the full check, later, takes it once.
    #[test]
    fn the_early_check_takes_no_place_in_the_rate() {
        let o = Overload::new(&CallConfig {
            max_calls_per_sec: 100,
            max_receive_wait_ms: 5,
            ..CallConfig::default()
        });
        let writer = WriterStats::default();
        let now = Instant::now();
        let mut admitted = 0;
        for _ in 0..50 {
            if o.check_early(&writer, Duration::ZERO, now).is_none()
                && o.check(&writer, Duration::ZERO, now).is_none()
            {
                admitted += 1;
            }
        }
        // The same burst's worth as with the full check alone, and every refusal counted
        // once, by whichever check made it.
        assert_eq!(admitted, 10);
        assert_eq!(o.refused(Reason::CallRate), 40);
        assert_eq!(
            o.check_early(&writer, Duration::from_millis(6), now),
            Some(Reason::ReceiveWait)
        );
        assert_eq!(o.refused(Reason::ReceiveWait), 1);
    }

    #[test]
    fn no_rate_cap_when_zero() {
        let o = Overload::new(&CallConfig {
            max_calls_per_sec: 0,
            ..CallConfig::default()
        });
        let writer = WriterStats::default();
        let now = Instant::now();
        assert!((0..10_000).all(|_| o.check(&writer, Duration::ZERO, now).is_none()));
    }
}
