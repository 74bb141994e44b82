//! `docs/api.yaml` against the live routes of a running box: every documented path and method
//! is routed, no undocumented method is routed on a documented path, and the documented
//! security (login or not) is what the box enforces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_yaml::Value;

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

fn documented() -> Vec<(String, Vec<(String, bool)>)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.yaml")).unwrap();
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    let paths = doc["paths"].as_mapping().unwrap();
    paths
        .iter()
        .map(|(path, item)| {
            let ops = METHODS
                .iter()
                .filter_map(|m| {
                    let op = item.get(*m)?;
                    // `security: []` on an operation means no login.
                    let public = op.get("security").and_then(Value::as_sequence).is_some_and(|s| s.is_empty());
                    Some((m.to_string(), public))
                })
                .collect();
            (path.as_str().unwrap().to_owned(), ops)
        })
        .collect()
}

#[test]
fn every_documented_route_is_live_and_nothing_else_is_routed_on_its_paths() {
    let outpost = common::Outpost::start();
    let spec = documented();
    assert!(spec.len() >= 20, "the spec lists the API: {}", spec.len());
    for (path, ops) in &spec {
        let concrete =
            path.replace("{tenant}", "default").replace("{key}", "no-such-item").replace("{address}", "192.0.2.1");
        for method in METHODS {
            let op = ops.iter().find(|(m, _)| m == method);
            let body = (method == "post" || method == "put").then_some("{}");
            let (code, text) = outpost.curl(&method.to_uppercase(), &concrete, None, body);
            match op {
                None => assert_eq!(code, 405, "{method} {path} is routed but not documented: {text}"),
                Some((_, true)) => {
                    assert!(![401, 404, 405].contains(&code), "{method} {path} is documented as public: {code} {text}")
                }
                Some((_, false)) => assert_eq!(code, 401, "{method} {path} must need a login: {text}"),
            }
        }
    }
    let (code, _) = outpost.curl("GET", "/api/v1/undocumented", None, None);
    assert_eq!(code, 404);
}
