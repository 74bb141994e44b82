//! The site's DHCP server (RFC 2131) on dhcproto: leases from the site config's scopes, and
//! per vendor the options (66, 67, 150, 160, 43) that point phones at the box.
