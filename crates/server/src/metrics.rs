//! `GET /metrics`: what operators watch, in Prometheus' text format (version 0.0.4).
//!
//! Everything here is read from counters the server keeps anyway (call stats, the case
//! store's writer, overload, the ACD, the SIP endpoint); the only thing kept for metrics
//! alone is the call setup time ([`Histogram`], INVITE received to 200 OK sent). The text
//! is written by hand: a dozen families do not need a metrics framework. Served without a
//! token, to the networks in `[http] metrics_from` only (loopback by default): it holds
//! no personal data, and a scraper should not need an account.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hotline_case::writer::{BATCH_SIZE_BUCKETS, COMMIT_MS_BUCKETS};

use crate::call::Calls;
use crate::endpoint::EndpointHandle;
use crate::overload::Reason;

/// Bucket upper bounds of the call setup histogram, in milliseconds.
pub const SETUP_MS_BUCKETS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/// A latency histogram with fixed millisecond buckets, updated without locks.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket of [`SETUP_MS_BUCKETS`], the last one above its last bound.
    buckets: [AtomicU64; SETUP_MS_BUCKETS.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, d: Duration) {
        let us = d.as_micros() as u64;
        let ms = us.div_ceil(1000);
        let i = SETUP_MS_BUCKETS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(SETUP_MS_BUCKETS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn counts(&self) -> Vec<u64> {
        self.buckets.iter().map(|b| b.load(Relaxed)).collect()
    }
}

/// The whole text of `/metrics`.
pub fn render(calls: &Calls, ep: &EndpointHandle) -> String {
    let ctx = &calls.ctx;
    let mut out = String::with_capacity(8192);
    let c = &ctx.stats;
    gauge(
        &mut out,
        "hotline_calls_active",
        "Calls up now (inbound, outbound, internal).",
        calls.active() as u64,
    );
    family(
        &mut out,
        "hotline_calls_total",
        "counter",
        "Calls by what became of them.",
    );
    for (result, v) in [
        ("invite", &c.invites),
        ("answered", &c.answered_by_ivr),
        ("refused", &c.refused),
        ("voicemail", &c.voicemails),
        ("ended", &c.ended),
    ] {
        let _ = writeln!(
            out,
            "hotline_calls_total{{result=\"{result}\"}} {}",
            v.load(Relaxed)
        );
    }
    histogram(
        &mut out,
        "hotline_call_setup_seconds",
        "INVITE received (the kernel's stamp) to 200 OK sent, for calls the hotline answered.",
        &SETUP_MS_BUCKETS,
        1e-3,
        &ctx.setup_time.counts(),
        ctx.setup_time.sum_us.load(Relaxed) as f64 / 1e6,
    );
    histogram(
        &mut out,
        "hotline_call_refusal_seconds",
        "INVITE received (the kernel's stamp) to 503 sent, for calls refused for overload.",
        &SETUP_MS_BUCKETS,
        1e-3,
        &ctx.refusal_time.counts(),
        ctx.refusal_time.sum_us.load(Relaxed) as f64 / 1e6,
    );

    family(
        &mut out,
        "hotline_overload_refused_total",
        "counter",
        "New calls refused with 503 by admission control, by reason.",
    );
    for r in Reason::ALL {
        let _ = writeln!(
            out,
            "hotline_overload_refused_total{{reason=\"{}\"}} {}",
            r.as_str(),
            ctx.overload.refused(r)
        );
    }
    let refusing = ctx
        .overload
        .reason(ctx.store.writer_stats(), std::time::Instant::now());
    gauge(
        &mut out,
        "hotline_overload_refusing",
        "1 while new calls are refused for overload.",
        u64::from(refusing.is_some()),
    );
    let lag = ctx.overload.runtime_lag().as_secs_f64();
    family(
        &mut out,
        "hotline_runtime_lag_seconds",
        "gauge",
        "How late the runtime recently ran a task due now.",
    );
    let _ = writeln!(out, "hotline_runtime_lag_seconds {lag}");

    let w = ctx.store.writer_stats().snapshot();
    gauge(
        &mut out,
        "hotline_store_writes_pending",
        "Writes waiting for the case store's writer.",
        w.pending,
    );
    counter(
        &mut out,
        "hotline_store_writes_total",
        "Writes committed by the case store's writer.",
        w.writes,
    );
    counter(
        &mut out,
        "hotline_store_write_retries_total",
        "Writes that failed and were tried again.",
        w.retries,
    );
    counter(
        &mut out,
        "hotline_store_write_failures_total",
        "Writes answered with a database error.",
        w.failed,
    );
    let commits: u64 = w.commit_ms.iter().sum();
    histogram(
        &mut out,
        "hotline_store_commit_seconds",
        "Time of one group commit, BEGIN to COMMIT done.",
        &COMMIT_MS_BUCKETS,
        1e-3,
        &w.commit_ms,
        w.commit_us_sum as f64 / 1e6,
    );
    histogram(
        &mut out,
        "hotline_store_batch_writes",
        "Writes per group commit.",
        &BATCH_SIZE_BUCKETS,
        1.0,
        &w.batch_size,
        w.writes as f64,
    );
    debug_assert_eq!(commits, w.batches);

    let snap = ctx.acd.snapshot();
    family(
        &mut out,
        "hotline_queue_waiting",
        "gauge",
        "Calls waiting in each ACD queue.",
    );
    for q in &snap.queues {
        let _ = writeln!(
            out,
            "hotline_queue_waiting{{queue=\"{}\"}} {}",
            escape(&q.name),
            q.waiting
        );
    }
    let mut by_state: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for a in &snap.agents {
        *by_state
            .entry(crate::acd::state_name(&a.state).0)
            .or_default() += 1;
    }
    family(
        &mut out,
        "hotline_agents",
        "gauge",
        "Agents by ACD state (on_call: a call is up with them).",
    );
    for (state, n) in by_state {
        let _ = writeln!(out, "hotline_agents{{state=\"{state}\"}} {n}");
    }

    gauge(
        &mut out,
        "hotline_rtp_ports_in_use",
        "RTP ports leased to calls.",
        ctx.ports.in_use() as u64,
    );
    let rtp = hotline_media::totals();
    for (name, help, v) in [
        (
            "hotline_rtp_packets_sent_total",
            "RTP packets sent (prompts, silence, DTMF, relayed and mixed audio).",
            rtp.packets_sent,
        ),
        (
            "hotline_rtp_packets_received_total",
            "Datagrams received on RTP ports.",
            rtp.packets_received,
        ),
        (
            "hotline_rtp_packets_lost_total",
            "RTP packets the far ends numbered that never arrived (sequence gaps).",
            rtp.packets_lost,
        ),
        (
            "hotline_rtp_send_failed_total",
            "RTP packets not sent: the socket buffer was full or the send failed.",
            rtp.send_failed,
        ),
        (
            "hotline_rtp_relay_dropped_total",
            "Bridged or mixed frames not sent on a leg (queue full, prompt playing, held).",
            rtp.relay_dropped,
        ),
        (
            "hotline_rtp_ticks_skipped_total",
            "20 ms ticks the RTP pacer skipped after a stall (a frame lost in every call).",
            rtp.ticks_skipped,
        ),
    ] {
        counter(&mut out, name, help, v);
    }
    histogram(
        &mut out,
        "hotline_rtp_tick_lateness_seconds",
        "How late each 20 ms tick's last RTP packet left after the tick was due.",
        &hotline_media::totals::TICK_LATENESS_MS_BUCKETS,
        1e-3,
        &rtp.tick_lateness,
        rtp.tick_lateness_sum_us as f64 / 1e6,
    );

    counter(
        &mut out,
        "hotline_sip_messages_received_total",
        "SIP messages received.",
        ep.stats.received.load(Relaxed),
    );
    counter(
        &mut out,
        "hotline_sip_messages_malformed_total",
        "SIP messages that did not parse.",
        ep.stats.malformed.load(Relaxed),
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {v}");
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {v}");
}

/// A histogram family from per-bucket counts (`counts` has one more entry than `bounds`:
/// above the last bound); `scale` turns a bound into the family's unit.
fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    bounds: &[u64],
    scale: f64,
    counts: &[u64],
    sum: f64,
) {
    family(out, name, "histogram", help);
    let mut cumulative = 0;
    for (b, n) in bounds.iter().zip(counts) {
        cumulative += n;
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"{}\"}} {cumulative}",
            *b as f64 * scale
        );
    }
    let total: u64 = counts.iter().sum();
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum {sum}");
    let _ = writeln!(out, "{name}_count {total}");
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let h = Histogram::default();
        for ms in [0, 1, 3, 3, 7000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut out = String::new();
        histogram(
            &mut out,
            "x_seconds",
            "help",
            &SETUP_MS_BUCKETS,
            1e-3,
            &h.counts(),
            1.0,
        );
        assert!(out.contains("x_seconds_bucket{le=\"0.001\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.005\"} 4\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"5\"} 4\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 5\n"), "{out}");
        assert!(out.contains("x_seconds_count 5\n"), "{out}");
    }
}
