//! One call's way through the IVR: a sans-IO state machine.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::config::IvrConfig;
use crate::number::chinese_number_prompts;

/// How long the flow waits for the driver to report the end of a recording (after `#`, or
/// after the maximum length) before it decides on its own clock.
pub const RECORDING_GRACE: Duration = Duration::from_secs(5);

/// What the case store says about the ticket of an [`Output::LookupCase`], for the flow to
/// read to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseStatusSpeech {
    /// No case has that ticket number. The caller may try again (`[status] retries`).
    NotFound,
    /// The case exists but may not be told to this caller (the driver compares the caller's
    /// number with the one that opened the case, unless the case allows otherwise).
    NotYours,
    /// The case and what to say about it: `state` is its lifecycle state as the case store
    /// writes it (`registered`, `dispatched`, `accepted`, `replied`, `revisited`, `redo`,
    /// `closed`, `answered`, `forwarded`, `returned`, `voicemail`, `callback_pending`; said
    /// through `[status.states]`), `deadline` its handling deadline (办理期限), if any.
    Found {
        state: String,
        deadline: Option<NaiveDate>,
    },
}

/// What happened on the call, fed to [`Flow::handle_input`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The last [`Output::Play`] has played to its end. Not sent for a playback that was
    /// stopped ([`Output::StopPlayback`]) or replaced by another `Play`.
    PlaybackFinished,
    /// A DTMF key: `0`–`9`, `*`, `#` (`A`–`D` are taken as wrong keys). Other chars are ignored.
    Digit(char),
    /// The recording asked for by [`Output::Record`] has ended: at its maximum length, on
    /// [`Output::StopRecording`], or for a reason of the driver's. `duration_ms` is what was kept.
    RecordingFinished { duration_ms: u64 },
    /// No agent can take the call of the last [`Output::Enqueue`] (none logged in, the queue
    /// is full), or, while it waits, none can any more. The call is no longer in the queue.
    AgentsUnavailable,
    /// Answer to [`Output::Enqueue`]: the call waits in the queue at 1-based `position`
    /// (1: it is next), as the ACD reports it. The flow plays the queue announcements, which
    /// say `position - 1` callers are ahead ("您前面还有 N 位"; nothing when none is).
    Queued { position: usize },
    /// While queued: the call's 1-based position changed. Said at the next announcement.
    Position { position: usize },
    /// While queued: an agent's phone rings for this call. The caller keeps hearing the queue.
    AgentRinging,
    /// An agent answered the queued call: caller and agent are bridged. The flow stops its
    /// prompts and is quiet until [`Input::AgentHungUp`] or [`Input::Hangup`].
    AgentAnswered,
    /// While queued: the queue's maximum wait was reached and the call left the queue. The
    /// caller may leave a message instead.
    QueueTimeout,
    /// While bridged: the agent hung up first; the caller is still on the line (survey).
    AgentHungUp,
    /// Answer to [`Output::LookupCase`]: what to tell the caller about that ticket.
    CaseStatus { status: CaseStatusSpeech },
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
    /// Ask for an agent with this queue (skill). Answer [`Input::Queued`] when the call waits,
    /// [`Input::AgentAnswered`] once an agent answers (at once or after waiting),
    /// [`Input::AgentsUnavailable`] when none can take it, [`Input::QueueTimeout`] at the
    /// queue's maximum wait.
    Enqueue { queue: String },
    /// Take the call out of the ACD queue: the caller chose a callback, or hung up while
    /// waiting. No [`Input::AgentAnswered`] may follow.
    LeaveQueue,
    /// The caller asked to be called back instead of waiting: mark the case for a callback.
    CallbackRequested,
    /// The caller rated the service after the agent hung up: 1 满意 (satisfied),
    /// 2 基本满意 (mostly satisfied), 3 不满意 (unsatisfied).
    Satisfaction { score: u8 },
    /// The message just recorded is kept: the case becomes a voicemail with a pending callback.
    Voicemail,
    /// The caller keyed a ticket number for the status query (digits only, 1 to
    /// `[status] max_digits` of them): look the case up and answer [`Input::CaseStatus`]
    /// (whether it may be told to this caller is the driver's decision: [`CaseStatusSpeech`]).
    LookupCase { ticket: String },
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
    /// Enqueued: waiting for the driver's answer ([`Input::Queued`], [`Input::AgentAnswered`],
    /// [`Input::AgentsUnavailable`], [`Input::QueueTimeout`]).
    Enqueued,
    /// In the queue, playing an announcement (comfort, position, the first time the offer).
    QueueAnnouncing,
    /// In the queue between announcements (hold music, or silence) until `next`.
    QueueHold { next: Instant },
    /// Bridged to an agent: quiet until the agent or the caller hangs up.
    Agent,
    /// Playing the satisfaction survey's question (keys 1–3 barge in).
    SurveyPlaying,
    /// The survey question has played; waiting for a key until `deadline`.
    SurveyWaiting { deadline: Instant },
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
    /// Status query: playing the request for a ticket number (or "not found, again");
    /// keys barge in and are collected.
    StatusPrompt,
    /// Status query: collecting the ticket's digits until `#`, `max_digits` or `deadline`.
    StatusCollect { deadline: Instant },
    /// Status query: [`Output::LookupCase`] sent, waiting for [`Input::CaseStatus`].
    StatusLookup,
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
    /// The call's 1-based position in the queue, as last reported.
    position: Option<usize>,
    /// Status query: the ticket digits keyed so far.
    status_digits: String,
    /// Status query: tries used up (unknown ticket, no input).
    status_failures: u32,
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
            position: None,
            status_digits: String::new(),
            status_failures: 0,
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
                if self.in_queue() {
                    self.note("busy");
                    let prompts = self.cfg.agents_busy.prompts.clone();
                    self.play(now, prompts, false, State::Busy);
                }
            }
            Input::Queued { position } => {
                if self.state == State::Enqueued {
                    self.note("queued");
                    self.note(&format!("position:{position}"));
                    self.position = Some(position);
                    self.announce(now, true);
                }
            }
            Input::Position { position } => {
                if self.in_queue() {
                    self.position = Some(position);
                }
            }
            Input::AgentRinging => {}
            Input::AgentAnswered => {
                if self.in_queue() {
                    self.outputs.push_back(Output::StopPlayback);
                    self.note("agent");
                    self.state = State::Agent;
                }
            }
            Input::QueueTimeout => {
                if self.in_queue() {
                    self.note("queue_timeout");
                    // These prompts end with the tone: recording follows them.
                    let prompts = self.cfg.queue.timeout_prompts.clone();
                    self.play(now, prompts, false, State::VoicemailPrompt);
                }
            }
            Input::AgentHungUp => {
                if self.state == State::Agent {
                    self.survey(now);
                }
            }
            Input::CaseStatus { status } => {
                if self.state == State::StatusLookup {
                    self.case_status(now, status);
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
            State::QueueHold { next } if now >= next => self.announce(now, false),
            State::StatusCollect { deadline } if now >= deadline => {
                if self.status_digits.is_empty() {
                    self.note("status:timeout");
                    self.status_failed(now, false);
                } else {
                    // Many callers forget the '#': take what was keyed.
                    self.lookup_case();
                }
            }
            State::SurveyWaiting { deadline } if now >= deadline => {
                self.note("survey:timeout");
                let prompts = self.cfg.goodbye.prompts.clone();
                self.play(now, prompts, false, State::Farewell);
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
            State::MenuWaiting { deadline }
            | State::Recording { deadline, .. }
            | State::SurveyWaiting { deadline }
            | State::StatusCollect { deadline }
            | State::QueueHold { next: deadline } => Some(deadline),
            _ => None,
        }
    }

    /// The way the caller went, for the call row: steps joined by `>`, e.g.
    /// `greeting>menu:9>invalid>menu:0>queue:agent>busy>voicemail:hash>recorded`.
    ///
    /// Steps: `greeting`, `closed`, `menu:<key>` / `menu:timeout`, `invalid`, `queue:<name>`,
    /// `queued` and `position:<1-based position>` (as first reported), `agent` (an agent
    /// answered), `survey:<1|2|3>` / `survey:timeout`, `callback` (left the queue for a
    /// callback), `queue_timeout`, `busy`, `voicemail:<hash|max|end|hangup>`, `recorded` /
    /// `no_message`, `status` (the status query was chosen), then per ticket entered
    /// `status:<found|not_found|not_yours>` (the driver's answer) or `status:<timeout|empty>`
    /// (no digits before the timeout or `#`), and `hangup` when the caller hung up first. E.g.
    /// `greeting>menu:1>queue:consult>queued>position:3>agent>survey:1`,
    /// `greeting>menu:4>status>status:not_found>status:found`. Ticket digits are not recorded.
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

    /// Whether the call is in the ACD queue as far as the flow knows: enqueued and not yet
    /// answered, refused, timed out or left for a callback.
    pub fn in_queue(&self) -> bool {
        matches!(
            self.state,
            State::Enqueued | State::QueueAnnouncing | State::QueueHold { .. }
        )
    }

    /// Whether the caller is bridged to an agent (the flow is quiet).
    pub fn with_agent(&self) -> bool {
        self.state == State::Agent
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
        self.staffed && self.cfg.greeting.barge_in && self.cfg.has_menu()
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
                let prompts = self.cfg.closed_prompts();
                self.play(now, prompts, false, State::Closed);
            }
            State::Greeting if !self.cfg.has_menu() => {
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
            State::QueueAnnouncing => self.hold(now + self.cfg.announce_every()),
            State::QueueHold { .. } => {
                // The hold music played to its end: again, until the next announcement.
                let prompts = self.cfg.queue.hold_prompts.clone();
                if !prompts.is_empty() {
                    let barge_in = self.cfg.callback_key().is_some();
                    self.outputs.push_back(Output::Play { prompts, barge_in });
                }
            }
            State::StatusPrompt => {
                self.state = State::StatusCollect {
                    deadline: now + self.cfg.status_timeout(),
                };
            }
            State::SurveyPlaying => {
                self.state = State::SurveyWaiting {
                    deadline: now + self.cfg.survey_timeout(),
                };
            }
            State::Farewell => {
                self.outputs.push_back(Output::Hangup);
                self.state = State::Done;
            }
            // A late report for a playback that was stopped or replaced.
            State::MenuWaiting { .. }
            | State::Enqueued
            | State::Agent
            | State::SurveyWaiting { .. }
            | State::Recording { .. }
            | State::StatusCollect { .. }
            | State::StatusLookup
            | State::Done => {}
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
            State::QueueAnnouncing | State::QueueHold { .. }
                if Some(key) == self.cfg.callback_key() =>
            {
                self.callback(now)
            }
            State::SurveyPlaying if ('1'..='3').contains(&key) => {
                self.outputs.push_back(Output::StopPlayback);
                self.rated(now, key);
            }
            State::SurveyWaiting { .. } if ('1'..='3').contains(&key) => self.rated(now, key),
            State::StatusPrompt if key.is_ascii_digit() || key == '#' || key == '*' => {
                self.outputs.push_back(Output::StopPlayback);
                self.state = State::StatusCollect { deadline: now };
                self.status_key(now, key);
            }
            State::StatusCollect { .. } => self.status_key(now, key),
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
        if Some(key) == self.cfg.status_key() {
            self.note("status");
            let prompts = self.cfg.status.enter_prompts.clone();
            self.status_prompt(now, prompts);
            return;
        }
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
        self.state = State::Enqueued;
    }

    /// Comfort, the callers ahead (when any), and the first time the callback offer.
    fn announce(&mut self, now: Instant, first: bool) {
        let cfg = Arc::clone(&self.cfg);
        let q = &cfg.queue;
        let mut prompts = q.comfort_prompts.clone();
        let ahead = self.position.map(|p| p.saturating_sub(1));
        if let Some(ahead) = ahead.filter(|&n| n > 0 && q.announce_position) {
            prompts.extend(q.position_before_prompts.iter().cloned());
            prompts.extend(chinese_number_prompts(ahead));
            prompts.extend(q.position_after_prompts.iter().cloned());
        }
        let barge_in = cfg.callback_key().is_some();
        if first && barge_in {
            prompts.extend(q.callback_offer_prompts.iter().cloned());
        }
        self.play(now, prompts, barge_in, State::QueueAnnouncing);
    }

    /// Between announcements: hold music (looped by `playback_finished`) or silence.
    fn hold(&mut self, next: Instant) {
        self.state = State::QueueHold { next };
        let prompts = self.cfg.queue.hold_prompts.clone();
        if !prompts.is_empty() {
            let barge_in = self.cfg.callback_key().is_some();
            self.outputs.push_back(Output::Play { prompts, barge_in });
        }
    }

    /// The callback key while queued: leave the queue, mark the case, read the ticket, hang up.
    fn callback(&mut self, now: Instant) {
        let playing =
            self.state == State::QueueAnnouncing || !self.cfg.queue.hold_prompts.is_empty();
        if playing {
            self.outputs.push_back(Output::StopPlayback);
        }
        self.outputs.push_back(Output::LeaveQueue);
        self.outputs.push_back(Output::CallbackRequested);
        self.note("callback");
        let mut prompts = self.cfg.queue.callback_prompts.clone();
        prompts.extend(self.ticket_prompts());
        prompts.extend(self.cfg.goodbye.prompts.iter().cloned());
        self.play(now, prompts, false, State::Farewell);
    }

    /// `ticket_is` and the ticket's digits; nothing without a ticket.
    fn ticket_prompts(&self) -> Vec<String> {
        let digits: Vec<String> = self
            .ticket
            .chars()
            .filter(char::is_ascii_digit)
            .map(|d| self.cfg.digit_prompt(d))
            .collect();
        if digits.is_empty() {
            return digits;
        }
        let mut prompts = self.cfg.voicemail.ticket_prompts.clone();
        prompts.extend(digits);
        prompts
    }

    /// Plays `prompts` and then collects a fresh ticket number.
    fn status_prompt(&mut self, now: Instant, prompts: Vec<String>) {
        self.status_digits.clear();
        self.play(now, prompts, true, State::StatusPrompt);
    }

    /// A key while collecting a ticket number: a digit is kept (the last allowed one sends
    /// the lookup), `#` sends it, `*` starts the number again; others are ignored.
    fn status_key(&mut self, now: Instant, key: char) {
        match key {
            '0'..='9' => {
                self.status_digits.push(key);
                if self.status_digits.len() >= self.cfg.status.max_digits {
                    self.lookup_case();
                    return;
                }
            }
            '#' if self.status_digits.is_empty() => {
                self.note("status:empty");
                self.status_failed(now, false);
                return;
            }
            '#' => {
                self.lookup_case();
                return;
            }
            '*' => self.status_digits.clear(),
            _ => {}
        }
        self.state = State::StatusCollect {
            deadline: now + self.cfg.status_timeout(),
        };
    }

    fn lookup_case(&mut self) {
        let ticket = std::mem::take(&mut self.status_digits);
        self.outputs.push_back(Output::LookupCase { ticket });
        self.state = State::StatusLookup;
    }

    /// No ticket keyed, or an unknown one: try again while a retry is left, else goodbye.
    fn status_failed(&mut self, now: Instant, not_found: bool) {
        let cfg = Arc::clone(&self.cfg);
        let st = &cfg.status;
        if self.status_failures < st.retries {
            self.status_failures += 1;
            let prompts = if not_found {
                st.not_found_prompts.clone()
            } else {
                st.enter_prompts.clone()
            };
            self.status_prompt(now, prompts);
            return;
        }
        let mut prompts = if not_found {
            st.not_found_final_prompts.clone()
        } else {
            Vec::new()
        };
        prompts.extend(cfg.goodbye.prompts.iter().cloned());
        self.play(now, prompts, false, State::Farewell);
    }

    /// The driver's answer to [`Output::LookupCase`].
    fn case_status(&mut self, now: Instant, status: CaseStatusSpeech) {
        let cfg = Arc::clone(&self.cfg);
        let st = &cfg.status;
        let mut prompts = match status {
            CaseStatusSpeech::NotFound => {
                self.note("status:not_found");
                self.status_failed(now, true);
                return;
            }
            CaseStatusSpeech::NotYours => {
                self.note("status:not_yours");
                st.not_yours_prompts.clone()
            }
            CaseStatusSpeech::Found { state, deadline } => {
                self.note("status:found");
                let mut prompts = Vec::new();
                if let Some(said) = st.states.get(&state) {
                    prompts.extend(st.is_prompts.iter().cloned());
                    prompts.push(said.clone());
                }
                if let Some(date) = deadline {
                    prompts.extend(st.deadline_prompts.iter().cloned());
                    prompts.extend(self.date_prompts(date));
                }
                prompts
            }
        };
        prompts.extend(cfg.goodbye.prompts.iter().cloned());
        self.play(now, prompts, false, State::Farewell);
    }

    /// A date read out: 2026-11-21 → 二零二六年十一月二十一日 (the year digit by digit with
    /// the `num_*` prompts, 一 as yi1; month and day as Chinese numbers).
    fn date_prompts(&self, date: NaiveDate) -> Vec<String> {
        let st = &self.cfg.status;
        let mut prompts: Vec<String> = date
            .year()
            .to_string()
            .chars()
            .filter(char::is_ascii_digit)
            .map(|d| format!("num_{d}"))
            .collect();
        prompts.extend(st.year_prompts.iter().cloned());
        prompts.extend(chinese_number_prompts(date.month() as usize));
        prompts.extend(st.month_prompts.iter().cloned());
        prompts.extend(chinese_number_prompts(date.day() as usize));
        prompts.extend(st.day_prompts.iter().cloned());
        prompts
    }

    /// The agent hung up first: the survey, or hang up when there is none.
    fn survey(&mut self, now: Instant) {
        if !self.cfg.survey.enabled {
            self.outputs.push_back(Output::Hangup);
            self.state = State::Done;
            return;
        }
        let prompts = self.cfg.survey.prompts.clone();
        self.play(now, prompts, true, State::SurveyPlaying);
    }

    /// A survey key (`1`–`3`): report it, thank, hang up.
    fn rated(&mut self, now: Instant, key: char) {
        let score = key as u8 - b'0';
        self.outputs.push_back(Output::Satisfaction { score });
        self.note(&format!("survey:{score}"));
        let prompts = self.cfg.survey.thanks_prompts.clone();
        self.play(now, prompts, false, State::Farewell);
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
            prompts.extend(self.ticket_prompts());
        }
        prompts.extend(cfg.goodbye.prompts.iter().cloned());
        self.play(now, prompts, false, State::Farewell);
    }

    fn caller_hung_up(&mut self, now: Instant) {
        // Nothing queued matters any more, except keeping a message already accepted, and
        // leaving the ACD queue if the driver had put the call there.
        let enqueue_pending = self
            .outputs
            .iter()
            .any(|o| matches!(o, Output::Enqueue { .. }));
        self.outputs.retain(|o| *o == Output::Voicemail);
        if self.in_queue() && !enqueue_pending {
            self.outputs.push_back(Output::LeaveQueue);
        }
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
