//! Check-sync: when the site config changes, the phones whose device file changed are told to
//! fetch it again by a SIP `NOTIFY` with `Event: check-sync`. A phone whose file did not
//! change hears nothing (check-sync makes many phones reboot).
//!
//! The decision (`to_notify`) is pure: old and new document, the live bindings, the endpoint.
//! `notify_message` builds the request; `run` is the service that polls the revision every
//! second and `send` the driver that sends one NOTIFY over UDP from an ephemeral socket to
//! the address the phone registered from, retransmitting until it is answered.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::decide::device_file;
use super::phone;
use super::service::{Endpoint, Provisioner};
use crate::provision::identify;
use crate::sip::location::Binding;
use crate::site::SiteDoc;

/// One NOTIFY to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// The device whose file changed.
    pub mac: String,
    pub tenant: String,
    pub extension: String,
    /// The tenant's SIP domain (for From and To).
    pub domain: String,
    /// The contact the phone registered: the Request-URI.
    pub contact: String,
    /// Where the REGISTER came from.
    pub target: SocketAddr,
}

/// The (tenant, extension, domain) of every line of `mac` in `doc`.
fn lines_of(doc: &SiteDoc, endpoint: &Endpoint, mac: &str) -> Vec<(String, String, String)> {
    let Some(tenant) = doc.tenants.iter().find(|t| t.devices.iter().any(|d| d.mac == mac)) else {
        return Vec::new();
    };
    let Some(phone) = phone::phone_config(doc, mac, &endpoint.box_host, endpoint.sip_port) else {
        return Vec::new();
    };
    phone.lines.into_iter().map(|l| (tenant.name.clone(), l.extension, l.domain)).collect()
}

/// The registered contacts that need a NOTIFY because their device's file differs between
/// `old` and `new`. A binding belongs to a device when its extension is one of the device's
/// lines (before or after the change) and its User-Agent names no other MAC. Only UDP
/// bindings are reached (a TCP or TLS phone hears of its changes at its next resync).
pub fn to_notify(old: &SiteDoc, new: &SiteDoc, endpoint: &Endpoint, bindings: &[Binding]) -> Vec<Notify> {
    let body = |doc: &SiteDoc, mac: &str| device_file(doc, endpoint, mac).and_then(Result::ok).map(|r| r.body);
    let mut out = Vec::new();
    let mut sent = HashSet::new();
    for device in new.tenants.iter().flat_map(|t| &t.devices) {
        let mac = device.mac.as_str();
        let now = body(new, mac);
        if now.is_none() || now == body(old, mac) {
            continue;
        }
        let mut lines = lines_of(new, endpoint, mac);
        lines.extend(lines_of(old, endpoint, mac));
        notifies_of(mac, &lines, bindings, &mut sent, &mut out);
    }
    out
}

/// The NOTIFYs that reach the registered contacts of `mac`'s lines: a reprovision asked for by
/// hand (the cloud's `reprovision` command), whether or not its file changed.
pub fn for_device(doc: &SiteDoc, endpoint: &Endpoint, bindings: &[Binding], mac: &str) -> Vec<Notify> {
    let mut out = Vec::new();
    notifies_of(mac, &lines_of(doc, endpoint, mac), bindings, &mut HashSet::new(), &mut out);
    out
}

/// Adds to `out` a NOTIFY for each UDP binding of one of `lines` whose User-Agent names no
/// other MAC, once per (target, contact) in `sent`.
fn notifies_of(
    mac: &str,
    lines: &[(String, String, String)],
    bindings: &[Binding],
    sent: &mut HashSet<(SocketAddr, String)>,
    out: &mut Vec<Notify>,
) {
    for b in bindings {
        let Some((_, _, domain)) = lines.iter().find(|(t, x, _)| *t == b.tenant && *x == b.aor) else {
            continue;
        };
        let (_, _, ua_mac) = identify::parse_user_agent(&b.user_agent);
        if ua_mac.is_some_and(|m| m != mac) {
            continue;
        }
        let Some(target) = b.source.strip_prefix("udp:").and_then(|a| a.parse::<SocketAddr>().ok()) else {
            continue;
        };
        if sent.insert((target, b.contact.clone())) {
            out.push(Notify {
                mac: mac.to_owned(),
                tenant: b.tenant.clone(),
                extension: b.aor.clone(),
                domain: domain.clone(),
                contact: b.contact.clone(),
                target,
            });
        }
    }
}

/// Sends check-sync to the phone `mac` now: how many of its registrations answered 2xx.
pub async fn reprovision(prov: &Provisioner, mac: &str) -> Result<usize, String> {
    let doc = prov.doc().await.map_err(|e| e.to_string())?;
    let now = crate::store::unix_now();
    let bindings = prov.store.call(move |s| s.bindings(now)).await.map_err(|e| e.to_string())?;
    let notifies = for_device(&doc, &prov.endpoint, &bindings, mac);
    if notifies.is_empty() {
        return Err(format!("no phone {mac} is registered over UDP with a line of this site"));
    }
    let mut answered = 0;
    for n in &notifies {
        match send(n, &prov.endpoint.box_host).await {
            Ok(Some(code)) if (200..300).contains(&code) => answered += 1,
            Ok(other) => {
                tracing::info!(mac = %n.mac, target = %n.target, answer = ?other, "reprovision NOTIFY not accepted")
            }
            Err(e) => tracing::warn!(mac = %n.mac, target = %n.target, error = %e, "reprovision NOTIFY not sent"),
        }
    }
    Ok(answered)
}

/// Identifiers of one NOTIFY transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub call_id: String,
    pub tag: String,
    pub branch: String,
}

impl Ids {
    pub fn random() -> Ids {
        let hex = || crate::store::secrets::random_bytes::<8>().map(hex::encode).unwrap_or_default();
        Ids { call_id: hex() + &hex(), tag: hex(), branch: format!("z9hG4bK{}", hex()) }
    }
}

/// The NOTIFY for `n`, sent from `local`, from the box at `box_host`.
pub fn notify_message(n: &Notify, local: SocketAddr, box_host: &str, ids: &Ids) -> Vec<u8> {
    format!(
        "NOTIFY {contact} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:outpost@{domain}>;tag={tag}\r\n\
         To: <sip:{ext}@{domain}>\r\n\
         Call-ID: {call_id}@{box_host}\r\n\
         CSeq: 1 NOTIFY\r\n\
         Contact: <sip:outpost@{local}>\r\n\
         Event: check-sync\r\n\
         Subscription-State: terminated\r\n\
         User-Agent: Outpost/{version}\r\n\
         Content-Length: 0\r\n\r\n",
        contact = n.contact,
        branch = ids.branch,
        domain = n.domain,
        tag = ids.tag,
        ext = n.extension,
        call_id = ids.call_id,
        version = env!("CARGO_PKG_VERSION"),
    )
    .into_bytes()
}

/// Retransmission intervals of the NOTIFY (Timer E doubling from T1), then give up.
const RETRANSMIT: [Duration; 5] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(4),
];

/// Sends one NOTIFY and waits for its final answer; returns the status code, or `None` when
/// nothing answered.
pub async fn send(n: &Notify, box_host: &str) -> std::io::Result<Option<u16>> {
    let any: SocketAddr = if n.target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(any).await?;
    socket.connect(n.target).await?;
    let ids = Ids::random();
    let message = notify_message(n, socket.local_addr()?, box_host, &ids);
    let mut buf = vec![0u8; crate::sip::message::MAX_MESSAGE];
    for wait in RETRANSMIT {
        socket.send(&message).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await else { break };
            let len = match received {
                Ok(len) => len,
                // ICMP port unreachable: nobody listens there any more.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(None),
                Err(e) => return Err(e),
            };
            match final_status(&buf[..len], &ids) {
                Some(code) if code >= 200 => return Ok(Some(code)),
                _ => continue,
            }
        }
    }
    Ok(None)
}

/// The status code of a response to our NOTIFY (matched by Call-ID), if `bytes` is one.
fn final_status(bytes: &[u8], ids: &Ids) -> Option<u16> {
    let text = std::str::from_utf8(bytes).ok()?;
    let response = rsip::Response::try_from(text).ok()?;
    let ours = text.lines().any(|l| {
        let l = l.trim();
        let value = l.strip_prefix("Call-ID:").or_else(|| l.strip_prefix("i:")).unwrap_or("");
        value.trim().starts_with(&ids.call_id)
    });
    ours.then(|| response.status_code.code())
}

/// Concurrent NOTIFYs at most (each holds a socket).
const MAX_IN_FLIGHT: usize = 64;

/// The check-sync service: polls the site revision every second and notifies the phones whose
/// file changed.
pub async fn run(prov: Arc<Provisioner>, cancel: CancellationToken) -> anyhow::Result<()> {
    let mut old = prov.doc().await?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            _ = every.tick() => {}
        }
        let new = match prov.doc().await {
            Ok(doc) => doc,
            Err(e) => {
                tracing::error!(error = %e, "check-sync: cannot read the site config");
                continue;
            }
        };
        if new.revision == old.revision {
            continue;
        }
        let now = crate::store::unix_now();
        let bindings = match prov.store.call(move |s| s.bindings(now)).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "check-sync: cannot read the registrations");
                continue;
            }
        };
        let (before, after, endpoint) = (old.clone(), new.clone(), prov.endpoint.clone());
        let decided = tokio::task::spawn_blocking(move || to_notify(&before, &after, &endpoint, &bindings)).await;
        old = new;
        let notifies = match decided {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "check-sync: deciding failed");
                continue;
            }
        };
        if !notifies.is_empty() {
            tracing::info!(revision = ?old.revision, phones = notifies.len(), "check-sync: notifying changed phones");
        }
        for n in notifies {
            let Ok(permit) = slots.clone().acquire_owned().await else { break };
            let (host, token) = (prov.endpoint.box_host.clone(), cancel.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let result = tokio::select! {
                    () = token.cancelled() => return,
                    r = send(&n, &host) => r,
                };
                match result {
                    Ok(Some(code)) => {
                        tracing::info!(mac = %n.mac, extension = %n.extension, target = %n.target, code, "check-sync NOTIFY answered")
                    }
                    Ok(None) => {
                        tracing::warn!(mac = %n.mac, extension = %n.extension, target = %n.target, "check-sync NOTIFY not answered")
                    }
                    Err(e) => tracing::warn!(mac = %n.mac, target = %n.target, error = %e, "check-sync NOTIFY failed"),
                }
            });
        }
    }
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

    fn binding(tenant: &str, ext: &str, source: &str, ua: &str) -> Binding {
        let addr = source.split_once(':').map_or(source, |(_, a)| a);
        Binding {
            tenant: tenant.into(),
            aor: ext.into(),
            contact: format!("sip:{ext}@{addr}"),
            expires_at: 0,
            source: source.into(),
            user_agent: ua.into(),
            call_id: "c".into(),
            cseq: 1,
        }
    }

    fn rename(doc: &mut SiteDoc, tenant: &str, ext: &str, name: &str) {
        let t = doc.tenants.iter_mut().find(|t| t.name == tenant).unwrap();
        t.extensions.iter_mut().find(|x| x.number == ext).unwrap().name = name.into();
    }

    const YEALINK_UA: &str = "Yealink SIP-T54W 96.86.0.100 80:5e:c0:11:22:33";

    fn bindings() -> Vec<Binding> {
        vec![
            binding("acme", "101", "udp:192.168.10.50:5060", YEALINK_UA),
            // A softphone on the same extension: its User-Agent names another MAC.
            binding("acme", "101", "udp:192.168.10.60:5060", "Yealink SIP-T46U 108.86.0.20 80:5e:c0:99:99:99"),
            // The same extension over TCP: not reachable from here.
            binding("acme", "101", "tcp:192.168.10.51:40000", "Zoiper"),
            binding("acme", "102", "udp:192.168.10.52:5060", "PolycomVVX-VVX_450-UA/6.4.0.0001"),
            // 101 of the other tenant.
            binding("bright", "101", "udp:192.168.10.53:5060", "Fanvil X4U 2.12.1 0c383e445566"),
        ]
    }

    #[test]
    fn nothing_changed_nobody_notified() {
        let doc = site();
        assert!(to_notify(&doc, &doc.clone(), &endpoint(), &bindings()).is_empty());
    }

    #[test]
    fn only_the_phone_whose_file_changed_is_notified() {
        let old = site();
        let mut new = old.clone();
        rename(&mut new, "acme", "101", "Alice Front Desk");
        let n = to_notify(&old, &new, &endpoint(), &bindings());
        assert_eq!(
            n,
            vec![Notify {
                mac: "80:5e:c0:11:22:33".into(),
                tenant: "acme".into(),
                extension: "101".into(),
                domain: "acme.pbx.local".into(),
                contact: "sip:101@192.168.10.50:5060".into(),
                target: "192.168.10.50:5060".parse().unwrap(),
            }]
        );
    }

    #[test]
    fn a_change_elsewhere_in_the_document_notifies_nobody() {
        let old = site();
        let mut new = old.clone();
        // 103 has no phone: its phone-less change reaches no device file.
        rename(&mut new, "acme", "103", "Carol Sales Lead");
        new.tenants[0].trunks[1].max_channels = 8;
        assert!(to_notify(&old, &new, &endpoint(), &bindings()).is_empty());
    }

    #[test]
    fn a_phone_moved_to_another_extension_is_reached_where_it_is_registered() {
        let old = site();
        let mut new = old.clone();
        new.tenants[0].devices[0].extension = Some("103".into());
        let n = to_notify(&old, &new, &endpoint(), &bindings());
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!((n[0].extension.as_str(), n[0].mac.as_str()), ("101", "80:5e:c0:11:22:33"));
    }

    #[test]
    fn the_notify_is_a_sip_request_with_check_sync() {
        let n = Notify {
            mac: "80:5e:c0:11:22:33".into(),
            tenant: "acme".into(),
            extension: "101".into(),
            domain: "acme.pbx.local".into(),
            contact: "sip:101@192.168.10.50:5062;transport=udp".into(),
            target: "192.168.10.50:5062".parse().unwrap(),
        };
        let ids = Ids { call_id: "abc".into(), tag: "t1".into(), branch: "z9hG4bKb1".into() };
        let bytes = notify_message(&n, "192.168.10.2:40000".parse().unwrap(), "192.168.10.2", &ids);
        let text = String::from_utf8(bytes).unwrap();
        let req = rsip::Request::try_from(text.as_str()).unwrap();
        assert_eq!(req.method, rsip::Method::Notify);
        assert!(text.starts_with("NOTIFY sip:101@192.168.10.50:5062;transport=udp SIP/2.0\r\n"));
        for header in [
            "Event: check-sync",
            "Subscription-State: terminated",
            "To: <sip:101@acme.pbx.local>",
            "From: <sip:outpost@acme.pbx.local>;tag=t1",
            "Call-ID: abc@192.168.10.2",
            "CSeq: 1 NOTIFY",
            "Via: SIP/2.0/UDP 192.168.10.2:40000;branch=z9hG4bKb1;rport",
        ] {
            assert!(text.contains(&format!("\r\n{header}\r\n")), "{header}\n{text}");
        }
        let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.10.2:40000;branch=z9hG4bKb1\r\nCall-ID: abc@192.168.10.2\r\nCSeq: 1 NOTIFY\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(final_status(ok.as_bytes(), &ids), Some(200));
        let other = ok.replace("abc@", "zzz@");
        assert_eq!(final_status(other.as_bytes(), &ids), None);
        assert_eq!(final_status(b"garbage", &ids), None);
    }
}
