//! Prompts: audio clips decoded once at start, kept pre-encoded, shared by every call.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{Codec, CLOCK_RATE, FRAME_SAMPLES};

/// Why a prompt could not be loaded. The messages name the file, because an operator
/// reading `hotline check-config` output has to find and replace it.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The file could not be opened or is not a readable WAV.
    #[error("{path}: cannot read WAV: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What `hound` reported.
        source: hound::Error,
    },
    /// The WAV is readable but not 8000 Hz, mono, 16-bit integer PCM.
    #[error("{path}: {property} is {found}, prompts must be {expected}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The wrong property: "sample rate", "channels", "sample format".
        property: &'static str,
        /// What the file has.
        found: String,
        /// What we need.
        expected: &'static str,
    },
    /// The prompt directory could not be listed.
    #[error("{path}: cannot list prompt directory: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A decoded clip: 8 kHz mono 16-bit samples, plus its PCMU and PCMA encodings cut into
/// 160-byte frames (the last one padded with silence), so sending a frame is a slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    samples: Box<[i16]>,
    pcmu: Box<[u8]>,
    pcma: Box<[u8]>,
}

impl Prompt {
    /// Builds a prompt from 8 kHz mono samples.
    pub fn from_samples(samples: Vec<i16>) -> Prompt {
        let padded_len = samples.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES;
        let encode = |codec: Codec| {
            let mut out = Vec::with_capacity(padded_len);
            codec.encode(&samples, &mut out);
            out.resize(padded_len, codec.silence_byte());
            out.into_boxed_slice()
        };
        Prompt {
            pcmu: encode(Codec::Pcmu),
            pcma: encode(Codec::Pcma),
            samples: samples.into_boxed_slice(),
        }
    }

    /// Loads a WAV file, refusing anything but 8000 Hz, 1 channel, 16-bit integer PCM:
    /// resampling at load time would hide a wrong file from the operator.
    pub fn from_wav(path: impl AsRef<Path>) -> Result<Prompt, PromptError> {
        let path = path.as_ref();
        let read_err = |source| PromptError::Read {
            path: path.to_path_buf(),
            source,
        };
        let reader = hound::WavReader::open(path).map_err(read_err)?;
        let spec = reader.spec();
        let wrong = |property, found: String, expected| PromptError::Format {
            path: path.to_path_buf(),
            property,
            found,
            expected,
        };
        if spec.sample_rate != CLOCK_RATE {
            return Err(wrong(
                "sample rate",
                format!("{} Hz", spec.sample_rate),
                "8000 Hz",
            ));
        }
        if spec.channels != 1 {
            return Err(wrong("channels", spec.channels.to_string(), "1 (mono)"));
        }
        if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
            let kind = match spec.sample_format {
                hound::SampleFormat::Int => "integer",
                hound::SampleFormat::Float => "float",
            };
            return Err(wrong(
                "sample format",
                format!("{}-bit {kind}", spec.bits_per_sample),
                "16-bit integer",
            ));
        }
        let samples = reader
            .into_samples::<i16>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(read_err)?;
        Ok(Prompt::from_samples(samples))
    }

    /// A sine tone (beeps, "after the tone"); `amplitude` is a fraction of full scale.
    pub fn tone(freq_hz: f32, ms: u32, amplitude: f32) -> Prompt {
        let n = ms as usize * CLOCK_RATE as usize / 1000;
        let peak = amplitude.clamp(0.0, 1.0) * f32::from(i16::MAX);
        let w = 2.0 * std::f32::consts::PI * freq_hz / CLOCK_RATE as f32;
        Prompt::from_samples(
            (0..n)
                .map(|i| ((w * i as f32).sin() * peak) as i16)
                .collect(),
        )
    }

    /// Digital silence (pauses between clips).
    pub fn silence(ms: u32) -> Prompt {
        Prompt::from_samples(vec![0; ms as usize * CLOCK_RATE as usize / 1000])
    }

    /// The linear samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Number of 20 ms frames.
    pub fn frame_count(&self) -> usize {
        self.pcmu.len() / FRAME_SAMPLES
    }

    /// Frame `i` encoded for `codec` (160 bytes), or `None` past the end.
    pub fn frame(&self, codec: Codec, i: usize) -> Option<&[u8]> {
        let data = match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        };
        data.get(i * FRAME_SAMPLES..(i + 1) * FRAME_SAMPLES)
    }

    /// Playing time of the unpadded clip.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples.len() as u64 * 1_000_000 / u64::from(CLOCK_RATE))
    }
}

/// All prompts of one language, by name (the file stem: `prompts/zh/welcome.wav` is
/// `welcome`), loaded once and shared through `Arc`.
#[derive(Debug, Clone, Default)]
pub struct PromptStore {
    prompts: HashMap<String, Arc<Prompt>>,
}

/// Another name for [`PromptStore`].
pub type PromptSet = PromptStore;

impl PromptStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every `*.wav` in `dir` (not recursive). Any bad file fails the whole load, so
    /// a broken prompt is found at start, not during a call.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<PromptStore, PromptError> {
        let dir = dir.as_ref();
        let dir_err = |source| PromptError::Dir {
            path: dir.to_path_buf(),
            source,
        };
        let mut store = PromptStore::new();
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(dir_err)? {
            let path = entry.map_err(dir_err)?.path();
            let is_wav = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
            if is_wav && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        for path in paths {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let name = name.to_string();
            store.insert(name, Prompt::from_wav(&path)?);
        }
        Ok(store)
    }

    /// Adds or replaces a prompt.
    pub fn insert(&mut self, name: impl Into<String>, prompt: Prompt) {
        self.prompts.insert(name.into(), Arc::new(prompt));
    }

    /// The prompt called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Prompt>> {
        self.prompts.get(name).cloned()
    }

    /// Whether a prompt called `name` exists (config validation).
    pub fn contains(&self, name: &str) -> bool {
        self.prompts.contains_key(name)
    }

    /// Names of all prompts, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.prompts.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Number of prompts.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, channels: u16, bits: u16, fmt: hound::SampleFormat) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: fmt,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..400 * u32::from(channels) {
            match (fmt, bits) {
                (hound::SampleFormat::Float, _) => w.write_sample(0.1f32).unwrap(),
                (_, 8) => w.write_sample((i % 100) as i8).unwrap(),
                _ => w.write_sample((i as i16) * 10).unwrap(),
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn loads_good_wav_and_frames_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("welcome.wav");
        write_wav(&p, 8000, 1, 16, hound::SampleFormat::Int);
        let prompt = Prompt::from_wav(&p).unwrap();
        assert_eq!(prompt.samples().len(), 400);
        assert_eq!(prompt.samples()[3], 30);
        assert_eq!(prompt.frame_count(), 3);
        assert_eq!(prompt.duration(), Duration::from_millis(50));
        let last = prompt.frame(Codec::Pcmu, 2).unwrap();
        assert_eq!(last.len(), 160);
        assert!(last[80..].iter().all(|&b| b == 0xFF), "padded with silence");
        assert!(prompt.frame(Codec::Pcma, 2).unwrap()[80..]
            .iter()
            .all(|&b| b == 0xD5));
        assert!(prompt.frame(Codec::Pcmu, 3).is_none());
        let mut dec = Vec::new();
        Codec::Pcmu.decode(prompt.frame(Codec::Pcmu, 0).unwrap(), &mut dec);
        assert_eq!(dec[0], 0);
    }

    #[test]
    fn refuses_wrong_formats_naming_file_and_property() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "wide.wav",
                16000,
                1,
                16,
                hound::SampleFormat::Int,
                "sample rate",
            ),
            (
                "stereo.wav",
                8000,
                2,
                16,
                hound::SampleFormat::Int,
                "channels",
            ),
            (
                "eight.wav",
                8000,
                1,
                8,
                hound::SampleFormat::Int,
                "sample format",
            ),
            (
                "float.wav",
                8000,
                1,
                32,
                hound::SampleFormat::Float,
                "sample format",
            ),
        ];
        for (name, rate, ch, bits, fmt, property) in cases {
            let p = dir.path().join(name);
            write_wav(&p, rate, ch, bits, fmt);
            let err = Prompt::from_wav(&p).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(name), "{msg}");
            assert!(msg.contains(property), "{msg}");
        }
        let msg = Prompt::from_wav(dir.path().join("missing.wav"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("missing.wav"), "{msg}");
    }

    #[test]
    fn store_loads_directory_by_stem() {
        let dir = tempfile::tempdir().unwrap();
        write_wav(
            &dir.path().join("welcome.wav"),
            8000,
            1,
            16,
            hound::SampleFormat::Int,
        );
        write_wav(
            &dir.path().join("menu.WAV"),
            8000,
            1,
            16,
            hound::SampleFormat::Int,
        );
        std::fs::write(dir.path().join("README.txt"), "not audio").unwrap();
        let store = PromptStore::load_dir(dir.path()).unwrap();
        assert_eq!(store.names(), vec!["menu", "welcome"]);
        let a = store.get("welcome").unwrap();
        let b = store.get("welcome").unwrap();
        assert!(Arc::ptr_eq(&a, &b), "shared, not copied");
        assert!(store.get("nope").is_none());

        write_wav(
            &dir.path().join("bad.wav"),
            44100,
            1,
            16,
            hound::SampleFormat::Int,
        );
        let msg = PromptStore::load_dir(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("bad.wav") && msg.contains("44100"), "{msg}");
    }

    #[test]
    fn tone_and_silence() {
        let t = Prompt::tone(1000.0, 100, 0.5);
        assert_eq!(t.samples().len(), 800);
        assert_eq!(t.frame_count(), 5);
        let peak = t.samples().iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((16000..=16384).contains(&peak), "{peak}");
        let s = Prompt::silence(30);
        assert_eq!(s.samples().len(), 240);
        assert_eq!(s.frame_count(), 2);
        assert!(s.frame(Codec::Pcma, 1).unwrap().iter().all(|&b| b == 0xD5));
    }
}
