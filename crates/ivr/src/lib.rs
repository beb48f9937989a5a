//! The IVR of the 12345 hotline: what a caller hears and which keys lead where, driven by
//! `config/ivr.toml`.
//!
//! # Shape
//!
//! This crate does no I/O. It reads no clock, opens no socket or file, spawns nothing, and
//! depends on no other hotline crate. Each call's flow is a [`Flow`], a state machine in the
//! manner of str0m's `Rtc` and quinn-proto's `Connection`: the server's call task (the driver)
//! feeds it what happened and carries out what it asks.
//!
//! # Driving a [`Flow`]
//!
//! 1. [`Flow::new`] with the config, the case's ticket number, the wall clock (to decide
//!    staffed hours) and the monotonic `now`.
//! 2. Drain [`Flow::poll_output`] until `None`, carrying out each [`Output`] in order
//!    (play prompts, stop playback, record, enqueue, leave the queue, mark a callback, keep a
//!    voicemail, store a satisfaction score, look a case up, hang up).
//! 3. Ask [`Flow::poll_timeout`]; wait until that instant or until something happens on the
//!    call, whichever is first.
//! 4. Feed what happened with [`Flow::handle_input`] or, at the deadline,
//!    [`Flow::handle_timeout`]; go to 2.
//!
//! Stop when [`Flow::is_done`] (after draining). Keep the flow while the caller talks to an
//! agent ([`Flow::with_agent`]): it is quiet then, but plays the satisfaction survey if the
//! agent hangs up first. Store [`Flow::path`] on the call row.
//!
//! Time only moves when the driver says so, so tests run a whole call, timeouts included, in
//! microseconds: build instants as `base + Duration`.
//!
//! The driver's side of the contract:
//! - report [`Input::PlaybackFinished`] only for a playback that played to its end — not for
//!   one stopped by [`Output::StopPlayback`] or replaced by another [`Output::Play`];
//! - after [`Output::Record`], report [`Input::RecordingFinished`] once, whether the recording
//!   hit its maximum or was stopped by [`Output::StopRecording`]. If it does not within
//!   [`RECORDING_GRACE`], the flow decides from its own clock;
//! - after [`Output::Enqueue`], report [`Input::AgentsUnavailable`] when no agent can take the
//!   call, [`Input::Queued`] when it waits (then [`Input::Position`] whenever the number of
//!   callers ahead changes), [`Input::AgentAnswered`] when an agent answers (at once or after
//!   waiting), [`Input::QueueTimeout`] when the queue's maximum wait is reached;
//! - after [`Output::LeaveQueue`] (the caller chose a callback), take the call out of the
//!   queue and connect no agent to it;
//! - while bridged, report [`Input::AgentHungUp`] when the agent hangs up first, and keep
//!   the caller's leg for the survey; the flow hangs up ([`Output::Hangup`]) when done;
//! - after [`Output::LookupCase`], answer [`Input::CaseStatus`]: [`CaseStatusSpeech::NotYours`]
//!   when the case may not be told to the calling number (it did not open the case and the
//!   case does not allow otherwise);
//! - report [`Input::Hangup`] when the caller hangs up. The flow then only records the path,
//!   except while recording: a message long enough is still kept ([`Output::Voicemail`]),
//!   because many callers hang up instead of pressing `#`; and while queued: it asks for
//!   [`Output::LeaveQueue`].
//!
//! A flow never panics on input: inputs that do not fit the state are ignored (e.g.
//! [`Input::AgentRinging`], or keys while bridged to an agent).
//!
//! # The 12345 flow
//!
//! Greeting (with the emergency numbers) → in staffed hours, a one-level menu whose keys are
//! shortcuts to a queue (keys may be pressed during the greeting and the menu); a wrong key
//! replays the menu a few times; silence, or too many wrong keys, go to a person. When no
//! agent can take the call, or outside staffed hours (the closed notice then reads the weekly
//! staffed hours from `[hours]`, [`Hours::spoken`]), the caller may leave a message, which
//! becomes a voicemail case with a pending callback; its ticket number is read back digit by
//! digit. While the call waits in the queue the caller hears a comfort prompt, how many
//! callers are ahead (read as a Chinese number, [`chinese_number_prompts`]) and the offer of
//! a callback (a key leaves the queue; the ticket number is read back), then hold music until
//! the next announcement; at the queue's maximum wait, the caller may leave a message. When
//! the agent hangs up first, the caller is asked to rate the service (满意 1 / 基本满意 2 /
//! 不满意 3). A menu key (`[menu] status_digit`) starts the status query: the caller keys a
//! ticket number and `#`, and hears the case's state and deadline (the date read out), one
//! more try after an unknown ticket. Staffed hours, holidays and swapped workdays (调休) are read in `Asia/Shanghai`
//! unless configured otherwise; see [`IvrConfig`] and [`Hours`].

mod config;
mod flow;
mod hours;
mod number;

pub use config::{
    AgentPrompts, CallbackPrompts, Closed, ConfigError, FieldError, Greeting, InvalidConfig,
    IvrConfig, Menu, Queue, Status, Step, Survey, Voicemail,
};
pub use flow::{CaseStatusSpeech, Flow, Input, Output, RECORDING_GRACE};
pub use hours::{DayHours, Hours, HoursError, HOURS_PROMPTS};
pub use number::{chinese_number_prompts, MAX_SPOKEN_NUMBER, NUMBER_PROMPTS};
