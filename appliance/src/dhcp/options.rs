//! Which options a reply carries: the network settings of the scope, and per vendor the ones
//! that point a phone at the box's provisioning. The table is in `docs/dhcp.md`.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, DhcpOptions, OptionCode, UnknownOption};

use super::scope::Scope;
use crate::site::Vendor;

/// Poly's provisioning server option (a URL), read before 66.
pub const POLY_PROVISIONING: u8 = 160;

/// Where phones fetch their files, as the options tell them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioning {
    /// `https://<box>:<port>/prov/`.
    pub url: String,
    /// The box's address for TFTP (options 150, and 66 for Cisco), when TFTP runs on port 69:
    /// neither option can name another port.
    pub tftp: Option<Ipv4Addr>,
}

impl Provisioning {
    /// `https://<box>:<port>` without the path: Snom joins option 66 and 67 with a slash.
    fn origin(&self) -> &str {
        self.url.trim_end_matches('/').trim_end_matches("/prov")
    }
}

/// The scope's network options. `lease` is false for DHCPINFORM (no address, no lease).
pub fn network(opts: &mut DhcpOptions, scope: &Scope, server: Ipv4Addr, lease: bool) {
    opts.insert(DhcpOption::ServerIdentifier(server));
    opts.insert(DhcpOption::SubnetMask(scope.mask));
    if let Some(router) = scope.router {
        opts.insert(DhcpOption::Router(vec![router]));
    }
    if !scope.dns.is_empty() {
        opts.insert(DhcpOption::DomainNameServer(scope.dns.clone()));
    }
    if !scope.ntp.is_empty() {
        opts.insert(DhcpOption::NtpServers(scope.ntp.clone()));
    }
    if lease {
        let t = scope.lease_time;
        opts.insert(DhcpOption::AddressLeaseTime(t));
        opts.insert(DhcpOption::Renewal(t / 2));
        opts.insert(DhcpOption::Rebinding(t / 8 * 7));
    }
}

/// The provisioning options for a phone of `vendor` that asked for `wanted` (option 55).
/// Each vendor gets what its firmware reads even unasked (many do not list 66 in option 55);
/// an unknown client gets nothing, so that a PC's PXE boot is never pointed at a phone server.
pub fn provisioning(opts: &mut DhcpOptions, vendor: Option<Vendor>, wanted: &[u8], p: &Provisioning) {
    let asked = |code: u8| wanted.contains(&code);
    let text = |s: &str| s.as_bytes().to_vec();
    let Some(vendor) = vendor else { return };
    match vendor {
        Vendor::Yealink | Vendor::Grandstream | Vendor::Gigaset => {
            opts.insert(DhcpOption::TFTPServerName(text(&p.url)));
        }
        Vendor::Poly => {
            opts.insert(DhcpOption::Unknown(UnknownOption::new(OptionCode::from(POLY_PROVISIONING), text(&p.url))));
            opts.insert(DhcpOption::TFTPServerName(text(&p.url)));
        }
        Vendor::Cisco => match p.tftp {
            Some(ip) => {
                opts.insert(DhcpOption::TFTPServerAddress(ip));
                opts.insert(DhcpOption::TFTPServerName(text(&ip.to_string())));
            }
            None => {
                opts.insert(DhcpOption::TFTPServerName(text(&p.url)));
            }
        },
        Vendor::Snom => {
            opts.insert(DhcpOption::TFTPServerName(text(p.origin())));
            opts.insert(DhcpOption::BootfileName(text("prov/{mac}.xml")));
        }
        Vendor::Fanvil => {
            opts.insert(DhcpOption::TFTPServerName(text(&p.url)));
            if asked(43) {
                // Fanvil reads option 43 as the URL itself, not as sub-options.
                opts.insert(DhcpOption::VendorExtensions(text(&p.url)));
            }
        }
    }
}
