//! What may be dialled: the one check shared by routing (a bad number is a 484) and site
//! validation (a bad forwarding target is refused), so that both say the same thing.

/// The longest number routing accepts: E.164 is 15 digits; 32 leaves room for prefixes and
/// feature codes while keeping reasons short.
pub const MAX_NUMBER_LEN: usize = 32;

/// Why a string is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("nothing was dialled")]
    Empty,
    #[error("longer than {MAX_NUMBER_LEN} characters")]
    TooLong,
    #[error("`{}` is not allowed: a number is digits, `*`, `#` and a leading `+`", .0.escape_debug())]
    BadChar(char),
    #[error("`+` may only start a number")]
    MisplacedPlus,
}

/// Accepts digits, `*`, `#`, and `+` as the first character only (the E.164 prefix).
pub fn check_number(s: &str) -> Result<(), NumberError> {
    if s.is_empty() {
        return Err(NumberError::Empty);
    }
    if s.chars().count() > MAX_NUMBER_LEN {
        return Err(NumberError::TooLong);
    }
    for (i, c) in s.chars().enumerate() {
        match c {
            '0'..='9' | '*' | '#' => {}
            '+' if i == 0 => {}
            '+' => return Err(NumberError::MisplacedPlus),
            other => return Err(NumberError::BadChar(other)),
        }
    }
    Ok(())
}

/// A dialled string as it may appear inside a reason: control characters escaped and the
/// length bounded, because reasons end up in SIP reason phrases and logs.
pub(crate) fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_NUMBER_LEN).flat_map(char::escape_debug).collect();
    if s.chars().count() > MAX_NUMBER_LEN {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(check_number("101"), Ok(()));
        assert_eq!(check_number("+4940123450"), Ok(()));
        assert_eq!(check_number("*72#"), Ok(()));
        assert_eq!(check_number(""), Err(NumberError::Empty));
        assert_eq!(check_number("10a"), Err(NumberError::BadChar('a')));
        assert_eq!(check_number("49+1"), Err(NumberError::MisplacedPlus));
        assert_eq!(check_number(&"1".repeat(33)), Err(NumberError::TooLong));
        assert_eq!(shown("1\n2"), "1\\n2");
    }
}
