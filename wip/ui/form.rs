//! Bodies of HTML forms (`application/x-www-form-urlencoded`), as ordered name/value pairs.
//! Small enough to keep here rather than switch on another axum feature.

/// A submitted form. Missing fields read as empty: every handler validates what it needs.
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        let text = String::from_utf8_lossy(body);
        Form(
            text.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.trim())
    }

    /// `None` for an absent or blank field.
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name)).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// Every non-blank value of `name` (checkboxes, repeated fields).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim().to_owned()).collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }
}

/// Percent-decoding with `+` as a space; a broken escape is kept as written.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::Form;

    #[test]
    fn fields_are_decoded_in_order_and_broken_escapes_survive() {
        let f = Form::parse(b"name=Alice+Smith&x=%3Cb%3E&m=1&m=2&m=&bad=%zz&end=%4");
        assert_eq!(f.get("name"), "Alice Smith");
        assert_eq!(f.get("x"), "<b>");
        assert_eq!(f.all("m"), vec!["1", "2"]);
        assert_eq!(f.get("bad"), "%zz");
        assert_eq!(f.get("end"), "%4");
        assert_eq!(f.get("missing"), "");
        assert_eq!(f.opt("m"), Some("1".into()));
        assert!(Form::parse(b"").0.is_empty());
        assert_eq!(Form::parse("ü=%C3%BC".as_bytes()).get("ü"), "ü");
    }
}
