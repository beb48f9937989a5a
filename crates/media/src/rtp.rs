//! RTP packets: parsing received datagrams and numbering the ones we send.
//!
//! Parsing and building go through `rtp-rs`; this module adds the newtype ids and the
//! sender's numbering rules (RFC 3550 §5.1, RFC 3551 §4.1).

use rand::Rng;
use rtp_rs::{RtpPacketBuilder, RtpReader};

/// Synchronization source identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ssrc(pub u32);

/// RTP sequence number (wraps at 2^16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seq(pub u16);

/// RTP payload type (7 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pt(pub u8);

/// A received RTP packet, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Payload type.
    pub pt: Pt,
    /// Sequence number.
    pub seq: Seq,
    /// Media timestamp in clock-rate units.
    pub timestamp: u32,
    /// Sender's SSRC.
    pub ssrc: Ssrc,
    /// Marker bit (start of a talkspurt for audio, start of an event for DTMF).
    pub marker: bool,
    /// Payload without header, extension or padding.
    pub payload: &'a [u8],
}

/// Parses a datagram as RTP version 2; anything malformed is `None`, never a panic.
///
/// RTCP sharing the port (RFC 5761, payload types 72–76 with the marker bit) is
/// rejected too, so it is never mistaken for audio.
pub fn parse(datagram: &[u8]) -> Option<RtpPacket<'_>> {
    let r = RtpReader::new(datagram).ok()?;
    if (72..=76).contains(&r.payload_type()) {
        return None;
    }
    Some(RtpPacket {
        pt: Pt(r.payload_type()),
        seq: Seq(r.sequence_number().into()),
        timestamp: r.timestamp(),
        ssrc: Ssrc(r.ssrc()),
        marker: r.mark(),
        payload: r.payload(),
    })
}

/// Numbering state of one outgoing RTP stream.
///
/// SSRC, first sequence number and first timestamp are random (RFC 3550 §5.1, to make
/// known-plaintext attacks and SSRC collisions unlikely). The sequence number grows by one
/// per packet sent; the timestamp is set by the caller from wall time (see
/// [`RtpSender::set_frame`]) so that it keeps advancing across silence, as RFC 3551 asks.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: Ssrc,
    next_seq: Seq,
    ts_base: u32,
    timestamp: u32,
    marker_pending: bool,
}

impl Default for RtpSender {
    fn default() -> Self {
        Self::new()
    }
}

impl RtpSender {
    /// A sender with random SSRC, sequence number and timestamp origin.
    pub fn new() -> Self {
        let mut rng = rand::thread_rng();
        Self::with_initial(Ssrc(rng.gen()), Seq(rng.gen()), rng.gen())
    }

    /// A sender with chosen initial values (tests, reproducible captures).
    pub fn with_initial(ssrc: Ssrc, seq: Seq, timestamp: u32) -> Self {
        Self {
            ssrc,
            next_seq: seq,
            ts_base: timestamp,
            timestamp,
            marker_pending: true,
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    /// The sequence number the next packet will carry.
    pub fn next_seq(&self) -> Seq {
        self.next_seq
    }

    /// The timestamp the next packet will carry.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Marks the next packet as the first of a talkspurt (a new prompt playback).
    pub fn start_talkspurt(&mut self) {
        self.marker_pending = true;
    }

    /// Sets the media time of the next packet as a count of `samples_per_frame`-sample
    /// frames since the stream's origin; the caller derives `frame` from wall time.
    pub fn set_frame(&mut self, frame: u64, samples_per_frame: u32) {
        let offset = frame.wrapping_mul(u64::from(samples_per_frame)) as u32;
        self.timestamp = self.ts_base.wrapping_add(offset);
    }

    /// Writes the next packet into `out` (cleared first), then advances the sequence
    /// number and the timestamp by `samples` (one frame's worth).
    pub fn build(&mut self, pt: Pt, payload: &[u8], samples: u32, out: &mut Vec<u8>) {
        let builder = RtpPacketBuilder::new()
            .payload_type(pt.0 & 0x7F)
            .ssrc(self.ssrc.0)
            .sequence(self.next_seq.0.into())
            .timestamp(self.timestamp)
            .marked(self.marker_pending)
            .payload(payload);
        out.clear();
        out.resize(builder.target_length(), 0);
        let n = builder.build_into_unchecked(out);
        out.truncate(n);
        self.marker_pending = false;
        self.next_seq = Seq(self.next_seq.0.wrapping_add(1));
        self.timestamp = self.timestamp.wrapping_add(samples);
    }
}

impl RtpSender {
    /// Writes a packet with an explicit `timestamp` and `marker` into `out` (cleared
    /// first) and advances only the sequence number: for telephone-events, whose packets
    /// all carry the event's start time while audio numbering goes on around them.
    pub fn build_at(
        &mut self,
        pt: Pt,
        payload: &[u8],
        timestamp: u32,
        marker: bool,
        out: &mut Vec<u8>,
    ) {
        let builder = RtpPacketBuilder::new()
            .payload_type(pt.0 & 0x7F)
            .ssrc(self.ssrc.0)
            .sequence(self.next_seq.0.into())
            .timestamp(timestamp)
            .marked(marker)
            .payload(payload);
        out.clear();
        out.resize(builder.target_length(), 0);
        let n = builder.build_into_unchecked(out);
        out.truncate(n);
        self.next_seq = Seq(self.next_seq.0.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_parse() {
        let mut s = RtpSender::with_initial(Ssrc(0x1234_5678), Seq(65535), u32::MAX - 100);
        let mut buf = Vec::new();
        s.build(Pt(0), &[0xFF; 160], 160, &mut buf);
        assert_eq!(buf.len(), 12 + 160);
        let p = parse(&buf).unwrap();
        assert_eq!(p.pt, Pt(0));
        assert_eq!(p.seq, Seq(65535));
        assert_eq!(p.timestamp, u32::MAX - 100);
        assert_eq!(p.ssrc, Ssrc(0x1234_5678));
        assert!(p.marker);
        assert_eq!(p.payload, &[0xFF; 160][..]);

        s.build(Pt(8), &[0xD5; 160], 160, &mut buf);
        let p = parse(&buf).unwrap();
        assert_eq!(p.seq, Seq(0), "sequence wraps");
        assert_eq!(p.timestamp, 59, "timestamp wraps");
        assert!(!p.marker, "marker only on the first packet of a talkspurt");
        assert_eq!(p.pt, Pt(8));

        s.start_talkspurt();
        s.build(Pt(8), &[0xD5; 160], 160, &mut buf);
        assert!(parse(&buf).unwrap().marker);
    }

    #[test]
    fn frame_time_sets_timestamp() {
        let mut s = RtpSender::with_initial(Ssrc(1), Seq(10), 1000);
        s.set_frame(0, 160);
        assert_eq!(s.timestamp(), 1000);
        s.set_frame(50, 160);
        assert_eq!(s.timestamp(), 1000 + 8000);
        let mut buf = Vec::new();
        s.build(Pt(0), &[0; 160], 160, &mut buf);
        assert_eq!(parse(&buf).unwrap().timestamp, 9000);
        assert_eq!(s.timestamp(), 9160);
        assert_eq!(s.next_seq(), Seq(11));
    }

    #[test]
    fn random_initial_values_differ() {
        let a = RtpSender::new();
        let b = RtpSender::new();
        assert!(a.ssrc() != b.ssrc() || a.next_seq() != b.next_seq());
    }

    #[test]
    fn garbage_never_panics() {
        assert!(parse(&[]).is_none());
        assert!(parse(&[0x80; 11]).is_none());
        assert!(parse(&[0x00; 20]).is_none(), "version 0");
        // Padding flag with a padding length larger than the packet.
        let mut p = vec![0xA0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 200];
        assert!(parse(&p).is_none());
        // Extension flag with a truncated extension.
        p = vec![0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9];
        assert!(parse(&p).is_none());
        // CSRC count larger than the packet.
        p = vec![0x8F, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
        assert!(parse(&p).is_none());
        // RTCP sender report on the RTP port.
        p = vec![0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(parse(&p).is_none());
        let mut x: u32 = 0x9E37_79B9;
        for len in 0..2000usize {
            let d: Vec<u8> = (0..len % 200)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x as u8 & 0x3F) | 0x80
                })
                .collect();
            let _ = parse(&d);
        }
    }
}
