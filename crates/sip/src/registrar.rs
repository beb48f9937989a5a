//! The registrar of RFC 3261 §10.3, sans-IO (the brute-force lockout in front of it is
//! [`crate::lockout`]).
//!
//! Agents' softphones REGISTER their contacts; the call controller finds an agent's phone
//! with [`Registrar::contacts`]. The registrar knows nothing of passwords: the driver first
//! authenticates (see [`crate::digest`]), answers 403 when the authenticated user is not the
//! To user, and only then calls [`Registrar::register`]. Time comes in with each call.
//!
//! What the controller learns about an agent's registration, exactly once each way:
//! `Updated { was_registered: false, .. }` when the first contact appears, then either
//! [`RegisterOutcome::Removed`] (unregistered) or the user's name from
//! [`Registrar::handle_timeout`] (the last binding lapsed). A binding past its expiry is
//! not live ([`Registrar::contacts`] skips it) even before `handle_timeout` reaps it.

use crate::message::{self, Info, Transport};
use rsip::headers::untyped::UntypedHeader;
use rsip::{Header, Request, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// At most this many contacts per AOR; a new one beyond it pushes out the least recently
/// refreshed (a phone that restarts on a new port without unregistering must still get in).
pub const MAX_CONTACTS_PER_AOR: usize = 10;

/// One registered contact of an AOR.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The Contact URI, as registered.
    pub contact: String,
    pub expires_at: Instant,
    /// Where the REGISTER came from: behind NAT, requests to the agent go here.
    pub source: SocketAddr,
    pub transport: Transport,
    pub call_id: String,
    pub cseq: u32,
    /// The Contact's `q` (0..=1); absent counts as 1.0 when ordering.
    pub q: Option<f32>,
}

/// Registration intervals, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shorter non-zero requests get 423 Interval Too Brief.
    pub min_expires: u32,
    /// Longer requests are shortened to this.
    pub max_expires: u32,
    /// When neither the Contact nor the request says.
    pub default_expires: u32,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
        }
    }
}

/// What a REGISTER did, for the call controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// The AOR has `contacts` live bindings (possibly 0 for a query of an unknown user);
    /// `was_registered` is false the first time it gets any.
    Updated {
        aor_user: String,
        contacts: usize,
        was_registered: bool,
    },
    /// The last contact of a registered AOR is gone: log the agent out.
    Removed { aor_user: String },
    /// The request was refused (400, 423, 500); nothing changed.
    Rejected,
}

#[derive(Debug, Clone)]
struct Entry {
    binding: Binding,
    /// Larger is more recent (set on every add or refresh).
    seq: u64,
}

/// Bindings by AOR user. See the module docs for the order of calls.
#[derive(Debug)]
pub struct Registrar {
    cfg: RegistrarConfig,
    aors: HashMap<String, Vec<Entry>>,
    seq: u64,
}

/// A REGISTER's request, validated before anything changes.
enum Update {
    /// No Contact: list the bindings.
    Query,
    /// `Contact: *` with `Expires: 0`.
    RemoveAll,
    /// (contact URI, granted seconds, q); 0 seconds removes.
    Set(Vec<(String, u32, Option<f32>)>),
}

/// Why a REGISTER is refused: the status code (423 carries Min-Expires).
struct Refuse(u16);

impl Registrar {
    pub fn new(cfg: RegistrarConfig) -> Registrar {
        Registrar {
            cfg,
            aors: HashMap::new(),
            seq: 0,
        }
    }

    /// Applies an authenticated REGISTER for the To AOR's user and returns the response to
    /// send with what happened. The request is applied whole or not at all (§10.3):
    /// 400 for a malformed Contact/Expires or a `*` that is not alone with `Expires: 0`,
    /// 423 with Min-Expires for a non-zero interval below `min_expires`, 500 when a binding
    /// from the same Call-ID already has this CSeq or a higher one. Otherwise 200 listing
    /// every live Contact with its remaining `expires`.
    pub fn register(
        &mut self,
        now: Instant,
        req: &Request,
        info: &Info,
        source: SocketAddr,
        transport: Transport,
    ) -> (Response, RegisterOutcome) {
        let tag = message::random_token(10);
        let user = message::first(&req.headers, "To")
            .map(message::addr_uri)
            .and_then(message::uri_user)
            .filter(|u| !u.is_empty());
        let Some(user) = user else {
            return self.refuse(req, &tag, Refuse(400));
        };
        let update = match self.read(req) {
            Ok(u) => u,
            Err(r) => return self.refuse(req, &tag, r),
        };
        let live = |e: &&Entry| e.binding.expires_at > now;
        let current = self.aors.get(user).map(Vec::as_slice).unwrap_or(&[]);
        let out_of_order =
            |e: &Entry| e.binding.call_id == info.call_id && info.cseq <= e.binding.cseq;
        let conflict = match &update {
            Update::Query => false,
            Update::RemoveAll => current.iter().filter(live).any(out_of_order),
            Update::Set(set) => current.iter().filter(live).any(|e| {
                let key = uri_key(&e.binding.contact);
                out_of_order(e) && set.iter().any(|(c, _, _)| uri_key(c) == key)
            }),
        };
        if conflict {
            return self.refuse(req, &tag, Refuse(500));
        }

        let was_registered = self.aors.contains_key(user);
        let mut list = self.aors.remove(user).unwrap_or_default();
        list.retain(|e| e.binding.expires_at > now);
        match update {
            Update::Query => {}
            Update::RemoveAll => list.clear(),
            Update::Set(set) => {
                for (contact, secs, q) in set {
                    let key = uri_key(&contact);
                    let pos = list.iter().position(|e| uri_key(&e.binding.contact) == key);
                    if secs == 0 {
                        if let Some(i) = pos {
                            list.remove(i);
                        }
                        continue;
                    }
                    self.seq += 1;
                    let entry = Entry {
                        binding: Binding {
                            contact,
                            expires_at: now + Duration::from_secs(secs.into()),
                            source,
                            transport,
                            call_id: info.call_id.clone(),
                            cseq: info.cseq,
                            q,
                        },
                        seq: self.seq,
                    };
                    match pos {
                        Some(i) => list[i] = entry,
                        None => list.push(entry),
                    }
                }
                while list.len() > MAX_CONTACTS_PER_AOR {
                    if let Some(i) = (0..list.len()).min_by_key(|&i| list[i].seq) {
                        list.remove(i);
                    }
                }
            }
        }
        sort(&mut list);

        let mut resp = message::response(req, 200, Some(&tag));
        for e in &list {
            let left = e.binding.expires_at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            let mut v = format!("<{}>;expires={secs}", e.binding.contact);
            if let Some(q) = e.binding.q {
                v.push_str(&format!(";q={q}"));
            }
            resp.headers
                .push(Header::Contact(rsip::headers::Contact::new(v)));
        }
        message::fix_content_length(&mut resp.headers, 0);

        let aor_user = user.to_string();
        let outcome = if list.is_empty() {
            if was_registered {
                RegisterOutcome::Removed { aor_user }
            } else {
                RegisterOutcome::Updated {
                    aor_user,
                    contacts: 0,
                    was_registered,
                }
            }
        } else {
            let contacts = list.len();
            self.aors.insert(aor_user.clone(), list);
            RegisterOutcome::Updated {
                aor_user,
                contacts,
                was_registered,
            }
        };
        (resp, outcome)
    }

    fn refuse(&self, req: &Request, tag: &str, r: Refuse) -> (Response, RegisterOutcome) {
        let mut resp = message::response(req, r.0, Some(tag));
        if r.0 == 423 {
            resp.headers
                .push(Header::MinExpires(rsip::headers::MinExpires::new(
                    self.cfg.min_expires.to_string(),
                )));
        }
        message::fix_content_length(&mut resp.headers, 0);
        (resp, RegisterOutcome::Rejected)
    }

    /// Reads Contact and Expires into an [`Update`], checking every value first.
    fn read(&self, req: &Request) -> Result<Update, Refuse> {
        let header_expires = match message::first(&req.headers, "Expires") {
            Some(v) => Some(delta_seconds(v).ok_or(Refuse(400))?),
            None => None,
        };
        let items: Vec<&str> = message::all(&req.headers, "Contact")
            .flat_map(split_list)
            .collect();
        if items.is_empty() {
            return Ok(Update::Query);
        }
        if items.contains(&"*") {
            return if items.len() == 1 && header_expires == Some(0) {
                Ok(Update::RemoveAll)
            } else {
                Err(Refuse(400))
            };
        }
        let mut set = Vec::with_capacity(items.len());
        let mut too_brief = false;
        for item in items {
            let uri = message::addr_uri(item).trim();
            let scheme = uri.split(':').next().unwrap_or("");
            if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips"))
                || uri.len() <= scheme.len() + 1
            {
                return Err(Refuse(400));
            }
            let secs = match message::header_param(item, "expires") {
                Some(v) => delta_seconds(&v).ok_or(Refuse(400))?,
                None => header_expires.unwrap_or(self.cfg.default_expires.into()),
            };
            too_brief |= secs != 0 && secs < u64::from(self.cfg.min_expires);
            let secs = secs.min(self.cfg.max_expires.into()) as u32;
            let q = match message::header_param(item, "q") {
                Some(v) => Some(
                    v.parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .ok_or(Refuse(400))?,
                ),
                None => None,
            };
            set.push((uri.to_string(), secs, q));
        }
        if too_brief {
            return Err(Refuse(423));
        }
        Ok(Update::Set(set))
    }

    /// The live bindings of `user`, best `q` first, then most recently refreshed first.
    pub fn contacts(&self, user: &str, now: Instant) -> Vec<Binding> {
        let mut list: Vec<Entry> = self
            .aors
            .get(user)
            .into_iter()
            .flatten()
            .filter(|e| e.binding.expires_at > now)
            .cloned()
            .collect();
        sort(&mut list);
        list.into_iter().map(|e| e.binding).collect()
    }

    /// When the next binding lapses (call [`handle_timeout`](Self::handle_timeout) then).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.aors
            .values()
            .flatten()
            .map(|e| e.binding.expires_at)
            .min()
    }

    /// Drops lapsed bindings; returns (sorted) the users whose last binding lapsed, whom the
    /// controller logs out.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<String> {
        let mut gone = Vec::new();
        self.aors.retain(|user, list| {
            list.retain(|e| e.binding.expires_at > now);
            if list.is_empty() {
                gone.push(user.clone());
            }
            !list.is_empty()
        });
        gone.sort();
        gone
    }

    /// Puts back a binding kept across a restart (the node's registrations are stored after
    /// each REGISTER): as if `user` had just registered it, unless it has lapsed at `now`
    /// or the AOR already has this contact (a REGISTER since wins). Returns whether it was
    /// added.
    pub fn restore(&mut self, user: &str, binding: Binding, now: Instant) -> bool {
        if binding.expires_at <= now {
            return false;
        }
        let list = self.aors.entry(user.to_owned()).or_default();
        let key = uri_key(&binding.contact);
        if list.iter().any(|e| uri_key(&e.binding.contact) == key)
            || list.len() >= MAX_CONTACTS_PER_AOR
        {
            return false;
        }
        self.seq += 1;
        list.push(Entry {
            binding,
            seq: self.seq,
        });
        true
    }

    /// Users with bindings not yet reaped by `handle_timeout`, sorted.
    pub fn users(&self) -> Vec<String> {
        let mut users: Vec<String> = self.aors.keys().cloned().collect();
        users.sort();
        users
    }
}

/// Best q first (absent = 1.0), then most recent first.
fn sort(list: &mut [Entry]) {
    list.sort_by(|a, b| {
        let q = |e: &Entry| e.binding.q.unwrap_or(1.0);
        q(b).total_cmp(&q(a)).then(b.seq.cmp(&a.seq))
    });
}

/// A delta-seconds value; huge values saturate (they are capped at max_expires anyway).
fn delta_seconds(v: &str) -> Option<u64> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u64>().unwrap_or(u64::MAX))
}

/// Splits a header value on commas outside quotes and angle brackets.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut angle, mut escaped) = (0, false, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty())
}

/// A comparison key for Contact URIs: scheme, host and parameters are case-insensitive,
/// the user part is not (RFC 3261 §19.1.4, simplified).
fn uri_key(uri: &str) -> String {
    match (uri.find(':'), uri.find('@')) {
        (Some(c), Some(a)) if c < a => format!(
            "{}{}{}",
            uri[..=c].to_ascii_lowercase(),
            &uri[c + 1..a],
            uri[a..].to_ascii_lowercase()
        ),
        _ => uri.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests;
