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
