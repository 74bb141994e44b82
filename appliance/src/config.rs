//! The daemon's own config (`outpost.toml`): where it listens and keeps its data. Not to be
//! confused with the site config (`site`), which says who the phones and trunks are.
//!
//! Two layers: `ConfigFile` is what the TOML says (every field optional, unknown fields
//! refused); `Config` is the validated form the daemon trusts, with defaults filled in for the
//! privileges the process has. See `examples/outpost.toml`.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::provision::guard::GuardConfig;
use crate::provision::settings::Settings as ProvisionSettings;
use crate::provision::uploads::UploadLimits;
use crate::sip::defence::{Cidr, DefenceConfig};
use crate::sip::digest::Algorithm;
use crate::sip::registrar::RegistrarConfig;
use crate::sip::SipSettings;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub log: LogFile,
    #[serde(default)]
    pub api: ApiFile,
    #[serde(default)]
    pub sip: SipFile,
    #[serde(default)]
    pub rtp: RtpFile,
    #[serde(default)]
    pub dhcp: DhcpFile,
    #[serde(default)]
    pub tftp: TftpFile,
    #[serde(default)]
    pub provision: ProvisionFile,
    #[serde(default)]
    pub daemon: DaemonFile,
    /// Cloud sync over MQTT; off without a broker.
    #[serde(default)]
    pub cloud: crate::sync::settings::CloudFile,
    #[serde(default)]
    pub update: UpdateFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateFile {
    /// The Ed25519 key update bundles must be signed with (default: the image's own,
    /// `/usr/share/outpost/update.pub`).
    pub public_key: Option<PathBuf>,
    /// Whether a root service on this host installs staged bundles and does the reboots and
    /// factory resets asked for (`update::requests`). Default: only on the Outpost image.
    pub root_service: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    pub format: Option<LogFormat>,
    /// A `tracing` filter such as `info` or `appliance::sip=debug,info`.
    pub level: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    /// HTTPS listener of the web UI, the REST API, `/metrics` and provisioning.
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipFile {
    pub udp: Option<String>,
    pub tcp: Option<String>,
    pub tls: Option<String>,
    /// PEM file of the CAs trusted for TLS trunks, besides the system's.
    pub trunk_ca_file: Option<String>,
    /// DNS servers for trunk host lookups (`ip` or `ip:port`); default: /etc/resolv.conf's.
    pub nameservers: Option<Vec<String>>,
    /// Shortest registration accepted (shorter ones get 423 Interval Too Brief).
    pub min_expires: Option<u32>,
    /// Longest registration granted (longer requests are cut to this).
    pub max_expires: Option<u32>,
    pub max_contacts_per_extension: Option<usize>,
    /// Digest algorithms offered, strongest first. Default ["SHA-256", "MD5"].
    pub digest_algorithms: Option<Vec<String>>,
    /// Failed authentications from one address, within `failure_window_secs`, before a ban.
    pub ban_after_failures: Option<u32>,
    /// Failed authentications of one extension (from anywhere) after which each further
    /// failing address is banned at once.
    pub ban_after_failures_per_extension: Option<u32>,
    pub failure_window_secs: Option<u64>,
    pub ban_secs: Option<u64>,
    /// Requests per second per source address (a burst of `burst` is allowed).
    pub rate_per_second: Option<f64>,
    pub burst: Option<f64>,
    /// Networks never rate limited or banned, e.g. ["192.168.10.0/24"].
    pub allowlist: Option<Vec<String>>,
    pub max_connections_per_ip: Option<usize>,
    pub idle_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtpFile {
    pub port_min: Option<u16>,
    pub port_max: Option<u16>,
    /// Seconds without RTP or RTCP on either leg of a call before the media bridge reports it
    /// (the B2BUA then ends the call). Default 30.
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpFile {
    /// The LAN interface to serve DHCP on. Without one, DHCP is off unless `from_site`.
    pub interface: Option<String>,
    pub port: Option<u16>,
    /// Without `interface`: serve on the interface a DHCP scope of the site names (chosen at
    /// setup). Default: on the Outpost image only, so that a development run or a test with a
    /// site naming `eth0` never answers DHCP on the host's own network.
    pub from_site: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TftpFile {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionFile {
    /// The name or address phones are told to fetch their files from. Default: the API's
    /// listen address, or the machine's primary IPv4 address when that is 0.0.0.0.
    pub host: Option<String>,
    /// How often phones re-check their files, in seconds (changes also reach them by
    /// SIP NOTIFY check-sync).
    pub resync_interval_secs: Option<u32>,
    /// Ask for HTTP digest (the phone's own extension and SIP secret) before a device file.
    pub require_auth: Option<bool>,
    /// Distinct unknown MACs one address may ask for within `scan_window_secs` before a ban.
    pub scan_limit: Option<u32>,
    pub scan_window_secs: Option<u64>,
    pub ban_secs: Option<u64>,
    /// Networks never banned, e.g. a remote office behind one NAT address.
    pub allowlist: Option<Vec<String>>,
    /// Caps of the files phones upload (`PUT /prov/<mac>-app.log`).
    pub upload_max_file_bytes: Option<u64>,
    pub upload_max_total_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonFile {
    /// How long services get to stop after SIGTERM before they are aborted.
    pub shutdown_timeout_secs: Option<u64>,
}

/// The validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub log_level: String,
    pub api: SocketAddr,
    pub sip: SipSettings,
    pub rtp_ports: RangeInclusive<u16>,
    pub rtp_timeout: Duration,
    pub dhcp: Option<(String, u16)>,
    /// Without `dhcp`, take the interface a site scope names (`[dhcp] from_site`).
    pub dhcp_from_site: bool,
    pub tftp: Option<SocketAddr>,
    pub provision: ProvisionSettings,
    pub shutdown_timeout: Duration,
    /// Cloud sync; `None` when off (no `[cloud] broker`).
    pub cloud: Option<crate::sync::CloudSettings>,
    /// The key update bundles uploaded to the API must be signed with.
    pub update_key: PathBuf,
    /// A root service acts on reboot and factory-reset requests (`[update] root_service`).
    pub root_service: bool,
    /// What the defaults changed because the process is not root, for the startup banner.
    pub notes: Vec<String>,
}

impl Config {
    /// The name this box gives its backups: its cloud id, else `outpost`.
    pub fn box_name(&self) -> String {
        self.cloud.as_ref().map_or_else(|| "outpost".to_owned(), |c| c.box_id.as_str().to_owned())
    }
}

/// The process's privileges, which decide the default ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    Root,
    User,
}

impl Privilege {
    pub fn of_this_process() -> Privilege {
        use std::os::unix::fs::MetadataExt;
        // /proc/self is owned by the effective uid: no unsafe libc call needed.
        match std::fs::metadata("/proc/self") {
            Ok(m) if m.uid() == 0 => Privilege::Root,
            _ => Privilege::User,
        }
    }
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Syntax { path: shown, message: e.to_string() })
    }

    /// Fills in defaults for `privilege` and checks every value.
    pub fn validate(self, privilege: Privilege) -> Result<Config, ConfigError> {
        let root = privilege == Privilege::Root;
        let mut notes = Vec::new();
        // A note only where the default changed: a configured address is what it says (the
        // image's unit grants the low ports by capability, not by running as root).
        let mut low_port = |what: &str, configured: bool, privileged: u16, unprivileged: u16| {
            if root {
                privileged
            } else {
                if !configured {
                    notes.push(format!("{what} on port {unprivileged} instead of {privileged} (not root)"));
                }
                unprivileged
            }
        };
        let api_port = low_port("HTTPS", self.api.listen.is_some(), 443, 8443);
        let tftp_port = low_port("TFTP", self.tftp.listen.is_some(), 69, 6969);

        let data_dir = match self.data_dir {
            Some(d) => d,
            None if root => PathBuf::from("/var/lib/outpost"),
            None => default_user_data_dir(),
        };
        let dhcp_from_site = self.dhcp.from_site;
        let dhcp = match self.dhcp.interface {
            Some(iface) if iface.is_empty() || iface.len() > 15 || iface.contains('/') => {
                return Err(ConfigError::Invalid {
                    field: "dhcp.interface",
                    reason: format!("`{iface}` is not an interface name"),
                })
            }
            Some(iface) => Some((iface, self.dhcp.port.unwrap_or(67))),
            None => {
                notes.push("DHCP off (no dhcp.interface configured)".into());
                None
            }
        };
        let port_min = self.rtp.port_min.unwrap_or(10_000);
        let port_max = self.rtp.port_max.unwrap_or(20_000);
        if !port_min.is_multiple_of(2) || port_max <= port_min || port_min < 1024 {
            return Err(ConfigError::Invalid {
                field: "rtp",
                reason: format!("port range {port_min}-{port_max} must start at an even port >= 1024 and end above it"),
            });
        }
        let rtp_timeout = Duration::from_secs(self.rtp.timeout_secs.unwrap_or(30));
        if rtp_timeout < Duration::from_secs(5) || rtp_timeout > Duration::from_secs(3600) {
            return Err(ConfigError::Invalid { field: "rtp.timeout_secs", reason: "must be 5 to 3600".into() });
        }
        let shutdown_timeout = Duration::from_secs(self.daemon.shutdown_timeout_secs.unwrap_or(10));
        if shutdown_timeout.is_zero() || shutdown_timeout > Duration::from_secs(300) {
            return Err(ConfigError::Invalid {
                field: "daemon.shutdown_timeout_secs",
                reason: "must be 1 to 300".into(),
            });
        }
        let log_level = self.log.level.unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(ConfigError::Invalid {
                field: "log.level",
                reason: format!("`{log_level}` is not a log filter"),
            });
        }
        let cloud = match crate::sync::CloudSettings::from_file(self.cloud)
            .map_err(|(field, reason)| ConfigError::Invalid { field, reason })?
        {
            Some(cloud) => Some(cloud),
            // No [cloud] table: the box's claim, if it was claimed.
            None => crate::sync::claim::load(&data_dir)
                .and_then(|c| c.map(|c| c.settings()).transpose())
                .map_err(|e| ConfigError::Invalid { field: "cloud (claim)", reason: e.to_string() })?,
        };
        Ok(Config {
            data_dir,
            log_format: self.log.format.unwrap_or(LogFormat::Human),
            log_level,
            api: listen("api.listen", self.api.listen, api_port)?.unwrap_or_else(|| ([0, 0, 0, 0], api_port).into()),
            sip: sip_settings(self.sip)?,
            rtp_ports: port_min..=port_max,
            rtp_timeout,
            dhcp,
            dhcp_from_site: dhcp_from_site.unwrap_or_else(crate::update::requests::on_outpost_image),
            tftp: listen("tftp.listen", self.tftp.listen, tftp_port)?,
            provision: provision_settings(self.provision)?,
            shutdown_timeout,
            cloud,
            update_key: self.update.public_key.unwrap_or_else(|| crate::update::PUBLIC_KEY.into()),
            root_service: self.update.root_service.unwrap_or_else(crate::update::requests::on_outpost_image),
            notes,
        })
    }
}

impl TryFrom<ConfigFile> for Config {
    type Error = ConfigError;

    /// Validates for the privileges of the running process.
    fn try_from(file: ConfigFile) -> Result<Config, ConfigError> {
        file.validate(Privilege::of_this_process())
    }
}

fn sip_settings(f: SipFile) -> Result<SipSettings, ConfigError> {
    let invalid = |field, reason: &str| ConfigError::Invalid { field, reason: reason.to_owned() };
    let d = DefenceConfig::default();
    let r = RegistrarConfig::default();
    let registrar = RegistrarConfig {
        min_expires: f.min_expires.unwrap_or(r.min_expires),
        max_expires: f.max_expires.unwrap_or(r.max_expires),
        default_expires: f.max_expires.unwrap_or(r.max_expires).min(r.default_expires),
        max_contacts: f.max_contacts_per_extension.unwrap_or(r.max_contacts),
        algorithms: match f.digest_algorithms {
            None => r.algorithms,
            Some(names) => names
                .iter()
                .map(|n| Algorithm::parse(n).filter(|a| a.base() == *a))
                .collect::<Option<Vec<_>>>()
                .filter(|list| !list.is_empty())
                .ok_or_else(|| invalid("sip.digest_algorithms", "a non-empty list of \"SHA-256\" and \"MD5\""))?,
        },
    };
    if registrar.min_expires == 0 || registrar.max_expires < registrar.min_expires {
        return Err(invalid("sip.max_expires", "must be at least sip.min_expires, which must be above 0"));
    }
    let allowlist = f
        .allowlist
        .unwrap_or_default()
        .iter()
        .map(|c| c.parse::<Cidr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Invalid { field: "sip.allowlist", reason: e })?;
    let defence = DefenceConfig {
        max_failures: f.ban_after_failures.unwrap_or(d.max_failures),
        max_failures_per_user: f.ban_after_failures_per_extension.unwrap_or(d.max_failures_per_user),
        window: f.failure_window_secs.map_or(d.window, Duration::from_secs),
        ban: f.ban_secs.map_or(d.ban, Duration::from_secs),
        rate_per_second: f.rate_per_second.unwrap_or(d.rate_per_second),
        burst: f.burst.unwrap_or(d.burst),
        allowlist,
    };
    let rate_ok = defence.rate_per_second.is_finite() && defence.rate_per_second > 0.0;
    if defence.max_failures == 0 || !rate_ok || !defence.burst.is_finite() || defence.burst < 1.0 {
        return Err(invalid(
            "sip",
            "ban_after_failures, rate_per_second and burst must be positive (burst at least 1)",
        ));
    }
    Ok(SipSettings {
        udp: listen("sip.udp", f.udp, 5060)?,
        tcp: listen("sip.tcp", f.tcp, 5060)?,
        tls: listen("sip.tls", f.tls, 5061)?,
        registrar,
        defence,
        max_connections_per_ip: f.max_connections_per_ip.unwrap_or(64).max(1),
        idle_timeout: Duration::from_secs(f.idle_timeout_secs.unwrap_or(600).max(10)),
        trunk_ca_file: f.trunk_ca_file.map(std::path::PathBuf::from),
        nameservers: match f.nameservers {
            None => Vec::new(),
            Some(list) => list
                .iter()
                .map(|s| {
                    s.parse::<SocketAddr>()
                        .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                        .map_err(|_| ConfigError::Invalid {
                            field: "sip.nameservers",
                            reason: format!("`{s}` is not an address like 192.0.2.53 or 127.0.0.1:5353"),
                        })
                })
                .collect::<Result<_, _>>()?,
        },
    })
}

fn provision_settings(f: ProvisionFile) -> Result<ProvisionSettings, ConfigError> {
    let d = ProvisionSettings::default();
    let invalid = |field, reason: String| ConfigError::Invalid { field, reason };
    if let Some(host) = &f.host {
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':');
        if host.is_empty() || host.len() > 253 || !host.chars().all(plain) {
            return Err(invalid("provision.host", format!("`{host}` is not a host name or address")));
        }
    }
    let resync_interval = f.resync_interval_secs.unwrap_or(d.resync_interval);
    if !(60..=604_800).contains(&resync_interval) {
        return Err(invalid("provision.resync_interval_secs", "must be 60 to 604800".into()));
    }
    let allowlist = f
        .allowlist
        .unwrap_or_default()
        .iter()
        .map(|c| c.parse::<Cidr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("provision.allowlist", e))?;
    let guard = GuardConfig {
        max_unknown: f.scan_limit.unwrap_or(d.guard.max_unknown),
        window: f.scan_window_secs.map_or(d.guard.window, Duration::from_secs),
        ban: f.ban_secs.map_or(d.guard.ban, Duration::from_secs),
        allowlist,
    };
    if guard.max_unknown == 0 || guard.window.is_zero() || guard.ban.is_zero() {
        return Err(invalid("provision", "scan_limit, scan_window_secs and ban_secs must be above 0".into()));
    }
    let uploads = UploadLimits {
        max_file: f.upload_max_file_bytes.unwrap_or(d.uploads.max_file),
        max_total: f.upload_max_total_bytes.unwrap_or(d.uploads.max_total),
    };
    if uploads.max_file == 0 || uploads.max_total < uploads.max_file {
        return Err(invalid(
            "provision.upload_max_total_bytes",
            "must be at least upload_max_file_bytes, which must be above 0".into(),
        ));
    }
    Ok(ProvisionSettings {
        host: f.host,
        resync_interval,
        require_auth: f.require_auth.unwrap_or(d.require_auth),
        guard,
        uploads,
    })
}

/// `"off"` turns a listener off; absent means all interfaces on the default port.
fn listen(field: &'static str, value: Option<String>, default_port: u16) -> Result<Option<SocketAddr>, ConfigError> {
    match value.as_deref() {
        None => Ok(Some(([0, 0, 0, 0], default_port).into())),
        Some("off") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| ConfigError::Invalid {
            field,
            reason: format!("`{s}` is not an address:port like 0.0.0.0:5060 (or \"off\")"),
        }),
    }
}

fn default_user_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("outpost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, p: Privilege) -> Result<Config, ConfigError> {
        toml::from_str::<ConfigFile>(text)
            .map_err(|e| ConfigError::Syntax { path: "t".into(), message: e.to_string() })?
            .validate(p)
    }

    #[test]
    fn the_example_config_is_valid() {
        let c = parse(include_str!("../../examples/outpost.toml"), Privilege::Root).unwrap();
        assert_eq!(c.api.port(), 443);
        assert_eq!(c.dhcp, Some(("eth0".into(), 67)));
    }

    #[test]
    fn unprivileged_defaults_move_low_ports_and_say_so() {
        let c = parse("", Privilege::User).unwrap();
        assert_eq!(c.api.port(), 8443);
        assert_eq!(c.tftp.map(|a| a.port()), Some(6969));
        assert_eq!(c.sip.udp.map(|a| a.port()), Some(5060));
        assert_eq!(c.dhcp, None);
        assert!(c.notes.iter().any(|n| n.contains("8443 instead of 443")), "{:?}", c.notes);
        let root = parse("", Privilege::Root).unwrap();
        assert_eq!(root.api.port(), 443);
        assert_eq!(root.data_dir, PathBuf::from("/var/lib/outpost"));
        // The image: a non-root daemon with the capability for low ports, told to use them.
        let told = parse("[api]\nlisten = \"0.0.0.0:443\"\n[tftp]\nlisten = \"0.0.0.0:69\"", Privilege::User).unwrap();
        assert_eq!(told.api.port(), 443);
        assert!(!told.notes.iter().any(|n| n.contains("instead of")), "{:?}", told.notes);
    }

    #[test]
    fn bad_values_name_their_field() {
        let e = parse("[sip]\nudp = \"5060\"", Privilege::User).unwrap_err();
        assert!(e.to_string().starts_with("sip.udp:"), "{e}");
        let e = parse("[rtp]\nport_min = 20001\nport_max = 20000", Privilege::User).unwrap_err();
        assert!(e.to_string().starts_with("rtp:"), "{e}");
        let e = parse("[rtp]\ntimeout_secs = 1", Privilege::User).unwrap_err();
        assert!(e.to_string().starts_with("rtp.timeout_secs:"), "{e}");
        let e = parse("[sip]\nallowlist = [\"10.0.0.0/40\"]", Privilege::User).unwrap_err();
        assert!(e.to_string().starts_with("sip.allowlist:"), "{e}");
        let e = parse("[sip]\nupd = \"0.0.0.0:5060\"", Privilege::User).unwrap_err();
        assert!(e.to_string().contains("unknown field `upd`"), "{e}");
    }

    #[test]
    fn provision_settings_are_checked() {
        let c = parse("", Privilege::User).unwrap();
        assert_eq!(c.provision, ProvisionSettings::default());
        let c = parse(
            "[provision]\nhost = \"pbx.example.net\"\nrequire_auth = true\nscan_limit = 3\nallowlist = [\"10.1.0.0/16\"]",
            Privilege::User,
        )
        .unwrap();
        assert_eq!(c.provision.host.as_deref(), Some("pbx.example.net"));
        assert!(c.provision.require_auth);
        assert_eq!(c.provision.guard.max_unknown, 3);
        let e = parse("[provision]\nhost = \"a/b\"", Privilege::User).unwrap_err();
        assert!(e.to_string().starts_with("provision.host:"), "{e}");
        let e = parse("[provision]\nscan_limit = 0", Privilege::User).unwrap_err();
        assert!(e.to_string().starts_with("provision:"), "{e}");
        let e = parse("[provision]\nupload_max_total_bytes = 10", Privilege::User).unwrap_err();
        assert!(e.to_string().starts_with("provision.upload_max_total_bytes:"), "{e}");
    }

    #[test]
    fn off_turns_a_listener_off() {
        let c = parse("[tftp]\nlisten = \"off\"\n[sip]\ntls = \"off\"", Privilege::User).unwrap();
        assert_eq!(c.tftp, None);
        assert_eq!(c.sip.tls, None);
    }
}
