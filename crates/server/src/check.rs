//! `hotline check-config`: everything `serve` would refuse, found before it runs.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use hotline_ivr::IvrConfig;
use hotline_media::{Prompt, PromptStore};
use std::path::Path;

/// The configuration files as `serve` uses them.
pub struct Loaded {
    pub ivr: IvrConfig,
    pub prompts: PromptStore,
}

/// Loads the IVR flow and its prompts, checking each prompt the flow names exists and is
/// 8 kHz mono 16-bit.
pub fn load_all(cfg: &Config) -> Result<Loaded> {
    let text = std::fs::read_to_string(&cfg.ivr.flow)
        .with_context(|| format!("cannot read IVR flow {}", cfg.ivr.flow.display()))?;
    let ivr = IvrConfig::from_toml_str(&text)
        .with_context(|| format!("in {}", cfg.ivr.flow.display()))?;
    let mut prompts = PromptStore::new();
    let mut problems = Vec::new();
    for name in ivr.prompt_names() {
        let path = cfg.ivr.prompts.join(format!("{name}.wav"));
        match Prompt::from_wav(&path) {
            Ok(p) => prompts.insert(name, p),
            Err(e) => problems.push(format!("prompt `{name}`: {e}")),
        }
    }
    // Every queue the menu sends callers to must exist in the ACD: a misspelt one sends
    // every caller pressing that key to "agents busy" and voicemail.
    let queues: Vec<&str> = cfg.acd.queues.iter().map(|q| q.name.as_str()).collect();
    let mut unknown = Vec::new();
    for (key, queue) in &ivr.menu.options {
        if !queues.contains(&queue.as_str()) {
            unknown.push(format!("menu option \"{key}\" = \"{queue}\""));
        }
    }
    if !queues.contains(&ivr.menu.fallback_queue.as_str()) {
        unknown.push(format!(
            "menu.fallback_queue = \"{}\"",
            ivr.menu.fallback_queue
        ));
    }
    if !unknown.is_empty() {
        bail!(
            "{} names a queue that [acd.queues] does not have ({}): {}",
            cfg.ivr.flow.display(),
            queues.join(", "),
            unknown.join(", ")
        );
    }
    if !problems.is_empty() {
        bail!(
            "{} prompt(s) unusable (from {}):\n  {}",
            problems.len(),
            cfg.ivr.prompts.display(),
            problems.join("\n  ")
        );
    }
    Ok(Loaded { ivr, prompts })
}

/// Runs the check and prints what was found.
pub fn run(path: &Path) -> Result<()> {
    let cfg = Config::load(path)?;
    let loaded = load_all(&cfg)?;
    let (calendar, policy) = cfg.calendar.build(loaded.ivr.timezone)?;
    println!("{}: ok", path.display());
    println!(
        "  SIP {} (UDP+TCP), HTTP {}, RTP {}:{}-{}",
        cfg.sip.listen,
        cfg.http.listen,
        cfg.media.ip,
        cfg.media.rtp_port_min,
        cfg.media.rtp_port_max
    );
    println!(
        "  database {}, recordings {}, node {}",
        cfg.database_url_shown(),
        cfg.recordings_dir().display(),
        cfg.data.node
    );
    println!(
        "  IVR {} ({}), {} prompts from {}",
        cfg.ivr.flow.display(),
        loaded.ivr.timezone,
        loaded.prompts.len(),
        cfg.ivr.prompts.display()
    );
    println!(
        "  calendar {}: {} holidays, {} workday swaps; deadlines phone {} / written {} / urgent {} working days, {} category overrides",
        calendar.tz(),
        calendar.holidays().len(),
        calendar.workday_swaps().len(),
        policy.phone_days,
        policy.written_days,
        policy.urgent_days,
        policy.per_category.len()
    );
    let cb = &cfg.callbacks;
    match (&cfg.trunk.outbound, cb.enabled) {
        (Some(o), true) => println!(
            "  callbacks dialled via {} ({}) as {}, calling hours {}, {} attempts {} s apart, revisits {}",
            o.gateway, o.transport, o.caller_id, cb.calling_hours, cb.max_attempts, cb.retry_after_secs, cb.revisit
        ),
        (None, true) => println!(
            "  callbacks kept on the worklist, not dialled: no [trunk.outbound]"
        ),
        (_, false) => println!("  callbacks kept on the worklist, not dialled: callbacks.enabled = false"),
    }
    Ok(())
}
