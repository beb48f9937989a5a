//! Free loopback ports, safe for tests running in parallel processes (nextest).
//!
//! SIP/HTTP ports come from the kernel (bind port 0, then release: a tiny race, acceptable on
//! loopback). RTP needs a whole range per server, so ranges are blocks of [`BLOCK`] ports
//! below the kernel's ephemeral range, each claimed by an exclusive lock on a file in
//! `/tmp/hotline-e2e-ports/` for as long as the [`PortBlock`] lives (the kernel drops the
//! lock if the test process dies, so nothing leaks).

use std::fs::{File, OpenOptions};
use std::net::{TcpListener, UdpSocket};

/// Ports per block.
pub const BLOCK: u16 = 100;
/// First port of the first block.
const FIRST: u16 = 20_000;
/// Number of blocks (20000..32000, under Linux's ephemeral range 32768..).
const BLOCKS: u16 = 120;

/// A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both).
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// A block of [`BLOCK`] consecutive ports owned by this test until dropped.
pub struct PortBlock {
    /// First port of the block.
    pub base: u16,
    _lock: File,
}

impl PortBlock {
    /// Claims a free block; starts from a per-process offset so parallel tests rarely
    /// contend for the same lock file.
    pub fn claim() -> PortBlock {
        let dir = std::env::temp_dir().join("hotline-e2e-ports");
        std::fs::create_dir_all(&dir).expect("create port lock dir");
        let start = (std::process::id() as u16).wrapping_mul(7) % BLOCKS;
        for i in 0..BLOCKS {
            let n = (start + i) % BLOCKS;
            let path = dir.join(format!("block-{n}.lock"));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .expect("open port lock file");
            if file.try_lock().is_ok() {
                let base = FIRST + n * BLOCK;
                // Skip blocks something else is sitting in.
                if UdpSocket::bind(("127.0.0.1", base)).is_err() {
                    continue;
                }
                return PortBlock { base, _lock: file };
            }
        }
        panic!("all RTP port blocks are taken");
    }
}
