//! Example values made from the document's own schemas, for every protocol
//! alike: each request body of a document gets one (`example` of its media
//! type), which the console's try-it form starts from and `kitegate
//! describe` prints. An example is valid for its schema: a union or a
//! protobuf oneof sets one member, an integer sits within its bounds, a
//! string matches its format or pattern, a recursive type stops at an
//! empty container.

use serde_json::{Map, Value, json};

/// How many `$ref`s deep an example goes before it leaves a message empty.
const DEPTH: usize = 4;

/// An example value of `schema`, whose `$ref`s point into `doc`.
pub fn example(doc: &Value, schema: &Value) -> Value {
    let mut stack = Vec::new();
    make(doc, schema, &mut stack)
}

/// Puts an example into every request body of `doc` that has a schema.
pub(super) fn add_examples(doc: &mut Value) {
    let mut found = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for (verb, op) in item.as_object().into_iter().flatten() {
                for (media, content) in op["requestBody"]["content"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    if content.get("schema").is_some() && media.contains("json") {
                        found.push((
                            path.clone(),
                            verb.clone(),
                            media.clone(),
                            example(doc, &content["schema"]),
                        ));
                    }
                }
            }
        }
    }
    for (path, verb, media, ex) in found {
        doc["paths"][&path][&verb]["requestBody"]["content"][&media]["example"] = ex;
    }
}

/// The schema a `$ref` points to.
fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    doc.pointer(r.strip_prefix('#')?)
}

fn make(doc: &Value, s: &Value, stack: &mut Vec<String>) -> Value {
    if let Some(d) = s.get("default").or_else(|| s["examples"].get(0)) {
        return d.clone();
    }
    if let Some(r) = s["$ref"].as_str() {
        let Some(target) = resolve(doc, r) else {
            return Value::Null;
        };
        if stack.len() >= DEPTH || stack.iter().any(|x| x == r) {
            return minimal(doc, target, stack);
        }
        stack.push(r.to_string());
        let v = make(doc, target, stack);
        stack.pop();
        return v;
    }
    if let Some(first) = s["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    for k in ["anyOf", "oneOf"] {
        if let Some(first) = s[k].as_array().and_then(|a| a.first()) {
            return make(doc, first, stack);
        }
    }
    if let Some(all) = s["allOf"].as_array() {
        let mut out = Map::new();
        for part in all {
            if let Value::Object(o) = make(doc, part, stack) {
                out.extend(o);
            }
        }
        return Value::Object(out);
    }
    let ty = match &s["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(ts) => ts.first().and_then(Value::as_str).unwrap_or(""),
        _ if s.get("properties").is_some() => "object",
        _ => "",
    };
    match ty {
        "boolean" => json!(false),
        "integer" => {
            let min = s["minimum"].as_i64().unwrap_or(i64::MIN);
            let max = s["maximum"].as_i64().unwrap_or(i64::MAX);
            json!(0i64.clamp(min, max))
        }
        "number" => json!(0.0),
        "string" => json!(text_example(s)),
        "null" => Value::Null,
        "array" => {
            if let Some(prefix) = s["prefixItems"].as_array() {
                return prefix.iter().map(|p| make(doc, p, stack)).collect();
            }
            match s.get("items") {
                Some(items) if stack.len() < DEPTH && !recursive(items, stack) => {
                    json!([make(doc, items, stack)])
                }
                _ => json!([]),
            }
        }
        "object" => object(doc, s, stack),
        // No type: any JSON value.
        _ => Value::Null,
    }
}

/// A string for a string schema: its format's or pattern's form.
fn text_example(s: &Value) -> &'static str {
    match (s["format"].as_str(), s["pattern"].as_str()) {
        (Some("date-time"), _) => "1970-01-01T00:00:00Z",
        (Some("uuid"), _) => "00000000-0000-0000-0000-000000000000",
        (Some("int64" | "uint64" | "int32"), _) => "0",
        (_, Some(p)) if p.ends_with("s$") => "0s",
        (_, Some(_)) => "0",
        _ => "",
    }
}

/// Whether `s` refers (itself or as the items of an array) to a schema
/// the example is already inside.
fn recursive(s: &Value, stack: &[String]) -> bool {
    let r = s["$ref"].as_str().or_else(|| s["items"]["$ref"].as_str());
    r.is_some_and(|r| stack.len() >= DEPTH || stack.iter().any(|x| x == r))
}

fn required(s: &Value) -> Vec<&str> {
    s["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// An object: every property, except that of each union (at most one
/// property) or protobuf oneof (`x-oneof`) only the first member is set,
/// and an optional property that would recurse is left out.
fn object(doc: &Value, s: &Value, stack: &mut Vec<String>) -> Value {
    let mut out = Map::new();
    let one_only = s["maxProperties"].as_u64() == Some(1);
    let required = required(s);
    let mut oneofs_seen: Vec<&str> = Vec::new();
    for (k, p) in s["properties"].as_object().into_iter().flatten() {
        if !required.contains(&k.as_str()) && recursive(p, stack) {
            continue;
        }
        if let Some(group) = p["x-oneof"].as_str() {
            if oneofs_seen.contains(&group) {
                continue;
            }
            oneofs_seen.push(group);
        }
        out.insert(k.clone(), make(doc, p, stack));
        if one_only {
            break;
        }
    }
    Value::Object(out)
}

/// Where recursion stops: an object with its required properties only
/// (those that are references themselves as `null`), else the smallest
/// value of the schema's kind.
fn minimal(doc: &Value, s: &Value, stack: &mut Vec<String>) -> Value {
    match s["type"].as_str() {
        Some("array") => json!([]),
        Some("object") | None if s.get("properties").is_some() => {
            let mut out = Map::new();
            for k in required(s) {
                let p = &s["properties"][k];
                let v = if p.get("$ref").is_some() {
                    Value::Null
                } else {
                    make(doc, p, stack)
                };
                out.insert(k.to_string(), v);
            }
            Value::Object(out)
        }
        _ => make(doc, s, stack),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_follow_their_schema() {
        let doc = json!({"components": {"schemas": {
            "Node": {"type": "object", "properties": {
                "value": {"type": "integer", "minimum": 1, "maximum": 9},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            }},
            "U": {"type": "object", "minProperties": 1, "maxProperties": 1, "properties": {
                "a": {"type": "string"}, "b": {"type": "boolean"}}},
            "M": {"type": "object", "properties": {
                "id": {"type": ["string", "integer"], "format": "int64", "pattern": "^-?[0-9]+$"},
                "when": {"type": "string", "format": "date-time"},
                "took": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"},
                "x": {"type": "integer", "x-oneof": "choice"},
                "y": {"type": "string", "x-oneof": "choice"},
                "kind": {"anyOf": [{"type": "string", "enum": ["A", "B"]}, {"type": "integer"}]},
                "n": {"type": "integer", "default": 7},
                "u": {"$ref": "#/components/schemas/U"},
            }},
        }}});
        let r = |k: &str| json!({"$ref": format!("#/components/schemas/{k}")});
        assert_eq!(
            example(&doc, &r("M")),
            json!({"id": "0", "when": "1970-01-01T00:00:00Z", "took": "0s", "x": 0,
                   "kind": "A", "n": 7, "u": {"a": ""}})
        );
        // An optional field that would recurse is left out.
        assert_eq!(example(&doc, &r("Node")), json!({"value": 1}));
    }
}
