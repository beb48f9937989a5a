//! Audio helpers: G.711 µ-law, test tones, and the measures the tests assert on
//! (RMS level, share of power at one frequency), plus reading a recorded WAV.

use std::f64::consts::PI;
use std::path::Path;

/// Sample rate of everything here (G.711 narrowband).
pub const RATE: u32 = 8000;

/// G.711 µ-law encoding of one 16-bit linear sample.
pub fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// G.711 µ-law decoding to a 16-bit linear sample.
pub fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// `n` samples of a sine at `freq` Hz and `amplitude` (peak), starting at sample `offset`
/// (so consecutive chunks join without a phase jump).
pub fn tone(freq: f64, amplitude: f64, offset: usize, n: usize) -> Vec<i16> {
    (offset..offset + n)
        .map(|i| (amplitude * (2.0 * PI * freq * i as f64 / f64::from(RATE)).sin()) as i16)
        .collect()
}

/// Root mean square of the samples (0 for none).
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// Share (0..=1) of the signal's power that lies at `freq` Hz, by a Goertzel filter over
/// blocks of 400 samples (20 Hz bins, so 1 kHz sits exactly on a bin) compared with the
/// blocks' total power. Silent blocks add nothing to either side.
pub fn power_share_at(samples: &[i16], freq: f64) -> f64 {
    const N: usize = 400;
    let coeff = 2.0 * (2.0 * PI * freq / f64::from(RATE)).cos();
    let (mut at, mut total) = (0.0, 0.0);
    for block in samples.chunks_exact(N) {
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        let mut energy = 0.0;
        for &x in block {
            let x = f64::from(x);
            energy += x * x;
            let s0 = x + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        // |X(k)|^2; a pure sine of amplitude A on the bin gives (A N / 2)^2, and its block
        // energy is A^2 N / 2, so the share is |X|^2 * 2 / N / energy.
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        at += power * 2.0 / N as f64;
        total += energy;
    }
    if total == 0.0 {
        0.0
    } else {
        at / total
    }
}

/// A WAV file as read back from disk.
#[derive(Debug)]
pub struct Wav {
    pub spec: hound::WavSpec,
    pub samples: Vec<i16>,
}

impl Wav {
    /// Reads a 16-bit PCM WAV (panics with the path on any error: the header must be final).
    pub fn read(path: &Path) -> Wav {
        let mut reader = hound::WavReader::open(path)
            .unwrap_or_else(|e| panic!("cannot open WAV {}: {e}", path.display()));
        let spec = reader.spec();
        let samples = reader
            .samples::<i16>()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("cannot read samples of {}: {e}", path.display()));
        Wav { spec, samples }
    }

    /// Length in seconds.
    pub fn secs(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.spec.sample_rate) / f64::from(self.spec.channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_round_trip_is_close() {
        assert_eq!(ulaw_encode(0), 0xFF);
        for s in [-32_000i16, -1000, -5, 0, 5, 1000, 32_000] {
            let back = ulaw_decode(ulaw_encode(s));
            assert!((i32::from(back) - i32::from(s)).abs() <= i32::from(s).abs() / 16 + 8);
        }
    }

    #[test]
    fn goertzel_finds_the_tone() {
        let t = tone(1000.0, 8000.0, 0, 8000);
        assert!(power_share_at(&t, 1000.0) > 0.9);
        assert!(power_share_at(&tone(400.0, 8000.0, 0, 8000), 1000.0) < 0.05);
        assert!((rms(&t) - 8000.0 / 2f64.sqrt()).abs() < 50.0);
    }
}
