//! Work orders (工单): looking cases up, the call controller's status changes (voicemail,
//! callback requested, revisit by phone), departments, transitions, fields, search and
//! linking calls to cases.

use chrono::{DateTime, NaiveDate, Utc};

use super::{field, Backend, CaseStore};
use crate::calendar::{DeadlinePolicy, WorkCalendar};
use crate::error::CaseError;
use crate::lifecycle::{Action, Role, Satisfaction};
use crate::model::{
    is_valid_code, Actor, CallId, CaseDetail, CaseFields, CaseId, CaseQuery, CaseStatus,
    CaseSummary, Department, NewCase, NewDepartment, RecordingId,
};
use crate::ticket;
use crate::workflow;

impl CaseStore {
    /// Marks that the caller left a voicemail: the case goes to `callback_pending` and
    /// its channel becomes `voicemail`, with an audit event `voicemail`. In the same
    /// transaction a callback task (reason `voicemail`) goes on the worklist, due at once
    /// (calling hours are applied by the dialler, see [`crate::callback`]), unless the
    /// case already has an open one or no caller number.
    ///
    /// Allowed from `registered` (or `voicemail`); otherwise
    /// [`CaseError::InvalidTransition`]. Unknown case: [`CaseError::CaseNotFound`].
    pub async fn mark_voicemail(&self, case: CaseId, now: DateTime<Utc>) -> Result<(), CaseError> {
        let (to, action) = (CaseStatus::CallbackPending, Action::LeftVoicemail);
        on_backend!(self, b => {
            b.change_status(case, to, &action, self.callback_attempts, &self.callback_numbers, now).await
        })
    }

    /// The caller chose to be called back instead of waiting: the case goes to
    /// `callback_pending` with an audit event `callback_requested`. Same rules as
    /// [`CaseStore::mark_voicemail`], also for the task (reason `callback_requested`).
    pub async fn mark_callback_requested(
        &self,
        case: CaseId,
        now: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let (to, action) = (CaseStatus::CallbackPending, Action::RequestCallback);
        on_backend!(self, b => {
            b.change_status(case, to, &action, self.callback_attempts, &self.callback_numbers, now).await
        })
    }

    /// Looks a case up by its ticket number, with its calls, recordings and audit trail.
    ///
    /// Anything that is not a well-formed ticket (see [`ticket::parse`]) is `Ok(None)`
    /// without touching the database, as is a ticket no case has.
    pub async fn case_by_ticket(&self, ticket: &str) -> Result<Option<CaseDetail>, CaseError> {
        if ticket::parse(ticket).is_none() {
            return Ok(None);
        }
        match &self.backend {
            Backend::Sqlite(b) => b.case_by_ticket(ticket).await,
            Backend::Postgres(b) => b.case_by_ticket(ticket).await,
        }
    }

    /// [`case_by_ticket`](Self::case_by_ticket) for many tickets at once, in their order
    /// (malformed and unknown tickets left out): one snapshot and a few statements for all
    /// of them, for lists that show each case in full (a department's portal).
    pub async fn case_details(&self, tickets: &[String]) -> Result<Vec<CaseDetail>, CaseError> {
        let tickets: Vec<String> = tickets
            .iter()
            .filter(|t| ticket::parse(t).is_some())
            .cloned()
            .collect();
        if tickets.is_empty() {
            return Ok(Vec::new());
        }
        on_backend!(self, b => b.case_details(&tickets).await)
    }

    /// The `limit` most recently opened work orders, newest first (calls that made no
    /// request, [`crate::lifecycle::CaseState::NoRequest`], are not work orders).
    pub async fn list_cases(&self, limit: u32) -> Result<Vec<CaseSummary>, CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.list_cases(limit).await,
            Backend::Postgres(b) => b.list_cases(limit).await,
        }
    }

    /// The automatic revisit (自动回访): the citizen answered the survey question on an
    /// outbound call (`score` 1 satisfied, 2 mostly satisfied, 3 unsatisfied). In one
    /// transaction, as [`Role::System`] (audit actor `system`):
    ///
    /// - the lifecycle's revisit (`replied` → `revisited`, or `revisited_unsatisfied`),
    ///   with the case's satisfaction, exactly as [`CaseStore::transition`] does it;
    /// - the answer on the call row (`calls.satisfaction`);
    /// - if unsatisfied, the redo at once (back to the department that replied, a new
    ///   deadline from `calendar` and `policy` with the original dispatch mode), so an
    ///   unhappy citizen does not wait for an agent to press the button.
    ///
    /// Both audit events name the recording of the answer (`evidence: recording 42
    /// (path)`) when one is given. Returns the case afterwards.
    ///
    /// [`CaseError::OutOfRange`] for other scores; [`CaseError::Transition`] if the case
    /// is not `replied`; [`CaseError::CaseNotFound`], [`CaseError::CallNotFound`],
    /// [`CaseError::CallNotInCase`], [`CaseError::RecordingNotFound`],
    /// [`CaseError::InvalidField`] for a recording of another case,
    /// [`CaseError::DepartmentInactive`] if the department no longer takes cases (then
    /// nothing changes and a person must redo it elsewhere).
    #[allow(clippy::too_many_arguments)]
    pub async fn revisit_by_phone(
        &self,
        case: CaseId,
        score: u8,
        call: CallId,
        recording: Option<RecordingId>,
        calendar: &WorkCalendar,
        policy: &DeadlinePolicy,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        let satisfaction = Satisfaction::from_score(score)
            .ok_or(CaseError::OutOfRange("satisfaction score (1 to 3)"))?;
        let detail = on_backend!(self, b => {
            b.revisit_by_phone(case, satisfaction, call, recording, calendar, policy, now)
                .await?
        });
        tracing::info!(ticket = %detail.case.ticket, satisfaction = satisfaction.as_str(), "revisited by phone");
        Ok(detail)
    }

    /// Adds a department (network unit). The code must be 1 to 64 lowercase letters,
    /// digits, `.`, `_`, `-`; the name non-blank; a level 1 unit has no parent, a level 2
    /// or 3 unit has one of a higher level ([`CaseError::InvalidField`] naming the
    /// field). [`CaseError::DepartmentNotFound`] for an unknown parent,
    /// [`CaseError::DepartmentExists`] for a taken code.
    pub async fn add_department(
        &self,
        d: NewDepartment,
        now: DateTime<Utc>,
    ) -> Result<Department, CaseError> {
        if !is_valid_code(&d.code) {
            return Err(field("code", "1 to 64 of a-z, 0-9, '.', '_', '-'"));
        }
        if d.name.trim().is_empty() {
            return Err(field("name", "must not be empty"));
        }
        match (d.level, &d.parent) {
            (1, None) | (2..=3, Some(_)) => {}
            (1, Some(_)) => return Err(field("parent", "a level 1 unit has no parent")),
            (2..=3, None) => return Err(field("parent", "a level 2 or 3 unit needs one")),
            _ => return Err(field("level", "must be 1, 2 or 3")),
        }
        on_backend!(self, b => b.add_department(&d, now).await)
    }

    /// Every department, in tree order: each unit followed by the units below it,
    /// siblings by code.
    pub async fn departments(&self) -> Result<Vec<Department>, CaseError> {
        on_backend!(self, b => b.departments().await)
    }

    /// One department by code.
    pub async fn department(&self, code: &str) -> Result<Option<Department>, CaseError> {
        on_backend!(self, b => b.department(code).await)
    }

    /// Makes a department take cases or not (departments are never deleted).
    pub async fn set_department_active(
        &self,
        code: &str,
        active: bool,
    ) -> Result<Department, CaseError> {
        on_backend!(self, b => b.set_department_active(code, active).await)
    }

    /// Whether department `child` is `ancestor` itself or lies below it. Unknown codes:
    /// `false`.
    pub async fn is_within(&self, child: &str, ancestor: &str) -> Result<bool, CaseError> {
        on_backend!(self, b => b.is_within(child, ancestor).await)
    }

    /// Does `action` to the case with this ticket, as `actor`, at `now`, in one
    /// transaction (the case row locked on PostgreSQL):
    ///
    /// - the lifecycle decides ([`crate::lifecycle::apply`]): a refusal is
    ///   [`CaseError::Transition`] and nothing changes;
    /// - dispatch, forward, redispatch and a redo to another unit must name an active
    ///   department ([`CaseError::DepartmentNotFound`], [`CaseError::DepartmentInactive`]);
    ///   a department handler redispatches only to a unit strictly below the case's
    ///   current one ([`CaseError::NotInSubtree`]);
    /// - the deadline: a dispatch starts one ([`DeadlinePolicy::deadline`] for the mode
    ///   and the case's category), a redispatch or redo starts a new one with the same
    ///   mode, an approved extension moves it by the requested working days; replies,
    ///   returns and closes keep the last deadline (for the on-time rate);
    /// - extension requests: one pending at a time ([`CaseError::ExtensionPending`]);
    ///   approve and refuse need one ([`CaseError::NoPendingExtension`]);
    /// - counters (urges, redos), satisfaction, return reason, replied and closed times;
    /// - an audit event (actor, time, from→to if the state changed, a note).
    ///
    /// Returns the case as it is afterwards.
    pub async fn transition(
        &self,
        ticket: &str,
        action: Action,
        actor: &Actor,
        calendar: &WorkCalendar,
        policy: &DeadlinePolicy,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        if ticket::parse(ticket).is_none() {
            return Err(CaseError::TicketNotFound(ticket.to_owned()));
        }
        let detail = on_backend!(self, b => {
            b.transition(ticket, &action, actor, calendar, policy, now).await?
        });
        tracing::info!(ticket, action = action.kind().event(), actor = %actor.user, "case transition");
        Ok(detail)
    }

    /// Registers a work order by hand (a web submission, or a phone call an agent writes
    /// up): in one transaction, allocates local day `local_day`'s next ticket from the
    /// same sequence as [`CaseStore::open_call`], inserts the case (status `registered`,
    /// no call) and the audit event `registered` by `actor` at `now`.
    ///
    /// Checked first, nothing written on failure: department handlers and the call
    /// controller may not ([`CaseError::Forbidden`]); the channel must be `web` or
    /// `phone`, the caller number 1 to 32 digits after an optional `+`, and the text
    /// fields follow [`CaseStore::update_case_fields`]'s rules (subject required) — the
    /// first bad one is [`CaseError::InvalidField`] naming it.
    pub async fn create_case(
        &self,
        c: NewCase,
        actor: &Actor,
        local_day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        let checked = workflow::plan_new_case(&c, actor)?;
        let detail = on_backend!(self, b => b.create_case(&checked, actor, local_day, now).await?);
        tracing::info!(ticket = %detail.case.ticket, channel = %detail.case.channel, actor = %actor.user, "case created");
        Ok(detail)
    }

    /// Changes the work-order fields given (`None` leaves one as it is), checked first:
    /// the first bad one is [`CaseError::InvalidField`] naming it, and nothing changes.
    /// Department handlers may not ([`CaseError::Forbidden`]); a final case cannot
    /// change ([`CaseError::CaseFinal`]). Writes an audit event `updated` listing the
    /// fields that changed (none if nothing did).
    pub async fn update_case_fields(
        &self,
        ticket: &str,
        fields: CaseFields,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        if ticket::parse(ticket).is_none() {
            return Err(CaseError::TicketNotFound(ticket.to_owned()));
        }
        on_backend!(self, b => b.update_case_fields(ticket, &fields, actor, now).await)
    }

    /// The cases matching every criterion of `q`, newest first. Without a status in `q`,
    /// calls that made no request ([`crate::lifecycle::CaseState::NoRequest`]) are left
    /// out. [`CaseError::DepartmentNotFound`] for an unknown department code.
    pub async fn search_cases(&self, q: &CaseQuery) -> Result<Vec<CaseSummary>, CaseError> {
        on_backend!(self, b => b.search_cases(q).await)
    }

    /// The work orders of this caller number that are still open (not answered,
    /// forwarded or closed; calls that made no request are none), newest first: shown to
    /// the agent when the number calls again.
    pub async fn open_cases_for_number(&self, number: &str) -> Result<Vec<CaseSummary>, CaseError> {
        on_backend!(self, b => b.open_cases_for_number(number).await)
    }

    /// Attaches a call (with its recordings) to the existing case `ticket` instead of
    /// the case opened for it (a repeat caller about the same matter). Audit
    /// `call_linked` on the case; the case the call leaves gets `call_moved`, or is
    /// closed as `merged` if it is still `registered` and has no call left.
    /// [`CaseError::CaseFinal`] if the target is final, [`CaseError::TicketNotFound`],
    /// [`CaseError::CallNotFound`]; department handlers may not
    /// ([`CaseError::Forbidden`]). A call already in the target case changes nothing.
    pub async fn link_call_to_case(
        &self,
        call: CallId,
        ticket: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        if actor.role == Role::DepartmentHandler {
            return Err(CaseError::Forbidden(
                "a department handler cannot link calls to work orders".into(),
            ));
        }
        if ticket::parse(ticket).is_none() {
            return Err(CaseError::TicketNotFound(ticket.to_owned()));
        }
        on_backend!(self, b => b.link_call_to_case(call, ticket, actor, now).await)
    }
}
