//! What the SIP core needs to know of the site config: which tenant a domain belongs to, and
//! each extension's secret. A snapshot, rebuilt when the site config's revision changes, so
//! that a REGISTER costs no database read.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::site::SiteDoc;

#[derive(Default)]
pub struct TenantDir {
    pub name: String,
    /// Extension number → SIP secret.
    pub secrets: HashMap<String, String>,
}

#[derive(Default)]
pub struct Directory {
    pub revision: u64,
    tenants: Vec<TenantDir>,
    domains: HashMap<String, usize>,
}

impl Directory {
    pub fn from_doc(doc: &SiteDoc) -> Directory {
        let mut dir = Directory { revision: doc.revision.unwrap_or(0), ..Directory::default() };
        for (i, t) in doc.tenants.iter().enumerate() {
            let secrets = t.extensions.iter().filter_map(|x| Some((x.number.clone(), x.secret.clone()?))).collect();
            dir.tenants.push(TenantDir { name: t.name.clone(), secrets });
            for d in &t.domains {
                dir.domains.insert(d.to_ascii_lowercase(), i);
            }
        }
        dir
    }

    /// The tenant a request for `host` belongs to. A host that is an address and not listed
    /// as a domain (phones set up with the box's IP) belongs to the only tenant, if there is one.
    pub fn tenant(&self, host: &str) -> Option<&TenantDir> {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if let Some(&i) = self.domains.get(&host) {
            return self.tenants.get(i);
        }
        if host.parse::<IpAddr>().is_ok() && self.tenants.len() == 1 {
            return self.tenants.first();
        }
        None
    }

    pub fn extensions(&self) -> usize {
        self.tenants.iter().map(|t| t.secrets.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_map_to_tenants_and_addresses_only_to_a_sole_tenant() {
        let doc = crate::site::from_toml(include_str!("../../../examples/site.toml")).unwrap();
        let dir = Directory::from_doc(&doc);
        assert_eq!(dir.tenant("ACME.pbx.local").unwrap().name, "acme");
        assert_eq!(dir.tenant("bright.pbx.local").unwrap().secrets["101"], "bright-dana-1010");
        assert!(dir.tenant("192.168.10.2").is_none(), "two tenants: an address is ambiguous");
        assert!(dir.tenant("evil.example").is_none());
        let mut one = doc.clone();
        one.tenants.truncate(1);
        assert_eq!(Directory::from_doc(&one).tenant("192.168.10.2").unwrap().name, "acme");
    }
}
