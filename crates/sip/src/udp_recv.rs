//! Reading SIP datagrams in batches, each with the time the kernel received it.
//!
//! Under a flood, datagrams wait in the socket's receive buffer before the server reads
//! them, and a clock read after `recv` cannot see that wait: a request read "now" may have
//! arrived a quarter of a second ago. The kernel stamps every datagram as it arrives
//! (`SO_TIMESTAMPNS`), and `recvmmsg(2)` hands up to [`BATCH`] of them over with their
//! stamps in one system call, so a burst costs one call instead of one per datagram.
//!
//! Hand-written on `libc`: socket2 does not wrap `recvmmsg`, and nix's preallocated headers
//! are not `Send`, so they could not live in the tokio task that reads the socket.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Datagrams read in one system call at most.
pub const BATCH: usize = 16;
/// The largest datagram kept whole (UDP's own limit); a longer one is never valid SIP here.
const SLOT: usize = 65536;
/// Room for one `SCM_TIMESTAMPNS` control message (`CMSG_SPACE(sizeof(timespec))` is 32 on
/// 64-bit Linux), kept as `u64`s for the header's alignment.
const CONTROL_WORDS: usize = 8;

/// One datagram of a batch.
pub struct Datagram<'a> {
    pub data: &'a [u8],
    pub source: SocketAddr,
    /// When the kernel received it (the read time if the kernel gave no stamp).
    pub received: Instant,
    /// Longer than [`SLOT`]: cut short by the kernel.
    pub truncated: bool,
}

/// The buffers one socket's batches are read into (about 1 MiB, allocated once).
pub struct BatchReceiver {
    data: Box<[u8]>,
    names: Box<[libc::sockaddr_storage]>,
    control: Box<[[u64; CONTROL_WORDS]]>,
    lens: [usize; BATCH],
    flags: [i32; BATCH],
    received: [Instant; BATCH],
    count: usize,
}

impl BatchReceiver {
    /// Buffers for `fd`, whose datagrams the kernel is asked to stamp from now on.
    pub fn new(fd: RawFd) -> io::Result<Self> {
        let on: libc::c_int = 1;
        // SAFETY: a valid option value of the size given, on a descriptor the caller owns.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        let now = Instant::now();
        Ok(BatchReceiver {
            data: vec![0u8; BATCH * SLOT].into_boxed_slice(),
            // SAFETY: all-zero is a valid (empty) sockaddr_storage.
            names: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            control: vec![[0u64; CONTROL_WORDS]; BATCH].into_boxed_slice(),
            lens: [0; BATCH],
            flags: [0; BATCH],
            received: [now; BATCH],
            count: 0,
        })
    }

    /// Reads what is waiting on `fd`, up to [`BATCH`] datagrams, without blocking; returns
    /// how many ([`io::ErrorKind::WouldBlock`] if none).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // The headers point into our buffers, so they are built for each call rather than
        // kept: kept, they would make this type neither `Send` nor movable.
        // SAFETY: all-zero is a valid iovec and mmsghdr.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let base = self.data.as_mut_ptr();
        for i in 0..BATCH {
            iov[i] = libc::iovec {
                // SAFETY: slot i lies inside `data`, which is BATCH * SLOT long.
                iov_base: unsafe { base.add(i * SLOT) }.cast(),
                iov_len: SLOT,
            };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
            h.msg_control = self.control[i].as_mut_ptr().cast();
            h.msg_controllen = size_of::<[u64; CONTROL_WORDS]>() as _;
        }
        // SAFETY: every header points at live buffers of the lengths it states.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.count = 0;
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        // One pair of clock reads turns every kernel stamp (wall clock) into an Instant.
        let (wall, mono) = (SystemTime::now(), Instant::now());
        for (i, h) in hdrs.iter().enumerate().take(n) {
            self.lens[i] = (h.msg_len as usize).min(SLOT);
            self.flags[i] = h.msg_hdr.msg_flags;
            self.received[i] = match stamp(&h.msg_hdr) {
                Some(at) => {
                    let waited = wall.duration_since(at).unwrap_or_default().min(MAX_AGE);
                    mono.checked_sub(waited).unwrap_or(mono)
                }
                None => mono,
            };
        }
        self.count = n;
        Ok(n)
    }

    /// The `i`th datagram of the last batch; `None` past its end or if its source is not
    /// an IP address.
    pub fn get(&self, i: usize) -> Option<Datagram<'_>> {
        if i >= self.count {
            return None;
        }
        Some(Datagram {
            data: &self.data[i * SLOT..i * SLOT + self.lens[i]],
            source: socket_addr(&self.names[i])?,
            received: self.received[i],
            truncated: self.flags[i] & libc::MSG_TRUNC != 0,
        })
    }
}

/// A stamp further back than this is a clock step, not a wait.
const MAX_AGE: Duration = Duration::from_secs(60);

/// The `SCM_TIMESTAMPNS` stamp of a received message, if the kernel attached one.
fn stamp(h: &libc::msghdr) -> Option<SystemTime> {
    // SAFETY: the CMSG_* walk stays within msg_control/msg_controllen, which the kernel
    // set to the control data it wrote into our buffer.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                return UNIX_EPOCH.checked_add(Duration::new(
                    u64::try_from(ts.tv_sec).ok()?,
                    u32::try_from(ts.tv_nsec).ok()?,
                ));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

fn socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_burst_is_read_in_one_call_with_sources_and_arrival_times() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut r = BatchReceiver::new(rx.as_raw_fd()).unwrap();
        assert_eq!(
            r.recv(rx.as_raw_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        for i in 0..3 {
            tx.send_to(format!("message {i}").as_bytes(), rx.local_addr().unwrap())
                .unwrap();
        }
        let sent = Instant::now();
        // Read later than they arrived: the stamps must say when they arrived, not when
        // they were read.
        std::thread::sleep(Duration::from_millis(50));
        let mut got = Vec::new();
        while got.len() < 3 {
            let n = r.recv(rx.as_raw_fd()).unwrap();
            for i in 0..n {
                let d = r.get(i).unwrap();
                assert_eq!(d.source, tx.local_addr().unwrap());
                assert!(!d.truncated);
                assert!(
                    d.received <= sent + Duration::from_millis(5),
                    "stamped {:?} after the send",
                    d.received - sent
                );
                got.push(String::from_utf8(d.data.to_vec()).unwrap());
            }
        }
        assert_eq!(got, ["message 0", "message 1", "message 2"]);
        assert!(r.get(3).is_none());
    }
}
