//! The HTTPS client for the box's REST API (`/api/v1`), pinned to the box's certificate.
//!
//! Every call answers JSON (or nothing, for 204). An answer of 4xx/5xx becomes
//! [`ClientError::Api`] carrying the API's `error` and per-field `reasons`, so the caller can
//! show the admin exactly what the box objected to.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::{CertificateError, OtherError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pin::{self, PinError};

/// One field-level reason the box gave for refusing a change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Reason {
    #[serde(default)]
    pub field: String,
    pub reason: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the box URL must look like https://ADDRESS:PORT, not `{0}`")]
    Url(String),
    #[error(transparent)]
    Pin(#[from] PinError),
    /// The box could not be reached, or the TLS handshake failed (for instance a wrong cert).
    #[error("{0}")]
    Transport(String),
    /// The box answered with an error status.
    #[error("{status}: {error}{}", ReasonLines(reasons))]
    Api { status: u16, error: String, reasons: Vec<Reason> },
    #[error("`{0}` cannot name a tenant, extension or device")]
    Segment(String),
    /// The box answered something that is not the JSON the API promises.
    #[error("unexpected answer from the box: {0}")]
    BadAnswer(String),
}

struct ReasonLines<'a>(&'a [Reason]);

impl fmt::Display for ReasonLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|r| write!(f, "\n  {r}"))
    }
}

/// An API client for one box, optionally holding a session token.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl fmt::Debug for Client {
    // Hand-written so that the token never ends up in a debug print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("token", &self.token.as_ref().map(|_| "…")).finish()
    }
}

impl Client {
    /// A client for the box at `url` (`https://host:port`) that trusts only `cacert`.
    pub fn new(url: &str, cacert: &Path) -> Result<Client, ClientError> {
        let base = url.trim_end_matches('/');
        let rest = base.strip_prefix("https://").ok_or_else(|| ClientError::Url(url.to_owned()))?;
        if rest.is_empty() || rest.contains(['/', '?', '#']) {
            return Err(ClientError::Url(url.to_owned()));
        }
        let tls = pin::client_config(cacert)?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .https_only(true)
            .redirects(0)
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("outpostctl/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client { agent, base: base.to_owned(), token: None })
    }

    /// The same box with a session token; the connection setup (and pinned cert) is shared.
    pub fn with_token(&self, token: String) -> Client {
        Client { agent: self.agent.clone(), base: self.base.clone(), token: Some(token) }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send("GET", path, None)
    }

    pub fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send("DELETE", path, None)
    }

    pub fn post(&self, path: &str, body: &impl Serialize) -> Result<Value, ClientError> {
        self.send("POST", path, Some(to_json(body)?))
    }

    /// A POST without a body, for actions such as logout.
    pub fn post_empty(&self, path: &str) -> Result<Value, ClientError> {
        self.send("POST", path, None)
    }

    pub fn put(&self, path: &str, body: &impl Serialize) -> Result<Value, ClientError> {
        self.send("PUT", path, Some(to_json(body)?))
    }

    /// `path` starts with `/api/v1/…`; variable segments must already be [`segment`]-encoded.
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, ClientError> {
        let mut request = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let answer = match body {
            Some(json) => request.send_json(json),
            None => request.call(),
        };
        match answer {
            Ok(response) => read_body(response),
            Err(ureq::Error::Status(status, response)) => Err(api_error(status, response)),
            Err(ureq::Error::Transport(t)) => Err(transport_error(&t)),
        }
    }
}

/// Describes a failed connection. A certificate refused by [`pin`] would otherwise be shown
/// in rustls's debug form; the admin should read plainly that it is the wrong certificate.
fn transport_error(t: &ureq::Transport) -> ClientError {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(t);
    while let Some(e) = next {
        // io::Error hides its inner error from `source()`; look through it by hand.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static));
        for candidate in [Some(e), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(why)))) =
                candidate.downcast_ref::<rustls::Error>()
            {
                let url = t.url().map(|u| format!("{u}: ")).unwrap_or_default();
                return ClientError::Transport(format!("{url}TLS handshake refused: {why}"));
            }
        }
        next = e.source();
    }
    ClientError::Transport(t.to_string())
}

fn to_json(body: &impl Serialize) -> Result<Value, ClientError> {
    serde_json::to_value(body).map_err(|e| ClientError::BadAnswer(format!("cannot encode the request: {e}")))
}

/// Largest answer read. ureq's own `into_string` stops at 10 MB, but an exported site of many
/// thousands of extensions may be larger (the box accepts documents of 8 MB).
const MAX_ANSWER: u64 = 64 * 1024 * 1024;

/// The JSON of a successful answer; `Null` for an empty one (204).
fn read_body(response: ureq::Response) -> Result<Value, ClientError> {
    let mut text = String::new();
    response
        .into_reader()
        .take(MAX_ANSWER)
        .read_to_string(&mut text)
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| ClientError::BadAnswer(e.to_string()))
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    reasons: Vec<Reason>,
}

fn api_error(status: u16, response: ureq::Response) -> ClientError {
    let text = response.into_string().unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => ClientError::Api { status, error: body.error, reasons: body.reasons },
        // Not the API's error shape (a proxy, say): show the start of what came back.
        Err(_) => ClientError::Api { status, error: text.chars().take(200).collect(), reasons: Vec::new() },
    }
}

/// Percent-encodes one path segment (a tenant name, a number, a MAC) so that user input can
/// never change which resource a request names. `.` and `..` are refused outright: URL
/// parsers resolve them even when encoded, and `device rm --tenant acme ..` must not become
/// `DELETE /tenants/acme`.
pub fn segment(raw: &str) -> Result<String, ClientError> {
    if raw.is_empty() || raw.chars().all(|c| c == '.') {
        return Err(ClientError::Segment(raw.to_owned()));
    }
    Ok(raw
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'+' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape_their_place() {
        assert_eq!(segment("acme").unwrap(), "acme");
        assert_eq!(segment("80:5e:c0:11:22:33").unwrap(), "80:5e:c0:11:22:33");
        assert_eq!(segment("../site").unwrap(), "..%2Fsite");
        assert_eq!(segment("a b?c#d").unwrap(), "a%20b%3Fc%23d");
        for bad in ["", ".", ".."] {
            assert!(matches!(segment(bad), Err(ClientError::Segment(_))), "{bad:?}");
        }
    }

    #[test]
    fn api_errors_show_status_error_and_each_reason_on_its_own_line() {
        let e = ClientError::Api {
            status: 422,
            error: "the change was refused".into(),
            reasons: vec![
                Reason { field: "tenants[0].extensions[3].number".into(), reason: "must be 2-8 digits".into() },
                Reason { field: String::new(), reason: "expected a table".into() },
            ],
        };
        assert_eq!(
            e.to_string(),
            "422: the change was refused\n  tenants[0].extensions[3].number: must be 2-8 digits\n  expected a table"
        );
    }

    #[test]
    fn only_https_urls_are_accepted() {
        for url in ["http://10.0.0.1:8443", "10.0.0.1", "https://", "https://box/api"] {
            assert!(matches!(Client::new(url, Path::new("/nonexistent")), Err(ClientError::Url(_))), "{url}");
        }
    }
}
