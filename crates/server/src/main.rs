//! `hotline` — the 12345 hotline server and its command line.

mod acd;
mod call;
mod check;
mod config;
mod desk;
mod dialler;
mod endpoint;
mod http;
mod memory;
mod metrics;
mod overload;
mod recovery;
mod report_cli;
mod runtimes;
mod security;
mod status;
mod web;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use config::Config;
use hotline_case::lifecycle::{Action, DispatchMode, Role};
use hotline_case::Actor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "Hotline 12345: the city's government service hotline"
)]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, default_value = "config/default.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer calls: SIP, RTP and the HTTP API.
    Serve,
    /// Check the configuration, the IVR flow and every prompt it names.
    CheckConfig,
    /// Work orders.
    Case {
        #[command(subcommand)]
        command: CaseCommand,
    },
    /// Seated agents and their softphone credentials.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Users of the HTTP API (agents, supervisors, department handlers, admins).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Departments (承办单位): the units cases are dispatched to, in a tree of levels 1–3.
    Department {
        #[command(subcommand)]
        command: DepartmentCommand,
    },
    /// Opens the database and applies pending schema migrations.
    Migrate,
    /// Reports for the hotline's leadership.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// The callback worklist (citizens the hotline owes a call).
    Callbacks {
        #[command(subcommand)]
        command: CallbacksCommand,
    },
    /// Queues and agents of the running server, live (reads its HTTP API).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CallbacksCommand {
    /// The tasks due now, higher priority then oldest place first.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Every task, whatever its status or due time.
        #[arg(long)]
        all: bool,
        /// Only the tasks in this status, due or not (pending, in_progress, done, failed,
        /// skipped): `--status failed` lists the citizens every attempt missed.
        #[arg(long, value_parser = parse_callback_status)]
        status: Option<hotline_case::CallbackStatus>,
        /// How many (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// The daily report (每日一报) of one local day.
    Daily {
        /// The local day, YYYY-MM-DD (in the IVR's time zone); today when absent.
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Adds an agent: its extension is its SIP user name.
    Add {
        /// Extension (digits), e.g. 1001.
        extension: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Password for the softphone (digest) and the desktop.
        #[arg(long)]
        password: String,
        /// Skills with levels 1–5, e.g. "consult:5,complaint:3,agent:3".
        #[arg(long)]
        skills: String,
        /// Seconds an offered call rings before it goes back to the queue.
        #[arg(long, default_value_t = 20)]
        max_ring: u32,
        /// Seconds of wrap-up after each call.
        #[arg(long, default_value_t = 30)]
        wrap_up: u32,
    },
    /// Lists the agents.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replaces an agent's skills.
    SetSkills {
        extension: String,
        /// e.g. "consult:5,en:4".
        skills: String,
    },
    /// Removes an agent (its history is kept).
    Remove { extension: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Adds a user (e.g. the first admin).
    Add {
        /// Login name: 1 to 64 of a-z, 0-9, '.', '_', '-'.
        username: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// agent, supervisor, department_handler or admin.
        #[arg(long)]
        role: String,
        /// At least 8 characters; only a hash is kept.
        #[arg(long)]
        password: String,
        /// The department (code) of a department handler.
        #[arg(long)]
        department: Option<String>,
        /// The seated agent's extension this agent (or supervisor) works at: an agent may
        /// change only that agent's state.
        #[arg(long)]
        extension: Option<String>,
    },
    /// Lists the users.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DepartmentCommand {
    /// Adds a department: a level 1 unit, or one below its parent (`--parent CODE`).
    Add {
        /// Short unique code: 1 to 64 of a-z, 0-9, '.', '_', '-' (e.g. housing).
        code: String,
        /// Display name (e.g. 市住建局).
        #[arg(long)]
        name: String,
        /// 1 (一级), 2 (二级) or 3 (三级).
        #[arg(long, default_value_t = 1)]
        level: u8,
        /// The code of the unit above it (levels 2 and 3).
        #[arg(long)]
        parent: Option<String>,
    },
    /// Lists the departments as a tree.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CaseCommand {
    /// One work order with its calls, recordings and audit trail.
    Show {
        /// The ticket number (digits).
        ticket: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The newest work orders.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also the calls that made no request (a status query, a hang-up in the IVR or
        /// the queue): rows with a ticket that are not work orders.
        #[arg(long)]
        all: bool,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Dispatches a case to a department (转办), which owes a reply by a deadline.
    Dispatch {
        ticket: String,
        /// The department's code.
        #[arg(long)]
        department: String,
        /// phone (3 working days by default), written (7) or urgent (same day).
        #[arg(long, default_value = "phone")]
        mode: String,
        /// Act as this user (its role decides what is allowed); default: `cli`, a supervisor.
        #[arg(long = "as")]
        as_user: Option<String>,
    },
    /// Records a department's reply (办结).
    Reply {
        ticket: String,
        /// The result.
        #[arg(long)]
        result: String,
        /// Act as this user (a handler of the case's department, or a supervisor).
        #[arg(long = "as")]
        as_user: String,
    },
    /// Closes a case.
    Close {
        ticket: String,
        /// Why (required except after a satisfied revisit).
        #[arg(long)]
        note: Option<String>,
        /// Act as this user; default: `cli`, a supervisor.
        #[arg(long = "as")]
        as_user: Option<String>,
    },
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig => check::run(&cli.config),
        Command::Serve => runtime()?.block_on(serve(&cli.config)),
        Command::Case { command } => runtime()?.block_on(case(&cli.config, command)),
        Command::Agent { command } => runtime()?.block_on(agent(&cli.config, command)),
        Command::User { command } => runtime()?.block_on(user(&cli.config, command)),
        Command::Department { command } => runtime()?.block_on(department(&cli.config, command)),
        Command::Migrate => runtime()?.block_on(migrate(&cli.config)),
        Command::Report {
            command: ReportCommand::Daily { date, json },
        } => runtime()?.block_on(report_cli::daily(&cli.config, date, json)),
        Command::Callbacks {
            command:
                CallbacksCommand::List {
                    json,
                    all,
                    status,
                    limit,
                },
        } => runtime()?.block_on(callbacks_list(&cli.config, json, all, status, limit)),
        Command::Status { json } => runtime()?.block_on(status::run(&cli.config, json)),
    }
}

async fn department(path: &Path, cmd: DepartmentCommand) -> Result<()> {
    let cfg = Config::load(path)?;
    let store = cfg.open_store().await?;
    match cmd {
        DepartmentCommand::Add {
            code,
            name,
            level,
            parent,
        } => {
            let d = store
                .add_department(
                    hotline_case::NewDepartment {
                        code,
                        name,
                        parent,
                        level,
                    },
                    chrono::Utc::now(),
                )
                .await?;
            println!(
                "added department {} ({}), level {}{}",
                d.code,
                d.name,
                d.level,
                d.parent.map(|p| format!(" under {p}")).unwrap_or_default()
            );
        }
        DepartmentCommand::List { json } => {
            let all = store.departments().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                print_tree(&all, None, 0);
            }
        }
    }
    Ok(())
}

/// The departments below `parent` (the top level for `None`), indented by depth.
fn print_tree(all: &[hotline_case::Department], parent: Option<&str>, depth: usize) {
    for d in all.iter().filter(|d| d.parent.as_deref() == parent) {
        let inactive = if d.active { "" } else { " (inactive)" };
        println!(
            "{}{}  {}  level {}{inactive}",
            "  ".repeat(depth),
            d.code,
            d.name,
            d.level
        );
        print_tree(all, Some(&d.code), depth + 1);
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(runtimes::calls()?)
}

async fn serve(path: &Path) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cfg = Config::load(path)?;
    // First, before the database and the listeners take any: descriptors for calls,
    // then connection caps that fit in what is left.
    let fds = endpoint::budget_descriptors(&cfg);
    match endpoint::grow_descriptor_table(&fds) {
        Ok(slots) => tracing::info!(slots, "descriptor table grown"),
        Err(e) => tracing::warn!(error = %e, "cannot grow the descriptor table at start"),
    }
    let sip_tcp = endpoint::tcp_limits(&cfg, &fds);
    let http_limits = http::HttpLimits::new(&cfg.http.connections, fds.http);
    let loaded = check::load_all(&cfg)?;
    std::fs::create_dir_all(cfg.recordings_dir())
        .with_context(|| format!("cannot create {}", cfg.recordings_dir().display()))?;
    let store = cfg
        .open_store()
        .await?
        .with_callback_attempts(cfg.callbacks.max_attempts)
        .with_callback_numbers(cfg.callbacks.number_policy(&cfg.trunk.numbers)?);
    // Before any call is accepted: what a crash left (open calls, recordings without a
    // row, voicemails never marked) is repaired, so no citizen is lost.
    recovery::recover(
        &store,
        &cfg.recordings_dir(),
        loaded.ivr.timezone,
        Duration::from_secs(loaded.ivr.voicemail.min_secs),
    )
    .await
    .context("crash recovery")?;
    let sip_listen = cfg.sip.listen;
    let advertised = cfg.sip.advertised;
    let max_message = cfg.sip.max_message_bytes;
    let t1 = Duration::from_millis(cfg.sip.t1_ms);
    let http_listen = cfg.http.listen;
    let data_dir = cfg.data.dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let calendar = cfg.calendar.build(loaded.ivr.timezone)?;
    let ctx = Arc::new(call::Ctx::new(
        cfg,
        store,
        loaded.prompts,
        loaded.ivr,
        calendar,
    ));
    // Phones registered before a restart are rung at once, not after they re-register.
    ctx.desk.restore_registrations().await;
    let calls = call::Calls::new(ctx);
    memory::spawn(calls.clone());
    let ep = endpoint::start(
        sip_listen,
        advertised,
        max_message,
        t1,
        sip_tcp,
        calls.clone(),
    )
    .await
    .with_context(|| format!("SIP on {sip_listen}"))?;
    dialler::Dialler::start(calls.clone(), ep.clone()).await;
    let listener = std::net::TcpListener::bind(http_listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .with_context(|| format!("HTTP on {http_listen}"))?;
    tracing::info!(%http_listen, "HTTP API listening");
    let operator = http::OperatorToken::create(&data_dir).with_context(|| {
        format!(
            "cannot write the operator token into {}",
            data_dir.display()
        )
    })?;
    // `http::serve` puts the client's `ConnectInfo<SocketAddr>` on every request.
    let app = http::router(calls.clone(), ep, operator);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch for SIGTERM")?;
    // Pages on their own threads, apart from the call plane's one worker (`runtimes`).
    let http_rt = runtimes::Http::start().context("cannot start the HTTP runtime")?;
    let server = http_rt.spawn(async move {
        http::serve(
            tokio::net::TcpListener::from_std(listener)?,
            app,
            http_limits,
        )
        .await
    });
    tokio::select! {
        r = server => r.context("HTTP server stopped")?.context("HTTP server")?,
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
        _ = term.recv() => tracing::info!("SIGTERM; stopping"),
    }
    // Calls finish or are hung up, not cut: BYE to every leg, recordings finalized, rows
    // closed.
    let drain = std::time::Duration::from_secs(calls.ctx.cfg.calls.drain_secs);
    let left = calls.shutdown(drain, SHUTDOWN_GRACE).await;
    if left > 0 {
        tracing::warn!(calls = left, "stopped with calls still ending");
    }
    // Only now: a page's database connection may be one the calls used too.
    drop(http_rt);
    tracing::info!("stopped");
    Ok(())
}

/// How long a stopping server waits for its calls to hang up and write their recordings
/// and rows (systemd's default stop timeout is 90 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn parse_callback_status(s: &str) -> Result<hotline_case::CallbackStatus, String> {
    hotline_case::CallbackStatus::parse(s)
        .ok_or_else(|| format!("`{s}` is not pending, in_progress, done, failed or skipped"))
}

async fn callbacks_list(
    path: &Path,
    json: bool,
    all: bool,
    status: Option<hotline_case::CallbackStatus>,
    limit: u32,
) -> Result<()> {
    let cfg = Config::load(path)?;
    let store = cfg.open_store().await?;
    let tasks = if let Some(st) = status {
        store.callback_tasks_with_status(st, limit).await?
    } else if all {
        store.callback_tasks(limit).await?
    } else {
        store.callback_worklist(chrono::Utc::now(), limit).await?
    };
    store.close().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&tasks)?);
    } else if tasks.is_empty() {
        println!("no callback tasks");
    } else {
        for t in tasks {
            println!(
                "{:<6} {}  {:<18} {:<11} {:<18} {:<5} {}/{}  due {}  place {}",
                t.id,
                t.ticket,
                t.number,
                t.status.as_str(),
                t.reason.as_str(),
                t.mode.as_str(),
                t.attempts,
                t.max_attempts,
                t.next_attempt_at.to_rfc3339(),
                t.place_at.to_rfc3339(),
            );
        }
    }
    Ok(())
}

async fn case(path: &Path, cmd: CaseCommand) -> Result<()> {
    let cfg = Config::load(path)?;
    let store = cfg.open_store().await?;
    match cmd {
        CaseCommand::Show { ticket, json } => {
            let Some(c) = store.case_by_ticket(&ticket).await? else {
                anyhow::bail!("no case with ticket `{ticket}`");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                let k = &c.case;
                println!(
                    "ticket   {}\nstatus   {}\nchannel  {}\ncaller   {}\ncreated  {}",
                    k.ticket,
                    k.status.as_str(),
                    k.channel.as_str(),
                    k.caller_number,
                    k.created_at
                );
                for call in &c.calls {
                    println!(
                        "call     {} from {} to {}, answered {}, ended {} ({}), path {}",
                        call.sip_call_id,
                        call.caller_number,
                        call.called_number,
                        call.answered_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "-".into()),
                        call.ended_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "-".into()),
                        call.hangup_cause.as_deref().unwrap_or("-"),
                        call.ivr_path.as_deref().unwrap_or("-"),
                    );
                }
                for r in &c.recordings {
                    println!(
                        "record   {} {} ms, {} bytes: {}",
                        r.kind.as_str(),
                        r.duration_ms,
                        r.bytes,
                        cfg.recordings_dir().join(&r.path).display()
                    );
                }
                for e in &c.events {
                    println!("event    {} {} {}", e.at, e.actor, e.event);
                }
            }
        }
        CaseCommand::List { json, all, limit } => {
            let mut cases = store.list_cases(limit).await?;
            if all {
                let q = hotline_case::CaseQuery {
                    status: Some(hotline_case::lifecycle::CaseState::NoRequest),
                    limit,
                    ..Default::default()
                };
                cases.extend(store.search_cases(&q).await?);
                cases.sort_by_key(|c| std::cmp::Reverse(c.id.0));
                cases.truncate(limit as usize);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&cases)?);
            } else {
                for k in cases {
                    println!(
                        "{}  {:<16} {:<8} {}  {}",
                        k.ticket,
                        k.status.as_str(),
                        k.channel.as_str(),
                        k.caller_number,
                        k.created_at
                    );
                }
            }
        }
        CaseCommand::Dispatch {
            ticket,
            department,
            mode,
            as_user,
        } => {
            let mode = DispatchMode::parse(&mode)
                .with_context(|| format!("--mode `{mode}`: use phone, written or urgent"))?;
            let action = Action::Dispatch { department, mode };
            transition(&cfg, &store, &ticket, action, as_user.as_deref()).await?;
        }
        CaseCommand::Reply {
            ticket,
            result,
            as_user,
        } => {
            let action = Action::Reply { result };
            transition(&cfg, &store, &ticket, action, Some(&as_user)).await?;
        }
        CaseCommand::Close {
            ticket,
            note,
            as_user,
        } => {
            let action = Action::Close { note };
            transition(&cfg, &store, &ticket, action, as_user.as_deref()).await?;
        }
    }
    Ok(())
}

/// Who the CLI acts as: `--as USER` (an enabled user, with its role), or else `cli`
/// with the supervisor's role (whoever can run the binary on the server can read its
/// database anyway).
async fn cli_actor(store: &hotline_case::CaseStore, as_user: Option<&str>) -> Result<Actor> {
    let Some(name) = as_user else {
        return Ok(Actor::new("cli", Role::Supervisor));
    };
    let users = store.users().await?;
    let u = users
        .iter()
        .find(|u| u.username == name)
        .with_context(|| format!("--as {name}: no such user"))?;
    anyhow::ensure!(!u.disabled, "--as {name}: the user is disabled");
    Ok(Actor::new(u.username.clone(), u.role))
}

/// The working calendar in the IVR flow's time zone, as `serve` builds it.
fn calendar_of(
    cfg: &Config,
) -> Result<(
    hotline_case::calendar::WorkCalendar,
    hotline_case::calendar::DeadlinePolicy,
)> {
    let text = std::fs::read_to_string(&cfg.ivr.flow)
        .with_context(|| format!("cannot read IVR flow {}", cfg.ivr.flow.display()))?;
    let ivr = hotline_ivr::IvrConfig::from_toml_str(&text)
        .with_context(|| format!("in {}", cfg.ivr.flow.display()))?;
    cfg.calendar.build(ivr.timezone)
}

async fn transition(
    cfg: &Config,
    store: &hotline_case::CaseStore,
    ticket: &str,
    action: Action,
    as_user: Option<&str>,
) -> Result<()> {
    let actor = cli_actor(store, as_user).await?;
    let (calendar, policy) = calendar_of(cfg)?;
    let event = action.kind().event();
    let c = store
        .transition(
            ticket,
            action,
            &actor,
            &calendar,
            &policy,
            chrono::Utc::now(),
        )
        .await?;
    println!(
        "case {}: {} by {} ({}), now {}{}",
        c.case.ticket,
        event,
        actor.user,
        actor.role,
        c.case.status,
        c.case
            .deadline
            .map(|d| format!(", due {}", d.with_timezone(&calendar.tz())))
            .unwrap_or_default()
    );
    Ok(())
}

async fn user(path: &Path, cmd: UserCommand) -> Result<()> {
    let cfg = Config::load(path)?;
    let store = cfg.open_store().await?;
    match cmd {
        UserCommand::Add {
            username,
            name,
            role,
            password,
            department,
            extension,
        } => {
            let role = Role::ALL
                .into_iter()
                .find(|r| r.as_str() == role && *r != Role::System)
                .with_context(|| {
                    format!("--role `{role}`: use agent, supervisor, department_handler or admin")
                })?;
            let u = store
                .add_user(
                    hotline_case::NewUser {
                        username,
                        name,
                        role,
                        department,
                        extension,
                        password,
                    },
                    chrono::Utc::now(),
                )
                .await?;
            println!(
                "added user {} ({}), {}{}{}",
                u.username,
                u.name,
                u.role,
                u.department.map(|d| format!(" of {d}")).unwrap_or_default(),
                u.extension.map(|e| format!(" at {e}")).unwrap_or_default()
            );
        }
        UserCommand::List { json } => {
            let users = store.users().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                for u in users {
                    println!(
                        "{:<20} {:<20} {:<18} {:<16}{}",
                        u.username,
                        u.name,
                        u.role.as_str(),
                        u.department.as_deref().unwrap_or("-"),
                        if u.disabled { " disabled" } else { "" }
                    );
                }
            }
        }
    }
    Ok(())
}

async fn migrate(path: &Path) -> Result<()> {
    let cfg = Config::load(path)?;
    let store = cfg.open_store().await?;
    println!(
        "{} database is up to date (migrations of hotline {} applied)",
        store.backend_name(),
        env!("CARGO_PKG_VERSION")
    );
    store.close().await;
    Ok(())
}

async fn agent(path: &Path, cmd: AgentCommand) -> Result<()> {
    use hotline_case::{NewAgent, Skill};
    let cfg = Config::load(path)?;
    let store = cfg.open_store().await?;
    match cmd {
        AgentCommand::Add {
            extension,
            name,
            password,
            skills,
            max_ring,
            wrap_up,
        } => {
            let skills = Skill::parse_list(&skills).context("--skills")?;
            let a = store
                .add_agent(
                    NewAgent {
                        extension,
                        name,
                        password,
                        skills,
                        max_ring_secs: max_ring,
                        wrap_up_secs: wrap_up,
                    },
                    &cfg.agents.realm,
                    chrono::Utc::now(),
                )
                .await?;
            println!(
                "added agent {} ({}), skills {}",
                a.extension,
                a.name,
                skills_text(&a.skills)
            );
        }
        AgentCommand::List { json } => {
            let agents = store.list_agents().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&agents)?);
            } else {
                for a in agents {
                    println!(
                        "{:<8} {:<20} ring {:>3}s  wrap-up {:>3}s  {}",
                        a.extension,
                        a.name,
                        a.max_ring_secs,
                        a.wrap_up_secs,
                        skills_text(&a.skills)
                    );
                }
            }
        }
        AgentCommand::SetSkills { extension, skills } => {
            let skills = Skill::parse_list(&skills).context("skills")?;
            let a = store
                .set_skills(&extension, skills, chrono::Utc::now())
                .await?;
            println!(
                "agent {} skills {} (used from its next *1 / ready)",
                a.extension,
                skills_text(&a.skills)
            );
        }
        AgentCommand::Remove { extension } => {
            store.remove_agent(&extension, chrono::Utc::now()).await?;
            println!("removed agent {extension}");
        }
    }
    Ok(())
}

fn skills_text(skills: &[hotline_case::Skill]) -> String {
    skills
        .iter()
        .map(|s| format!("{}:{}", s.name, s.level))
        .collect::<Vec<_>>()
        .join(",")
}
