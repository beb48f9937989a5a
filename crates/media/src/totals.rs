//! Process-wide RTP counters: every session's packets added up, for the operators' metrics
//! (`/metrics`), which must not have to walk the live sessions to answer.
//!
//! Each session keeps its own [`MediaStats`](crate::MediaStats) too; the totals are bumped at
//! the same places, once per packet, with relaxed atomics (one shared cache line; at the rates
//! this server runs, tens of thousands of packets a second, that costs nothing measurable).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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

#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) packets_sent: AtomicU64,
    pub(crate) packets_received: AtomicU64,
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
    packets_sent: AtomicU64::new(0),
    packets_received: AtomicU64::new(0),
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
        packets_sent: t.packets_sent.load(Relaxed),
        packets_received: t.packets_received.load(Relaxed),
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
