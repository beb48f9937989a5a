//! Recording to WAV off the async runtime.
//!
//! The file is written by one of the process's writer threads ([`crate::writer`]), fed
//! through its bounded channel in fixed-size frames: disk writes (and a slow disk) never
//! stall the task that receives RTP, and pushing audio allocates nothing. When the
//! `Recorder` is finished or dropped the writer finalizes the WAV header, so a recording
//! cut short by a hang-up or an error path is still a valid file.
//!
//! A process killed outright (`kill -9`, power cut) finalizes nothing, so the header is
//! also kept true while the file grows: after at most [`FLUSH_SAMPLES`] of new audio, or
//! [`FLUSH_EVERY`] without any, the writer flushes its buffer and rewrites the RIFF and
//! data sizes (two 4-byte writes). At any instant the file plays up to about the last
//! second written; what lies past the header's size is audio the next start's recovery
//! (`hotline serve`) takes in from the file's length.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::CLOCK_RATE;
use crate::writer::{self, Data, Done, Frame, Job, WriterResult};
/// New samples (per channel) after which the header is brought up to date: one second,
/// what a crash may cost at most, for two small writes a second at most.
pub const FLUSH_SAMPLES: u64 = CLOCK_RATE as u64;
/// How long audio may sit unflushed when no more comes (a stalled stream).
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The WAV file.
    pub path: PathBuf,
    /// Audio length in milliseconds.
    pub duration_ms: u64,
    /// File size in bytes, header included.
    pub bytes: u64,
}

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// The file could not be created.
    #[error("{path}: cannot create recording: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// What `hound` reported.
        source: hound::Error,
    },
    /// Writing or finalizing failed (disk full, file removed…).
    #[error("{path}: recording write failed: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What `hound` reported.
        source: hound::Error,
    },
    /// The writer thread died (a bug).
    #[error("{path}: recording writer thread panicked")]
    WriterPanicked {
        /// The file.
        path: PathBuf,
    },
}

/// Writes 8 kHz mono 16-bit PCM to a WAV file on a writer thread.
pub struct Recorder {
    path: PathBuf,
    writer: Option<writer::Handle>,
    done: Arc<Done>,
    dropped_samples: u64,
}

impl Recorder {
    /// Creates the file and hands it to a writer thread.
    ///
    /// The file is opened and its 44-byte header written on the caller's thread (so a bad
    /// path is reported at once); every later write happens on the writer thread.
    pub fn create(path: impl AsRef<Path>) -> Result<Recorder, RecorderError> {
        let path = path.as_ref().to_path_buf();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: CLOCK_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        // Flushed at once: the header is on disk (a valid empty WAV) before any audio.
        let writer = hound::WavWriter::create(&path, spec)
            .and_then(|mut w| w.flush().map(|()| w))
            .map_err(|source| RecorderError::Create {
                path: path.clone(),
                source,
            })?;
        let job = Mono {
            writer,
            path: path.clone(),
            samples: 0,
            flushed: 0,
            flushed_at: Instant::now(),
            failed: None,
        };
        let (handle, done) =
            writer::open(Box::new(job), path.clone()).map_err(|path| RecorderError::Create {
                path,
                source: hound::Error::IoError(std::io::Error::other("no recording writer")),
            })?;
        Ok(Recorder {
            path,
            writer: Some(handle),
            done,
            dropped_samples: 0,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues samples; never blocks, never allocates. If the writer is more than its queue
    /// behind, the samples are dropped and counted (see [`Recorder::dropped_samples`]).
    pub fn push(&mut self, samples: &[i16]) {
        for f in Frame::split(samples) {
            self.send(Data::Frame(f), f.samples().len());
        }
    }

    /// Queues `n` samples of silence (a gap in the received stream); never blocks.
    pub fn push_silence(&mut self, n: u32) {
        if n > 0 {
            self.send(Data::Silence(n), n as usize);
        }
    }

    fn send(&mut self, d: Data, n: usize) {
        let Some(w) = &self.writer else { return };
        if !w.send(d) {
            if self.dropped_samples == 0 {
                tracing::warn!(path = %self.path.display(), "recorder behind, dropping audio");
            }
            self.dropped_samples += n as u64;
        }
    }

    /// Samples lost because the writer could not keep up or failed.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped_samples
    }

    /// Finalizes the file, blocking until the writer is done. For synchronous callers;
    /// inside the async runtime use [`Recorder::finish_async`].
    pub fn finish(mut self) -> Result<RecordingInfo, RecorderError> {
        self.writer = None; // closes
        self.done.wait()
    }

    /// Finalizes the file without blocking the runtime: the writer reports back when done.
    pub async fn finish_async(mut self) -> Result<RecordingInfo, RecorderError> {
        self.writer = None; // closes
        self.done.wait_async().await
    }
}

impl Drop for Recorder {
    /// Closing is enough: the writer writes what is queued, fixes the header and reports to
    /// nobody, so dropping never waits on the disk.
    fn drop(&mut self) {
        self.writer = None;
    }
}

/// A mono recording on its writer thread.
struct Mono {
    writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
    samples: u64,
    /// Samples the header counted at its last update, and when.
    flushed: u64,
    flushed_at: Instant,
    /// The first error; later audio is ignored, the error reported at the end.
    failed: Option<hound::Error>,
}

impl Mono {
    fn flush(&mut self, now: Instant) {
        self.flushed = self.samples;
        self.flushed_at = now;
        if let Err(e) = self.writer.flush() {
            self.failed = Some(e);
        }
    }
}

impl Job for Mono {
    fn data(&mut self, d: Data) {
        if self.failed.is_some() {
            return;
        }
        let r = match d {
            Data::Frame(f) => {
                self.samples += f.samples().len() as u64;
                f.samples()
                    .iter()
                    .try_for_each(|&s| self.writer.write_sample(s))
            }
            Data::Silence(n) => {
                self.samples += u64::from(n);
                (0..n).try_for_each(|_| self.writer.write_sample(0i16))
            }
        };
        if let Err(e) = r {
            self.failed = Some(e);
        } else if self.samples - self.flushed >= FLUSH_SAMPLES {
            self.flush(Instant::now());
        }
    }

    fn tick(&mut self, now: Instant) {
        if self.failed.is_none()
            && self.samples > self.flushed
            && now.saturating_duration_since(self.flushed_at) >= FLUSH_EVERY
        {
            self.flush(now);
        }
    }

    fn finish(self: Box<Self>) -> WriterResult {
        let Mono {
            writer,
            path,
            samples,
            failed,
            ..
        } = *self;
        finish_wav(writer, path, samples, failed)
    }
}

/// Finalizes a WAV file (mono or stereo) written by the writer pool: its header, then
/// its size on disk. `failed` is an earlier write error, reported first; `frames` the
/// samples per channel written.
pub(crate) fn finish_wav(
    writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
    frames: u64,
    failed: Option<hound::Error>,
) -> WriterResult {
    let werr = |source| RecorderError::Write {
        path: path.clone(),
        source,
    };
    let finalized = writer.finalize();
    if let Some(e) = failed {
        return Err(werr(e));
    }
    finalized.map_err(werr)?;
    let bytes = std::fs::metadata(&path)
        .map_err(|e| werr(hound::Error::IoError(e)))?
        .len();
    Ok(RecordingInfo {
        duration_ms: frames * 1000 / u64::from(CLOCK_RATE),
        path,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn read_back(path: &Path) -> (hound::WavSpec, Vec<i16>) {
        let r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        (spec, r.into_samples::<i16>().map(Result::unwrap).collect())
    }

    #[test]
    fn writes_samples_and_reports_duration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vm.wav");
        let mut rec = Recorder::create(&path).unwrap();
        let frame: Vec<i16> = (0..160).map(|i| i * 100).collect();
        for _ in 0..50 {
            rec.push(&frame);
        }
        rec.push_silence(800);
        let info = rec.finish().unwrap();
        assert_eq!(info.path, path);
        assert_eq!(info.duration_ms, 1100);
        assert_eq!(info.bytes, 44 + 2 * 8800);
        let (spec, samples) = read_back(&path);
        assert_eq!(
            (spec.sample_rate, spec.channels, spec.bits_per_sample),
            (8000, 1, 16)
        );
        assert_eq!(samples.len(), 8800);
        assert_eq!(&samples[..160], &frame[..]);
        assert!(samples[8000..].iter().all(|&s| s == 0));
    }

    #[tokio::test]
    async fn finish_async_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let mut rec = Recorder::create(&path).unwrap();
        rec.push(&[1, 2, 3]);
        let info = rec.finish_async().await.unwrap();
        assert_eq!(info.bytes, 50);
        assert_eq!(read_back(&path).1, vec![1, 2, 3]);
    }

    #[test]
    fn dropped_recorder_still_has_valid_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dropped.wav");
        let mut rec = Recorder::create(&path).unwrap();
        rec.push(&[7; 1600]);
        drop(rec);
        // The writer thread finalizes in the background; wait for it.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let ok = hound::WavReader::open(&path)
                .map(|r| r.len() == 1600)
                .unwrap_or(false);
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "header never fixed");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(read_back(&path).1, vec![7; 1600]);
    }

    /// A crash (the recorder never finished nor dropped: its writer keeps it open) leaves a
    /// file that parses, with every sample pushed once the flush interval has passed.
    #[test]
    fn unfinished_recorder_keeps_a_valid_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crash.wav");
        let mut rec = Recorder::create(&path).unwrap();
        let frame: Vec<i16> = (0..160).map(|i| i * 7).collect();
        for _ in 0..130 {
            rec.push(&frame); // 2.6 s: two flushes by size, the rest by time
        }
        std::mem::forget(rec);
        let total = 130 * 160;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            // Parses at every instant, with at most a flush interval missing.
            let r = hound::WavReader::open(&path).expect("header valid while recording");
            let len = r.len() as usize;
            assert!(len <= total);
            if len == total {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "stuck at {len} of {total} samples"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let (_, samples) = read_back(&path);
        assert_eq!(&samples[..160], &frame[..]);
        assert_eq!(&samples[total - 160..], &frame[..]);
    }

    /// Many recordings at once share the fixed pool of writer threads, each file intact.
    #[test]
    fn many_recordings_share_the_writer_threads() {
        let dir = tempfile::tempdir().unwrap();
        let mut recs: Vec<Recorder> = (0..50)
            .map(|i| Recorder::create(dir.path().join(format!("{i}.wav"))).unwrap())
            .collect();
        for round in 0..20 {
            for (i, rec) in recs.iter_mut().enumerate() {
                rec.push(&[i as i16 * 10 + round; 160]);
            }
        }
        let writers = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
            .filter(|comm| comm.starts_with("rec-writer"))
            .count();
        assert!(
            writers <= crate::writer::WRITERS,
            "{writers} writer threads"
        );
        for (i, rec) in recs.drain(..).enumerate() {
            assert_eq!(rec.dropped_samples(), 0);
            let info = rec.finish().unwrap();
            assert_eq!(info.duration_ms, 400);
            let samples = read_back(&info.path).1;
            assert_eq!(samples.len(), 3200);
            assert_eq!(samples[3199], i as i16 * 10 + 19);
        }
    }

    #[test]
    fn bad_path_is_an_error_naming_it() {
        let msg = Recorder::create("/nonexistent-dir/x.wav")
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("/nonexistent-dir/x.wav"), "{msg}");
    }
}
