//! Plain-text tables for the `list` commands: a header, then one aligned row per item.
//!
//! Items are read as loose JSON rather than the site types, so that a newer box that adds a
//! field does not break an older `outpostctl`. Only the named columns are shown, which is also
//! how secrets stay off the screen: no column ever names one.

use serde_json::Value;

/// One column: its header, and the item field it shows.
pub type Column = (&'static str, &'static str);

/// Renders `items` (a JSON array) as a table; an empty list says so instead.
pub fn render(items: &Value, columns: &[Column]) -> String {
    let items = items.as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "(none)\n".to_owned();
    }
    let mut rows = vec![columns.iter().map(|(header, _)| header.to_string()).collect::<Vec<_>>()];
    rows.extend(items.iter().map(|item| columns.iter().map(|(_, field)| cell(&item[field])).collect()));
    let widths: Vec<usize> =
        (0..columns.len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(list) if list.is_empty() => "-".to_owned(),
        Value::Array(list) => list.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_and_missing_fields_show_a_dash() {
        let items = json!([
            {"number": "101", "name": "Alice Reception", "secret": "hidden"},
            {"number": "10200", "trunks": ["a", "b"]},
        ]);
        let cols = [("NUMBER", "number"), ("NAME", "name"), ("TRUNKS", "trunks")];
        assert_eq!(
            render(&items, &cols),
            "NUMBER  NAME             TRUNKS\n101     Alice Reception  -\n10200   -                a,b\n"
        );
        assert_eq!(render(&json!([]), &cols), "(none)\n");
    }
}
