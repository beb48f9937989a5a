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
    pub cb_title: String,
    pub cb_none: String,
    pub cb_reason: String,
    pub cb_waited: String,
    pub cb_due: String,
    pub cb_attempts: String,
    pub cb_voicemail: String,
    pub cb_call_now: String,
    pub cb_calling: String,
    pub cb_result: String,
    pub cb_record: String,
    pub cb_note: String,
    pub cb_reschedule: String,
    pub cb_done: String,
    pub cb_bad_time: String,
    pub cb_res_reached: String,
    pub cb_res_no_answer: String,
    pub cb_res_busy: String,
    pub cb_res_rejected: String,
    pub cb_res_wrong_number: String,
    pub cb_reason_voicemail: String,
    pub cb_reason_callback_requested: String,
    pub cb_reason_revisit: String,
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
    pub pop_recordings: String,
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
    pub ctl_hangup: String,
    pub link_to: String,
    pub link: String,
    pub linked: String,
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
    pub wb_overdue_by_department: String,
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
    pub portal_held: String,
    pub portal_cases: String,
    pub portal_showing: String,
    pub hours: String,
    pub days: String,
    pub rep_title: String,
    pub rep_daily: String,
    pub rep_date: String,
    pub rep_show: String,
    pub rep_prev: String,
    pub rep_next: String,
    pub rep_download: String,
    pub rep_bad_date: String,
    pub rep_forbidden: String,
    pub rep_failed: String,
    pub rep_weekdays: Vec<String>,
    pub rep_sec_basic: String,
    pub rep_sec_calls: String,
    pub rep_sec_cases: String,
    pub rep_sec_channels: String,
    pub rep_sec_callbacks: String,
    pub rep_time_zone: String,
    pub rep_received: String,
    pub rep_ivr_only: String,
    pub rep_offered: String,
    pub rep_answered: String,
    pub rep_within15: String,
    pub rep_abandoned: String,
    pub rep_abandoned5: String,
    pub rep_expired: String,
    pub rep_turned_away: String,
    pub rep_left_for_callback: String,
    pub rep_missed: String,
    pub rep_voicemails: String,
    pub rep_callbacks_requested: String,
    pub rep_answer_rate: String,
    pub rep_service_level: String,
    pub rep_asa: String,
    pub rep_aht: String,
    pub rep_registered: String,
    pub rep_dispatched: String,
    pub rep_resolved: String,
    pub rep_resolved_on_time: String,
    pub rep_on_time_rate: String,
    pub rep_overdue: String,
    pub rep_urged: String,
    pub rep_redone: String,
    pub rep_revisited: String,
    pub rep_revisit_rate: String,
    pub rep_satisfied: String,
    pub rep_mostly_satisfied: String,
    pub rep_unsatisfied: String,
    pub rep_satisfaction_rate: String,
    pub rep_survey_rate: String,
    pub rep_ch_phone: String,
    pub rep_ch_voicemail: String,
    pub rep_ch_callback: String,
    pub rep_ch_web: String,
    pub rep_uncategorized: String,
    pub rep_tasks_created: String,
    pub rep_attempts: String,
    pub rep_tasks_done: String,
    pub rep_tasks_failed: String,
    pub rep_tasks_uncallable: String,
    pub rep_tasks_skipped: String,
    pub rep_sheet_summary: String,
    pub rep_sheet_hours: String,
    pub rep_sheet_categories: String,
    pub rep_sheet_departments: String,
    pub rep_sheet_agents: String,
    pub rep_sheet_trend: String,
    pub rep_group: String,
    pub rep_item: String,
    pub rep_value: String,
    pub rep_hour: String,
    pub rep_total: String,
    pub rep_cases: String,
    pub rep_code: String,
    pub rep_agent: String,
    pub rep_agent_calls: String,
    pub rep_agent_inbound: String,
    pub rep_talk_min: String,
    pub rep_wrap_min: String,
    pub rep_logged_in_min: String,
    pub rep_ready_min: String,
    pub rep_not_ready_min: String,
    pub rep_busy_min: String,
    pub rep_occupancy: String,
    pub rep_chart_hours: String,
    pub rep_chart_categories: String,
    pub rep_chart_departments: String,
    pub rep_chart_trend: String,
    pub rep_none: String,
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

    /// How a callback task's reason (`CallbackReason::as_str`) reads.
    pub fn callback_reason(&self, r: &str) -> &str {
        match r {
            "voicemail" => &self.cb_reason_voicemail,
            "callback_requested" => &self.cb_reason_callback_requested,
            _ => &self.cb_reason_revisit,
        }
    }

    /// How a callback attempt's result (`CallbackResult::as_str`) reads.
    pub fn callback_result(&self, r: &str) -> &str {
        match r {
            "reached" => &self.cb_res_reached,
            "no_answer" => &self.cb_res_no_answer,
            "busy" => &self.cb_res_busy,
            "rejected" => &self.cb_res_rejected,
            _ => &self.cb_res_wrong_number,
        }
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
