//! The SIP endpoint's pure core: bytes in, bytes out. One place reads as the order of the
//! steps every request goes through:
//!
//! 1. defences: banned or over-rate sources are dropped unanswered;
//! 2. parse: malformed requests get 400 with the reason, junk is dropped;
//! 3. transactions: a retransmission gets the answer already given;
//! 4. method: REGISTER to the registrar, OPTIONS answered 200, the rest 405/501;
//! 5. remember the answer for retransmissions.
//!
//! Drivers (UDP, TCP, TLS) call `handle` and do what the `Output` says.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::prelude::HeadersExt;

use super::defence::{Admit, Defence, DefenceConfig};
use super::digest::Nonces;
use super::directory::Directory;
use super::location::{Binding, Change, Location};
use super::message::{self, Parsed, ReplyBase, Transport};
use super::registrar::{self, Context, Event, RegistrarConfig};
use super::transaction::{Key, Seen, Transactions};

const ALLOW: &str = "REGISTER, OPTIONS";

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

/// What the driver must do for one incoming message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Bytes to send back to the source.
    pub reply: Option<Vec<u8>>,
    /// Binding changes to persist before the reply goes out.
    pub changes: Vec<Change>,
    /// What happened, for metrics and logs.
    pub outcome: Outcome,
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
}

pub struct SipCore {
    pub directory: Arc<Directory>,
    pub location: Location,
    pub defence: Defence,
    transactions: Transactions,
    nonces: Nonces,
    config: RegistrarConfig,
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
        }
    }

    pub fn handle(&mut self, now: Now, bytes: &[u8], source: SocketAddr, transport: Transport) -> Output {
        match self.defence.admit(now.at, source.ip()) {
            Admit::Yes => {}
            Admit::Banned => return Output { outcome: Outcome::Banned, ..Output::default() },
            Admit::OverRate => return Output { outcome: Outcome::OverRate, ..Output::default() },
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
            return Output::default();
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
            rsip::Method::Invite
            | rsip::Method::Bye
            | rsip::Method::Cancel
            | rsip::Method::Subscribe
            | rsip::Method::Notify
            | rsip::Method::Message
            | rsip::Method::Refer
            | rsip::Method::Info
            | rsip::Method::Update
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
        Output { reply: Some(reply), changes, outcome }
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
}

/// A To tag that is the same for every retransmission of a request (no randomness needed:
/// uniqueness per dialog is all RFC 3261 asks of it).
fn tag(call_id: &str) -> String {
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

#[cfg(test)]
mod tests;
