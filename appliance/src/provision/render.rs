//! The vendor templates: each vendor's common and device file, built from the text templates
//! in `templates/` (shipped in the binary) and a context made from the request.
//!
//! Layout: `template` is the template language (values escaped per format, sections for lists
//! and flags, errors with the line); `vendor` is what differs per vendor besides the text
//! (format, transport and codec spellings, time zones). This file makes the context: the
//! names every template may use are listed in `context` below. A per-tenant override by an
//! admin is another template text passed to `render_with`.
//!
//! Secrets: the context has a `password` only when `RenderContext::include_secrets` is true,
//! and the templates write it inside `{{#secrets}}`. Without secrets the password *key* is
//! left out too (never an empty value): every vendor keeps what it has for a key a file does
//! not mention, so a phone that already has its password keeps it, and one that has none
//! shows the account as not registered until it fetches the file over HTTPS.
//!
//! Per vendor (registrar: the line's tenant domain; outbound proxy: the box), the password
//! key left out without secrets, the time zone, the provisioning URL and resync:
//!
//! - Yealink: `account.N.*`; `account.N.password`; `local_time.time_zone` (±h) and
//!   `time_zone_name` (automatic DST); `static.auto_provision.server.url`, `repeat.minutes`,
//!   DHCP option off so option 66 (TFTP) no longer wins over the URL.
//! - Poly: `reg.N.*`; `reg.N.auth.password`; `tcpIpApp.sntp.gmtOffset` (s) and the DST rule;
//!   `device.prov.serverName` (type HTTPS; boot server `Static`, not DHCP's),
//!   `prov.polling.period` (s). The master file (`000000000000.cfg`, `<mac>.cfg`) lists
//!   `[PHONE_MAC_ADDRESS]-outpost.cfg`.
//! - Cisco MPP/SPA: `Proxy_N_`, `Outbound_Proxy_N_`, `User_ID_N_`, `Auth_ID_N_`; `Password_N_`;
//!   `Time_Zone` (`GMT+01:00`) and `Daylight_Saving_Time_Rule`; `Profile_Rule`
//!   (`…/spa$MA.xml`), `Resync_Periodic` (s).
//! - Grandstream: P271, P47 (server), P48 (proxy), P35, P36, P3, P130; P34; P64 `customize`
//!   with P246 (POSIX); P237 (path) with P212 2 (HTTPS), P194 1 and P193 (minutes).
//! - Fanvil: `SIPN Phone Number`, `Register Addr`/`User`, `Proxy Addr`; `SIPN Register Pswd`;
//!   `Time Zone` (15-minute units), `Time Zone Name`, `DST Type`; `Flash Server IP` (the
//!   web UI's "Server Address"), `Flash Protocol` 5 (HTTPS), `Flash Interval` (hours).
//! - Snom: `user_nameN`, `user_pnameN`, `user_hostN`, `user_outboundN`; `user_passN`;
//!   `timezone` (`GER+1`); `setting_server` (`…/{mac}.xml`), `settings_refresh_timer` (s).
//! - Gigaset (provider frame): `S_SIP_*_N`, `S_OUTBOUND_PROXY_N`; `S_SIP_PASSWORD_N`;
//!   `SYMB_ITEM` zone index and automatic DST; `S_DATA_SERVER`,
//!   `I_CHECK_FOR_UPDATES_TIMER_INIT` (minutes).
//!
//! Grandstream's accounts after the first use unrelated P-numbers: only the first line is
//! written (a device has one extension today). Zones the table in `vendor` does not know are
//! written as UTC.

mod template;
mod vendor;

#[cfg(test)]
mod tests;

pub use template::{Escape, Scope, Template};
pub use vendor::{zone_of, Zone, ZONES};

use super::{FileKind, FileRequest, PhoneConfig, RenderContext, RenderError, Rendered};
use crate::site::Vendor;

/// Builds the file `req` names with the vendor's built-in template.
pub fn render(req: &FileRequest, cx: &RenderContext<'_>) -> Result<Rendered, RenderError> {
    render_with(vendor::template(req.vendor, req.kind), req, cx)
}

/// The built-in template text of a vendor's file kind (what an admin's override starts from).
pub fn builtin_template(vendor: Vendor, kind: FileKind) -> &'static str {
    vendor::template(vendor, kind)
}

/// Whether `template` renders as a device file of `vendor` (for a sample phone, with and
/// without secrets): what site validation asks of an admin's override.
pub fn check(vendor: Vendor, template: &str) -> Result<(), RenderError> {
    let phone = PhoneConfig {
        mac: "02:00:00:00:00:01".into(),
        vendor,
        model: String::new(),
        lines: vec![super::Line {
            extension: "100".into(),
            domain: "example.invalid".into(),
            auth_user: "100".into(),
            password: "sample".into(),
            display_name: "Sample".into(),
            label: "100".into(),
        }],
        sip_server: "192.0.2.1".into(),
        sip_port: 5060,
        sip_transport: "udp".into(),
        codecs: vec!["PCMU".into()],
        ntp_server: "192.0.2.1".into(),
        time_zone: "UTC".into(),
    };
    let req = FileRequest { vendor, kind: FileKind::Device, mac: Some(phone.mac.clone()) };
    for include_secrets in [true, false] {
        let cx = RenderContext {
            phone: Some(&phone),
            provisioning_url: "https://192.0.2.1/prov/",
            resync_interval: 3600,
            include_secrets,
        };
        render_with(template, &req, &cx)?;
    }
    Ok(())
}

/// Builds the file `req` names from `template` (a built-in one, or an admin's override): its
/// values are escaped for the vendor's format.
pub fn render_with(template: &str, req: &FileRequest, cx: &RenderContext<'_>) -> Result<Rendered, RenderError> {
    let template = Template::parse(template)?;
    let format = vendor::format(req.vendor);
    let scope = context(req, cx)?;
    let body = template.render(&scope, format.escape)?;
    Ok(Rendered { content_type: format.content_type, body: body.into_bytes() })
}

/// The names a template may use. Every file: `provisioning_url` (`https://…/prov/`),
/// `provisioning_path` (the same without the scheme and the last slash, for vendors that take
/// the protocol apart), `resync_secs`, `resync_minutes`, `resync_hours` (rounded up, at least
/// 1), `secrets` (flag). A device file adds the phone's `mac` (`aa:bb:…`), `mac_hex`,
/// `mac_hex_upper`, `model`, `sip_server`, `sip_port`, `transport` (the vendor's spelling),
/// `transport_name` (`udp`, `tcp`, `tls`), `ntp_server`, the time zone (`tz_iana`,
/// `tz_offset_minutes`, `tz_offset_seconds`, `tz_offset_quarters`, `tz_hours`, `tz_gmt`,
/// `tz_utc_name`, `tz_posix`, `tz_yealink_name`, `tz_snom`, `tz_gigaset`, flag `dst` and
/// list `dst_rule` of one item when the zone has daylight saving: `start_month`,
/// `start_week`, `start_date`, `start_hour`, flag `start_last`, the same with `stop_`, and
/// `cisco`), `codecs` (list: `name`, `priority`, `slot`), `codec_list` (comma-separated),
/// `lines` and `first_line` (lists: `index`, `extension`, `domain`, `auth_user`,
/// `display_name`, `label`, and `password` with secrets).
fn context(req: &FileRequest, cx: &RenderContext<'_>) -> Result<Scope, RenderError> {
    let resync = cx.resync_interval.max(1);
    let mut scope = Scope::default()
        .text("provisioning_url", cx.provisioning_url)
        .text("provisioning_path", provisioning_path(cx.provisioning_url))
        .text("resync_secs", resync.to_string())
        .text("resync_minutes", resync.div_ceil(60).to_string())
        .text("resync_hours", resync.div_ceil(3600).to_string())
        .flag("secrets", cx.include_secrets);
    if req.kind == FileKind::Device {
        let phone = cx.phone.ok_or(RenderError::NoPhone(req.vendor.as_str()))?;
        scope = device(scope, req.vendor, phone, cx.include_secrets);
    }
    Ok(scope)
}

/// `https://h:443/prov/` → `h:443/prov`.
fn provisioning_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.strip_suffix('/').unwrap_or(rest)
}

fn device(scope: Scope, vendor: Vendor, phone: &PhoneConfig, secrets: bool) -> Scope {
    let hex: String = phone.mac.chars().filter(char::is_ascii_hexdigit).collect();
    let zone = vendor::zone_of(&phone.time_zone);
    let dst_rule: Vec<Scope> = vendor::dst_changes(zone)
        .map(|(start, stop)| {
            let change = |scope: Scope, prefix: &'static [&'static str; 5], c: vendor::Change| {
                // Poly's `date` is the first day a week-based change may fall on.
                let date = if c.week < 0 { 22 } else { 7 * (i32::from(c.week) - 1) + 1 };
                scope
                    .text(prefix[0], c.month.to_string())
                    .text(prefix[1], c.week.to_string())
                    .text(prefix[2], date.to_string())
                    .text(prefix[3], c.hour.to_string())
                    .flag(prefix[4], c.week < 0)
            };
            let scope = change(
                Scope::default(),
                &["start_month", "start_week", "start_date", "start_hour", "start_last"],
                start,
            );
            let scope = change(scope, &["stop_month", "stop_week", "stop_date", "stop_hour", "stop_last"], stop);
            vec![scope.text("cisco", vendor::cisco_dst_rule(start, stop))]
        })
        .unwrap_or_default();
    let codecs: Vec<(&str, &str)> = phone
        .codecs
        .iter()
        .filter_map(|c| vendor::codec(vendor, c))
        .enumerate()
        .map_while(|(i, name)| vendor::codec_slot(vendor, i).map(|slot| (name, slot)))
        .collect();
    let lines: Vec<Scope> = phone
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let scope = Scope::default()
                .text("index", (i + 1).to_string())
                .text("extension", &line.extension)
                .text("domain", &line.domain)
                .text("auth_user", &line.auth_user)
                .text("display_name", &line.display_name)
                .text("label", &line.label);
            if secrets {
                scope.text("password", &line.password)
            } else {
                scope
            }
        })
        .collect();
    scope
        .text("mac", &phone.mac)
        .text("mac_hex", hex.to_ascii_lowercase())
        .text("mac_hex_upper", hex.to_ascii_uppercase())
        .text("model", &phone.model)
        .text("sip_server", &phone.sip_server)
        .text("sip_port", phone.sip_port.to_string())
        .text("transport", vendor::transport(vendor, &phone.sip_transport))
        .text("transport_name", vendor::transport(Vendor::Snom, &phone.sip_transport))
        .text("ntp_server", &phone.ntp_server)
        .text("tz_iana", zone.iana)
        .text("tz_offset_minutes", zone.offset.to_string())
        .text("tz_offset_seconds", (zone.offset * 60).to_string())
        .text("tz_offset_quarters", (zone.offset / 15).to_string())
        .text("tz_hours", vendor::hours(zone.offset))
        .text("tz_gmt", vendor::gmt(zone.offset))
        .text("tz_utc_name", vendor::utc_name(zone.offset))
        .text("tz_posix", zone.posix)
        .text("tz_yealink_name", zone.yealink)
        .text("tz_snom", zone.snom)
        .text("tz_gigaset", vendor::gigaset_zone(zone.offset))
        .flag("dst", !dst_rule.is_empty())
        .list("dst_rule", dst_rule)
        .text("codec_list", codecs.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(","))
        .list(
            "codecs",
            codecs
                .iter()
                .enumerate()
                .map(|(i, (name, slot))| {
                    Scope::default().text("name", *name).text("priority", (i + 1).to_string()).text("slot", *slot)
                })
                .collect(),
        )
        .list("first_line", lines.iter().take(1).cloned().collect())
        .list("lines", lines)
}
