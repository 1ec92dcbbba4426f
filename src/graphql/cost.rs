//! A query's cost and depth, computed from the document and variables
//! before anything runs (DESIGN.md "Limits"): every field costs 1; a
//! connection multiplies what it selects by its `first` (default 20), and
//! a list that is not a connection by the most it can return (the length
//! of its list argument, as `invitationEligibility`'s ids), at every
//! level, aliases counted. Depth counts the API's own fields only.
//!
//! Introspection (`__schema`, `__type`) is priced apart, by what it
//! returns: each of its lists multiplied by the most our schema can put in
//! it (every type, the most fields a type has…). A document may ask for
//! at most three times what graphql-js's standard introspection query
//! does, and may not nest its type lists, the one way an introspection
//! query grows exponentially.
//!
//! The walk is itself bounded: it refuses a document whose selections
//! (fields, fragments, spreads) nest more than [`MAX_NESTING`] deep before
//! recursing further, so no document can exhaust the stack, and measures
//! each fragment once.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition,
    OperationType, Selection, SelectionSet, ServiceDocument, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Positioned, Value, Variables};

use super::connection::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// Introspection fields that list types' members; one inside another is
/// what makes `fields { type { fields { type … } } }` explode.
const INTROSPECTION_LISTS: [&str; 4] = ["fields", "inputFields", "interfaces", "possibleTypes"];
/// graphql-js's and GraphiQL's standard query nest them once.
const MAX_INTROSPECTION_NESTING: u32 = 2;
/// How deep selection sets may nest (fields, inline fragments and spreads
/// each open one), as async-graphql's own recursion limit: the walks stop
/// here instead of following a document to the end.
pub const MAX_NESTING: u32 = 32;
/// graphql-js's `getIntrospectionQuery()`, which GraphiQL, Apollo and the
/// code generators send: the yardstick of introspection's price.
const STANDARD_INTROSPECTION: &str = include_str!("standard_introspection.graphql");
/// How many standard introspection queries one document may ask for.
const INTROSPECTION_ALLOWANCE: u64 = 3;

/// How many items a field returns, for pricing what it selects.
#[derive(Debug, Clone)]
enum Size {
    One,
    /// A connection: its `first`.
    Page,
    /// A list as long as its list argument of this name.
    Input(Name),
}

/// What the cost walk needs to know of one field of the schema.
#[derive(Debug, Clone)]
struct FieldShape {
    /// The named type it returns, lists and non-null stripped.
    returns: String,
    size: Size,
}

/// The most items each introspection list can hold in our schema.
#[derive(Debug, Default)]
struct IntrospectionSizes(HashMap<&'static str, u64>);

/// The schema reduced to field shapes, built once from its SDL.
#[derive(Debug, Default)]
pub struct CostModel {
    fields: HashMap<(String, String), FieldShape>,
    introspection: IntrospectionSizes,
    /// The most introspection a document may ask for.
    max_introspection: u64,
}

/// What a document asks for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// The API's own fields.
    pub cost: u64,
    /// What its introspection returns, priced apart.
    pub introspection: u64,
    pub depth: u32,
    /// Selects `__schema` or `__type`.
    pub introspects: bool,
    /// How many selection sets nest below this one.
    height: u32,
}

/// Why a document is refused before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TooComplex {
    Cost { cost: u64, max: u64 },
    Depth { depth: u32, max: u32 },
    Introspection { cost: u64, max: u64 },
    IntrospectionNesting,
    Nesting,
}

impl std::fmt::Display for TooComplex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TooComplex::Cost { cost, max } => write!(
                f,
                "query cost {cost} is above the maximum of {max} (every field costs 1, a connection multiplies what it selects by its first, a list by its length)"
            ),
            TooComplex::Depth { depth, max } => {
                write!(f, "query depth {depth} is above the maximum of {max}")
            }
            TooComplex::Introspection { cost, max } => write!(
                f,
                "introspection asking for {cost} items is above the maximum of {max} ({INTROSPECTION_ALLOWANCE} times the standard introspection query)"
            ),
            TooComplex::IntrospectionNesting => write!(
                f,
                "introspection may not nest fields, inputFields, interfaces or possibleTypes more than {MAX_INTROSPECTION_NESTING} deep"
            ),
            TooComplex::Nesting => write!(
                f,
                "selections (fields, fragments and spreads) may not nest more than {MAX_NESTING} deep"
            ),
        }
    }
}

/// A list argument's name, if the field has one.
fn list_argument(field: &async_graphql::parser::types::FieldDefinition) -> Option<Name> {
    field
        .arguments
        .iter()
        .find(|a| matches!(a.node.ty.node.base, BaseType::List(_)))
        .map(|a| a.node.name.node.clone())
}

impl IntrospectionSizes {
    /// The longest each list can be, from our SDL plus what every schema
    /// has: five built-in scalars, eight introspection types (whose own
    /// fields are at most 8 and arguments at most 1), the built-in
    /// directives.
    fn of(doc: &ServiceDocument) -> Self {
        let (mut types, mut fields, mut args) = (5 + 8, 8, 1);
        let (mut enum_values, mut input_fields, mut interfaces, mut possible) = (8, 0, 0, 0);
        let mut implementers: HashMap<String, u64> = HashMap::new();
        let mut directives = 4;
        for def in &doc.definitions {
            match def {
                TypeSystemDefinition::Type(ty) => {
                    types += 1;
                    match &ty.node.kind {
                        TypeKind::Object(o) => {
                            fields = fields.max(o.fields.len() as u64);
                            interfaces = interfaces.max(o.implements.len() as u64);
                            for i in &o.implements {
                                *implementers.entry(i.node.to_string()).or_default() += 1;
                            }
                            for f in &o.fields {
                                args = args.max(f.node.arguments.len() as u64);
                            }
                        }
                        TypeKind::Interface(i) => {
                            fields = fields.max(i.fields.len() as u64);
                            for f in &i.fields {
                                args = args.max(f.node.arguments.len() as u64);
                            }
                        }
                        TypeKind::Enum(e) => enum_values = enum_values.max(e.values.len() as u64),
                        TypeKind::InputObject(i) => {
                            input_fields = input_fields.max(i.fields.len() as u64);
                        }
                        TypeKind::Union(u) => possible = possible.max(u.members.len() as u64),
                        TypeKind::Scalar => {}
                    }
                }
                TypeSystemDefinition::Directive(d) => {
                    directives += 1;
                    args = args.max(d.node.arguments.len() as u64);
                }
                TypeSystemDefinition::Schema(_) => {}
            }
        }
        possible = possible.max(implementers.into_values().max().unwrap_or(0));
        Self(HashMap::from([
            ("types", types),
            ("fields", fields),
            ("args", args),
            ("enumValues", enum_values),
            ("inputFields", input_fields),
            ("interfaces", interfaces),
            ("possibleTypes", possible),
            ("directives", directives),
        ]))
    }

    fn size(&self, field: &str) -> u64 {
        self.0.get(field).copied().unwrap_or(1)
    }
}

impl CostModel {
    /// Reads the object and interface fields of `sdl`; a field whose type
    /// is named `…Connection` is a connection.
    pub fn from_sdl(sdl: &str) -> Self {
        let mut fields = HashMap::new();
        let doc = async_graphql::parser::parse_schema(sdl).expect("our own SDL parses");
        for def in &doc.definitions {
            let TypeSystemDefinition::Type(ty) = def else {
                continue;
            };
            let members = match &ty.node.kind {
                TypeKind::Object(o) => &o.fields,
                TypeKind::Interface(i) => &i.fields,
                _ => continue,
            };
            for field in members {
                let mut base = &field.node.ty.node.base;
                let list = matches!(base, BaseType::List(_));
                while let BaseType::List(inner) = base {
                    base = &inner.base;
                }
                let BaseType::Named(returns) = base else {
                    unreachable!("lists were stripped");
                };
                let size = if returns.ends_with("Connection") {
                    Size::Page
                } else if let Some(arg) = list.then(|| list_argument(&field.node)).flatten() {
                    Size::Input(arg)
                } else {
                    Size::One
                };
                fields.insert(
                    (
                        ty.node.name.node.to_string(),
                        field.node.name.node.to_string(),
                    ),
                    FieldShape {
                        returns: returns.to_string(),
                        size,
                    },
                );
            }
        }
        let mut model = Self {
            fields,
            introspection: IntrospectionSizes::of(&doc),
            max_introspection: u64::MAX,
        };
        let standard = async_graphql::parser::parse_query(STANDARD_INTROSPECTION)
            .expect("the standard introspection query parses");
        let priced = model
            .measure(&standard, None, &Variables::default())
            .expect("one operation")
            .expect("the standard query is measured");
        model.max_introspection = priced.introspection * INTROSPECTION_ALLOWANCE;
        model
    }

    /// Measures the operation the request selects (by name, or the only
    /// one). `None` when there is no such operation: validation says why.
    pub fn measure(
        &self,
        doc: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Option<Result<Measure, TooComplex>> {
        let op = selected_operation(doc, operation_name)?;
        let root = match op.node.ty {
            OperationType::Query => "Query",
            OperationType::Mutation => "Mutation",
            OperationType::Subscription => "Subscription",
        };
        let mut walk = Walk {
            model: self,
            fragments: &doc.fragments,
            variables,
            operation: &op.node,
            memo: HashMap::new(),
            visiting: Vec::new(),
        };
        Some(walk.selection(root, &op.node.selection_set.node, 0, 0))
    }
}

/// The operation a request runs: the one named, or the only one.
pub fn selected_operation<'d>(
    doc: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

struct Walk<'a> {
    model: &'a CostModel,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a Variables,
    operation: &'a OperationDefinition,
    /// A fragment's measure, once (spreads of spreads would otherwise be
    /// walked exponentially often); keyed by introspection nesting too.
    memo: HashMap<(Name, u32), Result<Measure, TooComplex>>,
    /// Fragments being walked: a cycle (invalid, refused by validation) is
    /// not followed.
    visiting: Vec<Name>,
}

impl Walk<'_> {
    /// `nesting`: how many introspection type lists enclose this set; 0
    /// outside introspection… and also at its top (see `field`). `level`:
    /// how many selection sets enclose this one.
    fn selection(
        &mut self,
        ty: &str,
        set: &SelectionSet,
        nesting: u32,
        level: u32,
    ) -> Result<Measure, TooComplex> {
        if level > MAX_NESTING {
            return Err(TooComplex::Nesting);
        }
        let mut total = Measure::default();
        for item in &set.items {
            let m = match &item.node {
                Selection::Field(f) => self.field(ty, &f.node, nesting, level)?,
                Selection::InlineFragment(f) => {
                    let on = f
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(ty, |c| c.node.on.node.as_str())
                        .to_owned();
                    let inner =
                        self.selection(&on, &f.node.selection_set.node, nesting, level + 1)?;
                    inner.opened()
                }
                Selection::FragmentSpread(s) => {
                    self.spread(&s.node.fragment_name.node, nesting, level + 1)?
                }
            };
            total.cost = total.cost.saturating_add(m.cost);
            total.introspection = total.introspection.saturating_add(m.introspection);
            total.depth = total.depth.max(m.depth);
            total.introspects |= m.introspects;
            total.height = total.height.max(m.height);
        }
        Ok(total)
    }

    fn spread(&mut self, name: &Name, nesting: u32, level: u32) -> Result<Measure, TooComplex> {
        let known = self.memo.get(&(name.clone(), nesting)).cloned();
        let measured = match known {
            Some(known) => known,
            None => {
                let Some(fragment) = self.fragments.get(name) else {
                    return Ok(Measure::default());
                };
                if self.visiting.contains(name) {
                    return Ok(Measure::default());
                }
                self.visiting.push(name.clone());
                let on = fragment.node.type_condition.node.on.node.to_string();
                let measured =
                    self.selection(&on, &fragment.node.selection_set.node, nesting, level);
                self.visiting.pop();
                self.memo.insert((name.clone(), nesting), measured.clone());
                measured
            }
        }?;
        // Measured once, at whatever level it was first spread.
        if level + measured.height > MAX_NESTING {
            return Err(TooComplex::Nesting);
        }
        Ok(measured.opened())
    }

    fn field(
        &mut self,
        ty: &str,
        field: &async_graphql::parser::types::Field,
        nesting: u32,
        level: u32,
    ) -> Result<Measure, TooComplex> {
        let name = field.name.node.as_str();
        let introspecting = nesting > 0 || name == "__schema" || name == "__type";
        let opens = !field.selection_set.node.items.is_empty();
        if introspecting {
            let nesting = nesting.max(1) + u32::from(INTROSPECTION_LISTS.contains(&name));
            if nesting > MAX_INTROSPECTION_NESTING + 1 {
                return Err(TooComplex::IntrospectionNesting);
            }
            // Introspection types are not in our SDL: priced by the most
            // each of their lists can hold.
            let inner = self.selection("", &field.selection_set.node, nesting, level + 1)?;
            let items = self.model.introspection.size(name);
            let priced = Measure {
                cost: 0,
                introspection: inner.introspection.saturating_mul(items).saturating_add(1),
                depth: 0,
                introspects: true,
                height: inner.height,
            };
            return Ok(if opens { priced.opened() } else { priced });
        }
        let shape = self
            .model
            .fields
            .get(&(ty.to_owned(), name.to_owned()))
            .cloned();
        let returns = shape.as_ref().map_or("", |s| s.returns.as_str()).to_owned();
        let inner = if opens {
            self.selection(&returns, &field.selection_set.node, 0, level + 1)?
                .opened()
        } else {
            Measure::default()
        };
        let factor = match shape.map(|s| s.size) {
            Some(Size::Page) => self.first(field),
            Some(Size::Input(arg)) => self.list_length(field, &arg),
            Some(Size::One) | None => 1,
        };
        Ok(Measure {
            cost: inner.cost.saturating_mul(factor).saturating_add(1),
            introspection: inner.introspection.saturating_mul(factor),
            depth: inner.depth + 1,
            introspects: inner.introspects,
            height: inner.height,
        })
    }

    /// An argument's value, literal or variable (or its default).
    fn argument(&self, field: &async_graphql::parser::types::Field, name: &str) -> Option<Value> {
        let variable = |var: Name| {
            self.variables
                .get(&var)
                .cloned()
                .or_else(|| {
                    self.operation
                        .variable_definitions
                        .iter()
                        .find(|d| d.node.name.node == var)
                        .and_then(|d| d.node.default_value.as_ref().map(|v| v.node.clone()))
                })
                .ok_or(())
        };
        field
            .get_argument(name)
            .and_then(|v| v.node.clone().into_const_with(variable).ok())
    }

    /// A connection's `first`; absent or null is the default page, and
    /// anything out of range counts as the largest page (the resolver
    /// refuses it with a clearer error than the cost could).
    fn first(&self, field: &async_graphql::parser::types::Field) -> u64 {
        match self.argument(field, "first") {
            None | Some(Value::Null) => DEFAULT_PAGE_SIZE,
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|n| *n <= MAX_PAGE_SIZE)
                .unwrap_or(MAX_PAGE_SIZE),
            Some(_) => MAX_PAGE_SIZE,
        }
    }

    /// The length of a list argument (a single value counts as one).
    fn list_length(&self, field: &async_graphql::parser::types::Field, arg: &str) -> u64 {
        match self.argument(field, arg) {
            Some(Value::List(items)) => (items.len() as u64).max(1),
            _ => 1,
        }
    }
}

impl Measure {
    /// This measure seen from the selection set that encloses it.
    fn opened(self) -> Self {
        Self {
            height: self.height + 1,
            ..self
        }
    }

    /// What the request reserves from its caller's bucket.
    pub fn requested(&self) -> u64 {
        self.cost.saturating_add(self.introspection)
    }

    /// The limits of DESIGN.md applied to this measure.
    pub fn check(
        self,
        model: &CostModel,
        max_cost: u64,
        max_depth: u32,
    ) -> Result<Measure, TooComplex> {
        if self.depth > max_depth {
            return Err(TooComplex::Depth {
                depth: self.depth,
                max: max_depth,
            });
        }
        if self.cost > max_cost {
            return Err(TooComplex::Cost {
                cost: self.cost,
                max: max_cost,
            });
        }
        if self.introspection > model.max_introspection {
            return Err(TooComplex::Introspection {
                cost: self.introspection,
                max: model.max_introspection,
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> CostModel {
        CostModel::from_sdl(&crate::graphql::sdl())
    }

    fn measure(query: &str, variables: serde_json::Value) -> Result<Measure, TooComplex> {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        model()
            .measure(&doc, None, &Variables::from_json(variables))
            .unwrap()
    }

    /// `n` fragments, each spreading the next: the chain the review sent.
    fn chain(n: usize) -> String {
        let mut q = String::from("query { ...F0 }\n");
        for i in 0..n {
            q.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
        }
        q.push_str(&format!("fragment F{n} on Query {{ viewer {{ role }} }}\n"));
        q
    }

    #[test]
    fn a_chain_of_spreads_is_refused_where_it_passes_the_nesting_bound() {
        assert!(measure(&chain(20), serde_json::json!({})).is_ok());
        assert_eq!(
            measure(&chain(4_000), serde_json::json!({})),
            Err(TooComplex::Nesting)
        );
        // Measured on a thread with a small stack: the walk stops at the
        // bound instead of recursing through the whole chain.
        let doc = async_graphql::parser::parse_query(chain(100_000)).unwrap();
        let measured = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || model().measure(&doc, None, &Variables::default()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(measured, Some(Err(TooComplex::Nesting)));
    }

    #[test]
    fn a_fragment_measured_shallow_is_refused_when_spread_deep() {
        // F is first met near the top, then again 30 levels down.
        let mut q = String::from("query { ...F ");
        q.push_str(&"viewer { agency { ".repeat(15));
        q.push_str("...F");
        q.push_str(&" } }".repeat(15));
        q.push_str(" }\nfragment F on Query { viewer { agency { viewer { agency { name } } } } }");
        assert_eq!(measure(&q, serde_json::json!({})), Err(TooComplex::Nesting));
    }

    #[test]
    fn a_list_costs_what_it_can_return() {
        let one = measure(
            "query($ids: [ID!]!) { invitationEligibility(agencyId: \"a\", creatorIds: $ids) { invitable reason } }",
            serde_json::json!({"ids": ["x"]}),
        )
        .unwrap();
        let hundred = measure(
            "query($ids: [ID!]!) { invitationEligibility(agencyId: \"a\", creatorIds: $ids) { invitable reason } }",
            serde_json::json!({"ids": vec!["x"; 100]}),
        )
        .unwrap();
        assert_eq!(one.cost, 3);
        assert_eq!(hundred.cost, 201);
    }

    #[test]
    fn introspection_is_priced_by_what_it_returns() {
        let standard = measure(STANDARD_INTROSPECTION, serde_json::json!({})).unwrap();
        assert_eq!(standard.cost, 0);
        assert!(standard.introspection > 1_000, "{standard:?}");
        assert!(standard.check(&model(), 5000, 12).is_ok());
        // Four standard queries in one document: more than three.
        let body = STANDARD_INTROSPECTION
            .split_once("__schema")
            .unwrap()
            .1
            .rsplit_once('}')
            .unwrap()
            .0;
        let (selection, fragments) = body.split_at(body.find("fragment").unwrap());
        let selection = selection.trim().trim_end_matches('}');
        let aliased: String = (0..4)
            .map(|i| format!("s{i}: __schema {selection} "))
            .collect();
        let four = format!("query {{ {aliased} }}\n{fragments}}}");
        let four = measure(&four, serde_json::json!({})).unwrap();
        assert!(matches!(
            four.check(&model(), 5000, 12),
            Err(TooComplex::Introspection { .. })
        ));
    }

    #[test]
    fn fields_cost_one_and_connections_multiply_by_first() {
        assert_eq!(
            measure("{ viewer { role } }", serde_json::json!({})),
            Ok(Measure {
                cost: 2,
                depth: 2,
                height: 1,
                ..Measure::default()
            })
        );
        // agencies(first: 10) → 10 × (edges + node + slug) + 1
        let m = measure(
            "{ agencies(first: 10) { edges { node { slug } } } }",
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(m.cost, 31);
        assert_eq!(m.depth, 4);
        // The default page is 20, a variable counts, aliases count.
        let default = measure("{ agencies { totalCount } }", serde_json::json!({})).unwrap();
        assert_eq!(default.cost, 21);
        let aliased = measure(
            "query($n: Int) { a: agencies(first: $n) { totalCount } b: agencies(first: $n) { totalCount } }",
            serde_json::json!({"n": 3}),
        )
        .unwrap();
        assert_eq!(aliased.cost, 8);
    }

    #[test]
    fn nested_connections_multiply_at_every_level() {
        let q = "{ agencies(first: 100) { edges { node { members(first: 100) { edges { node { invitations(first: 100) { totalCount } } } } } } } }";
        let m = measure(q, serde_json::json!({})).unwrap();
        assert!(m.cost > 1_000_000, "{m:?}");
        assert!(m.check(&model(), 5000, 12).is_err());
    }

    #[test]
    fn fragments_count_and_cannot_explode_the_walk() {
        // Each fragment spreads the next twice: 2^30 expansions if walked
        // naively, measured at once thanks to the memo.
        let mut q = String::from("{ viewer { ...F0 } }\n");
        for i in 0..30 {
            q.push_str(&format!(
                "fragment F{i} on Viewer {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        q.push_str("fragment F30 on Viewer { role }\n");
        let m = measure(&q, serde_json::json!({})).unwrap();
        assert_eq!(m.cost, 1 + (1 << 30));
    }

    #[test]
    fn introspection_is_free_of_depth_but_not_of_nesting() {
        let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }";
        let m = measure(deep, serde_json::json!({})).unwrap();
        assert_eq!((m.depth, m.introspects), (0, true));
        let exploding =
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
        assert_eq!(
            measure(exploding, serde_json::json!({})),
            Err(TooComplex::IntrospectionNesting)
        );
    }
}
