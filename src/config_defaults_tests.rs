//! The core's serde defaults equal the defaults Python sends.
//!
//! `tests/fixtures/core_config_defaults.json` is what `Config.to_core_json()` sends for a
//! configuration that sets nothing it needn't (`tests/test_core_defaults.py` keeps it current).
//! Leaving out any one field the core has a default for must parse to the very same
//! configuration: otherwise that default differs from Python's.

use serde_json::{Map, Value};

use super::CoreConfig;

const PYTHON_DEFAULTS: &str = include_str!("../tests/fixtures/core_config_defaults.json");

fn parsed(document: &Value) -> Option<String> {
    CoreConfig::from_json(&document.to_string())
        .ok()
        .map(|config| format!("{config:#?}"))
}

/// Every object key of `value` with its path, e.g. `backends[1].health_check.rise`.
fn key_paths(
    value: &Value,
    label: &str,
    steps: &[PathStep],
    out: &mut Vec<(String, Vec<PathStep>)>,
) {
    match value {
        Value::Object(fields) => {
            for (key, item) in fields {
                let label = if label.is_empty() {
                    key.clone()
                } else {
                    format!("{label}.{key}")
                };
                let mut here = steps.to_vec();
                here.push(PathStep::Key(key.clone()));
                out.push((label.clone(), here.clone()));
                key_paths(item, &label, &here, out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let mut here = steps.to_vec();
                here.push(PathStep::Index(index));
                key_paths(item, &format!("{label}[{index}]"), &here, out);
            }
        }
        _ => {}
    }
}

#[derive(Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn without(document: &Value, steps: &[PathStep]) -> Value {
    let mut copy = document.clone();
    let (last, parents) = steps.split_last().expect("a path has a step");
    let mut node = &mut copy;
    for step in parents {
        node = match step {
            PathStep::Key(key) => &mut node[key.as_str()],
            PathStep::Index(index) => &mut node[*index],
        };
    }
    if let (PathStep::Key(key), Value::Object(fields)) = (last, node) {
        let fields: &mut Map<String, Value> = fields;
        fields.remove(key);
    }
    copy
}

#[test]
fn every_serde_default_is_the_default_python_sends() {
    let fixture: Value = serde_json::from_str(PYTHON_DEFAULTS).expect("the fixture is JSON");
    let document = &fixture["core"];
    // Values the test configuration sets itself: not defaults.
    let explicit: Vec<&str> = fixture["explicit"]
        .as_array()
        .expect("a list of paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let full = parsed(document).expect("the core takes what Python sends");
    let mut paths = Vec::new();
    key_paths(document, "", &[], &mut paths);
    let mut defaulted = 0;
    let mut differing = Vec::new();
    for (label, steps) in paths
        .iter()
        .filter(|(l, _)| !explicit.contains(&l.as_str()))
    {
        // Refused without it: a required field, nothing to compare.
        if let Some(config) = parsed(&without(document, steps)) {
            defaulted += 1;
            if config != full {
                differing.push(label.clone());
            }
        }
    }
    assert!(
        differing.is_empty(),
        "serde defaults that differ from Python's (src/config.rs and its section modules \
         vs python/fastlb/config*.py): {differing:?}"
    );
    // The walk must have something to compare (the fixture covers the sections with defaults).
    assert!(
        defaulted > 30,
        "only {defaulted} fields have a serde default"
    );
}
