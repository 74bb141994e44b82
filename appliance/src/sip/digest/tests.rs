use super::*;

fn md5hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

#[test]
fn rfc2617_md5_example() {
    let c = parse_authorization(
        r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b",
        response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
    )
    .unwrap();
    assert!(c.verify("GET", "Circle Of Life"));
    assert!(!c.verify("GET", "Circle of Life"));
    assert_eq!(c.opaque.as_deref(), Some("5ccc069c403ebaf9f0171e9517f40e41"));
}

#[test]
fn rfc7616_sha256_example() {
    let c = parse_authorization(
        r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256,
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001,
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth,
        response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
    )
    .unwrap();
    assert_eq!(c.algorithm().unwrap(), Algorithm::Sha256);
    assert!(c.verify("GET", "Circle of Life"));
    assert!(!c.verify("GET", "Circle Of Life"));
}

/// What a phone computes for its n-th request on one nonce (nc is hex, 8 digits).
fn phone_response(nc: u32, sess: bool) -> (String, String) {
    let nc = format!("{nc:08x}");
    let mut ha1 = md5hex("101:acme.pbx.local:secret-101");
    if sess {
        ha1 = md5hex(&format!("{ha1}:abc:c0ffee"));
    }
    let ha2 = md5hex("REGISTER:sip:acme.pbx.local");
    let response = md5hex(&format!("{ha1}:abc:{nc}:c0ffee:auth:{ha2}"));
    let alg = if sess { "MD5-sess" } else { "MD5" };
    let header = format!(
        r#"Digest username="101",realm="acme.pbx.local",nonce="abc",uri="sip:acme.pbx.local",response="{response}",algorithm={alg},cnonce="c0ffee",qop=auth,nc={nc}"#
    );
    (nc, header)
}

#[test]
fn the_10th_16th_and_256th_use_of_a_nonce_verify() {
    // rsip 0.4 reads nc as decimal and fails on 0000000a; here nc is hashed as sent.
    for n in [1, 9, 10, 16, 255, 256, 0xffff_ffff] {
        let (nc, header) = phone_response(n, false);
        let c = parse_authorization(&header).unwrap();
        assert_eq!(c.nc.as_deref(), Some(nc.as_str()));
        assert!(c.verify("REGISTER", "secret-101"), "nc={nc}");
        assert!(!c.verify("REGISTER", "secret-102"), "nc={nc}");
    }
}

#[test]
fn sess_algorithms_mix_in_nonce_and_cnonce() {
    let (_, header) = phone_response(10, true);
    let c = parse_authorization(&header).unwrap();
    assert!(c.verify("REGISTER", "secret-101"));
    let mut plain = c.clone();
    plain.algorithm = Some("MD5".into());
    assert!(!plain.verify("REGISTER", "secret-101"), "-sess must not be treated as plain");
}

#[test]
fn bad_authorizations_are_refused_not_panicked_on() {
    assert_eq!(parse_authorization("Basic dXNlcjpwYXNz"), Err(DigestError::NotDigest));
    assert_eq!(parse_authorization(r#"Digest username="101""#), Err(DigestError::Missing("nonce")));
    assert_eq!(parse_authorization(r#"Digest username="101, nonce=x"#), Err(DigestError::Malformed));
    let (_, header) = phone_response(1, false);
    let c = parse_authorization(&header.replace("nc=00000001", "nc=1")).unwrap();
    assert!(!c.verify("REGISTER", "secret-101"), "nc must be 8 hex digits");
    let c = parse_authorization(&header.replace("algorithm=MD5", "algorithm=SHA-512")).unwrap();
    assert_eq!(c.algorithm(), Err(DigestError::Algorithm("SHA-512".into())));
}

#[test]
fn nonces_are_bound_to_client_and_time() {
    let n = Nonces::new(&[9; 32], 300);
    let alice: IpAddr = [192, 168, 1, 10].into();
    let mallory: IpAddr = [192, 168, 1, 66].into();
    let nonce = n.make(1_000, alice);
    assert_eq!(n.check(&nonce, 1_000, alice), NonceCheck::Fresh);
    assert_eq!(n.check(&nonce, 1_300, alice), NonceCheck::Fresh);
    assert_eq!(n.check(&nonce, 1_301, alice), NonceCheck::Stale);
    assert_eq!(n.check(&nonce, 1_000, mallory), NonceCheck::Invalid);
    assert_eq!(n.check("AAAA", 1_000, alice), NonceCheck::Invalid);
    let other_box = Nonces::new(&[8; 32], 300);
    assert_eq!(other_box.check(&nonce, 1_000, alice), NonceCheck::Invalid);
}

proptest::proptest! {
    #[test]
    fn any_authorization_text_parses_or_errs(s in "\\PC{0,300}") {
        let _ = parse_authorization(&s);
        let _ = parse_authorization(&format!("Digest {s}"));
    }

    #[test]
    fn quoted_values_round_trip(user in "[a-zA-Z0-9 ,=\"\\\\]{1,20}") {
        let quoted = user.replace('\\', "\\\\").replace('"', "\\\"");
        let header = format!(r#"Digest username="{quoted}", nonce="n", uri="u", response="r""#);
        let c = parse_authorization(&header).unwrap();
        proptest::prop_assert_eq!(c.username, user);
    }
}
