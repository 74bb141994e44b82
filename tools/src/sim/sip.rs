//! A phone's SIP side, just enough to register: REGISTER, answer the digest challenge with
//! whichever offered algorithm it knows (SHA-256 before MD5, as a modern phone does), and
//! read the outcome. Over UDP, with retransmissions per RFC 3261 Timer E.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use appliance::sip::digest::{parse_authorization, Algorithm, Credentials};

#[derive(Debug, thiserror::Error)]
pub enum SipError {
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("no answer from {0}")]
    Timeout(SocketAddr),
    #[error("registration refused: {0}")]
    Refused(String),
    #[error("unusable challenge: {0}")]
    Challenge(String),
}

/// What a phone registers as.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
    pub domain: String,
    pub password: String,
    pub server: SocketAddr,
}

/// Registers `account` for `expires` seconds; returns the final status line.
pub fn register(socket: &UdpSocket, account: &Account, expires: u32, user_agent: &str) -> Result<String, SipError> {
    let local = socket.local_addr()?;
    let call_id = format!("{}-{}@{}", account.user, std::process::id(), local);
    let first = request(account, local, &call_id, 1, expires, user_agent, None);
    let answer = exchange(socket, account.server, &first)?;
    if status(&answer) != Some(401) {
        return finish(answer);
    }
    let authorization = answer_challenge(&answer, account)?;
    let second = request(account, local, &call_id, 2, expires, user_agent, Some(&authorization));
    finish(exchange(socket, account.server, &second)?)
}

fn finish(answer: String) -> Result<String, SipError> {
    let line = answer.lines().next().unwrap_or_default().to_owned();
    match status(&answer) {
        Some(200) => Ok(line),
        _ => Err(SipError::Refused(line)),
    }
}

fn status(answer: &str) -> Option<u16> {
    answer.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

fn request(
    account: &Account,
    local: SocketAddr,
    call_id: &str,
    cseq: u32,
    expires: u32,
    user_agent: &str,
    authorization: Option<&str>,
) -> String {
    let Account { user, domain, .. } = account;
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    format!(
        "REGISTER sip:{domain} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-sim-{call_id}-{cseq};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{user}@{domain}>;tag=sim{cseq}\r\nTo: <sip:{user}@{domain}>\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{local}>\r\nExpires: {expires}\r\n\
         User-Agent: {user_agent}\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}

/// Sends and waits for a final answer, retransmitting on T1 doubling (RFC 3261 Timer E).
fn exchange(socket: &UdpSocket, server: SocketAddr, message: &str) -> Result<String, SipError> {
    let deadline = Instant::now() + Duration::from_secs(32);
    let mut interval = Duration::from_millis(500);
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline {
        socket.send_to(message.as_bytes(), server)?;
        socket.set_read_timeout(Some(interval))?;
        let until = Instant::now() + interval;
        while Instant::now() < until {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) if from == server => {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if status(&text).is_some_and(|s| s >= 200) {
                        return Ok(text);
                    }
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
                Err(e) => return Err(e.into()),
            }
        }
        interval = (interval * 2).min(Duration::from_secs(4));
    }
    Err(SipError::Timeout(server))
}

/// Picks the strongest offered algorithm and computes the Authorization value.
fn answer_challenge(answer: &str, account: &Account) -> Result<String, SipError> {
    let challenges: Vec<Credentials> = answer
        .lines()
        .filter_map(|l| l.strip_prefix("WWW-Authenticate:"))
        .filter_map(|v| parse_challenge(v.trim()))
        .collect();
    let pick = |alg: Algorithm| challenges.iter().find(|c| c.algorithm().ok() == Some(alg));
    let challenge = pick(Algorithm::Sha256)
        .or_else(|| pick(Algorithm::Md5))
        .ok_or_else(|| SipError::Challenge(answer.lines().next().unwrap_or_default().into()))?;
    let mut c = challenge.clone();
    c.username = account.user.clone();
    c.uri = format!("sip:{}", account.domain);
    c.cnonce = Some(format!("{:08x}", std::process::id()));
    c.nc = Some("00000001".into());
    c.qop = Some("auth".into());
    c.response = c.expected_response("REGISTER", &account.password).map_err(|e| SipError::Challenge(e.to_string()))?;
    Ok(format!(
        r#"Digest username="{}", realm="{}", nonce="{}", uri="{}", response="{}", algorithm={}, qop=auth, nc=00000001, cnonce="{}""#,
        c.username,
        c.realm,
        c.nonce,
        c.uri,
        c.response,
        c.algorithm.as_deref().unwrap_or("MD5"),
        c.cnonce.as_deref().unwrap_or_default()
    ))
}

/// Reads a challenge with the Authorization parser (same parameter syntax); the fields a
/// challenge lacks (username, uri, response) are filled with placeholders first.
fn parse_challenge(value: &str) -> Option<Credentials> {
    let padded = format!("{value}, username=\"-\", uri=\"-\", response=\"-\"");
    parse_authorization(&padded).ok()
}
