//! A line diff of two texts (the pretty JSON of two config revisions): longest common
//! subsequence on what lies between the common head and tail. Site configs are hundreds of
//! lines, so the quadratic table is small; past `MAX_CELLS` the middle is shown as all removed
//! then all added, which is still true, only less tidy.

const MAX_CELLS: usize = 4_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

pub fn lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out: Vec<Line<'a>> = a[..head].iter().map(|l| Line::Same(l)).collect();
    if (ma.len() + 1).saturating_mul(mb.len() + 1) > MAX_CELLS {
        out.extend(ma.iter().map(|l| Line::Removed(l)));
        out.extend(mb.iter().map(|l| Line::Added(l)));
    } else {
        // lcs[i][j]: the longest common subsequence of ma[i..] and mb[j..].
        let w = mb.len() + 1;
        let mut lcs = vec![0u32; (ma.len() + 1) * w];
        for i in (0..ma.len()).rev() {
            for j in (0..mb.len()).rev() {
                lcs[i * w + j] = if ma[i] == mb[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < ma.len() || j < mb.len() {
            if i < ma.len() && j < mb.len() && ma[i] == mb[j] {
                out.push(Line::Same(ma[i]));
                i += 1;
                j += 1;
            } else if i < ma.len() && (j == mb.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
                // Removals first: a changed line reads as the old one, then the new one.
                out.push(Line::Removed(ma[i]));
                i += 1;
            } else {
                out.push(Line::Added(mb[j]));
                j += 1;
            }
        }
    }
    out.extend(a[a.len() - tail..].iter().map(|l| Line::Same(l)));
    out
}

/// What to show of a diff: changed lines with `context` unchanged lines around them; `None`
/// marks a run of unchanged lines left out.
pub fn hunks<'a>(diff: &[Line<'a>], context: usize) -> Vec<Option<Line<'a>>> {
    let changed: Vec<usize> =
        diff.iter().enumerate().filter(|(_, l)| !matches!(l, Line::Same(_))).map(|(i, _)| i).collect();
    let near = |i: usize| changed.iter().any(|&c| c.abs_diff(i) <= context);
    let mut out = Vec::new();
    for (i, line) in diff.iter().enumerate() {
        if near(i) {
            out.push(Some(*line));
        } else if out.last().is_some_and(Option::is_some) || (i == 0) {
            out.push(None);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Line::*;

    #[test]
    fn a_changed_field_is_one_line_removed_and_one_added() {
        let old = "{\n  \"name\": \"A\",\n  \"x\": 1\n}";
        let new = "{\n  \"name\": \"B\",\n  \"x\": 1\n}";
        assert_eq!(
            lines(old, new),
            [Same("{"), Removed("  \"name\": \"A\","), Added("  \"name\": \"B\","), Same("  \"x\": 1"), Same("}")]
        );
    }

    #[test]
    fn insertions_and_deletions_in_the_middle_keep_what_is_common() {
        let d = lines("a\nb\nc\nd\ne", "a\nc\nx\nd\ne\nf");
        assert_eq!(d, [Same("a"), Removed("b"), Same("c"), Added("x"), Same("d"), Same("e"), Added("f")]);
        assert_eq!(lines("", "a"), [Added("a")]);
        assert_eq!(lines("a", "a"), [Same("a")]);
    }

    #[test]
    fn hunks_leave_out_far_unchanged_lines() {
        let old: String = (0..20).map(|i| format!("{i}\n")).collect();
        let new = old.replace("10\n", "ten\n");
        let shown = hunks(&lines(&old, &new), 1);
        assert_eq!(shown, [None, Some(Same("9")), Some(Removed("10")), Some(Added("ten")), Some(Same("11")), None]);
    }
}
