//! # hotline-acd — the routing core
//!
//! ## Model: time in, decisions out
//!
//! The crate is pure: no I/O, no async, no threads, no clock reads, deterministic. The call
//! controller tells the [`Router`] what happened — an agent logged in or became ready, a call
//! asked for a queue, an offer was answered or failed, a caller left — together with `now`
//! ([`Millis`] from an origin the controller picks, never decreasing), and acts on the
//! [`Decision`]s it returns: ring an agent ([`Decision::Offer`]), announce a position
//! ([`Decision::Queued`]), send the caller to voicemail ([`Decision::Refused`],
//! [`Decision::Expired`]). Like quinn-proto and str0m, the router owns no timer: after every
//! input the controller asks [`Router::poll_timeout`] and calls [`Router::handle_timeout`] at
//! (or after) that instant; that is how waiting calls reach their widening steps and their
//! maximum wait. Ring timeouts and wrap-up timers belong to the controller, which reports
//! their outcome ([`Router::offer_failed`], [`Router::set_ready`]).
//!
//! Agents go `LoggedOut → NotReady("login") → Ready ⇄ NotReady(reason) → Offered(call) →
//! OnCall(call) → WrapUp → Ready` ([`AgentState`]). Only Ready agents are offered calls.
//! Each waiting call belongs to exactly one queue (its skill). It waits in order of priority
//! (higher first) then arrival, and may be served by an agent holding the queue's skill at
//! the call's current minimum level; timed [`WideningStep`]s lower that level and/or let the
//! agents of an overflow queue serve it too.
//!
//! The router keeps one invariant after every input: **no Ready agent idles while a call it
//! can serve waits**. So every input that makes an agent ready or a call servable is
//! matched at once, and the match is unambiguous:
//! - a call becoming servable goes to the best ready agent of its queue by the queue's
//!   [`Strategy`] (falling back to the agents of its overflow queues, in step order);
//! - an agent becoming ready takes the best waiting call it can serve across all its
//!   skills: the highest priority, then the longest waiting (fairness across queues).
//!
//! ## Complexity
//!
//! With `n` agents and `m` waiting calls, each input costs O(s·5·log n + s·5·log m) where
//! `s` is the number of skills of the agent involved (a handful) and 5 the skill levels:
//! - per queue, ready agents sit in five `BTreeSet`s (one per level) ordered by the
//!   strategy's key, so "best agent at level ≥ k" is at most five `first()`s;
//! - per queue, waiting calls sit in five `BTreeSet`s keyed by their current minimum level
//!   (an agent of level L looks at the heads of buckets 1..=L) plus one set of calls that
//!   overflowed into it;
//! - per queue, an order-statistics treap gives [`Router::position`] in O(log m);
//! - one global `BTreeSet` of (next deadline, call) drives [`Router::poll_timeout`].
//!
//! Nothing scans all agents or all calls except [`Router::snapshot`] (which lists every
//! agent anyway) and [`Router::add_queue`] (configuration, which re-indexes the agents).

mod ostree;
mod router;
mod types;

pub use router::Router;
pub use types::*;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
