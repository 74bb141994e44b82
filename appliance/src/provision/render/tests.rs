//! Golden files per vendor and kind (`UPDATE_GOLDEN=1` rewrites them), and the properties every
//! vendor's files must have: no credential where none may be, well-formed XML, values that
//! cannot add keys, Unicode that survives.

use super::*;
use crate::provision::{phone, Line};
use crate::site::SiteDoc;

const URL: &str = "https://192.168.10.2:443/prov/";

fn site() -> SiteDoc {
    crate::site::from_toml(include_str!("../../../../examples/site.toml")).unwrap()
}

fn from_site(mac: &str) -> PhoneConfig {
    phone::phone_config(&site(), mac, "192.168.10.2", 5060).unwrap()
}

/// One phone per vendor: the three of `examples/site.toml`, and the others built here with
/// other transports and zones so that those spellings are covered too.
fn phones() -> Vec<PhoneConfig> {
    let yealink = from_site("80:5e:c0:11:22:33");
    let line = |extension: &str, name: &str, password: &str| Line {
        extension: extension.into(),
        domain: "acme.pbx.local".into(),
        auth_user: extension.into(),
        password: password.into(),
        display_name: name.into(),
        label: extension.into(),
    };
    let other = |vendor, mac: &str, model: &str, transport: &str, zone: &str, line: Line| PhoneConfig {
        mac: mac.into(),
        vendor,
        model: model.into(),
        lines: vec![line],
        sip_transport: transport.into(),
        time_zone: zone.into(),
        ..yealink.clone()
    };
    vec![
        yealink.clone(),
        from_site("00:04:f2:aa:bb:cc"),
        from_site("0c:38:3e:44:55:66"),
        other(
            Vendor::Cisco,
            "00:1b:54:11:22:33",
            "CP-8841-3PCC",
            "tcp",
            "America/New_York",
            line("103", "Carol & Co <Sales>", "tr0ub4dor-and-3"),
        ),
        other(
            Vendor::Grandstream,
            "00:0b:82:11:22:33",
            "GRP2614",
            "tls",
            "Europe/Berlin",
            line("104", "Dörte Ünal", "gs-secret-104"),
        ),
        other(
            Vendor::Snom,
            "00:04:13:11:22:33",
            "D785",
            "tls",
            "Europe/London",
            line("105", "Zoë 東京", "snom-105-pw"),
        ),
        other(
            Vendor::Gigaset,
            "7c:2f:80:11:22:33",
            "N670 IP PRO",
            "udp",
            "Asia/Kolkata",
            line("106", "Gigaset \"DECT\"", "dect-106-pw"),
        ),
    ]
}

fn ext(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::Yealink | Vendor::Poly | Vendor::Fanvil => "cfg",
        _ => "xml",
    }
}

fn build(phone: &PhoneConfig, kind: FileKind, include_secrets: bool) -> Rendered {
    let req = FileRequest { vendor: phone.vendor, kind, mac: Some(phone.mac.clone()) };
    let cx = RenderContext {
        phone: (kind == FileKind::Device).then_some(phone),
        provisioning_url: URL,
        resync_interval: 86_400,
        include_secrets,
    };
    render(&req, &cx).unwrap()
}

/// How many password keys a file has: for `key = value` formats the keys of lines (what is
/// before the separator), for XML the raw markup (a value's `<` and `"` are escaped).
fn password_keys(vendor: Vendor, body: &str) -> usize {
    let in_keys = |separator: char, word: &str| {
        body.lines().filter(|l| l.split(separator).next().is_some_and(|key| key.contains(word))).count()
    };
    let markup = match vendor {
        Vendor::Yealink => return in_keys('=', "password"),
        Vendor::Fanvil => return in_keys(':', "Pswd"),
        Vendor::Poly => "auth.password=\"",
        Vendor::Cisco => "<Password_",
        Vendor::Grandstream => "<P34>",
        Vendor::Snom => "<user_pass",
        Vendor::Gigaset => "<S_SIP_PASSWORD",
    };
    body.matches(markup).count()
}

#[test]
fn golden_files() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/provision/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut stale = Vec::new();
    for phone in phones() {
        let v = phone.vendor.as_str();
        let files = [
            (format!("{v}-common.{}", ext(phone.vendor)), build(&phone, FileKind::Common, false)),
            (format!("{v}-device.{}", ext(phone.vendor)), build(&phone, FileKind::Device, true)),
            (format!("{v}-device-nosecrets.{}", ext(phone.vendor)), build(&phone, FileKind::Device, false)),
        ];
        for (name, rendered) in files {
            let path = format!("{dir}/{name}");
            if update {
                std::fs::write(&path, &rendered.body).unwrap();
            } else if std::fs::read(&path).ok().as_deref() != Some(rendered.body.as_slice()) {
                stale.push(name);
            }
        }
    }
    assert!(stale.is_empty(), "differ from the golden files (check, then UPDATE_GOLDEN=1): {stale:?}");
}

#[test]
fn secrets_only_in_device_files_with_secrets() {
    for phone in phones() {
        let password = &phone.lines[0].password;
        let text = |r: Rendered| String::from_utf8(r.body).unwrap();
        let with = text(build(&phone, FileKind::Device, true));
        assert!(with.contains(password.as_str()), "{:?}: {with}", phone.vendor);
        assert_eq!(password_keys(phone.vendor, &with), 1, "{:?}: {with}", phone.vendor);
        for body in [text(build(&phone, FileKind::Device, false)), text(build(&phone, FileKind::Common, false))] {
            assert!(!body.contains(password.as_str()), "{:?}: {body}", phone.vendor);
            assert_eq!(
                password_keys(phone.vendor, &body),
                0,
                "{:?}: no password key, not even empty: {body}",
                phone.vendor
            );
        }
        // A common file is the same whoever asks: it never even sees the phone.
        let common = build(&phone, FileKind::Common, true);
        assert_eq!(common, build(&phone, FileKind::Common, false));
    }
}

#[test]
fn content_types_follow_the_format() {
    for phone in phones() {
        let r = build(&phone, FileKind::Device, true);
        let xml = r.body.starts_with(b"<?xml");
        assert_eq!(r.content_type.starts_with("application/xml"), xml, "{:?}", phone.vendor);
        assert_eq!(r.content_type.starts_with("text/plain"), !xml, "{:?}", phone.vendor);
    }
}

#[test]
fn xml_files_are_well_formed() {
    for phone in phones() {
        for (kind, secrets) in [(FileKind::Common, false), (FileKind::Device, true), (FileKind::Device, false)] {
            let body = String::from_utf8(build(&phone, kind, secrets).body).unwrap();
            if body.starts_with("<?xml") {
                if let Err(e) = xml_check(&body) {
                    panic!("{:?} {kind:?}: {e}\n{body}", phone.vendor);
                }
            }
        }
    }
    assert!(xml_check("<a><b></a></b>").is_err());
    assert!(xml_check("<a x=\"1\"/><b/>").is_err(), "two roots");
    assert!(xml_check("<a>&</a>").is_err());
    assert!(xml_check("<a x=\"<\"/>").is_err());
}

#[test]
fn display_names_cannot_add_keys() {
    let attacks = [
        "Eve\naccount.1.password = stolen",
        "Eve\r\nSIP1 Register Pswd :stolen",
        "Eve</P3><P34>stolen</P34><P3>",
        "Eve\" reg.1.auth.password=\"stolen",
        "Eve' value='x",
        "Eve]]><user_pass1>stolen</user_pass1>",
    ];
    for phone in phones() {
        let baseline = String::from_utf8(build(&phone, FileKind::Device, false).body).unwrap();
        for attack in attacks {
            let mut evil = phone.clone();
            evil.lines[0].display_name = attack.into();
            evil.lines[0].label = attack.into();
            let body = String::from_utf8(build(&evil, FileKind::Device, false).body).unwrap();
            assert_eq!(body.lines().count(), baseline.lines().count(), "{:?} {attack:?}:\n{body}", phone.vendor);
            assert_eq!(password_keys(phone.vendor, &body), 0, "{:?} {attack:?}:\n{body}", phone.vendor);
            if body.starts_with("<?xml") {
                xml_check(&body).unwrap();
                assert!(!body.contains("<P34>") && !body.contains("<user_pass1>"), "{body}");
            }
        }
    }
}

#[test]
fn unicode_names_survive() {
    for phone in phones() {
        let mut p = phone.clone();
        p.lines[0].display_name = "Zoë Ünal 東京 🎧".into();
        let body = String::from_utf8(build(&p, FileKind::Device, true).body).unwrap();
        assert!(body.contains("Zoë Ünal 東京 🎧"), "{:?}", phone.vendor);
    }
}

#[test]
fn every_line_and_codec_is_written() {
    let mut p = from_site("80:5e:c0:11:22:33");
    let mut second = p.lines[0].clone();
    second.extension = "102".into();
    p.lines.push(second);
    let body = String::from_utf8(build(&p, FileKind::Device, true).body).unwrap();
    assert!(body.contains("account.2.user_name = 102\n"), "{body}");
    assert!(body.contains("account.2.codec.opus.priority = 4\n"), "{body}");
    p.lines.clear();
    let body = String::from_utf8(build(&p, FileKind::Device, true).body).unwrap();
    assert!(!body.contains("account."), "a device without an extension gets no account: {body}");
}

#[test]
fn poly_per_phone_master_is_the_common_file() {
    let poly = from_site("00:04:f2:aa:bb:cc");
    let cx = RenderContext { phone: None, provisioning_url: URL, resync_interval: 60, include_secrets: false };
    let shared = FileRequest { vendor: Vendor::Poly, kind: FileKind::Common, mac: None };
    let own = FileRequest { mac: Some(poly.mac.clone()), ..shared.clone() };
    let body = render(&own, &cx).unwrap();
    assert_eq!(body, render(&shared, &cx).unwrap());
    assert!(String::from_utf8(body.body).unwrap().contains("CONFIG_FILES=\"[PHONE_MAC_ADDRESS]-outpost.cfg\""));
}

#[test]
fn overrides_and_their_errors() {
    let phone = from_site("80:5e:c0:11:22:33");
    let req = FileRequest { vendor: Vendor::Yealink, kind: FileKind::Device, mac: Some(phone.mac.clone()) };
    let cx = RenderContext { phone: Some(&phone), provisioning_url: URL, resync_interval: 90, include_secrets: true };
    let custom = render_with(
        "#!version:1.0.0.1\n{{#lines}}\nx.{{index}} = {{display_name}}\n{{/lines}}\nr = {{resync_minutes}}\n",
        &req,
        &cx,
    );
    assert_eq!(String::from_utf8(custom.unwrap().body).unwrap(), "#!version:1.0.0.1\nx.1 = Alice Reception\nr = 2\n");
    let broken = render_with("#!version:1.0.0.1\n{{#lines}}\nx = {{nope}}\n", &req, &cx);
    assert_eq!(broken, Err(RenderError::Template("line 2: `{{#lines}}` is never closed".into())));
    let typo = render_with("a\nb = {{passwrod}}\n", &req, &cx);
    assert_eq!(typo, Err(RenderError::Template("line 2: unknown name `passwrod`".into())));
    let no_phone = RenderContext { phone: None, ..cx.clone() };
    assert_eq!(render(&req, &no_phone), Err(RenderError::NoPhone("yealink")));
    // Every built-in template parses, for every vendor and kind.
    for vendor in Vendor::ALL {
        for kind in [FileKind::Common, FileKind::Device] {
            Template::parse(builtin_template(vendor, kind)).unwrap();
        }
    }
}

/// A small well-formedness check: one root, nested tags that match, quoted attributes, no raw
/// `<` or `&` in text or values (entities only), comments and the declaration skipped.
fn xml_check(doc: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = doc;
    let entity_ok = |s: &str| {
        s.split('&').skip(1).all(|after| {
            ["amp;", "lt;", "gt;", "quot;", "apos;"].iter().any(|e| after.starts_with(e))
                || after.starts_with('#') && after.contains(';')
        })
    };
    while !rest.is_empty() {
        let Some(open) = rest.find('<') else {
            if !stack.is_empty() || !rest.trim().is_empty() {
                return Err(format!("text outside the root or unclosed {stack:?}"));
            }
            break;
        };
        let text = &rest[..open];
        if !entity_ok(text) || (stack.is_empty() && !text.trim().is_empty()) {
            return Err(format!("bad text {text:?}"));
        }
        rest = &rest[open..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("unclosed comment")?;
            rest = &after[end + 3..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("<?") {
            let end = after.find("?>").ok_or("unclosed declaration")?;
            rest = &after[end + 2..];
            continue;
        }
        // A tag: find its end outside quotes.
        let mut quote = None;
        let mut end = None;
        for (i, c) in rest.char_indices().skip(1) {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (Some(_), '<') => return Err("`<` in an attribute".into()),
                (None, '<') => return Err("`<` in a tag".into()),
                (None, '>') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or("unclosed tag")?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop() != Some(name.trim()) {
                return Err(format!("</{name}> does not close its element"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = &tag[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || "_-.:".contains(c)) {
            return Err(format!("bad element name {name:?}"));
        }
        let mut attrs = tag[name_end..].trim();
        while !attrs.is_empty() {
            let eq = attrs.find('=').ok_or(format!("attribute without value in <{name}>"))?;
            let attr = attrs[..eq].trim();
            if attr.is_empty() || !attr.chars().all(|c| c.is_alphanumeric() || "_-.:".contains(c)) {
                return Err(format!("bad attribute name {attr:?}"));
            }
            let value = attrs[eq + 1..].trim_start();
            let q = value.chars().next().filter(|c| *c == '"' || *c == '\'').ok_or("unquoted attribute")?;
            let close = value[1..].find(q).ok_or("unclosed attribute")?;
            if !entity_ok(&value[1..1 + close]) {
                return Err(format!("bad attribute value {:?}", &value[1..1 + close]));
            }
            attrs = value[close + 2..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    match (roots, stack.is_empty()) {
        (1, true) => Ok(()),
        (n, _) => Err(format!("{n} roots, unclosed {stack:?}")),
    }
}
