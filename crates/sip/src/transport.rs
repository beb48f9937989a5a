//! UDP and TCP transports on one address (RFC 3261 §18), the only I/O in this crate.
//!
//! Received messages go to one channel as raw bytes with their source; the endpoint driver
//! parses them. Outgoing [`Transmit`]s go out by UDP, or over the TCP connection to that
//! peer (opening one if needed). Parsing stays out of here so a flood of garbage costs
//! one channel send each, not a task.
//!
//! TCP connections cost a file descriptor each, the resource every call also needs (its
//! RTP sockets, its recording, the database): so they are bounded ([`TcpLimits`]). One
//! source may hold only so many (the trunk's addresses are exempt), all sources together
//! only so many (the last eighth is kept for the trunk), and a connection that does not
//! deliver a message in time, trickles one in, or falls silent is closed. Refusals are
//! counted ([`TcpStats`]) and logged once a minute per source, not once per connection.
//! The counting and the rate-limited logs are [`crate::admission`]'s, shared with the
//! server's HTTP listener; what is SIP's is which caps a connection meets ([`TcpLimits`]).

use crate::admission::{AcceptErrors, Admission, Caps, Refusal};
use crate::framing::StreamFramer;
use crate::message::Transport;
use crate::transaction::Transmit;
use bytes::Bytes;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One message as it arrived.
#[derive(Debug)]
pub struct Incoming {
    /// The message's bytes, exactly as received.
    pub data: Bytes,
    /// Who sent it (for TCP, the connection's peer).
    pub source: SocketAddr,
    /// How it came.
    pub transport: Transport,
    /// When it arrived: the kernel's stamp for a UDP datagram (so the time it waited in
    /// the socket's buffer counts), the moment its last byte was read for TCP.
    pub received: std::time::Instant,
}

/// Which sources are exempt from the per-source connection cap.
pub type ExemptSource = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// Bounds on TCP connections and how long they may idle.
#[derive(Clone)]
pub struct TcpLimits {
    /// Open connections at most, accepted and opened by us together. Sources that are not
    /// exempt are refused from seven eighths of it on, so the trunk always finds room.
    pub max_connections: usize,
    /// Connections at most from one IP address that is not exempt.
    pub max_per_source: usize,
    /// Sources without a per-source cap: the trunk's or the SIP proxy's addresses, which
    /// carry many calls over many connections.
    pub exempt: ExemptSource,
    /// A connection closes if it has not delivered a whole message this long after it
    /// opened. Keep-alives do not count: they hold a connection, they are not a use of it.
    pub first_message: Duration,
    /// A message whose first bytes have come must be complete within this (slowloris).
    pub message: Duration,
    /// A connection that has carried messages closes after this long without a message or
    /// a keep-alive ping (RFC 5626 §3.5.1 clients ping well within it).
    pub idle: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 4096,
            max_per_source: 64,
            exempt: Arc::new(|_| false),
            first_message: Duration::from_secs(30),
            message: Duration::from_secs(10),
            idle: Duration::from_secs(600),
        }
    }
}

impl std::fmt::Debug for TcpLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpLimits")
            .field("max_connections", &self.max_connections)
            .field("max_per_source", &self.max_per_source)
            .field("first_message", &self.first_message)
            .field("message", &self.message)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

/// What happened to TCP connections, for the status API.
#[derive(Debug, Default)]
pub struct TcpStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections accepted (refused ones included).
    pub accepted: AtomicU64,
    /// Connections closed at once: their source already held its share.
    pub refused_per_source: AtomicU64,
    /// Connections closed at once: all connections together were at the cap.
    pub refused_total: AtomicU64,
    /// Connections closed for a missing, incomplete or overdue message, or silence.
    pub timed_out: AtomicU64,
}

/// The bound sockets and open TCP connections.
#[derive(Clone)]
pub struct Transports {
    udp: Arc<UdpSocket>,
    local: SocketAddr,
    tcp: Arc<Mutex<HashMap<SocketAddr, Conn>>>,
    incoming: mpsc::Sender<Incoming>,
    max: usize,
    limits: TcpLimits,
    admission: Admission,
    stats: Arc<TcpStats>,
}

/// An open connection in the table: where to queue its outgoing messages.
#[derive(Clone)]
struct Conn {
    id: u64,
    tx: mpsc::Sender<Bytes>,
}

/// Which caps a new connection is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cap {
    /// A source under the per-source cap (and seven eighths of the total).
    Source(usize),
    /// An exempt source: the total cap only.
    Exempt,
    /// A connection we open: counted, never refused.
    Ours,
}

/// A counted connection, also in [`TcpStats::open`]; dropping it gives both counts back.
struct Slot {
    admitted: crate::admission::Slot,
    stats: Arc<TcpStats>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The receive buffer asked for the UDP socket. The kernel's default (about 200 KiB, some
/// ninety datagrams) overflows within a few milliseconds of a burst, and every INVITE it
/// drops comes back half a second later as a retransmission, so the caller's 503 or 200
/// is that late. With room for a few thousand, a burst waits to be read instead, and the
/// endpoint refuses what waited too long (`[calls] max_receive_wait_ms`).
pub const UDP_RECEIVE_BUFFER: usize = 8 << 20;

/// Asks for [`UDP_RECEIVE_BUFFER`]; says so if the kernel grants less (its cap is
/// `net.core.rmem_max`, see `deploy/sysctl.conf`).
fn widen_receive_buffer(udp: &UdpSocket) {
    let sock = socket2::SockRef::from(udp);
    // Linux doubles what it is asked for (its bookkeeping), up to twice rmem_max.
    let asked = UDP_RECEIVE_BUFFER / 2;
    let granted = sock
        .set_recv_buffer_size(asked)
        .and_then(|()| sock.recv_buffer_size());
    match granted {
        Ok(n) if n >= UDP_RECEIVE_BUFFER => {}
        Ok(n) => tracing::warn!(
            granted_kib = n / 1024,
            wanted_kib = UDP_RECEIVE_BUFFER / 1024,
            "SIP UDP receive buffer smaller than wanted: a burst of requests may be dropped \
             (raise net.core.rmem_max, see deploy/sysctl.conf)"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot size the SIP UDP receive buffer"),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The locks guard plain counters and tables that every holder leaves consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Transports {
    /// Binds UDP and TCP on `addr` and starts receiving into `incoming`.
    pub async fn bind(
        addr: SocketAddr,
        max_message: usize,
        limits: TcpLimits,
        incoming: mpsc::Sender<Incoming>,
    ) -> std::io::Result<Transports> {
        let udp = UdpSocket::bind(addr).await?;
        widen_receive_buffer(&udp);
        let udp = Arc::new(udp);
        let local = udp.local_addr()?;
        let listener = TcpListener::bind(local).await?;
        let t = Transports {
            udp,
            local,
            tcp: Arc::default(),
            incoming,
            max: max_message,
            limits,
            admission: Admission::new(),
            stats: Arc::default(),
        };
        tokio::spawn(t.clone().udp_loop());
        tokio::spawn(t.clone().accept_loop(listener));
        Ok(t)
    }

    /// The address both transports listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The TCP counters (shared: they keep counting).
    pub fn tcp_stats(&self) -> Arc<TcpStats> {
        self.stats.clone()
    }

    /// Sends without waiting; a failure is logged (SIP recovers by retransmission).
    pub fn send(&self, t: Transmit) {
        match t.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.try_send_to(&t.data, t.dest) {
                    if e.kind() == std::io::ErrorKind::WouldBlock {
                        let udp = self.udp.clone();
                        tokio::spawn(async move { udp.send_to(&t.data, t.dest).await });
                    } else {
                        tracing::warn!(dest = %t.dest, error = %e, "UDP send failed");
                    }
                }
            }
            Transport::Tcp => {
                let conn = lock(&self.tcp).get(&t.dest).cloned();
                match conn {
                    Some(c) => {
                        if c.tx.try_send(t.data).is_err() {
                            tracing::warn!(dest = %t.dest, "TCP connection gone or full, message dropped");
                        }
                    }
                    None => {
                        let me = self.clone();
                        tokio::spawn(async move {
                            match TcpStream::connect(t.dest).await {
                                Ok(s) => {
                                    // Our own connections are counted but never refused:
                                    // calls need them, and calls are bounded themselves.
                                    let slot = me.take_slot(t.dest.ip(), Cap::Ours).ok();
                                    let tx = me.spawn_connection(s, t.dest, slot, true);
                                    let _ = tx.send(t.data).await;
                                }
                                Err(e) => {
                                    tracing::warn!(dest = %t.dest, error = %e, "TCP connect failed")
                                }
                            }
                        });
                    }
                }
            }
        }
    }

    async fn udp_loop(self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            match crate::udp_recv::BatchReceiver::new(self.udp.as_raw_fd()) {
                Ok(batch) => return self.udp_batches(batch).await,
                Err(e) => {
                    tracing::warn!(error = %e, "no kernel receive stamps; reading one datagram at a time")
                }
            }
        }
        let mut buf = vec![0u8; 65536];
        loop {
            match self.udp.recv_from(&mut buf).await {
                Ok((n, source)) => {
                    if !self
                        .datagram(&buf[..n], source, std::time::Instant::now())
                        .await
                    {
                        return;
                    }
                }
                // ICMP port unreachable surfaces here on Linux; it is not fatal.
                Err(e) => tracing::debug!(error = %e, "UDP receive error"),
            }
        }
    }

    /// Reads datagrams a batch per system call, each stamped by the kernel on arrival.
    #[cfg(target_os = "linux")]
    async fn udp_batches(self, mut batch: crate::udp_recv::BatchReceiver) {
        use std::os::fd::AsRawFd;
        let fd = self.udp.as_raw_fd();
        loop {
            if self.udp.readable().await.is_err() {
                return;
            }
            let n = match self
                .udp
                .try_io(tokio::io::Interest::READABLE, || batch.recv(fd))
            {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                // ICMP port unreachable surfaces here on Linux; it is not fatal.
                Err(e) => {
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            };
            for i in 0..n {
                let Some(d) = batch.get(i) else { continue };
                if d.truncated {
                    tracing::debug!(source = %d.source, "UDP datagram over 64 KiB dropped");
                    continue;
                }
                if !self.datagram(d.data, d.source, d.received).await {
                    return;
                }
            }
        }
    }

    /// Hands one datagram on; false once nobody receives any more.
    async fn datagram(
        &self,
        data: &[u8],
        source: SocketAddr,
        received: std::time::Instant,
    ) -> bool {
        // Lone CRLF keep-alives (RFC 5626) carry nothing.
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            return true;
        }
        let msg = Incoming {
            data: Bytes::copy_from_slice(data),
            source,
            transport: Transport::Udp,
            received,
        };
        self.incoming.send(msg).await.is_ok()
    }

    async fn accept_loop(self, listener: TcpListener) {
        let mut errors = AcceptErrors::new();
        loop {
            match listener.accept().await {
                Ok((s, peer)) => {
                    self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                    let ip = peer.ip().to_canonical();
                    let cap = if (self.limits.exempt)(ip) {
                        Cap::Exempt
                    } else {
                        Cap::Source(self.limits.max_per_source)
                    };
                    match self.take_slot(ip, cap) {
                        Ok(slot) => {
                            self.spawn_connection(s, peer, Some(slot), false);
                        }
                        // Accepted only to be closed at once: left in the backlog it would
                        // block the trunk's connections behind it.
                        Err(why) => self.refused(ip, why),
                    }
                }
                // Out of descriptors (EMFILE/ENFILE) and the like: the caps should prevent
                // it, but if it happens, say so without flooding the log.
                Err(e) => {
                    errors
                        .failed(Instant::now().into_std(), || {
                            tracing::warn!(error = %e, "TCP accept failed (logged every 10 s at most)")
                        })
                        .await
                }
            }
        }
    }

    /// Counts a connection from `ip` unless it would pass its caps.
    fn take_slot(&self, ip: IpAddr, cap: Cap) -> Result<Slot, Refusal> {
        let max = self.limits.max_connections.max(1);
        let caps = match cap {
            // Sources under a per-source cap may fill only seven eighths: the rest is the
            // trunk's, however many other sources there are.
            Cap::Source(per_source) => Caps {
                per_source: Some(per_source),
                total: Some(max - max / 8),
            },
            Cap::Exempt => Caps {
                per_source: None,
                total: Some(max),
            },
            Cap::Ours => Caps::NONE,
        };
        let admitted = self.admission.take(ip, caps)?;
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            admitted,
            stats: self.stats.clone(),
        })
    }

    fn refused(&self, ip: IpAddr, why: Refusal) {
        let (counter, cap) = match why {
            Refusal::PerSource => (&self.stats.refused_per_source, self.limits.max_per_source),
            Refusal::Total => (&self.stats.refused_total, self.limits.max_connections),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(quiet) = self.admission.refused(ip, Instant::now().into_std()) {
            let reason = match why {
                Refusal::PerSource => "this source holds its share of connections",
                Refusal::Total => "the SIP TCP connections are at their cap",
            };
            tracing::warn!(
                source = %ip,
                cap,
                refused_since_last_log = quiet,
                "SIP TCP connection refused: {reason} (logged once a minute per source)"
            );
        }
    }

    fn spawn_connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        slot: Option<Slot>,
        ours: bool,
    ) -> mpsc::Sender<Bytes> {
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let id = slot.as_ref().map_or(0, |s| s.admitted.id());
        lock(&self.tcp).insert(peer, Conn { id, tx: tx.clone() });
        let me = self.clone();
        tokio::spawn(async move {
            me.run_connection(stream, peer, rx, ours).await;
            let mut table = lock(&me.tcp);
            if table.get(&peer).is_some_and(|c| c.id == id) {
                table.remove(&peer);
            }
            drop(table);
            drop(slot);
        });
        tx
    }

    /// Reads messages from one connection and writes what is queued for it, until the peer
    /// closes, an error, or a deadline ([`TcpLimits`]) passes. One task does both, so when
    /// it ends the socket is closed at once.
    async fn run_connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        mut rx: mpsc::Receiver<Bytes>,
        ours: bool,
    ) {
        let limits = &self.limits;
        let (rd, mut wr) = stream.into_split();
        let mut framer = StreamFramer::new(self.max);
        let opened = Instant::now();
        // A connection we opened carries our request already: it is in use.
        let mut in_use = ours;
        let mut last_activity = opened;
        let mut partial_since: Option<Instant> = None;
        loop {
            let (deadline, why) = match partial_since {
                Some(at) => (at + limits.message, "message incomplete"),
                None if !in_use => (opened + limits.first_message, "no message"),
                None => (last_activity + limits.idle, "idle"),
            };
            tokio::select! {
                ready = rd.readable() => {
                    if ready.is_err() {
                        return;
                    }
                    // On the stack, not kept per connection: idle connections cost no buffer.
                    let mut buf = [0u8; 4096];
                    let n = match rd.try_read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(_) => return,
                    };
                    framer.push(&buf[..n]);
                    let now = Instant::now();
                    let mut completed = false;
                    loop {
                        match framer.next_message() {
                            Ok(Some(data)) => {
                                completed = true;
                                let msg = Incoming { data, source: peer, transport: Transport::Tcp, received: now.into_std() };
                                if self.incoming.send(msg).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                tracing::info!(%peer, error = %e, "closing TCP connection");
                                return;
                            }
                        }
                    }
                    if completed {
                        in_use = true;
                        last_activity = now;
                    }
                    let pings = framer.take_pings();
                    if pings > 0 && in_use {
                        last_activity = now;
                        // RFC 5626 §4.4.1: each double-CRLF ping is answered with one CRLF.
                        for _ in 0..pings {
                            if !write(&mut wr, b"\r\n", limits.message).await {
                                return;
                            }
                        }
                    }
                    partial_since = match (framer.has_partial(), partial_since) {
                        (false, _) => None,
                        (true, Some(at)) if !completed => Some(at),
                        (true, _) => Some(now),
                    };
                }
                data = rx.recv() => match data {
                    Some(data) => {
                        if !write(&mut wr, &data, limits.message).await {
                            return;
                        }
                    }
                    None => return,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "closing TCP connection: {why} in time");
                    return;
                }
            }
        }
    }
}

/// Writes `data`, giving up after `limit` (a peer that does not read must not hold the
/// connection, and its descriptor, forever). False if the connection is unusable.
async fn write(wr: &mut OwnedWriteHalf, data: &[u8], limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, wr.write_all(data)).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const OPTIONS: &str = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";

    async fn bind(limits: TcpLimits) -> (Transports, mpsc::Receiver<Incoming>) {
        let (tx, rx) = mpsc::channel(64);
        let t = Transports::bind((Ipv4Addr::LOCALHOST, 0).into(), 4096, limits, tx)
            .await
            .unwrap();
        (t, rx)
    }

    /// Connects from `src` (an address of 127.0.0.0/8).
    async fn connect_from(src: [u8; 4], to: SocketAddr) -> TcpStream {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind((Ipv4Addr::from(src), 0).into()).unwrap();
        sock.connect(to).await.unwrap()
    }

    /// Waits (bounded) until the server has closed `s`.
    async fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 64];
        let read = async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        };
        tokio::time::timeout(within, read).await.is_ok()
    }

    #[tokio::test]
    async fn caps_per_source_but_not_for_exempt_sources() {
        let limits = TcpLimits {
            max_connections: 100,
            max_per_source: 3,
            exempt: Arc::new(|ip| ip == IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
            ..TcpLimits::default()
        };
        let (t, mut rx) = bind(limits).await;
        let addr = t.local_addr();
        let mut flood = Vec::new();
        for _ in 0..6 {
            flood.push(connect_from([127, 0, 0, 2], addr).await);
        }
        let mut refused = 0;
        for s in &mut flood {
            if closed_by_server(s, Duration::from_millis(300)).await {
                refused += 1;
            }
        }
        assert_eq!(refused, 3, "3 kept, 3 refused");
        let stats = t.tcp_stats();
        assert_eq!(stats.refused_per_source.load(Ordering::Relaxed), 3);
        assert_eq!(stats.open.load(Ordering::Relaxed), 3);

        // The exempt source is not held to 3, and its messages get through.
        let mut trunk = Vec::new();
        for _ in 0..5 {
            trunk.push(connect_from([127, 0, 0, 1], addr).await);
        }
        for s in &mut trunk {
            s.write_all(OPTIONS.as_bytes()).await.unwrap();
        }
        for _ in 0..5 {
            let m = tokio::time::timeout(Duration::from_secs(2), rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.source.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        assert_eq!(stats.refused_per_source.load(Ordering::Relaxed), 3);
        assert_eq!(stats.open.load(Ordering::Relaxed), 8);
    }

    #[tokio::test]
    async fn total_cap_keeps_an_eighth_for_exempt_sources() {
        let limits = TcpLimits {
            max_connections: 8,
            max_per_source: 100,
            exempt: Arc::new(|ip| ip == IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
            ..TcpLimits::default()
        };
        let (t, _rx) = bind(limits).await;
        let addr = t.local_addr();
        let mut others = Vec::new();
        for i in 0..9u8 {
            others.push(connect_from([127, 0, 1, 10 + i], addr).await);
        }
        let mut refused = 0;
        for s in &mut others {
            if closed_by_server(s, Duration::from_millis(300)).await {
                refused += 1;
            }
        }
        assert_eq!(refused, 2, "7 of 8 for sources with a cap");
        let mut trunk = connect_from([127, 0, 0, 1], addr).await;
        assert!(!closed_by_server(&mut trunk, Duration::from_millis(300)).await);
        assert_eq!(t.tcp_stats().refused_total.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn silent_slow_and_idle_connections_are_closed() {
        let limits = TcpLimits {
            first_message: Duration::from_millis(400),
            message: Duration::from_millis(400),
            idle: Duration::from_millis(800),
            ..TcpLimits::default()
        };
        let (t, mut rx) = bind(limits).await;
        let addr = t.local_addr();
        let started = Instant::now();

        // Never says anything.
        let mut silent = connect_from([127, 0, 0, 3], addr).await;
        // Trickles a message in, a byte at a time, each byte well within the idle time.
        let mut slow = connect_from([127, 0, 0, 4], addr).await;
        let trickle = async {
            for b in OPTIONS.as_bytes() {
                if slow.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), trickle)
            .await
            .unwrap();
        assert!(closed_by_server(&mut silent, Duration::from_secs(2)).await);
        assert!(closed_by_server(&mut slow, Duration::from_secs(2)).await);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), rx.recv())
                .await
                .is_err(),
            "the trickled message was not delivered"
        );

        // Sends a message, then keeps the connection with pings past the idle time.
        let mut live = connect_from([127, 0, 0, 5], addr).await;
        live.write_all(OPTIONS.as_bytes()).await.unwrap();
        rx.recv().await.unwrap();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            live.write_all(b"\r\n\r\n").await.unwrap();
            let mut pong = [0u8; 2];
            tokio::time::timeout(Duration::from_secs(1), live.read_exact(&mut pong))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&pong, b"\r\n");
        }
        // Then falls silent: closed after the idle time.
        let quiet = Instant::now();
        assert!(closed_by_server(&mut live, Duration::from_secs(3)).await);
        assert!(quiet.elapsed() >= Duration::from_millis(700));
        assert_eq!(t.tcp_stats().timed_out.load(Ordering::Relaxed), 3);
        assert!(started.elapsed() < Duration::from_secs(10));
        // The count is given back just after the socket closes.
        let stats = t.tcp_stats();
        for _ in 0..100 {
            if stats.open.load(Ordering::Relaxed) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(stats.open.load(Ordering::Relaxed), 0);
    }
}
