use super::*;

#[test]
fn dates_are_rfc1123() {
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(http_date(1_795_548_147), "Tue, 24 Nov 2026 19:22:27 GMT");
}

#[test]
fn users_are_read_from_name_addr_and_addr_spec() {
    assert_eq!(user_of("\"Al\" <sip:101@acme.pbx.local>;tag=1").as_deref(), Some("101"));
    assert_eq!(user_of("sip:102@acme.pbx.local;tag=1").as_deref(), Some("102"));
    assert_eq!(user_of("<sips:103;phone-context=x@h>").as_deref(), Some("103"));
    assert_eq!(user_of("<tel:+4940123>"), None);
    assert_eq!(user_of("<sip:acme.pbx.local>"), None);
}
