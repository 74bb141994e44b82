//! The HTTPS driver: `GET /prov/<file>` and `PUT /prov/<mac>-<name>.log` on the box's HTTPS
//! listener (merged into the API's router, so it shares its TLS, connection bounds and the
//! client address).
//!
//! A device file over HTTPS carries the phone's SIP credentials, so on top of `service::decide`:
//! - a banned source gets 429 for everything (`Retry-After` says how long);
//! - a User-Agent whose MAC is not the file's gets 403, logged, and a strike;
//! - an unknown MAC gets 404, is recorded as discovered, and is a strike (a MAC scan bans);
//! - with `[provision] require_auth`, a device file needs HTTP digest with one of the device's
//!   own lines (extension and SIP secret); a wrong password is a strike;
//! - answers carry an `ETag` (a hash of the body) and `If-None-Match` gets 304.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use super::decide::{decide, Decision};
use super::service::Provisioner;
use super::uploads::{upload_name, Uploads};
use super::{identify, phone, PhoneConfig, Rendered};
use crate::api::Peer;
use crate::sip::digest::{self, Algorithm, NonceCheck, Nonces};

/// How long a digest nonce is good for.
const NONCE_SECS: u64 = 300;

/// What the HTTPS handlers share.
pub struct Https {
    pub prov: Arc<Provisioner>,
    pub uploads: Uploads,
    nonces: Nonces,
}

impl Https {
    pub fn new(prov: Arc<Provisioner>, uploads: Uploads) -> anyhow::Result<Https> {
        let key: [u8; 32] = crate::store::secrets::random_bytes()?;
        Ok(Https { prov, uploads, nonces: Nonces::new(&key, NONCE_SECS) })
    }
}

/// `/prov/:file`, to merge into the box's router.
pub fn router(https: Arc<Https>) -> Router<()> {
    Router::new().route("/prov/:file", get(fetch).put(upload)).with_state(https)
}

fn status(code: StatusCode, text: &'static str) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

fn banned(left: Duration) -> Response {
    let mut r = status(StatusCode::TOO_MANY_REQUESTS, "too many requests for unknown devices: banned for a while\n");
    if let Ok(v) = HeaderValue::from_str(&left.as_secs().max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok())
}

async fn fetch(
    State(h): State<Arc<Https>>,
    Extension(Peer(peer)): Extension<Peer>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (prov, ip) = (&h.prov, peer.ip());
    if let Some(left) = prov.banned(ip) {
        prov.count("https", "banned");
        return banned(left);
    }
    let ua = user_agent(&headers);
    let doc = match prov.doc().await {
        Ok(doc) => doc,
        Err(e) => {
            tracing::error!(error = %e, "provisioning: cannot read the site config");
            return status(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        }
    };
    match decide(&doc, &prov.endpoint, &file, ua, true) {
        Decision::Found { rendered, phone } => {
            if let Some(phone) = phone.as_deref() {
                if let Some(refused) = h.unauthorized(ip, "GET", &headers, phone) {
                    return refused;
                }
                tracing::info!(client = %ip, mac = %phone.mac, file, "provisioning: device file served");
                prov.fetched(&phone.mac, "https", ip).await;
            }
            prov.count("https", if phone.is_some() { "device" } else { "common" });
            file_response(rendered, &headers)
        }
        Decision::NoSuchFile => {
            prov.count("https", "not_found");
            status(StatusCode::NOT_FOUND, "no such file\n")
        }
        Decision::MacMismatch { path_mac, ua_mac } => {
            prov.count("https", "mac_mismatch");
            tracing::warn!(
                client = %ip, %path_mac, %ua_mac, user_agent = ua.unwrap_or_default(),
                "provisioning: refused a device file whose MAC is not the User-Agent's"
            );
            if prov.strike(ip, &path_mac, "https") {
                return banned(prov.settings.guard.ban);
            }
            status(StatusCode::FORBIDDEN, "this is not your file\n")
        }
        Decision::Unknown { mac, vendor, model } => {
            prov.count("https", "unknown_device");
            tracing::info!(client = %ip, %mac, "provisioning: device not in the inventory, recorded as discovered");
            prov.seen(&mac, vendor, model.as_deref(), "https").await;
            if prov.strike(ip, &mac, "https") {
                return banned(prov.settings.guard.ban);
            }
            status(StatusCode::NOT_FOUND, "unknown device: adopt it first\n")
        }
        Decision::Failed(e) => {
            prov.count("https", "error");
            tracing::error!(client = %ip, file, error = %e, "provisioning: cannot build the file");
            status(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

/// The strong validator of a body: a hash of it.
pub fn etag(body: &[u8]) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, body);
    format!("\"{}\"", hex::encode(&hash.as_ref()[..16]))
}

/// Whether `If-None-Match` names `tag` (or `*`). Weak comparison, as RFC 9110 asks for GET.
fn none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag
    })
}

fn file_response(rendered: Rendered, headers: &HeaderMap) -> Response {
    let tag = etag(&rendered.body);
    let mut response = if none_match(headers, &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = rendered.body.into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(rendered.content_type));
        r
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    // Device files hold credentials: no shared cache may keep them, and every use revalidates.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    response
}

impl Https {
    /// With `require_auth`, checks HTTP digest against the device's own lines. Returns the
    /// refusal (a 401 challenge) when the request may not have the file.
    fn unauthorized(&self, ip: IpAddr, method: &str, headers: &HeaderMap, phone: &PhoneConfig) -> Option<Response> {
        if !self.prov.settings.require_auth {
            return None;
        }
        let realm = phone.lines.first().map_or("outpost", |l| l.domain.as_str());
        let now = crate::store::unix_now().max(0) as u64;
        let challenge = |stale: bool| {
            let nonce = self.nonces.make(now, ip);
            let mut r = status(StatusCode::UNAUTHORIZED, "log in with the phone's extension and SIP password\n");
            for alg in [Algorithm::Sha256, Algorithm::Md5] {
                if let Ok(v) = HeaderValue::from_str(&digest::challenge(realm, &nonce, alg, stale)) {
                    r.headers_mut().append(header::WWW_AUTHENTICATE, v);
                }
            }
            r
        };
        let Some(creds) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| digest::parse_authorization(v).ok())
        else {
            return Some(challenge(false));
        };
        match self.nonces.check(&creds.nonce, now, ip) {
            NonceCheck::Fresh => {}
            NonceCheck::Stale => return Some(challenge(true)),
            NonceCheck::Invalid => return Some(challenge(false)),
        }
        let line = phone.lines.iter().find(|l| l.auth_user == creds.username);
        let good = line.is_some_and(|l| creds.realm == realm && creds.verify(method, &l.password));
        if !good {
            // Each guess counts (its response differs), so guessing one phone's password bans.
            tracing::warn!(client = %ip, mac = %phone.mac, user = %creds.username, "provisioning: digest authentication failed");
            self.prov.count("https", "auth_failed");
            if self.prov.strike(ip, &format!("auth:{}:{}", phone.mac, creds.response), "https") {
                return Some(banned(self.prov.settings.guard.ban));
            }
            return Some(challenge(false));
        }
        None
    }
}

/// `PUT /prov/<mac>-app.log` and the like: a known device's uploads, kept in bounded storage.
async fn upload(
    State(h): State<Arc<Https>>,
    Extension(Peer(peer)): Extension<Peer>,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (prov, ip) = (&h.prov, peer.ip());
    if let Some(left) = prov.banned(ip) {
        prov.count("https", "banned");
        return banned(left);
    }
    let Some((mac, name)) = upload_name(&file) else {
        prov.count("https", "upload_refused");
        return status(StatusCode::FORBIDDEN, "not a file phones upload\n");
    };
    let (_, _, ua_mac) = user_agent(&headers).map(identify::parse_user_agent).unwrap_or_default();
    if ua_mac.as_ref().is_some_and(|m| *m != mac) {
        tracing::warn!(client = %ip, %mac, ua_mac = ?ua_mac, "provisioning: upload for another device refused");
        prov.count("https", "mac_mismatch");
        if prov.strike(ip, &mac, "https") {
            return banned(prov.settings.guard.ban);
        }
        return status(StatusCode::FORBIDDEN, "this is not your file\n");
    }
    let doc = match prov.doc().await {
        Ok(doc) => doc,
        Err(e) => {
            tracing::error!(error = %e, "provisioning: cannot read the site config");
            return status(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        }
    };
    let Some(phone) = phone::phone_config(&doc, &mac, &prov.endpoint.box_host, prov.endpoint.sip_port) else {
        prov.count("https", "unknown_device");
        if prov.strike(ip, &mac, "https") {
            return banned(prov.settings.guard.ban);
        }
        return status(StatusCode::NOT_FOUND, "unknown device\n");
    };
    if let Some(refused) = h.unauthorized(ip, "PUT", &headers, &phone) {
        return refused;
    }
    let (stored, len) = (h.clone(), body.len());
    let saved = tokio::task::spawn_blocking(move || stored.uploads.store(&name, &body)).await;
    match saved {
        Ok(Ok(created)) => {
            prov.count("https", "upload");
            tracing::debug!(client = %ip, %mac, file, bytes = len, "provisioning: upload stored");
            if created {
                StatusCode::CREATED.into_response()
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, file, "provisioning: cannot store an upload");
            status(StatusCode::INSUFFICIENT_STORAGE, "cannot store the file\n")
        }
        Err(e) => {
            tracing::error!(error = %e, "provisioning: upload task failed");
            status(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}
