//! Group commit: the call controller's writes, many calls' at a time, in one transaction.
//!
//! Every answered call is written before its 200 OK, and at 2,000 calls a second one
//! transaction (one fsync) per call is more than a disk can do: the queue for the write
//! lock then grows without bound and calls are answered seconds late. So the writes of
//! the call path — a call opened ([`Write::OpenCall`]), ended, missed, its ACD steps, its
//! recordings, the agents' state changes — go to one writer task per database, which
//! takes whatever has queued up while its previous commit was being flushed and writes it
//! all in one transaction: under load a commit carries hundreds of calls, and when the
//! hotline is quiet a write that someone waits for waits for no one else (a lone new call
//! is committed at once). Each caller gets its own answer once the transaction holding its
//! write is durable, so "`open_call` returned `Ok`" still means "the case survives a power
//! cut", as before.
//!
//! The writes made after a call is over — its end, a missed call, a recording's row — hold
//! nobody up, so they wait up to [`LINGER`] for the next write that does and share its
//! commit. While new calls come closer together than [`COMMIT_WINDOW`], a new call's
//! write waits up to that long for others: at a few hundred calls a second a commit would
//! otherwise carry one call, and each commit is an fsync and, per statement, a round trip
//! to the database's thread — thread wake-ups and task switches, which were most of what
//! a call cost the server at 200 calls a second. A batch of [`GATHER`] writes waits for
//! no more, so at thousands of calls a second it goes within a millisecond or two; and a
//! call that comes alone (the hotline at night) waits for no one.
//!
//! # Nothing acknowledged is lost, nothing that must land is dropped
//! - A write whose own statement fails for a reason of its own (the call already ended,
//!   an unknown call) is answered with that error; the rest of its batch is written again
//!   without it.
//! - When the database fails (disk full, I/O error, connection lost), an open call is
//!   answered with the error at once — the call is refused with 503 and the trunk tries
//!   elsewhere, nothing was promised — but every other write (a call's end, its ACD
//!   figures, a recording's row) is kept in memory and retried, with a growing pause,
//!   until it lands. A call that ended always gets its `ended_at`.
//! - [`WriterHandle::close`] (at shutdown) writes out what is queued, retrying for a
//!   bounded time, before the process exits; what still cannot be written is what the
//!   next start's crash recovery closes.
//!
//! The SQL of a batch is in `twin/calls.rs`, the same text for both databases; this
//! module holds the queue, the retry rules and the figures ([`WriterStats`]) that
//! admission control (new calls refused with 503 when the backlog is too long) and the
//! metrics read.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::acd::{AcdStep, CallNote};
use crate::error::CaseError;
use crate::model::{
    AcdResult, CallId, MissedCall, NewAgentEvent, NewCall, NewRecording, OpenedCall, RecordingId,
};

/// The most writes one transaction carries (the rest wait for the next).
pub(crate) const MAX_BATCH: usize = 512;
/// The first pause before a failed write is tried again; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// How long a write made after a call is over may wait to share a commit (see the top).
pub(crate) const LINGER: Duration = Duration::from_millis(20);
/// How long a new call's write may wait for others to share its commit, while new calls
/// come closer together than this (see the top): the default of `[data]
/// commit_window_ms` ([`WriterHandle::set_window`]). At 200 calls a second a commit then
/// carries about four calls, for a few milliseconds more on an answer.
pub(crate) const COMMIT_WINDOW: Duration = Duration::from_millis(20);
/// Writes enough to share a commit: a batch this big waits for no more. The round trips
/// per commit are then spread over this many writes, and at thousands of calls a second
/// a batch fills in a millisecond or two instead of waiting out the window.
pub(crate) const GATHER: usize = 8;
/// How long [`WriterHandle::close`] keeps retrying writes that fail.
const CLOSE_RETRY_FOR: Duration = Duration::from_secs(5);

/// One write of the call path, owned (it waits in a queue).
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// A new ticket, case, call row and `opened` audit event ([`crate::CaseStore::open_call`]).
    OpenCall {
        call: NewCall,
        node: Option<Arc<str>>,
    },
    /// The call's end time, cause and IVR path.
    EndCall {
        call: CallId,
        ended_at: DateTime<Utc>,
        cause: String,
        ivr_path: String,
    },
    /// A call that ended before it was answered.
    MissedCall(MissedCall),
    /// One ACD step of a call.
    Acd {
        call: CallId,
        step: OwnedStep,
        at: DateTime<Utc>,
    },
    /// A finalized recording file.
    Recording(NewRecording),
    /// One state change of an agent.
    AgentEvent(OwnedAgentEvent),
}

impl Write {
    /// Whether the write must land even when the database fails for a while: everything
    /// but a new call, which is refused instead (nothing was promised to its caller yet).
    fn must_land(&self) -> bool {
        !matches!(self, Write::OpenCall { .. })
    }

    /// Whether the write may wait a little to share a commit: nothing waits on it but the
    /// end of a call that is already over for everyone in it.
    fn may_linger(&self) -> bool {
        matches!(
            self,
            Write::EndCall { .. } | Write::MissedCall(_) | Write::Recording(_)
        )
    }

    /// How long the write may wait for company before it is written: `linger` if nothing
    /// waits on it, `window` for a new call, nothing for the rest (an ACD step or an
    /// agent's state change holds up what a person sees next).
    fn may_wait(&self, linger: Duration, window: Duration) -> Duration {
        if self.may_linger() {
            linger
        } else if matches!(self, Write::OpenCall { .. }) {
            window
        } else {
            Duration::ZERO
        }
    }
}

/// What a write gives back.
#[derive(Debug)]
pub(crate) enum Done {
    Opened(OpenedCall),
    Recording(RecordingId),
    Written,
}

/// [`AcdStep`] with its strings owned.
#[derive(Debug, Clone)]
pub(crate) enum OwnedStep {
    Queued(String),
    Offered(String),
    OfferRejected(String, String),
    Answered(String, String),
    AgentEnded,
    WrapUpDone,
    LeftQueue(AcdResult),
    Transferred(String),
    TransferAnswered(String),
    Held(i64),
    Supervised(String, String),
    ForcedHangUp(String),
}

impl OwnedStep {
    pub(crate) fn new(step: AcdStep<'_>) -> Self {
        match step {
            AcdStep::Queued { queue } => OwnedStep::Queued(queue.into()),
            AcdStep::Offered { agent } => OwnedStep::Offered(agent.into()),
            AcdStep::OfferRejected { agent, reason } => {
                OwnedStep::OfferRejected(agent.into(), reason.into())
            }
            AcdStep::Answered {
                agent,
                agent_call_id,
            } => OwnedStep::Answered(agent.into(), agent_call_id.into()),
            AcdStep::AgentEnded => OwnedStep::AgentEnded,
            AcdStep::WrapUpDone => OwnedStep::WrapUpDone,
            AcdStep::LeftQueue(r) => OwnedStep::LeftQueue(r),
            AcdStep::Note(n) => match n {
                CallNote::Transferred { to } => OwnedStep::Transferred(to.into()),
                CallNote::TransferAnswered { by } => OwnedStep::TransferAnswered(by.into()),
                CallNote::Held { ms } => OwnedStep::Held(ms),
                CallNote::Supervised { who, how } => OwnedStep::Supervised(who.into(), how.into()),
                CallNote::ForcedHangUp { who } => OwnedStep::ForcedHangUp(who.into()),
            },
        }
    }

    pub(crate) fn step(&self) -> AcdStep<'_> {
        match self {
            OwnedStep::Queued(queue) => AcdStep::Queued { queue },
            OwnedStep::Offered(agent) => AcdStep::Offered { agent },
            OwnedStep::OfferRejected(agent, reason) => AcdStep::OfferRejected { agent, reason },
            OwnedStep::Answered(agent, id) => AcdStep::Answered {
                agent,
                agent_call_id: id,
            },
            OwnedStep::AgentEnded => AcdStep::AgentEnded,
            OwnedStep::WrapUpDone => AcdStep::WrapUpDone,
            OwnedStep::LeftQueue(r) => AcdStep::LeftQueue(*r),
            OwnedStep::Transferred(to) => AcdStep::Note(CallNote::Transferred { to }),
            OwnedStep::TransferAnswered(by) => AcdStep::Note(CallNote::TransferAnswered { by }),
            OwnedStep::Held(ms) => AcdStep::Note(CallNote::Held { ms: *ms }),
            OwnedStep::Supervised(who, how) => AcdStep::Note(CallNote::Supervised { who, how }),
            OwnedStep::ForcedHangUp(who) => AcdStep::Note(CallNote::ForcedHangUp { who }),
        }
    }
}

/// [`NewAgentEvent`] with its strings owned.
#[derive(Debug, Clone)]
pub(crate) struct OwnedAgentEvent {
    pub(crate) extension: String,
    pub(crate) at: DateTime<Utc>,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) reason: Option<String>,
    pub(crate) sip_call_id: Option<String>,
    pub(crate) actor: Option<String>,
}

impl OwnedAgentEvent {
    pub(crate) fn new(e: &NewAgentEvent<'_>) -> Self {
        OwnedAgentEvent {
            extension: e.extension.into(),
            at: e.at,
            from: e.from.into(),
            to: e.to.into(),
            reason: e.reason.map(Into::into),
            sip_call_id: e.sip_call_id.map(Into::into),
            actor: e.actor.map(Into::into),
        }
    }
}

/// A queued write and whom to answer.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) write: Write,
    reply: oneshot::Sender<Result<Done, CaseError>>,
    queued: Instant,
    /// Failed attempts so far, and when to try again.
    failures: u32,
    retry_at: Option<Instant>,
}

pub(crate) enum Msg {
    Job(Job),
    Close(oneshot::Sender<()>),
    /// A new commit window, for the writes queued after it.
    Window(Duration),
}

/// The store's side of the writer: queues writes and waits for their commit.
#[derive(Debug, Clone)]
pub(crate) struct WriterHandle {
    tx: mpsc::UnboundedSender<Msg>,
    stats: Arc<WriterStats>,
}

impl WriterHandle {
    /// A handle and the receiving end the backend's writer task runs on.
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Msg>, Arc<WriterStats>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        epoch();
        (
            WriterHandle {
                tx,
                stats: stats.clone(),
            },
            rx,
            stats,
        )
    }

    /// Queues `write` and waits until the transaction holding it is committed.
    pub(crate) async fn write(&self, write: Write) -> Result<Done, CaseError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            write,
            reply,
            queued: Instant::now(),
            failures: 0,
            retry_at: None,
        };
        self.stats.pending.fetch_add(1, Relaxed);
        if self.tx.send(Msg::Job(job)).is_err() {
            self.stats.pending.fetch_sub(1, Relaxed);
            return Err(CaseError::Unavailable("the store is closed".into()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(CaseError::Unavailable("the writer stopped".into())))
    }

    /// Sets how long a new call's write may wait for company ([`COMMIT_WINDOW`] until
    /// then; zero: a new call waits for no one), for the writes queued after this.
    pub(crate) fn set_window(&self, window: Duration) {
        let _ = self.tx.send(Msg::Window(window));
    }

    /// Writes out what is queued (retrying failures for a few seconds) and stops the
    /// writer; later writes fail.
    pub(crate) async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).is_ok() {
            let _ = wait.await;
        }
    }

    pub(crate) fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

/// Bucket upper bounds of [`WriterStats`]' commit-time histogram, in milliseconds.
pub const COMMIT_MS_BUCKETS: [u64; 10] = [1, 2, 5, 10, 20, 50, 100, 250, 1000, 5000];
/// Bucket upper bounds of [`WriterStats`]' batch-size histogram, in writes.
pub const BATCH_SIZE_BUCKETS: [u64; 8] = [1, 2, 5, 10, 50, 100, 250, 512];

/// What the writer did: how far behind it is, how big and slow its commits are.
#[derive(Debug, Default)]
pub struct WriterStats {
    pending: AtomicU64,
    /// When the oldest write still pending was queued, in µs after [`epoch`] (0: none).
    oldest_queued_us: AtomicU64,
    batches: AtomicU64,
    writes: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    commit_us_sum: AtomicU64,
    commit_ms: [AtomicU64; COMMIT_MS_BUCKETS.len() + 1],
    batch_size: [AtomicU64; BATCH_SIZE_BUCKETS.len() + 1],
}

/// A reading of [`WriterStats`]. Histograms count per bucket (not cumulative), the last
/// bucket being everything above the last bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterSnapshot {
    /// Writes queued or being written, not yet answered.
    pub pending: u64,
    /// How long the oldest write not yet answered has waited so far, in µs (0 when idle):
    /// it keeps growing while a commit hangs.
    pub oldest_pending_us: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Writes committed.
    pub writes: u64,
    /// Attempts that failed and were tried again.
    pub retries: u64,
    /// Writes answered with a database error (new calls refused; writes given up at close).
    pub failed: u64,
    /// Sum of commit times (BEGIN to COMMIT done), µs.
    pub commit_us_sum: u64,
    /// Commits per [`COMMIT_MS_BUCKETS`] bucket.
    pub commit_ms: Vec<u64>,
    /// Commits per [`BATCH_SIZE_BUCKETS`] bucket.
    pub batch_size: Vec<u64>,
}

impl WriterStats {
    /// A consistent-enough reading (each counter read once).
    pub fn snapshot(&self) -> WriterSnapshot {
        let read = |a: &[AtomicU64]| a.iter().map(|v| v.load(Relaxed)).collect();
        WriterSnapshot {
            pending: self.pending.load(Relaxed),
            oldest_pending_us: self.oldest_pending_us(),
            batches: self.batches.load(Relaxed),
            writes: self.writes.load(Relaxed),
            retries: self.retries.load(Relaxed),
            failed: self.failed.load(Relaxed),
            commit_us_sum: self.commit_us_sum.load(Relaxed),
            commit_ms: read(&self.commit_ms),
            batch_size: read(&self.batch_size),
        }
    }

    /// Writes queued or being written: what admission control compares with its bound.
    pub fn pending(&self) -> u64 {
        self.pending.load(Relaxed)
    }

    /// How long the oldest write not yet answered has waited so far, in µs (0 when none
    /// is pending). Read against the clock now, not when its batch began: a commit that
    /// hangs (a stalled disk, a locked database) shows as a wait that grows.
    pub fn oldest_pending_us(&self) -> u64 {
        match self.oldest_queued_us.load(Relaxed) {
            0 => 0,
            queued => since_epoch_us(Instant::now()).saturating_sub(queued),
        }
    }

    fn set_oldest(&self, queued: Option<Instant>) {
        let us = queued.map_or(0, |q| since_epoch_us(q).max(1));
        self.oldest_queued_us.store(us, Relaxed);
    }

    fn committed(&self, writes: usize, took: Duration) {
        self.batches.fetch_add(1, Relaxed);
        self.writes.fetch_add(writes as u64, Relaxed);
        let us = took.as_micros() as u64;
        self.commit_us_sum.fetch_add(us, Relaxed);
        let ms = us / 1000;
        self.commit_ms[bucket(&COMMIT_MS_BUCKETS, ms)].fetch_add(1, Relaxed);
        self.batch_size[bucket(&BATCH_SIZE_BUCKETS, writes as u64)].fetch_add(1, Relaxed);
    }
}

fn bucket(bounds: &[u64], v: u64) -> usize {
    bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len())
}

/// How one attempt at a batch ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Committed: each job's result, in order.
    Committed(Vec<Done>),
    /// The jobs at these indices failed (with this error), so the transaction was
    /// rolled back.
    JobsFailed(Vec<usize>, CaseError),
    /// The transaction itself failed (begin, commit, the connection): nothing was written.
    Failed(CaseError),
}

/// The writer's queue: what is to be written now, and what waits to be tried again.
/// The backend's task ([`Queue::next_batch`], write, [`Queue::settle`]) does the I/O.
pub(crate) struct Queue {
    rx: mpsc::UnboundedReceiver<Msg>,
    stats: Arc<WriterStats>,
    retry: VecDeque<Job>,
    /// Closing: whom to tell when done, and until when failed writes are retried.
    closing: Option<(Option<oneshot::Sender<()>>, Instant)>,
    /// Every handle is gone.
    disconnected: bool,
    /// [`LINGER`] (tests set their own).
    linger: Duration,
    /// [`COMMIT_WINDOW`] or what [`WriterHandle::set_window`] set.
    window: Duration,
    /// When the last two new calls were queued: a new call waits for company only while
    /// they come closer together than the window (a lone call at night waits for no one).
    opens: [Option<Instant>; 2],
}

impl Queue {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<Msg>, stats: Arc<WriterStats>) -> Self {
        Queue {
            rx,
            stats,
            retry: VecDeque::new(),
            closing: None,
            disconnected: false,
            linger: LINGER,
            window: COMMIT_WINDOW,
            opens: [None; 2],
        }
    }

    /// Waits for the next writes: the retries that are due, then whatever is queued now
    /// (up to [`MAX_BATCH`] in all). `None` once closed and everything is settled.
    pub(crate) async fn next_batch(&mut self) -> Option<Vec<Job>> {
        loop {
            let now = Instant::now();
            if self
                .closing
                .as_ref()
                .is_some_and(|(_, until)| now >= *until)
            {
                // Give up on what still fails: the next start's recovery closes its calls.
                for job in std::mem::take(&mut self.retry) {
                    let e =
                        CaseError::Unavailable("the store closed before the write landed".into());
                    self.answer(job, Err(e));
                }
            }
            let mut batch: Vec<Job> = Vec::new();
            let mut waiting = VecDeque::new();
            for job in self.retry.drain(..) {
                if batch.len() < MAX_BATCH && job.retry_at.is_none_or(|t| t <= now) {
                    batch.push(job);
                } else {
                    waiting.push_back(job);
                }
            }
            self.retry = waiting;
            while batch.len() < MAX_BATCH && !self.disconnected {
                let msg = match self.rx.try_recv() {
                    Ok(msg) => Some(msg),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                };
                if let Some(job) = self.received(msg, now) {
                    batch.push(job);
                }
            }
            // Retries not yet due are pending too, and older than anything still queued.
            let oldest = batch.iter().chain(&self.retry).map(|j| j.queued).min();
            self.stats.set_oldest(oldest);
            if let Some(until) = self.linger_until(&batch, now) {
                // Back in front of the queue, due at once, until a write that someone
                // waits for joins them or the time is up.
                for job in batch.into_iter().rev() {
                    self.retry.push_front(job);
                }
                tokio::select! {
                    msg = self.rx.recv(), if !self.disconnected => {
                        if let Some(job) = self.received(msg, Instant::now()) {
                            self.retry.push_back(job);
                        }
                    }
                    () = tokio::time::sleep_until(until.into()) => {}
                }
                continue;
            }
            if !batch.is_empty() {
                return Some(batch);
            }
            if self.closing.is_some() && self.retry.is_empty() {
                if let Some((Some(done), _)) = self.closing.take() {
                    let _ = done.send(());
                }
                return None;
            }
            let next_retry = self.retry.iter().filter_map(|j| j.retry_at).min();
            tokio::select! {
                msg = self.rx.recv(), if !self.disconnected => {
                    // Due at once: the next turn takes it.
                    if let Some(job) = self.received(msg, Instant::now()) {
                        self.retry.push_front(job);
                    }
                }
                () = sleep_until(next_retry) => {}
            }
        }
    }

    /// Takes in what the channel gave (`None`: every handle is gone): a job to write,
    /// noting when a new call's came in (see `opens`); a close or a window is acted on.
    fn received(&mut self, msg: Option<Msg>, now: Instant) -> Option<Job> {
        match msg {
            Some(Msg::Job(job)) => {
                if matches!(job.write, Write::OpenCall { .. }) {
                    self.opens = [self.opens[1], Some(job.queued)];
                }
                Some(job)
            }
            Some(Msg::Close(done)) => {
                self.close_requested(Some(done), now);
                None
            }
            Some(Msg::Window(window)) => {
                self.window = window;
                None
            }
            None => {
                self.close_requested(None, now);
                None
            }
        }
    }

    /// Until when `batch` may wait for company ([`LINGER`], [`COMMIT_WINDOW`]): the
    /// soonest any of its writes must go; `None` to write it now.
    fn linger_until(&self, batch: &[Job], now: Instant) -> Option<Instant> {
        if batch.is_empty() || batch.len() >= GATHER || self.closing.is_some() {
            return None;
        }
        let window = match self.opens {
            [Some(a), Some(b)] if b.saturating_duration_since(a) < self.window => self.window,
            _ => Duration::ZERO,
        };
        let until = batch
            .iter()
            .map(|j| j.queued + j.write.may_wait(self.linger, window))
            .min()?;
        (now < until).then_some(until)
    }

    /// A close was asked for (`done` to answer once everything is written), or every
    /// handle is gone (`None`).
    fn close_requested(&mut self, done: Option<oneshot::Sender<()>>, now: Instant) {
        if done.is_none() {
            self.disconnected = true;
        }
        match &mut self.closing {
            Some((waiting, _)) if waiting.is_none() => *waiting = done,
            Some(_) => {}
            None => self.closing = Some((done, now + CLOSE_RETRY_FOR)),
        }
    }

    /// Settles one attempt at `batch`: answers what is decided, and returns the jobs to
    /// write again at once (the rest of a batch one job made fail).
    pub(crate) fn settle(&mut self, batch: Vec<Job>, outcome: Outcome, took: Duration) -> Vec<Job> {
        match outcome {
            Outcome::Committed(done) => {
                self.stats.committed(batch.len(), took);
                for (job, done) in batch.into_iter().zip(done) {
                    self.answer(job, Ok(done));
                }
                Vec::new()
            }
            Outcome::JobsFailed(failed, e) => {
                let mut rest = Vec::with_capacity(batch.len());
                let mut failing = Vec::with_capacity(failed.len());
                for (i, job) in batch.into_iter().enumerate() {
                    if failed.contains(&i) {
                        failing.push(job);
                    } else {
                        rest.push(job);
                    }
                }
                self.fail_all(failing, e);
                rest
            }
            Outcome::Failed(e) => {
                self.fail_all(batch, e);
                Vec::new()
            }
        }
    }

    /// The first job gets `e` itself, the others its text.
    fn fail_all(&mut self, jobs: Vec<Job>, e: CaseError) {
        let text = e.to_string();
        let mut first = Some(e);
        for job in jobs {
            let e = first
                .take()
                .unwrap_or_else(|| CaseError::Unavailable(text.clone()));
            self.failed(job, e);
        }
    }

    /// A job failed: its own error is its answer; a database failure is retried when the
    /// write must land.
    fn failed(&mut self, mut job: Job, e: CaseError) {
        let transient = matches!(e, CaseError::Database(_) | CaseError::Unavailable(_));
        if !(transient && job.write.must_land()) {
            if transient {
                tracing::error!(error = %e, "cannot write a new call; it is refused");
            }
            self.answer(job, Err(e));
            return;
        }
        let pause = FIRST_PAUSE
            .saturating_mul(1 << job.failures.min(10))
            .min(MAX_PAUSE);
        job.failures += 1;
        job.retry_at = Some(Instant::now() + pause);
        self.stats.retries.fetch_add(1, Relaxed);
        if job.failures == 1 {
            tracing::warn!(error = %e, write = ?job.write, "write failed; kept in memory and retried until it lands");
        }
        self.retry.push_back(job);
    }

    fn answer(&self, job: Job, result: Result<Done, CaseError>) {
        self.stats.pending.fetch_sub(1, Relaxed);
        if result.is_err() {
            self.stats.failed.fetch_add(1, Relaxed);
        }
        // The caller may have gone (its task ended); the write stands anyway.
        let _ = job.reply.send(result);
    }
}

/// A fixed instant of this process, so an [`Instant`] fits in an atomic as µs after it.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch_us(t: Instant) -> u64 {
    t.saturating_duration_since(epoch()).as_micros() as u64
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit that hangs (a locked database, a stalled disk) must read as a wait that
    /// grows, or admission control would go on taking calls that cannot be written.
    #[tokio::test]
    async fn a_hung_commit_shows_as_a_growing_wait() {
        let (handle, rx, stats) = WriterHandle::new();
        let mut queue = Queue::new(rx, stats.clone());
        assert_eq!(stats.oldest_pending_us(), 0);
        let writer = handle.clone();
        let write = tokio::spawn(async move {
            let agent = crate::model::NewAgentEvent {
                extension: "8001",
                at: Utc::now(),
                from: "logged_out",
                to: "ready",
                reason: None,
                sip_call_id: None,
                actor: None,
            };
            writer
                .write(Write::AgentEvent(OwnedAgentEvent::new(&agent)))
                .await
        });
        let batch = queue.next_batch().await.expect("the write");
        assert_eq!(batch.len(), 1);
        // The batch is being "committed" and does not finish.
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let waited = Duration::from_micros(stats.oldest_pending_us());
        assert!(
            waited >= t0.elapsed().min(Duration::from_millis(30)),
            "{waited:?}"
        );
        assert_eq!(stats.pending(), 1);
        // Answered: nothing is pending any more once the queue looks again.
        let left = queue.settle(
            batch,
            Outcome::Committed(vec![Done::Written]),
            Duration::from_millis(30),
        );
        assert!(left.is_empty());
        write.await.unwrap().unwrap();
        drop(handle);
        assert!(queue.next_batch().await.is_none());
        assert_eq!(stats.oldest_pending_us(), 0);
        assert_eq!(stats.pending(), 0);
    }

    fn agent_event() -> Write {
        Write::AgentEvent(OwnedAgentEvent::new(&crate::model::NewAgentEvent {
            extension: "8001",
            at: Utc::now(),
            from: "ready",
            to: "not_ready",
            reason: None,
            sip_call_id: None,
            actor: None,
        }))
    }

    fn call_end() -> Write {
        Write::EndCall {
            call: CallId(1),
            ended_at: Utc::now(),
            cause: "caller_hangup".into(),
            ivr_path: String::new(),
        }
    }

    fn new_call(n: u32) -> Write {
        let now = Utc::now();
        Write::OpenCall {
            call: NewCall {
                sip_call_id: format!("window-{n}"),
                caller_number: "13800138000".into(),
                called_number: "12345".into(),
                arrived_at: now,
                answered_at: now,
                local_day: now.date_naive(),
            },
            node: None,
        }
    }

    /// A queue with the commit window `window`, and new calls either coming closer
    /// together than it (`fast`) or not seen yet.
    fn windowed(window: Duration, fast: bool) -> (WriterHandle, Queue) {
        let (handle, rx, stats) = WriterHandle::new();
        let mut queue = Queue::new(rx, stats);
        handle.set_window(window);
        if fast {
            let before = Instant::now() - Duration::from_millis(100);
            queue.opens = [Some(before), Some(before + Duration::from_millis(1))];
        }
        (handle, queue)
    }

    /// Queues `write` from a task of its own, after `after`.
    fn write_later(handle: &WriterHandle, write: Write, after: Duration) {
        let writer = handle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            writer.write(write).await
        });
    }

    /// New calls that come within the commit window of the first share its commit; the
    /// window is counted from the oldest, so a steady stream cannot hold a call up.
    #[tokio::test]
    async fn new_calls_within_the_window_share_one_commit() {
        let (handle, mut queue) = windowed(Duration::from_millis(300), true);
        let t0 = Instant::now();
        for n in 0..3 {
            write_later(
                &handle,
                new_call(n),
                Duration::from_millis(20 * u64::from(n)),
            );
        }
        let batch = queue.next_batch().await.expect("a batch");
        let took = t0.elapsed();
        assert_eq!(batch.len(), 3, "after {took:?}");
        assert!(took >= Duration::from_millis(300), "{took:?}");
        // One that waits on an ACD step or an agent's state does not wait for the window.
        write_later(&handle, new_call(9), Duration::ZERO);
        write_later(&handle, agent_event(), Duration::from_millis(20));
        let t1 = Instant::now();
        let batch = queue.next_batch().await.expect("a batch");
        assert_eq!(batch.len(), 2);
        let took = t1.elapsed();
        assert!(took < Duration::from_millis(300), "{took:?}");
    }

    /// Once a batch holds enough writes to share a commit, it goes without waiting out
    /// the window: at thousands of calls a second the window would only add latency.
    #[tokio::test]
    async fn a_full_gathering_goes_at_once() {
        let (handle, mut queue) = windowed(Duration::from_secs(60), true);
        let t0 = Instant::now();
        for n in 0..GATHER as u32 {
            write_later(&handle, new_call(n), Duration::ZERO);
        }
        let batch = queue.next_batch().await.expect("a batch");
        assert_eq!(batch.len(), GATHER);
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    }

    /// A new call that comes long after the one before waits for no one: company is
    /// waited for only while calls come closer together than the window.
    #[tokio::test]
    async fn a_lone_new_call_is_written_at_once() {
        let (handle, mut queue) = windowed(Duration::from_secs(60), false);
        let t0 = Instant::now();
        write_later(&handle, new_call(1), Duration::ZERO);
        let batch = queue.next_batch().await.expect("a batch");
        assert_eq!(batch.len(), 1);
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    }

    /// With the window set to zero (`[data] commit_window_ms = 0`) a new call waits for no
    /// one, however fast calls come; the setting takes effect for the writes after it.
    #[tokio::test]
    async fn a_zero_window_writes_new_calls_at_once() {
        let (handle, mut queue) = windowed(Duration::from_secs(60), true);
        handle.set_window(Duration::ZERO);
        let t0 = Instant::now();
        write_later(&handle, new_call(1), Duration::ZERO);
        let batch = queue.next_batch().await.expect("a batch");
        assert_eq!(batch.len(), 1);
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    }

    /// A call's end holds nobody up: it waits for the next write that does and shares its
    /// commit (one fsync for both), however long that takes within the linger.
    #[tokio::test]
    async fn a_call_end_waits_to_share_the_next_commit() {
        let (handle, rx, stats) = WriterHandle::new();
        let mut queue = Queue::new(rx, stats);
        queue.linger = Duration::from_secs(60);
        let writer = handle.clone();
        tokio::spawn(async move { writer.write(call_end()).await });
        let writer = handle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            writer.write(agent_event()).await
        });
        let batch = queue.next_batch().await.expect("a batch");
        let kinds: Vec<bool> = batch.iter().map(|j| j.write.may_linger()).collect();
        assert_eq!(
            kinds,
            [true, false],
            "the end first, then the write it waited for"
        );
    }

    /// Alone, it is written once the linger is up, not before and not never.
    #[tokio::test]
    async fn a_lone_call_end_is_written_after_the_linger() {
        let (handle, rx, stats) = WriterHandle::new();
        let mut queue = Queue::new(rx, stats);
        let t0 = Instant::now();
        let writer = handle.clone();
        tokio::spawn(async move { writer.write(call_end()).await });
        let batch = queue.next_batch().await.expect("a batch");
        assert_eq!(batch.len(), 1);
        assert!(t0.elapsed() >= LINGER, "{:?}", t0.elapsed());
        // Someone waits for this one: written at once.
        let writer = handle.clone();
        tokio::spawn(async move { writer.write(agent_event()).await });
        let batch = queue.next_batch().await.expect("a batch");
        assert_eq!(batch.len(), 1);
        assert!(!batch[0].write.may_linger());
    }
}
