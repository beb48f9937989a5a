//! The pages' words: `templates/messages.zh-CN.toml`, embedded in the binary and read
//! once. A key a page uses but the file lacks fails the test below, not a shift.

use serde::Deserialize;
use std::sync::OnceLock;

/// Every text the pages show (zh-CN).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    pub site: String,
    pub login_title: String,
    pub username: String,
    pub password: String,
    pub login_button: String,
    pub login_wrong: String,
    pub login_locked: String,
    pub logout: String,
    pub desk_title: String,
    pub extension: String,
    pub no_extension: String,
    pub state: String,
    pub go_ready: String,
    pub go_not_ready: String,
    pub go_logged_out: String,
    pub state_ready: String,
    pub state_not_ready: String,
    pub state_logged_out: String,
    pub state_offered: String,
    pub state_on_call: String,
    pub state_wrap_up: String,
    pub in_state: String,
    pub wrap_up_left: String,
    pub calls_today: String,
    pub talk_today: String,
    pub minutes: String,
    pub reason: String,
    pub refused: String,
    pub not_registered: String,
    pub cannot_pause: String,
    pub pop_title: String,
    pub pop_caller: String,
    pub pop_ticket: String,
    pub pop_queue: String,
    pub pop_path: String,
    pub pop_waited: String,
    pub pop_open_cases: String,
    pub pop_no_cases: String,
    pub pop_deadline: String,
    pub seconds: String,
    pub form_title: String,
    pub caller_name: String,
    pub location: String,
    pub category: String,
    pub subject: String,
    pub description: String,
    pub confidential: String,
    pub act_answer: String,
    pub act_dispatch: String,
    pub act_forward: String,
    pub department: String,
    pub mode: String,
    pub mode_phone: String,
    pub mode_written: String,
    pub mode_urgent: String,
    pub deadline_preview: String,
    pub save: String,
    pub saved: String,
    pub cat_consult: String,
    pub cat_help: String,
    pub cat_complaint: String,
    pub cat_report: String,
    pub cat_suggestion: String,
    pub cat_praise: String,
    pub ctl_title: String,
    pub ctl_hold: String,
    pub ctl_resume: String,
    pub ctl_transfer: String,
    pub ctl_consult: String,
    pub ctl_complete: String,
    pub ctl_return: String,
    pub ctl_conference: String,
    pub ctl_target: String,
    pub ctl_done: String,
    pub wb_title: String,
    pub wb_queue: String,
    pub wb_waiting: String,
    pub wb_longest: String,
    pub wb_offered: String,
    pub wb_answered: String,
    pub wb_abandoned: String,
    pub wb_within15: String,
    pub wb_answer_rate: String,
    pub wb_service_level: String,
    pub wb_target: String,
    pub wb_hourly: String,
    pub wb_overdue: String,
    pub portal_title: String,
    pub portal_deadline: String,
    pub portal_left: String,
    pub portal_overdue: String,
    pub portal_caller: String,
    pub portal_hidden: String,
    pub portal_accept: String,
    pub portal_return: String,
    pub portal_reason: String,
    pub portal_reply: String,
    pub portal_result: String,
    pub portal_extend: String,
    pub portal_days: String,
    pub portal_none: String,
    pub hours: String,
    pub days: String,
    /// How each work-order state (`CaseState::as_str`) reads.
    pub case_status: std::collections::HashMap<String, String>,
}

const FILE: &str = include_str!("../../templates/messages.zh-CN.toml");

/// The messages, parsed on first use.
pub fn m() -> &'static Messages {
    static M: OnceLock<Messages> = OnceLock::new();
    M.get_or_init(|| {
        toml::from_str(FILE).expect("templates/messages.zh-CN.toml is checked by a test")
    })
}

impl Messages {
    /// How a work-order category reads.
    pub fn category_label(&self, c: &str) -> &str {
        match c {
            "consult" => &self.cat_consult,
            "help" => &self.cat_help,
            "complaint" => &self.cat_complaint,
            "report" => &self.cat_report,
            "suggestion" => &self.cat_suggestion,
            _ => &self.cat_praise,
        }
    }

    /// How a work-order state (as the API names it) reads; the code itself if unknown.
    pub fn status_label<'a>(&'a self, status: &'a str) -> &'a str {
        self.case_status.get(status).map_or(status, String::as_str)
    }

    /// How an agent state (as `/api/agents` names it) reads on the page.
    pub fn state_label(&self, state: &str) -> &str {
        match state {
            "ready" => &self.state_ready,
            "not_ready" => &self.state_not_ready,
            "offered" => &self.state_offered,
            "on_call" => &self.state_on_call,
            "wrap_up" => &self.state_wrap_up,
            _ => &self.state_logged_out,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_messages_file_has_every_key_and_no_other() {
        let m: super::Messages = toml::from_str(super::FILE).expect("messages parse");
        assert_eq!(m.state_label("on_call"), "通话中");
        for st in hotline_case::lifecycle::CaseState::ALL {
            assert!(
                m.case_status.contains_key(st.as_str()),
                "no [case_status] label for {st}"
            );
        }
    }
}
