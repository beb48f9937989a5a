//! Recording to WAV off the async runtime.
//!
//! The file is written by a dedicated thread fed through a bounded channel: disk writes
//! (and a slow disk) never stall the task that paces RTP. When the `Recorder` is finished
//! or dropped the channel closes and the thread finalizes the WAV header, so a recording
//! cut short by a hang-up or an error path is still a valid file.
//!
//! A process killed outright (`kill -9`, power cut) finalizes nothing, so the header is
//! also kept true while the file grows: after at most [`FLUSH_SAMPLES`] of new audio, or
//! [`FLUSH_EVERY`] without any, the thread flushes its buffer and rewrites the RIFF and
//! data sizes (two 4-byte writes). At any instant the file plays up to about the last
//! second written; what lies past the header's size is audio the next start's recovery
//! (`hotline serve`) takes in from the file's length.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::codec::CLOCK_RATE;

/// Chunks the channel holds before `push` starts dropping audio (about 5 s of 20 ms
/// frames): bounded so a stuck disk cannot grow memory without limit.
const QUEUE_CHUNKS: usize = 256;
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

enum Chunk {
    Samples(Vec<i16>),
    Silence(u32),
}

type WriterResult = Result<RecordingInfo, RecorderError>;

/// Writes 8 kHz mono 16-bit PCM to a WAV file on its own thread.
pub struct Recorder {
    path: PathBuf,
    tx: Option<SyncSender<Chunk>>,
    thread: Option<JoinHandle<()>>,
    done: Option<tokio::sync::oneshot::Receiver<WriterResult>>,
    dropped_samples: u64,
}

impl Recorder {
    /// Creates the file and starts the writer thread.
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
        let (tx, rx) = mpsc::sync_channel(QUEUE_CHUNKS);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                // The receiver may be gone (finished by drop); the file is final anyway.
                let _ = done_tx.send(write_all(writer, rx, thread_path));
            })
            .map_err(|e| RecorderError::Create {
                path: path.clone(),
                source: hound::Error::IoError(e),
            })?;
        Ok(Recorder {
            path,
            tx: Some(tx),
            thread: Some(thread),
            done: Some(done_rx),
            dropped_samples: 0,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues samples; never blocks. If the writer is more than the queue behind, the
    /// samples are dropped and counted (see [`Recorder::dropped_samples`]).
    pub fn push(&mut self, samples: &[i16]) {
        if !samples.is_empty() {
            self.send(Chunk::Samples(samples.to_vec()), samples.len());
        }
    }

    /// Queues `n` samples of silence (a gap in the received stream); never blocks.
    pub fn push_silence(&mut self, n: u32) {
        if n > 0 {
            self.send(Chunk::Silence(n), n as usize);
        }
    }

    fn send(&mut self, chunk: Chunk, n: usize) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(chunk) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                if self.dropped_samples == 0 {
                    tracing::warn!(path = %self.path.display(), "recorder behind, dropping audio");
                }
                self.dropped_samples += n as u64;
            }
        }
    }

    /// Samples lost because the writer could not keep up or failed.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped_samples
    }

    /// Finalizes the file, blocking until the writer thread is done. For synchronous
    /// callers; inside the async runtime use [`Recorder::finish_async`].
    pub fn finish(mut self) -> Result<RecordingInfo, RecorderError> {
        self.tx = None;
        let thread = self.thread.take().expect("thread present until finish");
        let mut done = self.done.take().expect("receiver present until finish");
        let _ = thread.join();
        // After the join the writer has answered, unless it panicked.
        done.try_recv().unwrap_or_else(|_| {
            Err(RecorderError::WriterPanicked {
                path: self.path.clone(),
            })
        })
    }

    /// Finalizes the file without blocking the runtime: the writer thread reports back
    /// through a oneshot channel.
    pub async fn finish_async(mut self) -> Result<RecordingInfo, RecorderError> {
        self.tx = None;
        self.thread = None; // detached; it ends right after answering
        let done = self.done.take().expect("receiver present until finish");
        done.await.unwrap_or_else(|_| {
            Err(RecorderError::WriterPanicked {
                path: self.path.clone(),
            })
        })
    }
}

impl Drop for Recorder {
    /// Closing the channel is enough: the writer thread drains it, fixes the header and
    /// exits on its own, so dropping never blocks.
    fn drop(&mut self) {
        self.tx = None;
    }
}

fn write_all(
    mut writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    rx: mpsc::Receiver<Chunk>,
    path: PathBuf,
) -> WriterResult {
    let werr = |source| RecorderError::Write {
        path: path.clone(),
        source,
    };
    let mut samples: u64 = 0;
    let mut flushed: u64 = 0;
    let mut flushed_at = Instant::now();
    let mut failed = None;
    loop {
        let chunk = match rx.recv_timeout(FLUSH_EVERY) {
            Ok(chunk) => Some(chunk),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if failed.is_some() {
            continue; // keep draining so senders never block; report the first error
        }
        let r = match chunk {
            Some(Chunk::Samples(v)) => {
                samples += v.len() as u64;
                v.iter().try_for_each(|&s| writer.write_sample(s))
            }
            Some(Chunk::Silence(n)) => {
                samples += u64::from(n);
                (0..n).try_for_each(|_| writer.write_sample(0i16))
            }
            None => Ok(()),
        };
        let due = samples - flushed >= FLUSH_SAMPLES
            || (samples > flushed && flushed_at.elapsed() >= FLUSH_EVERY);
        let r = match r {
            Ok(()) if due => {
                flushed = samples;
                flushed_at = Instant::now();
                writer.flush()
            }
            r => r,
        };
        if let Err(e) = r {
            failed = Some(e);
        }
    }
    let finalized = writer.finalize();
    if let Some(e) = failed {
        return Err(werr(e));
    }
    finalized.map_err(werr)?;
    let bytes = std::fs::metadata(&path)
        .map_err(|e| werr(hound::Error::IoError(e)))?
        .len();
    Ok(RecordingInfo {
        duration_ms: samples * 1000 / u64::from(CLOCK_RATE),
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

    /// A crash (the recorder never finished nor dropped: its thread keeps waiting) leaves a
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

    #[test]
    fn bad_path_is_an_error_naming_it() {
        let msg = Recorder::create("/nonexistent-dir/x.wav")
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("/nonexistent-dir/x.wav"), "{msg}");
    }
}
