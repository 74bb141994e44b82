//! One phone's cold boot, as the real thing does it: (DHCP →) TFTP bootstrap → HTTPS device
//! file → REGISTER with the account found in that file. Each step uses only what the previous
//! one gave, so a wrong option 66, a bootstrap that does not point at HTTPS, or a device file
//! without a usable account each stop the boot with a reason.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dhcp::{self, Lease, Source};
use super::habits::Identity;
use super::{profile, sip, tftp};

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("DHCP: {0}")]
    Dhcp(#[from] dhcp::DhcpError),
    #[error("the DHCP answer names no provisioning server")]
    NoSource,
    #[error("TFTP {file}: {error}")]
    Tftp { file: String, error: tftp::TftpError },
    #[error("the bootstrap names no provisioning URL")]
    NoUrl,
    #[error("HTTPS {url}: {error}")]
    Https { url: String, error: String },
    #[error("the device file holds no usable account")]
    NoAccount,
    #[error("cannot resolve the SIP server {0}")]
    Resolve(String),
    #[error("SIP: {0}")]
    Sip(#[from] sip::SipError),
}

/// Where a phone starts when it does not ask DHCP.
#[derive(Clone)]
pub struct Start {
    /// TFTP server of the bootstrap (the DHCP option-66 step skipped).
    pub tftp: Option<SocketAddr>,
    /// Provisioning URL, `https://host:port/prov/` (both TFTP and DHCP skipped).
    pub url: Option<String>,
    /// TFTP port when DHCP names only a host (69 for a real phone).
    pub tftp_port: u16,
    pub tls: Arc<rustls::ClientConfig>,
    pub expires: u32,
}

/// How far each step got, and when.
#[derive(Debug, Clone)]
pub struct Booted {
    pub lease: Option<Lease>,
    pub url: String,
    pub account: sip::Account,
    pub status: String,
    pub took: Duration,
}

/// Boots `phone`; `dhcp` with its transaction id when the phone asks DHCP first.
pub fn boot(phone: &Identity, start: &Start, dhcp: Option<(&dhcp::Client, u32)>) -> Result<Booted, BootError> {
    let began = Instant::now();
    let (common, device) = phone.files();
    let lease = match dhcp {
        Some((client, xid)) => {
            let lease = client.lease(phone, xid, Duration::from_secs(10))?;
            client.assign(&lease)?;
            Some(lease)
        }
        None => None,
    };
    let source = match (&lease, &start.url, start.tftp) {
        (Some(lease), _, _) => lease.source().ok_or(BootError::NoSource)?,
        (None, Some(url), _) => Source::Url(url.clone()),
        (None, None, Some(addr)) => Source::Tftp(addr.to_string()),
        (None, None, None) => return Err(BootError::NoSource),
    };
    let url = match source {
        Source::Url(url) => url,
        Source::Tftp(host) => {
            let addr = resolve(&host, start.tftp_port)?;
            let file = lease.as_ref().and_then(|l| l.bootfile.clone()).unwrap_or_else(|| common.to_owned());
            let get =
                |file: &str| tftp::get(addr, file).map_err(|error| BootError::Tftp { file: file.to_owned(), error });
            let bootstrap = get(&file)?;
            match profile::provisioning_url(phone.vendor, &bootstrap) {
                Some(url) => url,
                // A Poly master names no server itself: the files it lists do.
                None => profile::poly_config_files(&bootstrap, &phone.mac)
                    .iter()
                    .find_map(|f| get(f).ok().and_then(|body| profile::provisioning_url(phone.vendor, &body)))
                    .ok_or(BootError::NoUrl)?,
            }
        }
    };
    let url = if url.ends_with('/') { url } else { format!("{url}/") };
    let file_url = format!("{url}{device}");
    let body = fetch(&file_url, &phone.user_agent(), start.tls.clone())?;
    let found = profile::account(phone.vendor, &body).ok_or(BootError::NoAccount)?;
    let account = sip::Account {
        server: resolve(&found.server, found.port)?,
        user: found.user,
        domain: found.domain,
        password: found.password,
    };
    // From the leased address when there is one: the box sees each phone at its own address.
    let local: SocketAddr = match lease.as_ref().and_then(|l| l.ip) {
        Some(ip) if account.server.is_ipv4() => SocketAddr::from((ip, 0)),
        _ if account.server.is_ipv4() => SocketAddr::from(([0, 0, 0, 0], 0)),
        _ => SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(local).map_err(sip::SipError::from)?;
    let status = sip::register(&socket, &account, start.expires, &phone.user_agent())?;
    Ok(Booted { lease, url, account, status, took: began.elapsed() })
}

fn resolve(host: &str, default_port: u16) -> Result<SocketAddr, BootError> {
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let with_port = if host.contains(':') { host.to_owned() } else { format!("{host}:{default_port}") };
    with_port.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| BootError::Resolve(host.to_owned()))
}

/// GET over HTTPS with the phone's User-Agent, trusting only the box's certificate.
fn fetch(url: &str, user_agent: &str, tls: Arc<rustls::ClientConfig>) -> Result<Vec<u8>, BootError> {
    let agent = ureq::AgentBuilder::new()
        .tls_config(tls)
        .https_only(true)
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .user_agent(user_agent)
        .build();
    let https = |error: String| BootError::Https { url: url.to_owned(), error };
    let response = agent.get(url).call().map_err(|e| https(e.to_string()))?;
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).map_err(|e| https(e.to_string()))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_get_the_default_port_unless_they_name_one() {
        assert_eq!(resolve("127.0.0.1", 69).unwrap(), "127.0.0.1:69".parse().unwrap());
        assert_eq!(resolve("127.0.0.1:6969", 69).unwrap(), "127.0.0.1:6969".parse().unwrap());
        assert_eq!(resolve("::1", 5060).unwrap(), "[::1]:5060".parse().unwrap());
        assert!(resolve("no-such-host.invalid", 69).is_err());
    }
}
