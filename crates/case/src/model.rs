//! The types of the API: ids, value enums, inputs and the rows handed back.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

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

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
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

text_enum!(
    /// Where a case is in its life. More states arrive with the handling workflow.
    CaseStatus {
        /// 受理: created, being handled on the call.
        Registered => "registered",
        /// A voicemail case not yet triaged.
        Voicemail => "voicemail",
        /// The citizen left a voicemail; a callback is owed.
        CallbackPending => "callback_pending",
    }
);

impl CaseStatus {
    /// Whether the store lets a case go from `self` to `to` (the whitelist of changes).
    pub(crate) fn may_become(self, to: CaseStatus) -> bool {
        use CaseStatus::*;
        matches!((self, to), (Registered | Voicemail, CallbackPending))
    }
}

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
