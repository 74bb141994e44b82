//! What a phone takes from its files: from a device file the SIP account of its first line
//! (user, auth user, password, domain, and where to send: the outbound proxy, else the
//! registrar), from a bootstrap (common) file the HTTPS provisioning URL.
//!
//! An independent reader of each vendor's format, written from the vendors' documented key
//! names and not from the box's templates (it shares no code with the renderer), so that a
//! file the box gets wrong shows up as a phone that does not register. XML is read by a small
//! reader of its own: elements with attributes and text, entities decoded, comments and
//! declarations skipped; that is all these formats use.

use appliance::site::Vendor;

use super::sip::Account;

/// The account a phone found in its device file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The user part of its address of record (the extension).
    pub user: String,
    /// The digest user name.
    pub auth_user: String,
    /// Empty when the file carries none (a device file fetched over TFTP).
    pub password: String,
    /// SIP domain and digest realm.
    pub domain: String,
    /// Where requests go: the outbound proxy, else the registrar (host or address).
    pub server: String,
    pub port: u16,
    pub display_name: String,
}

impl Profile {
    /// The SIP account, when the server is an address (a name would need resolving first).
    pub fn to_account(&self) -> Option<Account> {
        let ip: std::net::IpAddr = self.server.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
        Some(Account {
            user: self.user.clone(),
            domain: self.domain.clone(),
            password: self.password.clone(),
            server: std::net::SocketAddr::new(ip, self.port),
        })
    }
}

/// The account of the first line in a device file, or `None` when there is no usable one
/// (no user, domain or server).
pub fn account(vendor: Vendor, body: &[u8]) -> Option<Profile> {
    let text = std::str::from_utf8(body).ok()?;
    let found = match vendor {
        Vendor::Yealink => yealink(&KeyValues::parse(text, '=')),
        Vendor::Fanvil => fanvil(&KeyValues::parse(text, ':')),
        Vendor::Poly => poly(&Xml::parse(text)?),
        Vendor::Cisco => cisco(&Xml::parse(text)?),
        Vendor::Grandstream => grandstream(&Xml::parse(text)?),
        Vendor::Snom => snom(&Xml::parse(text)?),
        Vendor::Gigaset => gigaset(&Xml::parse(text)?),
    }?;
    let usable = !found.user.is_empty() && !found.domain.is_empty() && !found.server.is_empty() && found.port != 0;
    usable.then_some(found)
}

/// The provisioning URL (the directory, ending in `/`) a bootstrap or device file points
/// the phone at, or `None` when it names none. A Poly master file names none itself: the
/// phone finds it in the files the master lists (`poly_config_files`).
pub fn provisioning_url(vendor: Vendor, body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let url = match vendor {
        Vendor::Yealink => KeyValues::parse(text, '=').get("static.auto_provision.server.url")?.to_owned(),
        Vendor::Fanvil => KeyValues::parse(text, ':').get("Flash Server IP")?.to_owned(),
        Vendor::Poly => Xml::parse(text)?.attr("device.prov.serverName")?.to_owned(),
        Vendor::Cisco => {
            // `[--options ]url`, the file name at the end with its macros ($MA, …).
            let rule = Xml::parse(text)?.text("Profile_Rule")?.to_owned();
            let url = rule.rsplit(' ').next().unwrap_or_default();
            directory(url)
        }
        Vendor::Grandstream => {
            let xml = Xml::parse(text)?;
            let scheme = match xml.text("P212").unwrap_or("0") {
                "1" => "http",
                "2" => "https",
                "3" => "ftp",
                _ => "tftp",
            };
            format!("{scheme}://{}", xml.text("P237")?)
        }
        Vendor::Snom => {
            let xml = Xml::parse(text)?;
            let url = xml.text("setting_server").map(str::to_owned).or_else(|| {
                xml.elements.iter().find(|e| e.name == "file").and_then(|e| e.attr("url")).map(str::to_owned)
            })?;
            directory(&url)
        }
        Vendor::Gigaset => Xml::parse(text)?.value("S_DATA_SERVER")?.to_owned(),
    };
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    Some(if url.ends_with('/') { url.to_owned() } else { format!("{url}/") })
}

/// The files a Poly master file lists (`CONFIG_FILES`), with `[PHONE_MAC_ADDRESS]` replaced
/// by the phone's MAC as Poly writes it (12 lower-case hex digits).
pub fn poly_config_files(master: &[u8], mac: &str) -> Vec<String> {
    let hex: String = mac.chars().filter(char::is_ascii_hexdigit).collect::<String>().to_ascii_lowercase();
    let Some(xml) = std::str::from_utf8(master).ok().and_then(Xml::parse) else { return Vec::new() };
    let Some(files) = xml.attr("CONFIG_FILES") else { return Vec::new() };
    files.split(',').map(|f| f.trim().replace("[PHONE_MAC_ADDRESS]", &hex)).filter(|f| !f.is_empty()).collect()
}

/// `https://h/prov/spa$MA.xml` → `https://h/prov/`.
fn directory(url: &str) -> String {
    match url.rfind('/') {
        Some(i) if url[..i].contains("://") && i > url.find("://").unwrap_or(0) + 2 => url[..=i].to_owned(),
        _ => url.to_owned(),
    }
}

/// `host`, `host:port`, `[v6]:port`, with a `sip:` prefix and `;params` ignored.
fn host_port(value: &str, default_port: u16) -> (String, u16) {
    let value = value.trim().trim_start_matches("sips:").trim_start_matches("sip:");
    let value = value.split(';').next().unwrap_or_default();
    if let Some(rest) = value.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(default_port);
        return (host.to_owned(), port);
    }
    match value.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host.to_owned(), port.parse().unwrap_or(default_port)),
        _ => (value.to_owned(), default_port),
    }
}

// ----- key = value formats (Yealink `key = value`, Fanvil `Key Name   :value`) -----

struct KeyValues {
    pairs: Vec<(String, String)>,
}

impl KeyValues {
    /// Lines `key<sep>value`; `#` comments, `<…>` section lines and others are skipped. The
    /// last of a key wins, as on the phones.
    fn parse(text: &str, separator: char) -> KeyValues {
        let pairs = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim_start().starts_with('<'))
            .filter_map(|l| l.split_once(separator))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        KeyValues { pairs }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn or_empty(&self, key: &str) -> String {
        self.get(key).unwrap_or_default().to_owned()
    }
}

fn yealink(kv: &KeyValues) -> Option<Profile> {
    let key = |k: &str| format!("account.1.{k}");
    if kv.get(&key("enable")) != Some("1") {
        return None;
    }
    let user = kv.or_empty(&key("user_name"));
    let domain = kv.or_empty(&key("sip_server.1.address"));
    let domain_port = kv.get(&key("sip_server.1.port")).and_then(|p| p.parse().ok()).unwrap_or(5060);
    let (server, port) = if kv.get(&key("outbound_proxy_enable")) == Some("1") {
        let port = kv.get(&key("outbound_proxy.1.port")).and_then(|p| p.parse().ok()).unwrap_or(5060);
        (kv.or_empty(&key("outbound_proxy.1.address")), port)
    } else {
        (domain.clone(), domain_port)
    };
    Some(Profile {
        auth_user: kv.get(&key("auth_name")).filter(|a| !a.is_empty()).map_or_else(|| user.clone(), str::to_owned),
        user,
        password: kv.or_empty(&key("password")),
        domain,
        server,
        port,
        display_name: kv.or_empty(&key("display_name")),
    })
}

fn fanvil(kv: &KeyValues) -> Option<Profile> {
    let key = |k: &str| format!("SIP1 {k}");
    if kv.get(&key("Enable Reg")) == Some("0") {
        return None;
    }
    let user = kv.or_empty(&key("Phone Number"));
    let domain = kv.or_empty(&key("Register Addr"));
    let register_port = kv.get(&key("Register Port")).and_then(|p| p.parse().ok()).unwrap_or(5060);
    let (server, port) = match kv.get(&key("Proxy Addr")).filter(|p| !p.is_empty()) {
        Some(proxy) => (proxy.to_owned(), kv.get(&key("Proxy Port")).and_then(|p| p.parse().ok()).unwrap_or(5060)),
        None => (domain.clone(), register_port),
    };
    Some(Profile {
        auth_user: kv.get(&key("Register User")).filter(|a| !a.is_empty()).map_or_else(|| user.clone(), str::to_owned),
        user,
        password: kv.or_empty(&key("Register Pswd")),
        domain,
        server,
        port,
        display_name: kv.or_empty(&key("Display Name")),
    })
}

// ----- XML formats -----

#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    /// The text directly inside, decoded.
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Every element of a document in order, flat: these formats are lists of settings.
struct Xml {
    elements: Vec<Element>,
}

impl Xml {
    /// `None` for anything that is not well-formed enough to read (unclosed tags, quotes).
    fn parse(doc: &str) -> Option<Xml> {
        let mut elements: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut rest = doc;
        loop {
            let next = rest.find('<');
            let text = &rest[..next.unwrap_or(rest.len())];
            if let Some(&i) = open.last() {
                elements[i].text.push_str(&decode(text));
            }
            let Some(start) = next else { break };
            rest = &rest[start..];
            if let Some(after) = rest.strip_prefix("<!--") {
                rest = &after[after.find("-->")? + 3..];
                continue;
            }
            if let Some(after) = rest.strip_prefix("<?") {
                rest = &after[after.find("?>")? + 2..];
                continue;
            }
            if let Some(after) = rest.strip_prefix("<![CDATA[") {
                let end = after.find("]]>")?;
                if let Some(&i) = open.last() {
                    elements[i].text.push_str(&after[..end]);
                }
                rest = &after[end + 3..];
                continue;
            }
            let end = tag_end(rest)?;
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let i = open.pop()?;
                if elements[i].name != name.trim() {
                    return None;
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
            let mut element = Element { name: tag[..name_end].to_owned(), ..Element::default() };
            let mut attrs = tag[name_end..].trim_start();
            while !attrs.is_empty() {
                let (name, after) = attrs.split_once('=')?;
                let after = after.trim_start();
                let quote = after.chars().next().filter(|q| *q == '"' || *q == '\'')?;
                let close = after[1..].find(quote)? + 1;
                element.attrs.push((name.trim().to_owned(), decode(&after[1..close])));
                attrs = after[close + 1..].trim_start();
            }
            elements.push(element);
            if !self_closing {
                open.push(elements.len() - 1);
            }
        }
        open.is_empty().then_some(Xml { elements })
    }

    /// The text of the first element named `name`.
    fn text(&self, name: &str) -> Option<&str> {
        self.elements.iter().find(|e| e.name == name).map(|e| e.text.trim())
    }

    /// The `value` attribute of the first element named `name` (Gigaset's form).
    fn value(&self, name: &str) -> Option<&str> {
        self.elements.iter().find(|e| e.name == name).and_then(|e| e.attr("value"))
    }

    /// The attribute `name` on whichever element has it (Poly's form).
    fn attr(&self, name: &str) -> Option<&str> {
        self.elements.iter().find_map(|e| e.attr(name))
    }

    fn or_empty(found: Option<&str>) -> String {
        found.unwrap_or_default().to_owned()
    }
}

/// The `>` that ends the tag at the start of `s`, outside quotes.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Decodes the five named entities and numeric ones; anything else stays as written.
fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn poly(xml: &Xml) -> Option<Profile> {
    let attr = |k: &str| xml.attr(&format!("reg.1.{k}"));
    let address = attr("address")?;
    let (user, at_domain) = address.split_once('@').map_or((address, None), |(u, d)| (u, Some(d)));
    let domain = attr("server.1.address").or(at_domain).unwrap_or_default().to_owned();
    let domain_port = attr("server.1.port").and_then(|p| p.parse().ok()).unwrap_or(5060);
    let (server, port) = match attr("outboundProxy.address").filter(|a| !a.is_empty()) {
        Some(proxy) => (proxy.to_owned(), attr("outboundProxy.port").and_then(|p| p.parse().ok()).unwrap_or(5060)),
        None => (domain.clone(), domain_port),
    };
    Some(Profile {
        user: user.to_owned(),
        auth_user: attr("auth.userId").filter(|a| !a.is_empty()).unwrap_or(user).to_owned(),
        password: Xml::or_empty(attr("auth.password")),
        domain,
        server,
        port,
        display_name: Xml::or_empty(attr("displayName")),
    })
}

fn cisco(xml: &Xml) -> Option<Profile> {
    let text = |k: &str| xml.text(k);
    if text("Line_Enable_1_").is_some_and(|e| e.eq_ignore_ascii_case("no")) {
        return None;
    }
    let user = text("User_ID_1_")?.to_owned();
    let (domain, domain_port) = host_port(text("Proxy_1_")?, 5060);
    let use_proxy = text("Use_Outbound_Proxy_1_").is_some_and(|u| u.eq_ignore_ascii_case("yes"));
    let (server, port) = match text("Outbound_Proxy_1_").filter(|p| use_proxy && !p.is_empty()) {
        Some(proxy) => host_port(proxy, 5060),
        None => (domain.clone(), domain_port),
    };
    let use_auth_id = text("Use_Auth_ID_1_").is_some_and(|u| u.eq_ignore_ascii_case("yes"));
    let auth_user = text("Auth_ID_1_").filter(|a| use_auth_id && !a.is_empty()).unwrap_or(&user).to_owned();
    Some(Profile {
        auth_user,
        user,
        password: Xml::or_empty(text("Password_1_")),
        domain,
        server,
        port,
        display_name: Xml::or_empty(text("Display_Name_1_")),
    })
}

fn grandstream(xml: &Xml) -> Option<Profile> {
    let text = |k: &str| xml.text(k);
    if text("P271") == Some("0") {
        return None;
    }
    let user = text("P35")?.to_owned();
    let (domain, domain_port) = host_port(text("P47")?, 5060);
    let (server, port) = match text("P48").filter(|p| !p.is_empty()) {
        Some(proxy) => host_port(proxy, 5060),
        None => (domain.clone(), domain_port),
    };
    Some(Profile {
        auth_user: text("P36").filter(|a| !a.is_empty()).unwrap_or(&user).to_owned(),
        user,
        password: Xml::or_empty(text("P34")),
        domain,
        server,
        port,
        display_name: Xml::or_empty(text("P3")),
    })
}

fn snom(xml: &Xml) -> Option<Profile> {
    // `<user_name1>` or `<user_name idx="1">`: both are Snom's.
    let get = |k: &str| {
        xml.text(&format!("{k}1"))
            .or_else(|| xml.elements.iter().find(|e| e.name == k && e.attr("idx") == Some("1")).map(|e| e.text.trim()))
    };
    if get("user_active").is_some_and(|a| a == "off") {
        return None;
    }
    let user = get("user_name")?.to_owned();
    let domain = get("user_host")?.to_owned();
    let (server, port) = match get("user_outbound").filter(|o| !o.is_empty()) {
        Some(proxy) => host_port(proxy, 5060),
        None => host_port(&domain, 5060),
    };
    let domain = host_port(&domain, 5060).0;
    Some(Profile {
        auth_user: get("user_pname").filter(|a| !a.is_empty()).unwrap_or(&user).to_owned(),
        user,
        password: Xml::or_empty(get("user_pass")),
        domain,
        server,
        port,
        display_name: Xml::or_empty(get("user_realname")),
    })
}

fn gigaset(xml: &Xml) -> Option<Profile> {
    let value = |k: &str| xml.value(&format!("{k}_1"));
    if value("B_SIP_ACCOUNT_IS_ACTIVE").is_some_and(|a| a == "false" || a == "0") {
        return None;
    }
    let user = value("S_SIP_USER_ID")?.to_owned();
    let domain = value("S_SIP_DOMAIN")?.to_owned();
    let port_of = |k: &str| value(k).and_then(|p| p.parse().ok()).unwrap_or(5060);
    let proxy = value("S_OUTBOUND_PROXY").filter(|p| !p.is_empty() && value("I_OUTBOUND_PROXY_MODE") != Some("0"));
    let (server, port) = match proxy {
        Some(proxy) => (proxy.to_owned(), port_of("I_OUTBOUND_PROXY_PORT")),
        None => match value("S_SIP_REGISTRAR").filter(|r| !r.is_empty()) {
            Some(registrar) => (registrar.to_owned(), port_of("I_SIP_REGISTRAR_PORT")),
            None => (domain.clone(), port_of("I_SIP_SERVER_PORT")),
        },
    };
    Some(Profile {
        auth_user: value("S_SIP_LOGIN_ID").filter(|a| !a.is_empty()).unwrap_or(&user).to_owned(),
        user,
        password: Xml::or_empty(value("S_SIP_PASSWORD")),
        domain,
        server,
        port,
        display_name: Xml::or_empty(value("S_SIP_DISPLAYNAME")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! golden {
        ($name:literal) => {
            include_str!(concat!("../../../appliance/src/provision/golden/", $name)).as_bytes()
        };
    }

    const URL: &str = "https://192.168.10.2:443/prov/";

    /// (vendor, device file with secrets, without, common file, user, domain, password, name)
    #[allow(clippy::type_complexity)]
    const CASES: &[(Vendor, &[u8], &[u8], &[u8], &str, &str, &str, &str)] = &[
        (
            Vendor::Yealink,
            golden!("yealink-device.cfg"),
            golden!("yealink-device-nosecrets.cfg"),
            golden!("yealink-common.cfg"),
            "101",
            "acme.pbx.local",
            "correct-horse-101",
            "Alice Reception",
        ),
        (
            Vendor::Poly,
            golden!("poly-device.cfg"),
            golden!("poly-device-nosecrets.cfg"),
            golden!("poly-common.cfg"),
            "102",
            "acme.pbx.local",
            "battery-staple-102",
            "Bob Sales",
        ),
        (
            Vendor::Fanvil,
            golden!("fanvil-device.cfg"),
            golden!("fanvil-device-nosecrets.cfg"),
            golden!("fanvil-common.cfg"),
            "101",
            "bright.pbx.local",
            "bright-dana-1010",
            "Dana",
        ),
        (
            Vendor::Cisco,
            golden!("cisco-device.xml"),
            golden!("cisco-device-nosecrets.xml"),
            golden!("cisco-common.xml"),
            "103",
            "acme.pbx.local",
            "tr0ub4dor-and-3",
            "Carol & Co <Sales>",
        ),
        (
            Vendor::Grandstream,
            golden!("grandstream-device.xml"),
            golden!("grandstream-device-nosecrets.xml"),
            golden!("grandstream-common.xml"),
            "104",
            "acme.pbx.local",
            "gs-secret-104",
            "Dörte Ünal",
        ),
        (
            Vendor::Snom,
            golden!("snom-device.xml"),
            golden!("snom-device-nosecrets.xml"),
            golden!("snom-common.xml"),
            "105",
            "acme.pbx.local",
            "snom-105-pw",
            "Zoë 東京",
        ),
        (
            Vendor::Gigaset,
            golden!("gigaset-device.xml"),
            golden!("gigaset-device-nosecrets.xml"),
            golden!("gigaset-common.xml"),
            "106",
            "acme.pbx.local",
            "dect-106-pw",
            "Gigaset \"DECT\"",
        ),
    ];

    #[test]
    fn every_vendors_device_file_gives_its_account() {
        for &(vendor, with, without, _, user, domain, password, name) in CASES {
            let p = account(vendor, with).unwrap_or_else(|| panic!("{vendor:?}"));
            assert_eq!((p.user.as_str(), p.auth_user.as_str()), (user, user), "{vendor:?}");
            assert_eq!((p.domain.as_str(), p.password.as_str()), (domain, password), "{vendor:?}");
            assert_eq!((p.server.as_str(), p.port), ("192.168.10.2", 5060), "{vendor:?}: the box is the proxy");
            assert_eq!(p.display_name, name, "{vendor:?}");
            let a = p.to_account().unwrap();
            assert_eq!((a.server, a.user.as_str()), ("192.168.10.2:5060".parse().unwrap(), user));
            let bare = account(vendor, without).unwrap_or_else(|| panic!("{vendor:?}"));
            assert_eq!(bare, Profile { password: String::new(), ..p }, "{vendor:?}: all but the password");
        }
    }

    #[test]
    fn every_bootstrap_points_at_https() {
        for &(vendor, with, without, common, ..) in CASES {
            match vendor {
                // The master names no server; the per-phone file it lists does.
                Vendor::Poly => {
                    assert_eq!(provisioning_url(vendor, common), None);
                    assert_eq!(poly_config_files(common, "00:04:f2:aa:bb:cc"), ["0004f2aabbcc-outpost.cfg"]);
                }
                _ => assert_eq!(provisioning_url(vendor, common).as_deref(), Some(URL), "{vendor:?}"),
            }
            assert_eq!(provisioning_url(vendor, with).as_deref(), Some(URL), "{vendor:?} device file");
            // What a Poly fetches over TFTP after the master moves it to HTTPS too.
            assert_eq!(provisioning_url(vendor, without).as_deref(), Some(URL), "{vendor:?} without secrets");
            assert_eq!(account(vendor, common), None, "{vendor:?}: a bootstrap holds no account");
        }
    }

    #[test]
    fn readers_take_the_other_spellings_too() {
        let snom = br#"<settings><phone-settings><user_name idx="1">7</user_name>
            <user_host idx="1">d.example:5070</user_host></phone-settings></settings>"#;
        let p = account(Vendor::Snom, snom).unwrap();
        assert_eq!(
            (p.user.as_str(), p.domain.as_str(), p.server.as_str(), p.port),
            ("7", "d.example", "d.example", 5070)
        );
        let yealink = b"#!version:1.0.0.1\naccount.1.enable = 1\naccount.1.user_name = 9\n\
                        account.1.sip_server.1.address = 10.0.0.1\n";
        let p = account(Vendor::Yealink, yealink).unwrap();
        assert_eq!((p.auth_user.as_str(), p.server.as_str(), p.port), ("9", "10.0.0.1", 5060));
        assert_eq!(host_port("sip:[::1]:5070;transport=tcp", 5060), ("::1".to_owned(), 5070));
        assert_eq!(decode("a&amp;b&#233;&#x41;&bogus;&"), "a&béA&bogus;&");
        assert!(Xml::parse("<a><b></a>").is_none());
        assert_eq!(account(Vendor::Cisco, b"<flat-profile><User_ID_1_>1</User_ID_1_"), None);
        assert_eq!(account(Vendor::Fanvil, b"\xff\xfe"), None);
    }
}
