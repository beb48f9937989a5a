//! The agents' desk: digest authentication of agents' softphones, their registrations,
//! and what happens when a registration lapses.
//!
//! Unknown extensions and wrong passwords get the same fresh 401 challenge, so extensions
//! cannot be enumerated; each failure counts against the source address, which is slowed
//! down and then refused (403) for a while.

use crate::acd::AcdService;
use crate::call::Invite;
use crate::config::AgentsConfig;
use crate::endpoint::EndpointHandle;
use hotline_acd::AgentId;
use hotline_case::CaseStore;
use hotline_sip::digest::{self, Algorithm, Challenge, NonceCheck, NonceKeeper};
use hotline_sip::message;
use hotline_sip::registrar::{
    AuthGuard, Binding, Guard, RegisterOutcome, Registrar, RegistrarConfig,
};
use rsip::{Request, Response};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The outcome of checking a request's credentials.
#[derive(Debug)]
pub enum Auth {
    /// The request comes from this agent (extension).
    Agent(String),
    /// Answer this (401 with a challenge, or 403) and stop.
    Refuse(Response),
}

/// Registrations and authentication of agents.
pub struct Desk {
    cfg: AgentsConfig,
    store: CaseStore,
    acd: Arc<AcdService>,
    registrar: Mutex<Registrar>,
    nonces: Mutex<NonceKeeper>,
    guard: Mutex<AuthGuard>,
    wake: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Desk {
    /// A desk with a fresh nonce secret; starts the task that expires registrations.
    pub fn start(cfg: AgentsConfig, store: CaseStore, acd: Arc<AcdService>) -> Arc<Desk> {
        let secret: [u8; 32] = rand::random();
        let registrar = Registrar::new(RegistrarConfig {
            min_expires: cfg.min_expires,
            max_expires: cfg.max_expires,
            default_expires: cfg.max_expires.min(3600),
        });
        let guard = AuthGuard::new(
            cfg.auth_max_failures,
            Duration::from_secs(cfg.auth_window_secs),
            Duration::from_secs(cfg.auth_block_secs),
        );
        let desk = Arc::new(Desk {
            cfg,
            store,
            acd,
            registrar: Mutex::new(registrar),
            nonces: Mutex::new(NonceKeeper::new(secret, 300)),
            guard: Mutex::new(guard),
            wake: Notify::new(),
        });
        let d = desk.clone();
        tokio::spawn(async move { d.expire_registrations().await });
        desk
    }

    async fn expire_registrations(self: Arc<Self>) {
        loop {
            let next = lock(&self.registrar).poll_timeout();
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {
                    let lapsed = lock(&self.registrar).handle_timeout(Instant::now());
                    for user in lapsed {
                        tracing::info!(agent = %user, "registration lapsed; agent logged out");
                        self.acd.logout(&AgentId(user));
                    }
                }
                _ = self.wake.notified() => {}
            }
        }
    }

    /// The live contacts of an agent's softphones, best first.
    pub fn contacts(&self, extension: &str) -> Vec<Binding> {
        lock(&self.registrar).contacts(extension, Instant::now())
    }

    fn challenge(&self, req: &Request, stale: bool) -> Response {
        let nonce = lock(&self.nonces).issue(unix_now());
        let challenges: Vec<Challenge> = self
            .cfg
            .digest_algorithms
            .iter()
            .map(|a| Challenge {
                realm: self.cfg.realm.clone(),
                nonce: nonce.clone(),
                opaque: None,
                algorithm: if a == "SHA-256" {
                    Algorithm::Sha256
                } else {
                    Algorithm::Md5
                },
                stale,
            })
            .collect();
        digest::challenge_response(req, Some(&message::random_token(8)), false, &challenges)
    }

    fn forbidden(req: &Request) -> Response {
        message::response(req, 403, Some(&message::random_token(8)))
    }

    /// Checks the digest credentials of a request from an agent's softphone (§22): the
    /// response hash first, then the nonce (so a forged request cannot use up a real
    /// client's nonce counts).
    pub async fn authenticate(&self, req: &Request, source: SocketAddr) -> Auth {
        let ip = source.ip();
        let verdict = lock(&self.guard).check(ip, Instant::now());
        match verdict {
            Guard::Block => return Auth::Refuse(Self::forbidden(req)),
            Guard::Delay(d) => tokio::time::sleep(d).await,
            Guard::Allow => {}
        }
        let creds = match digest::find_credentials(&req.headers, &self.cfg.realm, false) {
            None => return Auth::Refuse(self.challenge(req, false)),
            Some(Err(_)) => {
                lock(&self.guard).failed(ip, Instant::now());
                return Auth::Refuse(self.challenge(req, false));
            }
            Some(Ok(c)) => c,
        };
        let secrets = match self.store.agent_secrets(&creds.username).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot read agent credentials");
                return Auth::Refuse(message::response(req, 500, Some(&message::random_token(8))));
            }
        };
        let ha1 = secrets.as_ref().map(|s| match creds.algorithm.family() {
            Algorithm::Sha256 => s.ha1_sha256.as_str(),
            _ => s.ha1_md5.as_str(),
        });
        // Unknown users are hashed against a dummy HA1: same work, same 401.
        if !digest::verify_user(&creds, &req.method.to_string(), ha1) {
            tracing::info!(%source, user = %creds.username, "agent authentication failed");
            lock(&self.guard).failed(ip, Instant::now());
            return Auth::Refuse(self.challenge(req, false));
        }
        match lock(&self.nonces).check(&creds.nonce, creds.nc, unix_now()) {
            NonceCheck::Valid => {}
            // An expired nonce is not a failure: the phone retries with the new one.
            NonceCheck::Stale => return Auth::Refuse(self.challenge(req, true)),
            NonceCheck::Invalid | NonceCheck::Replay => {
                tracing::info!(%source, user = %creds.username, "nonce invalid or replayed");
                lock(&self.guard).failed(ip, Instant::now());
                return Auth::Refuse(self.challenge(req, false));
            }
        }
        lock(&self.guard).succeeded(ip, Instant::now());
        Auth::Agent(creds.username)
    }

    /// A REGISTER from a softphone: authenticate, then update the bindings.
    pub async fn register(self: Arc<Self>, r: Invite, ep: EndpointHandle) {
        let ext = match self.authenticate(&r.req, r.source).await {
            Auth::Agent(ext) => ext,
            Auth::Refuse(resp) => return ep.respond(&r.key, resp),
        };
        // An agent registers its own extension only (§10.3 step 6).
        let to_user = message::first(&r.req.headers, "To")
            .map(message::addr_uri)
            .and_then(message::uri_user)
            .unwrap_or("");
        if to_user != ext {
            tracing::info!(agent = %ext, to = %to_user, "REGISTER for another extension refused");
            return ep.respond(&r.key, Self::forbidden(&r.req));
        }
        let (resp, outcome) =
            lock(&self.registrar).register(Instant::now(), &r.req, &r.info, r.source, r.transport);
        ep.respond(&r.key, resp);
        match outcome {
            RegisterOutcome::Updated {
                aor_user,
                contacts,
                was_registered,
            } => {
                if !was_registered {
                    tracing::info!(agent = %aor_user, contacts, source = %r.source, "softphone registered");
                }
            }
            RegisterOutcome::Removed { aor_user } => {
                tracing::info!(agent = %aor_user, "softphone unregistered; agent logged out");
                self.acd.logout(&AgentId(aor_user));
            }
            RegisterOutcome::Rejected => {}
        }
        self.wake.notify_one();
    }
}
