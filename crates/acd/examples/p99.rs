//! Per-decision latency on a loaded floor (10,000 agents, 100,000 waiting calls):
//! `cargo run --release -p hotline-acd --example p99`.

use std::time::Instant;

use hotline_acd::{CallKey, Decision};

#[path = "../benches/support/mod.rs"]
mod support;
use support::{Floor, AGENTS};

fn report(name: &str, mut ns: Vec<u64>) {
    ns.sort_unstable();
    let at = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)];
    println!(
        "{name:<34} n={:>7}  p50={:>6} ns  p99={:>6} ns  p99.9={:>6} ns  max={:>8} ns",
        ns.len(),
        at(0.50),
        at(0.99),
        at(0.999),
        ns[ns.len() - 1]
    );
}

fn main() {
    let t = Instant::now();
    let mut floor = Floor::new();
    println!("setup (10k agents, 100k calls): {:?}", t.elapsed());
    let n = 200_000;
    let (mut ready, mut enqueue, mut position) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for i in 0..n {
        let agent = floor.agents[i % AGENTS].clone();
        floor.now += 1;
        let now = floor.now;
        let t = Instant::now();
        let ds = floor.router.set_ready(&agent, now);
        ready.push(t.elapsed().as_nanos() as u64);
        if let Some(Decision::Offer { call, .. }) = ds.first() {
            floor.router.offer_answered(*call, now);
            floor.router.call_ended(*call, now);
        }
        let t = Instant::now();
        let d = floor.enqueue();
        enqueue.push(t.elapsed().as_nanos() as u64);
        let t = Instant::now();
        std::hint::black_box(floor.router.position(CallKey(floor.next_call)));
        position.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(d);
    }
    report("set_ready -> Offer (decision)", ready);
    report("enqueue -> Queued", enqueue);
    report("position", position);
}
