//! RTP port allocation.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

/// A range of UDP ports for RTP, shared by all calls.
///
/// Ports are even (RFC 3550 §11 leaves the odd one above for RTCP) and handed out
/// round-robin, so a port freed by a call that just ended is reused as late as possible and
/// its stray packets do not reach the next call. A port another process holds fails to
/// bind and is skipped. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct PortPool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    ip: IpAddr,
    min: u16,
    max: u16,
    state: Mutex<PoolState>,
}

#[derive(Debug)]
struct PoolState {
    next: u16,
    in_use: HashSet<u16>,
}

/// A port taken from a [`PortPool`]; dropping it returns the port.
#[derive(Debug)]
pub struct PortLease {
    pool: Arc<PoolInner>,
    port: u16,
}

impl PortLease {
    /// The leased port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool.state().in_use.remove(&self.port);
    }
}

impl PoolInner {
    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // The lock guards plain data that every holder leaves consistent; a panic elsewhere
        // cannot have broken it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn first_even(&self) -> u32 {
        u32::from(self.min) + u32::from(self.min) % 2
    }

    fn even_count(&self) -> u32 {
        let first = self.first_even();
        if first > u32::from(self.max) {
            0
        } else {
            (u32::from(self.max) - first) / 2 + 1
        }
    }

    /// Marks the next free even port as in use and returns it.
    fn reserve(&self) -> Option<u16> {
        let first = self.first_even();
        let count = self.even_count();
        let mut st = self.state();
        for _ in 0..count {
            let mut p = u32::from(st.next);
            if p < first || p > u32::from(self.max) {
                p = first;
            }
            let p = p as u16;
            st.next = p.checked_add(2).unwrap_or(self.min);
            if st.in_use.insert(p) {
                return Some(p);
            }
        }
        None
    }
}

impl PortPool {
    /// A pool of the even ports in `min..=max` on `ip`.
    pub fn new(ip: IpAddr, min: u16, max: u16) -> PortPool {
        PortPool {
            inner: Arc::new(PoolInner {
                ip,
                min,
                max,
                state: Mutex::new(PoolState {
                    next: min,
                    in_use: HashSet::new(),
                }),
            }),
        }
    }

    /// The address ports are bound on.
    pub fn ip(&self) -> IpAddr {
        self.inner.ip
    }

    /// The configured range.
    pub fn range(&self) -> (u16, u16) {
        (self.inner.min, self.inner.max)
    }

    /// Ports currently leased.
    pub fn in_use(&self) -> usize {
        self.inner.state().in_use.len()
    }

    /// Binds a UDP socket on the next free even port; `None` when every port is leased or
    /// fails to bind.
    pub async fn bind(&self) -> Option<(UdpSocket, PortLease)> {
        for _ in 0..self.inner.even_count() {
            let port = self.inner.reserve()?;
            let lease = PortLease {
                pool: self.inner.clone(),
                port,
            };
            match UdpSocket::bind(SocketAddr::new(self.inner.ip, port)).await {
                Ok(sock) => return Some((sock, lease)),
                Err(e) => {
                    tracing::debug!(port, error = %e, "RTP port unavailable, skipping");
                    drop(lease);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn reserves_even_ports_round_robin() {
        let pool = PortPool::new(LO, 31001, 31006);
        let inner = &pool.inner;
        assert_eq!(inner.even_count(), 3);
        assert_eq!(inner.reserve(), Some(31002));
        assert_eq!(inner.reserve(), Some(31004));
        assert_eq!(inner.reserve(), Some(31006));
        assert_eq!(inner.reserve(), None, "all taken");
        inner.state().in_use.remove(&31002);
        assert_eq!(inner.reserve(), Some(31002));
    }

    #[test]
    fn released_port_is_reused_last() {
        let pool = PortPool::new(LO, 31000, 31010);
        let a = pool.inner.reserve().unwrap();
        pool.inner.state().in_use.remove(&a);
        assert_ne!(pool.inner.reserve(), Some(a));
    }

    #[test]
    fn empty_range() {
        let pool = PortPool::new(LO, 31001, 31001);
        assert_eq!(pool.inner.reserve(), None);
        let pool = PortPool::new(LO, 65535, 65535);
        assert_eq!(pool.inner.reserve(), None);
        let pool = PortPool::new(LO, 65534, 65535);
        assert_eq!(pool.inner.reserve(), Some(65534));
    }

    #[tokio::test]
    async fn binds_skips_busy_ports_and_releases_on_drop() {
        // Find two free adjacent even ports by letting the OS pick, then hold one.
        let probe = std::net::UdpSocket::bind((LO, 0)).unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        let busy = std::net::UdpSocket::bind((LO, base));
        let pool = PortPool::new(LO, base, base.saturating_add(40));
        let (sock, lease) = pool.bind().await.unwrap();
        assert_eq!(sock.local_addr().unwrap().port(), lease.port());
        assert_eq!(lease.port() % 2, 0);
        if busy.is_ok() {
            assert_ne!(lease.port(), base, "busy port skipped");
        }
        assert_eq!(pool.in_use(), 1);
        drop(lease);
        assert_eq!(pool.in_use(), 0);
    }
}
