//! A trunk's codec list applied to an offer: the audio section keeps only the payload types
//! the trunk takes, in the trunk's order of preference, plus `telephone-event` (DTMF). Every
//! other line is copied byte for byte, as `sdp` does.

/// Encoding names of the static payload types a phone may list without an `a=rtpmap`.
fn static_name(pt: &str) -> Option<&'static str> {
    Some(match pt {
        "0" => "PCMU",
        "3" => "GSM",
        "8" => "PCMA",
        "9" => "G722",
        "18" => "G729",
        _ => return None,
    })
}

/// `body` with the first active `m=audio` section narrowed to `wanted` (case-insensitive
/// encoding names). Unchanged when `wanted` is empty, the body is not SDP, or nothing wanted
/// is offered (the trunk then refuses with 488 and says why, rather than the box guessing).
pub fn keep_codecs(body: &[u8], wanted: &[String]) -> Vec<u8> {
    if wanted.is_empty() || body.is_empty() {
        return body.to_vec();
    }
    let Ok(text) = std::str::from_utf8(body) else { return body.to_vec() };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("m=audio ") && !l.starts_with("m=audio 0 ")) else {
        return body.to_vec();
    };
    let end = lines[start + 1..].iter().position(|l| l.starts_with("m=")).map_or(lines.len(), |i| start + 1 + i);
    let section = &lines[start + 1..end];
    let name_of = |pt: &str| -> Option<String> {
        let mapped = section.iter().find_map(|l| {
            let rest = l.strip_prefix("a=rtpmap:")?;
            let (p, enc) = rest.split_once(' ')?;
            (p == pt).then(|| enc.split('/').next().unwrap_or_default().trim().to_owned())
        });
        mapped.or_else(|| static_name(pt).map(str::to_owned))
    };
    let m_line = lines[start].trim_end_matches(['\r', '\n']);
    let fields: Vec<&str> = m_line.split(' ').collect();
    if fields.len() < 4 {
        return body.to_vec();
    }
    let offered = &fields[3..];
    let mut keep: Vec<&str> = Vec::new();
    for w in wanted {
        for pt in offered {
            if name_of(pt).is_some_and(|n| n.eq_ignore_ascii_case(w)) && !keep.contains(pt) {
                keep.push(pt);
            }
        }
    }
    if keep.is_empty() {
        return body.to_vec();
    }
    for pt in offered {
        if name_of(pt).is_some_and(|n| n.eq_ignore_ascii_case("telephone-event")) && !keep.contains(pt) {
            keep.push(pt);
        }
    }
    let ending = &lines[start][m_line.len()..];
    let mut out = String::with_capacity(body.len());
    for l in &lines[..start] {
        out.push_str(l);
    }
    out.push_str(&fields[..3].join(" "));
    out.push(' ');
    out.push_str(&keep.join(" "));
    out.push_str(ending);
    for l in section {
        let pt_of = |prefix: &str| l.strip_prefix(prefix).and_then(|r| r.split([' ', '\r', '\n']).next());
        let dropped = pt_of("a=rtpmap:").or_else(|| pt_of("a=fmtp:")).is_some_and(|pt| !keep.contains(&pt));
        if !dropped {
            out.push_str(l);
        }
    }
    for l in &lines[end..] {
        out.push_str(l);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn keeps_the_trunks_codecs_in_its_order_and_dtmf() {
        let out = String::from_utf8(keep_codecs(OFFER.as_bytes(), &names(&["pcma", "PCMU"]))).unwrap_or_default();
        assert!(out.contains("m=audio 4000 RTP/AVP 8 0 101\r\n"), "{out}");
        assert!(!out.contains("G722"), "{out}");
        assert!(out.contains("a=fmtp:101 0-15\r\n") && out.contains("a=sendrecv\r\n"), "{out}");
    }

    #[test]
    fn nothing_in_common_or_no_list_leaves_the_offer_alone() {
        assert_eq!(keep_codecs(OFFER.as_bytes(), &names(&["opus"])), OFFER.as_bytes());
        assert_eq!(keep_codecs(OFFER.as_bytes(), &[]), OFFER.as_bytes());
        assert_eq!(keep_codecs(b"not sdp", &names(&["PCMA"])), b"not sdp");
    }
}
