//! The site config document as it is written in TOML (and carried as JSON by the API and the
//! cloud). These types only describe the shape; `validate` decides whether a document makes sense.

use serde::{Deserialize, Serialize};

/// The document format this build reads and writes. A newer one is refused, never misread.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteDoc {
    pub schema: u32,
    /// On export: the box's current revision. On apply: the revision this document was edited
    /// from; when present it must equal the box's, so that a stale edit cannot overwrite a newer
    /// one. Absent means "replace whatever is there".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    #[serde(default)]
    pub site: Site,
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    #[serde(default)]
    pub dhcp_scopes: Vec<DhcpScope>,
}

impl Default for SiteDoc {
    fn default() -> Self {
        SiteDoc { schema: SCHEMA, revision: None, site: Site::default(), tenants: Vec::new(), dhcp_scopes: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: String,
    /// An IANA zone name (`Europe/Berlin`): inbound routes' days and hours are read in it.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub survivable: Survivable,
}

impl Default for Site {
    fn default() -> Self {
        Site { name: "outpost".into(), time_zone: default_time_zone(), survivable: Survivable::default() }
    }
}

/// How the site leaves survivable mode (it enters it as soon as the cloud trunk is down).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survivable {
    /// Leave survivable mode only when no call is up on a fallback trunk, so that a call in
    /// progress is never the first thing the cloud sees after its return. Off: leave as soon as
    /// the cloud trunk is up again (after its hold-down).
    #[serde(default)]
    pub fail_back_when_idle: bool,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn default_time_zone() -> String {
    "UTC".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Short identifier: lowercase letters, digits and dashes.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// SIP domains (or addresses) phones of this tenant register to. Unique across tenants.
    pub domains: Vec<String>,
    #[serde(default = "default_emergency")]
    pub emergency_numbers: Vec<String>,
    #[serde(default)]
    pub extensions: Vec<Extension>,
    #[serde(default)]
    pub devices: Vec<Device>,
    #[serde(default)]
    pub ring_groups: Vec<RingGroup>,
    #[serde(default)]
    pub trunks: Vec<Trunk>,
    #[serde(default)]
    pub inbound_routes: Vec<InboundRoute>,
    #[serde(default)]
    pub outbound_routes: Vec<OutboundRoute>,
    /// Numbers refused before any route is tried (premium rate, ...). Emergency numbers are
    /// never blocked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<Blocked>,
    /// Other sites of the same organisation, normally reached through the cloud trunk, and how
    /// to reach them over the public network in survivable mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_sites: Vec<RemoteSite>,
    /// Dates (`2026-12-25`, in the site's time zone) on which inbound routes with days or
    /// hours do not match: the office is closed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<String>,
    /// The admin's own device-file templates for this tenant's phones, per vendor (in place of
    /// the built-in ones; see docs/provisioning.md, "Templates").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplateOverride>,
}

/// A tenant's own template for one vendor's device file. It is checked on apply: a template
/// that does not render is rejected with the line and the reason, like any other bad field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateOverride {
    pub vendor: Vendor,
    /// The template text, in the syntax of the built-in ones (`outpost template VENDOR` prints
    /// a built-in one to start from).
    pub body: String,
}

/// Emergency numbers of a tenant that does not list its own.
pub const DEFAULT_EMERGENCY_NUMBERS: [&str; 2] = ["112", "911"];

fn default_emergency() -> Vec<String> {
    DEFAULT_EMERGENCY_NUMBERS.iter().map(|n| (*n).to_owned()).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    pub number: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// SIP digest password. Omitted on apply: the stored one is kept, or a new one generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Every call to this extension goes here instead: an extension or ring group number of the
    /// same tenant, or an outside number. Checked before the phone rings, so it wins over the
    /// two below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_always: Option<String>,
    /// Where a call goes when the extension is busy (or refuses the call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_busy: Option<String>,
    /// Where a call goes when the extension has rung `no_answer_secs` without an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_no_answer: Option<String>,
    /// Seconds the phone rings before `forward_no_answer` takes over (5-120). Left out of an
    /// export when it is the default, so documents written before forwarding existed
    /// round-trip unchanged.
    #[serde(default = "default_no_answer_secs", skip_serializing_if = "is_default_no_answer_secs")]
    pub no_answer_secs: u32,
    /// The number presented on trunk calls from this extension (its DID); absent: the trunk's
    /// `caller_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
}

/// Struct literals elsewhere (tests, `outpostctl`) write `..Default::default()`, so that a new
/// optional field does not touch every caller.
impl Default for Extension {
    fn default() -> Self {
        Extension {
            number: String::new(),
            name: String::new(),
            secret: None,
            forward_always: None,
            forward_busy: None,
            forward_no_answer: None,
            no_answer_secs: DEFAULT_NO_ANSWER_SECS,
            caller_id: None,
        }
    }
}

/// Seconds an extension rings before forward-no-answer, unless it says otherwise.
pub const DEFAULT_NO_ANSWER_SECS: u32 = 20;

fn default_no_answer_secs() -> u32 {
    DEFAULT_NO_ANSWER_SECS
}

fn is_default_no_answer_secs(n: &u32) -> bool {
    *n == DEFAULT_NO_ANSWER_SECS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Yealink,
    Poly,
    Cisco,
    Fanvil,
    Grandstream,
    Snom,
    Gigaset,
}

impl Vendor {
    pub const ALL: [Vendor; 7] = [
        Vendor::Yealink,
        Vendor::Poly,
        Vendor::Cisco,
        Vendor::Fanvil,
        Vendor::Grandstream,
        Vendor::Snom,
        Vendor::Gigaset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Yealink => "yealink",
            Vendor::Poly => "poly",
            Vendor::Cisco => "cisco",
            Vendor::Fanvil => "fanvil",
            Vendor::Grandstream => "grandstream",
            Vendor::Snom => "snom",
            Vendor::Gigaset => "gigaset",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// MAC address, written `aa:bb:cc:dd:ee:ff` (other spellings are normalised on apply).
    pub mac: String,
    pub vendor: Vendor,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// The extension on the phone's first line; absent for a device not yet assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RingStrategy {
    Simultaneous,
    Sequential,
}

impl RingStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            RingStrategy::Simultaneous => "simultaneous",
            RingStrategy::Sequential => "sequential",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingGroup {
    pub number: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub strategy: RingStrategy,
    pub members: Vec<String>,
    /// Seconds each member rings (sequential) or the group rings (simultaneous).
    #[serde(default = "default_member_timeout")]
    pub member_timeout: u32,
}

fn default_member_timeout() -> u32 {
    20
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrunkRole {
    /// The trunk to the central cloud PBX; its health decides survivable mode.
    Cloud,
    /// A second provider or a local PSTN gateway.
    Fallback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    pub name: String,
    pub role: TrunkRole,
    /// An address or a DNS name. A name without `port` is looked up per RFC 3263 (SRV
    /// `_sip._udp` / `_sip._tcp` / `_sips._tcp`, then A), giving several targets in priority
    /// order; with `port`, only its A records.
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub transport: Transport,
    /// Digest credentials: for the outbound REGISTER, and for challenges to our INVITEs. Both
    /// absent means the peer trusts our address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Register with `username` (the default when it is set). `false`: the credentials only
    /// answer challenges, the peer knows us by address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<bool>,
    /// The domain in our From, To and REGISTER towards this trunk; absent: `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The number presented for callers without their own `caller_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    /// Codecs offered to this trunk, in order of preference (`PCMA`, `PCMU`, `G722`, `opus`,
    /// ...); empty: whatever the phone offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codecs: Vec<String>,
    /// Calls up at once on this trunk; emergency calls are never held to it.
    #[serde(default = "default_max_channels")]
    pub max_channels: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub health: TrunkHealth,
}

impl Trunk {
    /// Whether the box keeps an outbound registration with this trunk.
    pub fn registers(&self) -> bool {
        self.username.is_some() && self.register != Some(false)
    }

    /// The domain of our URIs towards this trunk.
    pub fn domain(&self) -> &str {
        self.domain.as_deref().unwrap_or(&self.host)
    }
}

/// How a trunk is probed (SIP OPTIONS) and when it changes state. The defaults detect a dead
/// trunk in about 8 s (three missed probes, 2 s apart) and bring it back after 30 s of answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkHealth {
    /// Seconds between probes.
    #[serde(default = "default_probe_interval")]
    pub probe_interval: u32,
    /// Seconds a probe waits for its answer before it counts as a miss.
    #[serde(default = "default_probe_timeout")]
    pub probe_timeout: u32,
    /// Consecutive misses that make an up trunk down (a 5xx or timeout on a call does at once).
    #[serde(default = "default_down_after")]
    pub down_after: u32,
    /// Consecutive answers that bring a down trunk back...
    #[serde(default = "default_up_after")]
    pub up_after: u32,
    /// ...once they have also lasted this many seconds (hold-down: no flapping).
    #[serde(default = "default_hold_down")]
    pub hold_down: u32,
}

impl Default for TrunkHealth {
    fn default() -> Self {
        TrunkHealth {
            probe_interval: default_probe_interval(),
            probe_timeout: default_probe_timeout(),
            down_after: default_down_after(),
            up_after: default_up_after(),
            hold_down: default_hold_down(),
        }
    }
}

fn default_probe_interval() -> u32 {
    2
}
fn default_probe_timeout() -> u32 {
    2
}
fn default_down_after() -> u32 {
    3
}
fn default_up_after() -> u32 {
    3
}
fn default_hold_down() -> u32 {
    30
}

fn default_max_channels() -> u32 {
    30
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRoute {
    /// The dialled number as the trunk delivers it.
    pub did: String,
    /// An extension or ring group number of the same tenant, or an outside number (the call
    /// is forwarded out again).
    pub destination: String,
    /// Only calls from callers matching this dial pattern (`0171.`, `+4930X.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// Only on these days (`mon` ... `sun`), in the site's time zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
    /// Only between these times, `08:00-18:00` (an end before the start spans midnight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
}

impl InboundRoute {
    /// Whether the route depends on the clock (then it never matches on a holiday).
    pub fn timed(&self) -> bool {
        !self.days.is_empty() || self.hours.is_some()
    }
}

/// A trunk of an outbound route: its name, or its name with its own number rewriting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RouteTrunk {
    Name(String),
    Rewrite(TrunkRewrite),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkRewrite {
    pub name: String,
    /// Digits taken off the front of the dialled number for this trunk (instead of the route's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strip: Option<u32>,
    /// Put in front after stripping (instead of the route's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepend: Option<String>,
}

impl RouteTrunk {
    pub fn name(&self) -> &str {
        match self {
            RouteTrunk::Name(n) => n,
            RouteTrunk::Rewrite(r) => &r.name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundRoute {
    pub name: String,
    /// Dial pattern: digits, `X` (any digit), `Z` (1-9), `N` (2-9), `[1-5]` sets, and a
    /// trailing `.` for "one or more of anything".
    pub pattern: String,
    /// Trunks tried in order (a trunk that is down or full is skipped; one that fails during
    /// setup hands the call to the next).
    pub trunks: Vec<RouteTrunk>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub strip: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prepend: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Numbers nobody on the site may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocked {
    pub pattern: String,
    /// Said to the caller (reason phrase) and in the CDR: "premium rate numbers are blocked".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Another site's extensions: through the cloud trunk normally; in survivable mode through
/// the public network as `pstn_prefix` + the number (after `strip`), or refused (486) when
/// there is no `pstn_prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSite {
    pub name: String,
    /// The other site's extension numbers, a dial pattern (`2XXX`).
    pub pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pstn_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub strip: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpScope {
    pub name: String,
    /// The interface this scope is served on (or the relay's subnet when it is relayed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// The subnet, `192.168.10.0/24`.
    pub network: String,
    pub range_start: String,
    pub range_end: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub ntp: Vec<String>,
    #[serde(default = "default_lease_time")]
    pub lease_time: u32,
    /// Serve even when another DHCP server answers on the segment.
    #[serde(default)]
    pub authoritative: bool,
    /// Let TFTP hand out files with credentials. Off: TFTP gives only a bootstrap.
    #[serde(default)]
    pub allow_secrets_over_tftp: bool,
    #[serde(default)]
    pub reservations: Vec<Reservation>,
}

fn default_lease_time() -> u32 {
    86_400
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    pub mac: String,
    pub ip: String,
}
