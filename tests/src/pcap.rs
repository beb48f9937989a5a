//! Writes the caller's audio as a classic libpcap file for SIPp's `play_pcap_audio`.
//!
//! The capture holds one RTP stream, one packet every 20 ms: PCMU (payload type 0) audio
//! frames of 160 samples, and RFC 4733 telephone-events (payload type 101) for keys.
//! Frames are Ethernet/IPv4/UDP to 127.0.0.1 with correct lengths and IP checksum (UDP
//! checksum 0); SIPp rewrites addresses and ports to the call's media addresses and replays
//! the packets with the capture's timing.

use crate::audio::{tone, ulaw_encode};
use std::path::Path;

/// One stretch of the caller's audio.
#[derive(Debug, Clone, Copy)]
pub enum Segment {
    /// Silence (µ-law 0xFF frames) for this many milliseconds.
    Silence { ms: u32 },
    /// A sine at `freq` Hz for `ms` milliseconds, peak amplitude 10 000 (about -10 dBFS).
    Tone { freq: f64, ms: u32 },
    /// A key pressed for `ms` milliseconds, sent as RFC 4733 events: updates with a
    /// growing duration (marker on the first), then three end packets, all with the
    /// event's start timestamp.
    Key { key: char, ms: u32 },
}

/// Peak amplitude of [`Segment::Tone`].
pub const TONE_AMPLITUDE: f64 = 10_000.0;
/// Dynamic payload type used for telephone-event (as in the scenarios' SDP).
pub const TELEPHONE_EVENT_PT: u8 = 101;
const SAMPLES: usize = 160;
const SSRC: u32 = 0x1234_5678;

/// RFC 4733 event code of a key.
pub fn event_code(key: char) -> u8 {
    match key {
        '0'..='9' => key as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => key as u8 - b'A' + 12,
        _ => panic!("not a DTMF key: {key:?}"),
    }
}

/// Total length of the segments in milliseconds, as played.
pub fn duration_ms(segments: &[Segment]) -> u32 {
    let mut packets = 0;
    for s in segments {
        packets += match *s {
            Segment::Silence { ms } | Segment::Tone { ms, .. } => ms.div_ceil(20),
            Segment::Key { ms, .. } => ms.div_ceil(20) + 3,
        };
    }
    packets * 20
}

/// The RTP packets (payloads of UDP datagrams) of `segments`, each with its send time in
/// microseconds from the start.
pub fn rtp_packets(segments: &[Segment]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut seq: u16 = 1000;
    let mut slot: u32 = 0; // 20 ms slots since the start; the RTP clock follows it
    let mut tone_offset = 0usize;
    let ts_base: u32 = 16_000;
    let mut push = |out: &mut Vec<(u64, Vec<u8>)>,
                    slot: u32,
                    marker: bool,
                    pt: u8,
                    ts: u32,
                    payload: &[u8]| {
        let mut p = Vec::with_capacity(12 + payload.len());
        p.push(0x80);
        p.push(if marker { 0x80 } else { 0 } | pt);
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&SSRC.to_be_bytes());
        p.extend_from_slice(payload);
        out.push((u64::from(slot) * 20_000, p));
        seq = seq.wrapping_add(1);
    };
    let mut first = true;
    for s in segments {
        match *s {
            Segment::Silence { ms } => {
                for _ in 0..ms.div_ceil(20) {
                    let ts = ts_base + slot * SAMPLES as u32;
                    push(&mut out, slot, first, 0, ts, &[0xFF; SAMPLES]);
                    first = false;
                    slot += 1;
                }
            }
            Segment::Tone { freq, ms } => {
                for _ in 0..ms.div_ceil(20) {
                    let ts = ts_base + slot * SAMPLES as u32;
                    let payload: Vec<u8> = tone(freq, TONE_AMPLITUDE, tone_offset, SAMPLES)
                        .into_iter()
                        .map(ulaw_encode)
                        .collect();
                    tone_offset += SAMPLES;
                    push(&mut out, slot, first, 0, ts, &payload);
                    first = false;
                    slot += 1;
                }
            }
            Segment::Key { key, ms } => {
                let event = event_code(key);
                let ts = ts_base + slot * SAMPLES as u32;
                let n = ms.div_ceil(20).max(1);
                for k in 1..=n {
                    let duration = (k * SAMPLES as u32) as u16;
                    let payload = [event, 10, (duration >> 8) as u8, duration as u8];
                    push(&mut out, slot, k == 1, TELEPHONE_EVENT_PT, ts, &payload);
                    slot += 1;
                }
                let duration = (n * SAMPLES as u32) as u16;
                for _ in 0..3 {
                    let payload = [event, 0x80 | 10, (duration >> 8) as u8, duration as u8];
                    push(&mut out, slot, false, TELEPHONE_EVENT_PT, ts, &payload);
                    slot += 1;
                }
                first = false;
            }
        }
    }
    out
}

/// Writes `segments` as RTP in a pcap file at `path`.
pub fn write(path: &Path, segments: &[Segment]) {
    let mut file = Vec::new();
    // Global header: magic, version 2.4, zone 0, sigfigs 0, snaplen, link type Ethernet.
    file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    file.extend_from_slice(&2u16.to_le_bytes());
    file.extend_from_slice(&4u16.to_le_bytes());
    file.extend_from_slice(&0i32.to_le_bytes());
    file.extend_from_slice(&0u32.to_le_bytes());
    file.extend_from_slice(&65_535u32.to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes());
    let start_sec: u64 = 1_700_000_000;
    for (id, (at_us, rtp)) in rtp_packets(segments).into_iter().enumerate() {
        let frame = frame(id as u16, &rtp);
        file.extend_from_slice(&((start_sec + at_us / 1_000_000) as u32).to_le_bytes());
        file.extend_from_slice(&((at_us % 1_000_000) as u32).to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&frame);
    }
    std::fs::write(path, file).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// An Ethernet/IPv4/UDP frame 127.0.0.1:6000 -> 127.0.0.1:6002 carrying `payload`.
fn frame(ip_id: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 20 + 8 + payload.len());
    f.extend_from_slice(&[0, 0, 0, 0, 0, 2]); // destination MAC
    f.extend_from_slice(&[0, 0, 0, 0, 0, 1]); // source MAC
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&[127, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[127, 0, 0, 1]);
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&6000u16.to_be_bytes());
    f.extend_from_slice(&6002u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&0u16.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_updates_then_three_ends_with_one_timestamp() {
        let p = rtp_packets(&[
            Segment::Silence { ms: 40 },
            Segment::Key { key: '#', ms: 60 },
        ]);
        assert_eq!(p.len(), 2 + 3 + 3);
        let events = &p[2..];
        assert_eq!(
            events[0].1[1],
            0x80 | 101,
            "marker on the first event packet"
        );
        let ts: Vec<&[u8]> = events.iter().map(|(_, b)| &b[4..8]).collect();
        assert!(ts.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(events[5].1[12], 11);
        assert_eq!(events[5].1[13] & 0x80, 0x80);
        assert_eq!(p[7].0, 7 * 20_000);
        assert_eq!(
            duration_ms(&[
                Segment::Silence { ms: 40 },
                Segment::Key { key: '#', ms: 60 }
            ]),
            160
        );
    }

    #[test]
    fn ip_checksum_verifies() {
        let f = frame(1, &[1, 2, 3]);
        assert_eq!(checksum(&f[14..34]), 0);
        assert_eq!(f.len(), 14 + 20 + 8 + 3);
    }
}
