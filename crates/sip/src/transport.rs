//! UDP and TCP transports on one address (RFC 3261 §18), the only I/O in this crate.
//!
//! Received messages go to one channel as raw bytes with their source; the endpoint driver
//! parses them. Outgoing [`Transmit`]s go out by UDP, or over the TCP connection to that
//! peer (opening one if needed). Parsing stays out of here so a flood of garbage costs
//! one channel send each, not a task.

use crate::framing::StreamFramer;
use crate::message::Transport;
use crate::transaction::Transmit;
use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// One message as it arrived.
#[derive(Debug)]
pub struct Incoming {
    pub data: Bytes,
    pub source: SocketAddr,
    pub transport: Transport,
}

/// The bound sockets and open TCP connections.
#[derive(Clone)]
pub struct Transports {
    udp: Arc<UdpSocket>,
    local: SocketAddr,
    tcp: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>>,
    incoming: mpsc::Sender<Incoming>,
    max: usize,
}

impl Transports {
    /// Binds UDP and TCP on `addr` and starts receiving into `incoming`.
    pub async fn bind(
        addr: SocketAddr,
        max_message: usize,
        incoming: mpsc::Sender<Incoming>,
    ) -> std::io::Result<Transports> {
        let udp = Arc::new(UdpSocket::bind(addr).await?);
        let local = udp.local_addr()?;
        let listener = TcpListener::bind(local).await?;
        let t = Transports {
            udp,
            local,
            tcp: Arc::default(),
            incoming,
            max: max_message,
        };
        tokio::spawn(t.clone().udp_loop());
        tokio::spawn(t.clone().accept_loop(listener));
        Ok(t)
    }

    /// The address both transports listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
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
                let conn = self
                    .tcp
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&t.dest)
                    .cloned();
                match conn {
                    Some(tx) => {
                        if tx.try_send(t.data).is_err() {
                            tracing::warn!(dest = %t.dest, "TCP connection gone or full, message dropped");
                        }
                    }
                    None => {
                        let me = self.clone();
                        tokio::spawn(async move {
                            match TcpStream::connect(t.dest).await {
                                Ok(s) => {
                                    let tx = me.spawn_connection(s, t.dest);
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
        let mut buf = vec![0u8; 65536];
        loop {
            match self.udp.recv_from(&mut buf).await {
                Ok((n, source)) => {
                    // Lone CRLF keep-alives (RFC 5626) carry nothing.
                    if buf[..n].iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    let msg = Incoming {
                        data: Bytes::copy_from_slice(&buf[..n]),
                        source,
                        transport: Transport::Udp,
                    };
                    if self.incoming.send(msg).await.is_err() {
                        return;
                    }
                }
                // ICMP port unreachable surfaces here on Linux; it is not fatal.
                Err(e) => tracing::debug!(error = %e, "UDP receive error"),
            }
        }
    }

    async fn accept_loop(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((s, peer)) => {
                    self.spawn_connection(s, peer);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn spawn_connection(&self, stream: TcpStream, peer: SocketAddr) -> mpsc::Sender<Bytes> {
        let (tx, mut rx) = mpsc::channel::<Bytes>(64);
        self.tcp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer, tx.clone());
        let (mut rd, mut wr) = stream.into_split();
        tokio::spawn(async move {
            while let Some(data) = rx.recv().await {
                if wr.write_all(&data).await.is_err() {
                    break;
                }
            }
        });
        let me = self.clone();
        tokio::spawn(async move {
            let mut framer = StreamFramer::new(me.max);
            let mut buf = vec![0u8; 8192];
            'conn: loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                framer.push(&buf[..n]);
                loop {
                    match framer.next_message() {
                        Ok(Some(data)) => {
                            let msg = Incoming {
                                data,
                                source: peer,
                                transport: Transport::Tcp,
                            };
                            if me.incoming.send(msg).await.is_err() {
                                break 'conn;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::info!(%peer, error = %e, "closing TCP connection");
                            break 'conn;
                        }
                    }
                }
            }
            me.tcp
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&peer);
        });
        tx
    }
}
