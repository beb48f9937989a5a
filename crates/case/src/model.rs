//! The types of the API: ids, value enums, inputs and the rows handed back.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::callback::CallbackTaskId;
use crate::error::CaseError;
use crate::lifecycle::{CaseState, DispatchMode, Role, Satisfaction};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Database id of a case (work order). The public id is its ticket number.
    CaseId
);
id_type!(
    /// Database id of one call (one SIP dialog with the citizen).
    CallId
);
id_type!(
    /// Database id of one recording file.
    RecordingId
);
id_type!(
    /// Database id of a department (network unit).
    DepartmentId
);
id_type!(
    /// Database id of a user of the HTTP API.
    UserId
);

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in the order declared (the order menus offer them).
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The text stored in the database (and shown in JSON).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// Parses the stored text; `None` for a value this version does not know.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// How a case reached us.
    Channel {
        /// A live call to 12345.
        Phone => "phone",
        /// A voicemail left outside staffed hours or after the maximum wait.
        Voicemail => "voicemail",
        /// Created while calling a citizen back.
        Callback => "callback",
        /// Submitted on the web.
        Web => "web",
    }
);

/// Where a case is in its life: the lifecycle's [`CaseState`]. The three statuses the
/// store wrote before the work-order lifecycle (`registered`, `voicemail`,
/// `callback_pending`) are lifecycle states with the same text, so old rows read as
/// they were written.
pub type CaseStatus = CaseState;

text_enum!(
    /// Which side started a call.
    Direction {
        /// The citizen called 12345.
        Inbound => "inbound",
        /// We called out (callbacks).
        Outbound => "outbound",
    }
);

text_enum!(
    /// What a recording holds.
    RecordingKind {
        /// A message left by the citizen.
        Voicemail => "voicemail",
        /// Citizen and agent, one stereo file (left citizen, right agent).
        Conversation => "conversation",
    }
);

text_enum!(
    /// How a call's time in an ACD queue ended.
    AcdResult {
        /// An agent answered it.
        Answered => "answered",
        /// The caller hung up while waiting.
        Abandoned => "abandoned",
        /// The maximum wait ran out (the call goes to voicemail).
        Expired => "expired",
        /// The queue was full when the call asked for it.
        QueueFull => "queue_full",
        /// No agent was logged in with the skill.
        NoAgents => "no_agents",
        /// The caller chose a callback instead of waiting.
        CallbackRequested => "callback_requested",
    }
);

/// The wait within which an answered call counts toward the service level (answer
/// within 15 s, per the 12345 rule books).
pub const SERVICE_LEVEL_WAIT_MS: u64 = 15_000;

/// An answered inbound call, as the call controller knows it when it sends 200 OK.
#[derive(Debug, Clone)]
pub struct NewCall {
    /// SIP Call-ID of the caller leg.
    pub sip_call_id: String,
    /// The citizen's number (From user part).
    pub caller_number: String,
    /// The number dialled (Request-URI user part, normally `12345`).
    pub called_number: String,
    /// When the INVITE arrived.
    pub arrived_at: DateTime<Utc>,
    /// When we answered it; also the case's creation time.
    pub answered_at: DateTime<Utc>,
    /// The hotline's local date at answer time: the day part of the ticket number.
    pub local_day: NaiveDate,
}

/// A call the hotline places to a citizen (a callback or a revisit), as the dialler knows
/// it when it sends the INVITE. It becomes a call row of the case (direction `outbound`)
/// so that its answer, recording and survey answer hang on the case like an inbound
/// call's.
#[derive(Debug, Clone)]
pub struct NewOutboundCall {
    /// The case the call is about.
    pub case: CaseId,
    /// The callback task it is made for, if any (an attempt then points at this call).
    pub task: Option<CallbackTaskId>,
    /// SIP Call-ID of the leg to the citizen.
    pub sip_call_id: String,
    /// The hotline's caller ID shown to the citizen (stored as the call's caller number).
    pub from_number: String,
    /// The citizen's number (stored as the call's called number).
    pub to_number: String,
    /// When the INVITE was sent.
    pub started_at: DateTime<Utc>,
    /// Extension of the agent who makes the call; `None` when the IVR dials by itself.
    pub agent: Option<String>,
}

/// What [`CaseStore::open_call`](crate::CaseStore::open_call) created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCall {
    /// The call row.
    pub call: CallId,
    /// The new case.
    pub case: CaseId,
    /// The case's ticket number, to announce to the caller and show the agent.
    pub ticket: String,
}

/// A recording file to attach to a call and its case.
#[derive(Debug, Clone)]
pub struct NewRecording {
    /// The call it was recorded on.
    pub call: CallId,
    /// The case of that call (checked).
    pub case: CaseId,
    /// Voicemail or conversation.
    pub kind: RecordingKind,
    /// Path relative to the recordings directory; no `..`, not absolute.
    pub path: String,
    /// Length of the audio.
    pub duration_ms: u64,
    /// File size.
    pub bytes: u64,
    /// When the file was finalized.
    pub created_at: DateTime<Utc>,
}

/// One case as listed: the row of `cases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseSummary {
    /// Database id.
    pub id: CaseId,
    /// Public ticket number (digits only).
    pub ticket: String,
    /// How it reached us.
    pub channel: Channel,
    /// Where it is now.
    pub status: CaseStatus,
    /// The citizen's number.
    pub caller_number: String,
    /// What kind of request it is, once the agent has said.
    pub category: Option<Category>,
    /// Code of the department it was dispatched (or forwarded) to.
    pub department: Option<String>,
    /// When the department's reply is due (办理时限), while one is owed or was owed.
    pub deadline: Option<DateTime<Utc>>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One call of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRow {
    /// Database id.
    pub id: CallId,
    /// The case it belongs to.
    pub case_id: CaseId,
    /// SIP Call-ID.
    pub sip_call_id: String,
    /// Calling number.
    pub caller_number: String,
    /// Called number.
    pub called_number: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// When the INVITE arrived (or was sent).
    pub arrived_at: DateTime<Utc>,
    /// When it was answered, if it was.
    pub answered_at: Option<DateTime<Utc>>,
    /// When it ended; `None` while in progress (or after a crash).
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended (e.g. `caller_bye`, `agent_bye`, `timeout`).
    pub hangup_cause: Option<String>,
    /// The IVR keys and nodes the caller went through.
    pub ivr_path: Option<String>,
    /// The ACD queue it waited in, if it asked for an agent.
    pub queue: Option<String>,
    /// Extension of the agent who answered it.
    pub agent: Option<String>,
    /// SIP Call-ID of the agent leg that was answered.
    pub agent_call_id: Option<String>,
    /// When it entered the queue (the first time, if it was moved).
    pub queued_at: Option<DateTime<Utc>>,
    /// How many times an agent's phone was rung for it.
    pub offered_count: u32,
    /// How many of those offers were not answered (no answer, busy, declined).
    pub rejected_count: u32,
    /// When an agent answered.
    pub agent_answered_at: Option<DateTime<Utc>>,
    /// When the conversation with the agent ended.
    pub agent_ended_at: Option<DateTime<Utc>>,
    /// When the agent finished wrap-up (话后处理) for it.
    pub wrap_up_ended_at: Option<DateTime<Utc>>,
    /// How its time in the queue ended; `None` while waiting (or if never queued).
    pub acd_result: Option<AcdResult>,
    /// Time in the queue: queued until answered or left.
    pub wait_ms: Option<u64>,
    /// Time talking to the agent.
    pub talk_ms: Option<u64>,
    /// The agent's wrap-up time after it.
    pub wrap_up_ms: Option<u64>,
    /// The survey answer given on this call (1 satisfied, 2 mostly satisfied,
    /// 3 unsatisfied), if one was.
    pub satisfaction: Option<u8>,
    /// The callback task an outbound call was made for.
    pub callback_task: Option<CallbackTaskId>,
}

/// One recording of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingRow {
    /// Database id.
    pub id: RecordingId,
    /// The call it was recorded on.
    pub call_id: CallId,
    /// The case.
    pub case_id: CaseId,
    /// Voicemail or conversation.
    pub kind: RecordingKind,
    /// Relative to the recordings directory.
    pub path: String,
    /// Length of the audio.
    pub duration_ms: u64,
    /// File size.
    pub bytes: u64,
    /// When the file was finalized.
    pub created_at: DateTime<Utc>,
}

/// One entry of a case's audit trail (append-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseEvent {
    /// Database id; increases with time.
    pub id: i64,
    /// The case.
    pub case_id: CaseId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it: `system` for the call controller, later an agent or unit id.
    pub actor: String,
    /// What happened, e.g. `registered`, `voicemail`.
    pub event: String,
    /// Status before, if the event changed it.
    pub from_status: Option<CaseStatus>,
    /// Status after, if the event changed or set it.
    pub to_status: Option<CaseStatus>,
    /// Free text.
    pub note: Option<String>,
}

/// A case with everything linked to it, for the case page and `hotline case show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseDetail {
    /// The case row.
    pub case: CaseSummary,
    /// Its calls, oldest first.
    pub calls: Vec<CallRow>,
    /// Its recordings, oldest first.
    pub recordings: Vec<RecordingRow>,
    /// Its audit trail, oldest first.
    pub events: Vec<CaseEvent>,
    /// The work-order fields.
    pub order: WorkOrder,
    /// Its requests for more time (申请延期), oldest first.
    pub extensions: Vec<ExtensionRequest>,
}

impl CaseDetail {
    /// Whether the caller's identity (number, name) and the recordings must be hidden
    /// from department handlers: the case is marked confidential, or it is a complaint
    /// (投诉) or report (举报), which are confidential by default.
    pub fn is_confidential(&self) -> bool {
        self.order.confidential
            || matches!(
                self.case.category,
                Some(Category::Complaint | Category::Report)
            )
    }
}

text_enum!(
    /// 诉求类别: what kind of request a work order is.
    Category {
        /// 咨询: a question.
        Consult => "consult",
        /// 求助: asking for help.
        Help => "help",
        /// 投诉: a complaint (confidential by default).
        Complaint => "complaint",
        /// 举报: reporting wrongdoing (confidential by default).
        Report => "report",
        /// 建议: a suggestion.
        Suggestion => "suggestion",
        /// 表扬: praise.
        Praise => "praise",
    }
);

text_enum!(
    /// How the hotline handled a case (办理方式).
    HandlingMode {
        /// 当即答复: resolved during the call.
        Answered => "answered",
        /// 转办: dispatched to a department with a deadline.
        Dispatched => "dispatched",
        /// 转阅: forwarded to a department for reference.
        Forwarded => "forwarded",
    }
);

text_enum!(
    /// Where a request for more time stands.
    ExtensionStatus {
        /// Waiting for a supervisor.
        Pending => "pending",
        /// Granted: the deadline moved.
        Approved => "approved",
        /// Refused: the deadline stays.
        Refused => "refused",
    }
);

/// The work-order fields of a case besides those in its [`CaseSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkOrder {
    /// The caller's name, as given.
    pub caller_name: Option<String>,
    /// Where the matter is (address).
    pub location: Option<String>,
    /// One line saying what it is about.
    pub subject: Option<String>,
    /// The citizen's request in full.
    pub description: Option<String>,
    /// Answered, dispatched or forwarded.
    pub handling_mode: Option<HandlingMode>,
    /// Name of the department it is with.
    pub department_name: Option<String>,
    /// How it was (last) dispatched: sets the deadline.
    pub dispatch_mode: Option<DispatchMode>,
    /// Marked confidential (see [`CaseDetail::is_confidential`] for the default).
    pub confidential: bool,
    /// The citizen's verdict at the last revisit.
    pub satisfaction: Option<Satisfaction>,
    /// How often it was urged (催办).
    pub urge_count: u32,
    /// How often it was redone (重办).
    pub redo_count: u32,
    /// Why a department last sent it back (退单).
    pub returned_reason: Option<String>,
    /// When the department last replied (办结); cleared by a redo.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it became final (answered, forwarded or closed).
    pub closed_at: Option<DateTime<Utc>>,
}

/// A department's request for more time (申请延期).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtensionRequest {
    /// Database id.
    pub id: i64,
    /// More working days asked for.
    pub days: u32,
    /// Why.
    pub reason: String,
    /// Pending, approved or refused.
    pub status: ExtensionStatus,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
}

/// The fields of a work order an agent fills in; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFields {
    /// The caller's name (at most 64 characters; empty clears it).
    pub caller_name: Option<String>,
    /// Address (at most 200 characters; empty clears it).
    pub location: Option<String>,
    /// Category.
    pub category: Option<Category>,
    /// Subject (1 to 200 characters).
    pub subject: Option<String>,
    /// Description (at most 5000 characters; empty clears it).
    pub description: Option<String>,
    /// Confidential flag.
    pub confidential: Option<bool>,
}

/// A work order registered by hand (a web submission, or a phone call an agent writes
/// up later) by [`CaseStore::create_case`](crate::CaseStore::create_case). The text
/// fields follow the rules of [`CaseFields`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    /// `web` or `phone`; `voicemail` and `callback` cases come from the call controller.
    pub channel: Channel,
    /// The citizen's number: 1 to 32 digits, optionally after one leading `+`.
    pub caller_number: String,
    /// The caller's name (at most 64 characters; empty: none).
    pub caller_name: Option<String>,
    /// Address (at most 200 characters; empty: none).
    pub location: Option<String>,
    /// Category, if already known.
    pub category: Option<Category>,
    /// Subject (1 to 200 characters).
    pub subject: String,
    /// Description (at most 5000 characters; empty: none).
    pub description: Option<String>,
    /// Confidential flag.
    pub confidential: bool,
}

/// Who acts on a case: the user name (for the audit trail) and their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user name, or `system`.
    pub user: String,
    /// What they may do.
    pub role: Role,
}

impl Actor {
    /// An actor.
    pub fn new(user: impl Into<String>, role: Role) -> Self {
        Actor {
            user: user.into(),
            role,
        }
    }
}

/// A search for cases; every criterion given must match. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseQuery {
    /// Exactly this ticket.
    pub ticket: Option<String>,
    /// Exactly this caller number.
    pub caller_number: Option<String>,
    /// In this state.
    pub status: Option<CaseState>,
    /// With this department (code)…
    pub department: Option<String>,
    /// …or any department below it too.
    pub include_subtree: bool,
    /// Of this category.
    pub category: Option<Category>,
    /// Registered at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Registered before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only cases a department holds (dispatched, accepted, redo) whose deadline has
    /// passed at this instant (超期).
    pub overdue_at: Option<DateTime<Utc>>,
    /// At most this many (0: the default of 100; at most 1000).
    pub limit: u32,
    /// Skip this many.
    pub offset: u32,
    /// Leave out every confidential case (the flag, or a complaint or report, as
    /// [`CaseDetail::is_confidential`]). Set for a department handler who filters by the
    /// caller's number: whether a given person complained must not be learnt from what a
    /// search finds, how many, in what order or how fast.
    pub exclude_confidential: bool,
}

/// A department (network unit, 承办单位), as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Department {
    /// Database id.
    pub id: DepartmentId,
    /// Short unique code, e.g. `housing` or `district-a.street-3`.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Code of the unit above it; `None` for a 一级 unit.
    pub parent: Option<String>,
    /// 1 (一级), 2 (二级) or 3 (三级).
    pub level: u8,
    /// Whether cases may be sent to it.
    pub active: bool,
}

/// A department to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDepartment {
    /// Lowercase letters, digits, `.`, `_`, `-`; 1 to 64.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Code of the unit above it (required for levels 2 and 3, none for level 1).
    pub parent: Option<String>,
    /// 1, 2 or 3, deeper than its parent.
    pub level: u8,
}

/// A user of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Database id.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Agent, supervisor, department handler or admin.
    pub role: Role,
    /// The department (code) of a department handler.
    pub department: Option<String>,
    /// The SIP extension (seated agent) an agent or supervisor works at: an agent may
    /// change only that agent's state.
    pub extension: Option<String>,
    /// A disabled user cannot log in and has no sessions.
    pub disabled: bool,
    /// When added.
    pub created_at: DateTime<Utc>,
}

/// A user to create.
#[derive(Clone)]
pub struct NewUser {
    /// Lowercase letters, digits, `.`, `_`, `-`; 1 to 64.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Not [`Role::System`].
    pub role: Role,
    /// Required for (only for) a department handler: its department's code.
    pub department: Option<String>,
    /// The seated agent (extension) an agent or supervisor works at, if any; it must exist.
    pub extension: Option<String>,
    /// At least 8 characters; only an argon2id hash is kept.
    pub password: String,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("department", &self.department)
            .field("extension", &self.extension)
            .finish_non_exhaustive()
    }
}

/// Whether `code` is fit for a department code or user name: 1 to 64 of lowercase
/// ASCII letters, digits, `.`, `_`, `-`.
pub(crate) fn is_valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// A call that ended before we answered it (the caller cancelled while it rang). No case is
/// opened for it, but it is kept: it counts against the answer rate and may be called back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct MissedCall {
    /// SIP Call-ID of the caller leg.
    pub sip_call_id: String,
    /// The citizen's number.
    pub caller_number: String,
    /// The number dialled.
    pub called_number: String,
    /// When the INVITE arrived.
    pub arrived_at: DateTime<Utc>,
    /// When the caller gave up.
    pub ended_at: DateTime<Utc>,
    /// Why it ended unanswered, e.g. `cancelled`.
    pub cause: String,
}

/// A skill an agent has, with a level from 1 (can take it) to 5 (expert).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Skill {
    /// Lowercase letters, digits, `_` and `-`, e.g. `consult`, `complaint`, `en`.
    pub name: String,
    /// 1 to 5.
    pub level: u8,
}

impl Skill {
    /// Longest skill name accepted.
    pub const MAX_NAME_LEN: usize = 32;

    /// A checked skill: [`CaseError::InvalidSkill`] if the name or level is not allowed.
    pub fn new(name: &str, level: u8) -> Result<Skill, CaseError> {
        let invalid = |reason| CaseError::InvalidSkill {
            item: format!("{name}:{level}"),
            reason,
        };
        if let Some(reason) = name_problem(name) {
            return Err(invalid(reason));
        }
        if !(1..=5).contains(&level) {
            return Err(invalid("level must be 1 to 5"));
        }
        Ok(Skill {
            name: name.to_owned(),
            level,
        })
    }

    /// Parses a comma-separated list of `name:level` items, e.g.
    /// `"consult:5, complaint:3,en:4"`. Blanks around items are ignored, as are empty
    /// items; a blank string is no skills. The error names the first bad item.
    pub fn parse_list(list: &str) -> Result<Vec<Skill>, CaseError> {
        let skills = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Skill::parse_item)
            .collect::<Result<Vec<_>, _>>()?;
        check_skills(&skills)?;
        Ok(skills)
    }

    fn parse_item(item: &str) -> Result<Skill, CaseError> {
        let invalid = |reason| CaseError::InvalidSkill {
            item: item.to_owned(),
            reason,
        };
        let (name, level) = item
            .split_once(':')
            .ok_or_else(|| invalid("expected name:level"))?;
        let (name, level) = (name.trim(), level.trim());
        if let Some(reason) = name_problem(name) {
            return Err(invalid(reason));
        }
        match level.parse::<u8>() {
            Ok(l @ 1..=5) => Ok(Skill {
                name: name.to_owned(),
                level: l,
            }),
            _ => Err(invalid("level must be 1 to 5")),
        }
    }
}

fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty skill name")
    } else if name.len() > Skill::MAX_NAME_LEN {
        Some("skill name longer than 32 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        Some("skill name may only have lowercase letters, digits, _ and -")
    } else {
        None
    }
}

/// Checks every skill of a list (it may have been built without [`Skill::new`]) and that
/// no skill is listed twice.
pub(crate) fn check_skills(skills: &[Skill]) -> Result<(), CaseError> {
    for (i, s) in skills.iter().enumerate() {
        Skill::new(&s.name, s.level)?;
        if skills[..i].iter().any(|earlier| earlier.name == s.name) {
            return Err(CaseError::InvalidSkill {
                item: format!("{}:{}", s.name, s.level),
                reason: "skill listed twice",
            });
        }
    }
    Ok(())
}

/// Longest extension accepted.
pub const MAX_EXTENSION_LEN: usize = 16;

/// Whether `ext` is an agent extension: 1 to 16 ASCII digits.
pub fn is_valid_extension(ext: &str) -> bool {
    !ext.is_empty() && ext.len() <= MAX_EXTENSION_LEN && ext.bytes().all(|b| b.is_ascii_digit())
}

/// A seated agent to create.
#[derive(Clone)]
pub struct NewAgent {
    /// The softphone's extension (digits), also the SIP user name and the login.
    pub extension: String,
    /// Display name.
    pub name: String,
    /// The password for both the desktop login and SIP digest auth; only hashes are kept.
    pub password: String,
    /// Skills, each at most once.
    pub skills: Vec<Skill>,
    /// How long an offered call rings before it goes back to the queue (at least 1).
    pub max_ring_secs: u32,
    /// After-call work time before the agent is offered the next call.
    pub wrap_up_secs: u32,
}

impl fmt::Debug for NewAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAgent")
            .field("extension", &self.extension)
            .field("name", &self.name)
            .field("skills", &self.skills)
            .field("max_ring_secs", &self.max_ring_secs)
            .field("wrap_up_secs", &self.wrap_up_secs)
            .finish_non_exhaustive()
    }
}

/// A seated agent, as shown to supervisors. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// Extension (digits).
    pub extension: String,
    /// Display name.
    pub name: String,
    /// Skills, by name.
    pub skills: Vec<Skill>,
    /// Ring timeout for offers.
    pub max_ring_secs: u32,
    /// Wrap-up time after each call.
    pub wrap_up_secs: u32,
    /// When the agent was added.
    pub created_at: DateTime<Utc>,
    /// Last change (skills, re-adding).
    pub updated_at: DateTime<Utc>,
}

/// What the registrar needs for SIP digest authentication of an agent's softphone:
/// `HA1 = H(extension:realm:password)` as lowercase hex, for MD5 and SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentSecrets {
    /// Extension (the digest user name).
    pub extension: String,
    /// The realm the HA1 values were computed for.
    pub realm: String,
    /// hex(MD5("extension:realm:password")).
    pub ha1_md5: String,
    /// hex(SHA-256("extension:realm:password")).
    pub ha1_sha256: String,
}

impl fmt::Debug for AgentSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentSecrets")
            .field("extension", &self.extension)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// One state change of an agent to append to its history.
#[derive(Debug, Clone, Copy)]
pub struct NewAgentEvent<'a> {
    /// The agent.
    pub extension: &'a str,
    pub at: DateTime<Utc>,
    /// The ACD's state names, e.g. `ready` → `offered`.
    pub from: &'a str,
    pub to: &'a str,
    /// Why, e.g. `no_answer`, `break`.
    pub reason: Option<&'a str>,
    /// SIP Call-ID of the call involved, if any.
    pub sip_call_id: Option<&'a str>,
    /// Who asked: `phone`, a desk user's name, or `None` for the system.
    pub actor: Option<&'a str>,
}

/// One entry of an agent's state history (append-only), for occupancy and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentEvent {
    /// Database id; increases with time.
    pub id: i64,
    /// The agent.
    pub extension: String,
    /// When the state changed.
    pub at: DateTime<Utc>,
    /// State before (e.g. `ready`).
    pub from_state: String,
    /// State after (e.g. `ringing`).
    pub to_state: String,
    /// Why, e.g. `no_answer`, `break`.
    pub reason: Option<String>,
    /// SIP Call-ID of the call involved, if any.
    pub sip_call_id: Option<String>,
    /// Who asked for the change: `phone` (the agent's softphone), a desk user's name, or
    /// `None` for the system (routing, wrap-up, a registration lapsing).
    pub actor: Option<String>,
}

/// One queue's figures since a given time (normally local midnight), for the wallboard
/// and the daily report. Counts are of calls that entered the queue since then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Calls that asked for the queue.
    pub offered: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Answered within [`SERVICE_LEVEL_WAIT_MS`] of queuing.
    pub answered_within_15s: u64,
    /// The caller hung up while waiting.
    pub abandoned: u64,
    /// The maximum wait ran out.
    pub expired: u64,
    /// Turned away: queue full.
    pub queue_full: u64,
    /// Turned away: no agent logged in.
    pub no_agents: u64,
    /// The caller chose a callback.
    pub callback_requested: u64,
    /// Still waiting (no result yet).
    pub waiting: u64,
    /// Average wait of the calls that left the queue (answered or not).
    pub avg_wait_ms: Option<u64>,
    /// Average wait of the answered calls (average speed of answer).
    pub avg_answer_ms: Option<u64>,
    /// Longest wait of a call that left the queue.
    pub max_wait_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(name: &str, level: u8) -> Skill {
        Skill {
            name: name.into(),
            level,
        }
    }

    #[test]
    fn skill_list_parses_with_blanks() {
        assert_eq!(
            Skill::parse_list("consult:5, complaint:3,en:4").unwrap(),
            [skill("consult", 5), skill("complaint", 3), skill("en", 4)]
        );
        assert_eq!(
            Skill::parse_list(" ent_service-2 : 1 ,").unwrap(),
            [skill("ent_service-2", 1)]
        );
        assert!(Skill::parse_list("").unwrap().is_empty());
        assert!(Skill::parse_list("  ").unwrap().is_empty());
    }

    #[test]
    fn skill_list_errors_name_the_bad_item() {
        for (list, bad, why) in [
            ("consult:5, complaint:6", "complaint:6", "1 to 5"),
            ("consult:0", "consult:0", "1 to 5"),
            ("consult:5,en", "en", "name:level"),
            ("Consult:5", "Consult:5", "lowercase"),
            ("con sult:5", "con sult:5", "lowercase"),
            ("consult:x", "consult:x", "1 to 5"),
            ("consult:-1", "consult:-1", "1 to 5"),
            (":3", ":3", "empty"),
            ("en:4,consult:5,en:2", "en:2", "twice"),
        ] {
            let err = Skill::parse_list(list).unwrap_err();
            match &err {
                CaseError::InvalidSkill { item, reason } => {
                    assert_eq!(item, bad, "{list:?}");
                    assert!(reason.contains(why), "{list:?}: {reason}");
                }
                other => panic!("{list:?}: {other}"),
            }
            assert!(err.to_string().contains(bad), "{err}");
        }
        let long = format!("{}:1", "a".repeat(Skill::MAX_NAME_LEN + 1));
        assert!(Skill::parse_list(&long).is_err());
    }

    #[test]
    fn skill_new_checks() {
        assert_eq!(Skill::new("en", 4).unwrap(), skill("en", 4));
        assert!(Skill::new("en", 6).is_err());
        assert!(Skill::new("EN", 4).is_err());
        assert!(Skill::new("", 4).is_err());
    }

    #[test]
    fn extensions_are_digits() {
        assert!(is_valid_extension("1001"));
        assert!(is_valid_extension("7"));
        for bad in [
            "",
            "10a1",
            "+1001",
            " 1001",
            "12345678901234567",
            "１００１",
        ] {
            assert!(!is_valid_extension(bad), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let s = AgentSecrets {
            extension: "1001".into(),
            realm: "r".into(),
            ha1_md5: "deadbeef".into(),
            ha1_sha256: "cafebabe".into(),
        };
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("deadbeef") && !shown.contains("cafebabe"),
            "{shown}"
        );
        let a = NewAgent {
            extension: "1001".into(),
            name: "Li".into(),
            password: "hunter2".into(),
            skills: vec![],
            max_ring_secs: 20,
            wrap_up_secs: 30,
        };
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
