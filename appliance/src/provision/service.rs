//! The state TFTP and HTTPS share: the store, a copy of the site config kept at its latest
//! revision, the scan guard, and the counters. What a request comes to is `decide`'s.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::guard::ScanGuard;
pub use super::settings::{Endpoint, Settings};
use crate::metrics::{Kind, Metrics};
use crate::site::{SiteDoc, Vendor};
use crate::store::{Store, StoreError};

/// The state TFTP and HTTPS share.
pub struct Provisioner {
    pub store: Store,
    pub endpoint: Endpoint,
    pub settings: Settings,
    pub metrics: Metrics,
    doc: Mutex<Option<(u64, Arc<SiteDoc>)>>,
    guard: Mutex<ScanGuard>,
}

impl Provisioner {
    pub fn new(store: Store, endpoint: Endpoint, settings: Settings, metrics: Metrics) -> Provisioner {
        metrics.describe(
            "outpost_provision_requests_total",
            Kind::Counter,
            "Provisioning requests by transport (tftp, https) and outcome.",
        );
        metrics.describe("outpost_provision_bans_total", Kind::Counter, "Sources banned for scanning MACs.");
        let guard = Mutex::new(ScanGuard::new(settings.guard.clone()));
        Provisioner { store, endpoint, settings, metrics, doc: Mutex::new(None), guard }
    }

    /// The site config at its latest revision (re-read only when the revision moved).
    pub async fn doc(&self) -> Result<Arc<SiteDoc>, StoreError> {
        let revision = self.store.call(|s| s.revision()).await?;
        if let Some((rev, doc)) = self.doc.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if *rev == revision {
                return Ok(doc.clone());
            }
        }
        let doc = Arc::new(self.store.call(|s| s.export_site()).await?);
        let rev = doc.revision.unwrap_or(revision);
        *self.doc.lock().unwrap_or_else(|p| p.into_inner()) = Some((rev, doc.clone()));
        Ok(doc)
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ScanGuard> {
        self.guard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Time left while `ip` is banned.
    pub fn banned(&self, ip: IpAddr) -> Option<Duration> {
        self.guard().banned(Instant::now(), ip)
    }

    pub fn bans(&self) -> Vec<super::guard::Ban> {
        self.guard().bans(Instant::now())
    }

    /// The networks the scan guard never bans.
    pub fn allowlist(&self) -> Vec<crate::sip::defence::Cidr> {
        self.guard().allowlist().to_vec()
    }

    /// Trusts `added` besides the configured allowlist (the trusted networks of the store).
    pub fn set_trusted(&self, added: Vec<crate::sip::defence::Cidr>) {
        self.guard().set_added(added);
    }

    /// Lifts a ban by hand; true when there was one.
    pub fn lift_ban(&self, ip: IpAddr) -> bool {
        self.guard().lift(ip)
    }

    /// Counts a strike against `ip`; logs and counts a ban it causes. True when banned now.
    pub fn strike(&self, ip: IpAddr, what: &str, via: &str) -> bool {
        let now = Instant::now();
        let banned = {
            let mut guard = self.guard();
            guard.tidy(now);
            guard.strike(now, ip, what)
        };
        if banned {
            tracing::warn!(
                source = %ip,
                via,
                ban_secs = self.settings.guard.ban.as_secs(),
                "provisioning: source banned for asking for too many unknown devices (MAC scan)"
            );
            self.metrics.inc("outpost_provision_bans_total", &[]);
        }
        banned
    }

    /// Records an unknown device in the discovered list.
    pub async fn seen(&self, mac: &str, vendor: Option<Vendor>, model: Option<&str>, seen_by: &'static str) {
        let (mac, vendor, model) =
            (mac.to_owned(), vendor.map_or("", Vendor::as_str).to_owned(), model.unwrap_or_default().to_owned());
        if let Err(e) = self.store.call(move |s| s.record_seen(&mac, &vendor, &model, seen_by)).await {
            tracing::error!(error = %e, "cannot record a discovered device");
        }
    }

    /// Records that a listed phone fetched its device file (the phones page's "last fetch").
    pub async fn fetched(&self, mac: &str, via: &'static str, client: IpAddr) {
        let (mac, client) = (mac.to_owned(), client.to_string());
        if let Err(e) = self.store.call(move |s| s.record_fetch(&mac, via, &client)).await {
            tracing::error!(error = %e, "cannot record a device file fetch");
        }
    }

    pub fn count(&self, via: &'static str, outcome: &str) {
        self.metrics.inc("outpost_provision_requests_total", &[("via", via), ("outcome", outcome)]);
    }
}
