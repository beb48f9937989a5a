//! The recording writers: a small fixed pool of threads shared by every recording.
//!
//! A recording used to own a thread; a busy contact center records hundreds of calls at
//! once, so the process now starts [`WRITERS`] writer threads (on the first recording) and
//! hands each recording to one of them for its whole life. Each thread is fed by one
//! bounded channel of [`QUEUE`] messages: a recording's audio travels as fixed-size frames
//! (`Frame`, 160 samples inline: nothing is allocated per frame), tagged with the
//! recording's id. A full channel drops audio (counted by the recorder) rather than blocks
//! the session; only opening and closing a recording wait for room, so a file is never left
//! unfinalized. Every [`TICK`] the thread gives each of its recordings the time
//! (`Job::tick`): a stereo recording writes up to its clock, a mono one brings its header
//! up to date after [`FLUSH_EVERY`](crate::recorder::FLUSH_EVERY) without audio.
//!
//! A recording reports its end once, through `Done`: the result of finalizing, or
//! [`RecorderError::WriterPanicked`] if its writer died first.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::codec::{FRAME_SAMPLES, PTIME_MS};
use crate::recorder::{RecorderError, RecordingInfo};

/// Writer threads in the process.
pub const WRITERS: usize = 2;
/// Messages queued per writer thread before audio is dropped: about 10 s of 20 ms frames
/// for 10 recordings, or 2.5 s for 40 stereo ones (two frames per 20 ms each).
pub const QUEUE: usize = 4096;
/// How often a writer thread gives its recordings the time.
pub const TICK: Duration = Duration::from_millis(PTIME_MS);

pub(crate) type WriterResult = Result<RecordingInfo, RecorderError>;

/// Up to 20 ms of one channel's audio, inline.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    /// Where it goes: samples since the recording's start (stereo), unused for mono.
    pub pos: u64,
    /// The stereo channel (0 left, 1 right); 0 for mono.
    pub side: u8,
    len: u16,
    pcm: [i16; FRAME_SAMPLES],
}

impl Frame {
    /// Cuts `pcm` into frames (the last one shorter), each placed at its own position.
    pub fn split(pcm: &[i16], pos: u64, side: u8) -> impl Iterator<Item = Frame> + '_ {
        pcm.chunks(FRAME_SAMPLES).enumerate().map(move |(i, c)| {
            let mut f = Frame {
                pos: pos + (i * FRAME_SAMPLES) as u64,
                side,
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

struct Pool {
    threads: Vec<SyncSender<Msg>>,
    next: AtomicUsize,
    ids: AtomicU64,
}

static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let threads = (0..WRITERS)
            .filter_map(|i| {
                let (tx, rx) = mpsc::sync_channel(QUEUE);
                std::thread::Builder::new()
                    .name(format!("rec-writer-{i}"))
                    .spawn(move || run(rx))
                    .map_err(|e| tracing::error!("cannot start recording writer {i}: {e}"))
                    .ok()
                    .map(|_| tx)
            })
            .collect();
        Pool {
            threads,
            next: AtomicUsize::new(0),
            ids: AtomicU64::new(0),
        }
    })
}

/// A recording's handle on its writer thread.
pub(crate) struct Handle {
    id: u64,
    tx: SyncSender<Msg>,
    closed: bool,
}

/// Hands `job` to a writer thread; its end is reported on the returned [`Done`].
pub(crate) fn open(job: Box<dyn Job>, path: PathBuf) -> Result<(Handle, Arc<Done>), PathBuf> {
    let pool = pool();
    if pool.threads.is_empty() {
        return Err(path);
    }
    let tx = pool.threads[pool.next.fetch_add(1, Relaxed) % pool.threads.len()].clone();
    let id = pool.ids.fetch_add(1, Relaxed);
    let done = Arc::new(Done::default());
    let err_path = path.clone();
    let done_tx = DoneTx {
        done: done.clone(),
        path,
        sent: false,
    };
    if tx.send(Msg::Open(id, job, done_tx)).is_err() {
        return Err(err_path); // the writer died; nobody waits on `done`
    }
    Ok((
        Handle {
            id,
            tx,
            closed: false,
        },
        done,
    ))
}

impl Handle {
    /// Queues audio; `false` (dropped) when the writer is a full queue behind or gone.
    pub fn send(&self, d: Data) -> bool {
        match self.tx.try_send(Msg::Data(self.id, d)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Ends the recording: the writer finalizes it after the audio queued before. Waits
    /// for room in the queue (only when the writer is far behind).
    pub fn close(&mut self) {
        if !std::mem::replace(&mut self.closed, true) {
            // A dead writer has already reported (WriterPanicked).
            let _ = self.tx.send(Msg::Close(self.id));
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.close();
    }
}

/// A writer thread: its recordings by id, the audio in order, the time every [`TICK`].
fn run(rx: Receiver<Msg>) {
    let mut jobs: HashMap<u64, (Box<dyn Job>, DoneTx)> = HashMap::new();
    let mut next_tick = Instant::now() + TICK;
    loop {
        let msg = if jobs.is_empty() {
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            }
        } else {
            match rx.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        match msg {
            Some(Msg::Open(id, job, done)) => {
                if jobs.is_empty() {
                    next_tick = Instant::now() + TICK;
                }
                jobs.insert(id, (job, done));
            }
            Some(Msg::Data(id, d)) => {
                if let Some((job, _)) = jobs.get_mut(&id) {
                    job.data(d);
                }
            }
            Some(Msg::Close(id)) => {
                if let Some((job, done)) = jobs.remove(&id) {
                    done.send(job.finish());
                }
            }
            None => {}
        }
        let now = Instant::now();
        if now >= next_tick {
            for (job, _) in jobs.values_mut() {
                job.tick(now);
            }
            // Skip ticks missed behind a slow disk: each tick writes up to `now` anyway.
            next_tick = (next_tick + TICK).max(now + TICK / 2);
        }
    }
}
