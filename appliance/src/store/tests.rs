use super::*;
use crate::site::{self, SiteError};

const EXAMPLE: &str = include_str!("../../../examples/site.toml");

fn store() -> Store {
    Store::open_in_memory(SecretBox::from_key(&[7; 32])).unwrap()
}

fn example() -> site::SiteDoc {
    site::from_toml(EXAMPLE).unwrap()
}

#[test]
fn apply_then_export_gives_the_document_back() {
    let s = store();
    let applied = s.apply_site(example(), "test").unwrap();
    assert_eq!(applied, crate::store::site::Applied { revision: 1, changed: true });
    let mut exported = s.export_site().unwrap();
    assert_eq!(exported.revision, Some(1));
    exported.revision = None;
    assert_eq!(exported, example());
}

#[test]
fn applying_an_export_is_a_no_op() {
    let s = store();
    s.apply_site(example(), "test").unwrap();
    let exported = s.export_site().unwrap();
    let again = site::from_toml(&site::to_toml(&exported)).unwrap();
    assert_eq!(s.apply_site(again, "test").unwrap(), crate::store::site::Applied { revision: 1, changed: false });
    assert_eq!(s.revision().unwrap(), 1);
    assert_eq!(s.audit_log(10).unwrap().iter().filter(|a| a.action == "config.apply").count(), 1);
}

#[test]
fn each_change_bumps_the_revision_and_is_audited() {
    let s = store();
    s.apply_site(example(), "alice").unwrap();
    let mut doc = s.export_site().unwrap();
    doc.tenants[0].extensions[0].name = "Alice at the desk".into();
    assert_eq!(s.apply_site(doc, "bob").unwrap().revision, 2);
    let log = s.audit_log(10).unwrap();
    assert_eq!(log[0].actor, "bob");
    assert!(log[0].detail.starts_with("revision 1 -> 2"), "{}", log[0].detail);
}

#[test]
fn a_stale_edit_is_refused_and_changes_nothing() {
    let s = store();
    s.apply_site(example(), "test").unwrap();
    let stale = s.export_site().unwrap();
    let mut newer = stale.clone();
    newer.tenants[0].extensions[0].name = "Changed elsewhere".into();
    s.apply_site(newer, "test").unwrap();
    let mut edit = stale;
    edit.site.name = "Renamed".into();
    let err = s.apply_site(edit, "test").unwrap_err();
    assert!(matches!(err, StoreError::Site(SiteError::Conflict { base: 1, current: 2 })), "{err}");
    assert_eq!(s.export_site().unwrap().site.name, "Harbour House");
}

#[test]
fn an_invalid_document_changes_nothing() {
    let s = store();
    s.apply_site(example(), "test").unwrap();
    let mut bad = example();
    bad.tenants[1].domains = bad.tenants[0].domains.clone();
    bad.tenants[0].extensions.clear();
    assert!(matches!(s.apply_site(bad, "test"), Err(StoreError::Site(SiteError::Invalid(_)))));
    let mut now = s.export_site().unwrap();
    now.revision = None;
    assert_eq!(now, example());
}

#[test]
fn secrets_are_encrypted_at_rest_and_kept_when_omitted() {
    let s = store();
    s.apply_site(example(), "test").unwrap();
    let raw: Vec<u8> =
        s.conn().query_row("SELECT secret_enc FROM extensions WHERE number = '101' LIMIT 1", [], |r| r.get(0)).unwrap();
    assert!(!raw.windows(17).any(|w| w == b"correct-horse-101"));

    let mut doc = s.export_site().unwrap();
    doc.tenants[0].extensions[0].secret = None;
    doc.tenants[0].trunks[0].secret = None;
    doc.tenants[0].extensions.push(site::Extension { number: "104".into(), ..Default::default() });
    s.apply_site(doc, "test").unwrap();
    let after = s.export_site().unwrap();
    assert_eq!(after.tenants[0].extensions[0].secret.as_deref(), Some("correct-horse-101"));
    assert_eq!(after.tenants[0].trunks[0].secret.as_deref(), Some("s3cret-trunk-password"));
    let generated = after.tenants[0].extensions[3].secret.clone().unwrap();
    assert_eq!(generated.len(), 16);
}

#[test]
fn a_store_under_another_key_cannot_read_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outpost.db");
    Store::open(&path, SecretBox::from_key(&[1; 32])).unwrap().apply_site(example(), "t").unwrap();
    let other = Store::open(&path, SecretBox::from_key(&[2; 32])).unwrap();
    assert!(matches!(other.export_site(), Err(StoreError::Secret(_))));
}

#[test]
fn committed_config_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outpost.db");
    let key = SecretBox::from_key(&[3; 32]);
    Store::open(&path, key.clone()).unwrap().apply_site(example(), "t").unwrap();
    let reopened = Store::open(&path, key).unwrap();
    assert_eq!(reopened.revision().unwrap(), 1);
    assert_eq!(reopened.export_site().unwrap().tenants.len(), 2);
}

#[test]
fn a_newer_schema_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outpost.db");
    drop(Store::open(&path, SecretBox::from_key(&[3; 32])).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE schema_version SET version = 99", []).unwrap();
    drop(conn);
    let err = Store::open(&path, SecretBox::from_key(&[3; 32])).err().unwrap();
    assert!(matches!(err, StoreError::NewerSchema { found: 99, .. }), "{err}");
}

#[test]
fn first_admin_logs_in_with_the_one_time_password_only() {
    let s = store();
    let password = s.ensure_first_admin().unwrap().unwrap();
    assert_eq!(s.ensure_first_admin().unwrap(), None, "only one first admin");
    assert!(s.login("admin", "wrong").unwrap().is_none());
    assert!(s.login("nobody", &password).unwrap().is_none());
    let (token, session) = s.login("admin", &password).unwrap().unwrap();
    assert!(session.must_change_password);
    assert_eq!(s.session(&token).unwrap().unwrap().username, "admin");
    assert!(s.session("forged-token").unwrap().is_none());
    s.set_password("admin", "a-new-long-password", false, "admin").unwrap();
    assert!(s.session(&token).unwrap().is_none(), "a password change ends old sessions");
    assert!(s.login("admin", &password).unwrap().is_none());
    assert!(s.login("admin", "a-new-long-password").unwrap().is_some());
}

#[test]
fn box_key_file_is_private_and_stable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("box.key");
    let a = SecretBox::load_or_create(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let b = SecretBox::load_or_create(&path).unwrap();
    assert_eq!(b.open_str(&a.seal_str("x").unwrap()).unwrap(), "x");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(SecretBox::load_or_create(&path).is_err());
}

#[test]
fn a_tenants_own_templates_are_kept_in_order_and_go_with_the_tenant() {
    let s = store();
    let mut doc = example();
    let body = |v: &str| format!("# {v}\n{{{{#lines}}}}{{{{extension}}}}{{{{/lines}}}}\n");
    doc.tenants[0].templates = vec![
        site::TemplateOverride { vendor: site::Vendor::Yealink, body: body("yealink") },
        site::TemplateOverride { vendor: site::Vendor::Poly, body: body("poly") },
    ];
    s.apply_site(doc.clone(), "test").unwrap();
    let mut exported = s.export_site().unwrap();
    exported.revision = None;
    assert_eq!(exported.tenants[0].templates, doc.tenants[0].templates);
    doc.tenants.remove(0);
    s.apply_site(doc, "test").unwrap();
    let rows: i64 = s.conn().query_row("SELECT COUNT(*) FROM tenant_templates", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 0, "removed with their tenant");
}
