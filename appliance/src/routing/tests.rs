//! Table tests of dialled number → decision over `examples/site.toml` and a document made to
//! exercise forwarding chains, loops, ring groups and emergency numbers; and properties that
//! hold for any input.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::site::{self, Extension, SiteDoc};

const EXAMPLE: &str = include_str!("../../../examples/site.toml");

/// Not validated on purpose: routing must stay total on documents validation would refuse
/// (loops, a chain of six forwards), because the B2BUA may hold one from an older build.
const CHAINS: &str = r#"
schema = 1
[site]
name = "routing tests"

[[tenants]]
name = "acme"
domains = ["acme.test"]
emergency_numbers = ["112"]
extensions = [
    { number = "101" },
    { number = "102", forward_busy = "103", forward_no_answer = "601", no_answer_secs = 15 },
    { number = "103", forward_always = "104" },
    { number = "104", forward_always = "105" },
    { number = "105" },
    { number = "106", forward_always = "107" },
    { number = "107", forward_always = "106" },
    { number = "120", forward_always = "00441234" },
    { number = "121", forward_always = "600" },
    { number = "122", forward_always = "101" },
    { number = "130", forward_busy = "131" },
    { number = "131", forward_busy = "130" },
    { number = "140", forward_no_answer = "555" },
    { number = "141", forward_no_answer = "0301234", no_answer_secs = 30 },
    { number = "142", forward_always = "112" },
    { number = "143", forward_always = "143" },
    { number = "150", forward_always = "151" },
    { number = "151", forward_always = "152" },
    { number = "152", forward_always = "153" },
    { number = "153", forward_always = "154" },
    { number = "154", forward_always = "155" },
    { number = "155", forward_always = "156" },
    { number = "156" },
]
ring_groups = [
    { number = "600", strategy = "simultaneous", members = ["101", "102"], member_timeout = 25 },
    { number = "601", strategy = "sequential", members = ["101", "105"], member_timeout = 10 },
    { number = "602", strategy = "sequential", members = ["101"] },
]
inbound_routes = [
    { did = "+4940123450", destination = "601" },
    { did = "+4940123451", destination = "101" },
]
trunks = [{ name = "cloud", role = "cloud", host = "pbx.test", transport = "udp" }]
outbound_routes = [
    { name = "national", pattern = "0Z.", trunks = ["cloud"] },
    { name = "international", pattern = "00.", trunks = ["cloud"] },
]

[[tenants]]
name = "other"
domains = ["other.test"]
extensions = [{ number = "101" }, { number = "777" }]
"#;

fn chains() -> SiteDoc {
    toml::from_str(CHAINS).expect("the CHAINS document parses")
}

/// A decision in a few characters, so that a table row reads as one line: steps as
/// `101+102@25s` (members rung together, for how long) joined by ` then `, forwards in
/// brackets, `out N`, `emergency N`, `reject CODE`.
fn render(d: &Decision) -> String {
    match d {
        Decision::Local(plan) => {
            let steps: Vec<String> = plan
                .steps
                .iter()
                .map(|s| {
                    let who = s.extensions.join("+");
                    match s.ring_for {
                        Some(t) => format!("{who}@{}s", t.as_secs()),
                        None => who,
                    }
                })
                .collect();
            let mut out = steps.join(" then ");
            if let Some(b) = &plan.on_busy {
                out.push_str(&format!(" busy→({})", render(b)));
            }
            if let Some(n) = &plan.on_no_answer {
                out.push_str(&format!(" noanswer→({})", render(n)));
            }
            out
        }
        Decision::Trunk(p) if p.emergency => format!("emergency {}", p.number),
        Decision::Trunk(p) => format!("out {}", p.number),
        Decision::Reject { code, .. } => format!("reject {code}"),
    }
}

fn call(doc: &SiteDoc, tenant: &str, caller: &str, dialled: &str) -> Decision {
    route(doc, &CallRequest { tenant, caller, dialled })
}

fn check_table(doc: &SiteDoc, table: &[(&str, &str, &str, &str)]) {
    let mut wrong = Vec::new();
    for &(tenant, caller, dialled, want) in table {
        let got = render(&call(doc, tenant, caller, dialled));
        if got != want {
            wrong.push(format!("{tenant} {caller} → {dialled:?}: want `{want}`, got `{got}`"));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn example_site_table() {
    let doc = site::from_toml(EXAMPLE).expect("examples/site.toml is valid");
    check_table(
        &doc,
        &[
            ("acme", "101", "102", "102"),
            ("acme", "101", "600", "102+103@25s"),
            ("acme", "102", "600", "103@25s"),
            ("acme", "101", "+4940123450", "102+103@25s"),
            ("acme", "101", "112", "emergency 112"),
            // acme lists only 112; 911 is an ordinary number there, and none it routes.
            ("acme", "101", "911", "reject 404"),
            ("acme", "101", "0301234", "out 0301234"),
            ("acme", "101", "00441234", "out 00441234"),
            ("acme", "101", "555", "reject 404"),
            ("acme", "101", "101", "reject 486"),
            ("bright", "101", "102", "102"),
            ("bright", "101", "911", "emergency 911"),
            // bright's one outbound route is `X.`: whatever is not local goes out, even the
            // 103 that only acme has.
            ("bright", "101", "103", "out 103"),
            ("bright", "101", "600", "out 600"),
            ("bright", "101", "1a", "reject 484"),
        ],
    );
}

#[test]
fn chains_table() {
    let doc = chains();
    check_table(
        &doc,
        &[
            ("acme", "101", "101", "reject 486"),
            ("acme", "101", "105", "105"),
            ("acme", "101", "102", "102@15s busy→(105) noanswer→(105@10s)"),
            ("acme", "101", "103", "105"),
            ("acme", "101", "106", "reject 482"),
            ("acme", "101", "143", "reject 482"),
            ("acme", "101", "150", "reject 483"),
            ("acme", "101", "151", "156"),
            ("acme", "101", "120", "out 00441234"),
            ("acme", "101", "121", "102@25s"),
            ("acme", "101", "122", "122"),
            ("acme", "105", "122", "101"),
            ("acme", "101", "130", "130 busy→(131)"),
            ("acme", "101", "140", "140"),
            ("acme", "101", "141", "141@30s noanswer→(out 0301234)"),
            ("acme", "101", "142", "emergency 112"),
            ("acme", "101", "600", "102@25s"),
            ("acme", "105", "600", "101+102@25s"),
            ("acme", "105", "601", "101@10s"),
            ("acme", "101", "601", "105@10s"),
            ("acme", "+4917012345", "601", "101@10s then 105@10s"),
            ("acme", "101", "602", "reject 480"),
            ("acme", "105", "602", "101@20s"),
            ("acme", "105", "+4940123450", "101@10s"),
            ("acme", "105", "+4940123451", "101"),
            ("acme", "101", "+4940123451", "reject 486"),
            ("acme", "101", "112", "emergency 112"),
            ("acme", "101", "911", "reject 404"),
            ("acme", "101", "555", "reject 404"),
            ("acme", "101", "0301234", "out 0301234"),
            ("acme", "101", "", "reject 484"),
            ("acme", "101", "10a", "reject 484"),
            ("acme", "101", "1+1", "reject 484"),
            ("acme", "101", "sip:105@acme.test", "reject 484"),
            // Tenants never cross: acme's 105 is unknown to other, which has no outbound route.
            ("other", "101", "105", "reject 404"),
            ("other", "101", "777", "777"),
            ("other", "101", "911", "emergency 911"),
            // An unknown tenant still reaches the emergency services.
            ("ghost", "101", "112", "emergency 112"),
            ("ghost", "101", "911", "emergency 911"),
            ("ghost", "101", "101", "reject 404"),
        ],
    );
}

fn reason(d: Decision) -> String {
    match d {
        Decision::Reject { reason, .. } => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn plan(d: Decision) -> Plan {
    match d {
        Decision::Local(plan) => plan,
        other => panic!("expected a local plan, got {other:?}"),
    }
}

#[test]
fn rejections_say_why() {
    let doc = chains();
    let r = |tenant, caller, dialled| reason(call(&doc, tenant, caller, dialled));
    assert_eq!(r("acme", "101", "555"), "no extension or ring group 555 in tenant acme");
    assert_eq!(r("other", "101", "105"), "no extension or ring group 105 in tenant other");
    assert_eq!(r("acme", "101", "101"), "extension 101 called itself");
    assert_eq!(r("acme", "101", "106"), "forwarding loop: 106 → 107 → 106");
    assert_eq!(r("acme", "101", "143"), "forwarding loop: 143 → 143");
    assert_eq!(r("acme", "101", "150"), "more than 5 forwards: 150 → 151 → 152 → 153 → 154 → 155 → 156");
    assert_eq!(r("acme", "101", "602"), "ring group 602 has no member to ring but the caller");
    assert_eq!(r("ghost", "101", "101"), "no tenant `ghost` on this box");
    assert_eq!(
        r("acme", "101", "10a"),
        "`10a` cannot be dialled: `a` is not allowed: a number is digits, `*`, `#` and a leading `+`"
    );
    assert_eq!(r("acme", "101", ""), "`` cannot be dialled: nothing was dialled");
    assert_eq!(
        r("acme", "101", "1\r\n"),
        "`1\\r\\n` cannot be dialled: `\\r` is not allowed: a number is digits, `*`, `#` and a leading `+`"
    );
}

#[test]
fn plans_say_why() {
    let doc = chains();
    let why = |caller, dialled| plan(call(&doc, "acme", caller, dialled)).why;
    assert_eq!(why("101", "105"), "extension 105");
    assert_eq!(why("101", "103"), "103 forwards always to 104, 104 forwards always to 105");
    assert_eq!(why("101", "121"), "121 forwards always to 600, ring group 600 (simultaneous)");
    assert_eq!(why("101", "601"), "ring group 601 (sequential)");
    assert_eq!(why("101", "122"), "122 forwards always to 101, the caller: not followed");
    assert_eq!(why("105", "+4940123450"), "inbound route +4940123450 to 601, ring group 601 (sequential)");
    assert_eq!(
        why("101", "140"),
        "extension 140; no-answer forward to 555 not followed: no extension or ring group 555 in tenant acme"
    );
    let busy = plan(call(&doc, "acme", "101", "130")).on_busy.map(|b| b.why());
    assert_eq!(busy.as_deref(), Some("extension 131; busy forward to 130 not followed: 130 is already on the way"));
}

#[test]
fn no_answer_rings_for_no_answer_secs_and_groups_for_member_timeout() {
    let doc = chains();
    let p = plan(call(&doc, "acme", "101", "102"));
    assert_eq!(p.steps[0].ring_for, Some(Duration::from_secs(15)));
    let p = plan(call(&doc, "acme", "101", "105"));
    assert_eq!(p.steps[0].ring_for, None, "no forward on no answer: ring until answered or refused");
    let p = plan(call(&doc, "acme", "+4917012345", "601"));
    assert_eq!(p.extensions().collect::<Vec<_>>(), ["101", "105"]);
}

#[test]
fn forwarding_fields_round_trip_and_stay_out_of_old_documents() {
    let doc = site::from_toml(EXAMPLE).expect("valid");
    let text = site::to_toml(&doc);
    assert!(!text.contains("forward") && !text.contains("no_answer_secs"), "{text}");
    let mut doc = doc;
    doc.tenants[0].extensions[0].forward_busy = Some("102".into());
    doc.tenants[0].extensions[0].no_answer_secs = 30;
    let again = site::from_toml(&site::to_toml(&doc)).expect("valid");
    assert_eq!(again, doc);
}

/// Every extension a decision rings, through all its forwards.
fn rung(d: &Decision, out: &mut Vec<String>) {
    if let Decision::Local(plan) = d {
        out.extend(plan.extensions().map(str::to_owned));
        for next in [&plan.on_busy, &plan.on_no_answer].into_iter().flatten() {
            rung(next, out);
        }
    }
}

/// The longest path of forwards in a decision tree.
fn depth(d: &Decision) -> usize {
    match d {
        Decision::Local(plan) => {
            [&plan.on_busy, &plan.on_no_answer].into_iter().flatten().map(|n| 1 + depth(n)).max().unwrap_or(0)
        }
        _ => 0,
    }
}

fn numbers_of(doc: &SiteDoc, tenant: &str) -> Vec<String> {
    doc.tenants
        .iter()
        .filter(|t| t.name == tenant)
        .flat_map(|t| t.extensions.iter().map(|x| x.number.clone()))
        .collect()
}

/// Forwarding targets the property draws from: numbers of both tenants, groups, outside and
/// emergency numbers, garbage.
fn target() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(vec![
        "101",
        "102",
        "103",
        "104",
        "105",
        "106",
        "600",
        "601",
        "777",
        "0301234",
        "112",
        "555",
        "1a",
        "",
        "+4940123450",
        "+4940123451",
    ]))
    .prop_map(|t| t.map(str::to_owned))
}

fn random_forwards() -> impl Strategy<Value = Vec<(Option<String>, Option<String>, Option<String>)>> {
    prop::collection::vec((target(), target(), target()), 6)
}

proptest! {
    #[test]
    fn any_dialled_string_gets_a_decision(
        dialled in prop_oneof!["[0-9*#+]{0,6}", "\\PC{0,40}", Just("101".to_string()), Just("777".to_string())],
        caller in prop::sample::select(vec!["101", "102", "105", "777", "+4917012345", ""]),
        tenant in prop::sample::select(vec!["acme", "other", "ghost"]),
    ) {
        let doc = chains();
        let d = call(&doc, tenant, caller, &dialled);
        let mut names = Vec::new();
        rung(&d, &mut names);
        let own = numbers_of(&doc, tenant);
        for n in names {
            prop_assert!(own.contains(&n), "{n} is not an extension of {tenant}: {d:?}");
        }
        // Other tenants make no difference at all: removing them changes no decision.
        let mut alone = doc.clone();
        alone.tenants.retain(|t| t.name == tenant);
        prop_assert_eq!(call(&alone, tenant, caller, &dialled), d);
    }

    /// Random forwarding everywhere (loops, cross-tenant numbers, garbage): a decision comes
    /// back, names only the caller's tenant, never rings the caller, and follows at most
    /// MAX_FORWARDS forwards down any path.
    #[test]
    fn random_forwarding_stays_bounded_and_inside_the_tenant(
        forwards in random_forwards(),
        dialled in prop::sample::select(vec![
            "101", "102", "103", "104", "105", "106", "600", "601", "777", "+4940123450", "+4940123451",
        ]),
        caller in prop::sample::select(vec!["101", "103", "+4917012345"]),
    ) {
        let mut doc = chains();
        let acme = &mut doc.tenants[0];
        acme.extensions = forwards
            .into_iter()
            .enumerate()
            .map(|(i, (always, busy, no_answer))| Extension {
                number: format!("10{}", i + 1),
                forward_always: always,
                forward_busy: busy,
                forward_no_answer: no_answer,
                ..Default::default()
            })
            .collect();
        let d = call(&doc, "acme", caller, dialled);
        let mut names = Vec::new();
        rung(&d, &mut names);
        let own = numbers_of(&doc, "acme");
        for n in &names {
            prop_assert!(own.contains(n), "{n} is not an extension of acme: {d:?}");
            prop_assert!(n != caller, "the caller {caller} is rung: {d:?}");
        }
        prop_assert!(depth(&d) <= MAX_FORWARDS, "{d:?}");
    }
}
