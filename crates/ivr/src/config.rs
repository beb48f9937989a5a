//! `config/ivr.toml`: the flow's settings, read through serde and checked by
//! [`IvrConfig::validate`].
//!
//! Every section has defaults equal to the 12345 defaults shipped in `config/ivr.toml`, so a
//! file only needs the keys it changes. Unknown keys are errors (a misspelled key would
//! otherwise silently keep its default).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::hours::Hours;

/// The IVR's whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IvrConfig {
    /// The zone staffed hours are read in (IANA name).
    pub timezone: Tz,
    pub hours: Hours,
    pub greeting: Greeting,
    pub menu: Menu,
    pub closed: Closed,
    pub agents_busy: Step,
    pub voicemail: Voicemail,
    pub goodbye: Step,
    pub queue: Queue,
    pub survey: Survey,
    pub status: Status,
    pub agent_prompts: AgentPrompts,
    pub callback_prompts: CallbackPrompts,
}

/// `[greeting]`: played first on every call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Greeting {
    pub prompts: Vec<String>,
    /// Whether a key pressed during the greeting is taken as a menu choice (staffed hours only).
    pub barge_in: bool,
}

/// `[menu]`: one level of shortcuts to a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Menu {
    /// Played after the greeting. Keys may be pressed while it plays (barge-in).
    pub prompts: Vec<String>,
    /// Played before the menu again after a key that is not an option.
    pub invalid_prompts: Vec<String>,
    /// Key (`"0"`–`"9"`, `"*"`, `"#"`) → queue (skill) name. Empty: no menu, straight to
    /// `fallback_queue` after the greeting.
    pub options: BTreeMap<String, String>,
    /// How long to wait for a key after the menu has finished playing.
    pub digit_timeout_secs: u64,
    /// How many times a wrong key replays the menu before the call goes to `fallback_queue`.
    pub invalid_retries: u32,
    /// How many times silence replays the menu before the call goes to `fallback_queue`.
    /// 0: no input goes to a person at once (keys are shortcuts, not a maze).
    pub no_input_retries: u32,
    /// Where a call goes on no input or after the retries.
    pub fallback_queue: String,
    /// The key (`"0"`–`"9"`, `"*"`, `"#"`) that starts the status query by phone ([`Status`])
    /// instead of a queue; `""`: no status query. Must not also be a key of `options`.
    pub status_digit: String,
}

/// `[status]`: "how is my case going?" by phone. The caller keys a ticket number ending with
/// `#`; the driver looks it up ([`Output::LookupCase`](crate::Output::LookupCase)) and
/// answers with [`CaseStatusSpeech`](crate::CaseStatusSpeech); the flow reads the state and
/// deadline, then `[goodbye]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Status {
    /// Asks for the ticket number ("请输入您的工单号,以井号键结束。"); keys may be pressed
    /// while it plays. Played again after no input when a retry is left.
    pub enter_prompts: Vec<String>,
    /// Seconds to wait for the next key (the first one after `enter_prompts` has played).
    /// At the timeout, the keys pressed so far are taken as the ticket (no `#` needed).
    pub digit_timeout_secs: u64,
    /// The ticket is looked up as soon as this many digits have been pressed.
    pub max_digits: usize,
    /// How many more tries a caller gets after an unknown ticket or no input (then goodbye).
    pub retries: u32,
    /// An unknown ticket while a retry is left ("未查询到该工单,请重新输入。").
    pub not_found_prompts: Vec<String>,
    /// An unknown ticket with no retry left ("未查询到该工单。"), before `[goodbye]`.
    pub not_found_final_prompts: Vec<String>,
    /// The ticket belongs to another caller ("该工单不属于您的来电号码,无法查询。"), before
    /// `[goodbye]`.
    pub not_yours_prompts: Vec<String>,
    /// Introduces the state ("您的工单目前状态为").
    pub is_prompts: Vec<String>,
    /// Introduces the deadline ("办理期限为"), read as a date: the year's digits, then month
    /// and day as Chinese numbers (prompts `num_*`), each followed by its unit.
    pub deadline_prompts: Vec<String>,
    /// "年".
    pub year_prompts: Vec<String>,
    /// "月".
    pub month_prompts: Vec<String>,
    /// "日".
    pub day_prompts: Vec<String>,
    /// Case lifecycle state (as the case store writes it) → the prompt that says it. A state
    /// not listed is not said (`is_prompts` neither); the deadline still is.
    pub states: BTreeMap<String, String>,
}

/// `[closed]`: outside staffed hours, before the voicemail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Closed {
    /// "现在是非工作时间。"
    pub prompts: Vec<String>,
    /// Introduces the staffed hours ("人工服务时间为"), which follow as read from `[hours]`
    /// ([`Hours::spoken`]: 每天 8点 至 22点; per run of weekdays when days differ). Empty:
    /// the hours are not announced. Not played when no day is ever staffed.
    pub hours_prompts: Vec<String>,
}

impl Default for Closed {
    fn default() -> Closed {
        Closed {
            prompts: names(&["closed"]),
            hours_prompts: names(&["closed_hours"]),
        }
    }
}

/// A step that only plays prompts (`[agents_busy]`, `[goodbye]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub prompts: Vec<String>,
}

/// `[voicemail]`: leave a message, get a callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Voicemail {
    /// Played before recording starts; ends with the tone.
    pub prompts: Vec<String>,
    /// Longest message; the driver stops the recording there.
    pub max_secs: u64,
    /// Shorter messages are taken as no message.
    pub min_secs: u64,
    /// Played when a message was kept, before the ticket number.
    pub recorded_prompts: Vec<String>,
    /// Played when the message was too short.
    pub no_message_prompts: Vec<String>,
    /// Introduces the ticket number ("您的工单号是").
    pub ticket_prompts: Vec<String>,
    /// The ticket is read one digit at a time as prompts `<prefix>0` … `<prefix>9`.
    pub digit_prompt_prefix: String,
}

/// `[queue]`: what a caller hears while waiting in the ACD queue for an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Queue {
    /// Played first in every announcement ("正在为您转接人工服务,请稍候。").
    pub comfort_prompts: Vec<String>,
    /// Whether announcements say how many callers are ahead: `position_before_prompts`,
    /// the number read the Chinese way (prompts `num_0` … `num_9`, `num_10`, `num_100`,
    /// `num_1000`, see [`chinese_number_prompts`](crate::chinese_number_prompts)),
    /// `position_after_prompts`. Nothing is said when no caller is ahead (first in line).
    pub announce_position: bool,
    /// "您前面还有".
    pub position_before_prompts: Vec<String>,
    /// "位".
    pub position_after_prompts: Vec<String>,
    /// Played after the first announcement only: the offer of a callback instead of waiting.
    pub callback_offer_prompts: Vec<String>,
    /// Played between announcements, over and over; empty: silence.
    pub hold_prompts: Vec<String>,
    /// Seconds between the end of one announcement and the start of the next
    /// (comfort + position).
    pub announce_every_secs: u64,
    /// The key (`"0"`–`"9"`, `"*"`, `"#"`) that leaves the queue for a callback; `""`: no
    /// callback offer (then `callback_offer_prompts` must be empty).
    pub callback_digit: String,
    /// Played when a callback was asked for, before the ticket number and `[goodbye]`.
    pub callback_prompts: Vec<String>,
    /// Played when the maximum wait was reached; ends with the tone, recording follows
    /// (the `[voicemail]` prompts are not played: these say it).
    pub timeout_prompts: Vec<String>,
}

/// `[survey]`: after the agent hangs up first, the caller rates the service
/// (1 满意, 2 基本满意, 3 不满意).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Survey {
    /// false: the flow hangs up when the agent does.
    pub enabled: bool,
    /// The question; keys 1, 2 and 3 may be pressed while it plays.
    pub prompts: Vec<String>,
    /// How long to wait for a key after the question has played; then `[goodbye]`.
    pub digit_timeout_secs: u64,
    /// Played after a rating, then the flow hangs up (they say goodbye themselves).
    pub thanks_prompts: Vec<String>,
}

/// `[agent_prompts]`: confirmations the server plays to an agent who dialled a feature code.
/// The caller's flow never plays them; they are listed here so `hotline check-config`
/// checks them with the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentPrompts {
    /// Logged in and ready ("已签入,示闲。").
    pub ready: Vec<String>,
    /// Not ready ("已示忙。").
    pub not_ready: Vec<String>,
    /// Logged out ("已签出。").
    pub logged_out: Vec<String>,
    /// A code the server does not know ("无效的功能码。").
    pub unknown_code: Vec<String>,
    /// `*1` from a phone whose registration the server does not hold: not made ready, as
    /// no call could reach it ("话机未注册,不能示闲。").
    pub not_registered: Vec<String>,
}

/// `[callback_prompts]`: what the server plays on the calls it makes — to the agent of an
/// agent-first callback, and to the citizen on an automatic revisit (回访).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackPrompts {
    /// To the agent while the citizen's phone rings ("回拨任务,正在接通市民,请稍候。").
    pub connecting: Vec<String>,
    /// To the agent when the citizen was not reached ("市民未接通,已记录,稍后将再次回拨。").
    pub unreached: Vec<String>,
    /// To the citizen first on a revisit ("您好,这里是12345…进行回访。").
    pub revisit_intro: Vec<String>,
    /// After the introduction, the ticket the revisit is about ("您的工单号是"), followed by
    /// its digits read one at a time (`[voicemail] digit_prompt_prefix`). Empty: the ticket
    /// is not read.
    pub revisit_ticket: Vec<String>,
    /// The revisit question, keys 1 / 2 / 3 (asked at most twice).
    pub revisit_question: Vec<String>,
    /// After a key ("感谢您的评价,再见。").
    pub revisit_thanks: Vec<String>,
    /// After no key twice.
    pub revisit_goodbye: Vec<String>,
}

impl Default for CallbackPrompts {
    fn default() -> CallbackPrompts {
        CallbackPrompts {
            connecting: names(&["callback_connecting"]),
            unreached: names(&["callback_unreached"]),
            revisit_intro: names(&["revisit_intro"]),
            revisit_ticket: names(&["ticket_is"]),
            revisit_question: names(&["revisit_question"]),
            revisit_thanks: names(&["thanks"]),
            revisit_goodbye: names(&["goodbye"]),
        }
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for IvrConfig {
    /// The 12345 defaults (the same as the shipped `config/ivr.toml`, without its holidays).
    fn default() -> IvrConfig {
        IvrConfig {
            timezone: chrono_tz::Asia::Shanghai,
            hours: Hours::default(),
            greeting: Greeting::default(),
            menu: Menu::default(),
            closed: Closed::default(),
            agents_busy: Step {
                prompts: names(&["agents_busy"]),
            },
            voicemail: Voicemail::default(),
            goodbye: Step {
                prompts: names(&["goodbye"]),
            },
            queue: Queue::default(),
            survey: Survey::default(),
            status: Status::default(),
            agent_prompts: AgentPrompts::default(),
            callback_prompts: CallbackPrompts::default(),
        }
    }
}

impl Default for Queue {
    fn default() -> Queue {
        Queue {
            comfort_prompts: names(&["queue_comfort"]),
            announce_position: true,
            position_before_prompts: names(&["queue_position_before"]),
            position_after_prompts: names(&["queue_position_after"]),
            callback_offer_prompts: names(&["queue_callback_offer"]),
            hold_prompts: names(&["queue_music"]),
            announce_every_secs: 30,
            callback_digit: "1".to_owned(),
            callback_prompts: names(&["callback_confirm"]),
            timeout_prompts: names(&["queue_timeout", "beep"]),
        }
    }
}

impl Default for Status {
    fn default() -> Status {
        let states = [
            ("registered", "state_registered"),
            ("dispatched", "state_dispatched"),
            ("accepted", "state_accepted"),
            ("replied", "state_replied"),
            ("revisited", "state_revisited"),
            ("redo", "state_redo"),
            ("closed", "state_closed"),
            ("answered", "state_answered"),
            ("forwarded", "state_forwarded"),
            ("returned", "state_returned"),
            ("voicemail", "state_callback_pending"),
            ("callback_pending", "state_callback_pending"),
        ];
        Status {
            enter_prompts: names(&["status_enter_ticket"]),
            digit_timeout_secs: 8,
            max_digits: 20,
            retries: 1,
            not_found_prompts: names(&["status_not_found"]),
            not_found_final_prompts: names(&["status_not_found_final"]),
            not_yours_prompts: names(&["status_not_yours"]),
            is_prompts: names(&["status_is"]),
            deadline_prompts: names(&["status_deadline"]),
            year_prompts: names(&["year"]),
            month_prompts: names(&["month"]),
            day_prompts: names(&["day"]),
            states: states
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

impl Default for Survey {
    fn default() -> Survey {
        Survey {
            enabled: true,
            prompts: names(&["survey"]),
            digit_timeout_secs: 5,
            thanks_prompts: names(&["thanks"]),
        }
    }
}

impl Default for AgentPrompts {
    fn default() -> AgentPrompts {
        AgentPrompts {
            ready: names(&["agent_ready"]),
            not_ready: names(&["agent_not_ready"]),
            logged_out: names(&["agent_logged_out"]),
            unknown_code: names(&["agent_unknown_code"]),
            not_registered: names(&["agent_not_registered"]),
        }
    }
}

impl Default for Greeting {
    fn default() -> Greeting {
        Greeting {
            prompts: names(&["welcome", "emergency"]),
            barge_in: true,
        }
    }
}

impl Default for Menu {
    fn default() -> Menu {
        let options = [
            ("1", "consult"),
            ("2", "complaint"),
            ("3", "enterprise"),
            ("0", "agent"),
        ];
        Menu {
            prompts: names(&["menu", "menu_status"]),
            invalid_prompts: names(&["invalid"]),
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            digit_timeout_secs: 5,
            invalid_retries: 2,
            no_input_retries: 0,
            fallback_queue: "agent".to_owned(),
            status_digit: "4".to_owned(),
        }
    }
}

impl Default for Voicemail {
    fn default() -> Voicemail {
        Voicemail {
            prompts: names(&["voicemail", "beep"]),
            max_secs: 120,
            min_secs: 1,
            recorded_prompts: names(&["recorded"]),
            no_message_prompts: names(&["no_message"]),
            ticket_prompts: names(&["ticket_is"]),
            digit_prompt_prefix: "digit_".to_owned(),
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or a key has the wrong type or an unreadable value (the message names it).
    #[error("ivr config: {0}")]
    Toml(#[from] toml::de::Error),
    /// Read, but some values do not make sense together.
    #[error(transparent)]
    Invalid(#[from] InvalidConfig),
}

/// Every problem [`IvrConfig::validate`] found, each naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidConfig {
    pub errors: Vec<FieldError>,
}

/// One bad field: `field` is its TOML path, e.g. `menu.options."7"` or `greeting.prompts[1]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid ivr config")?;
        for (i, e) in self.errors.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Keys a menu option may use (DTMF A–D are left out: ordinary phones lack them).
const MENU_KEYS: &str = "0123456789*#";
const MAX_RETRIES: u32 = 9;

impl IvrConfig {
    /// Reads and validates a configuration.
    pub fn from_toml_str(text: &str) -> Result<IvrConfig, ConfigError> {
        let cfg: IvrConfig = toml::from_str(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the values together; lists every bad field, not only the first.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let mut errors = Vec::new();
        let mut bad = |field: String, reason: &str| {
            errors.push(FieldError {
                field,
                reason: reason.to_owned(),
            })
        };

        for (field, list) in self.prompt_lists() {
            for (i, name) in list.iter().enumerate() {
                if let Some(reason) = bad_prompt_name(name) {
                    bad(format!("{field}[{i}]"), reason);
                }
            }
        }
        if let Some(reason) = bad_prompt_name(&self.voicemail.digit_prompt_prefix) {
            bad("voicemail.digit_prompt_prefix".into(), reason);
        }

        let menu = &self.menu;
        for (key, queue) in &menu.options {
            if !is_key(key) {
                bad(
                    format!("menu.options.{key:?}"),
                    "a key is one of 0-9, * or #",
                );
            }
            if let Some(reason) = bad_queue_name(queue) {
                bad(format!("menu.options.{key:?}"), reason);
            }
        }
        if menu.status_digit.is_empty() {
        } else if !is_key(&menu.status_digit) {
            bad(
                "menu.status_digit".into(),
                "a key is one of 0-9, * or # (or \"\" for no status query)",
            );
        } else if menu.options.contains_key(&menu.status_digit) {
            bad(
                "menu.status_digit".into(),
                "this key is also in menu.options (a key leads to a queue or to the status query)",
            );
        }
        if self.has_menu() && menu.prompts.is_empty() {
            bad(
                "menu.prompts".into(),
                "empty, so callers would not hear the options",
            );
        }
        if !(1..=60).contains(&menu.digit_timeout_secs) {
            bad("menu.digit_timeout_secs".into(), "must be 1 to 60 seconds");
        }
        if menu.invalid_retries > MAX_RETRIES {
            bad(
                "menu.invalid_retries".into(),
                "at most 9 (a menu is not a maze)",
            );
        }
        if menu.no_input_retries > MAX_RETRIES {
            bad(
                "menu.no_input_retries".into(),
                "at most 9 (a menu is not a maze)",
            );
        }
        if let Some(reason) = bad_queue_name(&menu.fallback_queue) {
            bad("menu.fallback_queue".into(), reason);
        }

        let vm = &self.voicemail;
        if !(1..=3600).contains(&vm.max_secs) {
            bad("voicemail.max_secs".into(), "must be 1 to 3600 seconds");
        }
        if vm.min_secs >= vm.max_secs {
            bad(
                "voicemail.min_secs".into(),
                "must be less than voicemail.max_secs",
            );
        }

        let queue = &self.queue;
        if !(5..=600).contains(&queue.announce_every_secs) {
            bad(
                "queue.announce_every_secs".into(),
                "must be 5 to 600 seconds",
            );
        }
        if queue.callback_digit.is_empty() {
            if !queue.callback_offer_prompts.is_empty() {
                bad(
                    "queue.callback_offer_prompts".into(),
                    "offers a callback, but queue.callback_digit is empty (no callback)",
                );
            }
        } else if !is_key(&queue.callback_digit) {
            bad(
                "queue.callback_digit".into(),
                "a key is one of 0-9, * or # (or \"\" for no callback)",
            );
        }

        if !(1..=60).contains(&self.survey.digit_timeout_secs) {
            bad(
                "survey.digit_timeout_secs".into(),
                "must be 1 to 60 seconds",
            );
        }
        if self.survey.enabled && self.survey.prompts.is_empty() {
            bad(
                "survey.prompts".into(),
                "empty, so callers would not hear the question (or set survey.enabled = false)",
            );
        }

        let st = &self.status;
        for (state, prompt) in &st.states {
            if state.is_empty() {
                bad("status.states".into(), "a state name cannot be empty");
            }
            if let Some(reason) = bad_prompt_name(prompt) {
                bad(format!("status.states.{state:?}"), reason);
            }
        }
        if !(1..=60).contains(&st.digit_timeout_secs) {
            bad(
                "status.digit_timeout_secs".into(),
                "must be 1 to 60 seconds",
            );
        }
        if !(1..=32).contains(&st.max_digits) {
            bad("status.max_digits".into(), "must be 1 to 32 digits");
        }
        if st.retries > MAX_RETRIES {
            bad("status.retries".into(), "at most 9 (a menu is not a maze)");
        }
        if self.status_key().is_some() && st.enter_prompts.is_empty() {
            bad(
                "status.enter_prompts".into(),
                "empty, so callers would not be asked for the ticket (or set menu.status_digit = \"\")",
            );
        }

        let hours = &self.hours;
        for (i, date) in hours.workday_swaps.iter().enumerate() {
            if hours.holidays.contains(date) {
                bad(
                    format!("hours.workday_swaps[{i}]"),
                    "this date is also in hours.holidays",
                );
            }
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(InvalidConfig { errors })
        }
    }

    /// Every prompt name the flow may play, each once, in the order the flow first uses
    /// them, then the `[agent_prompts]` the server plays to agents: `hotline check-config`
    /// checks that each names an 8 kHz mono 16-bit WAV file. Includes the ten digit prompts
    /// (`digit_0` … `digit_9`) tickets are read with and, when positions are announced, the
    /// number prompts (`num_0` … `num_9`, `num_10`, `num_100`, `num_1000`).
    pub fn prompt_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |name: String| {
            if !out.contains(&name) {
                out.push(name);
            }
        };
        for (field, list) in self.prompt_lists() {
            for name in list {
                add(name.clone());
            }
            if field == "voicemail.ticket_prompts" {
                for d in '0'..='9' {
                    add(self.digit_prompt(d));
                }
            }
            let numbers = match field {
                "closed.hours_prompts" => self.announces_hours(),
                "queue.position_before_prompts" => self.queue.announce_position,
                "status.deadline_prompts" => self.status_key().is_some(),
                _ => false,
            };
            if numbers {
                for name in crate::number::NUMBER_PROMPTS {
                    add((*name).to_owned());
                }
            }
            if field == "closed.hours_prompts" && self.announces_hours() {
                for name in crate::hours::HOURS_PROMPTS {
                    add((*name).to_owned());
                }
            }
            if field == "status.is_prompts" && self.status_key().is_some() {
                for name in self.status.states.values() {
                    add(name.clone());
                }
            }
        }
        out
    }

    /// Whether the closed notice reads the staffed hours: `[closed] hours_prompts` is set
    /// and some day is staffed.
    pub fn announces_hours(&self) -> bool {
        !self.closed.hours_prompts.is_empty() && !self.hours.spoken().is_empty()
    }

    /// What a caller outside staffed hours hears before the voicemail prompts: `[closed]
    /// prompts`, then (when [`IvrConfig::announces_hours`]) `hours_prompts` and the weekly
    /// hours read out ([`Hours::spoken`]).
    pub fn closed_prompts(&self) -> Vec<String> {
        let mut prompts = self.closed.prompts.clone();
        if !self.closed.hours_prompts.is_empty() {
            let hours = self.hours.spoken();
            if !hours.is_empty() {
                prompts.extend(self.closed.hours_prompts.iter().cloned());
                prompts.extend(hours);
            }
        }
        prompts
    }

    /// Whether a person is on duty at this instant, read in [`IvrConfig::timezone`].
    pub fn is_staffed(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.timezone).naive_local();
        self.hours.is_staffed(local.date(), local.time())
    }

    /// The digit timeout as a duration.
    pub fn digit_timeout(&self) -> Duration {
        Duration::from_secs(self.menu.digit_timeout_secs)
    }

    /// The longest voicemail message.
    pub fn voicemail_max(&self) -> Duration {
        Duration::from_secs(self.voicemail.max_secs)
    }

    /// Time between the end of one queue announcement and the start of the next.
    pub fn announce_every(&self) -> Duration {
        Duration::from_secs(self.queue.announce_every_secs)
    }

    /// How long the survey waits for a key after its question.
    pub fn survey_timeout(&self) -> Duration {
        Duration::from_secs(self.survey.digit_timeout_secs)
    }

    /// The key that starts the status query, if the menu offers it.
    pub fn status_key(&self) -> Option<char> {
        self.menu.status_digit.chars().next()
    }

    /// Whether the menu has any key: a queue or the status query.
    pub fn has_menu(&self) -> bool {
        !self.menu.options.is_empty() || self.status_key().is_some()
    }

    /// How long the status query waits for the next key of a ticket number.
    pub fn status_timeout(&self) -> Duration {
        Duration::from_secs(self.status.digit_timeout_secs)
    }

    /// The queue's callback key, if a callback is offered.
    pub fn callback_key(&self) -> Option<char> {
        self.queue.callback_digit.chars().next()
    }

    /// What a revisit says after its introduction: `[callback_prompts] revisit_ticket` and
    /// the ticket's digits one at a time; nothing when either is empty.
    pub fn revisit_ticket_prompts(&self, ticket: &str) -> Vec<String> {
        let intro = &self.callback_prompts.revisit_ticket;
        let digits: Vec<String> = ticket
            .chars()
            .filter(char::is_ascii_digit)
            .map(|d| self.digit_prompt(d))
            .collect();
        if intro.is_empty() || digits.is_empty() {
            return Vec::new();
        }
        let mut prompts = intro.clone();
        prompts.extend(digits);
        prompts
    }

    /// The prompt that says one digit of a ticket number.
    pub fn digit_prompt(&self, digit: char) -> String {
        format!("{}{digit}", self.voicemail.digit_prompt_prefix)
    }

    /// Each prompt list with its TOML path, in flow order.
    fn prompt_lists(&self) -> [(&'static str, &Vec<String>); 41] {
        let (q, s, a) = (&self.queue, &self.survey, &self.agent_prompts);
        let cb = &self.callback_prompts;
        let st = &self.status;
        [
            ("greeting.prompts", &self.greeting.prompts),
            ("menu.prompts", &self.menu.prompts),
            ("menu.invalid_prompts", &self.menu.invalid_prompts),
            ("closed.prompts", &self.closed.prompts),
            ("closed.hours_prompts", &self.closed.hours_prompts),
            ("queue.comfort_prompts", &q.comfort_prompts),
            ("queue.position_before_prompts", &q.position_before_prompts),
            ("queue.position_after_prompts", &q.position_after_prompts),
            ("queue.callback_offer_prompts", &q.callback_offer_prompts),
            ("queue.hold_prompts", &q.hold_prompts),
            ("queue.callback_prompts", &q.callback_prompts),
            ("agents_busy.prompts", &self.agents_busy.prompts),
            ("queue.timeout_prompts", &q.timeout_prompts),
            ("voicemail.prompts", &self.voicemail.prompts),
            (
                "voicemail.no_message_prompts",
                &self.voicemail.no_message_prompts,
            ),
            (
                "voicemail.recorded_prompts",
                &self.voicemail.recorded_prompts,
            ),
            ("voicemail.ticket_prompts", &self.voicemail.ticket_prompts),
            ("goodbye.prompts", &self.goodbye.prompts),
            ("survey.prompts", &s.prompts),
            ("survey.thanks_prompts", &s.thanks_prompts),
            ("status.enter_prompts", &st.enter_prompts),
            ("status.not_found_prompts", &st.not_found_prompts),
            (
                "status.not_found_final_prompts",
                &st.not_found_final_prompts,
            ),
            ("status.not_yours_prompts", &st.not_yours_prompts),
            ("status.is_prompts", &st.is_prompts),
            ("status.deadline_prompts", &st.deadline_prompts),
            ("status.year_prompts", &st.year_prompts),
            ("status.month_prompts", &st.month_prompts),
            ("status.day_prompts", &st.day_prompts),
            ("agent_prompts.ready", &a.ready),
            ("agent_prompts.not_ready", &a.not_ready),
            ("agent_prompts.logged_out", &a.logged_out),
            ("agent_prompts.unknown_code", &a.unknown_code),
            ("agent_prompts.not_registered", &a.not_registered),
            ("callback_prompts.connecting", &cb.connecting),
            ("callback_prompts.unreached", &cb.unreached),
            ("callback_prompts.revisit_intro", &cb.revisit_intro),
            ("callback_prompts.revisit_ticket", &cb.revisit_ticket),
            ("callback_prompts.revisit_question", &cb.revisit_question),
            ("callback_prompts.revisit_thanks", &cb.revisit_thanks),
            ("callback_prompts.revisit_goodbye", &cb.revisit_goodbye),
        ]
    }
}

/// Whether `key` is one DTMF key a menu or the queue may use.
fn is_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if MENU_KEYS.contains(c))
}

/// A prompt name becomes a file name (`prompts/<lang>/<name>.wav`): keep it plain.
fn bad_prompt_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a prompt name cannot be empty")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Some("a prompt name uses only ASCII letters, digits, '_' and '-' (it names a file)")
    } else {
        None
    }
}

fn bad_queue_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a queue name cannot be empty")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Some("a queue name uses only ASCII letters, digits, '_' and '-'")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SHIPPED: &str = include_str!("../../../config/ivr.toml");
    const MANIFEST: &str = include_str!("../../../prompts/zh/manifest.toml");

    fn shanghai(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn field_names(err: ConfigError) -> Vec<String> {
        match err {
            ConfigError::Invalid(e) => e.errors.into_iter().map(|e| e.field).collect(),
            ConfigError::Toml(e) => panic!("expected a validation error, got {e}"),
        }
    }

    #[test]
    fn shipped_config_parses_and_validates() {
        let cfg = IvrConfig::from_toml_str(SHIPPED).unwrap();
        assert_eq!(cfg.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(cfg.menu.options.get("0").map(String::as_str), Some("agent"));
        assert_eq!(cfg.menu.options.len(), 4);
        assert_eq!(cfg.voicemail.max_secs, 120);
        // The shipped file spells out the defaults, plus a holiday calendar.
        let without_calendar = IvrConfig {
            hours: Hours {
                holidays: vec![],
                workday_swaps: vec![],
                ..cfg.hours.clone()
            },
            ..cfg.clone()
        };
        assert_eq!(without_calendar, IvrConfig::default());
        IvrConfig::default().validate().unwrap();
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(IvrConfig::from_toml_str("").unwrap(), IvrConfig::default());
    }

    #[test]
    fn a_section_needs_only_the_keys_it_changes() {
        let cfg =
            IvrConfig::from_toml_str("[hours]\nsun = \"closed\"\n[voicemail]\nmax_secs = 60\n")
                .unwrap();
        assert!(cfg.hours.sun.is_closed());
        assert_eq!(cfg.hours.sat, IvrConfig::default().hours.sat);
        assert_eq!(cfg.voicemail.max_secs, 60);
        assert_eq!(cfg.voicemail.min_secs, 1);
    }

    #[test]
    fn serializes_back_to_the_same_config() {
        let mut cfg = IvrConfig::from_toml_str(SHIPPED).unwrap();
        cfg.hours
            .holidays
            .push(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        cfg.hours.workday_swap_hours =
            Some(crate::DayHours::parse("09:00-12:00,13:00-17:00").unwrap());
        let text = toml::to_string(&cfg).unwrap();
        assert_eq!(IvrConfig::from_toml_str(&text).unwrap(), cfg, "{text}");
    }

    #[test]
    fn shipped_prompts_exist_in_the_manifest_and_as_8khz_mono_16bit_wav() {
        #[derive(Deserialize)]
        struct Manifest {
            prompt: Vec<Entry>,
        }
        #[derive(Deserialize)]
        struct Entry {
            name: String,
            text: String,
        }
        let manifest: Manifest = toml::from_str(MANIFEST).unwrap();
        let cfg = IvrConfig::from_toml_str(SHIPPED).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts/zh");
        for name in cfg.prompt_names() {
            let entry = manifest.prompt.iter().find(|e| e.name == name);
            assert!(
                entry.is_some_and(|e| !e.text.is_empty()),
                "{name} missing from manifest"
            );
            let bytes = std::fs::read(dir.join(format!("{name}.wav"))).unwrap();
            let (rate, channels, bits, data_len) = wav_format(&bytes).expect(&name);
            assert_eq!((rate, channels, bits), (8000, 1, 16), "{name}.wav format");
            assert!(data_len >= 8000 / 5, "{name}.wav is shorter than 100 ms");
        }
    }

    /// How long `names` play one after another from the shipped `prompts/zh` files, as the
    /// media crate sends them: each clip in whole 20 ms frames (its last one padded).
    fn playing_time(names: &[String]) -> Duration {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts/zh");
        let samples: usize = names
            .iter()
            .map(|name| {
                let bytes = std::fs::read(dir.join(format!("{name}.wav"))).expect(name);
                let (_, _, _, data_len) = wav_format(&bytes).expect(name);
                (data_len / 2).div_ceil(160) * 160
            })
            .sum();
        Duration::from_micros(samples as u64 * 125)
    }

    #[test]
    fn shipped_prompts_reach_the_menu_within_12_s_and_the_tone_within_20_s() {
        let cfg = IvrConfig::from_toml_str(SHIPPED).unwrap();
        // Staffed: greeting, then the menu; the caller has heard every option by then.
        let mut to_menu_end = cfg.greeting.prompts.clone();
        to_menu_end.extend(cfg.menu.prompts.iter().cloned());
        let menu = playing_time(&to_menu_end);
        // Closed: greeting, the closed notice with the shipped hours, the voicemail prompts
        // (which end with the tone).
        let mut to_tone = cfg.greeting.prompts.clone();
        to_tone.extend(cfg.closed_prompts());
        let before_tone = to_tone.len();
        to_tone.extend(cfg.voicemail.prompts.iter().cloned());
        let tone_end = playing_time(&to_tone);
        let tone_start = playing_time(&to_tone[..to_tone.len() - 1]);
        eprintln!(
            "answer to the end of the menu {menu:?} ({to_menu_end:?}); to the tone {tone_start:?}, \
             its end {tone_end:?} ({to_tone:?}, the hours {:?})",
            &to_tone[cfg.greeting.prompts.len()..before_tone]
        );
        // Each play also waits up to a packet time for the session's ticker: keep a margin.
        assert!(
            menu <= Duration::from_millis(11_500),
            "the menu ends {menu:?} after the answer (at most 12 s)"
        );
        assert!(
            tone_end <= Duration::from_millis(19_500),
            "the tone ends {tone_end:?} after the answer at night (at most 20 s)"
        );
        // The hours are announced: every day 8 to 22.
        assert!(cfg.announces_hours());
        assert!(to_tone.contains(&"every_day".to_owned()), "{to_tone:?}");
    }

    #[test]
    fn every_hours_and_ticket_prompt_is_in_the_manifest() {
        let manifest = MANIFEST;
        for name in crate::HOURS_PROMPTS
            .iter()
            .chain(&["closed_hours", "ticket_is"])
        {
            assert!(
                manifest.contains(&format!("name = \"{name}\"")),
                "{name} missing from prompts/zh/manifest.toml"
            );
        }
        assert!(
            !manifest.contains('坐'),
            "座席, not 坐席 (the agents' seats)"
        );
    }

    #[test]
    fn revisit_reads_the_ticket_digit_by_digit() {
        let cfg = IvrConfig::default();
        assert_eq!(
            cfg.revisit_ticket_prompts("20250618-042"),
            [
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
                "digit_4",
                "digit_2"
            ]
        );
        assert!(cfg.revisit_ticket_prompts("").is_empty());
        let quiet = IvrConfig::from_toml_str("[callback_prompts]\nrevisit_ticket = []\n").unwrap();
        assert!(quiet.revisit_ticket_prompts("2025").is_empty());
        assert!(IvrConfig::default()
            .prompt_names()
            .contains(&"ticket_is".to_owned()));
    }

    /// (sample rate, channels, bits per sample, data bytes) of a PCM WAV file.
    fn wav_format(b: &[u8]) -> Option<(u32, u16, u16, usize)> {
        let u16_at = |i: usize| Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?));
        let u32_at = |i: usize| Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?));
        if b.get(0..4)? != b"RIFF" || b.get(8..12)? != b"WAVE" {
            return None;
        }
        let (mut pos, mut fmt, mut data) = (12, None, None);
        while pos + 8 <= b.len() {
            let id = &b[pos..pos + 4];
            let len = u32_at(pos + 4)? as usize;
            if id == b"fmt " {
                if u16_at(pos + 8)? != 1 {
                    return None; // not plain PCM
                }
                fmt = Some((u32_at(pos + 12)?, u16_at(pos + 10)?, u16_at(pos + 22)?));
            } else if id == b"data" {
                data = Some(len);
            }
            pos += 8 + len + (len & 1);
        }
        let (rate, channels, bits) = fmt?;
        Some((rate, channels, bits, data?))
    }

    #[test]
    fn prompt_names_lists_every_prompt_once() {
        let names = IvrConfig::default().prompt_names();
        let mut expected: Vec<String> = [
            "welcome",
            "emergency",
            "menu",
            "invalid",
            "closed",
            "closed_hours",
            "agents_busy",
            "voicemail",
            "beep",
            "no_message",
            "recorded",
            "ticket_is",
            "goodbye",
            "queue_comfort",
            "queue_position_before",
            "queue_position_after",
            "queue_callback_offer",
            "queue_music",
            "callback_confirm",
            "queue_timeout",
            "survey",
            "thanks",
            "agent_ready",
            "agent_not_ready",
            "agent_logged_out",
            "agent_unknown_code",
            "agent_not_registered",
            "callback_connecting",
            "callback_unreached",
            "revisit_intro",
            "revisit_question",
            "menu_status",
            "status_enter_ticket",
            "status_not_found",
            "status_not_found_final",
            "status_not_yours",
            "status_is",
            "status_deadline",
            "year",
            "month",
            "day",
            "state_registered",
            "state_dispatched",
            "state_accepted",
            "state_replied",
            "state_revisited",
            "state_redo",
            "state_closed",
            "state_answered",
            "state_forwarded",
            "state_returned",
            "state_callback_pending",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        expected.extend(('0'..='9').map(|d| format!("digit_{d}")));
        expected.extend(('0'..='9').map(|d| format!("num_{d}")));
        expected.extend(["num_10", "num_100", "num_1000"].map(String::from));
        expected.extend(crate::HOURS_PROMPTS.iter().map(|s| s.to_string()));
        let mut sorted = names.clone();
        sorted.sort();
        expected.sort();
        assert_eq!(sorted, expected);
        assert_eq!(names[0], "welcome");

        // Without position announcements the number prompts are still needed for the
        // status query's dates; without both, not.
        let mut cfg = IvrConfig::default();
        cfg.queue.announce_position = false;
        assert!(cfg.prompt_names().contains(&"num_10".to_owned()));
        cfg.menu.status_digit.clear();
        assert!(
            cfg.prompt_names().contains(&"num_10".to_owned()),
            "for the hours"
        );
        cfg.closed.hours_prompts.clear();
        let names = cfg.prompt_names();
        assert!(!names.iter().any(|n| n.starts_with("num_")), "{names:?}");
        assert!(!names.contains(&"every_day".to_owned()), "{names:?}");
        assert!(!names.iter().any(|n| n.starts_with("state_")), "{names:?}");
        assert!(names.contains(&"queue_comfort".to_owned()));
    }

    #[test]
    fn queue_and_survey_validation_names_each_bad_field() {
        let mut cfg = IvrConfig::default();
        cfg.queue.announce_every_secs = 2;
        cfg.queue.callback_digit = "12".into();
        cfg.queue.hold_prompts = vec!["music.wav".into()];
        cfg.survey.digit_timeout_secs = 0;
        cfg.survey.prompts.clear();
        cfg.agent_prompts.ready = vec![String::new()];
        let err = cfg.validate().unwrap_err();
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "queue.hold_prompts[0]",
                "agent_prompts.ready[0]",
                "queue.announce_every_secs",
                "queue.callback_digit",
                "survey.digit_timeout_secs",
                "survey.prompts",
            ]
        );

        // No callback key, yet an offer of one.
        let err = IvrConfig::from_toml_str("[queue]\ncallback_digit = \"\"\n").unwrap_err();
        assert_eq!(field_names(err), ["queue.callback_offer_prompts"]);
        IvrConfig::from_toml_str("[queue]\ncallback_digit = \"\"\ncallback_offer_prompts = []\n")
            .unwrap();
        // A survey that is off needs no question.
        IvrConfig::from_toml_str("[survey]\nenabled = false\nprompts = []\n").unwrap();
    }

    #[test]
    fn status_validation_names_each_bad_field() {
        let mut cfg = IvrConfig::default();
        cfg.menu.status_digit = "1".into(); // also "1" = "consult"
        cfg.status.digit_timeout_secs = 0;
        cfg.status.max_digits = 0;
        cfg.status.retries = 10;
        cfg.status.enter_prompts.clear();
        cfg.status.day_prompts = vec!["日".into()];
        cfg.status
            .states
            .insert("replied".into(), "state replied".into());
        let err = cfg.validate().unwrap_err();
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "status.day_prompts[0]",
                "menu.status_digit",
                "status.states.\"replied\"",
                "status.digit_timeout_secs",
                "status.max_digits",
                "status.retries",
                "status.enter_prompts",
            ]
        );

        let err = IvrConfig::from_toml_str("[menu]\nstatus_digit = \"44\"\n").unwrap_err();
        assert_eq!(field_names(err), ["menu.status_digit"]);
        // No status query: no question needed; a status key alone makes a menu.
        IvrConfig::from_toml_str("[menu]\nstatus_digit = \"\"\n[status]\nenter_prompts = []\n")
            .unwrap();
        let err = IvrConfig::from_toml_str("[menu]\noptions = {}\nprompts = []\n").unwrap_err();
        assert_eq!(field_names(err), ["menu.prompts"]);
    }

    #[test]
    fn status_keys_are_read() {
        let cfg = IvrConfig::from_toml_str(
            "[menu]\nstatus_digit = \"*\"\n[status]\ndigit_timeout_secs = 12\nmax_digits = 13\n\
             [status.states]\nregistered = \"accepted_prompt\"\n",
        )
        .unwrap();
        assert_eq!(cfg.status_key(), Some('*'));
        assert_eq!(cfg.status_timeout(), Duration::from_secs(12));
        assert_eq!(cfg.status.max_digits, 13);
        assert_eq!(cfg.status.retries, 1);
        // A [status.states] table replaces the whole default map.
        assert_eq!(cfg.status.states.len(), 1);
        assert_eq!(IvrConfig::default().status_key(), Some('4'));
        assert_eq!(
            IvrConfig::default().status_timeout(),
            Duration::from_secs(8)
        );
    }

    #[test]
    fn queue_and_survey_keys_are_read() {
        let cfg = IvrConfig::from_toml_str(
            "[queue]\nannounce_every_secs = 45\ncallback_digit = \"*\"\nhold_prompts = []\n\
             [survey]\nenabled = false\ndigit_timeout_secs = 8\n",
        )
        .unwrap();
        assert_eq!(cfg.announce_every(), Duration::from_secs(45));
        assert_eq!(cfg.callback_key(), Some('*'));
        assert!(cfg.queue.hold_prompts.is_empty());
        assert_eq!(cfg.queue.comfort_prompts, ["queue_comfort"]);
        assert!(!cfg.survey.enabled);
        assert_eq!(cfg.survey_timeout(), Duration::from_secs(8));
        assert_eq!(
            IvrConfig::default().announce_every(),
            Duration::from_secs(30)
        );
        assert_eq!(IvrConfig::default().callback_key(), Some('1'));
    }

    #[test]
    fn staffed_at_the_boundaries_in_shanghai() {
        let cfg = IvrConfig::from_toml_str(SHIPPED).unwrap();
        // 2025-06-18 is a Wednesday.
        assert!(!cfg.is_staffed(shanghai(2025, 6, 18, 7, 59)));
        assert!(cfg.is_staffed(shanghai(2025, 6, 18, 8, 0)));
        assert!(cfg.is_staffed(shanghai(2025, 6, 18, 21, 59)));
        assert!(!cfg.is_staffed(shanghai(2025, 6, 18, 22, 0)));
        // 08:00 in Shanghai is 00:00 UTC: the UTC date must not be used.
        assert_eq!(
            shanghai(2025, 6, 18, 8, 0).format("%H:%M").to_string(),
            "00:00"
        );
    }

    #[test]
    fn holidays_and_swapped_workdays() {
        let cfg = IvrConfig::from_toml_str(
            r#"
            [hours]
            mon = "08:00-22:00"
            tue = "08:00-22:00"
            wed = "08:00-22:00"
            thu = "08:00-22:00"
            fri = "08:00-22:00"
            sat = "closed"
            sun = "closed"
            holidays = ["2025-10-01", 2025-10-02]
            workday_swaps = ["2025-10-11"]
            "#,
        )
        .unwrap();
        assert!(
            !cfg.is_staffed(shanghai(2025, 10, 1, 10, 0)),
            "holiday (Wednesday)"
        );
        assert!(
            !cfg.is_staffed(shanghai(2025, 10, 2, 10, 0)),
            "holiday as a TOML date"
        );
        assert!(
            cfg.is_staffed(shanghai(2025, 10, 9, 10, 0)),
            "ordinary Thursday"
        );
        assert!(
            cfg.is_staffed(shanghai(2025, 10, 11, 10, 0)),
            "swapped Saturday"
        );
        assert!(
            !cfg.is_staffed(shanghai(2025, 10, 11, 7, 59)),
            "swapped Saturday, early"
        );
        assert!(
            !cfg.is_staffed(shanghai(2025, 10, 18, 10, 0)),
            "ordinary Saturday"
        );
    }

    #[test]
    fn validation_names_each_bad_field() {
        let mut cfg = IvrConfig::default();
        cfg.greeting.prompts.push("../etc/passwd".into());
        cfg.menu.options.insert("12".into(), "x".into());
        cfg.menu.options.insert("5".into(), "".into());
        cfg.menu.digit_timeout_secs = 0;
        cfg.menu.invalid_retries = 10;
        cfg.menu.fallback_queue = String::new();
        cfg.voicemail.min_secs = 200;
        cfg.voicemail.digit_prompt_prefix = String::new();
        let date = chrono::NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
        cfg.hours.holidays.push(date);
        cfg.hours.workday_swaps.push(date);
        let err = cfg.validate().unwrap_err();
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "greeting.prompts[2]",
                "voicemail.digit_prompt_prefix",
                "menu.options.\"12\"",
                "menu.options.\"5\"",
                "menu.digit_timeout_secs",
                "menu.invalid_retries",
                "menu.fallback_queue",
                "voicemail.min_secs",
                "hours.workday_swaps[0]",
            ]
        );
        let text = err.to_string();
        assert!(
            text.starts_with("invalid ivr config: greeting.prompts[2]: "),
            "{text}"
        );
    }

    #[test]
    fn options_without_a_menu_prompt_are_rejected() {
        let err = IvrConfig::from_toml_str("[menu]\nprompts = []\n").unwrap_err();
        assert_eq!(field_names(err), ["menu.prompts"]);
        // No options, no status query and no menu prompt: greet, then a person.
        IvrConfig::from_toml_str("[menu]\nprompts = []\noptions = {}\nstatus_digit = \"\"\n")
            .unwrap();
    }

    #[test]
    fn parse_errors_name_the_key() {
        for (text, key) in [
            ("timezone = \"Asia/Nowhere\"", "timezone"),
            ("[hours]\nmon = \"8-22\"", "mon"),
            ("[menu]\ndigit_timeout = 5", "digit_timeout"),
            ("[voicemail]\nmax_secs = \"120\"", "max_secs"),
            ("[queue]\nannounce_every = 30", "announce_every"),
            ("[survey]\nenabled = \"yes\"", "enabled"),
            ("[status]\nretry = 2", "retry"),
            ("[status]\nmax_digits = -1", "max_digits"),
        ] {
            let err = match IvrConfig::from_toml_str(text) {
                Err(ConfigError::Toml(e)) => e.to_string(),
                other => panic!("{text:?}: expected a TOML error, got {other:?}"),
            };
            assert!(err.contains(key), "{text:?}: {err}");
        }
    }
}
