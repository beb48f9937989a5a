//! A headless Chromium driven through WebDriver, for the tests of the server's HTML pages.
//!
//! [`Browser::start`] runs Debian's `chromedriver` (package `chromium-driver`) on a free
//! loopback port and opens a session in `chromium --headless=new` with a private profile,
//! a fixed 1366×900 window and `zh-CN` as its language. The methods are synchronous (each
//! one blocks on a small tokio runtime, bounded by [`COMMAND_LIMIT`]) so that plain
//! `#[test]` functions can use them. Dropping the [`Browser`] ends the session and kills
//! chromedriver (and with it chromium).

use crate::ports::free_port;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The longest one WebDriver command may take before the test fails.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// One chromedriver process and one browser session in it.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// chromium's profile (`--user-data-dir`) and chromedriver's log.
    dir: tempfile::TempDir,
}

/// A cookie as the browser holds it (what WebDriver reports, HttpOnly ones included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserCookie {
    /// The cookie's name.
    pub name: String,
    /// Its value (e.g. the session token).
    pub value: String,
    /// Whether scripts in the page are kept from it (`HttpOnly`).
    pub http_only: bool,
    /// `"Strict"`, `"Lax"`, `"None"`, or None if the browser did not say.
    pub same_site: Option<String>,
}

impl Browser {
    /// Starts chromedriver and a headless chromium session. Panics (with chromedriver's
    /// log) if either does not come up within 30 s, or if the packages are not installed
    /// (`apt-get install chromium chromium-driver`; `scripts/test` does it).
    pub fn start() -> Browser {
        for bin in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(bin).is_file(),
                "{bin} not found: apt-get install chromium chromium-driver"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("hotline-browser-")
            .tempdir()
            .expect("temp dir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let port = free_port();
        let mut driver = spawn_driver(port, &dir.path().join("chromedriver.log"));
        if let Err(e) = wait_driver(&mut driver, port, dir.path()) {
            kill_driver(&mut driver);
            panic!("chromedriver did not start: {e}");
        }
        let builder = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities(dir.path()))
            .clone();
        let url = format!("http://127.0.0.1:{port}");
        match bounded(&rt, COMMAND_LIMIT, builder.connect(&url)) {
            Ok(Ok(client)) => Browser {
                rt,
                client: Some(client),
                driver,
                dir,
            },
            failed => {
                kill_driver(&mut driver);
                let e = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {COMMAND_LIMIT:?}"),
                };
                panic!("no chromium session: {e}\n{}", driver_log(dir.path()));
            }
        }
    }

    /// Opens `url` and waits for the page to load (redirects followed).
    pub fn goto(&self, url: &str) {
        self.run(&format!("goto {url}"), |c| async move { c.goto(url).await });
    }

    /// Clears the first element matching `css` (an input) and types `text` into it.
    pub fn fill(&self, css: &str, text: &str) {
        self.run(&format!("fill {css}"), |c| async move {
            let input = c.find(Locator::Css(css)).await?;
            input.clear().await?;
            input.send_keys(text).await
        });
    }

    /// Clicks the first element matching `css` (and waits for a navigation it starts).
    pub fn click(&self, css: &str) {
        self.run(&format!("click {css}"), |c| async move {
            c.find(Locator::Css(css)).await?.click().await
        });
    }

    /// The rendered text of the first element matching `css` (panics if there is none).
    pub fn text(&self, css: &str) -> String {
        self.text_now(css)
            .unwrap_or_else(|| panic!("no {css:?} at {}:\n{}", self.current_url(), self.source()))
    }

    /// The rendered text of the first element matching `css`, if one exists now. Found and
    /// read in one script, so a live page swapping the element in between cannot make the
    /// read fail (WebDriver's find-then-read can: "stale element reference").
    fn text_now(&self, css: &str) -> Option<String> {
        let script = "const e = document.querySelector(arguments[0]); \
                      return e ? e.innerText : null;";
        let v = self.run(&format!("text of {css}"), |c| async move {
            c.execute(script, vec![Value::String(css.to_string())])
                .await
        });
        v.as_str().map(|t| t.trim().to_string())
    }

    /// Whether some element matches `css` now.
    pub fn exists(&self, css: &str) -> bool {
        self.run(&format!("find {css}"), |c| async move {
            c.find_all(Locator::Css(css))
                .await
                .map(|all| !all.is_empty())
        })
    }

    /// Polls (every 100 ms, at most `limit`) until the first element matching `css`
    /// exists and its text contains `contains`; returns that text. On timeout panics with
    /// the URL, the last text seen and the page source.
    pub fn wait_text(&self, css: &str, contains: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.text_now(css);
            match seen {
                Some(text) if text.contains(contains) => return text,
                _ if Instant::now() >= deadline => panic!(
                    "no {css:?} containing {contains:?} after {limit:?} at {} (last text: {seen:?}); page:\n{}",
                    self.current_url(),
                    self.source()
                ),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The URL of the page shown now.
    pub fn current_url(&self) -> String {
        self.run("current url", |c| async move {
            c.current_url().await.map(|u| u.to_string())
        })
    }

    /// The page's HTML as the browser has it now.
    pub fn source(&self) -> String {
        self.run("page source", |c| async move { c.source().await })
    }

    /// Runs `script` (a function body: `return …`) in the page; its result as JSON.
    pub fn execute(&self, script: &str) -> Value {
        self.run(
            "execute",
            |c| async move { c.execute(script, vec![]).await },
        )
    }

    /// The cookies the browser holds for the page shown now, HttpOnly ones included.
    pub fn cookies(&self) -> Vec<BrowserCookie> {
        let all = self.run("cookies", |c| async move { c.get_all_cookies().await });
        all.into_iter()
            .map(|c| BrowserCookie {
                name: c.name().to_string(),
                value: c.value().to_string(),
                http_only: c.http_only().unwrap_or(false),
                same_site: c.same_site().map(|s| s.to_string()),
            })
            .collect()
    }

    /// Saves a PNG of what the page shows (the viewport of the 1366×900 window) to `path`.
    pub fn screenshot(&self, path: &Path) {
        let png = self.run("screenshot", |c| async move { c.screenshot().await });
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Runs one WebDriver exchange on the runtime; panics with `what` on an error or after
    /// [`COMMAND_LIMIT`].
    fn run<'a, T, E, F>(&'a self, what: &str, f: impl FnOnce(&'a Client) -> F) -> T
    where
        F: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let client = self.client.as_ref().expect("browser session");
        match bounded(&self.rt, COMMAND_LIMIT, f(client)) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("browser: {what}: {e}"),
            Err(_) => panic!(
                "browser: {what}: no answer within {COMMAND_LIMIT:?}\n{}",
                driver_log(self.dir.path())
            ),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = bounded(&self.rt, Duration::from_secs(5), client.close());
        }
        // chromedriver and whatever chromium it left (a session that did not close).
        kill_driver(&mut self.driver);
    }
}

/// Runs `fut` on `rt` for at most `limit`: its output, or Err if the time ran out.
fn bounded<F: Future>(
    rt: &tokio::runtime::Runtime,
    limit: Duration,
    fut: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    rt.block_on(async { tokio::time::timeout(limit, fut).await })
}

/// `goog:chromeOptions` for a headless, sandbox-less (we run as root), quiet chromium: no
/// GPU, a fixed window, zh-CN, and none of its background traffic (updates, sync,
/// translation…), so that it only talks to the loopback server under test.
fn capabilities(profile: &Path) -> serde_json::Map<String, Value> {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1366,900",
                "--lang=zh-CN",
                format!("--user-data-dir={}", profile.join("profile").display()),
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-sync",
                "--disable-crash-reporter",
                "--disable-breakpad",
                "--disable-features=Translate,OptimizationHints,MediaRouter",
                "--metrics-recording-only",
                "--password-store=basic",
            ],
            "prefs": { "intl.accept_languages": "zh-CN,zh" },
        },
    });
    match caps {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

fn spawn_driver(port: u16, log: &Path) -> Child {
    Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {CHROMEDRIVER}: {e}"))
}

/// SIGKILLs chromedriver and the chromium it started, if still there (a session that did
/// not close); chromium's own helper processes follow their browser out.
fn kill_driver(driver: &mut Child) {
    let browsers = children(driver.id());
    let _ = driver.kill();
    let _ = driver.wait();
    for pid in browsers {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

/// The processes whose parent is `pid` (from `/proc/*/stat`).
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let child: u32 = e.file_name().to_str()?.parse().ok()?;
            let ppid: u32 = crate::procfs::stat_fields(&e.path())?
                .get(1)?
                .parse()
                .ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// Waits (at most 10 s) for chromedriver's `/status` to say it is ready.
fn wait_driver(driver: &mut Child, port: u16, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!(
                "chromedriver exited ({status}):\n{}",
                driver_log(dir)
            ));
        }
        if status_ready(addr) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("chromedriver not ready:\n{}", driver_log(dir)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether chromedriver's `GET /status` says it is ready (it speaks HTTP/1.1 only, and
/// keeps the connection open: read until the answer says so, or for at most 2 s).
fn status_ready(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /status HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n @ 1..) = s.read(&mut buf) {
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if text.contains("\"ready\":true") {
            return text.starts_with("HTTP/1.1 200");
        }
    }
    false
}

/// The end of chromedriver's log (for failure messages).
fn driver_log(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
