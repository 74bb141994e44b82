//! HTTP digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760), written here rather than
//! taken from rsip 0.4, which reads `nc` as a decimal number (so `nc=0000000a` fails) and treats
//! `-sess` algorithms as plain ones.
//!
//! Nonces carry their own proof: `base64url(time ‖ HMAC-SHA256(key, time ‖ client address))`.
//! The server keeps no per-nonce state, a nonce from another address or a forged one is
//! refused, and an old one is answered with `stale=true` so the phone retries without asking
//! the user for a password.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use cloud_sync::password::same;
use md5::{Digest as _, Md5};
use ring::{digest, hmac};
pub mod client;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha256Sess,
    Md5,
    Md5Sess,
}

impl Algorithm {
    /// The hash family: a `-sess` variant is accepted where its plain one is offered.
    pub fn base(self) -> Algorithm {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "MD5-SESS" => Some(Algorithm::Md5Sess),
            "SHA-256" => Some(Algorithm::Sha256),
            "SHA-256-SESS" => Some(Algorithm::Sha256Sess),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hex::encode(digest::digest(&digest::SHA256, data.as_bytes())),
        }
    }

    fn is_session(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

/// The parameters of a `Digest` Authorization header, as sent (nc stays a hex string).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("not a Digest authorization")]
    NotDigest,
    #[error("malformed authorization parameters")]
    Malformed,
    #[error("authorization lacks `{0}`")]
    Missing(&'static str),
    #[error("unsupported digest algorithm `{0}`")]
    Algorithm(String),
    #[error("unsupported qop `{0}`")]
    Qop(String),
}

/// Parses `Digest username="101", realm="…", nc=0000000a, …`.
pub fn parse_authorization(value: &str) -> Result<Credentials, DigestError> {
    let value = value.trim_start();
    let rest = value
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case("digest"))
        .map(|_| &value[6..])
        .ok_or(DigestError::NotDigest)?;
    let mut c = Credentials::default();
    for (key, val) in params(rest)? {
        let slot = match key.to_ascii_lowercase().as_str() {
            "username" => &mut c.username,
            "realm" => &mut c.realm,
            "nonce" => &mut c.nonce,
            "uri" => &mut c.uri,
            "response" => &mut c.response,
            "algorithm" => {
                c.algorithm = Some(val);
                continue;
            }
            "qop" => {
                c.qop = Some(val);
                continue;
            }
            "nc" => {
                c.nc = Some(val);
                continue;
            }
            "cnonce" => {
                c.cnonce = Some(val);
                continue;
            }
            "opaque" => {
                c.opaque = Some(val);
                continue;
            }
            _ => continue,
        };
        *slot = val;
    }
    for (field, name) in [(&c.username, "username"), (&c.nonce, "nonce"), (&c.uri, "uri"), (&c.response, "response")] {
        if field.is_empty() {
            return Err(DigestError::Missing(name));
        }
    }
    Ok(c)
}

/// Splits `a=1, b="x, y", c=z` into pairs, honouring quotes and backslash escapes.
fn params(s: &str) -> Result<Vec<(String, String)>, DigestError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(DigestError::Malformed);
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => val.push(chars.next().ok_or(DigestError::Malformed)?),
                    Some(c) => val.push(c),
                    None => return Err(DigestError::Malformed),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        out.push((key, val));
    }
}

impl Credentials {
    pub fn algorithm(&self) -> Result<Algorithm, DigestError> {
        match &self.algorithm {
            None => Ok(Algorithm::Md5),
            Some(a) => Algorithm::parse(a).ok_or_else(|| DigestError::Algorithm(a.clone())),
        }
    }

    /// The response this password should have produced for `method`.
    pub fn expected_response(&self, method: &str, password: &str) -> Result<String, DigestError> {
        let alg = self.algorithm()?;
        let mut ha1 = alg.hash(&format!("{}:{}:{password}", self.username, self.realm));
        if alg.is_session() {
            let cnonce = self.cnonce.as_deref().ok_or(DigestError::Missing("cnonce"))?;
            ha1 = alg.hash(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = alg.hash(&format!("{method}:{}", self.uri));
        match self.qop.as_deref() {
            Some(qop) if qop.eq_ignore_ascii_case("auth") => {
                let nc = self.nc.as_deref().ok_or(DigestError::Missing("nc"))?;
                let cnonce = self.cnonce.as_deref().ok_or(DigestError::Missing("cnonce"))?;
                if nc.len() != 8 || !nc.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(DigestError::Malformed);
                }
                Ok(alg.hash(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", self.nonce)))
            }
            Some(other) => Err(DigestError::Qop(other.to_owned())),
            // RFC 2069 style, still sent by old phones.
            None => Ok(alg.hash(&format!("{ha1}:{}:{ha2}", self.nonce))),
        }
    }

    /// True when the response matches `password`. Constant time in the comparison.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        match self.expected_response(method, password) {
            Ok(expected) => same(expected.as_bytes(), self.response.to_ascii_lowercase().as_bytes()),
            Err(_) => false,
        }
    }
}

/// What a nonce check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Fresh,
    /// Made by us for this client, but too old: challenge again with `stale=true`.
    Stale,
    /// Not ours, or for another client.
    Invalid,
}

/// Makes and checks stateless nonces.
#[derive(Clone)]
pub struct Nonces {
    key: hmac::Key,
    lifetime_secs: u64,
}

impl Nonces {
    pub fn new(secret: &[u8; 32], lifetime_secs: u64) -> Nonces {
        Nonces { key: hmac::Key::new(hmac::HMAC_SHA256, secret), lifetime_secs }
    }

    fn tag(&self, time: u64, client: IpAddr) -> [u8; 16] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&time.to_be_bytes());
        match client {
            IpAddr::V4(ip) => ctx.update(&ip.octets()),
            IpAddr::V6(ip) => ctx.update(&ip.octets()),
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&ctx.sign().as_ref()[..16]);
        out
    }

    /// A nonce for `client` at `now` (Unix seconds).
    pub fn make(&self, now: u64, client: IpAddr) -> String {
        let mut raw = [0u8; 24];
        raw[..8].copy_from_slice(&now.to_be_bytes());
        raw[8..].copy_from_slice(&self.tag(now, client));
        B64.encode(raw)
    }

    pub fn check(&self, nonce: &str, now: u64, client: IpAddr) -> NonceCheck {
        let Ok(raw) = B64.decode(nonce) else { return NonceCheck::Invalid };
        let Ok(raw) = <[u8; 24]>::try_from(raw.as_slice()) else { return NonceCheck::Invalid };
        let mut time = [0u8; 8];
        time.copy_from_slice(&raw[..8]);
        let time = u64::from_be_bytes(time);
        if !same(&raw[8..], &self.tag(time, client)) || time > now + 5 {
            return NonceCheck::Invalid;
        }
        if now - time.min(now) > self.lifetime_secs {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh
        }
    }
}

/// One `WWW-Authenticate` value.
pub fn challenge(realm: &str, nonce: &str, algorithm: Algorithm, stale: bool) -> String {
    let stale = if stale { ", stale=true" } else { "" };
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", qop=\"auth\", algorithm={}{stale}", algorithm.name())
}

#[cfg(test)]
mod tests;
