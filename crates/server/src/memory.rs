//! Gives the memory a peak of calls freed back to the operating system.
//!
//! glibc's malloc keeps what its arenas freed (one arena per runtime thread) for reuse
//! instead of returning it; after a burst the process stays at its peak size with no call
//! up. Measured (BENCHMARKS.md, issue 13): 800 calls/s for 20 s peaked at 195 MB RSS and
//! stayed there with 0 calls; `malloc_trim(0)` brought it to 70 MB. So once the live calls
//! have fallen well below the peak since the last trim, the heap is trimmed (a walk of the
//! free lists, up to tens of milliseconds, on a blocking thread), and again on every tick
//! for the 40 s after: the SIP transactions of the last calls live on for
//! 32 s (timers H and J) and free their memory as they end, and what they free after a
//! trim would otherwise stay (a trim at the end of the calls alone left 141 MB of those
//! 198; one follow-up 40 s later left it there for those 40 s). Another allocator (the
//! `mimalloc` feature) returns memory itself and needs none of this.

use std::time::Duration;

use crate::call::Calls;

/// How often the live calls are looked at.
const TICK: Duration = Duration::from_secs(5);
/// A peak smaller than this is not worth a trim.
const MIN_PEAK: usize = 100;
/// Ticks after a fall during which every tick trims again: past the 32 s the last calls'
/// transactions linger.
const FOLLOW_UP_TICKS: u32 = 8;

/// Decides when to trim: after the live calls fell to a quarter of their peak since the
/// last trim.
#[derive(Debug, Default)]
pub struct Trimmer {
    peak: usize,
    /// Follow-up trims left, one per tick.
    follow_up: u32,
}

impl Trimmer {
    /// Takes the number of live calls now; true when the heap should be trimmed now.
    pub fn on_tick(&mut self, active: usize) -> bool {
        if active > self.peak {
            // Climbing again: what a trim gives back now would be asked for again.
            self.follow_up = 0;
        }
        self.peak = self.peak.max(active);
        if self.peak >= MIN_PEAK && active <= self.peak / 4 {
            self.peak = active;
            self.follow_up = FOLLOW_UP_TICKS;
            return true;
        }
        if self.follow_up == 0 {
            return false;
        }
        self.follow_up -= 1;
        true
    }
}

/// Looks at the live calls every few seconds and trims the heap after a peak.
pub fn spawn(calls: Calls) {
    tokio::spawn(async move {
        let mut trimmer = Trimmer::default();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let active = calls.active();
            if !trimmer.on_tick(active) {
                continue;
            }
            // Off the runtime's threads: a trim after a big peak walks for tens of
            // milliseconds (up to 44 ms measured after 2000 calls/s), which on a worker
            // would hold up SIP.
            let trimmed = tokio::task::spawn_blocking(|| {
                let started = std::time::Instant::now();
                (trim(), started.elapsed().as_micros() as u64)
            });
            if let Ok((released, took_us)) = trimmed.await {
                tracing::debug!(
                    active,
                    released,
                    took_us,
                    "heap trimmed after a peak of calls"
                );
            }
        }
    });
}

/// Returns free heap memory to the OS; whether any was released.
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
fn trim() -> bool {
    // SAFETY: malloc_trim only walks and releases glibc's own free lists; it is thread-safe.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc"))))]
fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_a_peak_and_on_while_its_transactions_end() {
        let mut t = Trimmer::default();
        // A quiet day never trims.
        assert!(![0, 5, 40, 10, 0].into_iter().any(|n| t.on_tick(n)));
        // A peak of 4000 calls, then the fall: a trim when a quarter is left.
        assert!(!t.on_tick(4000));
        assert!(!t.on_tick(2000));
        assert!(t.on_tick(900));
        // Then a trim on each tick while the last calls' transactions end.
        assert!(t.on_tick(300));
        // A further fall to a quarter starts that window again: FOLLOW_UP_TICKS more
        // trims, then none.
        assert!(t.on_tick(90));
        let trims: Vec<bool> = (0..20).map(|_| t.on_tick(0)).collect();
        let at: Vec<usize> = (0..20).filter(|i| trims[*i]).collect();
        assert_eq!(
            at,
            (0..FOLLOW_UP_TICKS as usize).collect::<Vec<_>>(),
            "{trims:?}"
        );
        // The next peak trims again once it is over.
        assert!(!t.on_tick(800));
        assert!(t.on_tick(100));
        // A climb during the follow-up ends it: no trims while the calls come back.
        assert!(t.on_tick(50));
        assert!(!t.on_tick(400));
        assert!(!t.on_tick(600));
    }
}
