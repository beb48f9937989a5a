//! What placing a bridged packet in its stereo recording costs, the part of a receive
//! thread's work per packet that is the recording's (`StereoRecorder::push_encoded`).
//!
//! ```text
//! cargo bench -p hotline-media --bench stereo -- 1000 10
//! ```
//! Arguments: recordings (default 1000) and seconds (default 10).
//!
//! Every 20 ms, in real time (the recordings' writer threads take the audio 300 ms behind
//! the wall clock, as in a call), one thread places a 20 ms G.711 packet on each side of
//! every recording, left then right, as the two legs' receive threads do in the usual
//! in-order case. It prints the time per packet placed, the median of the ticks' (a tick
//! is one pass over every recording, timed by the clock around the placing only; the
//! median leaves out the ticks the thread was preempted in), and what the writer threads
//! dropped (nothing, if they kept up). The files go to a scratch directory under the
//! system's temporary directory.

use std::time::{Duration, Instant};

use hotline_media::codec::{FRAME_SAMPLES, PTIME_MS};
use hotline_media::{Codec, Side, StereoRecorder};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let recordings = args.first().copied().unwrap_or(1000) as usize;
    let secs = args.get(1).copied().unwrap_or(10);
    let dir = std::env::temp_dir().join(format!("hotline-stereo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");

    let start = Instant::now();
    let mut recs: Vec<StereoRecorder> = (0..recordings)
        .map(|i| StereoRecorder::create(dir.join(format!("{i}.wav")), start).expect("create"))
        .collect();
    let table = Codec::Pcmu.decode_table();
    let payload: Vec<u8> = (0..FRAME_SAMPLES).map(|i| (i * 7) as u8).collect();
    let frame = Duration::from_millis(PTIME_MS);
    let ticks = secs * 1000 / PTIME_MS;
    let mut per_tick = Vec::with_capacity(ticks as usize);
    for k in 0..ticks {
        let due = start + frame * k as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let pos = k * FRAME_SAMPLES as u64;
        let before = Instant::now();
        for r in recs.iter_mut() {
            r.push_encoded(Side::Left, pos, &payload, table);
            r.push_encoded(Side::Right, pos, &payload, table);
        }
        per_tick.push(before.elapsed());
    }
    let dropped: u64 = recs.iter().map(|r| r.dropped_samples()).sum();
    // Every file finalized by its writer before the directory goes.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for r in recs {
            r.finish_async().await.expect("recording finalized");
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    per_tick.sort();
    let median = per_tick[per_tick.len() / 2];
    println!(
        "stereo: {:.0} ns per packet placed (median of {ticks} ticks of {} packets, {secs} s); dropped {dropped} samples",
        median.as_nanos() as f64 / (2 * recordings) as f64,
        2 * recordings
    );
}
