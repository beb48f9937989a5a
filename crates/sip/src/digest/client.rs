//! The client side of digest: answering a challenge from a server we call (the carrier's
//! gateway when the hotline dials out). Pure: the caller supplies the cnonce and the count.

use super::{Algorithm, Credentials, DigestError, Params, Quoted};
use std::fmt;

/// A `WWW-Authenticate` / `Proxy-Authenticate: Digest …` challenge as a server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered `qop=auth` (alone or among others): answer with it.
    pub qop_auth: bool,
}

/// Parses a challenge value. Unknown parameters are ignored; `realm` and `nonce` are
/// required; a qop list without `auth` (only `auth-int`) is refused, as is an unknown
/// algorithm.
pub fn parse_challenge(value: &str) -> Result<ServerChallenge, DigestError> {
    let value = value.trim_start();
    let rest = match value.get(..6) {
        Some(s) if s.eq_ignore_ascii_case("digest") => &value[6..],
        _ => return Err(DigestError::NotDigest),
    };
    let (mut realm, mut nonce, mut opaque, mut algorithm, mut qop) = (None, None, None, None, None);
    for param in Params(rest) {
        let (name, v) = param?;
        let slot = match name.to_ascii_lowercase().as_str() {
            "realm" => &mut realm,
            "nonce" => &mut nonce,
            "opaque" => &mut opaque,
            "algorithm" => &mut algorithm,
            "qop" => &mut qop,
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(DigestError::Syntax("duplicate parameter"));
        }
    }
    let algorithm = match algorithm {
        Some(a) => a.parse()?,
        None => Algorithm::Md5,
    };
    let qop_auth = match &qop {
        None => false,
        Some(list) => {
            if !list
                .split(',')
                .any(|q| q.trim().eq_ignore_ascii_case("auth"))
            {
                return Err(DigestError::Qop(list.clone()));
            }
            true
        }
    };
    Ok(ServerChallenge {
        realm: realm.ok_or(DigestError::Missing("realm"))?,
        nonce: nonce.ok_or(DigestError::Missing("nonce"))?,
        opaque,
        algorithm,
        qop_auth,
    })
}

/// The credentials answering `ch` for a request `method uri` as `username` with
/// `password`; `cnonce` and the nonce count `nc` (1 for the first use of a nonce) are the
/// caller's. Their `Display` is the Authorization header value.
pub fn authorize(
    ch: &ServerChallenge,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Credentials {
    let mut c = Credentials {
        username: username.to_string(),
        realm: ch.realm.clone(),
        nonce: ch.nonce.clone(),
        uri: uri.to_string(),
        response: String::new(),
        algorithm: ch.algorithm,
        cnonce: (ch.qop_auth || ch.algorithm.is_sess()).then(|| cnonce.to_string()),
        qop: ch.qop_auth.then(|| "auth".to_string()),
        nc: ch.qop_auth.then_some(nc),
        opaque: ch.opaque.clone(),
    };
    let ha1 = super::ha1(ch.algorithm, username, &ch.realm, password);
    c.response = super::expected_response(&c, method, &ha1);
    c
}

impl fmt::Display for Credentials {
    /// `Digest username="…", realm="…", nonce="…", uri="…", response="…", algorithm=…`
    /// then `cnonce`, `qop`, `nc` and `opaque` when present.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            Quoted(&self.username),
            Quoted(&self.realm),
            Quoted(&self.nonce),
            Quoted(&self.uri),
            Quoted(&self.response),
            self.algorithm
        )?;
        if let Some(c) = &self.cnonce {
            write!(f, ", cnonce={}", Quoted(c))?;
        }
        if let (Some(q), Some(nc)) = (&self.qop, self.nc) {
            write!(f, ", qop={q}, nc={nc:08x}")?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", Quoted(o))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{parse_authorization, verify};

    #[test]
    fn answers_a_challenge_the_server_side_verifies() {
        for value in [
            r#"Digest realm="carrier", nonce="abc123", qop="auth,auth-int", opaque="xyz""#,
            r#"Digest realm="carrier", nonce="abc123""#,
            r#"digest nonce="n", realm="r", algorithm=SHA-256, qop="auth""#,
            r#"Digest realm="r", nonce="n", algorithm=MD5-sess, qop=auth"#,
        ] {
            let ch = parse_challenge(value).unwrap();
            let c = authorize(
                &ch,
                "INVITE",
                "sip:138@gw",
                "hotline",
                "s3cret",
                "c0ffee",
                1,
            );
            // What we send parses back and verifies with the HA1 the server would hold.
            let sent = parse_authorization(&c.to_string()).unwrap();
            assert_eq!(sent, c, "{value}");
            let ha1 = crate::digest::ha1(ch.algorithm, "hotline", &ch.realm, "s3cret");
            assert!(verify(&sent, "INVITE", &ha1), "{value}");
            let wrong = crate::digest::ha1(ch.algorithm, "hotline", &ch.realm, "nope");
            assert!(!verify(&sent, "INVITE", &wrong));
        }
    }

    #[test]
    fn rfc_2617_example_response() {
        // RFC 2617 §3.5 (qop=auth, MD5): user Mufasa, password "Circle Of Life".
        let ch = parse_challenge(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        let c = authorize(
            &ch,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            "0a4f113b",
            1,
        );
        assert_eq!(c.response, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Err(DigestError::NotDigest)
        );
        assert!(matches!(
            parse_challenge(r#"Digest realm="x", nonce="n", qop="auth-int""#),
            Err(DigestError::Qop(_))
        ));
        assert_eq!(
            parse_challenge(r#"Digest nonce="n""#),
            Err(DigestError::Missing("realm"))
        );
        assert!(parse_challenge(r#"Digest realm="x", nonce="n", algorithm=SHA-512"#).is_err());
    }
}
