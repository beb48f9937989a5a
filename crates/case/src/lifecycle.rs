//! The life of a work order (工单): its states, the actions people take on it, and the
//! one table of allowed transitions. Pure: no I/O, no clock, no database.
//!
//! # The path of a case
//!
//! ```text
//! no_request ─┬─ an agent answers the call ─▶ registered
//!              └─ voicemail / callback request ─▶ callback_pending
//!
//! registered (受理) ─┬─ answer ───▶ answered   (当即答复: resolved on the call; final)
//!                    ├─ forward ──▶ forwarded  (转阅: for reference, no reply owed; final)
//!                    └─ dispatch ─▶ dispatched (转办/交办: a department owes a reply by a deadline)
//!
//! dispatched ─ accept (签收) ─▶ accepted ─ reply (办结) ─▶ replied ─ revisit (回访) ─▶ revisited
//! dispatched ─ return (退单, with a reason) ─▶ returned ─ redispatch (by the hotline) ─▶ dispatched
//! dispatched / accepted ─ redispatch (by the department, down to a sub-unit) ─▶ dispatched
//!
//! revisited, satisfied / mostly satisfied (满意 / 基本满意) ─ close ─▶ closed
//! revisited, unsatisfied (不满意) ─ redo (重办) ─▶ redo ─ accept ─▶ accepted ─ …
//! ```
//!
//! - While a department holds a case (dispatched, accepted, redo) the hotline may urge it
//!   (催办) as often as it likes, overdue or not; the state does not change.
//! - A department that has accepted a case may ask for more time; a supervisor approves
//!   or refuses. The state does not change either; the pending request itself is a row
//!   the store keeps, so *that* a request is pending is the store's check, not this
//!   module's.
//! - A revisit records the citizen's satisfaction (满意度). Unsatisfied, the case sits in
//!   [`CaseState::Revisited`] with `unsatisfied: true`: the next step is a redo, or a
//!   close by a supervisor with a note. Satisfied or mostly satisfied, anyone on the
//!   hotline may close it.
//! - The voicemail states used today: a call that ends in voicemail or in a callback
//!   request moves `registered` → `callback_pending` (done by the call controller,
//!   [`Role::System`]); when called back it is `registered` again, or is answered,
//!   forwarded or dispatched straight away.
//! - `answered`, `forwarded` and `closed` are final.
//! - Any close other than after a satisfied revisit needs a note saying why.
//!
//! # Who may do what
//!
//! Hotline staff ([`Role::Agent`], [`Role::Supervisor`], [`Role::Admin`]) answer,
//! forward, dispatch, urge, revisit, redo and close. The server itself ([`Role::System`])
//! also revisits and redoes: the automatic revisit asks the citizen on the phone, and an
//! unsatisfied answer sends the case straight back to the department, the same steps
//! an agent would take after hearing it. A department ([`Role::DepartmentHandler`],
//! or a supervisor/admin acting on its behalf) accepts, returns, replies, asks for more
//! time and passes a case down to its own sub-units. Approving or refusing more time,
//! and the unusual closes, are for supervisors and admins.
//!
//! All of this is the table [`RULES`]; [`apply`] only looks things up in it.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a work order is in its life. Stored as text ([`CaseState::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseState {
    /// A phone call's row, opened when the switch answered, before the caller asked for
    /// anything: not a work order. It becomes one ([`CaseState::Registered`]) when an
    /// agent answers, or a voicemail or callback request when the caller leaves one; a
    /// call that only asked for a case's progress or hung up in the IVR or the queue
    /// leaves it here for good, counted in no case figure and listed to no one.
    NoRequest,
    /// 受理: created, being handled on the call.
    Registered,
    /// A voicemail case not yet triaged.
    Voicemail,
    /// A voicemail was left or a callback asked for: a callback is owed.
    CallbackPending,
    /// 当即答复: resolved during the call. Final.
    Answered,
    /// 转阅: sent to a department for reference, no reply owed. Final.
    Forwarded,
    /// 转办 / 交办: sent to a department, which owes a reply by a deadline.
    Dispatched,
    /// The department took the case (签收) and is working on it.
    Accepted,
    /// 退单: the department sent it back with a reason; the hotline re-dispatches it.
    Returned,
    /// 办结: the department reported the result.
    Replied,
    /// 回访: the citizen was asked about the result. `unsatisfied` (不满意) means the
    /// next step is a redo (重办), or a close by a supervisor with a note.
    Revisited {
        /// The citizen was not satisfied.
        unsatisfied: bool,
    },
    /// 重办: sent back to a department after an unsatisfied revisit, with a new deadline.
    Redo,
    /// Done. Final.
    Closed,
}

impl CaseState {
    /// Every state, in the order of the case's life.
    pub const ALL: [CaseState; 14] = [
        CaseState::NoRequest,
        CaseState::Registered,
        CaseState::Voicemail,
        CaseState::CallbackPending,
        CaseState::Answered,
        CaseState::Forwarded,
        CaseState::Dispatched,
        CaseState::Accepted,
        CaseState::Returned,
        CaseState::Replied,
        CaseState::Revisited { unsatisfied: false },
        CaseState::Revisited { unsatisfied: true },
        CaseState::Redo,
        CaseState::Closed,
    ];

    /// The text stored in the database (and shown in JSON). An unsatisfied revisit is
    /// `revisited_unsatisfied`, so the text alone says which actions come next.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::NoRequest => "no_request",
            CaseState::Registered => "registered",
            CaseState::Voicemail => "voicemail",
            CaseState::CallbackPending => "callback_pending",
            CaseState::Answered => "answered",
            CaseState::Forwarded => "forwarded",
            CaseState::Dispatched => "dispatched",
            CaseState::Accepted => "accepted",
            CaseState::Returned => "returned",
            CaseState::Replied => "replied",
            CaseState::Revisited { unsatisfied: false } => "revisited",
            CaseState::Revisited { unsatisfied: true } => "revisited_unsatisfied",
            CaseState::Redo => "redo",
            CaseState::Closed => "closed",
        }
    }

    /// Parses the stored text; `None` for a value this version does not know.
    pub fn parse(s: &str) -> Option<Self> {
        CaseState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether nothing more can happen to the case (answered, forwarded, closed).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CaseState::Answered | CaseState::Forwarded | CaseState::Closed
        )
    }

    /// Whether a department holds the case and a deadline runs (dispatched, accepted,
    /// redo): the states in which it can be urged and become overdue.
    pub fn with_department(self) -> bool {
        matches!(
            self,
            CaseState::Dispatched | CaseState::Accepted | CaseState::Redo
        )
    }

    /// Words for messages: "a case that is …".
    fn describe(self) -> &'static str {
        match self {
            CaseState::NoRequest => "a call with no request (not a work order)",
            CaseState::Registered => "registered",
            CaseState::Voicemail => "an untriaged voicemail",
            CaseState::CallbackPending => "awaiting a callback",
            CaseState::Answered => "answered on the call",
            CaseState::Forwarded => "forwarded for reference",
            CaseState::Dispatched => "dispatched",
            CaseState::Accepted => "accepted",
            CaseState::Returned => "returned",
            CaseState::Replied => "replied",
            CaseState::Revisited { unsatisfied: false } => "revisited",
            CaseState::Revisited { unsatisfied: true } => "revisited (unsatisfied)",
            CaseState::Redo => "being redone",
            CaseState::Closed => "closed",
        }
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CaseState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CaseState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        CaseState::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown case state {text:?}")))
    }
}

/// Who is acting on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A seated agent (坐席) of the hotline.
    Agent,
    /// A hotline supervisor (班长 / 值班长).
    Supervisor,
    /// Someone working for the department the case was dispatched to (承办单位).
    DepartmentHandler,
    /// An administrator: may do whatever a supervisor may.
    Admin,
    /// The server itself (the call controller): only the automatic steps — voicemail and
    /// callback requests at the end of a call, and the automatic revisit (自动回访) by
    /// phone: recording the citizen's verdict and, if unsatisfied, the redo.
    System,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Agent,
        Role::Supervisor,
        Role::DepartmentHandler,
        Role::Admin,
        Role::System,
    ];

    /// The text used in JSON and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::DepartmentHandler => "department_handler",
            Role::Admin => "admin",
            Role::System => "system",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Role::Agent => "an agent",
            Role::Supervisor => "a supervisor",
            Role::DepartmentHandler => "a department handler",
            Role::Admin => "an admin",
            Role::System => "the system",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a case is dispatched, which sets its deadline (see
/// [`DeadlinePolicy`](crate::calendar::DeadlinePolicy)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchMode {
    /// 电话转办: by phone, reply within 3 working days by default.
    Phone,
    /// 书面转办: in writing, reply within 7 working days by default.
    Written,
    /// 紧急: urgent or major, the same working day.
    Urgent,
}

impl DispatchMode {
    /// The text used in JSON and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            DispatchMode::Phone => "phone",
            DispatchMode::Written => "written",
            DispatchMode::Urgent => "urgent",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s text.
    pub fn parse(s: &str) -> Option<Self> {
        [
            DispatchMode::Phone,
            DispatchMode::Written,
            DispatchMode::Urgent,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// 满意度: the citizen's verdict at a revisit (and in the after-call survey: 1, 2, 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// 满意 (1).
    Satisfied,
    /// 基本满意 (2).
    MostlySatisfied,
    /// 不满意 (3).
    Unsatisfied,
}

impl Satisfaction {
    /// The text used in JSON and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Satisfaction::Satisfied => "satisfied",
            Satisfaction::MostlySatisfied => "mostly_satisfied",
            Satisfaction::Unsatisfied => "unsatisfied",
        }
    }

    /// The survey key: 1 satisfied, 2 mostly satisfied, 3 unsatisfied.
    pub fn score(self) -> u8 {
        match self {
            Satisfaction::Satisfied => 1,
            Satisfaction::MostlySatisfied => 2,
            Satisfaction::Unsatisfied => 3,
        }
    }

    /// The verdict for a survey key (1, 2 or 3).
    pub fn from_score(score: u8) -> Option<Self> {
        match score {
            1 => Some(Satisfaction::Satisfied),
            2 => Some(Satisfaction::MostlySatisfied),
            3 => Some(Satisfaction::Unsatisfied),
            _ => None,
        }
    }
}

/// Something done to a case, with what it needs. `department` is the department's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// 当即答复: resolved on the call.
    Answer {
        /// What the citizen was told.
        summary: String,
    },
    /// 转阅: sent to a department for reference.
    Forward {
        /// The department informed.
        department: String,
    },
    /// 转办 / 交办: sent to a department, which owes a reply by a deadline.
    Dispatch {
        /// The department responsible.
        department: String,
        /// Phone, written or urgent: sets the deadline.
        mode: DispatchMode,
    },
    /// The department takes the case (签收).
    Accept,
    /// 退单: the department sends it back (not theirs, wrong address…).
    Return {
        /// Why. Required.
        reason: String,
    },
    /// The department asks for more time (申请延期).
    RequestExtension {
        /// How many more working days (at least 1).
        days: u32,
        /// Why. Required.
        reason: String,
    },
    /// A supervisor grants the pending request for more time.
    ApproveExtension,
    /// A supervisor refuses the pending request for more time.
    RefuseExtension,
    /// 催办: a reminder to the department holding the case.
    Urge {
        /// What the reminder says (may be empty).
        note: String,
    },
    /// 办结: the department reports the result.
    Reply {
        /// The result. Required.
        result: String,
    },
    /// 回访: the citizen was asked about the result.
    Revisit {
        /// Their verdict.
        satisfaction: Satisfaction,
    },
    /// 重办: back to a department after an unsatisfied revisit, with a new deadline.
    Redo {
        /// Another department, or `None` for the one that replied.
        department: Option<String>,
    },
    /// Close the case.
    Close {
        /// Why; required except after a satisfied revisit.
        note: Option<String>,
    },
    /// Send the case to another department: by the hotline after a return, or by a
    /// department down to one of its own sub-units (二级/三级 units).
    Redispatch {
        /// The new department.
        department: String,
    },
    /// The citizen was reached on a callback; the case is handled like a new one.
    CalledBack,
    /// The caller left a voicemail (audit event `voicemail`).
    LeftVoicemail,
    /// The caller chose a callback instead of waiting (audit event `callback_requested`).
    RequestCallback,
    /// An agent answered the call: its row becomes a work order (audit event
    /// `registered`).
    Register,
}

impl Action {
    /// Which kind of action this is (the action without its data).
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Answer { .. } => ActionKind::Answer,
            Action::Forward { .. } => ActionKind::Forward,
            Action::Dispatch { .. } => ActionKind::Dispatch,
            Action::Accept => ActionKind::Accept,
            Action::Return { .. } => ActionKind::Return,
            Action::RequestExtension { .. } => ActionKind::RequestExtension,
            Action::ApproveExtension => ActionKind::ApproveExtension,
            Action::RefuseExtension => ActionKind::RefuseExtension,
            Action::Urge { .. } => ActionKind::Urge,
            Action::Reply { .. } => ActionKind::Reply,
            Action::Revisit { .. } => ActionKind::Revisit,
            Action::Redo { .. } => ActionKind::Redo,
            Action::Close { .. } => ActionKind::Close,
            Action::Redispatch { .. } => ActionKind::Redispatch,
            Action::CalledBack => ActionKind::CalledBack,
            Action::LeftVoicemail => ActionKind::LeftVoicemail,
            Action::RequestCallback => ActionKind::RequestCallback,
            Action::Register => ActionKind::Register,
        }
    }
}

/// An [`Action`] without its data: what the table of [`RULES`] is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// See [`Action::Answer`].
    Answer,
    /// See [`Action::Forward`].
    Forward,
    /// See [`Action::Dispatch`].
    Dispatch,
    /// See [`Action::Accept`].
    Accept,
    /// See [`Action::Return`].
    Return,
    /// See [`Action::RequestExtension`].
    RequestExtension,
    /// See [`Action::ApproveExtension`].
    ApproveExtension,
    /// See [`Action::RefuseExtension`].
    RefuseExtension,
    /// See [`Action::Urge`].
    Urge,
    /// See [`Action::Reply`].
    Reply,
    /// See [`Action::Revisit`].
    Revisit,
    /// See [`Action::Redo`].
    Redo,
    /// See [`Action::Close`].
    Close,
    /// See [`Action::Redispatch`].
    Redispatch,
    /// See [`Action::CalledBack`].
    CalledBack,
    /// See [`Action::LeftVoicemail`].
    LeftVoicemail,
    /// See [`Action::RequestCallback`].
    RequestCallback,
    /// See [`Action::Register`].
    Register,
}

impl ActionKind {
    /// Every kind of action.
    pub const ALL: [ActionKind; 18] = [
        ActionKind::Answer,
        ActionKind::Forward,
        ActionKind::Dispatch,
        ActionKind::Accept,
        ActionKind::Return,
        ActionKind::RequestExtension,
        ActionKind::ApproveExtension,
        ActionKind::RefuseExtension,
        ActionKind::Urge,
        ActionKind::Reply,
        ActionKind::Revisit,
        ActionKind::Redo,
        ActionKind::Close,
        ActionKind::Redispatch,
        ActionKind::CalledBack,
        ActionKind::LeftVoicemail,
        ActionKind::RequestCallback,
        ActionKind::Register,
    ];

    /// The audit event this action writes, e.g. `dispatched`.
    pub fn event(self) -> &'static str {
        match self {
            ActionKind::Answer => "answered",
            ActionKind::Forward => "forwarded",
            ActionKind::Dispatch => "dispatched",
            ActionKind::Accept => "accepted",
            ActionKind::Return => "returned",
            ActionKind::RequestExtension => "extension_requested",
            ActionKind::ApproveExtension => "extension_approved",
            ActionKind::RefuseExtension => "extension_refused",
            ActionKind::Urge => "urged",
            ActionKind::Reply => "replied",
            ActionKind::Revisit => "revisited",
            ActionKind::Redo => "redo",
            ActionKind::Close => "closed",
            ActionKind::Redispatch => "redispatched",
            ActionKind::CalledBack => "called_back",
            ActionKind::LeftVoicemail => "voicemail",
            ActionKind::RequestCallback => "callback_requested",
            ActionKind::Register => "registered",
        }
    }

    /// Words for messages: "cannot … a case".
    fn verb(self) -> &'static str {
        match self {
            ActionKind::Answer => "answer",
            ActionKind::Forward => "forward",
            ActionKind::Dispatch => "dispatch",
            ActionKind::Accept => "accept",
            ActionKind::Return => "return",
            ActionKind::RequestExtension => "request an extension for",
            ActionKind::ApproveExtension => "approve an extension for",
            ActionKind::RefuseExtension => "refuse an extension for",
            ActionKind::Urge => "urge",
            ActionKind::Reply => "reply to",
            ActionKind::Revisit => "revisit",
            ActionKind::Redo => "redo",
            ActionKind::Close => "close",
            ActionKind::Redispatch => "redispatch",
            ActionKind::CalledBack => "call back",
            ActionKind::LeftVoicemail => "record a voicemail for",
            ActionKind::RequestCallback => "request a callback for",
            ActionKind::Register => "register",
        }
    }

    /// Words for hints: "it must be … first". Only for the actions that move a case
    /// forward (see [`HINT_PATH`]).
    fn done(self) -> &'static str {
        match self {
            ActionKind::Dispatch => "dispatched",
            ActionKind::CalledBack => "called back",
            ActionKind::Accept => "accepted",
            ActionKind::Reply => "replied to",
            ActionKind::Revisit => "revisited",
            ActionKind::Redispatch => "redispatched",
            other => other.event(),
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.event())
    }
}

/// What happens to the case's deadline when a transition is applied. The deadline
/// itself is computed with [`crate::calendar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineEffect {
    /// Nothing changes.
    Keep,
    /// A deadline starts now, in working days for this mode.
    Start(DispatchMode),
    /// A new deadline starts now, with the mode of the original dispatch (redispatch,
    /// redo).
    Restart,
    /// The deadline moves by the days of the pending extension request.
    Extend,
    /// The clock stops: the department replied or returned the case, or it was closed.
    Stop,
}

/// The outcome of an allowed action: the new state and the audit facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The state before.
    pub from: CaseState,
    /// The state after (the same as `from` for urges and extensions).
    pub to: CaseState,
    /// The audit event to write, e.g. `dispatched`.
    pub event: &'static str,
    /// What to do with the deadline.
    pub deadline: DeadlineEffect,
}

impl Transition {
    /// Whether the state changes (urges and extension steps do not change it).
    pub fn changes_state(&self) -> bool {
        self.from != self.to
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// No one may do this in this state.
    #[error("cannot {} a case that is {}{}", action.verb(), from.describe(), hint(*from, *action))]
    NotAllowed {
        /// The case's state.
        from: CaseState,
        /// What was tried.
        action: ActionKind,
    },
    /// The action is allowed in this state, but not for this role.
    #[error(
        "{} cannot {} a case that is {} (allowed for: {})",
        who.describe(),
        action.verb(),
        from.describe(),
        roles_text(allowed_roles(*from, *action))
    )]
    Forbidden {
        /// The case's state.
        from: CaseState,
        /// What was tried.
        action: ActionKind,
        /// Who tried.
        who: Role,
    },
    /// A required piece of text is empty.
    #[error("to {} a case, give the {field}", action.verb())]
    Missing {
        /// What was tried.
        action: ActionKind,
        /// The missing field, e.g. `reason`.
        field: &'static str,
    },
    /// An extension request of zero days.
    #[error("an extension must be for at least one working day")]
    ZeroDays,
}

/// Where an allowed action leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Always to this state.
    To(CaseState),
    /// A revisit: to [`CaseState::Revisited`], unsatisfied or not by the verdict.
    ByVerdict,
}

/// One row of the whitelist: in state `from`, `action` by one of `who` leads to `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The state the case must be in.
    pub from: CaseState,
    /// The action.
    pub action: ActionKind,
    /// Where it leads.
    pub next: Next,
    /// Who may do it.
    pub who: &'static [Role],
}

impl Rule {
    /// The states this rule can lead to (two for a revisit).
    pub fn targets(&self) -> Vec<CaseState> {
        match self.next {
            Next::To(s) => vec![s],
            Next::ByVerdict => vec![SATISFIED, UNSATISFIED],
        }
    }
}

/// Hotline staff: agents, supervisors, admins.
const HOTLINE: &[Role] = &[Role::Agent, Role::Supervisor, Role::Admin];
/// A department, or a supervisor/admin acting on its behalf.
const DEPARTMENT: &[Role] = &[Role::DepartmentHandler, Role::Supervisor, Role::Admin];
/// Supervisors and admins only.
const SUPERVISOR: &[Role] = &[Role::Supervisor, Role::Admin];
/// The call controller.
const SYSTEM: &[Role] = &[Role::System];
/// The call controller, or staff promising a callback.
const CALLBACK: &[Role] = &[Role::System, Role::Agent, Role::Supervisor, Role::Admin];
/// Hotline staff, or the IVR's automatic revisit (the revisit and the redo it leads to).
const REVISIT: &[Role] = &[Role::Agent, Role::Supervisor, Role::Admin, Role::System];

/// Shorthands for the table.
use CaseState::{
    Accepted, Answered, CallbackPending, Closed, Dispatched, Forwarded, NoRequest, Redo,
    Registered, Replied, Returned, Voicemail,
};
const SATISFIED: CaseState = CaseState::Revisited { unsatisfied: false };
const UNSATISFIED: CaseState = CaseState::Revisited { unsatisfied: true };

macro_rules! rules {
    ($($from:expr, $action:ident => $next:expr, $who:expr;)*) => {
        &[$(Rule { from: $from, action: ActionKind::$action, next: $next, who: $who },)*]
    };
}

/// The whitelist: every allowed (state, action), where it leads and who may do it.
/// Anything not here is refused. Urges and extension steps lead back to the same state.
pub const RULES: &[Rule] = rules! {
    // A call answered by the switch, no request yet: only the call makes it a work order.
    NoRequest, Register => Next::To(Registered), SYSTEM;
    NoRequest, LeftVoicemail => Next::To(CallbackPending), SYSTEM;
    NoRequest, RequestCallback => Next::To(CallbackPending), SYSTEM;
    // 受理: handled on the call.
    Registered, Answer => Next::To(Answered), HOTLINE;
    Registered, Forward => Next::To(Forwarded), HOTLINE;
    Registered, Dispatch => Next::To(Dispatched), HOTLINE;
    Registered, LeftVoicemail => Next::To(CallbackPending), SYSTEM;
    Registered, RequestCallback => Next::To(CallbackPending), CALLBACK;
    Registered, Close => Next::To(Closed), HOTLINE; // silent, nuisance, abandoned: with a note
    // Voicemail, and callbacks owed.
    Voicemail, LeftVoicemail => Next::To(CallbackPending), SYSTEM;
    Voicemail, RequestCallback => Next::To(CallbackPending), CALLBACK;
    Voicemail, CalledBack => Next::To(Registered), HOTLINE;
    Voicemail, Answer => Next::To(Answered), HOTLINE;
    Voicemail, Forward => Next::To(Forwarded), HOTLINE;
    Voicemail, Dispatch => Next::To(Dispatched), HOTLINE;
    Voicemail, Close => Next::To(Closed), SUPERVISOR;
    CallbackPending, CalledBack => Next::To(Registered), HOTLINE;
    CallbackPending, Answer => Next::To(Answered), HOTLINE;
    CallbackPending, Forward => Next::To(Forwarded), HOTLINE;
    CallbackPending, Dispatch => Next::To(Dispatched), HOTLINE;
    CallbackPending, Close => Next::To(Closed), SUPERVISOR;
    // 转办: at the department, not yet taken.
    Dispatched, Accept => Next::To(Accepted), DEPARTMENT;
    Dispatched, Return => Next::To(Returned), DEPARTMENT;
    Dispatched, Urge => Next::To(Dispatched), HOTLINE;
    Dispatched, Redispatch => Next::To(Dispatched), DEPARTMENT;
    // Taken by the department.
    Accepted, Reply => Next::To(Replied), DEPARTMENT;
    Accepted, RequestExtension => Next::To(Accepted), DEPARTMENT;
    Accepted, ApproveExtension => Next::To(Accepted), SUPERVISOR;
    Accepted, RefuseExtension => Next::To(Accepted), SUPERVISOR;
    Accepted, Urge => Next::To(Accepted), HOTLINE;
    Accepted, Redispatch => Next::To(Dispatched), DEPARTMENT;
    // 退单: back at the hotline.
    Returned, Redispatch => Next::To(Dispatched), HOTLINE;
    Returned, Close => Next::To(Closed), SUPERVISOR;
    // 办结: the department replied.
    Replied, Revisit => Next::ByVerdict, REVISIT;
    Replied, Close => Next::To(Closed), SUPERVISOR; // citizen unreachable: with a note
    // 回访 done.
    SATISFIED, Close => Next::To(Closed), HOTLINE;
    UNSATISFIED, Redo => Next::To(Redo), REVISIT;
    UNSATISFIED, Close => Next::To(Closed), SUPERVISOR;
    // 重办: at a department again.
    Redo, Accept => Next::To(Accepted), DEPARTMENT;
    Redo, Return => Next::To(Returned), DEPARTMENT;
    Redo, Urge => Next::To(Redo), HOTLINE;
    Redo, Redispatch => Next::To(Dispatched), DEPARTMENT;
};

/// The actions that move a case forward, used to hint what must happen first.
const HINT_PATH: &[ActionKind] = &[
    ActionKind::CalledBack,
    ActionKind::Dispatch,
    ActionKind::Accept,
    ActionKind::Reply,
    ActionKind::Revisit,
    ActionKind::Redispatch,
];

/// The row of [`RULES`] for this state and action, if any.
pub fn rule(from: CaseState, action: ActionKind) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.from == from && r.action == action)
}

/// The actions `who` may take on a case in `state` (for buttons and menus).
pub fn allowed_actions(state: CaseState, who: Role) -> Vec<ActionKind> {
    RULES
        .iter()
        .filter(|r| r.from == state && r.who.contains(&who))
        .map(|r| r.action)
        .collect()
}

/// Applies `action` by `who` to a case in `state`: the new state and the audit facts,
/// or why not. Checks, in order: the state ([`TransitionError::NotAllowed`]), the role
/// ([`TransitionError::Forbidden`]), then the action's data
/// ([`TransitionError::Missing`], [`TransitionError::ZeroDays`]).
pub fn apply(state: CaseState, action: &Action, who: Role) -> Result<Transition, TransitionError> {
    let kind = action.kind();
    let row = rule(state, kind).ok_or(TransitionError::NotAllowed {
        from: state,
        action: kind,
    })?;
    if !row.who.contains(&who) {
        return Err(TransitionError::Forbidden {
            from: state,
            action: kind,
            who,
        });
    }
    check_data(state, action)?;
    let to = match row.next {
        Next::To(s) => s,
        Next::ByVerdict => CaseState::Revisited {
            unsatisfied: matches!(
                action,
                Action::Revisit {
                    satisfaction: Satisfaction::Unsatisfied
                }
            ),
        },
    };
    let deadline = match action {
        Action::Dispatch { mode, .. } => DeadlineEffect::Start(*mode),
        Action::Redispatch { .. } | Action::Redo { .. } => DeadlineEffect::Restart,
        Action::ApproveExtension => DeadlineEffect::Extend,
        Action::Reply { .. } | Action::Return { .. } | Action::Close { .. } => DeadlineEffect::Stop,
        _ => DeadlineEffect::Keep,
    };
    Ok(Transition {
        from: state,
        to,
        event: kind.event(),
        deadline,
    })
}

/// The data checks: required text present, extension of at least a day.
fn check_data(state: CaseState, action: &Action) -> Result<(), TransitionError> {
    let kind = action.kind();
    let missing = |field| {
        Err(TransitionError::Missing {
            action: kind,
            field,
        })
    };
    let blank = |s: &str| s.trim().is_empty();
    match action {
        Action::Answer { summary } if blank(summary) => missing("summary"),
        Action::Forward { department }
        | Action::Dispatch { department, .. }
        | Action::Redispatch { department }
        | Action::Redo {
            department: Some(department),
        } if blank(department) => missing("department"),
        Action::Return { reason } if blank(reason) => missing("reason"),
        Action::RequestExtension { days: 0, .. } => Err(TransitionError::ZeroDays),
        Action::RequestExtension { reason, .. } if blank(reason) => missing("reason"),
        Action::Reply { result } if blank(result) => missing("result"),
        Action::Close { note } if state != SATISFIED && note.as_deref().is_none_or(blank) => {
            missing("note")
        }
        _ => Ok(()),
    }
}

/// The roles of the row for this state and action (empty if none).
fn allowed_roles(from: CaseState, action: ActionKind) -> &'static [Role] {
    rule(from, action).map_or(&[], |r| r.who)
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// " (it must be dispatched and accepted first)": the shortest way forward along
/// [`HINT_PATH`] to a state where `action` is allowed; "" if there is none.
fn hint(from: CaseState, action: ActionKind) -> String {
    if from.is_final() {
        return " (it is final)".to_owned();
    }
    let mut seen = vec![from];
    let mut queue = VecDeque::from([(from, Vec::new())]);
    while let Some((state, path)) = queue.pop_front() {
        if !path.is_empty() && rule(state, action).is_some() {
            let words: Vec<&str> = path.iter().map(|a: &ActionKind| a.done()).collect();
            let list = match words.split_last() {
                Some((last, [])) => (*last).to_owned(),
                Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                None => String::new(),
            };
            return format!(" (it must be {list} first)");
        }
        for r in RULES
            .iter()
            .filter(|r| r.from == state && HINT_PATH.contains(&r.action))
        {
            for to in r.targets() {
                if !seen.contains(&to) {
                    seen.push(to);
                    let mut longer = path.clone();
                    longer.push(r.action);
                    queue.push_back((to, longer));
                }
            }
        }
    }
    String::new()
}

#[cfg(test)]
mod tests;
