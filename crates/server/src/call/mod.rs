//! Calls: the registry of live calls and the shared context they run in.
//!
//! Each call is an actor — a tokio task that owns its dialog, its media session and its
//! IVR flow, and receives [`CallEvent`]s on a channel. The endpoint finds a call by
//! Call-ID in [`Calls`]; nothing is locked across an `.await`.

mod agent_leg;
mod callback;
mod caller;
mod command;
mod connect;
mod control;
mod conversation;
mod feature;
mod inbound;
mod internal;
mod out_leg;
mod revisit;
mod supervise;
mod trunk_leg;

use crate::acd::AcdService;
use crate::config::{Cidr, Config};
use crate::desk::Desk;
use crate::endpoint::EndpointHandle;
use dashmap::DashMap;
use hotline_case::CaseStore;
use hotline_ivr::IvrConfig;
use hotline_media::{PortPool, PromptStore};
use hotline_sip::message::{self, Info, Transport};
use hotline_sip::transaction::{Event, ServerKey};
use rsip::{Request, Response};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub use command::Command;
pub use control::Supervision;

/// Why a call-control command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No live call has that ticket (it ended, or never reached the IVR).
    #[error("no live call has this ticket")]
    NoCall,
    /// An agent asked about a call it is not on.
    #[error("{0}")]
    NotYours(String),
    /// The call cannot do it now (no agent, no consultation…) or the target is refused.
    #[error("{0}")]
    Refused(String),
}

/// Methods we handle, for Allow headers (the endpoint's out-of-dialog OPTIONS and 405s):
/// the SIP stack's, which its usages put on our INVITEs, 2xx, OPTIONS answers and 405s.
pub use hotline_sip::invite::ALLOW;

/// What a call receives.
// SIP events are nearly all of the traffic: boxing them would allocate per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CallEvent {
    /// A SIP event of one of this call's Call-IDs (caller leg or agent leg).
    Sip(Event),
    /// The ACD chose an agent for this waiting call: ring it.
    Offer { agent: hotline_acd::AgentId },
    /// The call waited as long as its queue allows.
    QueueExpired,
    /// The server is stopping: hang up now, finishing the recording and the call's rows.
    Shutdown,
    /// The desk or a supervisor acts on the call; the answer says whether it could.
    /// A citizen's call asks this agent's own call (from the phone) for its far leg: the
    /// REFER of an attended transfer named this call's dialog in `Replaces`.
    HandOver {
        tags: internal::ReplacesTags,
        reply: tokio::sync::oneshot::Sender<Option<internal::HandOver>>,
    },
    Command {
        cmd: Command,
        /// The asking agent's extension (none for a supervisor).
        agent: Option<String>,
        reply: tokio::sync::oneshot::Sender<Result<(), CommandError>>,
    },
}

/// A new INVITE as the endpoint hands it to a call.
#[derive(Debug)]
pub struct Invite {
    pub key: ServerKey,
    pub req: Request,
    pub info: Info,
    pub source: SocketAddr,
    pub transport: Transport,
    /// When it arrived: the kernel's stamp for UDP, so the setup time counts the wait in
    /// the socket's buffer too.
    pub received: Instant,
}

/// The `Retry-After` of a call refused for overload (503), in seconds: long enough for
/// a trunk to fail over or back off, short enough that the next try finds room.
pub const OVERLOAD_RETRY_AFTER_SECS: u32 = 5;

/// Counters for the status API.
#[derive(Debug, Default)]
pub struct CallStats {
    /// INVITEs received, refused ones included (403 from a source that is not a trunk,
    /// 404, 503). Not the report's "offered" (calls that asked for an agent, see
    /// `hotline_case::report::CallTally`), hence its own name.
    pub invites: AtomicU64,
    /// Calls the hotline itself answered (200 OK to the trunk, the IVR starts) — not calls
    /// an agent answered, which the ACD figures count.
    pub answered_by_ivr: AtomicU64,
    pub refused: AtomicU64,
    pub voicemails: AtomicU64,
    pub ended: AtomicU64,
}

/// Everything a call needs that outlives it.
pub struct Ctx {
    pub cfg: Config,
    pub store: CaseStore,
    pub prompts: PromptStore,
    pub ivr: Arc<IvrConfig>,
    pub ports: PortPool,
    pub acd: Arc<AcdService>,
    pub desk: Arc<Desk>,
    pub trunk: Vec<Cidr>,
    pub recordings: PathBuf,
    pub stats: CallStats,
    /// Working days of the hotline's zone, for work-order deadlines.
    pub calendar: hotline_case::calendar::WorkCalendar,
    /// Reply deadlines by dispatch mode and category.
    pub policy: hotline_case::calendar::DeadlinePolicy,
    /// The dialler, once started (absent without `[trunk.outbound]`).
    pub dialler: std::sync::OnceLock<Arc<crate::dialler::Dialler>>,
    /// Admission control: new calls refused with 503 under overload.
    pub overload: Arc<crate::overload::Overload>,
    /// INVITE received to 200 OK sent, of the calls the hotline answered.
    pub setup_time: crate::metrics::Histogram,
    /// INVITE arrival to 503, for calls refused for overload.
    pub refusal_time: crate::metrics::Histogram,
    next_key: AtomicU64,
}

impl Ctx {
    /// Builds the context and starts the ACD and the agents' desk.
    pub fn new(
        cfg: Config,
        store: CaseStore,
        prompts: PromptStore,
        ivr: IvrConfig,
        (calendar, policy): (
            hotline_case::calendar::WorkCalendar,
            hotline_case::calendar::DeadlinePolicy,
        ),
    ) -> Ctx {
        let ports = PortPool::new(cfg.media.ip, cfg.media.rtp_port_min, cfg.media.rtp_port_max);
        let acd = AcdService::start(&cfg.acd, store.clone());
        let desk = Desk::start(cfg.agents.clone(), store.clone(), acd.clone());
        let overload = Arc::new(crate::overload::Overload::new(&cfg.calls));
        overload.spawn_probe();
        Ctx {
            trunk: cfg.trunk_networks(),
            recordings: cfg.recordings_dir(),
            cfg,
            store,
            prompts,
            ivr: Arc::new(ivr),
            ports,
            acd,
            desk,
            stats: CallStats::default(),
            calendar,
            policy,
            dialler: std::sync::OnceLock::new(),
            overload,
            setup_time: Default::default(),
            refusal_time: Default::default(),
            next_key: AtomicU64::new(1),
        }
    }

    /// Where a call's recording goes: `YYYY/MM/DD/<ticket>-<call>-<kind>.wav` (the local
    /// day) relative to the recordings directory, and its full path, the day's directory
    /// created.
    pub fn recording_file(&self, ticket: &str, call: i64, kind: &str) -> (String, PathBuf) {
        let day = chrono::Utc::now()
            .with_timezone(&self.ivr.timezone)
            .format("%Y/%m/%d");
        let rel = format!("{day}/{ticket}-{call}-{kind}.wav");
        let path = self.recordings.join(&rel);
        if let Some(dir) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::error!(dir = %dir.display(), error = %e, "cannot create the recordings directory");
            }
        }
        (rel, path)
    }

    /// Stores the row of a finalized recording; `None` (logged) if the database refuses:
    /// the WAV file is kept either way.
    pub async fn save_recording(
        &self,
        (case, call): (hotline_case::CaseId, hotline_case::CallId),
        kind: hotline_case::RecordingKind,
        path: String,
        info: &hotline_media::RecordingInfo,
    ) -> Option<hotline_case::RecordingId> {
        let row = hotline_case::NewRecording {
            call,
            case,
            kind,
            path,
            duration_ms: info.duration_ms,
            bytes: info.bytes,
            created_at: chrono::Utc::now(),
        };
        tracing::info!(path = %row.path, duration_ms = row.duration_ms, kind = ?row.kind, "recording finished");
        match self.store.add_recording(row).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::error!(error = %e, "cannot store the recording row (the WAV file is kept)");
                None
            }
        }
    }

    /// Records how an attempt on a callback task ended (on `call`, by `who`), spaced by
    /// `[callbacks] retry_after_secs`; the task afterwards, or `None` (logged).
    pub async fn record_attempt(
        &self,
        task: hotline_case::CallbackTaskId,
        result: hotline_case::CallbackResult,
        who: &str,
        note: Option<&str>,
        call: Option<hotline_case::CallId>,
    ) -> Option<hotline_case::CallbackTask> {
        let spacing = chrono::Duration::seconds(self.cfg.callbacks.retry_after_secs as i64);
        let now = chrono::Utc::now();
        match self
            .store
            .record_callback_attempt(task, result, who, note, now, spacing, call)
            .await
        {
            Ok(t) => {
                tracing::info!(%result, status = %t.status, attempts = t.attempts, "attempt recorded");
                Some(t)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record the attempt");
                None
            }
        }
    }

    /// For a phone's INVITE we answer ourselves (an agent's own call, a supervisor's code):
    /// the audio it offers and a media session for it. `Err(488)` without a usable offer,
    /// `Err(503)` without an RTP port.
    pub(super) async fn open_media(
        &self,
        req: &Request,
    ) -> Result<
        (
            hotline_sip::sdp::Negotiated,
            hotline_media::MediaHandle,
            mpsc::Receiver<hotline_media::MediaEvent>,
        ),
        u16,
    > {
        let offer = (!req.body.is_empty())
            .then(|| hotline_sip::sdp::negotiate(&req.body, &hotline_sip::sdp::G711).ok())
            .flatten()
            .ok_or(488u16)?;
        let params = inbound::media_params(&offer);
        let (media, rx) =
            hotline_media::MediaSession::start(&self.ports, params).map_err(|_| 503u16)?;
        Ok((offer, media, rx))
    }

    /// The prompts of a configured list (checked at start; a missing one is skipped).
    pub fn prompt_list(&self, names: &[String]) -> Vec<Arc<hotline_media::Prompt>> {
        names.iter().filter_map(|n| self.prompts.get(n)).collect()
    }

    /// A new ACD call key; keys grow with arrival, which the ACD uses for fairness.
    pub fn next_call_key(&self) -> hotline_acd::CallKey {
        hotline_acd::CallKey(self.next_key.fetch_add(1, Ordering::Relaxed))
    }
}

/// The live calls by Call-ID.
#[derive(Clone)]
pub struct Calls {
    /// Every Call-ID routed to a call: its own, and its agent legs' and feature calls'.
    map: Arc<DashMap<String, mpsc::Sender<CallEvent>>>,
    /// The calls themselves (one [`CallSlot`] each): what `max_calls` bounds. A bridged
    /// call routes two Call-IDs, so counting `map` refused bridged calls at half of it.
    live: Arc<AtomicUsize>,
    /// Live inbound calls by ticket, for call control from the desk.
    pub(crate) tickets: Arc<DashMap<String, mpsc::Sender<CallEvent>>>,
    /// The ticket of the call each agent (extension) is talking on, for supervisors.
    pub(crate) agents_on_call: Arc<DashMap<String, String>>,
    /// Set when the server stops: new INVITEs get 503.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// The call plane's runtime, where every call's task runs, whichever runtime asked
    /// for the call: a callback started from the desk comes from the HTTP runtime's
    /// thread (`main.rs`).
    rt: tokio::runtime::Handle,
    pub ctx: Arc<Ctx>,
}

impl Calls {
    /// An empty registry over `ctx`, whose calls run on the runtime this is called on.
    pub fn new(ctx: Arc<Ctx>) -> Calls {
        Calls {
            map: Arc::default(),
            live: Arc::default(),
            tickets: Arc::default(),
            agents_on_call: Arc::default(),
            stopping: Arc::default(),
            rt: tokio::runtime::Handle::current(),
            ctx,
        }
    }

    /// Stops the calls for a server that is going away (SIGTERM): new INVITEs get 503
    /// (the trunk or Kamailio tries another node) while the calls in progress go on for
    /// up to `drain`; those still up then hang up with a BYE, finish their recordings and
    /// close their rows. Returns when none is left, or `grace` after the drain with the
    /// number still live.
    pub async fn shutdown(&self, drain: Duration, grace: Duration) -> usize {
        self.stopping.store(true, Ordering::SeqCst);
        tracing::info!(
            calls = self.active(),
            drain_secs = drain.as_secs(),
            "stopping: new calls refused, letting the live ones finish"
        );
        if !self.wait_empty(drain).await {
            // One channel serves all the Call-IDs of a call (its legs): tell each once.
            let mut told: Vec<mpsc::Sender<CallEvent>> = Vec::new();
            for entry in self.map.iter() {
                if !told.iter().any(|t| t.same_channel(entry.value())) {
                    told.push(entry.value().clone());
                }
            }
            tracing::info!(
                calls = told.len(),
                "drain time over: hanging up the live calls"
            );
            for tx in &told {
                let _ = tx.try_send(CallEvent::Shutdown);
            }
            self.wait_empty(grace).await;
        }
        self.map.len()
    }

    /// Waits until no call is live (true) or `limit` passed (false).
    async fn wait_empty(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.map.is_empty() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// The channel of a live call.
    pub fn sender(&self, call_id: &str) -> Option<mpsc::Sender<CallEvent>> {
        self.map.get(call_id).map(|s| s.clone())
    }

    /// Routes another Call-ID (an agent leg, a feature call) to a call's channel.
    pub fn register(&self, call_id: &str, tx: mpsc::Sender<CallEvent>) {
        self.map.insert(call_id.to_string(), tx);
    }

    /// What [`out_leg::OutLeg::start`] calls with a new leg's Call-ID before its INVITE
    /// leaves: routes it to the channel `tx` of the call that places the leg.
    pub fn route_to<'a>(&'a self, tx: &'a mpsc::Sender<CallEvent>) -> impl FnOnce(&str) + 'a {
        move |call_id| self.register(call_id, tx.clone())
    }

    /// Asks the live call of `ticket` to carry out `cmd`. `agent`: the extension the
    /// asking agent works at — an agent controls only the call it is on.
    pub async fn command(
        &self,
        ticket: &str,
        cmd: Command,
        agent: Option<String>,
    ) -> Result<(), CommandError> {
        let tx = self
            .tickets
            .get(ticket)
            .map(|t| t.clone())
            .ok_or(CommandError::NoCall)?;
        let (reply, done) = tokio::sync::oneshot::channel();
        tx.send(CallEvent::Command { cmd, agent, reply })
            .await
            .map_err(|_| CommandError::NoCall)?;
        done.await.map_err(|_| CommandError::NoCall)?
    }

    /// The channel of the call agent `extension` is talking on.
    pub fn call_of_agent(&self, extension: &str) -> Option<mpsc::Sender<CallEvent>> {
        let ticket = self.agents_on_call.get(extension)?.clone();
        self.tickets.get(&ticket).map(|t| t.clone())
    }

    /// Stops routing a Call-ID.
    pub fn unregister(&self, call_id: &str) {
        self.map.remove(call_id);
    }

    /// Whether a new INVITE is a call an agent places from the softphone (to an extension
    /// or an allowed number) rather than a citizen's call to the hotline: see
    /// `internal::is_internal`.
    pub fn is_internal(&self, invite: &Invite) -> bool {
        let uri = invite.req.uri.to_string();
        let user = message::uri_user(&uri).unwrap_or("");
        let from = message::first(&invite.req.headers, "From")
            .map(message::addr_uri)
            .and_then(message::uri_user)
            .unwrap_or("");
        internal::is_internal(self, user, from, invite.source, &invite.req)
    }

    /// An agent's call from the softphone: authenticated, the other side rung and bridged.
    /// Its attempt is counted by the lockout here, in the order INVITEs came
    /// ([`crate::desk::Desk::begin_auth`]), and verified in its task.
    pub fn spawn_internal(&self, invite: Invite, ep: EndpointHandle) {
        let begun = self.ctx.desk.begin_auth(&invite.req, invite.source);
        self.rt
            .spawn(internal::run(self.clone(), invite, begun, ep));
    }

    /// A feature code dialled by an agent (`*1`…): authenticated and carried out. Its
    /// attempt is counted here, as [`Calls::spawn_internal`]'s.
    pub fn spawn_feature(&self, invite: Invite, ep: EndpointHandle) {
        let begun = self.ctx.desk.begin_auth(&invite.req, invite.source);
        self.rt.spawn(feature::run(self.clone(), invite, begun, ep));
    }

    /// Works one due task of the callback worklist: an agent-first callback, or for an
    /// automatic revisit the IVR's own call. The handle ends when the call is over (or
    /// could not start, e.g. no agent has the callback skill).
    /// `direct` names the agent who started an agent-first task from the desktop.
    pub fn spawn_callback(
        &self,
        task: hotline_case::CallbackTask,
        ep: EndpointHandle,
        direct: Option<hotline_acd::AgentId>,
    ) -> tokio::task::JoinHandle<()> {
        let calls = self.clone();
        match task.mode {
            hotline_case::CallbackMode::Auto => self.rt.spawn(revisit::run(calls, ep, task)),
            hotline_case::CallbackMode::Agent => {
                self.rt.spawn(callback::run(calls, ep, task, direct))
            }
        }
    }

    /// Live calls (a call with its agent leg is one).
    pub fn active(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether a new INVITE from `source` to `called`, not yet parsed, is refused for
    /// overload: then the endpoint answers it with a stateless 503
    /// (`hotline_sip::stateless`), counted and logged as [`Calls::spawn_inbound`]'s
    /// refusals are. False leaves it to the full path, which also refuses what is not the
    /// trunk's or not our number, as it always does.
    pub fn refuses_early(&self, source: SocketAddr, called: &str, received: Instant) -> bool {
        let ctx = &self.ctx;
        if !ctx.trunk.iter().any(|n| n.contains(source.ip()))
            || !ctx.cfg.trunk.numbers.iter().any(|n| n == called)
        {
            return false;
        }
        let waited = received.elapsed();
        let Some(reason) =
            ctx.overload
                .check_early(ctx.store.writer_stats(), waited, Instant::now())
        else {
            return false;
        };
        ctx.stats.invites.fetch_add(1, Ordering::Relaxed);
        self.refused_for_overload(reason, waited);
        true
    }

    fn refused_for_overload(&self, reason: crate::overload::Reason, waited: Duration) {
        let ctx = &self.ctx;
        ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
        // Once per second at most: a flood of refusals must not become a flood of logs.
        ctx.overload.warn_throttled(reason);
        ctx.refusal_time.observe(waited);
    }

    /// A new INVITE from the trunk. Refusals that need no call (403, 404, 503) are returned
    /// to be sent at once, so a scan or a flood costs no task; otherwise a call starts.
    pub fn spawn_inbound(&self, invite: Invite, ep: EndpointHandle) -> Option<Response> {
        let Invite {
            req, info, source, ..
        } = &invite;
        let ctx = &self.ctx;
        ctx.stats.invites.fetch_add(1, Ordering::Relaxed);
        let refuse = |code: u16, why: &str| {
            ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::info!(call_id = %info.call_id, %source, code, "INVITE refused: {why}");
            Some(if code == 503 {
                message::unavailable(req, OVERLOAD_RETRY_AFTER_SECS)
            } else {
                message::response(req, code, Some(&message::random_token(8)))
            })
        };
        if !ctx.trunk.iter().any(|n| n.contains(source.ip())) {
            ep.stats.rejected_sources.fetch_add(1, Ordering::Relaxed);
            return refuse(403, "source is not an allowed trunk");
        }
        let called = message::uri_user(&req.uri.to_string())
            .map(str::to_string)
            .unwrap_or_default();
        if !ctx.cfg.trunk.numbers.contains(&called) {
            return refuse(404, "not one of our numbers");
        }
        if self.stopping.load(Ordering::SeqCst) {
            return refuse(503, "the server is stopping");
        }
        if self.active() >= ctx.cfg.calls.max_calls {
            return refuse(503, "at max_calls");
        }
        let waited = invite.received.elapsed();
        if let Some(reason) = ctx
            .overload
            .check(ctx.store.writer_stats(), waited, Instant::now())
        {
            self.refused_for_overload(reason, waited);
            return Some(message::unavailable(req, OVERLOAD_RETRY_AFTER_SECS));
        }
        let (tx, rx) = mpsc::channel(64);
        let slot = CallSlot::take(self, &info.call_id, tx.clone());
        let calls = self.clone();
        self.rt.spawn(async move {
            // Moved into the task: freed when the task ends, panics or is aborted.
            let _slot = slot;
            inbound::run(calls, ep, invite, tx, rx).await;
        });
        None
    }
}

/// A call's place among the live calls (its Call-ID routed to its channel, one of
/// `max_calls`), given back when dropped — whatever ends the call's task, a panic included.
struct CallSlot {
    map: Arc<DashMap<String, mpsc::Sender<CallEvent>>>,
    live: Arc<AtomicUsize>,
    call_id: String,
}

impl CallSlot {
    fn take(calls: &Calls, call_id: &str, tx: mpsc::Sender<CallEvent>) -> CallSlot {
        CallSlot::take_in(&calls.map, &calls.live, call_id, tx)
    }

    fn take_in(
        map: &Arc<DashMap<String, mpsc::Sender<CallEvent>>>,
        live: &Arc<AtomicUsize>,
        call_id: &str,
        tx: mpsc::Sender<CallEvent>,
    ) -> CallSlot {
        map.insert(call_id.to_owned(), tx);
        live.fetch_add(1, Ordering::Relaxed);
        CallSlot {
            map: Arc::clone(map),
            live: Arc::clone(live),
            call_id: call_id.to_owned(),
        }
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.map.remove(&self.call_id);
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call task that panics still gives its slot back (it used to be freed only after
    /// the task's future returned, so each panic kept one of `max_calls` for good).
    #[tokio::test]
    async fn a_panicking_call_task_frees_its_slot() {
        let map: Arc<DashMap<String, mpsc::Sender<CallEvent>>> = Arc::default();
        let live: Arc<AtomicUsize> = Arc::default();
        let (tx, _rx) = mpsc::channel(1);
        let slot = CallSlot::take_in(&map, &live, "c1@trunk", tx.clone());
        assert_eq!((map.len(), live.load(Ordering::Relaxed)), (1, 1));
        let task = tokio::spawn(async move {
            let _slot = slot;
            tokio::task::yield_now().await;
            panic!("a bug in the call controller");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert_eq!(map.len(), 0, "the slot stayed taken");
        assert_eq!(live.load(Ordering::Relaxed), 0);

        // And an aborted one.
        let slot = CallSlot::take_in(&map, &live, "c2@trunk", tx);
        let task = tokio::spawn(async move {
            let _slot = slot;
            std::future::pending::<()>().await;
        });
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(map.len(), 0);
        assert_eq!(live.load(Ordering::Relaxed), 0);
    }

    /// A call bridged to an agent routes two Call-IDs (its own and its agent leg's) but is
    /// one call: `max_calls` and the active count (`/metrics`, `/api/status`) count calls,
    /// not Call-IDs. Counting Call-IDs refused bridged calls at half of `max_calls`.
    #[test]
    fn an_agent_leg_is_not_another_call() {
        let map: Arc<DashMap<String, mpsc::Sender<CallEvent>>> = Arc::default();
        let live: Arc<AtomicUsize> = Arc::default();
        let (tx, _rx) = mpsc::channel(1);
        let slot = CallSlot::take_in(&map, &live, "citizen@trunk", tx.clone());
        // What Calls::register does for the agent leg.
        map.insert("agent-leg@hotline".into(), tx);
        assert_eq!(map.len(), 2);
        assert_eq!(live.load(Ordering::Relaxed), 1);
        drop(slot);
        assert_eq!(live.load(Ordering::Relaxed), 0);
    }
}
