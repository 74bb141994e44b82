use super::*;

const EXAMPLE: &str = include_str!("../../../examples/site.toml");

fn fields(err: SiteError) -> Vec<String> {
    err.reasons().into_iter().map(|e| e.field).collect()
}

#[test]
fn example_site_is_valid_and_normalised() {
    let doc = from_toml(EXAMPLE).expect("examples/site.toml must be valid");
    assert_eq!(doc.tenants.len(), 2);
    let exts: usize = doc.tenants.iter().map(|t| t.extensions.len()).sum();
    assert_eq!(exts, 5);
    assert_eq!(doc.tenants[0].devices[0].mac, "80:5e:c0:11:22:33");
    assert_eq!(doc.tenants[0].devices[1].mac, "00:04:f2:aa:bb:cc");
}

#[test]
fn toml_round_trip_is_exact() {
    let doc = from_toml(EXAMPLE).unwrap();
    let again = from_toml(&to_toml(&doc)).unwrap();
    assert_eq!(doc, again);
}

#[test]
fn unknown_field_is_named_with_its_line() {
    let text = EXAMPLE.replace("time_zone = \"Europe/Berlin\"", "time_zone = \"Europe/Berlin\"\ntimezone = \"x\"");
    let err = from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("timezone"), "{err}");
    assert!(err.contains("line 9"), "{err}");
}

#[test]
fn every_error_is_reported_at_once() {
    let text = EXAMPLE
        .replace("number = \"103\"", "number = \"1x3\"")
        .replace("pattern = \"0Z.\"", "pattern = \"0.Z\"")
        .replace("range_end = \"192.168.10.199\"", "range_end = \"192.168.11.199\"");
    let got = fields(from_toml(&text).unwrap_err());
    assert!(got.contains(&"tenants[0].extensions[2].number".to_string()), "{got:?}");
    assert!(got.contains(&"tenants[0].outbound_routes[0].pattern".to_string()), "{got:?}");
    assert!(got.contains(&"dhcp_scopes[0].range_end".to_string()), "{got:?}");
    // 103 no longer exists, so the ring group member that names it is reported too.
    assert!(got.contains(&"tenants[0].ring_groups[0].members[1]".to_string()), "{got:?}");
}

#[test]
fn tenants_sharing_a_domain_are_rejected() {
    let text = EXAMPLE.replace("domains = [\"bright.pbx.local\"]", "domains = [\"ACME.pbx.local\"]");
    let err = from_toml(&text).unwrap_err();
    assert!(err.to_string().contains("already used by tenant `acme`"), "{err}");
    assert_eq!(fields(err), vec!["tenants[1].domains[0]"]);
}

#[test]
fn same_extension_number_in_two_tenants_is_fine_but_not_twice_in_one() {
    // Both tenants have a 101 in the example: numbers are scoped per tenant.
    assert!(from_toml(EXAMPLE).is_ok());
    let text = EXAMPLE.replace("number = \"102\"\nname = \"Bob Sales\"", "number = \"101\"\nname = \"Bob Sales\"");
    let got = fields(from_toml(&text).unwrap_err());
    assert!(got.contains(&"tenants[0].extensions[1].number".to_string()), "{got:?}");
}

#[test]
fn a_device_mac_is_unique_across_tenants() {
    let text = EXAMPLE.replace("0c:38:3e:44:55:66", "80-5e-c0-11-22-33");
    assert_eq!(fields(from_toml(&text).unwrap_err()), vec!["tenants[1].devices[0].mac"]);
}

#[test]
fn newer_schema_is_refused_not_misread() {
    let text = EXAMPLE.replace("schema = 1", "schema = 2");
    let err = from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("reads schema 1"), "{err}");
}

#[test]
fn mac_spellings() {
    assert_eq!(normalize_mac("805EC0112233").as_deref(), Some("80:5e:c0:11:22:33"));
    assert_eq!(normalize_mac("805e.c011.2233").as_deref(), Some("80:5e:c0:11:22:33"));
    assert_eq!(normalize_mac("80:5e:c0:11:22"), None);
    assert_eq!(normalize_mac("80:5e:c0:11:22:zz"), None);
}

proptest::proptest! {
    #[test]
    fn validation_never_panics_on_any_text(text in "\\PC{0,400}") {
        let _ = from_toml(&text);
    }

    #[test]
    fn normalised_macs_are_fixed_points(bytes in proptest::array::uniform6(0u8..)) {
        let raw: String = bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join("-");
        let mac = normalize_mac(&raw).unwrap();
        proptest::prop_assert_eq!(normalize_mac(&mac), Some(mac.clone()));
    }
}

/// The example with forwarding set on acme's extensions 101, 102 and 103 (in that order).
fn with_forwarding(f101: &str, f102: &str, f103: &str) -> String {
    EXAMPLE
        .replace("secret = \"correct-horse-101\"", &format!("secret = \"correct-horse-101\"\n{f101}"))
        .replace("secret = \"battery-staple-102\"", &format!("secret = \"battery-staple-102\"\n{f102}"))
        .replace("secret = \"tr0ub4dor-and-3\"", &format!("secret = \"tr0ub4dor-and-3\"\n{f103}"))
}

fn problems(text: &str) -> Vec<String> {
    match from_toml(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.reasons().into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn forwarding_to_extensions_groups_and_outside_numbers_is_accepted() {
    let text = with_forwarding(
        "forward_always = \"600\"",
        "forward_busy = \"103\"\nforward_no_answer = \"0301234567\"\nno_answer_secs = 30",
        "forward_no_answer = \"+4940123450\"",
    );
    let doc = from_toml(&text).expect("valid");
    let x = &doc.tenants[0].extensions[1];
    assert_eq!((x.forward_busy.as_deref(), x.no_answer_secs), (Some("103"), 30));
    assert_eq!(doc.tenants[0].extensions[2].no_answer_secs, 20);
    assert_eq!(from_toml(&to_toml(&doc)).expect("valid"), doc);
}

#[test]
fn bad_forwarding_names_the_field_and_the_reason() {
    let text = with_forwarding(
        "forward_always = \"101\"",
        "forward_busy = \"555\"\nno_answer_secs = 3",
        "forward_no_answer = \"112\"\nforward_busy = \"10a\"",
    );
    let got = problems(&text);
    let want = [
        "tenants[0].extensions[0].forward_always: extension 101 forwards to itself",
        "tenants[0].extensions[1].forward_busy: no extension or ring group 555 in tenant `acme`, and no outbound route takes it",
        "tenants[0].extensions[1].no_answer_secs: must be between 5 and 120 seconds",
        "tenants[0].extensions[2].forward_busy: `10a` is not a number: `a` is not allowed: a number is digits, `*`, `#` and a leading `+`",
        "tenants[0].extensions[2].forward_no_answer: 112 is an emergency number: emergency calls are dialled, never forwarded to",
    ];
    assert_eq!(got, want);
}

#[test]
fn forwarding_to_another_tenants_extension_is_unknown() {
    // Give bright a 105 that acme does not have: acme may not forward to it.
    let text = with_forwarding("forward_always = \"105\"", "", "")
        .replace("number = \"102\"\nname = \"Eve\"", "number = \"105\"\nname = \"Eve\"");
    assert_eq!(
        problems(&text),
        ["tenants[0].extensions[0].forward_always: no extension or ring group 105 in tenant `acme`, and no outbound route takes it"]
    );
}

#[test]
fn forward_always_loops_are_reported_once() {
    let text = with_forwarding("forward_always = \"102\"", "forward_always = \"103\"", "forward_always = \"101\"");
    assert_eq!(problems(&text), ["tenants[0].extensions[0].forward_always: forwarding loop: 101 → 102 → 103 → 101"]);
    // A DID that leads back to the extension is the extension itself.
    let text = with_forwarding("", "", "").replace("destination = \"600\"", "destination = \"101\"");
    let text = text
        .replace("secret = \"correct-horse-101\"", "secret = \"correct-horse-101\"\nforward_busy = \"+4940123450\"");
    assert_eq!(
        problems(&text),
        ["tenants[0].extensions[0].forward_busy: extension 101 forwards to itself (DID +4940123450 leads to it)"]
    );
    // A busy forward back and forth is mutual cover, not a loop: routing stops at the second.
    let text = with_forwarding("forward_busy = \"102\"", "forward_busy = \"101\"", "");
    assert_eq!(problems(&text), Vec::<String>::new());
}

#[test]
fn forward_always_chains_longer_than_routing_follows_are_refused() {
    let mut doc = from_toml(EXAMPLE).expect("valid");
    let acme = &mut doc.tenants[0];
    acme.extensions = (0..7)
        .map(|i| Extension {
            number: format!("20{i}"),
            forward_always: (i < 6).then(|| format!("20{}", i + 1)),
            ..Default::default()
        })
        .collect();
    acme.devices.clear();
    acme.ring_groups.clear();
    acme.inbound_routes.clear();
    let got: Vec<String> = validate(&mut doc).unwrap_err().into_iter().map(|e| e.to_string()).collect();
    assert_eq!(
        got,
        ["tenants[0].extensions[0].forward_always: more than 5 forwards: 200 → 201 → 202 → 203 → 204 → 205 → 206"]
    );
    // Five forwards are fine.
    doc.tenants[0].extensions.remove(0);
    assert_eq!(validate(&mut doc), Ok(()));
}

#[test]
fn a_tenants_own_template_must_render_and_round_trips() {
    let good = "[[tenants.templates]]\nvendor = \"yealink\"\nbody = \"account.1.user_name = {{#lines}}{{extension}}{{/lines}}\\n\"\n";
    let at = EXAMPLE.find("[[tenants.extensions]]").unwrap();
    let with = |tpl: &str| format!("{}{tpl}{}", &EXAMPLE[..at], &EXAMPLE[at..]);
    let doc = from_toml(&with(good)).expect("a template that renders is accepted");
    assert_eq!(doc.tenants[0].templates.len(), 1);
    assert_eq!(from_toml(&to_toml(&doc)).unwrap(), doc, "written and read back unchanged");
    let bad = "[[tenants.templates]]\nvendor = \"yealink\"\nbody = \"line one\\n{{no_such_name}}\\n\"\n";
    let err = from_toml(&with(bad)).unwrap_err();
    let reasons = err.reasons();
    let r = reasons.iter().find(|r| r.field == "tenants[0].templates[0].body").expect("the body is named");
    assert!(r.reason.contains("line 2") && r.reason.contains("no_such_name"), "{}", r.reason);
    let twice = format!("{good}{good}");
    assert!(fields(from_toml(&with(&twice)).unwrap_err()).contains(&"tenants[0].templates[1].vendor".to_owned()));
}

#[test]
fn trunk_and_route_mistakes_are_each_named() {
    let text = EXAMPLE.replace("time_zone = \"Europe/Berlin\"", "time_zone = \"Mars/Olympus\"").replace(
        "[[tenants.inbound_routes]]\ndid = \"+4940123450\"\ndestination = \"600\"\n",
        "[[tenants.inbound_routes]]\ndid = \"+4940123450\"\ndestination = \"600\"\n\n\
         [[tenants.inbound_routes]]\ndid = \"+4940123450\"\ndestination = \"101\"\ndays = [\"monday\"]\nhours = \"8-18\"\n\n\
         [[tenants.inbound_routes]]\ndid = \"+4940123451\"\ndestination = \"sales desk\"\n\n\
         [[tenants.trunks]]\nname = \"sip2\"\nrole = \"fallback\"\nhost = \"sip.example.net\"\ntransport = \"udp\"\n\
         caller_id = \"office\"\ncodecs = [\"PCMA\", \"G.729\"]\n[tenants.trunks.health]\nprobe_interval = 0\ndown_after = 50\n",
    );
    let got = fields(from_toml(&text).unwrap_err());
    for want in [
        "site.time_zone",
        "tenants[0].inbound_routes[1].did",
        "tenants[0].inbound_routes[1].days[0]",
        "tenants[0].inbound_routes[1].hours",
        "tenants[0].inbound_routes[2].destination",
        "tenants[0].trunks[2].caller_id",
        "tenants[0].trunks[2].codecs[1]",
        "tenants[0].trunks[2].health.probe_interval",
        "tenants[0].trunks[2].health.down_after",
    ] {
        assert!(got.iter().any(|f| f == want), "{want} not in {got:?}");
    }
}

#[test]
fn other_sites_need_a_cloud_trunk_and_holidays_must_be_dates() {
    let text = EXAMPLE
        .replace("role = \"cloud\"", "role = \"fallback\"")
        .replace("name = \"acme\"\n", "name = \"acme\"\nholidays = [\"2026-12-25\", \"2026-02-30\"]\n");
    let got = fields(from_toml(&text).unwrap_err());
    assert!(got.contains(&"tenants[0].remote_sites".to_owned()), "{got:?}");
    assert!(got.contains(&"tenants[0].holidays[1]".to_owned()), "{got:?}");
    assert!(!got.contains(&"tenants[0].holidays[0]".to_owned()), "{got:?}");
}
