use super::*;

fn source() -> SocketAddr {
    "198.51.100.7:40000".parse().unwrap()
}

const REQ: &str = "REGISTER sip:acme.pbx.local SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa;rport, SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKb\r\n\
    From: \"Alice, Reception\" <sip:101@acme.pbx.local>;tag=x\r\nTo: <sip:101@acme.pbx.local>\r\nCall-ID: abc\r\nCSeq: 7 REGISTER\r\nContent-Length: 0\r\n\r\n";

fn request(text: &str) -> rsip::Request {
    match parse(text.as_bytes()) {
        Parsed::Request(r) => *r,
        _ => panic!("did not parse"),
    }
}

#[test]
fn replies_copy_the_dialog_headers_and_mark_where_the_request_came_from() {
    let base = ReplyBase::of(&request(REQ), source());
    assert_eq!(base.via.len(), 2, "a comma-separated Via is two Vias");
    assert_eq!(base.via[0], "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa;received=198.51.100.7;rport=40000");
    assert_eq!(base.via[1], "SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKb");
    let reply = String::from_utf8(base.response(200, "OK", "t1", &[("Contact", "<sip:101@x>".into())])).unwrap();
    assert!(reply.starts_with("SIP/2.0 200 OK\r\n"), "{reply}");
    assert!(reply.contains("\r\nTo: <sip:101@acme.pbx.local>;tag=t1\r\n"), "{reply}");
    assert!(reply.contains("\r\nCSeq: 7 REGISTER\r\n"));
    assert!(reply.contains("\r\nFrom: \"Alice, Reception\" <sip:101@acme.pbx.local>;tag=x\r\n"));
    assert!(reply.ends_with("Content-Length: 0\r\n\r\n"), "{reply}");
    // And it parses back as SIP.
    assert!(rsip::Response::try_from(reply.as_str()).is_ok());
}

#[test]
fn received_is_added_without_rport_only_when_the_address_differs() {
    assert_eq!(
        mark_received("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKq", source()),
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKq"
    );
    assert_eq!(
        mark_received("SIP/2.0/UDP phone.lan;branch=z9hG4bKq", source()),
        "SIP/2.0/UDP phone.lan;branch=z9hG4bKq;received=198.51.100.7"
    );
    let v6: SocketAddr = "[2001:db8::5]:5060".parse().unwrap();
    assert_eq!(
        mark_received("SIP/2.0/TCP [2001:db8::5]:5060;branch=z9hG4bKq", v6),
        "SIP/2.0/TCP [2001:db8::5]:5060;branch=z9hG4bKq"
    );
}

#[test]
fn requests_missing_what_a_reply_needs_are_malformed() {
    let no_from = REQ.replace("From: \"Alice, Reception\" <sip:101@acme.pbx.local>;tag=x\r\n", "");
    assert!(matches!(parse(no_from.as_bytes()), Parsed::Malformed(MessageError::Header("From"), None)));
    let bad_cseq = REQ.replace("CSeq: 7 REGISTER", "CSeq: 7 OPTIONS");
    assert!(matches!(parse(bad_cseq.as_bytes()), Parsed::Malformed(MessageError::CseqMethod, Some(_))));
    assert!(matches!(parse(b"SIP/2.0 200 OK\r\n\r\n"), Parsed::Ignore));
    assert!(matches!(parse(&vec![b'x'; MAX_MESSAGE + 1]), Parsed::Malformed(MessageError::TooLarge, None)));
}

#[test]
fn lists_split_outside_quotes_and_brackets() {
    assert_eq!(split_list(r#""a, b" <sip:x;p=1,2>, <sip:y>"#), vec![r#""a, b" <sip:x;p=1,2>"#, "<sip:y>"]);
    assert_eq!(split_list("*"), vec!["*"]);
    assert!(split_list(" , ").is_empty());
}
