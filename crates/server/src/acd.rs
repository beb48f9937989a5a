//! The ACD service: the pure router (`hotline-acd`) behind a lock, its clock and timer, the
//! delivery of its decisions to calls, wrap-up timers, and the audit and live stream of
//! agent state changes.
//!
//! The lock is a plain mutex held only for one router call (microseconds, never across an
//! `.await`); decisions are delivered after it is released.

use crate::call::CallEvent;
use crate::config::AcdConfig;
use dashmap::DashMap;
use hotline_acd::{
    AgentId, AgentState, CallKey, Decision, Millis, QueueConfig, Router, Snapshot, Strategy,
    WideningStep,
};
use hotline_case::CaseStore;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, Notify};

/// A change the supervisor's live view shows (server-sent events).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// An agent changed state.
    Agent {
        agent: String,
        from: String,
        to: String,
        reason: Option<String>,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// An agent's phone rings for a call (the desk's screen pop).
    Offer {
        agent: String,
        ticket: String,
        queue: String,
        /// The caller's way through the IVR.
        path: String,
        /// How long the caller has waited since the call began.
        waited_ms: u64,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// A caller joined, left or was connected.
    Call {
        ticket: String,
        queue: String,
        what: String,
        at: chrono::DateTime<chrono::Utc>,
    },
}

/// One agent state change for the audit trail.
#[derive(Debug)]
struct AgentAudit {
    agent: String,
    from: String,
    to: String,
    reason: Option<String>,
    sip_call_id: Option<String>,
    actor: Option<String>,
}

/// Who asked for an agent's state change, as the audit trail names them.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    /// The agent's own softphone (a feature code).
    Phone,
    /// A logged-in user of the API or desk.
    User(&'a str),
    /// The hotline itself: routing, wrap-up ending, a registration lapsing.
    System,
}

impl By<'_> {
    fn actor(self) -> Option<String> {
        match self {
            By::Phone => Some("phone".into()),
            By::User(u) => Some(u.to_owned()),
            By::System => None,
        }
    }
}

/// The router's clock starts this far above zero, so that a call that has waited since
/// before the server started (a callback task keeping its caller's place, up to 30 days)
/// still has an arrival on the clock.
const HEADROOM_MS: Millis = 30 * 86_400_000;

/// Per-agent settings the ACD needs besides skills.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub max_ring: Duration,
    pub wrap_up: Duration,
}

/// The ACD as the server uses it.
pub struct AcdService {
    router: Mutex<Router>,
    origin: Instant,
    /// Calls in the ACD (waiting or offered): where their decisions go.
    calls: DashMap<CallKey, mpsc::Sender<CallEvent>>,
    /// The agent each offered or connected call is with (for audit of call-keyed events).
    with_agent: DashMap<CallKey, AgentId>,
    /// The caller leg's SIP Call-ID of each call, for the agents' audit trail.
    sip_call_ids: DashMap<CallKey, String>,
    /// Last state seen per agent, to audit changes.
    states: Mutex<HashMap<AgentId, String>>,
    settings: DashMap<AgentId, AgentSettings>,
    /// The call whose wrap-up each agent is in: only that call's timer may end it.
    wrapping: DashMap<AgentId, CallKey>,
    wake: Notify,
    pub live: broadcast::Sender<LiveEvent>,
    /// Counts the live events published ([`AcdService::publish`]): a view computed at one
    /// count is current until it moves.
    changes: std::sync::atomic::AtomicU64,
    audit: mpsc::UnboundedSender<AgentAudit>,
}

fn strategy(s: &str) -> Strategy {
    match s {
        "most-skilled" => Strategy::MostSkilled,
        "round-robin" => Strategy::RoundRobin,
        "fewest-calls" => Strategy::FewestCalls,
        _ => Strategy::LongestIdle,
    }
}

/// The state's name as stored and shown.
pub fn state_name(s: &AgentState) -> (&'static str, Option<String>) {
    match s {
        AgentState::LoggedOut => ("logged_out", None),
        AgentState::Ready => ("ready", None),
        AgentState::NotReady(r) => ("not_ready", Some(r.clone())),
        AgentState::Offered(_) => ("offered", None),
        AgentState::OnCall(_) => ("on_call", None),
        AgentState::WrapUp => ("wrap_up", None),
    }
}

impl AcdService {
    /// Builds the router from config and starts its timer and audit writer.
    pub fn start(cfg: &AcdConfig, store: CaseStore) -> Arc<AcdService> {
        let mut router = Router::new();
        for q in &cfg.queues {
            router.add_queue(QueueConfig {
                name: q.name.clone(),
                strategy: strategy(&q.strategy),
                min_level: q.min_level,
                max_len: q.max_len,
                max_wait_ms: q.max_wait_secs.map(|s| s * 1000),
                widening: q
                    .widening
                    .iter()
                    .map(|w| WideningStep {
                        after_ms: w.after_secs * 1000,
                        min_level: w.min_level,
                        overflow_to: w.overflow_to.clone(),
                    })
                    .collect(),
            });
        }
        let (audit, mut audit_rx) = mpsc::unbounded_channel::<AgentAudit>();
        let (live, _) = broadcast::channel(1024);
        let svc = Arc::new(AcdService {
            router: Mutex::new(router),
            origin: Instant::now(),
            calls: DashMap::new(),
            with_agent: DashMap::new(),
            sip_call_ids: DashMap::new(),
            states: Mutex::new(HashMap::new()),
            settings: DashMap::new(),
            wrapping: DashMap::new(),
            wake: Notify::new(),
            live,
            changes: Default::default(),
            audit,
        });
        // One writer keeps the audit trail in order.
        tokio::spawn(async move {
            while let Some(a) = audit_rx.recv().await {
                let at = chrono::Utc::now();
                let written = store
                    .record_agent_event(&hotline_case::NewAgentEvent {
                        extension: &a.agent,
                        at,
                        from: &a.from,
                        to: &a.to,
                        reason: a.reason.as_deref(),
                        sip_call_id: a.sip_call_id.as_deref(),
                        actor: a.actor.as_deref(),
                    })
                    .await;
                if let Err(e) = written {
                    tracing::error!(agent = %a.agent, error = %e, "cannot write the agent event");
                }
            }
        });
        let timer = svc.clone();
        tokio::spawn(async move { timer.run_timer().await });
        svc
    }

    /// The router's clock: milliseconds since start plus [`HEADROOM_MS`].
    pub fn now(&self) -> Millis {
        self.origin.elapsed().as_millis() as Millis + HEADROOM_MS
    }

    fn router(&self) -> std::sync::MutexGuard<'_, Router> {
        self.router.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run_timer(self: Arc<Self>) {
        loop {
            let next = self.router().poll_timeout();
            let sleep = async {
                match next {
                    Some(at) => {
                        let since_start = Duration::from_millis(at.saturating_sub(HEADROOM_MS));
                        tokio::time::sleep_until((self.origin + since_start).into()).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {
                    let now = self.now();
                    let decisions = self.router().handle_timeout(now);
                    self.deliver(decisions);
                }
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Routes decisions to the calls they concern and audits the agents they move.
    fn deliver(&self, decisions: Vec<Decision>) {
        for d in decisions {
            match d {
                Decision::Offer { call, agent } => {
                    self.with_agent.insert(call, agent.clone());
                    self.sync_agent(&agent, Some(call));
                    let sent = self
                        .calls
                        .get(&call)
                        .map(|tx| {
                            tx.try_send(CallEvent::Offer {
                                agent: agent.clone(),
                            })
                            .is_ok()
                        })
                        .unwrap_or(false);
                    if !sent {
                        // The call is gone or stuck: take the offer back at once.
                        tracing::warn!(?call, agent = %agent.0, "offer could not reach its call");
                        let more = self.router().abandon(call, self.now());
                        self.with_agent.remove(&call);
                        self.sync_agent(&agent, None);
                        self.deliver(more);
                    }
                }
                Decision::Expired { call } => {
                    self.sip_call_ids.remove(&call);
                    if let Some((_, tx)) = self.calls.remove(&call) {
                        let _ = tx.try_send(CallEvent::QueueExpired);
                    }
                }
                Decision::Queued { .. } | Decision::Refused { .. } => {}
            }
        }
        self.wake.notify_one();
    }

    /// Audits and publishes an agent's state if it changed since last seen.
    fn sync_agent(&self, agent: &AgentId, call: Option<CallKey>) {
        self.sync_agent_by(agent, call, By::System)
    }

    /// [`AcdService::sync_agent`] for a change someone asked for.
    fn sync_agent_by(&self, agent: &AgentId, call: Option<CallKey>, by: By<'_>) {
        let now_state = self
            .router()
            .agent_state(agent)
            .cloned()
            .unwrap_or(AgentState::LoggedOut);
        let (to, reason) = state_name(&now_state);
        let from = {
            let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
            let from = states
                .insert(agent.clone(), to.to_string())
                .unwrap_or_else(|| "logged_out".into());
            if from == to && !matches!(now_state, AgentState::NotReady(_)) {
                return;
            }
            from
        };
        let sip_call_id = call.and_then(|c| self.sip_call_ids.get(&c).map(|s| s.clone()));
        let _ = self.audit.send(AgentAudit {
            agent: agent.0.clone(),
            from: from.clone(),
            to: to.to_string(),
            reason: reason.clone(),
            sip_call_id,
            actor: by.actor(),
        });
        self.publish(LiveEvent::Agent {
            agent: agent.0.clone(),
            from,
            to: to.to_string(),
            reason,
            at: chrono::Utc::now(),
        });
    }

    /// A caller asks for a queue; later decisions arrive on `tx`.
    pub fn enqueue(
        &self,
        call: CallKey,
        sip_call_id: &str,
        queue: &str,
        priority: u8,
        tx: mpsc::Sender<CallEvent>,
    ) -> Decision {
        self.calls.insert(call, tx);
        self.sip_call_ids.insert(call, sip_call_id.to_string());
        let d = self.router().enqueue(call, queue, priority, self.now());
        self.after_enqueue(call, &d);
        d
    }

    /// Like [`AcdService::enqueue`] for a call that has already waited `waited` (a callback
    /// task since its caller's first call): it keeps that place in its queue.
    pub fn enqueue_placed(
        &self,
        call: CallKey,
        label: &str,
        queue: &str,
        priority: u8,
        waited: Duration,
        tx: mpsc::Sender<CallEvent>,
    ) -> Decision {
        self.calls.insert(call, tx);
        self.sip_call_ids.insert(call, label.to_string());
        let now = self.now();
        let arrival = now.saturating_sub(waited.as_millis() as Millis);
        let d = self
            .router()
            .enqueue_since(call, queue, priority, arrival, now);
        self.after_enqueue(call, &d);
        d
    }

    fn after_enqueue(&self, call: CallKey, d: &Decision) {
        match d {
            Decision::Refused { .. } | Decision::Expired { .. } => {
                self.calls.remove(&call);
                self.sip_call_ids.remove(&call);
            }
            Decision::Offer { .. } => self.deliver(vec![d.clone()]),
            Decision::Queued { .. } => self.wake.notify_one(),
        }
    }

    /// Reserves the Ready agent `agent` for `call` (an agent's transfer or consultation to
    /// that extension): the agent shows as ringing, then on the call; `answered`,
    /// `offer_failed` (the agent pauses; nobody else is offered it), `conversation_ended`
    /// and `leave` (withdrawn) apply as for a queue's offer.
    pub fn offer_direct(
        &self,
        call: CallKey,
        agent: &AgentId,
        label: &str,
    ) -> Result<(), hotline_acd::DirectRefusal> {
        self.router().offer_direct(call, agent, self.now())?;
        self.with_agent.insert(call, agent.clone());
        self.sip_call_ids.insert(call, label.to_string());
        self.sync_agent(agent, Some(call));
        Ok(())
    }

    /// The caller left (hung up, asked for a callback) while waiting or ringing an agent.
    pub fn leave(&self, call: CallKey) {
        self.calls.remove(&call);
        let d = self.router().abandon(call, self.now());
        if let Some((_, agent)) = self.with_agent.remove(&call) {
            self.sync_agent(&agent, Some(call));
        }
        self.sip_call_ids.remove(&call);
        self.deliver(d);
    }

    /// The offered agent answered.
    pub fn answered(&self, call: CallKey) {
        self.calls.remove(&call);
        self.router().offer_answered(call, self.now());
        if let Some(agent) = self.with_agent.get(&call).map(|a| a.clone()) {
            self.sync_agent(&agent, Some(call));
        }
    }

    /// The offer failed (no answer, busy, error): the agent is paused, the call goes back.
    pub fn offer_failed(&self, call: CallKey, reason: &str) {
        let d = self.router().offer_failed(call, reason, self.now());
        if let Some((_, agent)) = self.with_agent.remove(&call) {
            self.sync_agent(&agent, Some(call));
        }
        self.deliver(d);
    }

    /// The conversation ended: the agent wraps up, then is ready again after its wrap-up time.
    pub fn conversation_ended(
        self: &Arc<Self>,
        call: CallKey,
        on_wrap_up_done: impl FnOnce() + Send + 'static,
    ) {
        self.router().call_ended(call, self.now());
        let Some((_, agent)) = self.with_agent.remove(&call) else {
            return;
        };
        self.sync_agent(&agent, Some(call));
        let wrap = self
            .settings
            .get(&agent)
            .map(|s| s.wrap_up)
            .unwrap_or(Duration::from_secs(30));
        self.wrapping.insert(agent.clone(), call);
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wrap).await;
            on_wrap_up_done();
            me.sip_call_ids.remove(&call);
            // Still in this call's wrap-up (not paused, logged out, or made ready and on to
            // another call meanwhile, whose wrap-up has its own timer): ready for the next.
            let mine = me.wrapping.remove_if(&agent, |_, c| *c == call).is_some();
            if mine && matches!(me.router().agent_state(&agent), Some(AgentState::WrapUp)) {
                me.set_ready(&agent, By::System);
            }
        });
    }

    /// An agent logs in (not ready until `set_ready`) with its skills and settings.
    pub fn login(
        &self,
        agent: &AgentId,
        skills: &[(String, u8)],
        settings: AgentSettings,
        by: By<'_>,
    ) {
        self.settings.insert(agent.clone(), settings);
        let known = self
            .router()
            .agent_state(agent)
            .is_some_and(|s| *s != AgentState::LoggedOut);
        if known {
            let d = self.router().set_skills(agent, skills, self.now());
            self.deliver(d);
        } else {
            self.router().login(agent.clone(), skills, self.now());
        }
        self.sync_agent_by(agent, None, by);
    }

    /// Logs an agent out (feature code, API, or its registration lapsed).
    pub fn logout(&self, agent: &AgentId, by: By<'_>) {
        let d = self.router().logout(agent, self.now());
        self.sync_agent_by(agent, None, by);
        self.deliver(d);
    }

    /// The agent is ready for calls.
    pub fn set_ready(&self, agent: &AgentId, by: By<'_>) {
        let d = self.router().set_ready(agent, self.now());
        self.sync_agent_by(agent, None, by);
        self.deliver(d);
    }

    /// The agent pauses. False (nothing changed) while a call rings or talks, or when logged out.
    pub fn set_not_ready(&self, agent: &AgentId, reason: &str, by: By<'_>) -> bool {
        let applied = self.router().set_not_ready(agent, reason, self.now());
        self.sync_agent_by(agent, None, by);
        applied
    }

    /// A waiting call's place (1 = next).
    pub fn position(&self, call: CallKey) -> Option<usize> {
        self.router().position(call)
    }

    /// An agent's current state.
    pub fn agent_state(&self, agent: &AgentId) -> Option<AgentState> {
        self.router().agent_state(agent).cloned()
    }

    /// How long an agent's phone may ring.
    pub fn max_ring(&self, agent: &AgentId) -> Duration {
        self.settings
            .get(agent)
            .map(|s| s.max_ring)
            .unwrap_or(Duration::from_secs(20))
    }

    /// Sends a live event to the pages' streams, counted first (see [`AcdService::changes`]).
    pub fn publish(&self, e: LiveEvent) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _ = self.live.send(e);
    }

    /// How many live events have been published: a reader that saw this count before a
    /// reading knows whether anything changed since.
    pub fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How long an agent's wrap-up lasts.
    pub fn wrap_up(&self, agent: &AgentId) -> Duration {
        self.settings
            .get(agent)
            .map(|s| s.wrap_up)
            .unwrap_or(Duration::ZERO)
    }

    /// One agent as the supervisor sees it (state, since when, calls since login).
    pub fn agent_snapshot(&self, agent: &AgentId) -> Option<hotline_acd::AgentSnapshot> {
        self.snapshot().agents.into_iter().find(|a| &a.id == agent)
    }

    /// Queues and agents as the supervisor sees them.
    pub fn snapshot(&self) -> Snapshot {
        self.router().snapshot(self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn service(dir: &std::path::Path) -> Arc<AcdService> {
        let url = format!("sqlite://{}/acd.db", dir.display());
        let store = CaseStore::open(&url).await.unwrap();
        AcdService::start(&AcdConfig::default(), store)
    }

    /// One call, offered to and answered by `agent`, then ended.
    fn take_call(svc: &Arc<AcdService>, call: u64, tx: &mpsc::Sender<CallEvent>) {
        let key = CallKey(call);
        let d = svc.enqueue(key, &format!("c{call}"), "consult", 0, tx.clone());
        assert!(matches!(d, Decision::Offer { .. }), "{d:?}");
        svc.answered(key);
        svc.conversation_ended(key, || {});
    }

    /// The wrap-up timer of a call whose wrap-up a supervisor cut short must not end the
    /// wrap-up of the agent's next call early.
    #[tokio::test]
    async fn a_stale_wrap_up_timer_does_not_end_the_next_calls_wrap_up() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path()).await;
        // The store is open (its pool's timeouts run on real time); the timers are faked.
        tokio::time::pause();
        let agent = AgentId("1001".into());
        let settings = AgentSettings {
            max_ring: Duration::from_secs(20),
            wrap_up: Duration::from_secs(10),
        };
        svc.login(&agent, &[("consult".into(), 5)], settings, By::System);
        svc.set_ready(&agent, By::System);
        let (tx, _rx) = mpsc::channel(64);

        take_call(&svc, 1, &tx); // wrap-up of call 1 until t = 10 s
        assert_eq!(svc.agent_state(&agent), Some(AgentState::WrapUp));
        tokio::time::sleep(Duration::from_secs(2)).await;
        svc.set_ready(&agent, By::System); // cut short by a supervisor
        tokio::time::sleep(Duration::from_secs(1)).await;
        take_call(&svc, 2, &tx); // wrap-up of call 2 until t = 13 s

        tokio::time::sleep(Duration::from_millis(7_500)).await; // t = 10.5 s
        assert_eq!(
            svc.agent_state(&agent),
            Some(AgentState::WrapUp),
            "call 1's timer ended call 2's wrap-up"
        );
        tokio::time::sleep(Duration::from_secs(3)).await; // t = 13.5 s
        assert_eq!(svc.agent_state(&agent), Some(AgentState::Ready));
    }
}
