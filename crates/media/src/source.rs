//! Who may talk into a call: the source check every received RTP packet (audio and
//! RFC 4733 DTMF alike) passes before it is heard, recorded, relayed or taken as a key.
//!
//! Without it anyone who finds a call's RTP port could end a voicemail with a forged `#`
//! or put their own audio into a recording. [`SourceLock`] is the rule, kept free of I/O
//! and of the clock (the session passes the arrival time in), so it is tested on its own.
//!
//! # The rule
//!
//! A packet is accepted when it comes from a **trusted source**:
//!
//! 1. **The negotiated address.** The exact address and port the SDP gave (when usable:
//!    not `0.0.0.0`, port not 0) is always trusted.
//! 2. **One latched source.** Until the first packet has been accepted (the *latch
//!    window*), the first packet from a source that is *plausibly the same peer* latches
//!    it: from then on it is trusted too and the window is closed, so every other source
//!    is refused. A source is plausibly the peer when
//!    - the SDP gave no usable address (delayed offer, `c=0.0.0.0`): there is nothing
//!      better to go by (symmetric RTP, RFC 4961);
//!    - the packet comes from the SDP's IP with another port (a phone sending from
//!      another socket than it receives on, a NAT that kept the address but not the
//!      port);
//!    - the SDP address is a private-use one (RFC 1918, the shared RFC 6598 range,
//!      link-local, IPv6 unique-local or link-local): the caller is behind a NAT, its
//!      packets come from the NAT's public address, which no one can predict.
//!
//!    A public (or loopback) SDP address is not latched from another IP: media from a
//!    host the SDP did not name is refused.
//! 3. **Re-learning.** A packet from an untrusted source replaces the latched source when
//!    it carries the SSRC of the last accepted packet and nothing has been accepted for
//!    [`RELEARN_AFTER`] (a NAT that re-mapped the caller after a pause, a phone that
//!    changed networks). The SSRC is random (RFC 3550 §8) and seen only on the path, so an
//!    off-path stranger cannot pass this test, and a live stream never yields to it.
//!
//! Everything else is dropped; [`Verdict::Drop`] says when a source is seen for the first
//! time so the session logs each source once (for the first [`MAX_REPORTED`] sources of a
//! call) instead of once per packet.
//!
//! **Renegotiation.** A new usable SDP address (re-INVITE, UPDATE, the answer in an ACK)
//! replaces the old one: the latched source is forgotten and the window opens again
//! under the new address. An SDP without a usable address (hold by `c=0.0.0.0`) or
//! repeating the same one (a session refresh) changes nothing: the sources already
//! trusted stay trusted and, once the window has closed, no new one is learned — a hold
//! does not make strangers trustworthy, and a refresh must not make a caller behind a NAT
//! go deaf.
//!
//! **Where we send** stays the SDP address, except when the SDP gave none, or gave a
//! private-use address while the packets come from another IP (a NAT): then we send to
//! the latched source ([`SourceLock::follows_source`]).
//!
//! Random RTP ports ([`PortPool`](crate::PortPool)) make the latch window hard to race: a
//! stranger must guess the port before the caller's first packet arrives.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::rtp::Ssrc;

/// How long the trusted sources must have been silent before a new source with the same
/// SSRC is learned in place of the latched one.
pub const RELEARN_AFTER: Duration = Duration::from_secs(2);

/// Distinct refused sources reported (logged) per call; beyond them packets are only
/// counted, so a flood from many addresses cannot flood the log or grow memory.
pub const MAX_REPORTED: usize = 16;

/// What to do with one received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From a trusted source: use it.
    Accept,
    /// Use it; its source has just become the latched one (first packet of the call from
    /// a source other than the SDP's, or re-learned after a silence).
    Learned,
    /// Not from a trusted source: drop it.
    Drop {
        /// The first packet refused from this source (log it; later ones are not).
        report: bool,
    },
}

/// The source check of one call leg; see the [module docs](self) for the rule.
#[derive(Debug, Clone)]
pub struct SourceLock {
    /// The usable address the SDP gave.
    sdp: Option<SocketAddr>,
    /// The one source trusted besides `sdp`.
    latched: Option<SocketAddr>,
    /// True until a packet has been accepted under the current SDP address.
    window_open: bool,
    /// SSRC and arrival of the last accepted packet.
    last: Option<(Ssrc, Instant)>,
    /// Refused sources already reported.
    reported: Vec<SocketAddr>,
    /// Packets refused so far.
    dropped: u64,
}

impl SourceLock {
    /// The check for a leg whose SDP gave `sdp` (`None` or an unusable address: the first
    /// source is latched).
    pub fn new(sdp: Option<SocketAddr>) -> SourceLock {
        SourceLock {
            sdp: usable(sdp),
            latched: None,
            window_open: true,
            last: None,
            reported: Vec::new(),
            dropped: 0,
        }
    }

    /// Follows renegotiated SDP: a new usable address replaces the old one and reopens
    /// the latch window; no address or the same one changes nothing.
    pub fn update(&mut self, sdp: Option<SocketAddr>) {
        let Some(new) = usable(sdp) else {
            return;
        };
        if self.sdp.map(canonical) == Some(canonical(new)) {
            return;
        }
        self.sdp = Some(new);
        self.latched = None;
        self.window_open = true;
        self.last = None;
    }

    /// Decides on one packet from `from` carrying `ssrc`, arrived at `now`.
    pub fn handle_packet(&mut self, from: SocketAddr, ssrc: Ssrc, now: Instant) -> Verdict {
        let from_c = canonical(from);
        let verdict = if self.sdp.map(canonical) == Some(from_c)
            || self.latched.map(canonical) == Some(from_c)
        {
            Verdict::Accept
        } else if (self.window_open && self.may_latch(from_c)) || self.may_relearn(ssrc, now) {
            self.latched = Some(from);
            Verdict::Learned
        } else {
            self.dropped += 1;
            let report = self.reported.len() < MAX_REPORTED && !self.reported.contains(&from);
            if report {
                self.reported.push(from);
            }
            return Verdict::Drop { report };
        };
        self.window_open = false;
        self.last = Some((ssrc, now));
        verdict
    }

    /// The usable SDP address, if any.
    pub fn sdp(&self) -> Option<SocketAddr> {
        self.sdp
    }

    /// The latched source, if any.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// Whether our packets should go to the latched source rather than the SDP address:
    /// the SDP gave none, or gave a private-use address the packets do not come from (a
    /// NAT between us and the peer).
    pub fn follows_source(&self) -> bool {
        match (self.sdp, self.latched) {
            (None, _) => true,
            (Some(sdp), Some(src)) => {
                is_private_use(sdp.ip()) && canonical(sdp).ip() != canonical(src).ip()
            }
            (Some(_), None) => false,
        }
    }

    /// Packets refused so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether `from` may be latched while the window is open.
    fn may_latch(&self, from: SocketAddr) -> bool {
        match self.sdp.map(canonical) {
            None => true,
            Some(sdp) => sdp.ip() == from.ip() || is_private_use(sdp.ip()),
        }
    }

    /// Whether a packet with `ssrc` at `now` from an untrusted source continues the
    /// trusted stream after a pause.
    fn may_relearn(&self, ssrc: Ssrc, now: Instant) -> bool {
        self.last.is_some_and(|(last_ssrc, at)| {
            last_ssrc == ssrc && now.saturating_duration_since(at) >= RELEARN_AFTER
        })
    }
}

/// `addr` unless it cannot be sent to (unspecified IP or port 0).
fn usable(addr: Option<SocketAddr>) -> Option<SocketAddr> {
    addr.filter(|a| !a.ip().is_unspecified() && a.port() != 0)
}

/// The address with an IPv4-mapped IPv6 IP (`::ffff:a.b.c.d`, as a dual-stack socket
/// reports IPv4 peers) written as IPv4, so both spellings compare equal.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Addresses that only mean something behind a NAT: RFC 1918, the shared address space of
/// carrier-grade NAT (100.64.0.0/10, RFC 6598), IPv4 link-local, IPv6 unique-local
/// (fc00::/7) and link-local (fe80::/10). Loopback is not among them: a peer on our own
/// host is not behind a NAT.
pub fn is_private_use(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || v4.is_link_local() || (a == 100 && b & 0xC0 == 64)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            first & 0xFE00 == 0xFC00 || first & 0xFFC0 == 0xFE80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const S: Ssrc = Ssrc(0x1234_5678);
    const OTHER: Ssrc = Ssrc(0x0BAD_F00D);

    #[test]
    fn sdp_address_is_accepted_and_strangers_are_dropped() {
        let t0 = Instant::now();
        let mut l = SourceLock::new(Some(a("203.0.113.5:4000")));
        // A stranger first, from another host: refused, and the window stays open.
        assert_eq!(
            l.handle_packet(a("198.51.100.9:5000"), OTHER, t0),
            Verdict::Drop { report: true }
        );
        assert_eq!(
            l.handle_packet(a("203.0.113.5:4000"), S, t0),
            Verdict::Accept
        );
        assert_eq!(
            l.handle_packet(a("198.51.100.9:5000"), OTHER, t0),
            Verdict::Drop { report: false },
            "reported once"
        );
        // Same host, another port, after the window closed: refused.
        assert_eq!(
            l.handle_packet(a("203.0.113.5:4002"), OTHER, t0),
            Verdict::Drop { report: true }
        );
        assert_eq!(l.dropped(), 3);
        assert_eq!(l.latched(), None);
        assert!(!l.follows_source());
    }

    #[test]
    fn public_sdp_never_latches_another_host() {
        let t0 = Instant::now();
        let mut l = SourceLock::new(Some(a("203.0.113.5:4000")));
        for i in 0..10 {
            let v = l.handle_packet(a("198.51.100.9:5000"), S, t0 + Duration::from_secs(i));
            assert!(matches!(v, Verdict::Drop { .. }), "{v:?}");
        }
        // Loopback is not private use either.
        let mut l = SourceLock::new(Some(a("127.0.0.1:4000")));
        assert!(matches!(
            l.handle_packet(a("127.0.0.2:4000"), S, t0),
            Verdict::Drop { .. }
        ));
    }

    #[test]
    fn same_ip_other_port_latches_in_the_window_then_locks() {
        let t0 = Instant::now();
        // SIPp, or a phone that sends from another socket than it receives on.
        let mut l = SourceLock::new(Some(a("127.0.0.1:20060")));
        assert_eq!(
            l.handle_packet(a("127.0.0.1:20080"), S, t0),
            Verdict::Learned
        );
        assert_eq!(l.latched(), Some(a("127.0.0.1:20080")));
        assert_eq!(
            l.handle_packet(a("127.0.0.1:20080"), S, t0),
            Verdict::Accept
        );
        // We keep sending where the SDP asked.
        assert!(!l.follows_source());
        // The stranger on another port of the same host, even with the caller's SSRC
        // while the caller talks: refused.
        let t1 = t0 + Duration::from_millis(20);
        assert_eq!(
            l.handle_packet(a("127.0.0.1:39510"), S, t1),
            Verdict::Drop { report: true }
        );
        assert_eq!(
            l.handle_packet(a("127.0.0.1:39510"), OTHER, t1 + RELEARN_AFTER * 10),
            Verdict::Drop { report: false },
            "another SSRC never re-learns"
        );
        // The SDP address itself stays trusted.
        assert_eq!(
            l.handle_packet(a("127.0.0.1:20060"), S, t1),
            Verdict::Accept
        );
    }

    #[test]
    fn no_sdp_address_latches_the_first_source() {
        let t0 = Instant::now();
        for sdp in [None, Some(a("0.0.0.0:4000")), Some(a("10.0.0.1:0"))] {
            let mut l = SourceLock::new(sdp);
            assert_eq!(l.sdp(), None);
            assert_eq!(
                l.handle_packet(a("198.51.100.9:5000"), S, t0),
                Verdict::Learned
            );
            assert!(l.follows_source());
            assert!(matches!(
                l.handle_packet(a("198.51.100.10:5000"), OTHER, t0),
                Verdict::Drop { report: true }
            ));
        }
    }

    #[test]
    fn private_sdp_behind_nat_latches_the_public_source() {
        let t0 = Instant::now();
        let mut l = SourceLock::new(Some(a("192.168.1.20:4000")));
        assert_eq!(
            l.handle_packet(a("198.51.100.9:61000"), S, t0),
            Verdict::Learned
        );
        assert!(l.follows_source(), "answer to the NAT's address");
        assert!(matches!(
            l.handle_packet(a("198.51.100.66:61000"), OTHER, t0),
            Verdict::Drop { .. }
        ));
        // On a LAN the packets come from the SDP address itself: no latch needed.
        let mut l = SourceLock::new(Some(a("192.168.1.20:4000")));
        assert_eq!(
            l.handle_packet(a("192.168.1.20:4000"), S, t0),
            Verdict::Accept
        );
        assert!(!l.follows_source());
        assert!(matches!(
            l.handle_packet(a("198.51.100.9:61000"), S, t0),
            Verdict::Drop { .. }
        ));
    }

    #[test]
    fn relearns_only_with_the_same_ssrc_after_a_silence() {
        let t0 = Instant::now();
        let mut l = SourceLock::new(Some(a("10.1.2.3:4000")));
        assert_eq!(
            l.handle_packet(a("198.51.100.9:61000"), S, t0),
            Verdict::Learned
        );
        let moved = a("198.51.100.9:62000");
        // Too soon: the stream is live.
        let soon = t0 + RELEARN_AFTER - Duration::from_millis(1);
        assert!(matches!(
            l.handle_packet(moved, S, soon),
            Verdict::Drop { .. }
        ));
        // Long enough, but another SSRC.
        let later = t0 + RELEARN_AFTER;
        assert!(matches!(
            l.handle_packet(moved, OTHER, later),
            Verdict::Drop { .. }
        ));
        // Same SSRC after the pause: the NAT re-mapped the caller.
        assert_eq!(l.handle_packet(moved, S, later), Verdict::Learned);
        assert_eq!(l.latched(), Some(moved));
        // The old mapping is no longer trusted.
        assert!(matches!(
            l.handle_packet(a("198.51.100.9:61000"), S, later),
            Verdict::Drop { .. }
        ));
    }

    #[test]
    fn renegotiation_follows_the_new_address() {
        let t0 = Instant::now();
        let mut l = SourceLock::new(Some(a("203.0.113.5:4000")));
        assert_eq!(
            l.handle_packet(a("203.0.113.5:4002"), S, t0),
            Verdict::Learned
        );
        // A refresh repeating the address, and a hold without one: nothing changes.
        l.update(Some(a("203.0.113.5:4000")));
        l.update(None);
        l.update(Some(a("0.0.0.0:4000")));
        assert_eq!(l.sdp(), Some(a("203.0.113.5:4000")));
        assert_eq!(l.latched(), Some(a("203.0.113.5:4002")));
        assert_eq!(
            l.handle_packet(a("203.0.113.5:4002"), S, t0),
            Verdict::Accept
        );
        assert!(matches!(
            l.handle_packet(a("198.51.100.9:5000"), S, t0),
            Verdict::Drop { .. }
        ));
        // The caller moves: the old addresses are refused, the new one accepted.
        l.update(Some(a("198.51.100.20:7000")));
        assert_eq!(l.latched(), None);
        assert!(matches!(
            l.handle_packet(a("203.0.113.5:4000"), S, t0),
            Verdict::Drop { .. }
        ));
        assert!(matches!(
            l.handle_packet(a("203.0.113.5:4002"), S, t0),
            Verdict::Drop { .. }
        ));
        assert_eq!(
            l.handle_packet(a("198.51.100.20:7000"), S, t0),
            Verdict::Accept
        );
    }

    #[test]
    fn reports_a_bounded_number_of_sources() {
        let t0 = Instant::now();
        let mut l = SourceLock::new(Some(a("203.0.113.5:4000")));
        let mut reports = 0;
        for port in 0..1000u16 {
            for _ in 0..3 {
                if l.handle_packet(a(&format!("198.51.100.9:{}", 10_000 + port)), S, t0)
                    == (Verdict::Drop { report: true })
                {
                    reports += 1;
                }
            }
        }
        assert_eq!(reports, MAX_REPORTED);
        assert_eq!(l.dropped(), 3000);
    }

    #[test]
    fn mapped_ipv6_matches_ipv4() {
        let t0 = Instant::now();
        let mut l = SourceLock::new(Some(a("203.0.113.5:4000")));
        assert_eq!(
            l.handle_packet(a("[::ffff:203.0.113.5]:4000"), S, t0),
            Verdict::Accept
        );
    }

    #[test]
    fn private_use_ranges() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.1.1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.1.1",
        ] {
            assert!(is_private_use(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2001:db8::1",
            "::1",
        ] {
            assert!(!is_private_use(ip.parse().unwrap()), "{ip}");
        }
    }
}
