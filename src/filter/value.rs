//! Metadata values: what one record may carry, read from a JSON object and checked.
//!
//! A record's metadata is a JSON object whose values are strings, integers, floats,
//! booleans, null, lists of strings (tags), lists of numbers, or objects of the same (nested
//! to any depth serde_json reads, 128). Anything else (a list mixing strings and numbers, or
//! holding null, booleans or lists; integers beyond ±2^53) is refused with a message naming
//! the field. A null is a value: the field exists (`EXISTS`) and equals `null`.
//!
//! Nested objects are stored flat, under dotted paths: `{"a": {"b": 1}}` is the field `a.b`,
//! which filters name as `a.b`, and it comes back nested from [`metadata_to_json`]. A key that
//! holds a dot is the same path (`{"a.b": 1}` is that record too), so a path given twice
//! (`{"a.b": 1, "a": {"b": 2}}`), a path that is both a value and an object
//! (`{"a": 1, "a.b": 2}`), and a key repeated in one object (`{"a": 1, "a": 2}`, which plain
//! JSON readers settle by keeping the last) are refused. An empty object holds no field.
//!
//! One exception to the integer rule: a literal too long for 64 bits (say
//! `18446744073709551616`) reaches us from serde_json as a float, indistinguishable from
//! `1.8446744073709552e19`, and is stored as that float.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Result};

/// Largest integer magnitude accepted: up to 2^53 every integer has an exact f64, so integers
/// and floats share one number line (`3 = 3.0`) and range queries never round.
pub const MAX_EXACT_INT: i64 = 1 << 53;

/// Longest metadata text accepted for one record, in bytes.
pub const MAX_METADATA_BYTES: usize = 1 << 20;

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A UTF-8 string.
    Str(String),
    /// An integer within ±[`MAX_EXACT_INT`].
    Int(i64),
    /// A finite float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A list of strings, matched with `CONTAINS`. Order and repeats are kept as given.
    Tags(Vec<String>),
    /// JSON null: the field is there, with no value; matched by `field = null`.
    Null,
    /// A non-empty list of numbers, each an [`Value::Int`] or a [`Value::Float`] as given,
    /// matched with `CONTAINS n`. Order and repeats are kept. (An empty list is `Tags`.)
    Numbers(Vec<Value>),
}

/// A record's metadata: field name -> value, in name order.
pub type Metadata = BTreeMap<String, Value>;

impl Value {
    /// The value on the number line shared by integers and floats, if it is a number.
    /// `-0.0` reads as `0.0` so that the two are one key in the number index.
    pub fn as_number(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f + 0.0),
            _ => None,
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Int(i) => serde_json::Value::from(*i),
            // Finite by construction, so from_f64 always succeeds.
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Tags(t) => serde_json::Value::Array(t.iter().cloned().map(serde_json::Value::String).collect()),
            Value::Null => serde_json::Value::Null,
            Value::Numbers(items) => serde_json::Value::Array(items.iter().map(Value::to_json).collect()),
        }
    }

    /// What kind of value this is, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Tags(_) => "a list of strings",
            Value::Null => "null",
            Value::Numbers(_) => "a list of numbers",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

fn invalid(msg: String) -> Error {
    Error::InvalidArgument(format!("metadata: {msg}"))
}

fn number_value(field: &str, n: &serde_json::Number) -> Result<Value> {
    if let Some(i) = n.as_i64() {
        if !(-MAX_EXACT_INT..=MAX_EXACT_INT).contains(&i) {
            return Err(invalid(format!(
                "field \"{field}\" holds the integer {i}, outside ±2^53 ({MAX_EXACT_INT}), the range stored exactly"
            )));
        }
        return Ok(Value::Int(i));
    }
    if n.is_u64() {
        return Err(invalid(format!(
            "field \"{field}\" holds the integer {n}, outside ±2^53 ({MAX_EXACT_INT}), the range stored exactly"
        )));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() => Ok(Value::Float(f)),
        _ => Err(invalid(format!("field \"{field}\" holds the number {n}, which is not a finite float"))),
    }
}

/// Checks one field's JSON value and converts it.
pub fn value_from_json(field: &str, v: &serde_json::Value) -> Result<Value> {
    match v {
        serde_json::Value::String(s) => Ok(Value::Str(s.clone())),
        serde_json::Value::Bool(b) => Ok(Value::Bool(*b)),
        serde_json::Value::Number(n) => number_value(field, n),
        // A list of strings or a list of numbers, as its first item says.
        serde_json::Value::Array(items) if matches!(items.first(), Some(serde_json::Value::Number(_))) => {
            let mut numbers = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    serde_json::Value::Number(n) => numbers.push(number_value(&format!("{field}[{i}]"), n)?),
                    other => {
                        return Err(invalid(format!(
                            "field \"{field}\" is a list of numbers (its first item is one), but item {i} is {}",
                            json_kind(other)
                        )))
                    }
                }
            }
            Ok(Value::Numbers(numbers))
        }
        serde_json::Value::Array(items) => {
            let mut tags = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    serde_json::Value::String(s) => tags.push(s.clone()),
                    other => {
                        return Err(invalid(format!(
                            "field \"{field}\" is a list, and lists hold strings or numbers, but item {i} is {}",
                            json_kind(other)
                        )))
                    }
                }
            }
            Ok(Value::Tags(tags))
        }
        serde_json::Value::Null => Ok(Value::Null),
        serde_json::Value::Object(_) => Err(invalid(format!(
            "field \"{field}\" holds a nested object; values must be strings, numbers, booleans, null or lists"
        ))),
    }
}

/// Checks a parsed JSON value (which must be an object) and converts it, flattening nested
/// objects into dotted paths (see the module doc).
pub fn metadata_from_json(v: &serde_json::Value) -> Result<Metadata> {
    let serde_json::Value::Object(map) = v else {
        return Err(invalid(format!("expected a JSON object such as {{\"genre\": \"jazz\"}}, got {}", json_kind(v))));
    };
    let mut out = Metadata::new();
    flatten_into(&mut out, None, map)?;
    // A path that is a value and also leads into an object: "a" and "a.b".
    for path in out.keys() {
        let inner = format!("{path}.");
        if let Some((other, _)) = out.range(inner.clone()..).next().filter(|(k, _)| k.starts_with(&inner)) {
            return Err(invalid(format!("field \"{path}\" holds a value and is also the object holding \"{other}\"")));
        }
    }
    Ok(out)
}

/// `prefix` is the path of the object `map` (None at the top: an empty key is a path too).
fn flatten_into(out: &mut Metadata, prefix: Option<&str>, map: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    for (key, v) in map {
        let path = match prefix {
            None => key.clone(),
            Some(p) => format!("{p}.{key}"),
        };
        match v {
            serde_json::Value::Object(inner) => flatten_into(out, Some(&path), inner)?,
            _ => {
                let value = value_from_json(&path, v)?;
                if out.insert(path.clone(), value).is_some() {
                    return Err(invalid(format!(
                        "field \"{path}\" is given twice (a dotted key and a nested object name the same path)"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A JSON value read with one rule more than serde_json's own reader: a key repeated in one
/// object is an error (serde_json keeps the last silently).
struct NoDuplicateKeys(serde_json::Value);

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys(v.into()))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys(v.into()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys(v.into()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys(v.into()))
    }
    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys(serde_json::Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(NoDuplicateKeys(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(NoDuplicateKeys(serde_json::Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(A::Error::custom(format!("the key \"{key}\" appears twice in one object")));
            }
            let NoDuplicateKeys(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(NoDuplicateKeys(serde_json::Value::Object(out)))
    }
}

/// Parses metadata text: one JSON object (see the module doc for what it may hold).
pub fn parse_metadata(text: &str) -> Result<Metadata> {
    if text.len() > MAX_METADATA_BYTES {
        return Err(invalid(format!(
            "{} bytes of metadata for one record is above the limit of {MAX_METADATA_BYTES}",
            text.len()
        )));
    }
    let NoDuplicateKeys(v) = serde_json::from_str(text).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    metadata_from_json(&v)
}

/// The metadata as a JSON object, dotted paths nested again (`a.b` -> `{"a": {"b": ..}}`).
/// A path that cannot nest (a record saved by an older version holding both `a` and `a.b`)
/// stays a dotted key at the top.
pub fn metadata_to_json(m: &Metadata) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for (path, v) in m {
        if !nest(&mut root, path, v.to_json()) {
            root.insert(path.clone(), v.to_json());
        }
    }
    serde_json::Value::Object(root)
}

/// Puts `value` at the dotted `path` under `root`; false where the path is taken.
fn nest(root: &mut serde_json::Map<String, serde_json::Value>, path: &str, value: serde_json::Value) -> bool {
    let mut parts = path.split('.');
    let last = parts.next_back().unwrap_or_default();
    let mut map = root;
    for part in parts {
        let entry = map.entry(part.to_string()).or_insert_with(|| serde_json::Value::Object(Default::default()));
        let serde_json::Value::Object(inner) = entry else { return false };
        map = inner;
    }
    if map.contains_key(last) {
        return false;
    }
    map.insert(last.to_string(), value);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse_metadata(text) {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("{text}: expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn every_kind_round_trips() {
        let text = r#"{"s":"jazz \"live\"","i":-42,"f":2.5,"b":true,"t":["a","b","a"],"e":[],"z":0}"#;
        let m = parse_metadata(text).unwrap();
        assert_eq!(m["s"], Value::Str("jazz \"live\"".into()));
        assert_eq!(m["i"], Value::Int(-42));
        assert_eq!(m["f"], Value::Float(2.5));
        assert_eq!(m["b"], Value::Bool(true));
        assert_eq!(m["t"], Value::Tags(vec!["a".into(), "b".into(), "a".into()]));
        assert_eq!(m["e"], Value::Tags(vec![]));
        let back = metadata_to_json(&m);
        assert_eq!(back, serde_json::from_str::<serde_json::Value>(text).unwrap());
        assert_eq!(parse_metadata(&back.to_string()).unwrap(), m);
        // 1.0 stays a float, 1 an integer.
        let m = parse_metadata(r#"{"a":1.0,"b":1}"#).unwrap();
        assert_eq!((m["a"].clone(), m["b"].clone()), (Value::Float(1.0), Value::Int(1)));
        assert_eq!(metadata_to_json(&m).to_string(), r#"{"a":1.0,"b":1}"#);
        assert!(parse_metadata("{}").unwrap().is_empty());
    }

    #[test]
    fn integers_at_the_exact_limit() {
        assert_eq!(parse_metadata(r#"{"n":9007199254740992}"#).unwrap()["n"], Value::Int(MAX_EXACT_INT));
        assert_eq!(parse_metadata(r#"{"n":-9007199254740992}"#).unwrap()["n"], Value::Int(-MAX_EXACT_INT));
        assert!(
            err(r#"{"n":9007199254740993}"#).contains("field \"n\" holds the integer 9007199254740993, outside ±2^53")
        );
        assert!(err(r#"{"n":-9007199254740993}"#).contains("outside ±2^53"));
        assert!(err(r#"{"n":18446744073709551615}"#).contains("outside ±2^53"));
        assert!(err(r#"{"n":1e400}"#).contains("not valid JSON"));
    }

    #[test]
    fn refused_shapes_name_the_field() {
        assert!(err("[1,2]").contains("expected a JSON object"), "{}", err("[1,2]"));
        assert!(err("\"x\"").contains("got a string"));
        assert!(err("null").contains("got null"));
        assert!(err("{\"a\":").contains("not valid JSON"));
        assert!(err("{} {}").contains("not valid JSON"));
        assert!(err(r#"{"t":["a",1]}"#)
            .contains("field \"t\" is a list, and lists hold strings or numbers, but item 1 is a number"));
        assert!(err(r#"{"t":[1,"a"]}"#).contains("field \"t\" is a list of numbers (its first item is one), but item 1 is a string"));
        assert!(err(r#"{"t":[1,9007199254740993]}"#).contains("field \"t[1]\" holds the integer 9007199254740993"));
        assert!(err(r#"{"t":[["a"]]}"#).contains("item 0 is a list"));
        assert!(err(r#"{"t":["a",null]}"#).contains("item 1 is null"));
        assert!(err(r#"{"t":[1,null]}"#).contains("item 1 is null"));
        let big = format!("{{\"s\":\"{}\"}}", "x".repeat(MAX_METADATA_BYTES));
        assert!(err(&big).contains("above the limit"));
    }

    /// Issue #21, item 6: the header promised nested objects reached with dotted names, and
    /// `{"a": {"b": 1}}` was refused.
    #[test]
    fn nested_objects_flatten_to_dotted_paths_and_come_back_nested() {
        let text = r#"{"a":{"b":1,"c":{"d":"x","e":["t"]}},"top":true}"#;
        let m = parse_metadata(text).unwrap();
        let fields: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(fields, ["a.b", "a.c.d", "a.c.e", "top"]);
        assert_eq!(m["a.c.d"], Value::Str("x".into()));
        assert_eq!(metadata_to_json(&m), serde_json::from_str::<serde_json::Value>(text).unwrap());
        // A dotted key is the same path as the nested object.
        assert_eq!(parse_metadata(r#"{"a.b":1,"a.c.d":"x","a.c.e":["t"],"top":true}"#).unwrap(), m);
        // An empty object holds no field.
        assert!(parse_metadata(r#"{"a":{}}"#).unwrap().is_empty());
        // Empty keys are paths too, at any depth (found by fuzz_replay: a key starting with a
        // dot came back without it).
        for text in [r#"{".x":1}"#, r#"{"":{"x":1}}"#, r#"{"x.":1}"#, r#"{"":{"":1}}"#, r#"{"a..b":1}"#] {
            let m = parse_metadata(text).unwrap();
            assert_eq!(parse_metadata(&metadata_to_json(&m).to_string()).unwrap(), m, "{text}");
        }
        assert_eq!(parse_metadata(r#"{"":{"x":1}}"#).unwrap().keys().next().unwrap(), ".x");
        // Errors inside name the full path.
        assert!(err(r#"{"a":{"b":[1,"x"]}}"#).contains("field \"a.b\" is a list of numbers"));
    }

    /// Issue #25: null and lists of numbers are values, and come back as given.
    #[test]
    fn null_and_lists_of_numbers_round_trip() {
        let text = r#"{"gone":null,"v":[1,2.5,-3],"deep":{"n":null},"tags":[]}"#;
        let m = parse_metadata(text).unwrap();
        assert_eq!(m["gone"], Value::Null);
        assert_eq!(m["deep.n"], Value::Null);
        assert_eq!(m["v"], Value::Numbers(vec![Value::Int(1), Value::Float(2.5), Value::Int(-3)]));
        assert_eq!(m["tags"], Value::Tags(vec![]));
        assert_eq!(metadata_to_json(&m), serde_json::from_str::<serde_json::Value>(text).unwrap());
    }

    #[test]
    fn a_path_given_twice_or_a_repeated_key_is_refused() {
        assert!(err(r#"{"a.b":1,"a":{"b":2}}"#).contains("field \"a.b\" is given twice"));
        assert!(err(r#"{"a":1,"a.b":2}"#).contains("field \"a\" holds a value and is also the object holding \"a.b\""));
        assert!(err(r#"{"a":{"c":1},"a.c.d":2}"#).contains("field \"a.c\" holds a value"));
        assert!(err(r#"{"a":1,"a":2}"#).contains("the key \"a\" appears twice"), "{}", err(r#"{"a":1,"a":2}"#));
        assert!(err(r#"{"o":{"x":1,"x":1}}"#).contains("the key \"x\" appears twice"));
        // Not a conflict: "a" and "ab", "a!b" sort between "a" and "a.b".
        assert_eq!(parse_metadata(r#"{"a":1,"a!":2,"ab":3}"#).unwrap().len(), 3);
    }

    #[test]
    fn negative_zero_is_zero_on_the_number_line() {
        assert_eq!(Value::Float(-0.0).as_number().unwrap().to_bits(), 0.0f64.to_bits());
        assert_eq!(Value::Int(7).as_number(), Some(7.0));
        assert_eq!(Value::Str("7".into()).as_number(), None);
    }

    /// Found by the `metadata_parse` fuzz target (RELIABILITY.md, bug 1): floats must be read
    /// exactly, as the filter lexer reads them, and survive their own JSON form.
    #[test]
    fn floats_are_exact_and_round_trip() {
        let m = parse_metadata(r#"{"d":123456789.12345679}"#).unwrap();
        assert_eq!(m.get("d"), Some(&Value::Float("123456789.12345679".parse::<f64>().unwrap())));
        for text in [r#"{"d":123456789.12345679}"#, r#"{"":90079991252990071992}"#] {
            let m = parse_metadata(text).unwrap();
            assert_eq!(parse_metadata(&metadata_to_json(&m).to_string()).unwrap(), m, "{text}");
        }
    }
}
