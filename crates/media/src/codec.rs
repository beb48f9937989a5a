//! The audio codecs we negotiate: G.711 µ-law (PCMU) and A-law (PCMA), 8 kHz.

use crate::g711;

/// RTP clock rate of both G.711 codecs (one tick per sample).
pub const CLOCK_RATE: u32 = 8000;
/// Samples in one 20 ms packet at 8 kHz; G.711 carries one byte per sample.
pub const FRAME_SAMPLES: usize = 160;
/// Packet time in milliseconds.
pub const PTIME_MS: u64 = 20;

/// A G.711 variant, identified on the wire by its static RTP payload type (RFC 3551).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, payload type 0.
    Pcmu,
    /// G.711 A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// Both codecs, in our order of preference for SDP offers.
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec for a static payload type, if it is one of ours.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The encoding name as written in SDP `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The codec for an SDP encoding name (case-insensitive, as RFC 4566 says).
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
    }

    /// RTP clock rate in Hz.
    pub fn clock_rate(self) -> u32 {
        CLOCK_RATE
    }

    /// Appends the encoding of `pcm` (one byte per sample) to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        let f = match self {
            Codec::Pcmu => g711::ulaw_encode,
            Codec::Pcma => g711::alaw_encode,
        };
        out.extend(pcm.iter().map(|&s| f(s)));
    }

    /// Appends the decoding of `payload` (one sample per byte) to `out`.
    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) {
        let table = self.decode_table();
        out.extend(payload.iter().map(|&b| table[usize::from(b)]));
    }

    /// The linear sample of every code byte, by code: decoding is a lookup per byte.
    pub fn decode_table(self) -> &'static [i16; 256] {
        match self {
            Codec::Pcmu => &g711::ULAW_TO_LINEAR,
            Codec::Pcma => &g711::ALAW_TO_LINEAR,
        }
    }

    /// The encoded byte for digital silence, used to pad the last frame of a prompt.
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => g711::ulaw_encode(0),
            Codec::Pcma => g711::alaw_encode(0),
        }
    }

    /// One 20 ms frame of digital silence, encoded: what a session sends while it has
    /// nothing to say (a constant, so sending it allocates nothing).
    pub fn silence_frame(self) -> &'static [u8] {
        match self {
            Codec::Pcmu => &PCMU_SILENCE,
            Codec::Pcma => &PCMA_SILENCE,
        }
    }
}

/// µ-law of 0 is 0xFF, A-law of 0 is 0xD5 (checked against the encoders in the tests).
const PCMU_SILENCE: [u8; FRAME_SAMPLES] = [0xFF; FRAME_SAMPLES];
const PCMA_SILENCE: [u8; FRAME_SAMPLES] = [0xD5; FRAME_SAMPLES];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_types_and_names() {
        for c in Codec::ALL {
            assert_eq!(Codec::from_payload_type(c.payload_type()), Some(c));
            assert_eq!(Codec::from_encoding_name(c.encoding_name()), Some(c));
            assert_eq!(c.clock_rate(), 8000);
        }
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::from_payload_type(101), None);
        assert_eq!(Codec::from_encoding_name("pcma"), Some(Codec::Pcma));
        assert_eq!(Codec::from_encoding_name("G729"), None);
    }

    #[test]
    fn encode_decode_round_trip_is_close() {
        let pcm: Vec<i16> = (0..FRAME_SAMPLES)
            .map(|i| ((i as f32 * 0.3).sin() * 12000.0) as i16)
            .collect();
        for c in Codec::ALL {
            let mut enc = Vec::new();
            c.encode(&pcm, &mut enc);
            assert_eq!(enc.len(), FRAME_SAMPLES);
            let mut dec = Vec::new();
            c.decode(&enc, &mut dec);
            assert_eq!(dec.len(), FRAME_SAMPLES);
            for (a, b) in pcm.iter().zip(&dec) {
                // G.711 step is at most 1/16 of the magnitude (plus a small floor).
                let err = (i32::from(*a) - i32::from(*b)).abs();
                assert!(err <= i32::from(a.unsigned_abs() / 16) + 16, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn silence_bytes() {
        assert_eq!(Codec::Pcmu.silence_byte(), 0xFF);
        assert_eq!(Codec::Pcma.silence_byte(), 0xD5);
        for c in Codec::ALL {
            let frame = c.silence_frame();
            assert_eq!(frame.len(), FRAME_SAMPLES);
            assert!(frame.iter().all(|&b| b == c.silence_byte()));
            let mut pcm = Vec::new();
            c.decode(frame, &mut pcm);
            // A-law has no zero: its quietest step decodes to ±8.
            assert!(pcm.iter().all(|&s| s.abs() <= 8), "{c:?} silence is silent");
        }
    }
}
