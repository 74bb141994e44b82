//! The HTTP pieces that the box's web UI (`appliance::ui`) and the fleet dashboard
//! (`outpost-fleet`'s `web`) share, so that both pages are hardened one way: the security
//! headers of every answer, cookies read and set, compiled-in assets, notices.
//! Pages, sessions and their stores stay with each side.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

/// A compiled-in asset, cached for five minutes.
pub fn asset(kind: &'static str, text: &'static str) -> Response {
    ([(CONTENT_TYPE, kind), (CACHE_CONTROL, "max-age=300")], text).into_response()
}

/// For every answer (`middleware::map_response`): only this origin's script and style (no
/// inline code), no framing, no referrer, and not cached unless the route said otherwise
/// (pages carry CSRF tokens).
pub async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
    h.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    h.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
    h.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The value of cookie `name`, from every `Cookie` header.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// `Set-Cookie` for a session cookie: HttpOnly, Secure, SameSite=Strict, under `path`. An
/// empty value with age 0 removes it; a value that is not a header value removes it too.
pub fn session_cookie(name: &str, value: &str, path: &str, max_age: u64) -> HeaderValue {
    let cookie = format!("{name}={value}; HttpOnly; SameSite=Strict; Secure; Path={path}; Max-Age={max_age}");
    HeaderValue::from_str(&cookie)
        .or_else(|_| HeaderValue::from_str(&format!("{name}=; Path={path}; Max-Age=0")))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A notice above a page's content.
pub fn notice(ok: bool, text: &str) -> Markup {
    html! { p class=(if ok { "notice ok" } else { "notice refused" }) role="status" { (text) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_in_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; b=2"));
        h.append(COOKIE, HeaderValue::from_static("c=3"));
        assert_eq!((cookie(&h, "b"), cookie(&h, "c"), cookie(&h, "d")), (Some("2"), Some("3"), None));
    }

    #[test]
    fn session_cookies_are_strict_and_a_bad_value_removes_the_cookie() {
        let v = session_cookie("s", "tok", "/ui", 60);
        assert_eq!(v, "s=tok; HttpOnly; SameSite=Strict; Secure; Path=/ui; Max-Age=60");
        assert_eq!(session_cookie("s", "bad\nvalue", "/ui", 60), "s=; Path=/ui; Max-Age=0");
    }
}
