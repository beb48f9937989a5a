//! The dialler: turns the callback worklist in the database into calls.
//!
//! Every `[callbacks] poll_secs` (and at once when a callback ends), within calling hours,
//! it reads the due tasks (`pending`, `next_attempt_at` passed; higher priority, then the
//! oldest place first) and starts each one not already under way: an agent-first callback
//! that waits in the ACD's callback queue for an agent with that skill, or an automatic
//! revisit the IVR makes itself. The worklist lives in the database, so a restart loses
//! nothing: tasks a previous process had claimed are released at start.

use crate::call::Calls;
use crate::endpoint::EndpointHandle;
use chrono::Utc;
use dashmap::DashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Tasks read per poll.
const BATCH: u32 = 200;

/// The running dialler.
pub struct Dialler {
    calls: Calls,
    ep: EndpointHandle,
    /// Tasks with a callback under way (queued, ringing or talking).
    in_flight: DashSet<i64>,
    wake: Notify,
}

impl Dialler {
    /// Releases the claims a previous run left (every `in_progress` task: calls cut off by a
    /// crash, and claims made by hand before the restart, which the agent takes again) and
    /// starts the polling loop. Without `[trunk.outbound]` (or with `enabled = false`)
    /// nothing is dialled or released: the worklist is left to staff.
    pub async fn start(calls: Calls, ep: EndpointHandle) -> Option<Arc<Dialler>> {
        let ctx = &calls.ctx;
        if !ctx.cfg.callbacks.enabled {
            tracing::info!("callbacks.enabled = false: the worklist is not dialled");
            return None;
        }
        let Some(trunk) = &ctx.cfg.trunk.outbound else {
            tracing::warn!("no [trunk.outbound]: callbacks are not dialled");
            return None;
        };
        // Only the dialling node releases: a node that does not dial (one of several
        // sharing the database) must not take back the dialling node's calls.
        match ctx
            .store
            .release_callback_claims("system", Utc::now())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(tasks = n, "callback tasks of a previous run released"),
            Err(e) => tracing::error!(error = %e, "cannot release old callback claims"),
        }
        tracing::info!(gateway = %trunk.gateway, hours = %ctx.cfg.callbacks.calling_hours, "dialler started");
        let d = Arc::new(Dialler {
            calls,
            ep,
            in_flight: DashSet::new(),
            wake: Notify::new(),
        });
        tokio::spawn(d.clone().run());
        let _ = d.calls.ctx.dialler.set(d.clone());
        Some(d)
    }

    /// Reads the worklist now (a task was created or rescheduled).
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// An agent starts `task` from the desktop: their softphone rings now, outside the
    /// queue. False if the task is already under way.
    pub fn start_now(self: &Arc<Self>, task: hotline_case::CallbackTask, agent: &str) -> bool {
        let agent = hotline_acd::AgentId(agent.to_string());
        self.launch(task, Some(agent))
    }

    fn launch(
        self: &Arc<Self>,
        task: hotline_case::CallbackTask,
        direct: Option<hotline_acd::AgentId>,
    ) -> bool {
        let id = task.id.0;
        if !self.in_flight.insert(id) {
            return false;
        }
        let handle = self.calls.spawn_callback(task, self.ep.clone(), direct);
        let me = self.clone();
        tokio::spawn(async move {
            let finished_normally = handle.await.is_ok();
            me.in_flight.remove(&id);
            if !finished_normally {
                tracing::error!(task = id, "callback task panicked");
            }
        });
        true
    }

    async fn run(self: Arc<Self>) {
        let poll = Duration::from_secs(self.calls.ctx.cfg.callbacks.poll_secs);
        loop {
            self.dial_due().await;
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Starts every due task not already under way, if it is calling time.
    async fn dial_due(self: &Arc<Self>) {
        let ctx = &self.calls.ctx;
        let now = Utc::now();
        let hours = ctx.cfg.callbacks.hours();
        if hours.next_allowed(now, ctx.ivr.timezone) != now {
            return;
        }
        let tasks = match ctx.store.callback_worklist(now, BATCH).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the callback worklist");
                return;
            }
        };
        for task in tasks {
            // Tasks are checked when made; this catches older ones and a changed policy.
            if let Err(problem) = ctx.store.callback_numbers().check(&task.number) {
                tracing::warn!(task = task.id.0, number = %task.number, %problem,
                    "callback number not dialled");
                if let Err(e) = ctx
                    .store
                    .mark_callback_uncallable(task.id, &problem.to_string(), now)
                    .await
                {
                    tracing::error!(task = task.id.0, error = %e, "cannot mark the task");
                }
                continue;
            }
            self.launch(task, None);
        }
    }
}
