//! The ACD facts of a call row, step by step: which steps a call may take in what order,
//! and the times they compute. Pure; the backends read the row, [`AcdRecord::advance`]
//! it, and write it back in the same transaction.
//!
//! An outbound call (a callback dialled agent first) never waits in a queue: its agent
//! may answer without it being queued, and it gets no queue result or wait, so it stays
//! out of the queue figures; talk and wrap-up times are kept as for an inbound call.

use chrono::{DateTime, Utc};

use crate::error::CaseError;
use crate::model::{is_valid_extension, AcdResult, CallId};
use crate::rows::{self, AcdRecord};

/// One thing that happened to a call in the ACD.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AcdStep<'a> {
    /// It entered (or was moved to) a queue.
    Queued { queue: &'a str },
    /// An agent's phone was rung for it.
    Offered { agent: &'a str },
    /// The agent did not take it (no answer, busy, declined).
    OfferRejected { agent: &'a str, reason: &'a str },
    /// An agent answered.
    Answered {
        agent: &'a str,
        agent_call_id: &'a str,
    },
    /// The conversation with the agent ended.
    AgentEnded,
    /// The agent finished wrap-up.
    WrapUpDone,
    /// It left the queue unanswered (never [`AcdResult::Answered`]).
    LeftQueue(AcdResult),
    /// Something for the case trail only (transfer, hold, supervision).
    Note(CallNote<'a>),
}

/// What agents and supervisors did on an answered call, for the case's trail: the row
/// keeps the first agent's figures, the trail says what followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallNote<'a> {
    /// The citizen was sent on (`to`: "agent 1002", "queue complaint", "number 110",
    /// "survey").
    Transferred { to: &'a str },
    /// The transfer's target answered.
    TransferAnswered { by: &'a str },
    /// The citizen was on hold this long.
    Held { ms: i64 },
    /// A supervisor (`who`, a user or an extension) listened, whispered or barged in.
    Supervised { who: &'a str, how: &'a str },
    /// A supervisor ended the call.
    ForcedHangUp { who: &'a str },
}

impl CallNote<'_> {
    /// The trail's event name and note.
    fn audit(&self) -> Audit {
        match self {
            CallNote::Transferred { to } => ("transferred", format!("to {to}")),
            CallNote::TransferAnswered { by } => ("transfer_answered", (*by).to_owned()),
            CallNote::Held { ms } => ("held", format!("{} s", (ms + 500) / 1000)),
            CallNote::Supervised { who, how } => ("supervised", format!("{how} by {who}")),
            CallNote::ForcedHangUp { who } => ("force_hangup", format!("by {who}")),
        }
    }
}

/// An audit event for the case: (event, note).
pub(crate) type Audit = (&'static str, String);

impl AcdRecord {
    /// Applies `step` at `at`, or fails with [`CaseError::InvalidCallState`] if the call's
    /// history does not allow it. Returns the case audit event to write, if any.
    /// `outbound`: the call was placed by the hotline (see the module docs).
    pub(crate) fn advance(
        &mut self,
        call: CallId,
        step: AcdStep<'_>,
        at: DateTime<Utc>,
        outbound: bool,
    ) -> Result<Option<Audit>, CaseError> {
        let invalid = |reason| CaseError::InvalidCallState { call, reason };
        match step {
            AcdStep::Queued { queue } => {
                if queue.is_empty() {
                    return Err(invalid("empty queue name"));
                }
                self.still_waiting(call)?;
                let note = match self.queue.as_deref() {
                    Some(old) if old != queue => format!("queue {queue} (from {old})"),
                    _ => format!("queue {queue}"),
                };
                self.queue = Some(queue.to_owned());
                // Moving to another queue keeps the first time: the caller's wait counts
                // from when they first asked for an agent.
                self.queued_at.get_or_insert(at);
                Ok(Some(("queued", note)))
            }
            AcdStep::Offered { agent } => {
                check_extension(agent)?;
                self.waiting_in_queue(call)?;
                self.offered_count += 1;
                Ok(Some(("offered", format!("agent {agent}"))))
            }
            AcdStep::OfferRejected { agent, reason } => {
                check_extension(agent)?;
                self.waiting_in_queue(call)?;
                if self.rejected_count >= self.offered_count {
                    return Err(invalid("no offer to reject"));
                }
                self.rejected_count += 1;
                Ok(Some(("offer_rejected", format!("agent {agent}: {reason}"))))
            }
            AcdStep::Answered {
                agent,
                agent_call_id,
            } if outbound && self.queued_at.is_none() => {
                check_extension(agent)?;
                if self.agent_answered_at.is_some() {
                    return Err(invalid("an agent already answered it"));
                }
                self.agent = Some(agent.to_owned());
                self.agent_call_id = Some(agent_call_id.to_owned());
                self.agent_answered_at = Some(at);
                Ok(Some(("agent_answered", format!("agent {agent}"))))
            }
            AcdStep::Answered {
                agent,
                agent_call_id,
            } => {
                check_extension(agent)?;
                let queued_at = self.waiting_in_queue(call)?;
                self.agent = Some(agent.to_owned());
                self.agent_call_id = Some(agent_call_id.to_owned());
                self.agent_answered_at = Some(at);
                self.acd_result = Some(AcdResult::Answered.as_str().to_owned());
                self.wait_ms = Some(elapsed_ms(queued_at, at));
                Ok(Some(("agent_answered", format!("agent {agent}"))))
            }
            AcdStep::AgentEnded => {
                let answered = self
                    .agent_answered_at
                    .ok_or_else(|| invalid("no agent answered it"))?;
                if self.agent_ended_at.is_some() {
                    return Err(invalid("the agent leg already ended"));
                }
                self.agent_ended_at = Some(at);
                self.talk_ms = Some(elapsed_ms(answered, at));
                Ok(None)
            }
            AcdStep::WrapUpDone => {
                let ended = self
                    .agent_ended_at
                    .ok_or_else(|| invalid("the agent leg has not ended"))?;
                if self.wrap_up_ended_at.is_some() {
                    return Err(invalid("wrap-up already done"));
                }
                self.wrap_up_ended_at = Some(at);
                self.wrap_up_ms = Some(elapsed_ms(ended, at));
                Ok(None)
            }
            AcdStep::Note(n) => {
                if self.agent_answered_at.is_none() {
                    return Err(invalid("no agent answered it"));
                }
                Ok(Some(n.audit()))
            }
            AcdStep::LeftQueue(result) => {
                if result == AcdResult::Answered {
                    return Err(CaseError::InvalidAcdResult(result.as_str().to_owned()));
                }
                let queued_at = self.waiting_in_queue(call)?;
                self.acd_result = Some(result.as_str().to_owned());
                self.wait_ms = Some(elapsed_ms(queued_at, at));
                Ok(Some(("left_queue", result.as_str().to_owned())))
            }
        }
    }

    /// Fails if the call already has a queue result.
    fn still_waiting(&self, call: CallId) -> Result<(), CaseError> {
        match self
            .acd_result
            .as_deref()
            .map(rows::acd_result)
            .transpose()?
        {
            Some(_) => Err(CaseError::InvalidCallState {
                call,
                reason: "it already left the queue",
            }),
            None => Ok(()),
        }
    }

    /// The time it was queued, failing unless it is queued and has no result yet.
    fn waiting_in_queue(&self, call: CallId) -> Result<DateTime<Utc>, CaseError> {
        let queued_at = self.queued_at.ok_or(CaseError::InvalidCallState {
            call,
            reason: "it was never queued",
        })?;
        self.still_waiting(call)?;
        Ok(queued_at)
    }
}

fn check_extension(ext: &str) -> Result<(), CaseError> {
    if is_valid_extension(ext) {
        Ok(())
    } else {
        Err(CaseError::InvalidExtension(ext.to_owned()))
    }
}

/// Milliseconds from `from` to `to`; 0 if the clock went backwards.
fn elapsed_ms(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds().max(0)
}
