//! Non-INVITE server transactions (RFC 3261 §17.2.2), sans I/O and told the time.
//!
//! A retransmitted request is answered with the response already sent, without running the
//! registrar again (its digest nonce count, its database write). Over UDP a completed
//! transaction is remembered for Timer J (64·T1 = 32 s); over TCP/TLS the peer does not
//! retransmit, so it is forgotten at once.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::prelude::HeadersExt;

use super::message::top_value;

pub const T1: Duration = Duration::from_millis(500);
pub const TIMER_J: Duration = Duration::from_millis(64 * 500);
/// Bound on remembered transactions; past it the oldest are forgotten first.
const MAX_TRANSACTIONS: usize = 200_000;

/// Identifies a transaction: RFC 3261 §17.2.3 (branch with the magic cookie, sent-by,
/// method), or for old RFC 2543 peers Call-ID, CSeq and From tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(String);

impl Key {
    pub fn of(req: &rsip::Request) -> Option<Key> {
        let via = top_value(req.via_header().ok()?.value()).to_owned();
        let method = req.method.to_string();
        let mut sent_by = via.split(';').next().unwrap_or_default().split_whitespace().nth(1).unwrap_or_default();
        let branch = via.split(';').find_map(|p| p.trim().strip_prefix("branch="));
        if let Some(branch) = branch.filter(|b| b.starts_with("z9hG4bK")) {
            if sent_by.is_empty() {
                sent_by = "-";
            }
            return Some(Key(format!("{branch}|{sent_by}|{method}")));
        }
        let call_id = req.call_id_header().ok()?.value();
        let cseq = req.cseq_header().ok()?.value();
        let from = req.from_header().ok()?.value();
        Some(Key(format!("{call_id}|{cseq}|{from}")))
    }
}

/// What to do with an incoming request.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// First time: run the logic.
    New,
    /// A retransmission of an answered request: send this again.
    Answered(Vec<u8>),
    /// A retransmission while the first copy is still being worked on: drop it.
    InProgress,
}

#[derive(Default)]
pub struct Transactions {
    entries: HashMap<Key, Option<Vec<u8>>>,
    /// Forget-by times in arrival order; every entry lives the same Timer J, so it stays sorted.
    expiry: VecDeque<(Instant, Key)>,
}

impl Transactions {
    pub fn on_request(&mut self, now: Instant, key: &Key) -> Seen {
        self.expire(now);
        match self.entries.get(key) {
            Some(Some(response)) => Seen::Answered(response.clone()),
            Some(None) => Seen::InProgress,
            None => {
                if self.entries.len() >= MAX_TRANSACTIONS {
                    if let Some((_, old)) = self.expiry.pop_front() {
                        self.entries.remove(&old);
                    }
                }
                self.entries.insert(key.clone(), None);
                // A transaction never answered (say, dropped by a ban) is forgotten at Timer J too.
                self.expiry.push_back((now + TIMER_J, key.clone()));
                Seen::New
            }
        }
    }

    /// Records the final response; over a reliable transport the transaction ends now.
    pub fn on_response(&mut self, key: &Key, response: &[u8], reliable: bool) {
        if reliable {
            self.entries.remove(key);
        } else if let Some(slot) = self.entries.get_mut(key) {
            *slot = Some(response.to_vec());
        }
    }

    /// Drops transactions whose Timer J has fired.
    pub fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.expiry.front() {
            if *at > now {
                break;
            }
            if let Some((_, key)) = self.expiry.pop_front() {
                self.entries.remove(&key);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(branch: &str, method: &str) -> rsip::Request {
        let text = format!(
            "{method} sip:acme.pbx.local SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch={branch}\r\n\
             From: <sip:101@acme.pbx.local>;tag=a\r\nTo: <sip:101@acme.pbx.local>\r\nCall-ID: c1\r\n\
             CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        );
        rsip::Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn a_retransmission_gets_the_same_answer_until_timer_j() {
        let mut t = Transactions::default();
        let t0 = Instant::now();
        let key = Key::of(&req("z9hG4bK1", "REGISTER")).unwrap();
        assert_eq!(t.on_request(t0, &key), Seen::New);
        assert_eq!(t.on_request(t0, &key), Seen::InProgress);
        t.on_response(&key, b"SIP/2.0 200 OK", false);
        assert_eq!(t.on_request(t0 + Duration::from_secs(31), &key), Seen::Answered(b"SIP/2.0 200 OK".to_vec()));
        assert_eq!(t.on_request(t0 + TIMER_J, &key), Seen::New, "forgotten after Timer J");
    }

    #[test]
    fn reliable_transports_forget_at_once_and_methods_differ() {
        let mut t = Transactions::default();
        let now = Instant::now();
        let reg = Key::of(&req("z9hG4bK2", "REGISTER")).unwrap();
        let opt = Key::of(&req("z9hG4bK2", "OPTIONS")).unwrap();
        assert_ne!(reg, opt);
        assert_eq!(t.on_request(now, &reg), Seen::New);
        t.on_response(&reg, b"x", true);
        assert!(t.is_empty());
    }

    #[test]
    fn old_style_branches_key_on_call_id_and_cseq() {
        let a = Key::of(&req("1234", "REGISTER")).unwrap();
        let b = Key::of(&req("5678", "REGISTER")).unwrap();
        assert_eq!(a, b, "without the magic cookie the branch is not trusted");
    }
}
