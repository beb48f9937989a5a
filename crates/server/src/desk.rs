//! The agents' desk: digest authentication of agents' softphones, their registrations,
//! and what happens when a registration lapses.
//!
//! Unknown extensions and wrong passwords get the same fresh 401 challenge, so extensions
//! cannot be enumerated. Every attempt is counted by the lockout
//! ([`hotline_sip::lockout`]) before its password is checked — per source, per extension,
//! and per registered phone — slowed down, then refused (403) for a while; each lockout is
//! a security event in the database. Attempts past the allowance while others are still
//! being checked get 503 with `Retry-After` ([`BUSY_RETRY_SECS`]) instead: a burst of
//! phones behind one address retries, nothing is verified for them, nothing is locked.

use crate::acd::AcdService;
use crate::call::Invite;
use crate::config::AgentsConfig;
use crate::endpoint::EndpointHandle;
use chrono::Utc;
use hotline_acd::AgentId;
use hotline_case::{CaseStore, StoredBinding};
use hotline_sip::digest::{self, Algorithm, Challenge, NonceCheck, NonceKeeper};
use hotline_sip::lockout::{Attempt, Lock, Lockout, Verdict};
use hotline_sip::message::{self, Transport};
use hotline_sip::registrar::{Binding, RegisterOutcome, Registrar, RegistrarConfig};
use rsip::{Request, Response};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// The `Retry-After` (seconds) of a REGISTER deferred because too many attempts from its
/// source or for its user are under way.
pub const BUSY_RETRY_SECS: u32 = 1;

/// The outcome of checking a request's credentials.
#[derive(Debug)]
pub enum Auth {
    /// The request comes from this agent (extension).
    Agent(String),
    /// Answer this (401 with a challenge, or 403) and stop.
    Refuse(Response),
}

/// An authentication begun by [`Desk::begin_auth`]: decided already, or counted by the
/// lockout and to be verified by [`Desk::finish_auth`].
#[derive(Debug)]
pub enum Begun {
    /// Nothing to verify: the answer is known (a challenge, 403, or 503 for a burst).
    Decided(Auth),
    /// Counted as an attempt under way: verify `creds`, then settle `attempt`.
    Counted {
        creds: digest::Credentials,
        attempt: Attempt,
        /// How long the lockout asks to wait before verifying.
        delay: Option<std::time::Duration>,
    },
}

/// Registrations and authentication of agents.
pub struct Desk {
    cfg: AgentsConfig,
    store: CaseStore,
    acd: Arc<AcdService>,
    registrar: Mutex<Registrar>,
    nonces: Mutex<NonceKeeper>,
    lockout: Mutex<Lockout>,
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
        let lockout = Lockout::new(cfg.lockout_policy());
        let desk = Arc::new(Desk {
            cfg,
            store,
            acd,
            registrar: Mutex::new(registrar),
            nonces: Mutex::new(NonceKeeper::new(secret, 300)),
            lockout: Mutex::new(lockout),
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
                        self.acd.logout(&AgentId(user), crate::acd::By::System);
                    }
                }
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Puts back the registrations stored before a restart (those not yet lapsed), so the
    /// agents' phones are rung without waiting for them to register again. Returns how many.
    pub async fn restore_registrations(&self) -> usize {
        let stored = match self.store.live_registrations(Utc::now()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the stored registrations");
                return 0;
            }
        };
        let (now, wall) = (Instant::now(), Utc::now());
        let mut restored = 0;
        for b in stored {
            let (Ok(source), Ok(left)) = (b.source.parse(), (b.expires_at - wall).to_std()) else {
                continue;
            };
            let binding = Binding {
                contact: b.contact,
                expires_at: now + left,
                source,
                transport: if b.transport == "tcp" {
                    Transport::Tcp
                } else {
                    Transport::Udp
                },
                call_id: b.call_id,
                cseq: b.cseq,
                q: b.q,
            };
            if lock(&self.registrar).restore(&b.extension, binding, now) {
                restored += 1;
            }
        }
        if restored > 0 {
            tracing::info!(bindings = restored, "softphone registrations restored");
        }
        self.wake.notify_one();
        restored
    }

    /// Stores `extension`'s live bindings after a REGISTER changed them (none: all gone).
    async fn save_registrations(&self, extension: &str) {
        let (now, wall) = (Instant::now(), Utc::now());
        let bindings: Vec<StoredBinding> = self
            .contacts(extension)
            .into_iter()
            .map(|b| StoredBinding {
                extension: extension.to_owned(),
                contact: b.contact,
                source: b.source.to_string(),
                transport: if b.transport == Transport::Tcp {
                    "tcp"
                } else {
                    "udp"
                }
                .to_owned(),
                call_id: b.call_id,
                cseq: b.cseq,
                q: b.q,
                expires_at: wall
                    + chrono::Duration::from_std(b.expires_at.saturating_duration_since(now))
                        .unwrap_or_default(),
            })
            .collect();
        if let Err(e) = self.store.save_registrations(extension, &bindings).await {
            tracing::error!(agent = %extension, error = %e, "cannot store the registration");
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

    /// Begins checking the digest credentials of a request from an agent's softphone
    /// (§22), up to the lockout's count, with no wait; [`Desk::finish_auth`] ends it.
    ///
    /// Order matters: credentials with a nonce we never issued are answered with a fresh
    /// challenge before anything is counted or hashed (whoever sent them did not read our
    /// challenge: a blind forger of an agent's address); then the lockout decides and counts
    /// the attempt; only then is the hash verified, and the nonce's use recorded last (so a
    /// forged request cannot use up a real client's nonce counts).
    ///
    /// Run where requests are taken in the order they came (the endpoint's loop, for
    /// REGISTERs and phones' INVITEs), so that of a burst of guesses the first
    /// `auth_max_failures` are the ones verified. Spawned as tasks and counted there, the
    /// last one sent could be counted first (a new task runs before those queued earlier),
    /// and a guess sent last with the right password got through.
    pub fn begin_auth(&self, req: &Request, source: SocketAddr) -> Begun {
        let creds = match digest::find_credentials(&req.headers, &self.cfg.realm, false) {
            Some(Ok(c)) if lock(&self.nonces).is_ours(&c.nonce) => c,
            // No usable credentials: nothing was guessed, nothing to count. A blocked source
            // gets 403, except an agent's registered phone (its refresh starts like this).
            _ => {
                let from_user = message::first(&req.headers, "From")
                    .map(message::addr_uri)
                    .and_then(message::uri_user)
                    .unwrap_or("");
                if lock(&self.lockout).source_blocked(source.ip(), Instant::now())
                    && !self.is_registered_phone(from_user, source)
                {
                    return Begun::Decided(Auth::Refuse(Self::forbidden(req)));
                }
                return Begun::Decided(Auth::Refuse(self.challenge(req, false)));
            }
        };
        let user = creds.username.clone();
        let trusted = self.is_registered_phone(&user, source);
        let verdict = lock(&self.lockout).begin(source, &user, trusted, Instant::now());
        match verdict {
            Verdict::Allow(attempt) => Begun::Counted {
                creds,
                attempt,
                delay: None,
            },
            Verdict::Delay(d, attempt) => Begun::Counted {
                creds,
                attempt,
                delay: Some(d),
            },
            Verdict::Block(scope) => {
                tracing::debug!(%source, %user, %scope, "authentication refused: locked out");
                Begun::Decided(Auth::Refuse(Self::forbidden(req)))
            }
            Verdict::Busy(scope) => {
                // A burst (phones behind one NAT registering at once, or a guesser): told
                // to come back, never locked for it. Info, not debug: an operator looking
                // at agents who cannot register must see this.
                tracing::info!(%source, %user, %scope,
                    "authentication deferred: too many attempts under way, 503 Retry-After");
                Begun::Decided(Auth::Refuse(message::unavailable(req, BUSY_RETRY_SECS)))
            }
        }
    }

    /// The second half of [`Desk::begin_auth`]: the lockout's wait, the hash and the
    /// nonce of an attempt it counted.
    pub async fn finish_auth(&self, req: &Request, source: SocketAddr, begun: Begun) -> Auth {
        let (creds, attempt, delay) = match begun {
            Begun::Decided(auth) => return auth,
            Begun::Counted {
                creds,
                attempt,
                delay,
            } => (creds, attempt, delay),
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let user = creds.username.clone();
        let secrets = match self.store.agent_secrets(&user).await {
            Ok(s) => s,
            Err(e) => {
                lock(&self.lockout).forgive(attempt, Instant::now());
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
            tracing::info!(%source, %user, "agent authentication failed");
            let locks = lock(&self.lockout).failed(attempt, Instant::now());
            self.audit_locks(locks, source, &user);
            return Auth::Refuse(self.challenge(req, false));
        }
        match lock(&self.nonces).check(&creds.nonce, creds.nc, unix_now()) {
            NonceCheck::Valid => {}
            // An expired nonce is not a failure: the phone retries with the new one.
            NonceCheck::Stale => {
                lock(&self.lockout).forgive(attempt, Instant::now());
                return Auth::Refuse(self.challenge(req, true));
            }
            NonceCheck::Invalid | NonceCheck::Replay => {
                tracing::info!(%source, %user, "nonce invalid or replayed");
                let locks = lock(&self.lockout).failed(attempt, Instant::now());
                self.audit_locks(locks, source, &user);
                return Auth::Refuse(self.challenge(req, false));
            }
        }
        lock(&self.lockout).succeeded(attempt, Instant::now());
        Auth::Agent(user)
    }

    /// Whether `source` is exactly where one of `user`'s live registrations came from.
    /// Whether `source` is where extension `user`'s phone is registered from.
    pub fn is_registered_phone(&self, user: &str, source: SocketAddr) -> bool {
        !user.is_empty() && self.contacts(user).iter().any(|b| b.source == source)
    }

    /// Logs and stores (in the background: the answer does not wait for the disk) the
    /// lockouts that a failure started.
    fn audit_locks(&self, locks: Vec<Lock>, source: SocketAddr, user: &str) {
        for l in locks {
            tracing::warn!(%source, %user, scope = %l.scope, failures = l.failures,
                "SIP authentication locked out");
            crate::security::audit_lock(&self.store, "sip_auth_locked", &l, source, user);
        }
    }

    /// A REGISTER from a softphone, its authentication begun ([`Desk::begin_auth`]):
    /// authenticate, then update the bindings.
    pub async fn register(self: Arc<Self>, r: Invite, begun: Begun, ep: EndpointHandle) {
        let ext = match self.finish_auth(&r.req, r.source, begun).await {
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
        // Stored before the phone hears 200: a registration it was granted survives a
        // restart that follows at once.
        if let RegisterOutcome::Updated { aor_user, .. } | RegisterOutcome::Removed { aor_user } =
            &outcome
        {
            self.save_registrations(aor_user).await;
        }
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
                self.acd.logout(&AgentId(aor_user), crate::acd::By::Phone);
            }
            RegisterOutcome::Rejected => {}
        }
        self.wake.notify_one();
    }
}
