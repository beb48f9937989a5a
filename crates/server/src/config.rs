//! The server's configuration: `config/default.toml` and friends, read through serde.
//!
//! Every listen address, the RTP port range, the data directory, the database and the
//! trunk's allowed sources are keys, so tests can run several servers side by side.
//! Relative paths in a config file (`[data] dir`, `database` for SQLite, `recordings`,
//! `[ivr] flow`, `prompts`) are taken from the directory of that file, never from the
//! working directory: `hotline case list --config /etc/hotline/production.toml` reads the
//! same database from anywhere. [`Config::load`] makes them absolute.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub http: HttpConfig,
    pub data: DataConfig,
    pub trunk: TrunkConfig,
    pub ivr: IvrFiles,
    #[serde(default)]
    pub calls: CallConfig,
    #[serde(default)]
    pub agents: AgentsConfig,
    #[serde(default)]
    pub acd: AcdConfig,
    #[serde(default)]
    pub calendar: CalendarConfig,
    #[serde(default)]
    pub callbacks: CallbacksConfig,
}

/// The dialler: callback tasks (voicemails, callback requests, revisits) are routed by the
/// ACD to agents with the `queue` skill and dialled agent first, then the citizen through
/// `[trunk.outbound]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbacksConfig {
    /// Dial the worklist (tasks are kept either way; `false` leaves them to staff).
    pub enabled: bool,
    /// Local hours (the IVR flow's zone) when citizens may be called, e.g. "08:00-21:00".
    pub calling_hours: String,
    /// Attempts of a task created by a voicemail or a callback request.
    pub max_attempts: u32,
    /// Between a failed attempt and the next (seconds; 1800 = 30 min).
    pub retry_after_secs: u64,
    /// The citizen's phone rings this long before the attempt counts as no answer.
    pub ring_secs: u64,
    /// The ACD queue (the agents' skill) callbacks are routed to.
    pub queue: String,
    /// How often the worklist is read for tasks that became due (seconds).
    pub poll_secs: u64,
    /// Revisits (回访) of replied cases: "agent" (an agent calls), "auto" (the IVR calls and
    /// asks the survey question; unsatisfied → redo) or "off".
    pub revisit: String,
    /// A revisit task is due this long after the department's reply (seconds).
    pub revisit_after_secs: u64,
    /// How long the automatic revisit waits for the citizen's key (seconds).
    pub survey_wait_secs: u64,
    /// Numbers that may be called back (regular expressions over the normalised national
    /// number, anchored): by default mainland mobiles and the city's fixed lines.
    pub allowed_numbers: Vec<String>,
    /// Numbers never called back even if allowed (emergency, short service, 95xxx).
    pub denied_numbers: Vec<String>,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        CallbacksConfig {
            enabled: true,
            calling_hours: "08:00-21:00".into(),
            max_attempts: 3,
            retry_after_secs: 1800,
            ring_secs: 40,
            queue: "callback".into(),
            poll_secs: 10,
            revisit: "agent".into(),
            revisit_after_secs: 0,
            survey_wait_secs: 10,
            allowed_numbers: hotline_case::callback::number::DEFAULT_ALLOWED
                .iter()
                .map(|p| p.to_string())
                .collect(),
            denied_numbers: hotline_case::callback::number::DEFAULT_DENIED
                .iter()
                .map(|p| p.to_string())
                .collect(),
        }
    }
}

impl CallbacksConfig {
    /// The numbers callback tasks may dial: these patterns, never the hotline's own
    /// numbers (`own`, the trunk's). Err names the bad pattern.
    pub fn number_policy(
        &self,
        own: &[String],
    ) -> Result<hotline_case::callback::NumberPolicy, hotline_case::callback::number::BadPattern>
    {
        hotline_case::callback::NumberPolicy::new(&self.allowed_numbers, &self.denied_numbers, own)
    }

    /// The parsed calling hours (validated at load).
    pub fn hours(&self) -> hotline_case::CallingHours {
        hotline_case::CallingHours::parse(&self.calling_hours).unwrap_or(
            hotline_case::CallingHours {
                start: chrono::NaiveTime::MIN,
                end: chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(chrono::NaiveTime::MIN),
            },
        )
    }
}

/// Working days and reply deadlines (办理时限) of dispatched work orders. The time zone
/// is the IVR's (`timezone` in the flow file): one local day for the whole hotline.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarConfig {
    /// Public holidays, "YYYY-MM-DD".
    pub holidays: Vec<String>,
    /// Worked Saturdays and Sundays (调休), "YYYY-MM-DD".
    pub workday_swaps: Vec<String>,
    /// Working days to reply, by dispatch mode.
    pub deadline_days: DeadlineDays,
    /// Categories with their own limit (phone and written dispatch), e.g. `complaint = 5`.
    pub category_days: std::collections::BTreeMap<String, u32>,
}

/// Working days to reply by dispatch mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeadlineDays {
    pub phone: u32,
    pub written: u32,
    pub urgent: u32,
}

impl Default for DeadlineDays {
    fn default() -> Self {
        DeadlineDays {
            phone: 3,
            written: 7,
            urgent: 0,
        }
    }
}

impl CalendarConfig {
    /// The working calendar in zone `tz` and the deadline policy; errors name the field.
    pub fn build(
        &self,
        tz: chrono_tz::Tz,
    ) -> Result<(
        hotline_case::calendar::WorkCalendar,
        hotline_case::calendar::DeadlinePolicy,
    )> {
        use hotline_case::calendar::{DeadlinePolicy, WorkCalendar, MAX_WORKING_DAYS};
        let dates = |field: &str, list: &[String]| -> Result<Vec<chrono::NaiveDate>> {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").with_context(|| {
                        format!("calendar.{field}[{i}]: `{s}` is not a date (YYYY-MM-DD)")
                    })
                })
                .collect()
        };
        let holidays = dates("holidays", &self.holidays)?;
        let swaps = dates("workday_swaps", &self.workday_swaps)?;
        let calendar = WorkCalendar::from_config(tz, holidays, swaps)
            .map_err(|e| anyhow::anyhow!("calendar.workday_swaps: {e}"))?;
        let d = &self.deadline_days;
        for (name, v) in [
            ("phone", d.phone),
            ("written", d.written),
            ("urgent", d.urgent),
        ] {
            if v > MAX_WORKING_DAYS {
                bail!("calendar.deadline_days.{name}: at most {MAX_WORKING_DAYS} working days");
            }
        }
        for (cat, &v) in &self.category_days {
            if hotline_case::Category::parse(cat).is_none() {
                bail!(
                    "calendar.category_days.{cat}: not a category (consult, help, complaint, report, suggestion, praise)"
                );
            }
            if v > MAX_WORKING_DAYS {
                bail!("calendar.category_days.{cat}: at most {MAX_WORKING_DAYS} working days");
            }
        }
        let policy = DeadlinePolicy {
            phone_days: d.phone,
            written_days: d.written,
            urgent_days: d.urgent,
            per_category: self.category_days.clone(),
        };
        Ok((calendar, policy))
    }
}

/// Seated agents: how their softphones register and what they dial.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    /// Digest realm; agents' HA1s are computed with it, so changing it needs new passwords.
    pub realm: String,
    /// Feature code that logs the agent in and makes it ready.
    pub code_ready: String,
    /// Feature code for not ready (a pause with the first of `not_ready_reasons`).
    pub code_not_ready: String,
    /// The reasons an agent may give for not being ready (示忙原因), first the default:
    /// the desk's choices, what `POST /api/agents/{ext}/state` accepts, what reports count.
    pub not_ready_reasons: Vec<NotReadyReason>,
    /// Feature code that logs the agent out.
    pub code_logout: String,
    /// Supervisors' codes, followed by an agent's extension (`*411001`): listen to that
    /// agent's call (监听), whisper to the agent (耳语), barge in (强插).
    pub code_listen: String,
    pub code_whisper: String,
    pub code_barge: String,
    /// REGISTER expiry bounds (seconds).
    pub min_expires: u32,
    pub max_expires: u32,
    /// Failed authentications from one address within `auth_window_secs` before refusing it.
    pub auth_max_failures: u32,
    /// Failed authentications for one extension, from any address, before refusing it
    /// (its registered phone excepted: see `hotline_sip::lockout`).
    pub auth_user_max_failures: u32,
    pub auth_window_secs: u64,
    /// How long a refused address stays refused.
    pub auth_block_secs: u64,
    /// Digest challenges offered, in this order ("MD5", "SHA-256"). Some softphones answer
    /// only the first, some give up on an algorithm they lack: the default is MD5 alone.
    pub digest_algorithms: Vec<String>,
    /// An agent's blind transfer (REFER) to this user part sends the caller to the
    /// satisfaction survey, as if the agent had hung up first.
    pub survey_transfer: String,
    /// Outside numbers an agent may transfer or consult to through `[trunk.outbound]`
    /// (emergency services, departments' lines); anything else is refused.
    pub transfer_numbers: Vec<String>,
}

/// One reason code for not being ready.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NotReadyReason {
    /// What the API and the agent events carry (`break`, `meal`…).
    pub code: String,
    /// What the desk shows (小休, 用餐…).
    pub name: String,
}

impl AgentsConfig {
    /// The reason a pause gets when none is given (the first configured).
    pub fn default_reason(&self) -> &str {
        self.not_ready_reasons
            .first()
            .map_or("break", |r| r.code.as_str())
    }

    /// The configured reason `code`, if any.
    pub fn reason(&self, code: &str) -> Option<&NotReadyReason> {
        self.not_ready_reasons.iter().find(|r| r.code == code)
    }

    /// The lockout in front of agents' digest authentication.
    pub fn lockout_policy(&self) -> hotline_sip::lockout::LockoutPolicy {
        hotline_sip::lockout::LockoutPolicy {
            max_failures: self.auth_max_failures,
            user_max_failures: self.auth_user_max_failures,
            window: std::time::Duration::from_secs(self.auth_window_secs),
            block_for: std::time::Duration::from_secs(self.auth_block_secs),
        }
    }
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            realm: "hotline12345".into(),
            code_ready: "*1".into(),
            code_not_ready: "*2".into(),
            not_ready_reasons: [
                ("break", "小休"),
                ("meal", "用餐"),
                ("training", "培训"),
                ("meeting", "会议"),
                ("after_call", "工单处理"),
            ]
            .map(|(code, name)| NotReadyReason {
                code: code.into(),
                name: name.into(),
            })
            .to_vec(),
            code_logout: "*3".into(),
            code_listen: "*41".into(),
            code_whisper: "*42".into(),
            code_barge: "*43".into(),
            min_expires: 60,
            max_expires: 3600,
            auth_max_failures: 5,
            auth_user_max_failures: 10,
            auth_window_secs: 60,
            auth_block_secs: 300,
            digest_algorithms: vec!["MD5".into()],
            survey_transfer: "survey".into(),
            transfer_numbers: ["110", "119", "120", "122"].map(String::from).to_vec(),
        }
    }
}

/// The queues of the ACD, one per skill.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcdConfig {
    /// How often a waiting caller hears comfort and position (seconds).
    pub announce_every_secs: u64,
    pub queues: Vec<QueueConfig>,
}

/// One queue (its name is the skill an agent needs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub name: String,
    /// longest-idle, most-skilled, round-robin or fewest-calls.
    #[serde(default = "default_strategy")]
    pub strategy: String,
    /// Lowest skill level offered at first (1–5).
    #[serde(default = "default_min_level")]
    pub min_level: u8,
    /// Waiting calls beyond this go to voicemail.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// After this long the caller is offered voicemail (a callback case).
    #[serde(default)]
    pub max_wait_secs: Option<u64>,
    /// Routing steps: after N seconds accept lower levels or another queue's agents.
    #[serde(default)]
    pub widening: Vec<WideningConfig>,
}

/// A timed widening step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WideningConfig {
    pub after_secs: u64,
    #[serde(default)]
    pub min_level: Option<u8>,
    #[serde(default)]
    pub overflow_to: Option<String>,
}

fn default_strategy() -> String {
    "longest-idle".into()
}
fn default_min_level() -> u8 {
    1
}
fn default_max_len() -> usize {
    50
}

impl Default for AcdConfig {
    fn default() -> Self {
        let q = |name: &str| QueueConfig {
            name: name.into(),
            strategy: default_strategy(),
            min_level: 1,
            max_len: default_max_len(),
            max_wait_secs: Some(300),
            widening: vec![],
        };
        AcdConfig {
            announce_every_secs: 30,
            queues: ["consult", "complaint", "enterprise", "agent", "en"]
                .iter()
                .map(|n| q(n))
                .collect(),
        }
    }
}

/// SIP listening and timers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// UDP and TCP listen on this address.
    pub listen: SocketAddr,
    /// Address put in Via/Contact when it differs from `listen` (e.g. behind NAT).
    #[serde(default)]
    pub advertised: Option<SocketAddr>,
    /// Larger messages are refused.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// RFC 3261 T1 in milliseconds (500 by default).
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    /// Caps and timeouts of SIP over TCP (`[sip.tcp]`).
    #[serde(default)]
    pub tcp: SipTcpConfig,
}

/// SIP over TCP: how many connections, and how long one may go without a message. Each
/// connection holds a file descriptor, which calls need too (RTP, recordings, database).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipTcpConfig {
    /// Open connections at most (lowered at start if the descriptor limit is too small).
    pub max_connections: usize,
    /// Connections at most from one address; `[trunk] allowed_sources` are exempt.
    pub max_per_source: usize,
    /// A new connection that has not sent a whole message within this is closed (seconds).
    pub first_message_secs: u64,
    /// A message must arrive whole within this of its first byte (seconds).
    pub message_secs: u64,
    /// A connection without a message or keep-alive ping for this long is closed (seconds).
    pub idle_secs: u64,
}

impl Default for SipTcpConfig {
    fn default() -> Self {
        SipTcpConfig {
            max_connections: 4096,
            max_per_source: 64,
            first_message_secs: 30,
            message_secs: 10,
            idle_secs: 600,
        }
    }
}

/// HTTP API connections: how many, and how long they may wait (`[http.connections]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConnectionsConfig {
    /// Open connections at most (lowered at start if the descriptor limit is too small).
    pub max_connections: usize,
    /// Connections at most from one address (a reverse proxy in front counts as one).
    pub max_per_source: usize,
    /// A request's head must arrive whole within this; also how long an idle keep-alive
    /// connection waits for its next request (seconds).
    pub header_secs: u64,
    /// A connection with no byte in either direction for this long is closed (seconds);
    /// live event streams send a keep-alive well within it.
    pub idle_secs: u64,
}

impl Default for HttpConnectionsConfig {
    fn default() -> Self {
        HttpConnectionsConfig {
            max_connections: 512,
            max_per_source: 64,
            header_secs: 10,
            idle_secs: 60,
        }
    }
}

/// RTP address and port range.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Address RTP sockets bind to and that SDP advertises.
    pub ip: IpAddr,
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
}

/// The HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// How long a login session (bearer token) lasts.
    #[serde(default = "default_session_hours")]
    pub session_ttl_hours: u32,
    /// Failed logins from one address within `login_window_secs` before it is refused.
    #[serde(default = "default_login_max_failures")]
    pub login_max_failures: u32,
    /// Failed logins for one user name, from any address, before it is refused.
    #[serde(default = "default_login_user_max_failures")]
    pub login_user_max_failures: u32,
    #[serde(default = "default_login_window_secs")]
    pub login_window_secs: u64,
    /// How long a refused address or user stays refused (429 with `Retry-After`).
    #[serde(default = "default_login_block_secs")]
    pub login_block_secs: u64,
    /// Caps and timeouts of API connections (`[http.connections]`).
    #[serde(default)]
    pub connections: HttpConnectionsConfig,
    /// Networks (CIDR) that may read `GET /metrics` without a token; others get 403.
    #[serde(default = "default_metrics_from")]
    pub metrics_from: Vec<String>,
}

fn default_metrics_from() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}

impl HttpConfig {
    /// The lockout in front of `POST /api/login`.
    pub fn login_lockout_policy(&self) -> hotline_sip::lockout::LockoutPolicy {
        hotline_sip::lockout::LockoutPolicy {
            max_failures: self.login_max_failures,
            user_max_failures: self.login_user_max_failures,
            window: std::time::Duration::from_secs(self.login_window_secs),
            block_for: std::time::Duration::from_secs(self.login_block_secs),
        }
    }
}

fn default_session_hours() -> u32 {
    12
}
fn default_login_max_failures() -> u32 {
    5
}
fn default_login_user_max_failures() -> u32 {
    10
}
fn default_login_window_secs() -> u64 {
    300
}
fn default_login_block_secs() -> u64 {
    300
}

/// Where things are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Root of everything the hotline writes.
    pub dir: PathBuf,
    /// Database URL; the default is an SQLite file under `dir`.
    #[serde(default)]
    pub database: Option<String>,
    /// Recordings directory; the default is `dir/recordings`.
    #[serde(default)]
    pub recordings: Option<PathBuf>,
    /// This node's name, written on every call row it handles: the crash recovery at start
    /// closes only the calls of its own node, so nodes sharing one database must each have
    /// their own, kept across restarts. 1–64 letters, digits, `.`, `-`, `_`. The default
    /// (empty in the file) is the machine's hostname, filled in by [`Config::load`].
    #[serde(default)]
    pub node: String,
    /// How long a new call's write may wait for others to share its commit while calls come
    /// closer together than this, in ms (0: never; at most [`MAX_COMMIT_WINDOW_MS`]): the
    /// server's CPU at a few hundred calls a second against a few ms on the answer.
    #[serde(default = "default_commit_window_ms")]
    pub commit_window_ms: u64,
}

fn default_commit_window_ms() -> u64 {
    20
}

/// The longest `[data] commit_window_ms`: past this a caller would hear the wait.
const MAX_COMMIT_WINDOW_MS: u64 = 200;

/// The longest `[data] node` (a Linux hostname's limit).
const MAX_NODE_LEN: usize = 64;

/// Whether `name` can be a `[data] node`: 1–64 ASCII letters, digits, `.`, `-`, `_`.
fn is_valid_node(name: &str) -> bool {
    (1..=MAX_NODE_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The default `[data] node`: this machine's hostname — the kernel's
/// (`/proc/sys/kernel/hostname`), else `/etc/hostname`, else `$HOSTNAME` — the first that
/// is a valid node name (not the kernel's `(none)`, say).
fn default_node() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .chain(std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .find(|name| is_valid_node(name))
}

/// The carrier trunk: who may send us calls, and which numbers are ours.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Source networks allowed to send INVITEs, e.g. "127.0.0.1/32" or "10.1.0.0/16".
    pub allowed_sources: Vec<String>,
    /// Called numbers we answer (Request-URI user); others get 404.
    pub numbers: Vec<String>,
    /// Where calls out (callbacks, revisits) go; without it nothing is dialled.
    #[serde(default)]
    pub outbound: Option<OutboundTrunk>,
}

/// The carrier's gateway for calls we make.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundTrunk {
    /// The gateway's SIP address.
    pub gateway: SocketAddr,
    /// "udp" (default) or "tcp".
    #[serde(default = "default_udp")]
    pub transport: String,
    /// The number citizens see (the hotline's).
    #[serde(default = "default_caller_id")]
    pub caller_id: String,
    /// Digest credentials, if the carrier challenges our INVITEs.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Put before the citizen's number in the Request-URI (e.g. "0" for an outside line).
    #[serde(default)]
    pub prefix: String,
}

impl std::fmt::Debug for OutboundTrunk {
    /// Everything but the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundTrunk")
            .field("gateway", &self.gateway)
            .field("transport", &self.transport)
            .field("caller_id", &self.caller_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn default_udp() -> String {
    "udp".into()
}
fn default_caller_id() -> String {
    "12345".into()
}

/// The IVR flow and its prompts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IvrFiles {
    pub flow: PathBuf,
    pub prompts: PathBuf,
}

/// Call handling limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallConfig {
    /// Ring (180) this long before answering; 0 answers at once.
    #[serde(default)]
    pub answer_delay_ms: u64,
    /// Longest call we keep up (protects against lost BYEs).
    #[serde(default = "default_max_call")]
    pub max_call_secs: u64,
    /// Calls handled at once; more get 503.
    #[serde(default = "default_max_calls")]
    pub max_calls: usize,
    /// On SIGTERM, calls in progress may go on this long (new INVITEs get 503 with
    /// Retry-After meanwhile, so the trunk or Kamailio sends them to another node); those
    /// still up then get BYE. systemd's `TimeoutStopSec` must exceed it by ~15 s.
    #[serde(default = "default_drain")]
    pub drain_secs: u64,
    /// New calls get 503 while more writes than this wait for the case store (see
    /// `overload`): the disk is behind, and a call answered now would be answered late.
    #[serde(default = "default_max_write_backlog")]
    pub max_write_backlog: u64,
    /// New calls get 503 while the oldest write waiting for the case store has waited
    /// longer than this (ms).
    #[serde(default = "default_max_write_wait_ms")]
    pub max_write_wait_ms: u64,
    /// New calls get 503 while the runtime runs tasks this late (ms): the CPU is full, and
    /// more calls would make every call's audio late.
    #[serde(default = "default_max_runtime_lag_ms")]
    pub max_runtime_lag_ms: u64,
    /// New calls get 503 while the RTP pacer finishes its 20 ms ticks this late (ms): the
    /// calls already up would start to break up in their phones' jitter buffers.
    #[serde(default = "default_max_media_lag_ms")]
    pub max_media_lag_ms: u64,
    /// A new INVITE that waited longer than this (ms) between the kernel receiving it and
    /// the server reading it gets 503: the server is behind on its socket, and refusing the
    /// excess cheaply is what lets it catch up.
    #[serde(default = "default_max_receive_wait_ms")]
    pub max_receive_wait_ms: u64,
    /// New calls admitted per second at most (0: no cap); the excess gets 503 at once. Set
    /// it to what `bench/capacity.sh` measured this node to carry cleanly.
    #[serde(default = "default_max_calls_per_sec")]
    pub max_calls_per_sec: u32,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            answer_delay_ms: 0,
            max_call_secs: default_max_call(),
            max_calls: default_max_calls(),
            drain_secs: default_drain(),
            max_write_backlog: default_max_write_backlog(),
            max_write_wait_ms: default_max_write_wait_ms(),
            max_runtime_lag_ms: default_max_runtime_lag_ms(),
            max_media_lag_ms: default_max_media_lag_ms(),
            max_receive_wait_ms: default_max_receive_wait_ms(),
            max_calls_per_sec: default_max_calls_per_sec(),
        }
    }
}

fn default_max_write_backlog() -> u64 {
    2000
}
fn default_max_write_wait_ms() -> u64 {
    200
}
fn default_max_runtime_lag_ms() -> u64 {
    40
}
fn default_max_media_lag_ms() -> u64 {
    40
}
fn default_max_receive_wait_ms() -> u64 {
    10
}
fn default_max_calls_per_sec() -> u32 {
    1500
}

fn default_drain() -> u64 {
    30
}

fn default_max_message() -> usize {
    hotline_sip::normalize::DEFAULT_MAX_MESSAGE
}
fn default_t1() -> u64 {
    500
}
fn default_max_call() -> u64 {
    3600
}
fn default_max_calls() -> usize {
    2000
}

/// An allowed source network (address and prefix length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses "10.0.0.0/8", "::1/128" or a bare address.
    pub fn parse(s: &str) -> Result<Cidr> {
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a
            .trim()
            .parse()
            .with_context(|| format!("`{s}` is not an address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            p.trim()
                .parse::<u8>()
                .with_context(|| format!("`{s}`: bad prefix"))?
        };
        if prefix > max {
            bail!("`{s}`: prefix longer than {max}");
        }
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

impl Config {
    /// Reads and checks a config file; errors name the file and the bad field.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let mut cfg: Config =
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        let base = config_dir(path)?;
        cfg.resolve_paths(&base);
        if cfg.data.node.is_empty() {
            cfg.data.node = default_node()
                .context("data.node: not set, and this machine's hostname cannot be read or is not a valid node name: set it")
                .with_context(|| format!("in {}", path.display()))?;
        }
        // Callback tasks wait in their own queue for as long as it takes: no maximum wait.
        if !cfg.acd.queues.iter().any(|q| q.name == cfg.callbacks.queue) {
            cfg.acd.queues.push(QueueConfig {
                name: cfg.callbacks.queue.clone(),
                strategy: default_strategy(),
                min_level: 1,
                max_len: 100_000,
                max_wait_secs: None,
                widening: vec![],
            });
        }
        cfg.validate()
            .with_context(|| format!("in {}", path.display()))?;
        Ok(cfg)
    }

    /// Makes every relative path of the file absolute, taken from `base` (the config
    /// file's directory): the data directory, an SQLite database, recordings, the IVR flow
    /// and the prompts. The operator token lives in the data directory, so it follows.
    fn resolve_paths(&mut self, base: &Path) {
        self.data.dir = resolve(base, &self.data.dir);
        if let Some(r) = &self.data.recordings {
            self.data.recordings = Some(resolve(base, r));
        }
        if let Some(url) = &self.data.database {
            self.data.database = Some(resolve_sqlite_url(base, url));
        }
        self.ivr.flow = resolve(base, &self.ivr.flow);
        self.ivr.prompts = resolve(base, &self.ivr.prompts);
    }

    fn validate(&self) -> Result<()> {
        if !is_valid_node(&self.data.node) {
            bail!(
                "data.node {:?}: 1 to {MAX_NODE_LEN} letters, digits, '.', '-' or '_'",
                self.data.node
            );
        }
        if self.data.commit_window_ms > MAX_COMMIT_WINDOW_MS {
            bail!(
                "data.commit_window_ms = {}: at most {MAX_COMMIT_WINDOW_MS}",
                self.data.commit_window_ms
            );
        }
        if self.media.rtp_port_min >= self.media.rtp_port_max {
            bail!("media.rtp_port_min must be below media.rtp_port_max");
        }
        if self.media.rtp_port_max - self.media.rtp_port_min < 2 {
            bail!("media: the RTP port range needs at least two ports");
        }
        if self.trunk.numbers.is_empty() {
            bail!("trunk.numbers: list at least one number we answer (e.g. \"12345\")");
        }
        for s in &self.http.metrics_from {
            Cidr::parse(s).with_context(|| "http.metrics_from".to_string())?;
        }
        for s in &self.trunk.allowed_sources {
            Cidr::parse(s).with_context(|| "trunk.allowed_sources".to_string())?;
        }
        if self.sip.t1_ms == 0 {
            bail!("sip.t1_ms must be positive");
        }
        for (i, q) in self.acd.queues.iter().enumerate() {
            if !matches!(
                q.strategy.as_str(),
                "longest-idle" | "most-skilled" | "round-robin" | "fewest-calls"
            ) {
                bail!("acd.queues[{i}].strategy: `{}` is not longest-idle, most-skilled, round-robin or fewest-calls", q.strategy);
            }
            if !(1..=5).contains(&q.min_level) {
                bail!("acd.queues[{i}].min_level must be 1 to 5");
            }
            for (j, w) in q.widening.iter().enumerate() {
                if w.min_level.is_some_and(|l| !(1..=5).contains(&l)) {
                    bail!("acd.queues[{i}].widening[{j}].min_level must be 1 to 5");
                }
                if let Some(o) = &w.overflow_to {
                    if !self.acd.queues.iter().any(|q| &q.name == o) {
                        bail!("acd.queues[{i}].widening[{j}].overflow_to: no queue named `{o}`");
                    }
                }
            }
        }
        if self.agents.not_ready_reasons.is_empty() {
            bail!("agents.not_ready_reasons: list at least one (the default pause, e.g. break)");
        }
        for (i, r) in self.agents.not_ready_reasons.iter().enumerate() {
            let ok = !r.code.is_empty()
                && r.code.len() <= 32
                && r.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                bail!(
                    "agents.not_ready_reasons[{i}].code {:?}: 1 to 32 of a-z, 0-9, _",
                    r.code
                );
            }
            if r.name.trim().is_empty() {
                bail!("agents.not_ready_reasons[{i}].name: say what the desk shows");
            }
            if self.agents.not_ready_reasons[..i]
                .iter()
                .any(|o| o.code == r.code)
            {
                bail!(
                    "agents.not_ready_reasons[{i}].code `{}` is listed twice",
                    r.code
                );
            }
        }
        for code in [
            &self.agents.code_ready,
            &self.agents.code_not_ready,
            &self.agents.code_logout,
            &self.agents.code_listen,
            &self.agents.code_whisper,
            &self.agents.code_barge,
        ] {
            if !code.starts_with('*') || code.len() < 2 {
                bail!("agents: feature code `{code}` must start with * (e.g. *1)");
            }
        }
        if self.agents.digest_algorithms.is_empty()
            || self
                .agents
                .digest_algorithms
                .iter()
                .any(|a| !matches!(a.as_str(), "MD5" | "SHA-256"))
        {
            bail!("agents.digest_algorithms: list \"MD5\" and/or \"SHA-256\"");
        }
        if self.http.session_ttl_hours == 0 || self.http.session_ttl_hours > 24 * 30 {
            bail!("http.session_ttl_hours must be 1 to 720");
        }
        self.calendar.build(chrono_tz::UTC)?;
        let cb = &self.callbacks;
        if hotline_case::CallingHours::parse(&cb.calling_hours).is_none() {
            bail!(
                "callbacks.calling_hours: `{}` is not HH:MM-HH:MM with the start first",
                cb.calling_hours
            );
        }
        if !(1..=20).contains(&cb.max_attempts) {
            bail!("callbacks.max_attempts must be 1 to 20");
        }
        if cb.allowed_numbers.is_empty() {
            bail!("callbacks.allowed_numbers: at least one pattern, or nobody is called back");
        }
        if let Err(e) = cb.number_policy(&self.trunk.numbers) {
            bail!("callbacks.allowed_numbers / denied_numbers: {e}");
        }
        if cb.ring_secs == 0 || cb.poll_secs == 0 || cb.survey_wait_secs == 0 {
            bail!("callbacks.ring_secs, poll_secs and survey_wait_secs must be positive");
        }
        if !matches!(cb.revisit.as_str(), "agent" | "auto" | "off") {
            bail!(
                "callbacks.revisit: `{}` is not agent, auto or off",
                cb.revisit
            );
        }
        if let Some(o) = &self.trunk.outbound {
            if !matches!(o.transport.as_str(), "udp" | "tcp") {
                bail!(
                    "trunk.outbound.transport: `{}` is not udp or tcp",
                    o.transport
                );
            }
            if o.caller_id.is_empty() || !o.caller_id.bytes().all(|b| b.is_ascii_digit()) {
                bail!("trunk.outbound.caller_id: digits only (e.g. \"12345\")");
            }
            if o.username.is_some() != o.password.is_some() {
                bail!("trunk.outbound: give both username and password, or neither");
            }
            if !o.prefix.bytes().all(|b| b.is_ascii_digit()) {
                bail!("trunk.outbound.prefix: digits only");
            }
        }
        if self.agents.min_expires == 0 || self.agents.min_expires > self.agents.max_expires {
            bail!("agents.min_expires must be positive and at most agents.max_expires");
        }
        Ok(())
    }

    /// The allowed trunk networks.
    /// The networks that may read `/metrics` (`[http] metrics_from`).
    pub fn metrics_networks(&self) -> Vec<Cidr> {
        self.http
            .metrics_from
            .iter()
            .filter_map(|s| Cidr::parse(s).ok())
            .collect()
    }

    pub fn trunk_networks(&self) -> Vec<Cidr> {
        self.trunk
            .allowed_sources
            .iter()
            .filter_map(|s| Cidr::parse(s).ok())
            .collect()
    }

    /// Opens the case database, writing calls as this node's (`[data] node`); an error
    /// names it with its password hidden (the systemd unit's journal and a terminal must
    /// never show it).
    pub async fn open_store(&self) -> Result<hotline_case::CaseStore> {
        let store = hotline_case::CaseStore::open(&self.database_url())
            .await
            .with_context(|| format!("database {}", self.database_url_shown()))?;
        Ok(store
            .with_node(&self.data.node)
            .with_commit_window(std::time::Duration::from_millis(self.data.commit_window_ms)))
    }

    /// [`Config::database_url`] fit for logs and output: its password replaced by `***`.
    pub fn database_url_shown(&self) -> String {
        hotline_case::redact_password(&self.database_url())
    }

    /// The database URL, defaulting to an SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.data
            .database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data.dir.join("hotline.db").display()))
    }

    /// Where recordings are written.
    pub fn recordings_dir(&self) -> PathBuf {
        self.data
            .recordings
            .clone()
            .unwrap_or_else(|| self.data.dir.join("recordings"))
    }
}

/// The absolute directory of the config file `path` (symlinks resolved).
fn config_dir(path: &Path) -> Result<PathBuf> {
    let full = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve config path {}", path.display()))?;
    Ok(full.parent().map(Path::to_path_buf).unwrap_or(full))
}

/// `p` taken from `base` unless it is absolute; leading `.` and `..` are folded into `base`
/// (which is canonical), so `../data` from `/srv/hotline/config` is `/srv/hotline/data`.
fn resolve(base: &Path, p: &Path) -> PathBuf {
    use std::path::Component;
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let mut out = base.to_path_buf();
    let mut rest = p.components().peekable();
    while let Some(c) = rest.peek() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            _ => break,
        }
        rest.next();
    }
    out.extend(rest);
    out
}

/// An SQLite URL (`sqlite://data/hotline.db`, `sqlite:data/hotline.db?mode=rwc`) or bare
/// path with a relative file taken from `base`; other URLs (PostgreSQL, `sqlite::memory:`)
/// as they are.
fn resolve_sqlite_url(base: &Path, url: &str) -> String {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("sqlite://") {
        ("sqlite://", r)
    } else if let Some(r) = url.strip_prefix("sqlite:") {
        ("sqlite:", r)
    } else if url.contains("://") {
        return url.to_string();
    } else {
        ("", url)
    };
    let (file, query) = match rest.split_once('?') {
        Some((f, q)) => (f, format!("?{q}")),
        None => (rest, String::new()),
    };
    if file.is_empty() || file.starts_with(':') || Path::new(file).is_absolute() {
        return url.to_string();
    }
    format!(
        "{scheme}{}{query}",
        resolve(base, Path::new(file)).display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.sip.listen, "127.0.0.1:5060".parse().unwrap());
        assert!(cfg.database_url().starts_with("sqlite://"));
        // The embedded defaults keep everything under the repository's `data/`, and read
        // the repository's flow and prompts, from whatever working directory.
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .unwrap();
        assert_eq!(cfg.data.dir, repo.join("data"));
        assert_eq!(
            cfg.database_url(),
            format!("sqlite://{}", repo.join("data/hotline.db").display())
        );
        assert_eq!(cfg.recordings_dir(), repo.join("data/recordings"));
        assert_eq!(cfg.ivr.flow, repo.join("config/ivr.toml"));
        assert_eq!(cfg.ivr.prompts, repo.join("prompts/zh"));
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_files_directory() {
        let base = Path::new("/etc/hotline");
        assert_eq!(
            resolve(base, Path::new("data")),
            Path::new("/etc/hotline/data")
        );
        assert_eq!(
            resolve(base, Path::new("./data")),
            Path::new("/etc/hotline/data")
        );
        assert_eq!(
            resolve(base, Path::new("../../var/lib/h")),
            Path::new("/var/lib/h")
        );
        assert_eq!(
            resolve(base, Path::new("/var/lib/h")),
            Path::new("/var/lib/h")
        );
        for (url, want) in [
            ("sqlite://./db/h.db", "sqlite:///etc/hotline/db/h.db"),
            ("sqlite:h.db?mode=rwc", "sqlite:/etc/hotline/h.db?mode=rwc"),
            ("h.db", "/etc/hotline/h.db"),
            ("sqlite:///var/lib/h.db", "sqlite:///var/lib/h.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("postgres://u:p@db/hotline", "postgres://u:p@db/hotline"),
        ] {
            assert_eq!(resolve_sqlite_url(base, url), want, "{url}");
        }
    }

    /// `config/default.toml` changed by `edit` (which must change something), loaded from a
    /// file of its own.
    fn load_default_edited(edit: impl FnOnce(&str) -> String) -> Result<Config> {
        let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let text = std::fs::read_to_string(&default).unwrap();
        let changed = edit(&text);
        assert_ne!(
            changed, text,
            "the edit changed nothing in config/default.toml"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hotline.toml");
        std::fs::write(&path, changed).unwrap();
        Config::load(&path)
    }

    #[test]
    fn node_defaults_to_the_hostname_and_is_checked() {
        let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let with_node = |node: &str| {
            load_default_edited(|t| {
                t.replacen("[data]\n", &format!("[data]\nnode = {node:?}\n"), 1)
            })
        };
        // Not set: the machine's name, which nodes sharing a database tell apart by.
        let cfg = Config::load(&default).unwrap();
        assert_eq!(Some(cfg.data.node.clone()), default_node());
        assert!(is_valid_node(&cfg.data.node), "{:?}", cfg.data.node);
        assert_eq!(
            with_node("hotline-b.dc1").unwrap().data.node,
            "hotline-b.dc1"
        );
        for bad in ["has space", "a/b", "(none)", &"x".repeat(MAX_NODE_LEN + 1)] {
            let e = with_node(bad).expect_err(bad);
            assert!(format!("{e:#}").contains("data.node"), "{bad}: {e:#}");
        }
        assert!(is_valid_node(&"x".repeat(MAX_NODE_LEN)));
    }

    /// The commit window is read, defaults to 20 ms when left out, and a window a caller
    /// would hear is refused, naming the setting.
    #[test]
    fn commit_window_is_read_and_bounded() {
        let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let with =
            |line: &str| load_default_edited(|t| t.replacen("commit_window_ms = 20\n", line, 1));
        assert_eq!(Config::load(&default).unwrap().data.commit_window_ms, 20);
        assert_eq!(with("").unwrap().data.commit_window_ms, 20);
        assert_eq!(
            with("commit_window_ms = 0\n")
                .unwrap()
                .data
                .commit_window_ms,
            0
        );
        let e = with("commit_window_ms = 201\n").unwrap_err();
        assert!(format!("{e:#}").contains("data.commit_window_ms"), "{e:#}");
    }

    #[test]
    fn cidr_matching() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1")
            .unwrap()
            .contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("::1/128")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nonsense").is_err());
    }
}
