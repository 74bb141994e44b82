//! The SIP endpoint's pure core: bytes in, bytes out. One place reads as the order of the
//! steps every request goes through:
//!
//! 1. defences: banned or over-rate sources are dropped unanswered;
//! 2. parse: malformed requests get 400 with the reason, junk is dropped;
//! 3. responses go to the B2BUA's client transactions; ACK to its INVITE transactions or to
//!    the call it confirms; INVITE to the B2BUA, which keeps its own INVITE transactions;
//! 4. transactions: a retransmitted non-INVITE request gets the answer already given;
//! 5. method: REGISTER to the registrar, OPTIONS answered 200, BYE and CANCEL to the B2BUA,
//!    the rest 405/501;
//! 6. remember the answer for retransmissions.
//!
//! Drivers (UDP, TCP, TLS) call `handle` and do what the `Output` says; a timer task calls
//! `on_timer` at the `deadline` the last output named.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::prelude::HeadersExt;

use super::b2bua::cdr::CallRecord;
use super::b2bua::inbound::{InviteCx, InviteEvent};
use super::b2bua::media::Direct;
use super::b2bua::trunk::TrunkTargets;
use super::b2bua::{B2bua, Env, Outgoing};
use super::defence::{Admit, Defence, DefenceConfig};
use super::digest::Nonces;
use super::directory::Directory;
use super::location::{Binding, Change, Location};
use super::message::{self, Parsed, ReplyBase, Transport};
use super::registrar::{self, Context, Event, RegistrarConfig};
use super::transaction::{Key, Seen, Transactions};
use crate::routing::Situation;
use crate::site::SiteDoc;

const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, REFER, UPDATE, REGISTER, OPTIONS";

/// The time, as the core is told it: a monotonic instant for timers and Unix seconds for
/// what is stored or shown.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub at: Instant,
    pub unix: i64,
}

impl Now {
    pub fn system() -> Now {
        Now { at: Instant::now(), unix: crate::store::unix_now() }
    }
}

/// What the driver must do for one incoming message (or timer).
#[derive(Debug, Default, PartialEq)]
pub struct Output {
    /// Bytes to send back to the source.
    pub reply: Option<Vec<u8>>,
    /// Binding changes to persist before the reply goes out.
    pub changes: Vec<Change>,
    /// What happened, for metrics and logs.
    pub outcome: Outcome,
    /// Messages to other destinations (the B2BUA's legs), or to the source beyond `reply`.
    pub sends: Vec<Outgoing>,
    /// Calls that ended: their CDRs, to write.
    pub records: Vec<CallRecord>,
    /// Trunk state and survivable-mode changes, to log, count and store.
    pub trunk_events: Vec<crate::store::trunk_events::TrunkEventRow>,
    /// When `on_timer` is due next.
    pub deadline: Option<Instant>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    #[default]
    Dropped,
    Banned,
    OverRate,
    Malformed,
    Retransmission,
    Answered(u16),
    Register(Event),
    Invite(InviteEvent),
    /// A response, handed to the B2BUA's transactions.
    Response,
}

/// The B2BUA's view of the core, for one input (a macro, so that other fields stay free to be
/// borrowed mutably next to it).
macro_rules! env {
    ($core:ident, $now:expr) => {
        Env {
            now: $now,
            location: &$core.location,
            site: &$core.site,
            sit: &$core.situation,
            trunks: &$core.trunk_view,
        }
    };
}

/// Where trunks are reached, as the B2BUA sees it: rebuilt from trunk health after changes.
#[derive(Debug, Default)]
pub struct TrunkView {
    /// (tenant, trunk, where its calls go now).
    pub targets: Vec<(String, String, super::b2bua::dialog::Dest)>,
}

impl TrunkTargets for TrunkView {
    fn target(&self, tenant: &str, trunk: &str) -> Option<super::b2bua::dialog::Dest> {
        self.targets.iter().find(|(t, n, _)| t == tenant && n == trunk).map(|(_, _, d)| *d)
    }
}

pub struct SipCore {
    pub directory: Arc<Directory>,
    pub location: Location,
    pub defence: Defence,
    transactions: Transactions,
    nonces: Nonces,
    config: RegistrarConfig,
    pub b2bua: B2bua,
    /// The site config routing decides against (refreshed with the directory).
    pub site: Arc<SiteDoc>,
    /// Trunk states, clock and mode for routing.
    pub situation: Situation,
    pub trunk_view: TrunkView,
    /// Trunk health, registrations and survivable mode.
    pub trunks: crate::trunk::Trunks,
    /// The site's time zone, for inbound routes' days and hours.
    tz: jiff::tz::TimeZone,
    /// The site config trunk health was last brought up to.
    trunks_synced: Option<Arc<SiteDoc>>,
}

impl SipCore {
    pub fn new(
        directory: Arc<Directory>,
        bindings: Vec<Binding>,
        nonce_key: &[u8; 32],
        config: RegistrarConfig,
        defence: DefenceConfig,
    ) -> SipCore {
        SipCore {
            directory,
            location: Location::from_bindings(bindings),
            defence: Defence::new(defence),
            transactions: Transactions::default(),
            nonces: Nonces::new(nonce_key, 300),
            config,
            b2bua: B2bua::new(
                SocketAddr::from(([127, 0, 0, 1], 5060)),
                u64::from_be_bytes([nonce_key[0], nonce_key[1], nonce_key[2], nonce_key[3], 0, 0, 0, 1]),
                Box::new(Direct),
            ),
            site: Arc::new(SiteDoc::default()),
            situation: Situation::default(),
            trunk_view: TrunkView::default(),
            trunks: crate::trunk::Trunks::new(
                SocketAddr::from(([127, 0, 0, 1], 5060)),
                u64::from_be_bytes([nonce_key[4], nonce_key[5], nonce_key[6], nonce_key[7], 0, 0, 0, 2]),
            ),
            tz: jiff::tz::TimeZone::UTC,
            trunks_synced: None,
        }
    }

    /// Adds what the B2BUA produced to `out`, tells trunk health what calls saw, and adds
    /// its changes and the next deadline.
    fn finish(&mut self, now: Now, mut out: Output) -> Output {
        let (sends, records) = self.b2bua.drain();
        out.sends.extend(sends);
        out.records.extend(records);
        self.after_calls(now, &mut out);
        out.deadline = [self.b2bua.deadline(), self.trunks.deadline()].into_iter().flatten().min();
        out
    }

    /// Timers of trunk probes and registrations, and of the B2BUA's transactions and calls.
    pub fn on_timer(&mut self, now: Now) -> Output {
        self.refresh(now);
        let sends = self.trunks.on_timer(now);
        self.b2bua.on_timer(&env!(self, now));
        self.finish(now, Output { sends, ..Output::default() })
    }

    /// The media bridge saw no packets of `call` for too long.
    pub fn on_media_timeout(&mut self, now: Now, call: u64) -> Output {
        self.b2bua.on_media_timeout(&env!(self, now), call);
        self.finish(now, Output::default())
    }

    pub fn handle(&mut self, now: Now, bytes: &[u8], source: SocketAddr, transport: Transport) -> Output {
        // Only what may route a call needs the trunk states and the clock.
        if [&b"INVITE "[..], b"SIP/2.0 ", b"REFER "].iter().any(|p| bytes.starts_with(p)) {
            self.refresh(now);
        }
        let out = self.handle_inner(now, bytes, source, transport);
        self.finish(now, out)
    }

    fn handle_inner(&mut self, now: Now, bytes: &[u8], source: SocketAddr, transport: Transport) -> Output {
        match self.defence.admit(now.at, source.ip()) {
            Admit::Yes => {}
            Admit::Banned => return Output { outcome: Outcome::Banned, ..Output::default() },
            Admit::OverRate => return Output { outcome: Outcome::OverRate, ..Output::default() },
        }
        if bytes.starts_with(b"SIP/2.0 ") {
            let (ours, sends) = self.trunks.on_response(now, bytes);
            if !ours {
                self.b2bua.on_response(&env!(self, now), bytes);
            }
            return Output { outcome: Outcome::Response, sends, ..Output::default() };
        }
        let req = match message::parse(bytes) {
            Parsed::Request(req) => req,
            Parsed::Malformed(why, Some(base)) => {
                let base = ReplyBase { via: mark_top(base.via, source), ..base };
                let reply = base.response(400, &format!("Bad Request: {why}"), &tag(&base.call_id), &[]);
                return Output { reply: Some(reply), outcome: Outcome::Malformed, ..Output::default() };
            }
            Parsed::Malformed(_, None) | Parsed::Ignore => {
                return Output { outcome: Outcome::Malformed, ..Output::default() }
            }
        };
        if req.method == rsip::Method::Ack {
            self.b2bua.on_ack(&env!(self, now), bytes);
            return Output::default();
        }
        if req.method == rsip::Method::Invite {
            let cx = InviteCx {
                env: env!(self, now),
                source,
                transport,
                directory: &self.directory,
                site: &self.site,
                nonces: &self.nonces,
                defence: &mut self.defence,
                algorithms: &self.config.algorithms,
                from_trunk: self.trunks.from_source(source).map(|k| (k.tenant, k.name)),
            };
            let event = self.b2bua.on_invite(cx, &req, bytes);
            return Output { outcome: Outcome::Invite(event), ..Output::default() };
        }
        if req.method == rsip::Method::Update {
            let env = env!(self, now);
            let dest = super::b2bua::dialog::Dest { transport, addr: source };
            let code = self.b2bua.on_update(&env, &req, bytes, dest);
            let outcome = if code == 0 { Outcome::Invite(InviteEvent::Reinvite) } else { Outcome::Answered(code) };
            return Output { outcome, ..Output::default() };
        }
        let Some(key) = Key::of(&req) else {
            return Output { outcome: Outcome::Malformed, ..Output::default() };
        };
        match self.transactions.on_request(now.at, &key) {
            Seen::New => {}
            Seen::Answered(reply) => {
                return Output { reply: Some(reply), outcome: Outcome::Retransmission, ..Output::default() }
            }
            Seen::InProgress => return Output { outcome: Outcome::Retransmission, ..Output::default() },
        }

        let base = ReplyBase::of(&req, source);
        let to_tag = tag(&base.call_id);
        let (code, reason, headers, changes, outcome) = match req.method {
            rsip::Method::Register => {
                let cx = Context {
                    now: now.at,
                    unix: now.unix,
                    source,
                    transport,
                    directory: &self.directory,
                    nonces: &self.nonces,
                    defence: &mut self.defence,
                    location: &mut self.location,
                    config: &self.config,
                };
                let d = registrar::register(&req, cx);
                (d.code, d.reason, d.headers, d.changes, Outcome::Register(d.event))
            }
            rsip::Method::Options => {
                let headers = vec![("Allow", ALLOW.to_owned()), ("Accept", "application/sdp".to_owned())];
                (200, "OK".to_owned(), headers, Vec::new(), Outcome::Answered(200))
            }
            rsip::Method::Bye | rsip::Method::Cancel | rsip::Method::Refer => {
                let env = env!(self, now);
                let (code, reason) = match req.method {
                    rsip::Method::Bye => self.b2bua.on_bye(&env, bytes),
                    rsip::Method::Cancel => self.b2bua.on_cancel(&env, bytes),
                    _ => self.b2bua.on_refer(&env, bytes),
                };
                (code, reason.to_owned(), Vec::new(), Vec::new(), Outcome::Answered(code))
            }
            rsip::Method::Subscribe
            | rsip::Method::Notify
            | rsip::Method::Message
            | rsip::Method::Info
            | rsip::Method::PRack
            | rsip::Method::Publish => (
                405,
                "Method Not Allowed".to_owned(),
                vec![("Allow", ALLOW.to_owned())],
                Vec::new(),
                Outcome::Answered(405),
            ),
            _ => (
                501,
                "Not Implemented".to_owned(),
                vec![("Allow", ALLOW.to_owned())],
                Vec::new(),
                Outcome::Answered(501),
            ),
        };
        let reply = base.response(code, &reason, &to_tag, &headers);
        self.transactions.on_response(&key, &reply, transport.reliable());
        Output { reply: Some(reply), changes, outcome, ..Output::default() }
    }

    /// Periodic work: expired bindings (to persist as removals), old transactions, idle sources.
    pub fn tick(&mut self, now: Now) -> Vec<Change> {
        self.transactions.expire(now.at);
        self.defence.tidy(now.at);
        self.location.sweep(now.unix)
    }

    pub fn set_directory(&mut self, directory: Arc<Directory>) {
        self.directory = directory;
    }

    pub fn set_site(&mut self, site: Arc<SiteDoc>) {
        self.tz = trunks::zone(&site.site.time_zone);
        self.site = site;
    }
}

/// A To tag that is the same for every retransmission of a request (no randomness needed:
/// uniqueness per dialog is all RFC 3261 asks of it).
pub(crate) fn tag(call_id: &str) -> String {
    let mut h = DefaultHasher::new();
    call_id.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// For a salvaged (malformed) request: mark the top Via like a parsed one.
fn mark_top(mut via: Vec<String>, source: SocketAddr) -> Vec<String> {
    if let Some(top) = via.first_mut() {
        if !top.contains("received=") {
            top.push_str(&format!(";received={}", source.ip()));
        }
    }
    via
}

/// For logs: the extension a REGISTER is about.
pub fn register_target(req: &rsip::Request) -> String {
    req.to_header().map(|h| h.value().to_owned()).unwrap_or_default()
}

mod trunks;

#[cfg(test)]
mod tests;
