//! The recording writers: a small fixed pool of threads shared by every recording.
//!
//! A recording used to own a thread; a busy contact center records hundreds of calls at
//! once, so the process now starts [`WRITERS`] writer threads (on the first recording) and
//! hands each recording to one of them for its whole life. Each thread is fed by one
//! channel holding at most [`QUEUE`] frames: a mono recording's audio travels as
//! fixed-size frames (`Frame`, 160 samples inline), tagged with the recording's id (a
//! stereo recording's sessions place theirs in a buffer the writer takes from at its
//! tick, [`crate::stereo`], and only its opening and closing travel here). Past the cap audio
//! is dropped (counted by the recorder) rather than the session blocked; opening and
//! closing a recording are never refused, so a file is never left unfinalized. The channel
//! takes memory in blocks of frames as the backlog grows and gives it back as the writer
//! catches up, so the cap can be sized for the largest load without costing an idle
//! process anything. Every [`TICK`] the thread takes what its channel holds and gives
//! each of its recordings the time (`Job::tick`): a stereo recording writes up to its
//! clock, a mono one brings its header up to date after
//! [`FLUSH_EVERY`](crate::recorder::FLUSH_EVERY) without audio. Between ticks it sleeps,
//! so queuing a frame never wakes a thread; a recording's end is written at the next tick.
//!
//! A recording reports its end once, through `Done`: the result of finalizing, or
//! [`RecorderError::WriterPanicked`] if its writer died first.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::codec::{FRAME_SAMPLES, PTIME_MS};
use crate::recorder::{RecorderError, RecordingInfo};

/// Writer threads in the process.
pub const WRITERS: usize = 2;
/// Frames queued per writer thread before audio is dropped: 300 ms of 2,500 recordings
/// over [`WRITERS`] threads, far more than the voicemails recorded at once. About 14 MB per
/// thread when full; nothing while the writer keeps up.
pub const QUEUE: usize = 40_000;
/// How often a writer thread gives its recordings the time.
pub const TICK: Duration = Duration::from_millis(PTIME_MS);

pub(crate) type WriterResult = Result<RecordingInfo, RecorderError>;

/// Up to 20 ms of a mono recording's audio, inline.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    len: u16,
    pcm: [i16; FRAME_SAMPLES],
}

impl Frame {
    /// Cuts `pcm` into frames (the last one shorter).
    pub fn split(pcm: &[i16]) -> impl Iterator<Item = Frame> + '_ {
        pcm.chunks(FRAME_SAMPLES).map(|c| {
            let mut f = Frame {
                len: c.len() as u16,
                pcm: [0; FRAME_SAMPLES],
            };
            f.pcm[..c.len()].copy_from_slice(c);
            f
        })
    }

    pub fn samples(&self) -> &[i16] {
        &self.pcm[..usize::from(self.len)]
    }
}

/// What a recording receives on its writer thread.
// Inline on purpose: the bounded channel's slots are allocated once, a boxed frame would
// be an allocation per frame.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Data {
    Frame(Frame),
    Silence(u32),
}

/// A recording as its writer thread runs it.
pub(crate) trait Job: Send {
    fn data(&mut self, d: Data);
    /// Called every [`TICK`] with the time.
    fn tick(&mut self, now: Instant);
    /// Writes what is left, finalizes the file, reports.
    fn finish(self: Box<Self>) -> WriterResult;
}

#[allow(clippy::large_enum_variant)] // as for `Data`
enum Msg {
    Open(u64, Box<dyn Job>, DoneTx),
    Data(u64, Data),
    Close(u64),
}

/// Where a recording's end is reported, for a blocking or an async waiter.
#[derive(Default)]
pub(crate) struct Done {
    result: Mutex<Option<WriterResult>>,
    cv: Condvar,
    notify: tokio::sync::Notify,
}

impl Done {
    fn set(&self, r: WriterResult) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        self.cv.notify_all();
        self.notify.notify_one();
    }

    fn take(&self) -> Option<WriterResult> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Blocks until the recording is finalized.
    pub fn wait(&self) -> WriterResult {
        let mut r = self.result.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = r.take() {
                return r;
            }
            r = self.cv.wait(r).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits, without blocking the runtime, until the recording is finalized.
    pub async fn wait_async(&self) -> WriterResult {
        loop {
            // `notify_one` keeps a permit when nobody waits: no wake-up is lost.
            let notified = self.notify.notified();
            if let Some(r) = self.take() {
                return r;
            }
            notified.await;
        }
    }
}

/// The writer's end of [`Done`]: reports [`RecorderError::WriterPanicked`] if dropped
/// without a result (the thread died).
struct DoneTx {
    done: Arc<Done>,
    path: PathBuf,
    sent: bool,
}

impl DoneTx {
    fn send(mut self, r: WriterResult) {
        self.sent = true;
        self.done.set(r);
    }
}

impl Drop for DoneTx {
    fn drop(&mut self) {
        if !self.sent {
            self.done.set(Err(RecorderError::WriterPanicked {
                path: std::mem::take(&mut self.path),
            }));
        }
    }
}

/// A writer thread's channel and how many frames wait on it.
#[derive(Clone)]
struct Queue {
    tx: Sender<Msg>,
    frames: Arc<AtomicUsize>,
}

struct Pool {
    threads: Vec<Queue>,
    next: AtomicUsize,
    ids: AtomicU64,
}

static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| Pool {
        threads: (0..WRITERS)
            .filter_map(|i| Queue::start(format!("rec-writer-{i}")))
            .collect(),
        next: AtomicUsize::new(0),
        ids: AtomicU64::new(0),
    })
}

impl Queue {
    /// Starts a writer thread named `name` and returns its channel.
    fn start(name: String) -> Option<Queue> {
        let (tx, rx) = mpsc::channel();
        let frames = Arc::new(AtomicUsize::new(0));
        let queued = frames.clone();
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || run(rx, &queued))
            .map_err(|e| tracing::error!("cannot start recording writer {name}: {e}"))
            .ok()
            .map(|_| Queue { tx, frames })
    }

    /// Hands `job` to this queue's thread under `id`.
    fn open(
        &self,
        id: u64,
        job: Box<dyn Job>,
        path: PathBuf,
    ) -> Result<(Handle, Arc<Done>), PathBuf> {
        let done = Arc::new(Done::default());
        let err_path = path.clone();
        let done_tx = DoneTx {
            done: done.clone(),
            path,
            sent: false,
        };
        if self.tx.send(Msg::Open(id, job, done_tx)).is_err() {
            return Err(err_path); // the writer died; nobody waits on `done`
        }
        let handle = Handle {
            id,
            queue: self.clone(),
            closed: false,
        };
        Ok((handle, done))
    }
}

/// A recording's handle on its writer thread.
pub(crate) struct Handle {
    id: u64,
    queue: Queue,
    closed: bool,
}

/// Hands `job` to a writer thread; its end is reported on the returned [`Done`].
pub(crate) fn open(job: Box<dyn Job>, path: PathBuf) -> Result<(Handle, Arc<Done>), PathBuf> {
    let pool = pool();
    if pool.threads.is_empty() {
        return Err(path);
    }
    let queue = &pool.threads[pool.next.fetch_add(1, Relaxed) % pool.threads.len()];
    queue.open(pool.ids.fetch_add(1, Relaxed), job, path)
}

impl Handle {
    /// Queues audio; `false` (dropped) when the writer is a full queue behind or gone.
    pub fn send(&self, d: Data) -> bool {
        let frames = &self.queue.frames;
        if frames.fetch_add(1, Relaxed) >= QUEUE {
            frames.fetch_sub(1, Relaxed);
            return false;
        }
        if self.queue.tx.send(Msg::Data(self.id, d)).is_err() {
            frames.fetch_sub(1, Relaxed);
            return false;
        }
        true
    }

    /// Ends the recording: the writer finalizes it after the audio queued before.
    pub fn close(&mut self) {
        if !std::mem::replace(&mut self.closed, true) {
            // A dead writer has already reported (WriterPanicked).
            let _ = self.queue.tx.send(Msg::Close(self.id));
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.close();
    }
}

/// A writer thread: its recordings by id, the audio in order, the time every [`TICK`].
///
/// While it has recordings the thread sleeps until its next tick and then takes everything
/// queued at once: it never blocks on the channel, so a session queuing a frame finds no
/// one waiting and wakes no one. Waking the writer for every frame (a futex wake and two
/// task switches, 100 times a second per stereo call) cost a fifth of the server's time
/// with 800 bridged calls. Only an idle thread blocks on the channel, until a recording
/// opens.
fn run(rx: Receiver<Msg>, frames: &AtomicUsize) {
    let mut jobs: HashMap<u64, (Box<dyn Job>, DoneTx)> = HashMap::new();
    let mut next_tick = Instant::now() + TICK;
    loop {
        if jobs.is_empty() {
            let Ok(msg) = rx.recv() else { return };
            next_tick = Instant::now() + TICK;
            take(msg, &mut jobs, frames);
        }
        loop {
            match rx.try_recv() {
                Ok(msg) => take(msg, &mut jobs, frames),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if jobs.is_empty() {
            continue;
        }
        let now = Instant::now();
        if now >= next_tick {
            for (job, _) in jobs.values_mut() {
                job.tick(now);
            }
            // Skip ticks missed behind a slow disk: each tick writes up to `now` anyway.
            next_tick = (next_tick + TICK).max(now + TICK / 2);
        }
        std::thread::sleep(next_tick.saturating_duration_since(Instant::now()));
    }
}

/// One message taken off a writer's channel.
fn take(msg: Msg, jobs: &mut HashMap<u64, (Box<dyn Job>, DoneTx)>, frames: &AtomicUsize) {
    match msg {
        Msg::Open(id, job, done) => {
            jobs.insert(id, (job, done));
        }
        Msg::Data(id, d) => {
            frames.fetch_sub(1, Relaxed);
            if let Some((job, _)) = jobs.get_mut(&id) {
                job.data(d);
            }
        }
        Msg::Close(id) => {
            if let Some((job, done)) = jobs.remove(&id) {
                done.send(job.finish());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    /// Counts its frames; the first one holds the writer thread until `release` is passed.
    struct Stuck {
        release: Arc<Barrier>,
        seen: Arc<AtomicUsize>,
    }

    impl Job for Stuck {
        fn data(&mut self, _: Data) {
            if self.seen.fetch_add(1, Relaxed) == 0 {
                self.release.wait();
            }
        }
        fn tick(&mut self, _: Instant) {}
        fn finish(self: Box<Self>) -> WriterResult {
            Ok(RecordingInfo {
                path: PathBuf::from("stuck.wav"),
                duration_ms: 0,
                bytes: 0,
            })
        }
    }

    /// A writer held up takes up to [`QUEUE`] frames, refuses the rest at once (the session
    /// never waits), and still gets every frame it took and the close after them.
    #[test]
    fn a_stuck_writer_holds_queue_frames_and_refuses_the_rest() {
        let release = Arc::new(Barrier::new(2));
        let seen = Arc::new(AtomicUsize::new(0));
        let job = Stuck {
            release: release.clone(),
            seen: seen.clone(),
        };
        // A thread of its own: the pool's are shared with other tests' recordings.
        let queue = Queue::start("test-writer".into()).unwrap();
        let (mut handle, done) = queue.open(0, Box::new(job), "stuck.wav".into()).unwrap();
        let silence = || Data::Silence(160);
        assert!(handle.send(silence()));
        while seen.load(Relaxed) == 0 {
            std::thread::yield_now(); // until the writer holds the first frame
        }
        let taken = (0..QUEUE + 100).filter(|_| handle.send(silence())).count();
        assert_eq!(taken, QUEUE, "the cap counts frames waiting, not sent");
        release.wait();
        handle.close();
        done.wait().unwrap();
        assert_eq!(seen.load(Relaxed), QUEUE + 1);
        // Caught up: the queue takes frames again.
        assert_eq!(handle.queue.frames.load(Relaxed), 0);
    }
}
