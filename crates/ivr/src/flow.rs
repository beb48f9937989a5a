//! One call's way through the IVR: a sans-IO state machine.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::config::IvrConfig;

/// How long the flow waits for the driver to report the end of a recording (after `#`, or
/// after the maximum length) before it decides on its own clock.
pub const RECORDING_GRACE: Duration = Duration::from_secs(5);

/// What happened on the call, fed to [`Flow::handle_input`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The last [`Output::Play`] has played to its end. Not sent for a playback that was
    /// stopped ([`Output::StopPlayback`]) or replaced by another `Play`.
    PlaybackFinished,
    /// A DTMF key: `0`–`9`, `*`, `#` (`A`–`D` are taken as wrong keys). Other chars are ignored.
    Digit(char),
    /// The recording asked for by [`Output::Record`] has ended: at its maximum length, on
    /// [`Output::StopRecording`], or for a reason of the driver's. `duration_ms` is what was kept.
    RecordingFinished { duration_ms: u64 },
    /// No agent can take the call of the last [`Output::Enqueue`] (none logged in, or the
    /// queue's maximum wait was reached).
    AgentsUnavailable,
    /// The caller hung up.
    Hangup,
}

/// What the driver must do, drained with [`Flow::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Play these prompts (names, see [`IvrConfig::prompt_names`]) one after the other,
    /// replacing whatever is playing; report [`Input::PlaybackFinished`] when all have played.
    /// `barge_in`: the flow takes keys pressed during it (and will stop it); when false, keys
    /// are ignored, so a driver need not look for them.
    Play {
        prompts: Vec<String>,
        barge_in: bool,
    },
    /// Stop the current playback (a key barged in).
    StopPlayback,
    /// Record the caller, for at most `max`; report [`Input::RecordingFinished`]. Keys keep
    /// arriving as [`Input::Digit`] (`#` ends the message).
    Record { max: Duration },
    /// Stop the recording; then report [`Input::RecordingFinished`].
    StopRecording,
    /// Ask for an agent with this queue (skill). When none can take the call, answer
    /// [`Input::AgentsUnavailable`]; once an agent answers, the flow has nothing more to do.
    Enqueue { queue: String },
    /// The message just recorded is kept: the case becomes a voicemail with a pending callback.
    Voicemail,
    /// Hang up the call; the flow is done.
    Hangup,
}

/// Where the flow is. Each playing state knows what comes when its playback finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Playing the greeting.
    Greeting,
    /// Playing the menu (after `invalid` perhaps).
    MenuPlaying,
    /// The menu has played; waiting for a key until `deadline`.
    MenuWaiting { deadline: Instant },
    /// Playing the closed notice; voicemail follows.
    Closed,
    /// Enqueued: the call is the driver's and the ACD's until [`Input::AgentsUnavailable`].
    Queued,
    /// Playing "agents busy"; voicemail follows.
    Busy,
    /// Playing the voicemail instructions and the tone; recording follows.
    VoicemailPrompt,
    /// Recording since `started`. `stop` says why and when the flow asked it to end; at
    /// `deadline` the flow stops it (no `stop` yet) or decides without the driver (`stop` set).
    Recording {
        started: Instant,
        deadline: Instant,
        stop: Option<(RecordEnd, Instant)>,
    },
    /// Playing the closing prompts; hang up when they end.
    Farewell,
    /// Hung up (either side). Nothing more happens.
    Done,
}

/// Why a recording ended, as written in the path (`voicemail:hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordEnd {
    /// The caller pressed `#`.
    Hash,
    /// The maximum length was reached.
    Max,
    /// The driver ended it early for its own reason.
    End,
    /// The caller hung up.
    Hangup,
}

impl fmt::Display for RecordEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordEnd::Hash => "hash",
            RecordEnd::Max => "max",
            RecordEnd::End => "end",
            RecordEnd::Hangup => "hangup",
        })
    }
}

/// One call's IVR flow. See the crate documentation for the driving contract.
///
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
/// use hotline_ivr::{Flow, Input, IvrConfig, Output};
///
/// let cfg = Arc::new(IvrConfig::default());
/// let wall = "2025-06-18T02:00:00Z".parse().unwrap(); // 10:00 in Shanghai: staffed
/// let t0 = Instant::now();
/// let mut flow = Flow::new(cfg, "2025061800042".into(), wall, t0);
/// assert!(matches!(flow.poll_output(), Some(Output::Play { .. }))); // the greeting
/// flow.handle_input(t0 + Duration::from_secs(3), Input::Digit('2'));
/// assert_eq!(flow.poll_output(), Some(Output::StopPlayback));
/// assert_eq!(flow.poll_output(), Some(Output::Enqueue { queue: "complaint".into() }));
/// assert_eq!(flow.path(), "greeting>menu:2>queue:complaint");
/// ```
#[derive(Debug)]
pub struct Flow {
    cfg: Arc<IvrConfig>,
    ticket: String,
    staffed: bool,
    state: State,
    outputs: VecDeque<Output>,
    path: String,
    invalid_keys: u32,
    silences: u32,
    queue: Option<String>,
}

impl Flow {
    /// Starts a call's flow: decides staffed or closed from `wall_clock` (read in the config's
    /// time zone) and queues the greeting. `ticket` is the case's ticket number (digits),
    /// read back to the caller after a voicemail. `now` is the driver's monotonic clock.
    pub fn new(
        cfg: Arc<IvrConfig>,
        ticket: String,
        wall_clock: DateTime<Utc>,
        now: Instant,
    ) -> Flow {
        let staffed = cfg.is_staffed(wall_clock);
        let mut flow = Flow {
            cfg,
            ticket,
            staffed,
            state: State::Greeting,
            outputs: VecDeque::new(),
            path: String::new(),
            invalid_keys: 0,
            silences: 0,
            queue: None,
        };
        flow.note("greeting");
        let barge_in = flow.takes_keys_in_greeting();
        let prompts = flow.cfg.greeting.prompts.clone();
        flow.play(now, prompts, barge_in, State::Greeting);
        flow
    }

    /// Feeds what happened on the call. Inputs that do not fit the current state (a late
    /// `PlaybackFinished`, a key while recording other than `#`) are ignored.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        if self.state == State::Done {
            return;
        }
        match input {
            Input::PlaybackFinished => self.playback_finished(now),
            Input::Digit(key) => self.key(now, key),
            Input::RecordingFinished { duration_ms } => {
                if let State::Recording { stop, .. } = self.state {
                    let kept = Duration::from_millis(duration_ms);
                    let why = match stop {
                        Some((why, _)) => why,
                        None if kept + Duration::from_secs(1) >= self.cfg.voicemail_max() => {
                            RecordEnd::Max
                        }
                        None => RecordEnd::End,
                    };
                    self.recording_finished(now, why, kept);
                }
            }
            Input::AgentsUnavailable => {
                if self.state == State::Queued {
                    self.note("busy");
                    let prompts = self.cfg.agents_busy.prompts.clone();
                    self.play(now, prompts, false, State::Busy);
                }
            }
            Input::Hangup => self.caller_hung_up(now),
        }
    }

    /// Tells the flow that time has reached `now`; acts if a deadline from
    /// [`Flow::poll_timeout`] has passed, else does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::MenuWaiting { deadline } if now >= deadline => {
                self.note("menu:timeout");
                self.silences += 1;
                if self.silences > self.cfg.menu.no_input_retries {
                    self.enqueue(self.cfg.menu.fallback_queue.clone());
                } else {
                    self.menu(now, false);
                }
            }
            State::Recording {
                started,
                deadline,
                stop,
            } if now >= deadline => match stop {
                None => {
                    // The driver should have stopped at the maximum length by now.
                    self.outputs.push_back(Output::StopRecording);
                    self.state = State::Recording {
                        started,
                        deadline: now + RECORDING_GRACE,
                        stop: Some((RecordEnd::Max, now)),
                    };
                }
                Some((why, at)) => {
                    // Asked to stop, never told it had: decide on our own clock.
                    let kept = at
                        .saturating_duration_since(started)
                        .min(self.cfg.voicemail_max());
                    self.recording_finished(now, why, kept);
                }
            },
            _ => {}
        }
    }

    /// The next thing for the driver to do; call until `None` after every `new`,
    /// `handle_input` and `handle_timeout`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Flow::handle_timeout`] must be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::MenuWaiting { deadline } | State::Recording { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    /// The way the caller went, for the call row: steps joined by `>`, e.g.
    /// `greeting>menu:9>invalid>menu:0>queue:agent>busy>voicemail:hash>recorded`.
    ///
    /// Steps: `greeting`, `closed`, `menu:<key>` / `menu:timeout`, `invalid`, `queue:<name>`,
    /// `busy`, `voicemail:<hash|max|end|hangup>`, `recorded` / `no_message`, and `hangup` when
    /// the caller hung up first.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the call came in during staffed hours.
    pub fn is_staffed(&self) -> bool {
        self.staffed
    }

    /// The queue of the last [`Output::Enqueue`], if any.
    pub fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }

    /// The ticket number this flow reads back.
    pub fn ticket(&self) -> &str {
        &self.ticket
    }

    /// True once the flow has hung up or the caller has; outputs still queued should be drained.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn note(&mut self, step: &str) {
        if !self.path.is_empty() {
            self.path.push('>');
        }
        self.path.push_str(step);
    }

    fn takes_keys_in_greeting(&self) -> bool {
        self.staffed && self.cfg.greeting.barge_in && !self.cfg.menu.options.is_empty()
    }

    /// Enters `state` playing `prompts`; with no prompts, goes on at once as if they had played.
    fn play(&mut self, now: Instant, prompts: Vec<String>, barge_in: bool, state: State) {
        self.state = state;
        if prompts.is_empty() {
            self.playback_finished(now);
        } else {
            self.outputs.push_back(Output::Play { prompts, barge_in });
        }
    }

    fn playback_finished(&mut self, now: Instant) {
        match self.state {
            State::Greeting if !self.staffed => {
                self.note("closed");
                let prompts = self.cfg.closed.prompts.clone();
                self.play(now, prompts, false, State::Closed);
            }
            State::Greeting if self.cfg.menu.options.is_empty() => {
                self.enqueue(self.cfg.menu.fallback_queue.clone());
            }
            State::Greeting => self.menu(now, false),
            State::MenuPlaying => {
                self.state = State::MenuWaiting {
                    deadline: now + self.cfg.digit_timeout(),
                };
            }
            State::Closed | State::Busy => {
                let prompts = self.cfg.voicemail.prompts.clone();
                self.play(now, prompts, false, State::VoicemailPrompt);
            }
            State::VoicemailPrompt => {
                let max = self.cfg.voicemail_max();
                self.outputs.push_back(Output::Record { max });
                self.state = State::Recording {
                    started: now,
                    deadline: now + max + RECORDING_GRACE,
                    stop: None,
                };
            }
            State::Farewell => {
                self.outputs.push_back(Output::Hangup);
                self.state = State::Done;
            }
            // A late report for a playback that was stopped or replaced.
            State::MenuWaiting { .. } | State::Queued | State::Recording { .. } | State::Done => {}
        }
    }

    fn menu(&mut self, now: Instant, after_invalid: bool) {
        let menu = &self.cfg.menu;
        let mut prompts = if after_invalid {
            menu.invalid_prompts.clone()
        } else {
            Vec::new()
        };
        prompts.extend(menu.prompts.iter().cloned());
        self.play(now, prompts, true, State::MenuPlaying);
    }

    fn key(&mut self, now: Instant, key: char) {
        if !"0123456789*#ABCDabcd".contains(key) {
            return;
        }
        match self.state {
            State::Greeting if self.takes_keys_in_greeting() => {
                self.outputs.push_back(Output::StopPlayback);
                self.menu_choice(now, key);
            }
            State::MenuPlaying => {
                self.outputs.push_back(Output::StopPlayback);
                self.menu_choice(now, key);
            }
            State::MenuWaiting { .. } => self.menu_choice(now, key),
            State::Recording {
                started,
                stop: None,
                ..
            } if key == '#' => {
                self.outputs.push_back(Output::StopRecording);
                self.state = State::Recording {
                    started,
                    deadline: now + RECORDING_GRACE,
                    stop: Some((RecordEnd::Hash, now)),
                };
            }
            _ => {}
        }
    }

    fn menu_choice(&mut self, now: Instant, key: char) {
        let key = key.to_ascii_uppercase();
        self.note(&format!("menu:{key}"));
        let mut buf = [0u8; 4];
        if let Some(queue) = self.cfg.menu.options.get(key.encode_utf8(&mut buf) as &str) {
            self.enqueue(queue.clone());
            return;
        }
        self.invalid_keys += 1;
        if self.invalid_keys > self.cfg.menu.invalid_retries {
            self.enqueue(self.cfg.menu.fallback_queue.clone());
        } else {
            self.note("invalid");
            self.menu(now, true);
        }
    }

    fn enqueue(&mut self, queue: String) {
        self.note(&format!("queue:{queue}"));
        self.outputs.push_back(Output::Enqueue {
            queue: queue.clone(),
        });
        self.queue = Some(queue);
        self.state = State::Queued;
    }

    fn recording_finished(&mut self, now: Instant, why: RecordEnd, kept: Duration) {
        self.note(&format!("voicemail:{why}"));
        let cfg = Arc::clone(&self.cfg);
        let vm = &cfg.voicemail;
        let mut prompts;
        if kept < Duration::from_secs(vm.min_secs) {
            self.note("no_message");
            prompts = vm.no_message_prompts.clone();
        } else {
            self.outputs.push_back(Output::Voicemail);
            self.note("recorded");
            prompts = vm.recorded_prompts.clone();
            let digits: Vec<String> = self
                .ticket
                .chars()
                .filter(char::is_ascii_digit)
                .map(|d| cfg.digit_prompt(d))
                .collect();
            if !digits.is_empty() {
                prompts.extend(vm.ticket_prompts.iter().cloned());
                prompts.extend(digits);
            }
        }
        prompts.extend(cfg.goodbye.prompts.iter().cloned());
        self.play(now, prompts, false, State::Farewell);
    }

    fn caller_hung_up(&mut self, now: Instant) {
        // Nothing queued matters any more, except keeping a message already accepted.
        self.outputs.retain(|o| *o == Output::Voicemail);
        if let State::Recording { started, stop, .. } = self.state {
            // Many callers hang up instead of pressing '#': keep what they said.
            let (why, at) = stop.unwrap_or((RecordEnd::Hangup, now));
            self.note(&format!("voicemail:{why}"));
            let kept = at
                .saturating_duration_since(started)
                .min(self.cfg.voicemail_max());
            if kept >= Duration::from_secs(self.cfg.voicemail.min_secs) {
                self.outputs.push_back(Output::Voicemail);
                self.note("recorded");
            } else {
                self.note("no_message");
            }
        }
        self.note("hangup");
        self.state = State::Done;
    }
}

#[cfg(test)]
mod tests;
