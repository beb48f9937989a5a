//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760), sans-IO.
//!
//! rsip reads digest parameters wrongly (`nc` as decimal, `-sess` hashed like the plain
//! algorithm), so the Authorization header is parsed here ([`parse_authorization`]).
//!
//! How a server uses this module, for one request:
//!
//! 1. No credentials for our realm ([`find_credentials`] is `None`): answer a fresh challenge
//!    ([`challenge_pair`], [`challenge_response`]): two WWW-Authenticate headers, SHA-256
//!    first then MD5, so old phones that know only MD5 still log in (RFC 7616 §3.7).
//! 2. Credentials: look up the user's stored HA1 for `c.algorithm.family()` and call
//!    [`verify_user`] (with `None` for an unknown user: the same work is done, and the answer
//!    is the same fresh 401 as for a wrong password, so a client cannot probe for names).
//! 3. Only when the response verified, ask the [`NonceKeeper`] about the nonce: `Stale` →
//!    401 with `stale=true` (the phone retries without asking its user); `Replay` or
//!    `Invalid` → a fresh 401. Checking after verifying means a forged request cannot burn a
//!    legitimate client's nonce counts.
//!
//! When we are the client (dialling out through a carrier that challenges us),
//! [`parse_challenge`] reads its challenge and [`authorize`] answers it.

use hmac::{Hmac, Mac};
use md5::Md5;
use rsip::headers::untyped::UntypedHeader;
use rsip::{Header, Headers, Request, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

mod client;
pub use client::{authorize, parse_challenge, ServerChallenge};

/// Why an Authorization header value is not usable digest credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The scheme is not `Digest` (e.g. `Basic`).
    #[error("not a Digest authorization")]
    NotDigest,
    /// The parameter list does not parse (unterminated quote, missing `=`, duplicate name).
    #[error("malformed digest parameters: {0}")]
    Syntax(&'static str),
    /// A required parameter is absent.
    #[error("missing digest parameter {0}")]
    Missing(&'static str),
    /// An algorithm we do not implement.
    #[error("unsupported digest algorithm {0}")]
    Algorithm(String),
    /// A qop other than `auth` (we never offer `auth-int`).
    #[error("unsupported qop {0}")]
    Qop(String),
    /// `nc` is not eight hex digits.
    #[error("bad nonce count")]
    NonceCount,
}

/// A digest algorithm (RFC 7616 §6.1; SHA-512-256 is not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// `MD5`, the default when the parameter is absent.
    #[default]
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// The token used in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// The plain algorithm of the same hash: the HA1 stored per user is for this one.
    pub fn family(self) -> Algorithm {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
        }
    }

    /// A `-sess` variant: HA1 also covers the nonce and cnonce.
    pub fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Lowercase hex of the hash of `data`.
    fn hash(self, data: &str) -> String {
        match self.family() {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            _ => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;
    /// Case-insensitive: `MD5`, `MD5-sess`, `SHA-256`, `SHA-256-sess`.
    fn from_str(s: &str) -> Result<Algorithm, DigestError> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| DigestError::Algorithm(s.to_string()))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parameters of one `Authorization`/`Proxy-Authorization: Digest …` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    /// The digest-uri as the client sent it (hashed verbatim).
    pub uri: String,
    /// The client's response hash (hex).
    pub response: String,
    pub algorithm: Algorithm,
    pub cnonce: Option<String>,
    /// `auth` when present (anything else is refused at parse time).
    pub qop: Option<String>,
    /// The nonce count, read as hex (`nc=0000000a` is 10).
    pub nc: Option<u32>,
    pub opaque: Option<String>,
}

/// Parses `Digest username="1001", realm="hotline", …`: names in any case and order, quoted
/// or bare values, commas inside quotes, backslash escapes, free spacing. Unknown parameters
/// are ignored; a repeated known one is an error. With `qop`, `cnonce` and `nc` are required
/// (RFC 7616 §3.4); a `-sess` algorithm requires `cnonce`.
pub fn parse_authorization(value: &str) -> Result<Credentials, DigestError> {
    let value = value.trim_start();
    let rest = match value.get(..6) {
        Some(s) if s.eq_ignore_ascii_case("digest") => &value[6..],
        _ => return Err(DigestError::NotDigest),
    };
    if !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(DigestError::NotDigest);
    }
    const NAMES: [&str; 10] = [
        "username",
        "realm",
        "nonce",
        "uri",
        "response",
        "algorithm",
        "cnonce",
        "qop",
        "nc",
        "opaque",
    ];
    let mut found: [Option<String>; 10] = Default::default();
    for param in Params(rest) {
        let (name, value) = param?;
        if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            if found[i].replace(value).is_some() {
                return Err(DigestError::Syntax("duplicate parameter"));
            }
        }
    }
    let [username, realm, nonce, uri, response, algorithm, cnonce, qop, nc, opaque] = found;
    let algorithm = match algorithm {
        Some(a) => a.parse()?,
        None => Algorithm::Md5,
    };
    let nc = match nc {
        Some(n) if n.len() == 8 && n.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(u32::from_str_radix(&n, 16).map_err(|_| DigestError::NonceCount)?)
        }
        Some(_) => return Err(DigestError::NonceCount),
        None => None,
    };
    if let Some(q) = &qop {
        if !q.eq_ignore_ascii_case("auth") {
            return Err(DigestError::Qop(q.clone()));
        }
        if nc.is_none() {
            return Err(DigestError::Missing("nc"));
        }
    }
    if (qop.is_some() || algorithm.is_sess()) && cnonce.is_none() {
        return Err(DigestError::Missing("cnonce"));
    }
    Ok(Credentials {
        username: username.ok_or(DigestError::Missing("username"))?,
        realm: realm.ok_or(DigestError::Missing("realm"))?,
        nonce: nonce.ok_or(DigestError::Missing("nonce"))?,
        uri: uri.ok_or(DigestError::Missing("uri"))?,
        response: response.ok_or(DigestError::Missing("response"))?,
        algorithm,
        cnonce,
        qop: qop.map(|q| q.to_ascii_lowercase()),
        nc,
        opaque,
    })
}

/// Iterates `name=value` pairs of an auth-param list, unquoting values.
struct Params<'a>(&'a str);

impl<'a> Iterator for Params<'a> {
    type Item = Result<(&'a str, String), DigestError>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self
            .0
            .trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if s.is_empty() {
            self.0 = s;
            return None;
        }
        let Some(eq) = s.find('=') else {
            self.0 = "";
            return Some(Err(DigestError::Syntax("parameter without '='")));
        };
        let name = s[..eq].trim();
        if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace() || c == ',') {
            self.0 = "";
            return Some(Err(DigestError::Syntax("bad parameter name")));
        }
        let v = s[eq + 1..].trim_start();
        let (value, rest) = if let Some(q) = v.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, e)) => out.push(e),
                        None => break,
                    },
                    c => out.push(c),
                }
            }
            let Some(end) = end else {
                self.0 = "";
                return Some(Err(DigestError::Syntax("unterminated quoted value")));
            };
            (out, &q[end..])
        } else {
            let end = v
                .find(|c: char| c == ',' || c.is_ascii_whitespace())
                .unwrap_or(v.len());
            (v[..end].to_string(), &v[end..])
        };
        let rest = rest.trim_start();
        if !rest.is_empty() && !rest.starts_with(',') {
            self.0 = "";
            return Some(Err(DigestError::Syntax("expected ',' between parameters")));
        }
        self.0 = rest;
        Some(Ok((name, value)))
    }
}

/// The credentials in `headers` (Authorization, or Proxy-Authorization when `proxy`) for
/// `realm`. A request may carry one per realm; values for other realms or other schemes are
/// skipped. `Some(Err)` when the only candidate for our realm is malformed.
pub fn find_credentials(
    headers: &Headers,
    realm: &str,
    proxy: bool,
) -> Option<Result<Credentials, DigestError>> {
    let name = if proxy {
        "Proxy-Authorization"
    } else {
        "Authorization"
    };
    let mut error = None;
    for v in crate::message::all(headers, name) {
        match parse_authorization(v) {
            Ok(c) if c.realm == realm => return Some(Ok(c)),
            Ok(_) | Err(DigestError::NotDigest) => {}
            Err(e) => error = error.or(Some(e)),
        }
    }
    error.map(Err)
}

/// Hex `H(username:realm:password)` in the hash of `alg` (its plain family): what is stored
/// per agent, once for MD5 and once for SHA-256, instead of the password.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.family().hash(&format!("{username}:{realm}:{password}"))
}

/// The response a client knowing the password computes (RFC 7616 §3.4.1):
/// `-sess` uses `H(HA1:nonce:cnonce)` as HA1; with qop `H(HA1:nonce:nc:cnonce:qop:HA2)`,
/// without `H(HA1:nonce:HA2)`, where `HA2 = H(method:uri)` and nc is 8 lowercase hex digits.
pub fn expected_response(c: &Credentials, method: &str, ha1_hex: &str) -> String {
    let alg = c.algorithm;
    let cnonce = c.cnonce.as_deref().unwrap_or("");
    let ha1 = if alg.is_sess() {
        alg.hash(&format!("{ha1_hex}:{}:{cnonce}", c.nonce))
    } else {
        ha1_hex.to_string()
    };
    let ha2 = alg.hash(&format!("{method}:{}", c.uri));
    match &c.qop {
        Some(qop) => alg.hash(&format!(
            "{ha1}:{}:{:08x}:{cnonce}:{qop}:{ha2}",
            c.nonce,
            c.nc.unwrap_or(0)
        )),
        None => alg.hash(&format!("{ha1}:{}:{ha2}", c.nonce)),
    }
}

/// Whether the client's response matches, compared in constant time. `method` is the request
/// method (`REGISTER`, `INVITE`; `ACK` and `CANCEL` reuse the INVITE's credentials). The
/// caller also checks that `c.realm` is ours and that `c.opaque` is the one it issued.
pub fn verify(c: &Credentials, method: &str, ha1_hex: &str) -> bool {
    if c.qop.as_deref().is_some_and(|q| q != "auth") {
        return false;
    }
    let expected = expected_response(c, method, ha1_hex);
    ct_eq(
        expected.as_bytes(),
        c.response.to_ascii_lowercase().as_bytes(),
    )
}

/// [`verify`] for a user that may not exist (`ha1_hex` is `None`): the same hashing is done
/// against a dummy HA1 and the result is `false`, so timing does not tell unknown users from
/// wrong passwords. Answer both with the same fresh 401.
pub fn verify_user(c: &Credentials, method: &str, ha1_hex: Option<&str>) -> bool {
    match ha1_hex {
        Some(h) => verify(c, method, h),
        None => {
            let dummy = ha1(c.algorithm, &c.username, &c.realm, "\u{0}no such user");
            let _ = verify(c, method, &dummy);
            false
        }
    }
}

/// Equality that takes the same time wherever the first difference is.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// One `WWW-Authenticate`/`Proxy-Authenticate` challenge; `Display` gives the header value:
/// `Digest realm="..", nonce="..", opaque="..", algorithm=SHA-256, qop="auth"[, stale=true]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    /// Echoed back by the client; omitted from the header when `None`.
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The nonce the client used had expired but its response was right: retry silently.
    pub stale: bool,
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm={}, nonce={}",
            Quoted(&self.realm),
            Quoted(&self.nonce)
        )?;
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", Quoted(o))?;
        }
        write!(f, ", algorithm={}, qop=\"auth\"", self.algorithm)?;
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

/// A quoted-string with `"` and `\` escaped.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    }
}

/// The two challenges of a 401, SHA-256 first then MD5, sharing one nonce (RFC 7616 §3.7,
/// RFC 8760): a client uses the first algorithm it supports.
pub fn challenge_pair(
    realm: &str,
    nonce: &str,
    opaque: Option<&str>,
    stale: bool,
) -> [Challenge; 2] {
    [Algorithm::Sha256, Algorithm::Md5].map(|algorithm| Challenge {
        realm: realm.to_string(),
        nonce: nonce.to_string(),
        opaque: opaque.map(str::to_string),
        algorithm,
        stale,
    })
}

/// A 401 (or 407 with Proxy-Authenticate when `proxy`) to `req` carrying `challenges` in
/// order, with a To tag and `Content-Length: 0`.
pub fn challenge_response(
    req: &Request,
    to_tag: Option<&str>,
    proxy: bool,
    challenges: &[Challenge],
) -> Response {
    let mut resp = crate::message::response(req, if proxy { 407 } else { 401 }, to_tag);
    for c in challenges {
        resp.headers.push(if proxy {
            Header::ProxyAuthenticate(rsip::headers::ProxyAuthenticate::new(c.to_string()))
        } else {
            Header::WwwAuthenticate(rsip::headers::WwwAuthenticate::new(c.to_string()))
        });
    }
    crate::message::fix_content_length(&mut resp.headers, 0);
    resp
}

/// What [`NonceKeeper::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours, live, and this nonce count is new: accept.
    Valid,
    /// Ours but expired: challenge again with `stale=true`.
    Stale,
    /// Not a nonce we issued (tampered, truncated, another server's secret), or `nc=0`.
    Invalid,
    /// A nonce count not above the last one seen, or a qop-less nonce used twice.
    Replay,
}

/// How many nonces are tracked for replay at most (one per live nonce in use).
pub const MAX_TRACKED_NONCES: usize = 65_536;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the nonce: issued_at (8, big-endian) · random (8) · HMAC-SHA256 truncated (16).
const NONCE_BYTES: usize = 32;

/// Issues and checks nonces without storing them: a nonce is
/// `hex(issued_at ‖ random ‖ HMAC-SHA256(secret, issued_at ‖ random)[..16])`, so any node
/// sharing the secret validates it. It lives `ttl_secs`; after that it is [`NonceCheck::Stale`].
///
/// Replay protection needs a little state: for each nonce in use, the highest `nc` seen
/// (a qop-less nonce may be used once). The map is purged of expired nonces as time passes
/// and bounded by [`MAX_TRACKED_NONCES`]: when full, the oldest-issued entries are dropped
/// and every nonce issued up to then is treated as stale, so eviction never allows a replay.
#[derive(Debug)]
pub struct NonceKeeper {
    secret: [u8; 32],
    ttl_secs: u64,
    used: HashMap<[u8; 16], Used>,
    /// Nonces issued before this second are stale (set by eviction).
    floor: u64,
    next_purge: u64,
    max_tracked: usize,
}

#[derive(Debug, Clone, Copy)]
struct Used {
    issued_at: u64,
    /// Highest nc accepted; `u32::MAX` once used without qop.
    last_nc: u32,
}

impl NonceKeeper {
    /// A keeper with a secret (random per process, or shared by the nodes of a cluster).
    pub fn new(secret: [u8; 32], ttl_secs: u64) -> NonceKeeper {
        NonceKeeper {
            secret,
            ttl_secs,
            used: HashMap::new(),
            floor: 0,
            next_purge: 0,
            max_tracked: MAX_TRACKED_NONCES,
        }
    }

    /// Lowers the replay map's bound (tests, small deployments).
    pub fn with_max_tracked(mut self, max: usize) -> NonceKeeper {
        self.max_tracked = max.max(1);
        self
    }

    /// A new nonce (64 hex digits) issued at `now_unix` seconds.
    pub fn issue(&mut self, now_unix: u64) -> String {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&now_unix.to_be_bytes());
        id[8..].copy_from_slice(&rand::random::<[u8; 8]>());
        let mut out = [0u8; NONCE_BYTES];
        out[..16].copy_from_slice(&id);
        out[16..].copy_from_slice(&self.mac(&id).finalize().into_bytes()[..16]);
        hex::encode(out)
    }

    fn mac(&self, id: &[u8; 16]) -> HmacSha256 {
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.secret)
            .expect("HMAC accepts keys of any length");
        m.update(id);
        m
    }

    /// Whether we issued `nonce` (its signature is ours; expiry and use are not checked).
    /// Credentials with a nonce we never sent come from someone who did not read our
    /// challenge: they say nothing about the password and are answered with a fresh one
    /// before any hashing or counting.
    pub fn is_ours(&self, nonce: &str) -> bool {
        self.signed_id(nonce).is_some()
    }

    /// The id part of a nonce whose signature is ours.
    fn signed_id(&self, nonce: &str) -> Option<[u8; 16]> {
        let mut raw = [0u8; NONCE_BYTES];
        hex::decode_to_slice(nonce, &mut raw).ok()?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&raw[..16]);
        self.mac(&id).verify_truncated_left(&raw[16..]).ok()?;
        Some(id)
    }

    /// Checks a nonce from verified credentials and records its use: `nc` is the client's
    /// nonce count (`None` without qop). Call only after [`verify`] succeeded.
    pub fn check(&mut self, nonce: &str, nc: Option<u32>, now_unix: u64) -> NonceCheck {
        let Some(id) = self.signed_id(nonce) else {
            return NonceCheck::Invalid;
        };
        if nc == Some(0) {
            return NonceCheck::Invalid;
        }
        if now_unix >= self.next_purge {
            self.purge(now_unix);
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&id[..8]);
        let issued_at = u64::from_be_bytes(ts);
        if issued_at < self.floor || now_unix.saturating_sub(issued_at) >= self.ttl_secs {
            self.used.remove(&id);
            return NonceCheck::Stale;
        }
        if let Some(u) = self.used.get_mut(&id) {
            return match nc {
                Some(n) if n > u.last_nc => {
                    u.last_nc = n;
                    NonceCheck::Valid
                }
                _ => NonceCheck::Replay,
            };
        }
        let nc = nc.unwrap_or(u32::MAX);
        if self.used.len() >= self.max_tracked {
            self.purge(now_unix);
        }
        if self.used.len() >= self.max_tracked {
            // Full of live nonces: drop the oldest second's worth and make those stale.
            let oldest = self.used.values().map(|u| u.issued_at).min().unwrap_or(0);
            self.floor = oldest + 1;
            self.used.retain(|_, u| u.issued_at > oldest);
            if issued_at <= oldest {
                return NonceCheck::Stale;
            }
        }
        self.used.insert(
            id,
            Used {
                issued_at,
                last_nc: nc,
            },
        );
        NonceCheck::Valid
    }

    /// Drops the replay records of expired nonces (also done by `check` once per ttl).
    pub fn purge(&mut self, now_unix: u64) {
        let ttl = self.ttl_secs;
        self.used
            .retain(|_, u| now_unix.saturating_sub(u.issued_at) < ttl);
        self.next_purge = now_unix.saturating_add(ttl.max(1));
    }

    /// How many nonces are tracked for replay.
    pub fn tracked(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests;
