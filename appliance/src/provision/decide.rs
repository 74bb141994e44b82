//! What a request for a file comes to, decided without I/O: given the site config, the path,
//! the User-Agent and whether secrets may be written, which file answers (or why none does).
//! Both drivers (TFTP and HTTPS) go through `decide`; check-sync compares `device_file`s.
//!
//! The order of the steps (the drivers add the first, and act on the outcomes):
//! 1. a banned source gets nothing (the driver asks `Provisioner::banned` first);
//! 2. the path is read by `files::parse_path`, with the User-Agent's vendor as a hint; a path
//!    that names no file (or tries to leave the directory) is not found; a name several
//!    vendors share is read again as the inventory's vendor's when the MAC is listed (so Poly's
//!    per-phone master `<mac>.cfg` is a common file, a Yealink's the device file);
//! 3. a common file is rendered (it never holds credentials);
//! 4. a device file whose MAC differs from the one in the User-Agent is refused: a strike;
//! 5. a device file for a MAC not in the inventory is not found, the MAC is recorded as a
//!    discovered device: a strike;
//! 6. the file is rendered with secrets only where the transport allows them (HTTPS; TFTP
//!    only in a scope that allows it).

use std::net::IpAddr;

use super::files;
use super::identify;
use super::phone;
use super::render;
use super::settings::Endpoint;
use super::{FileKind, FileRequest, PhoneConfig, RenderContext, RenderError, Rendered};
use crate::sip::defence::Cidr;
use crate::site::{SiteDoc, Vendor};

/// What a request for a file comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Found {
        rendered: Rendered,
        /// The device's settings, for a device file.
        phone: Option<Box<PhoneConfig>>,
    },
    /// No file of ours has that name (or the path tries to leave the directory).
    NoSuchFile,
    /// The path asks for another device's file than the User-Agent names.
    MacMismatch { path_mac: String, ua_mac: String },
    /// A device file of a MAC the inventory does not list.
    Unknown { mac: String, vendor: Option<Vendor>, model: Option<String> },
    /// The template failed: a bug, not the phone's fault.
    Failed(RenderError),
}

/// Decides what answers a request for `path`. Pure.
pub fn decide(
    doc: &SiteDoc,
    endpoint: &Endpoint,
    path: &str,
    user_agent: Option<&str>,
    include_secrets: bool,
) -> Decision {
    let (ua_vendor, ua_model, ua_mac) = user_agent.map(identify::parse_user_agent).unwrap_or_default();
    let Some(req) = files::parse_path(path, ua_vendor) else { return Decision::NoSuchFile };
    // A name two vendors share (`<mac>.cfg`: Yealink's or Fanvil's device file, or Poly's
    // per-phone master; `<MAC>.xml`: Snom's or Gigaset's) reads as the inventory's vendor's,
    // whatever the User-Agent or the OUI suggested.
    let listed =
        req.mac.as_deref().and_then(|mac| phone::phone_config(doc, mac, &endpoint.box_host, endpoint.sip_port));
    let req = match &listed {
        Some(phone) if phone.vendor != req.vendor => match files::parse_path(path, Some(phone.vendor)) {
            Some(r) if r.vendor == phone.vendor && r.mac == req.mac => r,
            _ => return Decision::NoSuchFile,
        },
        _ => req,
    };
    let context = |phone| RenderContext {
        phone,
        provisioning_url: &endpoint.provisioning_url,
        resync_interval: endpoint.resync_interval,
        include_secrets,
    };
    let mac = match (req.kind, &req.mac) {
        // Poly's per-phone master (`<mac>.cfg`) is a common file with a MAC: no secrets in it.
        (FileKind::Common, _) => {
            return match render::render(&req, &context(None)) {
                Ok(rendered) => Decision::Found { rendered, phone: None },
                Err(e) => Decision::Failed(e),
            }
        }
        (FileKind::Device, None) => return Decision::NoSuchFile,
        (FileKind::Device, Some(mac)) => mac.clone(),
    };
    if let Some(ua_mac) = ua_mac.filter(|m| *m != mac) {
        return Decision::MacMismatch { path_mac: mac, ua_mac };
    }
    let Some(phone) = listed else {
        let vendor = ua_vendor.or_else(|| identify::vendor_by_mac(&mac)).or(Some(req.vendor));
        return Decision::Unknown { mac, vendor, model: ua_model };
    };
    match render_device(doc, &req, &context(Some(&phone))) {
        Ok(rendered) => Decision::Found { rendered, phone: Some(Box::new(phone)) },
        Err(e) => Decision::Failed(e),
    }
}

/// A device file, from its tenant's own template for the vendor when the tenant has one.
fn render_device(doc: &SiteDoc, req: &FileRequest, cx: &RenderContext<'_>) -> Result<Rendered, RenderError> {
    let own = req.mac.as_deref().and_then(|mac| {
        let tenant = doc.tenants.iter().find(|t| t.devices.iter().any(|d| d.mac == mac))?;
        tenant.templates.iter().find(|t| t.vendor == req.vendor)
    });
    match own {
        Some(template) => render::render_with(&template.body, req, cx),
        None => render::render(req, cx),
    }
}

/// The device file of `mac` as HTTPS serves it (with credentials), or `None` when the
/// inventory does not list the MAC. Pure; check-sync compares these across revisions.
pub fn device_file(doc: &SiteDoc, endpoint: &Endpoint, mac: &str) -> Option<Result<Rendered, RenderError>> {
    let phone = phone::phone_config(doc, mac, &endpoint.box_host, endpoint.sip_port)?;
    let req = FileRequest { vendor: phone.vendor, kind: FileKind::Device, mac: Some(mac.to_owned()) };
    let cx = RenderContext {
        phone: Some(&phone),
        provisioning_url: &endpoint.provisioning_url,
        resync_interval: endpoint.resync_interval,
        include_secrets: true,
    };
    Some(render_device(doc, &req, &cx))
}

/// Whether a DHCP scope whose network holds `ip` lets TFTP hand out credentials.
pub fn tftp_may_carry_secrets(doc: &SiteDoc, ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    doc.dhcp_scopes
        .iter()
        .filter(|s| s.allow_secrets_over_tftp)
        .any(|s| s.network.parse::<Cidr>().is_ok_and(|net| net.contains(ip)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> SiteDoc {
        crate::site::from_toml(include_str!("../../../examples/site.toml")).unwrap()
    }

    fn endpoint() -> Endpoint {
        Endpoint::new("192.168.10.2", 443, 5060, 3600)
    }

    const UA: &str = "Yealink SIP-T54W 96.86.0.100 80:5e:c0:11:22:33";

    fn found(d: Decision) -> (String, Option<Box<PhoneConfig>>) {
        match d {
            Decision::Found { rendered, phone } => (String::from_utf8(rendered.body).unwrap(), phone),
            other => panic!("not found: {other:?}"),
        }
    }

    #[test]
    fn the_common_bootstrap_points_at_https_and_holds_no_secret() {
        let (doc, ep) = (site(), endpoint());
        let name = files::common_file_name(Vendor::Yealink);
        let (body, phone) = found(decide(&doc, &ep, name, None, false));
        assert!(phone.is_none());
        assert!(body.contains("https://192.168.10.2:443/prov/"), "{body}");
        assert!(!body.contains("correct-horse-101"));
    }

    #[test]
    fn a_tenants_own_template_replaces_the_built_in_one_for_its_phones_only() {
        let (mut doc, ep) = (site(), endpoint());
        let acme = doc.tenants.iter_mut().find(|t| t.name == "acme").unwrap();
        acme.templates.push(crate::site::TemplateOverride {
            vendor: Vendor::Yealink,
            body: "#!version:1.0.0.1\naccount.1.user_name = {{#lines}}{{extension}}{{/lines}}\n".into(),
        });
        let (body, _) = found(decide(&doc, &ep, "805ec0112233.cfg", Some(UA), true));
        assert_eq!(body, "#!version:1.0.0.1\naccount.1.user_name = 101\n");
        assert_eq!(device_file(&doc, &ep, "80:5e:c0:11:22:33").unwrap().unwrap().body, body.as_bytes());
        // The Poly of the same tenant keeps the built-in Poly file.
        let (poly, _) = found(decide(&doc, &ep, "0004f2aabbcc-outpost.cfg", None, true));
        assert!(poly.contains("reg.1."), "{poly}");
    }

    #[test]
    fn device_files_carry_secrets_only_when_allowed() {
        let (doc, ep) = (site(), endpoint());
        let (with, phone) = found(decide(&doc, &ep, "805ec0112233.cfg", Some(UA), true));
        assert!(with.contains("correct-horse-101"), "{with}");
        assert_eq!(phone.unwrap().mac, "80:5e:c0:11:22:33");
        let (without, _) = found(decide(&doc, &ep, "805ec0112233.cfg", None, false));
        assert!(!without.contains("correct-horse-101"), "{without}");
    }

    #[test]
    fn every_inventory_device_gets_its_own_vendors_file_by_name() {
        let (doc, ep) = (site(), endpoint());
        for device in doc.tenants.iter().flat_map(|t| &t.devices) {
            let name = files::device_file_name(device.vendor, &device.mac);
            let (body, phone) = found(decide(&doc, &ep, &name, None, true));
            assert_eq!(phone.map(|p| p.vendor), Some(device.vendor), "{name}");
            let expected = device_file(&doc, &ep, &device.mac).unwrap().unwrap();
            assert_eq!(body.as_bytes(), expected.body.as_slice(), "{name}");
        }
    }

    #[test]
    fn shared_names_read_as_the_inventorys_vendor() {
        let (doc, ep) = (site(), endpoint());
        // Poly's per-phone master: a common file even when the User-Agent says Yealink.
        for ua in [None, Some("Yealink SIP-T54W 96.86.0.100 00:04:f2:aa:bb:cc")] {
            let (body, phone) = found(decide(&doc, &ep, "0004f2aabbcc.cfg", ua, true));
            assert!(phone.is_none(), "{ua:?}");
            assert!(body.contains("[PHONE_MAC_ADDRESS]-outpost.cfg"), "{body}");
            assert!(!body.contains("battery-staple-102"), "{body}");
        }
        let (body, _) = found(decide(&doc, &ep, "0004f2aabbcc-outpost.cfg", None, true));
        assert!(body.contains("battery-staple-102"), "{body}");
        // A Yealink whose MAC has another vendor's OUI still gets its device file.
        let mut doc = doc;
        doc.tenants[0].devices[1].vendor = Vendor::Yealink;
        let (body, phone) = found(decide(&doc, &ep, "0004f2aabbcc.cfg", None, true));
        assert_eq!(phone.map(|p| p.vendor), Some(Vendor::Yealink));
        assert!(body.starts_with("#!version:1.0.0.1\n") && body.contains("battery-staple-102"), "{body}");
        // A Fanvil (by the inventory) asking a Yealink-looking name.
        let (body, _) =
            found(decide(&doc, &ep, "0c383e445566.cfg", Some("Yealink SIP-T54W 1 0c:38:3e:44:55:66"), false));
        assert!(body.starts_with("<<VOIP CONFIG FILE>>"), "{body}");
    }

    #[test]
    fn a_user_agent_naming_another_mac_is_refused() {
        let (doc, ep) = (site(), endpoint());
        let d = decide(&doc, &ep, "805ec0112233.cfg", Some("Yealink SIP-T54W 96.86.0.100 80:5e:c0:99:99:99"), true);
        assert_eq!(
            d,
            Decision::MacMismatch { path_mac: "80:5e:c0:11:22:33".into(), ua_mac: "80:5e:c0:99:99:99".into() }
        );
    }

    #[test]
    fn unknown_macs_come_with_what_the_user_agent_says() {
        let (doc, ep) = (site(), endpoint());
        let d = decide(&doc, &ep, "805ec0445566.cfg", Some("Yealink SIP-T46U 108.86.0.20 80:5e:c0:44:55:66"), true);
        assert_eq!(
            d,
            Decision::Unknown {
                mac: "80:5e:c0:44:55:66".into(),
                vendor: Some(Vendor::Yealink),
                model: Some("SIP-T46U".into())
            }
        );
        let d = decide(&doc, &ep, "805ec0445566.cfg", None, false);
        assert!(matches!(d, Decision::Unknown { vendor: Some(Vendor::Yealink), model: None, .. }), "{d:?}");
    }

    #[test]
    fn paths_outside_the_served_files_name_nothing() {
        let (doc, ep) = (site(), endpoint());
        for path in ["../805ec0112233.cfg", "/805ec0112233.cfg", "../../etc/passwd", "", "box.key"] {
            assert_eq!(decide(&doc, &ep, path, Some(UA), true), Decision::NoSuchFile, "{path}");
        }
    }

    #[test]
    fn secrets_over_tftp_only_in_a_scope_that_allows_them() {
        let mut doc = site();
        let office: IpAddr = "192.168.10.50".parse().unwrap();
        assert!(!tftp_may_carry_secrets(&doc, office));
        doc.dhcp_scopes[0].allow_secrets_over_tftp = true;
        assert!(tftp_may_carry_secrets(&doc, office));
        assert!(tftp_may_carry_secrets(&doc, "::ffff:192.168.10.50".parse().unwrap()));
        assert!(!tftp_may_carry_secrets(&doc, "192.168.11.50".parse().unwrap()));
    }
}
