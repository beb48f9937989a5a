//! Two-channel recording of a bridged call: left the citizen, right the agent.
//!
//! Like the mono [`Recorder`](crate::recorder::Recorder), the WAV is written by one of the
//! process's writer threads ([`crate::writer`]), so a session never waits on the disk.
//! Unlike it, the two sides arrive independently, each with its own gaps, so audio is
//! placed at its *position*, samples since the bridge started, straight into the
//! recording's buffer of frames (under a lock the writer takes once per tick: no channel,
//! no per-frame copy or wake-up). The writer advances on a 20 ms clock from that start,
//! [`WRITE_DELAY_SAMPLES`] behind the wall clock (room for jitter), in blocks of 100 ms,
//! and writes whatever the two sides placed there: silence where a side placed nothing
//! (a silent or held party, lost packets). Audio placed where the file is already written
//! (later than the delay) is dropped; so is audio placed more than 2 s ahead of the
//! writer (it has fallen behind), which keeps the buffers bounded.
//!
//! When the recorder is finished or dropped the writer writes up to the current position
//! (the bridge's length), fixes the header and reports. While it runs, the header is
//! brought up to date after every second written
//! ([`crate::recorder::FLUSH_SAMPLES`]), so a process killed outright
//! leaves a file that plays up to about its last second.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::codec::{CLOCK_RATE, FRAME_SAMPLES, PTIME_MS};
use crate::recorder::{RecorderError, RecordingInfo, FLUSH_SAMPLES};
use crate::writer::{self, Data, Done, Job, WriterResult};

/// How far behind the wall clock the writer stays, in samples (300 ms): a chunk placed up
/// to this late still lands in its place.
pub const WRITE_DELAY_SAMPLES: u64 = 2400;
/// Chunks placed further than this ahead of the written position are dropped (2 s).
const MAX_AHEAD_SAMPLES: u64 = 16_000;
const FRAME: Duration = Duration::from_millis(PTIME_MS);
/// The most samples per channel interleaved at once (1 s; 32 KB of buffer per writer).
const WRITE_BLOCK_SAMPLES: u64 = CLOCK_RATE as u64;
/// A tick writes only once this much is due (100 ms): a writer thread's cost per write
/// (the lock, hound's sample writer, the buffered file, the memory the sessions wrote on
/// another core) is paid five times less often than once per 20 ms frame, and the file
/// still lags the wall clock by under half a second.
const WRITE_MIN_SAMPLES: u64 = 5 * FRAME_SAMPLES as u64;

/// A channel of the stereo file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Left: what leg a (the citizen) said.
    Left = 0,
    /// Right: what leg b (the agent) said.
    Right = 1,
}

/// Writes an 8 kHz, 2-channel, 16-bit WAV on a writer thread, on a clock from `start`.
pub struct StereoRecorder {
    path: PathBuf,
    start: Instant,
    /// Where the sessions place audio and the writer thread takes it from.
    placed: Arc<Mutex<Placed>>,
    writer: Option<writer::Handle>,
    done: Arc<Done>,
    dropped_samples: u64,
}

impl std::fmt::Debug for StereoRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StereoRecorder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl StereoRecorder {
    /// Creates the file (header written on the caller's thread, so a bad path is reported
    /// at once) and hands it to a writer thread; its clock starts at `start`.
    pub fn create(path: impl AsRef<Path>, start: Instant) -> Result<StereoRecorder, RecorderError> {
        let path = path.as_ref().to_path_buf();
        let spec = hound::WavSpec {
            channels: 2,
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
        let placed = Arc::new(Mutex::new(Placed::default()));
        let job = Writer::new(writer, start, path.clone(), placed.clone());
        let (handle, done) =
            writer::open(Box::new(job), path.clone()).map_err(|path| RecorderError::Create {
                path,
                source: hound::Error::IoError(std::io::Error::other("no recording writer")),
            })?;
        Ok(StereoRecorder {
            path,
            start,
            placed,
            writer: Some(handle),
            done,
            dropped_samples: 0,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The instant position 0 stands for.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Places `pcm` for `side` at `pos` samples after the start, where the writer thread
    /// takes it at its next tick: no channel, no copy but this one, no wake-up. Audio more
    /// than 2 s ahead of what the writer has written is dropped (counted in
    /// [`StereoRecorder::dropped_samples`]): the writer is that far behind (a stalled
    /// disk), and the buffer stays bounded.
    pub fn push(&mut self, side: Side, pos: u64, pcm: &[i16]) {
        let placed = lock(&self.placed).place_with(side, pos, pcm.len(), |i| pcm[i]);
        self.count(placed, pcm.len());
    }

    /// [`StereoRecorder::push`] for audio still encoded: each byte of `payload` is looked
    /// up in `table` (G.711's, [`crate::Codec::decode_table`]) as it is placed, so a
    /// packet is decoded straight into the recording's buffer, not through a copy.
    pub fn push_encoded(&mut self, side: Side, pos: u64, payload: &[u8], table: &[i16; 256]) {
        let placed = lock(&self.placed)
            .place_with(side, pos, payload.len(), |i| table[usize::from(payload[i])]);
        self.count(placed, payload.len());
    }

    fn count(&mut self, placed: Placement, samples: usize) {
        if placed == Placement::Behind {
            if self.dropped_samples == 0 {
                tracing::warn!(path = %self.path.display(), "stereo recorder behind, dropping audio");
            }
            self.dropped_samples += samples as u64;
        }
    }

    /// Samples lost because the writer could not keep up or failed.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped_samples
    }

    /// Ends the recording at the current position and finalizes the file without blocking
    /// the runtime.
    pub async fn finish_async(mut self) -> Result<RecordingInfo, RecorderError> {
        self.writer = None; // closes
        self.done.wait_async().await
    }
}

impl Drop for StereoRecorder {
    /// The writer writes up to now, fixes the header and reports to nobody.
    fn drop(&mut self) {
        self.writer = None;
    }
}

/// A recording's audio between the sessions that place it and the writer that writes it.
#[derive(Default)]
struct Placed {
    /// The frames (left, right) placed from `written` on, as they go in the file: both
    /// sides in one buffer, so the writer takes them with a copy, not an interleave
    /// (zeros where a side placed nothing).
    frames: VecDeque<[i16; 2]>,
    /// Samples per channel already taken for the file.
    written: u64,
}

/// What became of audio handed to [`Placed::place`].
#[derive(Debug, PartialEq, Eq)]
enum Placement {
    /// In place (or partly, past what was already written).
    Placed,
    /// Its place is written already.
    Late,
    /// Too far ahead of the writer: dropped.
    Behind,
}

fn lock(placed: &Mutex<Placed>) -> MutexGuard<'_, Placed> {
    // Plain data every holder leaves consistent; a panic elsewhere cannot break it.
    placed.lock().unwrap_or_else(|e| e.into_inner())
}

struct Writer {
    writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    start: Instant,
    path: PathBuf,
    placed: Arc<Mutex<Placed>>,
    /// Frames taken from `placed` to be written.
    out: Vec<[i16; 2]>,
    /// Samples per channel in the file.
    written: u64,
    /// Samples per channel the header counted at its last update.
    flushed: u64,
    failed: Option<hound::Error>,
}

/// Samples of 8 kHz audio between `start` and `at`.
pub(crate) fn samples_since(start: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(start).as_micros() as u64 * u64::from(CLOCK_RATE) / 1_000_000
}

impl Job for Writer {
    /// Nothing comes through the channel: the sessions place audio in `placed`.
    fn data(&mut self, _: Data) {}

    /// Writes up to [`WRITE_DELAY_SAMPLES`] behind the wall clock, on the 20 ms grid, in
    /// blocks of at least [`WRITE_MIN_SAMPLES`].
    fn tick(&mut self, now: Instant) {
        let frames = now.saturating_duration_since(self.start).as_micros() / FRAME.as_micros();
        let target = (frames as u64 * FRAME_SAMPLES as u64).saturating_sub(WRITE_DELAY_SAMPLES);
        if target < self.written + WRITE_MIN_SAMPLES {
            return;
        }
        self.write_to(target);
        if self.written - self.flushed >= FLUSH_SAMPLES {
            self.checkpoint();
        }
    }

    /// Everything queued before the close is placed already (one channel, in order).
    fn finish(mut self: Box<Self>) -> WriterResult {
        let now = samples_since(self.start, Instant::now());
        let placed_end = {
            let p = lock(&self.placed);
            p.written + p.frames.len() as u64
        };
        self.write_to((now / FRAME_SAMPLES as u64 * FRAME_SAMPLES as u64).max(placed_end));

        let Writer {
            writer,
            path,
            written,
            failed,
            ..
        } = *self;
        crate::recorder::finish_wav(writer, path, written, failed)
    }
}

impl Placed {
    /// Places `len` samples for `side` from `pos` on, the `i`-th being `sample(i)`.
    fn place_with(
        &mut self,
        side: Side,
        pos: u64,
        len: usize,
        sample: impl Fn(usize) -> i16,
    ) -> Placement {
        let end = pos + len as u64;
        if end <= self.written {
            return Placement::Late; // that part of the file is written
        }
        let skip = self.written.saturating_sub(pos) as usize;
        let offset = pos.saturating_sub(self.written);
        if offset + len as u64 > MAX_AHEAD_SAMPLES {
            tracing::debug!(
                pos,
                written = self.written,
                "stereo chunk too far ahead, dropped"
            );
            return Placement::Behind;
        }
        let (from, to) = (offset as usize, offset as usize + (len - skip));
        // In order, the usual case, the first side to arrive appends silence (a fill) and
        // the second finds its frames there: each writes its own half of every frame. The
        // fill is an `extend` of known length and the halves are written in two plain loops,
        // one per part of the ring: `resize` (an element at a time) and a chain of the two
        // parts' iterators took 8–25 % more per packet (`cargo bench --bench stereo`).
        if self.frames.len() < to {
            let more = to - self.frames.len();
            self.frames.extend(std::iter::repeat_n([0; 2], more));
        }
        let side = side as usize;
        let (a, b) = self.frames.as_mut_slices();
        let split = a.len();
        let mut i = skip;
        for frame in &mut a[from.min(split)..to.min(split)] {
            frame[side] = sample(i);
            i += 1;
        }
        for frame in &mut b[from.saturating_sub(split)..to.saturating_sub(split)] {
            frame[side] = sample(i);
            i += 1;
        }
        Placement::Placed
    }

    /// Takes the next `n` frames into `out` (silence where nothing was placed).
    fn take(&mut self, n: usize, out: &mut Vec<[i16; 2]>) {
        out.clear();
        let have = n.min(self.frames.len());
        let (a, b) = self.frames.as_slices();
        let from_a = have.min(a.len());
        out.extend_from_slice(&a[..from_a]);
        out.extend_from_slice(&b[..have - from_a]);
        out.resize(n, [0; 2]);
        self.frames.drain(..have);
        self.written += n as u64;
    }
}

impl Writer {
    fn new(
        writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
        start: Instant,
        path: PathBuf,
        placed: Arc<Mutex<Placed>>,
    ) -> Writer {
        Writer {
            writer,
            start,
            path,
            placed,
            out: Vec::new(),
            written: 0,
            flushed: 0,
            failed: None,
        }
    }

    /// Flushes what is buffered and rewrites the header's sizes to match: the file is a
    /// valid WAV of everything written so far, should the process die now.
    fn checkpoint(&mut self) {
        self.flushed = self.written;
        if self.failed.is_none() {
            if let Err(e) = self.writer.flush() {
                tracing::warn!(path = %self.path.display(), error = %e, "stereo flush failed");
                self.failed = Some(e);
            }
        }
    }

    /// Writes both sides up to `target` samples, silence where nothing was placed, in
    /// blocks taken from `placed` under its lock and written after it through hound's
    /// reused buffer (sample by sample through `write_sample` cost the writer threads a
    /// third of their time).
    fn write_to(&mut self, target: u64) {
        while self.written < target {
            let n = (target - self.written).min(WRITE_BLOCK_SAMPLES) as usize;
            lock(&self.placed).take(n, &mut self.out);
            self.written += n as u64;
            if self.failed.is_none() {
                let mut w = self.writer.get_i16_writer(2 * self.out.len() as u32);
                for &[l, r] in &self.out {
                    w.write_sample(l);
                    w.write_sample(r);
                }
                if let Err(e) = w.flush() {
                    tracing::warn!(path = %self.path.display(), error = %e, "stereo write failed");
                    self.failed = Some(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> (hound::WavSpec, Vec<i16>) {
        let r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        (spec, r.into_samples::<i16>().map(Result::unwrap).collect())
    }

    /// A writer of a new stereo file at `path` whose clock starts at `start`, driven by
    /// the test (no thread), and where audio is placed for it.
    fn writer(path: &Path, start: Instant) -> (Writer, Arc<Mutex<Placed>>) {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: CLOCK_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let placed = Arc::new(Mutex::new(Placed::default()));
        let w = Writer::new(
            hound::WavWriter::create(path, spec).unwrap(),
            start,
            path.to_path_buf(),
            placed.clone(),
        );
        (w, placed)
    }

    /// The buffer is a ring: after takes, its frames wrap around the end of its storage,
    /// and a chunk can straddle the wrap. Random placements of both sides (in order, late,
    /// early, overlapping, too far ahead), decoded as they are placed, against a plain model
    /// of the file: every frame taken is what the model holds at that position.
    #[test]
    fn placement_matches_a_plain_model_across_the_ring_wrap() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let table = crate::Codec::Pcmu.decode_table();
        let mut placed = Placed::default();
        let mut model: Vec<[i16; 2]> = vec![[0; 2]; 4_000_000];
        let mut written = 0u64;
        let mut out = Vec::new();
        for step in 0..20_000 {
            if rng.gen_ratio(1, 4) {
                let n = rng.gen_range(0..700);
                placed.take(n, &mut out);
                let want = &model[written as usize..written as usize + n];
                assert_eq!(out, want, "step {step}: take {n} at {written}");
                written += n as u64;
                continue;
            }
            let side = if rng.gen() { Side::Left } else { Side::Right };
            let len = rng.gen_range(1..400);
            let pos = (written + rng.gen_range(0..17_000)).saturating_sub(3_000);
            let payload: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let pcm: Vec<i16> = payload.iter().map(|&b| table[usize::from(b)]).collect();
            let got = placed.place_with(side, pos, len, |i| table[usize::from(payload[i])]);
            let want = if pos + len as u64 <= written {
                Placement::Late
            } else if pos.saturating_sub(written) + len as u64 > MAX_AHEAD_SAMPLES {
                Placement::Behind
            } else {
                for (i, &s) in pcm.iter().enumerate() {
                    let at = pos + i as u64;
                    if at >= written {
                        model[at as usize][side as usize] = s;
                    }
                }
                Placement::Placed
            };
            assert_eq!(
                got, want,
                "step {step}: {side:?} {len} at {pos}, written {written}"
            );
        }
        assert!(
            written > 1_000_000 / 10,
            "the ring was worked through: {written}"
        );
    }

    /// Placement and silence, on the writer itself: the thread's clock is real, so driving
    /// this through it raced (the writer could pass position 0 before the chunks came).
    #[test]
    fn places_both_sides_and_fills_silence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let (mut w, placed) = writer(&path, Instant::now());
        let place =
            |side, pos, pcm: &[i16]| lock(&placed).place_with(side, pos, pcm.len(), |i| pcm[i]);
        assert_eq!(place(Side::Left, 0, &[100; 1600]), Placement::Placed);
        assert_eq!(place(Side::Right, 4000, &[-200; 800]), Placement::Placed);
        // Overwrites inside the first chunk.
        assert_eq!(place(Side::Left, 1000, &[7; 10]), Placement::Placed);
        // Absurdly far ahead (the writer would be that far behind): dropped.
        assert_eq!(place(Side::Right, 999_999, &[1; 10]), Placement::Behind);
        w.write_to(6000);
        // Late audio: only the part not yet written lands.
        assert_eq!(place(Side::Left, 5990, &[3; 20]), Placement::Placed);
        assert_eq!(place(Side::Left, 100, &[3; 20]), Placement::Late);
        w.write_to(8000);
        w.writer.finalize().unwrap();
        let (spec, s) = read(&path);
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, 8000, 16)
        );
        assert_eq!(s.len() / 2, 8000);
        let left: Vec<i16> = s.iter().step_by(2).copied().collect();
        let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
        assert!(left[..1000].iter().all(|&x| x == 100));
        assert!(left[1000..1010].iter().all(|&x| x == 7));
        assert!(left[1010..1600].iter().all(|&x| x == 100));
        assert!(left[1600..6000].iter().all(|&x| x == 0));
        assert!(left[6000..6010].iter().all(|&x| x == 3));
        assert!(left[6010..].iter().all(|&x| x == 0));
        assert!(right[..4000].iter().all(|&x| x == 0));
        assert!(right[4000..4800].iter().all(|&x| x == -200));
        assert!(right[4800..].iter().all(|&x| x == 0));
    }

    /// The writer's clock: a tick writes once 100 ms are due (300 ms behind the wall
    /// clock), all that is due then, and nothing in between; the header follows each
    /// second. Driven with explicit instants, not the thread's real clock.
    #[test]
    fn ticks_write_in_blocks_of_100_ms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let t0 = Instant::now();
        let (mut w, placed) = writer(&path, t0);
        let ms = |n| t0 + Duration::from_millis(n);
        w.tick(ms(300 + 80));
        assert_eq!(w.written, 0, "80 ms due: not yet");
        w.tick(ms(300 + 100));
        assert_eq!(w.written, 800);
        w.tick(ms(300 + 180));
        assert_eq!(w.written, 800, "another 80 ms: not yet");
        w.tick(ms(300 + 260));
        assert_eq!(w.written, 2080, "all that is due, on the 20 ms grid");
        assert_eq!(lock(&placed).written, 2080);
        w.tick(ms(300 + 1000));
        assert_eq!(w.written, 8000);
        assert_eq!(
            w.flushed, 8000,
            "the header is brought up to date each second"
        );
        assert_eq!(hound::WavReader::open(&path).unwrap().len(), 16_000);
    }

    /// Through the thread: what is pushed before the finish is in the file, at its place.
    #[tokio::test]
    async fn finish_writes_what_was_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.wav");
        // Position 0 is in the future: the writer's clock cannot pass it before the push.
        let mut rec =
            StereoRecorder::create(&path, Instant::now() + Duration::from_secs(10)).unwrap();
        rec.push(Side::Right, 0, &[9; 160]);
        let info = rec.finish_async().await.unwrap();
        let (_, s) = read(&path);
        assert_eq!(s.len() / 2, 160);
        assert_eq!(info.bytes, 44 + s.len() as u64 * 2);
        assert_eq!(&s[..4], &[0, 9, 0, 9]);
    }

    /// Read while the recorder runs (as after a crash): the header already counts the
    /// audio written up to about a second ago, and the samples are in place.
    #[test]
    fn running_recorder_keeps_a_valid_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.wav");
        let mut rec = StereoRecorder::create(&path, Instant::now()).unwrap();
        rec.push(Side::Left, 0, &[4; 12_000]);
        let deadline = Instant::now() + Duration::from_secs(5);
        let frames = loop {
            let r = hound::WavReader::open(&path).expect("header valid while recording");
            let frames = r.len() / 2;
            if frames >= 8000 {
                break frames;
            }
            assert!(Instant::now() < deadline, "header stuck at {frames} frames");
            std::thread::sleep(Duration::from_millis(20));
        };
        let (_, s) = read(&path);
        assert!(s.len() / 2 >= frames as usize);
        let left: Vec<i16> = s.iter().step_by(2).copied().collect();
        assert!(left[..8000].iter().all(|&x| x == 4));
        assert!(s.iter().skip(1).step_by(2).all(|&x| x == 0));
        drop(rec);
    }

    #[test]
    fn dropped_recorder_is_finalized() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.wav");
        let mut rec = StereoRecorder::create(&path, Instant::now()).unwrap();
        rec.push(Side::Left, 0, &[5; 160]);
        drop(rec);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(r) = hound::WavReader::open(&path) {
                if r.len() >= 320 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "header never fixed");
            std::thread::sleep(Duration::from_millis(10));
        }
        let (_, s) = read(&path);
        assert_eq!(&s[..4], &[5, 0, 5, 0]);
    }
}
