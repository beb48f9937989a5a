//! What the machine itself costs, with none of the hotline in the way: the floor under
//! the media figures of `BENCHMARKS.md`, so figures taken on different machines can be
//! compared.
//!
//! ```text
//! cargo bench -p hotline-media --bench machine -- 10
//! ```
//! Argument: seconds for the send measurement (default 10).
//!
//! - **send**: one thread sends 172-byte datagrams (a 20 ms G.711 RTP packet) over
//!   loopback from 400 sockets, 400 every 20 ms (20,000/s, the RTP of 200 calls/s of IVR
//!   traffic), each with its own `sendto`, to one socket that another thread reads. The
//!   sender's CPU per packet is what the kernel takes to send and deliver one packet, the
//!   least the [pacer](hotline_media::pacer) can cost per packet on this machine
//!   (`--bench pacing` gives the pacer's own). The reader's CPU per packet is printed too.
//! - **compute**: µ-law encoding and decoding of a second of audio, over and over, on one
//!   thread: the speed of plain user code on this machine's cores.
//!
//! Both are CPU time of the thread (`getrusage(RUSAGE_THREAD)`), so a neighbour on the
//! other core changes them only through the caches and the hypervisor.
//!
//! ```text
//! chrt -f 50 cargo bench -p hotline-media --bench machine -- pauses 60
//! ```
//! - **pauses**: a thread sleeps 1 ms at a time for the given seconds and prints every
//!   wake-up that came more than [`PAUSE`] after the one before, with its wall-clock time,
//!   then how many. Run at a real-time priority (`chrt -f`), it preempts every ordinary
//!   thread as it wakes, so a late wake-up is the machine standing still (the hypervisor
//!   running something else, the kernel not preemptible), not a busy core. The load
//!   scripts run it beside each point: the server's overload signals see such a pause as
//!   lag, and its refusals can be matched to it.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_media::g711::{ulaw_decode, ulaw_encode};

/// Sockets sending, packets per 20 ms tick.
const SOCKETS: usize = 400;
/// An RTP header and 20 ms of G.711.
const PACKET: usize = 172;

/// A wake-up later than this after the one before is a pause of the machine.
const PAUSE: Duration = Duration::from_millis(15);

/// Sleeps 1 ms at a time for `secs` seconds, printing each pause as it ends (`pause MS ms
/// ending at UNIX_SECS`) and then a summary line.
fn pauses(secs: u64) {
    let start = Instant::now();
    let (mut prev, mut count, mut longest) = (start, 0u32, Duration::ZERO);
    while prev - start < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(1));
        let now = Instant::now();
        let gap = now - prev;
        if gap > PAUSE {
            count += 1;
            longest = longest.max(gap);
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            println!(
                "pause {:.1} ms ending at {:.3}",
                gap.as_secs_f64() * 1e3,
                wall.as_secs_f64()
            );
        }
        prev = now;
    }
    println!(
        "machine pauses: {count} over {} ms in {secs} s, longest {:.1} ms",
        PAUSE.as_millis(),
        longest.as_secs_f64() * 1e3
    );
}

/// This thread's user + system CPU time.
fn thread_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_THREAD is Linux's.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Sends for `secs` seconds; returns (sender µs per packet, reader µs per packet, packets
/// sent, packets read).
fn send(secs: u64) -> (f64, f64, u64, u64) {
    let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("sink");
    let to: SocketAddr = sink.local_addr().expect("sink address");
    sink.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let stop = Arc::new(AtomicBool::new(false));
    let read = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, read) = (stop.clone(), read.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let c0 = thread_cpu();
            while !stop.load(Relaxed) {
                if sink.recv(&mut buf).is_ok() {
                    read.fetch_add(1, Relaxed);
                }
            }
            thread_cpu() - c0
        })
    };
    let sockets: Vec<UdpSocket> = (0..SOCKETS)
        .map(|_| {
            let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("sender");
            s.set_nonblocking(true).expect("non-blocking");
            s
        })
        .collect();
    let packet = [0x80u8; PACKET];
    let (mut sent, c0, start) = (0u64, thread_cpu(), Instant::now());
    let tick = Duration::from_millis(20);
    for n in 1..=secs * 50 {
        for s in &sockets {
            if s.send_to(&packet, to).is_ok() {
                sent += 1;
            }
        }
        let next = start + tick * n as u32;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let sender = thread_cpu() - c0;
    stop.store(true, Relaxed);
    let reader = reader.join().expect("reader");
    let read = read.load(Relaxed);
    (
        sender.as_secs_f64() * 1e6 / sent.max(1) as f64,
        reader.as_secs_f64() * 1e6 / read.max(1) as f64,
        sent,
        read,
    )
}

/// ns of CPU per sample encoded and decoded.
fn compute() -> f64 {
    let audio: Vec<i16> = (0..8000)
        .map(|i| ((i as f64 * 0.05).sin() * 12000.0) as i16)
        .collect();
    let mut check = 0u64;
    let (c0, mut rounds) = (thread_cpu(), 0u64);
    while thread_cpu() - c0 < Duration::from_secs(2) {
        for &s in &audio {
            check = check.wrapping_add(ulaw_decode(ulaw_encode(s)) as u64);
        }
        rounds += 1;
    }
    let cpu = thread_cpu() - c0;
    std::hint::black_box(check);
    cpu.as_secs_f64() * 1e9 / (rounds * audio.len() as u64) as f64
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let number = |i: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(10);
    if args.first().map(String::as_str) == Some("pauses") {
        return pauses(number(1));
    }
    let secs: u64 = number(0);
    let (send_us, read_us, sent, read) = send(secs);
    let ns = compute();
    println!(
        "machine: send {send_us:.2} µs per packet ({sent} sent from {SOCKETS} sockets in {secs} s), \
         read {read_us:.2} µs per packet ({read} read); compute {ns:.2} ns per G.711 sample"
    );
}
