//! Outbound dial patterns (the syntax is checked by `site::validate`): does a dialled number
//! belong to one of the tenant's outbound routes, and is it therefore an outside number?

/// Whether `number` matches `pattern` as a whole. Pattern letters: a digit, `*`, `#` or `+`
/// matches itself; `X` any digit, `Z` 1-9, `N` 2-9; `[1-5]` or `[135]` a set; a trailing `.`
/// one or more characters of anything. A malformed pattern matches nothing.
pub fn matches_pattern(pattern: &str, number: &str) -> bool {
    let mut num = number.chars();
    let mut pat = pattern.chars().peekable();
    while let Some(p) = pat.next() {
        if p == '.' {
            // Only valid at the end; "one or more" of what is left.
            return pat.peek().is_none() && num.next().is_some();
        }
        let Some(c) = num.next() else { return false };
        let ok = match p {
            'X' => c.is_ascii_digit(),
            'Z' => ('1'..='9').contains(&c),
            'N' => ('2'..='9').contains(&c),
            '[' => {
                let mut body = Vec::new();
                loop {
                    match pat.next() {
                        Some(']') => break,
                        Some(b) => body.push(b),
                        None => return false,
                    }
                }
                in_set(&body, c)
            }
            lit => lit == c,
        };
        if !ok {
            return false;
        }
    }
    num.next().is_none()
}

/// `body` is the inside of `[...]`: digits and ranges like `1-5`.
fn in_set(body: &[char], c: char) -> bool {
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            if (body[i]..=body[i + 2]).contains(&c) {
                return true;
            }
            i += 3;
        } else {
            if body[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::matches_pattern as m;

    #[test]
    fn patterns() {
        assert!(m("0Z.", "0301234"));
        assert!(!m("0Z.", "00491234"));
        assert!(!m("0Z.", "03"), "the trailing dot wants one or more");
        assert!(m("00.", "00491234"));
        assert!(m("X.", "555"));
        assert!(!m("X.", "5"));
        assert!(m("1[1-3]X", "125"));
        assert!(!m("1[1-3]X", "145"));
        assert!(m("[135]0", "30"));
        assert!(m("NXX", "234"));
        assert!(!m("NXX", "134"));
        assert!(m("*72", "*72"));
        assert!(!m("101", "1011"));
        assert!(!m("[1-", "1"));
    }
}
