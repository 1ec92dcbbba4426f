//! The exported SDL: `schema.graphql` must match the code, and the code must
//! honour `../shared/CONTRACT.graphql` for everything built so far. Contract
//! items not built yet are listed in `tests/contract_pending.txt`; the list
//! may only shrink, and must be edited when an item is built.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{ServiceDocument, TypeKind, TypeSystemDefinition};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn schema_graphql_is_exported_from_the_code() {
    let on_disk =
        std::fs::read_to_string(format!("{ROOT}/schema.graphql")).expect("schema.graphql");
    let exported = agency_center::graphql::sdl();
    assert!(
        on_disk == exported,
        "schema.graphql is stale: run `cargo run -q -- schema > schema.graphql`"
    );
}

/// Every contract item as `Type`, `Type.field`, `Type.field(arg)` or
/// `Enum.VALUE`, mapped to its type signature (empty for enum values).
fn items(doc: &ServiceDocument) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let t = &t.node;
        let name = t.name.node.to_string();
        match &t.kind {
            TypeKind::Object(o) => {
                let ifaces: BTreeSet<String> =
                    o.implements.iter().map(|i| i.node.to_string()).collect();
                out.insert(name.clone(), format!("type implements {ifaces:?}"));
                for f in &o.fields {
                    let f = &f.node;
                    out.insert(format!("{name}.{}", f.name.node), f.ty.node.to_string());
                    for a in &f.arguments {
                        out.insert(
                            format!("{name}.{}({})", f.name.node, a.node.name.node),
                            a.node.ty.node.to_string(),
                        );
                    }
                }
            }
            TypeKind::Interface(i) => {
                out.insert(name.clone(), "interface".into());
                for f in &i.fields {
                    out.insert(
                        format!("{name}.{}", f.node.name.node),
                        f.node.ty.node.to_string(),
                    );
                }
            }
            TypeKind::InputObject(i) => {
                out.insert(name.clone(), "input".into());
                for f in &i.fields {
                    out.insert(
                        format!("{name}.{}", f.node.name.node),
                        f.node.ty.node.to_string(),
                    );
                }
            }
            TypeKind::Enum(e) => {
                out.insert(name.clone(), "enum".into());
                for v in &e.values {
                    out.insert(format!("{name}.{}", v.node.value.node), String::new());
                }
            }
            TypeKind::Scalar => {
                out.insert(name, "scalar".into());
            }
            TypeKind::Union(_) => {
                out.insert(name, "union".into());
            }
        }
    }
    out
}

#[test]
fn the_schema_honours_the_contract() {
    let contract_text = std::fs::read_to_string(format!("{ROOT}/../shared/CONTRACT.graphql"))
        .expect("../shared/CONTRACT.graphql beside the repository");
    let contract = items(&parse_schema(&contract_text).expect("the contract parses"));
    let ours = items(&parse_schema(agency_center::graphql::sdl()).expect("our SDL parses"));

    let mut mismatched = Vec::new();
    let mut missing = BTreeSet::new();
    for (item, signature) in &contract {
        match ours.get(item) {
            None => {
                missing.insert(item.clone());
            }
            // Our object types may implement more interfaces than the contract names.
            Some(s) if s != signature && !signature.starts_with("type implements") => {
                mismatched.push(format!("{item}: contract {signature:?}, ours {s:?}"));
            }
            Some(_) => {}
        }
    }
    assert!(
        mismatched.is_empty(),
        "contract mismatches:\n{}",
        mismatched.join("\n")
    );

    let pending_text = std::fs::read_to_string(format!("{ROOT}/tests/contract_pending.txt"))
        .expect("contract_pending.txt");
    let pending: BTreeSet<String> = pending_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    println!("contract items not built yet ({}):", missing.len());
    for item in &missing {
        println!("  {item}");
    }
    let unlisted: Vec<_> = missing.difference(&pending).collect();
    let built: Vec<_> = pending.difference(&missing).collect();
    assert!(
        unlisted.is_empty(),
        "contract items missing from the schema and not listed as pending: {unlisted:?}"
    );
    assert!(
        built.is_empty(),
        "built now: remove from tests/contract_pending.txt: {built:?}"
    );
}
