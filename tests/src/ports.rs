//! Free loopback ports, safe for tests running in parallel processes (nextest).
//!
//! Every port a test uses is claimed by an exclusive lock on a file in
//! `/tmp/hotline-e2e-ports/`, and all of them lie below the kernel's ephemeral range, where
//! no client socket (a test's HTTP request, SIPp, a server's outgoing connection) is ever
//! given one. A port taken from the ephemeral range could be free when checked and taken by
//! another test's client socket a moment later, before the server or softphone meant for it
//! bound it. The kernel drops a lock when its process dies, so nothing leaks.
//!
//! - RTP needs a whole range per server: blocks of [`BLOCK`] ports, held while the
//!   [`PortBlock`] lives.
//! - A single port (a server's SIP or HTTP, a softphone's, a driver's): [`free_port`], held
//!   until the test's process exits (nextest runs each test in a process of its own).

use std::fs::{File, OpenOptions};
use std::net::{TcpListener, UdpSocket};
use std::sync::Mutex;

/// Ports per block.
pub const BLOCK: u16 = 100;
/// First port of the first block.
const FIRST: u16 = 20_000;
/// Number of blocks (20000..32000).
const BLOCKS: u16 = 120;
/// The single ports lie from here to the start of the ephemeral range.
const SINGLE_FIRST: u16 = FIRST + BLOCKS * BLOCK;

/// The locks of the single ports this process claimed, held until it exits.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both), claimed for the
/// rest of this process's life.
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive ports, each free for both UDP and TCP on 127.0.0.1 and
/// claimed for the rest of this process's life: for a program that binds beside the port it
/// is given (baresip listens for SIP over TLS on its SIP port + 1).
pub fn free_ports(n: u16) -> u16 {
    let end = ephemeral_start();
    assert!(
        end > SINGLE_FIRST + n,
        "the ephemeral port range starts at {end}, inside the test ports (below {SINGLE_FIRST})"
    );
    let count = end - SINGLE_FIRST - n + 1;
    let start = process_offset(count);
    'candidates: for i in 0..count {
        let first = SINGLE_FIRST + (start + i) % count;
        let mut locks = Vec::with_capacity(n as usize);
        for port in first..first + n {
            // Skip ports another test holds, or something else is sitting in.
            match try_lock(&format!("port-{port}.lock")) {
                Some(lock)
                    if UdpSocket::bind(("127.0.0.1", port)).is_ok()
                        && TcpListener::bind(("127.0.0.1", port)).is_ok() =>
                {
                    locks.push(lock)
                }
                _ => continue 'candidates,
            }
        }
        HELD.lock().unwrap_or_else(|e| e.into_inner()).extend(locks);
        return first;
    }
    panic!("no {n} consecutive test ports free for both UDP and TCP in {SINGLE_FIRST}..{end}");
}

/// A block of [`BLOCK`] consecutive ports owned by this test until dropped.
pub struct PortBlock {
    /// First port of the block.
    pub base: u16,
    _lock: File,
}

impl PortBlock {
    /// Claims a free block.
    pub fn claim() -> PortBlock {
        let start = process_offset(BLOCKS);
        for i in 0..BLOCKS {
            let n = (start + i) % BLOCKS;
            if let Some(lock) = try_lock(&format!("block-{n}.lock")) {
                let base = FIRST + n * BLOCK;
                // Skip blocks something else is sitting in.
                if UdpSocket::bind(("127.0.0.1", base)).is_err() {
                    continue;
                }
                return PortBlock { base, _lock: lock };
            }
        }
        panic!("all RTP port blocks are taken");
    }
}

/// Where this process starts looking among `count` candidates: parallel tests rarely
/// contend for the same lock file.
fn process_offset(count: u16) -> u16 {
    (std::process::id() as u16).wrapping_mul(7) % count
}

/// The lock file `name`, if no other process holds it.
fn try_lock(name: &str) -> Option<File> {
    let dir = std::env::temp_dir().join("hotline-e2e-ports");
    std::fs::create_dir_all(&dir).expect("create port lock dir");
    let path = dir.join(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .expect("open port lock file");
    file.try_lock().is_ok().then_some(file)
}

/// The first port of the kernel's ephemeral range (where client sockets get theirs).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}
