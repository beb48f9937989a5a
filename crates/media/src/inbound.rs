//! The receive side of every session: [`THREADS`] threads, each waiting on one epoll set
//! of RTP sockets, the counterpart of the [pacer](crate::pacer) that sends.
//!
//! A session's socket is registered here for its whole life (`register`); when it has a
//! datagram, the thread reads it and hands it to the session's receive state
//! (`Readable::readable`), which records it, takes a key from it or relays it to the
//! other leg of a bridge, all on this thread. One `epoll_wait` serves every socket that is
//! ready, so under load a wake-up is shared by many packets. With a tokio task per leg, each
//! packet woke its task and polled the task's whole `select!` (commands, timers, the
//! bridge), and read the socket twice (the second read only to learn it was empty): with
//! 800 bridged calls that was two thirds of the server's time.
//!
//! The set is level-triggered and a ready socket is read once per wake: a socket with
//! more queued is reported again by the next wait, and no read is spent on an empty one.
//! epoll is used through `libc` directly: the crates that wrap it re-arm a timer on every
//! wait (`polling`) or are edge-triggered only (`mio`), which would cost the syscalls this
//! module exists to save.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

/// Receive threads in the process.
pub const THREADS: usize = 2;
/// Events taken per wait.
const BATCH: usize = 256;
/// Big enough for any RTP packet we accept (larger datagrams are cut and then ignored).
const BUF: usize = 2048;

/// What a registered socket's owner does when the socket is readable.
pub(crate) trait Readable: Send + Sync {
    /// Reads (at most) one datagram and handles it; called on a receive thread.
    fn readable(&self, buf: &mut [u8]);
}

/// One receive thread's epoll set and the sockets in it.
struct Thread {
    epoll: OwnedFd,
    sockets: Mutex<HashMap<u64, Arc<dyn Readable>>>,
}

struct Threads {
    threads: Vec<Thread>,
    next: AtomicUsize,
    keys: AtomicU64,
}

static RECEIVERS: OnceLock<Threads> = OnceLock::new();

fn threads() -> &'static Threads {
    RECEIVERS.get_or_init(|| {
        let threads: Vec<Thread> = (0..THREADS)
            .map(|i| {
                // SAFETY: plain syscall; the result is checked before it is owned.
                let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
                if fd < 0 {
                    // Without it no RTP would be heard; there is no sensible way on.
                    panic!(
                        "cannot create the RTP receive epoll set {i}: {}",
                        std::io::Error::last_os_error()
                    );
                }
                Thread {
                    // SAFETY: `fd` is a fresh descriptor nothing else owns.
                    epoll: unsafe { OwnedFd::from_raw_fd(fd) },
                    sockets: Mutex::new(HashMap::new()),
                }
            })
            .collect();
        Threads {
            threads,
            next: AtomicUsize::new(0),
            keys: AtomicU64::new(0),
        }
    })
}

/// Starts the threads on first use.
fn started() -> &'static Threads {
    static START: OnceLock<()> = OnceLock::new();
    let t = threads();
    START.get_or_init(|| {
        for i in 0..t.threads.len() {
            let spawned = std::thread::Builder::new()
                .name(format!("rtp-recv-{i}"))
                .spawn(move || run(&threads().threads[i]));
            if let Err(e) = spawned {
                panic!("cannot start RTP receive thread {i}: {e}");
            }
        }
    });
    t
}

/// A socket in a receive thread's set; dropping it takes the socket out. The owner's
/// `readable` may still be running (or be called once more, from a wake-up already under
/// way) while this drops: it must check that it is still open.
pub(crate) struct Registration {
    thread: &'static Thread,
    key: u64,
    fd: RawFd,
}

/// Adds socket `fd` (non-blocking; its owner keeps it open until this registration is
/// dropped) to a receive thread: `owner.readable` is called whenever it holds a datagram.
pub(crate) fn register(fd: RawFd, owner: Arc<dyn Readable>) -> std::io::Result<Registration> {
    let all = started();
    let thread = &all.threads[all.next.fetch_add(1, Relaxed) % all.threads.len()];
    let key = all.keys.fetch_add(1, Relaxed);
    thread
        .sockets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, owner);
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: key,
    };
    // SAFETY: both descriptors are open; the kernel copies `ev`.
    let r = unsafe { libc::epoll_ctl(thread.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        thread
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        return Err(e);
    }
    Ok(Registration { thread, key, fd })
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the owner keeps the socket open until after this; a descriptor already
        // closed would only make this fail.
        unsafe {
            libc::epoll_ctl(
                self.thread.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                self.fd,
                std::ptr::null_mut(),
            );
        }
        self.thread
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// A receive thread: wait, then one read for each socket that is ready.
fn run(thread: &Thread) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; BATCH];
    let mut ready: Vec<Arc<dyn Readable>> = Vec::with_capacity(BATCH);
    let mut buf = vec![0u8; BUF];
    loop {
        // SAFETY: `events` has room for BATCH entries.
        let n = unsafe {
            libc::epoll_wait(
                thread.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                BATCH as i32,
                -1,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                tracing::error!(error = %e, "RTP receive wait failed");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            continue;
        }
        {
            let sockets = thread.sockets.lock().unwrap_or_else(|e| e.into_inner());
            ready.extend(
                events[..n as usize]
                    .iter()
                    .filter_map(|ev| sockets.get(&{ ev.u64 }).cloned()),
            );
        }
        for owner in ready.drain(..) {
            // A bug in handling one packet must not deafen every call on this thread.
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                owner.readable(&mut buf);
            }));
            if handled.is_err() {
                tracing::error!("handling a received RTP packet panicked; receiving goes on");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::sync::mpsc;
    use std::time::Duration;

    struct Echo {
        socket: UdpSocket,
        got: Mutex<mpsc::Sender<Vec<u8>>>,
    }

    impl Readable for Echo {
        fn readable(&self, buf: &mut [u8]) {
            if let Ok(n) = self.socket.recv(buf) {
                let _ = self.got.lock().unwrap().send(buf[..n].to_vec());
            }
        }
    }

    fn echo() -> (Arc<Echo>, mpsc::Receiver<Vec<u8>>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let (tx, rx) = mpsc::channel();
        let e = Arc::new(Echo {
            socket,
            got: Mutex::new(tx),
        });
        (e, rx)
    }

    /// Every datagram of every registered socket is read, in order per socket, several
    /// queued on one socket included (level-triggered: one read per wake-up, the rest on
    /// the next); a socket taken out is not read any more.
    #[test]
    fn reads_every_datagram_until_deregistered() {
        let (a, a_got) = echo();
        let (b, b_got) = echo();
        let ra = register(a.socket.as_raw_fd(), a.clone()).unwrap();
        let _rb = register(b.socket.as_raw_fd(), b.clone()).unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let wait = Duration::from_secs(5);
        for i in 0..20u8 {
            peer.send_to(&[i], a.socket.local_addr().unwrap()).unwrap();
            peer.send_to(&[100 + i], b.socket.local_addr().unwrap())
                .unwrap();
        }
        for i in 0..20u8 {
            assert_eq!(a_got.recv_timeout(wait).unwrap(), vec![i]);
            assert_eq!(b_got.recv_timeout(wait).unwrap(), vec![100 + i]);
        }
        drop(ra);
        peer.send_to(&[7], a.socket.local_addr().unwrap()).unwrap();
        // Still in the socket for us to read: no receive thread took it.
        a.socket.set_nonblocking(false).unwrap();
        a.socket.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(a.socket.recv(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], 7);
        assert!(
            a_got.try_recv().is_err(),
            "a deregistered socket is not read"
        );
    }
}
