//! Tests of the store: each operator's semantics on hand-made records, ranges, and a
//! randomized comparison of the indexes, the per-record check and an oracle over the raw JSON.

use std::cmp::Ordering;

use super::*;

fn store(records: &[(u32, &str)]) -> MetadataStore {
    let mut s = MetadataStore::new();
    for (slot, json) in records {
        s.set(*slot, json).unwrap();
    }
    s.check_invariants().unwrap();
    s
}

/// Slots matched, by the index and by the per-record check (which must agree).
fn hits(s: &MetadataStore, text: &str) -> Vec<u32> {
    let f = Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let by_index: Vec<u32> = s.evaluate(&f).iter().collect();
    let by_record: Vec<u32> = s.live().iter().filter(|&x| s.matches(x, &f)).collect();
    assert_eq!(by_index, by_record, "{text}");
    by_index
}

#[test]
fn set_get_replace_remove() {
    let mut s = MetadataStore::new();
    assert!(s.is_empty());
    s.set(7, r#"{"genre":"jazz","year":1959,"tags":["live","mono"],"rating":4.5,"free":false}"#).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(
        s.get_json(7).unwrap(),
        r#"{"free":false,"genre":"jazz","rating":4.5,"tags":["live","mono"],"year":1959}"#
    );
    assert_eq!(s.get(7).unwrap()["year"], Value::Int(1959));
    assert_eq!(hits(&s, r#"genre = "jazz""#), vec![7]);
    assert_eq!(hits(&s, r#"tags CONTAINS "mono""#), vec![7]);

    // Replace: old values leave every index.
    s.set(7, r#"{"genre":"rock","tags":["studio"]}"#).unwrap();
    s.check_invariants().unwrap();
    assert_eq!(s.len(), 1);
    assert!(hits(&s, r#"genre = "jazz""#).is_empty());
    assert!(hits(&s, "year = 1959").is_empty());
    assert!(hits(&s, "EXISTS year OR EXISTS rating OR EXISTS free").is_empty());
    assert!(hits(&s, r#"tags CONTAINS "mono""#).is_empty());
    assert_eq!(hits(&s, r#"genre = "rock" AND tags CONTAINS "studio""#), vec![7]);
    assert_eq!(s.get_json(7).unwrap(), r#"{"genre":"rock","tags":["studio"]}"#);

    // A refused set leaves the record as it was.
    assert!(matches!(s.set(7, r#"{"genre":{"x":[1,"a"]}}"#), Err(Error::InvalidArgument(_))));
    assert!(s.set(7, "[]").is_err());
    assert_eq!(s.get_json(7).unwrap(), r#"{"genre":"rock","tags":["studio"]}"#);
    s.check_invariants().unwrap();

    // Remove.
    assert!(s.remove(7));
    assert!(!s.remove(7));
    assert!(s.get(7).is_none() && s.is_empty() && !s.contains(7));
    assert!(hits(&s, "EXISTS genre").is_empty());
    assert!(hits(&s, "NOT EXISTS genre").is_empty());
    s.check_invariants().unwrap();
    // Emptied values leave no bitmap behind.
    assert!(s.fields.iter().all(|f| f.strings.is_empty() && f.tags.is_empty() && f.numbers.is_empty()));

    // Empty metadata: live, no fields.
    s.set_empty(3);
    s.set(4, "{}").unwrap();
    assert_eq!(s.get_json(3).unwrap(), "{}");
    assert_eq!(hits(&s, "NOT EXISTS genre"), vec![3, 4]);
    s.check_invariants().unwrap();
}

#[test]
fn set_metadata_checks_values() {
    let mut s = MetadataStore::new();
    let mut m = Metadata::new();
    m.insert("n".into(), Value::Int(MAX_EXACT_INT + 1));
    assert!(s.set_metadata(1, m).is_err());
    let mut m = Metadata::new();
    m.insert("f".into(), Value::Float(f64::NAN));
    assert!(s.set_metadata(1, m).is_err());
    assert!(s.is_empty());
}

#[test]
fn semantics_of_each_operator() {
    let s = store(&[
        (0, r#"{"n":3,"s":"b","t":["x","y"],"b":true}"#),
        (1, r#"{"n":3.0,"s":"a"}"#),
        (2, r#"{"n":-0.0,"s":"3","b":false}"#),
        (3, r#"{"n":"3","t":[]}"#),
        (4, r#"{"n":2.5,"s":"c","t":["y"]}"#),
        (5, r#"{}"#),
        (6, r#"{"n":["3"],"s":"2024-01-15"}"#),
    ]);
    // Numbers: integers and floats on one line; strings and lists are not numbers.
    assert_eq!(hits(&s, "n = 3"), vec![0, 1]);
    assert_eq!(hits(&s, "n = 3.0"), vec![0, 1]);
    assert_eq!(hits(&s, "n = 0"), vec![2]);
    assert_eq!(hits(&s, "n = -0.0"), vec![2]);
    assert_eq!(hits(&s, r#"n = "3""#), vec![3]);
    // != needs the field; other kinds count as different.
    assert_eq!(hits(&s, "n != 3"), vec![2, 3, 4, 6]);
    assert_eq!(hits(&s, "NOT n = 3"), vec![2, 3, 4, 5, 6]);
    assert_eq!(hits(&s, "missing != 1"), Vec::<u32>::new());
    assert_eq!(hits(&s, "NOT missing = 1"), vec![0, 1, 2, 3, 4, 5, 6]);
    // Ranges.
    assert_eq!(hits(&s, "n < 3"), vec![2, 4]);
    assert_eq!(hits(&s, "n <= 3"), vec![0, 1, 2, 4]);
    assert_eq!(hits(&s, "n > 0"), vec![0, 1, 4]);
    assert_eq!(hits(&s, "n >= 0"), vec![0, 1, 2, 4]);
    assert_eq!(hits(&s, "n >= -0.0"), vec![0, 1, 2, 4]);
    assert_eq!(hits(&s, r#"s < "b""#), vec![1, 2, 6]);
    assert_eq!(hits(&s, r#"s >= "2024-01-01" AND s < "2024-02-01""#), vec![6]);
    assert_eq!(hits(&s, r#"n > "2""#), vec![3]);
    // Booleans.
    assert_eq!(hits(&s, "b = true"), vec![0]);
    assert_eq!(hits(&s, "b != true"), vec![2]);
    assert_eq!(hits(&s, "b = false"), vec![2]);
    // IN, mixed kinds.
    assert_eq!(hits(&s, r#"n IN (2.5, "3", 99)"#), vec![3, 4]);
    assert_eq!(hits(&s, r#"s IN ("a", "c", true)"#), vec![1, 4]);
    // CONTAINS only looks in lists; lists match nothing else.
    assert_eq!(hits(&s, r#"t CONTAINS "y""#), vec![0, 4]);
    assert_eq!(hits(&s, r#"s CONTAINS "a""#), Vec::<u32>::new());
    assert_eq!(hits(&s, r#"n CONTAINS "3""#), vec![6]);
    assert_eq!(hits(&s, r#"t = "y""#), Vec::<u32>::new());
    // EXISTS counts an empty list.
    assert_eq!(hits(&s, "EXISTS t"), vec![0, 3, 4]);
    // Combinations.
    assert_eq!(hits(&s, r#"n = 3 AND NOT s = "a""#), vec![0]);
    assert_eq!(hits(&s, r#"NOT EXISTS s AND NOT EXISTS t"#), vec![5]);
    assert_eq!(hits(&s, "NOT n = 3 AND NOT EXISTS b"), vec![3, 4, 5, 6]);
    assert_eq!(hits(&s, r#"n = 3 OR t CONTAINS "y" OR s = "3""#), vec![0, 1, 2, 4]);
    assert_eq!(hits(&s, "NOT (n = 3 OR n = 0)"), vec![3, 4, 5, 6]);
    assert!(s.memory_bytes() > 0);
}

#[test]
fn ranges_on_one_field_merge() {
    let mut s = MetadataStore::new();
    // Enough records that an AND goes through the indexes before the per-record recheck.
    for i in 0..2000u32 {
        let json = if i % 10 == 9 {
            format!(r#"{{"n":"s{:04}"}}"#, i)
        } else {
            format!(r#"{{"n":{},"m":{}}}"#, i as f64 / 2.0, i % 7)
        };
        s.set(i, &json).unwrap();
    }
    s.check_invariants().unwrap();
    let count = |text: &str| hits(&s, text).len();
    assert_eq!(count("n >= 100 AND n < 110"), 20 - 2);
    assert_eq!(count("n > 100 AND n >= 100 AND n <= 110 AND n < 110.5"), 20 - 2);
    assert_eq!(count("n >= 100 AND n <= 100"), 1);
    assert_eq!(count("n > 100 AND n < 100"), 0);
    assert_eq!(count("n > 100 AND n <= 100"), 0);
    assert_eq!(count("n >= 100 AND n < 100"), 0);
    assert_eq!(count("n > 101 AND n < 100"), 0);
    assert_eq!(count(r#"n >= "s0100" AND n < "s0200""#), 10);
    assert_eq!(count(r#"n > 5 AND n < "s0200""#), 0);
    let numeric = |keep: &dyn Fn(u32) -> bool| (0..2000u32).filter(|i| i % 10 != 9 && keep(*i)).count();
    assert_eq!(count(r#"n >= 0 AND NOT m = 3 AND n < 500"#), numeric(&|i| i < 1000 && i % 7 != 3));
    assert_eq!(count(r#"m = 3 AND n >= 10"#), numeric(&|i| i >= 20 && i % 7 == 3));
    // A selective first part leaves the rest to the per-record recheck.
    assert_eq!(count("n = 5 AND m >= 3"), 1);
    assert_eq!(count("n = 5 AND m < 3"), 0);
    assert_eq!(count(r#"n IN (1, 2, 3.5, "s0009") AND NOT m = 1 AND m < 6 AND (n > 1 OR EXISTS m)"#), 3);
    assert_eq!(count(r#"m < 3 AND m >= 1 AND NOT n > 800"#), hits(&s, "(m = 1 OR m = 2) AND n <= 800").len());
}

// ---- randomized: index evaluation == per-record check == an oracle over the raw JSON ----

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const FIELDS: &[&str] = &["color", "size", "price", "flag", "tags", "scores", "mixed", "absent"];
const WORDS: &[&str] = &["red", "green", "blue", "", "Red", "a\"b", "日本"];
const NUMBERS: &[f64] = &[-3.0, -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 1e9];

fn random_json_value(rng: &mut Rng, field: &str) -> serde_json::Value {
    use serde_json::json;
    let word = |rng: &mut Rng| WORDS[rng.below(WORDS.len())].to_string();
    let number = |rng: &mut Rng| {
        let x = NUMBERS[rng.below(NUMBERS.len())];
        if x.fract() == 0.0 && rng.chance(50) && x != 0.0 {
            json!(x as i64)
        } else {
            json!(x)
        }
    };
    match field {
        "color" => json!(word(rng)),
        "size" => json!(rng.below(8) as i64 - 2),
        "price" => number(rng),
        "flag" => json!(rng.chance(50)),
        "tags" => json!((0..rng.below(4)).map(|_| word(rng)).collect::<Vec<_>>()),
        // A list of numbers (never empty: an empty list is a list of strings), or null.
        "scores" if rng.chance(20) => serde_json::Value::Null,
        "scores" => json!((0..1 + rng.below(3)).map(|_| number(rng)).collect::<Vec<_>>()),
        _ => match rng.below(6) {
            0 => json!(word(rng)),
            1 => number(rng),
            2 => json!(rng.chance(50)),
            3 => serde_json::Value::Null,
            4 => json!((0..1 + rng.below(2)).map(|_| number(rng)).collect::<Vec<_>>()),
            _ => json!((0..rng.below(3)).map(|_| word(rng)).collect::<Vec<_>>()),
        },
    }
}

fn random_record(rng: &mut Rng) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for f in FIELDS.iter().filter(|f| **f != "absent") {
        if rng.chance(70) {
            m.insert(f.to_string(), random_json_value(rng, f));
        }
    }
    serde_json::Value::Object(m)
}

/// A literal, most often of the kind the field holds, so that filters select something.
fn random_literal(rng: &mut Rng, field: &str) -> Literal {
    if rng.chance(70) {
        match field {
            "color" | "tags" => return Literal::Str(WORDS[rng.below(WORDS.len())].into()),
            "size" => return Literal::Int(rng.below(8) as i64 - 2),
            "price" => return Literal::Float(NUMBERS[rng.below(NUMBERS.len())]),
            "flag" => return Literal::Bool(rng.chance(50)),
            _ => {}
        }
    }
    match rng.below(11) {
        0..=3 => Literal::Str(WORDS[rng.below(WORDS.len())].into()),
        4..=5 => Literal::Int(rng.below(8) as i64 - 3),
        6..=8 => Literal::Float(NUMBERS[rng.below(NUMBERS.len())]),
        9 => Literal::Null,
        _ => Literal::Bool(rng.chance(50)),
    }
}

fn random_filter(rng: &mut Rng, depth: usize) -> Filter {
    let field = FIELDS[rng.below(FIELDS.len())].to_string();
    let leaf = depth == 0 || rng.chance(40);
    if leaf {
        return match rng.below(10) {
            0..=4 => {
                let ops =
                    [CompareOp::Eq, CompareOp::Ne, CompareOp::Lt, CompareOp::Le, CompareOp::Gt, CompareOp::Ge];
                let op = ops[rng.below(ops.len())];
                let mut value = random_literal(rng, &field);
                if op.is_ordering() && matches!(value, Literal::Bool(_) | Literal::Null) {
                    value = Literal::Int(1);
                }
                Filter::Compare { field, op, value }
            }
            5..=6 => {
                let values = (0..1 + rng.below(3)).map(|_| random_literal(rng, &field)).collect();
                Filter::In { field, values }
            }
            7..=8 => {
                let value = if rng.chance(50) {
                    Literal::Str(WORDS[rng.below(WORDS.len())].into())
                } else {
                    Literal::Float(NUMBERS[rng.below(NUMBERS.len())])
                };
                Filter::Contains { field, value }
            }
            _ => Filter::Exists { field },
        };
    }
    let ops = [CompareOp::Lt, CompareOp::Le, CompareOp::Gt, CompareOp::Ge];
    match rng.below(4) {
        // Several ordering comparisons on one field: merged into one range walk.
        3 => {
            let mut parts = Vec::new();
            for _ in 0..2 + rng.below(2) {
                let op = ops[rng.below(ops.len())];
                let value = match random_literal(rng, &field) {
                    Literal::Bool(_) | Literal::Null => Literal::Float(NUMBERS[rng.below(NUMBERS.len())]),
                    v => v,
                };
                parts.push(Filter::Compare { field: field.clone(), op, value });
            }
            for _ in 0..rng.below(2) {
                parts.push(random_filter(rng, depth - 1));
            }
            Filter::And(parts)
        }
        0 => Filter::Not(Box::new(random_filter(rng, depth - 1))),
        1 => Filter::And((0..2 + rng.below(2)).map(|_| random_filter(rng, depth - 1)).collect()),
        _ => Filter::Or((0..2 + rng.below(2)).map(|_| random_filter(rng, depth - 1)).collect()),
    }
}

/// The semantics of the module doc, written again directly over serde_json values.
fn oracle(record: &serde_json::Value, f: &Filter) -> bool {
    use serde_json::Value as J;
    let get = |field: &str| record.get(field);
    let num = |v: &J| v.as_f64();
    let lit_num = |l: &Literal| match l {
        Literal::Int(i) => Some(*i as f64),
        Literal::Float(x) => Some(*x),
        _ => None,
    };
    let eq = |v: &J, l: &Literal| match (v, l) {
        (J::String(a), Literal::Str(b)) => a == b,
        (J::Bool(a), Literal::Bool(b)) => a == b,
        (J::Null, Literal::Null) => true,
        (J::Number(_), _) => lit_num(l).is_some_and(|b| num(v) == Some(b)),
        _ => false,
    };
    match f {
        Filter::Compare { field, op, value } => {
            let Some(v) = get(field) else { return false };
            let ord = match (v, value) {
                (J::String(a), Literal::Str(b)) => Some(a.as_str().cmp(b.as_str())),
                (J::Number(_), l) => lit_num(l).and_then(|b| num(v).and_then(|a| a.partial_cmp(&b))),
                _ => None,
            };
            match op {
                CompareOp::Eq => eq(v, value),
                CompareOp::Ne => !eq(v, value),
                CompareOp::Lt => ord == Some(Ordering::Less),
                CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                CompareOp::Gt => ord == Some(Ordering::Greater),
                CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            }
        }
        Filter::In { field, values } => get(field).is_some_and(|v| values.iter().any(|l| eq(v, l))),
        Filter::Contains { field, value } => match (get(field), value) {
            (Some(J::Array(a)), Literal::Str(s)) => a.iter().any(|x| x.as_str() == Some(s.as_str())),
            (Some(J::Array(a)), l) => a.iter().any(|x| x.is_number() && lit_num(l).is_some_and(|b| num(x) == Some(b + 0.0))),
            _ => false,
        },
        Filter::Exists { field } => get(field).is_some(),
        Filter::Not(g) => !oracle(record, g),
        Filter::And(v) => v.iter().all(|g| oracle(record, g)),
        Filter::Or(v) => v.iter().any(|g| oracle(record, g)),
    }
}

#[test]
fn evaluate_equals_brute_force_on_a_random_store() {
    let mut rng = Rng(0xF117_E125);
    let mut s = MetadataStore::new();
    let mut truth: HashMap<u32, serde_json::Value> = HashMap::new();
    // 4000 records over slots 0..5000, then churn: replacements, removals, empties.
    for slot in 0..4000u32 {
        let r = random_record(&mut rng);
        s.set(slot * 5 / 4, &r.to_string()).unwrap();
        truth.insert(slot * 5 / 4, r);
    }
    for _ in 0..3000 {
        let slot = rng.below(5000) as u32;
        match rng.below(4) {
            0 => {
                assert_eq!(s.remove(slot), truth.remove(&slot).is_some());
            }
            1 => {
                s.set_empty(slot);
                truth.insert(slot, serde_json::json!({}));
            }
            _ => {
                let r = random_record(&mut rng);
                s.set(slot, &r.to_string()).unwrap();
                truth.insert(slot, r);
            }
        }
    }
    s.check_invariants().unwrap();
    assert_eq!(s.len(), truth.len());
    for (slot, r) in &truth {
        let back: serde_json::Value = serde_json::from_str(&s.get_json(*slot).unwrap()).unwrap();
        assert_eq!(&back, r, "slot {slot}");
    }
    let mut nonempty = 0;
    for i in 0..400 {
        let f = random_filter(&mut rng, 1 + i % 4);
        // Through the text form too: what users send.
        let f2 = Filter::parse(&f.to_string()).unwrap_or_else(|e| panic!("{f}: {e}"));
        let got = s.evaluate(&f2);
        let mut want = RoaringBitmap::new();
        for (slot, r) in &truth {
            if oracle(r, &f) {
                want.insert(*slot);
            }
            assert_eq!(s.matches(*slot, &f), oracle(r, &f), "slot {slot} {r} filter {f}");
        }
        assert_eq!(got, want, "filter {f}");
        nonempty += (!got.is_empty() && got.len() < truth.len() as u64) as usize;
    }
    // The random filters are not all trivial.
    assert!(nonempty > 150, "only {nonempty} of 400 filters were selective");
}

/// Issue #25: null and lists of numbers, in filters and through a save.
#[test]
fn null_and_lists_of_numbers_filter_and_persist() {
    let mut s = MetadataStore::new();
    s.set(1, r#"{"scores":[1,2.5,3],"gone":null}"#).unwrap();
    s.set(2, r#"{"scores":[3.0,4],"gone":"here"}"#).unwrap();
    s.set(3, r#"{"scores":["3"],"gone":0}"#).unwrap();
    s.set_empty(4);
    assert_eq!(hits(&s, "scores CONTAINS 3"), vec![1, 2]);
    assert_eq!(hits(&s, "scores CONTAINS 2.5"), vec![1]);
    assert_eq!(hits(&s, r#"scores CONTAINS "3""#), vec![3]);
    assert_eq!(hits(&s, "gone = null"), vec![1]);
    assert_eq!(hits(&s, "gone != null"), vec![2, 3]);
    assert_eq!(hits(&s, "gone IN (null, 0)"), vec![1, 3]);
    assert_eq!(hits(&s, "EXISTS gone"), vec![1, 2, 3]);
    assert_eq!(hits(&s, "NOT gone = NULL"), vec![2, 3, 4]);
    // A list of numbers equals nothing, and null is not 0 or false.
    assert!(hits(&s, "scores = 3").is_empty() && hits(&s, "gone = false").is_empty());
    assert_eq!(s.get_json(1).unwrap(), r#"{"gone":null,"scores":[1,2.5,3]}"#);
    s.check_invariants().unwrap();
    assert!(s.needs_kinds_of_version_6());

    // Through MDAT: version 6 reads them back; version 5 refuses them as damage.
    let mut out = crate::encoding::Le(Vec::new());
    s.encode(&mut out);
    let live = |slot: u32| (1..=4).contains(&slot);
    let back = MetadataStore::decode(&out.0, 4, live, 6).unwrap();
    back.check_invariants().unwrap();
    assert_eq!(back.get_json(2).unwrap(), s.get_json(2).unwrap());
    assert_eq!(hits(&back, "scores CONTAINS 4"), vec![2]);
    assert!(MetadataStore::decode(&out.0, 4, live, 5).is_err());

    // Replaced and removed values leave no trace in the indexes.
    s.set(1, r#"{"scores":[9]}"#).unwrap();
    assert!(hits(&s, "gone = null").is_empty() && hits(&s, "scores CONTAINS 1").is_empty());
    s.remove(1);
    s.remove(2);
    assert!(!s.needs_kinds_of_version_6());
    s.check_invariants().unwrap();
}
