//! RTP port allocation.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use rand::seq::SliceRandom;
use rand::Rng;

/// Random draws tried before falling back to listing the free ports; with a pool less
/// than half full, 32 draws all hitting leased ports has odds below 2^-32.
const RANDOM_DRAWS: usize = 32;
/// At most this many recently released ports are held back (and at most half the pool).
const MAX_COOLING: usize = 64;

/// A range of UDP ports for RTP, shared by all calls.
///
/// Ports are even (RFC 3550 §11 leaves the odd one above for RTCP) and drawn **at
/// random** among the free ones, so a call's port cannot be predicted from another call's
/// (a stranger who could guess it might race the caller's first packet, see
/// [`crate::source`]). Recently released ports (up to 64, at most half the
/// pool) are held back while other ports are free, so the stray packets of a call that
/// just ended are unlikely to reach the next one. A port another process holds fails to
/// bind and is skipped; every port of the range stays reachable however small it is.
/// Cloning shares the pool.
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

#[derive(Debug, Default)]
struct PoolState {
    in_use: HashSet<u16>,
    /// Recently released ports, oldest first.
    cooling: VecDeque<u16>,
}

/// A port taken from a [`PortPool`]; dropping it returns the port.
#[derive(Debug)]
pub struct PortLease {
    pool: Arc<PoolInner>,
    port: u16,
    /// Whether the port served a call (and is held back once returned).
    used: bool,
}

impl PortLease {
    /// The leased port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool.release(self.port, self.used);
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

    fn cooling_cap(&self) -> usize {
        (self.even_count() as usize / 2).min(MAX_COOLING)
    }

    /// Marks a random free even port, not in `skip`, as in use and returns it: a fresh
    /// one if there is any, else a recently released one.
    fn reserve(&self, skip: &HashSet<u16>) -> Option<u16> {
        let first = self.first_even();
        let count = self.even_count();
        if count == 0 {
            return None;
        }
        let port = |i: u32| (first + 2 * i) as u16;
        let mut rng = rand::thread_rng();
        let mut st = self.state();
        let free = |st: &PoolState, p: u16| !st.in_use.contains(&p) && !skip.contains(&p);
        // Cheap while the pool is mostly free.
        for _ in 0..RANDOM_DRAWS {
            let p = port(rng.gen_range(0..count));
            if free(&st, p) && !st.cooling.contains(&p) {
                st.in_use.insert(p);
                return Some(p);
            }
        }
        // Crowded: draw among the ports that are left, fresh ones first.
        let left: Vec<u16> = (0..count).map(port).filter(|&p| free(&st, p)).collect();
        let fresh: Vec<u16> = left
            .iter()
            .copied()
            .filter(|p| !st.cooling.contains(p))
            .collect();
        let p = *fresh.choose(&mut rng).or_else(|| left.choose(&mut rng))?;
        st.cooling.retain(|&c| c != p);
        st.in_use.insert(p);
        Some(p)
    }

    /// Returns `port`; `cool` holds it back for a while (a port a call used, not one that
    /// merely failed to bind).
    fn release(&self, port: u16, cool: bool) {
        let cap = self.cooling_cap();
        let mut st = self.state();
        st.in_use.remove(&port);
        if cool && cap > 0 {
            st.cooling.retain(|&c| c != port);
            st.cooling.push_back(port);
            while st.cooling.len() > cap {
                st.cooling.pop_front();
            }
        }
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
                state: Mutex::new(PoolState::default()),
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

    /// Binds a UDP socket on a random free even port, trying others while ports fail to
    /// bind; `None` when every port is leased or fails to bind. A plain socket, never
    /// registered with the runtime's reactor: the media's own threads read and write it.
    pub fn bind(&self) -> Option<(UdpSocket, PortLease)> {
        let mut failed = HashSet::new();
        loop {
            let port = self.inner.reserve(&failed)?;
            // Leased first: a failed bind returns the port when the lease drops.
            let mut lease = PortLease {
                pool: self.inner.clone(),
                port,
                used: false,
            };
            match UdpSocket::bind(SocketAddr::new(self.inner.ip, port)) {
                Ok(sock) => {
                    lease.used = true;
                    return Some((sock, lease));
                }
                Err(e) => {
                    tracing::debug!(port, error = %e, "RTP port unavailable, skipping");
                    drop(lease);
                    failed.insert(port);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn none() -> HashSet<u16> {
        HashSet::new()
    }

    #[test]
    fn every_even_port_of_a_small_range_is_reachable() {
        let pool = PortPool::new(LO, 31001, 31006);
        let inner = &pool.inner;
        assert_eq!(inner.even_count(), 3);
        let got: HashSet<u16> = (0..3).map(|_| inner.reserve(&none()).unwrap()).collect();
        assert_eq!(got, HashSet::from([31002, 31004, 31006]));
        assert_eq!(inner.reserve(&none()), None, "all taken");
        // The only free port is a recently released one: it is still handed out.
        inner.release(31004, true);
        assert_eq!(inner.reserve(&none()), Some(31004));
        // Skipped ports (they failed to bind) are not.
        inner.release(31004, false);
        assert_eq!(inner.reserve(&HashSet::from([31004])), None);
    }

    #[test]
    fn allocations_are_random_not_sequential() {
        let pool = PortPool::new(LO, 20000, 29999);
        let ports: Vec<u16> = (0..20)
            .map(|_| pool.inner.reserve(&none()).unwrap())
            .collect();
        assert!(ports
            .iter()
            .all(|p| p % 2 == 0 && (20000..=29999).contains(p)));
        assert_eq!(ports.iter().collect::<HashSet<_>>().len(), 20, "distinct");
        // Sequential or round-robin allocation increases at every step (21944, 21946,
        // 21950…); 20 random draws do so with odds 1/20!.
        assert!(
            !ports.windows(2).all(|w| w[0] < w[1]),
            "monotonically increasing: {ports:?}"
        );
        let steps: HashSet<i32> = ports
            .windows(2)
            .map(|w| i32::from(w[1]) - i32::from(w[0]))
            .collect();
        assert!(steps.len() > 5, "regular steps {steps:?} in {ports:?}");
        // Released at once and taken again, ports keep varying too.
        let mut again = Vec::new();
        for _ in 0..20 {
            let p = pool.inner.reserve(&none()).unwrap();
            pool.inner.release(p, true);
            again.push(p);
        }
        assert!(again.iter().collect::<HashSet<_>>().len() > 15, "{again:?}");
    }

    #[test]
    fn all_ports_are_drawn_over_time() {
        let pool = PortPool::new(LO, 31000, 31006);
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let p = pool.inner.reserve(&none()).unwrap();
            pool.inner.release(p, true);
            seen.insert(p);
        }
        assert_eq!(seen, HashSet::from([31000, 31002, 31004, 31006]));
    }

    #[test]
    fn released_port_is_held_back_while_others_are_free() {
        let pool = PortPool::new(LO, 31000, 31018);
        assert_eq!(pool.inner.even_count(), 10);
        for _ in 0..50 {
            let a = pool.inner.reserve(&none()).unwrap();
            pool.inner.release(a, true);
            let next: Vec<u16> = (0..4)
                .map(|_| pool.inner.reserve(&none()).unwrap())
                .collect();
            assert!(!next.contains(&a), "{a} reused at once: {next:?}");
            for p in next {
                pool.inner.release(p, false);
            }
        }
    }

    #[test]
    fn empty_range() {
        let pool = PortPool::new(LO, 31001, 31001);
        assert_eq!(pool.inner.reserve(&none()), None);
        let pool = PortPool::new(LO, 65535, 65535);
        assert_eq!(pool.inner.reserve(&none()), None);
        let pool = PortPool::new(LO, 65534, 65535);
        assert_eq!(pool.inner.reserve(&none()), Some(65534));
    }

    #[test]
    fn binds_skips_busy_ports_and_releases_on_drop() {
        // Find two free adjacent even ports by letting the OS pick, then hold one.
        let probe = std::net::UdpSocket::bind((LO, 0)).unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        let busy = std::net::UdpSocket::bind((LO, base));
        let pool = PortPool::new(LO, base, base.saturating_add(40));
        let (sock, lease) = pool.bind().unwrap();
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
