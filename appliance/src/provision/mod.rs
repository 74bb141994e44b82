//! Zero-touch provisioning: the files each phone vendor fetches, built on request from the
//! site config, served over TFTP (a bootstrap without secrets) and HTTPS under `/prov/`.
//!
//! Layout: the pure side is `identify` (vendor and model from option 60, OUI, User-Agent),
//! `files` (which vendor, file and MAC a requested path names), `phone` (a device's settings
//! taken from the site config), `render` (the vendor templates), `decide` (what a request
//! comes to), `guard` (MAC-scan bans), `checksync::to_notify` (which phones hear of a change),
//! `adopt` (the device an adoption adds).
//! The drivers are `tftp`, `https` (with `uploads`) and `checksync::run`; `service` holds what
//! they share.

pub mod adopt;
pub mod checksync;
pub mod decide;
pub mod files;
pub mod guard;
pub mod https;
pub mod identify;
pub mod phone;
pub mod render;
pub mod service;
pub mod settings;
pub mod tftp;
pub mod uploads;

use crate::site::Vendor;

/// Which kind of file a phone asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// The vendor's common file (`y000000000000.cfg`, `000000000000.cfg`, …). Over TFTP it is
    /// the bootstrap that moves the phone to HTTPS; it never holds credentials.
    Common,
    /// The per-device file (`<mac>.cfg`, `cfg<mac>.xml`, `spa<mac>.xml`, …) with the lines and
    /// their credentials.
    Device,
}

/// A request for a provisioning file, as `files::parse_path` reads it from a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRequest {
    pub vendor: Vendor,
    pub kind: FileKind,
    /// Normalised `aa:bb:cc:dd:ee:ff`; present for `Device` files.
    pub mac: Option<String>,
}

/// Everything a template needs about one phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneConfig {
    /// Normalised `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    pub vendor: Vendor,
    pub model: String,
    pub lines: Vec<Line>,
    /// Where the phone registers: the box's address as the phone reaches it.
    pub sip_server: String,
    pub sip_port: u16,
    /// `udp`, `tcp` or `tls`.
    pub sip_transport: String,
    /// Codec names in preference order, e.g. `["PCMU", "PCMA", "G722", "opus"]`.
    pub codecs: Vec<String>,
    pub ntp_server: String,
    /// IANA name, e.g. `Europe/Berlin`.
    pub time_zone: String,
}

/// One SIP account on a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub extension: String,
    /// The SIP domain (and digest realm) of the line's tenant.
    pub domain: String,
    pub auth_user: String,
    pub password: String,
    pub display_name: String,
    pub label: String,
}

/// What `render::render` is given besides the request.
#[derive(Debug, Clone)]
pub struct RenderContext<'a> {
    /// The device's settings; `None` for a common file.
    pub phone: Option<&'a PhoneConfig>,
    /// Where the phone fetches its files over HTTPS, ending in `/prov/`.
    pub provisioning_url: &'a str,
    /// How often the phone re-checks its configuration, in seconds.
    pub resync_interval: u32,
    /// Whether credentials may be written (false over TFTP unless a scope allows it).
    pub include_secrets: bool,
}

/// A built file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("a {0} device file needs the device's settings")]
    NoPhone(&'static str),
    #[error("template error: {0}")]
    Template(String),
}
