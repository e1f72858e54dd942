//! Metadata values: what one record may carry, read from a JSON object and checked.
//!
//! A record's metadata is a flat JSON object whose values are strings, integers, floats,
//! booleans, or lists of strings (tags). Anything else (null, nested objects, lists holding
//! anything but strings, integers beyond ±2^53) is refused with a message naming the field.
//!
//! One exception to the integer rule: a literal too long for 64 bits (say
//! `18446744073709551616`) reaches us from serde_json as a float, indistinguishable from
//! `1.8446744073709552e19`, and is stored as that float.

use std::collections::BTreeMap;
use std::fmt;

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
        serde_json::Value::Array(items) => {
            let mut tags = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    serde_json::Value::String(s) => tags.push(s.clone()),
                    other => {
                        return Err(invalid(format!(
                            "field \"{field}\" is a list, and lists may hold only strings, but item {i} is {}",
                            json_kind(other)
                        )))
                    }
                }
            }
            Ok(Value::Tags(tags))
        }
        serde_json::Value::Null => {
            Err(invalid(format!("field \"{field}\" is null; leave the field out to say it has no value")))
        }
        serde_json::Value::Object(_) => Err(invalid(format!(
            "field \"{field}\" holds a nested object; values must be strings, numbers, booleans or lists of strings"
        ))),
    }
}

/// Checks a parsed JSON value (which must be an object) and converts it.
pub fn metadata_from_json(v: &serde_json::Value) -> Result<Metadata> {
    let serde_json::Value::Object(map) = v else {
        return Err(invalid(format!("expected a JSON object such as {{\"genre\": \"jazz\"}}, got {}", json_kind(v))));
    };
    map.iter().map(|(k, v)| Ok((k.clone(), value_from_json(k, v)?))).collect()
}

/// Parses metadata text: one JSON object (see the module doc for what it may hold).
pub fn parse_metadata(text: &str) -> Result<Metadata> {
    if text.len() > MAX_METADATA_BYTES {
        return Err(invalid(format!(
            "{} bytes of metadata for one record is above the limit of {MAX_METADATA_BYTES}",
            text.len()
        )));
    }
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    metadata_from_json(&v)
}

/// The metadata as a JSON object.
pub fn metadata_to_json(m: &Metadata) -> serde_json::Value {
    serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
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
        assert!(err(r#"{"o":{"x":1}}"#).contains("field \"o\" holds a nested object"));
        assert!(err(r#"{"t":["a",1]}"#)
            .contains("field \"t\" is a list, and lists may hold only strings, but item 1 is a number"));
        assert!(err(r#"{"t":[["a"]]}"#).contains("item 0 is a list"));
        assert!(err(r#"{"t":["a",null]}"#).contains("item 1 is null"));
        assert!(err(r#"{"n":null}"#).contains("field \"n\" is null"));
        let big = format!("{{\"s\":\"{}\"}}", "x".repeat(MAX_METADATA_BYTES));
        assert!(err(&big).contains("above the limit"));
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
