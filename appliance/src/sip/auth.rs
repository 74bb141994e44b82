//! Digest authentication of a request, shared by REGISTER and INVITE: the same challenge, the
//! same uniform answer for an unknown extension and a wrong password (after the same hashing
//! work), the same stale-nonce handling and the same failure counting for bans.

use std::net::SocketAddr;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::prelude::HeadersExt;

use super::defence::Defence;
use super::digest::{self, Algorithm, NonceCheck, Nonces};
use super::directory::TenantDir;
use super::registrar::Event;

/// A password no extension has: checking an unknown user costs what checking a known one does.
const DECOY: &str = "\u{0}decoy-password-never-valid";

/// Why a request was not let through, as the answer to give.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub reason: String,
    pub headers: Vec<(&'static str, String)>,
    /// `Challenged` (no or stale credentials) or `AuthFailed` (counted for bans).
    pub event: Event,
}

/// What a request is checked against.
pub struct Check<'a> {
    pub now: Instant,
    pub unix: i64,
    pub source: SocketAddr,
    pub nonces: &'a Nonces,
    pub defence: &'a mut Defence,
    pub algorithms: &'a [Algorithm],
}

/// Checks the request's Authorization for `method` in `realm` against `tenant`'s secrets;
/// on success returns the authenticated user (the extension number).
pub fn authenticate(
    req: &rsip::Request,
    method: &str,
    realm: &str,
    tenant: &TenantDir,
    cx: Check<'_>,
) -> Result<String, Refusal> {
    let challenge = |stale: bool, event: Event| {
        let nonce = cx.nonces.make(cx.unix.max(0) as u64, cx.source.ip());
        // RFC 8760: strongest first; phones pick the first they support.
        let headers = cx
            .algorithms
            .iter()
            .map(|&alg| ("WWW-Authenticate", digest::challenge(realm, &nonce, alg, stale)))
            .collect();
        Refusal { code: 401, reason: "Unauthorized".to_owned(), headers, event }
    };
    let credentials = req
        .authorization_header()
        .and_then(|h| digest::parse_authorization(h.value()).ok())
        .filter(|c| c.realm.eq_ignore_ascii_case(realm))
        .filter(|c| c.algorithm().is_ok_and(|a| cx.algorithms.iter().any(|o| o.base() == a.base())));
    let Some(credentials) = credentials else {
        return Err(challenge(false, Event::Challenged));
    };
    match cx.nonces.check(&credentials.nonce, cx.unix.max(0) as u64, cx.source.ip()) {
        NonceCheck::Fresh => {}
        NonceCheck::Stale => return Err(challenge(true, Event::Challenged)),
        NonceCheck::Invalid => return Err(challenge(false, Event::Challenged)),
    }
    let secret = tenant.secrets.get(&credentials.username);
    let ok = credentials.verify(method, secret.map_or(DECOY, String::as_str)) && secret.is_some();
    if !ok {
        // The same answer as for a missing Authorization: nothing tells an unknown extension
        // from a wrong password.
        cx.defence.auth_failed(cx.now, cx.source.ip(), &tenant.name, &credentials.username);
        return Err(challenge(false, Event::AuthFailed));
    }
    cx.defence.auth_succeeded(cx.source.ip());
    Ok(credentials.username)
}
