//! Whole calls through the flow on a simulated clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::{CaseStatusSpeech, Flow, Input, Output, RECORDING_GRACE};
use crate::IvrConfig;

const TICKET: &str = "2025061800042";

/// A call on a simulated clock: `now` only moves when a test says so.
struct Call {
    flow: Flow,
    now: Instant,
}

fn shanghai(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn play(prompts: &[&str], barge_in: bool) -> Output {
    Output::Play {
        prompts: prompts.iter().map(|p| (*p).to_owned()).collect(),
        barge_in,
    }
}

fn enqueue(queue: &str) -> Output {
    Output::Enqueue {
        queue: queue.to_owned(),
    }
}

impl Call {
    /// A call at `wall` (UTC); returns it with the greeting's outputs.
    fn at(cfg: IvrConfig, wall: DateTime<Utc>) -> (Call, Vec<Output>) {
        let now = Instant::now(); // only ever used as a base
        let mut call = Call {
            flow: Flow::new(Arc::new(cfg), TICKET.to_owned(), wall, now),
            now,
        };
        let out = call.drain();
        (call, out)
    }

    /// Wednesday 2025-06-18 10:00 in Shanghai: staffed.
    fn staffed() -> (Call, Vec<Output>) {
        Call::at(IvrConfig::default(), shanghai(2025, 6, 18, 10, 0))
    }

    /// Wednesday 2025-06-18 23:00 in Shanghai: closed.
    fn closed() -> (Call, Vec<Output>) {
        Call::at(IvrConfig::default(), shanghai(2025, 6, 18, 23, 0))
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.flow.poll_output()).collect()
    }

    /// Moves the clock on by `after`, feeds `input`, returns the outputs.
    fn input(&mut self, after: Duration, input: Input) -> Vec<Output> {
        self.now += after;
        self.flow.handle_input(self.now, input);
        self.drain()
    }

    /// Jumps to the flow's deadline and fires it.
    fn timeout(&mut self) -> Vec<Output> {
        self.now = self.flow.poll_timeout().expect("a deadline");
        self.flow.handle_timeout(self.now);
        self.drain()
    }

    /// From staffed greeting to waiting for a menu key.
    fn reach_menu_wait(&mut self) {
        assert_eq!(
            self.input(secs(20), Input::PlaybackFinished),
            [play(&["menu", "menu_status"], true)]
        );
        assert_eq!(self.input(secs(9), Input::PlaybackFinished), []);
    }

    /// From the start of the voicemail prompt to recording; returns when recording began.
    fn reach_recording(&mut self) -> Instant {
        assert_eq!(
            self.input(secs(1), Input::PlaybackFinished),
            [play(&["voicemail", "beep"], false)]
        );
        assert_eq!(
            self.input(secs(10), Input::PlaybackFinished),
            [Output::Record { max: secs(120) }]
        );
        self.now
    }
}

fn greeting() -> Output {
    play(&["welcome", "emergency"], true)
}

/// `recorded`, the ticket read digit by digit, `goodbye`.
fn recorded_and_ticket() -> Output {
    play(
        &[
            "recorded",
            "ticket_is",
            "digit_2",
            "digit_0",
            "digit_2",
            "digit_5",
            "digit_0",
            "digit_6",
            "digit_1",
            "digit_8",
            "digit_0",
            "digit_0",
            "digit_0",
            "digit_4",
            "digit_2",
            "goodbye",
        ],
        false,
    )
}

#[test]
fn staffed_call_takes_a_key_after_the_menu() {
    let (mut call, out) = Call::staffed();
    assert_eq!(out, [greeting()]);
    assert!(call.flow.is_staffed());
    assert_eq!(
        call.flow.poll_timeout(),
        None,
        "no timer while the greeting plays"
    );
    assert_eq!(
        call.input(secs(20), Input::PlaybackFinished),
        [play(&["menu", "menu_status"], true)]
    );
    assert_eq!(
        call.flow.poll_timeout(),
        None,
        "no timer while the menu plays"
    );
    assert_eq!(call.input(secs(9), Input::PlaybackFinished), []);
    assert_eq!(call.flow.poll_timeout(), Some(call.now + secs(5)));
    assert_eq!(call.input(secs(2), Input::Digit('1')), [enqueue("consult")]);
    assert_eq!(call.flow.poll_timeout(), None);
    assert_eq!(call.flow.queue(), Some("consult"));
    assert_eq!(call.flow.path(), "greeting>menu:1>queue:consult");
    assert!(!call.flow.is_done(), "queued: the call is the driver's now");
}

#[test]
fn key_during_greeting_barges_in() {
    let (mut call, _) = Call::staffed();
    assert_eq!(
        call.input(secs(2), Input::Digit('3')),
        [Output::StopPlayback, enqueue("enterprise")]
    );
    // A late report for the stopped greeting changes nothing.
    assert_eq!(call.input(Duration::ZERO, Input::PlaybackFinished), []);
    assert_eq!(call.flow.path(), "greeting>menu:3>queue:enterprise");
}

#[test]
fn key_during_menu_barges_in() {
    let (mut call, _) = Call::staffed();
    call.input(secs(20), Input::PlaybackFinished);
    assert_eq!(
        call.input(secs(1), Input::Digit('2')),
        [Output::StopPlayback, enqueue("complaint")]
    );
    assert_eq!(call.flow.path(), "greeting>menu:2>queue:complaint");
}

#[test]
fn greeting_without_barge_in_ignores_keys() {
    let mut cfg = IvrConfig::default();
    cfg.greeting.barge_in = false;
    let (mut call, out) = Call::at(cfg, shanghai(2025, 6, 18, 10, 0));
    assert_eq!(out, [play(&["welcome", "emergency"], false)]);
    assert_eq!(call.input(secs(2), Input::Digit('1')), []);
    assert_eq!(
        call.input(secs(18), Input::PlaybackFinished),
        [play(&["menu", "menu_status"], true)]
    );
}

#[test]
fn invalid_key_then_valid_key() {
    let (mut call, _) = Call::staffed();
    call.reach_menu_wait();
    assert_eq!(
        call.input(secs(1), Input::Digit('9')),
        [play(&["invalid", "menu", "menu_status"], true)]
    );
    assert_eq!(call.flow.poll_timeout(), None);
    assert_eq!(call.input(secs(12), Input::PlaybackFinished), []);
    assert_eq!(call.input(secs(1), Input::Digit('0')), [enqueue("agent")]);
    assert_eq!(
        call.flow.path(),
        "greeting>menu:9>invalid>menu:0>queue:agent"
    );
}

#[test]
fn wrong_keys_past_the_retries_go_to_an_agent() {
    let (mut call, _) = Call::staffed();
    call.reach_menu_wait();
    // invalid_retries = 2: two replays, the third wrong key goes to a person.
    assert_eq!(
        call.input(secs(1), Input::Digit('9')),
        [play(&["invalid", "menu", "menu_status"], true)]
    );
    assert_eq!(
        call.input(secs(1), Input::Digit('*')),
        [
            Output::StopPlayback,
            play(&["invalid", "menu", "menu_status"], true)
        ]
    );
    assert_eq!(
        call.input(secs(1), Input::Digit('A')),
        [Output::StopPlayback, enqueue("agent")]
    );
    assert_eq!(
        call.flow.path(),
        "greeting>menu:9>invalid>menu:*>invalid>menu:A>queue:agent"
    );
}

#[test]
fn no_input_goes_to_an_agent() {
    let (mut call, _) = Call::staffed();
    call.reach_menu_wait();
    let deadline = call.flow.poll_timeout().unwrap();
    // Early wake-ups do nothing.
    call.flow
        .handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(call.drain(), []);
    assert_eq!(call.timeout(), [enqueue("agent")]);
    assert_eq!(call.flow.poll_timeout(), None);
    assert_eq!(call.flow.path(), "greeting>menu:timeout>queue:agent");
}

#[test]
fn no_input_retries_replay_the_menu_first() {
    let mut cfg = IvrConfig::default();
    cfg.menu.no_input_retries = 1;
    let (mut call, _) = Call::at(cfg, shanghai(2025, 6, 18, 10, 0));
    call.reach_menu_wait();
    assert_eq!(call.timeout(), [play(&["menu", "menu_status"], true)]);
    assert_eq!(call.input(secs(9), Input::PlaybackFinished), []);
    assert_eq!(call.timeout(), [enqueue("agent")]);
    assert_eq!(
        call.flow.path(),
        "greeting>menu:timeout>menu:timeout>queue:agent"
    );
}

#[test]
fn no_menu_options_go_straight_to_a_person() {
    let mut cfg = IvrConfig::default();
    cfg.menu.options.clear();
    cfg.menu.status_digit.clear();
    cfg.menu.prompts.clear();
    cfg.validate().unwrap();
    let (mut call, out) = Call::at(cfg, shanghai(2025, 6, 18, 10, 0));
    assert_eq!(
        out,
        [play(&["welcome", "emergency"], false)],
        "no menu, so no barge-in"
    );
    assert_eq!(
        call.input(secs(20), Input::PlaybackFinished),
        [enqueue("agent")]
    );
    assert_eq!(call.flow.path(), "greeting>queue:agent");
}

#[test]
fn agents_busy_leads_to_voicemail_ended_by_hash() {
    let (mut call, _) = Call::staffed();
    call.reach_menu_wait();
    call.input(secs(1), Input::Digit('0'));
    assert_eq!(
        call.input(secs(1), Input::AgentsUnavailable),
        [play(&["agents_busy"], false)]
    );
    let started = call.reach_recording();
    assert_eq!(
        call.flow.poll_timeout(),
        Some(started + secs(120) + RECORDING_GRACE)
    );
    assert_eq!(
        call.input(secs(10), Input::Digit('5')),
        [],
        "only '#' ends a message"
    );
    assert_eq!(
        call.input(secs(20), Input::Digit('#')),
        [Output::StopRecording]
    );
    assert_eq!(
        call.input(Duration::from_millis(50), Input::Digit('#')),
        [],
        "a second '#' changes nothing"
    );
    assert_eq!(
        call.input(
            Duration::from_millis(50),
            Input::RecordingFinished {
                duration_ms: 30_000
            }
        ),
        [Output::Voicemail, recorded_and_ticket()]
    );
    assert_eq!(call.flow.poll_timeout(), None);
    assert_eq!(
        call.input(secs(15), Input::PlaybackFinished),
        [Output::Hangup]
    );
    assert!(call.flow.is_done());
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>busy>voicemail:hash>recorded"
    );
    // Done means done.
    assert_eq!(call.input(secs(1), Input::Digit('1')), []);
    assert_eq!(call.input(secs(1), Input::Hangup), []);
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>busy>voicemail:hash>recorded"
    );
}

#[test]
fn closed_hours_lead_to_voicemail() {
    let (mut call, out) = Call::closed();
    assert!(!call.flow.is_staffed());
    assert_eq!(
        out,
        [play(&["welcome", "emergency"], false)],
        "keys mean nothing when closed"
    );
    assert_eq!(call.input(secs(2), Input::Digit('1')), []);
    // 现在是非工作时间。人工服务时间为 每天 八 点 至 二十二 点。
    assert_eq!(
        call.input(secs(18), Input::PlaybackFinished),
        [play(
            &[
                "closed",
                "closed_hours",
                "every_day",
                "num_8",
                "hour",
                "hours_to",
                "num_2",
                "num_10",
                "num_2",
                "hour"
            ],
            false
        )]
    );
    call.reach_recording();
    call.input(secs(40), Input::Digit('#'));
    call.input(
        Duration::ZERO,
        Input::RecordingFinished {
            duration_ms: 40_000,
        },
    );
    assert_eq!(call.flow.path(), "greeting>closed>voicemail:hash>recorded");
}

#[test]
fn maximum_length_ends_the_message() {
    let (mut call, _) = Call::closed();
    call.input(secs(20), Input::PlaybackFinished);
    call.reach_recording();
    assert_eq!(
        call.input(
            secs(120),
            Input::RecordingFinished {
                duration_ms: 120_000
            }
        ),
        [Output::Voicemail, recorded_and_ticket()]
    );
    assert_eq!(call.flow.path(), "greeting>closed>voicemail:max>recorded");
}

#[test]
fn silent_driver_is_stopped_at_maximum_length() {
    let (mut call, _) = Call::closed();
    call.input(secs(20), Input::PlaybackFinished);
    let started = call.reach_recording();
    assert_eq!(call.timeout(), [Output::StopRecording]);
    assert_eq!(call.now, started + secs(120) + RECORDING_GRACE);
    // Still no report: the flow keeps the message on its own clock.
    assert_eq!(call.timeout(), [Output::Voicemail, recorded_and_ticket()]);
    assert_eq!(call.flow.path(), "greeting>closed>voicemail:max>recorded");
}

#[test]
fn too_short_a_message_is_no_message() {
    let (mut call, _) = Call::closed();
    call.input(secs(20), Input::PlaybackFinished);
    call.reach_recording();
    assert_eq!(
        call.input(Duration::from_millis(600), Input::Digit('#')),
        [Output::StopRecording]
    );
    assert_eq!(
        call.input(
            Duration::from_millis(20),
            Input::RecordingFinished { duration_ms: 600 }
        ),
        [play(&["no_message", "goodbye"], false)]
    );
    assert_eq!(
        call.input(secs(4), Input::PlaybackFinished),
        [Output::Hangup]
    );
    assert!(call.flow.is_done());
    assert_eq!(
        call.flow.path(),
        "greeting>closed>voicemail:hash>no_message"
    );
}

#[test]
fn ticket_is_read_digit_by_digit() {
    let now = Instant::now();
    let cfg = Arc::new(IvrConfig::default());
    let mut flow = Flow::new(
        cfg,
        "20250618-007".into(),
        shanghai(2025, 6, 18, 23, 0),
        now,
    );
    for _ in 0..3 {
        flow.handle_input(now, Input::PlaybackFinished); // greeting, closed, voicemail prompt
    }
    flow.handle_input(
        now + secs(5),
        Input::RecordingFinished { duration_ms: 5_000 },
    );
    let out: Vec<Output> = std::iter::from_fn(|| flow.poll_output()).collect();
    let Some(Output::Play { prompts, .. }) = out.last() else {
        panic!("no farewell: {out:?}")
    };
    // Non-digits in a ticket are skipped.
    let expected =
        "recorded ticket_is digit_2 digit_0 digit_2 digit_5 digit_0 digit_6 digit_1 digit_8 \
                    digit_0 digit_0 digit_7 goodbye";
    assert_eq!(prompts.join(" "), expected);
    assert_eq!(flow.ticket(), "20250618-007");
}

#[test]
fn without_a_ticket_the_number_is_not_announced() {
    let now = Instant::now();
    let mut flow = Flow::new(
        Arc::new(IvrConfig::default()),
        String::new(),
        shanghai(2025, 6, 18, 23, 0),
        now,
    );
    for _ in 0..3 {
        flow.handle_input(now, Input::PlaybackFinished);
    }
    flow.handle_input(now, Input::RecordingFinished { duration_ms: 5_000 });
    let out: Vec<Output> = std::iter::from_fn(|| flow.poll_output()).collect();
    assert_eq!(out.last(), Some(&play(&["recorded", "goodbye"], false)));
}

#[test]
fn hangup_mid_menu_ends_the_flow() {
    let (mut call, _) = Call::staffed();
    call.reach_menu_wait();
    assert!(call.flow.poll_timeout().is_some());
    assert_eq!(call.input(secs(1), Input::Hangup), []);
    assert!(call.flow.is_done());
    assert_eq!(call.flow.poll_timeout(), None);
    assert_eq!(call.input(secs(1), Input::Digit('1')), []);
    assert_eq!(call.input(secs(1), Input::PlaybackFinished), []);
    assert_eq!(call.flow.path(), "greeting>hangup");
}

#[test]
fn hangup_drops_outputs_not_yet_carried_out() {
    let (mut call, _) = Call::staffed();
    call.now += secs(1);
    call.flow.handle_input(call.now, Input::Digit('1')); // StopPlayback + Enqueue, not drained
    call.flow.handle_input(call.now, Input::Hangup);
    assert_eq!(call.drain(), []);
    assert_eq!(call.flow.path(), "greeting>menu:1>queue:consult>hangup");
}

#[test]
fn hangup_while_recording_keeps_a_long_enough_message() {
    let (mut call, _) = Call::closed();
    call.input(secs(20), Input::PlaybackFinished);
    call.reach_recording();
    assert_eq!(call.input(secs(25), Input::Hangup), [Output::Voicemail]);
    assert!(call.flow.is_done());
    assert_eq!(
        call.flow.path(),
        "greeting>closed>voicemail:hangup>recorded>hangup"
    );
    // The recording's late end report changes nothing.
    assert_eq!(
        call.input(
            secs(1),
            Input::RecordingFinished {
                duration_ms: 25_000
            }
        ),
        []
    );
}

#[test]
fn hangup_right_after_the_tone_is_no_message() {
    let (mut call, _) = Call::closed();
    call.input(secs(20), Input::PlaybackFinished);
    call.reach_recording();
    assert_eq!(call.input(Duration::from_millis(300), Input::Hangup), []);
    assert_eq!(
        call.flow.path(),
        "greeting>closed>voicemail:hangup>no_message>hangup"
    );
}

#[test]
fn hangup_after_the_message_was_kept_keeps_it() {
    let (mut call, _) = Call::closed();
    call.input(secs(20), Input::PlaybackFinished);
    call.reach_recording();
    call.now += secs(30);
    call.flow.handle_input(
        call.now,
        Input::RecordingFinished {
            duration_ms: 30_000,
        },
    );
    call.flow.handle_input(call.now, Input::Hangup); // before the driver drained
    assert_eq!(call.drain(), [Output::Voicemail]);
    assert_eq!(
        call.flow.path(),
        "greeting>closed>voicemail:end>recorded>hangup"
    );
}

#[test]
fn staffed_boundaries_decide_the_flow() {
    let wed = |h, m| shanghai(2025, 6, 18, h, m);
    for (wall, staffed) in [
        (wed(7, 59), false),
        (wed(8, 0), true),
        (wed(21, 59), true),
        (wed(22, 0), false),
    ] {
        let (call, out) = Call::at(IvrConfig::default(), wall);
        assert_eq!(call.flow.is_staffed(), staffed, "{wall}");
        assert_eq!(out, [play(&["welcome", "emergency"], staffed)], "{wall}");
    }
}

#[test]
fn holiday_and_swapped_saturday_decide_the_flow() {
    let cfg = IvrConfig::from_toml_str(
        r#"
        [hours]
        mon = "08:00-17:30"
        tue = "08:00-17:30"
        wed = "08:00-17:30"
        thu = "08:00-17:30"
        fri = "08:00-17:30"
        sat = "closed"
        sun = "closed"
        holidays = ["2025-10-01", "2025-10-02", "2025-10-03", "2025-10-06", "2025-10-07", "2025-10-08"]
        workday_swaps = ["2025-09-28", "2025-10-11"]
        "#,
    )
    .unwrap();
    for (wall, staffed) in [
        (shanghai(2025, 10, 1, 10, 0), false), // National Day, a Wednesday
        (shanghai(2025, 10, 9, 10, 0), true),  // Thursday after the holiday
        (shanghai(2025, 10, 11, 10, 0), true), // Saturday worked (调休)
        (shanghai(2025, 10, 11, 17, 30), false), // ... until 17:30
        (shanghai(2025, 10, 18, 10, 0), false), // an ordinary Saturday
    ] {
        let (mut call, _) = Call::at(cfg.clone(), wall);
        let next = call.input(secs(20), Input::PlaybackFinished);
        // 周一 至 周五 八点 至 十七点三十分 周六 周日 休息
        let expected = if staffed {
            play(&["menu", "menu_status"], true)
        } else {
            play(
                &[
                    "closed",
                    "closed_hours",
                    "weekday_1",
                    "hours_to",
                    "weekday_5",
                    "num_8",
                    "hour",
                    "hours_to",
                    "num_10",
                    "num_7",
                    "hour",
                    "num_3",
                    "num_10",
                    "minute",
                    "weekday_6",
                    "weekday_7",
                    "day_off",
                ],
                false,
            )
        };
        assert_eq!(next, [expected], "{wall}");
    }
}

/// The prompts played after the greeting outside staffed hours with `[hours]` as TOML.
fn closed_notice(hours_and_closed: &str) -> Vec<Output> {
    let cfg = IvrConfig::from_toml_str(hours_and_closed).unwrap();
    // 03:00 in Shanghai is outside every span of these tests.
    let (mut call, _) = Call::at(cfg, shanghai(2025, 6, 18, 3, 0));
    assert!(!call.flow.is_staffed());
    call.input(secs(10), Input::PlaybackFinished)
}

#[test]
fn the_closed_notice_reads_the_configured_hours() {
    assert_eq!(
        closed_notice(
            "[hours]\nmon = '09:00-12:00,13:30-18:00'\ntue = '09:00-12:00,13:30-18:00'\n\
             wed = '09:00-12:00,13:30-18:00'\nthu = '09:00-12:00,13:30-18:00'\n\
             fri = '09:00-12:00,13:30-18:00'\nsat = '09:00-12:00'\nsun = 'closed'\n"
        ),
        [play(
            &[
                "closed",
                "closed_hours",
                // 周一 至 周五 九点 至 十二点 和 十三点三十分 至 十八点
                "weekday_1",
                "hours_to",
                "weekday_5",
                "num_9",
                "hour",
                "hours_to",
                "num_10",
                "num_2",
                "hour",
                "hours_and",
                "num_10",
                "num_3",
                "hour",
                "num_3",
                "num_10",
                "minute",
                "hours_to",
                "num_10",
                "num_8",
                "hour",
                // 周六 九点 至 十二点
                "weekday_6",
                "num_9",
                "hour",
                "hours_to",
                "num_10",
                "num_2",
                "hour",
                // 周日 休息
                "weekday_7",
                "day_off",
            ],
            false
        )]
    );
    // Other hours every day: 每天 七点 至 二十点.
    let every = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .map(|d| format!("{d} = '07:00-20:00'\n"))
        .concat();
    assert_eq!(
        closed_notice(&format!("[hours]\n{every}")),
        [play(
            &[
                "closed",
                "closed_hours",
                "every_day",
                "num_7",
                "hour",
                "hours_to",
                "num_2",
                "num_10",
                "hour"
            ],
            false
        )]
    );
}

#[test]
fn no_hours_are_read_when_none_are_staffed_or_none_asked_for() {
    let never = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .map(|d| format!("{d} = 'closed'\n"))
        .concat();
    assert_eq!(
        closed_notice(&format!("[hours]\n{never}")),
        [play(&["closed"], false)]
    );
    assert_eq!(
        closed_notice("[closed]\nhours_prompts = []\n"),
        [play(&["closed"], false)]
    );
    // Without a closed notice of its own the hours still follow their introduction.
    assert_eq!(
        closed_notice("[closed]\nprompts = []\nhours_prompts = ['hours_intro']\n"),
        [play(
            &[
                "hours_intro",
                "every_day",
                "num_8",
                "hour",
                "hours_to",
                "num_2",
                "num_10",
                "num_2",
                "hour"
            ],
            false
        )]
    );
}

#[test]
fn empty_prompt_lists_are_skipped() {
    let mut cfg = IvrConfig::default();
    cfg.agents_busy.prompts.clear();
    cfg.goodbye.prompts.clear();
    cfg.voicemail.no_message_prompts.clear();
    let (mut call, _) = Call::at(cfg, shanghai(2025, 6, 18, 10, 0));
    call.input(secs(1), Input::Digit('0'));
    assert_eq!(
        call.input(secs(1), Input::AgentsUnavailable),
        [play(&["voicemail", "beep"], false)]
    );
    assert_eq!(
        call.input(secs(10), Input::PlaybackFinished),
        [Output::Record { max: secs(120) }]
    );
    assert_eq!(
        call.input(secs(1), Input::RecordingFinished { duration_ms: 200 }),
        [Output::Hangup],
        "nothing to say: hang up at once"
    );
}

#[test]
fn unexpected_inputs_are_ignored() {
    let (mut call, _) = Call::staffed();
    assert_eq!(call.input(secs(1), Input::AgentsUnavailable), []);
    assert_eq!(
        call.input(secs(1), Input::RecordingFinished { duration_ms: 5 }),
        []
    );
    assert_eq!(call.input(secs(1), Input::Digit('x')), []);
    assert_eq!(call.flow.path(), "greeting");
    call.flow.handle_timeout(call.now + secs(3600));
    assert_eq!(call.drain(), []);
}

// ---- Waiting in the queue, the agent, the survey ----

/// The first announcement: comfort, `number` callers ahead (prompts), the callback offer.
fn first_announcement(number: &[&str]) -> Output {
    let mut prompts = vec!["queue_comfort"];
    if !number.is_empty() {
        prompts.push("queue_position_before");
        prompts.extend_from_slice(number);
        prompts.push("queue_position_after");
    }
    prompts.push("queue_callback_offer");
    play(&prompts, true)
}

fn hold_music() -> Output {
    play(&["queue_music"], true)
}

/// `callback_confirm`, the ticket read digit by digit, `goodbye`.
fn callback_and_ticket() -> Output {
    let Output::Play { mut prompts, .. } = recorded_and_ticket() else {
        unreachable!()
    };
    prompts[0] = "callback_confirm".to_owned();
    Output::Play {
        prompts,
        barge_in: false,
    }
}

impl Call {
    /// A staffed call that pressed 0 during the greeting: the driver has the Enqueue.
    fn enqueued_with(cfg: IvrConfig) -> Call {
        let (mut call, _) = Call::at(cfg, shanghai(2025, 6, 18, 10, 0));
        assert_eq!(
            call.input(secs(2), Input::Digit('0')),
            [Output::StopPlayback, enqueue("agent")]
        );
        assert!(call.flow.in_queue());
        call
    }

    fn enqueued() -> Call {
        Call::enqueued_with(IvrConfig::default())
    }

    /// Enqueued, queued at `position` (1-based), the first announcement played: hold music.
    fn holding(position: usize) -> Call {
        let mut call = Call::enqueued();
        call.input(secs(1), Input::Queued { position });
        assert_eq!(
            call.input(secs(12), Input::PlaybackFinished),
            [hold_music()]
        );
        call
    }

    /// Queued, then an agent answered.
    fn with_agent(cfg: IvrConfig) -> Call {
        let mut call = Call::enqueued_with(cfg);
        call.input(secs(1), Input::Queued { position: 1 });
        assert_eq!(
            call.input(secs(20), Input::AgentAnswered),
            [Output::StopPlayback]
        );
        call
    }
}

#[test]
fn queued_caller_hears_comfort_position_and_callback_offer() {
    let mut call = Call::enqueued();
    assert_eq!(
        call.input(secs(1), Input::Queued { position: 13 }),
        [first_announcement(&["num_10", "num_2"])],
        "13th in line: 12 callers ahead"
    );
    assert_eq!(call.flow.poll_timeout(), None, "no timer while announcing");
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:13"
    );
    // Other keys mean nothing while queued.
    assert_eq!(call.input(secs(1), Input::Digit('5')), []);
    assert_eq!(call.input(secs(1), Input::Digit('#')), []);
    // Then hold music until the next announcement, 30 s after this one ended.
    assert_eq!(call.input(secs(9), Input::PlaybackFinished), [hold_music()]);
    let next = call.now + secs(30);
    assert_eq!(call.flow.poll_timeout(), Some(next));
    // The music loops; the deadline stays.
    assert_eq!(
        call.input(secs(10), Input::PlaybackFinished),
        [hold_music()]
    );
    assert_eq!(call.flow.poll_timeout(), Some(next));
    assert!(call.flow.in_queue());
    assert!(!call.flow.is_done());
}

#[test]
fn position_updates_are_said_at_the_next_announcement() {
    let mut call = Call::holding(4);
    let next = call.flow.poll_timeout().unwrap();
    // Updates do not interrupt the music.
    assert_eq!(call.input(secs(5), Input::Position { position: 3 }), []);
    assert_eq!(call.input(secs(5), Input::Position { position: 2 }), []);
    call.flow.handle_timeout(next - Duration::from_millis(1));
    assert_eq!(call.drain(), [], "early wake-up");
    // The repeat is comfort + position, without the offer.
    assert_eq!(
        call.timeout(),
        [play(
            &[
                "queue_comfort",
                "queue_position_before",
                "num_1",
                "queue_position_after"
            ],
            true
        )]
    );
    assert_eq!(call.now, next);
    assert_eq!(call.flow.poll_timeout(), None);
    assert_eq!(call.input(secs(6), Input::PlaybackFinished), [hold_music()]);
    assert_eq!(call.flow.poll_timeout(), Some(call.now + secs(30)));
    // Next in line: nobody is ahead, so no number.
    assert_eq!(call.input(secs(3), Input::Position { position: 1 }), []);
    assert_eq!(call.timeout(), [play(&["queue_comfort"], true)]);
    // Only the first position is in the path.
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:4"
    );
}

#[test]
fn announce_every_comes_from_the_config() {
    let mut cfg = IvrConfig::default();
    cfg.queue.announce_every_secs = 45;
    cfg.queue.hold_prompts.clear();
    let mut call = Call::enqueued_with(cfg);
    call.input(secs(1), Input::Queued { position: 106 });
    assert_eq!(
        call.input(secs(10), Input::PlaybackFinished),
        [],
        "no hold music: silence"
    );
    assert_eq!(call.flow.poll_timeout(), Some(call.now + secs(45)));
    assert_eq!(
        call.input(secs(1), Input::PlaybackFinished),
        [],
        "a stray report in silence changes nothing"
    );
    assert_eq!(
        call.timeout(),
        [play(
            &[
                "queue_comfort",
                "queue_position_before",
                "num_1",
                "num_100",
                "num_0",
                "num_5",
                "queue_position_after"
            ],
            true
        )]
    );
}

#[test]
fn callback_key_during_the_announcement_leaves_the_queue() {
    let mut call = Call::enqueued();
    call.input(secs(1), Input::Queued { position: 3 });
    assert_eq!(
        call.input(secs(6), Input::Digit('1')),
        [
            Output::StopPlayback,
            Output::LeaveQueue,
            Output::CallbackRequested,
            callback_and_ticket()
        ]
    );
    assert!(!call.flow.in_queue());
    assert_eq!(call.flow.poll_timeout(), None);
    // Late queue news and keys change nothing now.
    assert_eq!(call.input(secs(1), Input::AgentAnswered), []);
    assert_eq!(call.input(secs(1), Input::Digit('1')), []);
    assert_eq!(
        call.input(secs(12), Input::PlaybackFinished),
        [Output::Hangup]
    );
    assert!(call.flow.is_done());
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:3>callback"
    );
}

#[test]
fn callback_key_in_silent_hold_has_nothing_to_stop() {
    let mut cfg = IvrConfig::default();
    cfg.queue.hold_prompts.clear();
    cfg.queue.callback_digit = "*".into();
    let mut call = Call::enqueued_with(cfg);
    call.input(secs(1), Input::Queued { position: 1 });
    assert_eq!(call.input(secs(5), Input::PlaybackFinished), []);
    assert_eq!(
        call.input(secs(1), Input::Digit('1')),
        [],
        "1 is not the key here"
    );
    assert_eq!(
        call.input(secs(1), Input::Digit('*')),
        [
            Output::LeaveQueue,
            Output::CallbackRequested,
            callback_and_ticket()
        ]
    );
}

#[test]
fn callback_key_during_hold_music() {
    let mut call = Call::holding(4);
    assert_eq!(
        call.input(secs(3), Input::Digit('1')),
        [
            Output::StopPlayback,
            Output::LeaveQueue,
            Output::CallbackRequested,
            callback_and_ticket()
        ]
    );
}

#[test]
fn without_a_callback_key_nothing_is_offered() {
    let mut cfg = IvrConfig::default();
    cfg.queue.callback_digit = String::new();
    cfg.queue.callback_offer_prompts.clear();
    cfg.validate().unwrap();
    let mut call = Call::enqueued_with(cfg);
    assert_eq!(
        call.input(secs(1), Input::Queued { position: 3 }),
        [play(
            &[
                "queue_comfort",
                "queue_position_before",
                "num_2",
                "queue_position_after"
            ],
            false
        )]
    );
    assert_eq!(call.input(secs(1), Input::Digit('1')), []);
    assert_eq!(
        call.input(secs(5), Input::PlaybackFinished),
        [play(&["queue_music"], false)]
    );
}

#[test]
fn queue_timeout_leads_to_voicemail() {
    let mut call = Call::holding(5);
    assert_eq!(
        call.input(secs(40), Input::QueueTimeout),
        [play(&["queue_timeout", "beep"], false)]
    );
    assert!(!call.flow.in_queue());
    assert_eq!(
        call.input(secs(1), Input::Digit('1')),
        [],
        "no callback key now"
    );
    assert_eq!(
        call.input(secs(5), Input::PlaybackFinished),
        [Output::Record { max: secs(120) }]
    );
    assert_eq!(
        call.input(secs(20), Input::Digit('#')),
        [Output::StopRecording]
    );
    assert_eq!(
        call.input(
            Duration::from_millis(40),
            Input::RecordingFinished {
                duration_ms: 20_000
            }
        ),
        [Output::Voicemail, recorded_and_ticket()]
    );
    assert_eq!(
        call.input(secs(15), Input::PlaybackFinished),
        [Output::Hangup]
    );
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:5>queue_timeout>voicemail:hash>recorded"
    );
}

#[test]
fn agents_unavailable_while_waiting_leads_to_voicemail() {
    let mut call = Call::holding(2);
    assert_eq!(
        call.input(secs(10), Input::AgentsUnavailable),
        [play(&["agents_busy"], false)]
    );
    call.reach_recording();
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:2>busy"
    );
}

#[test]
fn agent_answer_stops_the_prompts_and_the_flow_goes_quiet() {
    let mut call = Call::holding(1);
    assert_eq!(call.input(secs(5), Input::AgentRinging), []);
    assert_eq!(
        call.input(secs(5), Input::AgentAnswered),
        [Output::StopPlayback]
    );
    assert!(call.flow.with_agent());
    assert!(!call.flow.in_queue());
    assert_eq!(call.flow.poll_timeout(), None);
    // Everything but the end of the conversation is ignored.
    for input in [
        Input::Digit('1'),
        Input::Digit('3'),
        Input::PlaybackFinished,
        Input::Position { position: 7 },
        Input::Queued { position: 7 },
        Input::QueueTimeout,
        Input::AgentsUnavailable,
        Input::AgentAnswered,
        Input::AgentRinging,
        Input::RecordingFinished { duration_ms: 9 },
    ] {
        assert_eq!(call.input(secs(30), input.clone()), [], "{input:?}");
    }
    call.flow.handle_timeout(call.now + secs(3600));
    assert_eq!(call.drain(), []);
    assert!(call.flow.with_agent());
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:1>agent"
    );
}

#[test]
fn agent_answering_at_once_skips_the_queue_prompts() {
    let mut call = Call::enqueued();
    assert_eq!(
        call.input(secs(1), Input::AgentAnswered),
        [Output::StopPlayback]
    );
    assert_eq!(call.input(secs(60), Input::Hangup), []);
    assert!(call.flow.is_done());
    assert_eq!(call.flow.path(), "greeting>menu:0>queue:agent>agent>hangup");
}

#[test]
fn agent_hangs_up_first_and_the_caller_rates_the_service() {
    let mut call = Call::with_agent(IvrConfig::default());
    assert_eq!(
        call.input(secs(180), Input::AgentHungUp),
        [play(&["survey"], true)]
    );
    assert!(!call.flow.with_agent());
    assert_eq!(call.flow.poll_timeout(), None);
    assert_eq!(call.input(secs(10), Input::PlaybackFinished), []);
    assert_eq!(call.flow.poll_timeout(), Some(call.now + secs(5)));
    assert_eq!(call.input(secs(1), Input::Digit('5')), [], "not a rating");
    assert_eq!(
        call.input(secs(1), Input::Digit('2')),
        [Output::Satisfaction { score: 2 }, play(&["thanks"], false)]
    );
    assert_eq!(call.flow.poll_timeout(), None);
    assert_eq!(call.input(secs(1), Input::Digit('3')), [], "one rating");
    assert_eq!(
        call.input(secs(3), Input::PlaybackFinished),
        [Output::Hangup]
    );
    assert!(call.flow.is_done());
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:1>agent>survey:2"
    );
}

#[test]
fn a_rating_may_barge_into_the_survey_question() {
    let mut call = Call::with_agent(IvrConfig::default());
    call.input(secs(60), Input::AgentHungUp);
    assert_eq!(
        call.input(secs(2), Input::Digit('1')),
        [
            Output::StopPlayback,
            Output::Satisfaction { score: 1 },
            play(&["thanks"], false)
        ]
    );
}

#[test]
fn survey_without_a_key_says_goodbye() {
    let mut call = Call::with_agent(IvrConfig::default());
    call.input(secs(60), Input::AgentHungUp);
    call.input(secs(10), Input::PlaybackFinished);
    assert_eq!(call.timeout(), [play(&["goodbye"], false)]);
    assert_eq!(
        call.input(secs(2), Input::PlaybackFinished),
        [Output::Hangup]
    );
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:1>agent>survey:timeout"
    );
}

#[test]
fn survey_disabled_hangs_up_with_the_agent() {
    let mut cfg = IvrConfig::default();
    cfg.survey.enabled = false;
    let mut call = Call::with_agent(cfg);
    assert_eq!(call.input(secs(60), Input::AgentHungUp), [Output::Hangup]);
    assert!(call.flow.is_done());
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:1>agent"
    );
}

#[test]
fn caller_hangup_while_queued_leaves_the_queue() {
    let mut call = Call::holding(6);
    assert_eq!(call.input(secs(20), Input::Hangup), [Output::LeaveQueue]);
    assert!(call.flow.is_done());
    assert_eq!(call.flow.poll_timeout(), None);
    assert_eq!(call.input(secs(1), Input::AgentAnswered), []);
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:6>hangup"
    );

    // Before the driver's answer too, once it has the Enqueue.
    let mut call = Call::enqueued();
    assert_eq!(call.input(secs(1), Input::Hangup), [Output::LeaveQueue]);
    assert_eq!(call.flow.path(), "greeting>menu:0>queue:agent>hangup");
}

#[test]
fn caller_hangup_during_the_survey_ends_without_a_rating() {
    let mut call = Call::with_agent(IvrConfig::default());
    call.input(secs(60), Input::AgentHungUp);
    assert_eq!(call.input(secs(2), Input::Hangup), []);
    assert!(call.flow.is_done());
    assert_eq!(
        call.flow.path(),
        "greeting>menu:0>queue:agent>queued>position:1>agent>hangup"
    );
}

#[test]
fn first_in_line_hears_no_number_and_position_zero_is_taken_as_first() {
    for position in [1, 0] {
        let mut call = Call::enqueued();
        assert_eq!(
            call.input(secs(1), Input::Queued { position }),
            [first_announcement(&[])],
            "{position}"
        );
    }
}

// ---- Status by phone ----

fn status_enter() -> Output {
    play(&["status_enter_ticket"], true)
}

fn lookup(ticket: &str) -> Output {
    Output::LookupCase {
        ticket: ticket.to_owned(),
    }
}

fn found(state: &str, deadline: Option<(i32, u32, u32)>) -> Input {
    Input::CaseStatus {
        status: CaseStatusSpeech::Found {
            state: state.to_owned(),
            deadline: deadline.map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap()),
        },
    }
}

fn not_found() -> Input {
    Input::CaseStatus {
        status: CaseStatusSpeech::NotFound,
    }
}

impl Call {
    /// From a staffed greeting, key 4 at the menu: the request for the ticket plays.
    fn status() -> Call {
        let (mut call, _) = Call::staffed();
        call.reach_menu_wait();
        assert_eq!(call.input(secs(1), Input::Digit('4')), [status_enter()]);
        call
    }

    /// Keys `keys` one second apart; returns the outputs of the last.
    fn keys(&mut self, keys: &str) -> Vec<Output> {
        let mut out = Vec::new();
        for k in keys.chars() {
            out = self.input(secs(1), Input::Digit(k));
        }
        out
    }
}

#[test]
fn status_found_with_a_deadline_reads_state_and_date() {
    let mut call = Call::status();
    assert_eq!(call.input(secs(3), Input::PlaybackFinished), []);
    assert_eq!(call.flow.poll_timeout(), Some(call.now + secs(8)));
    assert_eq!(call.keys("2025061800042"), []);
    assert_eq!(call.keys("#"), [lookup("2025061800042")]);
    assert_eq!(call.flow.poll_timeout(), None, "the driver answers");
    assert_eq!(
        call.input(secs(0), found("dispatched", Some((2026, 11, 21)))),
        [play(
            &[
                "status_is",
                "state_dispatched",
                "status_deadline",
                "num_2",
                "num_0",
                "num_2",
                "num_6",
                "year",
                "num_10",
                "num_1",
                "month",
                "num_2",
                "num_10",
                "num_1",
                "day",
                "goodbye",
            ],
            false
        )]
    );
    assert_eq!(
        call.input(secs(9), Input::PlaybackFinished),
        [Output::Hangup]
    );
    assert!(call.flow.is_done());
    assert_eq!(call.flow.path(), "greeting>menu:4>status>status:found");
}

#[test]
fn status_date_in_january_and_without_a_deadline() {
    let mut call = Call::status();
    call.keys("77#");
    assert_eq!(
        call.input(secs(0), found("accepted", Some((2026, 1, 5)))),
        [play(
            &[
                "status_is",
                "state_accepted",
                "status_deadline",
                "num_2",
                "num_0",
                "num_2",
                "num_6",
                "year",
                "num_1",
                "month",
                "num_5",
                "day",
                "goodbye",
            ],
            false
        )]
    );

    let mut call = Call::status();
    call.keys("77#");
    assert_eq!(
        call.input(secs(0), found("closed", None)),
        [play(&["status_is", "state_closed", "goodbye"], false)]
    );
    // A voicemail case waits for a callback; an unknown state is not said.
    let mut call = Call::status();
    call.keys("77#");
    assert_eq!(
        call.input(secs(0), found("voicemail", None)),
        [play(
            &["status_is", "state_callback_pending", "goodbye"],
            false
        )]
    );
    let mut call = Call::status();
    call.keys("77#");
    assert_eq!(
        call.input(secs(0), found("archived_somewhere", Some((2026, 10, 1)))),
        [play(
            &[
                "status_deadline",
                "num_2",
                "num_0",
                "num_2",
                "num_6",
                "year",
                "num_10",
                "month",
                "num_1",
                "day",
                "goodbye"
            ],
            false
        )]
    );
}

#[test]
fn status_keys_barge_into_the_request() {
    let mut call = Call::status();
    assert_eq!(
        call.input(secs(1), Input::Digit('1')),
        [Output::StopPlayback]
    );
    assert_eq!(call.flow.poll_timeout(), Some(call.now + secs(8)));
    // A late report of the stopped playback changes nothing.
    assert_eq!(call.input(secs(0), Input::PlaybackFinished), []);
    // '*' starts the number again.
    assert_eq!(call.keys("23*45#"), [lookup("45")]);
}

#[test]
fn status_not_found_then_found_on_the_retry() {
    let mut call = Call::status();
    call.keys("123#");
    assert_eq!(
        call.input(secs(0), not_found()),
        [play(&["status_not_found"], true)]
    );
    assert_eq!(call.input(secs(3), Input::PlaybackFinished), []);
    assert_eq!(call.keys("2025061800042#"), [lookup("2025061800042")]);
    assert_eq!(
        call.input(secs(0), found("replied", None)),
        [play(&["status_is", "state_replied", "goodbye"], false)]
    );
    assert_eq!(
        call.flow.path(),
        "greeting>menu:4>status>status:not_found>status:found"
    );
}

#[test]
fn status_not_found_twice_says_goodbye() {
    let mut call = Call::status();
    call.keys("123#");
    call.input(secs(0), not_found());
    assert_eq!(
        call.input(secs(1), Input::Digit('4')),
        [Output::StopPlayback]
    );
    assert_eq!(call.keys("56#"), [lookup("456")]);
    assert_eq!(
        call.input(secs(0), not_found()),
        [play(&["status_not_found_final", "goodbye"], false)]
    );
    assert_eq!(
        call.input(secs(3), Input::PlaybackFinished),
        [Output::Hangup]
    );
    assert_eq!(
        call.flow.path(),
        "greeting>menu:4>status>status:not_found>status:not_found"
    );
}

#[test]
fn status_not_yours_says_so_and_goodbye() {
    let mut call = Call::status();
    call.keys("2025061800042#");
    assert_eq!(
        call.input(
            secs(0),
            Input::CaseStatus {
                status: CaseStatusSpeech::NotYours
            }
        ),
        [play(&["status_not_yours", "goodbye"], false)]
    );
    assert_eq!(
        call.input(secs(4), Input::PlaybackFinished),
        [Output::Hangup]
    );
    assert_eq!(call.flow.path(), "greeting>menu:4>status>status:not_yours");
}

#[test]
fn status_silence_asks_again_then_says_goodbye() {
    let mut call = Call::status();
    call.input(secs(3), Input::PlaybackFinished);
    assert_eq!(call.timeout(), [status_enter()]);
    call.input(secs(3), Input::PlaybackFinished);
    assert_eq!(call.timeout(), [play(&["goodbye"], false)]);
    assert_eq!(
        call.input(secs(2), Input::PlaybackFinished),
        [Output::Hangup]
    );
    assert_eq!(
        call.flow.path(),
        "greeting>menu:4>status>status:timeout>status:timeout"
    );
}

#[test]
fn status_timeout_after_some_digits_looks_them_up() {
    let mut call = Call::status();
    call.input(secs(3), Input::PlaybackFinished);
    call.keys("2025");
    assert_eq!(call.flow.poll_timeout(), Some(call.now + secs(8)));
    assert_eq!(call.timeout(), [lookup("2025")]);
}

#[test]
fn status_hash_without_digits_counts_as_no_input() {
    let mut call = Call::status();
    assert_eq!(call.keys("#"), [Output::StopPlayback, status_enter()]);
    call.input(secs(3), Input::PlaybackFinished);
    assert_eq!(call.keys("#"), [play(&["goodbye"], false)]);
    assert_eq!(
        call.flow.path(),
        "greeting>menu:4>status>status:empty>status:empty"
    );
}

#[test]
fn status_sends_the_lookup_at_max_digits() {
    let mut call = Call::status();
    call.input(secs(3), Input::PlaybackFinished);
    assert_eq!(call.keys("1234567890123456789"), []);
    assert_eq!(call.keys("0"), [lookup("12345678901234567890")]);
    // Keys after that are not part of the ticket.
    assert_eq!(call.keys("5#"), []);
}

#[test]
fn hangup_while_keying_a_ticket_or_awaiting_the_lookup() {
    let mut call = Call::status();
    call.keys("20250");
    assert_eq!(call.input(secs(1), Input::Hangup), []);
    assert!(call.flow.is_done());
    assert_eq!(call.flow.path(), "greeting>menu:4>status>hangup");

    let mut call = Call::status();
    call.keys("20250#");
    assert_eq!(call.input(secs(1), Input::Hangup), []);
    assert_eq!(call.input(secs(0), found("closed", None)), []);
    assert_eq!(call.flow.path(), "greeting>menu:4>status>hangup");
}

#[test]
fn status_key_may_barge_into_the_greeting_and_answers_out_of_turn_are_ignored() {
    let (mut call, _) = Call::staffed();
    assert_eq!(
        call.input(secs(2), Input::Digit('4')),
        [Output::StopPlayback, status_enter()]
    );
    // Not waiting for a lookup: ignored.
    assert_eq!(call.input(secs(0), not_found()), []);
    let (mut call, _) = Call::staffed();
    assert_eq!(call.input(secs(2), found("closed", None)), []);
}

#[test]
fn without_a_status_digit_key_4_is_a_wrong_key_and_a_status_key_alone_is_a_menu() {
    let mut cfg = IvrConfig::default();
    cfg.menu.status_digit.clear();
    let (mut call, _) = Call::at(cfg, shanghai(2025, 6, 18, 10, 0));
    call.reach_menu_wait();
    assert_eq!(
        call.input(secs(1), Input::Digit('4')),
        [play(&["invalid", "menu", "menu_status"], true)]
    );

    let mut cfg = IvrConfig::default();
    cfg.menu.options.clear();
    cfg.validate().unwrap();
    let (mut call, out) = Call::at(cfg, shanghai(2025, 6, 18, 10, 0));
    assert_eq!(out, [greeting()]);
    call.reach_menu_wait();
    assert_eq!(call.input(secs(1), Input::Digit('4')), [status_enter()]);
}

#[test]
fn shipped_config_runs_the_status_query() {
    let cfg = IvrConfig::from_toml_str(include_str!("../../../../config/ivr.toml")).unwrap();
    assert_eq!(cfg.status_key(), Some('4'));
    let (mut call, _) = Call::at(cfg, shanghai(2025, 6, 18, 10, 0));
    call.reach_menu_wait();
    assert_eq!(call.input(secs(1), Input::Digit('4')), [status_enter()]);
    call.keys("42#");
    assert_eq!(
        call.input(secs(0), found("redo", Some((2026, 12, 31)))),
        [play(
            &[
                "status_is",
                "state_redo",
                "status_deadline",
                "num_2",
                "num_0",
                "num_2",
                "num_6",
                "year",
                "num_10",
                "num_2",
                "month",
                "num_3",
                "num_10",
                "num_1",
                "day",
                "goodbye"
            ],
            false
        )]
    );
}
