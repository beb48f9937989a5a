//! An RTP sink: the caller's media port, bound by the test and put into the caller's SDP,
//! so the test can check what the caller hears.

use crate::audio::{rms, ulaw_decode};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One received RTP packet (header fields and payload).
#[derive(Debug, Clone)]
pub struct RtpPacket {
    pub at: Instant,
    pub marker: bool,
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// A UDP socket on 127.0.0.1 whose packets a thread collects until the sink is dropped.
pub struct RtpSink {
    pub port: u16,
    packets: Arc<Mutex<Vec<RtpPacket>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RtpSink {
    /// Binds an even port in `[from, from + 20)` (RTP ports are even by convention).
    pub fn bind(from: u16) -> RtpSink {
        let socket = (from..from + 20)
            .step_by(2)
            .find_map(|p| UdpSocket::bind(("127.0.0.1", p)).ok())
            .expect("bind RTP sink");
        let port = socket.local_addr().unwrap().port();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let packets = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (packets.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                let Ok(n) = socket.recv(&mut buf) else {
                    continue;
                };
                if let Some(pkt) = parse(&buf[..n]) {
                    p.lock().unwrap().push(pkt);
                }
            }
        });
        RtpSink {
            port,
            packets,
            stop,
            thread: Some(thread),
        }
    }

    /// The packets received so far.
    pub fn packets(&self) -> Vec<RtpPacket> {
        self.packets.lock().unwrap().clone()
    }

    /// Checks that the caller heard a prompt: more than `min_packets` PCMU packets of one
    /// stream, marker on the first, sequence numbers +1, timestamps in steps of 160
    /// (multiples allowed across pauses), and audio clearly above silence. Returns a
    /// one-line summary, or what is wrong.
    pub fn check_heard_audio(&self, min_packets: usize) -> Result<String, String> {
        let pkts = self.packets();
        let audio: Vec<&RtpPacket> = pkts.iter().filter(|p| p.pt == 0).collect();
        if audio.len() <= min_packets {
            return Err(format!(
                "caller got {} PCMU packets (of {} RTP packets), expected more than {min_packets}",
                audio.len(),
                pkts.len()
            ));
        }
        if !audio[0].marker {
            return Err("first RTP packet has no marker bit".into());
        }
        for w in audio.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b.ssrc != a.ssrc {
                return Err(format!("SSRC changed {:#x} -> {:#x}", a.ssrc, b.ssrc));
            }
            if b.seq != a.seq.wrapping_add(1) {
                return Err(format!("sequence jumped {} -> {}", a.seq, b.seq));
            }
            let step = b.ts.wrapping_sub(a.ts);
            if step == 0 || step % 160 != 0 {
                return Err(format!("timestamp step {step} ({} -> {})", a.ts, b.ts));
            }
        }
        let samples: Vec<i16> = audio
            .iter()
            .flat_map(|p| p.payload.iter().map(|&b| ulaw_decode(b)))
            .collect();
        let level = rms(&samples);
        if level < 300.0 {
            return Err(format!("caller hears near silence: RMS {level:.0}"));
        }
        let span = audio.last().unwrap().at - audio[0].at;
        Ok(format!(
            "{} PCMU packets over {span:?}, RMS {level:.0}",
            audio.len()
        ))
    }
}

impl Drop for RtpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Parses an RTP packet (version 2, CSRCs and extension skipped).
fn parse(b: &[u8]) -> Option<RtpPacket> {
    if b.len() < 12 || b[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(b[0] & 0x0F);
    let mut off = 12 + 4 * cc;
    if b[0] & 0x10 != 0 {
        let len = usize::from(u16::from_be_bytes([*b.get(off + 2)?, *b.get(off + 3)?]));
        off += 4 + 4 * len;
    }
    Some(RtpPacket {
        at: Instant::now(),
        marker: b[1] & 0x80 != 0,
        pt: b[1] & 0x7F,
        seq: u16::from_be_bytes([b[2], b[3]]),
        ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        payload: b.get(off..)?.to_vec(),
    })
}
