//! The RFC 3261 §17 timers in one table, as quinn-proto keeps its timers.
//!
//! Every timer a transaction can arm is one variant; its duration comes from the table in
//! [`Timer::duration`] (RFC 3261 Table 4, plus RFC 6026's L and M). Retransmission timers
//! (A, E, G) start at T1 and double; the caller passes the current interval.

use std::time::Duration;

/// Base timer values (RFC 3261 §17.1.1.1): configurable so tests and LANs can shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// One transaction timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE client: retransmit the request (UDP).
    A,
    /// INVITE client: give up waiting for any response.
    B,
    /// INVITE client: wait for retransmitted final responses after ACKing them.
    D,
    /// Non-INVITE client: retransmit the request (UDP).
    E,
    /// Non-INVITE client: give up.
    F,
    /// INVITE server: retransmit the final (3xx–6xx, and 2xx while waiting for ACK) response.
    G,
    /// INVITE server: give up waiting for the ACK.
    H,
    /// INVITE server: absorb ACK retransmissions.
    I,
    /// Non-INVITE server: absorb request retransmissions.
    J,
    /// Non-INVITE client: absorb response retransmissions.
    K,
    /// INVITE server after 2xx (RFC 6026 Accepted): absorb INVITE retransmissions, wait for ACK.
    L,
    /// INVITE client after 2xx (RFC 6026 Accepted): absorb 2xx retransmissions.
    M,
}

impl Timer {
    /// How long after arming the timer fires. `reliable` transports (TCP) need no
    /// retransmissions and no waiting for stragglers: those timers are zero.
    pub fn duration(self, cfg: &TimerConfig, reliable: bool) -> Duration {
        let t1x64 = cfg.t1 * 64;
        let unless_reliable = |d: Duration| if reliable { Duration::ZERO } else { d };
        match self {
            Timer::A | Timer::E | Timer::G => cfg.t1,
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => t1x64,
            Timer::D => unless_reliable(Duration::from_secs(32).max(t1x64)),
            Timer::I | Timer::K => unless_reliable(cfg.t4),
            Timer::J => unless_reliable(t1x64),
        }
    }

    /// The next retransmission interval after `current` (§17.1.1.2, §17.1.2.2, §17.2.1).
    pub fn backoff(self, current: Duration, cfg: &TimerConfig) -> Duration {
        match self {
            // INVITE requests double without a cap until Timer B ends them.
            Timer::A => current * 2,
            _ => (current * 2).min(cfg.t2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_rfc3261() {
        let c = TimerConfig::default();
        assert_eq!(Timer::B.duration(&c, false), Duration::from_secs(32));
        assert_eq!(Timer::F.duration(&c, true), Duration::from_secs(32));
        assert_eq!(Timer::D.duration(&c, false), Duration::from_secs(32));
        assert_eq!(Timer::D.duration(&c, true), Duration::ZERO);
        assert_eq!(Timer::I.duration(&c, false), Duration::from_secs(5));
        assert_eq!(Timer::J.duration(&c, true), Duration::ZERO);
        let e: Vec<_> = std::iter::successors(Some(c.t1), |d| Some(Timer::E.backoff(*d, &c)))
            .take(6)
            .collect();
        assert_eq!(
            e.iter().map(|d| d.as_millis()).collect::<Vec<_>>(),
            [500, 1000, 2000, 4000, 4000, 4000]
        );
        assert_eq!(
            Timer::A.backoff(Duration::from_secs(4), &c),
            Duration::from_secs(8)
        );
    }
}
