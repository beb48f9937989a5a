//! The benchmark floor shared by `benches/routing.rs` and `examples/p99.rs`: 10,000 agents
//! with random skills and levels over 8 queues, 100,000 waiting calls, nobody ready.

use hotline_acd::{
    AgentId, CallKey, Decision, Millis, QueueConfig, Router, Strategy, WideningStep,
};

pub const AGENTS: usize = 10_000;
pub const CALLS: u64 = 100_000;
pub const QUEUES: [&str; 8] = [
    "consult",
    "complaint",
    "enterprise",
    "agent",
    "en",
    "housing",
    "traffic",
    "health",
];

/// xorshift64*: deterministic and dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The floor: a router, its agents, the next call key and the clock.
pub struct Floor {
    pub router: Router,
    pub agents: Vec<AgentId>,
    pub next_call: u64,
    pub now: Millis,
    pub rng: Rng,
}

impl Floor {
    pub fn new() -> Floor {
        let mut router = Router::new();
        let strategies = [
            Strategy::LongestIdle,
            Strategy::MostSkilled,
            Strategy::RoundRobin,
            Strategy::FewestCalls,
        ];
        for (i, name) in QUEUES.iter().enumerate() {
            router.add_queue(QueueConfig {
                strategy: strategies[i % 4],
                max_wait_ms: Some(3_600_000),
                widening: vec![WideningStep {
                    after_ms: 600_000,
                    min_level: Some(1),
                    overflow_to: Some("agent".into()),
                }],
                ..QueueConfig::new(name)
            });
        }
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        let mut agents = Vec::with_capacity(AGENTS);
        for i in 0..AGENTS {
            let id = AgentId(format!("{}", 10_000 + i));
            let n = 1 + rng.below(3);
            let skills: Vec<(String, u8)> = (0..n)
                .map(|_| {
                    (
                        QUEUES[rng.below(8) as usize].to_string(),
                        1 + rng.below(5) as u8,
                    )
                })
                .collect();
            router.login(id.clone(), &skills, 0);
            agents.push(id);
        }
        let mut floor = Floor {
            router,
            agents,
            next_call: 0,
            now: 1,
            rng,
        };
        for _ in 0..CALLS {
            floor.enqueue();
        }
        floor
    }

    /// Enqueues a new call in a random queue with priority 0..3; one tick of the clock.
    pub fn enqueue(&mut self) -> Decision {
        self.next_call += 1;
        self.now += 1;
        let q = QUEUES[self.rng.below(8) as usize];
        let prio = self.rng.below(3) as u8;
        self.router
            .enqueue(CallKey(self.next_call), q, prio, self.now)
    }
}
