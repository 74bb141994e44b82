//! Zero touch, end to end: phone-sim phones of every vendor go from nothing to registered with
//! no human step (TFTP bootstrap → HTTPS device file → REGISTER with the account they read),
//! and a phone the inventory does not list is recorded, adopted through the API, and then
//! provisions itself. On loopback; the DHCP step of the chain is in `dhcp.rs` (namespaces).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use appliance::site::Vendor;
use common::{bin, Extra, Options, Outpost};
use tools::sim::habits::mac_of;

const PASSWORD: &str = "zero-touch-admin";

/// A site with one phone of each vendor: extension 201 on the Yealink, 202 on the Poly, ...
fn site(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::from(
        "schema = 1\n[site]\nname = \"zt\"\ntime_zone = \"Europe/Berlin\"\n\
         [[tenants]]\nname = \"office\"\ndomains = [\"office.pbx.local\"]\n",
    );
    for (i, _) in Vendor::ALL.iter().enumerate() {
        text.push_str(&format!("[[tenants.extensions]]\nnumber = \"{}\"\nname = \"Desk {i}\"\n", 201 + i));
    }
    text.push_str("[[tenants.extensions]]\nnumber = \"299\"\nname = \"Spare\"\n");
    for (i, vendor) in Vendor::ALL.iter().enumerate() {
        text.push_str(&format!(
            "[[tenants.devices]]\nmac = \"{}\"\nvendor = \"{}\"\nextension = \"{}\"\n",
            mac_of(*vendor, 1 + i as u32),
            vendor.as_str(),
            201 + i
        ));
    }
    let path = dir.join("site.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start(dir: &std::path::Path) -> Outpost {
    let options = Options { sip: true, sip_config: String::new(), site: Some(site(dir)) };
    Outpost::start_extra(tempfile::tempdir().unwrap(), &options, &Extra { tftp: true, ..Extra::default() })
}

fn phone_sim(box_: &Outpost, args: &[&str]) -> Output {
    Command::new(bin("phone-sim"))
        .arg("boot")
        .args(args)
        .arg("--cacert")
        .arg(box_.cert())
        .args(["--tftp", &format!("127.0.0.1:{}", box_.tftp_port)])
        .output()
        .unwrap()
}

fn registered(box_: &Outpost, token: &str) -> Vec<String> {
    let (code, list) = box_.json("GET", "/api/v1/registrations", Some(token), None);
    assert_eq!(code, 200, "{list}");
    let mut exts: Vec<String> =
        list.as_array().unwrap().iter().filter_map(|b| b["aor"].as_str().map(str::to_owned)).collect();
    exts.sort();
    exts.dedup();
    exts
}

#[test]
fn a_phone_of_every_vendor_provisions_itself_and_registers() {
    let dir = tempfile::tempdir().unwrap();
    let box_ = start(dir.path());
    let token = box_.admin_token(PASSWORD);
    let vendors: Vec<&str> = Vendor::ALL.iter().map(|v| v.as_str()).collect();
    let out = phone_sim(&box_, &["--vendors", &vendors.join(","), "--count", "7", "--first-mac", "1"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "phone-sim failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("booted 7 of 7"), "{stdout}");
    let expected: Vec<String> = (201..=207).map(|n| n.to_string()).collect();
    assert_eq!(registered(&box_, &token), expected);
    // Each phone registered into its tenant's domain, as its file told it.
    for vendor in Vendor::ALL {
        let line = stdout.lines().find(|l| l.starts_with(&format!("{} ", vendor.as_str()))).unwrap();
        assert!(line.contains("@office.pbx.local"), "{line}");
    }
}

#[test]
fn an_unknown_phone_is_recorded_adopted_and_then_provisions_itself() {
    let dir = tempfile::tempdir().unwrap();
    let box_ = start(dir.path());
    let token = box_.admin_token(PASSWORD);
    let out = phone_sim(&box_, &["--vendors", "grandstream", "--count", "1", "--first-mac", "77"]);
    assert!(!out.status.success(), "an unknown phone gets no account");
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"), "{}", String::from_utf8_lossy(&out.stderr));
    let mac = mac_of(Vendor::Grandstream, 77);
    let (_, found) = box_.json("GET", "/api/v1/devices/discovered", Some(&token), None);
    let entry = found.as_array().unwrap().iter().find(|d| d["mac"] == mac.as_str()).cloned();
    let entry = entry.unwrap_or_else(|| panic!("{mac} not discovered: {found}"));
    assert_eq!(entry["vendor_guess"], "grandstream", "{entry}");
    let (code, body) = box_.json(
        "POST",
        &format!("/api/v1/devices/discovered/{mac}/adopt"),
        Some(&token),
        Some(r#"{"tenant":"office","extension":"299"}"#),
    );
    assert_eq!(code, 201, "{body}");
    let out = phone_sim(&box_, &["--vendors", "grandstream", "--count", "1", "--first-mac", "77"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(registered(&box_, &token), vec!["299".to_owned()]);
}
