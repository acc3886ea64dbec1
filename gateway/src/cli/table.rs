//! Printing answers: aligned tables, the rows of a backend summary, JSON,
//! and the small text helpers they share.

use serde_json::Value;

pub(super) fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn str_of(v: &Value, key: &str) -> String {
    v.get(key).map(text).unwrap_or_default()
}

pub(super) fn or_dash(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
}

/// `VERB  PATH  ->  Service.method` rows of a backend summary.
pub(super) fn method_rows(b: &Value) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for m in b
        .get("methods")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let target = format!("{}.{}", str_of(m, "service"), str_of(m, "method"));
        let oneway = m.get("oneway").and_then(Value::as_bool).unwrap_or(false);
        for r in m
            .get("routes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut row = vec![
                str_of(r, "http_method"),
                str_of(r, "path"),
                "->".into(),
                target.clone(),
            ];
            if oneway {
                row.push("(oneway)".into());
            }
            rows.push(row);
        }
    }
    rows
}

/// Left-aligned columns two spaces apart; the last column is not padded.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut all: Vec<Vec<String>> = Vec::new();
    if !headers.is_empty() {
        all.push(headers.iter().map(|h| h.to_string()).collect());
    }
    all.extend(rows.iter().cloned());
    let cols = all.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in &all {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &all {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            if i + 1 < r.len() {
                line.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
