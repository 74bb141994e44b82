//! The admin API as an admin uses it, over HTTPS with curl against a running box.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Outpost;
use serde_json::json;

const PASSWORD: &str = "a-good-long-password";

#[test]
fn health_needs_no_login_and_reports_the_revision() {
    let outpost = Outpost::start();
    let (code, body) = outpost.json("GET", "/api/v1/health", None, None);
    assert_eq!(code, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["site_revision"], 1, "the default tenant is revision 1");
}

#[test]
fn the_one_time_password_only_allows_changing_it() {
    let outpost = Outpost::start();
    let login = json!({"username": "admin", "password": outpost.one_time_password}).to_string();
    let (code, body) = outpost.json("POST", "/api/v1/login", None, Some(&login));
    assert_eq!(code, 200);
    assert_eq!(body["must_change_password"], true);
    let token = body["token"].as_str().unwrap();
    let (code, body) = outpost.json("GET", "/api/v1/tenants", Some(token), None);
    assert_eq!(code, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("one-time password"));
    let short = json!({"current": outpost.one_time_password, "new": "short"}).to_string();
    assert_eq!(outpost.curl("POST", "/api/v1/password", Some(token), Some(&short)).0, 422);

    let token = outpost.admin_token(PASSWORD);
    assert_eq!(outpost.curl("GET", "/api/v1/tenants", Some(&token), None).0, 200);
    let (code, _) = outpost.curl("POST", "/api/v1/login", None, Some(&login));
    assert_eq!(code, 401, "the one-time password is gone");
}

#[test]
fn unknown_users_and_wrong_passwords_get_the_same_answer_and_brute_force_is_stopped() {
    let outpost = Outpost::start();
    let wrong_user = outpost.curl("POST", "/api/v1/login", None, Some(r#"{"username":"root","password":"x"}"#));
    let wrong_pass = outpost.curl("POST", "/api/v1/login", None, Some(r#"{"username":"admin","password":"x"}"#));
    assert_eq!(wrong_user, wrong_pass);
    assert_eq!(wrong_user.0, 401);
    for _ in 0..3 {
        outpost.curl("POST", "/api/v1/login", None, Some(r#"{"username":"admin","password":"guess"}"#));
    }
    let right = json!({"username": "admin", "password": outpost.one_time_password}).to_string();
    let (code, body) = outpost.json("POST", "/api/v1/login", None, Some(&right));
    assert_eq!(code, 429, "after five failures even the right password waits: {body}");
}

#[test]
fn requests_without_a_valid_token_get_401() {
    let outpost = Outpost::start();
    assert_eq!(outpost.curl("GET", "/api/v1/tenants", None, None).0, 401);
    assert_eq!(outpost.curl("GET", "/api/v1/tenants", Some("forged"), None).0, 401);
    let token = outpost.admin_token(PASSWORD);
    assert_eq!(outpost.curl("POST", "/api/v1/logout", Some(&token), None).0, 204);
    assert_eq!(outpost.curl("GET", "/api/v1/tenants", Some(&token), None).0, 401, "logged out");
}

#[test]
fn extensions_can_be_added_read_changed_and_removed() {
    let outpost = Outpost::start();
    let t = outpost.admin_token(PASSWORD);
    let base = "/api/v1/tenants/default/extensions";

    let (code, created) = outpost.json("POST", base, Some(&t), Some(r#"{"number":"201","name":"Front desk"}"#));
    assert_eq!(code, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 16, "a secret is generated and shown once");

    let (code, list) = outpost.json("GET", base, Some(&t), None);
    assert_eq!(code, 200);
    assert_eq!(list, json!([{"number": "201", "name": "Front desk"}]), "reads never show secrets");

    let (code, _) = outpost.json("POST", base, Some(&t), Some(r#"{"number":"201"}"#));
    assert_eq!(code, 409, "no duplicates");

    let (code, changed) =
        outpost.json("PUT", &format!("{base}/201"), Some(&t), Some(r#"{"number":"201","name":"Lobby"}"#));
    assert_eq!(code, 200, "{changed}");
    assert_eq!(changed["name"], "Lobby");
    let (_, site) = outpost.json("GET", "/api/v1/site?secrets=true", Some(&t), None);
    assert_eq!(site["tenants"][0]["extensions"][0]["secret"], secret, "an omitted secret is kept");

    let (code, _) = outpost.json("PUT", &format!("{base}/201"), Some(&t), Some(r#"{"number":"202"}"#));
    assert_eq!(code, 400, "the key cannot change under the path");

    assert_eq!(outpost.curl("DELETE", &format!("{base}/201"), Some(&t), None).0, 204);
    assert_eq!(outpost.curl("GET", &format!("{base}/201"), Some(&t), None).0, 404);
    assert_eq!(outpost.curl("DELETE", &format!("{base}/201"), Some(&t), None).0, 404);
    assert_eq!(outpost.curl("GET", "/api/v1/tenants/nope/extensions", Some(&t), None).0, 404);
}

#[test]
fn bad_input_gets_a_reason_and_changes_nothing() {
    let outpost = Outpost::start();
    let t = outpost.admin_token(PASSWORD);
    let base = "/api/v1/tenants/default/extensions";
    let (code, body) = outpost.json("POST", base, Some(&t), Some(r#"{"number": "201""#));
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");
    let (code, body) = outpost.json("POST", base, Some(&t), Some(r#"{"number": "201", "colour": "red"}"#));
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("colour"), "{body}");
    let (code, body) = outpost.json("POST", base, Some(&t), Some(r#"{"number": "2x1"}"#));
    assert_eq!(code, 422);
    assert_eq!(body["reasons"][0]["field"], "tenants[0].extensions[0].number", "{body}");
    let (_, health) = outpost.json("GET", "/api/v1/health", None, None);
    assert_eq!(health["site_revision"], 1, "nothing was applied");
}

#[test]
fn a_change_that_breaks_a_reference_is_refused() {
    let outpost = Outpost::start();
    let t = outpost.admin_token(PASSWORD);
    let base = "/api/v1/tenants/default";
    assert_eq!(outpost.curl("POST", &format!("{base}/extensions"), Some(&t), Some(r#"{"number":"301"}"#)).0, 201);
    let group = r#"{"number":"600","strategy":"sequential","members":["301"]}"#;
    assert_eq!(outpost.curl("POST", &format!("{base}/ring-groups"), Some(&t), Some(group)).0, 201);
    let (code, body) = outpost.json("DELETE", &format!("{base}/extensions/301"), Some(&t), None);
    assert_eq!(code, 422);
    assert_eq!(body["reasons"][0]["field"], "tenants[0].ring_groups[0].members[0]", "{body}");
    let device = r#"{"mac":"80-5E-C0-AA-BB-CC","vendor":"yealink","extension":"301"}"#;
    assert_eq!(outpost.curl("POST", &format!("{base}/devices"), Some(&t), Some(device)).0, 201);
    let (code, dev) = outpost.json("GET", &format!("{base}/devices/805ec0aabbcc"), Some(&t), None);
    assert_eq!(code, 200, "any MAC spelling finds the device");
    assert_eq!(dev["mac"], "80:5e:c0:aa:bb:cc");
}

#[test]
fn tenants_cannot_share_a_domain() {
    let outpost = Outpost::start();
    let t = outpost.admin_token(PASSWORD);
    let other = r#"{"name":"other","domains":["OUTPOST.local"]}"#;
    let (code, body) = outpost.json("POST", "/api/v1/tenants", Some(&t), Some(other));
    assert_eq!(code, 422);
    assert!(body["reasons"][0]["reason"].as_str().unwrap().contains("already used by tenant `default`"), "{body}");
    let fine = r#"{"name":"other","domains":["other.local"],"extensions":[{"number":"100"}]}"#;
    assert_eq!(outpost.curl("POST", "/api/v1/tenants", Some(&t), Some(fine)).0, 201);
}

#[test]
fn a_whole_document_is_applied_and_a_stale_one_is_refused() {
    let outpost = Outpost::start();
    let t = outpost.admin_token(PASSWORD);
    let (_, mut site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    assert_eq!(site["revision"], 1);
    site["site"]["name"] = json!("Renamed");
    let (code, body) = outpost.json("PUT", "/api/v1/site", Some(&t), Some(&site.to_string()));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, json!({"revision": 2, "changed": true}));
    let (code, body) = outpost.json("PUT", "/api/v1/site", Some(&t), Some(&site.to_string()));
    assert_eq!(code, 409, "edited from revision 1, the box is at 2: {body}");
    let (_, audit) = outpost.json("GET", "/api/v1/audit", Some(&t), None);
    assert_eq!(audit[0]["actor"], "api:admin");
    assert_eq!(audit[0]["action"], "config.apply");
}

#[test]
fn metrics_count_requests_and_logins() {
    let outpost = Outpost::start();
    outpost.curl("POST", "/api/v1/login", None, Some(r#"{"username":"admin","password":"nope"}"#));
    let (code, text) = outpost.curl("GET", "/metrics", None, None);
    assert_eq!(code, 200);
    assert!(text.contains("outpost_api_logins_total{result=\"failed\"} 1"), "{text}");
    assert!(text.contains("outpost_http_requests_total{status=\"401\"} 1"), "{text}");
    assert!(text.contains("outpost_site_revision 1"), "{text}");
}
