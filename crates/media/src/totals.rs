//! Process-wide RTP counters: every session's packets added up, for the operators' metrics
//! (`/metrics`), which must not have to walk the live sessions to answer.
//!
//! Each session keeps its own [`MediaStats`](crate::MediaStats) too; the totals are bumped at
//! the same places with relaxed atomics. The two bumped for every packet, sent and received,
//! are [`Striped`]: with both receive threads and the pacer counting into one cache line,
//! each packet took the line from the other core (at 400 bridged calls, a tenth of the
//! receive threads' own time went to the instructions after those increments).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::rtp::{Seq, Ssrc};

/// The counters since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaTotals {
    /// RTP packets sent (prompts, silence, DTMF, relayed and mixed audio).
    pub packets_sent: u64,
    /// Datagrams received on RTP ports.
    pub packets_received: u64,
    /// RTP packets the senders numbered but that never arrived (gaps in the sequence numbers
    /// of each session's accepted audio; late or reordered packets are not counted back).
    pub packets_lost: u64,
    /// Packets we could not send: the socket's buffer was full or the send failed.
    pub send_failed: u64,
    /// Frames of a bridge or a mix not sent on a leg (its queue was full, a prompt played on
    /// it, or it was on hold).
    pub relay_dropped: u64,
    /// The pacer's ticks by how late their last packet left, per bucket of
    /// [`TICK_LATENESS_MS_BUCKETS`] (the last one above its last bound): what a caller's
    /// jitter buffer has to absorb because this server was busy.
    pub tick_lateness: [u64; TICK_LATENESS_MS_BUCKETS.len() + 1],
    /// The sum of those latenesses, in microseconds.
    pub tick_lateness_sum_us: u64,
    /// Ticks the pacer skipped after a stall (each one a frame not sent in every session).
    pub ticks_skipped: u64,
}

/// Upper bounds (ms) of the buckets of [`MediaTotals::tick_lateness`].
pub const TICK_LATENESS_MS_BUCKETS: [u64; 9] = [1, 2, 5, 10, 20, 50, 100, 200, 500];

/// Stripes of a [`Striped`] counter: more than the threads that count packets (two receive
/// threads, the pacer, a runtime worker sending digits).
const STRIPES: usize = 8;

/// A counter many threads add to at once: each thread adds to its own stripe, on a cache
/// line of its own, and a reading sums the stripes.
pub(crate) struct Striped([Stripe; STRIPES]);

/// 128 bytes: the adjacent-line prefetcher of x86 pulls lines in pairs.
#[repr(align(128))]
struct Stripe(AtomicU64);

impl Striped {
    const fn new() -> Striped {
        Striped([const { Stripe(AtomicU64::new(0)) }; STRIPES])
    }

    /// Adds `n` on the calling thread's stripe.
    pub(crate) fn add(&self, n: u64) {
        self.0[stripe()].0.fetch_add(n, Relaxed);
    }

    /// The sum; stripes added to meanwhile may or may not be in it.
    pub(crate) fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Relaxed)).sum()
    }
}

/// The calling thread's stripe, handed out in turn as threads first count.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT.fetch_add(1, Relaxed) % STRIPES);
        }
        s.get()
    })
}

pub(crate) struct Totals {
    pub(crate) packets_sent: Striped,
    pub(crate) packets_received: Striped,
    pub(crate) packets_lost: AtomicU64,
    pub(crate) send_failed: AtomicU64,
    pub(crate) relay_dropped: AtomicU64,
    tick_lateness: [AtomicU64; TICK_LATENESS_MS_BUCKETS.len() + 1],
    tick_lateness_sum_us: AtomicU64,
    pub(crate) ticks_skipped: AtomicU64,
    /// The latest tick's lateness, or a decaying earlier peak if that was higher (µs).
    lag_us: AtomicU64,
}

impl Totals {
    /// Counts one pacer tick whose last packet left `late` after the tick's instant.
    pub(crate) fn observe_tick(&self, late: std::time::Duration) {
        let us = late.as_micros() as u64;
        let ms = us.div_ceil(1000);
        let i = TICK_LATENESS_MS_BUCKETS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(TICK_LATENESS_MS_BUCKETS.len());
        self.tick_lateness[i].fetch_add(1, Relaxed);
        self.tick_lateness_sum_us.fetch_add(us, Relaxed);
        // A peak decays by 1/4 per tick (about 50 ms to halve): one late tick is a blip,
        // a run of them is a pacer that cannot keep up.
        let decayed = self.lag_us.load(Relaxed) * 3 / 4;
        self.lag_us.store(us.max(decayed), Relaxed);
    }
}

pub(crate) static TOTALS: Totals = Totals {
    packets_sent: Striped::new(),
    packets_received: Striped::new(),
    packets_lost: AtomicU64::new(0),
    send_failed: AtomicU64::new(0),
    relay_dropped: AtomicU64::new(0),
    tick_lateness: [const { AtomicU64::new(0) }; TICK_LATENESS_MS_BUCKETS.len() + 1],
    tick_lateness_sum_us: AtomicU64::new(0),
    ticks_skipped: AtomicU64::new(0),
    lag_us: AtomicU64::new(0),
};

/// How late the RTP pacer has recently finished its ticks: the media's backlog. Past a
/// tick or two every caller hears it, so admission control refuses new calls on it.
pub fn pacer_lag() -> std::time::Duration {
    std::time::Duration::from_micros(TOTALS.lag_us.load(Relaxed))
}

/// Every session's counters added up since the process started.
pub fn totals() -> MediaTotals {
    let t = &TOTALS;
    MediaTotals {
        packets_sent: t.packets_sent.get(),
        packets_received: t.packets_received.get(),
        packets_lost: t.packets_lost.load(Relaxed),
        send_failed: t.send_failed.load(Relaxed),
        relay_dropped: t.relay_dropped.load(Relaxed),
        tick_lateness: std::array::from_fn(|i| t.tick_lateness[i].load(Relaxed)),
        tick_lateness_sum_us: t.tick_lateness_sum_us.load(Relaxed),
        ticks_skipped: t.ticks_skipped.load(Relaxed),
    }
}

/// Counts the packets missing from one sender's sequence (RFC 3550 §6.4.1's "cumulative
/// number of packets lost", without subtracting late arrivals): a forward jump of more than
/// one is a gap; a step back (a late or repeated packet) changes nothing. A new sender
/// (another SSRC after a re-INVITE or a transfer) starts a new sequence.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LossCounter {
    last: Option<(Ssrc, Seq)>,
}

/// A forward jump larger than this is taken as a sender restarting its numbering, not loss.
const MAX_GAP: u16 = 3000;

impl LossCounter {
    /// Takes one received packet; returns how many packets went missing just before it.
    pub(crate) fn on_packet(&mut self, ssrc: Ssrc, seq: Seq) -> u64 {
        let lost = match self.last {
            Some((s, last)) if s == ssrc => {
                let step = seq.0.wrapping_sub(last.0);
                if step == 0 || step >= 0x8000 {
                    return 0;
                }
                if step > MAX_GAP {
                    0
                } else {
                    u64::from(step - 1)
                }
            }
            _ => 0,
        };
        self.last = Some((ssrc, seq));
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every thread added is in the sum, whichever stripes the threads were given.
    #[test]
    fn a_striped_counter_sums_every_threads_additions() {
        let c = std::sync::Arc::new(Striped::new());
        let threads: Vec<_> = (0..2 * STRIPES as u64)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.add(t + 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = 2 * STRIPES as u64;
        assert_eq!(c.get(), 1000 * n * (n + 1) / 2);
    }

    #[test]
    fn gaps_count_late_and_repeated_packets_do_not() {
        let mut c = LossCounter::default();
        assert_eq!(c.on_packet(Ssrc(7), Seq(100)), 0);
        assert_eq!(c.on_packet(Ssrc(7), Seq(101)), 0);
        // 102 and 103 missing.
        assert_eq!(c.on_packet(Ssrc(7), Seq(104)), 2);
        // 103 arrives late, 104 again: neither is loss nor moves the sequence back.
        assert_eq!(c.on_packet(Ssrc(7), Seq(103)), 0);
        assert_eq!(c.on_packet(Ssrc(7), Seq(104)), 0);
        assert_eq!(c.on_packet(Ssrc(7), Seq(105)), 0);
    }

    #[test]
    fn wraps_and_new_senders_start_afresh() {
        let mut c = LossCounter::default();
        c.on_packet(Ssrc(1), Seq(65534));
        assert_eq!(
            c.on_packet(Ssrc(1), Seq(1)),
            2,
            "65535 and 0 missing across the wrap"
        );
        // Another SSRC (a transfer's new leg) numbers from anywhere.
        assert_eq!(c.on_packet(Ssrc(2), Seq(40000)), 0);
        assert_eq!(c.on_packet(Ssrc(2), Seq(40001)), 0);
        // A jump of thousands is a restart, not a burst of loss.
        assert_eq!(c.on_packet(Ssrc(2), Seq(50000)), 0);
        assert_eq!(c.on_packet(Ssrc(2), Seq(50002)), 1);
    }
}
