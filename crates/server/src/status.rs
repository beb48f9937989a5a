//! `hotline status`: the supervisor's view on the command line, read from the running
//! server's HTTP API (the same figures as `GET /api/queues` and `GET /api/agents`).

use crate::config::Config;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, token: &str, path: &str) -> Result<Value> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("is the server running? cannot reach {addr}"))?;
    s.write_all(
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("bad HTTP answer from {addr}")
    };
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("{path}: {}", head.lines().next().unwrap_or(""));
    }
    Ok(serde_json::from_str(body)?)
}

/// A count from the JSON (0 when absent), so the columns line up.
fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Prints queues and agents.
pub async fn run(path: &Path, json: bool) -> Result<()> {
    let cfg = Config::load(path)?;
    // The live view needs a login: the local operator's token, which the running server
    // wrote into its data directory.
    let token = crate::http::OperatorToken::read(&cfg.data.dir).with_context(|| {
        format!(
            "cannot read the operator token in {} (is the server running, and are you the \
             account that runs it?)",
            cfg.data.dir.display()
        )
    })?;
    let queues = get(cfg.http.listen, &token, "/api/queues").await?;
    let agents = get(cfg.http.listen, &token, "/api/agents").await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "queues": queues["queues"], "agents": agents["agents"] })
            )?
        );
        return Ok(());
    }
    println!(
        "{:<12} {:>7} {:>8} {:>6} {:>8} {:>8} {:>8} | today: {:>7} {:>8} {:>9} {:>6}",
        "queue",
        "waiting",
        "longest",
        "ready",
        "notready",
        "ringing",
        "talking",
        "offered",
        "answered",
        "abandoned",
        "<=15s"
    );
    for q in queues["queues"].as_array().into_iter().flatten() {
        let a = &q["agents"];
        let t = &q["today"];
        println!(
            "{:<12} {:>7} {:>7}s {:>6} {:>8} {:>8} {:>8} |        {:>7} {:>8} {:>9} {:>6}",
            q["name"].as_str().unwrap_or(""),
            n(&q["waiting"]),
            n(&q["longest_wait_secs"]),
            n(&a["ready"]),
            n(&a["not_ready"]),
            n(&a["offered"]),
            n(&a["on_call"]),
            n(&t["offered"]),
            n(&t["answered"]),
            n(&t["abandoned"]),
            n(&t["answered_within_15s"]),
        );
    }
    println!();
    println!(
        "{:<8} {:<16} {:<10} {:<10} {:>7} {:>6}  skills",
        "agent", "name", "state", "reason", "for", "calls"
    );
    for a in agents["agents"].as_array().into_iter().flatten() {
        let skills: Vec<String> = a["skills"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| format!("{}:{}", s["name"].as_str().unwrap_or(""), s["level"]))
            .collect();
        println!(
            "{:<8} {:<16} {:<10} {:<10} {:>6}s {:>6}  {}",
            a["extension"].as_str().unwrap_or(""),
            a["name"].as_str().unwrap_or(""),
            a["state"].as_str().unwrap_or(""),
            a["reason"].as_str().unwrap_or("-"),
            n(&a["state_secs"]),
            n(&a["answered_calls"]),
            skills.join(","),
        );
    }
    Ok(())
}
