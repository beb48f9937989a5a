//! Routing decisions on a loaded floor (10,000 agents, 100,000 waiting calls).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotline_acd::{CallKey, Decision};

mod support;
use support::{Floor, AGENTS};

/// One cycle: an agent becomes ready and is offered the best call it can serve, answers,
/// hangs up (wrap-up); a new call arrives to keep 100,000 waiting.
fn ready_offer_cycle(c: &mut Criterion) {
    let mut floor = Floor::new();
    let mut i = 0usize;
    let mut g = c.benchmark_group("routing");
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        "set_ready->offer, answer, end, enqueue (100k waiting)",
        |b| {
            b.iter(|| {
                let agent = &floor.agents[i % AGENTS];
                i += 1;
                floor.now += 1;
                let now = floor.now;
                let ds = floor.router.set_ready(agent, now);
                if let Some(Decision::Offer { call, .. }) = ds.first() {
                    floor.router.offer_answered(*call, now);
                    floor.router.call_ended(*call, now);
                    floor.enqueue();
                }
                ds
            })
        },
    );
    g.finish();
}

/// Enqueue into 100,000 waiting calls with nobody ready (calls are removed untimed after
/// each sample).
fn enqueue_none_ready(c: &mut Criterion) {
    let mut floor = Floor::new();
    let mut g = c.benchmark_group("routing");
    g.throughput(Throughput::Elements(1));
    g.bench_function("enqueue, nobody ready (100k waiting)", |b| {
        b.iter_custom(|iters| {
            let first = floor.next_call + 1;
            let start = Instant::now();
            for _ in 0..iters {
                criterion::black_box(floor.enqueue());
            }
            let took: Duration = start.elapsed();
            for k in first..=floor.next_call {
                floor.router.abandon(CallKey(k), floor.now);
            }
            took
        })
    });
    g.finish();
}

criterion_group!(benches, ready_offer_cycle, enqueue_none_ready);
criterion_main!(benches);
