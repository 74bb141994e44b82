//! The client side of digest authentication: answering a trunk's `WWW-Authenticate` or
//! `Proxy-Authenticate` challenge (our outbound REGISTER, later our INVITEs).
//!
//! The response is computed by the same code that verifies phones (`Credentials::
//! expected_response`), so the two sides cannot drift apart: what the box sends is exactly what
//! the box itself would accept.

use super::{params, Algorithm, Credentials, DigestError};

/// A `Digest` challenge, as a server sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    /// As sent (absent means MD5).
    pub algorithm: Option<String>,
    /// The qop options offered, as sent (`auth,auth-int`); absent: RFC 2069 style.
    pub qop: Option<String>,
    pub opaque: Option<String>,
    /// The previous nonce was good but too old: answer again, the password is right.
    pub stale: bool,
}

impl Challenge {
    /// The algorithm, or an error for one we cannot compute.
    pub fn algorithm(&self) -> Result<Algorithm, DigestError> {
        match &self.algorithm {
            None => Ok(Algorithm::Md5),
            Some(a) => Algorithm::parse(a).ok_or_else(|| DigestError::Algorithm(a.clone())),
        }
    }

    /// `Some("auth")` when offered, `None` when no qop is offered, an error when only
    /// something else (`auth-int`, which needs the body) is.
    fn qop(&self) -> Result<Option<&'static str>, DigestError> {
        match &self.qop {
            None => Ok(None),
            Some(list) if list.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")) => Ok(Some("auth")),
            Some(list) => Err(DigestError::Qop(list.clone())),
        }
    }
}

/// Parses `Digest realm="…", nonce="…", qop="auth,auth-int", algorithm=SHA-256, stale=TRUE`.
pub fn parse_challenge(value: &str) -> Result<Challenge, DigestError> {
    let value = value.trim_start();
    let rest = value
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case("digest"))
        .and_then(|_| value.get(6..))
        .ok_or(DigestError::NotDigest)?;
    let mut c = Challenge::default();
    for (key, val) in params(rest)? {
        match key.to_ascii_lowercase().as_str() {
            "realm" => c.realm = val,
            "nonce" => c.nonce = val,
            "algorithm" => c.algorithm = Some(val),
            "qop" => c.qop = Some(val),
            "opaque" => c.opaque = Some(val),
            "stale" => c.stale = val.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    if c.nonce.is_empty() {
        return Err(DigestError::Missing("nonce"));
    }
    Ok(c)
}

/// The `Authorization` (or `Proxy-Authorization`) value answering `challenge` for a request
/// `method` to `uri`. `nc` is the count of requests made with this nonce (1 for the first);
/// `cnonce` is ours, fresh per nonce.
pub fn authorize(
    challenge: &str,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Result<String, DigestError> {
    let ch = parse_challenge(challenge)?;
    answer(&ch, method, uri, username, password, cnonce, nc)
}

/// `authorize` for a challenge already parsed.
pub fn answer(
    ch: &Challenge,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Result<String, DigestError> {
    let alg = ch.algorithm()?;
    let qop = ch.qop()?;
    // -sess algorithms need a cnonce even without qop.
    let with_cnonce = qop.is_some() || alg != alg.base();
    let mut creds = Credentials {
        username: username.to_owned(),
        realm: ch.realm.clone(),
        nonce: ch.nonce.clone(),
        uri: uri.to_owned(),
        response: String::new(),
        algorithm: ch.algorithm.as_ref().map(|_| alg.name().to_owned()),
        qop: qop.map(str::to_owned),
        nc: qop.map(|_| format!("{nc:08x}")),
        cnonce: with_cnonce.then(|| cnonce.to_owned()),
        opaque: ch.opaque.clone(),
    };
    creds.response = creds.expected_response(method, password)?;
    Ok(write(&creds))
}

/// Quotes a value for a quoted-string: backslash before `"` and `\`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn write(c: &Credentials) -> String {
    let mut s = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response={}",
        quote(&c.username),
        quote(&c.realm),
        quote(&c.nonce),
        quote(&c.uri),
        quote(&c.response)
    );
    if let Some(alg) = &c.algorithm {
        s.push_str(", algorithm=");
        s.push_str(alg);
    }
    if let Some(cnonce) = &c.cnonce {
        s.push_str(", cnonce=");
        s.push_str(&quote(cnonce));
    }
    if let (Some(qop), Some(nc)) = (&c.qop, &c.nc) {
        s.push_str(", qop=");
        s.push_str(qop);
        s.push_str(", nc=");
        s.push_str(nc);
    }
    if let Some(opaque) = &c.opaque {
        s.push_str(", opaque=");
        s.push_str(&quote(opaque));
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::IpAddr;

    use super::super::{challenge, parse_authorization, Nonces};
    use super::*;

    #[test]
    fn rfc2617_md5_known_answer() {
        let ch = r#"Digest realm="testrealm@host.com", qop="auth,auth-int",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let v = authorize(ch, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1).unwrap();
        assert!(v.contains(r#"response="6629fae49393a05397450978507c4ef1""#), "{v}");
        assert!(v.contains("nc=00000001") && v.contains("qop=auth,") && v.contains(r#"cnonce="0a4f113b""#), "{v}");
        assert!(v.contains(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#), "{v}");
        assert!(!v.contains("algorithm"), "not sent when the challenge did not name it: {v}");
    }

    #[test]
    fn rfc7616_sha256_known_answer() {
        let ch = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256,
            nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let v = authorize(ch, "GET", "/dir/index.html", "Mufasa", "Circle of Life", cnonce, 1).unwrap();
        assert!(v.contains(r#"response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1""#), "{v}");
        assert!(v.contains("algorithm=SHA-256"), "{v}");
    }

    #[test]
    fn round_trips_through_our_own_verification() {
        let nonces = Nonces::new(&[7; 32], 300);
        let client: IpAddr = [10, 0, 0, 9].into();
        let nonce = nonces.make(1_000, client);
        for alg in [Algorithm::Md5, Algorithm::Sha256, Algorithm::Md5Sess, Algorithm::Sha256Sess] {
            for nc in [1, 10, 255] {
                let ch = challenge("acme.pbx.local", &nonce, alg, false);
                let v = authorize(&ch, "REGISTER", "sip:acme.pbx.local", "1\"0\\1", "pw", "c0ffee", nc).unwrap();
                let creds = parse_authorization(&v).unwrap();
                assert_eq!(creds.username, "1\"0\\1");
                assert_eq!(creds.algorithm().unwrap(), alg);
                assert!(creds.verify("REGISTER", "pw"), "{alg:?} nc={nc}: {v}");
                assert!(!creds.verify("REGISTER", "wrong"));
                assert!(!creds.verify("INVITE", "pw"));
            }
        }
    }

    #[test]
    fn without_qop_the_rfc2069_form_is_sent() {
        let ch = r#"Digest realm="r", nonce="n", opaque="o""#;
        let v = authorize(ch, "REGISTER", "sip:r", "u", "p", "c", 1).unwrap();
        assert!(!v.contains("qop") && !v.contains("nc=") && !v.contains("cnonce"), "{v}");
        assert!(parse_authorization(&v).unwrap().verify("REGISTER", "p"));
    }

    #[test]
    fn challenges_are_parsed_robustly() {
        let c = parse_challenge(r#"digest  realm = "a, \"b\"" ,nonce="x=y",stale=TRUE,qop=auth"#).unwrap();
        assert_eq!(c.realm, "a, \"b\"");
        assert_eq!(c.nonce, "x=y");
        assert!(c.stale);
        assert_eq!(parse_challenge("Basic realm=\"x\""), Err(DigestError::NotDigest));
        assert_eq!(parse_challenge("Digest realm=\"x\""), Err(DigestError::Missing("nonce")));
        assert_eq!(parse_challenge("Digest realm=\"x"), Err(DigestError::Malformed));
        assert_eq!(parse_challenge("Dig"), Err(DigestError::NotDigest));
        let bad = authorize(r#"Digest nonce="n", algorithm=SHA-512"#, "R", "u", "a", "b", "c", 1);
        assert_eq!(bad, Err(DigestError::Algorithm("SHA-512".into())));
        let bad = authorize(r#"Digest nonce="n", qop="auth-int""#, "R", "u", "a", "b", "c", 1);
        assert_eq!(bad, Err(DigestError::Qop("auth-int".into())));
    }

    proptest::proptest! {
        #[test]
        fn any_challenge_text_answers_or_errs(s in "\\PC{0,300}") {
            let _ = authorize(&s, "REGISTER", "sip:x", "u", "p", "c", 1);
            let _ = authorize(&format!("Digest {s}"), "REGISTER", "sip:x", "u", "p", "c", 1);
        }
    }
}
