//! Golden test of the documented encoding: the field tables of
//! `docs/signed-messages.md` are read, each vector's action is encoded from
//! its JSON by the table alone (no kinko code), and the bytes must equal
//! `Action::encode()` and the vector's `fields`. Every JSON field of an
//! action must be in its table (nothing travels unsigned), and every tag in
//! the docs must be the action's tag.

use std::collections::BTreeMap;

use bitcoin::hex::{DisplayHex, FromHex};
use kinko_auth::{Action, UnixTime};
use serde_json::Value;

use crate::common::{read_data, workspace_path};

/// One action's section of the docs: its tag and its (field, type) rows in
/// signing order.
#[derive(Debug, Default)]
struct Table {
    tag: Option<String>,
    rows: Vec<(String, String)>,
}

fn between_backticks(s: &str) -> Option<&str> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(&s[start..start + len])
}

fn doc_text() -> String {
    let path = workspace_path("docs/signed-messages.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Sections are `### \`name\``, then a `Tag: \`kinko/…\`` line, then a table
/// whose rows start with `| <number> |`.
fn doc_tables() -> BTreeMap<String, Table> {
    let text = doc_text();
    let mut out: BTreeMap<String, Table> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            current = between_backticks(h)
                .filter(|_| h.starts_with('`'))
                .map(str::to_owned);
            if let Some(name) = &current {
                assert!(!out.contains_key(name), "two sections for {name}");
                out.insert(name.clone(), Table::default());
            }
            continue;
        }
        if line.starts_with("## ") {
            current = None;
        }
        let Some(table) = current.as_ref().and_then(|n| out.get_mut(n)) else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("Tag: ") {
            table.tag = between_backticks(rest).map(str::to_owned);
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() >= 4 && cells[1].parse::<usize>().is_ok() {
            assert_eq!(
                cells[1].parse::<usize>().unwrap(),
                table.rows.len() + 1,
                "rows numbered in order: {line}"
            );
            let field = between_backticks(cells[2]).unwrap_or(cells[2]).to_owned();
            table.rows.push((field, cells[3].to_owned()));
        }
    }
    out
}

/// Encodes `action` (its JSON object) from the table alone.
fn encode_by_table(table: &Table, action: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for (field, ty) in &table.rows {
        let v = &action[field.as_str()];
        match ty.as_str() {
            "hash" => out.extend(<[u8; 32]>::from_hex(v.as_str().expect("hex")).expect("32 bytes")),
            "string" => {
                let s = v.as_str().expect("string");
                out.extend((s.len() as u32).to_be_bytes());
                out.extend(s.as_bytes());
            }
            "u64" => out.extend(v.as_u64().expect("u64").to_be_bytes()),
            "time" => out.extend(
                UnixTime::parse_rfc3339(v.as_str().expect("time"))
                    .expect("RFC 3339")
                    .unix()
                    .to_be_bytes(),
            ),
            other => panic!("unknown type {other:?} for {field}"),
        }
    }
    out
}

#[test]
fn encoding_is_the_documented_table() {
    let tables = doc_tables();
    let vectors: Value = serde_json::from_str(&read_data("vectors.json")).expect("JSON");
    let mut seen = std::collections::BTreeSet::new();
    for v in vectors["positive"].as_array().expect("positive") {
        let json = &v["action"];
        let action: Action = serde_json::from_value(json.clone()).expect("action");
        let name = action.name();
        let table = tables
            .get(name)
            .unwrap_or_else(|| panic!("docs/signed-messages.md has no table for {name}"));
        assert_eq!(table.tag.as_deref(), Some(action.tag()), "{name}: tag");
        let by_table = encode_by_table(table, json);
        assert_eq!(
            by_table.as_hex().to_string(),
            action.encode().as_hex().to_string(),
            "{name}: encode() is not the documented table"
        );
        assert_eq!(by_table.as_hex().to_string(), v["fields"], "{name}: vector");
        // Nothing travels unsigned: every field of the JSON is in the table.
        let mut json_fields: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "action")
            .collect();
        let mut table_fields: Vec<&str> = table.rows.iter().map(|(f, _)| f.as_str()).collect();
        json_fields.sort_unstable();
        table_fields.sort_unstable();
        assert_eq!(
            json_fields, table_fields,
            "{name}: JSON fields vs signed fields"
        );
        seen.insert(name);
    }
    let documented: std::collections::BTreeSet<&str> = tables.keys().map(String::as_str).collect();
    assert_eq!(
        seen, documented,
        "every documented action has a vector and back"
    );
}

#[test]
fn worked_example_is_the_approval_vector() {
    let doc = doc_text();
    let vectors: Value = serde_json::from_str(&read_data("vectors.json")).expect("JSON");
    let v = vectors["positive"]
        .as_array()
        .expect("positive")
        .iter()
        .find(|v| v["name"] == "approval")
        .expect("the approval vector");
    for key in [
        "fields",
        "digest",
        "secret_key",
        "public_key",
        "signature",
        "signed",
    ] {
        let want = v[key].as_str().expect("string");
        assert!(
            doc.contains(want),
            "the worked example lacks the vector's {key}"
        );
    }
    assert!(doc.contains(vectors["setup_id"].as_str().expect("setup_id")));
}
