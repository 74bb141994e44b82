//! REGISTER (RFC 3261 §10.3): authenticate, read the contacts and their lifetimes, update the
//! location service, and say what to answer. Pure: the caller passes the time, the directory,
//! the defences and the location table.

use std::net::SocketAddr;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::prelude::HeadersExt;

use super::auth::{authenticate, Check};
use super::defence::Defence;
use super::digest::{Algorithm, Nonces};
use super::directory::Directory;
use super::location::{Binding, Change, Location, LocationError, Origin, Update};
use super::message::{split_list, Transport};

#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    pub max_contacts: usize,
    /// Digest algorithms offered, strongest first (RFC 8760); an answer with another is refused.
    pub algorithms: Vec<Algorithm>,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        }
    }
}

/// The answer to give, and the binding changes to persist before giving it.
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    pub code: u16,
    pub reason: String,
    pub headers: Vec<(&'static str, String)>,
    pub changes: Vec<Change>,
    /// What the log and the metrics call this outcome.
    pub event: Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Registered,
    Unregistered,
    Queried,
    Challenged,
    AuthFailed,
    Refused,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::Registered => "registered",
            Event::Unregistered => "unregistered",
            Event::Queried => "queried",
            Event::Challenged => "challenged",
            Event::AuthFailed => "auth_failed",
            Event::Refused => "refused",
        }
    }
}

fn answer(code: u16, reason: &str, event: Event) -> Decision {
    Decision { code, reason: reason.to_owned(), headers: Vec::new(), changes: Vec::new(), event }
}

/// Everything a REGISTER is decided against.
pub struct Context<'a> {
    pub now: Instant,
    pub unix: i64,
    pub source: SocketAddr,
    pub transport: Transport,
    pub directory: &'a Directory,
    pub nonces: &'a Nonces,
    pub defence: &'a mut Defence,
    pub location: &'a mut Location,
    pub config: &'a RegistrarConfig,
}

pub fn register(req: &rsip::Request, cx: Context<'_>) -> Decision {
    let host = req.uri.host_with_port.host.to_string();
    let Some(tenant) = cx.directory.tenant(&host) else {
        return answer(404, "Not Found: domain not served here", Event::Refused);
    };
    let realm = host.to_ascii_lowercase();
    let check = Check {
        now: cx.now,
        unix: cx.unix,
        source: cx.source,
        nonces: cx.nonces,
        defence: cx.defence,
        algorithms: &cx.config.algorithms,
    };
    let username = match authenticate(req, "REGISTER", &realm, tenant, check) {
        Ok(user) => user,
        Err(r) => {
            return Decision { code: r.code, reason: r.reason, headers: r.headers, changes: Vec::new(), event: r.event }
        }
    };

    let aor = req.to_header().ok().and_then(|h| user_of(h.value())).unwrap_or_default();
    if aor != username {
        return answer(403, "Forbidden: these credentials are not for this extension", Event::Refused);
    }

    let update = match contacts(req, cx.config) {
        Ok(u) => u,
        Err(d) => return d,
    };
    let user_agent = req.user_agent_header().map(|h| h.value().to_owned()).unwrap_or_default();
    let call_id = req.call_id_header().map(|h| h.value().to_owned()).unwrap_or_default();
    let cseq = req.cseq_header().ok().and_then(|h| h.value().split_whitespace().next()?.parse().ok()).unwrap_or(0);
    let source = format!("{}:{}", cx.transport.name(), cx.source);
    let origin = Origin { source: &source, user_agent: &user_agent, call_id: &call_id, cseq };
    let event = match &update {
        Update::Query => Event::Queried,
        Update::RemoveAll => Event::Unregistered,
        Update::Contacts(list) if list.iter().all(|(_, e)| *e == 0) => Event::Unregistered,
        Update::Contacts(_) => Event::Registered,
    };
    let changes = match cx.location.update(cx.unix, &tenant.name, &aor, update, origin, cx.config.max_contacts) {
        Ok(changes) => changes,
        Err(LocationError::OutOfOrder) => {
            return answer(500, "Server Internal Error: out of order REGISTER", Event::Refused)
        }
        Err(e @ LocationError::TooManyContacts(_)) => return answer(403, &format!("Forbidden: {e}"), Event::Refused),
    };
    let mut d = answer(200, "OK", event);
    for b in cx.location.bindings(&tenant.name, &aor, cx.unix) {
        d.headers.push(("Contact", contact_line(b, cx.unix)));
    }
    d.headers.push(("Date", http_date(cx.unix)));
    d.changes = changes;
    d
}

fn contact_line(b: &Binding, now: i64) -> String {
    format!("<{}>;expires={}", b.contact, (b.expires_at - now).max(0))
}

/// The user part of a name-addr or addr-spec: `"Alice" <sip:101@host>;tag=x` gives `101`.
fn user_of(value: &str) -> Option<String> {
    let uri = match value.find('<') {
        Some(start) => value[start + 1..].split('>').next()?,
        None => value.split(';').next()?,
    };
    let rest = uri.trim().strip_prefix("sips:").or_else(|| uri.trim().strip_prefix("sip:"))?;
    let (user, _) = rest.split_once('@')?;
    Some(user.split(';').next()?.to_owned())
}

/// Reads the Contact headers and the lifetimes they ask for (RFC 3261 §10.3 steps 6 and 7).
fn contacts(req: &rsip::Request, config: &RegistrarConfig) -> Result<Update, Decision> {
    let bad = |why: &str| answer(400, &format!("Bad Request: {why}"), Event::Refused);
    let header_expires = match req.expires_header() {
        Some(h) => Some(h.value().trim().parse::<u32>().map_err(|_| bad("Expires is not a number"))?),
        None => None,
    };
    let values: Vec<String> = req
        .contact_headers()
        .iter()
        .flat_map(|h| split_list(h.value()).into_iter().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    if values.is_empty() {
        return Ok(Update::Query);
    }
    if values.iter().any(|v| v == "*") {
        return if values.len() == 1 && header_expires == Some(0) {
            Ok(Update::RemoveAll)
        } else {
            Err(bad("Contact: * needs Expires: 0 and no other contact"))
        };
    }
    let mut list = Vec::new();
    for value in values {
        let (uri, params) = match value.find('<') {
            Some(start) => {
                let inner = &value[start + 1..];
                let end = inner.find('>').ok_or_else(|| bad("unterminated < in Contact"))?;
                (inner[..end].trim().to_owned(), inner[end + 1..].to_owned())
            }
            None => {
                let (uri, params) = value.split_once(';').unwrap_or((&value, ""));
                (uri.trim().to_owned(), format!(";{params}"))
            }
        };
        if !(uri.starts_with("sip:") || uri.starts_with("sips:")) {
            return Err(bad("Contact is not a sip: URI"));
        }
        let param_expires = params
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("expires=").or_else(|| p.trim().strip_prefix("EXPIRES=")))
            .map(|v| v.trim().parse::<u32>().map_err(|_| bad("Contact expires is not a number")))
            .next()
            .transpose()?;
        let asked = param_expires.or(header_expires).unwrap_or(config.default_expires);
        if asked != 0 && asked < config.min_expires {
            let mut d = answer(423, "Interval Too Brief", Event::Refused);
            d.headers.push(("Min-Expires", config.min_expires.to_string()));
            return Err(d);
        }
        list.push((uri, asked.min(config.max_expires)));
    }
    Ok(Update::Contacts(list))
}

/// An RFC 1123 date for the Date header (phones without NTP set their clock from it).
pub fn http_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests;
