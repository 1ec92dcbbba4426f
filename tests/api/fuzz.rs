//! A schema-driven fuzzer against the real server: proptest draws seeds,
//! each seed grows a document from the exported schema's own types
//! (queries, mutations and subscriptions, aliases, inline fragments and
//! fragment spreads, arguments mostly well-typed and sometimes not,
//! variables, values from a pool of hostile strings and real ids) and sends
//! it through HTTP with a random token. No answer may be a 5xx or an
//! INTERNAL_SERVER_ERROR, and the server must still answer afterwards.
//!
//! Bounded: `FUZZ_CASES` documents (default 2000), a few seconds.

use std::collections::HashMap;

use agency_center::domain::Principal;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::{TestApp, invite, spawn_app};

#[derive(Debug, Clone)]
struct Input {
    name: String,
    ty: Type,
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    args: Vec<Input>,
    ty: Type,
}

#[derive(Debug, Clone)]
enum Def {
    Object(Vec<Field>),
    Interface(Vec<Field>),
    Enum(Vec<String>),
    Input(Vec<Input>),
    Scalar,
}

/// The schema as the generator needs it.
struct Schema {
    types: HashMap<String, Def>,
    implementors: HashMap<String, Vec<String>>,
}

impl Schema {
    fn from_sdl(sdl: &str) -> Self {
        let mut types = HashMap::new();
        let mut implementors: HashMap<String, Vec<String>> = HashMap::new();
        let fields =
            |fs: &[async_graphql::Positioned<async_graphql::parser::types::FieldDefinition>]| {
                fs.iter()
                    .map(|f| Field {
                        name: f.node.name.node.to_string(),
                        args: f
                            .node
                            .arguments
                            .iter()
                            .map(|a| Input {
                                name: a.node.name.node.to_string(),
                                ty: a.node.ty.node.clone(),
                            })
                            .collect(),
                        ty: f.node.ty.node.clone(),
                    })
                    .collect::<Vec<_>>()
            };
        for def in async_graphql::parser::parse_schema(sdl)
            .unwrap()
            .definitions
        {
            let TypeSystemDefinition::Type(t) = def else {
                continue;
            };
            let name = t.node.name.node.to_string();
            let def = match &t.node.kind {
                TypeKind::Object(o) => {
                    for i in &o.implements {
                        implementors
                            .entry(i.node.to_string())
                            .or_default()
                            .push(name.clone());
                    }
                    Def::Object(fields(&o.fields))
                }
                TypeKind::Interface(i) => Def::Interface(fields(&i.fields)),
                TypeKind::Enum(e) => Def::Enum(
                    e.values
                        .iter()
                        .map(|v| v.node.value.node.to_string())
                        .collect(),
                ),
                TypeKind::InputObject(i) => Def::Input(
                    i.fields
                        .iter()
                        .map(|f| Input {
                            name: f.node.name.node.to_string(),
                            ty: f.node.ty.node.clone(),
                        })
                        .collect(),
                ),
                _ => Def::Scalar,
            };
            types.insert(name, def);
        }
        Self {
            types,
            implementors,
        }
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

const STRINGS: [&str; 16] = [
    "",
    "a",
    "FR",
    "fr",
    "en",
    "zz",
    "creator_1",
    "agency-1",
    "\u{0}",
    "line\nbreak\ttab",
    "ünïcødé ✓",
    "' OR 1=1 --",
    "%%%",
    "null",
    "2000-01-01",
    "1970-01-01T00:00:00Z",
];

/// One document and what to send with it.
struct Case {
    query: String,
    variables: Value,
    token: Option<String>,
}

struct Generator<'a> {
    schema: &'a Schema,
    rng: StdRng,
    ids: &'a [String],
    /// Well-formed cursors with keys no server made.
    cursors: &'a [String],
    fragments: Vec<String>,
    variables: serde_json::Map<String, Value>,
    declarations: Vec<String>,
}

impl Generator<'_> {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<'s>(&mut self, items: &'s [&'s str]) -> &'s str {
        items[self.rng.random_range(0..items.len())]
    }

    fn string(&mut self) -> String {
        if self.chance(0.1) {
            return "x".repeat(self.rng.random_range(100..5000));
        }
        if self.chance(0.2) {
            return self.cursors[self.rng.random_range(0..self.cursors.len())].clone();
        }
        self.pick(&STRINGS).to_owned()
    }

    fn int(&mut self) -> i64 {
        const EDGES: [i64; 9] = [0, 1, -1, 3, 20, 100, 101, i32::MAX as i64, i32::MIN as i64];
        if self.chance(0.8) {
            EDGES[self.rng.random_range(0..EDGES.len())]
        } else {
            self.rng.random_range(-1000..1000)
        }
    }

    /// A value of `ty` as JSON (for variables).
    fn json(&mut self, ty: &Type, depth: u32) -> Value {
        if ty.nullable && self.chance(0.1) {
            return Value::Null;
        }
        if let BaseType::List(inner) = &ty.base {
            let n = self.rng.random_range(0..3);
            return Value::Array((0..n).map(|_| self.json(inner, depth)).collect());
        }
        let name = named(ty).to_owned();
        match (name.as_str(), self.schema.types.get(&name)) {
            ("Int", _) => json!(self.int()),
            ("Float", _) => json!(
                *[0.0, 0.5, -1.0, 1e308, 3.0]
                    .get(self.rng.random_range(0..5))
                    .unwrap()
            ),
            ("Boolean", _) => json!(self.chance(0.5)),
            ("ID", _) => {
                if self.chance(0.8) && !self.ids.is_empty() {
                    json!(self.ids[self.rng.random_range(0..self.ids.len())])
                } else {
                    json!(self.string())
                }
            }
            (_, Some(Def::Enum(values))) => {
                let values = values.clone();
                if self.chance(0.9) {
                    json!(values[self.rng.random_range(0..values.len())])
                } else {
                    json!("BOGUS")
                }
            }
            (_, Some(Def::Input(fields))) if depth > 0 => {
                let fields = fields.clone();
                let mut map = serde_json::Map::new();
                for f in fields {
                    if !f.ty.nullable || self.chance(0.4) {
                        map.insert(f.name.clone(), self.json(&f.ty, depth - 1));
                    }
                }
                Value::Object(map)
            }
            _ => json!(self.string()),
        }
    }

    /// A literal or a variable for an argument of type `ty`.
    fn argument(&mut self, ty: &Type) -> String {
        if self.chance(0.15) {
            let name = format!("v{}", self.declarations.len());
            self.declarations.push(format!("${name}: {ty}"));
            let value = if self.chance(0.1) {
                json!(self.string())
            } else {
                self.json(ty, 3)
            };
            self.variables.insert(name.clone(), value);
            return format!("${name}");
        }
        if self.chance(0.07) {
            // Wrong on purpose.
            return self
                .pick(&[
                    "\"wrong\"",
                    "42",
                    "true",
                    "[1, 2]",
                    "{a: 1}",
                    "null",
                    "-1.5",
                ])
                .to_owned();
        }
        literal(&self.json(ty, 3), ty, self.schema)
    }

    fn selection(&mut self, ty: &str, depth: u32) -> String {
        let fields = match self.schema.types.get(ty) {
            Some(Def::Object(f) | Def::Interface(f)) => f.clone(),
            _ => return String::new(),
        };
        let mut out = Vec::new();
        for _ in 0..self.rng.random_range(1..=3) {
            if self.chance(0.03) {
                out.push("bogusField".to_owned());
                continue;
            }
            let f = &fields[self.rng.random_range(0..fields.len())];
            let mut text = String::new();
            if self.chance(0.2) {
                text.push_str(&format!("a{}: ", self.rng.random_range(0..1000)));
            }
            text.push_str(&f.name);
            let mut args = Vec::new();
            for a in &f.args {
                if a.name == "after" && self.chance(0.6) {
                    let i = self.rng.random_range(0..self.cursors.len());
                    args.push(format!("after: {:?}", self.cursors[i]));
                } else if !a.ty.nullable || self.chance(0.5) {
                    args.push(format!("{}: {}", a.name, self.argument(&a.ty)));
                }
            }
            if !args.is_empty() {
                text.push_str(&format!("({})", args.join(", ")));
            }
            let returns = named(&f.ty).to_owned();
            if matches!(
                self.schema.types.get(&returns),
                Some(Def::Object(_) | Def::Interface(_))
            ) {
                let inner = if depth == 0 {
                    "__typename".to_owned()
                } else {
                    self.selection(&returns, depth - 1)
                };
                text.push_str(&format!(" {{ {inner} }}"));
            }
            out.push(text);
        }
        if let Some(impls) = self.schema.implementors.get(ty).cloned()
            && depth > 0
            && self.chance(0.4)
        {
            let on = impls[self.rng.random_range(0..impls.len())].clone();
            let inner = self.selection(&on, depth - 1);
            out.push(format!("... on {on} {{ {inner} }}"));
        }
        if depth > 0 && self.chance(0.1) {
            let name = format!("F{}", self.fragments.len());
            let inner = self.selection(ty, depth - 1);
            self.fragments
                .push(format!("fragment {name} on {ty} {{ {inner} }}"));
            out.push(format!("...{name}"));
        }
        out.join(" ")
    }

    fn case(mut self, tokens: &[Option<String>]) -> Case {
        let roll = self.rng.random_range(0..100);
        let (keyword, root) = match roll {
            0..65 => ("query", "Query"),
            65..95 => ("mutation", "Mutation"),
            _ => ("subscription", "Subscription"),
        };
        let depth = self.rng.random_range(1..5);
        let body = self.selection(root, depth);
        let declarations = if self.declarations.is_empty() {
            String::new()
        } else {
            format!("({})", self.declarations.join(", "))
        };
        let mut query = format!("{keyword} Fuzz{declarations} {{ {body} }}");
        for fragment in &self.fragments {
            query.push('\n');
            query.push_str(fragment);
        }
        let token = tokens[self.rng.random_range(0..tokens.len())].clone();
        Case {
            query,
            variables: Value::Object(self.variables),
            token,
        }
    }
}

/// `value` written as a GraphQL literal of type `ty`.
fn literal(value: &Value, ty: &Type, schema: &Schema) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Array(items) => {
            let inner = match &ty.base {
                BaseType::List(inner) => inner.as_ref().clone(),
                BaseType::Named(_) => ty.clone(),
            };
            format!(
                "[{}]",
                items
                    .iter()
                    .map(|v| literal(v, &inner, schema))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Value::Object(map) => {
            let fields = match schema.types.get(named(ty)) {
                Some(Def::Input(fields)) => fields.clone(),
                _ => Vec::new(),
            };
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    let fty = fields
                        .iter()
                        .find(|f| &f.name == k)
                        .map_or_else(|| ty.clone(), |f| f.ty.clone());
                    format!("{k}: {}", literal(v, &fty, schema))
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::String(s) if matches!(schema.types.get(named(ty)), Some(Def::Enum(_))) => s.clone(),
        other => other.to_string(),
    }
}

/// Cursors of each list whose keys are hostile: what a client that
/// decodes and edits cursors sends.
fn forged_cursors() -> Vec<String> {
    use base64::Engine;
    let lists = ["agencies", "members", "invitations", "recommendations"];
    let keys = ["\u{0}", "not-a-key", "", "1.2.3", "%", "zzzz|zzzz", "0"];
    lists
        .iter()
        .flat_map(|l| keys.iter().map(move |k| format!("{l}|{k}")))
        .map(|c| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c))
        .collect()
}

async fn fixtures(app: &TestApp) -> (Vec<Option<String>>, Vec<String>) {
    let (agency_id, _, agency) = app.agency_with_token("fuzzed", &["FR"], 5).await;
    let (creator_id, _, creator) = app.discoverable_creator("fuzzed", "FR").await;
    let invitation = invite(app, &agency, &creator_id).await;
    let read_only = app.token_scoped(Principal::Admin("reader".into()), Some("read"));
    (
        vec![
            None,
            Some(app.admin()),
            Some(agency),
            Some(creator),
            Some(read_only),
        ],
        vec![agency_id, creator_id, invitation, "garbage".into()],
    )
}

#[test]
fn generated_documents_never_get_a_5xx() {
    let cases: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(spawn_app());
    let (tokens, ids) = rt.block_on(fixtures(&app));
    let schema = Schema::from_sdl(&agency_center::graphql::sdl());
    let cursors = forged_cursors();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let url = format!("{}/graphql", app.base);
    let sent = std::cell::Cell::new(0u32);
    let ran = std::cell::Cell::new(0u32);
    let outcome = runner.run(&proptest::num::u64::ANY, |seed| {
        let generator = Generator {
            schema: &schema,
            rng: StdRng::seed_from_u64(seed),
            ids: &ids,
            cursors: &cursors,
            fragments: Vec::new(),
            variables: serde_json::Map::new(),
            declarations: Vec::new(),
        };
        let case = generator.case(&tokens);
        let (status, body) = rt.block_on(async {
            let mut request = app
                .client
                .post(&url)
                .json(&json!({"query": case.query, "variables": case.variables}));
            if let Some(token) = &case.token {
                request = request.bearer_auth(token);
            }
            let res = request.send().await.expect("the server answers");
            (res.status(), res.text().await.unwrap_or_default())
        });
        sent.set(sent.get() + 1);
        if body.contains("\"data\":{") {
            ran.set(ran.get() + 1);
        }
        if status.is_server_error() || body.contains("INTERNAL_SERVER_ERROR") {
            return Err(TestCaseError::fail(format!(
                "{status} for\n{}\nvariables {}\n→ {body}",
                case.query, case.variables
            )));
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let alive = rt.block_on(app.gql(None, "{ agencies { totalCount } }", json!({})));
    alive.assert_ok();
    let (sent, ran) = (sent.get(), ran.get());
    println!("fuzz: {sent} documents, {ran} with data, no 5xx");
    assert!(
        ran > sent / 10,
        "the generator must reach resolvers: {ran}/{sent}"
    );
}
