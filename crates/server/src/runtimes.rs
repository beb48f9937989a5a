//! The server's two tokio runtimes: the call plane's, and the HTTP API's and pages'.
//!
//! The call plane (SIP, the calls' tasks, the ACD, the database writer) runs on one worker
//! thread. Its per-call work is small; what cost most at a few hundred calls a second was
//! two workers waking each other: when one of them queued a task, the other was unparked
//! to steal it (a futex or the I/O driver's eventfd, and two task switches), a third of
//! the server's wake-ups.
//! At 200 calls/s one worker took 12.8–13.9 % of a core where two took 14.7–15.6 %
//! (three runs each, alternating), and 2,000 calls/s were answered as cleanly (BENCHMARKS.md).
//! Media does not run on it: the pacer, the RTP receive threads and the recording writers
//! are threads of their own (`hotline_media`).
//!
//! A page may take far longer than a call's step: a day's report is 60–130 ms of CPU. On
//! the call plane's one worker that would leave INVITEs waiting in the socket past
//! `max_receive_wait_ms` and refuse them. So HTTP has a runtime of its own, on threads
//! named `http`.
//!
//! `TOKIO_WORKER_THREADS` still sets the call plane's workers, for an operator who
//! measures otherwise on a larger machine.

use std::io;
use tokio::runtime::{Builder, Runtime};

/// Worker threads of the call plane, unless `TOKIO_WORKER_THREADS` says otherwise.
const CALL_WORKERS: usize = 1;

/// The call plane's runtime (also the one the CLI's commands run on); its threads are
/// named `calls`.
pub fn calls() -> io::Result<Runtime> {
    let mut b = Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        b.worker_threads(CALL_WORKERS);
    }
    b.thread_name("calls").enable_all().build()
}

/// The HTTP API's and pages' runtime, one worker per core. Shut down without waiting when
/// dropped, so it can be dropped inside the call plane's runtime (a runtime dropped from
/// async code would otherwise panic).
pub struct Http {
    rt: Option<Runtime>,
    handle: tokio::runtime::Handle,
}

impl Http {
    /// Starts its threads.
    pub fn start() -> io::Result<Http> {
        let rt = Builder::new_multi_thread()
            .thread_name("http")
            .enable_all()
            .build()?;
        Ok(Http {
            handle: rt.handle().clone(),
            rt: Some(rt),
        })
    }

    /// Runs `fut` on the HTTP runtime.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(fut)
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn thread_name() -> Option<String> {
        std::thread::current().name().map(str::to_owned)
    }

    /// The call plane runs on one worker, named `calls`; HTTP on threads named `http`;
    /// and dropping the HTTP runtime from inside the call plane does not panic.
    #[test]
    fn one_call_worker_and_http_apart() {
        if std::env::var_os("TOKIO_WORKER_THREADS").is_some() {
            return; // the operator's setting wins; nothing to check here
        }
        let rt = calls().unwrap();
        rt.block_on(async {
            let http = Http::start().unwrap();
            let on_http = http.spawn(async { thread_name() }).await.unwrap();
            assert_eq!(on_http.as_deref(), Some("http"));
            let on_calls = tokio::spawn(async { thread_name() }).await.unwrap();
            assert_eq!(on_calls.as_deref(), Some("calls"));
            assert_eq!(tokio::runtime::Handle::current().metrics().num_workers(), 1);
            drop(http);
        });
    }

    /// Every HTTP worker busy (a long page on each) holds up nothing of the call plane:
    /// each page waits, on its own thread, for a call-plane task that could not run if the
    /// pages had the call plane's one worker.
    #[test]
    fn busy_pages_do_not_hold_up_the_call_plane() {
        let rt = calls().unwrap();
        rt.block_on(async {
            let http = Http::start().unwrap();
            let workers = http.handle.metrics().num_workers();
            let (ran_tx, ran_rx) = mpsc::channel::<()>();
            let ran_rx = std::sync::Arc::new(std::sync::Mutex::new(ran_rx));
            let pages: Vec<_> = (0..workers)
                .map(|_| {
                    let ran = ran_rx.clone();
                    // Blocks its worker, as a page computing a report would.
                    http.spawn(async move {
                        let ran = ran.lock().unwrap_or_else(|e| e.into_inner());
                        ran.recv_timeout(Duration::from_secs(20)).is_ok()
                    })
                })
                .collect();
            for _ in 0..workers {
                let ran = ran_tx.clone();
                tokio::spawn(async move { ran.send(()).ok() })
                    .await
                    .unwrap();
            }
            for page in pages {
                assert!(
                    page.await.unwrap(),
                    "the call plane did not run while pages did"
                );
            }
        });
    }
}
