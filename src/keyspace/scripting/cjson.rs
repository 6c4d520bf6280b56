//! The `cjson` library scripts see (Redis bundles lua-cjson 2.1):
//! `cjson.encode`, `cjson.decode` and `cjson.null`, with lua-cjson's
//! default settings (numbers as `%.14g`, `/` escaped, an empty table is
//! `{}`, an array is a table whose keys are all positive integers and not
//! "excessively sparse", nesting up to 1000). Not there: the settings
//! functions (`encode_max_depth`, `encode_sparse_array`, ...) and
//! `cjson.new`; decode errors are worded by serde_json, not lua-cjson, and
//! decode nests at most 128 levels (serde_json's limit).

use mlua::{LightUserData, Lua, Table, Value};

/// Deepest nesting `encode` accepts (lua-cjson's `encode_max_depth`).
const MAX_DEPTH: usize = 1000;

/// `cjson.null`: a light userdata holding NULL, as lua-cjson's.
pub(super) fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// `cjson.encode(value)`. `Err` is lua-cjson's message.
pub(super) fn encode(lua: &Lua, value: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode_value(lua, value, 0, &mut out)?;
    Ok(out)
}

fn encode_value(lua: &Lua, value: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(_) | Value::Number(_) => encode_number(lua, value, out)?,
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(t) => encode_table(lua, t, depth + 1, out)?,
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

/// A number as `%.14g` (Lua's own conversion of a number to text).
fn number_text(lua: &Lua, value: &Value) -> Result<Vec<u8>, String> {
    let x = match value {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        _ => 0.0,
    };
    if !x.is_finite() {
        return Err("Cannot serialise number: must not be NaN or Inf".to_owned());
    }
    match lua.coerce_string(Value::Number(x)) {
        Ok(Some(s)) => Ok(s.as_bytes().to_vec()),
        _ => Err("Cannot serialise number".to_owned()),
    }
}

fn encode_number(lua: &Lua, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    out.extend_from_slice(&number_text(lua, value)?);
    Ok(())
}

/// A JSON string as lua-cjson writes it: `"`, `\`, `/` and control
/// characters escaped, DEL as `\u007f`, other bytes as they are.
fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 || c == 0x7f => {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// The array length of `t` by lua-cjson's rule: `Some(max key)` when every
/// key is a positive integer, `None` for an object; an "excessively
/// sparse" array (max > 2 * items and max > 10) is an error.
fn array_length(t: &Table) -> Result<Option<usize>, String> {
    let (mut max, mut items) = (0usize, 0usize);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let index = match k {
            Value::Integer(i) if i >= 1 => Some(i as f64),
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => Some(n),
            _ => None,
        };
        let Some(index) = index else {
            return Ok(None);
        };
        if index > (1u64 << 40) as f64 {
            return Err("Cannot serialise table: excessively sparse array".to_owned());
        }
        max = max.max(index as usize);
        items += 1;
    }
    if max > items * 2 && max > 10 {
        return Err("Cannot serialise table: excessively sparse array".to_owned());
    }
    Ok(Some(max))
}

fn encode_table(lua: &Lua, t: &Table, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("Cannot serialise, excessive nesting ({depth})"));
    }
    match array_length(t)? {
        Some(len) if len > 0 => {
            out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    out.push(b',');
                }
                let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                encode_value(lua, &v, depth, out)?;
            }
            out.push(b']');
        }
        _ => {
            out.push(b'{');
            let mut first = true;
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                if !first {
                    out.push(b',');
                }
                first = false;
                match &k {
                    Value::String(s) => encode_string(&s.as_bytes(), out),
                    Value::Integer(_) | Value::Number(_) => {
                        let text = number_text(lua, &k)?;
                        encode_string(&text, out);
                    }
                    other => {
                        return Err(format!(
                            "Cannot serialise {}: table key must be a number or string",
                            other.type_name()
                        ))
                    }
                }
                out.push(b':');
                encode_value(lua, &v, depth, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// `cjson.decode(text)`: objects and arrays as tables (arrays from 1),
/// `null` as `cjson.null`, numbers as Lua numbers.
pub(super) fn decode(lua: &Lua, text: &[u8]) -> Result<Value, String> {
    let json: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
        format!(
            "Expected value but found invalid token at character {}",
            e.column().max(1)
        )
    })?;
    to_lua(lua, &json).map_err(|e| e.to_string())
}

fn to_lua(lua: &Lua, json: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match json {
        J::Null => null(),
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        J::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(lua.create_string(k)?, to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}
