//! CPU cost per RTP packet sent by sessions playing prompts.
//!
//! Starts N sessions (default 400: 200 calls/s of IVR traffic, about 20,000 packets/s)
//! that play a long prompt towards one loopback sink socket nobody reads (the kernel
//! drops what overflows it; `sendto` still succeeds), lets them run, and reports the
//! process's CPU time (user + system, from `/proc/self/stat`) per packet sent over the
//! measured interval.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-media cargo bench -p hotline-media --bench pacing -- 400 5
//! ```
//! Arguments: sessions, seconds measured (after one second of warm-up).
//!
//! On the 2-core development machine (shared, so ±10 %), 400 sessions, 20,000 packets/s:
//! a tokio interval per session, 7.1–8.5 µs of CPU per packet (14–17 % of a core, about
//! 6,000 context switches in a 5 s run); the shared pacer, 4.0–4.2 µs (8 % of a core,
//! about 1,000). What is left is mostly the kernel's `sendto` (three quarters of the
//! samples in `perf`), which on loopback includes the sink's receive path.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_media::{Codec, MediaParams, MediaSession, PortPool, Prompt};

/// User + system CPU time of the whole process, from `/proc/self/stat` (clock ticks of
/// 10 ms: USER_HZ is 100 on Linux).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 12 and 13 here (state is field 3).
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sessions: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(400);
    let secs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let sink_addr: SocketAddr = sink.local_addr().unwrap();
        let pool = PortPool::new(Ipv4Addr::LOCALHOST.into(), 30000, 30000 + 4 * sessions as u16);
        let prompt = Arc::new(Prompt::tone(440.0, 600_000, 0.3));
        let mut handles = Vec::with_capacity(sessions);
        for _ in 0..sessions {
            let (h, rx) = MediaSession::start(
                &pool,
                MediaParams {
                    codec: Codec::Pcmu,
                    remote: Some(sink_addr),
                    dtmf_pt: Some(101),
                },
            )
            .expect("session");
            h.play(vec![prompt.clone()]);
            handles.push((h, rx));
        }
        let sent = |hs: &[(hotline_media::MediaHandle, _)]| -> u64 {
            hs.iter().map(|(h, _)| h.stats().packets_sent).sum()
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (p0, c0, t0) = (sent(&handles), cpu_time(), Instant::now());
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let (p1, c1, t1) = (sent(&handles), cpu_time(), Instant::now());
        let packets = p1 - p0;
        let cpu = c1 - c0;
        let wall = t1 - t0;
        println!(
            "sessions {sessions}: {packets} packets in {:.2} s ({:.0}/s), CPU {:.2} s = {:.1} % of a core, {:.2} µs per packet",
            wall.as_secs_f64(),
            packets as f64 / wall.as_secs_f64(),
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / packets.max(1) as f64,
        );
        drop(sink);
    });
}
