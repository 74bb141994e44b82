//! Call forwarding through the admin API, over HTTPS with curl against a running box: set, read,
//! refused with a reason, and kept in the site document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Outpost;
use serde_json::json;

const PASSWORD: &str = "a-good-long-password";

#[test]
fn forwarding_is_set_read_and_bad_targets_are_refused_with_a_reason() {
    let outpost = Outpost::start();
    let t = outpost.admin_token(PASSWORD);
    let base = "/api/v1/tenants/default";
    for ext in [r#"{"number":"201"}"#, r#"{"number":"202"}"#] {
        assert_eq!(outpost.curl("POST", &format!("{base}/extensions"), Some(&t), Some(ext)).0, 201);
    }
    let group = r#"{"number":"600","strategy":"sequential","members":["201","202"]}"#;
    assert_eq!(outpost.curl("POST", &format!("{base}/ring-groups"), Some(&t), Some(group)).0, 201);
    let fwd = |n: &str| format!("{base}/extensions/{n}/forwarding");

    let (code, body) = outpost.json("GET", &fwd("201"), Some(&t), None);
    assert_eq!(code, 200, "{body}");
    let off = json!({"forward_always": null, "forward_busy": null, "forward_no_answer": null, "no_answer_secs": 20});
    assert_eq!(body, off, "nothing is forwarded until someone says so");

    let set = json!({"forward_busy": "202", "forward_no_answer": "600", "no_answer_secs": 30});
    let (code, body) = outpost.json("PUT", &fwd("201"), Some(&t), Some(&set.to_string()));
    assert_eq!(code, 200, "{body}");
    let stored =
        json!({"forward_always": null, "forward_busy": "202", "forward_no_answer": "600", "no_answer_secs": 30});
    assert_eq!(body, stored);
    assert_eq!(outpost.json("GET", &fwd("201"), Some(&t), None).1, stored);
    let (_, site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    let x = &site["tenants"][0]["extensions"][0];
    assert_eq!((&x["forward_busy"], &x["no_answer_secs"]), (&json!("202"), &json!(30)), "{site}");
    let revision = site["revision"].clone();

    // Refused, each with the field and the reason, and nothing changes.
    let refused = |number: &str, body: serde_json::Value, field: &str, reason: &str| {
        let (code, answer) = outpost.json("PUT", &fwd(number), Some(&t), Some(&body.to_string()));
        assert_eq!(code, 422, "{body} → {answer}");
        let reasons = answer["reasons"].as_array().unwrap();
        assert!(
            reasons.iter().any(|r| r["field"] == field && r["reason"].as_str().unwrap().contains(reason)),
            "{body} → {answer}"
        );
    };
    refused(
        "201",
        json!({"forward_always": "555"}),
        "tenants[0].extensions[0].forward_always",
        "no extension or ring group 555 in tenant `default`",
    );
    refused("201", json!({"forward_busy": "201"}), "tenants[0].extensions[0].forward_busy", "forwards to itself");
    refused("201", json!({"forward_always": "112"}), "tenants[0].extensions[0].forward_always", "emergency number");
    refused("201", json!({"forward_no_answer": "20x"}), "tenants[0].extensions[0].forward_no_answer", "not a number");
    refused("201", json!({"no_answer_secs": 3}), "tenants[0].extensions[0].no_answer_secs", "between 5 and 120");
    assert_eq!(outpost.curl("PUT", &fwd("202"), Some(&t), Some(r#"{"forward_always":"201"}"#)).0, 200);
    refused(
        "201",
        json!({"forward_always": "202"}),
        "tenants[0].extensions[0].forward_always",
        "forwarding loop: 201 → 202 → 201",
    );
    assert_eq!(outpost.curl("PUT", &fwd("202"), Some(&t), Some("{}")).0, 200, "an empty body switches forwarding off");
    assert_eq!(outpost.json("GET", &fwd("202"), Some(&t), None).1, off);
    assert_eq!(outpost.json("GET", &fwd("201"), Some(&t), None).1, stored, "refused changes changed nothing");

    // A misspelt field is a bad request, not a silently ignored one.
    let (code, body) = outpost.json("PUT", &fwd("201"), Some(&t), Some(r#"{"forward_allways":"202"}"#));
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("forward_allways"), "{body}");
    assert_eq!(outpost.curl("GET", &fwd("299"), Some(&t), None).0, 404);
    assert_eq!(outpost.curl("GET", "/api/v1/tenants/nobody/extensions/201/forwarding", Some(&t), None).0, 404);
    assert_eq!(outpost.curl("GET", &fwd("201"), None, None).0, 401);

    // Every accepted change is one revision, like any other write; refusals made none.
    let (_, site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    assert_eq!(site["revision"].as_u64().unwrap(), revision.as_u64().unwrap() + 2, "{site}");
}
