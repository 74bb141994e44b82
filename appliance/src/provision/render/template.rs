//! The template language of the vendor files: small on purpose, so that an admin's per-tenant
//! template can be checked by reading it, and so that it cannot do anything but fill in values.
//!
//! - `{{name}}` writes a value, escaped for the file's format (`Escape`): a template cannot
//!   write a raw value, so a display name cannot add XML elements or `key = value` lines.
//! - `{{#name}}…{{/name}}` repeats its body for every item of a list (the item's names come
//!   first, then the enclosing ones), or writes it once for a true flag or a non-empty text.
//! - `{{^name}}…{{/name}}` writes its body when the name is false, empty or an empty list.
//! - `{{! comment }}` writes nothing.
//!
//! A line that holds nothing but one section, close or comment tag (and blanks) is left out
//! entirely, newline included, so templates can put tags on lines of their own. A name that
//! the context does not have is an error (with the line), not an empty string: a typo in a
//! template shows at once instead of as a phone that silently misses a setting. Only sections
//! that are written are checked for names, which is what keeps `{{password}}` out of files
//! without secrets: the context has no password then, and `{{#secrets}}` is false.

use crate::provision::RenderError;

/// How values are escaped for the file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// XML text and attribute values: `& < > " '` as entities.
    Xml,
    /// `key = value` and `key :value` lines: the value must stay on its line.
    Line,
}

/// A value the context gives a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Flag(bool),
    List(Vec<Scope>),
}

/// Names and their values, looked up in order (a handful per scope, so a list will do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    vars: Vec<(&'static str, Value)>,
}

impl Scope {
    pub fn text(mut self, name: &'static str, value: impl Into<String>) -> Scope {
        self.vars.push((name, Value::Text(value.into())));
        self
    }

    pub fn flag(mut self, name: &'static str, value: bool) -> Scope {
        self.vars.push((name, Value::Flag(value)));
        self
    }

    pub fn list(mut self, name: &'static str, items: Vec<Scope>) -> Scope {
        self.vars.push((name, Value::List(items)));
        self
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Var { name: String, line: usize },
    Section { name: String, inverted: bool, body: Vec<Node>, line: usize },
}

/// One piece of a line: text, or the inside of a tag (trimmed).
enum Token<'a> {
    Text(&'a str),
    Tag(&'a str),
}

/// How deep sections may nest: templates need two or three levels, and a bound keeps an
/// admin's template from exhausting the stack.
const MAX_DEPTH: usize = 16;

fn error(line: usize, what: impl std::fmt::Display) -> RenderError {
    RenderError::Template(format!("line {line}: {what}"))
}

impl Template {
    /// Reads a template; an unclosed tag or section, a stray close or a bad name is an error
    /// naming the line.
    pub fn parse(source: &str) -> Result<Template, RenderError> {
        // Open sections: (name, inverted, line, body so far); the bottom one is the template.
        let mut stack: Vec<(String, bool, usize, Vec<Node>)> = vec![(String::new(), false, 0, Vec::new())];
        for (number, line) in source.split_inclusive('\n').enumerate() {
            let number = number + 1;
            let tokens = tokenize(line, number)?;
            let tags: Vec<&str> =
                tokens.iter().filter_map(|t| if let Token::Tag(tag) = t { Some(*tag) } else { None }).collect();
            let standalone = matches!(tags.as_slice(), [tag] if tag.starts_with(['#', '^', '/', '!']))
                && tokens.iter().all(|t| !matches!(t, Token::Text(text) if !text.trim().is_empty()));
            for token in tokens {
                let depth = stack.len();
                let body = match stack.last_mut() {
                    Some((_, _, _, body)) => body,
                    None => return Err(error(number, "internal: no open section")),
                };
                match token {
                    Token::Text(_) if standalone => {}
                    Token::Text(text) => match body.last_mut() {
                        Some(Node::Text(previous)) => previous.push_str(text),
                        _ => body.push(Node::Text(text.to_owned())),
                    },
                    Token::Tag(tag) => {
                        let (sigil, name) = match tag.chars().next() {
                            Some(c @ ('#' | '^' | '/' | '!')) => (Some(c), tag[1..].trim()),
                            _ => (None, tag),
                        };
                        if sigil == Some('!') {
                            continue;
                        }
                        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                            return Err(error(number, format!("`{{{{{tag}}}}}` is not a name")));
                        }
                        match sigil {
                            Some('#' | '^') if depth > MAX_DEPTH => {
                                return Err(error(number, format!("sections nested deeper than {MAX_DEPTH}")));
                            }
                            Some('#') => stack.push((name.to_owned(), false, number, Vec::new())),
                            Some('^') => stack.push((name.to_owned(), true, number, Vec::new())),
                            Some(_) => {
                                if stack.len() < 2 {
                                    return Err(error(number, format!("`{{{{/{name}}}}}` closes nothing")));
                                }
                                let Some((open, inverted, opened, body)) = stack.pop() else {
                                    return Err(error(number, "internal: no open section"));
                                };
                                if open != name {
                                    let sigil = if inverted { '^' } else { '#' };
                                    return Err(error(
                                        number,
                                        format!("`{{{{/{name}}}}}` closes `{{{{{sigil}{open}}}}}` of line {opened}"),
                                    ));
                                }
                                let section = Node::Section { name: open, inverted, body, line: opened };
                                match stack.last_mut() {
                                    Some((_, _, _, parent)) => parent.push(section),
                                    None => return Err(error(number, "internal: no open section")),
                                }
                            }
                            None => body.push(Node::Var { name: name.to_owned(), line: number }),
                        }
                    }
                }
            }
        }
        match stack.pop() {
            Some((name, inverted, line, _)) if !stack.is_empty() => {
                let sigil = if inverted { '^' } else { '#' };
                Err(error(line, format!("`{{{{{sigil}{name}}}}}` is never closed")))
            }
            Some((_, _, _, nodes)) => Ok(Template { nodes }),
            None => Err(RenderError::Template("internal: no template".into())),
        }
    }

    /// Fills the template in from `scope`.
    pub fn render(&self, scope: &Scope, escape: Escape) -> Result<String, RenderError> {
        let mut out = String::new();
        write(&self.nodes, &mut vec![scope], escape, &mut out)?;
        Ok(out)
    }
}

fn tokenize(line: &str, number: usize) -> Result<Vec<Token<'_>>, RenderError> {
    let mut tokens = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            tokens.push(Token::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { return Err(error(number, "`{{` without `}}` on its line")) };
        tokens.push(Token::Tag(after[..end].trim()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        tokens.push(Token::Text(rest));
    }
    Ok(tokens)
}

fn lookup<'a>(scopes: &[&'a Scope], name: &str) -> Option<&'a Value> {
    scopes.iter().rev().find_map(|s| s.get(name))
}

fn write<'a>(
    nodes: &'a [Node],
    scopes: &mut Vec<&'a Scope>,
    escape: Escape,
    out: &mut String,
) -> Result<(), RenderError> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Var { name, line } => match lookup(scopes, name) {
                Some(Value::Text(value)) => push_escaped(out, value, escape),
                Some(_) => return Err(error(*line, format!("`{name}` is a section, not a value"))),
                None => return Err(error(*line, format!("unknown name `{name}`"))),
            },
            Node::Section { name, inverted, body, line } => {
                let value = lookup(scopes, name).ok_or_else(|| error(*line, format!("unknown name `{name}`")))?;
                let truthy = match value {
                    Value::Text(text) => !text.is_empty(),
                    Value::Flag(flag) => *flag,
                    Value::List(items) => !items.is_empty(),
                };
                match (value, inverted) {
                    (_, true) if !truthy => write(body, scopes, escape, out)?,
                    (Value::List(items), false) => {
                        for item in items {
                            scopes.push(item);
                            let written = write(body, scopes, escape, out);
                            scopes.pop();
                            written?;
                        }
                    }
                    (_, false) if truthy => write(body, scopes, escape, out)?,
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// Control characters (CR and LF among them) become blanks in both formats: a value never
/// starts a new line, so it cannot add a key, and XML 1.0 forbids most of them anyway.
fn push_escaped(out: &mut String, value: &str, escape: Escape) {
    for c in value.chars() {
        match (c, escape) {
            (c, _) if c.is_control() => out.push(' '),
            ('&', Escape::Xml) => out.push_str("&amp;"),
            ('<', Escape::Xml) => out.push_str("&lt;"),
            ('>', Escape::Xml) => out.push_str("&gt;"),
            ('"', Escape::Xml) => out.push_str("&quot;"),
            ('\'', Escape::Xml) => out.push_str("&apos;"),
            (c, _) => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(source: &str, scope: &Scope, escape: Escape) -> Result<String, RenderError> {
        Template::parse(source)?.render(scope, escape)
    }

    fn scope() -> Scope {
        Scope::default()
            .text("name", "Zoë <&> \"quoted\" 'single'")
            .text("empty", "")
            .flag("yes", true)
            .flag("no", false)
            .list(
                "lines",
                vec![
                    Scope::default().text("n", "1").text("user", "101"),
                    Scope::default().text("n", "2").text("user", "102"),
                ],
            )
            .list("none", Vec::new())
    }

    #[test]
    fn values_are_escaped_for_the_format() {
        let xml = fill("<a b=\"{{name}}\">{{ name }}</a>", &scope(), Escape::Xml).unwrap();
        let escaped = "Zoë &lt;&amp;&gt; &quot;quoted&quot; &apos;single&apos;";
        assert_eq!(xml, format!("<a b=\"{escaped}\">{escaped}</a>"));
        let line = fill("x = {{name}}\n", &scope(), Escape::Line).unwrap();
        assert_eq!(line, "x = Zoë <&> \"quoted\" 'single'\n");
    }

    #[test]
    fn a_value_never_breaks_its_line() {
        let evil = Scope::default().text("v", "Bob\r\naccount.1.password = x\u{0}");
        assert_eq!(fill("a = {{v}}\n", &evil, Escape::Line).unwrap(), "a = Bob  account.1.password = x \n");
        assert_eq!(fill("<a>{{v}}</a>", &evil, Escape::Xml).unwrap(), "<a>Bob  account.1.password = x </a>");
    }

    #[test]
    fn sections_repeat_lists_and_test_flags() {
        let source = "{{#lines}}[{{n}}:{{user}}:{{name}}]{{/lines}}{{#yes}}Y{{/yes}}{{#no}}N{{/no}}\
                      {{^no}}!N{{/no}}{{#empty}}E{{/empty}}{{^empty}}!E{{/empty}}{{#none}}L{{/none}}\
                      {{^none}}!L{{/none}}{{#name}}T{{/name}}";
        let out = fill(source, &scope(), Escape::Line).unwrap();
        assert_eq!(out, "[1:101:Zoë <&> \"quoted\" 'single'][2:102:Zoë <&> \"quoted\" 'single']Y!N!E!LT");
    }

    #[test]
    fn tag_only_lines_vanish_with_their_newline() {
        let source = "a\n  {{#lines}}\nline {{n}}\n  {{/lines}}  \n{{! a comment }}\n{{#no}}\nhidden\n{{/no}}\nb\n";
        assert_eq!(fill(source, &scope(), Escape::Line).unwrap(), "a\nline 1\nline 2\nb\n");
        // A value tag on its own line is not standalone: its line stays.
        assert_eq!(fill("{{n}}\n", &Scope::default().text("n", "1"), Escape::Line).unwrap(), "1\n");
    }

    #[test]
    fn skipped_sections_need_no_names() {
        assert_eq!(fill("{{#no}}{{password}}{{/no}}ok", &scope(), Escape::Line).unwrap(), "ok");
    }

    #[test]
    fn errors_name_the_line_and_never_panic() {
        let cases = [
            ("a\n{{#lines}}\n", "line 2: `{{#lines}}` is never closed"),
            ("a\nb {{name\n", "line 2: `{{` without `}}` on its line"),
            ("{{/lines}}", "line 1: `{{/lines}}` closes nothing"),
            ("{{#lines}}\n{{/yes}}\n", "line 2: `{{/yes}}` closes `{{#lines}}` of line 1"),
            ("x\n\n{{unknown}}", "line 3: unknown name `unknown`"),
            ("{{#unknown}}x{{/unknown}}", "line 1: unknown name `unknown`"),
            ("{{lines}}", "line 1: `lines` is a section, not a value"),
            ("{{}}", "line 1: `{{}}` is not a name"),
            ("{{a b}}", "line 1: `{{a b}}` is not a name"),
            ("{{#}}", "line 1: `{{#}}` is not a name"),
            ("{{^no}}\n{{/yes}}", "line 2: `{{/yes}}` closes `{{^no}}` of line 1"),
            ("a\n{{^no}}", "line 2: `{{^no}}` is never closed"),
        ];
        for (source, expected) in cases {
            let got = fill(source, &scope(), Escape::Line);
            assert_eq!(got, Err(RenderError::Template(expected.to_owned())), "{source:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "{{#yes}}".repeat(100_000);
        assert_eq!(
            fill(&deep, &scope(), Escape::Line),
            Err(RenderError::Template(format!("line 1: sections nested deeper than {MAX_DEPTH}")))
        );
        let fine = format!("{}x{}", "{{#yes}}".repeat(MAX_DEPTH), "{{/yes}}".repeat(MAX_DEPTH));
        assert_eq!(fill(&fine, &scope(), Escape::Line).unwrap(), "x");
    }

    #[test]
    fn arbitrary_input_is_an_answer_not_a_panic() {
        for source in ["{{", "}}", "{{{{}}}}", "{{#a}}{{/a}}{{/a}}", "{{^", "\u{0}{{#yes}}\r\n{{/yes}}\r", "{{!"] {
            let _ = fill(source, &scope(), Escape::Xml);
        }
    }
}
