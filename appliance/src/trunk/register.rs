//! The box's own registration with a trunk that wants one (`Trunk::registers`). Pure: told
//! the time and the trunk's current target, it returns what to send.
//!
//! - REGISTER `sip:<domain>`, From/To `sip:<username>@<domain>`, Contact
//!   `<sip:<username>@<box>>` (`;transport=tcp|tls` on streams), Expires 300; one Call-ID for
//!   the life of the registration, CSeq counting up.
//! - 401/407: answered once with (Proxy-)Authorization. The same nonce challenged again, not
//!   stale, means the credentials are wrong: failed. At most 3 challenges per attempt, so a
//!   peer handing out new nonces forever cannot keep us busy.
//! - 423: asked again at once with the peer's Min-Expires.
//! - 200: registered until the granted expiry (our Contact's `expires`, else the Expires
//!   header, else what we asked); refreshed at 80 % of it.
//! - No final answer: UDP retransmits at 500 ms doubling to 4 s, and gives up after 32 s (RFC
//!   3261 timer F; the same 32 s on TCP/TLS). Any failure is retried after 2 s, 4 s, ... up to
//!   300 s between attempts, forever: a trunk that comes back is registered again unasked.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::probe::{self, Ids, T1, T2};
use crate::sip::b2bua::dialog::{param, uri_of, Dest, Head, Request};
use crate::sip::b2bua::Outgoing;
use crate::sip::core::Now;
use crate::sip::digest::client::{self, Challenge};
use crate::sip::digest::Algorithm;
use crate::sip::message::Transport;

/// Seconds of registration we ask for.
pub const EXPIRES: u32 = 300;
/// Giving up on an unanswered REGISTER (RFC 3261 timer F).
pub const TIMER_F: Duration = Duration::from_secs(32);
pub const BACKOFF_MIN: Duration = Duration::from_secs(2);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
const MAX_CHALLENGES: u32 = 3;

/// Registration state, for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RegState {
    /// The trunk knows us by address.
    NotNeeded,
    Trying,
    Registered {
        until_unix: i64,
    },
    Failed {
        reason: String,
        retry_at: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegConfig {
    pub username: String,
    pub password: String,
    pub domain: String,
}

#[derive(Debug, Clone)]
struct Pending {
    branch: String,
    dest: Dest,
    bytes: Vec<u8>,
    give_up: Instant,
    retx: Option<(Instant, Duration)>,
    /// The nonce our Authorization in this request answered.
    answered: Option<String>,
    challenges: u32,
}

#[derive(Debug, Clone)]
pub struct Registration {
    cfg: RegConfig,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    state: RegState,
    pending: Option<Pending>,
    /// When the next REGISTER goes out (first, refresh or retry); none while one is pending.
    next_at: Option<Instant>,
    backoff: Duration,
    /// The last nonce answered and how often (`nc`).
    nonce: Option<(String, u32)>,
}

/// The values of every header `name` (unsplit: a challenge contains commas).
fn header_values<'a>(raw: &'a [u8], name: &str) -> Vec<&'a str> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let Some(head) = raw.get(..end).and_then(|h| std::str::from_utf8(h).ok()) else { return Vec::new() };
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .collect()
}

/// The challenge to answer: SHA-256 before MD5, any we can compute before none.
fn best_challenge(values: &[&str]) -> Option<Challenge> {
    let mut ok: Vec<Challenge> = values
        .iter()
        .filter_map(|v| client::parse_challenge(v).ok())
        .filter(|c| c.algorithm().is_ok() && (c.qop.is_none() || c.qop.as_deref().is_some_and(|q| q.contains("auth"))))
        .collect();
    ok.sort_by_key(|c| match c.algorithm().map(Algorithm::base) {
        Ok(Algorithm::Sha256) => 0,
        _ => 1,
    });
    ok.into_iter().next()
}

impl Registration {
    pub fn new(now: Instant, cfg: RegConfig, call_id: String, from_tag: String) -> Registration {
        Registration {
            cfg,
            call_id,
            from_tag,
            cseq: 0,
            expires: EXPIRES,
            state: RegState::Trying,
            pending: None,
            next_at: Some(now),
            backoff: BACKOFF_MIN,
            nonce: None,
        }
    }

    pub fn state(&self) -> &RegState {
        &self.state
    }

    pub fn deadline(&self) -> Option<Instant> {
        match &self.pending {
            Some(p) => Some(p.retx.map_or(p.give_up, |(at, _)| at.min(p.give_up))),
            None => self.next_at,
        }
    }

    fn contact(&self, me: SocketAddr, transport: Transport) -> String {
        let t = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };
        format!("<sip:{}@{me}{t}>", self.cfg.username)
    }

    fn request(
        &mut self,
        now: Instant,
        me: SocketAddr,
        dest: Dest,
        ids: &Ids,
        auth: Option<(&'static str, String)>,
    ) -> Outgoing {
        self.cseq += 1;
        let uri = format!("sip:{}", self.cfg.domain);
        let aor = format!("<sip:{}@{}>", self.cfg.username, self.cfg.domain);
        let from = format!("{aor};tag={}", self.from_tag);
        let contact = self.contact(me, dest.transport);
        let mut extra = vec![("Expires", self.expires.to_string())];
        extra.extend(auth);
        let bytes = Request {
            method: "REGISTER",
            uri: &uri,
            via: probe::via(dest.transport, me, &ids.branch),
            from: &from,
            to: &aor,
            call_id: &self.call_id,
            cseq: self.cseq,
            contact: Some(&contact),
            extra,
            body: b"",
            content_type: None,
        }
        .bytes();
        let retx = (dest.transport == Transport::Udp).then_some((now + T1, T1 * 2));
        self.pending = Some(Pending {
            branch: ids.branch.clone(),
            dest,
            bytes: bytes.clone(),
            give_up: now + TIMER_F,
            retx,
            answered: None,
            challenges: 0,
        });
        self.next_at = None;
        Outgoing { to: dest, bytes }
    }

    fn fail(&mut self, now: Now, reason: String) {
        tracing::debug!(domain = %self.cfg.domain, %reason, "trunk registration failed");
        self.pending = None;
        let wait = self.backoff;
        self.next_at = Some(now.at + wait);
        self.state = RegState::Failed { reason, retry_at: now.unix + wait.as_secs() as i64 };
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Starts a REGISTER when one is due, retransmits, or gives up. `dest` is the trunk's
    /// current target (none: unresolvable), `ids` fresh identifiers for a new request.
    pub fn on_timer(
        &mut self,
        now: Now,
        me: SocketAddr,
        dest: Option<Dest>,
        ids: impl FnOnce() -> Ids,
    ) -> Vec<Outgoing> {
        if let Some(p) = &mut self.pending {
            if now.at >= p.give_up {
                let to = p.dest.addr;
                self.fail(now, format!("no answer to REGISTER from {to}"));
                return Vec::new();
            }
            if let Some((at, next)) = p.retx {
                if now.at >= at {
                    p.retx = Some((now.at + next, (next * 2).min(T2)));
                    return vec![Outgoing { to: p.dest, bytes: p.bytes.clone() }];
                }
            }
            return Vec::new();
        }
        if self.next_at.is_none_or(|at| now.at < at) {
            return Vec::new();
        }
        let Some(dest) = dest else {
            self.fail(now, "no address for the trunk".into());
            return Vec::new();
        };
        if !matches!(self.state, RegState::Registered { .. }) {
            self.state = RegState::Trying;
        }
        vec![self.request(now.at, me, dest, &ids(), None)]
    }

    /// Whether `head` answers our pending REGISTER.
    pub fn matches(&self, head: &Head<'_>) -> bool {
        self.pending.as_ref().is_some_and(|p| {
            head.top_branch() == Some(p.branch.as_str()) && head.cseq().is_some_and(|(_, m)| m == "REGISTER")
        })
    }

    /// A response to our pending REGISTER (the caller checked `matches`; `raw` is the whole
    /// message, for the challenge headers): what to send next.
    pub fn on_response(
        &mut self,
        now: Now,
        me: SocketAddr,
        head: &Head<'_>,
        raw: &[u8],
        ids: impl FnOnce() -> Ids,
    ) -> Vec<Outgoing> {
        let Some(code) = head.status() else { return Vec::new() };
        let Some(p) = &mut self.pending else { return Vec::new() };
        if code < 200 {
            // Proceeding: the answer will come, stop filling the line (timer F still runs).
            p.retx = None;
            return Vec::new();
        }
        let (dest, challenges, answered) = (p.dest, p.challenges, p.answered.clone());
        match code {
            200..=299 => {
                let granted = self.granted(head, me);
                if granted == 0 {
                    self.fail(now, "registrar granted 0 s".into());
                    return Vec::new();
                }
                self.pending = None;
                self.backoff = BACKOFF_MIN;
                self.state = RegState::Registered { until_unix: now.unix + i64::from(granted) };
                self.next_at = Some(now.at + Duration::from_millis(u64::from(granted) * 800));
                Vec::new()
            }
            401 | 407 => {
                let (name, answer) = if code == 401 {
                    ("www-authenticate", "Authorization")
                } else {
                    ("proxy-authenticate", "Proxy-Authorization")
                };
                let Some(ch) = best_challenge(&header_values(raw, name)) else {
                    self.fail(now, format!("{code} without a challenge we can answer"));
                    return Vec::new();
                };
                if answered.as_deref() == Some(ch.nonce.as_str()) && !ch.stale {
                    self.fail(now, format!("{code}: wrong username or password"));
                    return Vec::new();
                }
                if challenges >= MAX_CHALLENGES {
                    self.fail(now, format!("{code}: challenged {challenges} times in a row"));
                    return Vec::new();
                }
                let nc = match &self.nonce {
                    Some((n, used)) if *n == ch.nonce => used.saturating_add(1),
                    _ => 1,
                };
                let ids = ids();
                let uri = format!("sip:{}", self.cfg.domain);
                // The fresh Call-ID-grade identifier doubles as our cnonce.
                let (user, pass) = (&self.cfg.username, &self.cfg.password);
                let value = match client::answer(&ch, "REGISTER", &uri, user, pass, &ids.call_id, nc) {
                    Ok(v) => v,
                    Err(e) => {
                        self.fail(now, format!("{code}: {e}"));
                        return Vec::new();
                    }
                };
                self.nonce = Some((ch.nonce.clone(), nc));
                let out = self.request(now.at, me, dest, &ids, Some((answer, value)));
                if let Some(p) = &mut self.pending {
                    p.answered = Some(ch.nonce);
                    p.challenges = challenges + 1;
                }
                vec![out]
            }
            423 => {
                let min = head.get("min-expires").and_then(|v| v.trim().parse::<u32>().ok());
                match min {
                    Some(min) if min > self.expires && min <= 86_400 && challenges < MAX_CHALLENGES => {
                        self.expires = min;
                        let out = self.request(now.at, me, dest, &ids(), None);
                        if let Some(p) = &mut self.pending {
                            p.challenges = challenges + 1;
                        }
                        vec![out]
                    }
                    _ => {
                        self.fail(now, "423 without a usable Min-Expires".into());
                        Vec::new()
                    }
                }
            }
            _ => {
                let reason = head.start.splitn(3, ' ').nth(2).unwrap_or_default();
                self.fail(now, format!("{code} {reason}").trim_end().to_owned());
                Vec::new()
            }
        }
    }

    /// Seconds the registrar granted: our Contact's `expires`, else Expires, else ours.
    fn granted(&self, head: &Head<'_>, me: SocketAddr) -> u32 {
        let ours = format!("@{me}");
        let from_contact = head
            .all("contact")
            .into_iter()
            .find(|c| uri_of(c).contains(&ours))
            .and_then(|c| param(c, "expires"))
            .and_then(|v| v.parse().ok());
        from_contact.or_else(|| head.get("expires").and_then(|v| v.trim().parse().ok())).unwrap_or(self.expires)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const ME: &str = "192.168.10.2:5060";

    fn at(start: Instant, ms: u64) -> Now {
        Now { at: start + Duration::from_millis(ms), unix: 10_000 + (ms / 1000) as i64 }
    }

    fn dest() -> Dest {
        Dest { transport: Transport::Udp, addr: "203.0.113.1:5060".parse().unwrap() }
    }

    fn ids(n: u32) -> impl FnOnce() -> Ids {
        move || Ids { branch: format!("z9hG4bKr{n}"), call_id: format!("c{n}"), tag: format!("t{n}") }
    }

    fn new(start: Instant) -> Registration {
        let cfg = RegConfig { username: "acme1".into(), password: "pw".into(), domain: "carrier.test".into() };
        Registration::new(start, cfg, "reg-1".into(), "tag-1".into())
    }

    fn answer(r: &mut Registration, now: Now, req: &[u8], status: &str, extra: &str) -> Vec<Outgoing> {
        let h = Head::parse(req).unwrap();
        let text = format!(
            "SIP/2.0 {status}\r\nVia: {}\r\nCSeq: {}\r\nCall-ID: reg-1\r\n{extra}Content-Length: 0\r\n\r\n",
            h.get("via").unwrap(),
            h.get("cseq").unwrap()
        );
        let head = Head::parse(text.as_bytes()).unwrap();
        assert!(r.matches(&head));
        r.on_response(now, ME.parse().unwrap(), &head, text.as_bytes(), ids(99))
    }

    #[test]
    fn unanswered_registers_retransmit_then_fail_and_back_off() {
        let t0 = Instant::now();
        let mut r = new(t0);
        let me = ME.parse().unwrap();
        assert!(r.on_timer(at(t0, 0), me, Some(dest()), ids(1)).len() == 1);
        let mut sent = Vec::new();
        for ms in (100..=32_000).step_by(100) {
            if !r.on_timer(at(t0, ms), me, Some(dest()), ids(2)).is_empty() {
                sent.push(ms);
            }
        }
        assert_eq!(sent, [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]);
        assert_eq!(
            r.state(),
            &RegState::Failed { reason: "no answer to REGISTER from 203.0.113.1:5060".into(), retry_at: 10_034 }
        );
        assert_eq!(r.deadline(), Some(t0 + Duration::from_secs(34)));
        // Every later failure waits twice as long, up to 300 s.
        let mut waits = Vec::new();
        let mut now = 34_000;
        for _ in 0..10 {
            assert_eq!(r.on_timer(at(t0, now), me, None, ids(3)), vec![]);
            let next = r.deadline().unwrap().duration_since(t0).as_millis() as u64;
            waits.push((next - now) / 1000);
            now = next;
        }
        assert_eq!(waits, [4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert!(matches!(r.state(), RegState::Failed { reason, .. } if reason == "no address for the trunk"));
    }

    #[test]
    fn granted_expiry_423_stale_nonces_and_refusals() {
        let t0 = Instant::now();
        let me = ME.parse().unwrap();
        let mut r = new(t0);
        let req = r.on_timer(at(t0, 0), me, Some(dest()), ids(1)).remove(0);
        // 100 Trying stops the retransmissions.
        assert!(answer(&mut r, at(t0, 10), &req.bytes, "100 Trying", "").is_empty());
        assert!(r.on_timer(at(t0, 600), me, Some(dest()), ids(2)).is_empty());
        let out = answer(&mut r, at(t0, 700), &req.bytes, "423 Interval Too Brief", "Min-Expires: 600\r\n");
        let text = String::from_utf8(out[0].bytes.clone()).unwrap();
        assert!(text.contains("Expires: 600\r\n") && text.contains("CSeq: 2 REGISTER"), "{text}");
        let ch = "WWW-Authenticate: Digest realm=\"c\", nonce=\"n1\"\r\n";
        let out = answer(&mut r, at(t0, 800), &out[0].bytes, "401 Unauthorized", ch);
        let stale = "WWW-Authenticate: Digest realm=\"c\", nonce=\"n1\", stale=true\r\n";
        let out = answer(&mut r, at(t0, 900), &out[0].bytes, "401 Unauthorized", stale);
        assert_eq!(out.len(), 1, "stale: answered again, the password is right");
        let auth = Head::parse(&out[0].bytes).unwrap().get("authorization").unwrap().to_owned();
        assert!(!auth.contains("qop"), "RFC 2069 style without qop: {auth}");
        // Contact without expires of ours: the Expires header counts.
        let ok =
            "Contact: <sip:other@10.9.9.9>;expires=30\r\nContact: <sip:acme1@192.168.10.2:5060>\r\nExpires: 500\r\n";
        assert!(answer(&mut r, at(t0, 1_000), &out[0].bytes, "200 OK", ok).is_empty());
        assert_eq!(r.state(), &RegState::Registered { until_unix: 10_501 });
        assert_eq!(r.deadline(), Some(t0 + Duration::from_millis(1_000 + 400_000)));
        let req = r.on_timer(at(t0, 401_000), me, Some(dest()), ids(3)).remove(0);
        let text = String::from_utf8(req.bytes.clone()).unwrap();
        assert!(text.contains("Expires: 600\r\n"), "the Min-Expires stays: {text}");
        assert!(answer(&mut r, at(t0, 401_100), &req.bytes, "403 Forbidden", "").is_empty());
        assert_eq!(r.state(), &RegState::Failed { reason: "403 Forbidden".into(), retry_at: 10_403 });
        let req = r.on_timer(at(t0, 403_100), me, Some(dest()), ids(4)).remove(0);
        assert_eq!(r.state(), &RegState::Trying);
        answer(&mut r, at(t0, 403_200), &req.bytes, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"x\"\r\n");
        assert!(
            matches!(r.state(), RegState::Failed { reason, .. } if reason == "401 without a challenge we can answer")
        );
    }
}
