//! `[provision]` of outpost.toml in its validated form, and the box's address as phones see it.

use super::guard::GuardConfig;
use super::uploads::UploadLimits;

/// `[provision]` of outpost.toml, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The name or address phones reach the box at; `None`: found at start.
    pub host: Option<String>,
    /// How often phones re-check their files, in seconds.
    pub resync_interval: u32,
    /// Ask for HTTP digest (the device's extension and SIP secret) before a device file.
    pub require_auth: bool,
    pub guard: GuardConfig,
    pub uploads: UploadLimits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host: None,
            resync_interval: 86_400,
            require_auth: false,
            guard: GuardConfig::default(),
            uploads: UploadLimits::default(),
        }
    }
}

/// Where phones find the box, as the files tell them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address, as written in files (an IPv6 address without brackets).
    pub box_host: String,
    pub sip_port: u16,
    /// `https://<box-host>:<api port>/prov/`.
    pub provisioning_url: String,
    pub resync_interval: u32,
}

impl Endpoint {
    pub fn new(box_host: &str, api_port: u16, sip_port: u16, resync_interval: u32) -> Endpoint {
        let shown =
            if box_host.parse::<std::net::Ipv6Addr>().is_ok() { format!("[{box_host}]") } else { box_host.to_owned() };
        Endpoint {
            box_host: box_host.to_owned(),
            sip_port,
            provisioning_url: format!("https://{shown}:{api_port}/prov/"),
            resync_interval,
        }
    }
}

/// The host phones are told to fetch from: the configured one, else the API's listen address
/// when it is a real one, else the machine's primary IPv4 address (loopback when there is no
/// route at all, with a warning: then only phones on this machine would reach it).
pub fn box_host(configured: Option<&str>, api: std::net::SocketAddr) -> String {
    if let Some(host) = configured {
        return host.to_owned();
    }
    if !api.ip().is_unspecified() {
        return api.ip().to_string();
    }
    match primary_ipv4() {
        Some(ip) => ip.to_string(),
        None => {
            tracing::warn!("no route to find the primary IPv4 address: set [provision] host");
            std::net::Ipv4Addr::LOCALHOST.to_string()
        }
    }
}

/// The source address the kernel would pick toward the Internet: a UDP socket `connect`ed to a
/// public address (no packet is sent) has it as its local address.
pub fn primary_ipv4() -> Option<std::net::Ipv4Addr> {
    let socket = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((std::net::Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    match socket.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_phones_are_told() {
        let e = Endpoint::new("192.168.10.2", 443, 5060, 3600);
        assert_eq!(e.provisioning_url, "https://192.168.10.2:443/prov/");
        assert_eq!(Endpoint::new("fd00::2", 8443, 5060, 3600).provisioning_url, "https://[fd00::2]:8443/prov/");
        assert_eq!(Endpoint::new("fd00::2", 8443, 5060, 3600).box_host, "fd00::2");
    }

    #[test]
    fn the_host_comes_from_config_then_api_then_the_primary_address() {
        let any: std::net::SocketAddr = "0.0.0.0:443".parse().unwrap();
        assert_eq!(box_host(Some("pbx.example.net"), any), "pbx.example.net");
        assert_eq!(box_host(None, "10.0.0.2:443".parse().unwrap()), "10.0.0.2");
        let found = box_host(None, any);
        assert!(found.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| !ip.is_unspecified()), "{found}");
    }
}
