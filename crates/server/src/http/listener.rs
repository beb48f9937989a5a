//! The API's listener: connection caps and timeouts in front of the router.
//!
//! A flood of connections, idle or trickling a request in, must meet a cap or a timeout
//! instead of taking every file descriptor and the API with it: one source may hold only
//! so many connections, all together only so many (sized at start against the descriptor
//! limit, after what calls need), a request head must arrive within a few seconds, and a
//! connection silent in both directions is closed.
//!
//! Counting connections and rate-limiting the logs of refusals and failed accepts is
//! [`hotline_sip::admission`], which SIP's TCP listener uses as well.

use axum::extract::ConnectInfo;
use axum::Router;
use hotline_sip::admission::{AcceptErrors, Admission, Caps, Refusal};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tower::ServiceExt;

/// Bounds on API connections; see `[http.connections]` in the config.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections at most from one IP address.
    pub max_per_source: usize,
    /// A request head must arrive within this, and an idle keep-alive connection is closed
    /// after it.
    pub header_timeout: Duration,
    /// A connection with no byte read or written for this long is closed.
    pub idle_timeout: Duration,
}

impl HttpLimits {
    /// The limits of `[http.connections]`, with at most `max_connections` (the share of
    /// the descriptor budget).
    pub fn new(cfg: &crate::config::HttpConnectionsConfig, max_connections: usize) -> HttpLimits {
        HttpLimits {
            max_connections: max_connections.max(1),
            max_per_source: cfg.max_per_source.max(1),
            header_timeout: Duration::from_secs(cfg.header_secs.max(1)),
            idle_timeout: Duration::from_secs(cfg.idle_secs.max(1)),
        }
    }
}

/// Serves `app` on `listener` for as long as the process runs, within `limits`: a flood of
/// connections, idle or trickling a request in, meets a cap or a timeout instead of taking
/// every descriptor and the API with it.
///
/// Each request carries the client's address as [`axum::extract::ConnectInfo`]`<SocketAddr>`
/// (what `into_make_service_with_connect_info` would give), so handlers and lockouts can
/// use it. HTTP/1.1 only: hyper's header-read timeout, which bounds both the idle wait for
/// a request and a slowly sent head, exists for HTTP/1.
pub async fn serve(listener: TcpListener, app: Router, limits: HttpLimits) -> io::Result<()> {
    let admission = Admission::new();
    let caps = Caps {
        per_source: Some(limits.max_per_source),
        total: Some(limits.max_connections),
    };
    let mut errors = AcceptErrors::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: say so every 10 s at most, and do not spin.
                errors
                    .failed(Instant::now().into_std(), || {
                        tracing::warn!(error = %e, "HTTP accept failed (logged every 10 s at most)")
                    })
                    .await;
                continue;
            }
        };
        let ip = peer.ip().to_canonical();
        let slot = match admission.take(ip, caps) {
            Ok(slot) => slot,
            Err(why) => {
                // Closed at once (dropped): better than leaving it in the backlog, where
                // it would hold up the connections behind it.
                refused(&admission, ip, why, &limits);
                continue;
            }
        };
        let app = app.clone();
        let header_timeout = limits.header_timeout;
        let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(io, service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
            drop(slot);
        });
    }
}

/// Logs a refusal, once a minute per source (the API keeps no refusal counters).
fn refused(admission: &Admission, ip: IpAddr, why: Refusal, limits: &HttpLimits) {
    if admission.refused(ip, Instant::now().into_std()).is_none() {
        return;
    }
    let why = match why {
        Refusal::PerSource => "this source holds its share of connections",
        Refusal::Total => "the HTTP connections are at their cap",
    };
    tracing::warn!(
        source = %ip,
        max_per_source = limits.max_per_source,
        max_connections = limits.max_connections,
        "HTTP connection refused: {why} (logged once a minute per source)"
    );
}

/// A TCP stream that fails with `TimedOut` once nothing has been read or written on it for
/// its timeout: a stalled body or an abandoned connection gives its descriptor back.
struct IdleTimeout {
    inner: TcpStream,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimeout {
    fn new(inner: TcpStream, timeout: Duration) -> IdleTimeout {
        IdleTimeout {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn active(&mut self) {
        let next = Instant::now() + self.timeout;
        self.deadline.as_mut().reset(next);
    }

    /// When the I/O is pending: an error if the deadline has passed (the waker is set
    /// either way, so a silent connection is woken up to be closed).
    fn expired<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "HTTP connection idle",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.active();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.expired(cx),
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                self.active();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.expired(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                self.active();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.expired(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
