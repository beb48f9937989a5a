//! The command line as an operator meets it: `check-config` finds bad prompts and bad
//! fields and names them; `case` commands on an empty database.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Writes a config whose paths point into `dir` (prompts copied there so tests can break them).
fn config(dir: &Path, extra: &str) -> PathBuf {
    let prompts = dir.join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    for e in std::fs::read_dir(repo().join("prompts/zh")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), prompts.join(e.file_name())).unwrap();
    }
    let text = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\n[media]\nip = \"127.0.0.1\"\nrtp_port_min = 31000\nrtp_port_max = 31010\n\
[http]\nlisten = \"127.0.0.1:0\"\n[data]\ndir = \"{d}/data\"\n[trunk]\nallowed_sources = [\"127.0.0.1/32\"]\nnumbers = [\"12345\"]\n\
[ivr]\nflow = \"{r}/config/ivr.toml\"\nprompts = \"{p}\"\n{extra}",
        d = dir.display(),
        r = repo().display(),
        p = prompts.display()
    );
    let path = dir.join("hotline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn hotline(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn shipped_config_checks_ok() {
    let (ok, out) = hotline(&["check-config"]);
    assert!(ok, "{out}");
    let shipped = std::fs::read_dir(repo().join("prompts/zh"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "wav")
        })
        .count();
    assert!(
        out.contains(&format!("{shipped} prompts")),
        "every shipped prompt is named by the flow and loaded: {out}"
    );
}

#[test]
fn missing_and_misformatted_prompts_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    std::fs::remove_file(dir.path().join("prompts/menu.wav")).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.path().join("prompts/goodbye.wav"), spec).unwrap();
    for _ in 0..1600 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let (ok, out) = hotline(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("prompt `menu`"), "{out}");
    assert!(
        out.contains("prompt `goodbye`") && out.contains("16000"),
        "{out}"
    );
}

#[test]
fn bad_fields_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("rtp_port_max = 31010", "rtp_port_max = 30000");
    std::fs::write(&cfg, text).unwrap();
    let (ok, out) = hotline(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("media.rtp_port_min"), "{out}");
    let cfg2 = config(dir.path(), "[calls]\nmax_call_secs = \"long\"\n");
    let (ok, out) = hotline(&["check-config", "--config", cfg2.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("max_call_secs"), "{out}");
}

#[test]
fn case_commands_on_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let (ok, out) = hotline(&["case", "list", "--json", "--config", cfg.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "[]");
    let (ok, out) = hotline(&[
        "case",
        "show",
        "2026010100001",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(out.contains("no case with ticket `2026010100001`"), "{out}");
}

#[test]
fn agent_commands_manage_agents_without_exposing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let c = cfg.to_str().unwrap();
    let (ok, out) = hotline(&[
        "agent",
        "add",
        "1001",
        "--name",
        "Wang Fang",
        "--password",
        "s3cret-1001",
        "--skills",
        "consult:5, complaint:3",
        "--config",
        c,
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("complaint:3,consult:5"), "{out}");
    let (ok, out) = hotline(&[
        "agent",
        "add",
        "1001",
        "--name",
        "X",
        "--password",
        "p",
        "--skills",
        "consult:1",
        "--config",
        c,
    ]);
    assert!(!ok, "a second 1001 must be refused: {out}");
    let (ok, out) = hotline(&[
        "agent",
        "add",
        "1002",
        "--name",
        "Li",
        "--password",
        "p",
        "--skills",
        "consult:9",
        "--config",
        c,
    ]);
    assert!(
        !ok && out.contains("consult:9"),
        "the bad skill is named: {out}"
    );
    let (ok, out) = hotline(&["agent", "set-skills", "1001", "en:4,agent:2", "--config", c]);
    assert!(ok && out.contains("agent:2,en:4"), "{out}");
    let (ok, out) = hotline(&["agent", "list", "--json", "--config", c]);
    assert!(ok, "{out}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["extension"], "1001");
    assert_eq!(list[0]["skills"].as_array().unwrap().len(), 2);
    assert!(
        !out.contains("s3cret") && !out.contains("ha1") && !out.contains("argon2"),
        "no secrets in listings: {out}"
    );
    let (ok, out) = hotline(&["agent", "remove", "1001", "--config", c]);
    assert!(ok, "{out}");
    let (_, out) = hotline(&["agent", "list", "--json", "--config", c]);
    assert_eq!(out.trim(), "[]");
    let (ok, out) = hotline(&["agent", "remove", "1001", "--config", c]);
    assert!(!ok, "removing twice is an error: {out}");
}

#[test]
fn daily_report_of_an_empty_day() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let c = cfg.to_str().unwrap();
    let (ok, out) = hotline(&[
        "report",
        "daily",
        "--date",
        "2026-01-05",
        "--json",
        "--config",
        c,
    ]);
    assert!(ok, "{out}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["day"], "2026-01-05");
    assert_eq!(r["time_zone"], "Asia/Shanghai");
    assert_eq!(r["calls"]["offered"], 0);
    assert!(
        r["calls"]["answer_rate"].is_null(),
        "no denominator, no rate: {out}"
    );
    let (ok, out) = hotline(&["report", "daily", "--date", "2026-01-05", "--config", c]);
    assert!(ok && out.contains("接通率"), "{out}");
    let (ok, out) = hotline(&["report", "daily", "--date", "2026-13-05", "--config", c]);
    assert!(
        !ok && out.contains("2026-13-05"),
        "the bad date is named: {out}"
    );
}

/// The finding: `check-config` and start-up errors printed `postgres://hotline:S3cretPW@…`
/// (the systemd unit runs check-config before each start: the password landed in the
/// journal). Passwords never reach output or errors.
#[test]
fn secrets_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[trunk.outbound]\ngateway = \"127.0.0.1:9\"\nusername = \"hotline\"\npassword = \"TrunkPW9\"\n",
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "/data\"\n",
        "/data\"\ndatabase = \"postgres://hotline:S3cretPW@127.0.0.1:1/hotline\"\n",
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let cfg = cfg.to_str().unwrap();
    let (ok, out) = hotline(&["check-config", "--config", cfg]);
    assert!(ok, "{out}");
    assert!(
        out.contains("postgres://hotline:***@127.0.0.1:1/hotline"),
        "{out}"
    );
    // A command that opens the (unreachable) database fails, naming it without the password.
    let (ok, err) = hotline(&["case", "list", "--config", cfg]);
    assert!(!ok, "{err}");
    assert!(err.contains("hotline:***@"), "{err}");
    for out in [out, err] {
        assert!(
            !out.contains("S3cretPW") && !out.contains("TrunkPW9"),
            "{out}"
        );
    }
}

/// The finding: check-config passed a menu option naming a queue that does not exist
/// (`"3" = "enterprize"`): every caller pressing 3 heard "agents busy" and voicemail.
#[test]
fn a_menu_option_naming_no_queue_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let flow = std::fs::read_to_string(repo().join("config/ivr.toml"))
        .unwrap()
        .replace("\"3\" = \"enterprise\"", "\"3\" = \"enterprize\"");
    assert!(flow.contains("enterprize"));
    let flow_path = dir.path().join("ivr.toml");
    std::fs::write(&flow_path, flow).unwrap();
    let cfg = config(dir.path(), "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("{}/config/ivr.toml", repo().display()),
        &flow_path.display().to_string(),
    );
    std::fs::write(&cfg, text).unwrap();
    let (ok, out) = hotline(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(out.contains("menu option \"3\" = \"enterprize\""), "{out}");
}

/// The finding: the README's bootstrap (`hotline user add wang … --department housing`)
/// failed, no CLI added departments. The README's block is run here line by line, as a
/// newcomer would, with `…` as the password.
#[test]
fn the_readme_bootstrap_commands_work() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = readme
        .split("bootstrap the first admin from the CLI:")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("the bootstrap block in README.md");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let mut ran = 0;
    for line in block.lines() {
        let command = line.split("   #").next().unwrap().trim();
        let Some(rest) = command.strip_prefix("hotline ") else {
            continue;
        };
        let mut args = split_args(&rest.replace('…', "password-1"));
        args.push("--config".into());
        args.push(cfg.to_str().unwrap().into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out) = hotline(&args);
        assert!(ok, "`{command}` failed:\n{out}");
        ran += 1;
    }
    assert!(ran >= 8, "only {ran} commands in the block:\n{block}");
    let (ok, tree) = hotline(&["department", "list", "--config", cfg.to_str().unwrap()]);
    assert!(ok, "{tree}");
    assert!(
        tree.contains("housing") && tree.contains("  housing.east"),
        "{tree}"
    );
    let (_, users) = hotline(&["user", "list", "--json", "--config", cfg.to_str().unwrap()]);
    assert!(users.contains("\"extension\": \"1001\""), "{users}");
}

/// Splits a shell command line on spaces, honouring '…' and "…" quotes (enough for the
/// README's lines).
fn split_args(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (None, ' ') => {
                if started || !cur.is_empty() {
                    args.push(std::mem::take(&mut cur));
                }
                started = false;
            }
            (None, c) => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started || !cur.is_empty() {
        args.push(cur);
    }
    args
}

/// Runs `hotline <args>` from the working directory `cwd`.
fn hotline_in(cwd: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The finding (issue 10): `hotline user list --config /etc/hotline/hotline.toml` run from
/// the operator's home made an empty `./data/hotline.db` there and answered "no case", "no
/// user": relative paths in the config were taken from the working directory. They are the
/// config file's directory's now, whatever the working directory.
#[test]
fn relative_paths_are_the_config_files_not_the_working_directorys() {
    let etc = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(etc.path().join("prompts")).unwrap();
    for e in std::fs::read_dir(repo().join("prompts/zh")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), etc.path().join("prompts").join(e.file_name())).unwrap();
    }
    std::fs::copy(repo().join("config/ivr.toml"), etc.path().join("ivr.toml")).unwrap();
    let cfg = etc.path().join("hotline.toml");
    std::fs::write(
        &cfg,
        "[sip]\nlisten = \"127.0.0.1:0\"\n[media]\nip = \"127.0.0.1\"\nrtp_port_min = 31000\nrtp_port_max = 31010\n\
[http]\nlisten = \"127.0.0.1:0\"\n[data]\ndir = \"./state\"\n[trunk]\nallowed_sources = [\"127.0.0.1/32\"]\nnumbers = [\"12345\"]\n\
[ivr]\nflow = \"ivr.toml\"\nprompts = \"prompts\"\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    // The operator bootstraps from /etc/hotline…
    let (ok, out) = hotline_in(
        etc.path(),
        &[
            "department",
            "add",
            "housing",
            "--name",
            "市住建局",
            "--level",
            "1",
            "--config",
            c,
        ],
    );
    assert!(ok, "{out}");
    assert!(etc.path().join("state/hotline.db").is_file());
    // …and works from home the next day.
    let (ok, out) = hotline_in(home.path(), &["department", "list", "--config", c]);
    assert!(
        ok && out.contains("housing"),
        "the config's database: {out}"
    );
    let (ok, out) = hotline_in(
        home.path(),
        &[
            "user",
            "add",
            "root",
            "--name",
            "Admin",
            "--role",
            "admin",
            "--password",
            "password-1",
            "--config",
            c,
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = hotline_in(etc.path(), &["user", "list", "--json", "--config", c]);
    assert!(
        ok && out.contains("\"root\""),
        "one database from anywhere: {out}"
    );
    let (ok, out) = hotline_in(
        home.path(),
        &[
            "report",
            "daily",
            "--date",
            "2026-01-05",
            "--json",
            "--config",
            c,
        ],
    );
    assert!(
        ok && out.contains("Asia/Shanghai"),
        "the config's IVR flow: {out}"
    );
    let (ok, out) = hotline_in(home.path(), &["check-config", "--config", c]);
    assert!(ok, "{out}");
    let state = etc.path().join("state").canonicalize().unwrap();
    assert!(
        out.contains(&format!("{}/hotline.db", state.display()))
            && out.contains(&format!("recordings {}/recordings", state.display())),
        "check-config names the database and recordings it uses, in full: {out}"
    );
    let (ok, out) = hotline_in(home.path(), &["case", "list", "--json", "--config", c]);
    assert!(ok && out.trim() == "[]", "{out}");
    assert!(
        !home.path().join("data").exists() && !home.path().join("state").exists(),
        "nothing written in the working directory"
    );
}

/// `hotline report daily`: every part of the report (calls, hours, agents, callbacks,
/// work orders) in the JSON and in the tables, with no rate where nothing was counted.
/// The figures themselves are checked on a real day by the e2e test `report`.
#[test]
fn daily_report_has_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let c = cfg.to_str().unwrap();
    let args = ["report", "daily", "--date", "2026-01-05", "--config", c];
    let (ok, out) = hotline(&[&args[..], &["--json"]].concat());
    assert!(ok, "{out}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let calls = &r["calls"];
    for k in [
        "received", "ivr_only", "offered", "queued", "answered", "missed",
    ] {
        assert_eq!(calls[k], 0, "{k}: {out}");
    }
    assert!(calls["answer_rate"].is_null() && calls["service_level"].is_null());
    let hours = r["hours"].as_array().expect("hours");
    assert_eq!(hours.len(), 24);
    for (i, h) in hours.iter().enumerate() {
        assert_eq!(h["hour"], i, "{h}");
        assert_eq!(
            (h["offered"].as_i64(), h["answered"].as_i64()),
            (Some(0), Some(0))
        );
    }
    assert_eq!(r["agents"], serde_json::json!([]));
    assert_eq!(r["callbacks"]["attempts"], 0);
    assert_eq!(r["callbacks"]["tasks_done"], 0);
    let k = &r["cases"];
    assert_eq!(
        (k["resolved"].as_i64(), k["reply_events"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (k["revisited"].as_i64(), k["revisit_events"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(k["satisfaction_rate"].is_null(), "{out}");
    // The OpenAPI document describes exactly these fields.
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("crates/server/openapi.json")).unwrap(),
    )
    .unwrap();
    let schema = &doc["components"]["schemas"]["DailyReport"];
    same_fields(schema, &r, "DailyReport");
    let with_rows =
        serde_json::json!({ "hour": 0, "offered": 0, "answered": 0, "abandoned": 0, "missed": 0 });
    same_fields(
        &schema["properties"]["hours"]["items"],
        &with_rows,
        "hours[]",
    );

    let (ok, out) = hotline(&args);
    assert!(ok, "{out}");
    for part in [
        "12345 daily report 每日一报 2026-01-05 (Asia/Shanghai)",
        "Calls 话务",
        "By hour 分时段",
        "Agents 坐席",
        "Callbacks 回拨",
        "Work orders 工单 (per case)",
        "answer rate 接通率 (answered / offered)",
        "satisfaction 满意率 (latest verdict)",
    ] {
        assert!(out.contains(part), "no {part:?} in:\n{out}");
    }
}

/// The `[Service]` settings of a unit file, in order (`key`, `value`).
fn unit_settings(unit: &str) -> Vec<(String, String)> {
    let mut section = "";
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]" && !line.starts_with('#') {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    out
}

/// Whether `path` is writable under the unit's `ProtectSystem=strict`: below one of its
/// `ReadWritePaths` or a `StateDirectory` (/var/lib/NAME).
fn writable_in_unit(settings: &[(String, String)], path: &Path) -> bool {
    let mut roots: Vec<PathBuf> = Vec::new();
    for (k, v) in settings {
        for item in v.split_whitespace() {
            match k.as_str() {
                "ReadWritePaths" => roots.push(PathBuf::from(item.trim_start_matches(['-', '+']))),
                "StateDirectory" => roots.push(Path::new("/var/lib").join(item)),
                _ => {}
            }
        }
    }
    roots.iter().any(|r| path.starts_with(r))
}

/// The finding (issue 10): `deploy/hotline.service` ran `hotline … --config
/// /etc/hotline/config/production.toml`, a file nothing provided. `deploy/production.toml`
/// is that file: the unit's install comment puts it there, its ExecStartPre check passes on
/// it, everything it writes is writable under `ProtectSystem=strict`, and `systemd-analyze
/// verify` finds nothing to say about the unit (ExecStart pointed at the built binary).
#[test]
fn the_systemd_unit_runs_the_shipped_production_config() {
    let unit = std::fs::read_to_string(repo().join("deploy/hotline.service")).unwrap();
    let settings = unit_settings(&unit);
    let get = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let installed = "/etc/hotline/config/production.toml";
    let (start, pre) = (get("ExecStart"), get("ExecStartPre"));
    assert_eq!(start.len(), 1, "{unit}");
    assert!(
        start[0].ends_with(&format!("serve --config {installed}")),
        "{unit}"
    );
    assert!(
        pre.iter()
            .any(|p| p.ends_with(&format!("check-config --config {installed}"))),
        "the unit checks its config before each start: {unit}"
    );
    assert!(
        unit.lines().any(|l| l.starts_with('#')
            && l.contains("deploy/production.toml")
            && l.contains(installed)),
        "the install comment copies deploy/production.toml to {installed}: {unit}"
    );
    assert_eq!(get("ProtectSystem"), ["strict"], "{unit}");

    // The ExecStartPre check, on the shipped file, from elsewhere (as systemd runs it).
    let shipped = repo().join("deploy/production.toml");
    let elsewhere = tempfile::tempdir().unwrap();
    let (ok, out) = hotline_in(
        elsewhere.path(),
        &["check-config", "--config", shipped.to_str().unwrap()],
    );
    assert!(
        ok,
        "hotline check-config --config deploy/production.toml: {out}"
    );
    assert!(
        out.contains("database postgres://"),
        "production is PostgreSQL: {out}"
    );
    assert!(
        !out.contains("CHANGE-ME"),
        "the password is not printed: {out}"
    );

    // What the node writes: the data directory (operator token, SQLite if any) and the
    // recordings (default: under it).
    let cfg: toml::Value = std::fs::read_to_string(&shipped).unwrap().parse().unwrap();
    let data = &cfg["data"];
    let dir = PathBuf::from(data["dir"].as_str().unwrap());
    assert!(
        dir.is_absolute(),
        "the data directory is absolute: {}",
        dir.display()
    );
    let mut written = vec![dir.clone()];
    written.push(
        data.get("recordings")
            .and_then(|r| r.as_str())
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("recordings")),
    );
    if let Some(file) = data
        .get("database")
        .and_then(|d| d.as_str())
        .and_then(|d| d.strip_prefix("sqlite://"))
    {
        written.push(PathBuf::from(file));
    }
    for path in &written {
        assert!(
            writable_in_unit(&settings, path),
            "{} is read-only under ProtectSystem=strict: add it to ReadWritePaths\n{unit}",
            path.display()
        );
    }
    assert!(
        !writable_in_unit(&settings, Path::new("/srv/recordings")),
        "the check above can fail"
    );
    assert!(
        out.contains(&format!("recordings {}", written[1].display())),
        "check-config names the recordings directory that was checked: {out}"
    );

    // systemd's own reading of the unit, with ExecStart resolvable.
    let Ok(verify) = Command::new("systemd-analyze").arg("--version").output() else {
        assert!(
            std::env::var_os("HOTLINE_REQUIRE_SYSTEMD").is_none(),
            "systemd-analyze is missing but HOTLINE_REQUIRE_SYSTEMD is set"
        );
        eprintln!("SYSTEMD-ANALYZE VERIFY SKIPPED: systemd-analyze is not installed (apt-get install systemd)");
        return;
    };
    assert!(verify.status.success());
    let copy = elsewhere.path().join("hotline.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/hotline", env!("CARGO_BIN_EXE_hotline")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !said.contains("hotline.service"),
        "systemd-analyze verify deploy/hotline.service ({}):\n{said}",
        out.status
    );
}

/// The object schema `schema` names exactly the fields of `value`, and so on down for the
/// fields that are objects with `properties` themselves.
fn same_fields(schema: &serde_json::Value, value: &serde_json::Value, at: &str) {
    let props = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{at}: no properties in {schema}"));
    let fields = value
        .as_object()
        .unwrap_or_else(|| panic!("{at}: {value} is not an object"));
    let mut documented: Vec<&String> = props.keys().collect();
    let mut present: Vec<&String> = fields.keys().collect();
    documented.sort();
    present.sort();
    assert_eq!(documented, present, "{at}: openapi.json against the report");
    for (k, v) in fields {
        if v.is_object() && props[k]["properties"].is_object() {
            same_fields(&props[k], v, &format!("{at}.{k}"));
        }
    }
}
