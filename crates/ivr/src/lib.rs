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
//!    (play prompts, stop playback, record, enqueue, keep a voicemail, hang up).
//! 3. Ask [`Flow::poll_timeout`]; wait until that instant or until something happens on the
//!    call, whichever is first.
//! 4. Feed what happened with [`Flow::handle_input`] or, at the deadline,
//!    [`Flow::handle_timeout`]; go to 2.
//!
//! Stop when [`Flow::is_done`] (after draining), or when the call leaves the IVR (an agent
//! answered the [`Output::Enqueue`]). Store [`Flow::path`] on the call row either way.
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
//!   call;
//! - report [`Input::Hangup`] when the caller hangs up. The flow then only records the path,
//!   except while recording: a message long enough is still kept ([`Output::Voicemail`]),
//!   because many callers hang up instead of pressing `#`.
//!
//! A flow never panics on input: inputs that do not fit the state are ignored.
//!
//! # The 12345 flow
//!
//! Greeting (with the emergency numbers) → in staffed hours, a one-level menu whose keys are
//! shortcuts to a queue (keys may be pressed during the greeting and the menu); a wrong key
//! replays the menu a few times; silence, or too many wrong keys, go to a person. When no
//! agent can take the call, or outside staffed hours, the caller may leave a message, which
//! becomes a voicemail case with a pending callback; its ticket number is read back digit by
//! digit. Staffed hours, holidays and swapped workdays (调休) are read in `Asia/Shanghai`
//! unless configured otherwise; see [`IvrConfig`] and [`Hours`].

mod config;
mod flow;
mod hours;

pub use config::{
    ConfigError, FieldError, Greeting, InvalidConfig, IvrConfig, Menu, Step, Voicemail,
};
pub use flow::{Flow, Input, Output, RECORDING_GRACE};
pub use hours::{DayHours, Hours, HoursError};
