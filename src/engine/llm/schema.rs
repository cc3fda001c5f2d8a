//! Tool schemas as small models read them best: the schemars schema compacted.

use serde_json::{Map, Value};

/// The schemars schema without what small models stumble over: `$ref`s inlined,
/// `null` alternatives of optional arguments and the meta keys dropped.
pub fn compact_schema(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut out = inline(schema, &defs, 0);
    if let Value::Object(m) = &mut out {
        for key in ["$schema", "title", "$defs", "definitions", "description"] {
            m.remove(key);
        }
        m.entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        m.insert("type".into(), Value::String("object".into()));
    }
    out
}

fn inline(v: &Value, defs: &Value, depth: usize) -> Value {
    if depth > 8 {
        return v.clone();
    }
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let name = r.rsplit('/').next().unwrap_or_default();
                if let Some(target) = defs.get(name) {
                    let mut resolved = inline(target, defs, depth + 1);
                    // A description next to the $ref says more than the type's own.
                    if let (Value::Object(rm), Some(d)) = (&mut resolved, m.get("description")) {
                        rm.insert("description".into(), d.clone());
                    }
                    if let Value::Object(rm) = &mut resolved {
                        rm.remove("title");
                    }
                    return resolved;
                }
            }
            // `anyOf: [X, {type: null}]` (an Option) is X.
            if let Some(Value::Array(alts)) = m.get("anyOf") {
                let non_null: Vec<&Value> = alts
                    .iter()
                    .filter(|a| a.get("type") != Some(&Value::String("null".into())))
                    .collect();
                if non_null.len() == 1 && alts.len() == 2 {
                    let mut resolved = inline(non_null[0], defs, depth + 1);
                    if let (Value::Object(rm), Some(d)) = (&mut resolved, m.get("description")) {
                        rm.insert("description".into(), d.clone());
                    }
                    return resolved;
                }
            }
            let mut out = Map::new();
            for (k, val) in m {
                match k.as_str() {
                    "$schema" | "$defs" | "definitions" | "title" | "format" | "default" => {}
                    "type" => {
                        out.insert(k.clone(), drop_null_type(val));
                    }
                    _ => {
                        out.insert(k.clone(), inline(val, defs, depth + 1));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| inline(x, defs, depth + 1)).collect()),
        other => other.clone(),
    }
}

/// `["integer", "null"]` -> `"integer"`.
fn drop_null_type(t: &Value) -> Value {
    match t {
        Value::Array(ts) => {
            let rest: Vec<&Value> = ts.iter().filter(|x| x.as_str() != Some("null")).collect();
            match rest.as_slice() {
                [one] => (*one).clone(),
                _ => t.clone(),
            }
        }
        other => other.clone(),
    }
}
