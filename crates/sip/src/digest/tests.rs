//! RFC test vectors, parser edge cases, and nonce lifetime/replay on a fake clock.

use super::*;

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// RFC 2617 §3.5.
const RFC2617: &str = r#"Digest username="Mufasa",
    realm="testrealm@host.com",
    nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
    uri="/dir/index.html",
    qop=auth,
    nc=00000001,
    cnonce="0a4f113b",
    response="6629fae49393a05397450978507c4ef1",
    opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

/// RFC 7616 §3.9.1, with the algorithm and response filled in per variant.
fn rfc7616(alg: &str, response: &str) -> String {
    format!(
        r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html",
    algorithm={alg}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001,
    cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth,
    response="{response}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
    )
}

#[test]
fn rfc2617_md5_qop_auth() {
    let c = parse_authorization(RFC2617).unwrap();
    assert_eq!(c.username, "Mufasa");
    assert_eq!(c.algorithm, Algorithm::Md5);
    assert_eq!(c.nc, Some(1));
    assert_eq!(
        c.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
    let h = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert_eq!(
        expected_response(&c, "GET", &h),
        "6629fae49393a05397450978507c4ef1"
    );
    assert!(verify(&c, "GET", &h));
    assert!(!verify(&c, "POST", &h));
    let wrong = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "circle of life",
    );
    assert!(!verify(&c, "GET", &wrong));
}

#[test]
fn rfc7616_sha256_and_md5() {
    for (alg, family, resp) in [
        (
            "SHA-256",
            Algorithm::Sha256,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
        ("MD5", Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
    ] {
        let c = parse_authorization(&rfc7616(alg, resp)).unwrap();
        assert_eq!(c.algorithm, family);
        let h = ha1(family, "Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(expected_response(&c, "GET", &h), resp);
        assert!(verify(&c, "GET", &h));
        // Upper-case hex from a sloppy client still matches.
        let mut upper = c.clone();
        upper.response = resp.to_ascii_uppercase();
        assert!(verify(&upper, "GET", &h));
    }
}

#[test]
fn sess_variants_hash_nonce_and_cnonce_into_ha1() {
    let (nonce, cnonce) = (
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    );
    let ha2 = |h: fn(&str) -> String| h("GET:/dir/index.html");
    for (alg, h) in [
        ("MD5-sess", md5_hex as fn(&str) -> String),
        ("SHA-256-sess", sha256_hex as fn(&str) -> String),
    ] {
        let base = h("Mufasa:http-auth@example.org:Circle of Life");
        let sess = h(&format!("{base}:{nonce}:{cnonce}"));
        let want = h(&format!("{sess}:{nonce}:00000001:{cnonce}:auth:{}", ha2(h)));
        let c = parse_authorization(&rfc7616(alg, &want)).unwrap();
        assert!(c.algorithm.is_sess());
        // The stored HA1 is the plain family's; the -sess step happens in expected_response.
        let stored = ha1(
            c.algorithm,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(stored, base);
        assert_eq!(expected_response(&c, "GET", &stored), want);
        assert!(verify(&c, "GET", &stored));
        // Hashed like the plain algorithm (rsip's mistake) it does not match.
        let mut plain = c.clone();
        plain.algorithm = c.algorithm.family();
        assert_ne!(expected_response(&plain, "GET", &stored), want);
    }
}

#[test]
fn no_qop_uses_the_rfc2069_form() {
    let h = ha1(Algorithm::Md5, "1001", "hotline", "secret");
    let want = md5_hex(&format!("{h}:abc:{}", md5_hex("REGISTER:sip:127.0.0.1")));
    let c = parse_authorization(&format!(
        r#"Digest username="1001",realm="hotline",nonce="abc",uri="sip:127.0.0.1",response="{want}""#
    ))
    .unwrap();
    assert_eq!(
        (c.qop.as_deref(), c.nc, c.cnonce.as_deref()),
        (None, None, None)
    );
    assert!(verify(&c, "REGISTER", &h));
}

#[test]
fn nc_is_hex() {
    let c = parse_authorization(&RFC2617.replace("00000001", "0000000a")).unwrap();
    assert_eq!(c.nc, Some(10));
    let c = parse_authorization(&RFC2617.replace("00000001", "000000FF")).unwrap();
    assert_eq!(c.nc, Some(255));
    // 10 is hashed as "0000000a".
    let h = ha1(Algorithm::Md5, "u", "r", "p");
    let mut c = parse_authorization(&RFC2617.replace("00000001", "0000000a")).unwrap();
    c.uri = "sip:x".into();
    let want = md5_hex(&format!(
        "{h}:{}:0000000a:0a4f113b:auth:{}",
        c.nonce,
        md5_hex("REGISTER:sip:x")
    ));
    assert_eq!(expected_response(&c, "REGISTER", &h), want);
    for bad in ["1", "0000000g", "000000001", "\"\""] {
        assert_eq!(
            parse_authorization(&RFC2617.replace("00000001", bad)),
            Err(DigestError::NonceCount),
            "{bad}"
        );
    }
}

#[test]
fn parses_odd_spacing_order_case_and_quotes() {
    let c = parse_authorization(
        "digest   NC=00000002 ,QOP=\"auth\",, response = \"ab\" ,\tALGORITHM=\"sha-256\",\
         uri=\"sip:12345@h;transport=udp\", cnonce=x\\y, nonce=\"n,o=n\\\"ce\", \
         Realm=hotline,USERNAME=\"1001\", unknown=\"a, b\", opaque=\"\"",
    )
    .unwrap();
    assert_eq!(c.username, "1001");
    assert_eq!(c.realm, "hotline");
    assert_eq!(c.nonce, "n,o=n\"ce");
    assert_eq!(c.uri, "sip:12345@h;transport=udp");
    assert_eq!(c.response, "ab");
    assert_eq!(c.algorithm, Algorithm::Sha256);
    assert_eq!(c.cnonce.as_deref(), Some("x\\y"));
    assert_eq!(c.qop.as_deref(), Some("auth"));
    assert_eq!(c.nc, Some(2));
    assert_eq!(c.opaque.as_deref(), Some(""));
}

#[test]
fn rejects_malformed() {
    let e = |s: &str| parse_authorization(s).unwrap_err();
    assert_eq!(e("Basic QWxhZGRpbjpvcGVu"), DigestError::NotDigest);
    assert_eq!(e("Digestusername=\"a\""), DigestError::NotDigest);
    assert_eq!(e(""), DigestError::NotDigest);
    assert_eq!(
        e(r#"Digest username="a", realm="r", nonce="n", uri="u""#),
        DigestError::Missing("response")
    );
    assert!(matches!(
        e(r#"Digest username="a, realm="r""#),
        DigestError::Syntax(_)
    ));
    assert!(matches!(
        e(r#"Digest username="a" realm="r""#),
        DigestError::Syntax(_)
    ));
    assert!(matches!(
        e(r#"Digest username="a", username="b""#),
        DigestError::Syntax(_)
    ));
    assert!(matches!(e("Digest username"), DigestError::Syntax(_)));
    assert_eq!(
        e(&RFC2617.replace("qop=auth", "qop=auth-int")),
        DigestError::Qop("auth-int".into())
    );
    assert_eq!(
        e(&RFC2617.replace("cnonce=\"0a4f113b\",", "")),
        DigestError::Missing("cnonce")
    );
    assert_eq!(
        e(&RFC2617.replace("nc=00000001,", "")),
        DigestError::Missing("nc")
    );
    assert_eq!(
        e(&rfc7616("SHA-512-256", "x")),
        DigestError::Algorithm("SHA-512-256".into())
    );
    // Garbage never panics.
    for s in [
        "Digest ",
        "Digest ,,,",
        "Digest a=\"\\",
        "Digest =x",
        "DIGEST é=\"ü\"",
    ] {
        let _ = parse_authorization(s);
    }
}

#[test]
fn unknown_user_is_false_like_a_wrong_password() {
    let c = parse_authorization(RFC2617).unwrap();
    assert!(!verify_user(&c, "GET", None));
    let h = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert!(verify_user(&c, "GET", Some(&h)));
}

#[test]
fn challenge_header_values() {
    let [sha, md5] = challenge_pair("hotline", "abc", Some("op"), false);
    assert_eq!(
        sha.to_string(),
        r#"Digest realm="hotline", nonce="abc", opaque="op", algorithm=SHA-256, qop="auth""#
    );
    assert_eq!(md5.algorithm, Algorithm::Md5);
    let stale = Challenge {
        realm: "a\"b".into(),
        nonce: "n".into(),
        opaque: None,
        algorithm: Algorithm::Md5,
        stale: true,
    };
    assert_eq!(
        stale.to_string(),
        r#"Digest realm="a\"b", nonce="n", algorithm=MD5, qop="auth", stale=true"#
    );
}

const REGISTER: &str = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKr1\r\n\
From: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: reg1\r\n\
CSeq: 1 REGISTER\r\nContact: <sip:1001@10.0.0.7:5060>\r\n\
Authorization: Digest username=\"1001\", realm=\"other\", nonce=\"x\", uri=\"sip:127.0.0.1\", response=\"00\"\r\n\
Authorization: Digest username=\"1001\", realm=\"hotline\", nonce=\"y\", uri=\"sip:127.0.0.1\", response=\"11\"\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn builds_401_with_two_challenges_and_finds_our_realm() {
    let rsip::SipMessage::Request(req) = crate::message::parse(REGISTER.as_bytes(), 9999)
        .unwrap()
        .msg
    else {
        panic!()
    };
    let c = find_credentials(&req.headers, "hotline", false)
        .unwrap()
        .unwrap();
    assert_eq!(c.nonce, "y");
    assert!(find_credentials(&req.headers, "nowhere", false).is_none());
    assert!(find_credentials(&req.headers, "hotline", true).is_none());

    let challenges = challenge_pair("hotline", "n1", None, true);
    let text = challenge_response(&req, Some("t1"), false, &challenges).to_string();
    assert!(text.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{text}");
    let sha =
        text.find("WWW-Authenticate: Digest realm=\"hotline\", nonce=\"n1\", algorithm=SHA-256");
    let md5 = text.find("WWW-Authenticate: Digest realm=\"hotline\", nonce=\"n1\", algorithm=MD5");
    assert!(sha.unwrap() < md5.unwrap(), "{text}");
    assert!(text.contains("stale=true"));
    assert!(text.contains("To: <sip:1001@127.0.0.1>;tag=t1\r\n"));
    assert!(text.contains("Content-Length: 0\r\n"));
    let proxy = challenge_response(&req, None, true, &challenges).to_string();
    assert!(proxy.starts_with("SIP/2.0 407"), "{proxy}");
    assert!(proxy.contains("Proxy-Authenticate: Digest"));
}

const T0: u64 = 1_700_000_000;

#[test]
fn nonce_round_trip_and_nc_replay() {
    let mut k = NonceKeeper::new([7; 32], 300);
    let n = k.issue(T0);
    assert_eq!(n.len(), 64);
    assert_ne!(n, k.issue(T0));
    assert_eq!(k.check(&n, Some(1), T0 + 1), NonceCheck::Valid);
    assert_eq!(k.check(&n, Some(1), T0 + 2), NonceCheck::Replay);
    assert_eq!(k.check(&n, Some(3), T0 + 3), NonceCheck::Valid);
    assert_eq!(k.check(&n, Some(2), T0 + 4), NonceCheck::Replay);
    assert_eq!(k.check(&n, None, T0 + 4), NonceCheck::Replay);
    assert_eq!(k.check(&n, Some(0x0a), T0 + 5), NonceCheck::Valid);
    assert_eq!(k.check(&n, Some(0), T0 + 5), NonceCheck::Invalid);
    // Another keeper with the same secret (another node) accepts it: stateless validation.
    let mut other = NonceKeeper::new([7; 32], 300);
    assert_eq!(other.check(&n, Some(1), T0 + 5), NonceCheck::Valid);
}

#[test]
fn qop_less_nonce_is_single_use() {
    let mut k = NonceKeeper::new([1; 32], 300);
    let n = k.issue(T0);
    assert_eq!(k.check(&n, None, T0), NonceCheck::Valid);
    assert_eq!(k.check(&n, None, T0 + 1), NonceCheck::Replay);
    assert_eq!(k.check(&n, Some(5), T0 + 1), NonceCheck::Replay);
}

#[test]
fn nonce_expires_to_stale_and_forgets_its_counts() {
    let mut k = NonceKeeper::new([1; 32], 300);
    let n = k.issue(T0);
    assert_eq!(k.check(&n, Some(1), T0 + 299), NonceCheck::Valid);
    assert_eq!(k.tracked(), 1);
    assert_eq!(k.check(&n, Some(2), T0 + 300), NonceCheck::Stale);
    assert_eq!(k.tracked(), 0);
    // Purging happens as time passes, without checking that nonce again.
    let a = k.issue(T0 + 1000);
    assert_eq!(k.check(&a, Some(1), T0 + 1000), NonceCheck::Valid);
    let b = k.issue(T0 + 1400);
    assert_eq!(k.check(&b, Some(1), T0 + 1400), NonceCheck::Valid);
    assert_eq!(k.tracked(), 1);
}

#[test]
fn tampered_or_foreign_nonces_are_invalid() {
    let mut k = NonceKeeper::new([2; 32], 300);
    let n = k.issue(T0);
    // Push the timestamp forward to extend its life: the MAC no longer matches.
    let mut raw = hex::decode(&n).unwrap();
    raw[7] ^= 1;
    assert_eq!(
        k.check(&hex::encode(&raw), Some(1), T0),
        NonceCheck::Invalid
    );
    let mut flipped = n.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(k.check(&flipped, Some(1), T0), NonceCheck::Invalid);
    for bad in [
        "",
        "abc",
        &n[..62],
        &format!("{n}00"),
        &n.replace(|_| true, "z"),
    ] {
        assert_eq!(k.check(bad, Some(1), T0), NonceCheck::Invalid, "{bad}");
    }
    let mut foreign = NonceKeeper::new([3; 32], 300);
    assert_eq!(foreign.check(&n, Some(1), T0), NonceCheck::Invalid);
    assert_eq!(k.check(&n, Some(1), T0), NonceCheck::Valid);
}

#[test]
fn full_replay_map_evicts_oldest_as_stale_never_as_fresh() {
    let mut k = NonceKeeper::new([4; 32], 300).with_max_tracked(2);
    let a = k.issue(T0);
    let b = k.issue(T0 + 1);
    let c = k.issue(T0 + 2);
    assert_eq!(k.check(&a, Some(1), T0 + 2), NonceCheck::Valid);
    assert_eq!(k.check(&b, Some(1), T0 + 2), NonceCheck::Valid);
    assert_eq!(k.check(&c, Some(1), T0 + 2), NonceCheck::Valid);
    assert!(k.tracked() <= 2);
    // `a` was evicted: replaying it is refused as stale, not accepted as new.
    assert_eq!(k.check(&a, Some(1), T0 + 3), NonceCheck::Stale);
    assert_eq!(k.check(&b, Some(1), T0 + 3), NonceCheck::Replay);
}
